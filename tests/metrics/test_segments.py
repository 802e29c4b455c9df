"""Segments: RFM scores, fan tiers, value tiers and migration, on hand-built frames and CDNOW."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import DataContractError, ParameterError
from workbench.segments import (FAN_TIER_ZH, FAN_TIERS, VALUE_TIER_ZH, FanTierThresholds, fan_tier_thresholds,
                                fan_tiers, rfm_scores, tier_migration, value_tier_cutoffs, value_tiers)


class TestFanTiers:
    def test_rules_and_names(self):
        df = pd.DataFrame({"spend": [1000, 100, 1000, 100, 0, 500], "orders": [5, 5, 1, 1, 0, 3]})
        out = fan_tiers(df, thresholds=FanTierThresholds(spend=500, frequency=3))
        # a value at the cut-off counts as high
        assert out["fan_tier"].tolist() == ["die_hard", "loyal", "big_spender", "casual", "potential", "die_hard"]
        assert out["fan_tier_zh"].tolist() == ["铁杆粉", "真爱粉", "实力粉", "普通粉", "潜力粉", "铁杆粉"]
        assert list(out["fan_tier"].cat.categories) == list(FAN_TIERS) and set(FAN_TIER_ZH) == set(FAN_TIERS)

    def test_default_thresholds_are_buyer_medians(self):
        df = pd.DataFrame({"spend": [10, 20, 30, 40, 0], "orders": [1, 3, 3, 5, 0]})
        assert fan_tier_thresholds(df) == FanTierThresholds(25.0, 3.0)  # non-buyers left out
        one_order = pd.DataFrame({"spend": [10, 20, 30], "orders": [1, 1, 2]})
        assert fan_tier_thresholds(one_order).frequency == 2.0  # buying again is the floor
        relaxed = fan_tier_thresholds(one_order, thresholds=FanTierThresholds(min_frequency=1))
        assert relaxed.frequency == 1.0
        assert not fan_tiers(one_order).attrs  # the cut-offs are not carried on the frame

    def test_registration_and_purchase_flags(self):
        df = pd.DataFrame({"amount": [0.0, 0.0, 50.0, 80.0], "n": [0, 0, 1, 0],
                           "registered_at": pd.to_datetime(["2025-01-01", None, None, "2025-01-02"]),
                           "bought": [False, False, True, True]})
        out = fan_tiers(df, "amount", "n", registered_col="registered_at")
        # registered non-buyer: potential; neither registered nor buyer: no tier
        assert out["fan_tier"].iloc[0] == "potential" and pd.isna(out["fan_tier"].iloc[1])
        flagged = fan_tiers(df, "amount", "n", has_purchase_col="bought",
                            thresholds=FanTierThresholds(spend=60, frequency=1))
        assert flagged["fan_tier"].tolist() == ["potential", "potential", "loyal", "big_spender"]

    def test_bad_input(self):
        with pytest.raises(DataContractError, match="orders"):
            fan_tiers(pd.DataFrame({"spend": [1.0]}))
        with pytest.raises(DataContractError, match="negative"):
            fan_tiers(pd.DataFrame({"spend": [-1.0, 3.0], "orders": [1, 2]}))


class TestValueTiers:
    def test_default_shares(self):
        tiers = value_tiers(np.arange(1000, dtype=float))
        assert tiers.value_counts().to_dict() == {"activate": 800, "cultivate": 150, "super_vip": 50}
        assert tiers.iloc[-1] == "super_vip" and tiers.iloc[0] == "activate"
        # lowest CLV in cultivate, in super-VIP
        assert value_tier_cutoffs(np.arange(1000, dtype=float), tiers) == (800.0, 950.0)
        assert set(VALUE_TIER_ZH.values()) == {"超级VIP", "重点培养", "重点促活"}

    def test_configurable_ties_and_index(self):
        clv = pd.Series([0.0] * 90 + [5.0] * 5 + [10.0] * 5, index=[f"c{i}" for i in range(100)])
        tiers = value_tiers(clv, quantiles=(0.9, 0.97))
        assert list(tiers.index) == list(clv.index)
        # equal CLVs share a tier, the better one when they straddle a boundary
        assert (tiers[clv == 10] == "super_vip").all() and (tiers[clv == 5] == "cultivate").all()
        # customers with CLV 0 are never promoted, even when they reach into the top 20%
        mostly_zero = value_tiers(pd.Series([0.0] * 85 + [1.0] * 5 + [2.0] * 10))
        assert mostly_zero.value_counts().to_dict() == {"activate": 85, "cultivate": 5, "super_vip": 10}

    def test_bad_input(self):
        with pytest.raises(ParameterError):
            value_tiers([1.0, 2.0], quantiles=(0.9, 0.5))
        with pytest.raises(DataContractError, match="missing"):
            value_tiers([1.0, np.nan])


class TestRfmScores:
    def test_quintiles(self):
        df = pd.DataFrame({"days_since_last": np.arange(10), "orders": np.arange(10), "spend": np.arange(10) * 2.0})
        out = rfm_scores(df)
        assert out["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
        assert out["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert out["rfm_score"].iloc[0] == "511"

    def test_rfm_summary_input(self, cdnow_transactions):
        from workbench.clv import rfm_summary

        raw = cdnow_transactions
        s = rfm_summary(raw, "customer", "date", "dollars", observation_end="1998-06-30")
        out = rfm_scores(s)
        # equal-size quintiles of 2,357 customers
        assert sorted(out["r_score"].value_counts().tolist()) == [471, 471, 471, 472, 472]
        # recency score follows the time since the last purchase (T − recency), smaller is better
        gap = out["T"] - out["recency"]
        assert gap[out["r_score"] == 5].max() <= gap[out["r_score"] == 1].min()
        assert out.loc[out["frequency"] == out["frequency"].max(), "f_score"].iloc[0] == 5


class TestMigration:
    def test_matrix(self):
        before = pd.Series(["a", "a", "b"], index=["c1", "c2", "c3"])
        after = pd.Series(["a", "b", "b", "a"], index=["c1", "c2", "c3", "c4"])
        m = tier_migration(before, after, categories=("a", "b"))
        assert m["count"].loc["a", "b"] == 1 and m["count"].loc["(new)", "a"] == 1
        assert m["share"].loc["a"].sum() == pytest.approx(1.0) and m["share"].loc["a", "a"] == 0.5
        assert m["count"].to_numpy().sum() == 4

    def test_fan_tier_migration(self):
        jan = fan_tiers(pd.DataFrame({"spend": [900, 50, 0, 300], "orders": [4, 1, 0, 1]},
                                     index=["c1", "c2", "c3", "c4"]), thresholds=FanTierThresholds(200, 2))
        feb = fan_tiers(pd.DataFrame({"spend": [950, 80, 100], "orders": [5, 2, 1]}, index=["c1", "c2", "c3"]),
                        thresholds=FanTierThresholds(200, 2))
        m = tier_migration(jan["fan_tier"], feb["fan_tier"], categories=FAN_TIERS)
        assert m["count"].loc["die_hard", "die_hard"] == 1 and m["count"].loc["casual", "loyal"] == 1
        assert m["count"].loc["potential", "casual"] == 1 and m["count"].loc["big_spender", "(gone)"] == 1

    def test_duplicates_rejected(self):
        with pytest.raises(DataContractError, match="duplicate"):
            tier_migration(pd.Series(["a", "b"], index=["c1", "c1"]), pd.Series(["a"], index=["c1"]))
