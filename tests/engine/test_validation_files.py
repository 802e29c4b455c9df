"""Validation remembered per file: a folder that gains a file validates the new file's rows and what they can break.

Each refusal is compared with a cold validation's (same table, column, problem, count and first rows); the
daily-export test appends a simulated brand's days one at a time and checks that the remembered validation accepts
and refuses exactly what a cold one does. DuckDB only: other engines validate a table with new files in full.
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from tests.engine.test_validation_cache import count_validations, same_refusal
from tests.handbuilt import tiny_brand
from workbench import contract
from workbench.engine import validation as engine
from workbench.engine import validation_files

AS_OF, LATER = "2025-02-01", "2025-03-01"
FOLDERS = ("orders", "contact_events", "group_events")


@pytest.fixture
def brand(tmp_path, monkeypatch):
    """The tiny brand as files, its event tables as folders of one file each, with a private cache."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_VALIDATION_CACHE", raising=False)
    engine._digests.clear()
    data = tmp_path / "brand"
    data.mkdir()
    for name, frame in tiny_brand().items():
        if name in FOLDERS:
            (data / name).mkdir()
            write(frame, data / name / "part-0.parquet", name)
        else:
            write(frame, data / f"{name}.parquet", name)
    return data


def write(frame: pd.DataFrame, path, table: str) -> None:
    """Write ``frame`` with the tiny brand's schema of ``table`` (a daily export keeps its column types)."""
    schema = pa.Schema.from_pandas(tiny_brand()[table], preserve_index=False)
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)


def append(data, table: str, file: str, *rows: dict) -> None:
    """A new file ``file`` in ``table``'s folder with ``rows`` (other columns NULL)."""
    columns = tiny_brand()[table].columns
    write(pd.DataFrame([{c: r.get(c) for c in columns} for r in rows]), data / table / file, table)


def validated(data, as_of, *tables, **options):
    """A workbench on ``data`` at ``as_of`` with ``tables`` validated."""
    wb = workbench.open(data, as_of=as_of, **options)
    for table in tables:
        wb.validate(table)
    return wb


def cold(data, as_of, table, monkeypatch, **options):
    """The refusal of a validation with nothing remembered."""
    with monkeypatch.context() as m, pytest.raises(workbench.DataContractError) as err:
        m.setenv("WORKBENCH_VALIDATION_CACHE", "0")
        validated(data, as_of, table, **options)
    return err.value


def order(order_id: str, customer: str = "C1", time: str = "2025-01-20", amount: float = 5.0, **more) -> dict:
    """An order row."""
    return dict(order_id=order_id, customer_id=customer, order_time=pd.Timestamp(time), amount=amount,
                order_channel="pos", **more)


def event(time: str, customer: str, staff: str, kind: str) -> dict:
    """A contact event row."""
    return dict(event_time=pd.Timestamp(time), customer_id=customer, staff_id=staff, event_type=kind)


class TestNewFiles:
    """A folder that gained files: only the new rows and what they can break are checked."""

    def test_a_new_file_is_checked_alone_and_accepted(self, brand, monkeypatch):
        """Good rows in a new file: accepted without a full validation; the per-row scan reads only them."""
        validated(brand, AS_OF, "orders", "contact_events")
        append(brand, "orders", "day-2025-01-20.parquet", order("O8"), order("O9", "C2", store_id="S2"))
        append(brand, "contact_events", "day-2025-01-20.parquet", event("2025-01-20", "C2", "E1", "delete_by_staff"))
        calls = count_validations(monkeypatch)
        wb = workbench.open(brand, as_of=AS_OF)
        queries: list[str] = []
        fetch = wb._fetch
        wb._fetch = lambda q: queries.append(q) or fetch(q)
        wb.validate("orders")
        wb.validate("contact_events")
        assert calls == []
        assert wb.validation_kind["orders"] == f"new files since {pd.Timestamp(AS_OF)}: 1"
        assert wb.validation_kind["contact_events"] == f"new files since {pd.Timestamp(AS_OF)}: 1"
        # the per-row scans read the new file's rows only
        scans = [q for q in queries if q.startswith("SELECT SUM(")]
        assert len(scans) == 2 and all("__wb_new_" in q for q in scans)
        assert validated(brand, AS_OF, "orders").validation_kind["orders"] == "remembered"
        assert wb.query("SELECT COUNT(*) AS n FROM orders")["n"].iloc[0] == 9

    @pytest.mark.parametrize("table, rows, problem", [
        ("orders", [order("O8", amount=-3.0)], "below 0"),                       # a per-row problem
        ("orders", [order("O8"), order("O3", "C9")], "duplicate key"),            # O3 is in the old file
        ("orders", [order("O8", store_id="S9")], "not found in stores"),          # a dangling reference
        ("orders", [order("O8", task_id="T9")], "not found in tasks"),
        # a late delete before the pair's only add (in the old file): no add before it
        ("contact_events", [event("2025-01-03 09:00", "C3", "E3", "delete_by_customer")], "with no earlier add"),
        ("contact_events", [event("2025-01-20", "C5", "E9", "add")], "not found in staff"),
        ("group_events", [dict(event_time=pd.Timestamp("2025-01-20"), customer_id="C9", group_id="G1",
                               event_type="leave")], "with no earlier join"),
    ])
    def test_a_bad_row_in_a_new_file_is_refused_as_a_cold_validation_refuses_it(self, brand, monkeypatch, table,
                                                                               rows, problem):
        """Each kind of check: the narrowed validation gives the cold validation's error."""
        validated(brand, AS_OF, table)
        append(brand, table, "day-2025-01-20.parquet", *rows)
        calls = count_validations(monkeypatch)
        with pytest.raises(workbench.DataContractError) as err:
            validated(brand, AS_OF, table)
        assert calls == []  # found by the narrowed checks
        assert problem in err.value.problem
        same_refusal(err.value, cold(brand, AS_OF, table, monkeypatch))
        with pytest.raises(workbench.DataContractError):  # a refusal is never remembered
            validated(brand, AS_OF, table)

    def test_a_padded_id_in_a_new_file_is_refused_as_a_cold_validation_refuses_it(self, brand, monkeypatch):
        """Rule 6 across tables: a new file's "0042" against a customer "42" (the customers file changed too)."""
        validated(brand, AS_OF, "orders")
        write(pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4", "42"]}), brand / "customers.parquet", "customers")
        append(brand, "orders", "day-2025-01-20.parquet", order("O8", "0042"))
        calls = count_validations(monkeypatch)
        with pytest.raises(workbench.DataContractError) as err:
            validated(brand, AS_OF, "orders")
        assert calls == [] and "written two ways" in err.value.problem
        same_refusal(err.value, cold(brand, AS_OF, "orders", monkeypatch))

    def test_new_files_and_a_later_as_of_check_both_kinds_of_rows(self, brand, monkeypatch):
        """A later as-of with new files: old rows that the later date shows are checked too."""
        # an old-file order of [AS_OF, LATER) repeats a key: left out at AS_OF, a duplicate at LATER
        write(pd.concat([tiny_brand()["orders"], pd.DataFrame([order("O1", time="2025-02-10")])], ignore_index=True),
              brand / "orders" / "part-0.parquet", "orders")
        validated(brand, AS_OF, "orders")
        append(brand, "orders", "day-2025-02-15.parquet", order("O8", time="2025-02-15"))
        calls = count_validations(monkeypatch)
        with pytest.raises(workbench.DataContractError) as err:
            validated(brand, LATER, "orders")
        assert calls == [] and err.value.problem == "duplicate key"
        same_refusal(err.value, cold(brand, LATER, "orders", monkeypatch))

    def test_new_files_and_a_later_as_of_accepted(self, brand):
        """A later as-of with new files (and none for another table) is accepted, narrowed."""
        validated(brand, AS_OF, "orders", "contact_events")
        append(brand, "orders", "day-2025-02-15.parquet", order("O8", time="2025-02-15"))
        wb = validated(brand, LATER, "orders", "contact_events")
        assert wb.validation_kind["orders"] == f"new files since {pd.Timestamp(AS_OF)}: 1"
        assert wb.validation_kind["contact_events"] == f"new files since {pd.Timestamp(AS_OF)}: 0"


class TestChangedFiles:
    """What a remembered pass cannot vouch for."""

    def test_a_changed_or_removed_file_validates_in_full(self, brand, monkeypatch):
        """A rewritten or a removed file of the table: a full validation."""
        append(brand, "orders", "day-2025-01-20.parquet", order("O8"))
        validated(brand, AS_OF, "orders")
        calls = count_validations(monkeypatch)
        append(brand, "orders", "day-2025-01-20.parquet", order("O8", amount=6.0))  # rewritten
        assert validated(brand, AS_OF, "orders").validation_kind["orders"] == "full"
        (brand / "orders" / "day-2025-01-20.parquet").unlink()  # removed
        assert validated(brand, AS_OF, "orders").validation_kind["orders"] == "full"
        assert calls == ["orders", "orders"]

    def test_a_changed_dimension_checks_every_row_against_it(self, brand, monkeypatch):
        """A referenced table that lost a value: every row is checked against it, with the cold error."""
        validated(brand, AS_OF, "orders")
        write(tiny_brand()["stores"].iloc[:1], brand / "stores.parquet", "stores")  # S2 gone: old orders dangle
        calls = count_validations(monkeypatch)
        with pytest.raises(workbench.DataContractError) as err:
            validated(brand, AS_OF, "orders")
        assert calls == ["stores"]  # the changed dimension in full; orders narrowed, but every row vs stores
        assert "not found in stores" in err.value.problem and err.value.n_bad == 2
        same_refusal(err.value, cold(brand, AS_OF, "orders", monkeypatch))

    def test_a_new_file_that_changes_the_folder_types_validates_in_full(self, brand):
        """A new file that widens a column's type may read every file differently: a full validation."""
        validated(brand, AS_OF, "orders")
        frame = pd.DataFrame([order("O8")]).astype({"amount": "str"})  # amount written as text: the folder's is
        frame.to_parquet(brand / "orders" / "day-2025-01-20.parquet", index=False)
        assert validated(brand, AS_OF, "orders").validation_kind["orders"] == "full"


def test_the_remembered_pass_round_trips_and_is_kept_per_place(brand):
    """A pass records every table's files and the padded ids; it serves only later as-of dates."""
    validated(brand, AS_OF, "orders")
    wb = workbench.open(brand, as_of=AS_OF)
    listing = engine.source_listing(wb._sources)
    (prior,) = validation_files._passes(wb, "orders")
    assert prior.as_of == pd.Timestamp(AS_OF) and prior.files["orders"] == {
        r: list(e) for r, e in listing["orders"].items()}
    assert prior.padded == {c: 0 for c in ("order_id", "customer_id", "store_id", "task_id", "share_staff_id",
                                           "coupon_id")}
    assert validation_files._passes(workbench.open(brand, as_of="2025-01-15"), "orders") == []  # earlier as-of
    assert validation_files._passes(workbench.open(brand), "orders") == []  # a pass at a date serves no "now"


# ---------------------------------------------------------------------- a simulated brand, one file a day
DAYS = 5
DAILY = ("orders", "contact_events", "group_events", "touches")


@pytest.fixture(scope="module")
def simulated():
    """A simulated brand's tables and the as-of dates of its last days."""
    from workbench.simulate import simulate_brand

    brand = simulate_brand(1_500, seed=5, n_stores=4, n_staff=10, months=3)
    tables = {k: v.copy() for k, v in brand.tables.items()}
    end = pd.Timestamp(brand.truth["as_of"]).normalize()
    return tables, [end - pd.Timedelta(days=DAYS - k) for k in range(DAYS + 1)]


def _export(tables, folder, day, schemas, first: bool) -> None:
    """Each daily table a folder: on the first day its history before ``day``, later the day before's rows."""
    for name in DAILY:
        frame, time = tables[name], tables[name][contract.ROW_TIME[name]]
        (folder / name).mkdir(parents=True, exist_ok=True)
        start = day - pd.Timedelta(days=1)
        rows = frame[time < day] if first else frame[(time >= start) & (time < day)]
        pq.write_table(pa.Table.from_pandas(rows, schema=schemas[name], preserve_index=False),
                       folder / name / f"day-{start.date()}.parquet")
    for name, frame in tables.items():
        if name not in DAILY:
            frame.to_parquet(folder / f"{name}.parquet", index=False)


def _daily_setup(simulated, tmp_path, monkeypatch):
    """A private validation cache, and the simulated brand's tables, days, daily-table schemas and data folder."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_VALIDATION_CACHE", raising=False)
    tables, dates = simulated
    schemas = {n: pa.Schema.from_pandas(tables[n], preserve_index=False) for n in DAILY}
    return tables, dates, schemas, tmp_path / "data"


def test_daily_files_remembered_accept_and_refuse_what_cold_validations_do(simulated, tmp_path, monkeypatch):
    """Day by day: the remembered validation of the appended files equals a cold one (result and counts)."""
    tables, dates, schemas, data = _daily_setup(simulated, tmp_path, monkeypatch)
    for k, day in enumerate(dates):
        _export(tables, data, day, schemas, first=k == 0)
        remembered = workbench.open(data, as_of=day).validate_all()
        kinds = workbench.open(data, as_of=day)
        with monkeypatch.context() as m:
            m.setenv("WORKBENCH_VALIDATION_CACHE", "0")
            full = workbench.open(data, as_of=day).validate_all()
        assert dict(remembered) == dict(full) and remembered == full
        assert remembered.normalised == full.normalised and remembered.sequences == full.sequences
        assert remembered.duplicate_events == full.duplicate_events
        for name in DAILY:
            kinds.validate(name)
            if k:  # each day's pass is remembered: the next day only adds its files
                assert kinds.validation_kind[name] == "remembered"
    # the next day adds a bad file: a dangling staff id; refused as a cold validation refuses it
    day = dates[-1] + pd.Timedelta(days=1)
    ce = tables["contact_events"]
    bad = ce[ce["event_time"] >= dates[-1] - pd.Timedelta(days=1)].head(1).assign(
        event_time=dates[-1] + pd.Timedelta(hours=3), staff_id="NOBODY", event_type="add")
    pq.write_table(pa.Table.from_pandas(bad, schema=schemas["contact_events"], preserve_index=False),
                   data / "contact_events" / "late.parquet")
    with pytest.raises(workbench.DataContractError) as err:
        validated(data, day, "contact_events")
    assert "not found in staff" in err.value.problem
    same_refusal(err.value, cold(data, day, "contact_events", monkeypatch))


def test_daily_files_are_validated_as_appended(simulated, tmp_path, monkeypatch):
    """Each day after the first, every daily table is validated from its remembered files, not in full."""
    tables, dates, schemas, data = _daily_setup(simulated, tmp_path, monkeypatch)
    for k, day in enumerate(dates):
        _export(tables, data, day, schemas, first=k == 0)
        with monkeypatch.context() as m:
            calls = count_validations(m)
            wb = validated(data, day, *DAILY)
        if k:
            assert {wb.validation_kind[n] for n in DAILY} == {f"new files since {dates[k - 1]}: 1"}
            assert not set(calls) & set(DAILY)
