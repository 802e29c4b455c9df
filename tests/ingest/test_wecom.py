"""``workbench ingest wecom`` on hand-written callbacks and snapshots: exact rows and exact counts.

The fixture (tests/ingest/fixtures): 17 callback lines (the same events as JSON and as XML)
from 2025-01-01 08:01:40 Shanghai (Unix 1735689700) on, a go-live snapshot at 08:00 and a
later one at 2025-01-02 08:00; staff u3 left at 2025-01-01 20:00. Line by line:

1  add_external_contact u1 wmC State store1              -> add
2  add_half_external_contact u2 wmD                      -> add
3  the same (a retry)                                    -> duplicate
(4 is empty)
5  del_follow_user u1 wmA                                -> delete_by_customer (wmA seeded at go-live)
6  edit_external_contact                                 -> ignored
7  add_external_contact u2 wmD, CreateTime before line 5 -> out of order, a repeated open
8  del_external_contact u1 wmA                           -> second close (delete_by_staff)
9  del_external_contact u1 wmB Source=DELETE_BY_TRANSFER -> transfer
10 add_external_contact u2 wmB (the takeover)            -> add (add_way 202 from the later snapshot)
11 transfer_fail, 12 msg_audit_approved                  -> ignored
13 del_follow_user u2 wmF (never added, never listed)    -> orphan, dropped
14 ChangeType add_strange_contact                        -> rejected
15 add_member wrA [wmA, wmC], 16 del_member wrA [wmA], 17 dismiss wrA -> 2 joins, 2 leaves
18 group create wrB                                      -> ignored

Go-live lists wmA, wmB (u1) and wmG (u3): three seeds. The later snapshot lists wmD, wmB (u2) and
wmE (u1, added 09:00, no callback: a lost add); it lacks wmC (a lost delete: closed at the midpoint
of 08:01:40 and the snapshot, 20:00:50) and wmG (u3 left: staff_left at 20:00).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench.cli import main
from workbench.errors import DataContractError
from workbench.ingest import IngestReport
from workbench.ingest.wecom import ingest_wecom
from workbench.relations import contact_intervals

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOTS = FIXTURES / "snapshots.jsonl"
TABLES = FIXTURES / "tables"

COLUMNS = ["event_time", "customer_id", "staff_id", "event_type", "channel_code", "add_way", "initiator", "origin"]
EXPECTED = [
    ("2024-12-22 08:00:00", "C1", "u1", "add", "store1", "1", "customer", "snapshot"),
    ("2024-12-27 08:00:00", "wmB", "u1", "add", None, "2", "staff", "snapshot"),
    ("2024-12-29 08:00:00", "wmG", "u3", "add", None, "202", "admin", "snapshot"),
    ("2025-01-01 08:01:40", "wmC", "u1", "add", "store1", None, None, "callback"),
    ("2025-01-01 08:03:20", "wmD", "u2", "add", None, "1", "customer", "callback"),
    ("2025-01-01 08:05:50", "wmD", "u2", "add", None, "1", "customer", "callback"),
    ("2025-01-01 08:06:40", "C1", "u1", "delete_by_customer", None, None, None, "callback"),
    ("2025-01-01 08:08:20", "C1", "u1", "delete_by_staff", None, None, None, "callback"),
    ("2025-01-01 08:10:00", "wmB", "u1", "transfer", None, None, None, "callback"),
    ("2025-01-01 08:10:00", "wmB", "u2", "add", None, "202", "admin", "callback"),
    ("2025-01-01 09:00:00", "wmE", "u1", "add", None, "3", "staff", "repair"),
    ("2025-01-01 20:00:00", "wmG", "u3", "staff_left", None, None, None, "repair"),
    ("2025-01-01 20:00:50", "wmC", "u1", "delete_by_customer", None, None, None, "repair"),
]
COUNTS = {
    "callback_lines": 17, "callbacks_rejected": 1, "callbacks_ignored": 4, "duplicates_dropped": 1, "out_of_order": 1,
    "second_closes": 1, "repeated_opens": 1, "transfers": 1, "staff_left_closes": 1, "go_live_seeds": 3,
    "repaired_adds": 1, "repaired_closes": 1, "orphan_deletes_dropped": 1, "ids_unresolved": 6, "group_joins": 2,
    "group_leaves": 2,
    "group_orphan_leaves_dropped": 0,
}


def _rows(folder: Path, table: str = "contact_events") -> list[tuple]:
    frame = pd.read_parquet(folder / f"{table}.parquet")
    for c in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[c]):
            frame[c] = frame[c].dt.strftime("%Y-%m-%d %H:%M:%S")
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestReport]:
    out = tmp_path_factory.mktemp("wecom")
    report = ingest_wecom(FIXTURES / "callbacks_basic.jsonl", out, snapshots=SNAPSHOTS, tables=TABLES,
                          bills=FIXTURES / "bills.jsonl", mass_sends=FIXTURES / "mass_sends.jsonl")
    return out, report


def test_contact_events_rows_and_counts(ingested: tuple[Path, IngestReport]) -> None:
    out, report = ingested
    assert list(pd.read_parquet(out / "contact_events.parquet").columns) == COLUMNS
    assert _rows(out) == EXPECTED
    # wmZ (a bill's payer) joins the six unresolved contact and group ids; wmA resolves to C1 via its unionid
    assert report.counts == {**COUNTS, "ids_unresolved": 7, "mass_send_rows": 2, "orders_in": 2,
                             "orders_from_bills": 2, "orders_linked": 1}
    assert report.rejected == [{"file": str(FIXTURES / "callbacks_basic.jsonl"), "line": 14,
                                "reason": "unknown ChangeType add_strange_contact of change_external_contact"}]
    assert report.tables == {"contact_events": 13, "customers": 2, "identity_links": 3, "staff": 3, "channels": 1,
                             "group_events": 4, "groups": 1, "mass_sends": 2, "tasks": 1, "orders": 2}


def test_group_orders_mass_sends(ingested: tuple[Path, IngestReport]) -> None:
    out, _ = ingested
    assert _rows(out, "group_events") == [
        ("2025-01-01 08:16:40", "C1", "wrA", "join"), ("2025-01-01 08:16:40", "wmC", "wrA", "join"),
        ("2025-01-01 08:18:20", "C1", "wrA", "leave"), ("2025-01-01 08:20:00", "wmC", "wrA", "leave")]
    assert _rows(out, "groups") == [("wrA", None, None, None)]
    orders = pd.read_parquet(out / "orders.parquet").set_index("order_id")
    assert orders.loc["T1", ["customer_id", "amount", "refunded_amount", "share_staff_id", "order_channel"]].tolist() \
        == ["C1", 123.45, 0.0, "u1", "wecom_transfer"]
    assert orders.loc["T2", ["customer_id", "amount", "refunded_amount"]].tolist() == ["wmZ", 50.0, 20.0]
    assert _rows(out, "mass_sends") == [
        ("msgA", "u1", "C1", "2025-01-01 10:53:20", "sent", "2025-01-01 10:55:00"),
        ("msgA", "u1", "wmC", "2025-01-01 10:53:20", "not_friend", None)]
    assert _rows(out, "tasks") == [("msgA", "2025-01-01 10:53:20", "mass_send")]


def test_daily_table_and_written_report(ingested: tuple[Path, IngestReport]) -> None:
    out, report = ingested
    day = report.daily.set_index("day").loc[pd.Timestamp("2025-01-01")]
    assert day[["callback_lines", "duplicates_dropped", "repaired_closes", "adds", "deletes_by_customer",
                "deletes_by_staff", "orders_from_bills", "mass_send_rows"]].tolist() == [17, 1, 1, 5, 2, 1, 2, 2]
    assert report.daily["go_live_seeds"].sum() == 3  # on the three createtime days
    again = IngestReport.read(out)
    assert again is not None and again.counts == report.counts and again.rejected == report.rejected


def test_output_validates_and_gives_the_intervals(ingested: tuple[Path, IngestReport]) -> None:
    out, _ = ingested
    wb = workbench.open(out)
    try:
        summary = wb.validate_all()
        assert summary.sequences["contact_events"] == {"second_closes": 1, "repeated_opens": 1}
        iv = wb.query(f"SELECT customer_id, staff_id, start_time, end_time, end_type FROM ({contact_intervals(wb)}) i "
                      "ORDER BY start_time, customer_id, staff_id")
    finally:
        wb.close()
    ends = {(r.customer_id, r.staff_id): (None if pd.isna(r.end_time) else str(r.end_time), r.end_type)
            for r in iv.itertuples()}
    assert len(iv) == 7  # wmD's repeated open is no new interval
    assert ends == {("C1", "u1"): ("2025-01-01 08:06:40", "delete_by_customer"),
                    ("wmB", "u1"): ("2025-01-01 08:10:00", "transfer"),
                    ("wmG", "u3"): ("2025-01-01 20:00:00", "staff_left"),
                    ("wmC", "u1"): ("2025-01-01 20:00:50", "delete_by_customer"),
                    ("wmD", "u2"): (None, None), ("wmB", "u2"): (None, None), ("wmE", "u1"): (None, None)}


def test_xml_form_gives_the_same_tables(tmp_path: Path) -> None:
    report = ingest_wecom(FIXTURES / "callbacks_basic.xml", tmp_path, snapshots=SNAPSHOTS, tables=TABLES)
    assert _rows(tmp_path) == EXPECTED
    assert report.counts == COUNTS
    assert report.rejected[0]["line"] == 14


def test_behaviour_data_directs_the_repaired_close(tmp_path: Path) -> None:
    # u1 on 2025-01-01: negative_feedback_cnt 1, already used by the callback delete_by_customer of wmA at 08:06:40
    report = ingest_wecom(FIXTURES / "callbacks_basic.jsonl", tmp_path, snapshots=SNAPSHOTS, tables=TABLES,
                          behavior=FIXTURES / "behavior.jsonl")
    assert _rows(tmp_path)[-1] == ("2025-01-01 20:00:50", "wmC", "u1", "delete_by_staff", None, None, None, "repair")
    assert report.counts["behavior_rows"] == 2 and report.counts["repaired_closes"] == 1
    assert _rows(tmp_path, "staff_daily")[0] == ("2025-01-01 00:00:00", "u1", 0.0, 2.0, 3.0, 10.0, 1.0, 60.25, 4.0)


def test_without_brand_tables_nothing_is_resolved_or_left(tmp_path: Path) -> None:
    report = ingest_wecom([FIXTURES / "callbacks_basic.jsonl"], tmp_path, snapshots=[SNAPSHOTS])
    assert report.counts["ids_unresolved"] == 7 and report.counts["staff_left_closes"] == 0
    rows = _rows(tmp_path)
    # without staff.left_at, wmG's disappearance is a lost delete: midpoint of go-live and the later snapshot
    assert ("2025-01-01 20:00:00", "wmG", "u3", "delete_by_customer", None, None, None, "repair") in rows
    wb = workbench.open(tmp_path)
    try:
        assert wb.validate_all().rows["contact_events"] == 13
    finally:
        wb.close()


# ---------------------------------------------------------------------------- bad input
def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


GOOD = json.dumps({"CreateTime": 1735689700, "MsgType": "event", "Event": "change_external_contact",
                   "ChangeType": "add_external_contact", "UserID": "u1", "ExternalUserID": "wmC"})
BAD_INPUTS = {
    "malformed": (GOOD + "\n\n" + GOOD[:-5] + "\n", "line 3: not a JSON object"),
    "xml": ("<xml><CreateTime>1</CreateTime></xml>\n<xml><Event>x</Event>\n", "line 2: not an XML callback"),
    "milliseconds": (GOOD + "\n" + GOOD.replace("1735689700", "1735689700000") + "\n",
                     "line 2: CreateTime looks like milliseconds"),
    "not_utf8": ((GOOD + "\n" + GOOD.replace("wmC", "wm\u00e9")).encode("gb18030"), "line 2: not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_callback_files_name_the_line(tmp_path: Path, case: str, capsys: pytest.CaptureFixture) -> None:
    content, message = BAD_INPUTS[case]
    path = _write(tmp_path / f"{case}.jsonl", content)
    with pytest.raises(DataContractError, match=message):
        ingest_wecom(path, tmp_path / "out")
    assert main(["ingest", "wecom", "--events", str(path), "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0]


def test_unknown_kinds_and_missing_ids_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = [GOOD, GOOD.replace("add_external_contact", "add_weird"), GOOD.replace('"UserID": "u1", ', ""),
             GOOD.replace("change_external_contact", "change_contact"), GOOD]
    path = _write(tmp_path / "cb.jsonl", "\n".join(lines) + "\n")
    report = ingest_wecom(path, tmp_path / "out")
    assert [(r["line"], r["reason"]) for r in report.rejected] == [
        (2, "unknown ChangeType add_weird of change_external_contact"), (3, "UserID missing"),
        (4, "unknown Event change_contact")]
    assert report.counts["callbacks_rejected"] == 3 and report.counts["duplicates_dropped"] == 1
    assert main(["ingest", "wecom", "--events", str(path), "--out", str(tmp_path / "cli")]) == 0
    assert f"rejected {path}, line 2: unknown ChangeType add_weird" in capsys.readouterr().out


def test_bad_snapshot_and_behaviour_lines(tmp_path: Path) -> None:
    events = _write(tmp_path / "cb.jsonl", GOOD + "\n")
    snap = _write(tmp_path / "s.jsonl", '{"api": "externalcontact/batch/get_by_user", "response": {}}\n')
    with pytest.raises(DataContractError, match="s.jsonl, line 1: fetched_at"):
        ingest_wecom(events, tmp_path / "out", snapshots=snap)
    two = _write(tmp_path / "b.jsonl", '{"userid": ["u1", "u2"], "response": {"behavior_data": []}}\n')
    with pytest.raises(DataContractError, match="b.jsonl, line 1: the request must name exactly one userid"):
        ingest_wecom(events, tmp_path / "out", behavior=two)


def test_cli_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ingest", "wecom", "--out", str(tmp_path)]) == 2  # --events is required
    assert main(["ingest", "wecom", "--events", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    copy = tmp_path / "brand"
    shutil.copytree(TABLES, copy)
    assert main(["ingest", "wecom", "--events", str(FIXTURES / "callbacks_basic.jsonl"), "--tables", str(copy),
                 "--out", str(copy)]) == 2
    assert "--out must differ from --tables" in capsys.readouterr().err


def test_get_and_groupchat_snapshots(tmp_path: Path) -> None:
    """externalcontact/get seeds like batch/get_by_user; groupchat/get gives the group and its external members."""
    snap = [
        {"fetched_at": 1735689600, "api": "externalcontact/get", "response": {
            "errcode": 0, "external_contact": {"external_userid": "wmP", "type": 1},
            "follow_user": [{"userid": "u2", "createtime": 1735603200, "state": "ad1", "oper_userid": "wmP",
                             "add_way": 16}]}},
        {"fetched_at": 1735689600, "api": "groupchat/get", "response": {"errcode": 0, "group_chat": {
            "chat_id": "wrZ", "name": "VIP", "owner": "u1", "create_time": 1735516800, "member_list": [
                {"userid": "u1", "type": 1, "join_time": 1735516800, "join_scene": 1},
                {"userid": "wmQ", "type": 2, "join_time": 1735603200, "join_scene": 3}]}}},
    ]
    snap_path = _write(tmp_path / "snap.jsonl", "\n".join(json.dumps(s) for s in snap) + "\n")
    leave = {"CreateTime": 1735700000, "MsgType": "event", "Event": "change_external_chat", "ChangeType": "update",
             "ChatId": "wrZ", "UpdateDetail": "del_member", "QuitScene": 0, "MemChangeCnt": 1,
             "MemChangeList": {"Item": "wmQ"}}
    events = _write(tmp_path / "cb.jsonl", json.dumps(leave) + "\n")
    report = ingest_wecom(events, tmp_path / "out", snapshots=snap_path)
    out = tmp_path / "out"
    assert _rows(out) == [("2024-12-31 08:00:00", "wmP", "u2", "add", "ad1", "16", "customer", "snapshot")]
    assert _rows(out, "group_events") == [("2024-12-31 08:00:00", "wmQ", "wrZ", "join"),
                                          ("2025-01-01 10:53:20", "wmQ", "wrZ", "leave")]
    assert _rows(out, "groups") == [("wrZ", None, "u1", "2024-12-30 08:00:00")]
    assert report.counts["group_joins"] == 1 and report.counts["group_leaves"] == 1
