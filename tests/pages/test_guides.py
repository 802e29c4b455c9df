"""The guide leaderboard, checked by hand and against the metric system.

Hand-worked values on the tiny brand (with a transfer, a departure, names, behaviour statistics and
mass-send results), and every column reconciled with the metric system or an independent pandas count
on the simulated brand.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.handbuilt import staffed_brand
from workbench import ParameterError, metrics
from workbench.churn.risk import at_risk_by, relationship_risk, relationship_risk_sql
from workbench.pages import guides as page
from workbench.pages import ops

T = pd.Timestamp
START, END = "2025-01-01", "2025-01-08"


def guide_brand(mass_sends: bool = False, staff_daily: bool = False) -> dict[str, pd.DataFrame]:
    """The tiny brand with names, a departure, a transfer, touches and two more buyers.

    E1 is named "Li Na"; guide E4 of S1 adds C5 and C6 and leaves on 01-04 (C5 closed as staff_left),
    C6 is transferred to E2 on 01-03; touches; C4 buys at S1 via E2, C7 (never added) at S1.
    """
    tb = staffed_brand()
    touches = pd.DataFrame([
        (T("2025-01-02 17:00"), "C1", "E1", "chat", None),
        (T("2025-01-03 17:00"), "C1", "E1", "chat", None),     # the same customer twice: one person
        (T("2025-01-03 18:00"), "C2", "E1", "chat", None),
        (T("2025-01-03 18:00"), "C2", "E2", "chat", None),
        (T("2025-01-03 19:00"), "C2", "E1", "group_message", None),
        (T("2025-01-02 10:00"), "C1", "E1", "task_push", "T1"),
        (T("2025-01-02 10:00"), "C2", "E1", "mass_send", "T1"),
        (T("2025-01-02 10:00"), "C2", "E2", "task_push", "T1"),
        (T("2025-01-02 10:00"), "C2", "E2", "coupon_issue", "T1"),  # not a push
        (T("2025-01-09 10:00"), "C2", "E2", "chat", None),          # after the window
    ], columns=["event_time", "customer_id", "staff_id", "touch_type", "task_id"])
    out = dict(tb, touches=touches)
    if mass_sends:
        out["mass_sends"] = pd.DataFrame([
            ("T1", "E1", "C1", T("2025-01-02 09:00"), "sent", T("2025-01-02 10:00")),
            ("T1", "E1", "C2", T("2025-01-02 09:00"), "not_friend", None),
            ("T1", "E2", "C2", T("2025-01-02 09:00"), "sent", T("2025-01-02 10:00")),
            ("T1", "E2", "C1", T("2025-01-02 09:00"), "not_sent", None),
            ("T1", "E3", "C3", T("2025-01-09 09:00"), "sent", None),    # after the window
        ], columns=["task_id", "staff_id", "customer_id", "created_at", "status", "send_time"])
    if staff_daily:
        out["staff_daily"] = pd.DataFrame([
            (T("2025-01-02"), "E1", 3.0, 2.0, 10.0, 40.0, 0.0, 80.0, 5.0),
            (T("2025-01-03"), "E1", 1.0, 1.0, 30.0, 90.0, 0.0, 60.0, 15.0),
            (T("2025-01-03"), "E2", 1.0, 1.0, 5.0, 9.0, 0.0, None, 4.0),
            (T("2025-01-08"), "E2", 1.0, 1.0, 50.0, 9.0, 0.0, 10.0, 100.0),   # after the window
        ], columns=["stat_date", "staff_id", "new_apply_cnt", "new_contact_cnt", "chat_cnt", "message_cnt",
                    "negative_feedback_cnt", "reply_percentage", "avg_reply_time"])
    return out


def board_of(tables, **kw) -> pd.DataFrame:
    wb = workbench.open(tables, as_of="2025-02-01")
    return page.guide_leaderboard(wb, START, END, **kw).rows.set_index("staff_id")


# ---------------------------------------------------------------------- hand-worked values
EXPECTED = pd.DataFrame.from_records([
    # staff, name, adds, add_persons, by_customer, by_staff, contacts, coverage, chats, pushes, user_buyers,
    # user_gmv, task_buyers, task_gmv, departed
    ("E1", "Li Na", 3, 2, 1, 0, 2, 0.5, 2, 2, 2, 250.0, 1, 50.0, False),
    ("E2", "E2", 2, 2, 0, 0, 2, 0.5, 1, 1, 0, 0.0, 1, 40.0, False),   # C2, and C6 taken over on 01-03
    ("E3", "E3", 1, 1, 0, 1, 0, np.nan, 0, 0, 1, 80.0, 0, 0.0, False),
    ("E4", "E4", 2, 2, 0, 0, 0, np.nan, 0, 0, 0, 0.0, 0, 0.0, True),
], columns=["staff_id", "display_name", "adds", "add_persons", "deletes_by_customer", "deletes_by_staff", "contacts",
            "group_coverage", "chats", "pushes_executed", "user_buyers", "user_gmv", "task_buyers", "task_gmv",
            "departed"]).set_index("staff_id")


def test_tiny_leaderboard_matches_the_hand_count():
    rows = board_of(guide_brand())
    assert sorted(rows.index) == ["E1", "E2", "E3", "E4"]          # the HQ member is not a guide
    for col in EXPECTED.columns:
        pd.testing.assert_series_equal(rows.loc[EXPECTED.index, col], EXPECTED[col], check_dtype=False,
                                       check_names=False, obj=col)
    assert (rows["deletes"] == rows["deletes_by_customer"] + rows["deletes_by_staff"]).all()
    assert (rows["net"] == rows["adds"] - rows["deletes"]).all()
    # E4's staff_left and transfer closed both relationships without a delete
    assert rows.loc["E4", ["deletes", "net", "contacts"]].tolist() == [0, 2, 0]
    assert rows["pushes_assigned"].isna().all() and rows["push_rate"].isna().all()   # no mass_sends
    assert rows["reply_rate"].isna().all()


def test_tiny_risk_columns_are_empty_with_a_reason():
    wb = workbench.open(guide_brand(), as_of="2025-02-01")
    board = page.guide_leaderboard(wb, START, END)
    assert board.risk_note                                 # seven spells cannot fit a Cox model
    assert board.rows["at_risk"].isna().all() and board.rows["expected_deletes"].isna().all()


def test_pushes_from_mass_sends_are_sent_over_all():
    rows = board_of(guide_brand(mass_sends=True))
    assert rows.loc["E1", ["pushes_executed", "pushes_assigned", "push_rate"]].tolist() == [1, 2, 0.5]
    assert rows.loc["E2", ["pushes_executed", "pushes_assigned", "push_rate"]].tolist() == [1, 2, 0.5]
    assert rows.loc["E3", "pushes_assigned"] == 0 and math.isnan(rows.loc["E3", "push_rate"])   # its send is later


def test_reply_rate_and_minutes_are_weighted_by_chats():
    rows = board_of(guide_brand(staff_daily=True))
    assert rows.loc["E1", "reply_rate"] == pytest.approx((0.80 * 10 + 0.60 * 30) / 40)
    assert rows.loc["E1", "reply_minutes"] == pytest.approx((5 * 10 + 15 * 30) / 40)
    assert math.isnan(rows.loc["E2", "reply_rate"])       # its only day in the window has no reply rate
    assert rows.loc["E2", "reply_minutes"] == pytest.approx(4.0)
    assert math.isnan(rows.loc["E3", "reply_minutes"])


def test_store_view_is_the_brand_rows_of_the_store():
    wb = workbench.open(guide_brand(), as_of="2025-02-01")
    brand = page.guide_leaderboard(wb, START, END).rows.set_index("staff_id")
    store = page.guide_leaderboard(wb, START, END, store_id="S1").rows.set_index("staff_id")
    assert sorted(store.index) == ["E1", "E2", "E4"]
    cols = [c for c in page.COLUMNS if c in store.columns]
    pd.testing.assert_frame_equal(store[cols].sort_index(), brand.loc[sorted(store.index), cols])
    with pytest.raises(ParameterError, match="S9"):
        page.guide_leaderboard(wb, START, END, store_id="S9")


def test_guides_outside_the_period_are_left_out():
    tables = guide_brand()
    tables["staff"] = pd.concat([tables["staff"], pd.DataFrame({
        "staff_id": ["E5", "E6"], "store_id": ["S1", "S2"], "role": ["guide", "guide"], "staff_name": [None, None],
        "left_at": [T("2024-12-01"), None], "hired_at": [None, T("2025-01-08")]})], ignore_index=True)
    rows = board_of(tables)
    assert "E5" not in rows.index and "E6" not in rows.index


def test_display_table_and_sentence_in_both_languages():
    wb = workbench.open(guide_brand(), as_of="2025-02-01")
    board = page.guide_leaderboard(wb, START, END, min_guides=2, min_contacts=1)
    en, zh = board.table("en"), board.table("zh")
    assert "Adds (person-times)" in en.columns and "新增（人数）" in zh.columns
    assert "Task pushes assigned" not in en.columns and "Reply rate (%)" not in en.columns   # tables absent
    assert list(en["Guide"]) == ["E2", "E4", "Li Na", "E3"]       # net adds, highest first, then name
    assert list(board.table("en", sort="contacts")["Guide"])[:2] == ["E2", "Li Na"]
    # E1 and E2 qualify (employed, a contact at the end); the lowest 10% of two is one guide, and E1 ties
    # with E2 at 200 net adds per 100 contacts (no contacts at the start: per 1), so both are named
    bottom = board.bottom_performers
    assert list(bottom["staff_id"]) == ["E2", "E1"]
    assert "E2" in board.finding("en") and "E2" in board.finding("zh")
    assert board.guides.value == 4 and board.departed.value == 1
    assert "at least 1 contacts" in board.rule_text("en") and "10" in board.rule_text("zh")
    with pytest.raises(ParameterError, match="no column"):
        board.sorted_by("nope")


# ---------------------------------------------------------------------- simulated brand
@pytest.fixture(scope="module")
def sim(report_brand):
    folder, brand = report_brand
    as_of = brand.truth["as_of"][:10]
    wb = workbench.open(folder / "data", as_of=as_of)
    start, end = ops.report_window(wb, as_of, 92)     # the last quarter: holds mass sends of October
    board = page.guide_leaderboard(wb, start, end)
    return wb, brand, start, end, board, board.rows.set_index("staff_id")


def _guides(rows: pd.DataFrame, metric: pd.DataFrame, col: str) -> tuple[pd.Series, pd.Series]:
    expected = metric.set_index("staff_id")[col].reindex(rows.index).fillna(0)
    return rows[col], expected


@pytest.mark.parametrize("col", ["adds", "add_persons"])
def test_adds_reconcile_with_acquisition_by_staff(sim, col):
    wb, _, start, end, _, rows = sim
    got, want = _guides(rows, metrics.acquisition(wb, start, end, grain=None, by="staff"), col)
    assert rows[col].sum() > 0
    pd.testing.assert_series_equal(got, want, check_dtype=False, check_names=False)


@pytest.mark.parametrize("col", ["deletes_by_customer", "deletes_by_staff"])
def test_deletes_reconcile_with_losses_by_staff(sim, col):
    wb, _, start, end, _, rows = sim
    got, want = _guides(rows, metrics.losses(wb, start, end, grain=None, by="staff"), col)
    pd.testing.assert_series_equal(got, want, check_dtype=False, check_names=False)


def test_contacts_reconcile_with_current_contacts_by_staff(sim):
    wb, _, _, end, _, rows = sim
    got, want = _guides(rows, metrics.current_contacts(wb, end, by="staff"), "contacts")
    pd.testing.assert_series_equal(got, want, check_dtype=False, check_names=False)


@pytest.mark.parametrize("col", ["task_buyers", "task_gmv"])
def test_task_view_reconciles_with_conversion_by_staff(sim, col):
    wb, _, start, end, _, rows = sim
    got, want = _guides(rows, metrics.conversion(wb, start, end, grain=None, by="staff"), col)
    pd.testing.assert_series_equal(got, want, check_dtype=False, check_names=False, rtol=1e-9)


def _open_pairs(events: pd.DataFrame, pair: list[str], opening: str, at: pd.Timestamp) -> pd.DataFrame:
    """Pairs whose last event before ``at`` opens them (the simulator has no same-second ties)."""
    ev = events[events["event_time"] < at].sort_values("event_time")
    last = ev.groupby(pair, as_index=False).last()
    return last.loc[last["event_type"] == opening, pair]


def _intervals(events: pd.DataFrame) -> pd.DataFrame:
    """Contact intervals in pandas: each add that opens a pair, ended by the pair's next close."""
    ev = events.sort_values(["customer_id", "staff_id", "event_time"]).copy()
    ev["is_add"] = ev["event_type"] == "add"
    prev = ev.groupby(["customer_id", "staff_id"])["is_add"].shift()
    ev = ev[ev["is_add"].ne(prev)]          # a repeated add (or close) is ignored
    ev["end"] = ev.groupby(["customer_id", "staff_id"])["event_time"].shift(-1)
    return ev[ev["is_add"]][["customer_id", "staff_id", "event_time", "end"]].rename(columns={"event_time": "start"})


def test_group_coverage_matches_a_pandas_count(sim):
    _, brand, _, end, _, rows = sim
    tb = brand.tables
    contacts = _open_pairs(tb["contact_events"], ["customer_id", "staff_id"], "add", end)
    members = _open_pairs(tb["group_events"], ["customer_id", "group_id"], "join", end)
    members = members.merge(tb["groups"][["group_id", "store_id"]], on="group_id")[["customer_id", "store_id"]]
    contacts = contacts.merge(tb["staff"][["staff_id", "store_id"]], on="staff_id")
    contacts["in_group"] = contacts.merge(members.drop_duplicates(), on=["customer_id", "store_id"], how="left",
                                          indicator=True)["_merge"].eq("both").to_numpy()
    want = contacts.groupby("staff_id")["in_group"].mean().reindex(rows.index)
    pd.testing.assert_series_equal(rows["group_coverage"], want, check_names=False)
    assert 0.1 < rows["group_coverage"].median() < 0.9


def test_user_view_matches_a_pandas_interval_join(sim):
    _, brand, start, end, _, rows = sim
    tb = brand.tables
    iv = _intervals(tb["contact_events"])
    o = tb["orders"][(tb["orders"]["order_time"] >= start) & (tb["orders"]["order_time"] < end)]
    j = o.merge(iv, on="customer_id")
    j = j[(j["start"] <= j["order_time"]) & (j["end"].isna() | (j["end"] > j["order_time"]))]
    want = j.groupby("staff_id").agg(user_buyers=("customer_id", "nunique"), user_gmv=("amount", "sum"))
    want = want.reindex(rows.index).fillna(0)
    assert rows["user_buyers"].sum() > 0
    pd.testing.assert_series_equal(rows["user_buyers"], want["user_buyers"], check_dtype=False, check_names=False)
    pd.testing.assert_series_equal(rows["user_gmv"], want["user_gmv"], check_names=False, rtol=1e-9)


def test_chats_and_pushes_match_a_pandas_count(sim):
    _, brand, start, end, _, rows = sim
    tc = brand.tables["touches"]
    tc = tc[(tc["event_time"] >= start) & (tc["event_time"] < end)]
    chats = tc[tc["touch_type"] == "chat"].groupby("staff_id")["customer_id"].nunique()
    pd.testing.assert_series_equal(rows["chats"], chats.reindex(rows.index).fillna(0), check_dtype=False,
                                   check_names=False)
    if "mass_sends" in brand.tables:      # assignments and their results: sent / all
        ms = brand.tables["mass_sends"]
        ms = ms[(ms["created_at"] >= start) & (ms["created_at"] < end)]
        pushes = ms[ms["status"] == "sent"].groupby("staff_id").size()
        assigned = ms.groupby("staff_id").size().reindex(rows.index).fillna(0)
        pd.testing.assert_series_equal(rows["pushes_assigned"], assigned, check_dtype=False, check_names=False)
    else:                                 # touches only: executed, assigned unknown
        pushed = tc[tc["task_id"].notna() & tc["touch_type"].isin(["task_push", "mass_send"])]
        pushes = pushed.groupby("staff_id").size()
        assert rows["pushes_assigned"].isna().all()
    pd.testing.assert_series_equal(rows["pushes_executed"], pushes.reindex(rows.index).fillna(0), check_dtype=False,
                                   check_names=False)
    assert rows["pushes_executed"].sum() > 0


def test_risk_columns_reconcile_with_the_churn_model(sim):
    wb, _, _, end, board, rows = sim
    assert board.risk_note is None
    per_staff = at_risk_by(wb, end, "staff_id", horizon_days=30, value="gmv").set_index("staff_id")
    want = per_staff["expected_deletions"].reindex(rows.index).fillna(0.0)
    pd.testing.assert_series_equal(rows["expected_deletes"], want, check_names=False, rtol=1e-9)
    ranked, _ = relationship_risk(wb, end, horizon_days=30, value="gmv")
    pct = (ranked["risk"].rank(method="min") - 1) / (len(ranked) - 1)
    top = ranked[pct >= page.TOP_DECILE].groupby("staff_id").size().reindex(rows.index).fillna(0)
    pd.testing.assert_series_equal(rows["at_risk"], top, check_dtype=False, check_names=False)
    # the top decile: about a tenth of the brand's open relationships
    assert rows["at_risk"].sum() == pytest.approx(0.1 * len(ranked), abs=0.02 * len(ranked))


def test_top_decile_by_the_cut_is_the_percent_rank_of_every_relationship(sim):
    """Comparing each risk with the brand's cut marks exactly the rows PERCENT_RANK ≥ 0.9 marks."""
    wb, _, _, end, _, _ = sim
    sql, _ = relationship_risk_sql(wb, end, 30.0, "gmv")
    want = wb.query(f"""SELECT customer_id, staff_id, CASE WHEN PERCENT_RANK() OVER (ORDER BY risk) >= 0.9
                        THEN 1 ELSE 0 END AS top FROM ({sql}) r""")
    got = wb.query(f"SELECT customer_id, staff_id, top_decile AS top FROM ({page.risk_by_relationship_sql(wb, end, 30)})")
    both = want.merge(got, on=["customer_id", "staff_id"], suffixes=("_rank", "_cut"), validate="one_to_one")
    assert len(both) == len(want) == len(got) and both["top_rank"].sum() > 0
    assert (both["top_rank"] == both["top_cut"]).all()


def test_bottom_performers_follow_the_stated_rule(sim):
    _, _, _, _, board, rows = sim
    eligible = ~rows["departed"] & (rows[["contacts_start", "contacts"]].max(axis=1) >= 20)
    bottom = rows[rows["bottom"]]
    assert len(bottom) >= max(1, math.floor(0.1 * eligible.sum()))
    assert eligible[bottom.index].all()
    others = rows[eligible & ~rows["bottom"]]
    assert bottom["net_per_100"].max() < others["net_per_100"].min()
    assert list(board.bottom_performers["staff_id"]) == list(bottom.sort_values(["net_per_100", "display_name"]).index)
    assert board.guides.value == len(rows) and board.departed.value == rows["departed"].sum()


def test_store_rows_sum_to_the_store_adds(sim):
    wb, _, start, end, _, _ = sim
    store = page.guide_leaderboard(wb, start, end, store_id="S001").rows
    acq = metrics.acquisition(wb, start, end, grain=None, by="store").set_index("store_id")
    assert store["adds"].sum() == acq.loc["S001", "adds"]
    assert set(store["store_id"]) == {"S001"}


def test_reply_columns_match_a_pandas_weighted_mean(sim):
    _, brand, start, end, board, rows = sim
    if "staff_daily" not in brand.tables:
        pytest.skip("the simulated brand has no behaviour statistics")
    sd = brand.tables["staff_daily"]
    sd = sd[(sd["stat_date"] >= start) & (sd["stat_date"] < end)]
    for col, name, scale in (("reply_percentage", "reply_rate", 100.0), ("avg_reply_time", "reply_minutes", 1.0)):
        known = sd[sd[col].notna()]
        w = known.assign(x=known[col] * known["chat_cnt"]).groupby("staff_id")[["x", "chat_cnt"]].sum()
        want = (w["x"] / w["chat_cnt"].where(w["chat_cnt"] > 0) / scale).reindex(rows.index)
        pd.testing.assert_series_equal(rows[name], want, check_names=False, rtol=1e-9)
    assert board.has_behaviour and 0 < rows["reply_rate"].median() <= 1
