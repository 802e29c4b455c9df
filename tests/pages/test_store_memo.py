"""Store pages from brand-wide memos: every store's to-do and leaderboard rows equal its own queries' rows.

With a current layer, :func:`~workbench.pages.store.store_todo` and
:func:`~workbench.pages.guides.guide_leaderboard` compute every store's counts, capped lists and
guide rows once and keep them beside the layer; a workbench opened without the layer runs the
store's own queries. The two must agree exactly, store by store, and a later page must read the
memos instead of querying again.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.handbuilt import staffed_brand
from tests.pages.memo_kernels import layered_copy
from workbench.derived_layer import build_layer
from workbench.engine.memo import MEMO_DIR
from workbench.pages import guides as guides_page
from workbench.pages import store as page

KEY = "k" * 32
T = pd.Timestamp


@pytest.fixture(scope="module")
def sim_layer(report_brand, tmp_path_factory):
    """A copy of the simulated brand (12 stores) with a current layer at its as-of: ``(folder, as_of, stores)``."""
    folder, as_of = layered_copy(report_brand, tmp_path_factory, "store-memo")
    return folder, as_of, sorted(report_brand[1].tables["stores"]["store_id"].astype(str))


def _assert_same_todo(got: page.StoreTodo, want: page.StoreTodo) -> None:
    for name in ("buyers_not_added", "not_in_group", "at_risk"):
        assert repr(getattr(got, name)) == repr(getattr(want, name)), name     # NaN without a model
    assert got.risk_note == want.risk_note
    for name in ("per_guide", "buyers_list", "not_in_group_list", "at_risk_list"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)


def _assert_same_board(got: guides_page.GuideLeaderboard, want: guides_page.GuideLeaderboard) -> None:
    pd.testing.assert_frame_equal(got.rows, want.rows)
    assert (got.guides.value, got.departed.value, got.risk_note) == (want.guides.value, want.departed.value,
                                                                      want.risk_note)
    assert got.guides.definition == want.guides.definition


@pytest.mark.parametrize("limit", [50, 3])
def test_every_stores_todo_from_the_memos_equals_its_own_queries(sim_layer, limit):
    """Counts, per-guide table and the three capped lists of each of the 12 stores, exactly (dtypes too)."""
    folder, as_of, stores = sim_layer
    own = workbench.open(folder, as_of=as_of, layer=None)
    assert own.layer is None
    longest, capped = 0, 0
    for s in stores:
        wb = workbench.open(folder, as_of=as_of)     # a page's kernel: reads the memos the first one kept
        assert wb.layer is not None
        got = page.store_todo(wb, s, key=KEY, limit_per_guide=limit)
        want = page.store_todo(own, s, key=KEY, limit_per_guide=limit)
        _assert_same_todo(got, want)
        assert want.per_guide["buyers_not_added"].sum() == want.buyers_not_added.value
        for lst in (got.buyers_list, got.not_in_group_list, got.at_risk_list):
            longest = max(longest, int(lst.groupby(lst["staff_id"].fillna("-")).size().max()) if len(lst) else 0)
        capped += int((got.per_guide[["buyers_not_added", "not_in_group", "at_risk"]] > limit).to_numpy().sum())
    # the lists hold at most ``limit`` rows per guide, and some guides have more (the cap is exercised)
    assert longest == limit and capped > 0
    kept = {p.name.split("-")[0] for p in (wb.layer.folder / MEMO_DIR).glob("store_todo_*.parquet")}
    assert kept == {"store_todo_buyers", "store_todo_not_in_group", "store_todo_at_risk", "store_todo_at_risk_note"}


def test_every_stores_not_in_group_from_the_memo_is_the_metric_systems_count(sim_layer):
    """The brand-wide not-in-group rule, partitioned by store, counts what current_contacts counts per store."""
    folder, as_of, stores = sim_layer
    wb = workbench.open(folder, as_of=as_of)
    cur = workbench.metrics.current_contacts(wb, as_of, by="store").set_index("store_id")["added_not_in_group"]
    got = pd.Series({s: page.store_todo(wb, s, key=KEY).not_in_group.value for s in stores})
    pd.testing.assert_series_equal(got, cur.reindex(stores).fillna(0), check_dtype=False, check_names=False)
    assert got.sum() > 0


def test_every_stores_leaderboard_rows_are_the_brand_rows_of_its_guides(sim_layer):
    """The store's rows equal its own query's and the HQ page's rows of its guides; bottom is flagged per store."""
    folder, as_of, stores = sim_layer
    start, end = as_of - pd.Timedelta(days=30), as_of
    own = workbench.open(folder, as_of=as_of, layer=None)
    hq = guides_page.guide_leaderboard(workbench.open(folder, as_of=as_of), start, end)
    _assert_same_board(hq, guides_page.guide_leaderboard(own, start, end))
    flagged = 0
    for s in stores:
        got = guides_page.guide_leaderboard(workbench.open(folder, as_of=as_of), start, end, store_id=s)
        want = guides_page.guide_leaderboard(own, start, end, store_id=s)
        _assert_same_board(got, want)
        # the same guide's row on the HQ page, but for the bottom flag (the rule is among the guides shown)
        brand = hq.rows.set_index("staff_id").loc[got.rows["staff_id"]].reset_index()
        pd.testing.assert_frame_equal(got.rows.drop(columns="bottom"), brand.drop(columns="bottom"))
        flagged += int(got.rows["bottom"].sum())
    assert flagged > 0


def test_a_second_store_page_reads_the_memos(sim_layer, monkeypatch):
    """After the first store page, another store's page on a fresh workbench runs none of the brand-wide queries."""
    folder, as_of, stores = sim_layer
    start, end = as_of - pd.Timedelta(days=30), as_of
    first = workbench.open(folder, as_of=as_of)
    page.store_todo(first, stores[0], key=KEY)
    guides_page.guide_leaderboard(first, start, end, store_id=stores[0])
    want_todo = page.store_todo(workbench.open(folder, as_of=as_of, layer=None), stores[1], key=KEY)
    want_board = guides_page.guide_leaderboard(workbench.open(folder, as_of=as_of, layer=None), start, end,
                                               store_id=stores[1])
    memo = first.layer.folder / MEMO_DIR
    for name in ("store_todo_buyers", "store_todo_not_in_group", "store_todo_at_risk", "guide_rows", "guide_risk"):
        assert list(memo.glob(f"{name}-*.parquet")), name

    def never(*args, **kwargs):
        raise AssertionError("computed again")

    for module, name in ((page, "_buyers_sql"), (page, "_not_grouped_sql"),
                         (page, "risk_by_relationship_sql"), (guides_page, "_activity_sql"),
                         (guides_page, "_risk_by_guide")):
        monkeypatch.setattr(module, name, never)
    second = workbench.open(folder, as_of=as_of)
    _assert_same_todo(page.store_todo(second, stores[1], key=KEY), want_todo)
    _assert_same_board(guides_page.guide_leaderboard(second, start, end, store_id=stores[1]), want_board)


def test_without_a_risk_model_the_note_is_kept_with_the_memo(tmp_path):
    """The tiny brand has too few spells for a Cox model: the note comes back from the memo as computed."""
    for name, df in staffed_brand().items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    build_layer(tmp_path, as_of="2025-02-01")
    own = workbench.open(tmp_path, as_of="2025-02-01", layer=None)
    for _ in range(2):                                  # computes and keeps, then reads
        for s in ("S1", "S2"):
            wb = workbench.open(tmp_path, as_of="2025-02-01")
            want = page.store_todo(own, s, as_of="2025-01-08", key=KEY)
            got = page.store_todo(wb, s, as_of="2025-01-08", key=KEY)
            assert got.risk_note and got.risk_note == want.risk_note
            _assert_same_todo(got, want)
            _assert_same_board(guides_page.guide_leaderboard(wb, "2025-01-01", "2025-01-08", store_id=s),
                               guides_page.guide_leaderboard(own, "2025-01-01", "2025-01-08", store_id=s))
    assert list((wb.layer.folder / MEMO_DIR).glob("store_todo_at_risk_note-*.parquet"))
