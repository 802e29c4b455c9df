"""Contact spells, Cox and at-risk scoring from contract tables, at brand scale.

Opens a brand directory (e.g. one written by ``workbench simulate --chunk-customers``) and
runs what the churn report runs, in the engine:

1. every customer–staff spell with its covariates (islands over adds and deletes, early
   chats, group membership, purchases by the landmark, the add's channel group),
   materialised once;
2. ``spell_counts``: the spells collapsed to distinct (covariates, whole-day duration,
   churned) rows with a count;
3. ``fit_cox`` on those rows (exact Efron on frequency weights);
4. ``at_risk_by``: every open relationship scored in SQL, counted by store.

With ``--peer`` it also pulls every spell into pandas (``spell_covariates``) and fits
lifelines' ``CoxPHFitter`` on all the raw (rounded) rows of the same design, and compares
the coefficients.

    python benchmarks/bench_churn_scale.py --data /path/to/brand --peer
"""
from __future__ import annotations

import argparse
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    from workbench import open as open_workbench
    from workbench.churn.risk import COVARIATES, at_risk_by
    from workbench.churn.spells import spell_columns, spell_counts, spell_covariates
    from workbench.churn.survival import design_matrix, fit_cox

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", default=None, help="analysis date (default: the day after the data ends)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit (default: half the machine)")
    parser.add_argument("--value", default="clv", choices=["clv", "gmv"], help="value weighing the risk")
    parser.add_argument("--peer", action="store_true", help="also fit lifelines on all raw rows")
    args = parser.parse_args()

    wb = open_workbench(args.data, validate=False, memory_limit=args.memory_limit)
    as_of = pd.Timestamp(args.as_of) if args.as_of else wb.data_end().normalize() + pd.Timedelta(days=1)
    t0 = time.perf_counter()
    categorical = [c for c in COVARIATES if c in spell_columns(wb, as_of)]
    t_table = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = spell_counts(wb, as_of, by=categorical)
    t_counts = time.perf_counter() - t0
    n = int(rows["weight"].sum())
    print(f"spells with covariates, materialised in the engine: {t_table:.1f} s; spell_counts: {n:,} customer-staff "
          f"spells ({int(rows.loc[rows['churned'], 'weight'].sum()):,} deletions) as {len(rows):,} rows in "
          f"{t_counts:.1f} s", flush=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = fit_cox(rows, categorical=categorical, weights_col="weight", duration_resolution=1.0, check_ph=False)
        times.append(time.perf_counter() - t0)
    print(f"fit_cox on the collapsed rows: {min(times):.3f} s (best of 3)")
    print(res.hazard_ratios[["covariate", "coef", "hr"]].round(4).to_string(index=False))
    t0 = time.perf_counter()
    counts = at_risk_by(wb, as_of, "store_id", horizon_days=30, value=args.value)
    t_risk = time.perf_counter() - t0
    print(f"at_risk_by store ({args.value}): {int(counts['open_relationships'].sum()):,} open relationships scored, "
          f"{counts['expected_deletions'].sum():,.0f} expected deletions in 30 days, {len(counts):,} stores, "
          f"in {t_risk:.1f} s", flush=True)
    print(f"peak RSS so far {peak_rss_gb():.2f} GB")
    if args.peer:
        from lifelines import CoxPHFitter

        t0 = time.perf_counter()
        spells = spell_covariates(wb, as_of)
        print(f"spell_covariates as pandas rows: {len(spells):,} in {time.perf_counter() - t0:.1f} s; "
              f"peak RSS {peak_rss_gb():.2f} GB", flush=True)
        X, cols = design_matrix(spells, categorical, (), res.reference_)
        data = X.assign(duration_days=np.ceil(spells["duration_days"].to_numpy(float)),
                        churned=spells["churned"].astype(int).to_numpy())
        del spells
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = CoxPHFitter().fit(data, "duration_days", "churned")
        t_peer = time.perf_counter() - t0
        diff = np.max(np.abs(peer.params_[cols].to_numpy() - res.hazard_ratios.set_index("covariate")
                             .loc[cols, "coef"].to_numpy()))
        print(f"lifelines CoxPHFitter on all {len(data):,} raw rows: {t_peer:.1f} s; "
              f"{t_peer / min(times):.0f}x the collapsed fit; largest coefficient difference {diff:.1e}")
        print(f"peak RSS {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
