"""What the data-quality report states: every section on a hand-built brand whose numbers are worked
out below, and the rendered page (zh and en) on that brand's folder with a hand-built ingest report.

The brand (period 2025-03-01 – 2025-03-07, as of 2025-03-08; members E1 "Alice", E2 unnamed, E3 "Carol"):

=====  ==========  =====================  ==============================  ==============================
pair   member      events                 opening adds per day            customer deletes per day
=====  ==========  =====================  ==============================  ==============================
C1     E1          add 03-01, add again   03-01 (the repeat is ignored)   03-03
                   03-01, del_cust 03-03
C2     E1          add 03-01              03-01
C3     E1          add 03-02, del_cust    03-02                           03-02
                   03-02
C4     E2          add 03-01, del_staff   03-01                           – (deleted by the member)
                   03-04
C5     E2          add 03-03, transfer    03-03                           – (a transfer)
                   03-05
C6     E3          add 03-02, del_cust    03-02                           03-06
                   03-06
C7     E3          add 03-07              03-07 (no staff_daily row)
C8     E1          add 02-20              before the period
C9     E1          add 03-09              after as-of: left out
=====  ==========  =====================  ==============================  ==============================

staff_daily (new_contact_cnt, negative_feedback_cnt) per member-day, with the events' (adds, deletes):
E1 03-01 (2,0)=(2,0) · 03-02 (1,1)=(1,1) · 03-03 (0,2) vs (0,1) · 03-04 (0,0)=(0,0);
E2 03-01 (1,0)=(1,0) · 03-03 (2,0) vs (1,0) · 03-04 (0,0)=(0,0);
E3 03-02 (0,0) vs (1,0) · 03-06 (1,1) vs (0,1); plus E3 02-28 (before) and E1 03-08 (after as-of).
So 9 member-days, adds 6 vs 7, deletes 3 vs 4, adds agree on 6/9, deletes on 8/9, both on 5/9;
one add (C7) on an unreported member-day; gaps E3 2, E1 1, E2 1.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import workbench
from tests.pages.rendered import page_text
from workbench.i18n import t
from workbench.ingest.report import IngestReport
from workbench.pages import data_quality as dq

AS_OF = "2025-03-08"
START, END = pd.Timestamp("2025-03-01"), pd.Timestamp(AS_OF)
NAME = "Alice <b>x</b>"     # a staff name with markup: shown, escaped


def brand_frames() -> dict[str, pd.DataFrame]:
    """The hand-built brand of the module docstring."""
    staff = pd.DataFrame({"staff_id": ["E1", "E2", "E3"], "role": ["guide"] * 3,
                          "staff_name": [NAME, None, "Carol"]})
    rows = [("2025-03-01 10:00", "C1", "E1", "add"), ("2025-03-01 10:05", "C1", "E1", "add"),
            ("2025-03-03 09:00", "C1", "E1", "delete_by_customer"),
            ("2025-03-01 11:00", "C2", "E1", "add"),
            ("2025-03-02 12:00", "C3", "E1", "add"), ("2025-03-02 18:00", "C3", "E1", "delete_by_customer"),
            ("2025-03-01 09:00", "C4", "E2", "add"), ("2025-03-04 10:00", "C4", "E2", "delete_by_staff"),
            ("2025-03-03 10:00", "C5", "E2", "add"), ("2025-03-05 10:00", "C5", "E2", "transfer"),
            ("2025-03-02 10:00", "C6", "E3", "add"), ("2025-03-06 10:00", "C6", "E3", "delete_by_customer"),
            ("2025-03-07 10:00", "C7", "E3", "add"),
            ("2025-02-20 10:00", "C8", "E1", "add"),
            ("2025-03-09 10:00", "C9", "E1", "add")]
    events = pd.DataFrame(rows, columns=["event_time", "customer_id", "staff_id", "event_type"])
    events["event_time"] = pd.to_datetime(events["event_time"])
    daily = pd.DataFrame([("2025-03-01", "E1", 2, 0), ("2025-03-02", "E1", 1, 1), ("2025-03-03", "E1", 0, 2),
                          ("2025-03-04", "E1", 0, 0), ("2025-03-01", "E2", 1, 0), ("2025-03-03", "E2", 2, 0),
                          ("2025-03-04", "E2", 0, 0), ("2025-03-02", "E3", 0, 0), ("2025-03-06", "E3", 1, 1),
                          ("2025-02-28", "E3", 3, 3), ("2025-03-08", "E1", 5, 5)],
                         columns=["stat_date", "staff_id", "new_contact_cnt", "negative_feedback_cnt"])
    daily["stat_date"] = pd.to_datetime(daily["stat_date"])
    for col in ("new_contact_cnt", "negative_feedback_cnt"):
        daily[col] = daily[col].astype(float)
    for col in ("new_apply_cnt", "chat_cnt", "message_cnt"):
        daily[col] = 0.0
    return {"staff": staff, "contact_events": events, "staff_daily": daily}


def ingest_report() -> IngestReport:
    """A hand-built WeCom ingest report: 150 rows in, 28 out, 3 refused lines listed, 9 repairs."""
    days = pd.date_range("2025-02-20", "2025-03-07", freq="D")
    daily = pd.DataFrame({"day": days, "callback_lines": range(1, len(days) + 1),
                          "duplicates_dropped": [1] * len(days), "out_of_order": [0] * len(days),
                          "repaired_adds": [0] * (len(days) - 1) + [4], "repaired_closes": [0] * (len(days) - 1) + [5]})
    return IngestReport(
        "wecom",
        counts={"callback_lines": 120, "callbacks_rejected": 2, "duplicates_dropped": 312, "out_of_order": 3,
                "repaired_adds": 4, "repaired_closes": 5, "transfers": 1, "orphan_deletes_dropped": 1},
        rejected=[{"file": "/in/callbacks.jsonl", "line": 7, "reason": "unknown ChangeType 'zzz' for wmABCDEFGH12"},
                  {"file": "/in/callbacks.jsonl", "line": 9, "reason": "UserID missing"},
                  {"file": "/in/callbacks.jsonl", "line": 11, "reason": "Event 'x' for customer C00012345"}],
        daily=daily,
        inputs=[{"path": "/in/callbacks.jsonl", "kind": "callbacks", "rows": 120},
                {"path": "/in/snapshot.json", "kind": "snapshot", "rows": 30}],
        tables={"contact_events": 15, "staff": 3, "staff_daily": 10})


@pytest.fixture(scope="module")
def wb():
    return workbench.open(brand_frames(), as_of=AS_OF)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The brand as Parquet files with the ingest report beside them."""
    root = tmp_path_factory.mktemp("dq")
    data = root / "data"
    data.mkdir()
    for name, df in brand_frames().items():
        df.to_parquet(data / f"{name}.parquet", index=False)
    ingest_report().write(data)
    return root


# ---------------------------------------------------------------------- sections on hand-built frames
def test_cross_check_numbers(wb):
    c = dq.cross_check(wb, START, END)
    got = {k: getattr(c, k).value for k in ("staff_days", "adds", "new_contact_cnt", "customer_deletes",
                                           "negative_feedback_cnt", "unreported_adds", "unreported_deletes")}
    assert got == {"staff_days": 9, "adds": 6, "new_contact_cnt": 7, "customer_deletes": 3,
                   "negative_feedback_cnt": 4, "unreported_adds": 1, "unreported_deletes": 0}
    assert (c.adds_agree.value, c.deletes_agree.value, c.both_agree.value) == pytest.approx((6 / 9, 8 / 9, 5 / 9))
    assert c.adds.unit == "person_times" and c.adds_agree.unit == "share"
    assert list(c.members["member"]) == ["Carol", NAME, "E2"]     # id when the name is missing
    assert list(c.members["gap"]) == [2, 1, 1]
    assert c.members[["adds", "new_contact_cnt", "customer_deletes", "negative_feedback_cnt"]].iloc[0].tolist() \
        == [1, 1, 1, 1]
    days = c.days.set_index("day")
    assert days["adds"].to_dict() == {pd.Timestamp(d): v for d, v in
                                      [("2025-03-01", 3), ("2025-03-02", 2), ("2025-03-03", 1), ("2025-03-04", 0),
                                       ("2025-03-06", 0)]}
    assert days["new_contact_cnt"].sum() == 7 and days["negative_feedback_cnt"].sum() == 4
    assert "6 adds" in c.finding("en") and "66.7%" in c.finding("en") and "55.6%" in c.finding("en")
    assert c.unreported_text("en").startswith("1 adds and 0 deletes")
    assert dq.cross_check(wb, START, END, top=1).members["member"].tolist() == ["Carol"]


def test_cross_check_needs_staff_daily():
    frames = brand_frames()
    del frames["staff_daily"]
    assert dq.cross_check(workbench.open(frames, as_of=AS_OF), START, END) is None


def test_sequence_counts_and_second_closes_left_out_of_the_cross_check():
    """A second close (the member deletes the one-way contact after the customer deleted them) and a
    customer delete after the member's: neither is a customer delete that ended a relationship."""
    frames = brand_frames()
    extra = pd.DataFrame([("2025-03-04 11:00", "C4", "E2", "delete_by_customer"),
                          ("2025-03-06 12:00", "C6", "E3", "delete_by_staff")],
                         columns=["event_time", "customer_id", "staff_id", "event_type"])
    extra["event_time"] = pd.to_datetime(extra["event_time"])
    frames["contact_events"] = pd.concat([frames["contact_events"], extra], ignore_index=True)
    wb = workbench.open(frames, as_of=AS_OF, validate=False)   # counted whatever validation makes of them
    assert dq.sequence_counts(wb) == {"second_closes": 2, "repeated_opens": 1}
    c = dq.cross_check(wb, START, END)
    assert c.customer_deletes.value == 3 and c.adds.value == 6


def test_validation_numbers(wb):
    v = dq.validation(wb)
    assert dict(zip(v.tables["table"], v.tables["rows"], strict=True)) == {"staff": 3, "contact_events": 14,
                                                                          "staff_daily": 10}
    assert v.total_rows.value == 27
    assert v.after_as_of.value == 2                     # C9's add and E1's statistics of 03-08
    assert (v.second_closes.value, v.repeated_opens.value) == (0, 1)
    assert "staff_daily" not in set(v.absent["table"]) and "orders" in set(v.absent["table"])
    assert "3 tables with 27 rows" in v.finding("en") and "2 rows dated on or after 2025-03-08" in v.finding("en")


def test_validation_read_from_files_twice_states_the_same_numbers(wb, folder, tmp_path, monkeypatch):
    """The section on the brand's files states the numbers of the frames, counted or read remembered.

    A first kernel counts, a second reads the counts; the frames are never remembered.
    """
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    expected = dq.validation(wb)
    for _ in range(2):
        v = dq.validation(workbench.open(folder / "data", as_of=AS_OF))
        for frame in ("tables", "absent", "normalised"):
            pd.testing.assert_frame_equal(getattr(v, frame), getattr(expected, frame))
        for stated in ("total_rows", "normalised_values", "duplicate_events", "after_as_of", "second_closes",
                       "repeated_opens"):
            assert getattr(v, stated) == getattr(expected, stated), stated
        assert v.finding("zh") == expected.finding("zh")
    assert list((tmp_path / "validated" / "summary").glob("contact_events.view_counts.*.json"))


def test_ingest_summary_and_daily(folder):
    s = dq.ingest_summary(folder / "data")
    assert (s.rows_in.value, s.rows_out.value, s.count("duplicates_dropped"), s.count("group_joins")) \
        == (150, 28, 312, 0)
    assert s.counts["duplicates_dropped"].definition.startswith("callback lines whose key")
    sentences = s.rule_sentences("en")
    assert "312 retried callbacks dropped (duplicates)" in sentences
    assert "9 relationships repaired from snapshots (lost adds 4, lost deletes 5)" in sentences
    assert len(sentences) == 7                           # 8 counts, the two repairs in one sentence
    assert list(s.inputs["input"]) == ["callbacks.jsonl", "snapshot.json"]   # file names, never machine paths
    assert s.rejected["line"].tolist() == [7, 9, 11]
    assert s.rejected["reason"].tolist() == ["unknown ChangeType 'zzz' for …", "UserID missing",
                                             "Event 'x' for customer …"]
    d = dq.daily_ingest(s, END)
    assert len(d.days) == dq.DAILY_DAYS and d.days["day"].max() == pd.Timestamp("2025-03-07")
    assert d.columns == ("callback_lines", "duplicates_dropped", "out_of_order", "repairs")
    assert d.totals["repairs"].value == 9 and d.totals["callback_lines"].value == sum(range(3, 17))
    assert dq.daily_ingest(s, "2025-03-01").days["day"].max() == pd.Timestamp("2025-02-28")
    assert dq.ingest_summary(folder) is None and dq.daily_ingest(None, END) is None


def test_headline(wb, folder):
    v = dq.validation(wb)
    s = dq.ingest_summary(folder / "data")
    h = dq.headline(v, s)
    assert list(h.caveats) == ["callbacks_rejected", "orphan_deletes_dropped", "repaired_adds", "repaired_closes"]
    assert h.finding("en") == ("The data passed every contract check: 3 tables, 27 rows. To keep in mind: 2 callback "
                               "lines refused; 1 deletes with no earlier add dropped; 4 lost adds repaired from "
                               "snapshots; 5 lost deletes repaired from snapshots.")
    assert t("dq.no_ingest", "zh") in dq.headline(v, None).finding("zh")
    rules = dq.rule_definitions(s)
    assert rules.set_index("rule").loc["duplicates_dropped", "count"] == 312
    assert rules.set_index("rule")["count"].isna().sum() == len(rules) - 8


# ---------------------------------------------------------------------- the rendered page
def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def pages(folder):
    from workbench.reports import run_report

    root = Path(__file__).resolve().parents[2]
    return {lang: run_report("data_quality", {"period_days": 7}, lang=lang, as_of=AS_OF, data_dir=folder / "data",
                             out_dir=folder / "reports", notebooks_dir=root / "notebooks")
            for lang in ("en", "zh")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_states_the_functions_numbers(pages, folder, lang):
    run = pages[lang]
    assert run.ok, run.error
    text = page_text(run)
    wb = workbench.open(folder / "data", as_of=AS_OF)
    v = dq.validation(wb)
    s = dq.ingest_summary(folder / "data")
    c = dq.cross_check(wb, START, END)
    for sentence in (dq.headline(v, s).finding(lang), s.finding(lang), *s.rule_sentences(lang), v.finding(lang),
                     c.finding(lang), c.unreported_text(lang)):
        assert squash(sentence) in text, sentence
    assert NAME in text                                   # the staff name, as text
    raw = Path(run.html_path).read_text(encoding="utf-8")
    assert "<b>x</b>" not in raw                          # never as markup
    for customer in ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "wmABCDEFGH12", "C00012345", "/in/"):
        assert re.search(rf"(?<![\w/]){re.escape(customer)}(?!\w)", text) is None, customer


# ---------------------------------------------------------------------- the simulated brand
@pytest.fixture(scope="module")
def sim(report_brand):
    folder, brand = report_brand
    end = pd.Timestamp(brand.truth["as_of"][:10])
    return workbench.open(folder / "data", as_of=end), brand, end


def test_simulated_staff_daily_agrees_exactly(sim):
    """The simulator writes WeCom's counts from its own relationships (adds, deletes by the customer):
    every member-day agrees, and the totals are the contact events' of the window."""
    wb, brand, end = sim
    daily = brand.tables["staff_daily"]
    start = daily["stat_date"].min()
    c = dq.cross_check(wb, start, end)
    ev = brand.tables["contact_events"]
    ev = ev[(ev["event_time"] >= start) & (ev["event_time"] < end)]
    assert c.staff_days.value == ((daily["stat_date"] >= start) & (daily["stat_date"] < end)).sum()
    assert c.adds.value == c.new_contact_cnt.value == (ev["event_type"] == "add").sum()
    assert c.customer_deletes.value == c.negative_feedback_cnt.value == (ev["event_type"] == "delete_by_customer").sum()
    assert c.both_agree.value == 1.0 and c.members.empty and c.unreported_text("en") is None


def test_disagreements_injected_into_simulated_staff_daily(sim):
    """Five member-days of one guide and two of another told one add more: exactly those disagree."""
    _, brand, end = sim
    tables = dict(brand.tables)
    daily = tables["staff_daily"].copy()
    start = end - pd.Timedelta(days=30)
    recent = daily.index[daily["stat_date"] >= start]
    guides = daily.loc[recent, "staff_id"].drop_duplicates().iloc[:2].tolist()
    hit = (list(daily.index[(daily["staff_id"] == guides[0]) & (daily["stat_date"] >= start)][:5])
           + list(daily.index[(daily["staff_id"] == guides[1]) & (daily["stat_date"] >= start)][:2]))
    daily.loc[hit, "new_contact_cnt"] += 1
    tables["staff_daily"] = daily
    c = dq.cross_check(workbench.open(tables, as_of=end), start, end)
    n = c.staff_days.value
    assert n == len(recent)
    assert c.adds_agree.value == pytest.approx((n - 7) / n) and c.deletes_agree.value == 1.0
    assert c.new_contact_cnt.value - c.adds.value == 7
    names = brand.tables["staff"].set_index("staff_id")["staff_name"] if "staff_name" in brand.tables["staff"] \
        else pd.Series(dtype=object)
    shown = [names.get(g) if isinstance(names.get(g), str) else g for g in guides]
    assert c.members["member"].tolist() == shown and c.members["gap"].tolist() == [5, 2]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_simulated_page_states_the_functions_numbers(render, sim, lang):
    wb, _, end = sim
    run = render("data_quality", lang)
    text = page_text(run)
    v = dq.validation(wb)
    c = dq.cross_check(wb, end - pd.Timedelta(days=30), end)
    for sentence in (dq.headline(v, None).finding(lang), v.finding(lang), c.finding(lang)):
        assert squash(sentence) in text, sentence


def test_every_ingest_count_has_words_in_both_languages():
    """A count added to the ingest report needs its sentence here (the page would otherwise show its name)."""
    from workbench.i18n import has_key
    from workbench.ingest.report import COUNTS

    assert [k for k in COUNTS if not has_key(f"dq.count.{k}")] == []
    assert [k for k in dq.CAVEAT_COUNTS if k not in COUNTS or not has_key(f"dq.caveat.{k}")] == []
