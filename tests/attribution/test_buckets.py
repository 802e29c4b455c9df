"""Value buckets: precedence, windows and exact reconciliation to total GMV."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import ParameterError
from tests.handbuilt import value_bucket_brand
from workbench.attribution.buckets import holdout_incrementality, value_buckets

T = pd.Timestamp


class TestValueBuckets:
    def test_rules_per_order(self, tiny):
        df = value_buckets(value_bucket_brand(tiny), "2025-01-15", "2025-02-01", by=None).set_index("order_id")
        assert df.loc["P1", "rule"] == "coupon" and df.loc["P1", "credited_staff_id"] == "E1"
        assert df.loc["P2", "rule"] == "none" and df.loc["P2", "bucket"] == "not_attributed"
        assert df.loc["P3", "rule"] == "interaction" and df.loc["P3", "credited_staff_id"] == "E1"
        assert df.loc["P3", "credited_store_id"] == "S1"
        assert df.loc["P4", ["rule", "bucket"]].tolist() == ["transfer", "direct"]
        assert df.loc["P5", ["rule", "bucket"]].tolist() == ["proxy", "indirect"]
        assert df.loc["P6", "rule"] == "live" and df.loc["P7", "rule"] == "none"
        assert df.loc["P8", ["rule", "bucket"]].tolist() == ["link", "direct"]
        assert df.loc["P9", "rule"] == "none" and df.loc["P10", "rule"] == "none"

    def test_precedence_is_configurable(self, tiny):
        df = value_buckets(value_bucket_brand(tiny), "2025-01-15", "2025-02-01", by=None,
                           precedence=("interaction", "coupon", "link", "transfer", "proxy", "live"))
        p1 = df.set_index("order_id").loc["P1"]
        assert p1["rule"] == "interaction" and p1["credited_staff_id"] == "E2"
        assert (df["order_id"].value_counts() == 1).all()

    def test_wider_window_catches_the_eight_day_touch(self, tiny):
        df = value_buckets(value_bucket_brand(tiny), "2025-01-15", "2025-02-01", by=None, interaction_window_days=9)
        assert df.set_index("order_id").loc["P2", "rule"] == "interaction"

    def test_buckets_reconcile_exactly_to_total_gmv(self, tiny):
        wb = value_bucket_brand(tiny)
        agg = value_buckets(wb, "2025-01-15", "2025-02-01", by=("bucket",)).set_index("bucket")
        total = wb.scalar("SELECT SUM(amount) FROM orders WHERE order_time >= '2025-01-15'")
        assert agg["gmv"].sum() == pytest.approx(total, abs=1e-9) and not agg.attrs
        assert agg.loc["direct", "gmv"] == pytest.approx(40 + 55)
        assert agg.loc["indirect", "gmv"] == pytest.approx(300 + 90 + 60 + 70)
        assert agg["gmv_share"].sum() == pytest.approx(1.0)

    def test_by_store_and_month(self, tiny):
        agg = value_buckets(value_bucket_brand(tiny), "2025-01-15", "2025-02-01", by=("month", "store", "bucket"))
        assert {"month", "store_id", "bucket", "orders", "gmv", "net_gmv"} <= set(agg.columns)
        assert agg["orders"].sum() == 10

    def test_bad_parameters(self, tiny):
        with pytest.raises(ParameterError, match="precedence"):
            value_buckets(value_bucket_brand(tiny), "2025-01-15", "2025-02-01", precedence=("link", "magic"))
        with pytest.raises(ParameterError, match="by: unknown"):
            value_buckets(value_bucket_brand(tiny), "2025-01-15", "2025-02-01", by=("city",))


class TestHoldoutIncrementality:
    def test_matches_welch_by_hand(self):
        rng = np.random.default_rng(5)
        n = 400
        ids = [f"C{i}" for i in range(n)]
        variant = np.where(rng.random(n) < 0.2, "holdout", "reached")
        orders = pd.DataFrame({"order_id": [f"O{i}" for i in range(n)], "customer_id": ids,
                               "order_time": T("2025-03-01"), "order_channel": "pos",
                               "amount": rng.gamma(2, 50, n) * np.where(variant == "reached", 1.2, 1.0)})
        exps = pd.DataFrame({"experiment_id": ["HOLDOUT"], "unit": ["customer"], "start_at": [T("2025-01-01")]})
        asg = pd.DataFrame({"experiment_id": "HOLDOUT", "unit_id": ids, "variant": variant})
        wb = workbench.open({"orders": orders, "experiments": exps, "assignments": asg}, as_of="2025-06-01")
        res = holdout_incrementality(wb, "2025-01-01", "2025-06-01")
        from scipy import stats
        a, b = orders.amount[variant == "reached"], orders.amount[variant == "holdout"]
        t = stats.ttest_ind(a, b, equal_var=False)
        ci = t.confidence_interval(0.95)
        assert res.per_customer == pytest.approx(a.mean() - b.mean(), rel=1e-12)
        assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert res.p_value == pytest.approx(t.pvalue, rel=1e-9)
        assert res.total == pytest.approx(res.per_customer * len(a))


class TestChannelRoi:
    def test_tiny_brand(self, tiny):
        from workbench.attribution.channels import channel_roi

        wb = workbench.open(tiny, as_of="2025-02-01")
        df = channel_roi(wb, "2025-01-01", "2025-01-08", as_of="2025-02-01", value_days=30).set_index("channel_code")
        # CASH1: C1 twice (add, re-add), C2 with E1 and E2 -> 4 adds, 2 persons
        assert (df.loc["CASH1", "adds"], df.loc["CASH1", "persons"]) == (4, 2)
        # C1's first add was deleted the next day: 3 of 4 CASH1 adds were still open after 7 days
        assert df.loc["CASH1", "retained_7d"] == pytest.approx(3 / 4)
        # C1 (first add Jan 1 10:00) bought 100+50+10, C2 (first add Jan 1 11:00) 200 -> 360 net
        assert df.loc["CASH1", "buyers"] == 2 and df.loc["CASH1", "gmv"] == pytest.approx(360.0)
        # ADS: C3 deleted by staff after 2 days; bought 80 + 70 - 20 refund; cost 5 per add
        assert df.loc["ADS", "retained_7d"] == 0.0
        assert df.loc["ADS", "gmv"] == pytest.approx(130.0) and df.loc["ADS", "roi"] == pytest.approx(130.0 / 5.0)
