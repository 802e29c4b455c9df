"""The data-quality page's cheaper paths state exactly what the former ones did.

* The cross-check's staff-days from the contact intervals (opening adds are interval starts,
  customer deletes that ended a relationship are interval ends) equal the former count over the
  ordered events (written out below), on the hand-built brand with repeated adds and second
  closes, and on the messy simulated brand (numeric-looking ids, duplicated events, rows after
  the as-of date) in several windows, without and with a layer.
* The kept sequences of an interval event table from a layer's intervals
  (:func:`~workbench.engine.validation_files.counts_from_intervals`) equal the one ordered pass
  (:func:`~workbench.engine.validation.interval_counts`), with repeated adds and second closes.
* The cross-check's frames are kept beside a current layer: a second kernel reads them with
  every function that would compute them replaced by a failing stand-in.
"""
from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

import workbench
from tests.engine.test_validation_summary import messy  # noqa: F401  (the messy brand, a fixture)
from tests.pages.test_data_quality import AS_OF, END, START, brand_frames
from workbench.derived_layer import build_layer
from workbench.engine import derived_table, interval_order_sql, literal, ordered_events_sql
from workbench.engine import validation_files as vf
from workbench.engine.memo import MEMO_DIR
from workbench.engine.validation import interval_counts
from workbench.pages import data_quality as dq

T = pd.Timestamp


# ---------------------------------------------------------------------- the former way, for comparison
def former_staff_days_sql(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """The staff-days as they were counted before: the ordered events of the pairs active in the period."""
    s, e = literal(start), literal(end)
    add, by_customer = literal("add"), literal("delete_by_customer")
    pairs = (f"SELECT DISTINCT customer_id, staff_id FROM contact_events "
             f"WHERE event_time >= {s} AND event_time < {e}")
    in_pairs = (f"SELECT c.* FROM contact_events c JOIN ({pairs}) p "
                f"ON p.customer_id IS NOT DISTINCT FROM c.customer_id AND p.staff_id IS NOT DISTINCT FROM c.staff_id")
    seq = (f"SELECT staff_id, event_time, event_type, LAG(event_type) OVER (PARTITION BY customer_id, staff_id "
           f"ORDER BY {interval_order_sql('contact_events')}) AS previous_event "
           f"FROM ({ordered_events_sql('contact_events', in_pairs)}) e")
    events = (f"SELECT staff_id, CAST(date_trunc('day', event_time) AS TIMESTAMP) AS day, "
              f"SUM(CASE WHEN event_type = {add} AND (previous_event IS NULL OR previous_event <> {add}) "
              f"THEN 1 ELSE 0 END) AS adds, "
              f"SUM(CASE WHEN event_type = {by_customer} AND previous_event = {add} THEN 1 ELSE 0 END) "
              f"AS customer_deletes FROM ({seq}) q WHERE event_time >= {s} AND event_time < {e} GROUP BY 1, 2")
    wecom = (f"SELECT staff_id, CAST(date_trunc('day', stat_date) AS TIMESTAMP) AS day, "
             f"SUM(new_contact_cnt) AS new_contact_cnt, SUM(negative_feedback_cnt) AS negative_feedback_cnt "
             f"FROM staff_daily WHERE stat_date >= {s} AND stat_date < {e} GROUP BY 1, 2")
    return (f"SELECT COALESCE(w.staff_id, v.staff_id) AS staff_id, COALESCE(w.day, v.day) AS day, "
            f"w.staff_id IS NOT NULL AS reported, COALESCE(v.adds, 0) AS adds, "
            f"COALESCE(v.customer_deletes, 0) AS customer_deletes, COALESCE(w.new_contact_cnt, 0) AS new_contact_cnt, "
            f"COALESCE(w.negative_feedback_cnt, 0) AS negative_feedback_cnt "
            f"FROM ({wecom}) w FULL OUTER JOIN ({events}) v ON w.staff_id = v.staff_id AND w.day = v.day")


def former_cross_frames(wb, s: pd.Timestamp, e: pd.Timestamp, top: int) -> tuple[pd.DataFrame, ...]:
    """The totals, days and members queries of the page over the former staff-days."""
    days_sql = derived_table(wb, "__dq_former_days", former_staff_days_sql(s, e), ("contact_events", "staff_daily"),
                             (s, e))
    keep = {"derived_table": dq.derived_table, "contact_intervals": dq.contact_intervals, "memoised": dq.memoised}
    try:   # the page's three queries, over the former relation and nothing kept
        dq.derived_table = lambda *a, **k: days_sql
        dq.contact_intervals = lambda wb: "unused"
        dq.memoised = lambda wb, name, params, compute: compute()
        return dq._cross_frames(wb, s, e, top)
    finally:
        for name, value in keep.items():
            setattr(dq, name, value)


def assert_same_frames(got: tuple[pd.DataFrame, ...], want: tuple[pd.DataFrame, ...]) -> None:
    """The totals, days and members: the same frames (values, dtypes, order)."""
    for g, w in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(g, w)


def assert_same_check(got: dq.CrossCheck, want: dq.CrossCheck) -> None:
    """Every field of two cross-checks: Stated values by their repr (NaN-safe), frames exactly."""
    for f in dataclasses.fields(want):
        if f.name in ("days", "members"):
            pd.testing.assert_frame_equal(getattr(got, f.name), getattr(want, f.name))
        else:
            assert repr(getattr(got, f.name)) == repr(getattr(want, f.name)), f.name


# ---------------------------------------------------------------------- the hand-built brand
def with_sequences(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The hand-built brand plus a second close, a customer delete after the member's and a repeated add."""
    extra = pd.DataFrame([("2025-03-04 11:00", "C4", "E2", "delete_by_customer"),
                          ("2025-03-06 12:00", "C6", "E3", "delete_by_staff"),
                          ("2025-03-03 12:00", "C2", "E1", "add")],
                         columns=["event_time", "customer_id", "staff_id", "event_type"])
    extra["event_time"] = pd.to_datetime(extra["event_time"])
    frames["contact_events"] = pd.concat([frames["contact_events"], extra], ignore_index=True)
    return frames


@pytest.mark.parametrize("extra", [False, True])
def test_hand_built_staff_days_equal_the_former(extra):
    """Four windows and two tops; the repeated add and the second closes are left out as before."""
    frames = with_sequences(brand_frames()) if extra else brand_frames()
    wb = workbench.open(frames, as_of=AS_OF)
    for s, e, top in ((START, END, 10), (START, END, 1), (T("2025-03-02"), T("2025-03-05"), 10),
                      (T("2025-02-01"), T("2025-04-01"), 10)):
        assert_same_frames(dq._cross_frames(wb, s, e, top), former_cross_frames(wb, s, e, top))
    c = dq.cross_check(wb, START, END)
    assert (c.adds.value, c.customer_deletes.value) == (6, 3)      # the repeat and the second closes left out
    assert interval_counts(wb, "contact_events")["repeated_opens"] == (2 if extra else 1)


# ---------------------------------------------------------------------- the messy simulated brand
@pytest.fixture(scope="module")
def repeated(messy, tmp_path_factory):  # noqa: F811
    """The messy brand with 40 repeated adds (an add again a minute later) and a layer at its as-of date."""
    folder, tables, _, as_of = messy
    copy = tmp_path_factory.mktemp("dq-paths") / "data"
    shutil.copytree(folder, copy)
    events = tables["contact_events"]
    again = events[(events["event_type"] == "add") & (events["event_time"] < as_of)].iloc[:40].copy()
    again["event_time"] = again["event_time"] + pd.Timedelta(minutes=1)
    pd.concat([events, again], ignore_index=True).to_parquet(copy / "contact_events.parquet", index=False)
    build_layer(copy, as_of=as_of)
    return copy, as_of


def test_messy_staff_days_equal_the_former_without_and_with_a_layer(repeated):
    """The last month, the last year and a month in between, on the built and on the kept intervals."""
    folder, as_of = repeated
    plain = workbench.open(folder, as_of=as_of, layer=None)
    layered = workbench.open(folder, as_of=as_of)
    assert plain.layer is None and layered.layer is not None
    for s, e in ((as_of - pd.Timedelta(days=30), as_of), (as_of - pd.Timedelta(days=365), as_of),
                 (as_of - pd.Timedelta(days=90), as_of - pd.Timedelta(days=60))):
        want = former_cross_frames(plain, s, e, 10)
        assert want[0]["adds"].iloc[0] > 0 and want[0]["customer_deletes"].iloc[0] > 0
        assert_same_frames(dq._cross_frames(plain, s, e, 10), want)
        assert_same_frames(dq._cross_frames(layered, s, e, 10), want)


@pytest.mark.parametrize("table", ["contact_events", "group_events"])
def test_sequences_from_the_layers_intervals_equal_the_ordered_pass(repeated, table):
    """Rows, second closes and repeated opens of each interval event table (40 repeated adds injected)."""
    folder, as_of = repeated
    wb = workbench.open(folder, as_of=as_of)
    wb.validate(table)
    kept = wb._layer_file(vf.INTERVAL_RELATIONS[table], (table,), ())
    assert kept is not None
    want = interval_counts(wb, table)
    assert vf.counts_from_intervals(wb, table, kept) == want
    if table == "contact_events":
        assert want["second_closes"] > 0 and want["repeated_opens"] == 40


# ---------------------------------------------------------------------- kept beside the layer
def test_the_second_kernel_reads_the_cross_check(repeated, monkeypatch):
    """No layer, the first kernel on the layer, the second with every computing function failing: equal."""
    folder, as_of = repeated
    s, e = as_of - pd.Timedelta(days=30), as_of
    want = dq.cross_check(workbench.open(folder, as_of=as_of, layer=None), s, e)
    first = workbench.open(folder, as_of=as_of)
    assert_same_check(dq.cross_check(first, s, e), want)
    kept = {p.name.split("-")[0] for p in (first.layer.folder / MEMO_DIR).glob("dq.*.parquet")}
    assert kept == {"dq.cross_totals", "dq.cross_days", "dq.cross_members"}

    def never(*args, **kwargs):
        raise AssertionError("computed again")

    for name in ("derived_table", "contact_intervals", "_staff_days_sql"):
        monkeypatch.setattr(dq, name, never)
    assert_same_check(dq.cross_check(workbench.open(folder, as_of=as_of), s, e), want)
    with pytest.raises(AssertionError, match="computed again"):   # another period: another memo
        dq.cross_check(workbench.open(folder, as_of=as_of), s - pd.Timedelta(days=1), e)
