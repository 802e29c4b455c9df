"""Per-unit frame → per-variant sums in one multi-threaded pass (DuckDB over zero-copy Arrow).

The per-unit frame of an experiment can hold ten million rows × twenty metrics. Grouping it
with pandas costs a factorisation of the variant column per call and a copy of every
derived column; here the variant (and cluster) is factorised once, the metric columns are
handed to DuckDB as Arrow arrays without a copy, and one ``GROUP BY`` returns everything
the analysis needs: the counts, sums, sums of squares and cross products, and per column
its minimum and maximum (zero-variance check, and which columns can be 0/1) — so the rows
are read once. A non-finite value makes its column's sums non-finite, which is how the
caller learns that it must look for bad rows.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa


def group_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per row (−1 where missing) and the distinct values, in first-seen order."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def unit_sums(keys: Sequence[np.ndarray], columns: Mapping[str, np.ndarray],
              products: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """One row per combination of ``keys`` (integer codes ``k0``, ``k1``…) with ``n`` and, per column ``c``:
    ``c_sum``, ``c_sum_squares``, ``c_min``, ``c_max``; per
    product ``(a, b)``: ``a_b_sum``. Rows with a missing key (code −1) are left out, as
    pandas' ``groupby`` does; rows are sorted by the keys.
    """
    arrays: dict[str, pa.Array] = {f"k{i}": pa.array(np.ascontiguousarray(k)) for i, k in enumerate(keys)}
    alias = {c: f"c{i}" for i, c in enumerate(columns)}
    for c, a in alias.items():
        arrays[a] = pa.array(np.ascontiguousarray(columns[c], dtype=float))
    exprs = ["COUNT(*) AS n"]
    for c, a in alias.items():
        exprs += [f"SUM({a}) AS {a}_sum", f"SUM({a} * {a}) AS {a}_sum_squares", f"MIN({a}) AS {a}_min",
                  f"MAX({a}) AS {a}_max"]
    exprs += [f"SUM({alias[x]} * {alias[y]}) AS p{i}" for i, (x, y) in enumerate(products)]
    key_cols = ", ".join(f"k{i}" for i in range(len(keys)))
    con = duckdb.connect()
    try:
        con.register("units", pa.table(arrays))
        present = " AND ".join(f"k{i} >= 0" for i in range(len(keys))) or "TRUE"
        out = con.execute(f"SELECT {key_cols}, {', '.join(exprs)} FROM units WHERE {present} "
                          f"GROUP BY {key_cols} ORDER BY {key_cols}").df()
    finally:
        con.close()
    names = {f"{a}_{stat}": f"{c}_{stat}" for c, a in alias.items()
             for stat in ("sum", "sum_squares", "min", "max")}
    names.update({f"p{i}": f"{x}_{y}_sum" for i, (x, y) in enumerate(products)})
    return out.rename(columns=names)
