"""The CLV page computed once per snapshot: the memo reads back exactly what was computed.

Without a layer, in the first kernel on a current layer (computes and keeps the page) and in
the next one (reads it, with the computing functions replaced by ones that fail): the same
statements, tables, model check, alive matrix and covariate effects.
"""
from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

import workbench
from workbench.derived_layer import build_layer
from workbench.engine.memo import MEMO_DIR, memoised_result
from workbench.pages import clv as page


@pytest.fixture(scope="module")
def kernels(report_brand, tmp_path_factory):
    """Three workbenches on one copy of the simulated brand: no layer, the first and the second on its layer."""
    src, brand = report_brand
    folder = tmp_path_factory.mktemp("clv-memo") / "data"
    shutil.copytree(src / "data", folder)
    as_of = brand.truth["as_of"][:10]
    build_layer(folder, as_of=as_of)
    plain = workbench.open(folder, as_of=as_of, layer=None)
    first, second = (workbench.open(folder, as_of=as_of) for _ in range(2))
    assert plain.layer is None and first.layer is not None
    return plain, first, second, pd.Timestamp(as_of)


def assert_same(got, want, path="page"):
    """Field by field: frames with assert_frame_equal, everything else by repr (NaN-safe)."""
    if isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got, want, obj=path)
    elif dataclasses.is_dataclass(want):
        assert type(got) is type(want), path
        for f in dataclasses.fields(want):
            assert_same(getattr(got, f.name), getattr(want, f.name), f"{path}.{f.name}")
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]")
    else:
        assert repr(got) == repr(want), path


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
