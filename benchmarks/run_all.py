"""Run every benchmark at a size that fits a laptop session; see BENCHMARKS.md for full-size commands."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
BRAND = str(Path(tempfile.gettempdir()) / "wb-brand" / "200000")  # simulated by bench_schedule, reused after
RUNS = [
    ["bench_identity.py", "--links", "1000000"],
    ["bench_simulate.py", "--customers", "200000"],
    ["bench_clv.py", "--customers", "1000000"],
    ["bench_experiments.py", "--units", "2000000", "--metrics", "20", "--no-parquet"],
    ["bench_cox.py", "--spells", "2000000", "--raw", "200000"],
    ["bench_markov.py", "--journeys", "1000000"],
    ["bench_scale.py", "--customers", "2000000"],
    ["bench_schedule.py", "--customers", "200000", "--data", BRAND, "--reuse"],
    ["bench_churn_scale.py", "--data", BRAND],
    ["bench_value_buckets.py", "--data", BRAND, "--peer"],
    ["bench_spark.py", "--data", BRAND],
]

if __name__ == "__main__":
    failed = 0
    for args in RUNS:
        print(f"$ python benchmarks/{' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]]).returncode != 0
    sys.exit(1 if failed else 0)
