"""Channel-code ROI: what each QR code (渠道活码) brings, keeps and sells.

For every add in ``[start, end)`` carrying a channel code:

* ``adds`` (person-times) and ``persons`` (distinct customers);
* ``retained_7d`` / ``retained_30d``: share of adds whose relationship was still open 7 /
  30 days later, among adds at least that old at ``as_of`` (younger adds are not yet
  measurable and are left out of the denominator);
* ``buyers`` and ``gmv``: persons who bought within ``value_days`` after their add, and
  their GMV in that window (net of refunds);
* ``gmv_per_add``; and when ``channels.cost`` exists, ``cost`` (cost per add × adds, or the
  total given, see ``cost_basis``), ``cost_per_add`` and ``roi`` = gmv / cost.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..contract import CONTACT_DELETE_TYPES
from ..engine import Workbench, literal, money_sum, to_timestamp
from ..errors import ParameterError
from ..relations import contact_intervals


def channel_roi(wb: Workbench, start: Any, end: Any, as_of: Any = None, value_days: int = 30,
                cost_basis: str = "per_add") -> pd.DataFrame:
    """Adds, retention, buyers, GMV and ROI per channel code (see module docstring).

    Parameters
    ----------
    as_of : date-like, optional
        When retention and value are measured; defaults to ``end``.
    value_days : int
        GMV window after each add.
    cost_basis : {"per_add", "total"}
        Whether ``channels.cost`` is the cost of one add (CPA) or the channel's total cost
        for the window.
    """
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    at = to_timestamp(as_of, "as_of") if as_of is not None else e
    if cost_basis not in ("per_add", "total"):
        raise ParameterError("cost_basis must be 'per_add' or 'total'")
    wb.require("contact_events")
    has_orders = wb.has_table("orders")
    v = f"INTERVAL '{int(value_days)} days'"
    value_cte = f""",
        value AS (
            SELECT a.channel_code, COUNT(DISTINCT o.customer_id) AS buyers,
                   COALESCE({money_sum('o.amount - COALESCE(o.refunded_amount, 0)')}, 0) AS gmv
            FROM (SELECT channel_code, customer_id, MIN(start_time) AS first_add FROM adds GROUP BY 1, 2) a
            JOIN orders o ON o.customer_id = a.customer_id AND o.order_time >= a.first_add
                 AND o.order_time < a.first_add + {v} AND o.order_time < {literal(at)}
            GROUP BY a.channel_code)""" if has_orders else ""
    # kept = not deleted: a relationship moved to another guide or closed when its guide left is not a loss
    deletes = ", ".join(literal(t) for t in CONTACT_DELETE_TYPES)
    df = wb.query(f"""
        WITH adds AS (
            SELECT * FROM ({contact_intervals(wb)}) iv
            WHERE iv.start_time >= {literal(s)} AND iv.start_time < {literal(e)} AND iv.channel_code IS NOT NULL
        ),
        base AS (
            SELECT channel_code, COUNT(*) AS adds, COUNT(DISTINCT customer_id) AS persons,
                   SUM(CASE WHEN start_time + INTERVAL '7 days' <= {literal(at)} THEN 1 ELSE 0 END) AS mature_7d,
                   SUM(CASE WHEN start_time + INTERVAL '7 days' <= {literal(at)}
                             AND (end_time IS NULL OR end_time >= start_time + INTERVAL '7 days'
                                  OR end_type NOT IN ({deletes}))
                            THEN 1 ELSE 0 END) AS kept_7d,
                   SUM(CASE WHEN start_time + INTERVAL '30 days' <= {literal(at)} THEN 1 ELSE 0 END) AS mature_30d,
                   SUM(CASE WHEN start_time + INTERVAL '30 days' <= {literal(at)}
                             AND (end_time IS NULL OR end_time >= start_time + INTERVAL '30 days'
                                  OR end_type NOT IN ({deletes}))
                            THEN 1 ELSE 0 END) AS kept_30d
            FROM adds GROUP BY channel_code
        ){value_cte}
        SELECT base.*{', value.buyers, value.gmv' if has_orders else ''}
        FROM base {'LEFT JOIN value ON value.channel_code = base.channel_code' if has_orders else ''}
        ORDER BY base.adds DESC, base.channel_code
    """)
    if not has_orders:
        df["buyers"], df["gmv"] = 0, 0.0
    df[["buyers", "gmv"]] = df[["buyers", "gmv"]].fillna(0)
    df["retained_7d"] = df["kept_7d"] / df["mature_7d"].where(df["mature_7d"] > 0)
    df["retained_30d"] = df["kept_30d"] / df["mature_30d"].where(df["mature_30d"] > 0)
    df["gmv_per_add"] = df["gmv"] / df["adds"]
    if wb.has_table("channels"):
        ch = wb.frame("channels")[["channel_code", "channel_group", "channel_name", "store_id", "cost"]]
        df = df.merge(ch, on="channel_code", how="left")
        cost = df["cost"] * df["adds"] if cost_basis == "per_add" else df["cost"]
        df["cost"] = cost
        df["cost_per_add"] = cost / df["adds"]
        df["roi"] = df["gmv"] / cost.where(cost > 0)
    else:
        df["cost"] = df["cost_per_add"] = df["roi"] = np.nan
    return df.drop(columns=["kept_7d", "kept_30d"])
