"""The value-model and ops pages' cheaper queries and per-snapshot memos state exactly what the full queries do.

* :func:`~workbench.attribution.buckets.order_rules_sql` gives every order the rule and bucket of
  :func:`~workbench.attribution.buckets.order_buckets_sql` (hand-built rules, other precedences,
  windows and missing tables, and a simulated brand's year);
* the value page's sections and the ops page's GMV chart are the same without a layer, in the
  first kernel on a current layer (which computes and keeps the memos) and in the next one (which
  reads them);
* :func:`~workbench.pages.ops.monthly_gmv` sums what :func:`workbench.metrics.conversion` sums.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.handbuilt import value_bucket_brand
from tests.pages.memo_kernels import three_kernels
from workbench import metrics
from workbench.attribution.buckets import order_buckets_sql, order_rules_sql, value_buckets
from workbench.engine.memo import MEMO_DIR
from workbench.pages import ops
from workbench.pages import value as vp

T = pd.Timestamp
OTHER = ("live", "interaction", "proxy", "coupon", "transfer", "link")


def _rules(wb: workbench.Workbench, sql: str) -> pd.DataFrame:
    return wb.query(f"SELECT order_id, rule, bucket FROM ({sql}) b ORDER BY order_id")


@pytest.mark.parametrize("kw", [{}, {"interaction_window_days": 9}, {"interaction_window_days": 0},
                                {"precedence": OTHER, "live_window_days": 0}, {"interaction_types": ("chat",)}])
@pytest.mark.parametrize("drop", [None, "touches", "coupons", "staff"])
def test_rules_equal_the_full_classification_on_the_handbuilt_orders(tiny, kw, drop):
    """Every rule, other windows and precedences, and a missing optional table."""
    wb = value_bucket_brand(tiny)
    if drop is not None:
        wb = workbench.open({n: wb.frame(n) for n in wb.tables if n != drop}, as_of="2025-02-01")
    want = _rules(wb, order_buckets_sql(wb, "2025-01-15", "2025-02-01", **kw))
    got = _rules(wb, order_rules_sql(wb, "2025-01-15", "2025-02-01", **kw))
    assert len(want) == 10
    pd.testing.assert_frame_equal(got, want)


def test_rules_equal_the_full_classification_on_a_simulated_year(report_brand):
    """A year, a month and ten days of a simulated brand: every order's rule and bucket."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    for s, e in (("2025-01-01", "2026-01-01"), ("2025-12-01", "2026-01-01"), ("2025-06-10", "2025-06-20")):
        want = _rules(wb, order_buckets_sql(wb, s, e))
        assert len(want) > 0 and (want["rule"] == "interaction").any()
        pd.testing.assert_frame_equal(_rules(wb, order_rules_sql(wb, s, e)), want)


def test_a_first_cut_without_credit_equals_the_kept_window(report_brand):
    """The first bucket cut of a window reads the rules; the second the kept window: the same frame."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    for by in (("bucket",), ("bucket", "rule"), ("month", "order_channel", "bucket")):
        first = value_buckets(wb, "2025-01-01", "2026-01-01", by=by)
        pd.testing.assert_frame_equal(first, value_buckets(wb, "2025-01-01", "2026-01-01", by=by))


def test_monthly_gmv_sums_what_conversion_sums(report_brand):
    """The brand's and a store's twelve months, as the conversion metric's frame summed by month."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10], layer=None)
    end = T(brand.truth["as_of"][:10])
    for store in ("", "S001"):
        got = ops.monthly_gmv(wb, end, months=12, store_id=store)
        conv = metrics.conversion(wb, got.start, end, grain="month", by="store" if store else "brand")
        if store:
            conv = conv[conv["store_id"] == store]
        want = conv.groupby("period", as_index=False)[["gmv", "user_gmv", "task_gmv"]].sum()
        assert len(want) == 12 and want["user_gmv"].sum() > 0
        pd.testing.assert_frame_equal(got.months, want)


@pytest.fixture(scope="module")
def kernels(report_brand, tmp_path_factory):
    """Three workbenches on one copy of the simulated brand: no layer, the first and the second on its layer."""
    return three_kernels(report_brand, tmp_path_factory, "value-memo")


def _sections(wb: workbench.Workbench, end: pd.Timestamp) -> dict:
    m_start, m_end = vp.report_month(end)
    return {"ladder": vp.value_ladder(wb, m_start, m_end),
            "month": vp.holdout_increment(wb, m_start, m_end, "month"),
            "year": vp.holdout_increment(wb, end - pd.DateOffset(months=12), end, "last_12_months"),
            "tasks": vp.task_table(wb, m_start, m_end),
            "mta": vp.mta_comparison(wb, m_start, m_end, lookback_days=30),
            "gmv": ops.monthly_gmv(wb, end, months=12),
            "gmv_store": ops.monthly_gmv(wb, end, months=12, store_id="S001")}


def _assert_same(got: dict, want: dict) -> None:
    assert got["ladder"] == want["ladder"]
    for key in ("month", "year"):
        assert repr(got[key]) == repr(want[key])    # NaN-safe, every field
    pd.testing.assert_frame_equal(got["tasks"].rows, want["tasks"].rows)
    for name in ("unattributed", "widest_channel", "low", "high", "low_method", "high_method"):
        assert getattr(got["mta"], name) == getattr(want["mta"], name), name
    pd.testing.assert_frame_equal(got["mta"].shares, want["mta"].shares)
    for key in ("gmv", "gmv_store"):
        pd.testing.assert_frame_equal(got[key].months, want[key].months)


def test_the_pages_read_from_memos_state_what_they_compute(kernels):
    """Without a layer, computing the memos and reading them: the same sections."""
    plain, first, second, end = kernels
    want = _sections(plain, end)
    assert want["year"].attributed.value > want["month"].attributed.value > 0
    assert len(want["tasks"].rows) and want["mta"].widest_channel is not None
    _assert_same(_sections(first, end), want)          # computes and keeps the memos
    memo = first.layer.folder / MEMO_DIR
    kept = {p.name.split("-")[0] for p in memo.glob("*.parquet")}
    assert {"value.ladder_crosstab", "value.incrementality", "value.attributed", "value.task_performance",
            "value.journey_paths", "value.journey_unattributed", "metrics.conversion"} <= kept
    _assert_same(_sections(second, end), want)         # reads them
