"""The metric system against hand-computed values on the tiny brand (see tests/handbuilt.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench import ParameterError, metrics

START, END = "2025-01-01", "2025-01-08"


@pytest.fixture(scope="module")
def wb(engine):
    """The tiny brand on each engine (DuckDB, Spark), opened once per module: the hand-worked values hold on
    both. Tests must not modify it."""
    return engine(tiny_brand(), as_of="2025-02-01")


def row(df, **where):
    mask = np.ones(len(df), bool)
    for k, v in where.items():
        mask &= df[k].to_numpy() == v
    assert mask.sum() == 1, df
    return df[mask].iloc[0]


class TestAcquisition:
    def test_brand_person_times_vs_persons(self, wb):
        df = metrics.acquisition(wb, START, END, grain=None)
        r = df.iloc[0]
        assert (r.adds, r.add_persons, r.new_persons) == (5, 3, 3)
        assert (r.group_joins, r.group_join_persons) == (2, 2)

    def test_two_staff_of_one_store_is_one_person(self, wb):
        df = metrics.acquisition(wb, START, END, grain=None, by="store")
        s1 = row(df, store_id="S1")
        assert (s1.adds, s1.add_persons) == (4, 2)
        assert row(df, store_id="S2").adds == 1

    def test_by_staff_and_channel(self, wb):
        by_staff = metrics.acquisition(wb, START, END, grain=None, by="staff")
        assert row(by_staff, staff_id="E1").adds == 3 and row(by_staff, staff_id="E2").adds == 1
        by_group = metrics.acquisition(wb, START, END, grain=None, by="channel_group")
        assert row(by_group, channel_group="offline_store").add_persons == 2
        assert row(by_group, channel_group="ads").add_persons == 1

    def test_store_filter_by_channel_sums_to_the_stores_adds(self, wb):
        """A store's adds by channel are adds to its own guides only (the store view's channel section)."""
        s1 = metrics.acquisition(wb, START, END, grain=None, by="channel_code", store_id="S1")
        cash = row(s1, channel_code="CASH1")
        assert (cash.adds, cash.add_persons, cash.group_joins) == (4, 2, 1)
        # C4 joined G1 (a group of S1) without ever adding: a join with no acquisition channel
        assert s1.adds.sum() == 4 and s1.group_joins.sum() == 2
        s2 = metrics.acquisition(wb, START, END, grain=None, by="channel_code", store_id="S2")
        assert list(s2.channel_code) == ["ADS"] and s2.adds.iloc[0] == 1
        brand = metrics.acquisition(wb, START, END, grain=None, by="channel_code")
        assert brand.adds.sum() == s1.adds.sum() + s2.adds.sum()

    def test_daily_grain(self, wb):
        df = metrics.acquisition(wb, START, END, grain="day")
        jan2 = row(df, period=pd.Timestamp("2025-01-02"))
        # the re-add on T+1 is an add (person-time) but not a new person
        assert (jan2.adds, jan2.new_persons) == (1, 0)
        assert df["adds"].sum() == 5

    def test_bad_arguments(self, wb):
        with pytest.raises(ParameterError, match="grain"):
            metrics.acquisition(wb, START, END, grain="hour")
        with pytest.raises(ParameterError, match="by must be"):
            metrics.acquisition(wb, START, END, by="city")
        with pytest.raises(ParameterError, match="after start"):
            metrics.acquisition(wb, END, START)


class TestRetention:
    def test_losses(self, wb):
        r = metrics.losses(wb, START, END, grain=None).iloc[0]
        assert (r.deletes, r.deletes_by_customer, r.deletes_by_staff, r.delete_persons) == (2, 1, 1, 2)
        assert (r.group_leaves, r.group_leave_persons) == (1, 1)

    def test_current_contacts_and_overlap(self, wb):
        df = metrics.current_contacts(wb, "2025-01-07", by="store")
        s1 = row(df, store_id="S1")
        assert (s1.contacts, s1.contact_persons, s1.staff_with_contacts) == (3, 2, 2)
        assert s1.contacts_per_staff == pytest.approx(1.5)
        assert (s1.group_members, s1.added_not_in_group, s1.in_group_not_added, s1.both) == (1, 1, 0, 1)
        assert "S2" not in set(df["store_id"])  # C3 was deleted by staff

    def test_contacts_between_delete_and_readd(self, wb):
        df = metrics.current_contacts(wb, "2025-01-02 12:00", by="brand")
        # C1 is between delete (09:00) and re-add (15:00): only C2's two contacts are open
        assert (df.contacts.iloc[0], df.contact_persons.iloc[0]) == (2, 1)

    def test_in_group_not_added(self, wb):
        df = metrics.current_contacts(wb, "2025-01-05", by="brand")
        assert df.in_group_not_added.iloc[0] == 1  # C4 is in G1 without a contact

    def test_retention_tools_vs_churn(self, tiny):
        # needs at least four stores with variation: duplicate the brand over four stores
        wb = workbench.open(tiny, as_of="2025-02-01")
        per_store = metrics.store_churn(wb, START, END)
        s2 = row(per_store, store_id="S2")
        assert (s2.exposed, s2.customer_deletes) == (1, 0)
        s1 = row(per_store, store_id="S1")
        assert (s1.exposed, s1.customer_deletes) == (4, 1)
        assert s1.churn_rate == pytest.approx(0.25)

    def test_correlation_matches_scipy(self):
        rng = np.random.default_rng(1)
        x = rng.normal(size=60)
        y = 0.3 * x + rng.normal(size=60)
        c = metrics.correlation(x, y)
        from scipy import stats
        assert c.r == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
        ci = stats.pearsonr(x, y).confidence_interval(0.95)
        assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)


class TestFunnel:
    def test_store_funnel(self, wb):
        df = metrics.funnel(wb, START, END, by="store")
        s1 = row(df, store_id="S1")
        assert (s1.scanned, s1.added, s1.joined, s1.claimed) == (3, 2, 1, 1)
        assert s1.add_rate == pytest.approx(2 / 3)
        assert s1.median_hours_scan_add == pytest.approx(0.125)
        assert s1.median_hours_add_join == pytest.approx(2.0)
        assert s1.median_hours_join_claim == pytest.approx(1.0)
        s2 = row(df, store_id="S2")
        assert (s2.scanned, s2.added, s2.joined) == (1, 1, 0)
        assert s2.median_hours_scan_add == pytest.approx(11.0)


class TestConversion:
    def test_user_view_active_is_interval_aware(self, wb):
        flags = metrics.order_views(wb, START, END).set_index("order_id")
        assert flags.loc["O1", "user_active"] == 0 and flags.loc["O1", "user_ever"] == 1  # between delete and re-add
        assert flags.loc["O2", "user_active"] == 1  # after the T+1 re-add
        assert flags.loc["O7", "user_active"] == 0  # at the very second of the delete
        assert flags.loc["O5", "user_active"] == 0 and flags.loc["O5", "user_ever"] == 1
        assert flags.loc["O6", ["user_active", "user_ever"]].tolist() == [0, 0]

    def test_brand_conversion(self, wb):
        r = metrics.conversion(wb, START, END, grain=None).iloc[0]
        assert (r.orders, r.buyers) == (7, 4)
        assert r.gmv == pytest.approx(540.0) and r.net_gmv == pytest.approx(520.0)
        assert (r.user_orders, r.user_buyers) == (3, 3)
        assert r.user_gmv == pytest.approx(330.0) and r.user_share == pytest.approx(330 / 540)
        assert (r.task_orders, r.task_buyers) == (1, 1) and r.task_gmv == pytest.approx(50.0)

    def test_ever_variant(self, wb):
        r = metrics.conversion(wb, START, END, grain=None, variant="ever").iloc[0]
        assert r.user_orders == 6 and r.user_gmv == pytest.approx(510.0)

    def test_by_store_and_staff(self, wb):
        df = metrics.conversion(wb, START, END, grain=None, by="store")
        assert row(df, store_id="S1").user_gmv == pytest.approx(250.0)
        by_staff = metrics.conversion(wb, START, END, grain=None, by="staff")
        assert row(by_staff, staff_id="E1").task_gmv == pytest.approx(50.0)

    def test_pos_buyers_not_added(self, wb):
        df = metrics.pos_buyers_not_added(wb, START, END, by="store")
        assert (row(df, store_id="S1").pos_buyers, row(df, store_id="S1").not_added) == (2, 0)
        assert (row(df, store_id="S2").pos_buyers, row(df, store_id="S2").not_added) == (1, 1)


class TestKpis:
    def test_headline(self, wb):
        k = metrics.kpis(wb, START, END).set_index("kpi")
        assert k.loc["add_persons", "value"] == 3
        assert k.loc["net_adds", "value"] == 3
        assert k.loc["contacts", "value"] == 3
        assert k.loc["gmv", "value"] == pytest.approx(540.0)
        assert k.loc["gmv", "previous"] == 0 or np.isnan(k.loc["gmv", "previous"])

    def test_net_adds_sits_beside_adds_in_one_unit(self, wb):
        """Net adds are adds − deletes in person-times (5 − 2 = 3), not persons (3) − deletes."""
        k = metrics.kpis(wb, START, END).set_index("kpi")
        assert (k.loc["adds", "value"], k.loc["deletes", "value"]) == (5, 2)
        assert k.loc["net_adds", "value"] == k.loc["adds", "value"] - k.loc["deletes", "value"]
        assert {k.loc[c, "unit"] for c in ("adds", "deletes", "net_adds")} == {"person_times"}
        assert k.loc["add_persons", "unit"] == "persons" and k.loc["user_share", "unit"] == "share"


class TestTaskPerformance:
    def test_user_view_and_task_view_per_task(self, tiny):
        touches = pd.DataFrame([(pd.Timestamp("2025-01-02 08:00"), "C1", "E1", "task_push", "T1"),
                                (pd.Timestamp("2025-01-02 08:00"), "C3", "E3", "task_push", "T1")],
                               columns=["event_time", "customer_id", "staff_id", "touch_type", "task_id"])
        wb = workbench.open(dict(tiny, touches=touches), as_of="2025-02-01")
        r = metrics.task_performance(wb, "2025-01-01", "2025-01-08", window_days=7).iloc[0]
        assert r.reached == 2
        # C1 after the push: O7 (at the delete: inactive), O1 (between delete and re-add), O2 (active);
        # C3: O4 (active), O5 (after the staff delete) -> active orders O2 and O4
        assert (r.user_orders, r.user_buyers, r.user_gmv) == (2, 2, 130.0)
        assert (r.task_orders, r.task_gmv) == (1, 50.0)
        ever = metrics.task_performance(wb, "2025-01-01", "2025-01-08", window_days=7, variant="ever").iloc[0]
        assert ever.user_orders == 5


class TestDefaultsAndOptionalTables:
    def test_window_end_and_instant_default_to_the_workbench_as_of(self, wb):
        pd.testing.assert_frame_equal(metrics.acquisition(wb, START, grain=None),
                                      metrics.acquisition(wb, START, "2025-02-01", grain=None))
        pd.testing.assert_frame_equal(metrics.conversion(wb, START), metrics.conversion(wb, START, "2025-02-01"))
        pd.testing.assert_frame_equal(metrics.current_contacts(wb, by="brand"),
                                      metrics.current_contacts(wb, "2025-02-01", by="brand"))

    def test_without_as_of_the_end_is_needed(self, tiny):
        wb = workbench.open(tiny)
        with pytest.raises(ParameterError, match="as_of"):
            metrics.losses(wb, START)

    def test_absent_optional_tables_count_nothing(self, tiny):
        """Only contact events and orders: no store, channel or group data, the same person-time counts."""
        wb = workbench.open({"contact_events": tiny["contact_events"], "orders": tiny["orders"]}, as_of="2025-02-01")
        acq = metrics.acquisition(wb, START, END, grain=None).iloc[0]
        assert (acq.adds, acq.add_persons, acq.new_persons, acq.group_joins, acq.group_join_persons) == (5, 3, 3, 0, 0)
        los = metrics.losses(wb, START, END, grain=None).iloc[0]
        assert (los.deletes, los.group_leaves) == (2, 0)
        now = metrics.current_contacts(wb, by="brand").iloc[0]
        assert (now.contacts, now.group_members, now.added_not_in_group, now.in_group_not_added) == (3, 0, 2, 0)
        conv = metrics.conversion(wb, START, END, grain=None).iloc[0]
        assert (conv.orders, conv.user_orders, conv.task_orders) == (7, 3, 1)   # active: O2, O3, O4
        assert metrics.store_churn(wb, START, END).empty          # no staff table: no contact has a store
