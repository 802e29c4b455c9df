"""Fixed-horizon frequentist tests on sufficient statistics.

* :func:`welch_ttest` — difference of means, Welch–Satterthwaite degrees of freedom
  (identical to ``scipy.stats.ttest_ind(equal_var=False)``);
* :func:`proportion_ztest` — difference of proportions; the p-value uses the pooled
  proportion under the null (``statsmodels`` ``proportions_ztest``), the interval the
  unpooled Wald standard error (``confint_proportions_2indep(method="wald")``);
* :func:`ratio_test` — ratio metrics (Σm/Σd per arm) with the delta method;
* :func:`cuped_test` — CUPED regression adjustment with θ pooled across the two arms;
* :func:`winsorize` — capping at a pooled quantile (:func:`capping_thresholds`), applied to
  the per-unit frame before the statistics are built.

The result type and the moments every test reports from live in
:mod:`~workbench.experiments.moments`; choosing the test for a pair of statistics in
:mod:`~workbench.experiments.method`.

Every test also returns the relative effect ``(mean_t − mean_c) / |mean_c|`` (``mean_t / mean_c − 1``
for a positive control mean; divided by the absolute control mean as in gbstats, so its sign is the
sign of the absolute effect) with a delta-method
interval (``Var ≈ v_t / m_c² + m_t² v_c / m_c⁴``, arms independent).

All functions are elementwise in the statistics' fields, so arrays of statistics (many
simulated or real experiments) are tested in one call.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError
from .moments import (  # re-exported: these lived here before moments.py
    TestResult,
    critical_value,
    fieller_relative_interval,
    relative_delta,
    result_from_moments,
    two_sided_p,
    welch_dof,
)
from .stats import (
    ArrayLike,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    _scalar,
    check_arms,
    pooled_theta,
)

__all__ = [
    "TestResult", "critical_value", "cuped_test", "fieller_relative_interval", "proportion_ztest", "ratio_test",
    "relative_delta", "result_from_moments", "two_sided_p", "welch_dof", "welch_ttest", "winsorize",
    "capping_thresholds",
]


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
    check_arms(control, treatment)
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
    check_arms(control, treatment)
    v_c, v_t = control.mean_variance, treatment.mean_variance
    dof = welch_dof(v_c, control.n, v_t, treatment.n)
    return result_from_moments(control.mean, v_c, treatment.mean, v_t, dof, alpha, "delta_ratio")


def cuped_test(control: RegressionAdjustedStatistic, treatment: RegressionAdjustedStatistic,
               alpha: float = 0.05, theta: ArrayLike | None = None) -> TestResult:
    """CUPED: ``(ȳ_t − ȳ_c) − θ (x̄_t − x̄_c)`` with θ pooled across both arms.

    ``variance_reduction`` in the result is ``1 − Var(adjusted) / Var(unadjusted)`` of the
    effect estimate, i.e. roughly the squared correlation of metric and covariate.
    """
    check_arms(control, treatment)
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


def capping_thresholds(df: pd.DataFrame, columns: Iterable[str], upper: float = 0.99, lower: float | None = None,
                       ignore_zeros: bool = False, frame_name: str = "df") -> dict[str, tuple[float, float]]:
    """The ``{column: (low, high)}`` caps :func:`winsorize` applies, from all units pooled.

    The thresholds come from the pooled distribution so that the same cap applies to
    every arm (per-arm thresholds would differ by the treatment effect and bias it).
    With ``ignore_zeros`` the quantiles are those of the non-zero values — for sparse
    metrics (most customers buy nothing in the window) the plain 99th percentile can be 0
    and capping would erase the metric. A column with no values to take a quantile of
    gets ``(-inf, inf)``: it is left as it is.

    Examples
    --------
    >>> capping_thresholds(pd.DataFrame({"gmv": [0.0, 1.0, 2.0, 3.0, 100.0]}), ["gmv"], upper=0.75)
    {'gmv': (-inf, 3.0)}
    """
    if not 0.0 < float(upper) <= 1.0 or (lower is not None and not 0.0 <= float(lower) < float(upper)):
        raise ParameterError(f"quantiles must satisfy 0 <= lower < upper <= 1 (got lower={lower}, upper={upper})")
    caps: dict[str, tuple[float, float]] = {}
    for col in columns:
        if col not in df.columns:
            raise DataContractError(frame_name, col, "column to cap is missing")
        x = pd.to_numeric(df[col], errors="coerce").astype(float)
        base = x[x != 0] if ignore_zeros else x
        if base.empty:
            caps[col] = (-np.inf, np.inf)
            continue
        hi = float(base.quantile(upper))
        lo = float(base.quantile(lower)) if lower is not None else -np.inf
        caps[col] = (lo, hi)
    return caps


def winsorize(df: pd.DataFrame, columns: Iterable[str], upper: float = 0.99, lower: float | None = None,
              ignore_zeros: bool = False, frame_name: str = "df") -> pd.DataFrame:
    """Cap per-unit values at quantiles computed on all units pooled (all variants).

    Capping trades a little bias for much lower variance on heavy-tailed metrics such as
    GMV. The thresholds are :func:`capping_thresholds` (same arguments); returns a copy
    with the capped columns as floats.

    Examples
    --------
    >>> df = pd.DataFrame({"gmv": [0.0, 1.0, 2.0, 3.0, 100.0]})
    >>> winsorize(df, ["gmv"], upper=0.75)["gmv"].tolist()
    [0.0, 1.0, 2.0, 3.0, 3.0]
    """
    caps = capping_thresholds(df, columns, upper, lower, ignore_zeros, frame_name)
    out = df.copy()
    for col, (lo, hi) in caps.items():
        if (lo, hi) != (-np.inf, np.inf):  # a column with nothing to take a quantile of stays as it is
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float).clip(lower=lo, upper=hi)
    return out
