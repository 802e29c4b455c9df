"""The one place that decides which test an experiment metric gets.

The decision is made once, from what is known about the metric and the design, by
:func:`statistic_type`: the kind of sufficient statistic to build. The statistic's type
then names its test (:data:`TESTS`), so every caller that compares two arms —
:func:`~workbench.experiments.analyze.analyze`, the sequential looks, the daily band —
goes through :func:`two_sample_test` and cannot pick a different one.

============================  ==========================================  ======================
metric and design             statistic                                   test (``method``)
============================  ==========================================  ======================
cluster-randomised, ratio     :class:`~.cluster.ClusteredRatioStatistic`  cluster delta ratio
cluster-randomised            :class:`~.cluster.ClusteredStatistic`       CR2 (or G/(G−1)) t
ratio of two sums             :class:`~.stats.RatioStatistic`             delta method, Welch df
with a pre-period covariate   :class:`~.stats.RegressionAdjustedStatistic` CUPED
0/1 values                    :class:`~.stats.ProportionStatistic`        two-proportion z
anything else                 :class:`~.stats.SampleMeanStatistic`        Welch t
============================  ==========================================  ======================
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ParameterError
from .cluster import ClusteredRatioStatistic, ClusteredStatistic, cluster_test
from .frequentist import cuped_test, proportion_ztest, ratio_test, welch_ttest
from .moments import TestResult
from .stats import ProportionStatistic, RatioStatistic, RegressionAdjustedStatistic, SampleMeanStatistic

TwoSampleTest = Callable[[Any, Any, float], TestResult]

#: statistic type → the test that compares two arms of it
TESTS: dict[type, TwoSampleTest] = {
    ClusteredStatistic: cluster_test,
    ClusteredRatioStatistic: cluster_test,
    RatioStatistic: ratio_test,
    RegressionAdjustedStatistic: cuped_test,
    ProportionStatistic: proportion_ztest,
    SampleMeanStatistic: welch_ttest,
}


def statistic_type(*, ratio: bool, clustered: bool, covariate: bool, binary: bool) -> type:
    """The sufficient statistic (and so the test) for a metric, from the metric and the design.

    Parameters
    ----------
    ratio : bool
        The metric is a ratio of two sums (numerator and denominator columns).
    clustered : bool
        Whole clusters (stores, staff) were randomised.
    covariate : bool
        A pre-period covariate is given (CUPED).
    binary : bool
        Every value is 0 or 1.

    Examples
    --------
    >>> statistic_type(ratio=False, clustered=False, covariate=False, binary=True).__name__
    'ProportionStatistic'
    """
    if clustered and covariate:
        raise ParameterError("CUPED covariates with cluster_col are not supported; analyse the cluster design "
                             "without covariates")
    if clustered:
        return ClusteredRatioStatistic if ratio else ClusteredStatistic
    if ratio:
        if covariate:
            raise ParameterError("CUPED for ratio metrics is not supported")
        return RatioStatistic
    if covariate:
        return RegressionAdjustedStatistic
    return ProportionStatistic if binary else SampleMeanStatistic


def choose_test(control: Any, treatment: Any) -> TwoSampleTest:
    """The test for two arms' statistics (both arms must be of the same type)."""
    if type(control) is not type(treatment):
        raise ParameterError(f"control and treatment statistics differ in type: "
                             f"{type(control).__name__} vs {type(treatment).__name__}")
    try:
        return TESTS[type(control)]
    except KeyError:
        raise ParameterError(f"no test for statistics of type {type(control).__name__}") from None


def two_sample_test(control: Any, treatment: Any, alpha: float = 0.05) -> TestResult:
    """Compare two arms with the test their statistics' type calls for (:func:`choose_test`).

    Examples
    --------
    >>> r = two_sample_test(ProportionStatistic(1000, 100), ProportionStatistic(1000, 130))
    >>> r.method
    'z_proportion'
    """
    return choose_test(control, treatment)(control, treatment, alpha)
