"""Memos beside the layer: computed once per snapshot, never read without a current layer or after a change."""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.handbuilt import staffed_brand
from workbench.derived_layer import build_layer
from workbench.engine.memo import MEMO_DIR, memo_path, memoised
from workbench.pages import store as store_page

AS_OF = "2025-02-01"


@pytest.fixture()
def folder(tmp_path):
    """The staffed tiny brand as Parquet files with a current layer as of 2025-02-01."""
    for name, df in staffed_brand().items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    build_layer(tmp_path, as_of=AS_OF)
    return tmp_path


def _never() -> pd.DataFrame:
    raise AssertionError("computed again")


def test_a_memo_is_computed_once_and_read_by_the_next_workbench(folder):
    """A second workbench on the same snapshot reads the first one's result without computing."""
    first = workbench.open(folder, as_of=AS_OF)
    want = pd.DataFrame({"store_id": ["S1", "S2"], "v": [1.5, float("nan")]})
    assert memoised(first, "m", (pd.Timestamp("2025-01-01"), 7), lambda: want).equals(want)
    second = workbench.open(folder, as_of=AS_OF)
    pd.testing.assert_frame_equal(memoised(second, "m", (pd.Timestamp("2025-01-01"), 7), _never), want)
    # other parameters are another memo
    assert memoised(second, "m", (pd.Timestamp("2025-01-02"), 7), lambda: want.head(1)).shape == (1, 2)
    assert memo_path(second, "m", ()).parent == second.layer.folder / MEMO_DIR
    # a workbench of some tables only (no contacts: no user view) would compute other numbers: no memo
    assert memo_path(workbench.open(folder, as_of=AS_OF, tables=["orders", "stores"]), "m", ()) is None


def test_no_memo_without_a_current_layer_or_after_a_table_is_attached_again(folder):
    """Another as-of date (no current layer) or a table attached again computes, and keeps nothing."""
    wb = workbench.open(folder, as_of=AS_OF)
    memoised(wb, "m", (), lambda: pd.DataFrame({"n": [1]}))
    other_day = workbench.open(folder, as_of="2025-02-02")
    assert other_day.layer is None and memo_path(other_day, "m", ()) is None
    assert memoised(other_day, "m", (), lambda: pd.DataFrame({"n": [2]}))["n"].tolist() == [2]
    wb.register("orders", staffed_brand()["orders"].iloc[:-1])
    assert memo_path(wb, "m", ()) is None
    assert memoised(wb, "m", (), lambda: pd.DataFrame({"n": [3]}))["n"].tolist() == [3]


def test_a_damaged_memo_is_computed_again(folder):
    """A memo file that cannot be read is replaced by the computed result."""
    wb = workbench.open(folder, as_of=AS_OF)
    path = memo_path(wb, "m", ())
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"not parquet")
    assert memoised(wb, "m", (), lambda: pd.DataFrame({"n": [4]}))["n"].tolist() == [4]
    assert pd.read_parquet(path)["n"].tolist() == [4]


def test_store_kpis_from_the_memo_equal_the_computed_ones(folder):
    """The store page's brand-wide KPI table, read back from the memo, gives the same KPIs for every store."""
    computed = {s: store_page.store_kpis(workbench.open(folder, as_of=AS_OF, layer=None), s, "2025-01-01",
                                         "2025-01-08") for s in ("S1", "S2")}
    wb = workbench.open(folder, as_of=AS_OF)
    store_page.store_kpis(wb, "S1", "2025-01-01", "2025-01-08")             # computes and keeps
    assert len(list((wb.layer.folder / MEMO_DIR).glob("store_kpi_values-*.parquet"))) == 2   # period and previous
    for s, want in computed.items():
        got = store_page.store_kpis(workbench.open(folder, as_of=AS_OF), s, "2025-01-01", "2025-01-08")
        assert repr(got.kpis) == repr(want.kpis)        # NaN medians compare as text
        pd.testing.assert_frame_equal(got.stores, want.stores, check_dtype=False)
