"""Ingest → contract → analyses: raw WeCom exports of a simulated brand give back its ground truth.

The simulated brand is written as a brand's servers would have logged it (callbacks from a go-live
date on, with retries, delays, lost lines and repeated adds; weekly ``batch/get_by_user``
snapshots; behaviour statistics; bills; the brand's own tables), ingested with
:func:`workbench.ingest.wecom.ingest_wecom`, and analysed as a brand's data would be. The
analyses must recover ``truth.json`` within their 95% intervals:

* Cox hazard ratios (channel group, early chats, retention tool) on the customer–guide spells that
  began after go-live (earlier ones are left-truncated: only those still open at go-live are
  known, so they are left out rather than fitted as if fully observed);
* the acquisition funnel's step rates within four binomial standard errors of the truth;
* the randomised holdout's incremental GMV per reached customer inside its Welch interval;
* value buckets of the orders after go-live equal to those of the simulated contract tables
  within 0.5% (a lost delete is placed between two snapshots, an add_half one second early).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.truth import assert_cox_covers_truth
from workbench.attribution.buckets import holdout_incrementality, value_buckets
from workbench.churn import spell_covariates
from workbench.ingest.wecom import ingest_wecom
from workbench.simulate import simulate_brand
from workbench.simulate.raw import RawRates, write_raw_exports

pytestmark = pytest.mark.slow  # a 12,000-customer brand simulated, exported and ingested

RATES = RawRates(snapshot_every_days=7, lost=0.02, delayed=0.05)


@pytest.fixture(scope="module")
def brands(tmp_path_factory: pytest.TempPathFactory):
    """``(truth, raw result, simulated workbench, ingested workbench)``."""
    brand = simulate_brand(12_000, seed=21)
    raw = tmp_path_factory.mktemp("raw")
    result = write_raw_exports(brand.tables, brand.truth, raw, seed=21, go_live_days=30, rates=RATES)
    out = tmp_path_factory.mktemp("ingested")
    report = ingest_wecom(raw / "callbacks.jsonl", out, snapshots=raw / "snapshots.jsonl",
                          behavior=raw / "behavior.jsonl", bills=raw / "bills.jsonl",
                          mass_sends=raw / "mass_sends.jsonl", tables=raw / "tables")
    as_of = brand.truth["as_of"]
    yield (brand.truth, result, report, workbench.open(brand.tables, as_of=as_of),
           workbench.open(out, as_of=as_of))


def test_counts_equal_the_injected_defects(brands) -> None:
    """Every count the exporter expects is the ingest's, and the losses were repaired."""
    _, result, report, _, _ = brands
    wanted = result["expected_report"]
    assert {k: report.counts.get(k) for k in wanted} == wanted
    assert result["injected"]["lost_adds"] == wanted["repaired_adds"] > 0
    assert result["injected"]["lost_closes"] == wanted["repaired_closes"] > 0


def test_cox_hazard_ratios_cover_truth(brands) -> None:
    """Hazard ratios from the ingested spells that began after go-live cover the simulator's."""
    truth, result, _, _, ingested = brands
    go_live = pd.Timestamp(result["go_live"])
    s = spell_covariates(ingested, truth["as_of"])
    s = s[s["start"] >= go_live]
    assert_cox_covers_truth(s, truth)


def test_funnel_steps_near_truth(brands) -> None:
    """Scan → add → join → claim over the scans after go-live, within 4 binomial SEs of the truth."""
    truth, result, _, _, ingested = brands
    t = truth["funnel"]
    start = pd.Timestamp(result["go_live"]) + pd.Timedelta(days=1)
    end = pd.Timestamp(truth["as_of"]) - pd.Timedelta(days=31)  # every step can complete in 30 days
    f = workbench.metrics.funnel(ingested, start, end, by="brand").iloc[0]
    for rate, prob, n in (("add_rate", "add_prob", f["scanned"]), ("join_rate", "join_prob", f["added"]),
                          ("claim_rate", "claim_prob", f["joined"])):
        assert abs(f[rate] - t[prob]) < 4 * np.sqrt(t[prob] * (1 - t[prob]) / n), (rate, f[rate], t[prob])


def test_holdout_incrementality_covers_truth(brands) -> None:
    """The randomised holdout's incremental GMV (orders from the OMS and from WeCom bills) covers the truth."""
    truth, _, _, _, ingested = brands
    inc = holdout_incrementality(ingested, truth["start"], truth["as_of"])
    value = truth["holdout"]["incremental_gmv_per_reached_customer"]
    assert inc.ci_low <= value <= inc.ci_high, (inc, value)


def test_value_buckets_after_go_live_match_the_contract_tables(brands) -> None:
    """Each bucket's GMV after go-live from the ingested data is the simulated data's within 0.5%."""
    truth, result, _, simulated, ingested = brands
    start = pd.Timestamp(result["go_live"]) + pd.Timedelta(days=1)

    def buckets(wb):
        return value_buckets(wb, start, truth["as_of"], by=("bucket",)).set_index("bucket")["gmv"]

    ours, theirs = buckets(ingested), buckets(simulated)
    assert ours.sum() == pytest.approx(theirs.sum(), rel=1e-9)  # every order is in (bills are fen-exact)
    for bucket in theirs.index:
        assert ours.get(bucket, 0.0) == pytest.approx(theirs[bucket], rel=5e-3, abs=1.0), bucket
