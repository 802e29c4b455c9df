"""From a per-unit frame to sufficient statistics: the metrics, the wide sums frame, the statistics.

* :func:`parse_metrics` — what the metrics are (:class:`MetricSpec`: a column, or a ratio of
  two columns' sums);
* :func:`sufficient_statistics` — per-unit frame → wide sums frame, the pandas twin of the
  engine's one-``GROUP BY`` SQL (``experiment_statistics``);
* :func:`statistics_from_frame` — wide sums frame → ``{variant: {metric: statistic}}``, the
  statistic's type chosen by :func:`~workbench.experiments.method.statistic_type`.

The wide frame's columns follow one convention (shared with the engine's SQL): ``n``;
``{col}_sum`` and ``{col}_sum_squares`` per column; ``{a}_{b}_sum`` for cross products (ratio
numerator × denominator, metric × CUPED covariate); optional ``{col}_n`` when a metric has its
own unit count; one row per variant, or per variant and cluster for cluster designs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError, bad_rows
from .cluster import ClusteredRatioStatistic, ClusteredStatistic
from .method import statistic_type
from .stats import ProportionStatistic, RatioStatistic, RegressionAdjustedStatistic, SampleMeanStatistic
from .unit_sums import group_codes, unit_sums


@dataclass(frozen=True)
class MetricSpec:
    """A metric to analyse: one column, or a ratio of two columns' sums."""

    name: str
    column: str
    denominator: str | None = None

    @property
    def is_ratio(self) -> bool:
        """Whether the metric is a ratio (it has a denominator)."""
        return self.denominator is not None

    @property
    def columns(self) -> list[str]:
        """Columns the metric reads: its column, then its denominator if any."""
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


def parse_covariates(covariates: Mapping[str, str] | None, specs: Sequence[MetricSpec]) -> dict[str, str]:
    """Check ``covariates`` (metric name → one pre-period column; not for ratio metrics); a dict."""
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
    cov = parse_covariates(covariates, specs)
    keys = [variant_col] + ([cluster_col] if cluster_col else [])
    codes = [group_codes(df[k]) for k in keys]
    columns = {c: df[c].to_numpy(dtype=float) for c in base_columns(specs, cov)}
    products = cross_products(specs, cov)
    return sums_frame(unit_sums([c for c, _ in codes], columns, products), keys, [lab for _, lab in codes], columns,
                       products)


def base_columns(specs: Sequence[MetricSpec], cov: Mapping[str, str]) -> list[str]:
    """Columns the metrics and covariates read, each once, in order."""
    return list(dict.fromkeys([c for s in specs for c in s.columns] + list(cov.values())))


def cross_products(specs: Sequence[MetricSpec], cov: Mapping[str, str]) -> list[tuple[str, str]]:
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

    for c in base_columns(specs, cov):
        put(f"{c}_sum", ("sum", c))
        put(f"{c}_sum_squares", ("sum_squares", c))
    by_name = {s.name: s for s in specs}
    pairs = [(s.column, s.denominator) for s in specs if s.is_ratio]
    pairs += [(by_name[metric].column, pre) for metric, pre in cov.items()]
    for x, y in pairs:
        put(_cross(x, y), ("product", x, y))
    return list(dict.fromkeys(pairs))


def sums_frame(sums: pd.DataFrame, keys: Sequence[str], labels: Sequence[np.ndarray], columns: Iterable[str],
                products: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The wide sums frame (module docstring) from ``unit_sums`` output, key labels restored."""
    out = pd.DataFrame({k: lab[sums[f"k{i}"].to_numpy()] for i, (k, lab) in enumerate(zip(keys, labels, strict=False))})
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
    cov = parse_covariates(covariates, specs)
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
    binary = _binary_metrics(frame, specs, cov, cluster_col, proportions, table)
    groups = {v: g for v, g in frame.groupby(variant_col, sort=False, observed=True)}
    return {str(v): {s.name: _statistic(groups[v], s, cov.get(s.name), cluster_col, s.name in binary, table)
                     for s in specs}
            for v in pd.unique(frame[variant_col])}


def _unit_count_column(frame: pd.DataFrame, spec: MetricSpec) -> str:
    """``{col}_n`` when the metric has its own unit count (not for ratios), else ``n``."""
    return f"{spec.column}_n" if f"{spec.column}_n" in frame.columns and not spec.is_ratio else "n"


def _binary_metrics(frame: pd.DataFrame, specs: Sequence[MetricSpec], cov: Mapping[str, str],
                    cluster_col: str | None, proportions: Iterable[str] | None, table: str) -> set[str]:
    """Names of the plain metrics to test as proportions (given, or 0/1 by their sums)."""
    plain = [s for s in specs if not s.is_ratio and not cluster_col and s.name not in cov]
    if proportions is not None:
        return {s.name for s in plain} & set(proportions)
    out = set()
    for s in plain:
        cols = [_unit_count_column(frame, s), f"{s.column}_sum", f"{s.column}_sum_squares"]
        _has(frame, cols, table)
        y, yy = frame[cols[1]].to_numpy(dtype=float), frame[cols[2]].to_numpy(dtype=float)
        # sum == sum of squares and an integer: exactly the 0/1 columns
        if np.all((y == yy) & (np.mod(y, 1.0) == 0)):
            out.add(s.name)
    return out


def _statistic(g: pd.DataFrame, s: MetricSpec, pre: str | None, cluster_col: str | None, binary: bool,
               table: str) -> Any:
    """One variant's statistic of one metric, of the type :func:`statistic_type` picks."""
    n_col = _unit_count_column(g, s)
    _has(g, [n_col, f"{s.column}_sum", f"{s.column}_sum_squares"], table)
    n = g[n_col].to_numpy(dtype=float)
    y = g[f"{s.column}_sum"].to_numpy(dtype=float)
    yy = g[f"{s.column}_sum_squares"].to_numpy(dtype=float)
    kind = statistic_type(ratio=s.is_ratio, clustered=bool(cluster_col), covariate=pre is not None, binary=binary)
    if s.is_ratio:
        _has(g, [f"{s.denominator}_sum", f"{s.denominator}_sum_squares"], table)
        d = g[f"{s.denominator}_sum"].to_numpy(dtype=float)
        dd = g[f"{s.denominator}_sum_squares"].to_numpy(dtype=float)
        yd = g[_cross_col(g, s.column, s.denominator, table)].to_numpy(dtype=float)
        if kind is ClusteredRatioStatistic:
            return ClusteredRatioStatistic.from_cluster_sums(n, y, d)
        return RatioStatistic(int(n[0]), y[0], yy[0], d[0], dd[0], yd[0])
    if kind is ClusteredStatistic:
        keep = n > 0  # a cluster may have no units for this metric (its own {col}_n)
        return ClusteredStatistic.from_cluster_sums(n[keep], y[keep], yy[keep]) if keep.any() \
            else ClusteredStatistic(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if kind is RegressionAdjustedStatistic:
        if n_col != "n":
            # the covariate's sums run over all units, the metric's over its own subset
            raise ParameterError(f"metric {s.name!r} has its own unit count {n_col!r}; CUPED needs the "
                                 "metric and its covariate summed over the same units")
        _has(g, [f"{pre}_sum", f"{pre}_sum_squares"], table)
        xy = g[_cross_col(g, s.column, pre, table)].to_numpy(dtype=float)
        return RegressionAdjustedStatistic(int(n[0]), y[0], yy[0], g[f"{pre}_sum"].iloc[0],
                                           g[f"{pre}_sum_squares"].iloc[0], xy[0])
    if kind is ProportionStatistic:
        return ProportionStatistic(int(n[0]), float(y[0]))
    return SampleMeanStatistic(int(n[0]), float(y[0]), float(yy[0]))
