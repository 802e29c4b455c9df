"""Several ``by`` lists collapsed together are the frames ``spell_counts`` gives one list at a time.

:func:`~workbench.churn.spells.spell_counts_sets` groups the spells once per widest list and sums
its rows for the narrower lists; each frame must equal :func:`~workbench.churn.spells.spell_counts`
exactly (values, dtypes, order), and the risk model fitted on such rows must score what it scores
on its own collapse.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench.churn.risk import at_risk_by, model_covariates
from workbench.churn.spells import spell_counts, spell_counts_sets

CATS = ["channel_group", "group_member", "bought_by_landmark", "uses_retention_tool"]


@pytest.fixture(scope="module")
def wb_at(report_brand):
    """The small simulated brand without a layer, and its as-of."""
    folder, brand = report_brand
    at = pd.Timestamp(brand.truth["as_of"][:10])
    return workbench.open(folder / "data", as_of=at, layer=None), at


@pytest.mark.parametrize("sets", [
    [["channel_group"], ["cohort"], [*CATS, "early_chats"], CATS],                 # the churn page's lists
    [["group_member", "channel_group"], ["channel_group", "group_member"], []],   # one set in two orders, and none
    [["store_id"], ["store_id"], ["cohort", "channel_group"], ["channel_group"]],  # a list twice
])
def test_each_frame_is_the_one_list_frame(wb_at, sets):
    """Values, dtypes and order of every list's frame, whether it grouped the spells or summed a wider list."""
    wb, at = wb_at
    got = spell_counts_sets(wb, at, sets)
    assert len(got) == len(sets)
    for by, frame in zip(sets, got, strict=True):
        want = spell_counts(wb, at, by=by)
        assert want["weight"].sum() > 0 and (want["open_weight"] > 0).any()
        pd.testing.assert_frame_equal(frame, want, obj=",".join(by))


def test_a_frame_is_the_callers_own(wb_at):
    """The same list twice gives two frames: a column added to one is not in the other."""
    wb, at = wb_at
    a, b = spell_counts_sets(wb, at, [["channel_group"], ["channel_group"]])
    a["label"] = "x"
    assert "label" not in b


def test_at_risk_from_the_callers_rows_equals_its_own_collapse(wb_at):
    """The risk model's rows summed from the Cox model's rows: the same per-store and per-channel numbers."""
    wb, at = wb_at
    covariates = model_covariates(wb, at, 14.0)
    assert covariates == CATS
    rows = spell_counts_sets(wb, at, [[*covariates, "early_chats"], covariates])[1]
    for by in ("store_id", "channel_group"):
        pd.testing.assert_frame_equal(at_risk_by(wb, at, by, rows=rows), at_risk_by(wb, at, by))
