"""Journeys for multi-touch attribution, from contract tables, checked by hand."""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench.attribution.journeys import JourneyPaths, journey_path_summary, journey_paths, journeys

T = pd.Timestamp


@pytest.fixture()
def wb(tiny):
    touches = pd.DataFrame([
        (T("2025-01-01 12:00"), "C1", "E1", "chat", None),
        (T("2025-01-02 08:00"), "C1", None, "task_push", "T1"),
        (T("2025-01-03 09:00"), "C4", "E1", "moments", None),
        (T("2024-11-01 09:00"), "C2", "E1", "chat", None),  # outside every look-back
    ], columns=["event_time", "customer_id", "staff_id", "touch_type", "task_id"])
    return workbench.open(dict(tiny, touches=touches), as_of="2025-02-01")


def test_journeys(wb):
    j = journeys(wb, "2025-01-02", "2025-01-08", lookback_days=7)
    o2 = j[j["journey_id"] == "O2"]
    # O2 (Jan 2 16:00): C1's add (Jan 1 10:00), chat, task push; the re-add at 15:00 too
    assert o2["channel"].tolist() == ["add_offline_store", "chat", "task_push", "add_offline_store"]
    assert o2["converted"].eq(1).all() and o2["value"].iloc[0] == 50.0


def test_paths_and_unattributed(wb):
    p = journey_paths(wb, "2025-01-02", "2025-01-08", lookback_days=7).set_index("path")
    assert p.loc["add_offline_store > chat > task_push > add_offline_store", "total_conversions"] == 1
    # C4 bought on Jan 5 after a Moments touch on Jan 3
    assert p.loc["moments", "total_conversions"] == 1
    left_out = journey_path_summary(wb, "2025-01-02", "2025-01-08", lookback_days=7).unattributed_conversions
    assert left_out >= 0 and not p.attrs
    assert p["total_conversions"].sum() + left_out == 6  # orders Jan 2 - Jan 7


def test_path_summary_counts_the_orders_left_out_by_hand(wb):
    """Typed result, no DataFrame.attrs. Orders Jan 2 – Jan 7 are O1, O2, O4, O5, O6, O7 (¥340). With a
    one-day look-back, O5 (C3, Jan 6; C3's add was Jan 3) and O6 (C4, Jan 5; Moments touch Jan 3) have no
    touchpoint: 2 orders, ¥70 + ¥30, left out."""
    summary = journey_path_summary(wb, "2025-01-02", "2025-01-08", lookback_days=1)
    assert isinstance(summary, JourneyPaths)
    assert (summary.unattributed_conversions, summary.unattributed_value) == (2, pytest.approx(100.0))
    assert summary.paths["total_conversions"].sum() == 4
    assert summary.paths["total_conversion_value"].sum() == pytest.approx(240.0)
    assert (summary.start, summary.end) == (T("2025-01-02"), T("2025-01-08"))
    legacy = journey_paths(wb, "2025-01-02", "2025-01-08", lookback_days=1)
    pd.testing.assert_frame_equal(legacy, summary.paths)


def test_non_converting_journeys(wb):
    p = journey_paths(wb, "2025-01-06 12:00", "2025-01-08", lookback_days=7)
    # nobody orders in the window; C1, C2, C3 and C4 have touchpoints in the 7 days before Jan 8
    assert p["total_conversions"].sum() == 0 and p["total_null"].sum() >= 3
