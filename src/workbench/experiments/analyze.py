"""One call from experiment data to a typed result.

* :func:`analyze` — per-unit frame (one row per customer; ``experiment_frame`` output or
  any frame with a variant column) → :class:`~workbench.experiments.result.ExperimentResult`
  (``.table``: one row per metric × treatment variant; ``.srm``; ``.caps``);
* :func:`analyze_statistics` — the same from sufficient statistics, either a mapping
  ``{variant: {metric: statistic}}`` or the wide frame of one ``GROUP BY`` in the engine
  (``experiment_statistics`` output), so ten million units never become pandas rows;
* :func:`segment_breakdown` — :func:`analyze` per segment, corrected across segments.

How to analyse (level, correction, sequential looks, capping…) is one
:class:`~workbench.experiments.result.AnalysisOptions`, given as ``options=`` or built from
the same keyword arguments. Which test a metric gets is decided in one place,
:mod:`~workbench.experiments.method`: 0/1 columns → two-proportion z test; other columns →
Welch t; ``(numerator, denominator)`` → delta method; a covariate → CUPED; ``cluster_col`` →
cluster-robust variance (CR2 with Satterthwaite degrees of freedom, ICC and design effect).
``sequential=True`` replaces intervals and p-values by always-valid ones.

The bridge from per-unit frames to statistics lives in
:mod:`~workbench.experiments.sufficient` (its names are re-exported here).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError, bad_rows
from .bayesian import bayesian_summary
from .checks import check_constant, check_frame, is_binary, present_variants
from .cluster import ClusteredRatioStatistic, ClusteredStatistic, ClusterTestResult
from .frequentist import capping_thresholds
from .method import two_sample_test
from .multiple import adjust_frame, adjust_intervals_frame
from .noninferiority import margin_null, one_sided
from .result import RESULT_COLUMNS, AnalysisOptions, ExperimentResult, SegmentBreakdown
from .sequential import sequential_test
from .srm import srm_test
from .stats import RegressionAdjustedStatistic, impossible_sums_of_squares
from .sufficient import (  # re-exported: these lived here before sufficient.py
    MetricSpec,
    base_columns,
    cross_products,
    parse_covariates,
    parse_metrics,
    statistics_from_frame,
    sufficient_statistics,
    sums_frame,
)
from .unit_sums import group_codes, unit_sums

__all__ = ["RESULT_COLUMNS", "AnalysisOptions", "ExperimentResult", "MetricSpec", "SegmentBreakdown", "analyze",
           "analyze_statistics", "parse_metrics", "segment_breakdown", "statistics_from_frame",
           "sufficient_statistics"]


def _units(stat: Any) -> float:
    return float(stat.n)


def _check_stat(stat: Any, variant: str, metric: str, table: str, column: str) -> None:
    if _units(stat) == 0:
        raise DataContractError(table, column, f"variant {variant!r} has 0 units for metric {metric!r}")
    if _units(stat) < 2:
        raise DataContractError(table, column, f"variant {variant!r} has a single unit for metric {metric!r}; "
                                "a variance needs at least 2")
    if isinstance(stat, (ClusteredStatistic, ClusteredRatioStatistic)) and stat.n_clusters < 2:
        raise DataContractError(table, column, f"variant {variant!r} has {int(stat.n_clusters)} cluster(s) for "
                                f"metric {metric!r}; cluster-robust variances need at least 2 per variant")
    impossible = impossible_sums_of_squares(stat)
    if impossible:
        raise DataContractError(table, column, f"variant {variant!r}, metric {metric!r}: {', '.join(impossible)} is "
                                "smaller than sum² / n, which no real values give (a negative variance); the "
                                "sufficient statistics are broken upstream")
    d_sum = getattr(stat, "d_sum", None)
    if d_sum is not None and d_sum == 0:
        raise DataContractError(table, column, f"the denominator of ratio metric {metric!r} sums to 0 in variant "
                                f"{variant!r}")


def _pair(name: str, c: Any, t: Any, variant: str, options: AnalysisOptions) -> dict[str, Any]:
    """One results row: the test :func:`two_sample_test` picks, its Bayesian reading, sequential if asked."""
    alpha = options.alpha
    res = two_sample_test(c, t, alpha)
    row: dict[str, Any] = {
        "metric": name, "variant": variant, "n": int(t.n), "mean": float(t.mean), "control_n": int(c.n),
        "control_mean": float(c.mean), "abs_effect": res.effect, "rel_effect": res.rel_effect, "ci_low": res.ci_low,
        "ci_high": res.ci_high, "rel_ci_low": res.rel_ci_low, "rel_ci_high": res.rel_ci_high, "p_value": res.p_value,
        "method": res.method, "se": res.se, "dof": res.dof, "theta": res.theta,
        "variance_reduction": res.variance_reduction, "fieller_rel_ci_low": res.fieller_rel_ci_low,
        "fieller_rel_ci_high": res.fieller_rel_ci_high, "icc": np.nan, "design_effect": np.nan, "n_clusters": np.nan,
        "control_n_clusters": np.nan}
    if isinstance(res, ClusterTestResult):
        row.update(icc=res.icc, design_effect=res.design_effect, n_clusters=int(res.n_clusters_treatment),
                   control_n_clusters=int(res.n_clusters_control))
    bayes = bayesian_summary(res.effect, res.se, alpha)
    row.update(chance_to_beat_control=bayes.chance_to_beat_control, expected_loss=bayes.expected_loss)
    alternative = options.alternative_of(name)
    if alternative != "two-sided":
        one = one_sided(res.effect, res.se, res.dof, alternative, 0.0, alpha)
        rel = one_sided(res.rel_effect, res.rel_se, res.dof, alternative, 0.0, alpha)
        # one-sided: the delta-method relative bound; the Fieller interval is two-sided only
        row.update(ci_low=one.ci_low, ci_high=one.ci_high, p_value=one.p_value, rel_ci_low=rel.ci_low,
                   rel_ci_high=rel.ci_high, fieller_rel_ci_low=np.nan, fieller_rel_ci_high=np.nan)
    row.update(_guardrail(name, res, options))
    if options.sequential:
        seq = sequential_test(c, t, alpha, planned_n=options.planned_n)
        # The fixed-horizon Fieller interval does not hold at every look: none is shown then.
        row.update(ci_low=seq.cs_low, ci_high=seq.cs_high, rel_ci_low=seq.rel_cs_low, rel_ci_high=seq.rel_cs_high,
                   p_value=seq.always_valid_p, method=res.method + "+always_valid", fieller_rel_ci_low=np.nan,
                   fieller_rel_ci_high=np.nan)
    return row


def _guardrail(name: str, res: Any, options: AnalysisOptions) -> dict[str, Any]:
    """The non-inferiority columns of a row: the margin's null and its one-sided test (NaN without a margin)."""
    preference = options.preference_of(name)
    margins = options.margins or {}
    out: dict[str, Any] = {"guardrail": name in options.guardrails, "preference": preference,
                           "margin": float(margins.get(name, np.nan)), "null_value": np.nan, "ni_p_value": np.nan,
                           "non_inferior": np.nan}
    if name in margins:
        null = margin_null(res.control_mean, float(margins[name]), relative=options.margin_relative,
                           preference=preference)
        ni = one_sided(res.effect, res.se, res.dof, "greater" if preference == "increase" else "less", null,
                       options.alpha)
        out.update(null_value=float(null), ni_p_value=float(ni.p_value), non_inferior=bool(ni.rejected))
    return out


def _finish(out: pd.DataFrame, options: AnalysisOptions) -> pd.DataFrame:
    """Adjusted p-values, significance and simultaneous intervals of the results table."""
    out = adjust_frame(out, options.correction, options.correction_scope) if options.correction is not None \
        else out.assign(p_value_adjusted=out["p_value"])
    out["significant"] = out["p_value_adjusted"] < options.alpha
    alternatives = out["metric"].map(lambda m: options.alternative_of(str(m))).to_numpy()
    out = adjust_intervals_frame(out, options.correction, options.correction_scope, options.alpha, alternatives)
    if options.sequential:  # the always-valid intervals are the ones to show; no fixed-horizon adjustment
        out["adjusted_ci_low"], out["adjusted_ci_high"] = out["ci_low"], out["ci_high"]
    return out


def _analyze(stats: Mapping[str, Mapping[str, Any]], control: str, options: AnalysisOptions, table: str,
             columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The results table: every treatment variant against control on every metric, corrected."""
    variants = list(stats)
    if control not in stats:
        raise ParameterError(f"unknown control variant {control!r}; variants: {variants}")
    treatments = [v for v in variants if v != control]
    if not treatments:
        raise DataContractError(table, None, f"only the control variant {control!r} has units; nothing to compare")
    metric_names = list(stats[control])
    rows = []
    for name in metric_names:
        column = (columns or {}).get(name, name)
        c = stats[control][name]
        _check_stat(c, control, name, table, column)
        for v in treatments:
            if name not in stats[v]:
                raise DataContractError(table, column, f"variant {v!r} has no statistics for metric {name!r}")
            t = stats[v][name]
            _check_stat(t, v, name, table, column)
            if type(t) is not type(c):
                raise DataContractError(table, column, f"metric {name!r} has statistics of different types in "
                                        f"{control!r} and {v!r}")
            var = _mean_variance(c) + _mean_variance(t)
            if not var > 0:
                raise DataContractError(table, column, f"metric {name!r} has zero variance in both {control!r} and "
                                        f"{v!r}; no test is possible (a constant metric?)")
            rows.append(_pair(name, c, t, v, options))
    unknown = sorted((set(options.guardrails) | set(options.margins or {})) - set(metric_names))
    if unknown:
        raise ParameterError(f"guardrails/margins name metric(s) {unknown} that are not analysed; metrics: "
                             f"{metric_names}")
    return _finish(pd.DataFrame(rows), options)[RESULT_COLUMNS]


def _mean_variance(stat: Any) -> float:
    if isinstance(stat, RegressionAdjustedStatistic):
        return float(stat.post.mean_variance)
    return float(stat.mean_variance)



def analyze_statistics(stats_by_variant: Mapping[str, Mapping[str, Any]] | pd.DataFrame, control: str, *,
                       metrics: Any = None, covariates: Mapping[str, str] | None = None,
                       cluster_col: str | None = None, variant_col: str = "variant", table: str = "statistics",
                       options: AnalysisOptions | None = None, **settings: Any) -> ExperimentResult:
    """Analyse an experiment from sufficient statistics.

    Parameters
    ----------
    stats_by_variant : mapping or DataFrame
        ``{variant: {metric name: statistic}}`` with statistics from
        :mod:`~workbench.experiments.stats` / :mod:`~workbench.experiments.cluster`, or
        the wide sums frame (then ``metrics`` — and ``covariates``, ``cluster_col`` —
        describe it, see :func:`statistics_from_frame`).
    control : str
        Control variant.
    options : AnalysisOptions, optional
        How to analyse; keyword ``settings`` (``alpha``, ``correction``,
        ``correction_scope``, ``sequential``, ``planned_n``, ``expected_weights``) replace its
        fields. ``expected_weights`` are the planned shares for the SRM check, of clusters in a
        cluster design.

    Returns
    -------
    ExperimentResult
        ``.table`` one row per metric × treatment variant (columns ``RESULT_COLUMNS``);
        ``.srm`` the sample-ratio check.

    Examples
    --------
    >>> from workbench.experiments.stats import SampleMeanStatistic
    >>> stats = {"control": {"gmv": SampleMeanStatistic(1000, 50_000.0, 5_000_000.0)},
    ...          "treatment": {"gmv": SampleMeanStatistic(1000, 55_000.0, 5_600_000.0)}}
    >>> analyze_statistics(stats, "control").table[["metric", "abs_effect", "rel_effect"]].to_dict("records")
    [{'metric': 'gmv', 'abs_effect': 5.0, 'rel_effect': 0.1}]
    """
    opts = AnalysisOptions.build(options, **settings)
    if isinstance(stats_by_variant, pd.DataFrame):
        if metrics is None:
            raise ParameterError("metrics must be given when the statistics come as a frame")
        frame = stats_by_variant
        stats = statistics_from_frame(frame, metrics, covariates, cluster_col, variant_col, table=table)
        if variant_col not in frame.columns:
            frame = frame.reset_index()
        if cluster_col:
            counts = frame.groupby(variant_col, sort=False)[cluster_col].nunique()
        else:
            counts = frame.set_index(variant_col)["n"]
        counts.index = counts.index.map(str)
        unit = "clusters" if cluster_col else "units"
    else:
        stats = {str(k): dict(v) for k, v in stats_by_variant.items()}
        first = {v: next(iter(s.values())) for v, s in stats.items() if s}
        clustered = any(hasattr(s, "n_clusters") for s in first.values())
        counts = {v: int(s.n_clusters if clustered else s.n) for v, s in first.items()}
        unit = "clusters" if clustered else "units"
    srm = srm_test(counts, opts.expected_weights, unit=unit)
    return ExperimentResult(_analyze(stats, str(control), opts, table), srm, opts)


def analyze(df: pd.DataFrame, variant_col: str, metrics: Any, control: str,
            covariates: Mapping[str, str] | None = None, cluster_col: str | None = None, *,
            unit_col: str | None = None, frame_name: str | None = None, options: AnalysisOptions | None = None,
            **settings: Any) -> ExperimentResult:
    """Analyse an experiment from a per-unit frame.

    Parameters
    ----------
    df : DataFrame
        One row per analysis unit with its variant and metric values.
    variant_col : str
    metrics : str, tuple, list or dict
        Column names (0/1 columns are analysed as proportions), ``(numerator,
        denominator)`` ratio metrics, optionally named: ``{"aov": ("gmv", "orders")}``.
    control : str
        Control variant.
    covariates : dict, optional
        ``{metric name: pre-period column}`` for CUPED.
    cluster_col : str, optional
        Cluster of each unit (staff or store) in a cluster-randomised design.
    unit_col : str, optional
        Unit id column, checked for duplicates.
    frame_name : str, optional
        The frame's name in error messages (default ``"df"``).
    options : AnalysisOptions, optional
        How to analyse; keyword ``settings`` (``alpha``, ``correction``,
        ``correction_scope``, ``sequential``, ``planned_n``, ``expected_weights``,
        ``cap_quantile``, ``cap_ignore_zeros``) replace its fields. With ``cap_quantile``
        non-binary metric columns (ratio numerators) and covariates are winsorised at that
        pooled upper quantile before the statistics are computed; ``cap_ignore_zeros`` takes
        the quantile of the non-zero values, which suits sparse metrics such as GMV.

    Returns
    -------
    ExperimentResult
        ``.table`` one row per metric × treatment variant; ``.srm`` the
        :class:`~workbench.experiments.srm.SRMResult`; ``.caps`` the thresholds applied.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"variant": np.repeat(["control", "treatment"], 500),
    ...                    "converted": rng.binomial(1, np.repeat([0.10, 0.16], 500)),
    ...                    "gmv": rng.gamma(2.0, 50.0, 1000)})
    >>> res = analyze(df, "variant", ["converted", "gmv"], control="control")
    >>> res.table[["metric", "method"]].to_dict("list")
    {'metric': ['converted', 'gmv'], 'method': ['z_proportion', 'welch_t']}
    """
    opts = AnalysisOptions.build(options, **settings)
    table = frame_name or "df"
    specs = parse_metrics(metrics)
    cov = parse_covariates(covariates, specs)
    if cluster_col and cov:
        raise ParameterError("CUPED covariates with cluster_col are not supported; analyse the cluster design "
                             "without covariates")
    check_frame(df, table, variant_col, specs, cov, cluster_col, unit_col)
    control = str(control)
    codes, uniques = group_codes(df[variant_col])
    variants = present_variants(df, table, variant_col, control, opts.expected_weights, (codes, uniques))
    if len(df) == 0:
        raise DataContractError(table, variant_col, "the frame has no units")
    # variants are compared as strings (as given in ``control``); codes of equal strings merge
    labels, remap = np.unique(np.array([str(u) for u in uniques], dtype=object), return_inverse=True)
    keys = [remap.ravel()[codes]]
    if cluster_col:
        cluster_codes, cluster_labels = group_codes(df[cluster_col])
        keys.append(cluster_codes)
    base = base_columns(specs, cov)
    columns = {c: df[c].to_numpy(dtype=float) for c in base}
    products = cross_products(specs, cov)
    sums = unit_sums(keys, columns, products)
    _check_finite(df, sums, base, table)
    binary = {c for c in dict.fromkeys(c for s in specs for c in s.columns) if is_binary(columns[c], sums, c)}
    caps: dict[str, tuple[float, float]] = {}
    if opts.cap_quantile is not None:
        to_cap = [s.column for s in specs if s.column not in binary] + [c for c in cov.values() if c not in binary]
        to_cap = list(dict.fromkeys(to_cap))
        if to_cap:
            # the same thresholds and clipping as winsorize(), on the arrays already taken from the frame
            caps = capping_thresholds(pd.DataFrame({c: columns[c] for c in to_cap}), to_cap,
                                      upper=opts.cap_quantile, ignore_zeros=opts.cap_ignore_zeros, frame_name=table)
            columns.update({c: np.clip(columns[c], lo, hi) for c, (lo, hi) in caps.items()})
            sums = unit_sums(keys, columns, products)
    check_constant(df, sums, keys[0], labels, table, variant_col, specs, control, variants,
                   note="" if opts.cap_quantile is None else f" after capping at quantile {opts.cap_quantile} "
                   f"(caps {caps}; try cap_ignore_zeros=True)")
    frame = sums_frame(sums, [variant_col] + ([cluster_col] if cluster_col else []),
                       [labels] + ([cluster_labels] if cluster_col else []), base, products)
    proportions = [s.name for s in specs if not s.is_ratio and s.name not in cov and s.column in binary]
    stats = statistics_from_frame(frame, specs, cov, cluster_col, variant_col, proportions=proportions, table=table)
    per_variant = frame.groupby(variant_col, sort=True)
    counts = per_variant.size() if cluster_col else per_variant["n"].sum()
    srm = srm_test(counts, opts.expected_weights, unit="clusters" if cluster_col else "units")
    ordered = {v: stats[v] for v in variants}
    out = _analyze(ordered, control, opts, table, columns={s.name: s.column for s in specs})
    return ExperimentResult(out, srm, opts, caps)


def _check_finite(df: pd.DataFrame, sums: pd.DataFrame, base: list[str], table: str) -> None:
    """Refuse missing or infinite metric values, naming the rows."""
    for c in base:  # a non-finite value makes the column's sums non-finite: only then look for rows
        if not np.isfinite(sums[[f"{c}_sum", f"{c}_sum_squares"]].to_numpy()).all():
            bad = df[c].isna() | ~np.isfinite(df[c].to_numpy(dtype=float, na_value=np.nan))
            if not bad.any():
                raise DataContractError(table, c, "metric values are too large to sum in floating point; rescale "
                                        "the column (e.g. to thousands)")
            raise DataContractError(table, c, "metric values are missing or infinite; drop or fill those units "
                                    "before the analysis", rows=bad_rows(df, bad), n_bad=int(bad.sum()))


def segment_breakdown(df: pd.DataFrame, segment_col: str, variant_col: str, metrics: Any, control: str, *,
                      on_error: str = "raise", frame_name: str | None = None, options: AnalysisOptions | None = None,
                      **kwargs: Any) -> SegmentBreakdown:
    """:func:`analyze` within each segment, with the correction across all segments.

    ``correction_scope="metric"`` makes one family per metric over every segment and
    variant; ``"all"`` one family over everything. ``on_error="skip"`` skips segments
    that cannot be analysed (e.g. a constant metric) and lists them in ``.skipped``;
    ``.srm`` maps segment → SRM result. Keyword arguments are :class:`AnalysisOptions`
    fields or :func:`analyze`'s (``covariates``, ``cluster_col``, ``unit_col``).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> df = pd.DataFrame({"variant": np.tile(["c", "t"], 1000), "region": np.repeat(["east", "west"], 1000),
    ...                    "gmv": rng.normal(100, 20, 2000)})
    >>> segment_breakdown(df, "region", "variant", ["gmv"], "c").table[["segment", "metric", "variant"]].shape
    (2, 3)
    """
    settings = {k: kwargs.pop(k) for k in list(kwargs) if k in AnalysisOptions.names()}
    opts = AnalysisOptions.build(options, **settings)
    table = frame_name or "df"
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if segment_col not in df.columns:
        raise DataContractError(table, segment_col, "segment column is missing")
    miss = df[segment_col].isna()
    if miss.any():
        raise DataContractError(table, segment_col, "segment is missing", rows=bad_rows(df, miss),
                                n_bad=int(miss.sum()))
    per_segment = replace(opts, correction=None)  # corrected once below, across the segments
    parts, srm, skipped = [], {}, {}
    for seg, part in df.groupby(segment_col, sort=True, observed=True):
        try:
            res = analyze(part, variant_col, metrics, control, frame_name=f"{table}[{segment_col}={seg}]",
                          options=per_segment, **kwargs)
        except (DataContractError, ParameterError) as exc:
            if on_error == "raise":
                raise
            skipped[seg] = str(exc)
            continue
        srm[seg] = res.srm
        parts.append(res.table.drop(columns=["p_value_adjusted", "significant"]).assign(segment=seg))
    if not parts:
        raise DataContractError(table, segment_col, f"no segment could be analysed: {skipped}")
    out = _finish(pd.concat(parts, ignore_index=True), opts)
    return SegmentBreakdown(out[["segment"] + RESULT_COLUMNS], srm, skipped, opts)
