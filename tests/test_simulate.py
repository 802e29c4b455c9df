"""The simulator: a valid, consistent, deterministic brand whose processes match its truth."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import contract
from workbench.simulate import _bgnbd_expected, simulate_brand


@pytest.fixture(scope="module")
def brand():
    return simulate_brand(20_000, seed=11)


class TestSimulator:
    def test_every_contract_table_validates(self, brand):
        assert set(brand.tables) == set(contract.TABLES)
        wb = workbench.open(brand.tables, as_of=brand.truth["as_of"])
        counts = wb.validate_all()
        assert counts["customers"] == 20_000 and counts["orders"] > 20_000

    def test_deterministic_for_a_seed(self):
        a, b = simulate_brand(1_000, seed=3), simulate_brand(1_000, seed=3)
        for name in a.tables:
            pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
        assert simulate_brand(1_000, seed=4).tables["orders"]["amount"].sum() != a.tables["orders"]["amount"].sum()

    def test_contact_events_alternate_per_pair(self, brand):
        ce = brand.tables["contact_events"].copy()
        ce["is_add"] = ce["event_type"].eq("add")
        ce = ce.sort_values(["customer_id", "staff_id", "event_time", "is_add"], ascending=[True, True, True, False])
        prev = ce.groupby(["customer_id", "staff_id"])["is_add"].shift()
        assert ce.groupby(["customer_id", "staff_id"])["is_add"].first().all()
        assert not (ce["is_add"] & prev.eq(True)).any() and not (~ce["is_add"] & prev.eq(False)).any()

    def test_person_times_differ_from_persons(self, brand):
        adds = brand.tables["contact_events"].query("event_type == 'add'")
        assert len(adds) > adds["customer_id"].nunique()  # re-adds and second guides

    def test_repeat_purchases_follow_bgnbd(self, brand):
        t = brand.truth
        c = brand.tables["customers"].set_index("customer_id")
        asg = brand.tables["assignments"].query("experiment_id == 'HOLDOUT'").set_index("unit_id")["variant"]
        o = brand.tables["orders"]
        base = o[~o["task_id"].fillna("").str.startswith("TX")]
        n = base.groupby("customer_id").size()
        T = (pd.Timestamp(t["as_of"]) - c.loc[n.index, "registered_at"]).dt.total_seconds() / 86400 / 7
        reached = asg.loc[n.index].eq("reached").to_numpy()
        alpha = np.where(reached, t["bgnbd_reached"]["alpha"], t["bgnbd"]["alpha"])
        expected = 1 + _bgnbd_expected(T.to_numpy(), t["bgnbd"]["r"], alpha, t["bgnbd"]["a"], t["bgnbd"]["b"])
        se = n.std() / np.sqrt(len(n))
        assert abs(n.mean() - expected.mean()) < 4 * se

    def test_spend_mean_matches_gamma_gamma(self, brand):
        amounts = brand.tables["orders"]["amount"]
        assert abs(amounts.mean() - brand.truth["mean_spend"]) < 4 * amounts.std() / np.sqrt(len(amounts))

    def test_holdout_gets_no_task_touches(self, brand):
        asg = brand.tables["assignments"].query("experiment_id == 'HOLDOUT'")
        hold = set(asg.loc[asg["variant"] == "holdout", "unit_id"])
        assert 0.08 < len(hold) / 20_000 < 0.12
        touches = brand.tables["touches"]
        task_kinds = touches[touches["touch_type"].isin(["task_push", "mass_send", "coupon_issue", "live_invite"])]
        assert not task_kinds["customer_id"].isin(hold).any()
        assert touches.loc[touches["touch_type"] == "chat", "customer_id"].isin(hold).any()

    def test_funnel_near_truth(self, brand):
        wb = workbench.open(brand.tables, as_of=brand.truth["as_of"])
        f = workbench.metrics.funnel(wb, brand.truth["start"], brand.truth["as_of"], by="brand").iloc[0]
        assert abs(f["add_rate"] - brand.truth["funnel"]["add_prob_mean"]) < 0.05
        assert abs(f["join_rate"] - brand.truth["funnel"]["join_prob_mean"]) < 0.05

    def test_no_event_at_or_after_as_of(self, brand):
        as_of = pd.Timestamp(brand.truth["as_of"])
        for name, spec in contract.TABLES.items():
            for col in spec.time_columns:
                if col in brand.tables[name]:
                    assert not (brand.tables[name][col] >= as_of).any(), (name, col)

    def test_writes_parquet_and_truth(self, tmp_path):
        simulate_brand(500, seed=2, out=tmp_path)
        assert (tmp_path / "orders.parquet").exists()
        truth = json.loads((tmp_path / "truth.json").read_text())
        for key in ("bgnbd", "gamma_gamma", "churn", "holdout", "experiments", "funnel", "seven_day_rule"):
            assert key in truth
        assert set(truth["experiments"]) == {"EXP_CUST", "EXP_STORE"}
