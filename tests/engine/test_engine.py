"""Data contract validation: one test per kind of bad input, each naming table, column and rows."""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench import DataContractError
from workbench.engine import referenced_tables

from tests.handbuilt import tiny_brand


def open_with(**changes):
    tables = tiny_brand()
    tables.update(changes)
    return workbench.open(tables, as_of="2025-02-01")


class TestOpen:
    def test_tables_and_lazy_query(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        assert "orders" in wb.tables and "contact_events" in wb.tables
        assert wb.query("SELECT COUNT(*) AS n FROM orders")["n"].iloc[0] == 7

    def test_absent_nullable_columns_are_supplied(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        cols = wb.table("tasks").columns
        assert {"title", "experiment_id", "variant"} <= set(cols)

    def test_extra_columns_are_kept(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        assert "uses_retention_tool" in wb.frame("stores").columns

    def test_directory_of_parquet_and_csv(self, tiny, tmp_path):
        tiny["orders"].to_parquet(tmp_path / "orders.parquet")
        tiny["stores"].to_csv(tmp_path / "stores.csv", index=False)
        wb = workbench.open(tmp_path, as_of="2025-02-01")
        assert wb.tables == ["stores", "orders"]
        assert wb.scalar("SELECT SUM(amount) FROM orders") == pytest.approx(540.0)

    def test_folder_of_parquet_chunks(self, tiny, tmp_path):
        (tmp_path / "orders").mkdir()
        tiny["orders"].iloc[:3].to_parquet(tmp_path / "orders" / "part-0.parquet")
        tiny["orders"].iloc[3:].to_parquet(tmp_path / "orders" / "part-1.parquet")
        wb = workbench.open(tmp_path, as_of="2025-02-01")
        assert wb.scalar("SELECT COUNT(*) FROM orders") == 7

    def test_csv_strings_are_cast_to_contract_types(self, tiny, tmp_path):
        tiny["orders"].astype({"order_time": str, "amount": str}).to_csv(tmp_path / "orders.csv", index=False)
        wb = workbench.open(tmp_path, as_of="2025-02-01")
        types = dict(wb.con.execute("DESCRIBE orders").fetchall() and
                     [(r[0], r[1]) for r in wb.con.execute("DESCRIBE orders").fetchall()])
        assert types["order_time"] == "TIMESTAMP" and types["amount"] == "DOUBLE"

    def test_timezone_aware_times_become_shanghai_local(self, tiny):
        orders = tiny["orders"].copy()
        orders["order_time"] = orders["order_time"].dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
        wb = open_with(orders=orders)
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
        wb = workbench.open(tiny, as_of="2025-02-01")
        with pytest.raises(DataContractError, match="table 'orders'.*missing"):
            wb.query("SELECT * FROM orders")

    def test_absent_optional_table_reads_as_an_empty_typed_view(self, tiny):
        del tiny["channels"]
        wb = workbench.open(tiny, as_of="2025-02-01")
        relation = wb.table_or_empty("channels")
        assert not wb.has_table("channels")  # has_table: the data has the table
        empty = wb.query(f"SELECT * FROM {relation}")
        assert empty.empty and list(empty.columns) == list(workbench.contract.TABLES["channels"].column_names)
        joined = wb.query(f"SELECT c.customer_id, ch.channel_group FROM contact_events c "
                          f"LEFT JOIN {relation} ch ON ch.channel_code = c.channel_code")
        assert len(joined) > 0 and joined["channel_group"].isna().all()
        assert wb.table_or_empty("orders") == '"orders"'
        with pytest.raises(DataContractError, match="table 'channels'.*needed|table 'channels'.*required by"):
            wb.query("SELECT * FROM channels")  # naming it directly still needs it

    def test_missing_column(self, tiny):
        wb = open_with(orders=tiny["orders"].drop(columns="amount"))
        with pytest.raises(DataContractError, match="table 'orders', column 'amount': required column is missing"):
            wb.query("SELECT * FROM orders")

    def test_wrong_type(self, tiny):
        orders = tiny["orders"].astype({"amount": str})
        orders.loc[2, "amount"] = "two hundred"
        wb = open_with(orders=orders)
        with pytest.raises(DataContractError, match="column 'amount': wrong type") as err:
            wb.query("SELECT * FROM orders")
        assert "two hundred" in str(err.value) and "O3" in str(err.value)

    def test_wrong_timestamp(self, tiny):
        ev = tiny["contact_events"].astype({"event_time": str})
        ev.loc[0, "event_time"] = "yesterday-ish"
        wb = open_with(contact_events=ev)
        with pytest.raises(DataContractError, match="contact_events', column 'event_time': wrong type"):
            wb.query("SELECT * FROM contact_events")

    def test_null_key(self, tiny):
        orders = tiny["orders"].copy()
        orders.loc[1, "order_id"] = None
        with pytest.raises(DataContractError, match="column 'order_id': null value"):
            open_with(orders=orders).query("SELECT * FROM orders")

    def test_duplicate_key(self, tiny):
        orders = tiny["orders"].copy()
        orders.loc[1, "order_id"] = "O1"
        with pytest.raises(DataContractError, match="column 'order_id': duplicate key.*1 offending row") as err:
            open_with(orders=orders).query("SELECT * FROM orders")
        assert "O1" in str(err.value)

    def test_composite_duplicate_key(self):
        exps = pd.DataFrame({"experiment_id": ["X"], "unit": ["customer"], "start_at": [pd.Timestamp("2025-01-01")]})
        asg = pd.DataFrame({"experiment_id": ["X", "X"], "unit_id": ["C1", "C1"], "variant": ["a", "b"]})
        wb = workbench.open({"experiments": exps, "assignments": asg}, as_of="2025-02-01")
        with pytest.raises(DataContractError, match="experiment_id, unit_id': duplicate key"):
            wb.query("SELECT * FROM assignments")

    def test_negative_amount(self, tiny):
        orders = tiny["orders"].copy()
        orders.loc[3, "amount"] = -80.0
        with pytest.raises(DataContractError, match="column 'amount': value below 0") as err:
            open_with(orders=orders).query("SELECT * FROM orders")
        assert "O4" in str(err.value)

    def test_refund_larger_than_amount(self, tiny):
        orders = tiny["orders"].copy()
        orders.loc[4, "refunded_amount"] = 700.0
        with pytest.raises(DataContractError, match="refunded_amount': refund larger"):
            open_with(orders=orders).query("SELECT * FROM orders")

    def test_unknown_enum_value(self, tiny):
        orders = tiny["orders"].copy()
        orders.loc[0, "order_channel"] = "taobao"
        with pytest.raises(DataContractError, match="order_channel': unknown value") as err:
            open_with(orders=orders).query("SELECT * FROM orders")
        assert "taobao" in str(err.value)

    def test_unknown_event_type(self, tiny):
        ev = tiny["contact_events"].copy()
        ev.loc[0, "event_type"] = "befriend"
        with pytest.raises(DataContractError, match="contact_events', column 'event_type': unknown value"):
            open_with(contact_events=ev).query("SELECT * FROM contact_events")

    def test_delete_with_no_earlier_add(self, tiny):
        ev = pd.concat([tiny["contact_events"], pd.DataFrame([{
            "event_time": pd.Timestamp("2025-01-03"), "customer_id": "C9", "staff_id": "E2",
            "event_type": "delete_by_customer", "channel_code": None}])], ignore_index=True)
        with pytest.raises(DataContractError, match="a delete with no earlier add") as err:
            open_with(contact_events=ev).query("SELECT * FROM contact_events")
        assert "C9" in str(err.value)

    def test_delete_before_add(self, tiny):
        ev = tiny["contact_events"].copy()
        ev.loc[1, "event_time"] = pd.Timestamp("2024-12-31")
        with pytest.raises(DataContractError, match="delete with no earlier add"):
            open_with(contact_events=ev).query("SELECT * FROM contact_events")

    def test_same_second_add_then_delete_is_valid(self, tiny):
        ev = pd.concat([tiny["contact_events"], pd.DataFrame([
            {"event_time": pd.Timestamp("2025-01-05 08:00"), "customer_id": "C9", "staff_id": "E2",
             "event_type": "delete_by_customer", "channel_code": None},
            {"event_time": pd.Timestamp("2025-01-05 08:00"), "customer_id": "C9", "staff_id": "E2",
             "event_type": "add", "channel_code": "MP"}])], ignore_index=True)
        assert len(open_with(contact_events=ev).query("SELECT * FROM contact_events")) == 9

    def test_leave_with_no_join(self, tiny):
        ge = tiny["group_events"].copy()
        ge.loc[1, "event_time"] = pd.Timestamp("2025-01-07")  # C4 joins after leaving
        with pytest.raises(DataContractError, match="group_events', column 'event_type': a leave with no earlier join"):
            open_with(group_events=ge).query("SELECT * FROM group_events")

    def test_future_timestamp_refused_when_strict(self, tiny):
        wb = workbench.open(tiny, as_of="2025-01-05", strict=True)
        with pytest.raises(DataContractError, match="order_time': timestamp at or after as_of 2025-01-05") as err:
            wb.query("SELECT * FROM orders")
        assert "O5" in str(err.value)

    def test_dangling_reference(self, tiny):
        ev = tiny["contact_events"].copy()
        ev.loc[0, "staff_id"] = "E99"
        ev.loc[1, "staff_id"] = "E99"
        with pytest.raises(DataContractError, match="staff_id': value not found in staff.staff_id"):
            open_with(contact_events=ev).query("SELECT * FROM contact_events")

    def test_unknown_variant_in_tasks(self):
        exps = pd.DataFrame({"experiment_id": ["X"], "unit": ["customer"], "start_at": [pd.Timestamp("2025-01-01")]})
        asg = pd.DataFrame({"experiment_id": ["X", "X"], "unit_id": ["C1", "C2"], "variant": ["control", "treatment"]})
        tasks = pd.DataFrame({"task_id": ["T1"], "created_at": [pd.Timestamp("2025-01-02")], "task_type": ["promo"],
                              "experiment_id": ["X"], "variant": ["treatmnet"]})
        wb = workbench.open({"experiments": exps, "assignments": asg, "tasks": tasks}, as_of="2025-02-01")
        with pytest.raises(DataContractError, match="tasks', column 'variant': unknown variant"):
            wb.query("SELECT * FROM tasks")

    def test_validation_runs_once_and_error_is_repeatable(self, tiny):
        orders = tiny["orders"].copy()
        orders.loc[3, "amount"] = -1.0
        wb = open_with(orders=orders)
        for _ in range(2):
            with pytest.raises(DataContractError):
                wb.query("SELECT * FROM orders")

    def test_validate_all_counts(self, tiny):
        counts = workbench.open(tiny, as_of="2025-02-01").validate_all()
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
        assert limit == "2.7 GiB" and spill == str(tmp_path / "spill")  # DuckDB reports GiB
        assert workbench.open({"orders": orders}, memory_limit="2GB").con.execute(
            "SELECT current_setting('memory_limit')").fetchone()[0] == "1.8 GiB"
        monkeypatch.delenv("WORKBENCH_MEMORY_LIMIT")
        assert default_memory_limit().endswith("MB")  # half the machine, not DuckDB's 80%

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

    def test_derived_relation_is_built_once_until_its_source_changes(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        built = []
        real = wb.backend.materialise
        wb.backend.materialise = lambda name, query: built.append(name) or real(name, query)
        for _ in range(2):
            assert wb.scalar(wb.derived("__n", "SELECT COUNT(*) AS n FROM orders", ("orders",)).replace(
                "SELECT *", "SELECT n")) == 7
        wb.register("orders", tiny["orders"].head(3))
        assert wb.scalar(wb.derived("__n", "SELECT COUNT(*) AS n FROM orders", ("orders",)).replace(
            "SELECT *", "SELECT n")) == 3
        assert built == ["__n", "__n"]
