"""Cox on collapsed rows vs lifelines on raw rows.

Simulates N spells (default 5,000,000) with categorical covariates (channel group, store
tier, group member, retention-tool store) and whole-day durations from a Weibull PH model,
fits ``fit_cox`` (collapsed, exact Efron with frequency weights) on all of them, and
lifelines' ``CoxPHFitter`` on the raw rows (all of them by default; ``--raw`` fits a sample
instead). Both fit the same rows, so their coefficients are compared directly. lifelines is
also timed on a fifth of those rows; the two timings give its empirical scaling exponent,
which extrapolates its time to all N spells when only a sample was fitted (an estimate,
printed as such).

Whole-day durations (the default) are what make collapsing pay: millions of spells share a
few hundred durations. ``--continuous`` keeps fractional days (as ``contact_spells`` returns
them) to show the other case, where nearly every row is unique.

    python benchmarks/bench_cox.py --spells 5000000
    python benchmarks/bench_cox.py --spells 1000000 --continuous
"""
from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
import pandas as pd

TRUE_LOG_HR = {"channel_group=ads": 0.7, "channel_group=online_mall": 0.25, "channel_group=other": 0.3,
               "channel_group=wechat_ecosystem": 0.4, "store_tier=1": 0.1, "store_tier=2": 0.2,
               "group_member=1": -0.1, "tool=1": -0.2}


def spells(n: int, seed: int = 0, continuous: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = np.array(["offline_store", "online_mall", "wechat_ecosystem", "ads", "other"])
    g = rng.choice(len(groups), n, p=[0.6, 0.15, 0.12, 0.1, 0.03])
    tier = rng.choice(3, n)
    member = rng.integers(0, 2, n)
    tool = rng.integers(0, 2, n)
    eta = np.array([0, 0.25, 0.4, 0.7, 0.3])[g] + 0.1 * tier - 0.1 * member - 0.2 * tool
    t = 400 * (rng.exponential(1.0, n) / np.exp(eta)) ** (1 / 0.8)
    c = rng.uniform(1, 365, n)
    duration = np.minimum(t, c)
    return pd.DataFrame({"channel_group": groups[g], "store_tier": tier, "group_member": member, "tool": tool,
                         "duration_days": duration if continuous else np.ceil(duration), "churned": t <= c})


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lifelines_raw(sample: pd.DataFrame, cats: list[str], ref: dict) -> tuple[float, pd.Series]:
    from lifelines import CoxPHFitter

    from workbench.churn.survival import design_matrix

    X, _ = design_matrix(sample, cats, (), ref)
    raw = X.assign(duration_days=sample["duration_days"].to_numpy(), churned=sample["churned"].astype(int).to_numpy())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter().fit(raw, "duration_days", "churned")
    return time.perf_counter() - t0, cph.params_


def main() -> None:
    from workbench.churn.survival import fit_cox

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spells", type=int, default=5_000_000)
    parser.add_argument("--raw", type=int, default=0, help="raw rows for lifelines (default: all spells)")
    parser.add_argument("--continuous", action="store_true", help="fractional-day durations (few ties)")
    args = parser.parse_args()
    args.raw = min(args.raw or args.spells, args.spells)
    cats = ["channel_group", "store_tier", "group_member", "tool"]
    ref = {"channel_group": "offline_store", "store_tier": 0, "group_member": 0, "tool": 0}
    t0 = time.perf_counter()
    d = spells(args.spells, continuous=args.continuous)
    print(f"simulated {args.spells:,} spells in {time.perf_counter() - t0:.1f} s "
          f"({d['churned'].mean():.1%} churned, {d['duration_days'].nunique()} distinct durations)")

    t0 = time.perf_counter()
    full = fit_cox(d, categorical=cats, reference=ref, check_ph=False)
    t_full = time.perf_counter() - t0
    hr = full.hazard_ratios.set_index("covariate")
    worst = max(abs(hr.loc[k, "coef"] - v) / hr.loc[k, "se"] for k, v in TRUE_LOG_HR.items())
    print(f"collapsed Cox, all spells: {args.spells:,} -> {full.n_rows_fitted:,} unique rows, {t_full:.1f} s "
          f"(collapse + fit), peak RSS {peak_mb():,.0f} MB; largest |coef - truth| = {worst:.1f} SE")

    if args.raw < args.spells:
        sample = d.sample(args.raw, random_state=1)
        t0 = time.perf_counter()
        ours = fit_cox(sample, categorical=cats, reference=ref, check_ph=False)
        t_ours = time.perf_counter() - t0
    else:
        sample, ours, t_ours = d, full, t_full
    small = sample.iloc[: max(args.raw // 5, 1000)]
    t_small, _ = lifelines_raw(small, cats, ref)
    t_raw, params = lifelines_raw(sample, cats, ref)
    diff = float(np.max(np.abs(params.reindex(ours.covariates).to_numpy() - ours.hazard_ratios["coef"].to_numpy())))
    print(f"same {args.raw:,} spells: collapsed {t_ours:.2f} s vs lifelines on raw rows {t_raw:.1f} s "
          f"-> {t_raw / t_ours:.0f}x; max |coef difference| {diff:.1e}; peak RSS {peak_mb():,.0f} MB")
    exponent = np.log(t_raw / t_small) / np.log(len(sample) / len(small))
    if args.raw >= args.spells:
        print(f"lifelines raw rows: {len(small):,} rows {t_small:.1f} s, {len(sample):,} rows {t_raw:.1f} s "
              f"(time ~ n^{exponent:.2f})")
        return
    estimate = t_raw * (args.spells / args.raw) ** max(exponent, 1.0)
    print(f"lifelines raw rows: {len(small):,} rows {t_small:.1f} s, {len(sample):,} rows {t_raw:.1f} s "
          f"(time ~ n^{exponent:.2f}); extrapolated to {args.spells:,} rows: ~{estimate:,.0f} s "
          f"(estimate, not run) vs {t_full:.1f} s collapsed -> ~{estimate / t_full:.0f}x")


if __name__ == "__main__":
    main()
