"""Per-unit frame → per-group sums in one pass over each column (numpy, no per-metric groupby).

The per-unit frame of an experiment can hold ten million rows × twenty metrics. Grouping it
with pandas factorises the variant column again for every call and copies every derived
column. Here the group (variant, and cluster for cluster designs) is factorised once, the
rows are ordered by group once (a radix sort of small integer codes), and each column is
gathered in that order and reduced over the contiguous groups: sums, sums of squares and
cross products (pairwise summation for a handful of groups, as ``numpy.sum``), minimum and
maximum (the zero-variance check, and which columns can be 0/1). A non-finite value makes
its column's sums non-finite, which is how the caller learns that it must look for rows.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: up to this many groups the sums run per group slice (pairwise summation); beyond, ``reduceat``
_SLICED_GROUPS = 256


def group_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per row (−1 where missing) and the distinct values, in first-seen order."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _sort_dtype(n_keys: int) -> type:
    for dtype in (np.int8, np.int16, np.int32):
        if n_keys < np.iinfo(dtype).max:
            return dtype
    return np.int64


def unit_sums(keys: Sequence[np.ndarray], columns: Mapping[str, np.ndarray],
              products: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """Per-key counts, sums, sums of squares, extremes and cross products.

    One row per combination of ``keys`` (integer codes ``k0``, ``k1``…) with ``n`` and, per column ``c``:
    ``c_sum``, ``c_sum_squares``, ``c_min``, ``c_max``; per product ``(a, b)``: ``a_b_sum``.

    Rows with a missing key (code −1) are left out, as pandas' ``groupby`` does; groups
    without rows do not appear; rows are sorted by the keys.
    """
    sizes = [max(int(k.max()) + 1, 1) if len(k) else 1 for k in keys]
    key = np.zeros(len(keys[0]), np.int64)
    valid = np.ones(len(key), bool)
    for k, size in zip(keys, sizes, strict=False):
        key = key * size + np.maximum(k, 0)
        valid &= k >= 0
    key[~valid] = -1  # sorts first, then skipped
    order = np.argsort(key.astype(_sort_dtype(int(np.prod(sizes, dtype=float)))), kind="stable")
    sorted_key = key[order]
    first = int(np.searchsorted(sorted_key, 0))
    order, sorted_key = order[first:], sorted_key[first:]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if len(sorted_key) else \
        np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(sorted_key)].astype(np.int64)
    out: dict[str, np.ndarray] = {}
    rest = sorted_key[starts]
    for i in reversed(range(len(keys))):
        rest, out[f"k{i}"] = np.divmod(rest, sizes[i])
    out = {f"k{i}": out[f"k{i}"] for i in range(len(keys))}
    out["n"] = ends - starts
    identity = len(order) == len(key) and bool(np.all(order[1:] > order[:-1]))

    def ordered(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return x if identity else x[order]

    def sums(x: np.ndarray) -> np.ndarray:
        if not len(starts):
            return np.zeros(0)
        if len(starts) <= _SLICED_GROUPS:
            return np.array([x[a:b].sum() for a, b in zip(starts, ends, strict=False)])
        return np.add.reduceat(x, starts)

    for c, values in columns.items():
        x = ordered(values)
        out[f"{c}_sum"] = sums(x)
        out[f"{c}_sum_squares"] = sums(x * x)
        out[f"{c}_min"] = np.minimum.reduceat(x, starts) if len(starts) else np.zeros(0)
        out[f"{c}_max"] = np.maximum.reduceat(x, starts) if len(starts) else np.zeros(0)
    for a, b in products:
        out[f"{a}_{b}_sum"] = sums(ordered(columns[a]) * ordered(columns[b]))
    return pd.DataFrame(out)
