"""Customer lifetime value over a horizon, discounted monthly, with intervals.

CLV = Σ_{m=1..H} (E[Y(m)] − E[Y(m−1)]) · E[spend] / (1 + d)^m, where E[Y(m)] is the
transaction model's conditional expected number of purchases by the end of month m and
E[spend] the Gamma-Gamma conditional expected average spend. Computed on de-duplicated
(frequency, recency, T, monetary value) rows, so millions of customers cost little.

Intervals come from a parametric bootstrap: parameters are drawn from the normal
approximation of their log-scale sampling distribution (delta method from the fitted
covariance) and CLV recomputed for each draw.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .rfm import UNITS

WEEKS_PER_MONTH = 30.4375 / 7


def _months_in_unit(time_unit: str) -> float:
    if time_unit not in UNITS:
        raise ParameterError(f"time_unit must be one of {', '.join(UNITS)}")
    return 30.4375 / UNITS[time_unit]


def _clv_rows(transaction_model: Any, spend: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
              horizon_months: int, discount_rate: float, time_unit: str) -> np.ndarray:
    step = _months_in_unit(time_unit)
    total = np.zeros(len(x))
    previous = np.zeros(len(x))
    for m in range(1, int(horizon_months) + 1):
        expected = transaction_model.conditional_expected_number_of_purchases_up_to_time(m * step, x, tx, T)
        total += (expected - previous) / (1 + discount_rate) ** m
        previous = expected
    return total * spend


def customer_lifetime_value(transaction_model: Any, monetary_model: Any, frequency: Any, recency: Any, T: Any,
                            monetary_value: Any, horizon_months: int = 12, discount_rate: float = 0.01,
                            time_unit: str = "W") -> np.ndarray:
    """Expected discounted value of each customer over ``horizon_months``.

    Parameters
    ----------
    transaction_model : BetaGeoFitter or ParetoNBDFitter (fitted)
    monetary_model : GammaGammaFitter (fitted)
    discount_rate : float
        Monthly discount rate (0.01 ≈ 12.7% a year).
    time_unit : str
        The unit the RFM columns are in.

    Examples
    --------
    >>> clv = customer_lifetime_value(bg, gg, s.frequency, s.recency, s["T"], s.monetary_value)  # doctest: +SKIP
    """
    if horizon_months < 1 or discount_rate < 0:
        raise ParameterError("horizon_months must be >= 1 and discount_rate >= 0")
    frame = pd.DataFrame({"x": np.asarray(frequency, float), "tx": np.asarray(recency, float),
                          "T": np.asarray(T, float), "m": np.asarray(monetary_value, float)})
    unique = frame.drop_duplicates().reset_index(drop=True)
    spend = monetary_model.conditional_expected_average_profit(unique["x"].to_numpy(), unique["m"].to_numpy())
    unique["clv"] = _clv_rows(transaction_model, spend, unique["x"].to_numpy(), unique["tx"].to_numpy(),
                              unique["T"].to_numpy(), horizon_months, discount_rate, time_unit)
    return frame.merge(unique, on=["x", "tx", "T", "m"], how="left")["clv"].to_numpy()


def _draw_models(model: Any, n_draws: int, rng: np.random.Generator) -> list[Any]:
    params = model.params_.to_numpy()
    cov = model.variance_matrix_.to_numpy()
    # delta method: covariance of log-parameters = D^-1 Σ D^-1 with D = diag(params)
    log_cov = cov / np.outer(params, params)
    if not np.all(np.isfinite(log_cov)):
        raise ParameterError(f"{type(model).__name__} has no finite parameter covariance for intervals")
    draws = rng.multivariate_normal(np.log(params), log_cov, size=n_draws, method="eigh")
    models = []
    for d in draws:
        m = copy.copy(model)
        m.params_ = pd.Series(np.exp(d), index=model.params_.index)
        models.append(m)
    return models


def clv_interval(transaction_model: Any, monetary_model: Any, frequency: Any, recency: Any, T: Any,
                 monetary_value: Any, horizon_months: int = 12, discount_rate: float = 0.01, time_unit: str = "W",
                 n_draws: int = 200, level: float = 0.9, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """CLV with a parametric-bootstrap interval per customer and for the total.

    Returns a frame with ``clv`` (at the fitted parameters), ``clv_low`` and ``clv_high``
    per customer; ``attrs["total"]`` holds (estimate, low, high) for the sum over customers.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": np.asarray(frequency, float), "tx": np.asarray(recency, float),
                          "T": np.asarray(T, float), "m": np.asarray(monetary_value, float)})
    unique = frame.groupby(["x", "tx", "T", "m"], as_index=False).size()
    args = [unique[c].to_numpy() for c in ("x", "tx", "T")]
    point_spend = monetary_model.conditional_expected_average_profit(unique["x"].to_numpy(), unique["m"].to_numpy())
    point = _clv_rows(transaction_model, point_spend, *args, horizon_months, discount_rate, time_unit)
    sims = np.empty((n_draws, len(unique)))
    draws = zip(_draw_models(transaction_model, n_draws, rng), _draw_models(monetary_model, n_draws, rng))
    if progress:
        from tqdm.auto import tqdm

        draws = tqdm(draws, total=n_draws, desc="CLV bootstrap", disable=None)  # silent when not a terminal
    for i, (tm, mm) in enumerate(draws):
        spend = mm.conditional_expected_average_profit(unique["x"].to_numpy(), unique["m"].to_numpy())
        sims[i] = _clv_rows(tm, spend, *args, horizon_months, discount_rate, time_unit)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    unique["clv"], unique["clv_low"], unique["clv_high"] = point, np.quantile(sims, lo, 0), np.quantile(sims, hi, 0)
    totals = sims @ unique["size"].to_numpy()
    out = frame.merge(unique.drop(columns="size"), on=["x", "tx", "T", "m"], how="left")[["clv", "clv_low", "clv_high"]]
    out.attrs["total"] = (float(point @ unique["size"].to_numpy()), float(np.quantile(totals, lo)),
                          float(np.quantile(totals, hi)))
    return out
