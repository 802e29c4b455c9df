r"""The data contract (README, "The data contract"), declared once.

Every table the workbench reads is described here: its columns, their types, which may be
null, which values an enumerated column may take, the key, and the relationships checked
between tables. The engine (:mod:`workbench.engine`) turns these declarations into
validation queries; nothing else in the package hard-codes a column list.

Columns marked ``nullable`` may also be absent from a source: the engine then supplies them
as typed NULLs, so analyses can rely on every contract column existing. Extra columns are
kept as they are.

How real exports are read
-------------------------
Exports from MySQL, Hive and Excel differ in small ways that would otherwise change numbers
without a word. The engine applies these rules to every source, on DuckDB and on Spark, and
counts what each rule changed (``Workbench.validate_all()`` and a log record):

1. **Files.** A table is ``<table>.parquet``, ``<table>.csv`` or a folder ``<table>/`` of
   Parquet files. Two of them for one table (``orders.csv`` beside ``orders.parquet``) are
   refused, naming both. An empty (0-byte) file, a broken or self-referencing symbolic link
   and an unreadable file are refused, naming the file.
2. **Text encoding.** CSV files are UTF-8. A CSV that is not UTF-8 but decodes as GB18030
   (a superset of GBK, what Chinese Excel and many MySQL clients write) is read as GB18030
   with a warning; anything else is refused, naming the file and the first undecodable line.
3. **Column names.** A contract column is matched exactly, else ignoring case and surrounding
   spaces (``Store_ID``, ``' store_id'``) with a warning. Two columns matching one contract
   name are refused, naming both.
4. **Nulls.** In a text value of a contract column, ``\N`` (MySQL/Hive), ``NULL``, ``null`` and
   the empty string are nulls, in CSV and Parquet alike.
5. **Text values.** Spaces around a text value of a contract column are trimmed. In a CSV,
   contract columns are read as text and then converted by the contract (an identifier such
   as ``00123`` keeps its zeros; a time keeps its offset).
6. **Identifiers** (``*_id`` columns, ``id_value``, ``linked_value``) are text. An integral
   number is written without a decimal part: ``1.0`` (a float column, or the text ``1.0``)
   becomes ``1``. Zero-padding is kept, never stripped: when one table writes an id
   zero-padded (``007``) and another writes the same id without the zeros (``7``), the data
   is refused as ambiguous, naming both tables and columns.
7. **Money.** ``amount``, ``refunded_amount`` and ``cost`` must be finite: ``NaN`` and
   ``inf`` are refused, naming the rows (as are negative amounts).
8. **Times.** All times are read as local time in Asia/Shanghai (the contract's zone),
   whatever the time zone of the machine. A time with an offset (``+08:00``, ``Z``,
   ``-05:00``) is converted to Asia/Shanghai; a time without one is taken as Asia/Shanghai.
9. **Duplicate events.** In ``contact_events`` and ``group_events`` identical rows are one
   event delivered twice (a retried callback, an export period written twice): they count
   once, and the number of duplicates is reported.
10. **Ties.** Events of one customer–staff (or customer–group) pair at the same second are
    ordered by the pair's state just before that second: if it was open, the delete comes
    first (delete and re-add: the relationship continues as a new interval); if it was not,
    the add comes first (an add and a delete in one second: a zero-length interval).
11. **The analysis date (as-of).** With an as-of date, rows of the event tables
    (:data:`ROW_TIME`: contact and group events, scans, touches, orders by ``order_time``,
    coupons by ``issued_at``) at or after it are left out of every view, so a backfill reads a
    full snapshot as it was on that date; ``Workbench.rows_after_as_of()`` counts the rows left
    out. Optional times at or after it read as not yet happened (NULL): a coupon redeemed later
    is unredeemed (its ``redeemed_order_id`` too), a guide who leaves later is still employed,
    an experiment ending later is running. Plan dates (``tasks.created_at``,
    ``experiments.start_at``) are kept as they are. ``strict=True`` (or
    ``WORKBENCH_STRICT_AS_OF=1``, which the CLI's ``--strict`` sets) refuses any time at or
    after the as-of date instead. Without an as-of date, a time later than the moment of
    opening is refused, naming the table, column and row, and suggesting ``--as-of``.
12. **Absent tables.** A query that reads an absent contract table is refused with the
    analyses that need it (:data:`NEEDED_BY`); ``validate_all()`` lists absent tables.
13. **Relationship sequences.** Real WeCom logs hold two closes in a row for one pair (the
    customer deletes the member, later the member deletes the now one-way contact) and
    repeated opens (a re-sent or re-synced add). Both are accepted: the first close ends the
    interval and gives its type, an open while open is ignored, and ``validate_all()``
    counts each (``ValidationSummary.sequences``). A close with no earlier open of the pair
    is refused: nothing says when that relationship began (``workbench ingest wecom`` seeds
    such adds from the go-live snapshot). ``transfer`` (在职/离职继承 moved the customer to
    another member) and ``staff_left`` (closed when the member left) end a relationship
    without either side deleting: the delete metrics do not count them and survival models
    censor them (:data:`CONTACT_DELETE_TYPES`).
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
CONTACT_EVENT_TYPES = ("add", "delete_by_customer", "delete_by_staff", "transfer", "staff_left")
#: Closes of a contact relationship that are churn: somebody deleted somebody. ``transfer`` (在职/离职继承
#: moved the customer to another member) and ``staff_left`` (closed when the member left) end a relationship
#: without either side choosing to: survival models censor them and the delete metrics do not count them.
CONTACT_DELETE_TYPES = ("delete_by_customer", "delete_by_staff")
#: WeCom's follow_user.oper_userid, read as who started the relationship.
INITIATORS = ("customer", "staff", "admin")
#: Where a contact event row came from: a logged callback, a snapshot seed (relationships open when logging
#: began), an SCRM database, or a repair from a later snapshot (a lost callback).
EVENT_ORIGINS = ("callback", "snapshot", "scrm", "repair")
MASS_SEND_STATUSES = ("not_sent", "sent", "not_friend", "already_received")
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
        Whether NULLs are allowed (``?`` in the README's "The data contract" tables). Nullable columns may be absent.
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
        """Every column name of the table, in contract order."""
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Names of the columns that may not be NULL."""
        return tuple(c.name for c in self.columns if not c.nullable)

    @property
    def time_columns(self) -> tuple[str, ...]:
        """Names of the timestamp columns."""
        return tuple(c.name for c in self.columns if c.dtype == TIMESTAMP)

    def column(self, name: str) -> Column:
        """The contract column ``name`` (``KeyError`` if the table has none)."""
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
                _c("staff_name", nullable=True),
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
                _c("add_way", nullable=True),
                _c("initiator", nullable=True, values=INITIATORS),
                _c("origin", nullable=True, values=EVENT_ORIGINS),
            ),
            references=(
                Reference("staff_id", "staff", "staff_id"),
                Reference("channel_code", "channels", "channel_code"),
            ),
            description="WeCom friend adds, deletes, transfers and departures; a relationship is a set of intervals.",
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
            "staff_daily",
            (
                _c("stat_date", TIMESTAMP),
                _c("staff_id"),
                _c("new_apply_cnt", DOUBLE, min_value=0.0),
                _c("new_contact_cnt", DOUBLE, min_value=0.0),
                _c("chat_cnt", DOUBLE, min_value=0.0),
                _c("message_cnt", DOUBLE, min_value=0.0),
                _c("negative_feedback_cnt", DOUBLE, min_value=0.0),
                _c("reply_percentage", DOUBLE, True, min_value=0.0),
                _c("avg_reply_time", DOUBLE, True, min_value=0.0),
            ),
            key=("stat_date", "staff_id"),
            references=(Reference("staff_id", "staff", "staff_id"),),
            description="WeCom get_user_behavior_data per member per day (reply_percentage in %, avg_reply_time "
                        "in minutes).",
        ),
        TableSpec(
            "mass_sends",
            (
                _c("task_id"),
                _c("staff_id"),
                _c("customer_id"),
                _c("created_at", TIMESTAMP),
                _c("status", values=MASS_SEND_STATUSES),
                _c("send_time", TIMESTAMP, True),
            ),
            key=("task_id", "staff_id", "customer_id"),
            references=(Reference("task_id", "tasks", "task_id"), Reference("staff_id", "staff", "staff_id")),
            description="Mass-send results (get_groupmsg_send_result): one row per task, member and customer.",
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
        "close": ("delete_by_customer", "delete_by_staff", "transfer", "staff_left"),
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


#: The time at which a row of an event table happened. With an analysis date (as-of), rows
#: at or after it are left out of the views (a backfill reads a full snapshot as of the date).
ROW_TIME: dict[str, str] = {
    "contact_events": "event_time",
    "group_events": "event_time",
    "scans": "event_time",
    "touches": "event_time",
    "orders": "order_time",
    "coupons": "issued_at",
    "staff_daily": "stat_date",
    "mass_sends": "created_at",
}

#: Columns that describe the same later event as a time column: when the time reads as
#: not yet happened (at or after the as-of date), they read as NULL too.
AS_OF_COMPANIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("coupons", "redeemed_at"): ("redeemed_order_id",),
}

#: Which analyses read each table, for the message about an absent table.
NEEDED_BY: dict[str, tuple[str, ...]] = {
    "customers": ("CLV", "segments"),
    "identity_links": ("identity resolution",),
    "stores": ("store and region cuts",),
    "staff": ("staff cuts", "experiments by staff"),
    "channels": ("acquisition by channel",),
    "contact_events": ("acquisition", "losses", "current contacts", "user-view conversion", "churn",
                       "experiments"),
    "groups": ("group cuts",),
    "group_events": ("group membership",),
    "scans": ("scan funnel",),
    "touches": ("task reach", "value model"),
    "tasks": ("task performance", "value model"),
    "orders": ("GMV and conversion (ops dashboard)", "value model", "CLV", "experiment outcomes"),
    "coupons": ("coupon metrics",),
    "experiments": ("experiment report",),
    "assignments": ("experiment report", "value model"),
    "staff_daily": ("data-quality cross-checks", "guide reply rates"),
    "mass_sends": ("task execution rates",),
}

#: Values that mean NULL in a text value of a contract column (MySQL/Hive ``\N``, ``NULL``).
NULL_MARKERS: tuple[str, ...] = ("\\N", "NULL", "null", "")


def is_identifier(column: str) -> bool:
    """Whether a contract column holds an identifier (compared as text across tables).

    >>> is_identifier("share_staff_id"), is_identifier("amount")
    (True, False)
    """
    return column.endswith("_id") or column in ("id_value", "linked_value")


def identifier_domain(column: str) -> str | None:
    """The entity an identifier column names (``share_staff_id`` → ``staff_id``), or None.

    Columns of one domain in different tables must write the same id the same way.

    >>> identifier_domain("issued_by_staff_id"), identifier_domain("unit_id")
    ('staff_id', None)
    """
    if not is_identifier(column) or column in ("id_value", "linked_value", "unit_id"):
        return None
    for prefix in ("share_", "issued_by_", "owner_", "redeemed_", "home_"):
        if column.startswith(prefix):
            return column[len(prefix):]
    return column
