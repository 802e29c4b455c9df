"""From contract tables to a per-customer value table: the CLV report's engine.

``customer_value`` summarises orders in the engine (one row per customer), fits BG/NBD and
Gamma-Gamma on collapsed rows, and predicts P(alive), expected purchases and CLV. The
per-customer table holds ``customer_id``: use it for exports and joins, show only
aggregates to stakeholders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine import Workbench, literal, to_timestamp
from ..errors import ParameterError
from ..segments import fan_tiers, value_tiers
from .beta_geo import BetaGeoFitter
from .gamma_gamma import GammaGammaFitter
from .rfm import rfm_summary
from .value import clv_interval, customer_lifetime_value


@dataclass
class CustomerValue:
    """Fitted models and the per-customer value table."""

    customers: pd.DataFrame
    transaction_model: BetaGeoFitter
    monetary_model: GammaGammaFitter
    as_of: pd.Timestamp
    horizon_months: int
    discount_rate: float
    total_interval: tuple[float, float, float] | None = None


def main_store_sql(as_of: pd.Timestamp) -> str:
    """Each customer's main store: where they placed most orders before ``as_of``."""
    return f"""
        SELECT customer_id, store_id FROM (
            SELECT customer_id, store_id,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY COUNT(*) DESC, store_id) AS rn
            FROM orders WHERE customer_id IS NOT NULL AND store_id IS NOT NULL AND order_time < {literal(as_of)}
            GROUP BY customer_id, store_id
        ) x WHERE rn = 1"""


def customer_value(wb: Workbench, as_of: Any, horizon_months: int = 12, discount_rate: float = 0.01,
                   lookback_days: int = 365, interval_draws: int = 0, seed: int = 0) -> CustomerValue:
    """Fit BG/NBD + Gamma-Gamma on all orders before ``as_of`` and value every buyer.

    Returns a :class:`CustomerValue` whose ``customers`` frame has, per registered customer:
    ``frequency``, ``recency``, ``T`` (weeks), ``monetary_value``, ``p_alive``,
    ``expected_purchases_90d``, ``expected_spend``, ``clv``, ``value_tier``, ``spend`` and
    ``orders`` over the look-back, ``fan_tier``, ``store_id`` (main store). Customers who
    never bought have CLV 0 here and fan tier ``potential``.
    """
    as_of = to_timestamp(as_of, "as_of")
    if horizon_months < 1:
        raise ParameterError("horizon_months must be at least 1")
    obs_end = (as_of - pd.Timedelta(days=1)).normalize()
    summary = rfm_summary(wb, observation_end=obs_end, time_unit="W")
    if summary.empty:
        raise ParameterError(f"no orders before {as_of.date()}")
    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    rep = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    x, tx, T, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    summary["p_alive"] = bg.conditional_probability_alive(x, tx, T)
    summary["expected_purchases_90d"] = bg.conditional_expected_number_of_purchases_up_to_time(90 / 7, x, tx, T)
    summary["expected_spend"] = gg.conditional_expected_average_profit(x, m)
    total = None
    if interval_draws:
        iv = clv_interval(bg, gg, x, tx, T, m, horizon_months, discount_rate, n_draws=interval_draws, seed=seed)
        summary["clv"], summary["clv_low"], summary["clv_high"] = iv["clv"].to_numpy(), iv["clv_low"].to_numpy(), \
            iv["clv_high"].to_numpy()
        total = iv.attrs["total"]
    else:
        summary["clv"] = customer_lifetime_value(bg, gg, x, tx, T, m, horizon_months, discount_rate)
    summary["value_tier"] = value_tiers(summary["clv"])
    start = as_of - pd.Timedelta(days=lookback_days)
    recent = wb.query(f"""
        SELECT c.customer_id, COALESCE(SUM(o.amount - COALESCE(o.refunded_amount, 0)), 0) AS spend,
               COUNT(o.order_id) AS orders
        FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id
             AND o.order_time >= {literal(start)} AND o.order_time < {literal(as_of)}
        WHERE c.registered_at IS NULL OR c.registered_at < {literal(as_of)}
        GROUP BY c.customer_id""") if wb.has_table("customers") else \
        summary[["customer_id"]].assign(spend=0.0, orders=0)
    stores = wb.query(main_store_sql(as_of))
    out = recent.merge(summary.drop(columns=["first_day"]), on="customer_id", how="left") \
        .merge(stores, on="customer_id", how="left")
    out = fan_tiers(out, "spend", "orders")
    out["clv"] = out["clv"].fillna(0.0)
    out["value_tier"] = out["value_tier"].astype(object).fillna("activate")
    return CustomerValue(out, bg, gg, as_of, horizon_months, discount_rate, total)


def probability_alive_matrix(model: BetaGeoFitter, T: float, max_frequency: int = 20, n_recency: int = 20) -> pd.DataFrame:
    """P(alive) over a grid of frequency (rows) × recency (columns) for customers of age ``T``."""
    freqs = np.arange(0, max_frequency + 1)
    recs = np.linspace(0, T, n_recency + 1)[1:]
    grid = np.array([[model.conditional_probability_alive(f, r if f > 0 else 0.0, T) for r in recs] for f in freqs])
    return pd.DataFrame(grid, index=pd.Index(freqs, name="frequency"), columns=pd.Index(np.round(recs, 1),
                                                                                        name="recency"))


def value_concentration(clv: pd.Series) -> pd.DataFrame:
    """Share of total CLV held by each decile of customers, highest first, and cumulative."""
    values = np.sort(np.asarray(clv, float))[::-1]
    if values.sum() <= 0:
        raise ParameterError("total CLV is zero")
    deciles = np.array_split(values, 10)
    share = np.array([d.sum() for d in deciles]) / values.sum()
    return pd.DataFrame({"decile": np.arange(1, 11), "share": share, "cumulative_share": share.cumsum()})
