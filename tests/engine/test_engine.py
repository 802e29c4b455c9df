"""Data contract validation: one test per kind of bad input, each naming table, column and rows.

Engine-level tests (results of SQL on given data: reading, types, every contract check) take the ``engine``
fixture or the module's shared tiny workbench ``bench`` and run on DuckDB and Spark. DuckDB only, by nature:
``referenced_tables`` and the empty-folder refusal (Python before any SQL), DuckDB's own settings
(``TestEngineResources``), the validation cache (file digests in Python, the same for every engine) and the
seam's source inspection.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench import DataContractError
from workbench.engine import referenced_tables

from tests.handbuilt import tiny_brand

AS_OF = "2025-02-01"


class Bench:
    """The tiny brand opened once on one engine; ``changed(**tables)`` swaps tables in for one check.

    Opening a workbench costs seconds on Spark and the checks read one table each, so the checks share
    one workbench and register their changed tables on it; the clean tables go back afterwards.
    """

    def __init__(self, open_engine) -> None:
        self.clean = tiny_brand()
        self.wb = open_engine(self.clean, as_of=AS_OF)

    @contextlib.contextmanager
    def changed(self, **tables: pd.DataFrame):
        """The shared workbench with ``tables`` in place of the clean ones, restored on leaving."""
        try:
            for name, frame in tables.items():
                self.wb.register(name, frame)
            yield self.wb
        finally:
            for name in tables:
                self.wb.register(name, self.clean[name])


@pytest.fixture(scope="module")
def bench(engine) -> Bench:
    """The tiny brand on each engine (DuckDB, Spark), opened once per module. Tests must not modify it
    other than through ``Bench.changed``."""
    return Bench(engine)


def to_parquet(frame: pd.DataFrame, path) -> None:
    """Parquet with microsecond times, as warehouses write them (Spark reads no nanosecond times)."""
    frame.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)


def refused(wb, table: str, match: str) -> str:
    """Assert that reading ``table`` is refused with a message matching ``match``; the message."""
    with pytest.raises(DataContractError, match=match) as err:
        wb.query(f"SELECT * FROM {table}")
    return str(err.value)


class TestOpen:
    def test_tables_lazy_query_supplied_and_extra_columns(self, bench):
        wb = bench.wb
        assert "orders" in wb.tables and "contact_events" in wb.tables
        assert wb.query("SELECT COUNT(*) AS n FROM orders")["n"].iloc[0] == 7
        assert {"title", "experiment_id", "variant"} <= set(wb.table("tasks").columns)  # absent nullable: supplied
        assert "uses_retention_tool" in wb.frame("stores").columns  # extra columns are kept

    def test_directory_of_parquet_and_csv(self, engine, tiny, tmp_path):
        to_parquet(tiny["orders"], tmp_path / "orders.parquet")
        tiny["stores"].to_csv(tmp_path / "stores.csv", index=False)
        wb = engine(tmp_path, as_of=AS_OF)
        assert wb.tables == ["stores", "orders"]
        assert wb.scalar("SELECT SUM(amount) FROM orders") == pytest.approx(540.0)

    def test_folder_of_parquet_chunks(self, engine, tiny, tmp_path):
        (tmp_path / "orders").mkdir()
        import pyarrow as pa
        import pyarrow.parquet as pq

        # one schema for every part, as an export job writes them (pandas alone would type a part's
        # all-null column on its own, and Spark refuses parts whose types differ)
        table = pa.Table.from_pandas(tiny["orders"], preserve_index=False)
        for i, part in enumerate((table.slice(0, 3), table.slice(3))):
            pq.write_table(part, tmp_path / "orders" / f"part-{i}.parquet", coerce_timestamps="us",
                           allow_truncated_timestamps=True)
        wb = engine(tmp_path, as_of=AS_OF)
        assert wb.scalar("SELECT COUNT(*) FROM orders") == 7

    def test_csv_strings_are_cast_to_contract_types(self, engine, tiny, tmp_path):
        tiny["orders"].astype({"order_time": str, "amount": str}).to_csv(tmp_path / "orders.csv", index=False)
        wb = engine(tmp_path, as_of=AS_OF)
        types = wb.backend.column_types("orders")  # DuckDB's type names on every engine
        assert types["order_time"] == "TIMESTAMP" and types["amount"] == "DOUBLE"
        assert wb.scalar("SELECT SUM(amount) FROM orders") == pytest.approx(540.0)

    def test_timezone_aware_times_become_shanghai_local(self, bench):
        orders = bench.clean["orders"].copy()
        orders["order_time"] = orders["order_time"].dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
        with bench.changed(orders=orders) as wb:
            first = wb.query("SELECT order_time FROM orders WHERE order_id = 'O1'")["order_time"].iloc[0]
        assert pd.Timestamp(first) == pd.Timestamp("2025-01-02 12:00")

    def test_referenced_tables_ignores_ctes(self):
        assert referenced_tables("WITH x AS (SELECT * FROM orders) SELECT * FROM x JOIN stores USING (store_id)") == {
            "orders", "stores"}

    def test_referenced_tables_of_sql_sqlglot_cannot_parse_are_the_named_contract_tables(self):
        # DuckDB-only syntax must not switch validation off
        assert referenced_tables("PIVOT orders ON order_channel USING SUM(amount)") == {"orders"}

    def test_referenced_tables_of_an_unbalanced_quote_is_a_parameter_error(self):
        with pytest.raises(workbench.ParameterError, match="unbalanced quote"):
            referenced_tables("SELECT * FROM orders WHERE store_id = 'O'NEIL'")

    def test_empty_directory(self, tmp_path):
        with pytest.raises(DataContractError, match="no contract table"):
            workbench.open(tmp_path)


class TestValidation:
    def test_missing_table(self, tiny):
        del tiny["orders"]
        wb = workbench.open(tiny, as_of=AS_OF)  # Python: the table is not among the sources
        with pytest.raises(DataContractError, match="table 'orders'.*missing"):
            wb.query("SELECT * FROM orders")

    def test_absent_optional_table_reads_as_an_empty_typed_view(self, engine, tiny):
        wb = engine({k: tiny[k] for k in ("customers", "staff", "contact_events")}, as_of=AS_OF)  # no channels
        relation = wb.table_or_empty("channels")
        assert not wb.has_table("channels")  # has_table: the data has the table
        empty = wb.query(f"SELECT * FROM {relation}")
        assert empty.empty and list(empty.columns) == list(workbench.contract.TABLES["channels"].column_names)
        joined = wb.query(f"SELECT c.customer_id, ch.channel_group FROM contact_events c "
                          f"LEFT JOIN {relation} ch ON ch.channel_code = c.channel_code")
        assert len(joined) > 0 and joined["channel_group"].isna().all()
        assert wb.table_or_empty("contact_events") == '"contact_events"'
        with pytest.raises(DataContractError, match="table 'channels'.*needed|table 'channels'.*required by"):
            wb.query("SELECT * FROM channels")  # naming it directly still needs it

    def test_missing_column(self, bench):
        with bench.changed(orders=bench.clean["orders"].drop(columns="amount")) as wb:
            refused(wb, "orders", "table 'orders', column 'amount': required column is missing")

    def test_wrong_type(self, bench):
        orders = bench.clean["orders"].astype({"amount": str})
        orders.loc[2, "amount"] = "two hundred"
        with bench.changed(orders=orders) as wb:
            message = refused(wb, "orders", "column 'amount': wrong type")
        assert "two hundred" in message and "O3" in message

    def test_wrong_timestamp(self, bench):
        ev = bench.clean["contact_events"].astype({"event_time": str})
        ev.loc[0, "event_time"] = "yesterday-ish"
        with bench.changed(contact_events=ev) as wb:
            refused(wb, "contact_events", "contact_events', column 'event_time': wrong type")

    def test_null_key(self, bench):
        orders = bench.clean["orders"].copy()
        orders.loc[1, "order_id"] = None
        with bench.changed(orders=orders) as wb:
            refused(wb, "orders", "column 'order_id': null value")

    def test_duplicate_key(self, bench):
        orders = bench.clean["orders"].copy()
        orders.loc[1, "order_id"] = "O1"
        with bench.changed(orders=orders) as wb:
            assert "O1" in refused(wb, "orders", "column 'order_id': duplicate key.*1 offending row")

    def test_composite_duplicate_key(self, engine):
        exps = pd.DataFrame({"experiment_id": ["X"], "unit": ["customer"], "start_at": [pd.Timestamp("2025-01-01")]})
        asg = pd.DataFrame({"experiment_id": ["X", "X"], "unit_id": ["C1", "C1"], "variant": ["a", "b"]})
        wb = engine({"experiments": exps, "assignments": asg}, as_of=AS_OF)
        refused(wb, "assignments", "experiment_id, unit_id': duplicate key")

    def test_negative_amount(self, bench):
        orders = bench.clean["orders"].copy()
        orders.loc[3, "amount"] = -80.0
        with bench.changed(orders=orders) as wb:
            assert "O4" in refused(wb, "orders", "column 'amount': value below 0")

    def test_refund_larger_than_amount(self, bench):
        orders = bench.clean["orders"].copy()
        orders.loc[4, "refunded_amount"] = 700.0
        with bench.changed(orders=orders) as wb:
            refused(wb, "orders", "refunded_amount': refund larger")

    def test_unknown_enum_value(self, bench):
        orders = bench.clean["orders"].copy()
        orders.loc[0, "order_channel"] = "taobao"
        with bench.changed(orders=orders) as wb:
            assert "taobao" in refused(wb, "orders", "order_channel': unknown value")

    def test_unknown_event_type(self, bench):
        ev = bench.clean["contact_events"].copy()
        ev.loc[0, "event_type"] = "befriend"
        with bench.changed(contact_events=ev) as wb:
            refused(wb, "contact_events", "contact_events', column 'event_type': unknown value")

    def test_delete_with_no_earlier_add(self, bench):
        ev = pd.concat([bench.clean["contact_events"], pd.DataFrame([{
            "event_time": pd.Timestamp("2025-01-03"), "customer_id": "C9", "staff_id": "E2",
            "event_type": "delete_by_customer", "channel_code": None}])], ignore_index=True)
        with bench.changed(contact_events=ev) as wb:
            assert "C9" in refused(wb, "contact_events", "a delete with no earlier add")

    def test_delete_before_add(self, bench):
        ev = bench.clean["contact_events"].copy()
        ev.loc[1, "event_time"] = pd.Timestamp("2024-12-31")
        with bench.changed(contact_events=ev) as wb:
            refused(wb, "contact_events", "delete with no earlier add")

    def test_same_second_add_then_delete_is_valid(self, bench):
        ev = pd.concat([bench.clean["contact_events"], pd.DataFrame([
            {"event_time": pd.Timestamp("2025-01-05 08:00"), "customer_id": "C9", "staff_id": "E2",
             "event_type": "delete_by_customer", "channel_code": None},
            {"event_time": pd.Timestamp("2025-01-05 08:00"), "customer_id": "C9", "staff_id": "E2",
             "event_type": "add", "channel_code": "MP"}])], ignore_index=True)
        with bench.changed(contact_events=ev) as wb:
            assert len(wb.query("SELECT * FROM contact_events")) == 9

    def test_leave_with_no_join(self, bench):
        ge = bench.clean["group_events"].copy()
        ge.loc[1, "event_time"] = pd.Timestamp("2025-01-07")  # C4 joins after leaving
        with bench.changed(group_events=ge) as wb:
            refused(wb, "group_events", "group_events', column 'event_type': a leave with no earlier join")

    def test_future_timestamp_refused_when_strict(self, engine, tiny):
        wb = engine({"orders": tiny["orders"]}, as_of="2025-01-05", strict=True)
        assert "O5" in refused(wb, "orders", "order_time': timestamp at or after as_of 2025-01-05")

    def test_dangling_reference(self, bench):
        ev = bench.clean["contact_events"].copy()
        ev.loc[0, "staff_id"] = "E99"
        ev.loc[1, "staff_id"] = "E99"
        with bench.changed(contact_events=ev) as wb:
            refused(wb, "contact_events", "staff_id': value not found in staff.staff_id")

    def test_unknown_variant_in_tasks(self, engine):
        exps = pd.DataFrame({"experiment_id": ["X"], "unit": ["customer"], "start_at": [pd.Timestamp("2025-01-01")]})
        asg = pd.DataFrame({"experiment_id": ["X", "X"], "unit_id": ["C1", "C2"], "variant": ["control", "treatment"]})
        tasks = pd.DataFrame({"task_id": ["T1"], "created_at": [pd.Timestamp("2025-01-02")], "task_type": ["promo"],
                              "experiment_id": ["X"], "variant": ["treatmnet"]})
        wb = engine({"experiments": exps, "assignments": asg, "tasks": tasks}, as_of=AS_OF)
        refused(wb, "tasks", "tasks', column 'variant': unknown variant")

    def test_validation_runs_once_and_error_is_repeatable(self, bench):
        orders = bench.clean["orders"].copy()
        orders.loc[3, "amount"] = -1.0
        with bench.changed(orders=orders) as wb:
            for _ in range(2):
                refused(wb, "orders", "below 0")

    def test_validate_all_counts(self, bench):
        counts = bench.wb.validate_all()
        assert counts["orders"] == 7 and counts["contact_events"] == 7


class TestEngineResources:
    def test_memory_limit_and_spill_directory(self, monkeypatch, tmp_path):
        import workbench
        from workbench.engine import default_memory_limit

        orders = pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "amount": [1.0], "order_channel": ["pos"],
                               "order_time": pd.to_datetime(["2025-01-01"])})
        monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "3GB")
        monkeypatch.setenv("WORKBENCH_SPILL_DIR", str(tmp_path / "spill"))
        wb = workbench.open({"orders": orders}, as_of="2025-02-01")
        limit, spill = wb.con.execute("SELECT current_setting('memory_limit'), "
                                      "current_setting('temp_directory')").fetchone()
        assert limit == "2.7 GiB" and Path(spill).parent == tmp_path / "spill"  # DuckDB reports GiB
        # a folder of its own per connection: processes spilling at once never share DuckDB's file names
        other = workbench.open({"orders": orders}, as_of="2025-02-01")
        assert other.con.execute("SELECT current_setting('temp_directory')").fetchone()[0] != spill
        assert workbench.open({"orders": orders}, memory_limit="2GB").con.execute(
            "SELECT current_setting('memory_limit')").fetchone()[0] == "1.8 GiB"
        monkeypatch.delenv("WORKBENCH_MEMORY_LIMIT")
        assert default_memory_limit().endswith("MB")  # half the machine, not DuckDB's 80%

    def test_spill_folders_of_ended_processes_are_removed(self, monkeypatch, tmp_path):
        """A killed kernel's spill blocks go when the next connection opens; a running process's stay."""
        from workbench.engine.duckdb import connection_spill_directory

        monkeypatch.setenv("WORKBENCH_SPILL_DIR", str(tmp_path))
        dead, alive = tmp_path / "duckdb-999999999-0a0b0c0d", tmp_path / f"duckdb-{os.getpid()}-0a0b0c0d"
        for d in (dead, alive):
            d.mkdir()
            (d / "duckdb_temp_storage-4.tmp").write_bytes(b"x")
        mine = connection_spill_directory()
        assert not dead.exists() and alive.exists() and mine.parent == tmp_path and not mine.exists()

    def test_progress_bar_is_quiet_in_ci(self, monkeypatch):
        import workbench

        orders = pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "amount": [1.0], "order_channel": ["pos"],
                               "order_time": pd.to_datetime(["2025-01-01"])})
        monkeypatch.setenv("CI", "true")
        wb = workbench.open({"orders": orders}, as_of="2025-02-01")
        assert wb.con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False


class TestValidationOncePerSnapshot:
    def test_a_pass_is_remembered_until_a_file_changes(self, tmp_path, monkeypatch):
        import time

        import workbench
        from workbench.engine import validation as engine
        from tests.handbuilt import tiny_brand

        monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
        data = tmp_path / "brand"
        data.mkdir()
        for name, frame in tiny_brand().items():
            frame.to_parquet(data / f"{name}.parquet", index=False)
        workbench.open(data, as_of="2025-02-01").validate("orders")
        assert list((tmp_path / "cache" / "validated").glob("*.ok"))  # orders and the tables it references

        calls = []
        real = engine._validate_table
        monkeypatch.setattr(engine, "_validate_table", lambda wb, spec: calls.append(spec.name) or real(wb, spec))
        workbench.open(data, as_of="2025-02-01").validate("orders")
        assert calls == []  # the same snapshot: validated once
        workbench.open(data, as_of="2025-01-20").validate("orders")
        assert calls[0] == "orders"  # another analysis date is another check (with its references)

        time.sleep(0.01)
        orders = pd.read_parquet(data / "orders.parquet")
        orders.loc[0, "amount"] = -5.0
        orders.to_parquet(data / "orders.parquet", index=False)
        with pytest.raises(workbench.DataContractError, match="below 0"):
            workbench.open(data, as_of="2025-02-01").validate("orders")
        with pytest.raises(workbench.DataContractError):  # a failure is never remembered
            workbench.open(data, as_of="2025-02-01").validate("orders")

    def test_frames_and_opt_out_are_not_cached(self, monkeypatch, tmp_path):
        from workbench.engine import validation_marker

        assert validation_marker({"orders": pd.DataFrame()}, "orders", None) is None
        monkeypatch.setenv("WORKBENCH_VALIDATION_CACHE", "0")
        (tmp_path / "orders.parquet").write_bytes(b"x")
        assert validation_marker({"orders": tmp_path / "orders.parquet"}, "orders", None) is None


class TestBackendSeam:
    def test_the_workbench_reaches_the_engine_only_through_the_backend(self):
        import inspect

        from workbench.engine import Backend, DuckDBBackend, workbench as workbench_module

        source = inspect.getsource(workbench_module)
        assert "import duckdb" not in source and "pyspark" not in source
        wb = workbench.open({"orders": tiny_brand()["orders"]}, as_of="2025-02-01")
        assert isinstance(wb.backend, DuckDBBackend) and isinstance(wb.backend, Backend)

    def test_derived_relation_is_built_once_until_its_source_changes(self, bench):
        wb = bench.wb
        built = []
        real = wb.backend.materialise
        wb.backend.materialise = lambda name, query: built.append(name) or real(name, query)
        try:
            for _ in range(2):
                assert wb.scalar(wb.derived("__n", "SELECT COUNT(*) AS n FROM orders", ("orders",)).replace(
                    "SELECT *", "SELECT n")) == 7
            with bench.changed(orders=bench.clean["orders"].head(3)):
                assert wb.scalar(wb.derived("__n", "SELECT COUNT(*) AS n FROM orders", ("orders",)).replace(
                    "SELECT *", "SELECT n")) == 3
        finally:
            del wb.backend.materialise  # the instance's own method again
        assert built == ["__n", "__n"]
