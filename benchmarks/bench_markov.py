"""Markov attribution on N journeys (default 1,000,000): exact workbench vs ChannelAttribution.

Generates journeys over 14 channels with channel-dependent conversion, aggregates them
into the path-string format, times ``markov_attribution`` (order 1), and with ``--peer``
runs ChannelAttribution's simulated ``markov_model`` on the same paths in a throw-away
virtual environment (never a project dependency), comparing time and credits.

    python benchmarks/bench_markov.py --journeys 1000000 --peer
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import venv
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.attribution import markov_attribution

PEER = r'''
import json, sys, time
import pandas as pd
from ChannelAttribution import markov_model
d = pd.read_csv(sys.argv[1], sep=";")
t0 = time.perf_counter()
m = markov_model(d, "path", "total_conversions", var_null="total_null", order=1, seed=0, verbose=0)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "credits": m.set_index("channel_name")["total_conversions"].to_dict()}))
'''


def journeys(n: int, n_channels: int = 14, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = np.array([f"ch{i:02d}" for i in range(n_channels)])
    lengths = rng.geometric(0.35, n).clip(max=12)
    pop = rng.dirichlet(np.ones(n_channels) * 0.8)
    tokens = rng.choice(n_channels, lengths.sum(), p=pop)
    lift = rng.uniform(0.0, 0.08, n_channels)
    idx = np.repeat(np.arange(n), lengths)
    p_conv = 1 - np.exp(-np.bincount(idx, weights=lift[tokens], minlength=n))
    converted = rng.random(n) < p_conv
    offsets = np.r_[0, np.cumsum(lengths)]
    text = pd.Series([" > ".join(names[tokens[a:b]]) for a, b in zip(offsets[:-1], offsets[1:])])
    frame = pd.DataFrame({"path": text, "conv": converted.astype(int)})
    return frame.groupby("path").agg(total_conversions=("conv", "sum"),
                                     total_null=("conv", lambda s: int((s == 0).sum()))).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--peer", action="store_true")
    args = parser.parse_args()
    paths = journeys(args.journeys)
    markov_attribution(paths.head(100), null_col="total_null")  # load scipy.sparse before timing
    t0 = time.perf_counter()
    ours = markov_attribution(paths, null_col="total_null")
    t_ours = time.perf_counter() - t0
    print(f"workbench exact Markov: {args.journeys:,} journeys ({len(paths):,} distinct paths) in {t_ours:.2f} s")
    if args.peer:
        with tempfile.TemporaryDirectory() as tmp:
            env = Path(tmp) / "peer"
            venv.create(env, with_pip=True)
            py = env / "bin" / "python"
            subprocess.run([str(py), "-m", "pip", "install", "-q", "ChannelAttribution", "matplotlib"], check=True)
            csv = Path(tmp) / "paths.csv"
            paths.to_csv(csv, sep=";", index=False)
            out = subprocess.run([str(py), "-c", PEER, str(csv)], capture_output=True, text=True, check=True)
            peer = json.loads(out.stdout.strip().splitlines()[-1])
        ref = pd.Series(peer["credits"])
        mine = ours.set_index("channel")["total_conversions"]
        big = ref[ref > 1000].index
        worst = float((mine[big] / ref[big] - 1).abs().max()) if len(big) else float("nan")
        print(f"ChannelAttribution markov_model (simulated): {peer['seconds']:.2f} s -> workbench "
              f"{peer['seconds'] / t_ours:.1f}x faster; largest relative difference on channels with >1,000 "
              f"credits {worst:.2%}")


if __name__ == "__main__":
    main()
