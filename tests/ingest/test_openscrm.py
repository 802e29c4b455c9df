"""``ingest_openscrm`` against a real MariaDB server holding a simulated brand's OpenSCRM rows.

The brand (1,500 customers, 6 stores, 24 guides, 6 months) is turned into the rows OpenSCRM's
own code would have written (:mod:`workbench.simulate.scrm`), loaded with the ``mariadb`` client
and read back. The expected contact intervals are the simulated ones after what OpenSCRM loses,
stated rule by rule in :func:`expected_intervals`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.errors import DataContractError, ParameterError, SourceUnavailableError
from workbench.ingest.openscrm import ingest_openscrm
from workbench.relations import contact_intervals_sql
from workbench.simulate import simulate_brand
from workbench.simulate.scrm import openscrm_tables, write_openscrm_dump

SCHEMA = Path(workbench.__file__).parent / "ingest" / "openscrm_schema.sql"
MAX_DELAY = 30  # seconds between a WeCom event and OpenSCRM's time.Now()
BRAND_TABLES = ("customers", "identity_links", "orders", "stores", "staff", "channels", "tasks")


@pytest.fixture(scope="module")
def brand():
    return simulate_brand(1500, seed=3, n_stores=6, n_staff=24, months=6)


@pytest.fixture(scope="module")
def scrm(brand, mariadb, tmp_path_factory):
    """The brand's OpenSCRM rows, loaded into database ``openscrm`` with the real client."""
    rows = openscrm_tables(brand.tables, seed=3, max_delay=MAX_DELAY)
    dump = write_openscrm_dump(rows, tmp_path_factory.mktemp("dump") / "openscrm.sql")
    mariadb.create("openscrm")
    mariadb.load("openscrm", SCHEMA)
    mariadb.load("openscrm", dump)
    return rows


def _intervals(tables) -> pd.DataFrame:
    wb = workbench.open(tables)
    try:
        return wb.query(contact_intervals_sql())
    finally:
        wb.close()


def expected_intervals(brand, with_left_at: bool) -> pd.DataFrame:
    """The simulated intervals as OpenSCRM can give them back.

    - Second closes never reach OpenSCRM (the pair row is already soft-deleted): the simulated
      intervals ignore them too.
    - A ``transfer`` is stored as a member's delete; the ingest calls it a transfer again only when
      the takeover add (add_way 202, another member, within 48 h) is the last spell of its pair (the
      live row is the only place add_way survives).
    - ``staff_left`` closes send no callback: open in OpenSCRM, closed at ``left_at`` when the brand's
      staff table is given.
    - A spell the member ended (delete or transfer) that is not the pair's last spell has, in its
      history row, the pair row's insert time instead of its start: the first spell's start is late
      by the processing delay (``start_late``), a later spell's start is lost (``start_lost``).
    """
    iv = _intervals(brand.tables)
    ev = brand.tables["contact_events"]
    take = ev[(ev["event_type"] == "add") & (ev["add_way"] == "202")]
    last_n = iv.groupby(["customer_id", "staff_id"])["interval_number"].transform("max")
    take_last = take.merge(iv[iv["interval_number"] == last_n][["customer_id", "staff_id", "start_time"]],
                           left_on=["customer_id", "staff_id", "event_time"],
                           right_on=["customer_id", "staff_id", "start_time"])
    tr = iv[iv["end_type"] == "transfer"].reset_index()
    hits = tr.merge(take_last[["customer_id", "staff_id", "event_time"]], on="customer_id", suffixes=("", "_t"))
    gap = hits["event_time"] - hits["end_time"]
    found = set(hits.loc[(hits["staff_id_t"] != hits["staff_id"]) & (gap >= pd.Timedelta(0))
                         & (gap <= pd.Timedelta(hours=48)), "index"])
    iv["end_type"] = iv["end_type"].where(~((iv["end_type"] == "transfer") & ~iv.index.isin(found)),
                                          "delete_by_staff")
    if not with_left_at:
        left = iv["end_type"] == "staff_left"
        iv.loc[left, ["end_time", "end_type"]] = [pd.NaT, None]
    by_member = iv["end_type"].isin(["delete_by_staff", "transfer"]) & (iv["interval_number"] < last_n)
    iv["start_late"] = by_member & (iv["interval_number"] == 1)
    iv["start_lost"] = by_member & (iv["interval_number"] > 1)
    return iv


def _compare(got: pd.DataFrame, exp: pd.DataFrame) -> pd.DataFrame:
    """Pair the ingested intervals with the expected ones (by pair and order among the kept ones)."""
    kept = exp[~exp["start_lost"]].copy()
    for f in (kept, got):
        f["k"] = f.groupby(["customer_id", "staff_id"])["start_time"].rank(method="first")
    both = kept.merge(got, on=["customer_id", "staff_id", "k"], how="outer", suffixes=("", "_got"),
                      indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"].head()
    return both


def _ingest(scrm, mariadb, brand, tmp_path: Path, tables: tuple[str, ...]):
    folder = None
    if tables:
        folder = tmp_path / "brand"
        folder.mkdir()
        for name in tables:
            brand.tables[name].to_parquet(folder / f"{name}.parquet")
    out = tmp_path / "out"
    return ingest_openscrm(mariadb.url("openscrm"), out, tables=folder), out


def test_round_trip_with_brand_tables(scrm, mariadb, brand, tmp_path):
    report, out = _ingest(scrm, mariadb, brand, tmp_path, BRAND_TABLES)
    exp = expected_intervals(brand, with_left_at=True)
    got = _intervals(out)
    both = _compare(got, exp)

    exact = ~both["start_late"]
    assert (both.loc[exact, "start_time"] == both.loc[exact, "start_time_got"]).all()
    late = (both.loc[~exact, "start_time_got"] - both.loc[~exact, "start_time"]).dt.total_seconds()
    assert late.between(0, MAX_DELAY).all()
    ended = both["end_time"].notna()
    assert (both["end_time_got"].notna() == ended).all()
    # processing time: 1–30 s late, except staff_left closes, which are the brand's own left_at
    lag = (both.loc[ended, "end_time_got"] - both.loc[ended, "end_time"]).dt.total_seconds()
    left = both.loc[ended, "end_type"] == "staff_left"
    assert (lag[left] == 0).all() and lag[~left].between(1, MAX_DELAY).all()
    assert (both["end_type"].fillna("open") == both["end_type_got"].fillna("open")).all()

    sim = brand.tables["contact_events"]
    lost = int(exp["start_lost"].sum())
    n_hist = int(exp["end_type"].isin(["delete_by_customer", "delete_by_staff", "transfer"]).sum())
    ext = scrm["customer_staff"]["ext_customer_id"]
    assert report.counts == {
        "second_closes": lost,  # the close of a spell whose start is lost follows the previous close
        "repeated_opens": 0,
        "orphan_deletes_dropped": 0,
        "transfers": int((exp["end_type"] == "transfer").sum()),
        "staff_left_closes": int((exp["end_type"] == "staff_left").sum()),
        "ids_unresolved": 0,
        "scrm_relationships": int(scrm["customer_staff"]["deleted_at"].isna().sum()),
        "scrm_history_rows": n_hist,
        "group_joins": int((scrm["group_chat_member"]["type"] == 2).sum()),
        "mass_send_rows": len(scrm["mass_msg_staff"]),
        "orders_in": len(brand.tables["orders"]),
        "orders_linked": len(brand.tables["orders"]),
    }
    last = exp.sort_values("interval_number").drop_duplicates(["customer_id", "staff_id"], keep="last")
    assert report.counts["scrm_relationships"] == int(last["end_time"].isna().sum()) + report.counts[
        "staff_left_closes"]
    assert ext.nunique() == sim["customer_id"].nunique()
    print("measured:", report.counts, "transfers in the simulation:", int((sim["event_type"] == "transfer").sum()),
          "second closes in the simulation:", len(sim) - int(sim["event_type"].eq("add").sum()) - int(
              exp["end_time"].notna().sum()))

    # attributes of each pair's last spell survive (live row); earlier spells' do not
    ev = pd.read_parquet(out / "contact_events.parquet")
    adds = ev[ev["event_type"] == "add"]
    assert set(ev["origin"]) == {"scrm"}
    assert set(adds["initiator"].dropna()) <= {"customer", "staff", "admin"}
    truth = sim[sim["event_type"] == "add"].merge(adds, on=["customer_id", "staff_id", "event_time"],
                                                  suffixes=("", "_got"))
    with_attr = truth["add_way_got"].notna()
    assert with_attr.sum() == int(scrm["customer_staff"].shape[0])
    assert (truth.loc[with_attr, "add_way"] == truth.loc[with_attr, "add_way_got"]).all()
    assert (truth.loc[with_attr, "initiator"] == truth.loc[with_attr, "initiator_got"]).all()
    codes = truth.loc[with_attr, ["channel_code", "channel_code_got"]].fillna("")
    assert (codes["channel_code"] == codes["channel_code_got"]).all()

    # group joins: the current members at their last join, resolved (group-only members through unionid)
    ge = pd.read_parquet(out / "group_events.parquet")
    assert set(ge["event_type"]) == {"join"}
    sim_ge = brand.tables["group_events"]
    last = sim_ge.sort_values("event_time").drop_duplicates(["customer_id", "group_id"], keep="last")
    current = last[last["event_type"] == "join"]
    pd.testing.assert_frame_equal(
        ge[["event_time", "customer_id", "group_id"]].sort_values(["group_id", "customer_id"]).reset_index(drop=True),
        current[["event_time", "customer_id", "group_id"]].sort_values(["group_id", "customer_id"])
        .reset_index(drop=True), check_dtype=False)

    # mass sends: one sent row per simulated mass_send touch
    ms = pd.read_parquet(out / "mass_sends.parquet")
    touches = brand.tables["touches"]
    sent = touches[touches["touch_type"] == "mass_send"].drop_duplicates(["task_id", "staff_id", "customer_id"])
    assert len(ms) == len(sent) and set(ms["status"]) == {"sent"}
    assert set(zip(ms["task_id"], ms["staff_id"], ms["customer_id"], strict=True)) == set(
        zip(sent["task_id"], sent["staff_id"], sent["customer_id"], strict=True))

    summary = workbench.open(out).validate_all()
    assert summary is not None
    body = (out / "ingest_report.json").read_text(encoding="utf-8")
    assert mariadb.password not in body and mariadb.password not in (out / "ingest_daily.csv").read_text()
    assert json.loads(body)["inputs"][0]["path"].startswith(f"mysql://{mariadb.user}@127.0.0.1:{mariadb.port}/")


def test_scrm_tables_alone(scrm, mariadb, brand, tmp_path):
    """Without the brand's tables: ids stay external_userids, dimensions come from the SCRM, staff_left stays open."""
    report, out = _ingest(scrm, mariadb, brand, tmp_path, ())
    exp = expected_intervals(brand, with_left_at=False)
    got = _intervals(out)
    both = _compare(got.assign(customer_id=got["customer_id"]),
                    exp.assign(customer_id=exp["customer_id"].map(_ext_of(brand, scrm))))
    assert (both["end_type"].fillna("open") == both["end_type_got"].fillna("open")).all()
    exts = set(scrm["customer_staff"]["ext_customer_id"]) | set(
        scrm["group_chat_member"].query("type == 2")["userid"]) | set(scrm["mass_msg_staff"]["ext_customer_id"])
    assert report.counts["ids_unresolved"] == len(exts)
    assert "orders_in" not in report.counts and report.counts["staff_left_closes"] == 0

    stores = pd.read_parquet(out / "stores.parquet")
    sim_stores = brand.tables["stores"]
    assert sorted(stores["store_name"]) == sorted(sim_stores["store_name"])
    assert dict(zip(stores["store_name"], stores["region"], strict=True)) == dict(
        zip(sim_stores["store_name"], sim_stores["region"], strict=True))
    staff = pd.read_parquet(out / "staff.parquet").set_index("staff_id")
    sim_staff = brand.tables["staff"].set_index("staff_id")
    store_name = sim_stores.set_index("store_id")["store_name"]
    got_store = staff["store_id"].map(stores.set_index("store_id")["store_name"])
    assert got_store.reindex(sim_staff.index).equals(sim_staff["store_id"].map(store_name))
    assert (staff.loc[sim_staff.index, "role"] == sim_staff["role"]).all()
    channels = pd.read_parquet(out / "channels.parquet").set_index("channel_code")
    sim_ch = brand.tables["channels"].set_index("channel_code")
    assert channels.loc[sim_ch.index, "channel_name"].equals(sim_ch["channel_name"])
    workbench.open(out).validate_all()


def _ext_of(brand, scrm) -> pd.Series:
    """Simulated customer_id → the external_userid OpenSCRM holds for it."""
    from workbench.identity import resolve_identities

    comp = resolve_identities(brand.tables["identity_links"])
    members = comp[comp["id_type"] == "member_id"].merge(brand.tables["customers"][["customer_id", "member_id"]],
                                                         left_on="id_value", right_on="member_id",
                                                         suffixes=("_c", ""))
    ext = comp[comp["id_type"] == "external_userid"].merge(members[["customer_id_c", "customer_id"]],
                                                           left_on="customer_id", right_on="customer_id_c",
                                                           suffixes=("_x", ""))
    return ext.set_index("customer_id")["id_value"]


def test_unreachable_server_names_host_and_port_not_password(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceUnavailableError, match=rf"127\.0\.0\.1:{port}/openscrm") as err:
        ingest_openscrm(f"mysql://someone:s3cret-Pw@127.0.0.1:{port}/openscrm", tmp_path / "out")
    assert "s3cret-Pw" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_wrong_password_is_refused_without_echoing_it(mariadb, tmp_path):
    with pytest.raises(SourceUnavailableError, match="cannot connect") as err:
        ingest_openscrm(f"mysql://{mariadb.user}:not-the-Pw@127.0.0.1:{mariadb.port}/openscrm", tmp_path / "out")
    assert "not-the-Pw" not in str(err.value)


def test_missing_table_is_named(mariadb, tmp_path):
    mariadb.create("openscrm_partial")
    mariadb.load("openscrm_partial", SCHEMA)
    mariadb.sql("DROP TABLE group_chat_member", database="openscrm_partial")
    with pytest.raises(DataContractError, match="group_chat_member") as err:
        ingest_openscrm(mariadb.url("openscrm_partial"), tmp_path / "out")
    assert err.value.table == "group_chat_member"
    assert mariadb.password not in str(err.value)


def test_missing_column_is_named(mariadb, tmp_path):
    mariadb.create("openscrm_old")
    mariadb.load("openscrm_old", SCHEMA)
    mariadb.sql("ALTER TABLE customer_staff_relation_history DROP COLUMN staff_delete_customer_at",
                database="openscrm_old")
    with pytest.raises(DataContractError, match="staff_delete_customer_at"):
        ingest_openscrm(mariadb.url("openscrm_old"), tmp_path / "out")


@pytest.mark.parametrize("url", ["postgresql://u:p@h:5432/db", "mysql://u:p@h:3306", "not a url"])
def test_bad_url(url, tmp_path):
    with pytest.raises(ParameterError, match="mysql://user:password@host:port/database"):
        ingest_openscrm(url, tmp_path / "out")


def test_dump_escapes_text(tmp_path):
    path = write_openscrm_dump({"staff": pd.DataFrame({"id": np.array([1, 2]), "name": ["O'Brien\\", None]})},
                               tmp_path / "d.sql")
    assert path.read_text(encoding="utf-8").splitlines()[-1] == (
        "INSERT INTO `staff` (`id`, `name`) VALUES (1, 'O\\'Brien\\\\'), (2, NULL);")


# ------------------------------------------------------------------ the mapping rules on hand-written rows
def _t(s):
    return pd.Timestamp(s) if s else pd.NaT


def _live(*rows):
    cols = ["ext_customer_id", "ext_staff_id", "createtime", "deleted_at", "add_way", "oper_user_id", "state"]
    f = pd.DataFrame(rows, columns=cols)
    for c in ("createtime", "deleted_at"):
        f[c] = f[c].map(_t).astype("datetime64[us]")
    return f


def _hist(*rows):
    cols = ["id", "ext_customer_id", "ext_staff_id", "createtime", "customer_delete_staff_at",
            "staff_delete_customer_at"]
    f = pd.DataFrame(rows, columns=cols)
    for c in cols[3:]:
        f[c] = f[c].map(_t).astype("datetime64[us]")
    return f


def test_contact_event_rules_on_hand_written_rows():
    """Each OpenSCRM rule on one pair; the expected events are written out in full."""
    from workbench.ingest.openscrm_map import contact_events

    live = _live(
        # c1: re-added after the customer deleted s1; the live row is the open second spell
        ("c1", "s1", "2025-03-01 10:00:00", None, 1, "c1", "QR1"),
        # c2: two spells ended by s1, then re-added by s1 (phone search): the second spell's start is lost
        ("c2", "s1", "2025-03-01 00:00:00", None, 2, "s1", ""),
        # c3: moved from s1 to s2: s1's row soft-deleted, s2's add is a 202 assigned by admin a1
        ("c3", "s1", "2025-02-02 09:59:58", "2025-04-01 10:00:07", 1, "c3", "QR1"),
        ("c3", "s2", "2025-04-02 10:00:00", None, 202, "a1", ""),
        # c6: a live add earlier than the pair's history row: a repeated open
        ("c6", "s2", "2025-01-01 00:00:00", None, 1, "c6", "QR2"),
    )
    hist = _hist(
        (1, "c1", "s1", "2025-01-01 09:00:00", "2025-02-01 12:00:05", None),
        (2, "c2", "s1", "2025-01-05 08:00:03", None, "2025-01-10 00:00:10"),
        (3, "c2", "s1", "2025-01-05 08:00:03", None, "2025-02-01 00:00:10"),
        (4, "c3", "s1", "2025-02-02 09:59:59", None, "2025-04-01 10:00:07"),
        (5, "c4", "s2", None, "2025-05-01 00:00:00", None),  # no add time: an orphan close
        (6, "c5", "s2", "2025-01-01 00:00:00", None, None),  # no delete time: rejected
        (7, "c6", "s2", "2025-03-01 00:00:00", "2025-03-05 00:00:00", None),
    )
    ev, counts, rejected = contact_events(live, hist)
    assert counts == {"second_closes": 1, "repeated_opens": 1, "orphan_deletes_dropped": 1, "transfers": 1}
    assert rejected == [{"file": "customer_staff_relation_history", "line": "6",
                         "reason": "no customer_delete_staff_at nor staff_delete_customer_at"}]
    expected = pd.DataFrame([
        ("2025-01-01 09:00:00", "c1", "s1", "add", None, None, None),
        ("2025-02-01 12:00:05", "c1", "s1", "delete_by_customer", None, None, None),
        ("2025-03-01 10:00:00", "c1", "s1", "add", "QR1", "1", "customer"),
        ("2025-01-05 08:00:03", "c2", "s1", "add", None, None, None),  # the row's insert time: 3 s late
        ("2025-01-10 00:00:10", "c2", "s1", "delete_by_staff", None, None, None),
        ("2025-02-01 00:00:10", "c2", "s1", "delete_by_staff", None, None, None),  # start lost: a second close
        ("2025-03-01 00:00:00", "c2", "s1", "add", None, "2", "staff"),
        ("2025-02-02 09:59:58", "c3", "s1", "add", "QR1", "1", "customer"),  # the live row's exact start
        ("2025-04-01 10:00:07", "c3", "s1", "transfer", None, None, None),
        ("2025-04-02 10:00:00", "c3", "s2", "add", None, "202", "admin"),
        ("2025-01-01 00:00:00", "c6", "s2", "add", "QR2", "1", "customer"),
        ("2025-03-01 00:00:00", "c6", "s2", "add", None, None, None),
        ("2025-03-05 00:00:00", "c6", "s2", "delete_by_customer", None, None, None),
    ], columns=["event_time", "ext_customer_id", "staff_id", "event_type", "channel_code", "add_way", "initiator"])
    expected["event_time"] = pd.to_datetime(expected["event_time"]).astype("datetime64[us]")
    pd.testing.assert_frame_equal(ev.reset_index(drop=True), expected, check_dtype=False)


def test_staff_left_closes_only_open_relationships_of_leavers():
    from workbench.ingest.openscrm_map import staff_left_closes

    events = pd.DataFrame({
        "event_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-02-01"]),
        "customer_id": ["A", "B", "B", "C"], "staff_id": ["s1", "s1", "s1", "s1"],
        "event_type": ["add", "add", "delete_by_customer", "add"],
        "channel_code": ["X", None, None, None], "add_way": ["1", None, None, "1"],
        "initiator": ["customer", None, None, "customer"], "origin": "scrm"})
    staff = pd.DataFrame({"staff_id": ["s1"], "left_at": pd.to_datetime(["2025-01-15"])})
    closes = staff_left_closes(events, staff)
    # A was open at left_at; B had ended; C was added after s1 left (left open: no close before its add)
    assert closes[["customer_id", "event_type"]].values.tolist() == [["A", "staff_left"]]
    assert closes["event_time"].tolist() == [pd.Timestamp("2025-01-15")]


def test_cli_ingest_openscrm(scrm, mariadb, tmp_path, capsys):
    """``workbench ingest openscrm`` prints the counts and never the password; a dead server is one line."""
    from workbench.cli import main

    assert main(["ingest", "openscrm", "--url", mariadb.url("openscrm"), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr()
    assert f"scrm_history_rows: {len(scrm['customer_staff_relation_history']):,}" in printed.out
    assert mariadb.password not in printed.out + printed.err
    url = mariadb.url("openscrm").replace(f":{mariadb.port}/", ":1/")
    assert main(["ingest", "openscrm", "--url", url, "--out", str(tmp_path / "out2")]) == 3  # input unavailable
    printed = capsys.readouterr()
    assert "127.0.0.1:1/openscrm" in printed.err and mariadb.password not in printed.out + printed.err
