"""Cox on a daily grain: rounding durations up makes spells collapse, and the fit stays exact."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.churn.survival import fit_cox
from workbench.errors import ParameterError


@pytest.fixture(scope="module")
def spells() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 4000
    group = rng.choice(["store", "ads", "mall"], n, p=[0.6, 0.25, 0.15])
    tool = rng.integers(0, 2, n)
    eta = np.select([group == "ads", group == "mall"], [0.6, 0.3], 0.0) - 0.3 * tool
    t = 60 * rng.exponential(1.0, n) / np.exp(eta)
    c = rng.uniform(1, 120, n)
    return pd.DataFrame({"channel_group": group, "tool": tool, "duration_days": np.minimum(t, c),
                         "churned": t <= c})


def test_daily_grain_equals_raw_rows_rounded_up(spells):
    before = spells.copy()
    daily = fit_cox(spells, categorical=["channel_group", "tool"], duration_resolution=1.0, check_ph=False)
    rounded = spells.assign(duration_days=np.ceil(spells["duration_days"]))
    raw = fit_cox(rounded, categorical=["channel_group", "tool"], collapse=False, check_ph=False)
    assert daily.collapsed and daily.n_rows_fitted < len(spells) / 4
    # lifelines stops at its own convergence tolerance (~1e-6 here)
    np.testing.assert_allclose(daily.hazard_ratios["coef"], raw.hazard_ratios["coef"], atol=1e-5)
    np.testing.assert_allclose(daily.hazard_ratios["se"], raw.hazard_ratios["se"], rtol=1e-5)
    # without rounding nothing collapses: every duration is unique
    exact = fit_cox(spells, categorical=["channel_group", "tool"], check_ph=False)
    assert exact.n_rows_fitted == len(spells)
    pd.testing.assert_frame_equal(spells, before)  # the caller's frame is left as it was


def test_resolution_must_be_positive(spells):
    with pytest.raises(ParameterError, match="duration_resolution"):
        fit_cox(spells, categorical=["tool"], duration_resolution=0)
