"""Cox on collapsed rows vs lifelines on raw rows.

Simulates N spells (default 5,000,000) with categorical covariates (channel group, store
tier, group member, retention-tool store) and whole-day durations from a Weibull PH model,
fits ``fit_cox`` (collapsed, exact Efron with frequency weights) on all of them, and
lifelines' ``CoxPHFitter`` on raw rows for a sample (``--raw`` rows, default 500,000: raw
lifelines on 5M rows needs more time and memory than a laptop offers), comparing times
and coefficients on that same sample.

    python benchmarks/bench_cox.py --spells 5000000 --raw 500000
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd


def spells(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = np.array(["offline_store", "online_mall", "wechat_ecosystem", "ads", "other"])
    g = rng.choice(len(groups), n, p=[0.6, 0.15, 0.12, 0.1, 0.03])
    tier = rng.choice(3, n)
    member = rng.integers(0, 2, n)
    tool = rng.integers(0, 2, n)
    eta = np.array([0, 0.25, 0.4, 0.7, 0.3])[g] + 0.1 * tier - 0.1 * member - 0.2 * tool
    t = 400 * (rng.exponential(1.0, n) / np.exp(eta)) ** (1 / 0.8)
    c = rng.uniform(1, 365, n)
    return pd.DataFrame({"channel_group": groups[g], "store_tier": tier, "group_member": member, "tool": tool,
                         "duration_days": np.ceil(np.minimum(t, c)), "churned": t <= c})


def main() -> None:
    from lifelines import CoxPHFitter

    from workbench.churn.survival import design_matrix, fit_cox

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spells", type=int, default=5_000_000)
    parser.add_argument("--raw", type=int, default=500_000)
    args = parser.parse_args()
    cats = ["channel_group", "store_tier", "group_member", "tool"]
    ref = {"channel_group": "offline_store", "store_tier": 0, "group_member": 0, "tool": 0}
    d = spells(args.spells)
    t0 = time.perf_counter()
    full = fit_cox(d, categorical=cats, reference=ref, check_ph=False)
    t_full = time.perf_counter() - t0
    print(f"collapsed Cox: {args.spells:,} spells -> {full.n_rows_fitted:,} unique rows, {t_full:.1f} s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    sample = d.sample(args.raw, random_state=1)
    t0 = time.perf_counter()
    ours = fit_cox(sample, categorical=cats, reference=ref, check_ph=False)
    t_ours = time.perf_counter() - t0
    X, cols = design_matrix(sample, cats, (), ref)
    raw = X.assign(duration_days=sample["duration_days"].to_numpy(), churned=sample["churned"].astype(int).to_numpy())
    t0 = time.perf_counter()
    cph = CoxPHFitter().fit(raw, "duration_days", "churned")
    t_raw = time.perf_counter() - t0
    diff = float(np.max(np.abs(cph.params_.reindex(cols).to_numpy() - ours.hazard_ratios["coef"].to_numpy())))
    print(f"{args.raw:,} spells: collapsed {t_ours:.2f} s vs lifelines raw rows {t_raw:.1f} s -> {t_raw / t_ours:.0f}x; "
          f"max |coef difference| {diff:.1e}")


if __name__ == "__main__":
    main()
