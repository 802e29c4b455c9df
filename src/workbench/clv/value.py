"""Customer lifetime value over a horizon, discounted monthly, with intervals.

    CLV = Σ_{m=1..H} (E[Y(m)] − E[Y(m−1)]) · E[spend] / (1 + d)^m

where E[Y(m)] is the transaction model's conditional expected number of purchases by the
end of month m (a month is 30.4375 days), E[spend] the Gamma-Gamma conditional expected
average spend and d the monthly discount rate. Purchases are valued at the end of the
month they fall in. Everything is computed once per distinct (frequency, recency, T,
monetary value) row and mapped back, so millions of customers cost little.

Intervals come from a parametric bootstrap: both models' parameters are drawn from the
normal approximation of their log-scale sampling distribution (the fitted covariance by
the delta method — the scale the likelihood was maximised on, which keeps draws positive)
and CLV is recomputed for every draw.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._rows import distinct_rows
from ..errors import ParameterError
from .rfm import UNITS

DAYS_PER_MONTH = 30.4375


def _months_in_unit(time_unit: str) -> float:
    if time_unit not in UNITS:
        raise ParameterError(f"time_unit must be one of {', '.join(UNITS)}, not {time_unit!r}")
    return DAYS_PER_MONTH / UNITS[time_unit]


def _check_value_args(horizon_months: int, discount_rate: float) -> None:
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ParameterError(f"horizon_months must be a whole number >= 1, got {horizon_months!r}")
    if not np.isfinite(discount_rate) or discount_rate < 0:
        raise ParameterError(f"discount_rate must be >= 0 (monthly), got {discount_rate!r}")


def discounted_purchases(transaction_model: Any, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray,
                         horizon_months: int = 12, discount_rate: float = 0.01, time_unit: str = "W") -> np.ndarray:
    """Σ_m (E[Y(m)] − E[Y(m−1)]) / (1+d)^m per row: discounted expected purchases."""
    x, tx, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
    return _discounted_increments(
        lambda t: transaction_model.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T_), len(x),
        horizon_months, discount_rate, time_unit)


def _discounted_increments(cumulative: Any, n: int, horizon_months: int, discount_rate: float,
                           time_unit: str) -> np.ndarray:
    """Σ_m (F(m) − F(m−1)) / (1+d)^m for a cumulative curve F of time: a dozen vectorised calls."""
    _check_value_args(horizon_months, discount_rate)
    step = _months_in_unit(time_unit)
    total, previous = np.zeros(n), np.zeros(n)
    for month in range(1, int(horizon_months) + 1):
        current = cumulative(month * step)
        total += (current - previous) / (1 + discount_rate) ** month
        previous = current
    return total


def _rows(frequency: Any, recency: Any, T: Any, monetary_value: Any) -> pd.DataFrame:
    frame = pd.DataFrame({"x": np.asarray(frequency, float), "tx": np.asarray(recency, float),
                          "T": np.asarray(T, float), "m": np.asarray(monetary_value, float)})
    if frame.isna().any().any():
        col = frame.columns[frame.isna().any()][0]
        raise ParameterError(f"missing values in {dict(x='frequency', tx='recency', T='T', m='monetary_value')[col]}")
    return frame


def customer_lifetime_value(transaction_model: Any, monetary_model: Any, frequency: Any, recency: Any, T: Any,
                            monetary_value: Any, horizon_months: int = 12, discount_rate: float = 0.01,
                            time_unit: str = "W") -> np.ndarray:
    """Expected discounted value of each customer over ``horizon_months``.

    Parameters
    ----------
    transaction_model : BetaGeoFitter or ParetoNBDFitter, fitted
    monetary_model : GammaGammaFitter, fitted
    frequency, recency, T, monetary_value : array-like
        The RFM summary columns, with ``recency`` and ``T`` in ``time_unit``.
    horizon_months : int
        Months ahead to value.
    discount_rate : float
        Monthly discount rate (0.01 ≈ 12.7% a year).
    time_unit : {"W", "D", "M"}
        The unit the RFM columns (and the transaction model) are in.

    Returns
    -------
    numpy.ndarray
        One value per input row.

    Examples
    --------
    >>> from workbench.clv import BetaGeoFitter, GammaGammaFitter
    >>> from workbench.clv.beta_geo import simulate_beta_geo
    >>> from workbench.clv.gamma_gamma import simulate_gamma_gamma
    >>> d = simulate_beta_geo(5000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> d["monetary_value"] = simulate_gamma_gamma(d["frequency"], p=6.0, q=4.0, v=15.0, seed=2)
    >>> bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> rep = d[d["frequency"] > 0]
    >>> gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    >>> clv = customer_lifetime_value(bg, gg, d["frequency"], d["recency"], d["T"], d["monetary_value"])
    >>> bool((clv > 0).all())
    True
    """
    frame = _rows(frequency, recency, T, monetary_value)
    unique = frame.drop_duplicates().reset_index(drop=True)
    spend = monetary_model.conditional_expected_average_profit(unique["x"].to_numpy(), unique["m"].to_numpy())
    unique["clv"] = spend * discounted_purchases(transaction_model, unique["x"].to_numpy(), unique["tx"].to_numpy(),
                                                 unique["T"].to_numpy(), horizon_months, discount_rate, time_unit)
    return frame.merge(unique, on=["x", "tx", "T", "m"], how="left")["clv"].to_numpy()


def draw_models(model: Any, n_draws: int, rng: np.random.Generator) -> list[Any]:
    """Copies of a fitted model with parameters drawn from their log-scale normal approximation."""
    params = model.params_.to_numpy()
    log_cov = model.variance_matrix_.to_numpy() / np.outer(params, params)  # delta method, D⁻¹ Σ D⁻¹
    if not np.all(np.isfinite(log_cov)):
        raise ParameterError(f"{type(model).__name__} has no finite parameter covariance to draw from")
    draws = np.exp(rng.multivariate_normal(np.log(params), log_cov, size=n_draws, method="eigh"))
    models = []
    for d in draws:
        m = copy.copy(model)
        m.params_ = pd.Series(d, index=model.params_.index, name="coef")
        models.append(m)
    return models


def bootstrap_bounds(sims: np.ndarray, n_draws: int, level: float) -> tuple[Any, Any]:
    """Central ``level`` quantiles over the draws (axis 0) of finite simulated values.

    Rows with a non-finite value are dropped; fewer than half the draws left (or ten) is an
    error rather than an interval from a handful of draws.
    """
    sims = np.asarray(sims, float)
    finite = np.isfinite(sims).reshape(len(sims), -1).all(axis=1) if len(sims) else np.zeros(0, bool)
    sims = sims[finite]
    if len(sims) < max(10, n_draws // 2):
        raise ParameterError(f"only {len(sims)} of {n_draws} parameter draws gave a finite CLV: the models' "
                             "parameters are too uncertain for an interval")
    lo, hi = np.quantile(sims, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def check_interval_args(n_draws: int, level: float) -> None:
    """Refuse an interval level outside (0, 1) and fewer than ten parameter draws."""
    if not 0 < level < 1:
        raise ParameterError(f"level must be between 0 and 1, got {level!r}")
    if n_draws < 10:
        raise ParameterError("n_draws must be at least 10")


def draw_values(transaction_model: Any, monetary_model: Any, value: Any, n_draws: int, seed: int = 0,
                progress: bool = False) -> np.ndarray:
    """``value(transaction_model, monetary_model)`` at each parameter draw, stacked with the draws first.

    The per-draw loop of both CLV intervals (:func:`clv_interval` on per-customer arrays,
    :func:`~workbench.clv.pipeline.total_value_interval` on the engine's collapsed rows): both
    models' parameters are drawn by :func:`draw_models` from one generator seeded with
    ``seed`` (the transaction model's draws first), and draws whose Gamma-Gamma ``q <= 1``
    (an infinite mean spend) are discarded. Bound the result with :func:`bootstrap_bounds`.

    Examples
    --------
    >>> from workbench.clv import BetaGeoFitter, GammaGammaFitter
    >>> from workbench.clv.beta_geo import simulate_beta_geo
    >>> from workbench.clv.gamma_gamma import simulate_gamma_gamma
    >>> d = simulate_beta_geo(2000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> d["monetary_value"] = simulate_gamma_gamma(d["frequency"], p=6.0, q=4.0, v=15.0, seed=2)
    >>> bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> rep = d[d["frequency"] > 0]
    >>> gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    >>> sims = draw_values(bg, gg, lambda tm, mm: mm.params_["p"] * tm.params_["r"], 20)
    >>> sims.shape
    (20,)
    """
    rng = np.random.default_rng(seed)
    draws: Any = zip(draw_models(transaction_model, n_draws, rng), draw_models(monetary_model, n_draws, rng),
                     strict=False)
    if progress:
        from tqdm.auto import tqdm

        draws = tqdm(draws, total=n_draws, desc="CLV bootstrap", disable=None)  # silent when not a terminal
    return np.array([value(tm, mm) for tm, mm in draws if not ("q" in mm.params_ and mm.params_["q"] <= 1)])


@dataclass(frozen=True)
class CLVInterval:
    """CLV with parametric-bootstrap bounds (:func:`clv_interval`).

    Attributes
    ----------
    table : DataFrame
        ``clv`` (at the fitted parameters), ``clv_low`` and ``clv_high`` per input row.
    total : tuple of float
        (estimate, low, high) of the sum over customers.
    n_draws_used : int
        Parameter draws kept (draws with Gamma-Gamma ``q <= 1``, an infinite mean spend,
        are discarded).

    Indexing the result indexes its table (``iv["clv_low"]``), as when it was a DataFrame.
    """

    table: pd.DataFrame
    total: tuple[float, float, float]
    n_draws_used: int

    def __getitem__(self, key: Any) -> Any:
        return self.table[key]

    def __len__(self) -> int:
        return len(self.table)


def clv_interval(transaction_model: Any, monetary_model: Any, frequency: Any, recency: Any, T: Any,
                 monetary_value: Any, horizon_months: int = 12, discount_rate: float = 0.01, time_unit: str = "W",
                 n_draws: int = 200, level: float = 0.9, seed: int = 0, progress: bool = False) -> CLVInterval:
    """CLV with a parametric-bootstrap interval per customer and for the total.

    Parameters
    ----------
    n_draws : int
        Parameter draws (each refits nothing: it re-evaluates CLV on the distinct rows).
    level : float
        Central interval level, e.g. 0.9 for the 5%–95% quantiles.
    seed : int
        Seed of the random generator, for reproducible intervals.
    progress : bool
        Show a progress bar over the draws (silent when not in a terminal or notebook).

    Returns
    -------
    CLVInterval
        ``table`` with ``clv``, ``clv_low`` and ``clv_high`` per input row; ``total`` =
        (estimate, low, high) of the sum over customers; ``n_draws_used``. Draws whose
        Gamma-Gamma ``q <= 1`` (infinite mean spend) are discarded and counted out.
    """
    check_interval_args(n_draws, level)
    _check_value_args(horizon_months, discount_rate)
    frame = _rows(frequency, recency, T, monetary_value)
    # CLV depends on the row only: evaluate each distinct (x, t_x, T, m) once per draw
    unique, counts, inverse = distinct_rows({c: frame[c].to_numpy() for c in ("x", "tx", "T", "m")})
    x, tx, T_, m = (unique[c] for c in ("x", "tx", "T", "m"))
    size = counts.astype(float)

    def value(tm: Any, mm: Any) -> np.ndarray:
        spend = mm.conditional_expected_average_profit(x, m)
        return spend * discounted_purchases(tm, x, tx, T_, horizon_months, discount_rate, time_unit)

    point = value(transaction_model, monetary_model)
    sims_arr = draw_values(transaction_model, monetary_model, value, n_draws, seed, progress)
    sims_arr = sims_arr[np.all(np.isfinite(sims_arr), axis=1)]
    low, high = bootstrap_bounds(sims_arr, n_draws, level)
    totals = np.sum(sims_arr * size, axis=1)
    out = pd.DataFrame({"clv": point[inverse], "clv_low": low[inverse], "clv_high": high[inverse]})
    total_low, total_high = bootstrap_bounds(totals, n_draws, level)
    return CLVInterval(out, (float(np.sum(point * size)), total_low, total_high), int(len(sims_arr)))


def alive_purchase_growth(transaction_model: Any, frequency: np.ndarray, T: np.ndarray, horizon_months: int = 12,
                          discount_rate: float = 0.01, time_unit: str = "W",
                          extra_times: tuple[float, ...] = ()) -> dict[str, np.ndarray]:
    """BG/NBD expected purchases of a customer *known to be alive*, per (frequency, T) row.

    For BG/NBD, E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) · G(t; x, T): the growth factor G
    depends on x and T only (FHL 2005, eq. 10). So the hypergeometric work is done once per
    distinct (x, T) — a few hundred thousand rows for tens of millions of customers — and
    the per-customer part, P(alive), is closed form (the engine computes it).

    Returns
    -------
    dict
        ``"discounted"``: Σ_m (G(m) − G(m−1)) / (1+d)^m over ``horizon_months`` months, and
        one array per value in ``extra_times`` (G at that time, in ``time_unit``).
    """
    from .beta_geo import BetaGeoFitter, _growth

    if not isinstance(transaction_model, BetaGeoFitter):
        raise ParameterError("the engine CLV path factorises BG/NBD only; use customer_lifetime_value for "
                             f"{type(transaction_model).__name__}")
    r, alpha, a, b = transaction_model.params_.to_numpy()
    x, T_ = np.asarray(frequency, float), np.asarray(T, float)
    c = a + b + x - 1

    def growth(t: float) -> np.ndarray:
        return _growth(a, b, r, c, t / (alpha + T_ + t))

    out = {"discounted": _discounted_increments(growth, len(x), horizon_months, discount_rate, time_unit)}
    for t in extra_times:
        out[t] = growth(float(t))
    return out
