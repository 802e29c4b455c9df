"""Contract checks on one table, the validation cache and what a validation found.

:func:`_validate_table` runs every check of :mod:`workbench.contract` on one table of a
:class:`~workbench.engine.Workbench` in one scan where it can, through the workbench's
primitives only, so it runs unchanged on every backend. A pass on local files is remembered
under a key of the files' contents and the as-of date (:func:`validation_record`); at a later
as-of date on the same files only the checks whose result can differ run, on the rows the later
date adds or changes (:func:`_validate_since`), which is what
:func:`~workbench.engine.validation_files.validate_remembered` picks.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import contract
from ..contract import DOUBLE, STRING, TIMESTAMP, TableSpec
from ..errors import DataContractError
from .sql import (
    _FLOATS,
    _INTEGRAL_TEXT,
    _padded_condition,
    interval_order_sql,
    literal,
    ordered_events_sql,
    quote,
)

if TYPE_CHECKING:  # the Workbench calls in here; only its type is needed
    from .workbench import Workbench

_SAMPLE_ROWS = 5
_MUST_HAVE_ROWS = ("orders", "contact_events")

_DIGEST_MEMO_MIN_BYTES = 8 << 20  # smaller files are hashed every time: cheaper than a memo lookup
_SETTLED_NS = 2_000_000_000  # only files unchanged for 2 s are memoised (the kernel's ctime clock is coarse)
_digests: dict[tuple[Any, ...], str] = {}


def content_digest(path: str | Path, cache: Path | None = None) -> str:
    r"""SHA-256 of a file's bytes (streamed, 1 MiB at a time), as hex.

    Hashing is the cost of keying the validation cache on content: 0.07 s per 100 MB and
    0.7 s per GB on one core of the benchmark machine (blake2b took twice as long there: SHA-256
    has CPU instructions). So that a batch of reports does not hash a 12 GB brand once per
    kernel, a file's digest is remembered in this process (a validation summary lists the files
    once per table) and, for 8 MiB or more when ``cache`` is given, as a small file under
    ``cache/digests``, under its device, inode, size, modification time *and change time*. Tools
    that restore a modification time (``rsync -t``, ``cp -p``, ``tar x``, ``os.utime``) cannot
    restore the change time — the kernel sets it on every write and every time change — so an
    edited file is hashed again. Files changed in the last 2 seconds are not remembered (the
    change-time clock is coarse, as for git's index).
    ``WORKBENCH_VALIDATION_CACHE=content`` hashes every file every time.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = f.write_text("order_id\n")
    >>> content_digest(f)[:12]
    'c1ae5e874e06'
    """
    import time

    path = Path(path)
    st = path.stat()
    remember = (time.time_ns() - st.st_ctime_ns > _SETTLED_NS
                and os.environ.get("WORKBENCH_VALIDATION_CACHE", "").strip() != "content")
    stamp = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    memo_file = None
    if remember:
        if stamp in _digests:
            return _digests[stamp]
        if cache is not None and st.st_size >= _DIGEST_MEMO_MIN_BYTES:
            memo_file = cache / "digests" / hashlib.sha256(repr(stamp).encode()).hexdigest()
            try:
                value = memo_file.read_text().strip()
                if re.fullmatch(r"[0-9a-f]{64}", value):
                    _digests[stamp] = value
                    return value
            except OSError:
                pass
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    value = h.hexdigest()
    if remember:
        _digests[stamp] = value
        if memo_file is not None:
            try:  # write then rename: a concurrent reader sees the whole digest or none
                memo_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo_file.with_name(f".{memo_file.name}.{os.getpid()}")
                tmp.write_text(value)
                os.replace(tmp, memo_file)
            except OSError:  # a read-only cache only costs hashing again next time
                pass
    return value

def _stamp(as_of: pd.Timestamp | None) -> str:
    """``20260102T000000`` and the nanoseconds of the second (9 digits): exact, and no ``:`` in a file name."""
    if as_of is None:
        return "now"
    return f"{as_of:%Y%m%dT%H%M%S}{as_of.microsecond * 1000 + as_of.nanosecond:09d}"


def _unstamp(text: str) -> pd.Timestamp:
    return pd.Timestamp(datetime.strptime(text[:15], "%Y%m%dT%H%M%S")) + pd.Timedelta(int(text[15:]), "ns")


@dataclass(frozen=True)
class ValidationRecord:
    """Where the passes of one table's validation on one snapshot of the files are remembered.

    One empty file ``<snapshot>.<as-of>.ok`` per analysis date that passed, in ``folder``:
    creating one is atomic, so concurrent kernels cannot lose each other's passes.

    Attributes
    ----------
    folder : Path
        The cache's ``validated`` folder.
    snapshot : str
        Hex key of the package version, the table (and ``|strict``) and every source file's
        content (:func:`validation_record`).
    """

    folder: Path
    snapshot: str

    def marker(self, as_of: pd.Timestamp | None) -> Path:
        """The file that records a pass at ``as_of`` (``None``: without an analysis date)."""
        return self.folder / f"{self.snapshot}.{_stamp(as_of)}.ok"

    def passes(self) -> list[pd.Timestamp]:
        """The analysis dates at which this snapshot passed, earliest first (not the pass without one)."""
        found = []
        for f in self.folder.glob(f"{self.snapshot}.*.ok"):
            try:
                found.append(_unstamp(f.name.split(".")[1]))
            except ValueError:  # "now", or a stray file
                continue
        return sorted(found)

    def remember(self, as_of: pd.Timestamp | None) -> None:
        """Record a pass at ``as_of``; a read-only cache only costs a validation next time."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.marker(as_of).touch()
        except OSError:
            pass


def cache_dir() -> Path:
    """The workbench cache directory: ``WORKBENCH_CACHE_DIR`` or ``~/.cache/workbench``."""
    base = os.environ.get("WORKBENCH_CACHE_DIR", "").strip()
    return Path(base) if base else Path.home() / ".cache" / "workbench"


Listing = dict[str, dict[str, tuple[int, str]]]  # table -> path inside its source -> (size, content digest)


def source_listing(sources: Mapping[str, Any]) -> Listing | None:
    """Every source file's size and content digest, per table; ``None`` when a source is not a local file.

    A file source is listed under its name, a folder's files under their paths inside it.
    """
    cache = cache_dir()
    listing: Listing = {}
    for table in sorted(sources):
        src = sources[table]
        if not isinstance(src, (str, Path)) or not Path(src).exists():
            return None
        root = Path(src).resolve()
        files = listing[table] = {}
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if f.is_file():
                inside = f.relative_to(root).as_posix() if root.is_dir() else f.name
                files[inside] = (f.stat().st_size, content_digest(f, cache))
    return listing


def validation_record(sources: Mapping[str, Any], name: str, listing: Listing | None = None) -> ValidationRecord | None:
    """The record of passed validations of table ``name`` on this snapshot of the data.

    The key hashes the package version, the table and, for every source file, its table, its
    name inside the source, its size and its content (:func:`content_digest`) — any change to
    any table (references cross tables) makes a new key, whatever its modification time says;
    a copy of the same bytes elsewhere or a ``touch`` keeps the key. ``None`` (no caching) when
    a source is not a local file (a DataFrame, a catalogue table) or when
    ``WORKBENCH_VALIDATION_CACHE=0``. ``listing``: :func:`source_listing` of ``sources``, if known.
    """
    if os.environ.get("WORKBENCH_VALIDATION_CACHE", "1").strip() == "0":
        return None
    from .. import __version__

    listing = source_listing(sources) if listing is None else listing
    if listing is None:
        return None
    digest = hashlib.sha256(f"{__version__}|{name}".encode())
    for table, files in listing.items():
        for inside, (size, content) in files.items():
            digest.update(f"{table}|{inside}|{size}|{content}\n".encode())
    return ValidationRecord(cache_dir() / "validated", digest.hexdigest())


def validation_marker(sources: Mapping[str, Any], name: str, as_of: pd.Timestamp | None) -> Path | None:
    """The file that records a passed validation of table ``name`` at ``as_of`` for this snapshot of the data.

    :meth:`ValidationRecord.marker` of :func:`validation_record` (``None`` when there is none).
    Without an analysis date the check is against the time of opening, and a pass then stays a
    pass later.
    """
    record = validation_record(sources, name)
    return None if record is None else record.marker(as_of)


@dataclass(frozen=True)
class Normalisation:
    """One reading rule applied to one column: how many values it changed."""

    table: str
    column: str
    rule: str
    rows: int


@dataclass(frozen=True, eq=False)  # compares as a mapping: equal to a dict of the same row counts
class ValidationSummary(Mapping):
    """What :meth:`Workbench.validate_all` found; maps each present table to its row count.

    Attributes
    ----------
    rows : dict
        Rows per present contract table, as analyses see them.
    absent : dict
        Absent contract tables and the analyses that need them.
    normalised : tuple of Normalisation
        Values changed by the reading rules (null markers, trimmed spaces, integral ids).
    duplicate_events : dict
        Identical interval-event rows merged, per table (only tables that had some).
    after_as_of : dict
        Rows at or after the as-of date left out, per event table.
    sequences : dict
        Per interval event table, :func:`sequence_counts`: second closes and repeated opens
        (only tables that had some).
    """

    rows: dict[str, int]
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)
    normalised: tuple[Normalisation, ...] = ()
    duplicate_events: dict[str, int] = field(default_factory=dict)
    after_as_of: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, dict[str, int]] = field(default_factory=dict)

    def __getitem__(self, table: str) -> int:
        return self.rows[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def notes(self) -> list[str]:
        """Plain-text lines for a validation log: absent tables, normalisations, duplicates, backfill."""
        lines = [f"absent  {t}" + (f" (needed by {', '.join(n)})" if n else "") for t, n in self.absent.items()]
        lines += [f"read    {n.table}.{n.column}: {n.rule} on {n.rows:,} value(s)" for n in self.normalised]
        lines += [f"merged  {t}: {n:,} duplicate event row(s)" for t, n in self.duplicate_events.items()]
        lines += [f"as-of   {t}: {n:,} row(s) at or after the as-of date left out"
                  for t, n in self.after_as_of.items() if n]
        lines += [f"kept    {t}: {n:,} {kind.replace('_', ' ')} (normal in WeCom data; ignored by the intervals)"
                  for t, kinds in self.sequences.items() for kind, n in kinds.items() if n]
        return lines

def normalisation_counts(wb: Workbench, name: str, rows: str | None = None) -> list[tuple[str, str, int]]:
    r"""``(column, rule, values)`` of each reading rule that changed values of table ``name`` (one scan).

    Over ``rows`` instead (some of ``__input_<name>``'s rows, its columns and types), every rule
    is listed, zeros too.

    Rules: ``null marker`` (``\N``, ``NULL``, ``null`` or empty text, spaces aside), ``spaces
    trimmed``, ``integral id`` (``1.0`` text, or a float column holding a text id). Only rows with
    a suspect value are counted: a null marker as it is, a space at either end, a dot in an id, a
    float id. Every rule's condition implies its column's suspicion (``TRIM`` takes only spaces
    off), so the counts are those of all rows, and the string work runs on the few suspects.

    Examples
    --------
    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"customers": pd.DataFrame({"customer_id": ["C1 ", "C2", "3.0", "\\N"]})})
    >>> normalisation_counts(wb, "customers")
    [('customer_id', 'null marker', 1), ('customer_id', 'spaces trimmed', 1), ('customer_id', 'integral id', 1)]
    """
    spec = contract.TABLES[name]
    types = wb._view_types(f"__input_{name}")
    markers = ", ".join(literal(m) for m in contract.NULL_MARKERS)
    conds: list[tuple[str, str, str]] = []
    suspects: list[str] = []
    for target, source in wb._column_map(name).items():
        q, kind = quote(source), types[source]
        if kind == "VARCHAR":
            conds.append((target, "null marker", f"TRIM({q}) IN ({markers})"))
            conds.append((target, "spaces trimmed", f"{q} <> TRIM({q}) AND TRIM({q}) NOT IN ({markers})"))
            suspects += [f"{q} IN ({markers})", f"{q} LIKE ' %'", f"{q} LIKE '% '"]
            if contract.is_identifier(target):
                conds.append((target, "integral id", f"TRIM({q}) LIKE '%.%0' AND "
                                                      f"regexp_matches(TRIM({q}), {literal(_INTEGRAL_TEXT)})"))
                suspects.append(f"{q} LIKE '%.%0%'")
        elif _FLOATS.match(kind) and spec.column(target).dtype == STRING:
            conds.append((target, "integral id", f"{q} IS NOT NULL"))
            suspects.append(f"{q} IS NOT NULL")
    if not conds:
        return []
    agg = ", ".join(f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END)" for _, _, c in conds)
    values = wb._fetch(f"SELECT {agg} FROM {rows or quote('__input_' + name)} WHERE {' OR '.join(suspects)}")[0]
    # no suspect row at all: each SUM of nothing is NULL
    return [(column, rule, int(n or 0)) for (column, rule, _), n in zip(conds, values, strict=True) if n or rows]


def _first_rows(wb: Workbench, query: str) -> pd.DataFrame:
    return wb._frame(query + f" LIMIT {_SAMPLE_ROWS}")


def _validate_table(wb: Workbench, spec: TableSpec) -> None:
    name = spec.name
    raw = quote("__raw_" + name)
    raw_types = wb._raw_types(name)

    missing = [c for c in spec.required_columns if c not in raw_types]
    if missing:
        raise DataContractError(
            name, missing[0],
            f"required column is missing (missing: {', '.join(missing)}; found: {', '.join(raw_types)})",
        )

    if name in _MUST_HAVE_ROWS and not wb._fetch(f"SELECT COUNT(*) FROM {raw}")[0][0]:
        # an empty export of a core table is a failed export far more often than a brand
        # without orders; every report would otherwise state zeros (or fail) without saying why
        raise DataContractError(name, None, "table has no rows: an empty export? Export it again, or remove "
                                            "the file to run only the analyses that do not need it")

    for column, n in _check_rows(wb, spec, raw).items():
        wb._padded[(name, column)] = n

    if spec.key:
        keys = ", ".join(quote(k) for k in spec.key)
        _check_duplicate_keys(wb, spec, f"SELECT {keys} FROM {quote(name)} GROUP BY {keys} HAVING COUNT(*) > 1")

    if name in contract.INTERVAL_EVENTS:
        _check_interval_sequence(wb, name)

    for ref in spec.references:
        _check_reference(wb, spec, ref)

    _check_identifier_spelling(wb, spec)

    if name == "tasks":
        _check_task_variants(wb)


def _check_rows(wb: Workbench, spec: TableSpec, raw: str) -> dict[str, int]:
    """Refuse the first per-row problem of ``spec``'s rows in relation ``raw``; zero-padded ids per column.

    ``raw`` holds rows as ``__raw_<table>`` reads them (the reading rules applied, the same
    column types): the whole table, or the rows of some of its files. Types, nulls, enums, finite
    numbers, ranges, refund <= amount and (strict, or no as-of) times in the future, in one scan.
    """
    name, raw_types = spec.name, wb._raw_types(spec.name)
    # One scan computes every per-row violation count; details are fetched only on failure.
    checks: list[tuple[str, str, str]] = []  # (column, problem, condition on raw columns)
    for col in spec.columns:
        if col.name not in raw_types:
            continue
        q = quote(col.name)
        cast = wb._cast(col.name, raw_types[col.name], col.dtype)
        if "TRY_CAST" in cast or cast.startswith("CAST(NULL"):
            checks.append((col.name, f"wrong type: expected {col.dtype}, found {raw_types[col.name]} values "
                                     f"that do not convert", f"{q} IS NOT NULL AND {cast} IS NULL"))
    for col in spec.columns:
        if col.name not in raw_types:
            continue
        q = quote(col.name)
        cast = wb._cast(col.name, raw_types[col.name], col.dtype)
        if not col.nullable:
            checks.append((col.name, "null value in a required column", f"{q} IS NULL"))
        if col.values:
            allowed = ", ".join(literal(v) for v in col.values)
            checks.append((col.name, f"unknown value (allowed: {', '.join(col.values)})",
                           f"{cast} IS NOT NULL AND {cast} NOT IN ({allowed})"))
        if col.dtype == DOUBLE:
            # NaN and inf pass a "< 0" test and turn every sum into NaN or inf
            checks.append((col.name, "value is not a finite number (NaN or infinity)",
                           f"{cast} IS NOT NULL AND ({cast} > 1.7976931348623157e308 "
                           f"OR {cast} < -1.7976931348623157e308 OR {cast} <> {cast})"))
        if col.min_value is not None:
            checks.append((col.name, f"value below {col.min_value:g} (money cannot be negative)",
                           f"{cast} < {col.min_value!r}"))
        if col.dtype == TIMESTAMP and not wb.reads_as_of:
            checks.append((col.name, f"timestamp at or after as_of {wb.future_limit}: data from the future of the "
                                     f"analysis date", f"{cast} >= {literal(wb.future_limit)}"))
    if name == "orders" and "refunded_amount" in raw_types:
        checks.append(("refunded_amount", "refund larger than the order amount",
                       "TRY_CAST(refunded_amount AS DOUBLE) > TRY_CAST(amount AS DOUBLE) + 1e-9"))
    # zero-padded ids (rule 6) are counted in the same scan; they are not violations by themselves
    id_columns = [c.name for c in spec.columns if contract.identifier_domain(c.name) and c.name in raw_types]
    padded = [f"SUM(CASE WHEN {_padded_condition(quote(c))} THEN 1 ELSE 0 END)" for c in id_columns]
    if not (checks or padded):
        return {}
    agg = ", ".join([f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS c{i}" for i, (_, _, cond) in enumerate(checks)]
                    + padded)
    counts = wb._fetch(f"SELECT {agg} FROM {raw}")[0]
    for (column, problem, cond), n in zip(checks, counts, strict=False):
        if n:
            rows = _first_rows(wb, f"SELECT * FROM {raw} WHERE {cond}")
            raise DataContractError(name, column, problem, rows, int(n))
    return {c: int(n or 0) for c, n in zip(id_columns, counts[len(checks):], strict=False)}


def _and(condition: str) -> str:
    return "" if condition == "TRUE" else f" AND {condition}"


def _as_of_columns(wb: Workbench, name: str, reads: Iterable[str]) -> list[str]:
    """Time columns through which the as-of date changes view ``name``'s rows or its columns ``reads``.

    The rule of ``Workbench._contract_select``: the row time (rows at or after as-of are left
    out) and each nullable time that is, or has an :data:`~workbench.contract.AS_OF_COMPANIONS`
    column, in ``reads`` (they read as NULL until it happens). None when the workbench does not
    read as-of (strict, or no as-of date: nothing is left out).
    """
    if not wb.reads_as_of:
        return []
    raw_types, row_time, reads = wb._raw_types(name), contract.ROW_TIME.get(name), set(reads)
    found = []
    for col in contract.TABLES[name].columns:
        if col.dtype != TIMESTAMP or col.name not in raw_types:
            continue
        shown = {col.name, *contract.AS_OF_COMPANIONS.get((name, col.name), ())}
        if col.name == row_time or (col.nullable and shown & reads):
            found.append(col.name)
    return found


def _changed_rows(wb: Workbench, name: str, since: pd.Timestamp | None, reads: Iterable[str],
                  alias: str = "") -> str:
    """SQL condition on view ``name`` (as ``alias``): rows absent at as-of ``since``, or whose ``reads`` differ.

    ``TRUE`` without ``since`` (every row); ``FALSE`` when no such row can exist. At as-of B > A
    a row is new, or shows other values in ``reads``, exactly when one of its
    :func:`_as_of_columns` is at or after A: the row time (a row of [A, B)), or a later time
    that read as NULL at A (with its companions) and has happened by B. Every other row reads
    the same at A and at B.
    """
    if since is None:
        return "TRUE"
    at = literal(since)
    changed = [f"{alias}{quote(c)} >= {at}" for c in _as_of_columns(wb, name, reads)]
    return f"({' OR '.join(changed)})" if changed else "FALSE"


def _validate_since(wb: Workbench, spec: TableSpec, since: pd.Timestamp) -> None:
    """Validate ``spec`` at ``wb.as_of`` (B) on files that passed at as-of ``since`` (A < B).

    Raises the same :class:`DataContractError` a full validation (:func:`_validate_table`)
    raises (table, column, problem, first rows, count), running only what can differ.
    "Changed" rows are those :func:`_changed_rows` finds: new in [A, B), or showing a later
    time (or its companion) in a column the check reads.

    - Columns, empty core tables, the per-row checks (types, nulls, enums, finite numbers,
      ranges, refund ≤ amount), padded ids and their spelling across tables read the raw rows,
      which the as-of date does not filter: the same at A and B. The future check (strict,
      or no as-of) refuses times ≥ B, a subset of the times ≥ A that A refused. Not run.
    - A key duplicated at B has a changed row (else all its rows read the same at A, a
      duplicate then): only the keys of changed rows are grouped, with all their rows.
    - A close without an earlier open of its pair: rows of [A, B) are later than every other
      row of their pair, so the others keep their order and predecessors; a refused close is
      a row of [A, B). Only the pairs with such rows are ordered, with all their rows. (Kept
      whole if a later time could change an interval event in another way.)
    - References and task variants: the values of a target column only grow with the as-of
      (rows are added, NULL times and their companions become values; none is removed), so
      a row that passed at A passes at B unless it changed: only changed rows are checked.

    In strict mode nothing is left out of the views, so no row changes: only the referenced
    tables' own validations run.
    """
    name = spec.name
    view = quote(name)
    changed = _changed_rows(wb, name, since, spec.key)
    if spec.key and changed != "FALSE":
        keys = ", ".join(quote(k) for k in spec.key)
        _check_duplicate_keys(wb, spec, f"SELECT {keys} FROM {view} JOIN (SELECT DISTINCT {keys} FROM {view} "
                                        f"WHERE {changed}) c USING ({keys}) GROUP BY {keys} HAVING COUNT(*) > 1")
    if name in contract.INTERVAL_EVENTS:
        # the view merges identical rows (rule 9): every column counts
        read = _as_of_columns(wb, name, spec.column_names)
        if read == [contract.ROW_TIME[name]]:  # rows of [A, B) only, all later than the others of their pair
            _check_interval_sequence(wb, name, _pairs_changed_since(wb, name, since))
        elif read:  # a pair or an order that a later time could change: not narrowed
            _check_interval_sequence(wb, name)
    for ref in spec.references:
        _check_reference(wb, spec, ref, since)
    if name == "tasks":
        _check_task_variants(wb, since)


def _pairs_changed_since(wb: Workbench, name: str, since: pd.Timestamp) -> str:
    """SELECT of view ``name``'s rows of the pairs with rows changed since ``since``, as the view reads them."""
    spec = contract.TABLES[name]
    return _pair_rows(wb, name, f"{quote(name)} WHERE {_changed_rows(wb, name, since, spec.column_names)}")


def _pair_rows(wb: Workbench, name: str, rows: str) -> str:
    """SELECT of view ``name``'s rows of the pairs found in ``rows`` (``FROM`` text over typed rows).

    The pairs are found in ``rows`` (a filter there reaches the scan); their rows are taken from
    the raw rows before the view's merge of identical rows, which would otherwise run over the whole table.
    """
    spec, raw_types = contract.TABLES[name], wb._raw_types(name)
    pair = contract.INTERVAL_EVENTS[name]["pair"]
    found = ", ".join(f"{quote(c)} AS pair_{i}" for i, c in enumerate(pair))
    match = " AND ".join(f"c.pair_{i} = {wb._cast(c, raw_types[c], spec.column(c).dtype)}" for i, c in enumerate(pair))
    raw = quote("__raw_" + name)
    picked = f"SELECT {raw}.* FROM {raw} JOIN (SELECT DISTINCT {found} FROM {rows}) c ON {match}"
    return wb._contract_select(name, f"({picked}) r")


def _check_duplicate_keys(wb: Workbench, spec: TableSpec, duplicated: str) -> None:
    """Refuse the keys of ``spec`` that SELECT ``duplicated`` finds on more than one row."""
    keys = ", ".join(quote(k) for k in spec.key)
    n = wb._fetch(f"SELECT COUNT(*) FROM ({duplicated}) d")[0][0]
    if n:
        rows = _first_rows(wb, f"SELECT t.* FROM {quote(spec.name)} t JOIN ({duplicated}) d USING ({keys}) "
                               f"ORDER BY {keys}")
        raise DataContractError(spec.name, ", ".join(spec.key), "duplicate key", rows, int(n))


def _check_reference(wb: Workbench, spec: TableSpec, ref: contract.Reference,
                     since: pd.Timestamp | None = None, rows: str | None = None) -> None:
    """Refuse values of ``ref.column`` absent from the referenced table.

    On the rows changed since ``since`` (every row without it), or on ``rows``: a relation of
    some of the view's rows (``(SELECT …)`` or a view name), checked whole.
    """
    if ref.column not in wb._raw_types(spec.name) or not wb.has_table(ref.table) or ref.table == spec.name:
        return
    wb.validate(ref.table)
    only = "TRUE" if rows is not None else _changed_rows(wb, spec.name, since, [ref.column], "t.")
    if only == "FALSE":
        return
    cond = (f"t.{quote(ref.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {quote(ref.table)} r "
            f"WHERE r.{quote(ref.target_column)} = t.{quote(ref.column)})") + _and(only)
    view = rows if rows is not None else quote(spec.name)
    n = wb._fetch(f"SELECT COUNT(*) FROM {view} t WHERE {cond}")[0][0]
    if n:
        found = _first_rows(wb, f"SELECT t.* FROM {view} t WHERE {cond}")
        raise DataContractError(spec.name, ref.column, f"value not found in {ref.table}.{ref.target_column}",
                                found, int(n))


def _check_task_variants(wb: Workbench, since: pd.Timestamp | None = None, rows: str | None = None) -> None:
    """Refuse task variants not assigned in their experiment (on rows changed since ``since``, or on ``rows``)."""
    if not wb.has_table("assignments"):
        return
    wb.validate("assignments")
    only = "TRUE" if rows is not None else _changed_rows(wb, "tasks", since, ["experiment_id", "variant"], "t.")
    if only == "FALSE":
        return
    cond = ("t.experiment_id IS NOT NULL AND t.variant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM assignments a "
            "WHERE a.experiment_id = t.experiment_id AND a.variant = t.variant)") + _and(only)
    view = rows if rows is not None else "tasks"
    n = wb._fetch(f"SELECT COUNT(*) FROM {view} t WHERE {cond}")[0][0]
    if n:
        found = _first_rows(wb, f"SELECT t.* FROM {view} t WHERE {cond}")
        raise DataContractError("tasks", "variant", "unknown variant: not assigned in that experiment", found,
                                int(n))


def _check_identifier_spelling(wb: Workbench, spec: TableSpec) -> None:
    """Check contract rule 6 (zero-padded ids).

    Contract rule 6: an id written zero-padded in this table and without the zeros in another
    is refused (stripping zeros could merge two different ids; keeping them loses every match).

    Only this table's padded ids are checked (counted in the main validation scan): the other
    direction is checked when the other table is validated, which it is whenever an analysis
    reads both.
    """
    for column in [c.name for c in spec.columns if wb._padded.get((spec.name, c.name))]:
        domain = contract.identifier_domain(column)
        for other in wb.tables:
            if other == spec.name or other not in wb._sources:
                continue
            other_types = wb._raw_types(other)
            for other_column in contract.TABLES[other].column_names:
                if contract.identifier_domain(other_column) == domain and other_column in other_types:
                    _check_padded_pair(wb, spec.name, column, other, other_column)


def _check_padded_pair(wb: Workbench, a: str, ca: str, b: str, cb: str) -> None:
    qa, qb = quote(ca), quote(cb)
    found = (f"SELECT DISTINCT {qa} AS padded, regexp_replace({qa}, '^0+', '') AS unpadded "
             f"FROM {quote('__raw_' + a)} WHERE {_padded_condition(qa)}")
    cond = (f"EXISTS (SELECT 1 FROM {quote('__raw_' + b)} o WHERE o.{qb} = p.unpadded) "
            f"AND NOT EXISTS (SELECT 1 FROM {quote('__raw_' + b)} o WHERE o.{qb} = p.padded)")
    n = wb._fetch(f"SELECT COUNT(*) FROM ({found}) p WHERE {cond}")[0][0]
    if n:
        rows = _first_rows(wb, f"SELECT p.padded AS {quote(a + '.' + ca)}, p.unpadded AS {quote(b + '.' + cb)} "
                               f"FROM ({found}) p WHERE {cond} ORDER BY 1")
        raise DataContractError(
            a, ca, f"identifiers written two ways: zero-padded here and without the zeros in {b}.{cb}, so the "
                   f"same customer, store or staff member cannot be matched; export both the same way", rows, int(n))

def _sequence_sql(table: str, rows: str | None = None) -> str:
    rules = contract.INTERVAL_EVENTS[table]
    pair = ", ".join(rules["pair"])
    return (f"SELECT *, LAG(event_type) OVER (PARTITION BY {pair} ORDER BY {interval_order_sql(table)}) "
            f"AS previous_event FROM ({ordered_events_sql(table, rows)}) e")


def sequence_counts(wb: Workbench, table: str) -> dict[str, int]:
    """Normal real-data sequences in an interval event table, counted (contract rule 13).

    ``second_closes``: closes whose previous event of the pair is a close (the customer deleted
    the member, later the member deleted the now one-way contact); the first close ends the
    interval. ``repeated_opens``: opens of a pair that is already open (a re-sent add); ignored.
    Identical rows are merged before counting (rule 9).
    """
    counts = interval_counts(wb, table)
    return {k: counts[k] for k in ("second_closes", "repeated_opens")}


def interval_counts(wb: Workbench, table: str) -> dict[str, int]:
    """:func:`sequence_counts` of interval event table ``table`` and its ``rows`` as analyses read them, in one pass.

    The view's merging of identical rows is most of a row count's cost: the sequences read it too.
    """
    rules = contract.INTERVAL_EVENTS[table]
    closes = ", ".join(literal(v) for v in rules["close"])
    opens = ", ".join(literal(v) for v in rules["open"])

    def count(kinds: str) -> str:
        return f"COALESCE(SUM(CASE WHEN event_type IN ({kinds}) AND previous_event IN ({kinds}) THEN 1 ELSE 0 END), 0)"

    rows, second, repeated = wb._fetch(f"SELECT COUNT(*), {count(closes)}, {count(opens)} "
                                       f"FROM ({_sequence_sql(table)}) s")[0]
    return {"second_closes": int(second), "repeated_opens": int(repeated), "rows": int(rows)}


def _check_interval_sequence(wb: Workbench, table: str, rows: str | None = None) -> None:
    """Refuse a close with no open before it of the same pair (over ``rows``: whole pairs of the table)."""
    # Two closes in a row and repeated opens are normal in WeCom data (rule 13): only a close
    # with no open before it in the data is refused, because nothing says when the relationship began.
    rules = contract.INTERVAL_EVENTS[table]
    pair = ", ".join(rules["pair"])
    closes = ", ".join(literal(v) for v in rules["close"])
    seq = _sequence_sql(table, rows)
    cond = f"event_type IN ({closes}) AND previous_event IS NULL"
    n = wb._fetch(f"SELECT COUNT(*) FROM ({seq}) s WHERE {cond}")[0][0]
    if n:
        shown = ", ".join(quote(c) for c in contract.TABLES[table].column_names)
        rows = _first_rows(wb, f"SELECT {shown} FROM ({seq}) s WHERE {cond} ORDER BY {pair}, event_time")
        verb = "delete" if table == "contact_events" else "leave"
        first = "add" if table == "contact_events" else "join"
        hint = (" (a relationship that began before the data did: seed its add from a snapshot, as "
                "`workbench ingest wecom --snapshot` does, or drop the delete)") if table == "contact_events" else ""
        raise DataContractError(table, "event_type", f"a {verb} with no earlier {first} of the same {pair}{hint}",
                                rows, int(n))
