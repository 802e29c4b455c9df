"""Real exports go in right or are refused clearly (the reading rules of ``workbench.contract``).

Each test writes a small simulated brand the way MySQL, Hive or Excel exports look, with one
defect, opens it with ``workbench.open`` and asserts either a ``DataContractError`` naming the
table, column and rows (or the file), or that the number a report states is the clean data's.

Engines: the reading rules are SQL, so they run on DuckDB and Spark (``engine`` fixture) — all of
them at once in ``TestAllRulesAtOnce`` (one export, one Spark workbench: the numbers must equal
DuckDB's on the clean data), and one by one where the data are small (non-finite money, offsets,
event ties). One defect per test on the simulated brand, file discovery (two sources, encodings,
empty, corrupt and linked files), absent-table listings, time zones of the machine (a process per
zone), the as-of backfill and quote parsing run on DuckDB only: they are Python before any SQL,
or a Spark session per case would cost minutes; the rules they check are in the at-once test.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import DataContractError, ParameterError, metrics
from workbench.relationships import contact_intervals_sql

AS_OF = "2026-01-01"
WINDOW = ("2025-01-01", AS_OF)
ID_COLUMNS = ("customer_id",)


@pytest.fixture(scope="module")
def clean(report_brand) -> dict[str, pd.DataFrame]:
    """The simulated brand with numeric-looking customer ids ('17'), as many ERP exports have."""
    _, brand = report_brand
    tables = {name: frame.copy() for name, frame in brand.tables.items()}
    for frame in tables.values():
        if "customer_id" in frame.columns:
            frame["customer_id"] = frame["customer_id"].str.lstrip("C").str.lstrip("0")
    return tables


def write(folder: Path, tables: dict[str, pd.DataFrame], csv: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if name in csv:
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def with_changes(clean: dict[str, pd.DataFrame], **changes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    tables = dict(clean)
    tables.update(changes)
    return tables


def user_share(wb) -> float:
    return float(metrics.conversion(wb, *WINDOW, grain=None)["user_share"].iloc[0])


def task_share(wb) -> float:
    return float(metrics.conversion(wb, *WINDOW, grain=None)["task_share"].iloc[0])


@pytest.fixture(scope="module")
def clean_numbers(clean, tmp_path_factory) -> dict[str, float]:
    wb = workbench.open(write(tmp_path_factory.mktemp("clean"), clean), as_of=AS_OF)
    conv = metrics.conversion(wb, *WINDOW, grain=None).iloc[0]
    return {"user_share": float(conv["user_share"]), "task_share": float(conv["task_share"]),
            "gmv": float(conv["gmv"]), "net_gmv": float(conv["net_gmv"]), "orders": int(conv["orders"])}


# ---------------------------------------------------------------- 0. every reading rule, on both engines
class TestAllRulesAtOnce:
    def test_every_reading_rule_at_once_gives_the_clean_numbers(self, engine, clean, clean_numbers, tmp_path):
        """One export with every reading rule applied (ids as floats, integers, '17.0' text and padded with
        spaces, MySQL / Hive null markers, column names in another case with spaces), read by each engine:
        the numbers equal DuckDB's on the clean data and every rule is counted."""
        orders = clean["orders"].copy().astype({"task_id": object})
        orders["customer_id"] = orders["customer_id"] + ".0"  # '17.0' from a spreadsheet
        no_task = orders["task_id"].isna()
        markers = np.array(["\\N", "NULL", "null", ""], dtype=object)
        orders.loc[no_task, "task_id"] = markers[np.arange(no_task.sum()) % 4]
        orders = orders.rename(columns={"store_id": "Store_ID", "refunded_amount": " refunded_amount "})
        events = clean["contact_events"].copy()
        events["customer_id"] = events["customer_id"].astype("int64")  # an integer column
        customers = clean["customers"].copy()
        customers["customer_id"] = customers["customer_id"] + " "  # CHAR(n) padding from MySQL
        tables = with_changes(clean, orders=orders, contact_events=events, customers=customers)
        with pytest.warns(UserWarning, match="'Store_ID' read as contract column 'store_id'"):
            wb = engine(write(tmp_path, tables, csv=("orders", "customers")), as_of=AS_OF)
        conv = metrics.conversion(wb, *WINDOW, grain=None).iloc[0]
        for key in ("user_share", "task_share", "gmv", "net_gmv"):
            assert float(conv[key]) == pytest.approx(clean_numbers[key], rel=1e-12, abs=1e-12), key
        assert int(conv["orders"]) == clean_numbers["orders"]
        assert 0 < clean_numbers["task_share"] < 0.2 and clean_numbers["net_gmv"] < clean_numbers["gmv"]
        rules = {(n.column, n.rule): n.rows for n in wb.normalisations("orders")}
        assert rules[("customer_id", "integral id")] == orders["customer_id"].notna().sum()
        assert wb.scalar("SELECT COUNT(*) FROM orders WHERE task_id IS NOT NULL") == (~no_task).sum()
        assert {(n.column, n.rule): n.rows for n in wb.normalisations("customers")} == {
            ("customer_id", "spaces trimmed"): len(customers)}
        assert wb.normalisations("contact_events") == []  # integers are ids without a rule to count


# ---------------------------------------------------------------- 1. identifiers
class TestIdentifiers:
    def test_float_and_int_ids_match_text_ids(self, clean, clean_numbers, tmp_path):
        orders = clean["orders"].copy()
        orders["customer_id"] = orders["customer_id"].astype(float)  # a pandas column with NaN: 17.0
        events = clean["contact_events"].copy()
        events["customer_id"] = events["customer_id"].astype("int64")
        wb = workbench.open(write(tmp_path, with_changes(clean, orders=orders, contact_events=events)), as_of=AS_OF)
        assert clean_numbers["user_share"] > 0.2
        assert user_share(wb) == pytest.approx(clean_numbers["user_share"], abs=1e-12)
        summary = wb.validate_all()
        rules = {(n.table, n.column, n.rule): n.rows for n in summary.normalised}
        assert rules[("orders", "customer_id", "integral id")] == orders["customer_id"].notna().sum()

    def test_text_ids_written_as_floats_and_with_spaces_match(self, clean, clean_numbers, tmp_path):
        orders = clean["orders"].copy()
        orders["customer_id"] = orders["customer_id"] + ".0"  # '17.0' from a spreadsheet
        events = clean["contact_events"].copy()
        events["customer_id"] = events["customer_id"] + " "  # CHAR(n) padding from MySQL
        folder = write(tmp_path, with_changes(clean, orders=orders, contact_events=events), csv=("contact_events",))
        wb = workbench.open(folder, as_of=AS_OF)
        assert user_share(wb) == pytest.approx(clean_numbers["user_share"], abs=1e-12)
        rules = {(n.table, n.column, n.rule): n.rows for n in wb.validate_all().normalised}
        assert rules[("contact_events", "customer_id", "spaces trimmed")] == len(events)
        assert rules[("orders", "customer_id", "integral id")] == orders["customer_id"].notna().sum()

    def test_zero_padded_in_one_table_only_is_refused_naming_both(self, clean, tmp_path):
        orders = clean["orders"].copy()
        orders["customer_id"] = orders["customer_id"].str.zfill(8)
        wb = workbench.open(write(tmp_path, with_changes(clean, orders=orders)), as_of=AS_OF)
        with pytest.raises(DataContractError, match=r"table 'orders', column 'customer_id': identifiers written "
                                                    r"two ways.*without the zeros in \w+\.customer_id") as err:
            user_share(wb)
        assert "00000001" in str(err.value)

    def test_zero_padded_everywhere_is_kept(self, clean, clean_numbers, tmp_path):
        tables = {name: frame.copy() for name, frame in clean.items()}
        for frame in tables.values():
            if "customer_id" in frame.columns:
                frame["customer_id"] = frame["customer_id"].str.zfill(8)
        wb = workbench.open(write(tmp_path, tables, csv=("orders",)), as_of=AS_OF)
        assert user_share(wb) == pytest.approx(clean_numbers["user_share"], abs=1e-12)
        assert wb.scalar("SELECT MIN(customer_id) FROM orders") == "00000001"


# ---------------------------------------------------------------- 2. null markers
class TestNullMarkers:
    def test_mysql_and_hive_null_markers_in_csv_are_nulls(self, clean, clean_numbers, tmp_path):
        orders = clean["orders"].copy().astype({"task_id": object, "store_id": object})
        markers = np.array(["\\N", "NULL", "null", ""], dtype=object)
        no_task = orders["task_id"].isna()
        orders.loc[no_task, "task_id"] = markers[np.arange(no_task.sum()) % 4]
        orders.loc[orders["store_id"].isna(), "store_id"] = "\\N"
        wb = workbench.open(write(tmp_path, with_changes(clean, orders=orders), csv=("orders",)), as_of=AS_OF)
        assert 0 < clean_numbers["task_share"] < 0.2
        assert task_share(wb) == pytest.approx(clean_numbers["task_share"], abs=1e-12)
        assert wb.scalar("SELECT COUNT(*) FROM orders WHERE task_id IS NOT NULL") == clean["orders"]["task_id"].notna().sum()

    def test_null_marker_text_in_parquet_is_null(self, clean, clean_numbers, tmp_path):
        orders = clean["orders"].copy().astype({"task_id": object})
        orders.loc[orders["task_id"].isna(), "task_id"] = "\\N"
        wb = workbench.open(write(tmp_path, with_changes(clean, orders=orders)), as_of=AS_OF)
        assert task_share(wb) == pytest.approx(clean_numbers["task_share"], abs=1e-12)
        rules = {(n.table, n.column, n.rule): n.rows for n in wb.validate_all().normalised}
        assert rules[("orders", "task_id", "null marker")] == clean["orders"]["task_id"].isna().sum()


# ---------------------------------------------------------------- 3. non-finite money
class TestNonFiniteMoney:
    def test_non_finite_amount_in_parquet_is_refused_naming_rows(self, engine, clean, tmp_path):
        orders = clean["orders"].copy()
        orders.loc[5, "amount"] = np.inf
        orders.loc[6, "amount"] = -np.inf
        wb = engine(write(tmp_path, {"orders": orders}), as_of=AS_OF)
        with pytest.raises(DataContractError,
                           match="table 'orders', column 'amount': value is not a finite number") as err:
            wb.validate("orders")
        assert orders.loc[5, "order_id"] in str(err.value) and "2 offending rows" in str(err.value)

    def test_nan_and_inf_text_in_csv_are_refused(self, engine, clean, tmp_path):
        orders = clean["orders"].copy().astype({"amount": object, "refunded_amount": object})
        orders.loc[3, "refunded_amount"] = "NaN"
        orders.loc[7, "refunded_amount"] = "inf"
        wb = engine(write(tmp_path, {"orders": orders}, csv=("orders",)), as_of=AS_OF)
        with pytest.raises(DataContractError,
                           match="column 'refunded_amount': value is not a finite number.*2 offending"):
            wb.validate("orders")


# ---------------------------------------------------------------- 4. column names
class TestColumnNames:
    def test_case_and_spaces_in_nullable_column_names_are_matched_with_a_warning(self, clean, clean_numbers, tmp_path):
        orders = clean["orders"].rename(columns={"store_id": "Store_ID", "refunded_amount": " refunded_amount "})
        folder = write(tmp_path, with_changes(clean, orders=orders), csv=("orders",))
        with pytest.warns(UserWarning, match="'Store_ID' read as contract column 'store_id'"):
            wb = workbench.open(folder, as_of=AS_OF)
        conv = metrics.conversion(wb, *WINDOW, grain=None).iloc[0]
        assert float(conv["net_gmv"]) == pytest.approx(clean_numbers["net_gmv"], rel=1e-12)
        assert clean_numbers["net_gmv"] < clean_numbers["gmv"]  # refunds exist, so they were read
        by_store = wb.query("SELECT COUNT(*) AS n FROM orders WHERE store_id IS NULL")["n"].iloc[0]
        assert by_store == clean["orders"]["store_id"].isna().sum()

    def test_two_columns_matching_one_name_are_refused(self, clean, tmp_path):
        orders = clean["orders"].rename(columns={"store_id": "Store_ID"})
        orders[" store_id "] = "S001"
        with pytest.raises(DataContractError, match=r"orders', column 'store_id': two or more columns.*'Store_ID', ' store_id '"):
            workbench.open(write(tmp_path, with_changes(clean, orders=orders)), as_of=AS_OF)


# ---------------------------------------------------------------- 5. two sources for one table
class TestAmbiguousSources:
    def test_csv_beside_parquet_is_refused_naming_both(self, clean, tmp_path):
        write(tmp_path, clean)
        clean["orders"].to_csv(tmp_path / "orders.csv", index=False)
        with pytest.raises(DataContractError, match=r"table 'orders': more than one source.*orders.parquet and orders.csv"):
            workbench.open(tmp_path, as_of=AS_OF)

    def test_folder_beside_parquet_is_refused(self, clean, tmp_path):
        write(tmp_path, clean)
        (tmp_path / "orders").mkdir()
        clean["orders"].to_parquet(tmp_path / "orders" / "part-0.parquet")
        with pytest.raises(DataContractError, match=r"orders.parquet and orders/"):
            workbench.open(tmp_path, as_of=AS_OF)


# ---------------------------------------------------------------- 6. time zones
_TZ_SCRIPT = """
import json, sys, workbench
wb = workbench.open(sys.argv[1], as_of="2026-01-01", tables=["orders"])
times = wb.query("SELECT order_id, CAST(order_time AS VARCHAR) AS t FROM orders ORDER BY order_id")
print(json.dumps(dict(zip(times["order_id"], times["t"]))))
"""


class TestTimeZones:
    @staticmethod
    def mixed_offsets(orders: pd.DataFrame) -> pd.DataFrame:
        """Every third time as UTC with 'Z', every third with '+08:00', the rest naive local."""
        local = orders["order_time"].dt.tz_localize("Asia/Shanghai")
        text = orders["order_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
        utc = local.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        plus8 = local.dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")
        which = np.arange(len(orders)) % 3
        out = orders.copy()
        out["order_time"] = np.where(which == 0, utc, np.where(which == 1, plus8, text))
        return out

    def test_offsets_are_converted_and_naive_is_shanghai_whatever_the_machine_tz(self, clean, tmp_path):
        orders = clean["orders"].iloc[:300]
        write(tmp_path, {"orders": self.mixed_offsets(orders)}, csv=("orders",))
        expected = dict(zip(orders["order_id"], orders["order_time"].dt.strftime("%Y-%m-%d %H:%M:%S")))
        results = []
        for tz in ("UTC", "Asia/Shanghai", "America/New_York"):
            env = {**os.environ, "TZ": tz}
            out = subprocess.run([sys.executable, "-c", _TZ_SCRIPT, str(tmp_path)], env=env, check=True,
                                 capture_output=True, text=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        for got in results:
            assert got == expected

    def test_minus_five_hours_offset(self, engine, tmp_path):
        pd.DataFrame({"order_id": ["A"], "order_time": ["2025-03-01T09:30:00-05:00"], "amount": [1.0],
                      "order_channel": ["pos"]}).to_csv(tmp_path / "orders.csv", index=False)
        wb = engine(tmp_path, as_of="2026-01-01")
        expected = pd.Timestamp("2025-03-01 22:30:00")
        assert pd.Timestamp(wb.query("SELECT order_time FROM orders")["order_time"].iloc[0]) == expected
        assert pd.Timestamp(wb.scalar("SELECT order_time FROM orders")) == expected


# ---------------------------------------------------------------- 7. duplicates and ties
def events(rows: list[tuple[str, str, str]]) -> dict[str, pd.DataFrame]:
    staff = pd.DataFrame({"staff_id": ["E1"], "role": ["guide"]})
    ce = pd.DataFrame(rows, columns=["event_time", "customer_id", "event_type"])
    ce["event_time"] = pd.to_datetime(ce["event_time"])
    ce["staff_id"] = "E1"
    return {"staff": staff, "contact_events": ce}


class TestDuplicatesAndTies:
    def test_duplicated_export_period_is_counted_not_refused_and_adds_stay(self, clean, tmp_path):
        clean_wb = workbench.open(write(tmp_path / "clean", clean), as_of=AS_OF)
        doubled = pd.concat([clean["contact_events"], clean["contact_events"]], ignore_index=True)
        wb = workbench.open(write(tmp_path / "doubled", with_changes(clean, contact_events=doubled)), as_of=AS_OF)
        adds = metrics.acquisition(wb, *WINDOW, grain=None)
        clean_adds = metrics.acquisition(clean_wb, *WINDOW, grain=None)
        pd.testing.assert_frame_equal(adds, clean_adds)
        assert user_share(wb) == pytest.approx(user_share(clean_wb), abs=1e-12)
        summary = wb.validate_all()
        assert summary.duplicate_events == {"contact_events": len(clean["contact_events"])}
        assert any("duplicate event" in line for line in summary.notes())

    def test_same_second_sequences_and_repeated_events(self, engine):
        """Four customers' sequences in one table, each a case of contract rules 9 and 13."""
        wb = engine(events([
            # C1: delete and re-add at one second keeps the re-add
            ("2025-01-01 10:00", "C1", "add"), ("2025-01-02 09:00", "C1", "delete_by_customer"),
            ("2025-01-02 09:00", "C1", "add"),
            # C2: add and delete at one second on a closed pair is a zero-length interval
            ("2025-01-02 09:00", "C2", "delete_by_staff"), ("2025-01-02 09:00", "C2", "add"),
            # C3: the customer deleted the guide and the guide later deleted the one-way contact (normal WeCom
            # data): the first close ends the interval, the second is counted
            ("2025-01-02 09:00", "C3", "add"), ("2025-01-02 09:00", "C3", "delete_by_customer"),
            ("2025-01-03 09:00", "C3", "delete_by_staff"),
            # C4: a repeated open is counted and ignored
            ("2025-01-02 09:00", "C4", "add"), ("2025-01-02 09:05", "C4", "add"),
            ("2025-01-04 09:00", "C4", "delete_by_customer")]), as_of="2025-02-01")
        summary = wb.validate_all()
        assert summary.sequences == {"contact_events": {"second_closes": 1, "repeated_opens": 1}}
        assert any("1 second closes" in line for line in summary.notes())
        iv = wb.query(contact_intervals_sql() + " ORDER BY customer_id, interval_number")
        got = {c: [(r.start_time, None if pd.isna(r.end_time) else r.end_time, r.end_type) for r in g.itertuples()]
               for c, g in iv.groupby("customer_id")}
        t = pd.Timestamp
        assert got == {
            "C1": [(t("2025-01-01 10:00"), t("2025-01-02 09:00"), "delete_by_customer"),
                   (t("2025-01-02 09:00"), None, None)],
            "C2": [(t("2025-01-02 09:00"), t("2025-01-02 09:00"), "delete_by_staff")],
            "C3": [(t("2025-01-02 09:00"), t("2025-01-02 09:00"), "delete_by_customer")],
            "C4": [(t("2025-01-02 09:00"), t("2025-01-04 09:00"), "delete_by_customer")],
        }

    def test_a_delete_before_any_add_is_still_refused_with_the_seeding_hint(self, engine):
        wb = engine(events([("2025-01-02 09:00", "C1", "delete_by_staff"),
                            ("2025-01-03 09:00", "C1", "add")]), as_of="2025-02-01")
        with pytest.raises(DataContractError, match="a delete with no earlier add.*seed its add from a snapshot"):
            wb.validate("contact_events")


# ---------------------------------------------------------------- 8. absent tables
class TestAbsentTables:
    def test_validate_all_lists_absent_tables_and_what_needs_them(self, clean, tmp_path):
        tables = {k: v for k, v in clean.items() if k not in ("coupons", "orders")}
        summary = workbench.open(write(tmp_path, tables), as_of=AS_OF).validate_all()
        assert set(summary.absent) == {"coupons", "orders"}
        assert "value model" in summary.absent["orders"]
        assert any(line.startswith("absent  orders (needed by") for line in summary.notes())
        assert summary["customers"] == len(clean["customers"])


# ---------------------------------------------------------------- 9. crashes become clear errors
class TestClearErrors:
    def test_missing_orders_names_the_table_and_who_needs_it(self, clean, tmp_path):
        tables = {k: v for k, v in clean.items() if k != "orders"}
        wb = workbench.open(write(tmp_path, tables), as_of=AS_OF)
        with pytest.raises(DataContractError, match=r"table 'orders': table is missing.*required by GMV"):
            metrics.conversion(wb, *WINDOW, grain=None)
        with pytest.raises(DataContractError, match=r"table 'orders': table is missing"):
            wb.query("SELECT SUM(amount) AS gmv FROM orders")

    def test_orders_with_no_rows_is_refused(self, clean, tmp_path):
        wb = workbench.open(write(tmp_path, with_changes(clean, orders=clean["orders"].iloc[:0])), as_of=AS_OF)
        with pytest.raises(DataContractError, match="table 'orders': table has no rows"):
            metrics.conversion(wb, *WINDOW, grain=None)

    def test_gbk_csv_is_read_as_gb18030_with_a_warning(self, clean, tmp_path):
        stores = clean["stores"].copy()
        stores["store_name"] = "上海静安店 " + stores["store_id"]
        write(tmp_path, {"stores": clean["stores"]}).joinpath("stores.parquet").unlink()
        stores.to_csv(tmp_path / "stores.csv", index=False, encoding="gbk")
        with pytest.warns(UserWarning, match="stores.csv is not UTF-8.*GB18030"):
            wb = workbench.open(tmp_path, as_of=AS_OF)
        names = wb.frame("stores")["store_name"].tolist()
        assert names == stores["store_name"].tolist()

    def test_undecodable_csv_names_file_line_and_encoding(self, clean, tmp_path):
        text = clean["stores"].to_csv(index=False).encode("utf-8")
        lines = text.split(b"\n")
        lines[3] = lines[3] + b"\xff\xfe"  # not UTF-8, not GB18030
        (tmp_path / "stores.csv").write_bytes(b"\n".join(lines))
        with pytest.raises(DataContractError, match=r"stores.csv is not UTF-8 \(first undecodable byte on line 4\).*iconv"):
            workbench.open(tmp_path, as_of=AS_OF)

    def test_zero_byte_parquet_is_named(self, tmp_path):
        (tmp_path / "orders.parquet").write_bytes(b"")
        with pytest.raises(DataContractError, match=r"table 'orders': orders.parquet is empty \(0 bytes\)"):
            workbench.open(tmp_path, as_of=AS_OF)

    def test_corrupt_parquet_is_named(self, tmp_path):
        (tmp_path / "orders.parquet").write_bytes(b"not a parquet file at all")
        with pytest.raises(DataContractError, match=r"table 'orders': cannot read orders.parquet"):
            workbench.open(tmp_path, as_of=AS_OF)

    def test_self_referencing_symlink_is_named(self, clean, tmp_path):
        write(tmp_path, {"stores": clean["stores"]})
        os.symlink("orders.parquet", tmp_path / "orders.parquet")
        with pytest.raises(DataContractError, match="orders.parquet is a broken or self-referencing symbolic link"):
            workbench.open(tmp_path, as_of=AS_OF)

    def test_far_future_event_without_as_of_names_row_and_suggests_as_of(self, clean, tmp_path):
        orders = clean["orders"].copy()
        orders.loc[42, "order_time"] = pd.Timestamp("2099-01-01 12:00")
        folder = write(tmp_path, with_changes(clean, orders=orders))
        with pytest.raises(DataContractError, match=r"table 'orders', column 'order_time': time later than today.*--as-of") as err:
            workbench.open(folder, validate=False).data_end()
        assert orders.loc[42, "order_id"] in str(err.value)
        from workbench.reports import default_as_of

        with pytest.raises(DataContractError, match="--as-of"):
            default_as_of(folder)
        # with an analysis date the row is simply after it
        assert workbench.open(folder, as_of=AS_OF).rows_after_as_of()["orders"] == 1

    def test_unbalanced_quote_is_a_parameter_error(self, clean):
        wb = workbench.open(clean, as_of=AS_OF)
        with pytest.raises(ParameterError, match="unbalanced quote"):
            wb.query("SELECT * FROM orders WHERE store_id = 'O'NEIL'")


# ---------------------------------------------------------------- 10. backfills
class TestBackfill:
    CUT = "2025-07-01"

    def test_full_snapshot_read_as_of_an_earlier_date(self, clean, tmp_path):
        wb = workbench.open(write(tmp_path / "full", clean), as_of=self.CUT)
        cut = pd.Timestamp(self.CUT)
        before = {name: clean[name][clean[name][col] < cut] for name, col in
                  [("orders", "order_time"), ("contact_events", "event_time"), ("touches", "event_time"),
                   ("scans", "event_time"), ("group_events", "event_time"), ("coupons", "issued_at"),
                   ("staff_daily", "stat_date"), ("mass_sends", "created_at")]}
        after = wb.rows_after_as_of()
        for name, kept in before.items():
            assert after[name] == len(clean[name]) - len(kept), name
            assert wb.scalar(f"SELECT COUNT(*) FROM {name}") == len(kept), name
        # the numbers for June equal those of an export that ended on the as-of date
        coupons = before["coupons"].copy()
        late = coupons["redeemed_at"] >= cut
        coupons.loc[late, ["redeemed_at", "redeemed_order_id"]] = None
        staff = clean["staff"].copy()
        staff.loc[staff["left_at"] >= cut, "left_at"] = pd.NaT
        cut_export = write(tmp_path / "cut", with_changes(clean, **{**before, "coupons": coupons, "staff": staff}))
        wb_cut = workbench.open(cut_export, as_of=self.CUT)
        assert wb_cut.rows_after_as_of() == {name: 0 for name in before}
        june = ("2025-06-01", self.CUT)
        pd.testing.assert_frame_equal(metrics.conversion(wb, *june, grain=None), metrics.conversion(wb_cut, *june, grain=None))
        assert wb.scalar("SELECT COUNT(*) FROM coupons WHERE redeemed_at IS NOT NULL") == coupons["redeemed_at"].notna().sum()
        assert wb.scalar("SELECT COUNT(*) FROM coupons WHERE redeemed_order_id IS NOT NULL") == \
            coupons["redeemed_order_id"].notna().sum()

    def test_strict_refuses_rows_after_as_of(self, clean, tmp_path, monkeypatch):
        folder = write(tmp_path, clean)
        with pytest.raises(DataContractError, match="order_time': timestamp at or after as_of 2025-07-01"):
            workbench.open(folder, as_of=self.CUT, strict=True).validate("orders")
        monkeypatch.setenv("WORKBENCH_STRICT_AS_OF", "1")
        wb = workbench.open(folder, as_of=self.CUT)
        assert wb.strict and wb.rows_after_as_of() == {}
        with pytest.raises(DataContractError, match="data from the future"):
            wb.validate("orders")
