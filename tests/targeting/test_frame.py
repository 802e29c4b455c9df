"""Targeting features and the per-unit targeting frame on the hand-built tiny brand (values worked out by hand)."""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench.errors import ParameterError
from workbench.targeting import (
    TARGETING_CATEGORICAL,
    TARGETING_NUMERIC,
    customer_features,
    feature_matrix,
    targeting_frame,
)

H = 1 / 24  # an hour in days
AT = "2025-01-04 12:00"


def touches() -> pd.DataFrame:
    """Touches around AT.

    C1: a chat and a moment before AT, a push exactly at AT (excluded); C2: one moment within 28 days,
    one chat older; C3: a push an hour before AT.
    """
    t = pd.DataFrame([
        ("2025-01-03 12:00", "C1", "E1", "chat"),
        ("2025-01-02 10:00", "C1", "E2", "moments"),
        ("2025-01-04 12:00", "C1", "E1", "task_push"),
        ("2024-12-10 12:00", "C2", "E1", "moments"),
        ("2024-12-01 12:00", "C2", "E1", "chat"),
        ("2025-01-04 11:00", "C3", "E3", "task_push"),
    ], columns=["event_time", "customer_id", "staff_id", "touch_type"])
    t["event_time"] = pd.to_datetime(t["event_time"])
    return t


def brand(unit: str = "customer") -> dict[str, pd.DataFrame]:
    """The tiny brand with touches and experiment X (start 2025-01-02) randomised by ``unit``."""
    exps = pd.DataFrame({"experiment_id": ["X"], "unit": [unit], "start_at": [pd.Timestamp("2025-01-02 00:00")]})
    if unit == "customer":
        asg = pd.DataFrame({"experiment_id": "X", "unit_id": ["C1", "C2", "C3", "C4"],
                            "variant": ["control", "treatment", "control", "treatment"]})
    else:
        asg = pd.DataFrame({"experiment_id": "X", "unit_id": ["S1", "S2"], "variant": ["treatment", "control"]})
    return dict(tiny_brand(), touches=touches(), experiments=exps, assignments=asg)


# At AT: C1 open with E1 (re-added 01-02 15:00; first add 01-01 10:00, orders O7 10, O1 100, O2 50 at 01-02 16:00),
# C2 open with E1 and E2 (first add 01-01 11:00, order O3 200 at 01-01 11:30), C3 open with E3 until 01-05
# (first add 01-03 10:00 by the ads code, order O4 80 at 01-04 10:00); C4 never added.
FEATURES_AT = pd.DataFrame({
    "customer_id": ["C1", "C2", "C3"],
    "staff_id": ["E1", "E1", "E3"],
    "store_id": ["S1", "S1", "S2"],
    "recency_days": [1 + 20 * H, 3 + 0.5 * H, 2 * H],
    "frequency_365d": [3, 1, 1],
    "monetary_365d": [160.0, 200.0, 80.0],
    "tenure_days": [3 + 2 * H, 3 + 1 * H, 1 + 2 * H],
    "touches_28d": [2, 1, 1],
    "has_bought": [1, 1, 1],
    "channel_group": ["offline_store", "offline_store", "ads"],
})


def check_features(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The expected columns of ``got`` equal ``expected`` (values, not dtypes)."""
    pd.testing.assert_frame_equal(got.reset_index(drop=True)[list(expected.columns)], expected,
                                  check_dtype=False, atol=1e-9)


def test_features_by_hand_on_both_engines(engine):
    """The hand-worked features at AT, on DuckDB and Spark, also for a restricted set of customers."""
    wb = engine(brand(), as_of="2025-02-01")
    check_features(customer_features(wb, AT), FEATURES_AT)
    only = customer_features(wb, AT, customers_sql="SELECT 'C3' AS customer_id")
    check_features(only, FEATURES_AT.iloc[[2]].reset_index(drop=True))


def test_features_default_to_as_of_and_are_never_missing():
    """Without ``at`` the features are at as-of; the numeric features make a complete matrix."""
    wb = workbench.open(brand(), as_of=AT)
    f = customer_features(wb)
    check_features(f, FEATURES_AT)
    assert list(f.columns) == ["customer_id", "staff_id", "store_id", *TARGETING_NUMERIC, "channel_group"]
    x = feature_matrix(f, TARGETING_NUMERIC, TARGETING_CATEGORICAL)
    assert x.notna().all().all() and "channel_group=ads" in x.columns


def test_targeting_frame_of_a_customer_experiment():
    """Units, arms, outcomes and features at the start (01-02 00:00).

    C1 (open with E1, no order yet) and C2 (open, O3 bought) have contacts; C3 is added only on 01-03 and C4
    never, so both get tenure 0, recency 0, channel 'unknown', no guide.
    """
    tf = targeting_frame(workbench.open(brand(), as_of="2025-02-01"), "X")
    expected = pd.DataFrame({
        "unit_id": ["C1", "C2", "C3", "C4"],
        "variant": ["control", "treatment", "control", "treatment"],
        "treated": [0, 1, 0, 1],
        "propensity": [0.5] * 4,
        "orders": [3, 0, 2, 1],
        "gmv": [160.0, 0.0, 130.0, 30.0],        # C3: 80 + 70 - 20 refunded
        "staff_id": ["E1", "E1", None, None],
        "store_id": ["S1", "S1", None, None],
        "recency_days": [14 * H, 12.5 * H, 0.0, 0.0],
        "frequency_365d": [0, 1, 0, 0],
        "monetary_365d": [0.0, 200.0, 0.0, 0.0],
        "tenure_days": [14 * H, 13 * H, 0.0, 0.0],
        "has_bought": [0, 1, 0, 0],
        "channel_group": ["offline_store", "offline_store", "unknown", "unknown"],
    })
    check_features(tf, expected)
    assert tf["cluster_id"].isna().all()
    assert tf["touches_28d"].tolist() == [0, 1, 0, 0]   # C1's touches come after the start; C2's 12-10 moment counts


def test_targeting_frame_of_a_store_experiment_keeps_clusters():
    """Store randomisation: units are the customers open at the start, clustered by store."""
    tf = targeting_frame(workbench.open(brand("store"), as_of="2025-02-01"), "X")
    assert tf["unit_id"].tolist() == ["C1", "C2"] and tf["cluster_id"].tolist() == ["S1", "S1"]
    assert tf["treated"].tolist() == [1, 1] and tf["propensity"].tolist() == [0.5, 0.5]


def test_arms_are_checked():
    """An unknown control or a treatment equal to the control is refused."""
    wb = workbench.open(brand(), as_of="2025-02-01")
    with pytest.raises(ParameterError, match="control variant"):
        targeting_frame(wb, "X", control="baseline")
    with pytest.raises(ParameterError, match="treatment variant"):
        targeting_frame(wb, "X", treatment="control")


def test_features_of_some_units_are_their_rows_of_the_features_of_all(report_brand):
    """The page takes the features of the units it uses only: the same rows as the whole frame's."""
    from workbench.experiments.frame import experiment_info
    from workbench.targeting.frame import experiment_units, unit_features

    folder, truth = report_brand
    wb = workbench.open(folder / "data", as_of=truth.truth["as_of"][:10], layer=None)
    whole = targeting_frame(wb, "EXP_CUST")
    units = experiment_units(wb, "EXP_CUST")
    pd.testing.assert_frame_equal(units, whole[list(units.columns)])
    some = units.index % 3 == 1
    got = unit_features(wb, units[some], experiment_info(wb, "EXP_CUST").start_at)
    assert 0 < len(got) < len(whole) and got["staff_id"].notna().any()
    pd.testing.assert_frame_equal(got, whole[some].reset_index(drop=True))
