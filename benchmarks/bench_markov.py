"""Markov attribution on N simulated journeys (default 1,000,000): exact workbench vs ChannelAttribution.

Generates journeys over ``--channels`` channels (default 14) whose conversion depends on
the channels touched, aggregates them into the path-string format, and times
``markov_attribution(order=1)`` from the path frame (parsing included) and from parsed
paths. With ``--peer-python`` (a Python that has ChannelAttribution, e.g. a throw-away
venv; never a project dependency) or ``--peer`` (builds such a venv in a temporary
directory), ChannelAttribution's simulated ``markov_model`` runs on the same paths in a
subprocess and the times and credits are compared.

    python benchmarks/bench_markov.py
    python benchmarks/bench_markov.py --peer-python "$CA_VENV/bin/python" --peer-nsim 1e5 1e6
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.attribution import markov_attribution, markov_model, parse_paths

PEER = r'''
import contextlib, io, json, sys, time
import pandas as pd
with contextlib.redirect_stdout(io.StringIO()):
    from ChannelAttribution import markov_model
d = pd.read_csv(sys.argv[1], sep=";")
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    m = markov_model(d, "path", "total_conversions", var_null="total_null", order=1, seed=0, verbose=False,
                     flg_pro=False, nsim_start=float(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "credits": m.set_index("channel_name")["total_conversions"].to_dict()}))
'''


def simulate_journeys(n_journeys: int, n_channels: int = 14, seed: int = 0) -> pd.DataFrame:
    """One row per random journey in the path-string format (built vectorised, no loop over journeys)."""
    rng = np.random.default_rng(seed)
    names = pa.array([f"ch{i:02d}" for i in range(n_channels)])
    lengths = rng.geometric(0.35, n_journeys).clip(max=15)
    popularity = rng.dirichlet(np.full(n_channels, 0.8))
    tokens = rng.choice(n_channels, int(lengths.sum()), p=popularity)
    lift = rng.uniform(0.0, 0.08, n_channels)  # each touch of channel c adds lift[c] to the hazard
    journey = np.repeat(np.arange(n_journeys), lengths)
    converted = rng.random(n_journeys) < 1 - np.exp(-np.bincount(journey, weights=lift[tokens],
                                                                 minlength=n_journeys))
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    text = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), names.take(pa.array(tokens))), " > ")
    return pd.DataFrame({"path": text.to_numpy(zero_copy_only=False), "total_conversions": converted.astype(np.int64),
                         "total_null": (~converted).astype(np.int64)})


def aggregate(journeys: pd.DataFrame) -> pd.DataFrame:
    """Distinct paths with their conversions and nulls added up."""
    return journeys.groupby("path", sort=False, as_index=False)[["total_conversions", "total_null"]].sum()


def peer_python_from_scratch(tmp: Path) -> Path:
    env = tmp / "peer"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "ChannelAttribution", "matplotlib"], check=True)
    return py


def run_peer(py: Path, paths: pd.DataFrame, tmp: Path, nsim: float) -> dict:
    csv = tmp / "paths.csv"
    if not csv.exists():
        paths.to_csv(csv, sep=";", index=False)
    t0 = time.perf_counter()
    out = subprocess.run([str(py), "-c", PEER, str(csv), str(nsim)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - t0
    return result


def report_peer(peer: dict, nsim: float, ours: pd.DataFrame, t_total: float) -> None:
    ref = pd.Series(peer["credits"], dtype=float)
    mine = ours.set_index("channel")["total_conversions"].reindex(ref.index)
    big = ref.index[ref > 1000]
    rel = (mine[big] / ref[big] - 1).abs()
    print(f"\nChannelAttribution markov_model(order=1, nsim_start={nsim:,.0f}), simulated: {peer['seconds']:.2f} s "
          f"in the call ({peer['wall_seconds']:.2f} s with start-up and CSV read); workbench "
          f"{peer['seconds'] / t_total:.1f}x its call time from the path frame")
    print(f"credits: largest relative difference on channels with > 1,000 credits {rel.max():.2%} "
          f"(median {rel.median():.2%}); the peer's figures carry simulation error, ours none")
    print(pd.DataFrame({"workbench_exact": mine.round(1), "channelattribution": ref.round(1),
                        "rel_diff": (mine / ref - 1).round(4)}).sort_values("workbench_exact", ascending=False)
          .to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the workbench model (best is shown)")
    parser.add_argument("--peer-python", type=Path, help="a Python with ChannelAttribution installed")
    parser.add_argument("--peer", action="store_true", help="build a throw-away venv with ChannelAttribution")
    parser.add_argument("--peer-nsim", type=float, nargs="+", default=[1e5],
                        help="ChannelAttribution nsim_start values to run (its default is 1e5)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    journeys = simulate_journeys(args.journeys, args.channels)
    paths = aggregate(journeys)
    print(f"simulated {args.journeys:,} journeys over {args.channels} channels -> {len(paths):,} distinct paths, "
          f"{int(paths['total_conversions'].sum()):,} conversions ({time.perf_counter() - t0:.1f} s)")
    markov_attribution(paths.head(200), null_col="total_null")  # warm imports before timing

    def best(fn) -> tuple[float, pd.DataFrame]:
        times, result = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
        return min(times), result

    t_rows, _ = best(lambda: markov_attribution(journeys, null_col="total_null"))
    t_total, ours = best(lambda: markov_attribution(paths, null_col="total_null"))
    data = parse_paths(paths, null_col="total_null")
    t_chain, _ = best(lambda: markov_attribution(data))
    print(f"workbench exact markov_attribution(order=1): {t_rows:.2f} s from {len(journeys):,} rows (one per "
          f"journey, aggregation included), {t_total:.2f} s from the {len(paths):,} distinct paths (parsing "
          f"included), {t_chain:.3f} s from parsed paths; conversion probability "
          f"{markov_model(paths, null_col='total_null').conversion_probability:.6f}")
    if not (args.peer_python or args.peer):
        return
    with tempfile.TemporaryDirectory() as tmp:
        py = args.peer_python or peer_python_from_scratch(Path(tmp))
        for nsim in args.peer_nsim:
            report_peer(run_peer(py, paths, Path(tmp), nsim), nsim, ours, t_total)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
