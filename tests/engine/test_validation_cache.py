"""The validation cache is keyed on file content: an edit that keeps size and modification time is checked again.

A pass at one as-of date on the same files leaves, at a later date, only the checks that can differ, on the rows
since then (``TestLaterAsOf``): they refuse what a full validation refuses, with the same error.

DuckDB only, but for one Spark case of the narrowed checks: the cache (file digests and marker files) is Python
around the engine and the same for every engine; the full checks run on both engines in test_engine.py.
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

    def test_a_small_files_digest_is_remembered_in_this_process_only(self, big, tmp_path):
        """Under 8 MiB: hashed once per process (a summary lists every table's files), never kept on disk."""
        cache, small = tmp_path / "cache", tmp_path / "stores.parquet"
        small.write_bytes(b"s" * 1000)
        first = engine.content_digest(small, cache)
        assert not (cache / "digests").exists() and first in engine._digests.values()
        engine._digests.update({k: "e" * 64 for k, v in engine._digests.items() if v == first})
        assert engine.content_digest(small, cache) == "e" * 64     # read from the process's memo
        edit_keeping_size_and_mtime(small, lambda p: p.write_bytes(b"t" * 1000))
        assert engine.content_digest(small, cache) not in (first, "e" * 64)   # the change time moved

    def test_content_mode_and_recently_changed_files_are_always_hashed(self, big, tmp_path, monkeypatch):
        cache = tmp_path / "cache"
        monkeypatch.setenv("WORKBENCH_VALIDATION_CACHE", "content")
        engine.content_digest(big, cache)
        assert not (cache / "digests").exists() and not engine._digests
        monkeypatch.delenv("WORKBENCH_VALIDATION_CACHE")
        monkeypatch.setattr(engine, "_SETTLED_NS", 10**18)  # every file counts as just changed
        engine.content_digest(big, cache)
        assert not (cache / "digests").exists() and not engine._digests


EARLIER, LATER = "2025-01-04", "2025-02-01"  # the tiny brand has events, orders and group rows between the two


def validated(data, as_of, *tables, **options):
    """A workbench on ``data`` at ``as_of`` with ``tables`` validated (each with its references)."""
    wb = workbench.open(data, as_of=as_of, **options)
    for table in tables:
        wb.validate(table)
    return wb


def refusal(data, table, open_engine=workbench.open):
    """The DataContractError of validating ``table`` at LATER."""
    with pytest.raises(workbench.DataContractError) as err:
        open_engine(data, as_of=LATER).validate(table)
    return err.value


def cold_refusal(data, table, monkeypatch, open_engine=workbench.open):
    """The refusal of a full validation at LATER, nothing remembered."""
    with monkeypatch.context() as m:
        m.setenv("WORKBENCH_VALIDATION_CACHE", "0")
        return refusal(data, table, open_engine)


def same_refusal(narrowed, full) -> None:
    """The same table, column, problem, count and first rows (rows in key order: ties may come either way)."""
    assert (narrowed.table, narrowed.column, narrowed.problem, narrowed.n_bad) == (
        full.table, full.column, full.problem, full.n_bad)
    def ordered(rows):
        return rows.sort_values(list(rows.columns)).reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(narrowed.rows), ordered(full.rows))


def with_rows(data, table, **columns) -> None:
    """Append one row to ``table`` of the brand in ``data`` (other columns NULL)."""
    frame = tiny_brand()[table]
    row = pd.DataFrame({c: [columns.get(c)] for c in frame.columns}).astype(frame.dtypes.to_dict(), errors="ignore")
    write_parquet(pd.concat([frame, row], ignore_index=True), data / f"{table}.parquet")


class TestLaterAsOf:
    """A pass at an earlier as-of on the same files leaves only the rows since then to check."""

    TABLES = ("contact_events", "group_events", "orders", "coupons", "tasks", "staff", "scans", "customers")

    def test_a_later_as_of_runs_the_narrowed_checks_and_accepts(self, brand, monkeypatch):
        first = validated(brand, EARLIER, *self.TABLES)
        assert set(first.validation_kind.values()) == {"full"}
        calls = count_validations(monkeypatch)
        later = validated(brand, LATER, *self.TABLES)
        assert calls == []  # no full validation
        assert later.validation_kind["orders"] == f"since {pd.Timestamp(EARLIER)}"
        assert set(later.validation_kind.values()) == {f"since {pd.Timestamp(EARLIER)}"}
        again = validated(brand, LATER, *self.TABLES)
        assert set(again.validation_kind.values()) == {"remembered"}

    def test_the_narrowed_checks_read_only_rows_since_the_earlier_pass(self, brand):
        validated(brand, EARLIER, "orders", "contact_events")
        wb = workbench.open(brand, as_of=LATER)
        queries: list[str] = []
        fetch = wb._fetch
        wb._fetch = lambda q: queries.append(q) or fetch(q)
        wb.validate("orders")
        wb.validate("contact_events")
        since = f">= TIMESTAMP '{EARLIER} 00:00:00.000000'"
        assert all(since in q for q in queries)  # key, references, sequences: each limited to the new rows
        assert not any(q.startswith("SELECT SUM(") for q in queries)  # the per-row checks are not repeated
        assert len(queries) == 6  # orders: key, store, task; contact_events: sequence, staff, channel

    @pytest.mark.parametrize("table, row, problem", [
        ("orders", dict(order_id="O3", customer_id="C9", order_time=pd.Timestamp("2025-01-10"), amount=1.0,
                        order_channel="pos"), "duplicate key"),
        ("contact_events", dict(event_time=pd.Timestamp("2025-01-10"), customer_id="C4", staff_id="E2",
                                event_type="delete_by_staff"), "with no earlier add"),
        ("contact_events", dict(event_time=pd.Timestamp("2025-01-10"), customer_id="C5", staff_id="E9",
                                event_type="add"), "not found in staff"),
        ("group_events", dict(event_time=pd.Timestamp("2025-01-20"), customer_id="C4", group_id="G1",
                              event_type="leave"), None),  # a second leave: normal (rule 13), accepted
        ("orders", dict(order_id="O9", customer_id="C1", order_time=pd.Timestamp("2025-01-10"), amount=1.0,
                        order_channel="pos", task_id="T9"), "not found in tasks"),
    ])
    def test_a_bad_row_since_the_pass_is_refused_as_a_full_validation_refuses_it(self, brand, monkeypatch, table,
                                                                                  row, problem):
        with_rows(brand, table, **row)
        validated(brand, EARLIER, table)  # the row is at or after EARLIER: left out, a pass
        calls = count_validations(monkeypatch)
        if problem is None:
            assert validated(brand, LATER, table).validation_kind[table].startswith("since")
            return
        narrowed = refusal(brand, table)
        assert calls == []  # found by the narrowed checks
        assert problem in narrowed.problem
        same_refusal(narrowed, cold_refusal(brand, table, monkeypatch))
        with pytest.raises(workbench.DataContractError):  # a refusal is never remembered
            validated(brand, LATER, table)

    def test_changed_rows_follow_the_as_of_rule_of_the_views(self, brand):
        # a redemption time and its order read as NULL before they happen (rule 11): a later as-of changes
        # the row where either is read; a plan date (tasks.created_at) is kept, so tasks never change
        write_parquet(tiny_brand()["coupons"].assign(redeemed_at=pd.to_datetime([None, "2025-01-10"]),
                                                     redeemed_order_id=[None, "O1"]), brand / "coupons.parquet")
        write_parquet(tiny_brand()["staff"].assign(left_at=pd.to_datetime([None, "2025-01-20", None, None])),
                      brand / "staff.parquet")
        wb, since = workbench.open(brand, as_of=LATER), pd.Timestamp(EARLIER)
        at = f">= TIMESTAMP '{EARLIER} 00:00:00.000000'"
        assert engine._changed_rows(wb, "coupons", since, ["redeemed_order_id"], "t.") == (
            f'(t."issued_at" {at} OR t."redeemed_at" {at})')
        assert engine._changed_rows(wb, "coupons", since, ["coupon_id"]) == f'("issued_at" {at})'
        assert engine._changed_rows(wb, "staff", since, ["store_id"]) == "FALSE"
        assert engine._changed_rows(wb, "staff", since, ["left_at"]) == f'("left_at" {at})'
        assert engine._changed_rows(wb, "tasks", since, ["experiment_id", "variant"]) == "FALSE"
        assert engine._changed_rows(wb, "orders", None, ["order_id"]) == "TRUE"  # no earlier pass: every row
        strict = workbench.open(brand, as_of=LATER, strict=True)  # nothing left out: no row changes
        assert engine._changed_rows(strict, "orders", since, ["order_id"]) == "FALSE"
        # and the narrowed validation accepts these files as a full one does
        validated(brand, EARLIER, "coupons", "staff")
        assert set(validated(brand, LATER, "coupons", "staff").validation_kind.values()) == {f"since {since}"}

    def test_a_changed_file_or_an_earlier_as_of_validates_in_full(self, brand, monkeypatch):
        validated(brand, LATER, "orders")
        calls = count_validations(monkeypatch)
        assert validated(brand, EARLIER, "orders").validation_kind["orders"] == "full"  # earlier than the pass
        assert calls == ["orders", "stores", "tasks"]
        write_parquet(tiny_brand()["stores"].assign(region=["North", "West"]), brand / "stores.parquet")
        # another snapshot: the changed table in full; orders and tasks from their files' pass (test_validation_files)
        kinds = validated(brand, "2025-03-01", "orders").validation_kind
        assert kinds == {"orders": f"new files since {pd.Timestamp(LATER)}: 0", "stores": "full",
                         "tasks": f"new files since {pd.Timestamp(LATER)}: 0"}
        assert calls[3:] == ["stores"]
        orders = tiny_brand()["orders"]
        write_parquet(orders.assign(amount=orders["amount"] + 1), brand / "orders.parquet")  # the table's own file
        assert validated(brand, "2025-03-01", "orders").validation_kind["orders"] == "full"

    def test_strict_passes_carry_to_later_dates_without_checks(self, brand, monkeypatch):
        # strict refuses times at or after the as-of; none can appear later on the same files
        validated(brand, "2025-01-07", "orders", strict=True)
        calls = count_validations(monkeypatch)
        wb = workbench.open(brand, as_of=LATER, strict=True)
        queries: list[str] = []
        fetch = wb._fetch
        wb._fetch = lambda q: queries.append(q) or fetch(q)
        wb.validate("orders")
        assert calls == [] and queries == [] and wb.validation_kind["orders"].startswith("since")
        assert validated(brand, LATER, "orders").validation_kind["orders"] == "full"  # not strict: its own record

    def test_the_latest_earlier_pass_is_used(self, brand):
        for as_of in ("2025-01-02", EARLIER, "2025-03-01"):
            validated(brand, as_of, "orders")
        assert validated(brand, LATER, "orders").validation_kind["orders"] == f"since {pd.Timestamp(EARLIER)}"
        record = engine.validation_record(table_sources(brand), "orders")
        assert record.passes() == [pd.Timestamp(d) for d in ("2025-01-02", EARLIER, LATER, "2025-03-01")]


def test_the_narrowed_checks_run_on_spark(brand, monkeypatch, spark_session):
    from workbench.engine.spark import open_spark

    for path in brand.glob("*.parquet"):  # Spark reads no nanosecond times
        pd.read_parquet(path).to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)
    with_rows(brand, "orders", order_id="O3", customer_id="C9", order_time=pd.Timestamp("2025-01-10"), amount=1.0,
              order_channel="pos")
    pd.read_parquet(brand / "orders.parquet").to_parquet(brand / "orders.parquet", coerce_timestamps="us")
    def spark(data, as_of):
        return open_spark(data, as_of=as_of, spark=spark_session)

    first = spark(brand, EARLIER)
    for table in ("contact_events", "group_events", "orders"):
        first.validate(table)
    later = spark(brand, LATER)
    later.validate("contact_events")
    later.validate("group_events")
    assert later.validation_kind["contact_events"] == f"since {pd.Timestamp(EARLIER)}"
    with pytest.raises(workbench.DataContractError) as err:
        later.validate("orders")
    same_refusal(err.value, cold_refusal(brand, "orders", monkeypatch, spark))
