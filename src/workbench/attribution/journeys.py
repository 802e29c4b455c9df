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
from ..engine.sql import customer_part_sql
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
               max_touches: int = 20, order_channels: tuple[str, ...] | None = None,
               customers: str = "") -> tuple[str, int]:
    """``(CTEs ending in steps, max_touches)``: every touchpoint of every journey, ranked from the journey's end.

    ``customers``, an SQL condition on ``customer_id``, keeps only those customers' journeys (a journey
    is one customer's: the journeys of a partition of the customers are a partition of the journeys).

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
    if customers:
        chan_filter += f" AND {customers}"
    touchpoints = _touchpoints_sql(wb, include_adds, literal(s - pd.Timedelta(days=int(lookback_days))), literal(e))
    if customers:
        touchpoints = f"SELECT * FROM ({touchpoints}) t WHERE {customers}"
    return f"""
        WITH tp AS ({touchpoints}),
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


#: engine memory a touchpoint of the path summary takes (its row in the ranking window and the ordered string
#: aggregate, which hold every touchpoint of the window at once); past the engine's limit the customers are
#: summarised in hash parts, one after the other
_PATH_BYTES_PER_TOUCHPOINT = 200


def journey_path_summary(wb: Workbench, start: Any, end: Any, sep: str = " > ", parts: int | None = None,
                         **kwargs: Any) -> JourneyPaths:
    """Journeys aggregated to distinct paths (see module docstring), with the orders left out.

    Orders with no touchpoint in their look-back are counted in ``unattributed_conversions`` and
    ``unattributed_value``: no channel can take credit for them.

    ``parts`` (None: as the engine's memory limit requires, :func:`path_parts`) summarises the
    journeys of that many customer-hash parts one after the other and adds the paths up: a journey is
    one customer's, so the paths and their counts are the same, and the values are added as decimals.
    """
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    k = path_parts(wb, s, e, kwargs.get("lookback_days", 30), kwargs.get("include_adds", True)) \
        if parts is None else int(parts)
    if k <= 1:
        paths = wb.query(_path_rows_sql(wb, s, e, sep, "", kwargs) + " ORDER BY total_conversions DESC, path")
    else:
        # each part's exact decimal sum kept as text, so the parts add up exactly in the engine
        rows = pd.concat([wb.query(_path_rows_sql(wb, s, e, sep, customer_part_sql(k, i), kwargs,
                                                  text_values=True)) for i in range(k)], ignore_index=True)
        wb.register("__wb_path_parts", rows)
        paths = wb.query("""
            SELECT path, CAST(SUM(total_conversions) AS BIGINT) AS total_conversions,
                   CAST(SUM(CAST(total_conversion_value AS DECIMAL(38, 10))) AS DOUBLE) AS total_conversion_value,
                   CAST(SUM(total_null) AS BIGINT) AS total_null
            FROM __wb_path_parts GROUP BY path ORDER BY total_conversions DESC, path""")
    total = wb.query(f"SELECT COUNT(*) AS n, COALESCE({money_sum('amount')}, 0) AS v FROM orders "
                     f"WHERE customer_id IS NOT NULL "
                     f"AND order_time >= {literal(s)} AND order_time < {literal(e)}").iloc[0]
    return JourneyPaths(paths, int(total["n"] - paths["total_conversions"].sum()),
                        float(total["v"] - paths["total_conversion_value"].sum()), s, e)


def _path_rows_sql(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, sep: str, customers: str,
                   kwargs: dict[str, Any], text_values: bool = False) -> str:
    """One row per distinct path of the (some customers') journeys, unordered."""
    steps, keep = _steps_sql(wb, s, e, customers=customers, **kwargs)
    value = "CASE WHEN converted = 1 THEN value ELSE 0 END"
    total_value = (f"CAST(SUM(CAST({value} AS DECIMAL(38, 10))) AS VARCHAR)" if text_values else money_sum(value))
    # a path lists its touchpoints in the order of journeys_sql's step: by time, then channel (touchpoints
    # equal in both are the same text, so the string does not depend on how such ties are broken)
    return f"""{steps},
        p AS (
            SELECT journey_id, MAX(converted) AS converted, MAX(value) AS value,
                   STRING_AGG(channel, {literal(sep)} ORDER BY touch_time, channel) AS path
            FROM steps WHERE from_end <= {keep} GROUP BY journey_id
        )
        SELECT path, SUM(converted) AS total_conversions, {total_value} AS total_conversion_value,
               SUM(1 - converted) AS total_null
        FROM p GROUP BY path"""


def path_parts(wb: Workbench, start: pd.Timestamp, end: pd.Timestamp, lookback_days: int = 30,
               include_adds: bool = True) -> int:
    """In how many customer-hash parts :func:`journey_path_summary` fits the engine's memory limit (DuckDB).

    One part without a limit, on another engine, or when the window's touchpoints fit: counting them
    is a filtered scan of the touch times.
    """
    limit = wb.backend.memory_limit_bytes()
    if limit is None or wb.dialect != "duckdb":
        return 1
    since = literal(start - pd.Timedelta(days=int(lookback_days)))
    n = wb.scalar(f"SELECT COUNT(*) FROM ({_touchpoints_sql(wb, include_adds, since, literal(end))}) t")
    return max(1, -(-int(n) * _PATH_BYTES_PER_TOUCHPOINT // int(limit)))


def journey_paths(wb: Workbench, start: Any, end: Any, sep: str = " > ", **kwargs: Any) -> pd.DataFrame:
    """Journeys aggregated to distinct paths in the path-string format (see module docstring).

    The frame alone, for the attribution models; :func:`journey_path_summary` also returns the
    orders left out.
    """
    return journey_path_summary(wb, start, end, sep=sep, **kwargs).paths
