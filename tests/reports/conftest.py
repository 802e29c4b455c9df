"""Fixtures of the report pipeline tests."""
from __future__ import annotations

import pytest


@pytest.fixture()
def folder(tmp_path, tiny):
    """A working folder: ``notebooks/`` (empty) and ``data/`` holding the tiny brand as Parquet."""
    (tmp_path / "notebooks").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    for name, frame in tiny.items():
        frame.to_parquet(data / f"{name}.parquet")
    return tmp_path
