"""The churn-risk pipeline from contract tables: model, open relationships, value, risk.

:func:`relationship_risk` fits the Cox model on customer–staff spells, scores every open
relationship's deletion risk over a horizon and weighs it by the customer's expected value
(CLV from :mod:`workbench.clv`, or trailing 12-month GMV when CLV cannot be fitted).
:func:`export_at_risk` writes the ranked list for operations — with real customer ids,
since guides must act on it; reports only ever show the counts by store.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Workbench, literal, to_timestamp
from .at_risk import at_risk_list
from .spells import spell_covariates
from .survival import CoxResult, fit_cox

COVARIATES = ["channel_group", "group_member", "bought_by_landmark"]


def relationship_risk(wb: Workbench, as_of: Any, horizon_days: float = 30.0, value: str = "clv",
                      spells: pd.DataFrame | None = None) -> tuple[pd.DataFrame, CoxResult]:
    """Open relationships with ``risk`` of deletion within ``horizon_days`` and ``value_at_risk``.

    ``value``: ``"clv"`` (expected 12-month value) or ``"gmv"`` (trailing 12 months).
    Returns (ranked frame with raw ``customer_id``, fitted Cox result).
    """
    at = to_timestamp(as_of, "as_of")
    s = spells if spells is not None else spell_covariates(wb, at)
    categorical = [c for c in COVARIATES if c in s.columns]
    if "uses_retention_tool" in s.columns:
        categorical.append("uses_retention_tool")
    cox = fit_cox(s, categorical=categorical, check_ph=False, duration_resolution=1.0)  # a daily grain collapses
    open_now = s[~s["churned"]].assign(age_days=lambda d: d["duration_days"])
    values = None
    if value == "clv":
        try:
            from ..clv.pipeline import VALUE_TABLE, value_buyers

            # only (customer, value) leaves the engine: no per-customer frame of tiers at brand scale
            value_buyers(wb, at)
            values = wb.query(f"SELECT customer_id, clv AS value FROM {VALUE_TABLE}")
        except Exception:  # too few buyers to fit: fall back to trailing GMV
            values = None
    if values is None:
        values = wb.query(f"""SELECT customer_id, SUM(amount - COALESCE(refunded_amount, 0)) AS value FROM orders
                              WHERE customer_id IS NOT NULL AND order_time >= {literal(at - pd.Timedelta(days=365))}
                                AND order_time < {literal(at)} GROUP BY customer_id""")
    open_now = open_now.merge(values, on="customer_id", how="left").assign(value=lambda d: d["value"].fillna(0.0))
    ranked = at_risk_list(cox, open_now, "value", horizon_days=horizon_days, id_cols=())
    return ranked, cox


def export_at_risk(wb: Workbench, as_of: Any, path: str | Path, horizon_days: float = 30.0, top: int | None = None,
                   value: str = "clv") -> Path:
    """Write the ranked at-risk list (customer id, staff, store, risk, value) to CSV for operations."""
    ranked, _ = relationship_risk(wb, as_of, horizon_days, value)
    cols = ["rank", "customer_id", "staff_id", "store_id", "channel_group", "age_days", "risk", "value", "value_at_risk"]
    out = ranked[[c for c in cols if c in ranked.columns]]
    if top:
        out = out.head(top)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, float_format="%.6g")
    return path
