"""WeCom relationships as intervals, the building block of every user-view number.

A customer–staff relationship is not a flag: T add, T+1 delete, T+1 re-add is two
intervals with a gap. These SQL fragments turn ``contact_events`` and ``group_events``
into one row per interval (``start_time``, ``end_time`` NULL while open), in the engine.

Rules, applied identically everywhere:

* identical event rows are one event (the contract view merges them; see rule 9 in
  :mod:`workbench.contract`);
* events of one pair are ordered by time; at the same second, a close comes first when the
  pair was open just before that second (delete and re-add at one second: the relationship
  goes on as a new interval), an open comes first when it was not (an add and a delete in
  one second: a zero-length interval) — rule 10 in :mod:`workbench.contract`;
* a repeated open while already open (a duplicated add callback) is ignored;
* an interval covers ``start_time <= t < end_time``: an order at the very second of a
  delete is outside it.
"""
from __future__ import annotations

from .engine import interval_order_sql, literal, ordered_events_sql


def _intervals_sql(table: str, pair: tuple[str, str], open_type: str, extra: str = "") -> str:
    a, b = pair
    order = interval_order_sql(table)
    extra_cols = f", {extra}" if extra else ""
    opening = literal(open_type)
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
    ) changes
    WHERE event_type = {opening}
    """


def contact_intervals_sql() -> str:
    """One row per customer–staff contact interval.

    Columns: customer_id, staff_id, channel_code (of the add), start_time, end_time
    (NULL while open), end_type (``delete_by_customer`` / ``delete_by_staff`` / NULL),
    interval_number (1 for the first add of the pair, 2 after a re-add, …).
    """
    return _intervals_sql("contact_events", ("customer_id", "staff_id"), "add", "channel_code")


def group_intervals_sql() -> str:
    """One row per customer–group membership interval (columns as for contacts)."""
    return _intervals_sql("group_events", ("customer_id", "group_id"), "join")


def open_at_sql(intervals: str, at: str) -> str:
    """SQL condition: interval alias ``intervals`` is open at SQL timestamp expression ``at``."""
    return f"({intervals}.start_time <= {at} AND ({intervals}.end_time IS NULL OR {intervals}.end_time > {at}))"
