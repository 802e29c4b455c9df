"""Checks of a per-unit experiment frame before it is reduced to statistics.

Each check names the table, the column and a few offending rows, so a failed analysis says
what to fix in the data rather than failing inside a test.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError, bad_rows
from .sufficient import MetricSpec
from .unit_sums import group_codes


def is_binary(values: np.ndarray, sums: pd.DataFrame, column: str) -> bool:
    """Every value 0 or 1: only columns within [0, 1] are scanned (x·(1 − x) is 0 exactly for 0 and 1)."""
    if sums[f"{column}_min"].min() < 0 or sums[f"{column}_max"].max() > 1:
        return False
    return not np.count_nonzero(values * (1.0 - values))


def present_variants(df: pd.DataFrame, table: str, variant_col: str, control: str,
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


def check_frame(df: pd.DataFrame, table: str, variant_col: str, specs: Sequence[MetricSpec], cov: Mapping[str, str],
                 cluster_col: str | None, unit_col: str | None) -> None:
    """Check the frame before analysis: every column read is there, metric columns numeric, unit ids unique."""
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


def check_constant(df: pd.DataFrame, sums: pd.DataFrame, variant_codes: np.ndarray, labels: np.ndarray, table: str,
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

