"""Experiment frames from contract tables, checked by hand on the tiny brand."""
from __future__ import annotations

import pandas as pd
import pytest

from workbench import ParameterError
from tests.handbuilt import with_experiments
from workbench.experiments.frame import experiment_daily, experiment_frame, experiment_statistics


class TestExperimentFrame:
    def test_customer_units(self, tiny):
        df = experiment_frame(with_experiments(tiny), "X", window_days=7, pre_days=7).set_index("unit_id")
        # C1 orders in [Jan 2, Jan 9): O1 100, O2 50, O7 10
        assert df.loc["C1", "orders"] == 3 and df.loc["C1", "gmv"] == pytest.approx(160.0)
        # C3: O4 80 and O5 70 refunded 20 -> net 130
        assert df.loc["C3", "gmv"] == pytest.approx(130.0)
        # C2's order O3 is on Jan 1: pre-period
        assert df.loc["C2", "orders"] == 0 and df.loc["C2", "pre_gmv"] == pytest.approx(200.0)
        assert df.loc["C2", "converted"] == 0 and df.loc["C4", "converted"] == 1
        # retained: C2 open at t0 and still open a week later; C3 was not yet added at t0 (NULL)
        assert df.loc["C2", "retained"] == 1 and pd.isna(df.loc["C3", "retained"])
        # C1 was open at t0 (Jan 2 00:00) and deleted on Jan 2 09:00
        assert df.loc["C1", "retained"] == 0

    def test_store_units_are_customers_in_clusters(self, tiny):
        df = experiment_frame(with_experiments(tiny, "store"), "X", window_days=7).set_index("unit_id")
        # at Jan 2 00:00 the open contacts are C1 (E1) and C2 (E1, E2), all in S1; C3 is added later
        assert sorted(df.index) == ["C1", "C2"]
        assert set(df["cluster_id"]) == {"S1"} and set(df["variant"]) == {"control"}

    def test_statistics_match_the_frame(self, tiny):
        wb = with_experiments(tiny)
        frame = experiment_frame(wb, "X", window_days=7, pre_days=7)
        stats = experiment_statistics(wb, "X", window_days=7, pre_days=7).set_index("variant")
        for variant, g in frame.groupby("variant"):
            assert stats.loc[variant, "n"] == len(g)
            assert stats.loc[variant, "gmv_sum"] == pytest.approx(g["gmv"].sum())
            assert stats.loc[variant, "gmv_sum_squares"] == pytest.approx((g["gmv"] ** 2).sum())
            assert stats.loc[variant, "gmv_orders_sum"] == pytest.approx((g["gmv"] * g["orders"]).sum())

    def test_daily_is_cumulative(self, tiny):
        daily = experiment_daily(with_experiments(tiny), "X", metric="gmv", days=7)
        c = daily[daily.variant == "control"].set_index("day")["sum"]
        assert c.is_monotonic_increasing
        assert c.loc[1] == pytest.approx(160.0)  # C1's three orders fall on Jan 2
        assert c.loc[7] == pytest.approx(290.0)  # plus C3's 130

    def test_errors(self, tiny):
        wb = with_experiments(tiny)
        with pytest.raises(ParameterError, match="unknown experiment_id 'Y'"):
            experiment_frame(wb, "Y")
        with pytest.raises(ParameterError, match="window_days"):
            experiment_frame(wb, "X", window_days=0)
