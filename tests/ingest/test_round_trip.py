"""Round trip: a simulated brand written as raw WeCom exports, ingested, gives the simulator's counts and intervals.

:func:`workbench.simulate.raw.write_raw_exports` injects retries, delays, lost callbacks,
repeated opens and unknown ids at known rates and returns the counts a correct ingest must
report; the contact intervals after go-live must be the truth's, except the closes of lost
delete callbacks, which the ingest can only place between two daily snapshots.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.ingest.wecom import ingest_wecom
from workbench.relations import contact_intervals
from workbench.simulate import simulate_brand
from workbench.simulate.raw import RawRates, write_raw_exports

pytestmark = pytest.mark.slow  # a 1,500-customer brand simulated, exported and ingested: ~25 s

RATES = RawRates(delayed=0.2, lost=0.03)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory):
    """``(expected dict, ingest report, truth tables, output folder)`` for a 1,500-customer brand."""
    brand = simulate_brand(1500, seed=3, n_stores=6, n_staff=24, months=6)
    tables = brand.tables
    raw = tmp_path_factory.mktemp("raw")
    expected = write_raw_exports(tables, brand.truth, raw, seed=3, rates=RATES)
    out = tmp_path_factory.mktemp("ingested")
    report = ingest_wecom(raw / "callbacks.jsonl", out, snapshots=raw / "snapshots.jsonl",
                          behavior=raw / "behavior.jsonl", bills=raw / "bills.jsonl",
                          mass_sends=raw / "mass_sends.jsonl", tables=raw / "tables")
    return expected, report, tables, out


def test_every_expected_count_is_reported(round_trip) -> None:
    """Each count the simulator expects equals the ingest's, exactly."""
    expected, report, _, _ = round_trip
    wanted = expected["expected_report"]
    assert {k: report.counts.get(k) for k in wanted} == wanted
    assert wanted["repaired_adds"] > 0 and wanted["repaired_closes"] > 0 and wanted["out_of_order"] > 0


def _intervals(source) -> pd.DataFrame:
    wb = workbench.open(source)
    try:
        return wb.query(f"SELECT customer_id, staff_id, start_time, end_time, end_type FROM ({contact_intervals(wb)}) i")
    finally:
        wb.close()


def test_intervals_after_go_live_equal_the_truth(round_trip) -> None:
    """Truth intervals still open at go-live or later equal the ingested ones; lost closes within a snapshot day."""
    expected, _, tables, out = round_trip
    go_live = pd.Timestamp(expected["go_live"])
    truth = _intervals({"contact_events": tables["contact_events"], "staff": tables["staff"]})
    truth = truth[truth["end_time"].isna() | (truth["end_time"] > go_live)]
    got = _intervals(out)
    got = got[got["customer_id"].isin(tables["customers"]["customer_id"])]  # unknown ids are not customers
    # an injected add_half_external_contact 1 s before the add opens the ingested interval 1 s early
    got = got.assign(start_ingest=got["start_time"]).sort_values("start_time")
    both = pd.merge_asof(truth.sort_values("start_time"), got, on="start_time", by=["customer_id", "staff_id"],
                         direction="nearest", tolerance=pd.Timedelta(seconds=1), suffixes=("_truth", "_ingest"))
    assert both["start_ingest"].notna().all() and len(got) == len(truth), both[both["start_ingest"].isna()].head()
    assert not both.duplicated(["customer_id", "staff_id", "start_ingest"]).any()
    early = both["start_time"] - both["start_ingest"]
    assert set(early.unique()) <= {pd.Timedelta(0), pd.Timedelta(seconds=1)}
    same = (both["end_time_truth"].eq(both["end_time_ingest"]) | both[["end_time_truth", "end_time_ingest"]]
            .isna().all(axis=1)) & both["end_type_truth"].fillna("").eq(both["end_type_ingest"].fillna(""))
    differ = both[~same]
    lost_closes = expected["injected"]["lost_closes"]
    assert len(differ) == expected["expected_report"]["repaired_closes"] == lost_closes
    # a repaired close lies between the snapshots around the lost one (daily snapshots: under a day away)
    gap = (differ["end_time_ingest"] - differ["end_time_truth"]).abs()
    assert (gap < pd.Timedelta(days=RATES.snapshot_every_days)).all()
    assert set(differ["end_type_ingest"]) <= {"delete_by_customer", "delete_by_staff"}
    assert np.isin(differ["end_type_truth"], ["delete_by_customer", "delete_by_staff"]).all()
