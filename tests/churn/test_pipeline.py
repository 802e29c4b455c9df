"""Cohort tables and the at-risk export from contract data."""
from __future__ import annotations

import pandas as pd

from workbench.churn.cohorts import cohort_retention
from workbench.cli import main
from workbench.simulate import simulate_brand


def test_cohort_retention_by_hand():
    spells = pd.DataFrame({
        "start": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-01-25", "2025-02-10"]),
        "duration_days": [10.0, 70.0, 200.0, 5.0],
        "churned": [True, True, False, True],
    })
    c = cohort_retention(spells, "2025-04-15", period_days=30)
    jan = c[c["cohort"] == "2025-01"].set_index("period")["n_alive"]
    # Jan cohort: observable for floor((Apr 15 - Jan 31) / 30) = 2 periods
    assert jan.to_dict() == {0: 3, 1: 2, 2: 2}
    feb = c[c["cohort"] == "2025-02"].set_index("period")["n_alive"]
    assert feb.to_dict() == {0: 1, 1: 0}


def test_at_risk_export(tmp_path):
    simulate_brand(3_000, seed=4, out=tmp_path / "data", n_stores=10, n_staff=40)
    out = tmp_path / "ops" / "at_risk.csv"
    assert main(["at-risk", "--data", str(tmp_path / "data"), "--out", str(out), "--top", "50"]) == 0
    df = pd.read_csv(out)
    assert len(df) == 50 and df["rank"].tolist() == list(range(1, 51))
    assert df["value_at_risk"].is_monotonic_decreasing and df["risk"].between(0, 1).all()
    assert df["customer_id"].str.startswith("C").all()  # operations get real ids; reports never do
