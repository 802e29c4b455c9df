"""The same engine transforms on DuckDB and on Spark (local mode), timed side by side.

Simulates a brand (default 1M customers; or reads one with ``--data``), opens it with
``workbench.open`` (DuckDB) and ``workbench.spark.open_spark`` (PySpark local mode, as
many cores as the machine has), runs each transform on both engines and prints the wall
time of each and whether the results agree. Spark on one machine is expected to be slower:
it exists for brands whose data already lives on a cluster; what this measures is that the
same code runs there, and at what fixed cost.

    python benchmarks/bench_spark.py --customers 1000000
    python benchmarks/bench_spark.py --data data/demo
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def transforms(as_of: pd.Timestamp) -> dict[str, Callable[[Any], Any]]:
    from workbench import metrics
    from workbench.attribution.buckets import value_buckets
    from workbench.attribution.channels import channel_roi
    from workbench.churn.spells import contact_spells
    from workbench.clv import rfm_summary
    from workbench.clv.pipeline import VALUE_TABLE, value_buyers
    from workbench.experiments.frame import experiment_statistics

    month = (as_of - pd.Timedelta(days=30), as_of)

    def clv(wb: Any) -> float:
        value_buyers(wb, as_of)
        return float(wb.scalar(f"SELECT SUM(clv) FROM {VALUE_TABLE}"))

    return {
        "contract validation (all tables)": lambda wb: wb.validate_all(),
        "acquisition by store, daily, one month": lambda wb: metrics.acquisition(wb, *month, grain="day", by="store"),
        "funnel, one month": lambda wb: metrics.funnel(wb, *month),
        "rfm_summary (per customer)": lambda wb: rfm_summary(wb, observation_end=as_of - pd.Timedelta(days=1)),
        "contact spells (customer-staff)": lambda wb: contact_spells(wb, as_of, level="customer_staff"),
        "value buckets, one month": lambda wb: value_buckets(wb, *month),
        "channel ROI, one month": lambda wb: channel_roi(wb, *month),
        "experiment statistics (EXP_CUST)": lambda wb: experiment_statistics(wb, "EXP_CUST"),
        "CLV pipeline (summary, fits, CLV table)": clv,
    }


def agree(a: Any, b: Any) -> str:
    if isinstance(a, pd.DataFrame):
        if a.shape != b.shape:
            return f"shapes differ {a.shape} / {b.shape}"
        num = [c for c in a.columns if pd.api.types.is_numeric_dtype(a[c])]
        keys = list(a.columns)
        x = a.sort_values(keys).reset_index(drop=True)
        y = b[keys].sort_values(keys).reset_index(drop=True)
        diff = 0.0
        for c in num:
            u, v = x[c].to_numpy(float), y[c].to_numpy(float)
            both = np.isfinite(u) & np.isfinite(v)
            if (np.isfinite(u) != np.isfinite(v)).any():
                return f"column {c}: missing values differ"
            if both.any():
                diff = max(diff, float(np.max(np.abs(u[both] - v[both]) / np.maximum(np.abs(u[both]), 1.0))))
        return f"same shape, max relative difference {diff:.1e}"
    if isinstance(a, float):
        return f"relative difference {abs(a - b) / max(abs(a), 1e-300):.1e}"
    return "same" if a == b else "differs"


def main() -> None:
    from workbench import open as open_workbench
    from workbench.simulate import simulate_brand
    from workbench.spark import local_session, open_spark

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, help="an existing brand directory instead of simulating one")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--driver-memory", default="8g", help="Spark driver memory (local mode runs in the driver)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            t0 = time.perf_counter()
            data = Path(tmp) / "brand"
            simulate_brand(args.customers, seed=args.seed, out=data)
            print(f"simulated {args.customers:,} customers in {time.perf_counter() - t0:.0f} s", flush=True)
        duck = open_workbench(data)
        as_of = duck.as_of or duck.data_end().normalize() + pd.Timedelta(days=1)
        duck = open_workbench(data, as_of=as_of)
        t0 = time.perf_counter()
        spark = local_session("workbench-bench", cores=os.cpu_count() or 2, driver_memory=args.driver_memory)
        spark.sparkContext.setLogLevel("ERROR")
        spark_wb = open_spark(data, as_of=as_of, spark=spark)
        print(f"Spark session and views: {time.perf_counter() - t0:.1f} s (local mode, {os.cpu_count()} cores)")
        print(f"{'transform':42s} {'DuckDB':>9s} {'Spark':>9s}  ratio  results")
        for name, fn in transforms(as_of).items():
            t = time.perf_counter()
            a = fn(duck)
            t_duck = time.perf_counter() - t
            t = time.perf_counter()
            b = fn(spark_wb)
            t_spark = time.perf_counter() - t
            print(f"{name:42s} {t_duck:8.2f}s {t_spark:8.2f}s {t_spark / t_duck:6.1f}  {agree(a, b)}", flush=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"peak RSS of the Python process {rss:.1f} GB (the Spark JVM is a separate process)")


if __name__ == "__main__":
    main()
