"""The derived layer and the parallel batch on a simulated brand, as an operator runs them.

On a brand already simulated in ``--data`` (``workbench simulate --chunk-customers``), with D the
day after the data ends (the reports' default as-of):

1. ``workbench build --as-of D-1 --full``: the full build of the layer;
2. ``workbench build --as-of D``: the incremental build for one new day (the layer of D-1 exists);
3. ``workbench run SCHEDULE --as-of D``: the batch, which finds the layer current and reuses it;
4. the same batch without the layer, in the same run (the layer folder is moved aside so no kernel
   can read it, and moved back afterwards): ``workbench run SCHEDULE --no-layer``.

Each step is a subprocess whose wall time and peak resident memory of the whole process tree (the
CLI and every kernel; :class:`bench_schedule.TreeMemory`) are recorded; per-report seconds come from
``runs.json``. Prints Markdown tables ready for BENCHMARKS.md and writes the results as JSON.

    python benchmarks/bench_layer.py --data DIR --schedule schedules/demo.yml --workers 2 --memory-limit 8GB
    python benchmarks/bench_layer.py --data DIR --schedule schedules/daily.yml --workers 2 --memory-limit 8GB
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import psutil
from bench_schedule import WORKBENCH, report_times, run


def step(name: str, cmd: list[str], poll: float, logs: Path, fatal: bool = True) -> dict:
    """Run one CLI step; its result with the first line of its output (the build's summary).

    A failed build stops the benchmark (``fatal``); a stopped or failed batch is kept with its reports' times.
    """
    result = run(cmd, poll, logs / f"{name}.log")
    lines = (logs / f"{name}.log").read_text(encoding="utf-8").splitlines()
    result["name"] = name
    result["summary"] = next((ln for ln in lines if ln.split(" ", 1)[0] in ("full", "incremental", "reused")), "")
    result["layer_line"] = next((ln for ln in lines if " layer " in ln or "layer:" in ln), "")
    print(json.dumps({k: result[k] for k in ("name", "exit_code", "wall_s", "peak_tree_rss_gb", "summary")}),
          flush=True)
    if fatal and result["exit_code"] not in (0, 1):  # 1: a report failed, the timings still stand
        sys.exit(f"{name} failed (exit {result['exit_code']}): see {logs / f'{name}.log'}")
    return result


def batch(name: str, args: argparse.Namespace, as_of: str, out: Path, logs: Path, *extra: str) -> dict:
    """One run of the schedule into ``out``; the step's result plus per-report seconds."""
    since = dt.datetime.now().isoformat(timespec="seconds")
    cmd = [WORKBENCH, "run", args.schedule, "--data", str(args.data), "--out", str(out), "--as-of", as_of, *extra]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    result = step(name, cmd, args.poll, logs, fatal=False)
    result["reports"] = report_times(out, since)
    return result


def without_layer(args: argparse.Namespace, as_of: str, out: Path, logs: Path) -> dict:
    """The batch with the layer folder moved aside, so that no kernel reads it; moved back in any case."""
    from workbench.engine.layer import default_layer_dir

    layer = default_layer_dir(args.data)
    aside = layer.with_name(layer.name + "-bench-aside")
    if layer.exists():
        layer.rename(aside)
    try:
        return batch("batch without the layer", args, as_of, out, logs, "--no-layer")
    finally:
        if aside.exists():
            aside.rename(layer)


def markdown(result: dict) -> str:
    """The results as the Markdown rows BENCHMARKS.md takes."""
    machine = f"{result['cpus']} cores / {result['ram_gb']:.0f} GB"
    rows = ["| step | command | wall | peak RSS, process tree | largest process | notes |", "|---|---|---|---|---|---|"]
    for s in result["steps"]:
        cmd = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(s["cmd"]))
        note = s["summary"] or s["layer_line"]
        if s.get("reports"):
            ok = sum(r["status"] == "ok" for r in s["reports"])
            note = f"{ok}/{len(s['reports'])} reports ok; " + note
        rows.append(f"| {s['name']} | `{cmd}` | {s['wall_s']:.0f} s | {s['peak_tree_rss_gb']} GB | "
                    f"{s['peak_process_rss_gb']} GB | {note.strip()} |")
    batches = [s for s in result["steps"] if s.get("reports")]
    head = "| report | " + " | ".join(s["name"] for s in batches) + " |"
    table = [head, "|---" * (len(batches) + 1) + "|"]
    stems = list(dict.fromkeys(r["report"] for s in batches for r in s["reports"]))
    for stem in stems:
        cells = []
        for s in batches:
            r = next((r for r in s["reports"] if r["report"] == stem), None)
            cells.append("–" if r is None else f"{r['wall_s']:.0f} s" + ("" if r["status"] == "ok" else " (failed)"))
        table.append(f"| {stem} | " + " | ".join(cells) + " |")
    slowest = [max((r["wall_s"] for r in s["reports"]), default=0) for s in batches]
    return "\n".join([f"machine: {machine}; data: {result['data']} ({result['customers']:,} customers)", "",
                      *rows, "", *table, "",
                      "slowest report: " + ", ".join(f"{s['name']} {m:.0f} s" for s, m in zip(batches, slowest,
                                                                                             strict=True))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="a simulated brand (workbench simulate)")
    ap.add_argument("--schedule", default="schedules/demo.yml", help="the batch (HQ reports zh+en, store pages)")
    ap.add_argument("--workers", type=int, default=None, help="workbench run --workers (default: one per core)")
    ap.add_argument("--memory-limit", default=None, help="workbench run/build --memory-limit, e.g. 8GB")
    ap.add_argument("--out", type=Path, default=None, help="reports and logs (default <data>-layer-bench)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the batch without the layer")
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between memory samples")
    ap.add_argument("--json", type=Path, default=None, help="results (default <out>/bench.json)")
    args = ap.parse_args()
    from workbench.reports import default_as_of

    out = args.out or args.data.with_name(args.data.name + "-layer-bench")
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    truth = json.loads((args.data / "truth.json").read_text(encoding="utf-8"))
    as_of = default_as_of(args.data)
    day_before = (dt.date.fromisoformat(as_of) - dt.timedelta(days=1)).isoformat()
    memory = ["--memory-limit", args.memory_limit] if args.memory_limit else []
    result = {"data": str(args.data), "customers": truth["n_customers"], "as_of": as_of, "cpus": os.cpu_count(),
              "ram_gb": psutil.virtual_memory().total / 1e9, "schedule": args.schedule, "steps": []}
    steps = result["steps"]
    steps.append(step("full build", [WORKBENCH, "build", "--data", str(args.data), "--as-of", day_before, "--full",
                                     *memory], args.poll, logs))
    steps.append(step("incremental build (+1 day)", [WORKBENCH, "build", "--data", str(args.data), "--as-of", as_of,
                                                    *memory], args.poll, logs))
    steps.append(batch("batch from the layer", args, as_of, out / "with-layer", logs))
    if not args.no_baseline:
        steps.append(without_layer(args, as_of, out / "without-layer", logs))
    text = markdown(result)
    print("\n" + text)
    path = args.json or out / "bench.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    (out / "bench.md").write_text(text + "\n", encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
