"""CLV at scale: transactions → RFM summary → collapse → BG/NBD + Gamma-Gamma → CLV for everyone.

Simulates N customers' transactions from known BG/NBD and Gamma-Gamma parameters (first
purchases spread over 26 weeks, everyone observed to the end of week 52), then times each
stage of the workbench pipeline and checks the fitted parameters against the truth.

Then it times the two fits on their own, each the best of ``--repeats`` runs (the machine is
shared, so the minimum is the least disturbed run): BG/NBD from raw rows (``fit`` collapses
them itself) and from rows collapsed beforehand with weights (``collapse_rfm``), each with
Gamma-Gamma on the repeat buyers' raw rows (their continuous mean spends barely collapse).

With ``--peer`` it also builds a throw-away virtual environment in a temporary directory
(never a project dependency), pip-installs the archived `lifetimes` package there and, in a
subprocess, times its BetaGeoFitter + GammaGammaFitter on the same RFM summary the same way
— raw rows (its default use) and collapsed rows with weights, best of ``--repeats`` — then
prints both sides, the speed ratios and the largest parameter differences.

BLAS is limited to one thread (``OPENBLAS_NUM_THREADS=1`` and friends, set before NumPy
loads, for both sides): on this 2-core machine shared with other jobs, BLAS threads waking
for small products contend for the cores and only add noise.

    python benchmarks/bench_clv.py --customers 1000000 --peer
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy is imported; inherited by the peer subprocess

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.clv import BetaGeoFitter, GammaGammaFitter, collapse_rfm, rfm_summary
from workbench.clv.value import customer_lifetime_value
from workbench.simulate import repeat_purchases

TRUTH_BG = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}  # weekly purchase rate, drop-out
TRUTH_GG = {"p": 6.0, "q": 4.0, "v": 15.0}
START = pd.Timestamp("2024-01-01")
OBSERVATION_END = START + pd.Timedelta(days=364 - 1)  # inclusive: 52 weeks of data

PEER = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
d = pd.read_csv(sys.argv[1])
repeats = int(sys.argv[2])
out = {}
def run(label, bg_args, bg_kw, gg_args):
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        try:
            bg = BetaGeoFitter().fit(*bg_args, **bg_kw)
            t1 = time.perf_counter()
            gg = GammaGammaFitter().fit(*gg_args)
            t2 = time.perf_counter()
        except Exception as err:  # lifetimes' optimiser may fail on large samples
            out[label] = {"failed": f"{type(err).__name__}: {err}"[:300], "seconds": time.perf_counter() - t0}
            return
        if best is None or t2 - t0 < best["bg_seconds"] + best["gg_seconds"]:
            best = {"bg_seconds": t1 - t0, "gg_seconds": t2 - t1, "bgnbd": bg.params_.to_dict(),
                    "gg": gg.params_.to_dict()}
    out[label] = best
rep = d[d["frequency"] > 0]
run("raw rows", (d["frequency"], d["recency"], d["T"]), {}, (rep["frequency"], rep["monetary_value"]))
c = d.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
run("collapsed rows", (c["frequency"], c["recency"], c["T"]), {"weights": c["weight"]},
    (rep["frequency"], rep["monetary_value"]))
print(json.dumps(out))
'''


def simulate_transactions(n: int, seed: int = 0) -> pd.DataFrame:
    """One row per purchase: ``customer_id``, ``order_time``, ``amount`` (vectorised, exact BG/NBD)."""
    rng = np.random.default_rng(seed)
    first_day = rng.integers(0, 26 * 7, n)
    # weeks from the first purchase day to the last day (day 363), as rfm_summary measures T
    T = (363 - first_day) / 7.0
    lam = rng.gamma(TRUTH_BG["r"], 1 / TRUTH_BG["alpha"], n)
    drop = rng.beta(TRUTH_BG["a"], TRUTH_BG["b"], n)
    repeat, weeks = repeat_purchases(rng, T, lam, drop)
    who = np.r_[np.arange(n), repeat]
    # a purchase at continuous time u is recorded on the nearest day (a same-day repeat merges)
    day = np.r_[first_day, first_day[repeat] + np.rint(weeks * 7).astype(int)]
    nu = rng.gamma(TRUTH_GG["q"], 1 / TRUTH_GG["v"], n)
    amount = np.round(rng.gamma(TRUTH_GG["p"], 1 / nu[who]), 2)
    return pd.DataFrame({"customer_id": who, "order_time": START + pd.to_timedelta(day, unit="D"),
                         "amount": amount})


def best_of(repeats: int, fit: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time of ``repeats`` calls of ``fit`` and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fit()
        best = min(best, time.perf_counter() - t)
    return best, result


def fit_workbench(summary: pd.DataFrame, repeats: int) -> dict[str, dict]:
    """BG/NBD + Gamma-Gamma fit times (best of ``repeats``), from raw and from collapsed rows."""
    rep = summary[summary["frequency"] > 0]
    x, m = rep["frequency"].to_numpy(), rep["monetary_value"].to_numpy()
    rows = collapse_rfm(summary)
    out = {}
    for label, bg_args, bg_kw in (
            ("raw rows", (summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()),
             {}),
            ("collapsed rows", (rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["T"].to_numpy()),
             {"weights": rows["weight"].to_numpy()})):
        bg_s, bg = best_of(repeats, lambda args=bg_args, kw=bg_kw: BetaGeoFitter().fit(*args, **kw))
        gg_s, gg = best_of(repeats, lambda: GammaGammaFitter().fit(x, m))
        out[label] = {"bg_seconds": bg_s, "gg_seconds": gg_s, "bgnbd": bg.params_.to_dict(),
                      "gg": gg.params_.to_dict(), "rows": bg.n_rows_}
    return out


def peer_fit(summary: pd.DataFrame, workdir: Path, repeats: int) -> dict:
    """Fit with `lifetimes` in a fresh venv under ``workdir``; returns its timings and parameters."""
    data = workdir / "rfm.csv"
    summary[["frequency", "recency", "T", "monetary_value"]].to_csv(data, index=False)
    env = workdir / "peer-venv"
    t0 = time.perf_counter()
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    # lifetimes 0.11.3 (2020) predates pandas 2.2 / NumPy 2 / SciPy 1.14
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "lifetimes==0.11.3", "pandas<2.2", "numpy<2",
                              "scipy<1.14"], capture_output=True, text=True)
    if install.returncode != 0:
        return {"install_failed": install.stderr[-1500:]}
    print(f"  (peer environment ready in {time.perf_counter() - t0:.0f} s)", flush=True)
    run = subprocess.run([str(py), "-c", PEER, str(data), str(repeats)], capture_output=True, text=True)
    if run.returncode != 0:
        return {"run_failed": run.stderr[-1500:]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer", action="store_true", help="also fit with lifetimes in a throw-away venv")
    parser.add_argument("--repeats", type=int, default=3, help="time each fit this many times, keep the best")
    args = parser.parse_args()

    t0 = time.perf_counter()
    tx = simulate_transactions(args.customers, args.seed)
    print(f"simulated {args.customers:,} customers, {len(tx):,} transactions in {time.perf_counter() - t0:.1f} s")

    times: dict[str, float] = {}
    t = time.perf_counter()
    summary = rfm_summary(tx, "customer_id", "order_time", "amount", observation_end=OBSERVATION_END)
    times["rfm_summary (DuckDB)"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = collapse_rfm(summary)
    times["collapse"] = time.perf_counter() - t
    t = time.perf_counter()
    bg = BetaGeoFitter().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["weight"])
    times["BG/NBD fit"] = time.perf_counter() - t
    t = time.perf_counter()
    rep = summary[summary["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    times["Gamma-Gamma fit"] = time.perf_counter() - t
    t = time.perf_counter()
    clv = customer_lifetime_value(bg, gg, summary["frequency"], summary["recency"], summary["T"],
                                  summary["monetary_value"])
    times["12-month CLV, all customers"] = time.perf_counter() - t
    total = sum(times.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    merged = 1 - summary["frequency"].sum() / (len(tx) - args.customers)
    print(f"workbench, {len(summary):,} customers ({len(rows):,} distinct (x, t_x, T) rows, "
          f"{len(rep):,} repeat buyers):")
    for stage, sec in times.items():
        print(f"  {stage:<30} {sec:7.2f} s")
    print(f"  {'total':<30} {total:7.2f} s   peak RSS {rss:,.0f} MB   sum of CLV {clv.sum():,.0f}")
    for model, truth in ((bg, TRUTH_BG), (gg, TRUTH_GG)):
        s = model.summary
        cells = [f"{k}={s.loc[k, 'coef']:.4f} (truth {v}, 95% CI {s.loc[k, 'lower 95% bound']:.3f}–"
                 f"{s.loc[k, 'upper 95% bound']:.3f})" for k, v in truth.items()]
        print(f"  {type(model).__name__}: " + "; ".join(cells))
    print(f"  ({merged:.1%} of simulated repeat purchases fell on a day the customer already bought and merged, "
          "as one-purchase-per-day data does; that, not the fitter, is why alpha runs a little high)")

    ours = fit_workbench(summary, args.repeats)
    print(f"fits alone, best of {args.repeats} (OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}):")
    for label, res in ours.items():
        print(f"  workbench, {label:<15} BG/NBD {res['bg_seconds']:.3f} s + Gamma-Gamma {res['gg_seconds']:.3f} s "
              f"= {res['bg_seconds'] + res['gg_seconds']:.3f} s")
    if args.peer:
        print("lifetimes (peer), same RFM summary:", flush=True)
        with tempfile.TemporaryDirectory(prefix="clv-peer-") as tmp:
            peer = peer_fit(summary, Path(tmp), args.repeats)
        if "install_failed" in peer or "run_failed" in peer:
            print("  could not run the peer:\n" + next(iter(peer.values())))
            return 0
        for label, res in peer.items():
            if "failed" in res:
                print(f"  {label}: failed after {res['seconds']:.1f} s: {res['failed']}")
                continue
            theirs = {**{f"bg_{k}": v for k, v in res["bgnbd"].items()},
                      **{f"gg_{k}": v for k, v in res["gg"].items()}}
            mine = ours[label]
            mine_params = {**{f"bg_{k}": v for k, v in mine["bgnbd"].items()},
                           **{f"gg_{k}": v for k, v in mine["gg"].items()}}
            diff = {k: abs(mine_params[k] - theirs[k]) for k in theirs}
            worst = max(diff, key=lambda k: diff[k] / abs(theirs[k]))
            peer_fit_s = res["bg_seconds"] + res["gg_seconds"]
            ours_fit = mine["bg_seconds"] + mine["gg_seconds"]
            print(f"  {label}: lifetimes BG/NBD {res['bg_seconds']:.2f} s + Gamma-Gamma {res['gg_seconds']:.2f} s = "
                  f"{peer_fit_s:.2f} s; workbench {ours_fit:.3f} s: {peer_fit_s / ours_fit:.0f}x; "
                  f"max |parameter difference| {max(diff.values()):.1e} "
                  f"(largest relative: {worst} {diff[worst] / abs(theirs[worst]):.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
