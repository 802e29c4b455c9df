"""Contact spells + Cox from contract tables, at brand scale, against lifelines on raw rows.

Opens a brand directory (e.g. one written by ``workbench simulate --chunk-customers``),
builds every customer–staff spell with its covariates in the engine
(``spell_covariates``: islands over adds and deletes, early chats, group membership,
purchases by the landmark, the add's channel group), and fits the Cox model the churn
report fits — on a daily grain, collapsed to distinct rows with frequency weights (exact
Efron). With ``--peer`` it fits lifelines' ``CoxPHFitter`` on all the raw (rounded) rows of
the same design and compares the coefficients.

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


def main() -> None:
    from workbench import open as open_workbench
    from workbench.churn.risk import COVARIATES
    from workbench.churn.spells import spell_covariates
    from workbench.churn.survival import design_matrix, fit_cox

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", default=None, help="analysis date (default: the day after the data ends)")
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--peer", action="store_true", help="also fit lifelines on all raw rows")
    args = parser.parse_args()

    wb = open_workbench(args.data, validate=False, memory_limit=args.memory_limit)
    as_of = pd.Timestamp(args.as_of) if args.as_of else wb.data_end().normalize() + pd.Timedelta(days=1)
    t0 = time.perf_counter()
    spells = spell_covariates(wb, as_of)
    t_spells = time.perf_counter() - t0
    categorical = [c for c in COVARIATES + ["uses_retention_tool"] if c in spells.columns]
    print(f"spell_covariates in the engine: {len(spells):,} customer-staff spells "
          f"({int(spells['churned'].sum()):,} deletions) in {t_spells:.1f} s", flush=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = fit_cox(spells, categorical=categorical, duration_resolution=1.0, check_ph=False)
        times.append(time.perf_counter() - t0)
    print(f"fit_cox, daily grain, collapsed to {res.n_rows_fitted:,} rows: {min(times):.2f} s (best of 3)")
    print(res.hazard_ratios[["covariate", "coef", "hr"]].round(4).to_string(index=False))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS so far {rss:.2f} GB")
    if args.peer:
        from lifelines import CoxPHFitter

        X, cols = design_matrix(spells, categorical, (), res.reference)
        data = X.assign(duration_days=np.ceil(spells["duration_days"].to_numpy(float)),
                        churned=spells["churned"].astype(int).to_numpy())
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = CoxPHFitter().fit(data, "duration_days", "churned")
        t_peer = time.perf_counter() - t0
        diff = np.max(np.abs(peer.params_[cols].to_numpy() - res.hazard_ratios.set_index("covariate")
                             .loc[cols, "coef"].to_numpy()))
        print(f"lifelines CoxPHFitter on all {len(data):,} raw rows: {t_peer:.1f} s; "
              f"{t_peer / min(times):.0f}x the collapsed fit; largest coefficient difference {diff:.1e}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()
