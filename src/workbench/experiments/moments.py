"""What every two-arm test shares: the typed result and the moments behind it.

A test reduces each arm to a mean and the variance of that mean; everything a result
reports follows from those four numbers and the degrees of freedom of the reference
distribution (:func:`result_from_moments`): the interval, the p-value, the relative effect
with its delta-method interval and its Fieller interval.

Both the per-unit tests (:mod:`~workbench.experiments.frequentist`) and the cluster tests
(:mod:`~workbench.experiments.cluster`) build their results here, so neither imports the
other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from ..errors import ParameterError
from .stats import ArrayLike, _scalar


@dataclass(frozen=True)
class TestResult:
    """Outcome of a two-arm comparison (treatment minus control).

    ``effect`` is absolute, ``rel_effect`` relative to the control mean,
    ``(m_t − m_c) / |m_c|`` (divided by the absolute control mean, as gbstats does, so an
    increase from a negative control mean is a positive relative effect); ``se`` and
    ``rel_se`` their standard errors; ``dof`` the degrees of freedom of the t reference
    (``inf`` for a normal reference). ``control_mean`` and ``treatment_mean`` are the means
    the effect is the difference of (CUPED: adjusted to a common pre-period mean).
    """

    __test__ = False  # not a pytest class, despite the name

    effect: ArrayLike
    se: ArrayLike
    dof: ArrayLike
    ci_low: ArrayLike
    ci_high: ArrayLike
    p_value: ArrayLike
    rel_effect: ArrayLike
    rel_se: ArrayLike
    rel_ci_low: ArrayLike
    rel_ci_high: ArrayLike
    control_mean: ArrayLike
    treatment_mean: ArrayLike
    alpha: float
    method: str
    theta: ArrayLike = float("nan")
    variance_reduction: ArrayLike = float("nan")
    fieller_rel_ci_low: ArrayLike = float("nan")
    fieller_rel_ci_high: ArrayLike = float("nan")

    @property
    def significant(self) -> ArrayLike:
        """Whether the p-value is below ``alpha``."""
        return _scalar(np.asarray(self.p_value) < self.alpha)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < float(alpha) < 1.0:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha!r}")


def critical_value(alpha: float, dof: ArrayLike = np.inf) -> ArrayLike:
    """Two-sided critical value of a t (or, for ``dof = inf``, normal) reference."""
    dof = np.asarray(dof, dtype=float)
    finite = np.where(np.isinf(dof), 1.0, dof)  # placeholder df where the normal applies
    return _scalar(np.where(np.isinf(dof), sps.norm.isf(alpha / 2), sps.t.isf(alpha / 2, finite)))


def two_sided_p(z: ArrayLike, dof: ArrayLike = np.inf) -> ArrayLike:
    """Two-sided p-value of a t statistic (normal for ``dof = inf``)."""
    z = np.abs(np.asarray(z, dtype=float))
    dof = np.asarray(dof, dtype=float)
    p = np.where(np.isinf(dof), 2 * sps.norm.sf(z), 2 * sps.t.sf(z, np.where(np.isinf(dof), 1.0, dof)))
    return _scalar(p)


def welch_dof(v_c: ArrayLike, n_c: ArrayLike, v_t: ArrayLike, n_t: ArrayLike) -> ArrayLike:
    """Welch–Satterthwaite degrees of freedom from the variances of the two means."""
    v_c, v_t = np.asarray(v_c, dtype=float), np.asarray(v_t, dtype=float)
    n_c, n_t = np.asarray(n_c, dtype=float), np.asarray(n_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalar((v_c + v_t) ** 2 / (v_c ** 2 / (n_c - 1) + v_t ** 2 / (n_t - 1)))


def relative_delta(mean_c: ArrayLike, v_c: ArrayLike, mean_t: ArrayLike, v_t: ArrayLike) -> tuple[Any, Any]:
    """Relative effect ``(m_t − m_c) / |m_c|`` and its delta-method variance (independent arms).

    The denominator is the absolute control mean (as in gbstats), so the sign of the relative
    effect is the sign of the absolute effect: −10 → −5 is +50%, not −50%. For a positive
    control mean this is ``m_t / m_c − 1``. The variance ``v_t / m_c² + m_t² v_c / m_c⁴`` is the
    same either way (the gradient only changes sign).

    Examples
    --------
    >>> rel, var = relative_delta(-10.0, 0.0, -5.0, 0.0)
    >>> float(rel)
    0.5
    """
    m_c, m_t = np.asarray(mean_c, dtype=float), np.asarray(mean_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (m_t - m_c) / np.abs(m_c)
        var = np.asarray(v_t) / m_c ** 2 + m_t ** 2 * np.asarray(v_c) / m_c ** 4
    # A relative effect against a zero control mean is undefined, not infinite.
    undefined = m_c == 0
    return _scalar(np.where(undefined, np.nan, rel)), _scalar(np.where(undefined, np.nan, var))


def fieller_relative_interval(mean_c: ArrayLike, v_c: ArrayLike, mean_t: ArrayLike, v_t: ArrayLike,
                              crit: ArrayLike) -> tuple[Any, Any]:
    """Fieller (1954) interval for the relative effect ``(m_t − m_c) / |m_c|`` (independent arms).

    The set of ratios ``ρ`` with ``(m_t − ρ m_c)² ≤ q² (v_t + ρ² v_c)``, i.e. the ratios a test of
    ``μ_t − ρ μ_c = 0`` with critical value ``q`` does not reject. At ``ρ = 1`` this is exactly the
    test of the difference with the interval ``effect ± q·sqrt(v_c + v_t)``, so the relative
    interval excludes 0 exactly when the absolute interval does (the delta-method interval can
    disagree). Bounded only when the control mean is itself clearly non-zero
    (``m_c² > q² v_c``); otherwise NaN (the interval is unbounded). With a negative control mean
    the relative effect is ``1 − ρ``, so the ratio interval ``[ρ_lo, ρ_hi]`` maps to
    ``[1 − ρ_hi, 1 − ρ_lo]``.

    Examples
    --------
    >>> lo, hi = fieller_relative_interval(10.0, 1.0, 12.0, 1.0, 1.96)
    >>> round(float(lo), 4), round(float(hi), 4)
    (-0.0679, 0.5638)
    """
    m_c, m_t = np.asarray(mean_c, dtype=float), np.asarray(mean_t, dtype=float)
    q2 = np.asarray(crit, dtype=float) ** 2
    a = m_c ** 2 - q2 * np.asarray(v_c, dtype=float)
    b = m_t * m_c
    c = m_t ** 2 - q2 * np.asarray(v_t, dtype=float)
    disc = b * b - a * c
    bounded = (a > 0) & (disc >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.where(bounded, disc, np.nan))
        low, high = (b - root) / a - 1.0, (b + root) / a - 1.0
    # Relative to |m_c|: for m_c < 0 the relative effect is 1 − ρ = −(ρ − 1), flipping the interval.
    negative = m_c < 0
    low, high = np.where(negative, -high, low), np.where(negative, -low, high)
    return _scalar(np.where(bounded, low, np.nan)), _scalar(np.where(bounded, high, np.nan))


def result_from_moments(mean_c: ArrayLike, v_c: ArrayLike, mean_t: ArrayLike, v_t: ArrayLike, dof: ArrayLike,
                        alpha: float, method: str, p_variance: ArrayLike | None = None,
                        **extra: Any) -> TestResult:
    """Build a :class:`TestResult` from the two means and the variances of the means.

    ``p_variance`` (optional) is the variance of the difference used for the p-value when
    it differs from the one used for the interval (the pooled proportion test).
    """
    _check_alpha(alpha)
    m_c, m_t = np.asarray(mean_c, dtype=float), np.asarray(mean_t, dtype=float)
    effect = m_t - m_c
    var = np.asarray(v_c, dtype=float) + np.asarray(v_t, dtype=float)
    se = np.sqrt(var)
    q = np.asarray(critical_value(alpha, dof))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = effect / (se if p_variance is None else np.sqrt(np.asarray(p_variance, dtype=float)))
    rel, rel_var = relative_delta(m_c, v_c, m_t, v_t)
    rel_se = np.sqrt(rel_var)
    f_low, f_high = fieller_relative_interval(m_c, v_c, m_t, v_t, q)
    extra.setdefault("fieller_rel_ci_low", f_low)
    extra.setdefault("fieller_rel_ci_high", f_high)
    return TestResult(
        effect=_scalar(effect), se=_scalar(se), dof=_scalar(np.asarray(dof, dtype=float)),
        ci_low=_scalar(effect - q * se), ci_high=_scalar(effect + q * se), p_value=two_sided_p(z, dof),
        rel_effect=rel, rel_se=_scalar(rel_se), rel_ci_low=_scalar(rel - q * rel_se),
        rel_ci_high=_scalar(rel + q * rel_se), control_mean=_scalar(m_c), treatment_mean=_scalar(m_t),
        alpha=float(alpha), method=method, **extra)
