-- The OpenSCRM tables that `workbench ingest openscrm` reads, as GORM's auto-migration creates them on
-- MySQL/MariaDB (openscrm/api-server, app/models/*.go): Go string without a size -> longtext (varchar(191)
-- when indexed), int/int64 -> bigint, time.Time / gorm.DeletedAt -> datetime(3), the models' own type tags
-- otherwise. Written for the workbench's tests and documentation; a real OpenSCRM database has more tables
-- and columns, which the ingest ignores. Times are naive Asia/Shanghai (OpenSCRM's DSN sets loc=Asia/Shanghai).

CREATE TABLE IF NOT EXISTS `customer` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `ext_id` char(64) DEFAULT NULL,
  `name` varchar(255) DEFAULT NULL,
  `position` longtext DEFAULT NULL,
  `corp_name` varchar(255) DEFAULT NULL,
  `avatar` varchar(255) DEFAULT NULL,
  `type` tinyint(1) DEFAULT NULL,
  `gender` tinyint DEFAULT NULL,
  `unionid` varchar(128) DEFAULT NULL,
  `external_profile` json DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_ext_customer_id` (`ext_id`),
  KEY `idx_customer_ext_corp_id` (`ext_corp_id`),
  KEY `idx_customer_type` (`type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per customer–member pair: the current (or last) relationship. A delete soft-deletes it
-- (deleted_at); a re-add upserts it, overwriting createtime and clearing deleted_at.
CREATE TABLE IF NOT EXISTS `customer_staff` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `ext_staff_id` char(64) DEFAULT NULL,
  `ext_customer_id` char(64) DEFAULT NULL,
  `remark` varchar(255) DEFAULT NULL,
  `description` varchar(255) DEFAULT NULL,
  `createtime` datetime(3) DEFAULT NULL,
  `remark_corp_name` varchar(255) DEFAULT NULL,
  `remark_mobiles` json DEFAULT NULL,
  `add_way` bigint DEFAULT NULL,
  `oper_user_id` varchar(255) DEFAULT NULL,
  `state` varchar(255) DEFAULT NULL,
  `is_notified` tinyint DEFAULT NULL,
  `internal_tag_ids` json DEFAULT NULL,
  `signature` char(64) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_ext_staff_id_ext_customer_id` (`ext_staff_id`, `ext_customer_id`),
  KEY `idx_customer_staff_ext_customer_id` (`ext_customer_id`),
  KEY `idx_customer_staff_signature` (`signature`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per deletion ("流水记录"), written at processing time (time.Now()).
CREATE TABLE IF NOT EXISTS `customer_staff_relation_history` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `ext_staff_id` char(32) DEFAULT NULL,
  `ext_customer_id` char(32) DEFAULT NULL,
  `createtime` datetime(3) DEFAULT NULL,
  `customer_delete_staff_at` datetime(3) DEFAULT NULL,
  `staff_delete_customer_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_customer_staff_relation_history_ext_staff_id` (`ext_staff_id`),
  KEY `idx_customer_staff_relation_history_ext_customer_id` (`ext_customer_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- 「联系我」 channel codes; `state` is what WeCom returns on the add.
CREATE TABLE IF NOT EXISTS `contact_way` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `name` varchar(255) DEFAULT NULL,
  `config_id` varchar(191) DEFAULT NULL,
  `group_id` bigint DEFAULT NULL,
  `qr_code` longtext DEFAULT NULL,
  `remark` longtext DEFAULT NULL,
  `skip_verify` tinyint unsigned DEFAULT 1,
  `state` longtext DEFAULT NULL,
  `add_customer_count` bigint DEFAULT 0,
  `auto_reply_type` bigint DEFAULT 1,
  `auto_reply` json DEFAULT NULL,
  `daily_add_customer_limit_enable` tinyint unsigned DEFAULT NULL,
  `daily_add_customer_limit` bigint DEFAULT NULL,
  `schedule_enable` tinyint unsigned DEFAULT NULL,
  `auto_tag_enable` tinyint unsigned DEFAULT NULL,
  `customer_tag_ext_ids` json DEFAULT NULL,
  `ext_staff_ids` json DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_contact_way_name` (`name`),
  KEY `idx_contact_way_config_id` (`config_id`),
  KEY `idx_contact_way_group_id` (`group_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `group_chat` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `ext_chat_id` char(64) DEFAULT NULL,
  `name` varchar(255) DEFAULT NULL,
  `owner` char(64) DEFAULT NULL,
  `owner_name` char(64) DEFAULT NULL,
  `create_time` datetime(3) DEFAULT NULL,
  `notice` text DEFAULT NULL,
  `admin_list` json DEFAULT NULL,
  `status` tinyint unsigned DEFAULT 2,
  `total` int unsigned DEFAULT 0,
  `today_join_member_num` int unsigned DEFAULT 0,
  `today_quit_member_num` int unsigned DEFAULT 0,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_group_chat_ext_chat_id` (`ext_chat_id`),
  KEY `idx_group_chat_owner` (`owner`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Current members only: a leave hard-deletes the row (no deleted_at, no leave history).
CREATE TABLE IF NOT EXISTS `group_chat_member` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `ext_chat_id` char(64) DEFAULT NULL,
  `userid` char(64) DEFAULT NULL,
  `type` tinyint DEFAULT NULL,
  `join_time` bigint DEFAULT NULL,
  `join_scene` tinyint DEFAULT NULL,
  `invitor` char(64) DEFAULT NULL,
  `unionid` char(64) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_chat_id_user_id` (`ext_chat_id`, `userid`),
  KEY `idx_group_chat_member_ext_chat_id` (`ext_chat_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- role_type is an SCRM permission role (superAdmin/admin/departmentAdmin/staff), not guide/hq;
-- status 1 active, 2 disabled, 4 not activated, 5 left the company (no date).
CREATE TABLE IF NOT EXISTS `staff` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_id` varchar(64) DEFAULT NULL,
  `role_id` bigint DEFAULT NULL,
  `role_type` varchar(191) DEFAULT 'staff',
  `name` varchar(255) DEFAULT NULL,
  `address` varchar(255) DEFAULT NULL,
  `alias` varchar(255) DEFAULT NULL,
  `avatar_url` varchar(128) DEFAULT NULL,
  `email` varchar(128) DEFAULT NULL,
  `gender` tinyint DEFAULT NULL,
  `status` tinyint DEFAULT NULL,
  `mobile` varchar(11) DEFAULT NULL,
  `qr_code_url` varchar(255) DEFAULT NULL,
  `telephone` char(11) DEFAULT NULL,
  `enable` tinyint unsigned DEFAULT NULL,
  `signature` char(128) DEFAULT NULL,
  `external_position` longtext DEFAULT NULL,
  `external_profile` longtext DEFAULT NULL,
  `extattr` longtext DEFAULT NULL,
  `customer_count` bigint DEFAULT NULL,
  `dept_ids` json DEFAULT NULL,
  `welcome_msg_id` bigint DEFAULT NULL,
  `is_authorized` tinyint unsigned DEFAULT NULL,
  `enable_msg_arch` tinyint unsigned DEFAULT 2,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_ext_corp_id_ext_staff_id` (`ext_corp_id`, `ext_id`),
  KEY `idx_staff_role_type` (`role_type`),
  KEY `idx_staff_mobile` (`mobile`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `department` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_id` int DEFAULT NULL,
  `name` varchar(255) DEFAULT NULL,
  `ext_parent_id` int unsigned DEFAULT NULL,
  `order` int unsigned DEFAULT NULL,
  `welcome_msg_id` bigint DEFAULT NULL,
  `staff_num` int DEFAULT 0,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_ext_corp_id_ext_dept_id` (`ext_corp_id`, `ext_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- mission_status 1 scheduled, 2 sending, 3 sent, 4 failed, 5 cancelled.
CREATE TABLE IF NOT EXISTS `mass_msg` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `send_type` tinyint unsigned DEFAULT NULL,
  `ext_staff_ids` json DEFAULT NULL,
  `ext_department_ids` json DEFAULT NULL,
  `msg` json DEFAULT NULL,
  `ext_msg_id` varchar(33) DEFAULT NULL,
  `mission_status` tinyint unsigned DEFAULT NULL,
  `ext_customer_filter_enable` tinyint unsigned DEFAULT NULL,
  `ext_customer_filter` json DEFAULT NULL,
  `delivered_num` int DEFAULT NULL,
  `success_num` int DEFAULT NULL,
  `undelivered_num` int DEFAULT NULL,
  `failed_num` int DEFAULT NULL,
  `send_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_mass_msg_ext_msg_id` (`ext_msg_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per mass message, member and customer (or chat); is_sent 1 yes, 2 no; no send time.
CREATE TABLE IF NOT EXISTS `mass_msg_staff` (
  `id` bigint NOT NULL,
  `ext_corp_id` char(18) DEFAULT NULL,
  `ext_creator_id` char(32) DEFAULT NULL,
  `mass_msg_id` bigint DEFAULT NULL,
  `ext_staff_id` longtext DEFAULT NULL,
  `ext_customer_id` longtext DEFAULT NULL,
  `ext_chat_id` longtext DEFAULT NULL,
  `is_sent` tinyint unsigned DEFAULT 2,
  `is_delivered` tinyint unsigned DEFAULT 2,
  `failed_reason` tinyint unsigned DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_mass_msg_staff_mass_msg_id` (`mass_msg_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
