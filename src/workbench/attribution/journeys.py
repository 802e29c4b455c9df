"""Customer journeys for multi-touch attribution, built in the engine.

A *touchpoint* is a touch (channel = its ``touch_type``: chat, group_message, moments,
mass_send, task_push, coupon_issue, live_invite, other) or an add (channel =
``add_<channel_group>``, so the QR code that brought the customer in is part of the path).

* **Converting journeys**: one per order in ``[start, end)``, made of the customer's
  touchpoints in the ``lookback_days`` before the order (the most recent ``max_touches``).
* **Non-converting journeys**: one per customer with touchpoints in the last
  ``lookback_days`` before ``end`` and no order in ``[start, end)``.

:func:`journey_paths` aggregates them into the common path-string format (``path``
"a > b > c", ``total_conversions``, ``total_conversion_value``, ``total_null``) that
:func:`workbench.attribution.markov_attribution` and friends read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import Workbench, literal, money_sum, to_timestamp
from ..errors import ParameterError


def _touchpoints_sql(wb: Workbench, include_adds: bool, since: str = "", until: str = "") -> str:
    """SQL of the touchpoints journeys are built from.

    Touchpoints (customer_id, event_time, channel), optionally only in ``[since, until)`` (SQL
    timestamp expressions): a journey needs only the touches of its look-back, not the whole history.
    """
    bounds = "".join([f" AND {{t}}event_time >= {since}" if since else "",
                      f" AND {{t}}event_time < {until}" if until else ""])
    parts = []
    if wb.has_table("touches"):
        parts.append("SELECT customer_id, event_time, touch_type AS channel FROM touches WHERE TRUE"
                     + bounds.format(t=""))
    if include_adds and wb.has_table("contact_events"):
        group = "COALESCE('add_' || ch.channel_group, 'add_unknown')" if wb.has_table("channels") else "'add'"
        join = "LEFT JOIN channels ch ON ch.channel_code = ce.channel_code" if wb.has_table("channels") else ""
        parts.append(f"SELECT ce.customer_id, ce.event_time, {group} AS channel FROM contact_events ce {join} "
                     f"WHERE ce.event_type = 'add'" + bounds.format(t="ce."))
    if not parts:
        raise ParameterError("journeys need touches or contact_events")
    return " UNION ALL ".join(parts)


def _steps_sql(wb: Workbench, start: Any, end: Any, lookback_days: int = 30, include_adds: bool = True,
               max_touches: int = 20, order_channels: tuple[str, ...] | None = None) -> tuple[str, int]:
    """``(CTEs ending in steps, max_touches)``: every touchpoint of every journey, ranked from the journey's end.

    ``steps`` has journey_id, converted, value, channel, touch_time and ``from_end`` (1 for the
    touchpoint nearest the journey's end; a journey keeps ``from_end <= max_touches``). A
    non-converting journey's touchpoints are the very touchpoints that make the customer one, so
    they are read directly rather than joined back to the touchpoints.
    """
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    if e <= s or lookback_days <= 0 or max_touches < 1:
        raise ParameterError("need end > start, lookback_days > 0 and max_touches >= 1")
    wb.require("orders")
    lb = f"INTERVAL '{int(lookback_days)} days'"
    chan_filter = ""
    if order_channels:
        chan_filter = " AND order_channel IN (" + ", ".join(literal(c) for c in order_channels) + ")"
    return f"""
        WITH tp AS ({_touchpoints_sql(wb, include_adds, literal(s - pd.Timedelta(days=int(lookback_days))),
                                      literal(e))}),
        conv AS (
            SELECT order_id AS journey_id, customer_id, order_time AS journey_end, amount AS value, 1 AS converted
            FROM orders WHERE customer_id IS NOT NULL AND order_time >= {literal(s)} AND order_time < {literal(e)}
            {chan_filter}
        ),
        buyers AS (SELECT DISTINCT customer_id FROM conv),
        steps AS (
            SELECT journey_id, converted, value, channel, touch_time,
                   ROW_NUMBER() OVER (PARTITION BY journey_id ORDER BY touch_time DESC, channel) AS from_end
            FROM (
                SELECT c.journey_id, c.converted, c.value, tp.channel, tp.event_time AS touch_time
                FROM conv c JOIN tp ON tp.customer_id = c.customer_id
                     AND tp.event_time < c.journey_end AND tp.event_time >= c.journey_end - {lb}
                UNION ALL
                SELECT 'null:' || tp.customer_id AS journey_id, 0 AS converted, 0.0 AS value, tp.channel,
                       tp.event_time AS touch_time
                FROM tp LEFT JOIN buyers b ON b.customer_id = tp.customer_id
                WHERE b.customer_id IS NULL AND tp.customer_id IS NOT NULL
                  AND tp.event_time >= {literal(e)} - {lb} AND tp.event_time < {literal(e)}
            ) x
        )""", int(max_touches)


def journeys_sql(wb: Workbench, start: Any, end: Any, lookback_days: int = 30, include_adds: bool = True,
                 max_touches: int = 20, order_channels: tuple[str, ...] | None = None) -> str:
    """SQL with one row per touchpoint of every journey: journey_id, converted, value, step, channel, touch_time."""
    steps, keep = _steps_sql(wb, start, end, lookback_days, include_adds, max_touches, order_channels)
    return f"""{steps}
        SELECT journey_id, converted, value, channel, touch_time,
               ROW_NUMBER() OVER (PARTITION BY journey_id ORDER BY touch_time, channel) AS step
        FROM steps WHERE from_end <= {keep}"""


def journeys(wb: Workbench, start: Any, end: Any, **kwargs: Any) -> pd.DataFrame:
    """Journey touchpoints as a frame (for small windows, inspection and time-decay models)."""
    return wb.query(journeys_sql(wb, start, end, **kwargs) + " ORDER BY journey_id, step")


@dataclass(frozen=True)
class JourneyPaths:
    """Distinct journey paths of a window and the orders no channel can take credit for.

    ``paths`` has ``path``, ``total_conversions``, ``total_conversion_value`` and ``total_null``;
    ``unattributed_conversions`` / ``unattributed_value`` count the orders (and their GMV) of the
    window with no touchpoint in their look-back.
    """

    paths: pd.DataFrame
    unattributed_conversions: int
    unattributed_value: float
    start: pd.Timestamp
    end: pd.Timestamp


def journey_path_summary(wb: Workbench, start: Any, end: Any, sep: str = " > ", **kwargs: Any) -> JourneyPaths:
    """Journeys aggregated to distinct paths (see module docstring), with the orders left out.

    Orders with no touchpoint in their look-back are counted in ``unattributed_conversions`` and
    ``unattributed_value``: no channel can take credit for them.
    """
    steps, keep = _steps_sql(wb, start, end, **kwargs)
    # a path lists its touchpoints in the order of journeys_sql's step: by time, then channel (touchpoints
    # equal in both are the same text, so the string does not depend on how such ties are broken)
    paths = wb.query(f"""{steps},
        p AS (
            SELECT journey_id, MAX(converted) AS converted, MAX(value) AS value,
                   STRING_AGG(channel, {literal(sep)} ORDER BY touch_time, channel) AS path
            FROM steps WHERE from_end <= {keep} GROUP BY journey_id
        )
        SELECT path, SUM(converted) AS total_conversions, {money_sum('CASE WHEN converted = 1 THEN value ELSE 0 END')}
               AS total_conversion_value, SUM(1 - converted) AS total_null
        FROM p GROUP BY path ORDER BY total_conversions DESC, path""")
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    total = wb.query(f"SELECT COUNT(*) AS n, COALESCE({money_sum('amount')}, 0) AS v FROM orders "
                     f"WHERE customer_id IS NOT NULL "
                     f"AND order_time >= {literal(s)} AND order_time < {literal(e)}").iloc[0]
    return JourneyPaths(paths, int(total["n"] - paths["total_conversions"].sum()),
                        float(total["v"] - paths["total_conversion_value"].sum()), s, e)


def journey_paths(wb: Workbench, start: Any, end: Any, sep: str = " > ", **kwargs: Any) -> pd.DataFrame:
    """Journeys aggregated to distinct paths in the path-string format (see module docstring).

    The frame alone, for the attribution models; :func:`journey_path_summary` also returns the
    orders left out.
    """
    return journey_path_summary(wb, start, end, sep=sep, **kwargs).paths
