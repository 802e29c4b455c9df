"""Each named relation of workbench.relations on the tiny brand (tests/handbuilt.py), rows worked by hand."""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench import ParameterError, relations
from workbench.engine import literal

T = pd.Timestamp


@pytest.fixture(scope="module")
def wb(engine):
    """The tiny brand on each engine (DuckDB, Spark), opened once per module: the hand-worked values hold on
    both. Tests must not modify it."""
    return engine(tiny_brand(), as_of="2025-02-01")


def rows(wb, sql: str, columns: list[str], order: list[str] | None = None) -> list[tuple]:
    """The relation's rows as tuples of ``columns``, sorted, with missing values as None."""
    df = wb.query(f"SELECT * FROM ({sql}) r")
    assert set(columns) <= set(df.columns), df.columns
    df = df[columns].sort_values(order or columns, na_position="first")
    return [tuple(None if pd.isna(v) else v for v in r) for r in df.itertuples(index=False)]


def test_contact_intervals_split_a_delete_and_re_add_into_two(wb):
    got = rows(wb, relations.contact_intervals(wb),
               ["customer_id", "staff_id", "channel_code", "start_time", "end_time", "end_type", "interval_number"],
               order=["customer_id", "staff_id", "start_time"])
    assert got == [
        ("C1", "E1", "CASH1", T("2025-01-01 10:00"), T("2025-01-02 09:00"), "delete_by_customer", 1),
        ("C1", "E1", "CASH1", T("2025-01-02 15:00"), None, None, 2),
        ("C2", "E1", "CASH1", T("2025-01-01 11:00"), None, None, 1),
        ("C2", "E2", "CASH1", T("2025-01-01 12:00"), None, None, 1),
        ("C3", "E3", "ADS", T("2025-01-03 10:00"), T("2025-01-05 10:00"), "delete_by_staff", 1),
    ]
    # the materialised relation and the plain SQL are the same rows
    plain = rows(wb, relations.contact_intervals_sql(), ["customer_id", "staff_id", "start_time"])
    assert plain == [(c, s, t) for c, s, _, t, *_ in got]


def test_group_intervals(wb):
    got = rows(wb, relations.group_intervals(wb),
               ["customer_id", "group_id", "start_time", "end_time", "end_type", "interval_number"])
    assert got == [
        ("C2", "G1", T("2025-01-01 13:00"), None, None, 1),
        ("C4", "G1", T("2025-01-04 10:00"), T("2025-01-06 10:00"), "leave", 1),
    ]


@pytest.mark.parametrize("at, open_pairs", [
    ("2025-01-02 09:00", {("C2", "E1"), ("C2", "E2")}),          # C1's delete second: already closed
    ("2025-01-01 10:00", {("C1", "E1")}),                        # the add second: already open
    ("2025-01-04 00:00", {("C1", "E1"), ("C2", "E1"), ("C2", "E2"), ("C3", "E3")}),
    ("2025-01-05 10:00", {("C1", "E1"), ("C2", "E1"), ("C2", "E2")}),
])
def test_open_at_is_start_inclusive_end_exclusive(wb, at, open_pairs):
    sql = (f"SELECT DISTINCT customer_id, staff_id FROM ({relations.contact_intervals(wb)}) iv "
           f"WHERE {relations.open_at_sql('iv', literal(T(at)))}")
    assert set(rows(wb, sql, ["customer_id", "staff_id"])) == open_pairs


def test_first_adds_carry_the_acquisition_channel(wb):
    got = rows(wb, relations.first_adds(wb), ["customer_id", "first_add_time", "channel_code", "channel_group"])
    assert got == [
        ("C1", T("2025-01-01 10:00"), "CASH1", "offline_store"),
        ("C2", T("2025-01-01 11:00"), "CASH1", "offline_store"),   # E1 before E2: the earlier add
        ("C3", T("2025-01-03 10:00"), "ADS", "ads"),
    ]


def test_dimensions(wb):
    assert rows(wb, relations.channel_dims(wb), ["channel_code", "channel_group", "store_id"]) == [
        ("ADS", "ads", None), ("CASH1", "offline_store", "S1"), ("MP", "online_mall", None)]
    assert rows(wb, relations.store_regions(wb), ["store_id", "region"]) == [("S1", "East"), ("S2", "West")]
    assert rows(wb, relations.staff_dims(wb), ["staff_id", "store_id", "region"]) == [
        ("E1", "S1", "East"), ("E2", "S1", "East"), ("E3", "S2", "West"), ("H1", None, None)]
    assert rows(wb, relations.group_dims(wb), ["group_id", "store_id", "staff_id", "region"]) == [
        ("G1", "S1", "E1", "East")]


ORDER_FLAGS = ["order_id", "user_active", "user_ever", "task_view", "net_amount", "region", "staff_id",
               "channel_group"]


def test_order_flags(wb):
    got = rows(wb, relations.order_flags_sql(wb, "2025-01-01", "2025-01-08"), ORDER_FLAGS, order=["order_id"])
    assert got == [
        ("O1", 0, 1, 0, 100.0, "East", None, "offline_store"),   # between C1's two intervals
        ("O2", 1, 1, 1, 50.0, "East", "E1", "offline_store"),    # re-added at 15:00; task link shared by E1
        ("O3", 1, 1, 0, 200.0, "East", None, "offline_store"),
        ("O4", 1, 1, 0, 80.0, "West", None, "ads"),
        ("O5", 0, 1, 0, 50.0, "West", None, "ads"),              # after the staff delete; 20 refunded
        ("O6", 0, 0, 0, 30.0, None, None, None),                 # never added, no store
        ("O7", 0, 1, 0, 10.0, "East", None, "offline_store"),    # at the delete second: outside
    ]
    # the window is half-open and its end defaults to the workbench's as-of
    assert [r[0] for r in rows(wb, relations.order_flags_sql(wb, "2025-01-05"), ["order_id"])] == ["O5", "O6"]
    assert [r[0] for r in rows(wb, relations.order_flags_sql(wb, "2025-01-01", "2025-01-02 12:00"),
                               ["order_id"])] == ["O3", "O7"]


def test_the_old_private_name_and_path_still_work(wb):
    from workbench import metrics, relationships

    assert metrics._order_flags_sql is relations.order_flags_sql
    assert relationships.contact_intervals_sql is relations.contact_intervals_sql
    assert metrics.derived_table is relations.derived_table


def test_absent_optional_tables_read_as_empty_relations(tiny):
    """Only the required tables: every builder still returns its columns, with no rows."""
    wb = workbench.open({"contact_events": tiny["contact_events"], "orders": tiny["orders"]}, as_of="2025-02-01")
    assert rows(wb, relations.staff_dims(wb), ["staff_id", "store_id", "region"]) == []
    assert rows(wb, relations.group_dims(wb), ["group_id", "store_id", "staff_id", "region"]) == []
    assert rows(wb, relations.group_intervals(wb), ["customer_id", "group_id", "start_time", "end_time"]) == []
    assert rows(wb, relations.first_adds(wb), ["customer_id", "channel_code", "channel_group"]) == [
        ("C1", "CASH1", None), ("C2", "CASH1", None), ("C3", "ADS", None)]
    flags = rows(wb, relations.order_flags_sql(wb, "2025-01-01"), ORDER_FLAGS, order=["order_id"])
    assert [(r[0], r[1], r[5]) for r in flags][:2] == [("O1", 0, None), ("O2", 1, None)]

    orders_only = workbench.open({"orders": tiny["orders"]}, as_of="2025-02-01")
    assert rows(orders_only, relations.contact_intervals(orders_only), ["customer_id", "start_time"]) == []
    flags = rows(orders_only, relations.order_flags_sql(orders_only, "2025-01-01"), ORDER_FLAGS, order=["order_id"])
    assert len(flags) == 7 and {r[1:3] for r in flags} == {(0, 0)}


def test_a_window_end_is_needed_without_an_as_of(tiny):
    without = workbench.open({"orders": tiny["orders"]})
    with pytest.raises(ParameterError, match="as_of"):
        relations.order_flags_sql(without, "2025-01-01")
