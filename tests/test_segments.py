"""Segments: RFM scores, fan tiers, value tiers and migration, on hand-built frames."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import DataContractError, ParameterError
from workbench.segments import FanTierThresholds, fan_tiers, rfm_scores, tier_migration, value_tiers


class TestFanTiers:
    def test_rules(self):
        df = pd.DataFrame({"spend": [1000, 100, 1000, 100, 0], "orders": [5, 5, 1, 1, 0]})
        out = fan_tiers(df, thresholds=FanTierThresholds(spend=500, frequency=3))
        assert out["fan_tier"].tolist() == ["die_hard", "loyal", "big_spender", "casual", "potential"]
        assert out["fan_tier_zh"].tolist() == ["铁杆粉", "真爱粉", "实力粉", "普通粉", "潜力粉"]

    def test_default_thresholds_are_buyer_medians(self):
        df = pd.DataFrame({"spend": [10, 20, 30, 40, 0], "orders": [1, 3, 3, 5, 0]})
        out = fan_tiers(df)
        assert out.attrs["thresholds"] == FanTierThresholds(25.0, 3.0)
        one_order = fan_tiers(pd.DataFrame({"spend": [10, 20, 30], "orders": [1, 1, 2]}))
        assert one_order.attrs["thresholds"].frequency == 2.0  # repeat buying is the floor

    def test_missing_column(self):
        with pytest.raises(DataContractError, match="orders"):
            fan_tiers(pd.DataFrame({"spend": [1.0]}))


class TestValueTiers:
    def test_shares(self):
        tiers = pd.Series(value_tiers(np.arange(1000, dtype=float)))
        assert (tiers == "super_vip").sum() == 50 and (tiers == "cultivate").sum() == 150
        assert tiers.iloc[-1] == "super_vip" and tiers.iloc[0] == "activate"

    def test_bad_shares(self):
        with pytest.raises(ParameterError):
            value_tiers([1.0, 2.0], shares=(0.6, 0.5))


class TestRfmScores:
    def test_quintiles(self):
        df = pd.DataFrame({"days_since_last": np.arange(10), "orders": np.arange(10), "spend": np.arange(10) * 2.0})
        out = rfm_scores(df)
        assert out["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
        assert out["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert out["rfm_score"].iloc[0] == "511"


class TestMigration:
    def test_matrix(self):
        before = pd.Series(["a", "a", "b"], index=["c1", "c2", "c3"])
        after = pd.Series(["a", "b", "b", "a"], index=["c1", "c2", "c3", "c4"])
        m = tier_migration(before, after, categories=("a", "b"))
        assert m["count"].loc["a", "b"] == 1 and m["count"].loc["(new)", "a"] == 1
        assert m["share"].loc["a"].sum() == pytest.approx(1.0)
