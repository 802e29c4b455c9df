"""Task experiments: A/B tests of WeCom task strategies (README, "Analyses in the package").

Statistics (pure functions on small frames and sufficient statistics):

* :mod:`~workbench.experiments.stats` — per-arm sufficient statistics (means, proportions,
  ratio metrics, CUPED);
* :mod:`~workbench.experiments.moments` — the typed test result and the moments every
  test reports from;
* :mod:`~workbench.experiments.frequentist` — Welch t / z tests, delta method, CUPED,
  winsorisation;
* :mod:`~workbench.experiments.cluster` — store- or staff-randomised designs
  (cluster-robust variance, ICC, design effect);
* :mod:`~workbench.experiments.method` — the one place that picks the test for a metric;
* :mod:`~workbench.experiments.multiple` — Holm, Benjamini–Hochberg, Šidák, and simultaneous
  (adjusted) confidence intervals that match the correction;
* :mod:`~workbench.experiments.noninferiority` — one-sided tests, non-inferiority margins
  (guardrail metrics) and the ship rule;
* :mod:`~workbench.experiments.poststrat` — the post-stratified estimator (gbstats);
* :mod:`~workbench.experiments.group_sequential` — group-sequential designs with Lan–DeMets alpha
  spending (O'Brien–Fleming-, Pocock-, Hwang–Shih–DeCani-type), power and expected sample size,
  beside the always-valid confidence sequences;
* :mod:`~workbench.experiments.quantile` — median / p90 metrics with a Woodruff interval;
* :mod:`~workbench.experiments.cuped_ratio` — CUPED for ratio metrics (regression-adjusted ratio);
* :mod:`~workbench.experiments.sequential` — always-valid confidence sequences for daily
  monitoring;
* :mod:`~workbench.experiments.bayesian` — chance to beat control, expected loss;
* :mod:`~workbench.experiments.design` — power, MDE, sample size (also several arms against one
  control, Bonferroni or Dunnett), hashed assignment;
* :mod:`~workbench.experiments.srm` — sample-ratio mismatch;
* :mod:`~workbench.experiments.sufficient` — per-unit frame → sums frame → statistics;
* :mod:`~workbench.experiments.checks` — checks of a per-unit frame;
* :mod:`~workbench.experiments.result` — :class:`AnalysisOptions`, :class:`ExperimentResult`,
  :class:`SegmentBreakdown`;
* :mod:`~workbench.experiments.analyze` — :func:`analyze`, :func:`analyze_statistics`,
  :func:`segment_breakdown`.

Layers, each importing only those above it: ``stats`` → ``moments`` → ``frequentist``,
``cluster`` → ``method`` → ``sequential``, ``sufficient`` → ``checks`` → ``analyze``.

Data from contract tables (engine side, :mod:`~workbench.experiments.frame`):
``experiment_frame(wb, experiment_id, ...)`` gives the per-unit frame :func:`analyze` takes,
``experiment_statistics`` the one-``GROUP BY`` sums frame :func:`analyze_statistics` takes,
``experiment_daily`` the cumulative daily sums :func:`sequential_frame` takes. They are
imported lazily so the statistics do not load the engine.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from workbench.experiments import analyze
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"variant": np.repeat(["control", "script_b"], 2000),
...                    "converted": rng.binomial(1, np.repeat([0.05, 0.07], 2000))})
>>> analyze(df, "variant", ["converted"], control="control").table[["metric", "variant", "method"]].shape
(1, 3)
"""
from __future__ import annotations

from typing import Any

from .analyze import analyze, analyze_statistics, segment_breakdown
from .bayesian import BayesianResult, bayesian_summary, expected_shortfall, normal_posterior
from .cluster import (
    ClusteredRatioStatistic,
    ClusteredStatistic,
    ClusterTestResult,
    cluster_test,
    design_effect,
    icc_anova,
)
from .cuped_ratio import RegressionAdjustedRatioStatistic, cuped_ratio_test, ratio_theta
from .design import (
    MultiArmSampleSize,
    SampleSize,
    assign_variants,
    dunnett_critical_value,
    hash_uniform,
    minimum_detectable_effect,
    multi_arm_sample_size,
    power,
    sample_size,
)
from .frequentist import capping_thresholds, cuped_test, proportion_ztest, ratio_test, welch_ttest, winsorize
from .group_sequential import (
    DesignPower,
    GroupSequentialDesign,
    GroupSequentialTest,
    SequentialComparison,
    boundary_power,
    classical_design,
    compare_with_confidence_sequence,
    design_power,
    drift_for_power,
    group_sequential_frame,
    group_sequential_test,
    hsd_spending,
    obrien_fleming_spending,
    pocock_spending,
    spending_design,
)
from .method import choose_test, statistic_type, two_sample_test
from .moments import TestResult
from .multiple import (
    adjust_frame,
    adjust_pvalues,
    adjusted_intervals,
    benjamini_hochberg,
    bonferroni,
    holm,
    interval_alpha,
    sidak,
)
from .noninferiority import ShiftedTest, ShipDecision, margin_null, non_inferiority_test, one_sided, ship_decision
from .poststrat import PostStratifiedResult, post_stratified_test
from .quantile import QuantileStatistic, quantile_frame, quantile_ranks, quantile_test
from .result import RESULT_COLUMNS, AnalysisOptions, ExperimentResult, SegmentBreakdown
from .sequential import (
    SequentialResult,
    always_valid_p,
    cs_multiplier,
    rho_for_planned_n,
    sequential_frame,
    sequential_test,
    window_band,
)
from .srm import SRMResult, srm_test
from .stats import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    pooled_theta,
)
from .sufficient import MetricSpec, parse_metrics, statistics_from_frame, sufficient_statistics

# Engine-side builders live in .frame (they need the engine); resolved on first use.
_FRAME_API = ("experiment_frame", "experiment_statistics", "experiment_daily", "experiment_info", "ExperimentInfo")


def __getattr__(name: str) -> Any:
    if name in _FRAME_API:
        from . import frame

        return getattr(frame, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RESULT_COLUMNS", "AnalysisOptions", "ExperimentResult", "SegmentBreakdown",
    "MetricSpec", "analyze", "analyze_statistics", "parse_metrics", "segment_breakdown",
    "statistics_from_frame", "sufficient_statistics",
    "BayesianResult", "bayesian_summary", "expected_shortfall", "normal_posterior",
    "ClusteredRatioStatistic", "ClusteredStatistic", "ClusterTestResult", "cluster_test", "design_effect",
    "icc_anova",
    "SampleSize", "assign_variants", "hash_uniform", "minimum_detectable_effect", "power", "sample_size",
    "TestResult", "choose_test", "statistic_type", "two_sample_test",
    "capping_thresholds", "cuped_test", "proportion_ztest", "ratio_test", "welch_ttest", "winsorize",
    "adjust_frame", "adjust_pvalues", "benjamini_hochberg", "bonferroni", "holm", "sidak", "adjusted_intervals",
    "interval_alpha",
    "ShiftedTest", "ShipDecision", "margin_null", "non_inferiority_test", "one_sided", "ship_decision",
    "PostStratifiedResult", "post_stratified_test",
    "MultiArmSampleSize", "dunnett_critical_value", "multi_arm_sample_size",
    "GroupSequentialDesign", "DesignPower", "GroupSequentialTest", "SequentialComparison", "spending_design",
    "classical_design", "design_power", "boundary_power", "drift_for_power", "group_sequential_test",
    "group_sequential_frame", "compare_with_confidence_sequence", "obrien_fleming_spending", "pocock_spending",
    "hsd_spending",
    "QuantileStatistic", "quantile_test", "quantile_frame", "quantile_ranks",
    "RegressionAdjustedRatioStatistic", "cuped_ratio_test", "ratio_theta",
    "SequentialResult", "always_valid_p", "cs_multiplier", "rho_for_planned_n", "sequential_frame",
    "sequential_test", "window_band",
    "SRMResult", "srm_test",
    "ProportionStatistic", "RatioStatistic", "RegressionAdjustedStatistic", "SampleMeanStatistic", "pooled_theta",
    *_FRAME_API,
]
