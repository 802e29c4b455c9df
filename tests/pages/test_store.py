"""The store page: the to-do counts against hand counts (tiny brand) and independent pandas counts
(simulated brand), lists with masked ids only, and the KPIs against the metric system with consistent
medians and ranks.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.handbuilt import staffed_brand
from workbench import ParameterError, metrics
from workbench.masking import mask_tokens
from workbench.pages import guides as guides_page
from workbench.pages import store as page

T = pd.Timestamp
KEY = "k" * 32
AT = "2025-01-08"


@pytest.fixture(scope="module")
def tiny_wb():
    return workbench.open(staffed_brand(), as_of="2025-02-01")


def _no_raw_ids(frames: list[pd.DataFrame], raw: set[str]) -> None:
    for df in frames:
        assert "customer_id" not in df.columns
        cells = set(df.astype(str).to_numpy().ravel())
        assert not cells & raw
        assert df["customer"].str.fullmatch(r"C-[0-9a-f]{20}").all()


# ---------------------------------------------------------------------- to-do, tiny brand
def test_tiny_todo_matches_the_hand_count(tiny_wb):
    todo = page.store_todo(tiny_wb, "S1", as_of=AT, key=KEY)
    # buyers at S1 before 01-08 who are nobody's contact then: C4 (shared by E2) and C7 (no guide)
    assert todo.buyers_not_added.value == 2
    # open with S1 guides at 01-08: E1–C1, E1–C2, E2–C2, E2–C6 (taken over); C2 is in G1
    assert todo.not_in_group.value == 2
    per = todo.per_guide.set_index("display_name")
    assert list(per.index) == ["E2", "Li Na", page.UNASSIGNED]     # E4 left and has no customer waiting
    assert per.loc["E2", ["buyers_not_added", "not_in_group"]].tolist() == [1, 1]
    assert per.loc["Li Na", ["buyers_not_added", "not_in_group"]].tolist() == [0, 1]
    assert per.loc[page.UNASSIGNED, "buyers_not_added"] == 1
    assert per["buyers_not_added"].sum() == todo.buyers_not_added.value
    # the metric system's counts of the same store
    cur = metrics.current_contacts(tiny_wb, AT, by="store").set_index("store_id")
    assert cur.loc["S1", "added_not_in_group"] == todo.not_in_group.value
    pos = metrics.pos_buyers_not_added(tiny_wb, T(AT) - pd.Timedelta(days=90), AT).set_index("store_id")
    assert pos.loc["S1", "not_added"] == todo.buyers_not_added.value     # every one of them bought at the POS


def test_a_person_with_two_guides_is_one_todo_under_the_oldest_relationship():
    """C1 is also E2's contact from 01-05 (E1's since 01-02 15:00): still one person not in a group, and the
    guides' rows add up to the store's count (the store page's column is summed by its readers)."""
    tables = staffed_brand()
    ev = tables["contact_events"]
    extra = pd.DataFrame([(T("2025-01-05 11:00"), "C1", "E2", "add", None)], columns=ev.columns)
    tables["contact_events"] = pd.concat([ev, extra], ignore_index=True)
    todo = page.store_todo(workbench.open(tables, as_of="2025-02-01"), "S1", as_of=AT, key=KEY)
    assert todo.not_in_group.value == 2                         # C1 and C6, persons
    per = todo.per_guide.set_index("display_name")
    assert per.loc["Li Na", "not_in_group"] == 1 and per.loc["E2", "not_in_group"] == 1   # C1 stays E1's
    assert per["not_in_group"].sum() == todo.not_in_group.value
    assert len(todo.not_in_group_list) == 2
    assert dict(zip(todo.not_in_group_list["customer"], todo.not_in_group_list["display_name"], strict=True)) == {
        mask_tokens(pd.Series(["C1"]), KEY.encode())[0]: "Li Na",
        mask_tokens(pd.Series(["C6"]), KEY.encode())[0]: "E2"}


def test_tiny_todo_lists_hold_masked_ids_only(tiny_wb):
    todo = page.store_todo(tiny_wb, "S1", as_of=AT, key=KEY)
    lists = [todo.buyers_list, todo.not_in_group_list, todo.at_risk_list]
    _no_raw_ids(lists, {f"C{i}" for i in range(1, 8)})
    assert set(todo.buyers_list["customer"]) == set(mask_tokens(pd.Series(["C4", "C7"]), KEY.encode()))
    assert set(todo.not_in_group_list["customer"]) == set(mask_tokens(pd.Series(["C1", "C6"]), KEY.encode()))
    assert dict(zip(todo.buyers_list["customer"], todo.buyers_list["display_name"], strict=True)) == {
        mask_tokens(pd.Series(["C4"]), KEY.encode())[0]: "E2",
        mask_tokens(pd.Series(["C7"]), KEY.encode())[0]: page.UNASSIGNED}
    # a different key, different tokens: the list cannot be joined back without the key
    other = page.store_todo(tiny_wb, "S1", as_of=AT, key="z" * 32)
    assert not set(other.buyers_list["customer"]) & set(todo.buyers_list["customer"])


def test_tiny_todo_without_a_risk_model_says_so(tiny_wb):
    todo = page.store_todo(tiny_wb, "S1", as_of=AT, key=KEY)
    assert todo.risk_note and math.isnan(todo.at_risk.value) and todo.at_risk_list.empty
    assert "2" in todo.finding("en") and "90" in todo.finding("zh")
    assert list(todo.table("zh").columns) == ["导购", "未加好友的购买客户（人数）", "未入群好友（人数）",
                                              "有删除风险的好友"]
    assert "risk" not in todo.finding("en")          # no model: the sentence says nothing about risk
    with pytest.raises(ParameterError):
        page.store_todo(tiny_wb, "S9", as_of=AT, key=KEY)


# ---------------------------------------------------------------------- KPIs, tiny brand
def test_tiny_kpis_match_the_hand_count(tiny_wb):
    k = page.store_kpis(tiny_wb, "S1", "2025-01-01", "2025-01-08")
    v = {name: kpi.current.value for name, kpi in k.kpis.items()}
    assert v["add_persons"] == 4                      # C1, C2 (E1); C2, C6 (E2); C5, C6 (E4)
    assert v["contacts"] == 4 and v["group_coverage"] == pytest.approx(1 / 3)
    # one delete; contacts 0 at the start, 4 at the end: 1 / 2 × 1,000 per month of 365.25/12 days over 7 days
    assert v["deletes_per_1000"] == pytest.approx(1000 * 1 / 2 * (365.25 / 12) / 7)
    assert (v["user_buyers"], v["user_gmv"]) == (2, 250.0)      # O2 (C1 re-added) and O3 (C2)
    add = k.kpis["add_persons"]
    assert (add.rank, add.n_stores) == (1, 2) and add.brand_median.value == 2.5 and add.region_median.value == 4
    assert add.previous.value == 0 and k.region == "East"
    # S2 has no contacts at either end: no delete rate, so it is not ranked on it
    dels = k.kpis["deletes_per_1000"]
    assert (dels.rank, dels.n_stores) == (1, 1) and dels.lower_is_better and math.isnan(dels.previous.value)
    assert add.rank_text("zh") == "第 1/2" and add.rank_text("en") == "1 of 2"
    assert len(k.table("en")) == len(page.KPI_DEFS)


# ---------------------------------------------------------------------- simulated brand
@pytest.fixture(scope="module")
def sim(report_brand):
    folder, brand = report_brand
    as_of = T(brand.truth["as_of"][:10])
    wb = workbench.open(folder / "data", as_of=as_of)
    return wb, brand, as_of


def _open_customers(events: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """(customer, staff) pairs whose last event before ``at`` is an add (the simulator has no same-second ties)."""
    ev = events[events["event_time"] < at].sort_values("event_time")
    last = ev.groupby(["customer_id", "staff_id"], as_index=False).last()
    return last.loc[last["event_type"] == "add", ["customer_id", "staff_id"]]


def test_sim_todo_counts_match_pandas_and_the_metrics(sim):
    wb, brand, at = sim
    todo = page.store_todo(wb, "S001", key=KEY, limit_per_guide=None)
    o = brand.tables["orders"]
    o = o[(o["store_id"] == "S001") & o["customer_id"].notna() & (o["order_time"] >= at - pd.Timedelta(days=90))
          & (o["order_time"] < at)]
    open_now = set(_open_customers(brand.tables["contact_events"], at)["customer_id"])
    assert todo.buyers_not_added.value == len(set(o["customer_id"]) - open_now) > 0
    cur = metrics.current_contacts(wb, at, by="store").set_index("store_id")
    assert todo.not_in_group.value == cur.loc["S001", "added_not_in_group"] > 0
    # each stated count is the sum of the guides' rows a store manager would add up
    for name in ("buyers_not_added", "not_in_group", "at_risk"):
        assert todo.per_guide[name].sum() == getattr(todo, name).value, name
    # at-risk per guide: the leaderboard's count for the same guides at the same instant
    board = guides_page.guide_leaderboard(wb, at - pd.Timedelta(days=30), at, store_id="S001").rows
    per = todo.per_guide.dropna(subset=["staff_id"]).set_index("staff_id")
    assert todo.risk_note is None and todo.at_risk.value == per["at_risk"].sum() > 0
    want = board.set_index("staff_id")["at_risk"].reindex(per.index).fillna(0)
    pd.testing.assert_series_equal(per["at_risk"], want, check_dtype=False, check_names=False)
    # the lists hold each guide's counted customers
    for name, lst in (("buyers_not_added", todo.buyers_list), ("not_in_group", todo.not_in_group_list),
                      ("at_risk", todo.at_risk_list)):
        counted = lst.groupby(lst["staff_id"].fillna("-"))["customer"].nunique()
        expected = todo.per_guide.assign(staff_id=todo.per_guide["staff_id"].fillna("-")).set_index("staff_id")[name]
        pd.testing.assert_series_equal(counted.reindex(expected.index).fillna(0), expected, check_dtype=False,
                                       check_names=False)


def test_sim_todo_lists_are_masked_ranked_and_capped(sim):
    wb, brand, _ = sim
    todo = page.store_todo(wb, "S001", key=KEY, limit_per_guide=3)
    raw = set(brand.tables["customers"]["customer_id"].astype(str))
    _no_raw_ids([todo.buyers_list, todo.not_in_group_list, todo.at_risk_list], raw)
    assert todo.at_risk_list.groupby("staff_id").size().max() <= 3
    for _, rows in todo.at_risk_list.groupby("staff_id"):
        assert rows["value"].is_monotonic_decreasing          # high value first
    assert set(todo.at_risk_list["display_name"]) <= set(todo.per_guide["display_name"])


def test_sim_kpis_reconcile_with_metrics_and_ranks_are_consistent(sim):
    wb, _, at = sim
    s, e = at - pd.Timedelta(days=30), at
    k = page.store_kpis(wb, "S001", s, e)
    acq = metrics.acquisition(wb, s, e, grain=None, by="store").set_index("store_id")
    prev = metrics.acquisition(wb, s - pd.Timedelta(days=30), s, grain=None, by="store").set_index("store_id")
    cur = metrics.current_contacts(wb, e, by="store").set_index("store_id")
    conv = metrics.conversion(wb, s, e, grain=None, by="store").set_index("store_id")
    assert k.kpis["add_persons"].current.value == acq.loc["S001", "add_persons"]
    assert k.kpis["add_persons"].previous.value == prev.loc["S001", "add_persons"]
    assert k.kpis["contacts"].current.value == cur.loc["S001", "contacts"]
    assert k.kpis["user_gmv"].current.value == pytest.approx(conv.loc["S001", "user_gmv"])
    assert k.kpis["user_buyers"].current.value == conv.loc["S001", "user_buyers"]
    stores = k.stores.set_index("store_id")
    region = wb.frame("stores").set_index("store_id")["region"]
    for name, kpi in k.kpis.items():
        col = stores[name].dropna()
        assert kpi.n_stores == len(col) == 12 or name == "deletes_per_1000"
        assert kpi.brand_median.value == pytest.approx(np.median(col))
        assert kpi.region_median.value == pytest.approx(np.median(col[region.reindex(col.index) == k.region]))
        better = (col < col["S001"]) if kpi.lower_is_better else (col > col["S001"])
        assert kpi.rank == 1 + better.sum()
        assert kpi.rank_text("zh") == f"第 {kpi.rank}/{kpi.n_stores}"
    ranks = [page._rank(stores["add_persons"], sid, False)[0] for sid in stores.index]
    assert sorted(ranks)[0] == 1 and max(ranks) <= len(stores)
