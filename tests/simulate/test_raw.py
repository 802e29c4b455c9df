"""The raw WeCom exports of a simulated brand.

Formats, injected defects recounted from the files, snapshots, repairability of lost callbacks, bills,
determinism, and the expected ingest counts on a hand-built history.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.ingest.report import COUNTS
from workbench.simulate import simulate_brand
from workbench.simulate.raw import CALLBACK_FIELDS, ENVELOPE, RawRates, write_raw_exports
from workbench.simulate.raw_api import unix_seconds

RATES = RawRates(delayed=0.2, lost=0.03)


def _staff_daily(tables: dict[str, pd.DataFrame], truth: dict) -> pd.DataFrame:
    """A staff_daily frame (when the simulator does not write one): every guide-day, no chats on a third."""
    rng = np.random.default_rng(5)
    days = pd.date_range(truth["start"], pd.Timestamp(truth["as_of"]) - pd.Timedelta(days=1), freq="D")
    staff = tables["staff"]["staff_id"].to_numpy()
    grid = pd.MultiIndex.from_product([days, staff], names=["stat_date", "staff_id"]).to_frame(index=False)
    n = len(grid)
    chats = np.where(rng.random(n) < 1 / 3, 0, rng.integers(1, 9, n)).astype(float)
    return grid.assign(new_apply_cnt=rng.integers(0, 3, n).astype(float), new_contact_cnt=rng.integers(0, 4, n) * 1.0,
                       chat_cnt=chats, message_cnt=chats * 3, negative_feedback_cnt=rng.integers(0, 2, n) * 1.0,
                       reply_percentage=np.where(chats > 0, rng.integers(0, 10001, n) / 100, np.nan),
                       avg_reply_time=np.where(chats > 0, rng.integers(1, 120, n), np.nan))


def _mass_sends(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A mass_sends frame from the simulated mass-send touches, plus a few unsent ones."""
    t = tables["touches"]
    t = t[(t["touch_type"] == "mass_send") & t["staff_id"].notna()].drop_duplicates(["task_id", "staff_id",
                                                                                    "customer_id"])
    created = t["task_id"].map(tables["tasks"].set_index("task_id")["created_at"])
    unsent = np.arange(len(t)) % 10 == 0
    return pd.DataFrame({"task_id": t["task_id"].to_numpy(), "staff_id": t["staff_id"].to_numpy(),
                         "customer_id": t["customer_id"].to_numpy(), "created_at": created.to_numpy(),
                         "status": np.where(unsent, "not_sent", "sent"),
                         "send_time": t["event_time"].where(~unsent).to_numpy()})


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory):
    """``(folder, returned dict, tables, truth)`` for the small brand of the brief."""
    brand = simulate_brand(1500, seed=3, n_stores=6, n_staff=24, months=6)
    tables = dict(brand.tables)
    if "staff_daily" not in tables:
        tables["staff_daily"] = _staff_daily(tables, brand.truth)
    if "mass_sends" not in tables:
        tables["mass_sends"] = _mass_sends(tables)
    out = tmp_path_factory.mktemp("raw")
    result = write_raw_exports(tables, brand.truth, out, seed=3, rates=RATES)
    return out, result, tables, brand.truth


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _key(c: dict) -> tuple:
    """The duplicate key of COUNTS['duplicates_dropped']."""
    group = c["Event"] == "change_external_chat"
    return (c["Event"], c["ChangeType"], c.get("UserID"), c["ChatId"] if group else c["ExternalUserID"],
            c["CreateTime"], tuple(c["MemChangeList"]["Item"]) if group else ())


def test_callback_lines_parse_with_documented_keys(raw):
    """Every line parses, with the envelope and the documented keys of its kind, in order."""
    out, result, _, _ = raw
    go = int(unix_seconds([pd.Timestamp(result["go_live"])])[0])
    lines = _read(out / "callbacks.jsonl")
    assert len(lines) == result["files"]["callbacks.jsonl"] > 1000
    kinds = Counter()
    for c in lines:
        kind = c["UpdateDetail"] if c["ChangeType"] == "update" else c["ChangeType"]
        kinds[kind] += 1
        expected = (*ENVELOPE, *CALLBACK_FIELDS[kind], *(("Source",) if "Source" in c else ()))
        assert tuple(c) == expected
        assert (c["FromUserName"], c["MsgType"]) == ("sys", "event")
        assert isinstance(c["CreateTime"], int) and c["CreateTime"] >= go
        if "Source" in c:
            assert (c["ChangeType"], c["Source"]) == ("del_external_contact", "DELETE_BY_TRANSFER")
        if kind in ("add_member", "del_member"):
            assert c["MemChangeCnt"] == len(c["MemChangeList"]["Item"]) == 1
    assert set(kinds) >= {"add_external_contact", "add_half_external_contact", "del_follow_user",
                          "del_external_contact", "edit_external_contact", "transfer_fail", "add_member", "del_member"}
    assert set(result["expected_report"]) <= set(COUNTS)


def test_file_defect_counts_equal_the_returned_ones(raw):
    """Retries, out-of-order lines, ignored kinds, repeated opens and unknown ids recounted from the file."""
    out, result, _, _ = raw
    lines = _read(out / "callbacks.jsonl")
    seen: dict[tuple, int] = {}
    copies = Counter()
    kept = []
    for c in lines:
        k = _key(c)
        if k in seen:
            copies[k] += 1
            assert len(kept) - seen[k] <= 10  # a retry arrives within the next few first deliveries
        else:
            kept.append(c)
            seen[k] = len(kept)
    running, late = -1, 0
    for c in kept:  # ignored kinds raise the running maximum but are not counted (COUNTS['out_of_order'])
        late += c["CreateTime"] < running and c["ChangeType"] not in ("edit_external_contact", "transfer_fail")
        running = max(running, c["CreateTime"])
    exp, inj = result["expected_report"], result["injected"]
    assert max(copies.values()) <= 2  # at most 3 deliveries
    assert exp["duplicates_dropped"] == sum(copies.values()) == inj["duplicates"] > 0
    assert len(copies) == inj["duplicated_lines"]
    assert exp["out_of_order"] == late > 0
    assert exp["callback_lines"] == len(lines)
    assert exp["callbacks_ignored"] == sum(c["ChangeType"] in ("edit_external_contact", "transfer_fail")
                                           for c in kept) == inj["edits"] + inj["transfer_fails"]
    # repeated opens: the injected add_half lines precede an add_external_contact of the pair by 1 s
    adds = {(c["UserID"], c["ExternalUserID"], c["CreateTime"]): c["ChangeType"] for c in kept
            if c["ChangeType"].startswith("add_")}
    before = sum(ct == "add_half_external_contact" and adds.get((u, e, t + 1)) == "add_external_contact"
                 for (u, e, t), ct in adds.items())
    assert before == inj["add_half"] == exp["repeated_opens"] > 0  # the simulator makes no repeated opens
    unknown = {c["ExternalUserID"] for c in kept if "ExternalUserID" in c} - set(
        pd.read_parquet(out / "tables" / "identity_links.parquet").query("id_type == 'external_userid'")["id_value"])
    assert len(unknown) == exp["ids_unresolved"] == inj["unknown_ids"] == 20


def _contract_state(tables: dict[str, pd.DataFrame]) -> dict[tuple, list[tuple[int, int]]]:
    """Per (customer, staff): intervals (start, end) by the contract rule, replayed event by event."""
    ev = tables["contact_events"].reset_index(drop=True)
    ev = ev.assign(t=unix_seconds(ev["event_time"]), seq=np.arange(len(ev)))
    ev = ev.sort_values(["customer_id", "staff_id", "t", "seq"], kind="mergesort")
    spells: dict[tuple, list[list[int]]] = defaultdict(list)
    for cust, staff, etype, t in ev[["customer_id", "staff_id", "event_type", "t"]].itertuples(index=False):
        s = spells[(cust, staff)]
        is_open = bool(s) and s[-1][1] is None
        if etype == "add" and not is_open:
            s.append([t, None])
        elif etype != "add" and is_open:
            s[-1][1] = t
    return spells


def _snapshots(out: Path) -> dict[int, list[dict]]:
    by_time: dict[int, list[dict]] = defaultdict(list)
    pages = Counter()
    for r in _read(out / "snapshots.jsonl"):
        if r["api"] == "groupchat/get":
            continue
        entries = r["response"]["external_contact_list"]
        assert r["api"] == "externalcontact/batch/get_by_user" and len(entries) <= 100
        assert r["response"]["errcode"] == 0
        by_time[r["fetched_at"]].extend(entries)
        pages[(r["fetched_at"], r["response"]["next_cursor"] == "")] += 1
    assert all(pages[(t, True)] == 1 for t in by_time)  # one last page per snapshot
    return by_time


def test_snapshots_list_exactly_the_open_pairs(raw):
    """A snapshot lists the pairs open at fetched_at by the contract intervals, members who left absent."""
    out, result, tables, truth = raw
    snaps = _snapshots(out)
    times = sorted(snaps)
    go = pd.Timestamp(result["go_live"])
    assert len(times) == result["snapshots"]
    assert times[0] == unix_seconds([go])[0] and times[-1] == unix_seconds([pd.Timestamp(truth["as_of"])])[0]
    ext = pd.read_parquet(out / "tables" / "identity_links.parquet")
    # customer ids through the links the files ship with: external_userid → unionid → phone_hash → member_id
    left = tables["staff"].set_index("staff_id")["left_at"]
    left_s = {k: (unix_seconds([v])[0] if pd.notna(v) else np.inf) for k, v in left.items()}
    spells = _contract_state(tables)
    ext_of = _ext_of(ext, tables["customers"])
    unknown_adds = {(c["ExternalUserID"], c["UserID"], c["CreateTime"]) for c in _read(out / "callbacks.jsonl")
                    if c.get("ExternalUserID") and c["ExternalUserID"] not in ext_of.values}
    for t in times[:: 7] + [times[-1]]:
        listed = {(e["external_contact"]["external_userid"], e["follow_info"]["userid"], e["follow_info"]["createtime"])
                  for e in snaps[t]}
        expected = {(ext_of[c], s, a) for (c, s), sp in spells.items() for a, b in sp
                    if a <= t and (b is None or b > t) and left_s[s] > t}
        expected |= {u for u in unknown_adds if u[2] <= t}
        assert listed == expected
    assert result["expected_report"]["go_live_seeds"] == len(snaps[times[0]]) > 50


def test_go_live_group_snapshot_lists_the_members_then(raw):
    """groupchat/get at go-live: every group created by then, its owner and the customers in it by the contract."""
    out, result, tables, _ = raw
    go = int(unix_seconds([pd.Timestamp(result["go_live"])])[0])
    chats = [r for r in _read(out / "snapshots.jsonl") if r["api"] == "groupchat/get"]
    groups = tables["groups"]
    assert {r["response"]["group_chat"]["chat_id"] for r in chats} == set(
        groups.loc[unix_seconds(groups["created_at"]) <= go, "group_id"])
    assert all(r["fetched_at"] == go for r in chats)
    ext_of = _ext_of(pd.read_parquet(out / "tables" / "identity_links.parquet"), tables["customers"])
    ev = tables["group_events"].reset_index(drop=True)
    ev = ev.assign(t=unix_seconds(ev["event_time"]), seq=np.arange(len(ev)))
    state: dict[tuple, int | None] = {}
    ordered = ev.sort_values(["t", "seq"])[["customer_id", "group_id", "event_type", "t"]]
    for cust, group, etype, t in ordered.itertuples(index=False):
        if t > go:
            break
        if etype == "join" and state.get((group, cust)) is None:
            state[(group, cust)] = t
        elif etype == "leave":
            state[(group, cust)] = None
    expected = {(g, ext_of[c], t) for (g, c), t in state.items() if t is not None}
    listed = {(r["response"]["group_chat"]["chat_id"], m["userid"], m["join_time"]) for r in chats
              for m in r["response"]["group_chat"]["member_list"] if m["type"] == 2}
    assert listed == expected and len(listed) > 20
    owners = [m for r in chats for m in r["response"]["group_chat"]["member_list"] if m["type"] == 1]
    assert len(owners) == len(chats)
    exp = result["expected_report"]
    kept_joins = {(c["ChatId"], c["MemChangeList"]["Item"][0], c["CreateTime"]) for c in _read(out / "callbacks.jsonl")
                  if c.get("UpdateDetail") == "add_member"}
    assert exp["group_joins"] == len(kept_joins) + len(listed)  # no callback at go-live 00:00:00 here


def _ext_of(links: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """customer_id → external_userid through the shipped links (member → phone → unionid ← external_userid)."""
    def pairs(a: str, b: str) -> dict:
        s = links[(links["id_type"] == a) & (links["linked_type"] == b)]
        return dict(zip(s["id_value"], s["linked_value"], strict=True))

    member_phone, phone_union = pairs("member_id", "phone_hash"), pairs("phone_hash", "unionid")
    union_ext = {u: e for e, u in pairs("external_userid", "unionid").items()}
    member_ext = {m: e for e, m in pairs("external_userid", "member_id").items()}
    out = {}
    for c, m in zip(customers["customer_id"], customers["member_id"], strict=True):
        e = union_ext.get(phone_union.get(member_phone.get(m))) or member_ext.get(m)
        if e:
            out[c] = e
    return pd.Series(out)


def test_lost_events_are_absent_and_repairable_from_the_snapshots(raw):
    """A lost callback is missing, its pair quiet, and the snapshots around it show exactly that event."""
    out, result, tables, _ = raw
    lost = result["lost_events"]
    assert len(lost) == result["injected"]["lost_adds"] + result["injected"]["lost_closes"]
    assert result["injected"]["lost_adds"] > 5 and result["injected"]["lost_closes"] >= 1
    exp = result["expected_report"]
    assert (exp["repaired_adds"], exp["repaired_closes"]) == (result["injected"]["lost_adds"],
                                                             result["injected"]["lost_closes"])
    ext_of = _ext_of(pd.read_parquet(out / "tables" / "identity_links.parquet"), tables["customers"])
    calls = defaultdict(list)
    for c in _read(out / "callbacks.jsonl"):
        if "UserID" in c and c["ChangeType"] not in ("edit_external_contact", "transfer_fail"):
            calls[(c["ExternalUserID"], c["UserID"])].append((c["CreateTime"], c["ChangeType"]))
    snaps = _snapshots(out)
    times = np.array(sorted(snaps))
    listed = {t: {(e["external_contact"]["external_userid"], e["follow_info"]["userid"]): e["follow_info"]["createtime"]
                  for e in snaps[t]} for t in times}
    for ev in lost:
        pair = (ext_of[ev["customer_id"]], ev["staff_id"])
        t = int(unix_seconds([pd.Timestamp(ev["time"])])[0])
        nxt = times[np.searchsorted(times, t)]
        prv = times[np.searchsorted(times, t) - 1]
        assert all(not prv - 2 * 86_400 <= ct <= nxt + 2 * 86_400 for ct, _ in calls[pair])  # quiet pair
        if ev["event_type"] == "add":
            assert pair not in listed[prv] and listed[nxt][pair] == t  # the snapshot shows the add, createtime too
        else:
            assert pair in listed[prv] and pair not in listed[nxt]
        assert t >= times[0] + 86_400 and t <= times[-1] - 86_400


def test_bills_carry_the_transfer_orders_in_fen(raw):
    """Bills hold the wecom_transfer orders in fen; the brand's orders table leaves them out."""
    out, result, tables, _ = raw
    orders = tables["orders"]
    transfer = orders[orders["order_channel"] == "wecom_transfer"]
    bills = [b for r in _read(out / "bills.jsonl") for b in r["response"]["bill_list"]]
    assert len(bills) == len(transfer) == result["expected_report"]["orders_from_bills"] > 10
    assert sum(b["total_fee"] for b in bills) == int(np.rint(transfer["amount"] * 100).sum())
    refunded = transfer["refunded_amount"].fillna(0)
    assert sum(b["total_refund_fee"] for b in bills) == int(np.rint(refunded * 100).sum())
    assert {b["trade_state"] for b in bills if b["total_refund_fee"]} <= {3}
    assert set(b["transaction_id"] for b in bills) == set(transfer["order_id"])
    written = pd.read_parquet(out / "tables" / "orders.parquet")
    assert len(written) == len(orders) - len(transfer) and "wecom_transfer" not in set(written["order_channel"])
    assert result["expected_report"]["orders_in"] == len(orders)


def test_behavior_and_mass_sends(raw):
    """Behaviour days and mass-send results match their contract tables row for row."""
    out, result, tables, _ = raw
    days = [(r["userid"], d) for r in _read(out / "behavior.jsonl") for d in r["response"]["behavior_data"]]
    daily = tables["staff_daily"]
    assert len(days) == len(daily) == result["expected_report"]["behavior_rows"]
    no_chat = [d for _, d in days if d["chat_cnt"] == 0]
    assert no_chat and all("reply_percentage" not in d and "avg_reply_time" not in d for d in no_chat)
    assert sum(d["message_cnt"] for _, d in days) == daily["message_cnt"].sum()
    sends = [(r["msgid"], s) for r in _read(out / "mass_sends.jsonl") for s in r["response"]["send_list"]]
    ms = tables["mass_sends"]
    assert len(sends) == len(ms) == result["expected_report"]["mass_send_rows"] > 0
    codes = {"not_sent": 0, "sent": 1, "not_friend": 2, "already_received": 3}
    assert Counter(s["status"] for _, s in sends) == Counter(ms["status"].map(codes))
    assert sum("send_time" in s for _, s in sends) == ms["send_time"].notna().sum()


def test_deterministic_for_a_seed(raw, tmp_path):
    """The same seed writes the same bytes; another seed other callbacks."""
    out, result, tables, truth = raw
    again = write_raw_exports(tables, truth, tmp_path / "a", seed=3, rates=RATES)
    assert again == result
    for name in ("callbacks.jsonl", "snapshots.jsonl", "bills.jsonl", "behavior.jsonl", "mass_sends.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (out / name).read_bytes()
    other = write_raw_exports(tables, truth, tmp_path / "b", seed=4, rates=RATES)
    assert (tmp_path / "b" / "callbacks.jsonl").read_bytes() != (out / "callbacks.jsonl").read_bytes()
    assert other["expected_report"]["go_live_seeds"] == result["expected_report"]["go_live_seeds"]


# ------------------------------------------------------------------ a hand-built history, expected counts by hand
def _hand_tables() -> tuple[dict[str, pd.DataFrame], dict]:
    """Go-live 2025-01-03 00:00, daily snapshots to 2025-01-11. E2 leaves 01-05 12:00, E3 left 01-02.

    C1–E1 added before go-live, customer deletes 01-04, staff deletes 01-06: a second close.
    C2–E1 closed before go-live, staff deletes 01-05: an orphan (no add in the ingest's view).
    C3–E2 added 01-04, open when E2 leaves: staff_left (contract and ingest).
    C4–E2 seeded, transferred 01-07 after E2 left (snapshot 01-06 lacks it): the ingest closes it at left_at
    (staff_left), so the transfer is a second close; E1 takes over (add_way 202).
    C5–E2 seeded, transferred 01-05 13:00, before the next snapshot: a transfer, no staff_left.
    C6–E3 added before E3 left (before go-live), transferred 01-04: an orphan.
    C7–E1 added 01-08 and again 01-09: a repeated open.
    Groups: C1 in G1 at go-live (a seed) leaves 01-05; C2 joins G1 01-04; C5's join of G2 (created after
    go-live, so in no groupchat/get) predates logging: its leave 01-06 is an orphan.
    """
    ts = pd.Timestamp
    rows = [
        ("2025-01-01 10:00", "C1", "E1", "add"), ("2025-01-04 10:00", "C1", "E1", "delete_by_customer"),
        ("2025-01-06 10:00", "C1", "E1", "delete_by_staff"),
        ("2025-01-01 11:00", "C2", "E1", "add"), ("2025-01-02 11:00", "C2", "E1", "delete_by_customer"),
        ("2025-01-05 11:00", "C2", "E1", "delete_by_staff"),
        ("2025-01-04 09:00", "C3", "E2", "add"), ("2025-01-05 12:00", "C3", "E2", "staff_left"),
        ("2025-01-01 12:00", "C4", "E2", "add"), ("2025-01-07 10:00", "C4", "E2", "transfer"),
        ("2025-01-07 10:00", "C4", "E1", "add"),
        ("2025-01-02 08:00", "C5", "E2", "add"), ("2025-01-05 13:00", "C5", "E2", "transfer"),
        ("2025-01-01 08:00", "C6", "E3", "add"), ("2025-01-04 08:00", "C6", "E3", "transfer"),
        ("2025-01-08 09:00", "C7", "E1", "add"), ("2025-01-09 09:00", "C7", "E1", "add"),
    ]
    ce = pd.DataFrame(rows, columns=["event_time", "customer_id", "staff_id", "event_type"])
    ce["event_time"] = pd.to_datetime(ce["event_time"])
    ce["channel_code"] = None
    ce["add_way"] = np.where((ce["customer_id"] == "C4") & (ce["staff_id"] == "E1"), "202", "1")
    ce["initiator"] = np.where(ce["add_way"] == "202", "admin", "customer")
    cust = [f"C{i}" for i in range(1, 8)]
    tables = {
        "customers": pd.DataFrame({"customer_id": cust, "member_id": [f"M{c}" for c in cust]}),
        "identity_links": pd.DataFrame({"id_type": "external_userid", "id_value": [f"wm{c}" for c in cust],
                                        "linked_type": "member_id", "linked_value": [f"M{c}" for c in cust]}),
        "staff": pd.DataFrame({"staff_id": ["E1", "E2", "E3", "E4"], "role": ["guide", "guide", "guide", "hq"],
                               "left_at": [pd.NaT, ts("2025-01-05 12:00"), ts("2025-01-02"), pd.NaT]}),
        "contact_events": ce,
        "orders": pd.DataFrame({c: pd.Series(dtype=object) for c in ["order_id", "customer_id", "order_channel"]}),
        "groups": pd.DataFrame({"group_id": ["G1", "G2"], "owner_staff_id": ["E1", "E1"],
                                "created_at": [ts("2024-12-01"), ts("2025-01-05")]}),
        "group_events": pd.DataFrame({
            "event_time": pd.to_datetime(["2025-01-01 09:00", "2025-01-05 09:00", "2025-01-04 09:00",
                                          "2025-01-02 09:00", "2025-01-06 09:00"]),
            "customer_id": ["C1", "C1", "C2", "C5", "C5"], "group_id": ["G1", "G1", "G1", "G2", "G2"],
            "event_type": ["join", "leave", "join", "join", "leave"]}),
    }
    return tables, {"start": "2025-01-01 00:00:00", "as_of": "2025-01-11 00:00:00"}


def test_expected_counts_on_a_hand_built_history(tmp_path):
    """The expected ingest counts of a hand-built history, worked out by hand (see _hand_tables)."""
    tables, truth = _hand_tables()
    quiet = RawRates(duplicate=0, delayed=0, lost=0, add_half=0, half_customer=0, unknown_ids=0, edits=0,
                     transfer_fails=0)
    result = write_raw_exports(tables, truth, tmp_path, seed=1, go_live_days=2, rates=quiet)
    exp = result["expected_report"]
    assert {k: exp[k] for k in ("callback_lines", "go_live_seeds", "second_closes", "repeated_opens", "transfers",
                                "staff_left_closes", "orphan_deletes_dropped", "duplicates_dropped", "out_of_order",
                                "repaired_adds", "repaired_closes", "ids_unresolved")} == {
        "callback_lines": 13, "go_live_seeds": 3, "second_closes": 2, "repeated_opens": 1, "transfers": 2,
        "staff_left_closes": 2, "orphan_deletes_dropped": 2, "duplicates_dropped": 0, "out_of_order": 0,
        "repaired_adds": 0, "repaired_closes": 0, "ids_unresolved": 0}
    assert (exp["group_joins"], exp["group_leaves"], exp["group_orphan_leaves_dropped"]) == (2, 1, 1)
    lines = _read(tmp_path / "callbacks.jsonl")
    assert [c["ExternalUserID"] for c in lines if c.get("Source") == "DELETE_BY_TRANSFER"] == ["wmC6", "wmC5", "wmC4"]
    snaps = _snapshots(tmp_path)
    first = sorted(snaps)[0]
    assert sorted((e["external_contact"]["external_userid"], e["follow_info"]["userid"]) for e in snaps[first]) == [
        ("wmC1", "E1"), ("wmC4", "E2"), ("wmC5", "E2")]
    takeover = [e for t in snaps for e in snaps[t] if e["external_contact"]["external_userid"] == "wmC4"
                and e["follow_info"]["userid"] == "E1"]
    assert takeover and all(e["follow_info"]["add_way"] == 202 and e["follow_info"]["oper_userid"] == "E4"
                            for e in takeover)
    assert result["injected"]["transfers"] == 3 and result["injected"]["second_closes"] == 2
