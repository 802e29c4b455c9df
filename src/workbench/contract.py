"""The data contract (GUIDE §5), declared once.

Every table the workbench reads is described here: its columns, their types, which may be
null, which values an enumerated column may take, the key, and the relationships checked
between tables. The engine (:mod:`workbench.engine`) turns these declarations into
validation queries; nothing else in the package hard-codes a column list.

Columns marked ``nullable`` may also be absent from a source: the engine then supplies them
as typed NULLs, so analyses can rely on every contract column existing. Extra columns are
kept as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Logical types. The engine maps them to its own SQL types.
STRING = "string"
TIMESTAMP = "timestamp"
DOUBLE = "double"
BOOLEAN = "boolean"

ID_TYPES = ("phone_hash", "unionid", "openid", "external_userid", "member_id", "erp_id")
CHANNEL_GROUPS = ("offline_store", "online_mall", "wechat_ecosystem", "ads", "other")
CONTACT_EVENT_TYPES = ("add", "delete_by_customer", "delete_by_staff")
GROUP_EVENT_TYPES = ("join", "leave")
TOUCH_TYPES = (
    "chat",
    "group_message",
    "moments",
    "mass_send",
    "task_push",
    "coupon_issue",
    "live_invite",
    "other",
)
ORDER_CHANNELS = ("mini_program", "wecom_transfer", "pos", "proxy_order", "channels_live", "ecommerce")
STAFF_ROLES = ("guide", "hq")
COUPON_SOURCES = ("wecom", "other")
EXPERIMENT_UNITS = ("customer", "staff", "store")


@dataclass(frozen=True)
class Column:
    """One contract column.

    Parameters
    ----------
    name : str
        Column name, fixed by the contract.
    dtype : str
        Logical type: ``string``, ``timestamp``, ``double`` or ``boolean``.
    nullable : bool
        Whether NULLs are allowed (``?`` in GUIDE §5). Nullable columns may be absent.
    values : tuple of str, optional
        Allowed values of an enumerated column.
    min_value : float, optional
        Smallest allowed value of a numeric column (money is never negative).
    """

    name: str
    dtype: str
    nullable: bool = False
    values: tuple[str, ...] | None = None
    min_value: float | None = None


@dataclass(frozen=True)
class Reference:
    """``column`` of this table must appear in ``table.target_column`` when both exist."""

    column: str
    table: str
    target_column: str


@dataclass(frozen=True)
class TableSpec:
    """One contract table: columns, primary key and references to other tables."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.nullable)

    @property
    def time_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.dtype == TIMESTAMP)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table '{self.name}' has no contract column '{name}'")


def _c(name: str, dtype: str = STRING, nullable: bool = False, **kw) -> Column:
    return Column(name, dtype, nullable, **kw)


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec(
            "customers",
            (_c("customer_id"), _c("registered_at", TIMESTAMP, True)),
            key=("customer_id",),
            description="One row per resolved customer; extra attribute columns are kept.",
        ),
        TableSpec(
            "identity_links",
            (
                _c("id_type", values=ID_TYPES),
                _c("id_value"),
                _c("linked_type", values=ID_TYPES),
                _c("linked_value"),
            ),
            description="Two identifiers seen together; resolved into customers by resolve_identities.",
        ),
        TableSpec(
            "stores",
            (
                _c("store_id"),
                _c("store_name"),
                _c("region", nullable=True),
                _c("opened_at", TIMESTAMP, True),
            ),
            key=("store_id",),
        ),
        TableSpec(
            "staff",
            (
                _c("staff_id"),
                _c("store_id", nullable=True),
                _c("role", values=STAFF_ROLES),
                _c("hired_at", TIMESTAMP, True),
                _c("left_at", TIMESTAMP, True),
            ),
            key=("staff_id",),
            references=(Reference("store_id", "stores", "store_id"),),
        ),
        TableSpec(
            "channels",
            (
                _c("channel_code"),
                _c("channel_group", values=CHANNEL_GROUPS),
                _c("channel_name", nullable=True),
                _c("store_id", nullable=True),
                _c("cost", DOUBLE, True, min_value=0.0),
            ),
            key=("channel_code",),
            references=(Reference("store_id", "stores", "store_id"),),
        ),
        TableSpec(
            "contact_events",
            (
                _c("event_time", TIMESTAMP),
                _c("customer_id"),
                _c("staff_id"),
                _c("event_type", values=CONTACT_EVENT_TYPES),
                _c("channel_code", nullable=True),
            ),
            references=(
                Reference("staff_id", "staff", "staff_id"),
                Reference("channel_code", "channels", "channel_code"),
            ),
            description="WeCom friend adds and deletes; a relationship is a set of intervals.",
        ),
        TableSpec(
            "groups",
            (
                _c("group_id"),
                _c("store_id", nullable=True),
                _c("owner_staff_id", nullable=True),
                _c("created_at", TIMESTAMP, True),
            ),
            key=("group_id",),
            references=(Reference("store_id", "stores", "store_id"),),
        ),
        TableSpec(
            "group_events",
            (
                _c("event_time", TIMESTAMP),
                _c("customer_id"),
                _c("group_id"),
                _c("event_type", values=GROUP_EVENT_TYPES),
            ),
            references=(Reference("group_id", "groups", "group_id"),),
        ),
        TableSpec(
            "scans",
            (
                _c("event_time", TIMESTAMP),
                _c("customer_id"),
                _c("channel_code"),
                _c("store_id", nullable=True),
            ),
            references=(Reference("channel_code", "channels", "channel_code"),),
        ),
        TableSpec(
            "touches",
            (
                _c("event_time", TIMESTAMP),
                _c("customer_id"),
                _c("staff_id", nullable=True),
                _c("touch_type", values=TOUCH_TYPES),
                _c("task_id", nullable=True),
            ),
            references=(Reference("task_id", "tasks", "task_id"),),
        ),
        TableSpec(
            "tasks",
            (
                _c("task_id"),
                _c("created_at", TIMESTAMP),
                _c("task_type"),
                _c("title", nullable=True),
                _c("experiment_id", nullable=True),
                _c("variant", nullable=True),
            ),
            key=("task_id",),
            references=(Reference("experiment_id", "experiments", "experiment_id"),),
        ),
        TableSpec(
            "orders",
            (
                _c("order_id"),
                _c("customer_id", nullable=True),
                _c("order_time", TIMESTAMP),
                _c("amount", DOUBLE, min_value=0.0),
                _c("order_channel", values=ORDER_CHANNELS),
                _c("store_id", nullable=True),
                _c("task_id", nullable=True),
                _c("share_staff_id", nullable=True),
                _c("coupon_id", nullable=True),
                _c("refunded_amount", DOUBLE, True, min_value=0.0),
            ),
            key=("order_id",),
            references=(
                Reference("store_id", "stores", "store_id"),
                Reference("task_id", "tasks", "task_id"),
            ),
        ),
        TableSpec(
            "coupons",
            (
                _c("coupon_id"),
                _c("customer_id"),
                _c("issued_at", TIMESTAMP),
                _c("issue_source", values=COUPON_SOURCES),
                _c("issued_by_staff_id", nullable=True),
                _c("redeemed_at", TIMESTAMP, True),
                _c("redeemed_order_id", nullable=True),
            ),
            key=("coupon_id",),
        ),
        TableSpec(
            "experiments",
            (
                _c("experiment_id"),
                _c("unit", values=EXPERIMENT_UNITS),
                _c("start_at", TIMESTAMP),
                _c("end_at", TIMESTAMP, True),
                _c("name", nullable=True),
                _c("primary_metric", nullable=True),
            ),
            key=("experiment_id",),
        ),
        TableSpec(
            "assignments",
            (
                _c("experiment_id"),
                _c("unit_id"),
                _c("variant"),
                _c("assigned_at", TIMESTAMP, True),
            ),
            key=("experiment_id", "unit_id"),
            references=(Reference("experiment_id", "experiments", "experiment_id"),),
        ),
    ]
}

#: Event tables whose rows are paired (open, close) per relationship.
INTERVAL_EVENTS: dict[str, dict[str, object]] = {
    "contact_events": {
        "pair": ("customer_id", "staff_id"),
        "open": ("add",),
        "close": ("delete_by_customer", "delete_by_staff"),
    },
    "group_events": {"pair": ("customer_id", "group_id"), "open": ("join",), "close": ("leave",)},
}


def spec(table: str) -> TableSpec:
    """Return the contract of ``table``; ``KeyError`` names the known tables."""
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"'{table}' is not a contract table; known: {', '.join(TABLES)}") from None


@dataclass
class ContractSummary:
    """What a data directory holds relative to the contract (for ``workbench validate``)."""

    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
