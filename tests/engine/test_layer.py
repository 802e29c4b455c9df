"""The persisted derived layer (workbench.engine.layer): read when current, incremental by day, same on every engine."""
from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench import contract, relations
from workbench.churn.spells import contact_spells, spell_counts, spell_covariates
from workbench.clv.pipeline import customer_value
from workbench.derived_layer import build_layer, layer_relations, layer_status
from workbench.engine import open_workbench, table_sources
from workbench.engine.layer import default_layer_dir
from workbench.pages._base import last_complete_month

DAYS = 7


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), ignore_index=True, na_position="first")


def _relation_frames(layer_dir: Path) -> dict[str, pd.DataFrame]:
    manifest = json.loads((layer_dir / "manifest.json").read_text())
    folder = layer_dir / manifest["folder"]
    return {name: _sorted(pd.read_parquet(folder / entry["file"])) for name, entry in manifest["relations"].items()}


def _write_day(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, folder: Path) -> None:
    """The data folder as the export stands on ``as_of``: event rows before it (files rewritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        col = contract.ROW_TIME.get(name)
        out = df[df[col] < as_of] if col is not None and col in df.columns else df
        out.to_parquet(folder / f"{name}.parquet", index=False)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory):
    """A simulated brand cut into a week of daily exports, with a late event, a correction and a staff change.

    Returns (tables of the last day, the as-of dates, the data folder, the incremental layer folder,
    the per-day (LayerBuild, incremental frames, full-rebuild frames)).
    """
    from workbench.simulate import simulate_brand

    root = tmp_path_factory.mktemp("layer-week")
    brand = simulate_brand(2_000, seed=3, n_stores=4, n_staff=12, months=3)
    tables = {k: v.copy() for k, v in brand.tables.items()}
    end = pd.Timestamp(brand.truth["as_of"]).normalize()
    dates = [end - pd.Timedelta(days=DAYS - k) for k in range(DAYS + 1)]
    ce = tables["contact_events"]
    # a contact event of day 2 (in [dates[1], dates[2])) that reaches the export only on day 4
    late = ce.index[(ce["event_time"] >= dates[1]) & (ce["event_time"] < dates[2])][0]
    orders, touches = tables["orders"], tables["touches"]
    repeat = orders[orders["order_time"] < dates[0]].groupby("customer_id")["order_id"].transform("size") > 1
    corrected = repeat[repeat].index[0]            # an old order of a repeat buyer: its amount is corrected on day 5
    deleted = touches.index[(touches["event_time"] < dates[0]) & (touches["touch_type"] == "chat")][0]
    # coupons of POS orders kept in the layer's bucket rows all week (from the last day's month on): one is
    # credited to another guide from day 3, one changes source (WeCom or not) from day 4
    coupons = tables["coupons"]
    kept = orders[(orders["order_time"] >= last_complete_month(dates[-1])[0]) & (orders["order_time"] < dates[0])
                  & (orders["order_channel"] == "pos")].merge(coupons, on="coupon_id")
    reissued = coupons.index[coupons["coupon_id"] == kept[kept["issue_source"] == "wecom"]["coupon_id"].iloc[0]][0]
    other_staff = tables["staff"]["staff_id"][tables["staff"]["staff_id"] != coupons.at[reissued, "issued_by_staff_id"]]
    switched = coupons.index[coupons["coupon_id"] == kept["coupon_id"].iloc[-1]][0]
    data, layer = root / "data", root / "layer"
    days = []
    for k, at in enumerate(dates):
        day = {n: df.copy() for n, df in tables.items()}
        if k >= 3:
            day["coupons"].loc[reissued, "issued_by_staff_id"] = other_staff.iloc[0]
        if k >= 4:
            day["coupons"].loc[switched, "issue_source"] = \
                "other" if coupons.at[switched, "issue_source"] == "wecom" else "wecom"
        if k in (2, 3):
            day["contact_events"] = day["contact_events"].drop(index=late)
        if k >= 5:
            day["orders"].loc[corrected, "amount"] = day["orders"].loc[corrected, "amount"] + 10.0
            day["touches"] = day["touches"].drop(index=deleted)
        if k >= 6:
            day["staff"].loc[day["staff"].index[0], "store_id"] = day["staff"]["store_id"].iloc[-1]
        _write_day(day, at, data)
        built = build_layer(data, as_of=at, out=layer)
        build_layer(data, as_of=at, out=root / f"full-{k}", full=True)
        days.append((built, _relation_frames(layer), _relation_frames(root / f"full-{k}")))
    return day, dates, data, layer, days


def test_a_week_of_incremental_builds_equals_full_rebuilds_exactly(week):
    """Day by day, the updated layer has exactly the rows of a full rebuild on that day's files."""
    _, dates, _, _, days = week
    assert days[0][0].mode == "full"
    for k, (built, incremental, full) in enumerate(days):
        if k:
            assert built.mode == "incremental", (k, built.reason)
            assert built.changed_keys is not None and 0 < built.changed_keys < 2_000
        assert built.as_of == dates[k].date().isoformat()
        assert len(incremental) == len(layer_relations())
        for name, frame in full.items():
            pd.testing.assert_frame_equal(incremental[name], frame, check_exact=True, obj=f"day {k}: {name}")
            assert built.relations[name] == len(frame)


def test_the_late_event_the_correction_and_the_staff_change_are_found(week):
    """Late rows and corrections are found by fingerprint; a changed dimension rebuilds its readers in full."""
    _, _, _, _, days = week
    late_day, corrected_day, staff_day = days[4][0], days[5][0], days[6][0]
    # the late contact event's customer and the corrected customers are recomputed with the day's new events
    assert "staff changed" in staff_day.reason and "__wb_spell_covariates" in staff_day.reason
    assert "staff" not in late_day.reason and "staff" not in corrected_day.reason
    assert days[5][1]["clv_buyers"]["monetary_value"].sum() != days[4][1]["clv_buyers"]["monetary_value"].sum()


def _rebuilt_buckets(days: list) -> list[int]:
    """The days whose build rebuilt the bucket rows in full."""
    return [k for k, (built, *_) in enumerate(days)
            if built.mode == "full" or "__wb_bucket_rows" in built.reason.split("rebuilt in full")[-1]]


def test_the_value_buckets_are_updated_by_customer_with_coupon_changes_and_a_new_month(week):
    """The bucket rows are merged, not rebuilt, on days without a staff change; changed coupons are recomputed.

    Day 3 brings a coupon credited to another guide; day 4 a coupon that changes source; day 7 a new month
    (the window is the bucket rows of the month that ended, the rows kept from the running month).
    """
    _, dates, _, _, days = week
    assert _rebuilt_buckets(days) == [0, 6], [(k, d[0].reason) for k, d in enumerate(days)]  # full, staff change
    windows = [next(n for n in inc if n.startswith("__wb_buckets_")) for _, inc, _ in days]
    assert len(set(windows[:7])) == 1 and windows[7] != windows[6]        # the month moved on the last day
    rows = [inc["__wb_bucket_rows"] for _, inc, _ in days]
    assert rows[7]["order_time"].min() >= last_complete_month(dates[7])[0] > rows[6]["order_time"].min()
    pd.testing.assert_frame_equal(days[7][1][windows[7]], _sorted(
        rows[7][rows[7]["order_time"] < dates[7].replace(day=1)][list(days[7][1][windows[7]].columns)]),
        check_exact=True)
    # the coupon changes show in the kept rows of the days they happen (and equal the full rebuilds: above)
    state = ["coupon_hit", "coupon_staff"]
    for k in (3, 4):
        pair = rows[k - 1].merge(rows[k], on=["customer_id", "order_time", "coupon_id"], suffixes=("_0", "_1"))
        moved = pd.concat([pair[f"{c}_0"].astype(str) != pair[f"{c}_1"].astype(str) for c in state], axis=1)
        assert moved.any(axis=1).sum() == 1, (k, pair[moved.any(axis=1)])


KEYED = ("contact_events", "group_events", "touches", "orders")


def _filekeys(layer_dir: Path) -> dict[str, pd.DataFrame]:
    """The layer's (file, customer) pairs per keyed table, sorted."""
    manifest = json.loads((layer_dir / "manifest.json").read_text())
    folder = layer_dir / manifest["folder"]
    return {t: _sorted(pd.read_parquet(folder / f)) for t, f in manifest["filekeys"].items()}


def _append_day(frames: dict[str, pd.DataFrame], schemas: dict, day: pd.Timestamp, folder: Path) -> set[str]:
    """Write ``<table>/day-YYYY-MM-DD.parquet`` of each keyed table (the rows given); the customers written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written: set[str] = set()
    for name, rows in frames.items():
        if len(rows):
            (folder / name).mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pandas(rows, schema=schemas[name], preserve_index=False)  # the export's schema
            pq.write_table(table, folder / name / f"day-{day.date()}.parquet")
            written |= set(rows["customer_id"].dropna())
    return written


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory):
    """The simulated week as a daily-append export: each keyed table a folder gaining one file per day.

    Other tables are rewritten whole each day. A contact event of day 1 arrives late, in day 3's
    file (seen on day 4); on day 5 an old day's orders file is rewritten with a corrected amount;
    on day 6 an old day's touches file is deleted (its rows gone). Returns (the tables, the as-of
    dates, the per-day (LayerBuild, incremental frames, full-rebuild frames, customers expected
    affected)).
    """
    import pyarrow as pa

    from workbench.simulate import simulate_brand

    root = tmp_path_factory.mktemp("layer-daily")
    brand = simulate_brand(2_000, seed=3, n_stores=4, n_staff=12, months=3)
    tables = {k: v.copy() for k, v in brand.tables.items()}
    end = pd.Timestamp(brand.truth["as_of"]).normalize()
    dates = [end - pd.Timedelta(days=DAYS - k) for k in range(DAYS + 1)]
    one = pd.Timedelta(days=1)
    # an order without a customer on day 2 (seen on day 3): only the bucket rows keep such orders
    guest = tables["orders"].iloc[[0]].assign(order_id="GUEST-1", customer_id=None, order_channel="pos",
                                              order_time=dates[2] + pd.Timedelta(hours=12), coupon_id=None,
                                              task_id=None, share_staff_id=None)
    tables["orders"] = pd.concat([tables["orders"], guest], ignore_index=True)
    schemas = {n: pa.Schema.from_pandas(tables[n], preserve_index=False) for n in KEYED}
    day_of = {n: tables[n][contract.ROW_TIME[n]].dt.normalize().copy() for n in KEYED}
    ce = tables["contact_events"]
    late = ce.index[day_of["contact_events"] == dates[1]][0]
    day_of["contact_events"].loc[late] = dates[3]                  # exported with day 3's rows
    orders = tables["orders"]
    corrected = orders.index[orders["order_time"] < dates[0] - 10 * one][-1]
    deleted_day = dates[0] - 20 * one
    data, layer = root / "data", root / "layer"

    def rows_of(day: pd.Timestamp, name: str) -> pd.DataFrame:
        return tables[name][day_of[name] == day]

    days = []
    for k, at in enumerate(dates):
        if k == 0:
            for day in sorted(set().union(*(set(d[d < at]) for d in day_of.values()))):
                _append_day({n: rows_of(day, n) for n in KEYED}, schemas, day, data)
            expected = None
        else:
            expected = _append_day({n: rows_of(dates[k - 1], n) for n in KEYED}, schemas, dates[k - 1], data)
        if k == 5:  # a correction rewrites an old day's file: all its customers are recomputed
            fix_day = day_of["orders"][corrected]
            tables["orders"].loc[corrected, "amount"] += 10.0
            expected |= _append_day({"orders": rows_of(fix_day, "orders")}, schemas, fix_day, data)
        if k == 6:  # a removed file: its customers are recomputed, its rows are gone
            gone = rows_of(deleted_day, "touches")
            (data / "touches" / f"day-{deleted_day.date()}.parquet").unlink()
            tables["touches"] = tables["touches"].drop(index=gone.index)
            day_of["touches"] = day_of["touches"].drop(index=gone.index)
            expected |= set(gone["customer_id"].dropna())
        _write_day({n: df for n, df in tables.items() if n not in KEYED}, at, data)
        built = build_layer(data, as_of=at, out=layer)
        build_layer(data, as_of=at, out=root / f"full-{k}", full=True)
        keys = (_filekeys(layer), _filekeys(root / f"full-{k}"))
        days.append((built, _relation_frames(layer), _relation_frames(root / f"full-{k}"), expected, keys))
    return tables, dates, days


def test_daily_appended_files_update_only_their_customers_and_equal_full_rebuilds(daily):
    """Per-file change detection: each day recomputes the customers of the new, rewritten and removed files only."""
    tables, dates, days = daily
    # the order without a customer, new on day 3, rebuilds the bucket rows (which hold it) that day only
    assert _rebuilt_buckets(days) == [0, 3] and "new orders rows without a customer" in days[3][0].reason
    assert days[3][1]["__wb_bucket_rows"]["customer_id"].isna().sum() == 1
    # a rewritten single file per table (the week fixture) recomputes every customer with rows
    with_rows = len(set().union(*(set(tables[n]["customer_id"].dropna()) for n in KEYED)))
    assert days[0][0].mode == "full" and "file keys" in days[0][0].reason
    for k, (built, incremental, full, expected, (keys, full_keys)) in enumerate(days):
        if k:
            assert built.mode == "incremental" and "changes found by file keys" in built.reason, (k, built.reason)
            # exactly the customers of the day's files (and of the corrected and removed ones): 123-638 of ~1,700
            assert built.changed_keys == len(expected), (k, built.changed_keys, len(expected))
            assert 0 < built.changed_keys < with_rows / 2
        for name, frame in full.items():
            pd.testing.assert_frame_equal(incremental[name], frame, check_exact=True, obj=f"day {k}: {name}")
            assert built.relations[name] == len(frame)
        # the (file, customer) pairs carried forward are those a full rebuild finds, each once
        assert built.relations["__wb_bucket_rows"] == len(full["__wb_bucket_rows"])
        for t in KEYED:
            pd.testing.assert_frame_equal(keys[t], full_keys[t], check_exact=True, obj=f"day {k}: {t} file keys")


def test_without_files_the_layer_falls_back_to_row_fingerprints(daily, tmp_path):
    """DataFrame sources have no files: the update finds changed customers by row fingerprints, still exactly."""
    tables, dates, _ = daily
    layer = tmp_path / "layer"
    first = build_layer(tables, as_of=dates[3], out=layer)
    assert first.mode == "full" and "row fingerprints" in first.reason
    built = build_layer(tables, as_of=dates[4], out=layer)
    assert built.mode == "incremental" and "changes found by row fingerprints" in built.reason, built.reason
    build_layer(tables, as_of=dates[4], out=tmp_path / "full", full=True)
    assert built.changed_keys is not None and 0 < built.changed_keys < 2_000
    for name, frame in _relation_frames(tmp_path / "full").items():
        pd.testing.assert_frame_equal(_relation_frames(layer)[name], frame, check_exact=True, obj=name)
    assert layer_status(tables, dates[4], out=layer) == "stale: " + ", ".join(sorted(tables)) \
        + " not read from local files"


def test_reading_the_layer_gives_the_same_results_as_building(week):
    """Reading the layer is transparent: intervals, spells, spell counts and the CLV table are unchanged."""
    _, dates, data, layer, _ = week
    at = dates[-1]
    with_layer = open_workbench(data, as_of=at, layer=layer)
    without = open_workbench(data, as_of=at, layer=None)
    assert with_layer.layer is not None and without.layer is None
    checks = {
        "intervals": lambda wb: wb.query(relations.contact_intervals(wb)),
        "group intervals": lambda wb: wb.query(relations.group_intervals(wb)),
        "first adds": lambda wb: wb.query(relations.first_adds(wb)),
        "spells": lambda wb: contact_spells(wb, at, level="customer_staff"),
        "customer spells": lambda wb: contact_spells(wb, at),
        "covariates": lambda wb: spell_covariates(wb, at),
        "spell counts": lambda wb: spell_counts(wb, at, by=["channel_group", "early_chats"]),
        "customer value": lambda wb: customer_value(wb, at, exclude_experiment_orders=True).customers,
    }
    for what, get in checks.items():
        pd.testing.assert_frame_equal(_sorted(get(with_layer)), _sorted(get(without)), check_exact=True, obj=what)
    # the layer was read, not rebuilt: the spell table is a view over the layer's Parquet
    views = with_layer.con.sql("SELECT view_name, sql FROM duckdb_views() WHERE sql LIKE '%read_parquet%'").df()
    assert {"__wb_contact_intervals", "__wb_spell_covariates", "clv_buyers"} <= set(views["view_name"])
    assert not without.con.sql("SELECT * FROM duckdb_views() WHERE view_name = 'clv_buyers'").df().shape[0]
    # the default options are what the layer holds; other options are built, and the layer is read again after
    other = customer_value(with_layer, at).customers
    pd.testing.assert_frame_equal(_sorted(other), _sorted(customer_value(without, at).customers), check_exact=True)
    again = customer_value(with_layer, at, exclude_experiment_orders=True).customers
    pd.testing.assert_frame_equal(_sorted(again), _sorted(checks["customer value"](without)), check_exact=True)


def test_a_stale_layer_is_not_read_and_says_why(week, tmp_path):
    """A layer whose files or as-of differ is not read; layer_status says why."""
    _, dates, data, layer, _ = week
    copy, copied_layer = tmp_path / "data", tmp_path / "layer"
    shutil.copytree(data, copy)
    shutil.copytree(layer, copied_layer)
    # copying keeps nothing of the snapshot: the paths differ
    assert layer_status(copy, dates[-1], out=copied_layer).startswith("stale: source files changed")
    assert layer_status(data, dates[-1], out=layer) == "current"
    assert layer_status(data, dates[-2], out=layer).startswith("stale: built as of")
    assert layer_status(data, dates[-1], out=tmp_path / "nowhere") == "absent"
    built = build_layer(copy, as_of=dates[-1], out=copied_layer)
    assert built.mode == "incremental" and layer_status(copy, dates[-1], out=copied_layer) == "current"
    orders = pd.read_parquet(copy / "orders.parquet")
    orders.iloc[:-1].to_parquet(copy / "orders.parquet", index=False)
    assert layer_status(copy, dates[-1], out=copied_layer) == "stale: source files changed (orders)"
    assert open_workbench(copy, as_of=dates[-1], layer=copied_layer).layer is None


def test_the_layer_folder_is_not_a_table_and_auto_finds_it(tmp_path):
    """The default layer folder sits in the data folder, is not a table, and is found by layer='auto'."""
    for name, df in tiny_brand().items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    sources = table_sources(tmp_path)
    built = build_layer(tmp_path, as_of="2025-02-01")
    assert built.path == default_layer_dir(tmp_path) and built.mode == "full"
    assert table_sources(tmp_path) == sources
    wb = workbench.open(tmp_path, as_of="2025-02-01")
    assert wb.layer is not None and wb.tables == sorted(wb.tables, key=list(contract.TABLES).index)
    assert workbench.open(tmp_path, as_of="2025-02-02").layer is None      # another as-of date
    assert build_layer(tmp_path, as_of="2025-02-01").mode == "reused"


def test_a_layer_of_another_package_version_is_rebuilt(tmp_path):
    """A layer written by another package version is stale and rebuilt in full."""
    for name, df in tiny_brand().items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    build_layer(tmp_path, as_of="2025-02-01")
    manifest_path = default_layer_dir(tmp_path) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["package_version"] = "0.0.1-old"
    manifest_path.write_text(json.dumps(manifest))
    why = layer_status(tmp_path, "2025-02-01")
    assert why == f"stale: built by workbench 0.0.1-old, this is {workbench.__version__}"
    assert workbench.open(tmp_path, as_of="2025-02-01").layer is None
    again = build_layer(tmp_path, as_of="2025-02-01")
    assert again.mode == "full" and "0.0.1-old" in again.reason
    assert layer_status(tmp_path, "2025-02-01") == "current"


def test_the_layer_is_the_same_on_every_engine(engine, tmp_path):
    """Build and update a layer on the fixture's engine: read back, its relations equal those built in place."""
    tables = tiny_brand()
    for name, df in tables.items():  # microsecond times: Spark reads no nanosecond Parquet timestamps
        df.to_parquet(tmp_path / f"{name}.parquet", index=False, coerce_timestamps="us")
    probe = engine(tables, as_of="2025-02-01")

    def options() -> dict:
        """A backend of the fixture's engine for each workbench the layer opens (DuckDB by default)."""
        if probe.dialect != "spark":
            return {}
        from workbench.engine.spark import SparkBackend

        return {"backend": SparkBackend(probe.backend.spark)}

    # a layer as of an earlier day, then updated: the incremental path runs on this engine too
    assert build_layer(tmp_path, as_of="2025-01-03", **options()).mode == "full"
    built = build_layer(tmp_path, as_of="2025-02-01", **options())
    assert built.mode == "incremental" and built.changed_keys == 2, built.reason   # C3 and C4 have later rows
    fixed = {n: v for n, v in built.relations.items() if not n.startswith("__wb_buckets_")}
    assert fixed == {"__wb_contact_intervals": 5, "__wb_group_intervals": 2, "__wb_first_adds": 3,
                     "__wb_spell_base": 5, "__wb_spell_covariates": 5, "clv_buyers": 4, "__wb_bucket_rows": 7}
    read = open_workbench(tmp_path, as_of="2025-02-01", **options())
    assert read.layer is not None
    at = pd.Timestamp("2025-02-01")
    for r in layer_relations():  # read from the layer on this engine = built in place on this engine
        r.build(read, at)
        r.build(probe, at)
        name = r.table_name(read, at)
        got, want = (_sorted(wb.query(f"SELECT * FROM {name}")) for wb in (read, probe))
        assert len(got) == built.relations[name]
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=r.name)
    spans = read.query(f"SELECT customer_id FROM ({relations.contact_intervals(read)}) i ORDER BY 1")
    assert list(spans["customer_id"]) == ["C1", "C1", "C2", "C2", "C3"]


def test_the_restricted_rows_are_the_typed_rows_of_those_customers(tmp_path):
    """The restricted view reads the key before the other reading rules: its rows are the typed view's rows of the keys.

    Raw ids with spaces, a null marker and a float-written integral id; identical contact events (one
    event: the typed view's DISTINCT) and two that differ only in a column the layer does not keep.
    """
    from workbench.derived_layer import ROW_COLUMNS, _kept_once
    from workbench.layer_changes import KEYED_TABLES

    t0 = pd.Timestamp("2025-01-01 10:00")
    touches = pd.DataFrame({"event_time": [t0 + pd.Timedelta(hours=h) for h in range(7)],
                            "customer_id": ["C1", " C1", "C2 ", "NULL", "7.0", "7", "C3"],
                            "staff_id": ["E1", " E1 ", "E2", "E1", "7.00", "\\N", "E2"],
                            "touch_type": ["chat"] * 7, "note": list("abcdefg")})
    contacts = pd.DataFrame({"event_time": [t0] * 4 + [t0 + pd.Timedelta(days=40)],
                             "customer_id": ["C1", "C1 ", "7", "7", "C1"], "staff_id": ["E1"] * 5,
                             "event_type": ["add"] * 5, "origin": ["x", "x", "x", "y", "x"]})
    touches.to_parquet(tmp_path / "touches.parquet", index=False)
    contacts.to_parquet(tmp_path / "contact_events.parquet", index=False)
    # not validated: a null marker is no customer (refused by validation, read as NULL by the views)
    wb = open_workbench(tmp_path, as_of="2025-02-01", layer=None, strict=False, validate=False)
    wb.backend.materialise("__keys", "SELECT * FROM (VALUES ('C1'), ('7')) k(customer_id)")
    want = {t: _sorted(wb.query(f"SELECT * FROM {t} WHERE customer_id IN ('C1', '7')"))
            for t in ("touches", "contact_events")}
    assert len(want["touches"]) == 4 and len(want["contact_events"]) == 3
    with wb.restricted("__keys", KEYED_TABLES):
        for t, frame in want.items():
            pd.testing.assert_frame_equal(_sorted(wb.query(f"SELECT * FROM {t}")), frame, check_exact=True, obj=t)
        with _kept_once(wb, ["touches", "contact_events"]):  # the kept columns of the same rows
            for t, frame in want.items():
                kept = _sorted(wb.query(f"SELECT * FROM {t}"))
                assert list(kept.columns) == list(ROW_COLUMNS[t])
                pd.testing.assert_frame_equal(kept, _sorted(frame[list(ROW_COLUMNS[t])]), check_exact=True, obj=t)
    assert len(wb.query("SELECT * FROM touches")) == 7  # the full view again after the block


def test_the_kept_columns_hold_every_column_the_recomputed_relations_read(tmp_path):
    """An update keeps only ``ROW_COLUMNS`` of the affected customers' rows.

    Every relation recomputed from them equals the relation recomputed from every column (a relation
    reading a column not kept fails here).
    """
    from workbench.derived_layer import ROW_COLUMNS, _kept_once
    from workbench.layer_changes import KEY, KEYED_TABLES
    from workbench.simulate import simulate_brand

    brand = simulate_brand(400, seed=5, n_stores=3, n_staff=8, months=3)
    for name, df in brand.tables.items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    at = pd.Timestamp(brand.truth["as_of"]).normalize()
    wb = open_workbench(tmp_path, as_of=at, layer=None, strict=False)
    for t in KEYED_TABLES:  # every kept column is a contract column the data has
        assert KEY in ROW_COLUMNS[t] and set(ROW_COLUMNS[t]) <= set(wb.columns(t)), t
    wb.backend.materialise("__keys", "SELECT DISTINCT customer_id FROM orders WHERE hash(customer_id) % 2 = 0")
    rels = [r for r in layer_relations() if not r.derived]
    frames: list[dict[str, pd.DataFrame]] = []
    for pruned in (False, True):
        with wb.restricted("__keys", KEYED_TABLES), (_kept_once(wb, list(KEYED_TABLES)) if pruned
                                                    else _no_block()):
            for r in rels:
                r.build(wb, at)
            frames.append({r.name: _sorted(wb.query(f"SELECT * FROM {r.table_name(wb, at)}")) for r in rels})
    assert all(len(f) > 0 for f in frames[0].values())
    for name, frame in frames[0].items():
        pd.testing.assert_frame_equal(frames[1][name], frame, check_exact=True, obj=name)


@contextmanager
def _no_block():
    yield
