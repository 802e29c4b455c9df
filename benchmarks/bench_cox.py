"""Cox on collapsed rows vs lifelines on raw rows.

Simulates N spells (default 5,000,000) with categorical covariates (channel group, store
tier, group member, retention-tool store) and whole-day durations from a Weibull PH model,
then times, in one process:

* the collapsed path in stages: ``collapse_rows`` (raw spells -> unique rows with weights),
  one-hot encoding of the unique rows, ``CollapsedCoxFitter`` (exact Efron, closed-form
  tie correction) — each repetition timed, the fastest of ``--repeat`` reported (the machine
  may be shared, so the minimum is the least noisy estimate);
* ``fit_cox`` end to end (the public entry point, same rows), also the fastest of ``--repeat``;
* lifelines' ``CoxPHFitter`` on the raw rows, once (all of them by default; ``--raw`` fits
  a sample, and the collapsed path is then timed on that same sample too).

Both fit the same rows, so coefficients are compared directly. Peak RSS is the process
high-water mark (``ru_maxrss``), printed before and after lifelines.

Whole-day durations (the default) are what make collapsing pay: millions of spells share a
few hundred durations. ``--continuous`` keeps fractional days (as ``contact_spells`` returns
them) to show the other case, where nearly every row is unique and every tie group has one
event.

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
CATS = ["channel_group", "store_tier", "group_member", "tool"]
REF = {"channel_group": "offline_store", "store_tier": 0, "group_member": 0, "tool": 0}


def spells(n: int, seed: int = 0, continuous: bool = False) -> pd.DataFrame:
    """Simulated spells: Weibull PH durations with the log hazard ratios in ``TRUE_LOG_HR``."""
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
    """Process high-water resident set size, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def collapsed_stages(d: pd.DataFrame) -> tuple[dict[str, float], pd.Series, pd.Series, int]:
    """Collapse, encode, fit; seconds per stage, coefficients, standard errors, unique rows."""
    from workbench.churn.cox import CollapsedCoxFitter, collapse_rows
    from workbench.churn.survival import design_matrix

    times = {}
    t0 = time.perf_counter()
    unique = collapse_rows(d, CATS + ["duration_days", "churned"])
    times["collapse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    X, _ = design_matrix(unique, CATS, (), REF)
    times["encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = CollapsedCoxFitter().fit(X, unique["duration_days"], unique["churned"], weights=unique["weight"])
    times["fit"] = time.perf_counter() - t0
    times["total"] = sum(times.values())
    return times, model.params_, model.standard_errors_, len(unique)


def lifelines_raw(sample: pd.DataFrame) -> tuple[float, pd.Series, pd.Series]:
    """Lifelines CoxPHFitter on the raw rows: seconds (fit only), coefficients, standard errors."""
    from lifelines import CoxPHFitter

    from workbench.churn.survival import design_matrix

    X, _ = design_matrix(sample, CATS, (), REF)
    raw = X.assign(duration_days=sample["duration_days"].to_numpy(), churned=sample["churned"].astype(int).to_numpy())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter().fit(raw, "duration_days", "churned")
    return time.perf_counter() - t0, cph.params_, cph.standard_errors_


def main() -> None:
    from workbench.churn.survival import fit_cox

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spells", type=int, default=5_000_000)
    parser.add_argument("--raw", type=int, default=0, help="raw rows for both fits (default: all spells)")
    parser.add_argument("--continuous", action="store_true", help="fractional-day durations (few ties)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the workbench timings (min reported)")
    parser.add_argument("--skip-lifelines", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    d = spells(args.spells, continuous=args.continuous)
    if args.raw and args.raw < args.spells:
        d = d.sample(args.raw, random_state=1).reset_index(drop=True)
    n_events = int(d["churned"].sum())
    print(f"simulated {len(d):,} spells in {time.perf_counter() - t0:.1f} s ({n_events:,} churned, "
          f"{d['duration_days'].nunique():,} distinct durations); peak RSS after simulating {peak_mb():,.0f} MB")

    runs = [collapsed_stages(d) for _ in range(args.repeat)]
    best = {k: min(r[0][k] for r in runs) for k in runs[0][0]}
    _, coef, se, n_unique = min(runs, key=lambda r: r[0]["total"])
    worst = max(abs(coef[k] - v) / se[k] for k, v in TRUE_LOG_HR.items())
    print(f"collapsed path (min of {args.repeat}): {len(d):,} -> {n_unique:,} unique rows; "
          f"collapse {best['collapse']:.3f} s, encode {best['encode']:.3f} s, fit {best['fit']:.3f} s, "
          f"total {best['total']:.3f} s; largest |coef - truth| = {worst:.1f} SE; peak RSS {peak_mb():,.0f} MB")
    t_api = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = fit_cox(d, categorical=CATS, reference=REF, check_ph=False)
        t_api.append(time.perf_counter() - t0)
    api_coef = res.hazard_ratios.set_index("covariate")["coef"]
    print(f"fit_cox end to end (min of {args.repeat}): {min(t_api):.3f} s "
          f"(collapsed={res.collapsed}, {res.n_rows_fitted:,} rows fitted); peak RSS so far {peak_mb():,.0f} MB")
    if args.skip_lifelines:
        return

    t_raw, params, ses = lifelines_raw(d)
    diff = float(np.max(np.abs(params.reindex(coef.index).to_numpy() - coef.to_numpy())))
    diff_api = float(np.max(np.abs(params.reindex(api_coef.index).to_numpy() - api_coef.to_numpy())))
    se_rel = float(np.max(np.abs(ses.reindex(se.index).to_numpy() / se.to_numpy() - 1)))
    print(f"lifelines CoxPHFitter on {len(d):,} raw rows (once): {t_raw:.2f} s; peak RSS {peak_mb():,.0f} MB")
    print(f"ratio lifelines / collapsed path: {t_raw / best['total']:.1f}x "
          f"(fit alone {t_raw / best['fit']:.0f}x); lifelines / fit_cox end to end: {t_raw / min(t_api):.1f}x")
    print(f"max |coef difference| vs lifelines: {diff:.1e} (fit_cox {diff_api:.1e}); "
          f"max relative SE difference {se_rel:.1e}")


if __name__ == "__main__":
    main()
