"""The validation cache is keyed on file content: an edit that keeps size and modification time is checked again.

DuckDB only: the cache (file digests and marker files) is Python around the engine and the same for every engine;
the checks it skips or repeats run on both engines in test_engine.py.
"""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench.engine import validation as engine
from workbench.engine.reading import table_sources

AS_OF = "2025-02-01"


@pytest.fixture
def brand(tmp_path, monkeypatch):
    """The tiny brand as files, with a private cache."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_VALIDATION_CACHE", raising=False)
    engine._digests.clear()
    data = tmp_path / "brand"
    data.mkdir()
    for name, frame in tiny_brand().items():
        write_parquet(frame, data / f"{name}.parquet")
    return data


def write_parquet(frame: pd.DataFrame, path) -> None:
    """Plain, uncompressed, no dictionaries: a changed value keeps the file's size."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="none",
                   use_dictionary=False)


def edit_keeping_size_and_mtime(path, edit) -> None:
    """What ``rsync -t``, ``cp -p`` or ``tar x`` of an edited copy leave behind: other bytes,
    the same size and the old modification time."""
    before = path.stat()
    edit(path)
    assert path.stat().st_size == before.st_size  # the precondition of the attack
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def count_validations(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = engine._validate_table
    monkeypatch.setattr(engine, "_validate_table", lambda wb, spec: calls.append(spec.name) or real(wb, spec))
    return calls


class TestContentKey:
    def test_parquet_edit_with_size_and_mtime_kept_is_validated_again(self, brand, monkeypatch):
        workbench.open(brand, as_of=AS_OF).validate("orders")  # a pass, remembered
        calls = count_validations(monkeypatch)
        workbench.open(brand, as_of=AS_OF).validate("orders")
        assert calls == []

        def negative_amount(path):
            orders = pd.read_parquet(path)
            orders.loc[orders["order_id"] == "O3", "amount"] = -200.0
            write_parquet(orders, path)

        edit_keeping_size_and_mtime(brand / "orders.parquet", negative_amount)
        with pytest.raises(workbench.DataContractError, match="below 0"):
            workbench.open(brand, as_of=AS_OF).validate("orders")
        assert calls[0] == "orders"

    def test_csv_edit_with_size_and_mtime_kept_is_validated_again(self, brand, monkeypatch):
        (brand / "orders.parquet").unlink()
        tiny_brand()["orders"].to_csv(brand / "orders.csv", index=False)
        workbench.open(brand, as_of=AS_OF).validate("orders")
        text = (brand / "orders.csv").read_text()
        assert text.count(",200.0,") == 1

        edit_keeping_size_and_mtime(brand / "orders.csv",
                                    lambda p: p.write_text(text.replace(",200.0,", ",-20.0,")))
        with pytest.raises(workbench.DataContractError, match="below 0"):
            workbench.open(brand, as_of=AS_OF).validate("orders")

    def test_a_touch_or_a_copy_of_the_same_bytes_keeps_the_pass(self, brand, monkeypatch, tmp_path):
        workbench.open(brand, as_of=AS_OF).validate("orders")
        calls = count_validations(monkeypatch)
        os.utime(brand / "orders.parquet", ns=(0, 1_000_000_000))  # only the time changes
        copy = shutil.copytree(brand, tmp_path / "moved")  # new paths, new times, same bytes
        workbench.open(brand, as_of=AS_OF).validate("orders")
        workbench.open(copy, as_of=AS_OF).validate("orders")
        assert calls == []

    def test_marker_key_changes_with_content_not_with_times(self, brand):
        sources = table_sources(brand)
        key = engine.validation_marker(sources, "orders", pd.Timestamp(AS_OF))
        os.utime(brand / "stores.parquet", ns=(0, 0))
        assert engine.validation_marker(sources, "orders", pd.Timestamp(AS_OF)) == key
        edit_keeping_size_and_mtime(brand / "stores.parquet",
                                    lambda p: write_parquet(tiny_brand()["stores"].assign(region=["Eest", "West"]), p))
        assert engine.validation_marker(sources, "orders", pd.Timestamp(AS_OF)) != key


class TestDigestMemo:
    """Large files' digests are remembered under (device, inode, size, mtime, ctime)."""

    @pytest.fixture
    def big(self, tmp_path, monkeypatch):
        monkeypatch.setattr(engine, "_SETTLED_NS", 0)  # remember at once (normally: files quiet for 2 s)
        monkeypatch.delenv("WORKBENCH_VALIDATION_CACHE", raising=False)
        engine._digests.clear()
        path = tmp_path / "orders.parquet"
        path.write_bytes(b"a" * engine._DIGEST_MEMO_MIN_BYTES)
        return path

    def test_the_digest_is_sha256_of_the_bytes_and_is_remembered_on_disk(self, big, tmp_path):
        import hashlib

        cache = tmp_path / "cache"
        first = engine.content_digest(big, cache)
        assert first == hashlib.sha256(big.read_bytes()).hexdigest()
        (memo,) = (cache / "digests").iterdir()
        assert memo.read_text() == first
        engine._digests.clear()
        memo.write_text("f" * 64)  # proves the next call reads the memo instead of the file
        assert engine.content_digest(big, cache) == "f" * 64

    def test_restoring_the_mtime_does_not_reuse_a_remembered_digest(self, big, tmp_path):
        cache = tmp_path / "cache"
        first = engine.content_digest(big, cache)
        edit_keeping_size_and_mtime(big, lambda p: p.write_bytes(b"b" * engine._DIGEST_MEMO_MIN_BYTES))
        assert engine.content_digest(big, cache) != first  # the change time moved: hashed again

    def test_content_mode_and_recently_changed_files_are_always_hashed(self, big, tmp_path, monkeypatch):
        cache = tmp_path / "cache"
        monkeypatch.setenv("WORKBENCH_VALIDATION_CACHE", "content")
        engine.content_digest(big, cache)
        assert not (cache / "digests").exists() and not engine._digests
        monkeypatch.delenv("WORKBENCH_VALIDATION_CACHE")
        monkeypatch.setattr(engine, "_SETTLED_NS", 10**18)  # every file counts as just changed
        engine.content_digest(big, cache)
        assert not (cache / "digests").exists() and not engine._digests
