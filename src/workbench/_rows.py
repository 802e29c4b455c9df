"""Integer codes for levels and the collapse of identical rows to weighted distinct rows.

Every likelihood in the package (the CLV fitters, the collapsed Cox model) and the
engine-side pipelines evaluate their terms once per distinct row, weighted by how many
rows it stands for. This module is the one home of that machinery:

* :func:`level_codes` — codes into the sorted levels of one float column (grid arithmetic
  for whole numbers and whole days in weeks, hashing otherwise);
* :func:`collapse_indexed` / :func:`collapse` — distinct rows of several float columns with
  summed weights (and each column's level codes, so a likelihood can gather per-level terms);
* :func:`column_codes` / :func:`collapse_rows` — the same for a DataFrame of mixed dtypes,
  missing values kept as a level (Cox spells);
* :func:`first_of_groups` — group index of every row and each group's first row, in order of
  first appearance (per-group work done once, then gathered back).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def level_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes into sorted levels covering ``values``: ``values == levels[codes]`` exactly.

    Columns of whole numbers, or of whole days expressed in weeks (``days / 7``, as
    :func:`~workbench.clv.rfm_summary` writes them), are coded by arithmetic on their grid
    — a few vector operations instead of a hash table — once the grid is checked to
    reproduce every value bit for bit; their levels are then the whole grid from the
    smallest to the largest value (levels absent from the column may appear: a table over
    them costs little). Anything else is factorised by hashing into its distinct values.
    """
    if len(values):
        for scale in (1.0, 7.0):
            head = values[:256]  # a quick look first, so continuous columns go straight to hashing
            if not np.array_equal(np.rint(head * scale) / scale, head):
                continue
            steps = values * scale
            np.rint(steps, out=steps)  # in place: on a million rows every pass counts
            low, high = float(steps.min()), float(steps.max())
            if high - low <= max(4 * len(values), 1 << 16) and (
                    np.array_equal(steps, values) if scale == 1.0 else np.array_equal(steps / scale, values)):
                steps -= low
                return steps.astype(np.intp), np.arange(low, high + 1) / scale
    codes, levels = pd.factorize(values, sort=True)
    return codes.astype(np.intp, copy=False), np.asarray(levels, float)


def collapse_indexed(columns: dict[str, np.ndarray], weights: np.ndarray | None
                     ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """De-duplicate identical rows, summing their weights; also return each column's level codes.

    Returns the unique rows (sorted by the columns in order), their weights (zero-weight rows
    dropped) and, per column, ``(codes, levels)`` with ``rows[c] == levels[codes]``, so a
    likelihood can evaluate a column's terms once per level and gather them.

    Each column is coded (:func:`level_codes`) and the codes are combined into one integer
    key. Rows that arrive already unique and sorted (as :func:`~workbench.clv.collapse_rfm`
    returns them) are kept as they are; otherwise the key is sorted (no weights), counted
    with ``np.bincount`` (weights, small key range) or factorised — each several times
    faster than a pandas ``groupby`` on a million rows.
    """
    names = list(columns)
    coded = {c: level_codes(np.asarray(columns[c], float)) for c in names}
    n = len(coded[names[0]][0])
    w_in = None if weights is None else np.asarray(weights, float)
    key = coded[names[0]][0].astype(np.int64)  # a copy: updated in place below
    size, decodable = len(coded[names[0]][1]), True
    for c in names[1:]:
        width = len(coded[c][1])
        if size * width >= 1 << 62:  # only with millions of levels per column: re-densify the key
            key, uniq = pd.factorize(key, sort=True)
            key, size, decodable = key.astype(np.int64), len(uniq), False
        key *= width
        key += coded[c][0]
        size *= width
    ukeys = None
    if n < 2 or bool(np.all(key[1:] > key[:-1])):
        out_codes = {c: coded[c][0] for c in names}
        w = np.ones(n) if w_in is None else w_in
    elif decodable and w_in is None:
        sorted_key = np.sort(key)  # SIMD sort of int64: faster than counting or hashing
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        ukeys, w = sorted_key[starts], np.diff(np.r_[starts, n]).astype(float)
    elif decodable and size <= min(32 * n + (1 << 20), 1 << 23):  # small key range: counting beats hashing
        counts = np.bincount(key, minlength=size)
        ukeys = np.flatnonzero(counts)
        w = np.bincount(key, w_in, minlength=size)[ukeys]
    else:
        group, uniq = pd.factorize(key, sort=True)
        first = np.empty(len(uniq), np.intp)
        first[group[::-1]] = np.arange(n - 1, -1, -1)  # first row of each group
        w = np.bincount(group, w_in, minlength=len(uniq)).astype(float)
        out_codes = {c: coded[c][0][first] for c in names}
    if ukeys is not None:
        out_codes, rest = {}, ukeys
        for c in reversed(names):
            rest, out_codes[c] = np.divmod(rest, len(coded[c][1]))
    keep = w > 0
    if not keep.all():
        w = w[keep]
        out_codes = {c: v[keep] for c, v in out_codes.items()}
    levels = {c: (out_codes[c].astype(np.intp, copy=False), coded[c][1]) for c in names}
    return {c: coded[c][1][out_codes[c]] for c in names}, w, levels


def collapse(columns: dict[str, np.ndarray], weights: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """De-duplicate identical rows, summing their weights (likelihoods only see unique rows)."""
    cols, w, _ = collapse_indexed(columns, weights)
    return cols, w


def column_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes 0..k−1 of a column and the k values they stand for, in sorted order.

    Small-range integers, booleans and whole-number floats (durations in days) are offset,
    not hashed (the common case for levels, flags and durations, and ~10× faster); anything
    else goes through ``pd.factorize``. Missing values get
    the last code.
    """
    v = values.to_numpy()
    if v.dtype.kind in "biu" and len(v):
        lo, hi = int(v.min()), int(v.max())
        if hi - lo < (1 << 20):
            levels = pd.Index(np.arange(lo, hi + 1).astype(v.dtype))
            return v.astype(np.int64) - lo, levels
    if v.dtype.kind == "f" and len(v) and np.isfinite(v).all():  # e.g. whole-day durations: coded on their grid
        codes, levels = level_codes(v.astype(float, copy=False))
        return codes.astype(np.int64), pd.Index(levels.astype(v.dtype))
    codes, uniques = pd.factorize(values, sort=True)
    codes = codes.astype(np.int64)
    if (codes < 0).any():  # missing values form a level of their own, as in GROUP BY
        codes[codes < 0] = len(uniques)
        # built in one go, so the levels' dtype is inferred as before (Index.insert no longer infers it)
        uniques = pd.Index([*uniques, np.nan])
    return codes, pd.Index(uniques)


def collapse_rows(frame: pd.DataFrame, keys: Sequence[str], weights: np.ndarray | None = None) -> pd.DataFrame:
    """Unique rows of ``keys`` with their count (or summed ``weights``) as ``weight``, sorted by ``keys``.

    Each column becomes integer codes, the codes are combined into one int64 key (mixed
    radix, so sorting the key sorts the rows), and the key is counted with ``np.bincount``
    when the key space is small, else ``np.unique``: no hashing of row tuples, no Python
    objects per row. Five million spells with categorical covariates and whole-day
    durations collapse in well under a second.

    Parameters
    ----------
    frame : DataFrame
        Raw rows (spells).
    keys : sequence of str
        Columns that define a unique row.
    weights : ndarray, optional
        Frequency weights of already collapsed rows (for example counts from the engine):
        rows that become identical add their weights.

    Returns
    -------
    DataFrame
        One row per distinct combination present: the ``keys`` columns (original values and
        dtypes, missing values kept as a level) and an int64 ``weight``.
    """
    keys = list(keys)
    parts = [column_codes(frame[k]) for k in keys]
    sizes = [max(len(levels), 1) for _, levels in parts]
    if float(np.prod(np.asarray(sizes, float))) >= 2.0**62:
        raise ValueError("too many distinct key combinations to pack into one int64 key")
    key = np.zeros(len(frame), np.int64)
    for (codes, _), size in zip(parts, sizes, strict=False):
        key *= size
        key += codes
    space = int(np.prod(np.asarray(sizes, np.int64)))
    if space <= max(4 * len(frame), 1 << 22):
        counts = np.bincount(key, minlength=space)
        present = np.flatnonzero(counts)
        weight = counts[present] if weights is None else np.bincount(key, weights, space)[present]
    elif weights is None:
        present, weight = np.unique(key, return_counts=True)
    else:
        present, inverse = np.unique(key, return_inverse=True)
        weight = np.bincount(inverse, weights, len(present))
    columns: dict[str, np.ndarray] = {}
    rest = present
    for k, size, (_, levels) in zip(keys[::-1], sizes[::-1], parts[::-1], strict=False):
        columns[k] = levels.take(rest % size)
        rest = rest // size
    result = pd.DataFrame({k: np.asarray(columns[k]) for k in keys})
    for k in keys:
        if result[k].dtype != frame[k].dtype:
            result[k] = result[k].astype(frame[k].dtype)
    integral = weights is None or np.issubdtype(np.asarray(weights).dtype, np.integer)
    result["weight"] = weight.astype(np.int64) if integral else weight
    return result


def first_of_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group index of every row and the first row of each group (hash-based, no sort).

    Groups are numbered in order of first appearance, so ``first`` is increasing.
    """
    codes, uniques = pd.factorize(keys)
    first = np.full(len(uniques), len(keys), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(keys)))
    return codes, first


def distinct_rows(columns: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of float columns, sorted by the columns in order, with counts and each row's distinct row.

    Returns ``(rows, counts, inverse)`` with ``columns[c] == rows[c][inverse]``: evaluate
    something once per distinct row, then gather it back with ``inverse``.

    Examples
    --------
    >>> rows, counts, inverse = distinct_rows({"x": np.array([2.0, 1.0, 2.0]), "m": np.array([5.0, 3.0, 5.0])})
    >>> rows["x"].tolist(), counts.tolist(), inverse.tolist()
    ([1.0, 2.0], [1, 2], [1, 0, 1])
    """
    names = list(columns)
    coded = [level_codes(np.asarray(columns[c], float)) for c in names]
    key = np.zeros(len(coded[0][0]), np.int64)
    size = 1
    for codes, levels in coded:
        if size * max(len(levels), 1) >= 1 << 62:  # only with millions of levels per column: re-densify
            key = np.unique(key, return_inverse=True)[1].astype(np.int64).ravel()
            size = int(key.max()) + 1 if len(key) else 1
        key = key * len(levels) + codes
        size *= max(len(levels), 1)
    present, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    first = np.empty(len(present), np.intp)
    first[inverse.ravel()[::-1]] = np.arange(len(key) - 1, -1, -1)  # first row of each distinct row
    rows = {c: np.asarray(columns[c], float)[first] for c in names}
    return rows, counts, inverse.ravel().astype(np.intp)
