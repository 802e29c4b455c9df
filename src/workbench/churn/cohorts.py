"""Monthly cohorts of relationships, for the contractual (sBG) view of retention."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..engine import to_timestamp
from ..errors import DataContractError


def cohort_retention(spells: pd.DataFrame, as_of: Any, period_days: float = 30.4375, max_cohorts: int = 12,
                     start_col: str = "start", duration_col: str = "duration_days",
                     event_col: str = "churned", weights_col: str | None = None) -> pd.DataFrame:
    """Relationships still open after 0, 1, 2, … whole periods, per monthly cohort of their start.

    Period ``p`` ends after ⌊p · ``period_days``⌋ whole days (a month of 30.4375 days ends
    after 30, 60, 91, … days), so durations rounded up to whole days
    (:func:`~workbench.churn.spells.spell_counts`) give the same counts as exact ones. Only
    periods fully observed before ``as_of`` are counted. Returns ``cohort`` (YYYY-MM),
    ``period`` and ``n_alive`` — the input of :class:`ShiftedBetaGeometricFitter`'s ``cohorts``.
    ``weights_col``: rows stand for that many relationships (collapsed rows from
    :func:`~workbench.churn.spells.spell_counts`, whose ``cohort`` column can be the start).
    """
    cols = [start_col, duration_col, event_col] + ([weights_col] if weights_col else [])
    missing = [c for c in cols if c not in spells.columns]
    if missing:
        raise DataContractError("spells", missing[0], "required column is missing")
    at = to_timestamp(as_of, "as_of")
    s = spells[[start_col, duration_col, event_col]].copy()
    s["weight"] = spells[weights_col].to_numpy(float) if weights_col else 1.0
    s["cohort"] = pd.to_datetime(s[start_col]).dt.to_period("M")
    cohorts = sorted(s["cohort"].unique())[-max_cohorts:]
    rows = []
    for c in cohorts:
        g = s[s["cohort"] == c]
        cohort_end = c.end_time
        observable = int(np.floor((at - cohort_end).days / period_days))
        for p in range(0, max(observable, 0) + 1):
            horizon = np.floor(p * period_days)  # whole days: the same count on exact and on daily durations
            alive = (g[duration_col] > horizon) | (~g[event_col].astype(bool) & (g[duration_col] >= horizon))
            rows.append((str(c), p, int(round(g["weight"][alive].sum()))))
    out = pd.DataFrame(rows, columns=["cohort", "period", "n_alive"])
    # a cohort needs at least one observed period to inform the model
    keep = out.groupby("cohort")["period"].transform("max") >= 1
    return out[keep].reset_index(drop=True)
