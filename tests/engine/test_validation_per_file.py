"""Reading-rule counts of a folder of Parquet files, remembered per file, equal the table's count.

Each count is a sum over rows, so a folder's is the sum of its files'
(:func:`~workbench.engine.validation_files.file_normalisations`). On the messy simulated brand
(ids written ``17.0``, null markers, ids padded with a space), with its orders and customers
split into part files: the same counts as one scan of the table; a folder that gains a file
counts that file only; a new file that widens the folder's types counts every file again.
"""
from __future__ import annotations

import shutil

import pandas as pd

import workbench
from tests.engine.test_validation_summary import Spy, cache, fields, former_summary, messy  # noqa: F401
from workbench.engine import validation_files as vf
from workbench.engine.validation import normalisation_counts


def split(folder, tables, out, parts: int = 4) -> None:
    """The messy brand with ``orders`` and ``customers`` as folders of ``parts`` Parquet files each."""
    shutil.copytree(folder, out)
    for name in ("orders", "customers"):
        (out / f"{name}.parquet").unlink()
        (out / name).mkdir()
        frame = tables[name]
        for i in range(parts):
            frame.iloc[i::parts].to_parquet(out / name / f"part-{i}.parquet", index=False)


def counting(spy: Spy) -> list[str]:
    """The reading-rule counting queries run."""
    return [q for q in spy.queries if "TRIM(" in q]


def test_per_file_counts_equal_the_tables_and_a_new_file_is_counted_alone(messy, cache, tmp_path):  # noqa: F811
    """Four part files: the table's counts; a fifth file: counted alone, the sum equals one scan of five."""
    folder, tables, no_task, as_of = messy
    data = tmp_path / "data"
    split(folder, tables, data)
    wb = workbench.open(data, as_of=as_of, layer=None)
    for name in ("orders", "customers"):
        got = vf.file_normalisations(wb, name)
        assert got == normalisation_counts(wb, name) and got
    rules = {(c, r): n for c, r, n in vf.file_normalisations(wb, "orders")}
    assert rules[("task_id", "null marker")] == no_task.sum() > 0
    assert rules[("customer_id", "integral id")] == tables["orders"]["customer_id"].notna().sum()
    # the page's summary is the former one
    assert fields(workbench.open(data, as_of=as_of, layer=None).validate_all()) == \
        fields(former_summary(workbench.open(data, as_of=as_of, layer=None)))

    extra = tables["orders"].iloc[:30].copy()
    extra["order_id"] = "X" + extra["order_id"].astype(str)
    extra["store_id"] = " " + extra["store_id"].astype(str)           # 30 more values trimmed
    extra.to_parquet(data / "orders" / "part-9.parquet", index=False)
    grown = workbench.open(data, as_of=as_of, layer=None)
    spy = Spy(grown)
    got = grown.normalisations("orders")
    assert len(counting(spy)) == 1                                    # the new file only
    want = normalisation_counts(grown, "orders")
    assert [(n.column, n.rule, n.rows) for n in got] == want
    assert dict(((c, r), n) for c, r, n in want)[("store_id", "spaces trimmed")] == 30


def test_a_file_that_widens_the_types_counts_every_file_again(messy, cache, tmp_path):  # noqa: F811
    """A new file with a column the others lack: other input types, so no file's count is reused."""
    folder, tables, _, as_of = messy
    data = tmp_path / "data"
    split(folder, tables, data, parts=3)
    vf.file_normalisations(workbench.open(data, as_of=as_of, layer=None), "customers")
    wider = tables["customers"].iloc[:5].assign(customer_id=lambda d: "N" + d["customer_id"], note=" x ")
    wider.to_parquet(data / "customers" / "part-7.parquet", index=False)
    wb = workbench.open(data, as_of=as_of, layer=None)
    spy = Spy(wb)
    assert vf.file_normalisations(wb, "customers") == normalisation_counts(wb, "customers")
    assert len(counting(spy)) == 1 + 4                                # four files, then the check's own scan


def test_a_single_file_or_no_cache_counts_the_table(messy, cache, monkeypatch):  # noqa: F811
    """Not a folder, or the cache off: None, and the table is counted in one scan."""
    folder, _, _, as_of = messy
    wb = workbench.open(folder, as_of=as_of, layer=None)
    assert vf.file_normalisations(wb, "orders") is None
    monkeypatch.setenv("WORKBENCH_VALIDATION_CACHE", "0")
    assert vf.file_normalisations(wb, "orders") is None


def test_a_layered_brand_read_as_it_is_counts_its_events_in_one_grouping(report_brand, cache, tmp_path):  # noqa: F811
    """Events read without casts, a layer with their intervals: rows, duplicates and sequences from one grouping.

    The simulated brand with 25 contact events written twice and 12 adds repeated a minute later,
    a month before its end: every field of the summary is the former one, and no view is merged
    (``DISTINCT *``) nor ordered (``LAG(``) to count them.
    """
    from workbench.derived_layer import build_layer

    _, brand = report_brand
    events = brand.tables["contact_events"]
    as_of = (events["event_time"].max() - pd.Timedelta(days=30)).normalize()
    again = events[(events["event_type"] == "add") & (events["event_time"] < as_of)].iloc[:12].copy()
    again["event_time"] += pd.Timedelta(minutes=1)
    data = tmp_path / "data"
    data.mkdir()
    for name, frame in brand.tables.items():
        if name == "contact_events":
            frame = pd.concat([frame, frame.iloc[:25], again], ignore_index=True)
            frame["event_time"] = frame["event_time"].astype("datetime64[us]")   # TIMESTAMP, read as it is
        frame.to_parquet(data / f"{name}.parquet", index=False)
    build_layer(data, as_of=as_of)
    former = fields(former_summary(workbench.open(data, as_of=as_of, layer=None)))
    wb = workbench.open(data, as_of=as_of)
    assert wb.layer is not None
    spy = Spy(wb)
    assert fields(wb.validate_all()) == former
    assert former["duplicate_events"]["contact_events"] >= 25
    assert former["sequences"]["contact_events"]["repeated_opens"] == 12
    assert not [q for q in spy.queries if "DISTINCT *" in q or "LAG(" in q]
