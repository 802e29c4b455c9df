"""Analyses recover the simulator's ground truth (truth.json) within their stated uncertainty."""
from __future__ import annotations

import pytest
from scipy import stats

import workbench
from workbench.attribution.buckets import holdout_incrementality
from workbench.experiments.frame import experiment_frame
from workbench.simulate import simulate_brand

# Truth recovery needs brands larger than the shared report_brand (40,000 customers): slow.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def brand():
    b = simulate_brand(40_000, seed=8)
    return b, workbench.open(b.tables, as_of=b.truth["as_of"])


def test_holdout_incrementality_covers_truth(brand):
    b, wb = brand
    inc = holdout_incrementality(wb, b.truth["start"], b.truth["as_of"])
    truth = b.truth["holdout"]["incremental_gmv_per_reached_customer"]
    assert inc.ci_low <= truth <= inc.ci_high, (inc, truth)
    assert inc.reached_n + inc.holdout_n == 40_000


def test_customer_experiment_lift_covers_truth(brand):
    b, wb = brand
    t = b.truth["experiments"]["EXP_CUST"]
    f = experiment_frame(wb, "EXP_CUST", window_days=t["window_days"])
    assert len(f) == t["n_units"]
    a, c = f.loc[f.variant == "treatment", "orders"], f.loc[f.variant == "control", "orders"]
    res = stats.ttest_ind(a, c, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert ci.low <= t["true_abs_lift"]["orders_per_unit"] <= ci.high


def test_store_experiment_units_match_truth(brand):
    b, wb = brand
    t = b.truth["experiments"]["EXP_STORE"]
    f = experiment_frame(wb, "EXP_STORE", window_days=t["window_days"])
    assert len(f) == t["n_units"] and f["cluster_id"].nunique() == t["n_clusters"]
    # each store's customers share its variant
    assert (f.groupby("cluster_id")["variant"].nunique() == 1).all()
