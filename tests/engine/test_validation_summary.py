"""The validation summary counted once per snapshot of the files, and the same numbers as before.

:meth:`Workbench.validate_all` states row counts, the values the reading rules changed, merged
duplicate events, rows at or after the as-of date and kept sequences. Each count reads one table's
files only, so it is remembered per snapshot of them (``remembered_count``) and a later kernel
reads it; the reading-rule counts scan only rows with a suspect value (``normalisation_counts``).
Here every field of the summary is compared with the former way of counting (full scans, one
kernel, nothing remembered; written out below) on a simulated brand with every kind of mess
injected, on a first and a second kernel, and the injected counts are checked against the frames.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import contract
from workbench.engine import validation
from workbench.engine.sql import _FLOATS, _INTEGRAL_TEXT, literal, quote
from workbench.engine.validation import ValidationSummary, normalisation_counts

DUPLICATED = 25   # contact event rows written twice
# the SQL that counts: none of it may run on a kernel that reads the summary remembered
COUNTING = ("DISTINCT *", "LAG(", "TRIM(")


# ---------------------------------------------------------------------- the former way, for comparison
def former_normalisations(wb, name: str) -> list[tuple[str, str, int]]:
    """The reading-rule counts as they were counted before: every row of the input, one scan."""
    spec, types = contract.TABLES[name], wb._view_types(f"__input_{name}")
    markers = ", ".join(literal(m) for m in contract.NULL_MARKERS)
    conds = []
    for target, source in wb._column_map(name).items():
        q, kind = quote(source), types[source]
        if kind == "VARCHAR":
            conds.append((target, "null marker", f"TRIM({q}) IN ({markers})"))
            conds.append((target, "spaces trimmed", f"{q} <> TRIM({q}) AND TRIM({q}) NOT IN ({markers})"))
            if contract.is_identifier(target):
                conds.append((target, "integral id", f"TRIM({q}) LIKE '%.%0' AND "
                                                      f"regexp_matches(TRIM({q}), {literal(_INTEGRAL_TEXT)})"))
        elif _FLOATS.match(kind) and spec.column(target).dtype == contract.STRING:
            conds.append((target, "integral id", f"{q} IS NOT NULL"))
    if not conds:
        return []
    agg = ", ".join(f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END)" for _, _, c in conds)
    values = wb._fetch(f"SELECT {agg} FROM {quote('__input_' + name)}")[0]
    return [(col, rule, int(n)) for (col, rule, _), n in zip(conds, values, strict=True) if n]


def former_summary(wb) -> ValidationSummary:
    """Every field of the summary counted the former way (full scans, nothing remembered)."""
    for name in wb.tables:
        wb.validate(name)
    rows = {t: int(wb._fetch(f"SELECT COUNT(*) FROM {quote(t)}")[0][0]) for t in wb.tables}
    absent = {t: contract.NEEDED_BY.get(t, ()) for t in contract.TABLES if t not in wb._sources}
    notes = tuple(validation.Normalisation(t, c, r, n) for t in wb.tables for c, r, n in former_normalisations(wb, t))
    duplicates = {}
    for t in contract.INTERVAL_EVENTS:
        if t in wb._sources:
            raw = quote("__raw_" + t)
            total, distinct = wb._fetch(f"SELECT (SELECT COUNT(*) FROM {raw}), "
                                        f"(SELECT COUNT(*) FROM (SELECT DISTINCT * FROM {raw}) d)")[0]
            if total - distinct:
                duplicates[t] = int(total - distinct)
    sequences = {t: c for t in contract.INTERVAL_EVENTS if t in wb._sources
                 and any((c := validation.sequence_counts(wb, t)).values())}
    return ValidationSummary(rows, absent, notes, duplicates, wb.rows_after_as_of(), sequences)


def fields(summary: ValidationSummary) -> dict:
    """Every field of a summary (it compares as a mapping of row counts only)."""
    return {f.name: getattr(summary, f.name) for f in dataclasses.fields(summary)}


class Spy:
    """The queries a workbench runs through its fetch primitive."""

    def __init__(self, wb) -> None:
        self.queries: list[str] = []
        fetch = wb._fetch

        def spied(query: str) -> list[tuple]:
            self.queries.append(query)
            return fetch(query)

        wb._fetch = spied

    def counting(self) -> list[str]:
        """The counting queries run (a row count reads a whole view; rows after the as-of date are not kept)."""
        return [q for q in self.queries if any(word in q for word in COUNTING)
                or (q.startswith("SELECT COUNT(*) FROM") and "WHERE" not in q)]


# ---------------------------------------------------------------------- the messy brand
@pytest.fixture(scope="module")
def messy(report_brand, tmp_path_factory):
    """The simulated brand with numeric-looking ids and every mess the summary counts, as Parquet files.

    ``orders``: ids written ``17.0``, null markers for the missing task ids; ``customers``: ids padded
    with a space; ``contact_events``: ids as a float column and ``DUPLICATED`` rows written twice; the
    as-of date a month before the data's end, so that rows lie after it.
    """
    _, brand = report_brand
    tables = {name: frame.copy() for name, frame in brand.tables.items()}
    for frame in tables.values():
        if "customer_id" in frame.columns:
            frame["customer_id"] = frame["customer_id"].str.lstrip("C").str.lstrip("0")
    orders = tables["orders"].astype({"task_id": object})
    no_task = orders["task_id"].isna()
    orders.loc[no_task, "task_id"] = np.array(["\\N", "NULL", "null", ""], dtype=object)[np.arange(no_task.sum()) % 4]
    orders["customer_id"] = orders["customer_id"] + ".0"
    tables["orders"] = orders
    tables["customers"]["customer_id"] = tables["customers"]["customer_id"] + " "
    events = tables["contact_events"]
    events = pd.concat([events, events.iloc[:DUPLICATED]], ignore_index=True)
    events["customer_id"] = events["customer_id"].astype(float)
    tables["contact_events"] = events
    folder = tmp_path_factory.mktemp("messy")
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    as_of = (events["event_time"].max() - pd.Timedelta(days=30)).normalize()
    return folder, tables, no_task, as_of


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A cache of its own: the first kernel of each test counts."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_and_second_kernel_state_the_former_numbers(messy, cache, caplog):
    """Every field equal to the former count's on a first kernel (counts) and a second (reads), same log lines."""
    folder, tables, no_task, as_of = messy
    former = fields(former_summary(workbench.open(folder, as_of=as_of, layer=None)))
    with caplog.at_level(logging.INFO, logger="workbench.engine"):
        first = fields(workbench.open(folder, as_of=as_of, layer=None).validate_all())
        first_log = [r.getMessage() for r in caplog.records]
        caplog.clear()
        wb = workbench.open(folder, as_of=as_of, layer=None)
        spy = Spy(wb)
        second = fields(wb.validate_all())
        second_log = [r.getMessage() for r in caplog.records]
    assert first == former and second == former
    assert spy.counting() == []                     # the second kernel read every count
    assert len(list((cache / "validated" / "summary").glob("*.json"))) > len(tables)
    # the same log lines in each kernel: what the summary says, once
    assert second_log == first_log and any("null marker" in m for m in second_log)
    # and they are the injected numbers
    rules = {(n.table, n.column, n.rule): n.rows for n in second["normalised"]}
    events, orders = tables["contact_events"], tables["orders"]
    assert rules[("orders", "task_id", "null marker")] == no_task.sum() > 0
    assert rules[("orders", "customer_id", "integral id")] == orders["customer_id"].notna().sum()
    assert rules[("customers", "customer_id", "spaces trimmed")] == len(tables["customers"])
    assert rules[("contact_events", "customer_id", "integral id")] == events["customer_id"].notna().sum()
    natural = len(events) - DUPLICATED - len(events.iloc[:-DUPLICATED].drop_duplicates())
    assert second["duplicate_events"]["contact_events"] == natural + DUPLICATED
    assert second["after_as_of"]["contact_events"] == (events["event_time"] >= as_of).sum() > 0
    assert second["rows"]["orders"] == (orders["order_time"] < as_of).sum()
    assert second["sequences"]["contact_events"]["second_closes"] > 0


def test_without_the_cache_nothing_is_remembered_and_the_numbers_are_the_same(messy, cache, monkeypatch):
    """``WORKBENCH_VALIDATION_CACHE=0``: counted every time, nothing written."""
    folder, _, _, as_of = messy
    monkeypatch.setenv("WORKBENCH_VALIDATION_CACHE", "0")
    former = fields(former_summary(workbench.open(folder, as_of=as_of, layer=None)))
    assert fields(workbench.open(folder, as_of=as_of, layer=None).validate_all()) == former
    assert not (cache / "validated" / "summary").exists()


def test_another_as_of_date_recounts_what_the_views_read_only(messy, cache):
    """Reading-rule counts and duplicates are kept across as-of dates; what the views read is counted again.

    The former read every row of the files; row counts, rows after the date and sequences read the views.
    """
    folder, _, _, as_of = messy
    workbench.open(folder, as_of=as_of, layer=None).validate_all()
    later = as_of + pd.Timedelta(days=10)
    wb = workbench.open(folder, as_of=later, layer=None)
    spy = Spy(wb)
    got = fields(wb.validate_all())
    assert not [q for q in spy.queries if "TRIM(" in q or "DISTINCT *" in q]
    assert any("LAG(" in q for q in spy.queries)
    assert got == fields(former_summary(workbench.open(folder, as_of=later, layer=None)))


def test_a_changed_file_is_counted_again(messy, cache, tmp_path):
    """A file with other contents is another key: its counts are new (seven store ids padded with a space)."""
    folder, tables, _, as_of = messy
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, frame in tables.items():
        frame.to_parquet(copy / f"{name}.parquet", index=False)
    workbench.open(copy, as_of=as_of, layer=None).validate_all()
    orders = tables["orders"].copy()
    orders.loc[orders.index[:7], "store_id"] = " " + orders.loc[orders.index[:7], "store_id"]
    orders.to_parquet(copy / "orders.parquet", index=False)
    got = workbench.open(copy, as_of=as_of, layer=None).validate_all()
    rules = {(n.table, n.column, n.rule): n.rows for n in got.normalised}
    assert rules[("orders", "store_id", "spaces trimmed")] == 7
    assert fields(got) == fields(former_summary(workbench.open(copy, as_of=as_of, layer=None)))


def test_counting_only_suspect_rows_counts_what_every_row_gives():
    """Edge values of every rule give the counts of every row.

    Markers with spaces, spaces alone, tabs (not trimmed), inner spaces, ids ending in .0 with and
    without spaces, a float id column with NaN.
    """
    text = ["C1", " C2", "C3 ", "  ", " \\N ", "NULL", "null", "", None, "\tC4", "C 5", "6.0", " 7.00 ", "8.05",
            "9.0x", "1.0.0", "-3.0", ".0"]
    orders = pd.DataFrame({"customer_id": text, "order_channel": text, "store_id": [1.0, np.nan] * (len(text) // 2)})
    wb = workbench.open({"orders": orders})
    assert normalisation_counts(wb, "orders") == former_normalisations(wb, "orders")
    rules = {(c, r): n for c, r, n in normalisation_counts(wb, "orders")}
    assert rules[("customer_id", "null marker")] == 5        # '  ', ' \N ', 'NULL', 'null', ''
    assert rules[("customer_id", "spaces trimmed")] == 3     # ' C2', 'C3 ', ' 7.00 '
    assert rules[("customer_id", "integral id")] == 3        # '6.0', ' 7.00 ', '-3.0'
    assert rules[("order_channel", "null marker")] == 5 and ("order_channel", "integral id") not in rules  # no id
    assert rules[("store_id", "integral id")] == len(text) // 2
    clean = pd.DataFrame({"customer_id": ["C1", "C2"]})
    assert normalisation_counts(workbench.open({"customers": clean}), "customers") == []


def test_a_brand_read_from_its_current_layer_twice(messy, cache, tmp_path):
    """Two kernels reading the layer (as a batch's do): the second reads every count, the numbers are the former."""
    from workbench.derived_layer import build_layer

    folder, _, _, as_of = messy
    layer = build_layer(folder, as_of=as_of, out=tmp_path / "layer").path
    former = fields(former_summary(workbench.open(folder, as_of=as_of, layer=None)))
    first = workbench.open(folder, as_of=as_of, layer=layer)
    assert first.layer is not None
    assert fields(first.validate_all()) == former
    second = workbench.open(folder, as_of=as_of, layer=layer)
    spy = Spy(second)
    assert fields(second.validate_all()) == former
    assert spy.counting() == []
