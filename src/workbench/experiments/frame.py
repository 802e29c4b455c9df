"""Experiment data from contract tables, built in the engine.

:func:`experiment_frame` gives one row per analysis unit (what a data scientist inspects
in a notebook); :func:`experiment_statistics` gives the same metrics already reduced to
sufficient statistics per variant (and per cluster), so ten million units cost one
aggregation query; :func:`experiment_daily` gives cumulative statistics by day since the
start for sequential monitoring.

Units and clusters:

* ``unit = customer``: each assigned customer is a unit; exposure starts at
  ``assigned_at`` (else the experiment start).
* ``unit = staff`` or ``store``: the randomised unit is a cluster. The analysis units are
  the customers with an open contact, at the experiment start, with a guide of that staff
  member / store; ``cluster_id`` names their cluster. Analyse with ``cluster_col``.

Metrics per analysis unit over the window ``[t0, t0 + window_days)``:

``orders``, ``gmv`` (amount net of refunds), ``converted`` (0/1: at least one order),
``aov`` as a ratio metric (``gmv`` / ``orders``), ``retained`` (0/1: every contact open at
``t0`` is still open at the window end; units without a contact get NULL and are
dropped from that metric) and the pre-period covariates ``pre_orders`` and ``pre_gmv``
over ``[t0 - pre_days, t0)`` for CUPED.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..contract import CONTACT_DELETE_TYPES
from ..engine import Workbench, literal, money_product_sum, money_sum
from ..errors import DataContractError, ParameterError
from ..relations import contact_intervals, open_at_sql

METRICS = ("orders", "gmv", "converted", "retained")
RATIO_METRICS = {"aov": ("gmv", "orders")}


@dataclass(frozen=True)
class ExperimentInfo:
    """One experiments row, with its assignment counts."""

    experiment_id: str
    unit: str
    start_at: pd.Timestamp
    end_at: pd.Timestamp | None
    variants: dict[str, int]
    name: str | None = None   # the experiments row's display name, when the table has one


def experiment_info(wb: Workbench, experiment_id: str) -> ExperimentInfo:
    """Read an experiment's row and its variants; clear errors when it is unknown or empty."""
    wb.require("experiments", "assignments")
    row = wb.query(f"SELECT * FROM experiments WHERE experiment_id = {literal(experiment_id)}")
    if row.empty:
        known = wb.query("SELECT experiment_id FROM experiments ORDER BY 1")["experiment_id"].tolist()
        raise ParameterError(f"unknown experiment_id {experiment_id!r}; known: {', '.join(known[:20])}")
    counts = wb.query(f"""SELECT variant, COUNT(*) AS n FROM assignments
                          WHERE experiment_id = {literal(experiment_id)} GROUP BY 1 ORDER BY 1""")
    if counts.empty:
        raise DataContractError("assignments", "experiment_id", f"no assignments for experiment {experiment_id!r}")
    r = row.iloc[0]
    end = r["end_at"] if pd.notna(r["end_at"]) else None
    name = r.get("name")
    return ExperimentInfo(experiment_id, r["unit"], pd.Timestamp(r["start_at"]), end,
                          dict(zip(counts["variant"], counts["n"].astype(int), strict=False)),
                          str(name) if name is not None and pd.notna(name) and str(name) else None)


def _units_sql(wb: Workbench, info: ExperimentInfo) -> str:
    """Analysis units: unit_id (a customer), cluster_id, variant, t0."""
    exp_id = literal(info.experiment_id)
    start = literal(info.start_at)
    if info.unit == "customer":
        return f"""SELECT a.unit_id AS customer_id, a.unit_id AS cluster_id, a.variant,
                          COALESCE(a.assigned_at, {start}) AS t0
                   FROM assignments a WHERE a.experiment_id = {exp_id}"""
    wb.require("contact_events", "staff")
    cluster = "s.staff_id" if info.unit == "staff" else "s.store_id"
    # A customer with guides in two clusters is counted once, in the first by cluster id,
    # so that units are never duplicated across variants.
    return f"""
        SELECT customer_id, cluster_id, variant, t0 FROM (
            SELECT iv.customer_id, a.unit_id AS cluster_id, a.variant, {start} AS t0,
                   ROW_NUMBER() OVER (PARTITION BY iv.customer_id ORDER BY a.unit_id) AS rn
            FROM ({contact_intervals(wb)}) iv
            JOIN staff s ON s.staff_id = iv.staff_id
            JOIN assignments a ON a.unit_id = {cluster} AND a.experiment_id = {exp_id}
            WHERE {open_at_sql('iv', start)}
        ) x WHERE rn = 1"""


def _unit_metrics_sql(wb: Workbench, info: ExperimentInfo, window_days: int, pre_days: int) -> str:
    w = f"INTERVAL '{int(window_days)} days'"
    p = f"INTERVAL '{int(pre_days)} days'"
    has_contacts = wb.has_table("contact_events")
    deletes = ", ".join(literal(t) for t in CONTACT_DELETE_TYPES)   # a transfer or departure is not a loss
    retained = f"""
        LEFT JOIN (
            SELECT u.customer_id,
                   MIN(CASE WHEN iv.end_time IS NULL OR iv.end_time >= u.t0 + {w} OR iv.end_type NOT IN ({deletes})
                            THEN 1 ELSE 0 END) AS retained
            FROM u JOIN ({contact_intervals(wb)}) iv ON iv.customer_id = u.customer_id
            WHERE {open_at_sql('iv', 'u.t0')}
            GROUP BY u.customer_id
        ) r ON r.customer_id = u.customer_id""" if has_contacts else ""
    retained_col = "r.retained" if has_contacts else "CAST(NULL AS INTEGER)"
    return f"""
        WITH u AS ({_units_sql(wb, info)}),
        o AS (
            SELECT u.customer_id,
                   SUM(CASE WHEN o.order_time >= u.t0 AND o.order_time < u.t0 + {w} THEN 1 ELSE 0 END) AS orders,
                   {money_sum(f"CASE WHEN o.order_time >= u.t0 AND o.order_time < u.t0 + {w} "
                              "THEN o.amount - COALESCE(o.refunded_amount, 0) ELSE 0 END")} AS gmv,
                   SUM(CASE WHEN o.order_time >= u.t0 - {p} AND o.order_time < u.t0 THEN 1 ELSE 0 END) AS pre_orders,
                   {money_sum(f"CASE WHEN o.order_time >= u.t0 - {p} AND o.order_time < u.t0 "
                              "THEN o.amount - COALESCE(o.refunded_amount, 0) ELSE 0 END")} AS pre_gmv
            FROM u JOIN orders o ON o.customer_id = u.customer_id
            WHERE o.order_time >= u.t0 - {p} AND o.order_time < u.t0 + {w}
            GROUP BY u.customer_id
        )
        SELECT u.customer_id AS unit_id, u.cluster_id, u.variant, u.t0,
               COALESCE(o.orders, 0) AS orders, COALESCE(o.gmv, 0.0) AS gmv,
               CASE WHEN COALESCE(o.orders, 0) > 0 THEN 1 ELSE 0 END AS converted,
               {retained_col} AS retained,
               COALESCE(o.pre_orders, 0) AS pre_orders, COALESCE(o.pre_gmv, 0.0) AS pre_gmv
        FROM u LEFT JOIN o ON o.customer_id = u.customer_id {retained}
    """


def _check_window(window_days: int, pre_days: int) -> None:
    if int(window_days) <= 0 or int(pre_days) < 0:
        raise ParameterError(f"window_days must be positive and pre_days non-negative "
                             f"(got {window_days}, {pre_days})")


def experiment_frame(wb: Workbench, experiment_id: str, window_days: int = 14, pre_days: int = 28) -> pd.DataFrame:
    """Per analysis unit: variant, cluster and window metrics (see module docstring).

    Parameters
    ----------
    wb : Workbench
        Needs ``experiments``, ``assignments``, ``orders`` (and ``contact_events``,
        ``staff`` for staff/store experiments and for ``retained``).
    experiment_id : str
    window_days : int, default 14
        Outcome window after each unit's exposure.
    pre_days : int, default 28
        Pre-period for the CUPED covariates.

    Returns
    -------
    DataFrame
        ``unit_id``, ``cluster_id``, ``variant``, ``t0``, ``orders``, ``gmv``,
        ``converted``, ``retained``, ``pre_orders``, ``pre_gmv``. The experiment's
        :class:`ExperimentInfo` is :func:`experiment_info`.

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> frame = experiment_frame(wb, "EXP_CUST", window_days=14)          # doctest: +SKIP
    >>> analyze(frame, "variant", ["gmv", "converted", ("gmv", "orders")],  # doctest: +SKIP
    ...         control="control", covariates={"gmv": "pre_gmv"}).table
    """
    _check_window(window_days, pre_days)
    info = experiment_info(wb, experiment_id)
    wb.require("orders")
    df = wb.query(_unit_metrics_sql(wb, info, window_days, pre_days) + " ORDER BY unit_id")
    if df.empty:
        raise DataContractError("assignments", "unit_id",
                                f"experiment {experiment_id!r} has no analysis units (no open contacts of the "
                                f"assigned {info.unit}s at the start?)")
    return df


def experiment_statistics(wb: Workbench, experiment_id: str, window_days: int = 14, pre_days: int = 28,
                          by_cluster: bool | None = None) -> pd.DataFrame:
    """Sufficient statistics per variant (and cluster), computed in one aggregation query.

    Returns one row per variant (and ``cluster_id`` when ``by_cluster``; default: when the
    experiment is randomised by staff or store) with ``n`` and, for every metric ``m`` in
    orders, gmv, converted, retained, pre_orders, pre_gmv: ``m_sum`` and ``m_sum_squares``;
    cross sums ``gmv_orders_sum`` (ratio AOV), ``gmv_pre_gmv_sum``, ``orders_pre_orders_sum``,
    ``converted_pre_orders_sum`` (CUPED); and ``retained_n`` (units with a contact).
    """
    _check_window(window_days, pre_days)
    info = experiment_info(wb, experiment_id)
    if by_cluster is None:
        by_cluster = info.unit != "customer"
    keys = "variant, cluster_id" if by_cluster else "variant"
    parts = ["COUNT(*) AS n", "COUNT(retained) AS retained_n"]
    for m in ("orders", "gmv", "converted", "retained", "pre_orders", "pre_gmv"):
        parts += [f"{money_sum(m)} AS {m}_sum", f"{money_product_sum(m, m)} AS {m}_sum_squares"]
    parts += [f"{money_product_sum('gmv', 'orders')} AS gmv_orders_sum",
              f"{money_product_sum('gmv', 'pre_gmv')} AS gmv_pre_gmv_sum",
              "SUM(orders * pre_orders) AS orders_pre_orders_sum",
              "SUM(converted * pre_orders) AS converted_pre_orders_sum"]
    df = wb.query(f"SELECT {keys}, {', '.join(parts)} FROM ({_unit_metrics_sql(wb, info, window_days, pre_days)}) m "
                  f"GROUP BY {keys} ORDER BY {keys}")
    return df


def experiment_daily(wb: Workbench, experiment_id: str, metric: str = "gmv", days: int = 14) -> pd.DataFrame:
    """Cumulative per-variant statistics of ``metric`` for each day 1..``days`` since exposure.

    Day ``d`` covers ``[t0, t0 + d days)``. Returns ``day``, ``variant``, ``n``, ``sum``,
    ``sum_squares`` — the input of the always-valid sequential analysis and its
    cumulative plot. ``metric`` is ``gmv``, ``orders`` or ``converted``.
    """
    if metric not in ("gmv", "orders", "converted"):
        raise ParameterError(f"metric must be gmv, orders or converted, not {metric!r}")
    info = experiment_info(wb, experiment_id)
    wb.require("orders")
    value = {"gmv": "o.amount - COALESCE(o.refunded_amount, 0)", "orders": "1", "converted": "1"}[metric]
    agg = "MAX" if metric == "converted" else "SUM"
    days_sql = " UNION ALL ".join(f"SELECT {d} AS day" for d in range(1, int(days) + 1))
    return wb.query(f"""
        WITH u AS ({_units_sql(wb, info)}),
        d AS ({days_sql}),
        per_unit AS (
            SELECT d.day, u.customer_id, u.variant,
                   COALESCE(CAST({agg}(CASE WHEN o.order_time < u.t0 + d.day * INTERVAL '1 day'
                                            THEN CAST({value} AS DECIMAL(38, 10)) END) AS DOUBLE), 0) AS v
            FROM u CROSS JOIN d
            LEFT JOIN orders o ON o.customer_id = u.customer_id AND o.order_time >= u.t0
                 AND o.order_time < u.t0 + {int(days)} * INTERVAL '1 day'
            GROUP BY d.day, u.customer_id, u.variant
        )
        SELECT day, variant, COUNT(*) AS n, {money_sum('v')} AS sum, {money_product_sum('v', 'v')} AS sum_squares
        FROM per_unit GROUP BY day, variant ORDER BY day, variant
    """)


def experiment_segments(wb: Workbench, frame: pd.DataFrame) -> pd.DataFrame:
    """Add segment columns to an experiment frame.

    Add segment columns to an experiment frame: ``channel_group`` (of the unit's first add),
    ``store_id`` (main store before exposure) and ``buyer_type`` (``new``: no order in the
    pre-period, ``repeat`` otherwise). Computed in the engine for the frame's units.
    """
    units = frame[["unit_id", "t0"]].drop_duplicates()
    wb.register("__experiment_units", units)
    chans = wb.has_table("channels")
    seg = wb.query(f"""
        SELECT u.unit_id,
               {'ch.channel_group' if chans else 'CAST(NULL AS VARCHAR)'} AS channel_group, ms.store_id
        FROM __experiment_units u
        LEFT JOIN (
            SELECT customer_id, channel_code FROM (
                SELECT customer_id, channel_code,
                       ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY event_time, staff_id) AS rn
                FROM contact_events WHERE event_type = 'add') f WHERE rn = 1
        ) fa ON fa.customer_id = u.unit_id
        {'LEFT JOIN channels ch ON ch.channel_code = fa.channel_code' if chans else ''}
        LEFT JOIN (
            SELECT unit_id, store_id FROM (
                SELECT u2.unit_id, o.store_id,
                       ROW_NUMBER() OVER (PARTITION BY u2.unit_id ORDER BY COUNT(*) DESC, o.store_id) AS rn
                FROM __experiment_units u2 JOIN orders o ON o.customer_id = u2.unit_id AND o.order_time < u2.t0
                WHERE o.store_id IS NOT NULL GROUP BY u2.unit_id, o.store_id) s WHERE rn = 1
        ) ms ON ms.unit_id = u.unit_id""") if wb.has_table("contact_events") else units[["unit_id"]].assign(
        channel_group=None, store_id=None)
    out = frame.merge(seg, on="unit_id", how="left")
    out["channel_group"] = out["channel_group"].fillna("unknown")
    out["buyer_type"] = np.where(out["pre_orders"] > 0, "repeat", "new")
    return out
