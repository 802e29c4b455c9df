"""Simulator speed: N customers (default 1,000,000) in memory and written to Parquet.

    python benchmarks/bench_simulate.py --customers 1000000
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

from workbench.simulate import simulate_brand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        brand = simulate_brand(args.customers, seed=args.seed)
        t1 = time.perf_counter()
        brand.write(out)
        t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = sum(len(v) for v in brand.tables.values())
    print(f"simulate_brand: {args.customers:,} customers, {rows:,} rows in {len(brand.tables)} tables: "
          f"simulate {t1 - t0:.1f} s + write Parquet {t2 - t1:.1f} s = {t2 - t0:.1f} s, peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
