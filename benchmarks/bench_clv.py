"""CLV fitting at scale, and the same fit with the archived `lifetimes` package as the peer.

Simulates N customers' (frequency, recency, T, monetary value) from known BG/NBD and
Gamma-Gamma parameters, then times BG/NBD + Gamma-Gamma + 12-month CLV for every customer.
With ``--peer`` it builds a throw-away virtual environment (never a project dependency),
installs `lifetimes` there, fits the same data in a subprocess and compares times and
parameters.

    python benchmarks/bench_clv.py --customers 1000000 --peer
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.clv import BetaGeoFitter, GammaGammaFitter
from workbench.clv.value import customer_lifetime_value

PEER = r'''
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
d = pd.read_csv(sys.argv[1])
note = "default settings"
t0 = time.perf_counter()
try:
    bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
except Exception as err:  # lifetimes' optimiser may fail on large samples
    print(json.dumps({"failed": f"BetaGeoFitter raised {type(err).__name__} after {time.perf_counter() - t0:.1f} s"}))
    sys.exit(0)
rep = d[d["frequency"] > 0]
gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
print(json.dumps({"seconds": time.perf_counter() - t0, "bgnbd": bg.params_.to_dict(), "gg": gg.params_.to_dict(),
                  "note": note}))
'''


def simulate_rfm(n: int, seed: int = 0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, gamma=15.0) -> pd.DataFrame:
    """BG/NBD customers observed for 26–52 weeks after their first purchase (whole days)."""
    rng = np.random.default_rng(seed)
    T = rng.integers(26 * 7, 52 * 7, n) / 7.0
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    k = rng.geometric(drop)
    m = rng.poisson(lam * T)
    rep = np.repeat(np.arange(n), m)
    times = np.floor(rng.random(len(rep)) * T[rep] * 7) / 7  # purchase days
    order = np.lexsort((times, rep))
    rep, times = rep[order], times[order]
    rank = np.arange(len(rep)) - np.repeat(np.cumsum(m) - m, m)
    keep = (rank < k[rep]) & (times > 0)
    frame = pd.DataFrame({"c": rep[keep], "t": times[keep]}).drop_duplicates()
    freq = np.bincount(frame["c"], minlength=n).astype(float)
    rec = np.zeros(n)
    last = frame.groupby("c")["t"].max()
    rec[last.index.to_numpy()] = last.to_numpy()
    nu = rng.gamma(q, 1 / gamma, n)
    spend = np.where(freq > 0, rng.gamma(p * np.maximum(freq, 1), 1 / nu) / np.maximum(freq, 1), 0.0)
    return pd.DataFrame({"frequency": freq, "recency": rec, "T": T, "monetary_value": np.round(spend, 2)})


def peer_fit(data: Path, workdir: Path) -> dict:
    env = workdir / "peer-venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "lifetimes", "pandas<2.2", "numpy<2", "scipy<1.14"],
                   check=True)
    out = subprocess.run([str(py), "-c", PEER, str(data)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"lifetimes run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--peer", action="store_true", help="also fit with lifetimes in a throw-away venv")
    args = parser.parse_args()
    d = simulate_rfm(args.customers)
    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    t1 = time.perf_counter()
    rep = d[d["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    t2 = time.perf_counter()
    clv = customer_lifetime_value(bg, gg, d["frequency"], d["recency"], d["T"], d["monetary_value"])
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"workbench: {args.customers:,} customers; BG/NBD {t1 - t0:.2f} s, Gamma-Gamma {t2 - t1:.2f} s, "
          f"CLV for all {t3 - t2:.2f} s; total {t3 - t0:.2f} s; peak RSS {rss:,.0f} MB; sum CLV {clv.sum():,.0f}")
    print("  BG/NBD", bg.params_.round(5).to_dict(), " GG", gg.params_.round(5).to_dict())
    if args.peer:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "rfm.csv"
            d.to_csv(path, index=False)
            peer = peer_fit(path, Path(tmp))
        if "failed" in peer:
            print(f"lifetimes: {peer['failed']} (workbench fit {t2 - t0:.2f} s)")
            return
        ours = {**bg.params_.to_dict(), **{f"gg_{k}": v for k, v in gg.params_.to_dict().items()}}
        theirs = {**peer["bgnbd"], **{f"gg_{k}": v for k, v in peer["gg"].items()}}
        rel = max(abs(ours[k] - theirs[k]) / abs(theirs[k]) for k in ours)
        print(f"lifetimes ({peer['note']}): BG/NBD + Gamma-Gamma fit {peer['seconds']:.1f} s; workbench fit {t2 - t0:.2f} s "
              f"-> {peer['seconds'] / (t2 - t0):.0f}x; largest relative parameter difference {rel:.2e}")


if __name__ == "__main__":
    sys.exit(main())
