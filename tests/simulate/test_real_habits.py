"""The simulator's WeCom habits: departures and transfers, second closes, add ways, staff_daily, mass_sends.

Counts are checked exactly against the event tables they summarise; rates against the truth
with binomial sampling error.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.simulate import simulate_brand

N = 20_000
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def brand():
    return simulate_brand(N, seed=21)


@pytest.fixture(scope="module")
def left(brand) -> pd.Series:
    """left_at of the guides who leave in the window, by staff_id."""
    return pd.Series({k: pd.Timestamp(v) for k, v in brand.truth["transfers"]["left_staff"].items()})


def _staff_store(brand) -> pd.Series:
    return brand.tables["staff"].set_index("staff_id")["store_id"]


def _second_closes(ce: pd.DataFrame) -> pd.DataFrame:
    """Closes that follow a close of the same pair (the member's delete after the customer's)."""
    ce = ce.assign(is_add=ce["event_type"].eq("add"))
    ce = ce.sort_values(["customer_id", "staff_id", "event_time", "is_add"], ascending=[True, True, True, False],
                        kind="stable")
    g = ce.groupby(["customer_id", "staff_id"], sort=False)
    ce = ce.assign(prev_type=g["event_type"].shift(), prev_time=g["event_time"].shift())
    return ce[~ce["is_add"] & ce["prev_type"].ne("add") & ce["prev_type"].notna()]


class TestDepartures:
    def test_leavers_and_counts(self, brand, left):
        t = brand.truth["transfers"]
        staff = brand.tables["staff"].set_index("staff_id")
        n_guides = brand.truth["n_staff"]
        assert len(left) == round(0.06 * n_guides) == 18
        assert (staff.loc[left.index, "left_at"] == left).all() and (staff.loc[left.index, "role"] == "guide").all()
        heirs = pd.Series(t["successors"])
        assert (_staff_store(brand)[heirs.values].to_numpy() == _staff_store(brand)[heirs.index].to_numpy()).all()
        assert not heirs.isin(left.index).any()
        ce = brand.tables["contact_events"]
        kinds = ce["event_type"].value_counts()
        assert kinds["transfer"] == t["counts"]["transfer"] > 0 and kinds["staff_left"] == t["counts"]["staff_left"] > 0

    def test_staff_left_and_departure_transfers_at_left_at(self, brand, left):
        ce = brand.tables["contact_events"]
        sl = ce[ce["event_type"] == "staff_left"]
        assert (sl["event_time"].to_numpy() == left[sl["staff_id"]].to_numpy()).all()
        tr = ce[ce["event_type"] == "transfer"]
        at_left = tr["staff_id"].isin(left.index) & (tr["event_time"] == tr["staff_id"].map(left))
        # the rest are 在职继承 transfers between guides who stay or before a guide leaves
        active = tr[~at_left]
        assert len(active) == brand.truth["transfers"]["counts"]["active_transfers"] > 0
        # departures: transfers among closes at left_at near the 80% design (binomial, 4 se)
        n_dep = at_left.sum() + len(sl)
        share = at_left.sum() / n_dep
        assert abs(share - 0.8) < 4 * np.sqrt(0.16 / n_dep)

    def test_nothing_of_a_left_guide_after_left_at(self, brand, left):
        t = brand.tables
        ce = t["contact_events"]
        ce = ce[ce["staff_id"].isin(left.index)]
        after = ce["event_time"] >= ce["staff_id"].map(left)
        assert set(ce.loc[after, "event_type"]) <= {"transfer", "staff_left"}
        assert (ce.loc[after, "event_time"] == ce.loc[after, "staff_id"].map(left)).all()
        for name, staff_col, time_col in (("touches", "staff_id", "event_time"), ("orders", "share_staff_id",
                                          "order_time"), ("coupons", "issued_by_staff_id", "issued_at"),
                                          ("mass_sends", "staff_id", "created_at"),
                                          ("mass_sends", "staff_id", "send_time")):
            f = t[name][t[name][staff_col].isin(left.index)]
            assert len(f) > 0, name
            assert not (f[time_col] >= f[staff_col].map(left)).any(), (name, time_col)
        sd = t["staff_daily"][t["staff_daily"]["staff_id"].isin(left.index)]
        assert (sd["stat_date"] <= sd["staff_id"].map(left).dt.normalize()).all()
        last = sd.groupby("staff_id")["stat_date"].max()
        assert (last == left[last.index].dt.normalize()).all()

    def test_takeover_adds_24h_later_on_a_colleague(self, brand):
        ce = brand.tables["contact_events"]
        store = _staff_store(brand)
        tr = ce[ce["event_type"] == "transfer"][["customer_id", "staff_id", "event_time"]]
        take = ce[ce["add_way"] == "202"][["customer_id", "staff_id", "event_time", "initiator", "channel_code"]]
        assert (take["initiator"] == "admin").all() and take["channel_code"].notna().all()
        m = take.assign(from_time=take["event_time"] - DAY).merge(
            tr, left_on=["customer_id", "from_time"], right_on=["customer_id", "event_time"], suffixes=("", "_old"))
        assert len(m) == len(take) == brand.truth["transfers"]["counts"]["takeover_adds"]  # each follows a transfer
        assert (m["staff_id"] != m["staff_id_old"]).all()
        assert (m["staff_id"].map(store) == m["staff_id_old"].map(store)).all()
        # a transfer without a takeover: the window ended, or the customer already had that colleague
        assert len(tr) - len(take) < 0.1 * len(tr)

    def test_transfers_and_departures_censor_spells(self, brand):
        # the interval builder ends the relationship at the transfer, not counted as a delete
        wb = workbench.open(brand.tables, as_of=brand.truth["as_of"])
        summary = wb.validate_all()
        assert summary.sequences["contact_events"]["second_closes"] == brand.truth["second_closes"]["n"]
        assert summary.sequences["contact_events"]["repeated_opens"] == 0


class TestSecondCloses:
    def test_follow_a_customer_delete_within_30_days(self, brand):
        ce = brand.tables["contact_events"]
        sec = _second_closes(ce)
        assert len(sec) == brand.truth["second_closes"]["n"] > 0
        assert (sec["event_type"] == "delete_by_staff").all() and (sec["prev_type"] == "delete_by_customer").all()
        gap = sec["event_time"] - sec["prev_time"]
        assert (gap >= DAY).all() and (gap < 30 * DAY).all()
        # 30% of the customers' deletes, less those the window, a re-add or a departure cut short
        n = (ce["event_type"] == "delete_by_customer").sum()
        assert 0.2 < len(sec) / n < 0.3 + 4 * np.sqrt(0.21 / n)


class TestAddWays:
    def test_add_way_initiator_origin(self, brand):
        ce = brand.tables["contact_events"]
        adds = ce[ce["event_type"] == "add"]
        assert adds["add_way"].notna().all() and ce.loc[ce["event_type"] != "add", "add_way"].isna().all()
        codes = brand.truth["add_way"]["codes"]
        assert (adds["initiator"] == adds["add_way"].map(codes)).all()
        assert set(adds["add_way"]) == {"1", "2", "3", "4", "202"}
        assert (adds.loc[adds["add_way"].isin(["2", "3", "4"]), "channel_code"] == "OTHER").all()
        other = adds[(adds["channel_code"] == "OTHER") & (adds["add_way"] != "202")]
        assert abs((other["add_way"] == "2").mean() - 0.5) < 4 * np.sqrt(0.25 / len(other))
        assert ce["origin"].isna().all()


class TestStaffNames:
    def test_every_staff_member_has_a_chinese_name(self, brand):
        names = brand.tables["staff"]["staff_name"]
        assert names.notna().all() and names.str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
        assert names.nunique() > 0.8 * len(names)


def _expected_daily(brand) -> pd.DataFrame:
    ce, touches = brand.tables["contact_events"], brand.tables["touches"]
    ce = ce.assign(stat_date=ce["event_time"].dt.normalize())
    adds = ce[ce["event_type"] == "add"].groupby(["stat_date", "staff_id"]).size().rename("adds")
    neg = ce[ce["event_type"] == "delete_by_customer"].groupby(["stat_date", "staff_id"]).size().rename("neg")
    chats = touches[touches["touch_type"] == "chat"]
    chats = chats.assign(stat_date=chats["event_time"].dt.normalize())
    g = chats.groupby(["stat_date", "staff_id"])
    return pd.concat([adds, neg, g["customer_id"].nunique().rename("chat_customers"), g.size().rename("chat_touches")],
                     axis=1).fillna(0)


class TestStaffDaily:
    def test_counts_equal_the_event_tables(self, brand):
        sd = brand.tables["staff_daily"].set_index(["stat_date", "staff_id"])
        exp = _expected_daily(brand)
        assert exp.index.isin(sd.index).all()  # no event outside a staff member's reported days
        exp = exp.reindex(sd.index, fill_value=0)
        assert (sd["new_contact_cnt"] == exp["adds"]).all()
        assert (sd["negative_feedback_cnt"] == exp["neg"]).all()
        assert (sd["chat_cnt"] == exp["chat_customers"]).all()
        mpc = sd.index.get_level_values("staff_id").map(
            {k: v["messages_per_chat"] for k, v in brand.truth["staff_behavior"]["staff"].items()})
        assert (sd["message_cnt"] == np.round(exp["chat_touches"].to_numpy() * mpc.to_numpy())).all()
        assert (sd["new_apply_cnt"] >= sd["new_contact_cnt"]).all()
        assert sd["new_contact_cnt"].sum() == (brand.tables["contact_events"]["event_type"] == "add").sum()

    def test_every_day_of_every_guide(self, brand, left):
        sd = brand.tables["staff_daily"]
        guides = brand.tables["staff"].query("role == 'guide'")
        active = guides[guides["left_at"].isna() | guides["staff_id"].isin(left.index)]
        assert set(sd["staff_id"]) == set(active["staff_id"])
        days = sd.groupby("staff_id")["stat_date"].agg(["min", "max", "size"])
        assert (days["min"] == pd.Timestamp(brand.truth["start"])).all()
        assert ((days["max"] - days["min"]).dt.days + 1 == days["size"]).all()  # zeros included
        stay = days.drop(left.index)
        assert (stay["max"] == brand.as_of - DAY).all()

    def test_reply_rates_and_minutes_follow_truth(self, brand):
        sd = brand.tables["staff_daily"]
        assert (sd["reply_percentage"].isna() | sd["reply_percentage"].between(0, 100)).all()
        assert sd.loc[sd["chat_cnt"] == 0, ["reply_percentage", "avg_reply_time"]].isna().all().all()
        assert (sd["avg_reply_time"].notna() <= sd["reply_percentage"].notna()).all()
        truth = pd.DataFrame(brand.truth["staff_behavior"]["staff"]).T
        got = sd.groupby("staff_id")[["reply_percentage", "avg_reply_time"]].mean()
        both = got.join(truth)
        assert np.corrcoef(both["reply_percentage"], both["reply_rate"])[0, 1] > 0.8
        assert np.corrcoef(np.log(both["avg_reply_time"]), np.log(both["reply_minutes"]))[0, 1] > 0.8
        assert abs(both["reply_percentage"].mean() / 100 - both["reply_rate"].mean()) < 0.03


class TestMassSends:
    def test_sent_rows_are_the_mass_send_touches(self, brand):
        ms = brand.tables["mass_sends"]
        touches = brand.tables["touches"]
        mt = touches[touches["touch_type"] == "mass_send"]
        sent = ms[ms["status"] == "sent"]
        key = ["task_id", "staff_id", "customer_id"]
        a = sent[key + ["send_time"]].rename(columns={"send_time": "event_time"}).sort_values(key).reset_index(drop=True)
        b = mt[key + ["event_time"]].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        created = brand.tables["tasks"].set_index("task_id")["created_at"]
        assert (ms["created_at"] == ms["task_id"].map(created)).all()
        assert ms.loc[ms["status"] != "sent", "send_time"].isna().all()
        assert not ms.duplicated(key).any()
        delivery = brand.tables["tasks"].set_index("task_id")["delivery"]
        assert (ms["task_id"].map(delivery) == "mass_send").all()

    def test_execution_rate_recovers_truth(self, brand):
        ms = brand.tables["mass_sends"]
        truth = brand.truth["mass_send"]
        assigned = ms[ms["status"].isin(["sent", "not_sent"])]
        n = len(assigned)
        rate = (assigned["status"] == "sent").mean()
        p = truth["brand_rate"]
        assert abs(rate - p) < 1.96 * np.sqrt(p * (1 - p) / n), (rate, p, n)
        per = assigned.groupby("staff_id")["status"].agg(lambda s: (s == "sent").mean()).rename("rate")
        size = assigned.groupby("staff_id").size()
        e = pd.Series(truth["staff_exec_rate"])[per.index]
        inside = (per - e).abs() < 1.96 * np.sqrt(e * (1 - e) / size)
        assert inside.mean() > 0.85 and np.corrcoef(per, e)[0, 1] > 0.8

    def test_not_friend_rows_had_ended(self, brand):
        ms = brand.tables["mass_sends"]
        nf = ms[ms["status"] == "not_friend"]
        assert 0 < len(nf) < 0.05 * len(ms)
        ce = brand.tables["contact_events"]
        pair = ce.merge(nf[["task_id", "staff_id", "customer_id", "created_at"]], on=["staff_id", "customer_id"])
        before = pair[pair["event_time"] < pair["created_at"]].sort_values("event_time")
        last = before.groupby(["task_id", "staff_id", "customer_id"]).last()
        assert len(last) == len(nf) and (last["event_type"] != "add").all()
        assert ((last["created_at"] - last["event_time"]) <= 7 * DAY).all()


class TestChunkedHabits:
    def test_staff_daily_merges_the_chunks(self, tmp_path):
        simulate_brand(3_000, seed=4, out=tmp_path, chunk_customers=1_000, n_stores=8, n_staff=30)
        wb = workbench.open(tmp_path)
        tables = {name: wb.query(f"SELECT * FROM {name}") for name in ("contact_events", "touches", "staff_daily",
                                                                      "mass_sends", "staff")}
        truth = __import__("json").loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
        assert (tmp_path / "staff_daily.parquet").is_file() and len(list((tmp_path / "mass_sends").glob("*.parquet"))) == 3
        fake = type("B", (), {"tables": tables, "truth": truth})
        sd = tables["staff_daily"].set_index(["stat_date", "staff_id"])
        exp = _expected_daily(fake).reindex(sd.index, fill_value=0)
        assert (sd["new_contact_cnt"] == exp["adds"]).all() and (sd["chat_cnt"] == exp["chat_customers"]).all()
        assert (sd["negative_feedback_cnt"] == exp["neg"]).all()
        assert truth["counts"]["staff_daily"] == len(sd) and truth["counts"]["mass_sends"] == len(tables["mass_sends"])
        whole = simulate_brand(1_000, seed=4, n_stores=8, n_staff=30)
        assert truth["transfers"]["left_staff"] == whole.truth["transfers"]["left_staff"]
        assert truth["mass_send"]["staff_exec_rate"] == whole.truth["mass_send"]["staff_exec_rate"]
