"""Always-valid inference: formulas, duality, and daily peeking in A/A and A/B.

Simulation: 1,000 experiments, 30 days, 100 new customers per arm per day, skewed
(gamma) GMV-like outcomes; cumulative sufficient statistics per day.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import DataContractError, ParameterError
from workbench.experiments import (
    SampleMeanStatistic,
    always_valid_p,
    cs_multiplier,
    rho_for_planned_n,
    sequential_frame,
    sequential_test,
)

SIMS, DAYS, PER_DAY = 1_000, 30, 100


def cumulative_arm(rng, shift=0.0):
    x = rng.gamma(2.0, 10.0, (SIMS, DAYS, PER_DAY)) + shift
    n = np.cumsum(np.full((SIMS, DAYS), PER_DAY), axis=1).astype(float)
    return SampleMeanStatistic(n, np.cumsum(x.sum(2), axis=1), np.cumsum((x * x).sum(2), axis=1))


class TestConfidenceSequence:
    def test_multiplier_formula(self):
        t, alpha = 5_000, 0.05
        rho = rho_for_planned_n(t, alpha)
        v = t * rho ** 2
        # at the planned n, t rho^2 = -2 log a + log(1 - 2 log a)
        assert v == pytest.approx(-2 * np.log(alpha) + np.log(1 - 2 * np.log(alpha)), rel=1e-12)
        expected = np.sqrt(2 * (v + 1) / v * np.log(np.sqrt(v + 1) / alpha))
        assert cs_multiplier(t, alpha, rho) == pytest.approx(expected, rel=1e-12)
        assert cs_multiplier(t, alpha, rho) > 1.96  # the price of peeking
        # the sequence is tightest (in units of se) near the planned n
        grid = np.array([500, 2_000, 5_000, 20_000, 100_000])
        widths = cs_multiplier(grid, alpha, rho) / np.sqrt(grid)
        assert np.all(np.diff(widths) < 0)  # width still shrinks with n

    def test_p_value_and_sequence_are_dual(self):
        rho = rho_for_planned_n(2_000)
        assert always_valid_p(0.5, 2_000, rho) == 1.0
        for z in (2.5, 2.9, 3.5, 5.0):
            p = always_valid_p(z, 2_000, rho)
            assert cs_multiplier(2_000, p, rho) == pytest.approx(z, rel=1e-10)  # 0 on the level-p boundary

    def test_rejects_bad_planned_n(self):
        with pytest.raises(ParameterError, match="planned_n"):
            rho_for_planned_n(0)


class TestDailyPeeking:
    def test_aa_false_positive_rate_with_daily_looks(self):
        rng = np.random.default_rng(2024)
        res = sequential_test(cumulative_arm(rng), cumulative_arm(rng), planned_n=2 * DAYS * PER_DAY)
        ever = np.min(res.always_valid_p, axis=1) < 0.05
        naive = np.min(res.fixed.p_value, axis=1) < 0.05
        assert ever.mean() <= 0.05, ever.mean()  # measured about 1%
        assert naive.mean() > 0.15, naive.mean()  # fixed-horizon p-values peeked daily: about 29%
        excluded = ((res.cs_low > 0) | (res.cs_high < 0)).any(axis=1)
        np.testing.assert_array_equal(excluded, ever)

    def test_sequence_covers_true_effect_at_all_days(self):
        rng = np.random.default_rng(2025)
        res = sequential_test(cumulative_arm(rng), cumulative_arm(rng, shift=2.0), planned_n=2 * DAYS * PER_DAY)
        always = ((res.cs_low <= 2.0) & (2.0 <= res.cs_high)).all(axis=1)
        assert always.mean() >= 0.95
        # and it detects: true effect 2.0, se at day 30 about 0.37 (z about 5.5)
        assert np.mean(np.min(res.always_valid_p, axis=1) < 0.05) > 0.9


class TestSequentialFrame:
    def daily(self, effect=0.0):
        rng = np.random.default_rng(9)
        rows = []
        for v, shift in (("control", 0.0), ("treatment", effect)):
            x = rng.gamma(2.0, 10.0, (14, 300)) + shift
            n = np.arange(1, 15) * 300
            rows.append(pd.DataFrame({"day": np.arange(1, 15), "variant": v, "n": n,
                                      "sum": np.cumsum(x.sum(1)), "sum_squares": np.cumsum((x * x).sum(1))}))
        return pd.concat(rows, ignore_index=True)

    def test_cumulative_frame(self):
        daily = self.daily(effect=2.0)
        out = sequential_frame(daily, "control")
        assert list(out.columns[:7]) == ["variant", "day", "n", "control_n", "effect", "cs_low", "cs_high"]
        assert len(out) == 14 and set(out["variant"]) == {"treatment"}
        assert out["cs_low"].is_monotonic_increasing and out["cs_high"].is_monotonic_decreasing
        assert out["always_valid_p"].is_monotonic_decreasing
        last = daily[daily.day == 14].set_index("variant")
        diff = last.loc["treatment", "sum"] / last.loc["treatment", "n"] - last.loc["control", "sum"] / last.loc[
            "control", "n"]
        assert out["effect"].iloc[-1] == pytest.approx(diff, rel=1e-12)
        assert out["always_valid_p"].iloc[-1] < 0.05 and out["cs_low"].iloc[-1] > 0
        assert (out["always_valid_p"] >= out["p_value"] - 1e-12).all()  # never more optimistic than fixed

    def test_errors(self):
        daily = self.daily()
        with pytest.raises(ParameterError, match="unknown control"):
            sequential_frame(daily, "holdout")
        with pytest.raises(DataContractError, match="sum_squares"):
            sequential_frame(daily.drop(columns="sum_squares"), "control")
        with pytest.raises(DataContractError, match="more than one row"):
            sequential_frame(pd.concat([daily, daily.head(1)]), "control")
