"""One call from experiment data to a tidy results table.

* :func:`analyze` — per-unit frame (one row per customer; ``experiment_frame`` output or
  any frame with a variant column) → one row per metric × treatment variant;
* :func:`analyze_statistics` — the same from sufficient statistics, either a mapping
  ``{variant: {metric: statistic}}`` or the wide frame of one ``GROUP BY`` in the engine
  (``experiment_statistics`` output), so ten million units never become pandas rows;
* :func:`segment_breakdown` — :func:`analyze` per segment, corrected across segments;
* :func:`sufficient_statistics` / :func:`statistics_from_frame` — the bridge: per-unit
  frame → wide sums frame → statistics. The wide frame's columns follow one convention
  (shared with the engine's SQL): ``n``; ``{col}_sum`` and ``{col}_sum_squares`` per
  column; ``{a}_{b}_sum`` for cross products (ratio numerator × denominator, metric ×
  CUPED covariate); optional ``{col}_n`` when a metric has its own unit count; one row per
  variant, or per variant and cluster for cluster designs.

Methods per metric: 0/1 columns → two-proportion z test; other columns → Welch t;
``(numerator, denominator)`` → delta method; a covariate → CUPED; ``cluster_col`` →
cluster-robust variance with a t reference on ``G − 2`` degrees of freedom, ICC and
design effect. ``sequential=True`` replaces intervals and p-values by always-valid ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError, bad_rows
from .bayesian import bayesian_summary
from .cluster import ClusteredRatioStatistic, ClusteredStatistic, ClusterTestResult
from .frequentist import _check_alpha, cuped_test, two_sample_test, winsorize
from .multiple import SCOPES, _method, adjust_frame
from .sequential import sequential_test
from .srm import srm_test
from .unit_sums import group_codes, unit_sums
from .stats import ProportionStatistic, RatioStatistic, RegressionAdjustedStatistic, SampleMeanStatistic

RESULT_COLUMNS = [
    "metric", "variant", "n", "mean", "control_n", "control_mean", "abs_effect", "rel_effect", "ci_low", "ci_high",
    "rel_ci_low", "rel_ci_high", "p_value", "p_value_adjusted", "significant", "chance_to_beat_control",
    "expected_loss", "method", "se", "dof", "theta", "variance_reduction", "icc", "design_effect", "n_clusters",
    "control_n_clusters", "fieller_rel_ci_low", "fieller_rel_ci_high",
]


@dataclass(frozen=True)
class MetricSpec:
    """A metric to analyse: one column, or a ratio of two columns' sums."""

    name: str
    column: str
    denominator: str | None = None

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    @property
    def columns(self) -> list[str]:
        return [self.column] + ([self.denominator] if self.denominator else [])


def parse_metrics(metrics: Any) -> list[MetricSpec]:
    """Column names, ``(numerator, denominator)`` tuples, or ``{name: column or tuple}``.

    Examples
    --------
    >>> [m.name for m in parse_metrics(["gmv", ("gmv", "orders"), {"aov": ("gmv", "orders")}][:2])]
    ['gmv', 'gmv/orders']
    """
    if isinstance(metrics, (str, tuple, MetricSpec)):
        metrics = [metrics]
    if isinstance(metrics, Mapping):
        items = list(metrics.items())
    else:
        items = []
        for m in metrics:
            if isinstance(m, Mapping):
                items += list(m.items())
            else:
                items.append((None, m))
    specs = []
    for name, value in items:
        if isinstance(value, MetricSpec):
            specs.append(value)
        elif isinstance(value, str):
            specs.append(MetricSpec(str(name or value), value))
        elif isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, str) for v in value):
            specs.append(MetricSpec(str(name or f"{value[0]}/{value[1]}"), value[0], value[1]))
        else:
            raise ParameterError(f"a metric is a column name or a (numerator, denominator) pair, got {value!r}")
    names = [s.name for s in specs]
    if not specs:
        raise ParameterError("no metrics given")
    if len(set(names)) != len(names):
        raise ParameterError(f"metric names must be unique, got {names}")
    return specs


def _covariates(covariates: Mapping[str, str] | None, specs: Sequence[MetricSpec]) -> dict[str, str]:
    if not covariates:
        return {}
    by_name = {s.name: s for s in specs}
    cov = {}
    for metric, pre in dict(covariates).items():
        if metric not in by_name:
            raise ParameterError(f"covariate given for unknown metric {metric!r}; metrics: {list(by_name)}")
        if by_name[metric].is_ratio:
            raise ParameterError(f"CUPED for ratio metrics is not supported (metric {metric!r})")
        if not isinstance(pre, str):
            raise ParameterError(f"a covariate is one pre-period column name, got {pre!r}")
        cov[metric] = pre
    return cov


def _cross(a: str, b: str) -> str:
    return f"{a}_{b}_sum"


# --------------------------------------------------------------------------- sums


def sufficient_statistics(df: pd.DataFrame, variant_col: str, metrics: Any, covariates: Mapping[str, str] | None = None,
                          cluster_col: str | None = None) -> pd.DataFrame:
    """Reduce a per-unit frame to the wide sums frame (one row per variant [and cluster]).

    The pandas twin of the engine's one-``GROUP BY`` SQL; columns as in the module
    docstring.

    Examples
    --------
    >>> df = pd.DataFrame({"variant": ["a", "a", "b"], "gmv": [1.0, 3.0, 2.0]})
    >>> sufficient_statistics(df, "variant", ["gmv"])
      variant  n  gmv_sum  gmv_sum_squares
    0       a  2      4.0             10.0
    1       b  1      2.0              4.0
    """
    specs = parse_metrics(metrics)
    cov = _covariates(covariates, specs)
    keys = [variant_col] + ([cluster_col] if cluster_col else [])
    codes = [group_codes(df[k]) for k in keys]
    columns = {c: df[c].to_numpy(dtype=float) for c in _base_columns(specs, cov)}
    products = _products(specs, cov)
    return _sums_frame(unit_sums([c for c, _ in codes], columns, products), keys, [lab for _, lab in codes], columns,
                       products)


def _base_columns(specs: Sequence[MetricSpec], cov: Mapping[str, str]) -> list[str]:
    return list(dict.fromkeys([c for s in specs for c in s.columns] + list(cov.values())))


def _products(specs: Sequence[MetricSpec], cov: Mapping[str, str]) -> list[tuple[str, str]]:
    """Cross products the statistics need; refuses names that would clash in the sums frame.

    E.g. a column named "gmv_orders" and the ratio gmv/orders would both write
    "gmv_orders_sum"; refuse rather than overwrite one with the other.
    """
    meaning: dict[str, tuple[str, ...]] = {}

    def put(key: str, what: tuple[str, ...]) -> None:
        if key in meaning and meaning[key] != what:
            raise ParameterError(f"column names clash in the sums frame: {key!r} would hold both {meaning[key]} and "
                                 f"{what}; rename a column")
        meaning[key] = what

    for c in _base_columns(specs, cov):
        put(f"{c}_sum", ("sum", c))
        put(f"{c}_sum_squares", ("sum_squares", c))
    by_name = {s.name: s for s in specs}
    pairs = [(s.column, s.denominator) for s in specs if s.is_ratio]
    pairs += [(by_name[metric].column, pre) for metric, pre in cov.items()]
    for x, y in pairs:
        put(_cross(x, y), ("product", x, y))
    return list(dict.fromkeys(pairs))


def _sums_frame(sums: pd.DataFrame, keys: Sequence[str], labels: Sequence[np.ndarray], columns: Iterable[str],
                products: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The wide sums frame (module docstring) from :func:`unit_sums` output, key labels restored."""
    out = pd.DataFrame({k: lab[sums[f"k{i}"].to_numpy()] for i, (k, lab) in enumerate(zip(keys, labels))})
    out["n"] = sums["n"].astype("int64")
    for c in columns:
        out[f"{c}_sum"] = sums[f"{c}_sum"].to_numpy(float)
        out[f"{c}_sum_squares"] = sums[f"{c}_sum_squares"].to_numpy(float)
    for x, y in products:
        out[_cross(x, y)] = sums[_cross(x, y)].to_numpy(float)
    return out.sort_values(list(keys), kind="stable").reset_index(drop=True)


def _has(frame: pd.DataFrame, cols: Iterable[str], table: str) -> None:
    for c in cols:
        if c not in frame.columns:
            raise DataContractError(table, c, "sufficient-statistics column is missing")


def _cross_col(frame: pd.DataFrame, a: str, b: str, table: str) -> str:
    for name in (_cross(a, b), _cross(b, a)):
        if name in frame.columns:
            return name
    raise DataContractError(table, _cross(a, b), f"cross-product column of {a!r} and {b!r} is missing")


def statistics_from_frame(frame: pd.DataFrame, metrics: Any, covariates: Mapping[str, str] | None = None,
                          cluster_col: str | None = None, variant_col: str = "variant",
                          proportions: Iterable[str] | None = None,
                          table: str = "statistics") -> dict[str, dict[str, Any]]:
    """Turn the wide sums frame into ``{variant: {metric: statistic}}``.

    Parameters
    ----------
    proportions : iterable of str, optional
        Metric names to treat as 0/1. Default: plain metrics whose ``sum`` equals their
        ``sum_squares`` (integer) in every row, which holds exactly for 0/1 columns.
    """
    specs = parse_metrics(metrics)
    cov = _covariates(covariates, specs)
    if cluster_col and cov:
        raise ParameterError("CUPED covariates with cluster_col are not supported; analyse the cluster design "
                             "without covariates")
    if variant_col not in frame.columns:
        frame = frame.reset_index()
    _has(frame, [variant_col] + ([cluster_col] if cluster_col else []), table)
    if frame[variant_col].isna().any():
        raise DataContractError(table, variant_col, "variant is missing",
                                rows=bad_rows(frame, frame[variant_col].isna()))
    if cluster_col is None and frame[variant_col].duplicated().any():
        raise DataContractError(table, variant_col, "more than one row per variant (a cluster frame? pass cluster_col)",
                                rows=bad_rows(frame, frame[variant_col].duplicated(keep=False)))
    prop = None if proportions is None else set(proportions)
    out: dict[str, dict[str, Any]] = {}
    groups = {v: g for v, g in frame.groupby(variant_col, sort=False, observed=True)}
    for v in pd.unique(frame[variant_col]):
        g = groups[v]
        stats: dict[str, Any] = {}
        for s in specs:
            n_col = f"{s.column}_n" if f"{s.column}_n" in g.columns and not s.is_ratio else "n"
            _has(g, [n_col, f"{s.column}_sum", f"{s.column}_sum_squares"], table)
            n = g[n_col].to_numpy(dtype=float)
            y = g[f"{s.column}_sum"].to_numpy(dtype=float)
            yy = g[f"{s.column}_sum_squares"].to_numpy(dtype=float)
            if s.is_ratio:
                _has(g, [f"{s.denominator}_sum", f"{s.denominator}_sum_squares"], table)
                d = g[f"{s.denominator}_sum"].to_numpy(dtype=float)
                dd = g[f"{s.denominator}_sum_squares"].to_numpy(dtype=float)
                yd = g[_cross_col(g, s.column, s.denominator, table)].to_numpy(dtype=float)
                if cluster_col:
                    stats[s.name] = ClusteredRatioStatistic.from_cluster_sums(n, y, d)
                else:
                    stats[s.name] = RatioStatistic(int(n[0]), y[0], yy[0], d[0], dd[0], yd[0])
                continue
            if cluster_col:
                keep = n > 0  # a cluster may have no units for this metric (its own {col}_n)
                stats[s.name] = ClusteredStatistic.from_cluster_sums(n[keep], y[keep], yy[keep]) if keep.any() \
                    else ClusteredStatistic(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            elif s.name in cov:
                pre = cov[s.name]
                if n_col != "n":
                    # the covariate's sums run over all units, the metric's over its own subset
                    raise ParameterError(f"metric {s.name!r} has its own unit count {n_col!r}; CUPED needs the "
                                         "metric and its covariate summed over the same units")
                _has(g, [f"{pre}_sum", f"{pre}_sum_squares"], table)
                xy = g[_cross_col(g, s.column, pre, table)].to_numpy(dtype=float)
                stats[s.name] = RegressionAdjustedStatistic(int(n[0]), y[0], yy[0], g[f"{pre}_sum"].iloc[0],
                                                            g[f"{pre}_sum_squares"].iloc[0], xy[0])
            else:
                stats[s.name] = (n[0], y[0], yy[0])  # decided below: mean or proportion
        out[str(v)] = stats
    for s in specs:
        raw = [out[v][s.name] for v in out if isinstance(out[v][s.name], tuple)]
        if not raw:
            continue
        if prop is None:
            is_prop = all(y == yy and float(y).is_integer() for _, y, yy in raw)
        else:
            is_prop = s.name in prop
        for v in out:
            n, y, yy = out[v][s.name]
            out[v][s.name] = ProportionStatistic(int(n), float(y)) if is_prop else SampleMeanStatistic(int(n), float(y),
                                                                                                       float(yy))
    return out


# --------------------------------------------------------------------------- analysis


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
    d_sum = getattr(stat, "d_sum", None)
    if d_sum is not None and d_sum == 0:
        raise DataContractError(table, column, f"the denominator of ratio metric {metric!r} sums to 0 in variant "
                                f"{variant!r}")


def _pair(name: str, c: Any, t: Any, variant: str, alpha: float, sequential: bool,
          planned_n: float | None) -> dict[str, Any]:
    if isinstance(c, RegressionAdjustedStatistic):
        res = cuped_test(c, t, alpha)
    else:
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
    if sequential:
        seq = sequential_test(c, t, alpha, planned_n=planned_n)
        # The fixed-horizon Fieller interval does not hold at every look: none is shown then.
        row.update(ci_low=seq.cs_low, ci_high=seq.cs_high, rel_ci_low=seq.rel_cs_low, rel_ci_high=seq.rel_cs_high,
                   p_value=seq.always_valid_p, method=res.method + "+always_valid", fieller_rel_ci_low=np.nan,
                   fieller_rel_ci_high=np.nan)
    return row


def _analyze(stats: Mapping[str, Mapping[str, Any]], control: str, alpha: float, correction: str | None,
             correction_scope: str, sequential: bool, planned_n: float | None, srm: Any, table: str,
             columns: Mapping[str, str] | None = None) -> pd.DataFrame:
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
            rows.append(_pair(name, c, t, v, alpha, sequential, planned_n))
    out = pd.DataFrame(rows)
    out = adjust_frame(out, correction, correction_scope) if correction is not None else out.assign(
        p_value_adjusted=out["p_value"])
    out["significant"] = out["p_value_adjusted"] < alpha
    out = out[RESULT_COLUMNS]
    out.attrs["srm"] = srm
    return out


def _mean_variance(stat: Any) -> float:
    if isinstance(stat, RegressionAdjustedStatistic):
        return float(stat.post.mean_variance)
    return float(stat.mean_variance)


def _check_common(alpha: float, correction: str | None, correction_scope: str) -> None:
    _check_alpha(alpha)
    _method(correction)
    if correction_scope not in SCOPES:
        raise ParameterError(f"correction_scope must be one of {SCOPES}, got {correction_scope!r}")


def analyze_statistics(stats_by_variant: Mapping[str, Mapping[str, Any]] | pd.DataFrame, control: str,
                       alpha: float = 0.05, correction: str | None = "holm", correction_scope: str = "metric",
                       sequential: bool = False, expected_weights: Mapping[str, float] | None = None, *,
                       metrics: Any = None, covariates: Mapping[str, str] | None = None,
                       cluster_col: str | None = None, variant_col: str = "variant",
                       planned_n: float | None = None, table: str = "statistics") -> pd.DataFrame:
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
    correction, correction_scope
        Multiple-testing correction (``"holm"``, ``"bh"``, ``"bonferroni"``, None) within
        each metric across variants (``"metric"``) or over all rows (``"all"``).
    sequential : bool
        Always-valid intervals and p-values (``planned_n``: planned independent units).
    expected_weights : mapping, optional
        Planned variant shares for the SRM check (default equal); units are the clusters
        in a cluster design. The result is in ``attrs["srm"]``.

    Returns
    -------
    DataFrame
        One row per metric × treatment variant (columns in ``RESULT_COLUMNS``).

    Examples
    --------
    >>> stats = {"control": {"gmv": SampleMeanStatistic(1000, 50_000.0, 5_000_000.0)},
    ...          "treatment": {"gmv": SampleMeanStatistic(1000, 55_000.0, 5_600_000.0)}}
    >>> analyze_statistics(stats, "control")[["metric", "abs_effect", "rel_effect"]].to_dict("records")
    [{'metric': 'gmv', 'abs_effect': 5.0, 'rel_effect': 0.10000000000000009}]
    """
    _check_common(alpha, correction, correction_scope)
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
    srm = srm_test(counts, expected_weights, unit=unit)
    return _analyze(stats, str(control), alpha, correction, correction_scope, sequential, planned_n, srm, table)


# --------------------------------------------------------------------------- per-unit frames


def _is_binary(values: np.ndarray, sums: pd.DataFrame, column: str) -> bool:
    """Every value 0 or 1: only columns within [0, 1] are scanned (x·(1 − x) is 0 exactly for 0 and 1)."""
    if sums[f"{column}_min"].min() < 0 or sums[f"{column}_max"].max() > 1:
        return False
    return not np.count_nonzero(values * (1.0 - values))


def _variants(df: pd.DataFrame, table: str, variant_col: str, control: str,
              expected_weights: Mapping[str, float] | None,
              coded: tuple[np.ndarray, np.ndarray] | None = None) -> list[str]:
    """The variants present (as strings), checked against the control and the declared ones.

    ``coded`` reuses a :func:`group_codes` result of the variant column (−1 = missing).
    """
    col = df[variant_col]
    codes, uniques = coded if coded is not None else group_codes(col)
    missing = codes < 0
    if missing.any():
        raise DataContractError(table, variant_col, "variant is missing", rows=bad_rows(df, missing),
                                n_bad=int(missing.sum()))
    present = sorted({str(v) for v in uniques})
    declared = [str(v) for v in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype) else []
    declared += [str(k) for k, w in (expected_weights or {}).items() if w > 0]
    if control not in present and control not in declared:
        raise ParameterError(f"unknown control variant {control!r}; variants in {table}.{variant_col}: {present}")
    empty = sorted(set(declared) - set(present))
    if empty:
        raise DataContractError(table, variant_col, f"variant(s) {empty} have 0 units")
    return present


def _check_frame(df: pd.DataFrame, table: str, variant_col: str, specs: Sequence[MetricSpec], cov: Mapping[str, str],
                 cluster_col: str | None, unit_col: str | None) -> None:
    needed = [variant_col] + [c for s in specs for c in s.columns] + list(cov.values())
    needed += [c for c in (cluster_col, unit_col) if c]
    for c in dict.fromkeys(needed):
        if c not in df.columns:
            raise DataContractError(table, c, f"column is missing (columns: {list(df.columns)[:20]})")
    for c in dict.fromkeys([c for s in specs for c in s.columns] + list(cov.values())):
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])):
            raise DataContractError(table, c, f"metric column must be numeric, not {df[c].dtype}",
                                    rows=df[[variant_col, c]].head(5))
    if unit_col:
        dup = df[unit_col].duplicated(keep=False)
        if dup.any():
            raise DataContractError(table, unit_col, "duplicated unit ids (a unit must appear once)",
                                    rows=bad_rows(df.sort_values(unit_col), dup.loc[df.sort_values(unit_col).index]),
                                    n_bad=int(df[unit_col].duplicated().sum()))
    if cluster_col:
        miss = df[cluster_col].isna()
        if miss.any():
            raise DataContractError(table, cluster_col, "cluster id is missing", rows=bad_rows(df, miss),
                                    n_bad=int(miss.sum()))
        per = df.groupby(cluster_col, observed=True)[variant_col].nunique()
        mixed = per.index[per > 1]
        if len(mixed):
            mask = df[cluster_col].isin(mixed)
            rows = df.loc[mask, [cluster_col, variant_col]].drop_duplicates().sort_values([cluster_col, variant_col])
            raise DataContractError(table, cluster_col, "cluster(s) appear in more than one variant; the cluster "
                                    "must be the unit of randomisation", rows=rows.head(6), n_bad=len(mixed))


def _check_constant(df: pd.DataFrame, sums: pd.DataFrame, variant_codes: np.ndarray, labels: np.ndarray, table: str,
                    variant_col: str, specs: Sequence[MetricSpec], control: str, variants: Sequence[str],
                    note: str = "") -> None:
    """Refuse a metric that is constant within the control and a treatment: no test is possible."""
    by_variant = sums.groupby("k0")
    for s in specs:
        if s.is_ratio:
            continue
        spread = pd.Series((by_variant[f"{s.column}_max"].max() - by_variant[f"{s.column}_min"].min()).to_numpy(),
                           index=labels[by_variant.size().index.to_numpy()])
        for v in variants:
            if v != control and spread.get(control, 0) == 0 and spread.get(v, 0) == 0:
                pair = np.flatnonzero(np.isin(labels, [control, v]))
                mask = np.isin(variant_codes, pair)
                raise DataContractError(table, s.column, f"metric {s.name!r} has zero variance in both {control!r} "
                                        f"and {v!r}; no test is possible{note}",
                                        rows=df.loc[mask, [variant_col, s.column]].head(5))


def analyze(df: pd.DataFrame, variant_col: str, metrics: Any, control: str,
            covariates: Mapping[str, str] | None = None, cluster_col: str | None = None, alpha: float = 0.05,
            correction: str | None = "holm", correction_scope: str = "metric", sequential: bool = False,
            cap_quantile: float | None = None, expected_weights: Mapping[str, float] | None = None, *,
            unit_col: str | None = None, planned_n: float | None = None, cap_ignore_zeros: bool = False,
            frame_name: str | None = None) -> pd.DataFrame:
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
    alpha, correction, correction_scope, sequential, expected_weights
        See :func:`analyze_statistics`.
    cap_quantile : float, optional
        Winsorise non-binary metric columns (ratio numerators) and covariates at this
        pooled upper quantile before computing the statistics (thresholds in
        ``attrs["caps"]``); ``cap_ignore_zeros`` takes the quantile of the non-zero values,
        which suits sparse metrics such as GMV when few units buy.
    unit_col : str, optional
        Unit id column, checked for duplicates.

    Returns
    -------
    DataFrame
        One row per metric × treatment variant; ``attrs["srm"]`` holds the
        :class:`~workbench.experiments.srm.SRMResult`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"variant": np.repeat(["control", "treatment"], 500),
    ...                    "converted": rng.binomial(1, np.repeat([0.10, 0.16], 500)),
    ...                    "gmv": rng.gamma(2.0, 50.0, 1000)})
    >>> res = analyze(df, "variant", ["converted", "gmv"], control="control")
    >>> res[["metric", "method"]].to_dict("list")
    {'metric': ['converted', 'gmv'], 'method': ['z_proportion', 'welch_t']}
    """
    table = frame_name or str(df.attrs.get("name", "df"))
    _check_common(alpha, correction, correction_scope)
    specs = parse_metrics(metrics)
    cov = _covariates(covariates, specs)
    if cluster_col and cov:
        raise ParameterError("CUPED covariates with cluster_col are not supported; analyse the cluster design "
                             "without covariates")
    _check_frame(df, table, variant_col, specs, cov, cluster_col, unit_col)
    control = str(control)
    codes, uniques = group_codes(df[variant_col])
    variants = _variants(df, table, variant_col, control, expected_weights, (codes, uniques))
    if len(df) == 0:
        raise DataContractError(table, variant_col, "the frame has no units")
    # variants are compared as strings (as given in ``control``); codes of equal strings merge
    labels, remap = np.unique(np.array([str(u) for u in uniques], dtype=object), return_inverse=True)
    keys = [remap.ravel()[codes]]
    if cluster_col:
        cluster_codes, cluster_labels = group_codes(df[cluster_col])
        keys.append(cluster_codes)
    base = _base_columns(specs, cov)
    columns = {c: df[c].to_numpy(dtype=float) for c in base}
    products = _products(specs, cov)
    sums = unit_sums(keys, columns, products)
    for c in base:  # a non-finite value makes the column's sums non-finite: only then look for rows
        if not np.isfinite(sums[[f"{c}_sum", f"{c}_sum_squares"]].to_numpy()).all():
            bad = df[c].isna() | ~np.isfinite(df[c].to_numpy(dtype=float, na_value=np.nan))
            if not bad.any():
                raise DataContractError(table, c, "metric values are too large to sum in floating point; rescale "
                                        "the column (e.g. to thousands)")
            raise DataContractError(table, c, "metric values are missing or infinite; drop or fill those units "
                                    "before the analysis", rows=bad_rows(df, bad), n_bad=int(bad.sum()))
    binary = {c for c in dict.fromkeys(c for s in specs for c in s.columns) if _is_binary(columns[c], sums, c)}
    caps: dict[str, tuple[float, float]] = {}
    if cap_quantile is not None:
        to_cap = [s.column for s in specs if s.column not in binary] + [c for c in cov.values() if c not in binary]
        to_cap = list(dict.fromkeys(to_cap))
        if to_cap:
            capped = winsorize(pd.DataFrame({c: columns[c] for c in to_cap}), to_cap, upper=cap_quantile,
                               ignore_zeros=cap_ignore_zeros, frame_name=table)
            caps = capped.attrs.get("caps", {})
            columns.update({c: capped[c].to_numpy(float) for c in to_cap})
            sums = unit_sums(keys, columns, products)
    _check_constant(df, sums, keys[0], labels, table, variant_col, specs, control, variants,
                    note="" if cap_quantile is None else f" after capping at quantile {cap_quantile} "
                    f"(caps {caps}; try cap_ignore_zeros=True)")
    frame = _sums_frame(sums, [variant_col] + ([cluster_col] if cluster_col else []),
                        [labels] + ([cluster_labels] if cluster_col else []), base, products)
    proportions = [s.name for s in specs if not s.is_ratio and s.name not in cov and s.column in binary]
    stats = statistics_from_frame(frame, specs, cov, cluster_col, variant_col, proportions=proportions, table=table)
    per_variant = frame.groupby(variant_col, sort=True)
    counts = per_variant.size() if cluster_col else per_variant["n"].sum()
    srm = srm_test(counts, expected_weights, unit="clusters" if cluster_col else "units")
    ordered = {v: stats[v] for v in variants}
    out = _analyze(ordered, control, alpha, correction, correction_scope, sequential, planned_n, srm, table,
                   columns={s.name: s.column for s in specs})
    if cap_quantile is not None:
        out.attrs["caps"] = caps
    return out


def segment_breakdown(df: pd.DataFrame, segment_col: str, variant_col: str, metrics: Any, control: str, *,
                      correction: str | None = "holm", correction_scope: str = "metric", alpha: float = 0.05,
                      on_error: str = "raise", **kwargs: Any) -> pd.DataFrame:
    """:func:`analyze` within each segment, with the correction across all segments.

    ``correction_scope="metric"`` makes one family per metric over every segment and
    variant; ``"all"`` one family over everything. ``on_error="skip"`` skips segments
    that cannot be analysed (e.g. a constant metric) and lists them in
    ``attrs["skipped"]``; ``attrs["srm"]`` maps segment → SRM result.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> df = pd.DataFrame({"variant": np.tile(["c", "t"], 1000), "region": np.repeat(["east", "west"], 1000),
    ...                    "gmv": rng.normal(100, 20, 2000)})
    >>> segment_breakdown(df, "region", "variant", ["gmv"], "c")[["segment", "metric", "variant"]].shape
    (2, 3)
    """
    table = str(df.attrs.get("name", "df"))
    _check_common(alpha, correction, correction_scope)
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if segment_col not in df.columns:
        raise DataContractError(table, segment_col, "segment column is missing")
    miss = df[segment_col].isna()
    if miss.any():
        raise DataContractError(table, segment_col, "segment is missing", rows=bad_rows(df, miss),
                                n_bad=int(miss.sum()))
    parts, srm, skipped = [], {}, {}
    for seg, part in df.groupby(segment_col, sort=True, observed=True):
        try:
            res = analyze(part, variant_col, metrics, control, correction=None, alpha=alpha,
                          frame_name=f"{table}[{segment_col}={seg}]", **kwargs)
        except (DataContractError, ParameterError) as exc:
            if on_error == "raise":
                raise
            skipped[seg] = str(exc)
            continue
        srm[seg] = res.attrs["srm"]
        parts.append(res.drop(columns=["p_value_adjusted", "significant"]).assign(segment=seg))
    if not parts:
        raise DataContractError(table, segment_col, f"no segment could be analysed: {skipped}")
    out = pd.concat(parts, ignore_index=True)
    out = adjust_frame(out, correction, correction_scope) if correction is not None else out.assign(
        p_value_adjusted=out["p_value"])
    out["significant"] = out["p_value_adjusted"] < alpha
    out = out[["segment"] + RESULT_COLUMNS]
    out.attrs.update(srm=srm, skipped=skipped)
    return out
