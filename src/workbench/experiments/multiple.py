"""Multiple-comparison corrections for many variants, metrics or segments.

* :func:`holm` — Holm's step-down procedure, controls the family-wise error rate;
* :func:`benjamini_hochberg` — step-up procedure, controls the false discovery rate
  (independent or positively dependent tests);
* :func:`bonferroni`, :func:`sidak` — one-step family-wise corrections;
* :func:`adjust_pvalues` — by name; :func:`adjust_frame` — within groups of a tidy
  result frame (``scope="metric"``: per metric across variants; ``"all"``: every row);
* :func:`interval_alpha` / :func:`adjusted_intervals` — simultaneous confidence intervals that
  agree with the adjusted p-values: Bonferroni at level ``1 − α/m``, Šidák at
  ``(1 − α)^{1/m}``. An interval excludes the null exactly when the adjusted p of the same
  one-step method is below ``α``. Holm's step-down procedure has no simple matching interval
  (the step-down intervals of Strassburger & Bretz 2008 are degenerate at the null for every
  rejected hypothesis; Spotify's confidence 4.1 gives none for Holm), so with ``holm`` the
  Bonferroni intervals are given: they are valid simultaneously, only a little wider than
  Holm's tests need, and may include the null for a comparison Holm rejects.
  Benjamini–Hochberg controls a false discovery rate, not a family-wise error; its intervals
  are the false-coverage-rate intervals of Benjamini & Yekutieli (2005), at level
  ``1 − R·α/m`` with ``R`` the number of rejections.

NaN p-values are left NaN and do not count towards the family size. Results equal
``statsmodels.stats.multitest.multipletests`` (``holm`` / ``fdr_bh`` / ``bonferroni`` / ``sidak``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError

METHODS = ("holm", "bh", "bonferroni", "sidak", None)
SCOPES = ("metric", "all")
_ALIASES = {"holm": "holm", "bh": "bh", "fdr_bh": "bh", "benjamini-hochberg": "bh", "bonferroni": "bonferroni",
            "sidak": "sidak", "šidák": "sidak", "none": None, None: None}


def _on_finite(p_values: Sequence[float], adjust: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``adjust`` to the non-NaN p-values (a family of their number); NaN stays NaN."""
    arr = np.asarray(p_values, dtype=float).ravel()
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        raise ParameterError("p-values must lie in [0, 1]")
    out = np.full(arr.shape, np.nan)
    if ok.any():
        out[ok] = adjust(arr[ok])
    return out


def _stepwise(p: np.ndarray, factors: np.ndarray, accumulate: np.ufunc, descending: bool) -> np.ndarray:
    """``accumulate`` of ``min(1, factor · p)`` along the p-values sorted, back in their own order.

    Step-down (Holm) walks from the smallest p with a running maximum, step-up
    (Benjamini–Hochberg) from the largest with a running minimum; ties keep their order.
    """
    order = np.argsort(p, kind="mergesort")
    if descending:
        order = order[::-1]
    out = np.empty(p.size)
    out[order] = accumulate.accumulate(np.minimum(1.0, factors * p[order]))
    return out


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values: ``max_{j≤i} min(1, (m − j + 1) p_(j))``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    return _on_finite(p_values, lambda p: _stepwise(p, p.size - np.arange(p.size), np.maximum, descending=False))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values: ``min_{j≥i} min(1, m p_(j) / j)``.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    return _on_finite(p_values, lambda p: _stepwise(p, p.size / np.arange(p.size, 0, -1), np.minimum,
                                                    descending=True))


def bonferroni(p_values: Sequence[float]) -> np.ndarray:
    """Bonferroni-adjusted p-values (NaN stays NaN and is not counted)."""
    return _on_finite(p_values, lambda p: np.minimum(1.0, p * p.size))


def sidak(p_values: Sequence[float]) -> np.ndarray:
    """Šidák-adjusted p-values ``1 − (1 − p)^m`` (exact for independent tests).

    Examples
    --------
    >>> sidak([0.01, 0.04, 0.03]).round(4).tolist()
    [0.0297, 0.1153, 0.0873]
    """
    return _on_finite(p_values, lambda p: -np.expm1(p.size * np.log1p(-p)))


def _method(method: str | None) -> str | None:
    key = method.lower() if isinstance(method, str) else method
    if key not in _ALIASES:
        raise ParameterError(f"unknown correction {method!r}; use 'holm', 'bh', 'bonferroni', 'sidak' or None")
    return _ALIASES[key]


def adjust_pvalues(p_values: Sequence[float], method: str | None = "holm") -> np.ndarray:
    """Adjusted p-values by method name (``None`` returns them unchanged)."""
    m = _method(method)
    if m is None:
        return np.asarray(p_values, dtype=float).copy()
    return {"holm": holm, "bh": benjamini_hochberg, "bonferroni": bonferroni, "sidak": sidak}[m](p_values)


def interval_alpha(alpha: float, family_size: int, method: str | None = "bonferroni", rejections: int = 0) -> float:
    """The per-interval ``α`` that makes a family's intervals agree with ``method``'s adjusted p.

    ``bonferroni`` and ``holm``: ``α/m`` (Holm has no simple interval, its Bonferroni intervals
    are the ones given); ``sidak``: ``1 − (1 − α)^{1/m}``; ``bh``: ``R·α/m`` with ``R`` the
    number of rejections (Benjamini–Yekutieli false-coverage-rate intervals; ``α/m`` when
    nothing was rejected); ``None``: ``α``.

    Examples
    --------
    >>> interval_alpha(0.05, 4), round(interval_alpha(0.05, 4, "sidak"), 6)
    (0.0125, 0.012741)
    """
    m = _method(method)
    if family_size < 1:
        raise ParameterError(f"family_size must be at least 1, got {family_size!r}")
    if m is None:
        return float(alpha)
    if m == "sidak":
        return float(-np.expm1(np.log1p(-alpha) / family_size))
    if m == "bh":
        return float(alpha * max(int(rejections), 1) / family_size)
    return float(alpha / family_size)


def adjusted_intervals(effect: Any, se: Any, dof: Any, alpha: float, family_size: int,
                       method: str | None = "bonferroni", alternative: str = "two-sided",
                       rejections: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous intervals ``effect ± q·se`` at the level :func:`interval_alpha` gives.

    ``alternative="greater"`` gives ``[effect − q₁₋α'·se, +∞)``, ``"less"`` the mirror.

    Examples
    --------
    >>> lo, hi = adjusted_intervals(1.0, 0.5, np.inf, 0.05, 2)      # z_{1−0.0125} = 2.2414
    >>> round(float(lo), 4), round(float(hi), 4)
    (-0.1207, 2.1207)
    """
    from scipy import stats as sps

    a = interval_alpha(alpha, family_size, method, rejections)
    d, s = np.asarray(effect, dtype=float), np.asarray(se, dtype=float)
    dof = np.broadcast_to(np.asarray(dof, dtype=float), np.broadcast(d, s).shape)
    tail = a / 2 if alternative == "two-sided" else a
    finite = np.where(np.isinf(dof), 1.0, dof)
    q = np.where(np.isinf(dof), sps.norm.isf(tail), sps.t.isf(tail, finite))
    low, high = d - q * s, d + q * s
    if alternative == "greater":
        high = np.full(np.shape(high), np.inf)
    elif alternative == "less":
        low = np.full(np.shape(low), -np.inf)
    elif alternative != "two-sided":
        raise ParameterError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    return low, high


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


def adjust_intervals_frame(result: pd.DataFrame, method: str | None, scope: str, alpha: float,
                           alternatives: Any = None, metric_col: str = "metric") -> pd.DataFrame:
    """Add ``adjusted_ci_low``/``adjusted_ci_high``: simultaneous intervals within each family.

    The families are those of :func:`adjust_frame`; the family size counts the rows with a
    p-value; with ``bh`` the number of rejections is that of ``p_value_adjusted < alpha``. Each
    row's interval follows its entry of ``alternatives`` (default all two-sided) and uses its
    ``abs_effect``, ``se`` and ``dof``.
    """
    out = result.copy()
    low, high = np.full(len(out), np.nan), np.full(len(out), np.nan)
    codes = np.zeros(len(out), dtype=int) if scope == "all" else pd.factorize(out[metric_col])[0]
    alternative = np.full(len(out), "two-sided", dtype=object) if alternatives is None else \
        np.asarray(alternatives, dtype=object)
    p = out["p_value"].to_numpy(dtype=float)
    p_adj = out["p_value_adjusted"].to_numpy(dtype=float) if "p_value_adjusted" in out else p
    for code in np.unique(codes):
        fam = codes == code
        size = max(int(np.sum(fam & ~np.isnan(p))), 1)
        rejections = int(np.sum(fam & (p_adj < alpha)))
        for alt in np.unique(alternative[fam]):
            idx = np.flatnonzero(fam & (alternative == alt))
            low[idx], high[idx] = adjusted_intervals(out["abs_effect"].to_numpy(dtype=float)[idx],
                                                     out["se"].to_numpy(dtype=float)[idx],
                                                     out["dof"].to_numpy(dtype=float)[idx], alpha, size, method,
                                                     str(alt), rejections)
    out["adjusted_ci_low"], out["adjusted_ci_high"] = low, high
    return out
