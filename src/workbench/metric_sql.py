"""SQL of the metrics that read several windows or instants in one pass (:mod:`workbench.metrics`).

Each builder returns the SQL text of one relation, as :mod:`workbench.relations` does; the values go
in through :func:`~workbench.engine.literal`. Kept apart from the metric functions that aggregate them.
"""
from __future__ import annotations

import pandas as pd

from .engine import Workbench, literal
from .relations import (
    channel_dims,
    contact_intervals,
    first_adds,
    open_at_sql,
    order_flags_sql,
    staff_dims,
    store_regions,
)

__all__ = ["funnel_steps_sql", "flagged_orders_sql", "open_counts_sql", "pos_buyers_sql"]


def funnel_steps_sql(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, w: str) -> str:
    """One row per customer whose first scan lies in ``[s, e)``: its cuts and the times of its steps.

    A first scan in ``[s, e)`` is the earliest of the customer's scans in it when none is earlier
    (ties to the lower channel code, as :func:`~workbench.relations.first_scans`); the steps read
    only the events a cohort of that window can reach, ``[s, e + window)``.
    """
    reach = f"{literal(s)} AND {literal(e)} + {w}"
    return f"""
        WITH cand AS (
            SELECT sc.customer_id, sc.event_time AS scan_time, sc.channel_code,
                   COALESCE(sc.store_id, ch.store_id) AS store_id, ch.channel_group,
                   ROW_NUMBER() OVER (PARTITION BY sc.customer_id ORDER BY sc.event_time, sc.channel_code) AS rn
            FROM scans sc LEFT JOIN ({channel_dims(wb)}) ch ON ch.channel_code = sc.channel_code
            WHERE sc.event_time >= {literal(s)} AND sc.event_time < {literal(e)}
        ),
        earlier AS (
            SELECT DISTINCT x.customer_id FROM (SELECT DISTINCT customer_id FROM cand) c
            JOIN scans x ON x.customer_id = c.customer_id WHERE x.event_time < {literal(s)}
        ),
        f AS (
            SELECT c.customer_id, c.scan_time, c.channel_code, c.channel_group, c.store_id, sr.region
            FROM cand c LEFT JOIN earlier x ON x.customer_id = c.customer_id
            LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = c.store_id
            WHERE c.rn = 1 AND x.customer_id IS NULL
        ),
        a AS (
            SELECT f.customer_id, f.store_id, f.region, f.channel_group, f.channel_code, f.scan_time,
                   MIN(ce.event_time) AS add_time
            FROM f LEFT JOIN (SELECT customer_id, event_time FROM contact_events
                              WHERE event_type = 'add' AND event_time BETWEEN {reach}) ce
                 ON ce.customer_id = f.customer_id AND ce.event_time >= f.scan_time
                    AND ce.event_time < f.scan_time + {w}
            GROUP BY 1, 2, 3, 4, 5, 6
        ),
        jj AS (
            SELECT a.customer_id, a.store_id, a.region, a.channel_group, a.channel_code, a.scan_time, a.add_time,
                   MIN(j.event_time) AS join_time
            FROM a LEFT JOIN (SELECT customer_id, event_time FROM {wb.table_or_empty('group_events')}
                              WHERE event_type = 'join' AND event_time BETWEEN {reach}) j
                 ON j.customer_id = a.customer_id AND j.event_time >= a.add_time AND j.event_time < a.scan_time + {w}
            GROUP BY 1, 2, 3, 4, 5, 6, 7
        )
        SELECT jj.customer_id, jj.store_id, jj.region, jj.channel_group, jj.channel_code, jj.scan_time, jj.add_time,
               jj.join_time, MIN(k.issued_at) AS claim_time
        FROM jj LEFT JOIN (SELECT customer_id, issued_at FROM {wb.table_or_empty('coupons')}
                           WHERE issue_source = 'wecom' AND issued_at BETWEEN {reach}) k
             ON k.customer_id = jj.customer_id AND k.issued_at >= jj.join_time AND k.issued_at < jj.scan_time + {w}
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""


def flagged_orders_sql(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, flag: str, dims: bool) -> str:
    """The orders of ``[s, e)`` with the user-view ``flag`` and the columns :func:`~workbench.metrics.conversion` reads.

    The rows and values of :func:`~workbench.relations.order_flags_sql`. On DuckDB the flag is found
    for these orders only, an EXISTS on the customer's intervals (one hash join with the time
    condition), instead of the flags of every order joined back by order id (two passes over every
    order, and a join on a text key); other engines read the materialised flags.
    """
    if wb.dialect != "duckdb":
        return order_flags_sql(wb, s, e, dims=dims)
    cond = open_at_sql("iv", "o.order_time") if flag == "user_active" else "iv.start_time <= o.order_time"
    if dims:
        cols = "sr.region, o.share_staff_id AS staff_id, fa.channel_code, fa.channel_group"
        joins = f"""LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = o.store_id
        LEFT JOIN ({first_adds(wb)}) fa ON fa.customer_id = o.customer_id"""
    else:
        none = "CAST(NULL AS VARCHAR)"
        cols = f"{none} AS region, o.share_staff_id AS staff_id, {none} AS channel_code, {none} AS channel_group"
        joins = ""
    return f"""
        SELECT o.customer_id, o.order_time, o.store_id, o.amount,
               CASE WHEN EXISTS (SELECT 1 FROM ({contact_intervals(wb)}) iv
                                 WHERE iv.customer_id = o.customer_id AND {cond}) THEN 1 ELSE 0 END AS {flag},
               CASE WHEN o.task_id IS NOT NULL OR o.share_staff_id IS NOT NULL THEN 1 ELSE 0 END AS task_view,
               o.amount - COALESCE(o.refunded_amount, 0) AS net_amount, {cols}
        FROM orders o {joins}
        WHERE o.order_time >= {literal(s)} AND o.order_time < {literal(e)}"""


def open_counts_sql(wb: Workbench, times: list[str], cut: str) -> str:
    """Contact intervals open at each of several instants, per cut, in one pass over the intervals.

    ``cut`` is SQL over the interval's staff member (``store_id``, ``region``, ``staff_id``);
    column ``n<i>`` counts the intervals open at SQL timestamp ``times[i]``.
    """
    counts = ", ".join(f"SUM(CASE WHEN {open_at_sql('c', t)} THEN 1 ELSE 0 END) AS n{i}" for i, t in enumerate(times))
    return f"""
        SELECT {cut} AS cut, {counts}
        FROM (SELECT iv.start_time, iv.end_time, iv.staff_id, sd.store_id, sd.region
              FROM ({contact_intervals(wb)}) iv LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = iv.staff_id) c
        WHERE {" OR ".join(open_at_sql('c', t) for t in times)}
        GROUP BY 1"""


def pos_buyers_sql(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, cols: list[str], brand: bool) -> str:
    """POS buyers of ``[s, e)`` and those with no open contact at ``e``, per cut, in one pass.

    One grouping set per cut column in ``cols`` (``store_id``, ``region``: of the order's store),
    with ``g_<col>`` (0 on that set's rows), and with ``brand`` the whole brand (column ``brand``).
    """
    sets = ["()"] * brand + [f"(b.{c})" for c in cols]
    flags = "".join(f"GROUPING(b.{c}) AS g_{c}, b.{c}, " for c in cols)
    return f"""
        WITH b AS (
            SELECT DISTINCT o.customer_id, o.store_id, sr.region FROM orders o
            LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = o.store_id
            WHERE o.order_channel = 'pos' AND o.customer_id IS NOT NULL
              AND o.order_time >= {literal(s)} AND o.order_time < {literal(e)}
        ),
        open_now AS (
            SELECT DISTINCT customer_id FROM ({contact_intervals(wb)}) iv WHERE {open_at_sql('iv', literal(e))}
        )
        SELECT {flags}'brand' AS brand, COUNT(DISTINCT b.customer_id) AS pos_buyers,
               COUNT(DISTINCT CASE WHEN n.customer_id IS NULL THEN b.customer_id END) AS not_added
        FROM b LEFT JOIN open_now n ON n.customer_id = b.customer_id
        GROUP BY GROUPING SETS ({", ".join(sets)})"""
