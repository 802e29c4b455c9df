"""Building the persisted derived layer: which relations it holds, full or incremental by day.

:func:`build_layer` writes the relations every report would rebuild (see :mod:`workbench.engine.layer`
for the format and how a workbench reads it). It composes the analyses' own builders (relations,
spells, the CLV buyer table, value buckets), so it lives above them, not in the engine.

Incremental by day. When the previous layer (as of A) exists and the data now runs to B ≥ A,
the build finds the *affected* customers of the event tables read by a keyed relation
(``contact_events``, ``group_events``, ``touches``, ``orders``; :mod:`workbench.layer_changes`).
When each is a local file or folder of files and the engine is DuckDB, by file: the manifest
lists every file (path, size, content digest) and the layer keeps the (file, customer) pairs of
the rows before A; the customers of changed, new or removed files, and those of unchanged files
with rows (or optional times) in [A, B), are affected (late events arrive in new files;
corrections and deletions change or remove files). Otherwise (DataFrame or catalogue sources,
Spark), by per-customer row fingerprints (row count and summed row hash of the rows before A):
customers with rows in [A, B) or whose earlier rows fingerprint differently. The reason and the
manifest (``change_detection``) say which was used. Every relation is keyed by customer (its rows for
one customer depend only on that customer's rows and the dimension tables), so the build
recomputes the affected customers with the same SQL on the event tables restricted to them
(:meth:`Workbench.restricted <workbench.engine.Workbench.restricted>`) and keeps the other
customers' rows. Rows that depend on the as-of date itself (an open spell ends at as-of; a
buyer's age runs to the day before it) are kept with those columns recomputed at B from the
persisted columns with the expressions of the full SQL (``as_of_columns`` in the manifest).
A change in a dimension table a relation reads (staff, stores, channels…) rebuilds that
relation in full; so does a relation the previous layer lacks. The result equals a full
rebuild (tested day by day over a simulated week with a late event and a correction, both with
files rewritten daily and with a folder gaining a file a day).

What each relation does in an incremental build:

* contact intervals, group intervals, first adds: affected customers recomputed, others kept
  as they are (no column depends on as-of: an open interval has no end);
* spell base and spell covariates (14-day landmark): affected customers recomputed; the
  others' spells kept, with ``end`` and ``duration_days`` of the spells open at as-of
  recomputed at the new as-of (the only columns that move with it; the covariates of a
  customer without new rows cannot change); the covariates are rebuilt in full when
  ``channels``, ``staff`` or ``stores`` changed;
* CLV buyer table (the CLV report's defaults): affected customers recomputed, the others kept
  with ``age_days`` recomputed; rebuilt in full when ``tasks`` changed;
* bucket rows (every order from the start of the last complete month to as-of with its value
  bucket, :func:`~workbench.attribution.buckets.bucket_rows`): affected customers recomputed, the
  others kept from the new month start on; also recomputed, the customers of kept orders whose
  coupon now reads otherwise to the coupon rule (``coupons`` is compared per coupon, not
  fingerprinted as a dimension: coupons are issued every day); rebuilt in full when ``staff``
  changed or rows without a customer arrived (no customer to recompute them for);
* value buckets of the last complete month: the bucket rows before the month's end, written
  from them each build (the rows of the running month become the next month's window).

Steps of an update: the affected customers' rows of each keyed table are read once (the
restricted table kept in the engine), each relation recomputed on them and kept in the engine,
then merged with the previous layer's other rows into the new file.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .engine.layer import (
    FORMAT_VERSION,
    Layer,
    _package_version,
    _publish,
    _read_manifest,
    _staleness,
    default_layer_dir,
    encode_params,
    snapshot,
)
from .engine.reading import table_sources
from .engine.sql import literal, quote, to_timestamp
from .engine.workbench import Workbench, open_workbench
from .layer_changes import KEY, KEYED_TABLES, FileKeys, RowFingerprints, change_finder, row_hash

log = logging.getLogger("workbench.engine")

_KEYS = "__layer_keys"


@dataclass(frozen=True)
class LayerBuild:
    """What :func:`build_layer` did.

    Attributes
    ----------
    path : Path
        The layer folder (holding ``manifest.json``).
    as_of : str
        The as-of date of the layer (``YYYY-MM-DD``).
    mode : str
        ``"full"``, ``"incremental"`` or ``"reused"`` (the layer was already current).
    relations : dict of str to int
        Relation name -> rows.
    seconds : float
        Wall time of the build.
    changed_keys : int or None
        Customers recomputed by an incremental build (None otherwise).
    reason : str
        Why the build was full or incremental, and which relations were rebuilt in full.
    """

    path: Path
    as_of: str
    mode: str
    relations: dict[str, int]
    seconds: float
    changed_keys: int | None
    reason: str


@dataclass(frozen=True)
class _Relation:
    """One relation of the layer: how to build it in a workbench and what it depends on."""

    name: str
    needs: str
    reads: tuple[str, ...]
    build: Callable[[Workbench, pd.Timestamp], Any]
    params: Callable[[pd.Timestamp], tuple]
    as_of_columns: Callable[[pd.Timestamp], dict[str, str]] = field(default=lambda at: {})
    #: the derived relation's name when it depends on the workbench and as-of (a window's name), else ``name``
    table: Callable[[Workbench, pd.Timestamp], str] | None = None
    #: SQL condition on the previous layer's rows still in the relation at a new as-of (its rows start later)
    keep: Callable[[pd.Timestamp], str] | None = None
    #: tables of ``reads`` the relation compares itself (not fingerprinted as dimensions): SQL of the customers
    #: whose kept rows they change, given the previous rows' relation and the new as-of
    compared: tuple[str, ...] = ()
    changed: Callable[[Workbench, str, pd.Timestamp], str] | None = None
    #: holds rows without a customer up to as-of: new ones (which no customer's recomputation adds) rebuild it
    keyless_rows: bool = False
    #: built from relations written before it (cheap): always built, never merged
    derived: bool = False

    def table_name(self, wb: Workbench, at: pd.Timestamp) -> str:
        """The name of the derived relation in ``wb`` (the manifest's key)."""
        return self.table(wb, at) if self.table is not None else self.name


def _spell_columns(at: pd.Timestamp) -> dict[str, str]:
    # as contact_spells_sql computes them for a spell open at as-of (censored: end = as-of)
    b = literal(at)
    return {"end": f"""CASE WHEN end_reason = 'censored' THEN {b} ELSE "end" END""",
            "duration_days": f"CASE WHEN end_reason = 'censored' THEN date_diff('second', start, {b}) / 86400.0 "
                             "ELSE duration_days END"}


def _buyer_columns(at: pd.Timestamp) -> dict[str, str]:
    # as customer_days_sql computes it: first purchase day to the day before as-of
    end = literal((at - pd.Timedelta(days=1)).normalize())
    return {"age_days": f"date_diff('day', CAST(first_day AS DATE), CAST({end} AS DATE))"}


def layer_relations() -> tuple[_Relation, ...]:
    """The relations a layer holds, in build order (a relation may read earlier ones)."""
    from . import relations
    from .attribution import buckets
    from .churn import spells
    from .clv import pipeline
    from .pages._base import last_complete_month

    def month(wb: Workbench, at: pd.Timestamp) -> tuple[str, str]:  # the value report's default window
        return buckets.bucket_window(wb, *last_complete_month(at))

    def start(at: pd.Timestamp) -> pd.Timestamp:  # the kept bucket rows start with the last complete month
        return last_complete_month(at)[0]

    def window(wb: Workbench, at: pd.Timestamp) -> str:
        rows = buckets.bucket_rows(wb, start(at), at)
        return relations.derived_table(wb, month(wb, at)[0], buckets.window_from_rows(rows, last_complete_month(at)[1]),
                                       buckets.BUCKET_READS)

    return (
        _Relation("__wb_contact_intervals", "contact_events", ("contact_events",),
                  lambda wb, at: relations.contact_intervals(wb), lambda at: ()),
        _Relation("__wb_group_intervals", "group_events", ("group_events",),
                  lambda wb, at: relations.group_intervals(wb), lambda at: ()),
        _Relation("__wb_first_adds", "contact_events", ("contact_events", "channels"),
                  lambda wb, at: relations.first_adds(wb), lambda at: ()),
        _Relation(spells.SPELL_BASE, "contact_events", ("contact_events",),
                  lambda wb, at: spells.spell_base(wb, at), lambda at: (at,), _spell_columns),
        _Relation(spells.SPELL_TABLE, "contact_events", spells.SPELL_READS,
                  lambda wb, at: spells.spell_table(wb, at, 14.0), lambda at: (at, 14.0), _spell_columns),
        # the CLV report's defaults: net spend, purchase days, orders of experiment tasks left out
        _Relation(pipeline.RFM_TABLE, "orders", ("orders", "tasks"),
                  lambda wb, at: pipeline.summarise_buyers(wb, at, exclude_experiment_orders=True),
                  lambda at: pipeline.buyer_params(at, True), _buyer_columns),
        # orders with their buckets from the start of the last complete month to as-of: updated by customer,
        # so the month's window (below, a filter of them) is not classified again each day
        _Relation(buckets.BUCKET_ROWS, "orders", buckets.BUCKET_READS,
                  lambda wb, at: buckets.bucket_rows(wb, start(at), at), lambda at: (start(at), at),
                  keep=lambda at: f"order_time >= {literal(start(at))}", compared=("coupons",),
                  changed=lambda wb, rows, at: buckets.changed_coupons_sql(wb, rows, start(at)), keyless_rows=True),
        _Relation("value buckets of the last complete month", "orders", buckets.BUCKET_READS, window, lambda at: (),
                  table=lambda wb, at: month(wb, at)[0], compared=("coupons",), derived=True),
    )



def default_as_of(data_dir: str | Path) -> pd.Timestamp:
    """The day after the data ends, the reports' default as-of date (today without events)."""
    wb = open_workbench(data_dir, validate=False, layer=None)
    try:
        end = wb.data_end()
    finally:
        wb.close()
    if end is None or pd.isna(end):
        return pd.Timestamp.today().normalize()
    return pd.Timestamp(end).normalize() + pd.Timedelta(days=1)


def _as_of(data_dir: str | Path, as_of: Any) -> pd.Timestamp:
    return default_as_of(data_dir) if as_of is None else to_timestamp(as_of, "as_of")


def layer_status(data_dir: str | Path, as_of: Any = None, out: str | Path | None = None,
                 engine: str = "duckdb") -> str:
    """Whether the layer of ``data_dir`` can be read as of ``as_of``: ``"current"``, ``"stale: <why>"`` or ``"absent"``.

    ``as_of`` defaults to the day after the data ends; ``out`` is the layer folder (default
    :func:`default_layer_dir`).
    """
    root = Path(out) if out is not None else default_layer_dir(data_dir)
    why = _staleness(_read_manifest(root), table_sources(data_dir), _as_of(data_dir, as_of), engine)
    return why or "current"




# ---------------------------------------------------------------------- building
def _dim_fingerprint(wb: Workbench, table: str) -> list[int]:
    n, h = wb.backend.fetch(f"SELECT COUNT(*), COALESCE(SUM({row_hash(wb, table)}), 0) FROM {quote(table)}")[0]
    return [int(n), int(h)]


def _count(wb: Workbench, path: Path) -> int:
    wb.backend.load("__layer_count", str(path))
    return int(wb.backend.fetch("SELECT COUNT(*) FROM __layer_count")[0][0])


def _unusable(previous: dict[str, Any] | None, wb: Workbench, at: pd.Timestamp, full: bool,
              finder: FileKeys | RowFingerprints, keyed: list[str]) -> str:
    """Why the previous layer cannot be updated to ``at`` ('' when it can)."""
    if full:
        return "full rebuild asked for"
    if previous is None:
        return "no previous layer"
    for why, bad in [(f"previous layer of format {previous.get('format')}", previous.get("format") != FORMAT_VERSION),
                     (f"previous layer built by workbench {previous.get('package_version')}",
                      previous.get("package_version") != _package_version()),
                     (f"previous layer built on {previous.get('engine')}", previous.get("engine") != wb.dialect),
                     ("the tables present changed", previous.get("tables") != sorted(wb.tables)),
                     (f"previous layer is as of {str(previous.get('as_of'))[:10]}, after {at.date()}",
                      pd.Timestamp(previous.get("as_of")) > at)]:
        if bad:
            return why
    return finder.unusable(previous, keyed)


def _plan(previous: dict[str, Any], dims: dict[str, list[int]], rels: dict[str, _Relation],
          keyless: list[str], new_keyless: list[str]) -> tuple[str, set[str]]:
    """Why the build is incremental, and the relations (by derived name) to rebuild in full."""
    old_dims = previous.get("dims", {})
    # a changed dimension, or changed rows without a customer (no customer to recompute), rebuild their readers
    dims_changed = {t for t in dims if old_dims.get(t) != dims[t]}
    changed = sorted(dims_changed | {f"{t} rows without a customer" for t in keyless})
    rebuild = {n for n, r in rels.items() if n not in previous.get("relations", {})
               or (set(r.reads) - set(r.compared)) & (dims_changed | set(keyless))
               or (r.keyless_rows and set(r.reads) & set(new_keyless))}
    reason = f"new events since {previous['as_of'][:10]}"
    if changed:
        reason += f"; {', '.join(changed)} changed"
    if new_keyless:
        reason += f"; new {', '.join(new_keyless)} rows without a customer"
    new = sorted(n for n in rebuild if n not in previous.get("relations", {}))
    if new:
        reason += f"; not in the previous layer: {', '.join(new)}"
    if rebuild:
        reason += "; rebuilt in full: " + ", ".join(sorted(rebuild))
    return reason, rebuild


def build_layer(data_dir: str | Path, as_of: Any = None, out: str | Path | None = None, full: bool = False,
                **engine_options: Any) -> LayerBuild:
    """Build (or update, or reuse) the derived layer of a data folder.

    Parameters
    ----------
    data_dir : path
        The folder of contract files.
    as_of : date-like, optional
        Default: the day after the data ends (the reports' default).
    out : path, optional
        The layer folder; default :func:`default_layer_dir`.
    full : bool, default False
        Rebuild everything even when the previous layer could be updated.
    **engine_options
        Passed to :func:`~workbench.engine.open_workbench` (``threads``, ``memory_limit``,
        ``backend``…). ``validate=False`` skips validating the tables the layer reads (a
        workbench reading the layer still validates them on use; the pass is remembered per
        snapshot, so a batch validates once either way).

    Returns
    -------
    LayerBuild
        ``mode`` ``"reused"`` when the layer was current, ``"incremental"`` when the previous
        layer was updated for the customers whose rows changed, else ``"full"``.
    """
    started = time.perf_counter()
    at = _as_of(data_dir, as_of)
    root = Path(out) if out is not None else default_layer_dir(data_dir)
    engine_options.setdefault("strict", False)
    wb = open_workbench(data_dir, as_of=at, layer=None, **engine_options)
    try:
        previous = _read_manifest(root)
        if not full and not _staleness(previous, table_sources(data_dir), at, wb.dialect):
            rows = {n: int(e["rows"]) for n, e in previous["relations"].items()}
            return LayerBuild(root, at.date().isoformat(), "reused", rows, time.perf_counter() - started, None,
                              "the layer is current")
        return _build(wb, data_dir, root, at, previous, full, started)
    finally:
        wb.close()


def _build(wb: Workbench, data_dir: str | Path, root: Path, at: pd.Timestamp, previous: dict[str, Any] | None,
           full: bool, started: float) -> LayerBuild:
    rels = {r.table_name(wb, at): r for r in layer_relations() if wb.has_table(r.needs)}
    reads = sorted({t for r in rels.values() for t in r.reads if wb.has_table(t)})
    clock = _Clock()
    for t in reads if wb.validate_on_use else ():  # validation reads the full tables: before any restriction
        wb.validate(t)
    clock.lap("validation")
    keyed = [t for t in KEYED_TABLES if t in reads]
    # tables a relation compares row by row itself (coupons, for the bucket rows) are no dimension of it
    dims = {t: _dim_fingerprint(wb, t) for t in reads
            if t not in KEYED_TABLES and any(t in r.reads and t not in r.compared for r in rels.values())}
    finder = change_finder(wb, data_dir, keyed)
    why = _unusable(previous, wb, at, full, finder, keyed)
    old = Layer(root / previous["folder"], previous) if previous is not None and not why else None
    finder.scan(wb, keyed, pd.Timestamp(previous["as_of"]) if old is not None else at, old)
    clock.lap(finder.description)
    if old is None:
        reason, rebuild = why, set(rels)
    else:
        reason, rebuild = _plan(previous, dims, rels, finder.keyless(wb, keyed, old), finder.new_keyless(wb, keyed))
    reason += f"; changes found by {finder.description}"
    incremental = [n for n in rels if n not in rebuild and not rels[n].derived]
    folder = f"v-{pd.Timestamp.now():%Y%m%dT%H%M%S%f}-{os.getpid()}"
    target = root / folder
    target.mkdir(parents=True)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION, "package_version": _package_version(), "engine": wb.dialect,
        "as_of": at.isoformat(), "built": pd.Timestamp.now().isoformat(timespec="seconds"), "folder": folder,
        "sources": snapshot(table_sources(data_dir)), "tables": sorted(wb.tables), "dims": dims,
        "key": KEY, "change_detection": finder.method, "relations": {}}
    changed_keys = None
    try:
        if incremental:
            wb.backend.materialise(_KEYS, _affected_sql(wb, finder.affected_sql(keyed), rels, incremental, old, at))
            changed_keys = int(wb.backend.fetch(f"SELECT COUNT(*) FROM {_KEYS}")[0][0])
            clock.lap(f"{changed_keys} affected customers")
            with wb.restricted(_KEYS, KEYED_TABLES, KEY), _kept_once(wb, keyed):
                clock.lap("affected customers' rows read")
                for n in incremental:
                    rels[n].build(wb, at)
                    # kept in the engine (a few percent of the rows) for the merge below, not written and read back
                    wb.backend.materialise(_part(n), f"SELECT * FROM {quote(n)}")
                    clock.lap(f"{n}: affected customers recomputed")
        wb.layer = Layer(target, manifest)  # relations written below are read by the later ones
        for n, r in rels.items():
            file = f"{n}.parquet"
            if n in incremental:
                _write_kept(wb, n, r, old, at, _part(n), target / file)
                wb.backend.drop(_part(n))
            else:
                r.build(wb, at)
                wb.backend.write_parquet(f"SELECT * FROM {quote(n)}", str(target / file))
                wb.forget(n)
            clock.lap(f"{n}: {'kept rows merged' if n in incremental else 'built in full'}")
            manifest["relations"][n] = {
                "label": r.name, "params": encode_params(r.params(at)), "file": file,
                "rows": _count(wb, target / file), "reads": list(r.reads), "as_of_columns": sorted(r.as_of_columns(at)),
                "built": "incremental" if n in incremental else "full"}
        finder.save(wb, keyed, old, target, manifest)
        clock.lap(f"{finder.description} written")
        manifest["mode"], manifest["reason"] = ("incremental" if incremental else "full"), reason
        manifest["seconds"] = clock.laps
    except BaseException:
        wb.layer = None
        shutil.rmtree(target, ignore_errors=True)
        raise
    wb.layer = None
    _publish(root, manifest)
    rows = {n: e["rows"] for n, e in manifest["relations"].items()}
    return LayerBuild(root, at.date().isoformat(), manifest["mode"], rows, time.perf_counter() - started,
                      changed_keys, reason)


class _Clock:
    """Seconds per step of a build, logged (``workbench.engine``) and kept in the manifest."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self._last, 3)
        self._last = now
        log.info("layer: %s (%.1f s)", step, self.laps[step])


#: the columns of the keyed tables the relations read (of every table a layer relation reads by customer); an
#: incremental build keeps only these of the affected customers' rows: a relation reading another fails (a test
#: builds every relation from the kept columns and compares with the rows of every column)
ROW_COLUMNS = {
    "contact_events": ("event_time", "customer_id", "staff_id", "event_type", "channel_code"),
    "group_events": ("event_time", "customer_id", "group_id", "event_type"),
    "touches": ("event_time", "customer_id", "staff_id", "touch_type"),
    "orders": ("order_id", "customer_id", "order_time", "amount", "order_channel", "store_id", "task_id",
               "share_staff_id", "coupon_id", "refunded_amount"),
}


@contextmanager
def _kept_once(wb: Workbench, tables: list[str]) -> Iterator[None]:
    """Inside :meth:`Workbench.restricted`: the restricted tables computed once and kept, not per query.

    Each query of a restricted table would read the whole source again to find the affected
    customers' rows (touches, the largest, are read three times by the relations). Only the
    columns of :data:`ROW_COLUMNS` are kept (the source's other columns are not read): the
    typed view's rules still apply first (an interval event table's DISTINCT is over every
    column, so its rows are those of the full view).
    """
    kept = [t for t in tables if wb.has_table(t)]
    for t in kept:
        cols = ", ".join(quote(c) for c in ROW_COLUMNS[t])
        wb.backend.materialise(f"__layer_rows_{t}", f"SELECT {cols} FROM {quote(t)}")
        wb._create_view(t, f"SELECT * FROM {quote('__layer_rows_' + t)}")
    try:
        yield
    finally:
        for t in kept:  # the views are restored by the enclosing block
            wb.backend.drop(f"__layer_rows_{t}")


def _affected_sql(wb: Workbench, keyed: str, rels: dict[str, _Relation], incremental: list[str], old: Layer | None,
                  at: pd.Timestamp) -> str:
    """The customers to recompute: those the keyed tables show, and those whose kept rows a compared table changes."""
    assert old is not None
    extra = []
    for i, n in enumerate(incremental):
        changed = rels[n].changed
        if changed is not None:
            view = f"__layer_prev{i}"
            wb.backend.load(view, str(old.folder / old.manifest["relations"][n]["file"]))
            extra.append(f"SELECT {KEY} FROM ({changed(wb, view, at)}) c")
    if not extra:
        return keyed
    return f"SELECT DISTINCT {KEY} FROM ({' UNION ALL '.join([keyed, *extra])}) a WHERE {KEY} IS NOT NULL"


def _part(name: str) -> str:
    """The engine relation holding the affected customers' recomputed rows of relation ``name``."""
    return "__layer_part_" + name.strip("_")


def _write_kept(wb: Workbench, name: str, r: _Relation, old: Layer | None, at: pd.Timestamp, part: str,
                path: Path) -> None:
    """Relation ``name``: the recomputed rows of the affected customers and the previous layer's other rows."""
    assert old is not None
    entry = old.manifest["relations"][name]
    wb.backend.load("__layer_old", str(old.folder / entry["file"]))
    moved = r.as_of_columns(at)
    cols = ", ".join(f"{moved.get(c, 'o.' + quote(c))} AS {quote(c)}" for c in wb.backend.column_types("__layer_old"))
    keep = f" AND ({r.keep(at)})" if r.keep is not None else ""
    wb.backend.write_parquet(f"""
        SELECT * FROM {quote(part)}
        UNION ALL
        SELECT {cols} FROM __layer_old o LEFT JOIN {_KEYS} k ON k.{KEY} = o.{KEY} WHERE k.{KEY} IS NULL{keep}""",
                             str(path))


__all__ = ["LayerBuild", "build_layer", "default_as_of", "layer_relations", "layer_status"]
