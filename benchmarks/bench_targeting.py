"""Scoring ten million customers with a cross-fitted uplift model, in chunks: time and peak memory.

Fits a T-learner (default gradient-boosted trees, 5 folds) on a simulated randomised
experiment of ``--train`` units with a known step effect, then scores ``--customers`` new
customers ``--chunk`` rows at a time: each chunk's features are generated on the fly (as
they would be read from the engine chunk by chunk), scored by the five fold models, and only
the float32 scores are kept (40 MB at ten million). Prints the fit time, the scoring time,
rows per second and the peak resident memory of the process (``ru_maxrss``), which stays
near the memory of one chunk plus the scores.

Threads are limited to one (``OMP_NUM_THREADS=1`` before scikit-learn loads): on a shared
2-core machine OpenMP threads of the tree ensembles contend and slow each fit ten-fold.

    python benchmarks/bench_targeting.py --customers 10000000 --chunk 1000000
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy / scikit-learn are imported

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from workbench.targeting import evaluate_uplift, fit_uplift, score_chunks  # noqa: E402

N_FEATURES = 6


def features(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=(n, N_FEATURES))


def effect(x: np.ndarray) -> np.ndarray:
    return 0.05 * (x[:, 0] > 0.5)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--train", type=int, default=50_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = features(rng, args.train)
    t = rng.integers(0, 2, args.train)
    y = (rng.random(args.train) < 0.1 + 0.05 * (x[:, 1] > 0) + t * effect(x)).astype(float)
    start = time.perf_counter()
    fit = fit_uplift(x, t, y, method="t")
    fit_s = time.perf_counter() - start
    after_fit = peak_mb()

    def chunks():
        chunk_rng = np.random.default_rng(1)
        for lo in range(0, args.customers, args.chunk):
            yield features(chunk_rng, min(args.chunk, args.customers - lo))

    start = time.perf_counter()
    scores = score_chunks(fit, chunks())
    score_s = time.perf_counter() - start
    check = evaluate_uplift(fit.scores, t, y, ks=(0.3,), n_boot=100)
    out = {"train_units": args.train, "customers": len(scores), "chunk": args.chunk, "fit_seconds": round(fit_s, 1),
           "score_seconds": round(score_s, 1), "rows_per_second": round(len(scores) / score_s),
           "peak_rss_mb_after_fit": round(after_fit), "peak_rss_mb": round(peak_mb()),
           "scores_mb": round(scores.nbytes / 2**20),
           "train_qini_coefficient_crossfit": round(check.qini_coefficient, 3)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
