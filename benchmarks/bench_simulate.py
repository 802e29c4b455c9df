"""Simulator speed and memory: N customers (default 1,000,000) in memory, then written to Parquet.

    python benchmarks/bench_simulate.py --customers 1000000

Prints the simulation time, the Parquet write time, rows per table, the size on disk and the
peak resident memory of the process (the target: 1M customers in under 2 minutes, well under
8 GB). Not a test: timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from workbench.simulate import simulate_brand


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="keep the files here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t0 = time.perf_counter()
        brand = simulate_brand(args.customers, seed=args.seed)
        t1 = time.perf_counter()
        rss_sim = _peak_rss_mb()
        brand.write(out)
        t2 = time.perf_counter()
        size = sum(f.stat().st_size for f in out.iterdir())
    rows = sum(len(v) for v in brand.tables.values())
    for name, frame in sorted(brand.tables.items(), key=lambda kv: -len(kv[1])):
        print(f"  {name:<15} {len(frame):>12,} rows")
    print(f"simulate_brand: {args.customers:,} customers, {rows:,} rows in {len(brand.tables)} tables: "
          f"simulate {t1 - t0:.1f} s + write Parquet {t2 - t1:.1f} s = {t2 - t0:.1f} s; "
          f"{size / 2**20:,.0f} MB on disk; peak RSS {rss_sim:,.0f} MB after simulating, "
          f"{_peak_rss_mb():,.0f} MB after writing")


if __name__ == "__main__":
    main()
