"""The linear-time Schoenfeld residuals are lifelines' residuals, float for float.

:func:`~workbench.churn._schoenfeld.with_linear_residuals` replaces lifelines' quadratic row
appends in the proportional-hazards check of :class:`~workbench.churn.SpellCoxFitter`. The
residuals, the scaled residuals and the test it feeds must be the same numbers exactly: ties,
censored rows, strata, a stratum without events.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test

from workbench.churn._schoenfeld import with_linear_residuals


def _spells(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    z = rng.poisson(2.0, n)
    days = np.ceil(rng.exponential(40 / np.exp(0.4 * x - 0.1 * z)))      # whole days: many ties
    return pd.DataFrame({"x": x, "z": z, "duration_days": days, "churned": (rng.random(n) < 0.7).astype(int),
                         "stratum": rng.choice(["a", "b"], n)})


def _fit(df: pd.DataFrame, strata: list[str] | None) -> CoxPHFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(df, "duration_days", "churned", strata=strata)


@pytest.mark.parametrize("seed, strata", [(1, None), (2, None), (3, ["stratum"])])
def test_residuals_and_the_test_equal_lifelines(seed, strata):
    """Residuals, scaled residuals and the rank-time test of 3,000 tied spells, with and without strata."""
    df = _spells(3_000, seed)
    if strata is None:
        df = df.drop(columns="stratum")
    stock, linear = _fit(df, strata), with_linear_residuals(_fit(df, strata))
    for kind in ("schoenfeld", "scaled_schoenfeld"):
        pd.testing.assert_frame_equal(linear.compute_residuals(df, kind), stock.compute_residuals(df, kind),
                                      check_exact=True)
    got = proportional_hazard_test(linear, df, time_transform="rank").summary
    want = proportional_hazard_test(stock, df, time_transform="rank").summary
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert want["p"].notna().all()


def test_a_stratum_without_events_has_zero_residuals():
    """A stratum with censored rows only: its rows are zeros in both."""
    df = _spells(800, 4)
    df.loc[df["stratum"] == "b", "churned"] = 0
    stock, linear = _fit(df, ["stratum"]), with_linear_residuals(_fit(df, ["stratum"]))
    pd.testing.assert_frame_equal(linear.compute_residuals(df, "schoenfeld"), stock.compute_residuals(df, "schoenfeld"),
                                  check_exact=True)
