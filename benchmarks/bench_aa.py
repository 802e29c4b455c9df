"""A/A rates of the experiment report's tests on simulated brands, by re-randomisation.

    python benchmarks/bench_aa.py --customers 100000 --seeds 7 8 9 --draws 4000

For each brand the real units and outcomes of the two experiments are kept and only the
assignment is redrawn (the sharp null: no unit's outcome depends on its arm), so every rejection
is a false positive. Rates at α = 0.05:

1. **fixed horizon, customer-randomised** (EXP_CUST units, GMV over 14 days, Welch t);
2. **daily looks** at the same units over a growing window (days 1..14): rejecting on the first
   day whose interval excludes 0 — the naive daily 95% interval, the previous running
   intersection of confidence sequences, and the page's band (:func:`window_band`, each day at
   α/14);
3. **store-randomised** (EXP_STORE, 60 stores re-randomised 30/30): the previous ``G/(G−1)``
   variance with ``G − 2`` dof, and CR2 with Satterthwaite dof (working model ``I``, and the
   random-effects working model with the estimated ICC the report uses).

Prints one line per brand and the pooled rates with a binomial 95% interval.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats as sps

import workbench
from workbench.experiments import ClusteredStatistic, cluster_test
from workbench.experiments.cluster import cr2_satterthwaite_dof
from workbench.experiments.frame import experiment_frame
from workbench.experiments.sequential import cs_multiplier, rho_for_planned_n
from workbench.simulate import simulate_brand

ALPHA = 0.05
OLD_FIELDS = ("n_clusters", "n", "sum", "sum_squares", "cluster_sum_squares", "cluster_n_squares",
              "cluster_sum_n_products", "cluster_sum_squares_over_n")


def welch_z(treat: np.ndarray, y: np.ndarray, y2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Effect and standard error for each draw (rows of ``treat``) and outcome column of ``y``."""
    n_t = treat.sum(axis=1, keepdims=True).astype(float)
    n_c = treat.shape[1] - n_t
    s_t, q_t = treat @ y, treat @ y2
    s_c, q_c = y.sum(axis=0) - s_t, y2.sum(axis=0) - q_t
    m_t, m_c = s_t / n_t, s_c / n_c
    v_t = (q_t - s_t ** 2 / n_t) / (n_t - 1) / n_t
    v_c = (q_c - s_c ** 2 / n_c) / (n_c - 1) / n_c
    return m_t - m_c, np.sqrt(v_t + v_c)


def customer_rates(wb: workbench.Workbench, draws: int, rng: np.random.Generator) -> dict[str, float]:
    days = 14
    y = np.column_stack([experiment_frame(wb, "EXP_CUST", window_days=d)["gmv"].to_numpy(float)
                         for d in range(1, days + 1)])
    parts = []
    for start in range(0, draws, 250):   # batches keep the draws × units matrix small
        treat = (rng.random((min(250, draws - start), len(y))) < 0.5).astype(float)
        parts.append(welch_z(treat, y, y * y))
    effect, se = (np.vstack([p[i] for p in parts]) for i in (0, 1))
    z = np.abs(effect / se)
    fixed = z[:, -1] > sps.norm.isf(ALPHA / 2)
    naive_daily = (z > sps.norm.isf(ALPHA / 2)).any(axis=1)
    band = (z > sps.norm.isf(ALPHA / 2 / days)).any(axis=1)
    # previous: running intersection of the confidence sequences, planned n = all units
    c = cs_multiplier(len(y), ALPHA, rho_for_planned_n(len(y), ALPHA))
    low = np.maximum.accumulate(effect - c * se, axis=1)
    high = np.minimum.accumulate(effect + c * se, axis=1)
    intersected = ((low > 0) | (high < 0)).any(axis=1)
    return {"fixed_14d": fixed.mean(), "daily_naive": naive_daily.mean(), "daily_intersected_cs": intersected.mean(),
            "daily_band": band.mean()}


def store_rates(wb: workbench.Workbench, draws: int, rng: np.random.Generator) -> dict[str, float]:
    frame = experiment_frame(wb, "EXP_STORE")
    per = frame.assign(g2=frame["gmv"] ** 2).groupby("cluster_id").agg(n=("gmv", "size"), s=("gmv", "sum"),
                                                                       q=("g2", "sum"))
    n, s, q = (per[c].to_numpy(float) for c in ("n", "s", "q"))
    g = len(n)
    perm = np.argsort(rng.random((draws, g)), axis=1)
    ctl, trt = perm[:, : g // 2], perm[:, g // 2:]
    c = ClusteredStatistic.from_cluster_sums(n[ctl], s[ctl], q[ctl])
    t = ClusteredStatistic.from_cluster_sums(n[trt], s[trt], q[trt])
    cr2 = cluster_test(c, t)
    old = cluster_test(ClusteredStatistic(*[getattr(c, f) for f in OLD_FIELDS]),
                       ClusteredStatistic(*[getattr(t, f) for f in OLD_FIELDS]))
    # the same CR2 statistic with clubSandwich's default working model (Φ = I) for its dof
    t_stat = np.abs(np.asarray(cr2.effect) / np.asarray(cr2.se))
    p_identity = 2 * sps.t.sf(t_stat, np.asarray(cr2_satterthwaite_dof(c, t, 0.0)))
    return {"store_g_over_g_minus_1": np.mean(old.p_value < ALPHA), "store_cr2_identity": np.mean(p_identity < ALPHA),
            "store_cr2": np.mean(cr2.p_value < ALPHA)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    ap.add_argument("--draws", type=int, default=4_000)
    args = ap.parse_args()
    pooled: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = Path(tmp) / str(seed)
            simulate_brand(args.customers, seed=seed, out=out)
            wb = workbench.open(out)
            rng = np.random.default_rng(seed)
            rates = {**customer_rates(wb, args.draws, rng), **store_rates(wb, 4 * args.draws, rng)}
            print(f"seed {seed}: " + ", ".join(f"{k} {v:.2%}" for k, v in rates.items()), flush=True)
            for k, v in rates.items():
                pooled.setdefault(k, []).append(v)
    for k, v in pooled.items():
        draws = args.draws * (4 if k.startswith("store") else 1) * len(v)
        rate = float(np.mean(v))
        half = 1.96 * np.sqrt(rate * (1 - rate) / draws)
        print(f"{k:24s} {rate:6.2%}  (95% ±{half:.2%}, {draws:,} draws)")


if __name__ == "__main__":
    main()
