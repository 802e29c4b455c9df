"""Quantile metrics: the median or 90th-percentile order value per arm and their difference.

A sample quantile ``q̂_ν`` of ``n`` independent values is asymptotically normal with variance
``ν(1 − ν) / (n f(q_ν)²)``; the density ``f`` is the hard part. Following Deng, Knoblich and Lu
(2018, "Applying the Delta Method in Metric Analytics", section 4 on quantile metrics) the
variance is read off the distribution-free (Woodruff 1952) interval instead: the number of values
below ``q_ν`` is Binomial(n, ν), so the order statistics at ranks
``nν ∓ z·sqrt(nν(1 − ν))`` bracket ``q_ν`` with probability ``≈ 1 − α``, and
``Var(q̂) ≈ ((U − L) / (2 z))²``. The bracket is always at 95% (``z = z_{0.975}``) so that the
variance does not depend on the test's level. This is what GrowthBook's gbstats does
(``QuantileStatistic``), including its ``(n − 1) / n`` factor, so the difference of two arms'
quantiles is tested exactly as gbstats tests it: a Welch t on the two means and variances
(:func:`quantile_test`), with the relative effect ``(q̂_t − q̂_c) / |q̂_c|`` by the delta method.

The intervals assume independent units (one value per customer, e.g. the customer's order
value in the window); values of orders clustered in customers need the cluster adjustment.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import DataContractError, ParameterError
from .moments import TestResult, result_from_moments, welch_dof
from .stats import ArrayLike, _scalar

_Z95 = float(sps.norm.isf(0.025))


@dataclass(frozen=True)
class QuantileStatistic:
    """An arm's sample quantile at level ``nu`` and the 95% order-statistic bracket around it.

    Fields may be numpy arrays (elementwise). ``n_star`` is the sample size the bracket was computed
    with (gbstats' field; equal to ``n`` when the bracket comes from the values themselves).

    Examples
    --------
    >>> s = QuantileStatistic.from_values(np.arange(1.0, 101.0), 0.5)
    >>> s.quantile_hat, round(s.quantile_lower, 3), round(s.quantile_upper, 3)
    (50.0, 40.2, 59.8)
    """

    n: ArrayLike
    nu: ArrayLike
    quantile_hat: ArrayLike
    quantile_lower: ArrayLike
    quantile_upper: ArrayLike
    n_star: ArrayLike = None

    @classmethod
    def from_values(cls, values: Any, nu: float) -> QuantileStatistic:
        """Quantile and bracket of values along the last axis (rows of a 2-D array: many samples).

        The quantile is the order statistic of rank ``⌈nν⌉`` (the inverse of the empirical
        distribution function); the bracket is read at the fractional ranks
        ``nν ∓ z√(nν(1−ν))`` (clipped to ``1…n``), interpolating linearly between neighbouring
        order statistics. Rounding to whole ranks makes the bracket up to one rank too wide or
        too narrow, which showed as an A/A false-positive rate of 4.4% at n = 1,000 and 5.7% at
        n = 2,000 for the 90th percentile of lognormal values.
        """
        if not 0.0 < float(nu) < 1.0:
            raise ParameterError(f"the quantile level nu must be in (0, 1), got {nu!r}")
        x = np.asarray(values, dtype=float)
        if x.ndim not in (1, 2) or x.shape[-1] < 2:
            raise DataContractError("values", None, f"expected at least 2 values per sample, got shape {x.shape}")
        bad = ~np.isfinite(x)
        if bad.any():
            raise DataContractError("values", None, "values must be finite (NaN or infinite values found)",
                                    n_bad=int(bad.sum()))
        n = x.shape[-1]
        hat_rank, low_rank, high_rank = quantile_ranks(n, nu)
        below = [int(np.floor(r)) for r in (low_rank, high_rank)]
        needed = sorted({int(hat_rank) - 1} | {min(b, n) - 1 for b in below} | {min(b + 1, n) - 1 for b in below})
        ordered = np.partition(x, needed, axis=-1)

        def at(rank: float) -> np.ndarray:
            # Linear interpolation between the order statistics around a fractional rank.
            b = int(np.floor(rank))
            lo, hi = ordered[..., min(b, n) - 1], ordered[..., min(b + 1, n) - 1]
            return lo + (rank - b) * (hi - lo)

        hat, low, high = ordered[..., int(hat_rank) - 1], at(low_rank), at(high_rank)
        return cls(n, float(nu), _scalar(hat), _scalar(low), _scalar(high), n)

    @property
    def mean(self) -> ArrayLike:
        """The sample quantile (what the arm is summarised by)."""
        return self.quantile_hat

    @property
    def mean_variance(self) -> ArrayLike:
        """Variance of the sample quantile, ``(n*/n) (n − 1)/n · ((U − L) / (2 z_{0.975}))²`` (gbstats)."""
        n = np.asarray(self.n, dtype=float)
        n_star = n if self.n_star is None else np.asarray(self.n_star, dtype=float)
        width = (np.asarray(self.quantile_upper, dtype=float) - np.asarray(self.quantile_lower, dtype=float)) / \
            (2.0 * _Z95)
        return _scalar(n_star / n * (n - 1.0) / n * width ** 2)

    @property
    def variance(self) -> ArrayLike:
        """Per-unit variance: ``n`` times :attr:`mean_variance`."""
        return _scalar(np.asarray(self.mean_variance) * np.asarray(self.n, dtype=float))


def quantile_ranks(n: int, nu: float) -> np.ndarray:
    """1-based ranks of the quantile (whole) and of its 95% bracket (fractional) in a sample of ``n``.

    Examples
    --------
    >>> quantile_ranks(100, 0.5).round(3).tolist()
    [50.0, 40.2, 59.8]
    """
    centre = n * float(nu)
    half = _Z95 * np.sqrt(centre * (1.0 - float(nu)))
    hat = float(np.ceil(centre - 1e-9))
    return np.clip(np.array([hat, centre - half, centre + half]), 1.0, float(n))


def quantile_test(control: QuantileStatistic, treatment: QuantileStatistic, alpha: float = 0.05) -> TestResult:
    """Difference of two arms' quantiles (treatment minus control), Welch t as in gbstats.

    Examples
    --------
    >>> c = QuantileStatistic(11054, 0.9, 7.157987489967789, 7.098780136176828, 7.217194843758751)
    >>> t = QuantileStatistic(10861, 0.9, 7.694499927525767, 7.64180598628119, 7.747193868770344)
    >>> round(quantile_test(c, t).effect, 6)
    0.536512
    """
    for arm, stat in (("control", control), ("treatment", treatment)):
        if np.any(np.asarray(stat.quantile_upper) < np.asarray(stat.quantile_lower)):
            raise ParameterError(f"{arm} arm: quantile_upper is below quantile_lower")
    if np.any(np.asarray(control.nu) != np.asarray(treatment.nu)):
        raise ParameterError("the arms' quantile levels differ")
    v_c, v_t = control.mean_variance, treatment.mean_variance
    dof = welch_dof(v_c, control.n, v_t, treatment.n)
    return result_from_moments(control.mean, v_c, treatment.mean, v_t, dof, alpha, "quantile")


def quantile_frame(df: pd.DataFrame, variant_col: str, value_col: str, control: str,
                   quantiles: Sequence[float] = (0.5, 0.9), alpha: float = 0.05,
                   frame_name: str = "df") -> pd.DataFrame:
    """Quantiles of a per-unit value per variant and their differences with the control.

    Returns one row per treatment variant and quantile: ``variant``, ``quantile``, ``n``,
    ``value`` (the variant's quantile), ``control_n``, ``control_value``, ``abs_effect``,
    ``ci_low``, ``ci_high``, ``rel_effect``, ``rel_ci_low``, ``rel_ci_high``, ``p_value``.

    Examples
    --------
    >>> df = pd.DataFrame({"variant": ["a"] * 200 + ["b"] * 200,
    ...                    "gmv": np.r_[np.arange(200.0), np.arange(200.0) * 1.5]})
    >>> quantile_frame(df, "variant", "gmv", "a")[["quantile", "value", "abs_effect"]].values.tolist()
    [[0.5, 148.5, 49.5], [0.9, 268.5, 89.5]]
    """
    for col in (variant_col, value_col):
        if col not in df.columns:
            raise DataContractError(frame_name, col, "column is missing")
    values = pd.to_numeric(df[value_col], errors="coerce")
    bad = values.isna() & df[value_col].notna()
    if bad.any():
        raise DataContractError(frame_name, value_col, "values are not numeric", rows=df.loc[bad].head(5),
                                n_bad=int(bad.sum()))
    groups = {v: values[(df[variant_col] == v).to_numpy()].dropna().to_numpy(dtype=float)
              for v in pd.unique(df[variant_col])}
    if control not in groups:
        raise ParameterError(f"unknown control variant {control!r}; variants: {list(groups)}")
    rows = []
    for nu in quantiles:
        c = QuantileStatistic.from_values(groups[control], nu)
        for variant, x in groups.items():
            if variant == control:
                continue
            t = QuantileStatistic.from_values(x, nu)
            r = quantile_test(c, t, alpha)
            rows.append({"variant": variant, "quantile": float(nu), "n": t.n, "value": t.quantile_hat,
                         "control_n": c.n, "control_value": c.quantile_hat, "abs_effect": r.effect,
                         "ci_low": r.ci_low, "ci_high": r.ci_high, "rel_effect": r.rel_effect,
                         "rel_ci_low": r.rel_ci_low, "rel_ci_high": r.rel_ci_high, "p_value": r.p_value})
    return pd.DataFrame(rows)
