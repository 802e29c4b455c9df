"""Fixed-horizon frequentist tests on sufficient statistics.

* :func:`welch_ttest` — difference of means, Welch–Satterthwaite degrees of freedom
  (identical to ``scipy.stats.ttest_ind(equal_var=False)``);
* :func:`proportion_ztest` — difference of proportions; the p-value uses the pooled
  proportion under the null (``statsmodels`` ``proportions_ztest``), the interval the
  unpooled Wald standard error (``confint_proportions_2indep(method="wald")``);
* :func:`ratio_test` — ratio metrics (Σm/Σd per arm) with the delta method;
* :func:`cuped_test` — CUPED regression adjustment with θ pooled across the two arms;
* :func:`winsorize` — capping at a pooled quantile, applied to the per-unit frame before
  the statistics are built.

Every test also returns the relative effect ``mean_t / mean_c − 1`` with a delta-method
interval (``Var ≈ v_t / m_c² + m_t² v_c / m_c⁴``, arms independent).

All functions are elementwise in the statistics' fields, so arrays of statistics (many
simulated or real experiments) are tested in one call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import DataContractError, ParameterError
from .stats import (
    ArrayLike,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    _scalar,
    pooled_theta,
)


@dataclass(frozen=True)
class TestResult:
    """Outcome of a two-arm comparison (treatment minus control).

    ``effect`` is absolute, ``rel_effect`` relative to the control mean; ``se`` and
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
    """Relative effect ``m_t / m_c − 1`` and its delta-method variance (independent arms)."""
    m_c, m_t = np.asarray(mean_c, dtype=float), np.asarray(mean_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = m_t / m_c - 1.0
        var = np.asarray(v_t) / m_c ** 2 + m_t ** 2 * np.asarray(v_c) / m_c ** 4
    # A relative effect against a zero control mean is undefined, not infinite.
    undefined = m_c == 0
    return _scalar(np.where(undefined, np.nan, rel)), _scalar(np.where(undefined, np.nan, var))


def fieller_relative_interval(mean_c: ArrayLike, v_c: ArrayLike, mean_t: ArrayLike, v_t: ArrayLike,
                              crit: ArrayLike) -> tuple[Any, Any]:
    """Fieller (1954) interval for the relative effect ``m_t / m_c − 1`` (independent arms).

    The set of ratios ``ρ`` with ``(m_t − ρ m_c)² ≤ q² (v_t + ρ² v_c)``, i.e. the ratios a test of
    ``μ_t − ρ μ_c = 0`` with critical value ``q`` does not reject. At ``ρ = 1`` this is exactly the
    test of the difference with the interval ``effect ± q·sqrt(v_c + v_t)``, so the relative
    interval excludes 0 exactly when the absolute interval does (the delta-method interval can
    disagree). Bounded only when the control mean is itself clearly non-zero
    (``m_c² > q² v_c``); otherwise NaN (the interval is unbounded).

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


def welch_ttest(control: SampleMeanStatistic, treatment: SampleMeanStatistic, alpha: float = 0.05) -> TestResult:
    """Welch's unequal-variance t test of ``mean_t − mean_c``.

    Examples
    --------
    >>> c = SampleMeanStatistic.from_values([1.0, 2.0, 3.0, 4.0])
    >>> t = SampleMeanStatistic.from_values([2.0, 4.0, 5.0, 7.0])
    >>> r = welch_ttest(c, t)
    >>> round(r.effect, 3), round(r.p_value, 4)
    (2.0, 0.1633)
    """
    v_c, v_t = control.mean_variance, treatment.mean_variance
    dof = welch_dof(v_c, control.n, v_t, treatment.n)
    return result_from_moments(control.mean, v_c, treatment.mean, v_t, dof, alpha, "welch_t")


def proportion_ztest(control: ProportionStatistic, treatment: ProportionStatistic, alpha: float = 0.05,
                     pooled: bool = True) -> TestResult:
    """Two-proportion z test; pooled null variance for the p-value, Wald interval.

    Examples
    --------
    >>> r = proportion_ztest(ProportionStatistic(1000, 100), ProportionStatistic(1000, 130))
    >>> round(r.effect, 3), round(r.p_value, 4)
    (0.03, 0.0355)
    """
    v_c, v_t = control.mean_variance, treatment.mean_variance
    p_var = None
    if pooled:
        n_c, n_t = np.asarray(control.n, dtype=float), np.asarray(treatment.n, dtype=float)
        p = (np.asarray(control.sum, dtype=float) + np.asarray(treatment.sum, dtype=float)) / (n_c + n_t)
        p_var = p * (1 - p) * (1 / n_c + 1 / n_t)
    return result_from_moments(control.mean, v_c, treatment.mean, v_t, np.inf, alpha, "z_proportion",
                               p_variance=p_var)


def ratio_test(control: RatioStatistic, treatment: RatioStatistic, alpha: float = 0.05) -> TestResult:
    """Difference of two ratio metrics (Σm/Σd per arm), delta-method variances, Welch df."""
    v_c, v_t = control.mean_variance, treatment.mean_variance
    dof = welch_dof(v_c, control.n, v_t, treatment.n)
    return result_from_moments(control.mean, v_c, treatment.mean, v_t, dof, alpha, "delta_ratio")


def cuped_test(control: RegressionAdjustedStatistic, treatment: RegressionAdjustedStatistic,
               alpha: float = 0.05, theta: ArrayLike | None = None) -> TestResult:
    """CUPED: ``(ȳ_t − ȳ_c) − θ (x̄_t − x̄_c)`` with θ pooled across both arms.

    ``variance_reduction`` in the result is ``1 − Var(adjusted) / Var(unadjusted)`` of the
    effect estimate, i.e. roughly the squared correlation of metric and covariate.
    """
    if theta is None:
        theta = pooled_theta(control, treatment)
    x_bar = (np.asarray(control.pre_sum, dtype=float) + np.asarray(treatment.pre_sum, dtype=float)) / \
        (np.asarray(control.n, dtype=float) + np.asarray(treatment.n, dtype=float))
    m_c, m_t = control.adjusted_mean(theta, x_bar), treatment.adjusted_mean(theta, x_bar)
    v_c = np.asarray(control.adjusted_variance(theta)) / np.asarray(control.n, dtype=float)
    v_t = np.asarray(treatment.adjusted_variance(theta)) / np.asarray(treatment.n, dtype=float)
    raw = np.asarray(control.post.mean_variance) + np.asarray(treatment.post.mean_variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = 1.0 - (v_c + v_t) / raw
    dof = welch_dof(v_c, control.n, v_t, treatment.n)
    return result_from_moments(m_c, v_c, m_t, v_t, dof, alpha, "cuped", theta=_scalar(theta),
                               variance_reduction=_scalar(reduction))


def two_sample_test(control: Any, treatment: Any, alpha: float = 0.05) -> TestResult:
    """Dispatch on the statistics' type (both arms must be of the same type)."""
    from .cluster import ClusteredRatioStatistic, ClusteredStatistic, cluster_test

    if type(control) is not type(treatment):
        raise ParameterError(f"control and treatment statistics differ in type: "
                             f"{type(control).__name__} vs {type(treatment).__name__}")
    if isinstance(control, (ClusteredStatistic, ClusteredRatioStatistic)):
        return cluster_test(control, treatment, alpha)
    dispatch = {SampleMeanStatistic: welch_ttest, ProportionStatistic: proportion_ztest,
                RatioStatistic: ratio_test, RegressionAdjustedStatistic: cuped_test}
    try:
        fn = dispatch[type(control)]
    except KeyError:
        raise ParameterError(f"no test for statistics of type {type(control).__name__}") from None
    return fn(control, treatment, alpha)


def winsorize(df: pd.DataFrame, columns: Iterable[str], upper: float = 0.99, lower: float | None = None,
              ignore_zeros: bool = False, frame_name: str = "df") -> pd.DataFrame:
    """Cap per-unit values at quantiles computed on all units pooled (all variants).

    The thresholds come from the pooled distribution so that the same cap applies to
    every arm (per-arm thresholds would differ by the treatment effect and bias it).
    Capping trades a little bias for much lower variance on heavy-tailed metrics such as
    GMV. With ``ignore_zeros`` the quantiles are those of the non-zero values — for
    sparse metrics (most customers buy nothing in the window) the plain 99th percentile
    can be 0 and capping would erase the metric. Returns a copy; ``attrs["caps"]`` holds
    ``{column: (low, high)}``.

    Examples
    --------
    >>> df = pd.DataFrame({"gmv": [0.0, 1.0, 2.0, 3.0, 100.0]})
    >>> winsorize(df, ["gmv"], upper=0.75)["gmv"].tolist()
    [0.0, 1.0, 2.0, 3.0, 3.0]
    """
    if not 0.0 < float(upper) <= 1.0 or (lower is not None and not 0.0 <= float(lower) < float(upper)):
        raise ParameterError(f"quantiles must satisfy 0 <= lower < upper <= 1 (got lower={lower}, upper={upper})")
    out = df.copy()
    caps: dict[str, tuple[float, float]] = {}
    for col in columns:
        if col not in out.columns:
            raise DataContractError(frame_name, col, "column to cap is missing")
        x = pd.to_numeric(out[col], errors="coerce").astype(float)
        base = x[x != 0] if ignore_zeros else x
        if base.empty:
            caps[col] = (-np.inf, np.inf)
            continue
        hi = float(base.quantile(upper))
        lo = float(base.quantile(lower)) if lower is not None else -np.inf
        out[col] = x.clip(lower=lo, upper=hi)
        caps[col] = (lo, hi)
    out.attrs = dict(df.attrs, caps=caps)
    return out
