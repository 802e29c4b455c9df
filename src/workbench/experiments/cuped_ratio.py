"""CUPED for ratio metrics (regression adjustment of ``Σm / Σd`` by its pre-period ratio).

A ratio metric (GMV per order, messages per active day) is a ratio of two per-unit means,
``R = m̄ / d̄``; its delta-method linearisation is ``(m − R d) / d̄`` per unit. The pre-period
ratio ``R⁰ = m̄⁰ / d̄⁰`` of the same units linearises the same way, and CUPED regresses the one
on the other: the adjusted estimate of each arm is ``R − θ R⁰``, with

``θ = Σ_arms Cov(lin R, lin R⁰) / Σ_arms Var(lin R⁰)``,

the covariances and variances per unit, from the 4 × 4 covariance matrix of
``(m, d, m⁰, d⁰)`` and the gradients ``(1/d̄, −m̄/d̄²)`` and ``(1/d̄⁰, −m̄⁰/d̄⁰²)``. This is
GrowthBook's regression-adjusted ratio metric (gbstats ``RegressionAdjustedRatioStatistic``,
``compute_theta_regression_adjusted_ratio``), reproduced here from sufficient statistics so that
the test is one ``GROUP BY`` of 15 sums per arm. The relative effect is
``(adjusted_t − adjusted_c) / |R_c|`` (divided by the unadjusted control ratio, as gbstats does)
with gbstats' delta-method variance.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import DataContractError, ParameterError
from .moments import TestResult, critical_value, result_from_moments, welch_dof
from .stats import SQUARES_RTOL, ArrayLike, _add, _sample_covariance, _sample_variance, _scalar, _values

_PAIRS = {  # product field → (the two sums it pairs)
    "m_post_d_post_sum_of_products": ("m_post_sum", "d_post_sum"),
    "m_post_m_pre_sum_of_products": ("m_post_sum", "m_pre_sum"),
    "m_post_d_pre_sum_of_products": ("m_post_sum", "d_pre_sum"),
    "d_post_m_pre_sum_of_products": ("d_post_sum", "m_pre_sum"),
    "d_post_d_pre_sum_of_products": ("d_post_sum", "d_pre_sum"),
    "m_pre_d_pre_sum_of_products": ("m_pre_sum", "d_pre_sum"),
}


@dataclass(frozen=True)
class RegressionAdjustedRatioStatistic:
    """Sums of a ratio metric's numerator and denominator, post and pre period, of one arm.

    Fields: ``n``; for each of ``m_post``, ``d_post``, ``m_pre``, ``d_pre`` its ``_sum`` and
    ``_sum_squares``; and the six sums of cross products. Fields may be numpy arrays
    (elementwise, e.g. many simulated experiments); ``a + b`` adds the sums.

    Examples
    --------
    >>> s = RegressionAdjustedRatioStatistic.from_values([4.0, 6.0, 2.0], [2, 3, 1], [3.0, 5.0, 1.0], [1, 2, 1])
    >>> s.mean, s.pre_mean
    (2.0, 2.25)
    """

    n: ArrayLike
    m_post_sum: ArrayLike
    m_post_sum_squares: ArrayLike
    d_post_sum: ArrayLike
    d_post_sum_squares: ArrayLike
    m_pre_sum: ArrayLike
    m_pre_sum_squares: ArrayLike
    d_pre_sum: ArrayLike
    d_pre_sum_squares: ArrayLike
    m_post_d_post_sum_of_products: ArrayLike
    m_post_m_pre_sum_of_products: ArrayLike
    m_post_d_pre_sum_of_products: ArrayLike
    d_post_m_pre_sum_of_products: ArrayLike
    d_post_d_pre_sum_of_products: ArrayLike
    m_pre_d_pre_sum_of_products: ArrayLike

    @classmethod
    def from_values(cls, m_post: Any, d_post: Any, m_pre: Any, d_pre: Any) -> RegressionAdjustedRatioStatistic:
        """Reduce per-unit numerators and denominators (post and pre period) to the sums."""
        x = {"m_post": _values(m_post, "m_post"), "d_post": _values(d_post, "d_post"),
             "m_pre": _values(m_pre, "m_pre"), "d_pre": _values(d_pre, "d_pre")}
        sizes = {k: v.size for k, v in x.items()}
        if len(set(sizes.values())) != 1:
            raise DataContractError("values", None, f"per-unit arrays differ in length: {sizes}")
        sums: dict[str, Any] = {"n": int(x["m_post"].size)}
        for k, v in x.items():
            sums[f"{k}_sum"], sums[f"{k}_sum_squares"] = float(v.sum()), float(np.dot(v, v))
        for name, (a, b) in _PAIRS.items():
            sums[name] = float(np.dot(x[a.removesuffix("_sum")], x[b.removesuffix("_sum")]))
        return cls(**sums)

    def __add__(self, other: RegressionAdjustedRatioStatistic) -> RegressionAdjustedRatioStatistic:
        return _add(self, other)

    def _mean(self, part: str) -> np.ndarray:
        return np.asarray(getattr(self, f"{part}_sum"), dtype=float) / np.asarray(self.n, dtype=float)

    def _var(self, part: str) -> np.ndarray:
        return np.asarray(_sample_variance(self.n, getattr(self, f"{part}_sum"),
                                           getattr(self, f"{part}_sum_squares")))

    def _cov(self, a: str, b: str) -> np.ndarray:
        name = next(k for k, pair in _PAIRS.items() if set(pair) == {f"{a}_sum", f"{b}_sum"})
        return np.asarray(_sample_covariance(self.n, getattr(self, f"{a}_sum"), getattr(self, f"{b}_sum"),
                                             getattr(self, name)))

    @property
    def mean(self) -> ArrayLike:
        """Unadjusted post-period ratio ``Σm / Σd``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _scalar(np.asarray(self.m_post_sum, dtype=float) / np.asarray(self.d_post_sum, dtype=float))

    @property
    def pre_mean(self) -> ArrayLike:
        """Pre-period ratio ``Σm⁰ / Σd⁰``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _scalar(np.asarray(self.m_pre_sum, dtype=float) / np.asarray(self.d_pre_sum, dtype=float))

    def _gradients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gradients of the post and pre ratios in their (numerator, denominator) means."""
        m, d, m0, d0 = (self._mean(p) for p in ("m_post", "d_post", "m_pre", "d_pre"))
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / d, -m / d ** 2, 1.0 / d0, -m0 / d0 ** 2

    @property
    def variance(self) -> ArrayLike:
        """Per-unit delta-method variance of the post-period ratio."""
        g1, g2, _, _ = self._gradients()
        return _scalar(g1 ** 2 * self._var("m_post") + g2 ** 2 * self._var("d_post")
                       + 2 * g1 * g2 * self._cov("m_post", "d_post"))

    @property
    def pre_variance(self) -> ArrayLike:
        """Per-unit delta-method variance of the pre-period ratio."""
        _, _, h1, h2 = self._gradients()
        return _scalar(h1 ** 2 * self._var("m_pre") + h2 ** 2 * self._var("d_pre")
                       + 2 * h1 * h2 * self._cov("m_pre", "d_pre"))

    @property
    def covariance(self) -> ArrayLike:
        """Per-unit covariance of the linearised post and pre ratios."""
        g1, g2, h1, h2 = self._gradients()
        return _scalar(g1 * h1 * self._cov("m_post", "m_pre") + g1 * h2 * self._cov("m_post", "d_pre")
                       + g2 * h1 * self._cov("d_post", "m_pre") + g2 * h2 * self._cov("d_post", "d_pre"))

    def adjusted_variance(self, theta: ArrayLike) -> ArrayLike:
        """Per-unit variance of the linearised ``R − θ R⁰``."""
        t = np.asarray(theta, dtype=float)
        v = np.asarray(self.variance) + t ** 2 * np.asarray(self.pre_variance) - 2 * t * np.asarray(self.covariance)
        return _scalar(np.maximum(v, 0.0))

    def adjusted_mean(self, theta: ArrayLike, pre_mean: ArrayLike) -> ArrayLike:
        """``R − θ (R⁰ − pre_mean)``: the ratio moved to a common pre-period ratio."""
        return _scalar(np.asarray(self.mean) - np.asarray(theta) * (np.asarray(self.pre_mean)
                                                                   - np.asarray(pre_mean)))


def ratio_theta(control: RegressionAdjustedRatioStatistic, treatment: RegressionAdjustedRatioStatistic) -> ArrayLike:
    """The CUPED coefficient as gbstats computes it: summed per-unit covariances over summed pre-period variances.

    Zero where neither arm's pre-period ratio varies.
    """
    cov = np.asarray(control.covariance) + np.asarray(treatment.covariance)
    var = np.asarray(control.pre_variance) + np.asarray(treatment.pre_variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalar(np.where(var > 0, cov / var, 0.0))


def cuped_ratio_test(control: RegressionAdjustedRatioStatistic, treatment: RegressionAdjustedRatioStatistic,
                     alpha: float = 0.05, theta: ArrayLike | None = None) -> TestResult:
    """Difference of two regression-adjusted ratio metrics, Welch degrees of freedom.

    ``effect`` is ``(R_t − θ R⁰_t) − (R_c − θ R⁰_c)``; ``control_mean`` and ``treatment_mean`` are
    the ratios moved to the pooled pre-period ratio. The relative effect is ``effect / |R_c|``
    with gbstats' variance (both arms' gradients, θ fixed); the Fieller interval is not defined
    for it (NaN). ``variance_reduction`` is ``1 − Var(adjusted effect) / Var(unadjusted effect)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d0 = rng.poisson(3, (2, 500)) + 1.0
    >>> m0 = d0 * rng.gamma(4, 5, (2, 500))
    >>> d, m = d0 + rng.poisson(1, (2, 500)), m0 * rng.lognormal(0, 0.3, (2, 500))
    >>> c, t = (RegressionAdjustedRatioStatistic.from_values(m[i], d[i], m0[i], d0[i]) for i in (0, 1))
    >>> r = cuped_ratio_test(c, t)
    >>> bool(r.variance_reduction > 0.3), r.method
    (True, 'cuped_ratio')
    """
    _check(control, treatment)
    if theta is None:
        theta = ratio_theta(control, treatment)
    th = np.asarray(theta, dtype=float)
    n_c, n_t = np.asarray(control.n, dtype=float), np.asarray(treatment.n, dtype=float)
    var_c, var_t = np.asarray(control.adjusted_variance(th)), np.asarray(treatment.adjusted_variance(th))
    v_c, v_t = var_c / n_c, var_t / n_t
    pooled_pre = (np.asarray(control.m_pre_sum, dtype=float) + np.asarray(treatment.m_pre_sum, dtype=float)) / \
        (np.asarray(control.d_pre_sum, dtype=float) + np.asarray(treatment.d_pre_sum, dtype=float))
    m_c, m_t = control.adjusted_mean(th, pooled_pre), treatment.adjusted_mean(th, pooled_pre)
    raw = np.asarray(control.variance) / n_c + np.asarray(treatment.variance) / n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = 1.0 - (v_c + v_t) / raw
    dof = welch_dof(v_c, n_c, v_t, n_t)
    res = result_from_moments(m_c, v_c, m_t, v_t, dof, alpha, "cuped_ratio", theta=_scalar(th),
                              variance_reduction=_scalar(reduction))
    rel, rel_var = _relative(control, v_t, np.asarray(res.effect), th)
    q = np.asarray(critical_value(alpha, dof))
    rel_se = np.sqrt(rel_var)
    return replace(res, rel_effect=_scalar(rel), rel_se=_scalar(rel_se), rel_ci_low=_scalar(rel - q * rel_se),
                   rel_ci_high=_scalar(rel + q * rel_se), fieller_rel_ci_low=float("nan"),
                   fieller_rel_ci_high=float("nan"))


def _relative(control: RegressionAdjustedRatioStatistic, v_t: np.ndarray, effect: np.ndarray,
              theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``effect / |R_c|`` and its delta-method variance (gbstats ``frequentist_variance_relative_cuped_ratio``)."""
    base = np.asarray(control.mean, dtype=float)
    den = np.abs(base)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = effect / den
        # Control's gradient: the post ratio enters numerator and denominator (factor k), the pre ratio only θ.
        k = 1.0 + effect * np.sign(base) / den
        v_ctrl = (k ** 2 * np.asarray(control.variance) - 2 * k * theta * np.asarray(control.covariance)
                  + theta ** 2 * np.asarray(control.pre_variance)) / np.asarray(control.n, dtype=float)
        var = (v_ctrl + v_t) / den ** 2
    undefined = base == 0
    return np.where(undefined, np.nan, rel), np.where(undefined, np.nan, var)


def _check(control: RegressionAdjustedRatioStatistic, treatment: RegressionAdjustedRatioStatistic) -> None:
    """Refuse sums of squares below ``sum² / n`` (no real values give them) in either arm."""
    for arm, stat in (("control", control), ("treatment", treatment)):
        n = np.asarray(stat.n, dtype=float)
        for part in ("m_post", "d_post", "m_pre", "d_pre"):
            with np.errstate(divide="ignore", invalid="ignore"):
                floor = np.where(n > 0, np.asarray(getattr(stat, f"{part}_sum"), dtype=float) ** 2 / n, 0.0)
            if np.any(np.asarray(getattr(stat, f"{part}_sum_squares"), dtype=float) < floor * (1.0 - SQUARES_RTOL)):
                raise ParameterError(f"{arm} arm: {part}_sum_squares is smaller than {part}_sum² / n, which no "
                                     "real values give (a negative variance); check how the sums were computed")


__all__ = ["RegressionAdjustedRatioStatistic", "cuped_ratio_test", "ratio_theta"]
