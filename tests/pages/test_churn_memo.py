"""The churn page's numbers kept beside the layer: the same without a layer, computed and kept, and read.

With a current layer, :mod:`workbench.pages.churn` keeps its collapsed spells, the deletion Cox
model's hazard-ratio table and PH check, the per-store retention-tool rows and the per-store
at-risk rows beside it (:func:`~workbench.engine.memo.memoised`): the first kernel (the page's
first language) computes them, the next one reads them. Both must state what a workbench
without the layer computes, and the second must compute nothing (its computing functions are
replaced by failing stand-ins). The tool rows skip the window's touches when the stores carry
the tool flag: they equal the metric's rows, with and without the flag.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.pages.memo_kernels import layered_copy
from workbench import metrics
from workbench.churn import risk, spells
from workbench.engine.memo import MEMO_DIR
from workbench.pages import churn as page

T = pd.Timestamp
KEPT = {"churn.spell_counts", "churn.cox_hazard_ratios", "churn.cox_ph_test", "churn.tool_rows",
        "churn.at_risk_by_store"}


@pytest.fixture(scope="module")
def kernels(report_brand, tmp_path_factory):
    """A copy of the simulated brand with a current layer: ``(folder, as_of)``."""
    return layered_copy(report_brand, tmp_path_factory, "churn-memo")


def _numbers(wb: workbench.Workbench, end: pd.Timestamp) -> dict:
    """What the notebook computes from the data (the page functions it calls)."""
    cox, ratios = page.fit_deletion_cox(wb, end, 14)
    start = end - pd.Timedelta(days=90)
    per_store = page.retention_tool_rows(wb, start, end)
    counts = page.at_risk_rows(wb, end, horizon_days=30, risk_threshold=0.1, landmark_days=14)
    return {"channel": page.spell_rows(wb, end, ["channel_group"], 14),
            "cohort": page.spell_rows(wb, end, ["cohort"], 14),
            "cox": cox, "ratios": ratios, "tool_rows": per_store, "tools": page.tool_loss_rates(per_store, start, end),
            "at_risk": counts, "totals": page.at_risk_totals(counts, end, 30)}


def _assert_same(got: dict, want: dict) -> None:
    for name in ("channel", "cohort", "tool_rows", "at_risk"):
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    pd.testing.assert_frame_equal(got["cox"].hazard_ratios, want["cox"].hazard_ratios)
    pd.testing.assert_frame_equal(got["cox"].ph_test, want["cox"].ph_test)
    for name in ("ratios", "tools", "totals"):
        assert repr(got[name]) == repr(want[name]), name       # every Stated value, NaN-safe


def test_the_second_kernel_reads_what_the_first_computed(kernels, monkeypatch):
    """No layer, the first kernel on the layer, the second with every computing function failing: equal."""
    folder, end = kernels
    plain = workbench.open(folder, as_of=end, layer=None)
    assert plain.layer is None
    want = _numbers(plain, end)
    assert want["at_risk"]["open_relationships"].sum() == want["channel"]["open_weight"].sum() > 0
    assert {"early_chats", "uses_retention_tool=1"} <= set(want["ratios"]) and len(want["cox"].ph_test)
    first = workbench.open(folder, as_of=end)
    assert first.layer is not None
    _assert_same(_numbers(first, end), want)              # computes and keeps
    kept = {p.name.split("-")[0] for p in (first.layer.folder / MEMO_DIR).glob("churn.*.parquet")}
    assert kept == KEPT

    def never(*args, **kwargs):
        raise AssertionError("computed again")

    for module, name in ((spells, "spell_counts"), (spells, "spell_counts_sets"), (page, "_deletion_cox"),
                         (page, "_tool_rows"),
                         (risk, "at_risk_by"), (metrics, "store_churn")):
        monkeypatch.setattr(module, name, never)
    _assert_same(_numbers(workbench.open(folder, as_of=end), end), want)   # reads


@pytest.mark.parametrize("flag", [True, False])
def test_the_tool_rows_are_the_metrics_rows(report_brand, flag):
    """With the stores' tool flag (no touches read) and without it (usage = touched share): the metric's rows."""
    folder, brand = report_brand
    end = T(brand.truth["as_of"][:10])
    wb = workbench.open(folder / "data", as_of=end, layer=None)
    if not flag:
        wb.register("stores", wb.frame("stores").drop(columns="uses_retention_tool"))
    for start in (end - pd.Timedelta(days=90), end - pd.Timedelta(days=400), T("2025-06-10")):
        stop = min(end, start + pd.Timedelta(days=90))
        got = page.retention_tool_rows(wb, start, stop)
        want = metrics.retention_tools_vs_churn(wb, start, stop)[0]
        assert len(got) == 12 and got["customer_deletes"].sum() > 0
        assert got["usage"].isin([0.0, 1.0]).all() == flag
        pd.testing.assert_frame_equal(got, want[list(got.columns)])
        assert repr(page.tool_loss_rates(got, start, stop)) == repr(page.tool_loss_rates(want, start, stop))
