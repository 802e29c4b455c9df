"""Experiment analysis at scale: one DuckDB GROUP BY + analyze_statistics vs pandas + scipy.

    python benchmarks/bench_experiments.py --units 10000000 --metrics 20

Builds a per-unit frame (units x metrics, two variants; a few 0/1 metrics, counts and
skewed GMV-like values), then times

1. the workbench paths: ``analyze(frame, ...)`` on the in-memory frame (one multi-threaded
   pass over the columns, all input checks included), and one ``GROUP BY variant`` in
   DuckDB producing the sufficient statistics (``n``, ``{m}_sum``, ``{m}_sum_squares``),
   then ``analyze_statistics`` — what the engine does where the data lives;
2. the usual notebook path: ``pandas.groupby(...).agg(mean, var, count)`` and
   ``scipy.stats.ttest_ind_from_stats`` per metric, and the fully naive one,
   ``scipy.stats.ttest_ind`` on the raw arrays per metric.

It prints the timings and the largest p-value difference between the paths (Welch
metrics against scipy; 0/1 metrics against the pooled two-proportion z test). With
``--parquet`` (default) it also times both paths starting from a Parquet file, as in
production where the per-unit data lives in files or a warehouse: DuckDB aggregates the
file directly, pandas must first load every row.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy import stats as sps

from workbench.experiments import analyze, analyze_statistics


def build_units(n_units: int, n_metrics: int, seed: int) -> tuple[pd.DataFrame, list[str], list[str]]:
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {"variant": np.where(rng.random(n_units) < 0.5, "control", "treatment")}
    treat = data["variant"] == "treatment"
    binary, other = [], []
    for k in range(n_metrics):
        name = f"m{k:02d}"
        kind = k % 5
        if kind == 0:  # conversion-like 0/1
            data[name] = (rng.random(n_units) < 0.08 + 0.004 * treat).astype(np.float64)
            binary.append(name)
        elif kind in (1, 2):  # orders-like counts
            data[name] = rng.poisson(0.3 + 0.01 * treat).astype(np.float64)
            other.append(name)
        else:  # GMV-like, mostly zero and skewed
            buy = rng.random(n_units) < 0.1
            data[name] = np.where(buy, rng.gamma(2.0, 150.0, n_units), 0.0)
            other.append(name)
    return pd.DataFrame(data), binary, other


def duckdb_path(con: duckdb.DuckDBPyConnection, metrics: list[str]) -> tuple[pd.DataFrame, float, float, pd.DataFrame]:
    cols = ", ".join(f"SUM({m}) AS {m}_sum, SUM({m} * {m}) AS {m}_sum_squares" for m in metrics)
    t0 = time.perf_counter()
    sums = con.execute(f"SELECT variant, COUNT(*) AS n, {cols} FROM units GROUP BY variant ORDER BY variant").df()
    t1 = time.perf_counter()
    result = analyze_statistics(sums, "control", metrics=metrics, correction="holm").table
    t2 = time.perf_counter()
    return result, t1 - t0, t2 - t1, sums


def pandas_scipy_path(df: pd.DataFrame, metrics: list[str]) -> tuple[dict[str, float], float]:
    t0 = time.perf_counter()
    agg = df.groupby("variant", observed=True)[metrics].agg(["mean", "var", "count"])
    p = {}
    for m in metrics:
        c, t = agg.loc["control", m], agg.loc["treatment", m]
        p[m] = sps.ttest_ind_from_stats(t["mean"], np.sqrt(t["var"]), t["count"], c["mean"], np.sqrt(c["var"]),
                                        c["count"], equal_var=False).pvalue
    return p, time.perf_counter() - t0


def naive_scipy_path(df: pd.DataFrame, metrics: list[str]) -> float:
    t0 = time.perf_counter()
    mask = (df["variant"] == "treatment").to_numpy()
    for m in metrics:
        x = df[m].to_numpy()
        sps.ttest_ind(x[mask], x[~mask], equal_var=False)
    return time.perf_counter() - t0


def pooled_z_p(sums: pd.DataFrame, m: str) -> float:
    s = sums.set_index("variant")
    x, n = s[f"{m}_sum"].to_numpy(), s["n"].to_numpy(dtype=float)
    p = x.sum() / n.sum()
    z = (x[1] / n[1] - x[0] / n[0]) / np.sqrt(p * (1 - p) * (1 / n[0] + 1 / n[1]))
    return float(2 * sps.norm.sf(abs(z)))


def parquet_paths(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, metrics: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "units.parquet"
        t0 = time.perf_counter()
        df.to_parquet(path, index=False)
        print(f"from Parquet ({path.stat().st_size / 2**20:,.0f} MB written in {time.perf_counter() - t0:.1f} s):")
        cols = ", ".join(f"SUM({m}) AS {m}_sum, SUM({m} * {m}) AS {m}_sum_squares" for m in metrics)
        t0 = time.perf_counter()
        sums = con.execute(f"SELECT variant, COUNT(*) AS n, {cols} FROM read_parquet('{path}') "
                           "GROUP BY variant ORDER BY variant").df()
        analyze_statistics(sums, "control", metrics=metrics)
        t1 = time.perf_counter()
        print(f"  workbench: DuckDB GROUP BY on the file + analyze_statistics: {t1 - t0:.2f} s")
        t0 = time.perf_counter()
        loaded = pd.read_parquet(path)
        t1 = time.perf_counter()
        _, t_stats = pandas_scipy_path(loaded, metrics)
        print(f"  pandas: read_parquet {t1 - t0:.2f} s + groupby/scipy {t_stats:.2f} s = {t1 - t0 + t_stats:.2f} s")
        del loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=10_000_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-naive", action="store_true", help="skip the raw-array scipy.ttest_ind path")
    parser.add_argument("--no-parquet", dest="parquet", action="store_false",
                        help="skip the timings that start from a Parquet file")
    args = parser.parse_args()

    t0 = time.perf_counter()
    df, binary, other = build_units(args.units, args.metrics, args.seed)
    metrics = binary + other
    metrics.sort()
    print(f"built {args.units:,} units x {args.metrics} metrics ({len(binary)} binary) in "
          f"{time.perf_counter() - t0:.1f} s, {df.memory_usage(deep=False).sum() / 2**20:,.0f} MB")

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.register("units", df)
    result, t_group, t_analyze, sums = duckdb_path(con, metrics)
    print(f"workbench: DuckDB GROUP BY {t_group:.2f} s + analyze_statistics {t_analyze * 1000:.1f} ms "
          f"= {t_group + t_analyze:.2f} s  ({len(result)} result rows)")

    t0 = time.perf_counter()
    analyze(df, "variant", metrics, control="control", correction="holm")
    t_analyze_frame = time.perf_counter() - t0
    print(f"workbench: analyze() on the in-memory frame (checks included): {t_analyze_frame:.2f} s")

    p_ref, t_pandas = pandas_scipy_path(df, metrics)
    print(f"pandas groupby + scipy.ttest_ind_from_stats: {t_pandas:.2f} s")
    if not args.skip_naive:
        print(f"scipy.ttest_ind on raw arrays, per metric:   {naive_scipy_path(df, metrics):.2f} s")

    ours = result.set_index("metric")["p_value"]
    welch = max(abs(ours[m] - p_ref[m]) for m in other) if other else float("nan")
    prop = max(abs(ours[m] - pooled_z_p(sums, m)) for m in binary) if binary else float("nan")
    print(f"max |p difference|: Welch metrics vs scipy {welch:.2e}; 0/1 metrics vs pooled z {prop:.2e}")
    print(f"in-memory frame, pandas+scipy time / workbench time: {t_pandas / (t_group + t_analyze):.2f} (GROUP BY + "
          f"analyze_statistics), {t_pandas / t_analyze_frame:.2f} (analyze)")
    if args.parquet:
        parquet_paths(con, df, metrics)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
