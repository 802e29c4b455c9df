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

With ``--data DIR`` it measures the targeting report on a brand instead: ``--steps`` times each
call of the report's page function in one process (frame, fit, hold-out scoring, evaluation
with ``n_boot`` replicates, policy values, traits, audience features, audience scoring, split by
store and guide; wall and CPU seconds), and ``--caps`` gives the learning curve of the training
sample (:func:`workbench.targeting.train_sample`): per cap, the hold-out's Qini coefficient
and the DR gain of the top 30% over random targeting with their intervals, and the fit's CPU
seconds (``none``: every training unit).

    python benchmarks/bench_targeting.py --data DIR --as-of 2026-01-01 --steps
    python benchmarks/bench_targeting.py --data DIR --as-of 2026-01-01 --caps 12500,25000,50000,100000,none
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


class Clock:
    """Wall and CPU seconds of the steps timed with :meth:`step`, printed as they end."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def step(self, name: str, fn, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        row = {"step": name, "wall_s": round(time.perf_counter() - wall, 2),
               "cpu_s": round(time.process_time() - cpu, 2)}
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        return out


def _frame(wb, experiment: str, outcome: str):
    from workbench.targeting import TARGETING_CATEGORICAL, TARGETING_NUMERIC, holdout_mask, targeting_frame
    from workbench.targeting.audience import TargetingModel

    frame = targeting_frame(wb, experiment)
    ids = frame["unit_id"].astype(str).reset_index(drop=True)
    x, lay = TargetingModel.layout(frame, TARGETING_NUMERIC, TARGETING_CATEGORICAL)
    return (frame, ids, holdout_mask(ids, 0.3), x.to_numpy(float), lay, frame["treated"].to_numpy(int),
            frame[outcome].to_numpy(float), frame["propensity"].to_numpy(float))



def page_steps(wb, experiment: str, outcome: str, cap: int | None, n_boot: int) -> None:
    """Each call of the targeting page for one experiment, timed (the page's own order and arguments)."""
    import pandas as pd

    from workbench.pages.targeting import _named_traits, trait_table
    from workbench.targeting import customer_features, policy_values, train_sample
    from workbench.targeting.audience import TargetingModel, audience_by, rank_audience

    c = Clock()
    frame, ids, hold, x, lay, t, y, e = c.step("frame", _frame, wb, experiment, outcome)
    learn = ~hold
    learn[learn] = train_sample(ids[learn], cap)
    print(json.dumps({"units": len(frame), "holdout": int(hold.sum()), "train_pool": int((~hold).sum()),
                      "train_sample": int(learn.sum()), "features": x.shape[1]}))
    fit = c.step("fit (dr, 5 folds)", fit_uplift, x[learn], t[learn], y[learn], "dr",
                 unit_ids=ids[learn].to_numpy(), n_folds=5, propensity=e[learn])
    model = TargetingModel(fit, **lay, outcome=outcome)
    score = c.step("score hold-out", fit.predict, x[hold])
    mu0, mu1 = c.step("outcomes hold-out", fit.predict_outcomes, x[hold])
    ev = c.step(f"evaluate_uplift (n_boot {n_boot})", evaluate_uplift, score, t[hold], y[hold], ks=(0.3,),
                n_boot=n_boot)
    c.step("policy_values", policy_values, score, t[hold], y[hold], mu0, mu1, propensity=e[hold], shares=(0.3,))
    used = learn | hold
    uplift = np.empty(len(y))
    uplift[learn], uplift[hold] = fit.scores, score
    c.step("traits", lambda: _named_traits(wb, trait_table(frame[used].reset_index(drop=True), uplift[used])))
    feats = c.step("customer_features (open now)", customer_features, wb, at=pd.Timestamp(wb.as_of))
    aud = c.step(f"rank_audience ({len(feats)} customers)", rank_audience, model, feats, 0.3)
    c.step("by store and guide", lambda: (audience_by(wb, aud, "store_id"), audience_by(wb, aud, "staff_id")))
    print(json.dumps({"qini": round(ev.qini_coefficient, 4), "total_wall_s": round(sum(r["wall_s"] for r in c.rows), 1),
                      "total_cpu_s": round(sum(r["cpu_s"] for r in c.rows), 1)}))


def learning_curve(wb, experiment: str, outcome: str, caps: list[int | None], n_boot: int) -> None:
    """Hold-out Qini and DR gain of the top 30% over random, per cap of the training sample."""
    from workbench.targeting import policy_values, train_sample

    frame, ids, hold, x, lay, t, y, e = _frame(wb, experiment, outcome)
    for cap in caps:
        learn = ~hold
        learn[learn] = train_sample(ids[learn], cap)
        cpu = time.process_time()
        fit = fit_uplift(x[learn], t[learn], y[learn], "dr", unit_ids=ids[learn].to_numpy(), n_folds=5,
                         propensity=e[learn])
        fit_cpu = time.process_time() - cpu
        score = fit.predict(x[hold])
        mu0, mu1 = fit.predict_outcomes(x[hold])
        q = evaluate_uplift(score, t[hold], y[hold], ks=(0.3,), n_boot=n_boot).table.iloc[0]
        g = policy_values(score, t[hold], y[hold], mu0, mu1, propensity=e[hold], shares=(0.3,)).gains.iloc[0]
        print(json.dumps({"cap": cap, "train_units": int(learn.sum()), "fit_cpu_s": round(fit_cpu, 1),
                          "qini": [round(float(q[c]), 4) for c in ("estimate", "ci_low", "ci_high")],
                          "gain_top30_vs_random": [round(float(g[c]), 3) for c in ("gain", "ci_low", "ci_high")]}),
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--train", type=int, default=50_000)
    ap.add_argument("--data", help="a brand's data folder: time the targeting report on it instead")
    ap.add_argument("--as-of", default=None)
    ap.add_argument("--experiment", default="EXP_CUST")
    ap.add_argument("--outcome", default="gmv")
    ap.add_argument("--steps", action="store_true", help="time each step of the page")
    ap.add_argument("--cap", default="50000", help="training sample cap of --steps (none: no cap)")
    ap.add_argument("--caps", default="", help="comma-separated caps of the learning curve (none: no cap)")
    ap.add_argument("--n-boot", type=int, default=500)
    args = ap.parse_args()
    if args.data:
        import workbench

        wb = workbench.open(args.data, as_of=args.as_of)
        cap = lambda v: None if v.strip() == "none" else int(v)  # noqa: E731
        if args.steps:
            page_steps(wb, args.experiment, args.outcome, cap(args.cap), args.n_boot)
        if args.caps:
            learning_curve(wb, args.experiment, args.outcome, [cap(v) for v in args.caps.split(",")], args.n_boot)
        return
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
