"""The CLV page computed once per snapshot: the memo reads back exactly what was computed.

Without a layer, in the first kernel on a current layer (computes and keeps the page) and in
the next one (reads it, with the computing functions replaced by ones that fail): the same
statements, tables, model check, alive matrix and covariate effects.
"""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tests.pages.memo_kernels import assert_same, three_kernels
from workbench.engine.memo import MEMO_DIR, memoised_result
from workbench.pages import clv as page


@pytest.fixture(scope="module")
def kernels(report_brand, tmp_path_factory):
    """No layer, the first and the second kernel on a copy of the simulated brand with its layer."""
    return three_kernels(report_brand, tmp_path_factory, "clv-memo")


def test_the_page_read_from_the_memo_is_the_page_computed(kernels, monkeypatch):
    plain, first, second, end = kernels
    want = page.clv_page(plain, end)
    assert want.covariates is not None and want.statements.buyers.value > 0
    assert_same(page.clv_page(first, end), want)                  # computes and keeps it
    assert any((first.layer.folder / MEMO_DIR).glob("clv.page-*.frame*.parquet"))

    def fail(*args, **kwargs):
        raise AssertionError("computed again")

    for name in ("customer_value", "value_figures", "holdout_check", "covariate_effects"):
        monkeypatch.setattr(page, name, fail)
    assert_same(page.clv_page(second, end), want)                 # reads it
    with pytest.raises(AssertionError, match="computed again"):   # other parameters: another memo
        page.clv_page(second, end, at_risk_threshold=0.4)


def test_a_memo_holds_only_the_package_s_types(kernels):
    """Reading a memo builds package dataclasses only; a record naming another type is computed again."""
    _, first, _, _ = kernels
    assert memoised_result(first, "t.only", (), lambda: (1.5, "a", None)) == (1.5, "a", None)
    with pytest.raises(TypeError, match="package's own types"):
        memoised_result(first, "t.foreign", (), lambda: dataclasses.make_dataclass("X", ["a"])(1))
    path = next((first.layer.folder / MEMO_DIR).glob("t.only-*.parquet"))
    pd.DataFrame({"record": ['{"__dataclass__": "os:system", "fields": {}}']}).to_parquet(path)
    assert memoised_result(first, "t.only", (), lambda: "again") == "again"
