"""The experiment report computed once per snapshot, and its segments named after the breakdown.

* :func:`~workbench.pages.experiment.experiment_report` is the same without a layer, in the first
  kernel on a current layer (computes and keeps it) and in the next (reads it, with the computing
  function replaced by one that fails);
* :func:`~workbench.pages.experiment.segment_table` (breakdown on the segment codes, then named
  and ordered in the page's language) equals the breakdown computed on the named segments.
"""
from __future__ import annotations

import pandas as pd
import pytest

from tests.pages.memo_kernels import assert_same, three_kernels
from workbench.experiments import segment_breakdown
from workbench.i18n import t
from workbench.pages import experiment as ep

METRICS = ["gmv", "orders", "converted", "aov"]


@pytest.fixture(scope="module")
def kernels(report_brand, tmp_path_factory):
    """No layer, the first and the second kernel on a copy of the simulated brand with its layer."""
    return three_kernels(report_brand, tmp_path_factory, "experiment-memo")[:3]


@pytest.mark.parametrize("experiment_id", ["EXP_CUST", "EXP_STORE"])
def test_the_report_read_from_the_memo_is_the_report_computed(kernels, monkeypatch, experiment_id):
    """Every field of the page and every segment table, with and without the layer, computed and read."""
    plain, first, second = kernels
    want = ep.experiment_report(plain, experiment_id, METRICS)
    assert len(want.segments["channel_group"]) > 0 and want.page.n_units > 0
    assert_same(ep.experiment_report(first, experiment_id, METRICS), want)

    def fail(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(ep, "experiment_page", fail)
    assert_same(ep.experiment_report(second, experiment_id, METRICS), want)
    with pytest.raises(AssertionError, match="computed again"):      # other parameters: another memo
        ep.experiment_report(second, experiment_id, METRICS, alpha=0.1)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("experiment_id", ["EXP_CUST", "EXP_STORE"])
def test_segments_named_after_the_breakdown_equal_the_breakdown_of_the_names(kernels, lang, experiment_id):
    """As the page computed them before: the frame's segments named first, then broken down."""
    plain = kernels[0]
    page, frame = ep.experiment_page(plain, experiment_id, METRICS)
    report = ep.experiment_report(plain, experiment_id, METRICS)
    for seg in ep.SEGMENTS:
        named = frame.copy()
        if seg == "channel_group":
            named[seg] = named[seg].map(lambda g: t(f"channel_group.{g}", lang) if g != "unknown" else "–")
        else:
            named[seg] = named[seg].map(lambda g: t(f"exp.seg_{g}", lang))
        want = segment_breakdown(named, seg, "variant", {"gmv": "gmv"}, page.control, alpha=0.05, correction="holm",
                                 on_error="skip", cluster_col=None if page.unit == "customer" else "cluster_id").table
        pd.testing.assert_frame_equal(ep.segment_table(report, seg, lang), want.reset_index(drop=True))
