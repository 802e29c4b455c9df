"""The daily schedule of reports on a big simulated brand, as a user runs it.

1. Simulates a brand of ``--customers`` N in chunks (``workbench simulate --chunk-customers``),
   so generation stays at one chunk's memory whatever N is; skipped with ``--reuse`` when
   ``DATA/truth.json`` already describes N customers.
2. Runs ``workbench run schedules/daily.yml --data DATA --out REPORTS`` (12 reports: five
   notebooks in zh and en, the experiment report twice) in a subprocess.

For each step it records wall time and the peak resident memory of the whole process tree
(the CLI, papermill and every notebook kernel), sampled every ``--poll`` seconds with
psutil (sum of RSS over the tree), and ``ru_maxrss`` of the largest single child from
``getrusage(RUSAGE_CHILDREN)``. Per-report wall times come from ``REPORTS/runs.json``
(``started`` / ``finished``, one-second resolution). Results are printed and written as
JSON (``--json``).

    python benchmarks/bench_schedule.py --customers 1000000
    python benchmarks/bench_schedule.py --customers 20000000 --data DIR --reuse
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
WORKBENCH = str(Path(sys.executable).with_name("workbench"))


class TreeMemory:
    """Peak summed RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every, self.peak, self.peak_single = pid, every, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                self.peak_single = max(self.peak_single, rss)
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run(cmd: list[str], poll: float, log: Path) -> dict:
    """Run ``cmd`` with stdout/stderr to ``log``; wall time, exit code and peak memory."""
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        mem = TreeMemory(proc.pid, poll)
        rc = proc.wait()
        mem.stop()
    wall = time.perf_counter() - t0
    maxrss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"cmd": cmd, "exit_code": rc, "wall_s": round(wall, 1), "peak_tree_rss_gb": round(mem.peak / 1e9, 2),
            "peak_process_rss_gb": round(mem.peak_single / 1e9, 2),
            "ru_maxrss_children_gb": round(maxrss_children / 1e9, 2), "log": str(log)}


def report_times(reports: Path, since: str) -> list[dict]:
    """Per-report wall times of the runs recorded in ``runs.json`` since ``since`` (ISO)."""
    path = reports / "runs.json"
    if not path.exists():
        return []
    rows = []
    for r in json.loads(path.read_text(encoding="utf-8")):
        if r.get("started", "") < since or not r.get("finished"):
            continue
        secs = (dt.datetime.fromisoformat(r["finished"]) - dt.datetime.fromisoformat(r["started"])).total_seconds()
        stem = f"{r['name']}-{r['label']}" if r.get("label") else r["name"]
        rows.append({"report": f"{stem}.{r['lang']}", "status": r["status"], "wall_s": secs,
                     "error": r.get("error")})
    return rows


def disk_gb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e9, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--chunk-customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None, help="brand directory (default <temp dir>/wb-brand/<N>)")
    ap.add_argument("--reports", type=Path, default=None, help="report directory (default <data>-reports)")
    ap.add_argument("--schedule", default="schedules/daily.yml")
    ap.add_argument("--reuse", action="store_true", help="keep an existing brand of the same size")
    ap.add_argument("--no-schedule", action="store_true", help="simulate only")
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between memory samples")
    ap.add_argument("--json", type=Path, default=None, help="write results here (default <reports>/bench.json)")
    args = ap.parse_args()

    data = args.data or Path(tempfile.gettempdir()) / "wb-brand" / str(args.customers)
    reports = args.reports or data.with_name(data.name + "-reports")
    result: dict = {"customers": args.customers, "chunk_customers": args.chunk_customers, "data": str(data),
                    "reports": str(reports), "cpus": os.cpu_count(),
                    "ram_gb": round(psutil.virtual_memory().total / 1e9, 1)}
    truth_path = data / "truth.json"
    reuse = args.reuse and truth_path.exists() and \
        json.loads(truth_path.read_text(encoding="utf-8"))["n_customers"] == args.customers
    logs = reports.with_name(reports.name + "-logs")
    logs.mkdir(parents=True, exist_ok=True)
    if not reuse:
        if data.exists():
            shutil.rmtree(data)
        result["simulate"] = run([WORKBENCH, "simulate", "--customers", str(args.customers), "--seed", str(args.seed),
                                  "--chunk-customers", str(args.chunk_customers), "--out", str(data)],
                                 args.poll, logs / "simulate.log")
        print(json.dumps(result["simulate"]), flush=True)
        if result["simulate"]["exit_code"]:
            sys.exit(f"simulation failed: see {logs / 'simulate.log'}")
    result["data_gb"] = disk_gb(data)
    result["counts"] = json.loads(truth_path.read_text(encoding="utf-8"))["counts"]

    if not args.no_schedule:
        since = dt.datetime.now().isoformat(timespec="seconds")
        result["schedule"] = run([WORKBENCH, "run", args.schedule, "--data", str(data), "--out", str(reports)],
                                 args.poll, logs / "schedule.log")
        result["reports"] = report_times(reports, since)
        print(f"\n{'report':<34} {'status':<7} {'wall s':>8}")
        for r in result["reports"]:
            print(f"{r['report']:<34} {r['status']:<7} {r['wall_s']:>8.0f}  {r['error'] or ''}")
        s = result["schedule"]
        print(f"schedule: {s['wall_s']:.0f} s, peak tree RSS {s['peak_tree_rss_gb']} GB "
              f"(largest process {s['peak_process_rss_gb']} GB), exit {s['exit_code']}")
    out = args.json or reports.with_name(reports.name + "-bench.json")
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
