"""Multiple-comparison corrections for many variants, metrics or segments.

* :func:`holm` — Holm's step-down procedure, controls the family-wise error rate;
* :func:`benjamini_hochberg` — step-up procedure, controls the false discovery rate
  (independent or positively dependent tests);
* :func:`adjust_pvalues` — by name; :func:`adjust_frame` — within groups of a tidy
  result frame (``scope="metric"``: per metric across variants; ``"all"``: every row).

NaN p-values are left NaN and do not count towards the family size. Results equal
``statsmodels.stats.multitest.multipletests`` (``holm`` / ``fdr_bh``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError

METHODS = ("holm", "bh", "bonferroni", None)
SCOPES = ("metric", "all")
_ALIASES = {"holm": "holm", "bh": "bh", "fdr_bh": "bh", "benjamini-hochberg": "bh", "bonferroni": "bonferroni",
            "none": None, None: None}


def _finite(p: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(p, dtype=float).ravel()
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        raise ParameterError("p-values must lie in [0, 1]")
    return arr, ok


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values: ``max_{j≤i} min(1, (m − j + 1) p_(j))``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    arr, ok = _finite(p_values)
    out = np.full(arr.shape, np.nan)
    p = arr[ok]
    m = p.size
    if m:
        order = np.argsort(p, kind="mergesort")
        adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values: ``min_{j≥i} min(1, m p_(j) / j)``.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    arr, ok = _finite(p_values)
    out = np.full(arr.shape, np.nan)
    p = arr[ok]
    m = p.size
    if m:
        order = np.argsort(p, kind="mergesort")[::-1]
        ranks = np.arange(m, 0, -1)
        adj = np.minimum.accumulate(np.minimum(1.0, m * p[order] / ranks))
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    return out


def bonferroni(p_values: Sequence[float]) -> np.ndarray:
    """Bonferroni-adjusted p-values (NaN stays NaN and is not counted)."""
    arr, ok = _finite(p_values)
    out = np.full(arr.shape, np.nan)
    out[ok] = np.minimum(1.0, arr[ok] * ok.sum())
    return out


def _method(method: str | None) -> str | None:
    key = method.lower() if isinstance(method, str) else method
    if key not in _ALIASES:
        raise ParameterError(f"unknown correction {method!r}; use 'holm', 'bh', 'bonferroni' or None")
    return _ALIASES[key]


def adjust_pvalues(p_values: Sequence[float], method: str | None = "holm") -> np.ndarray:
    """Adjusted p-values by method name (``None`` returns them unchanged)."""
    m = _method(method)
    if m is None:
        return np.asarray(p_values, dtype=float).copy()
    return {"holm": holm, "bh": benjamini_hochberg, "bonferroni": bonferroni}[m](p_values)


def adjust_frame(result: pd.DataFrame, method: str | None = "holm", scope: str = "metric",
                 p_col: str = "p_value", out_col: str = "p_value_adjusted", metric_col: str = "metric") -> pd.DataFrame:
    """Add ``out_col`` with p-values adjusted within each family of rows.

    ``scope="metric"``: one family per metric (all its variants, and segments when the
    frame stacks segments); ``scope="all"``: the whole frame is one family.
    """
    if scope not in SCOPES:
        raise ParameterError(f"correction_scope must be one of {SCOPES}, got {scope!r}")
    _method(method)
    out = result.copy()
    adjusted = np.full(len(out), np.nan)
    p = out[p_col].to_numpy(dtype=float)
    if scope == "all":
        adjusted[:] = adjust_pvalues(p, method)
    else:
        codes = pd.factorize(out[metric_col])[0]
        for code in np.unique(codes):
            idx = np.flatnonzero(codes == code)
            adjusted[idx] = adjust_pvalues(p[idx], method)
    out[out_col] = adjusted
    return out
