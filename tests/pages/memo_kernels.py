"""Workbenches on a copy of the simulated report brand with a current layer, for the memo tests.

A memo is read only beside a current layer of the workbench's own sources, so each memo test
copies the shared brand (which stays as it is), builds its layer, and opens kernels on it.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd

import workbench
from workbench.derived_layer import build_layer


def layered_copy(report_brand, tmp_path_factory, label: str) -> tuple[Path, pd.Timestamp]:
    """A copy of the report brand with a current layer at its as-of: ``(folder, as_of)``."""
    src, brand = report_brand
    folder = tmp_path_factory.mktemp(label) / "data"
    shutil.copytree(src / "data", folder)
    as_of = pd.Timestamp(brand.truth["as_of"][:10])
    build_layer(folder, as_of=as_of)
    return folder, as_of


def three_kernels(report_brand, tmp_path_factory, label: str):
    """No layer, the first and the second kernel on the copy's layer: ``(plain, first, second, as_of)``."""
    folder, as_of = layered_copy(report_brand, tmp_path_factory, label)
    plain = workbench.open(folder, as_of=as_of, layer=None)
    first, second = (workbench.open(folder, as_of=as_of) for _ in range(2))
    assert plain.layer is None and first.layer is not None
    return plain, first, second, as_of


def assert_same(got, want, path: str = "result") -> None:
    """Field by field: frames with assert_frame_equal, dataclasses and tuples in turn, the rest by repr (NaN-safe)."""
    if isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got, want, obj=path)
    elif dataclasses.is_dataclass(want):
        assert type(got) is type(want), path
        for f in dataclasses.fields(want):
            assert_same(getattr(got, f.name), getattr(want, f.name), f"{path}.{f.name}")
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), path
        for k in want:
            assert_same(got[k], want[k], f"{path}[{k!r}]")
    else:
        assert repr(got) == repr(want), path
