"""Named relations shared by the metrics, pages and models: one builder per relation, one home.

Each builder returns the SQL of one relation, the way growthbook names its CTE builders, so
a query composes them (``WITH iv AS ({contact_intervals(wb)}) …``) instead of retyping a
join. Every builder documents its grain (what one row is), its columns and the contract
tables it reads. The heavy ones are materialised once per workbench
(:meth:`workbench.engine.Workbench.derived`; :func:`derived_table` is its function form,
re-exported here for the modules that import it from :mod:`workbench.metrics`). Optional
tables are read through :meth:`~workbench.engine.Workbench.table_or_empty`, so a builder
keeps its columns and has no rows when the data lacks the table. The ``*_sql()`` builders
without a workbench are plain SQL text.

WeCom relationships are intervals, the building block of every user-view number. A
customer–staff relationship is not a flag: T add, T+1 delete, T+1 re-add is two intervals
with a gap. Rules, applied identically everywhere:

* identical event rows are one event (the contract view merges them; see rule 9 in
  :mod:`workbench.contract`);
* events of one pair are ordered by time; at the same second, a close comes first when the
  pair was open just before that second (delete and re-add at one second: the relationship
  goes on as a new interval), an open comes first when it was not (an add and a delete in
  one second: a zero-length interval) — rule 10 in :mod:`workbench.contract`;
* a repeated open while already open (a duplicated add callback) is ignored, and so is a
  close after a close (the customer deleted the member, later the member deleted the now
  one-way contact): the first close ends the interval and gives its ``end_type``
  (contract rule 13);
* an interval covers ``start_time <= t < end_time``: an order at the very second of a
  delete is outside it (:func:`open_at_sql`).
"""
from __future__ import annotations

from typing import Any

from . import contract
from ._as_of import require_as_of
from .engine import Workbench, derived_table, interval_order_sql, literal, ordered_events_sql, to_timestamp

__all__ = [
    "derived_table",
    "contact_intervals_sql", "group_intervals_sql", "open_at_sql",
    "contact_intervals", "group_intervals", "first_adds", "channel_dims", "staff_dims", "store_regions",
    "group_dims", "order_flags", "order_flags_sql", "first_scans", "add_events",
]

_NO_TEXT = "CAST(NULL AS VARCHAR)"


# ---------------------------------------------------------------------- intervals (plain SQL)
def _intervals_sql(table: str, pair: tuple[str, str], open_type: str, extra: str = "") -> str:
    a, b = pair
    order = interval_order_sql(table)
    extra_cols = f", {extra}" if extra else ""
    opening = literal(open_type)
    closes = ", ".join(literal(v) for v in contract.INTERVAL_EVENTS[table]["close"])
    return f"""
    SELECT {a}, {b}{extra_cols}, event_time AS start_time, next_time AS end_time, next_type AS end_type,
           ROW_NUMBER() OVER (PARTITION BY {a}, {b} ORDER BY event_time, tie_rank) AS interval_number
    FROM (
        SELECT *, LEAD(event_time) OVER (PARTITION BY {a}, {b} ORDER BY {order}) AS next_time,
                  LEAD(event_type) OVER (PARTITION BY {a}, {b} ORDER BY {order}) AS next_type
        FROM (
            SELECT *, LAG(event_type) OVER (PARTITION BY {a}, {b} ORDER BY {order}) AS previous_type
            FROM ({ordered_events_sql(table)}) events
        ) ordered
        WHERE NOT (event_type = {opening} AND COALESCE(previous_type, '') = {opening})
          AND NOT (event_type IN ({closes}) AND COALESCE(previous_type, '') IN ({closes}))
    ) changes
    WHERE event_type = {opening}
    """


def contact_intervals_sql() -> str:
    """One row per customer–staff contact interval.

    Reads ``contact_events``. Columns: customer_id, staff_id, channel_code (of the add),
    start_time, end_time (NULL while open), end_type (``delete_by_customer`` /
    ``delete_by_staff`` / ``transfer`` / ``staff_left`` / NULL), interval_number (1 for
    the first add of the pair, 2 after a re-add, …).
    """
    return _intervals_sql("contact_events", ("customer_id", "staff_id"), "add", "channel_code")


def group_intervals_sql() -> str:
    """One row per customer–group membership interval.

    Reads ``group_events``. Columns: customer_id, group_id, start_time, end_time, end_type
    (``leave`` / NULL), interval_number.
    """
    return _intervals_sql("group_events", ("customer_id", "group_id"), "join")


def open_at_sql(intervals: str, at: str) -> str:
    """SQL condition: interval alias ``intervals`` is open at SQL timestamp expression ``at``."""
    return f"({intervals}.start_time <= {at} AND ({intervals}.end_time IS NULL OR {intervals}.end_time > {at}))"


# ---------------------------------------------------------------------- relations of a workbench
def _empty_intervals_sql(pair: tuple[str, str], extra: str = "") -> str:
    # The interval SQL names its event table (the contract's tie rules are keyed by it), so an
    # absent optional event table gets typed empty intervals here, in the one place that knows.
    cols = [f"{_NO_TEXT} AS {c}" for c in (*pair, *([extra] if extra else []))]
    return (f"SELECT {', '.join(cols)}, CAST(NULL AS TIMESTAMP) AS start_time, CAST(NULL AS TIMESTAMP) AS end_time, "
            f"{_NO_TEXT} AS end_type, CAST(NULL AS BIGINT) AS interval_number WHERE FALSE")


def contact_intervals(wb: Workbench) -> str:
    """:func:`contact_intervals_sql`, materialised once per workbench (grain: one contact interval).

    Reads ``contact_events``; without it, no rows (every order is then outside WeCom).
    """
    if not wb.has_table("contact_events"):
        return _empty_intervals_sql(("customer_id", "staff_id"), "channel_code")
    return derived_table(wb, "__wb_contact_intervals", contact_intervals_sql(), ("contact_events",))


def group_intervals(wb: Workbench) -> str:
    """:func:`group_intervals_sql`, materialised once per workbench (grain: one membership interval).

    Reads ``group_events``; without it, no rows.
    """
    if not wb.has_table("group_events"):
        return _empty_intervals_sql(("customer_id", "group_id"))
    return derived_table(wb, "__wb_group_intervals", group_intervals_sql(), ("group_events",))


def channel_dims(wb: Workbench) -> str:
    """One row per channel code: channel_code, channel_group, store_id (of an in-store code).

    Reads ``channels`` (optional: without it, no rows, so a join on it leaves the columns NULL).
    """
    return f"SELECT channel_code, channel_group, store_id FROM {wb.table_or_empty('channels')}"


def first_adds(wb: Workbench) -> str:
    """Each customer's first add in the brand: the acquisition channel. Materialised once per workbench.

    Grain: one row per customer ever added. Columns: customer_id, first_add_time,
    channel_code and channel_group of that add. Reads ``contact_events`` and ``channels``.
    Ties at one second go to the lower staff_id, so the channel is the same on every engine.
    """
    return derived_table(wb, "__wb_first_adds", f"""
    SELECT f.customer_id, f.first_add_time, f.channel_code, ch.channel_group FROM (
        SELECT customer_id, event_time AS first_add_time, channel_code,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY event_time, staff_id) AS rn
        FROM {wb.table_or_empty('contact_events')} WHERE event_type = 'add'
    ) f LEFT JOIN ({channel_dims(wb)}) ch ON ch.channel_code = f.channel_code WHERE f.rn = 1
    """, ("contact_events", "channels"))


def first_scans(wb: Workbench) -> str:
    """Each customer's first scan of a channel code. Materialised once per workbench.

    Grain: one row per customer who ever scanned. Columns: customer_id, scan_time, channel_code,
    store_id (the scan's store, else the code's store), channel_group. Ties at one second go to
    the lower channel code. Reads ``scans`` and ``channels``. The funnels of several windows (a
    cohort, the one before it, per store) filter these rows instead of ranking every scan again.
    """
    return derived_table(wb, "__wb_first_scans", f"""
    SELECT customer_id, scan_time, channel_code, store_id, channel_group FROM (
        SELECT sc.customer_id, sc.event_time AS scan_time, sc.channel_code,
               COALESCE(sc.store_id, ch.store_id) AS store_id, ch.channel_group,
               ROW_NUMBER() OVER (PARTITION BY sc.customer_id ORDER BY sc.event_time, sc.channel_code) AS rn
        FROM scans sc LEFT JOIN ({channel_dims(wb)}) ch ON ch.channel_code = sc.channel_code
    ) x WHERE rn = 1
    """, ("scans", "channels"))


def add_events(wb: Workbench) -> str:
    """Every add of a contact: customer_id, staff_id, event_time. Materialised once per workbench.

    Grain: one row per ``add`` row of ``contact_events`` (identical rows merged, as the contract
    view does), repeated adds of an open relationship included. Reads ``contact_events``.
    """
    return derived_table(wb, "__wb_add_events", "SELECT customer_id, staff_id, event_time FROM contact_events "
                                                "WHERE event_type = 'add'", ("contact_events",))


def store_regions(wb: Workbench) -> str:
    """One row per store: store_id, region. Reads ``stores`` (optional: without it, no rows)."""
    return f"SELECT store_id, region FROM {wb.table_or_empty('stores')}"


def staff_dims(wb: Workbench) -> str:
    """One row per staff member: staff_id, store_id, region (of the store).

    Reads ``staff`` and ``stores`` (both optional: without ``staff`` no rows, so a contact's
    store is unknown; without ``stores`` region is NULL).
    """
    return f"""SELECT s.staff_id, s.store_id, sr.region FROM {wb.table_or_empty('staff')} s
               LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = s.store_id"""


def group_dims(wb: Workbench) -> str:
    """One row per group: group_id, store_id, staff_id (the owner), region (of the store).

    Reads ``groups`` and ``stores`` (both optional: without ``groups`` no rows, so a group
    event's store and owner are unknown).
    """
    return f"""SELECT g.group_id, g.store_id, g.owner_staff_id AS staff_id, sr.region
               FROM {wb.table_or_empty('groups')} g
               LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = g.store_id"""


def order_flags(wb: Workbench) -> str:
    """Each order's user-view flags, materialised once per workbench (grain: one row per order).

    Columns: order_id, ``user_active`` (1 when a contact interval of the customer was open at the
    order time), ``user_ever`` (1 when the customer had been added before it). Reads ``orders`` and
    ``contact_events``. A flag depends on the order alone, not on a report's window, so every
    window's numbers (a period, the one before it, twelve months) read these rows instead of
    joining their orders to the contact intervals again.
    """
    return derived_table(wb, "__wb_order_flags", f"""
        SELECT o.order_id,
               MAX(CASE WHEN {open_at_sql('iv', 'o.order_time')} THEN 1 ELSE 0 END) AS user_active,
               MAX(CASE WHEN iv.start_time <= o.order_time THEN 1 ELSE 0 END) AS user_ever
        FROM orders o LEFT JOIN ({contact_intervals(wb)}) iv ON iv.customer_id = o.customer_id
        GROUP BY o.order_id""", ("orders", "contact_events"))


def order_flags_sql(wb: Workbench, start: Any, end: Any = None, dims: bool = True) -> str:
    """Orders in ``[start, end)`` with the user-view and task-view flags.

    Grain: one row per order. Columns: every ``orders`` column, then ``user_active`` (1 when a
    contact interval of the customer was open at the order time), ``user_ever`` (1 when the
    customer had been added before it), ``task_view`` (1 when it carries a ``task_id`` or a
    ``share_staff_id``), ``net_amount`` (amount less refunds), ``region`` (of the order's
    store), ``staff_id`` (the sharing staff member) and the buyer's acquisition
    ``channel_code`` and ``channel_group`` (:func:`first_adds`). Reads ``orders``,
    ``contact_events``, ``stores`` and ``channels``. ``end`` defaults to the workbench's as-of.
    The flags come from :func:`order_flags`. With ``dims=False`` region and the acquisition
    channel are NULL (no joins to stores and first adds, for callers that do not cut by them).
    """
    s, e = to_timestamp(start, "start"), require_as_of(wb, end, "end")
    if dims:
        cols = "sr.region, o.share_staff_id AS staff_id, fa.channel_code, fa.channel_group"
        joins = f"""LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = o.store_id
        LEFT JOIN ({first_adds(wb)}) fa ON fa.customer_id = o.customer_id"""
    else:
        cols = (f"{_NO_TEXT} AS region, o.share_staff_id AS staff_id, {_NO_TEXT} AS channel_code, "
                f"{_NO_TEXT} AS channel_group")
        joins = ""
    return f"""
        SELECT o.*, fl.user_active, fl.user_ever,
               CASE WHEN o.task_id IS NOT NULL OR o.share_staff_id IS NOT NULL THEN 1 ELSE 0 END AS task_view,
               o.amount - COALESCE(o.refunded_amount, 0) AS net_amount, {cols}
        FROM orders o JOIN ({order_flags(wb)}) fl ON fl.order_id = o.order_id
        {joins}
        WHERE o.order_time >= {literal(s)} AND o.order_time < {literal(e)}"""
