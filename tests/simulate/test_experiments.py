"""EXP_CUST's heterogeneous lift in the simulator.

Segments reproducible from the contract tables, extra orders at the design's probability in every segment and arm,
the treated units' mean probability the design's, the same draws as without heterogeneity (only which treated units
get the extra orders changes), and chunks merged into one truth.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.truth import exp_cust_segments, exp_cust_true_lift
from workbench.errors import ParameterError
from workbench.simulate import SimulationParams, simulate_brand
from workbench.simulate.experiments import EXP_CUST_SEGMENTS
from workbench.targeting import targeting_frame

OFF = SimulationParams(exp_cust_heterogeneity=0.0)
#: columns of an EXP_CUST treatment extra order that follow the unit it goes to
FOLLOW_UNIT = ["customer_id", "amount", "store_id", "share_staff_id", "refunded_amount"]


@pytest.fixture(scope="module")
def brand():
    """30,000 customers (about 10,500 EXP_CUST units) with the default, heterogeneous lift."""
    return simulate_brand(30_000, seed=21)


@pytest.fixture(scope="module")
def frame(brand):
    """The targeting frame of EXP_CUST with each unit's segment and number of extra (task-link) orders."""
    wb = workbench.open(brand.tables, as_of=brand.truth["as_of"])
    tf = targeting_frame(wb, "EXP_CUST", window_days=brand.truth["experiments"]["EXP_CUST"]["window_days"])
    o = brand.tables["orders"]
    extra = o[o["task_id"].isin(["TX_CUST_C", "TX_CUST_T"])].groupby("customer_id").size()
    return tf.assign(segment=exp_cust_segments(tf, brand.truth),
                     extra=tf["unit_id"].map(extra).fillna(0).astype(int).to_numpy())


def test_segments_reproduce_from_the_contract_tables(brand, frame):
    """The rule on contract columns (features at the start) finds every segment's units and treated units."""
    seg = brand.truth["experiments"]["EXP_CUST"]["segments"]
    assert list(seg) == [name for name, _, _ in EXP_CUST_SEGMENTS]
    assert frame.groupby("segment").size().to_dict() == {k: v["n_units"] for k, v in seg.items()}
    assert frame.groupby("segment")["treated"].sum().to_dict() == {k: v["n_treated"] for k, v in seg.items()}


def test_lift_by_segment_is_as_designed(brand):
    """Lifts by segment as designed.

    Zero for non-buyers and other channels, in the ratio of the base multipliers (0.5 : 6) otherwise, the treated
    units' mean probability exactly 0.04, true_abs_lift the units' mean lift.
    """
    e = brand.truth["experiments"]["EXP_CUST"]
    seg = e["segments"]
    lift = {k: v["true_abs_lift"]["orders_per_unit"] for k, v in seg.items()}
    assert lift["no_purchase"] == lift["buyer_other_channel"] == 0.0
    assert lift["buyer_store_new"] / lift["buyer_store_established"] == pytest.approx(12.0)
    assert lift["buyer_store_new"] > 0.05   # more than five times the mean lift of 0.01
    n_t = sum(v["n_treated"] for v in seg.values())
    assert sum(v["n_treated"] * v["extra_order_prob"]["treatment"] for v in seg.values()) / n_t == pytest.approx(0.04)
    assert e["true_abs_lift"]["orders_per_unit"] == pytest.approx(
        sum(v["n_units"] * lift[k] for k, v in seg.items()) / e["n_units"])
    # the mean over all units differs from the treated units' 0.01 by the randomisation only
    assert abs(e["true_abs_lift"]["orders_per_unit"] - 0.01) < 0.001
    assert e["heterogeneity"] == 1.0 and e["new_relationship_days"] == 60


def test_extra_orders_follow_the_segment_probabilities(brand, frame):
    """Per segment and arm, the share of units with an extra order is the design probability (4 binomial sds)."""
    seg = brand.truth["experiments"]["EXP_CUST"]["segments"]
    assert frame["extra"].max() == 1
    for (name, treated), g in frame.groupby(["segment", "treated"]):
        p = seg[name]["extra_order_prob"]["treatment" if treated else "control"]
        assert abs(g["extra"].mean() - p) < 4 * np.sqrt(p * (1 - p) / len(g)), (name, treated)


def test_true_lift_helper_gives_each_unit_its_segment_lift(brand, frame):
    """tests.truth.exp_cust_true_lift: the treat-everybody value is the truth's true_abs_lift."""
    e = brand.truth["experiments"]["EXP_CUST"]
    gmv = exp_cust_true_lift(frame, brand.truth)
    assert gmv.mean() == pytest.approx(e["true_abs_lift"]["gmv_per_unit"])
    assert exp_cust_true_lift(frame, brand.truth, "orders_per_unit").mean() == pytest.approx(
        e["true_abs_lift"]["orders_per_unit"])
    assert (gmv[frame["segment"] == "no_purchase"] == 0).all()


def test_heterogeneity_moves_only_the_treated_extra_orders():
    """Same seed with and without heterogeneity: only the treatment arm's extra orders change unit.

    Every table but orders is identical, and in orders only those rows differ, in their customer and what follows
    it; without heterogeneity every segment has the same lift.
    """
    on, off = simulate_brand(3_000, seed=4), simulate_brand(3_000, seed=4, params=OFF)
    for name, table in on.tables.items():
        if name != "orders":
            pd.testing.assert_frame_equal(table, off.tables[name], obj=name)
    a, b = on.tables["orders"], off.tables["orders"]
    moved = (a["task_id"] == "TX_CUST_T").to_numpy()
    assert moved.sum() > 0 and (b["task_id"] == "TX_CUST_T").sum() == moved.sum()
    pd.testing.assert_frame_equal(a[~moved], b[~moved])
    rest = [c for c in a.columns if c not in FOLLOW_UNIT]
    pd.testing.assert_frame_equal(a.loc[moved, rest], b.loc[moved, rest])
    assert (a.loc[moved, "customer_id"] != b.loc[moved, "customer_id"]).any()
    flat = off.truth["experiments"]["EXP_CUST"]
    assert flat["heterogeneity"] == 0.0
    for s in flat["segments"].values():
        assert s["true_abs_lift"]["orders_per_unit"] == pytest.approx(0.01)
    assert flat["true_abs_lift"]["orders_per_unit"] == pytest.approx(0.01)


def test_chunks_merge_into_one_truth(tmp_path):
    """Three chunks merge into one truth.

    Segment counts add up and reproduce from the written tables; the treated units' mean probability is still
    exactly the design's.
    """
    simulate_brand(3_000, seed=8, out=tmp_path, chunk_customers=1_000)
    wb = workbench.open(tmp_path)
    truth = pd.read_json(tmp_path / "truth.json", typ="series").to_dict()
    e = truth["experiments"]["EXP_CUST"]
    assert truth["chunks"]["n_chunks"] == 3
    tf = targeting_frame(wb, "EXP_CUST", window_days=e["window_days"])
    seg = e["segments"]
    counts = pd.Series(exp_cust_segments(tf, truth)).value_counts().to_dict()
    assert counts == {k: v["n_units"] for k, v in seg.items() if v["n_units"]}
    assert sum(v["n_units"] for v in seg.values()) == e["n_units"] == len(tf)
    n_t = int(tf["treated"].sum())
    assert sum(v["n_treated"] for v in seg.values()) == n_t
    assert sum(v["n_treated"] * v["extra_order_prob"]["treatment"] for v in seg.values()) == pytest.approx(0.04 * n_t)
    assert e["true_abs_lift"]["orders_per_unit"] == pytest.approx(
        sum(v["n_units"] * v["true_abs_lift"]["orders_per_unit"] for v in seg.values()) / e["n_units"])


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_heterogeneity_is_checked(value):
    """Only [0, 1] is accepted."""
    with pytest.raises(ParameterError, match="exp_cust_heterogeneity|finite"):
        simulate_brand(200, params=SimulationParams(exp_cust_heterogeneity=value))
