"""A 20-million-customer brand on one machine: the CLV pipeline out of core.

1. Generates ``orders`` for N customers (default 20,000,000) from a BG/NBD process, one
   Parquet file per chunk of 1M customers, so generation itself stays within memory.
2. Times the pipeline of :mod:`workbench.clv.pipeline`, everything per customer in the
   engine: the per-customer summary over the contract ``orders`` (DuckDB, spilling to disk
   past ``--memory-limit``) → distinct (frequency, recency, age) rows with counts → BG/NBD +
   Gamma-Gamma fits on those → 12-month CLV for every customer as an engine table, written
   to Parquet. Prints wall time per step and the process's peak RSS.
3. Times the engine's floor on the same data in the same run: one grouped scan of ``orders``
   by customer (COUNT, MIN, MAX, SUM of amount) kept as an engine table, as the pipeline keeps
   its summary; once before and once after the pipeline (the first read of the files pays
   the page cache). Prints the pipeline's ratio to the floor, in wall time and in the process's CPU
   time (user + system over all engine threads: less sensitive to other work on a shared machine),
   and the load average before and after.

    python benchmarks/bench_scale.py --customers 20000000 --out /path/with/space
    python benchmarks/bench_scale.py --out /path/with/space --reuse   # orders already generated
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.simulate import repeat_purchases


def generate(out: Path, n_customers: int, chunk: int = 1_000_000, seed: int = 0) -> int:
    """Write ``out/orders/part-*.parquet``; returns the number of orders."""
    (out / "orders").mkdir(parents=True, exist_ok=True)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    span_weeks = 104.0
    total = 0
    for k, lo in enumerate(range(0, n_customers, chunk)):
        rng = np.random.default_rng(seed + k)
        n = min(chunk, n_customers - lo)
        birth = rng.random(n) * span_weeks * 0.5  # first purchase within the first year
        T = span_weeks - birth
        lam = rng.gamma(0.9, 1 / 8.0, n)
        drop = rng.beta(0.4, 4.0, n)
        repeat, weeks_after = repeat_purchases(rng, T, lam, drop)
        cust = np.concatenate([np.arange(n), repeat])
        weeks = np.concatenate([birth, birth[repeat] + weeks_after])
        nu = rng.gamma(4.0, 1 / 150.0, n)
        amount = np.round(rng.gamma(6.0, 1 / nu[cust]), 2)
        ids = np.char.add("C", np.char.zfill((cust + lo + 1).astype(str), 9))
        table = pa.table({
            "order_id": pa.array(np.char.add("O", np.char.zfill((np.arange(len(cust)) + total).astype(str), 11))),
            "customer_id": pa.array(ids),
            "order_time": pa.array(start + (weeks * 7 * 86400).astype("timedelta64[s]"), pa.timestamp("us")),
            "amount": pa.array(amount),
            "order_channel": pa.array(np.full(len(cust), "pos")),
        })
        pq.write_table(table, out / "orders" / f"part-{k:04d}.parquet")
        total += len(cust)
    return total


def floor_scan(wb) -> tuple[float, float, int]:
    """Wall and CPU seconds for the engine's floor under the CLV summary, and the customers it found.

    One grouped scan of ``orders`` by customer (COUNT, MIN, MAX, SUM), kept as an engine
    table as the pipeline keeps its per-customer summary: no per-day collapse, no model.
    """
    t, c = time.perf_counter(), time.process_time()
    wb.materialize("__clv_floor", "SELECT customer_id, COUNT(*) AS n_orders, MIN(order_time) AS first_order, "
                                  "MAX(order_time) AS last_order, SUM(amount) AS total FROM orders "
                                  "GROUP BY customer_id")
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    n = int(wb.scalar("SELECT COUNT(*) FROM __clv_floor"))
    wb.con.execute("DROP TABLE __clv_floor")
    return seconds, cpu, n


class Steps:
    """Wall and CPU seconds of named steps."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, name: str, run, *args, **kwargs):
        """Run ``run(*args, **kwargs)`` as step ``name``; returns its result."""
        t, c = time.perf_counter(), time.process_time()
        out = run(*args, **kwargs)
        self.wall[name], self.cpu[name] = time.perf_counter() - t, time.process_time() - c
        return out


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    from workbench import open as open_workbench
    from workbench.clv.pipeline import (
        VALUE_TABLE,
        _summary_plan,
        buyer_rows,
        fit_value_models,
        summarise_buyers,
        value_customers,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000_000)
    parser.add_argument("--out", default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--memory-limit", default="5GB", help="DuckDB memory limit; beyond it, it spills to disk")
    parser.add_argument("--reuse", action="store_true", help="keep orders already generated in --out")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="wb-scale-"))
    t0 = time.perf_counter()
    if args.reuse and (out / "orders").is_dir():
        n_orders = None
    else:
        n_orders = generate(out, args.customers)
    t1 = time.perf_counter()
    size = sum(p.stat().st_size for p in (out / "orders").glob("*.parquet")) / 1e9
    if n_orders is not None:
        print(f"generated {args.customers:,} customers, {n_orders:,} orders ({size:.1f} GB Parquet) in "
              f"{t1 - t0:.0f} s", flush=True)
    wb = open_workbench(out, as_of="2026-01-01", validate=False, memory_limit=args.memory_limit)
    wb.con.execute(f"SET temp_directory = '{out / 'spill'}'")
    print(f"load average {load()}", flush=True)
    dialect, parts = _summary_plan(wb, "orders")
    print(f"buyer summary: {'the one aggregate' if dialect == 'duckdb' else 'the portable two-level SQL'}"
          f"{f' in {parts} customer-hash parts' if parts > 1 else ''} at this memory limit", flush=True)
    floors = [floor_scan(wb)]
    steps = Steps()
    n_buyers = steps.time("per-customer summary (engine)", summarise_buyers, wb, "2026-01-01")
    rows = steps.time("collapse to distinct rows (engine)", buyer_rows, wb)
    bg, gg = steps.time("BG/NBD + Gamma-Gamma fits", fit_value_models, wb, rows=rows)
    steps.time("CLV for every customer (engine table)", value_customers, wb, bg, gg)
    steps.time("write customer_clv.parquet", wb.con.execute,
               f"COPY {VALUE_TABLE} TO '{out / 'customer_clv.parquet'}' (FORMAT parquet)")
    total_clv = wb.scalar(f"SELECT SUM(clv) FROM {VALUE_TABLE}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    for k, v in steps.wall.items():
        print(f"  {k}: {v:.1f} s (CPU {steps.cpu[k]:.1f} s)", flush=True)
    print(f"pipeline {sum(steps.wall.values()):.0f} s for {n_buyers:,} buyers ({len(rows):,} distinct rows); "
          f"peak RSS {rss:.2f} GB; total CLV {total_clv:,.0f}")
    print("BG/NBD", bg.params_.round(4).to_dict(), "GG", gg.params_.round(4).to_dict())
    floors.append(floor_scan(wb))
    floor, floor_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
    pipeline = sum(v for k, v in steps.wall.items() if not k.startswith("write"))
    pipeline_cpu = sum(v for k, v in steps.cpu.items() if not k.startswith("write"))
    print(f"floor: one grouped scan of orders by customer (COUNT, MIN, MAX, SUM) into an engine table: "
          f"{', '.join(f'{f[0]:.1f}' for f in floors)} s, CPU {', '.join(f'{f[1]:.1f}' for f in floors)} s "
          f"({floors[0][2]:,} customers); CLV pipeline to the CLV table {pipeline:.1f} s = {pipeline / floor:.2f}x "
          f"the floor ({sum(steps.wall.values()) / floor:.2f}x with the Parquet write); CPU {pipeline_cpu:.1f} s = "
          f"{pipeline_cpu / floor_cpu:.2f}x the floor's; load average {load()}", flush=True)
    wb.close()  # one engine at a time: each DuckDB database has its own memory limit
    t6 = time.perf_counter()
    wb_valid = open_workbench(out, as_of="2026-01-01", memory_limit=args.memory_limit)
    wb_valid.con.execute(f"SET temp_directory = '{out / 'spill'}'")
    wb_valid.validate("orders")
    print(f"contract validation of orders (types, nulls, enums, duplicate order ids): {time.perf_counter() - t6:.0f} s")
    if not args.keep and args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
