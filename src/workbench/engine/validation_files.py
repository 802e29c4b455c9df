"""Validation remembered per file: a table whose export only gained files checks what the new files can break.

The usual real layout of an event table is a folder that gains one Parquet file a day. A pass
is remembered per snapshot of every table's files (:class:`~workbench.engine.validation.ValidationRecord`)
and, here, per table and place: which files every table had then, with their sizes, content
digests and column types, the as-of date and the table's zero-padded ids (:class:`FilePass`).
When the table's files are a remembered pass's files plus new ones — none changed or removed,
the column types unchanged — :func:`validate_appended` runs the per-row checks on the new
files' rows only and each cross-row check only where the new rows (and, at a later as-of
date, the rows it adds) can break it; it says why that refuses exactly what a full validation
refuses, with the same error. Reading only some files of a folder needs DuckDB's file-name
column: on other engines a table with new files is validated in full (as before).

What :func:`validate_all` (:meth:`~workbench.engine.Workbench.validate_all`) states about a
table (its row count, the values the reading rules changed, merged duplicates, kept sequences)
is a function of that table's files, the code and (for what the views read) the as-of date:
:func:`remembered_count` keeps each beside the passes, so every later kernel on the same files
reads it. The reading-rule counts of a folder are kept per file too (:func:`file_normalisations`),
and the kept sequences come from a current layer's intervals when it has them
(:func:`counts_from_intervals`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import contract
from ..contract import TableSpec
from . import validation
from .sql import _normalise_expr, literal, quote
from .validation import (
    Listing,
    Normalisation,
    ValidationSummary,
    _as_of_columns,
    _changed_rows,
    _check_duplicate_keys,
    _check_identifier_spelling,
    _check_interval_sequence,
    _check_reference,
    _check_rows,
    _check_task_variants,
    _pair_rows,
    _stamp,
    _unstamp,
    cache_dir,
    interval_counts,
    normalisation_counts,
    source_listing,
    validation_record,
)

if TYPE_CHECKING:
    from .workbench import Workbench

log = logging.getLogger("workbench.engine")
_FILE = "__wb_file"  # the file column of a folder read (DuckDB's filename option)
_KEEP = 8  # remembered passes kept per table and place (the latest as-of dates)
_KEEP_COUNTS = 32  # remembered summary counts kept per table and count (snapshots and as-of dates)
_types_memo: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], dict[str, str]]] = weakref.WeakKeyDictionary()
_files_memo: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], str | None]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class FilePass:
    """One remembered pass of a table: every table's files then, the as-of date, the table's padded ids.

    Attributes
    ----------
    as_of : Timestamp or None
        The analysis date of the pass (``None``: without one).
    files : dict
        :func:`~workbench.engine.validation.source_listing` then: per table, path inside its
        source -> [size, content digest].
    types : dict
        Per table, its input columns and their engine types (a new file can widen a folder's types).
    padded : dict
        Zero-padded ids per id column of the table, over all its rows (contract rule 6).
    """

    as_of: pd.Timestamp | None
    files: dict[str, dict[str, list[Any]]]
    types: dict[str, dict[str, str]]
    padded: dict[str, int]

    def to_json(self) -> str:
        """The pass as JSON text."""
        return json.dumps({"as_of": _stamp(self.as_of), "files": self.files, "types": self.types,
                           "padded": self.padded}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FilePass:
        """The pass written by :meth:`to_json`.

        Examples
        --------
        >>> p = FilePass(pd.Timestamp("2025-01-02"), {"orders": {"a.parquet": [1, "ab"]}}, {}, {"order_id": 0})
        >>> FilePass.from_json(p.to_json()) == p
        True
        """
        data = json.loads(text)
        as_of = None if data["as_of"] == "now" else _unstamp(data["as_of"])
        return cls(as_of, data["files"], data["types"], {k: int(v) for k, v in data["padded"].items()})


@dataclass(frozen=True)
class Appended:
    """How the data differs from a remembered pass whose files the table still has, all unchanged.

    Attributes
    ----------
    since : Timestamp or None
        The pass's as-of date (at most this workbench's).
    new_files : tuple of str
        The table's files that the pass did not have (paths inside its folder).
    grown : frozenset of str
        Other tables whose files are the pass's plus new ones.
    changed : frozenset of str
        Other tables with a changed or removed file, other column types, or present only now or then.
    padded : dict
        The pass's zero-padded ids per id column.
    """

    since: pd.Timestamp | None
    new_files: tuple[str, ...]
    grown: frozenset[str]
    changed: frozenset[str]
    padded: dict[str, int]

    def describe(self) -> str:
        """The workbench's ``validation_kind``: ``new files since <as-of>: <n>``."""
        return f"new files since {'now' if self.since is None else self.since}: {len(self.new_files)}"


def _location(wb: Workbench, key: str) -> str:
    """Hex key of the package version, the table (and ``|strict``) and the place of the table's source."""
    from .. import __version__

    name = key.split("|")[0]
    place = Path(wb._sources[name]).resolve()
    return hashlib.sha256(f"{__version__}|{key}|{place}".encode()).hexdigest()


def _folder() -> Path:
    return cache_dir() / "validated" / "files"


def _input_types(wb: Workbench, table: str) -> dict[str, str]:
    """The input columns of ``table`` and their types (asked once per workbench and source)."""
    memo = _types_memo.setdefault(wb, {})
    at = (table, str(wb._sources[table]))
    if at not in memo:
        memo[at] = wb._view_types(f"__input_{table}")
    return memo[at]


def _passes(wb: Workbench, key: str) -> list[FilePass]:
    """The remembered passes of ``key`` at this place whose as-of date allows reuse here, latest first.

    A pass at as-of A serves as-of B >= A; a pass without an as-of date serves only a workbench
    without one (rows left out at B could hold a referenced value that the pass read).
    """
    found = []
    for f in _folder().glob(f"{_location(wb, key)}.*.json"):
        try:
            found.append(FilePass.from_json(f.read_text()))
        except (OSError, ValueError, KeyError):  # half a file from a killed writer, or a stray one
            continue
    usable = [p for p in found if (p.as_of is None) == (wb.as_of is None)
              and (p.as_of is None or p.as_of <= wb.as_of)]
    return sorted(usable, key=lambda p: p.as_of or pd.Timestamp.min, reverse=True)


def _compare(before: dict[str, list[Any]] | None, now: dict[str, tuple[int, str]] | None) -> tuple[str, list[str]]:
    """``("same" | "grown" | "changed", new paths)`` of one table's files then and now."""
    if before is None or now is None:
        return ("same", []) if before is None and now is None else ("changed", [])
    if any(list(now.get(rel, ())) != list(entry) for rel, entry in before.items()):
        return "changed", []
    new = sorted(set(now) - set(before))
    return ("grown" if new else "same"), new


def find_appended(wb: Workbench, key: str, listing: Listing) -> Appended | None:
    """What changed since the latest usable remembered pass of ``key`` whose files the table still has, unchanged."""
    name = key.split("|")[0]
    for prior in _passes(wb, key):
        state, new = _compare(prior.files.get(name), listing.get(name))
        if state == "changed" or prior.types.get(name) != _input_types(wb, name):
            continue
        if new and (wb.dialect != "duckdb" or not Path(wb._sources[name]).is_dir()):
            return None  # only DuckDB reads some of a folder's files here
        states = {t: _other_state(wb, prior, t, listing) for t in set(prior.files) | set(listing) if t != name}
        return Appended(prior.as_of, tuple(new), frozenset(t for t, s in states.items() if s == "grown"),
                        frozenset(t for t, s in states.items() if s == "changed"), prior.padded)
    return None


def _other_state(wb: Workbench, prior: FilePass, table: str, listing: Listing) -> str:
    """``same``, ``grown`` or ``changed``: another table's files since ``prior``."""
    state, _ = _compare(prior.files.get(table), listing.get(table))
    if state == "grown" and prior.types.get(table) != _input_types(wb, table):
        return "changed"  # a new file that widens a folder's types may read every file differently
    return state


def remember_files(wb: Workbench, key: str, listing: Listing, how: str) -> None:
    """Remember this pass of ``key`` per file (:class:`FilePass`), when the table's padded ids are known.

    They are counted by a full or an appended validation; after a remembered or narrowed one they
    are taken from a pass on the same files of the table. A read-only cache only costs a
    validation next time.
    """
    name = key.split("|")[0]
    if how == "full" or how.startswith("new files"):
        padded = {c: n for (t, c), n in wb._padded.items() if t == name}
    else:
        same = [p for p in _passes(wb, key) if _compare(p.files.get(name), listing.get(name))[0] == "same"]
        if not same:
            return
        padded = same[0].padded
    files = {t: {rel: list(entry) for rel, entry in f.items()} for t, f in listing.items()}
    record = FilePass(wb.as_of, files, {t: _input_types(wb, t) for t in listing}, padded)
    target = _folder() / f"{_location(wb, key)}.{_stamp(wb.as_of)}.json"
    text = record.to_json()
    try:
        if target.exists() and target.read_text() == text:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)  # a concurrent reader sees a whole pass or the previous one
        kept = sorted(target.parent.glob(f"{_location(wb, key)}.*.json"), key=lambda f: f.name, reverse=True)
        for old in kept[_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def validate_appended(wb: Workbench, spec: TableSpec, key: str, listing: Listing) -> str | None:
    """Validate ``spec`` on files that a remembered pass had, plus new ones; ``None`` if there is no such pass.

    Raises the same :class:`~workbench.errors.DataContractError` a full validation raises
    (table, column, problem, count, first rows), running only what can differ from the pass
    (files F at as-of A) to now (files F plus new files N, as-of B >= A). "Candidate" rows are
    the rows of N and the rows of F that a later as-of changes (:func:`_changed_rows`: new in
    [A, B), or showing a later time in a column the check reads); every other row of F reads as
    it did at A, where every check passed.

    - Columns and their types are those of the pass (else this is not used); F had rows, so a
      core table is not empty.
    - Per-row checks (types, nulls, enums, finite numbers, ranges, refund <= amount, the future
      under strict or without an as-of date) read raw rows one at a time: F's passed (the future
      limit only moves later), so they run on N's rows only. Zero-padded ids: F's count from the
      pass plus N's.
    - Duplicate keys: a key duplicated now has a candidate row (else all its rows read the same
      at A, a duplicate then): the candidates' keys are grouped with all their rows — new against
      new and new against old, never old against old.
    - A close with no earlier open of its pair: a pair without a candidate row has the rows and
      order it had at A. Only the pairs with a candidate row are ordered, with all their rows
      (kept whole if a later time could change an interval event in another way than adding it).
    - References and task variants: a referenced table that is unchanged or only gained files
      has at B every value it had at A (rows are added, NULL times become values; none is
      removed), so F's unchanged rows still find theirs: only candidates are checked. A
      referenced table with a changed or removed file may have lost a value: every row is
      checked against it (that check only; the others stay narrowed).
    - Ids written two ways (rule 6) compare the table's padded ids with the other tables: run in
      full when the table has padded ids and N or another table's files are new or changed.
    """
    found = find_appended(wb, key, listing)
    if found is None:
        return None
    views = _FileViews(wb, spec.name, found)
    try:
        if not views.ready():
            return None
        _check_appended(wb, spec, found, views)
    finally:
        views.drop()
    return found.describe()


def _check_appended(wb: Workbench, spec: TableSpec, found: Appended, views: _FileViews) -> None:
    name, view = spec.name, quote(spec.name)
    padded = dict(found.padded)
    if found.new_files:
        for column, n in _check_rows(wb, spec, quote(views.new)).items():
            padded[column] = padded.get(column, 0) + n
    for column, n in padded.items():
        wb._padded[(name, column)] = n
    if spec.key:
        keys = ", ".join(quote(k) for k in spec.key)
        rows = views.candidates(spec.key)
        if rows is not None:
            _check_duplicate_keys(wb, spec, f"SELECT {keys} FROM {view} JOIN (SELECT DISTINCT {keys} FROM {rows} c) "
                                            f"c USING ({keys}) GROUP BY {keys} HAVING COUNT(*) > 1")
    if name in contract.INTERVAL_EVENTS:
        read = _as_of_columns(wb, name, spec.column_names)
        if views.later and read not in ([], [contract.ROW_TIME[name]]):
            _check_interval_sequence(wb, name)
        elif (rows := views.candidates(spec.column_names)) is not None:
            _check_interval_sequence(wb, name, _pair_rows(wb, name, f"{rows} p"))
    nothing = f"(SELECT * FROM {view} WHERE FALSE)"
    for ref in spec.references:
        if ref.table in found.changed:
            _check_reference(wb, spec, ref)
        else:
            _check_reference(wb, spec, ref, rows=views.candidates([ref.column]) or nothing)
    others = found.grown | found.changed
    if any(padded.values()) and (found.new_files or others):
        _check_identifier_spelling(wb, spec)
    if name == "tasks":
        if "assignments" in found.changed:
            _check_task_variants(wb)
        else:
            _check_task_variants(wb, rows=views.candidates(["experiment_id", "variant"]) or nothing)


class _FileViews:
    """The raw rows of a folder's new files and of its other files, as views read the way ``__raw_<table>`` is."""

    def __init__(self, wb: Workbench, name: str, found: Appended) -> None:
        self.wb, self.name, self.found = wb, name, found
        self.new, self.old = f"__wb_new_{name}", f"__wb_old_{name}"
        self.later = found.since != wb.as_of
        self._made: list[str] = []

    def ready(self) -> bool:
        """Create the views of the new and the old files; False if they would not read as the table does."""
        if not self.found.new_files:
            return True
        names = _file_names(self.wb, Path(self.wb._sources[self.name]))
        new = [names[r] for r in self.found.new_files if r in names]
        old = [n for r, n in names.items() if r not in set(self.found.new_files)]
        for view, files in ((self.new, new), (self.old, old)):
            self.wb._create_view(view, self._select(files))
            self._made.append(view)
            if self.wb._view_types(view) != self.wb._raw_types(self.name):
                return False
        return True

    def _select(self, files: list[str]) -> str:
        """``__raw_<table>``'s SELECT over some files of the folder (a filter on the file column skips the others)."""
        wb, name = self.wb, self.name
        src = Path(wb._sources[name])
        reader = (f"read_parquet({literal(str(src / '**' / '*.parquet'))}, union_by_name = true, "
                  f"filename = {literal(_FILE)})")
        spec, types = contract.TABLES[name], _input_types(wb, name)
        to_contract = {v: k for k, v in wb._column_map(name).items()}
        exprs = [quote(c) if c not in to_contract else
                 f"{_normalise_expr(quote(c), t, spec.column(to_contract[c]))} AS {quote(to_contract[c])}"
                 for c, t in types.items()]
        where = f"{quote(_FILE)} IN ({', '.join(literal(f) for f in files)})" if files else "FALSE"
        return f"SELECT {', '.join(exprs)} FROM {reader} WHERE {where}"

    def candidates(self, reads: Iterable[str]) -> str | None:
        """``(SELECT …)`` of the new files' typed rows and of old rows changed in ``reads`` (None: no such rows)."""
        wb, name = self.wb, self.name
        parts = []
        if self.found.new_files:
            parts.append(f"SELECT * FROM ({wb._contract_select(name, quote(self.new))}) n")
        changed = _changed_rows(wb, name, self.found.since, reads) if self.later else "FALSE"
        if changed != "FALSE":
            old = wb._contract_select(name, quote(self.old)) if self.found.new_files else f"SELECT * FROM {quote(name)}"
            parts.append(f"SELECT * FROM ({old}) o WHERE {changed}")
        if not parts:
            return None
        # the view merges identical interval events (rule 9): so must the union of the two parts
        union = " UNION " if name in contract.INTERVAL_EVENTS else " UNION ALL "
        return "(" + union.join(parts) + ")"

    def drop(self) -> None:
        """Drop the views made."""
        for view in self._made:
            self.wb.backend.drop(view)


def validate_remembered(wb: Workbench, name: str) -> str:
    """Validate contract table ``name`` of ``wb``, reusing what passed on the same files; say how.

    ``"remembered"``: the same files passed at this as-of date (or, without one, ever).
    ``"since <date>"``: they passed at an earlier as-of date A; at this date B only the checks
    whose result can differ run, on the rows B adds or changes
    (:func:`~workbench.engine.validation._validate_since`, which says why that finds exactly the
    errors a full validation finds). ``"new files since …"``: the table's files are those of a
    remembered pass plus new ones, none changed or removed (the daily export that adds a file):
    the new files' rows and what they can break are checked (:func:`validate_appended`).
    ``"full"``: otherwise (changed or removed files, only later passes, no cache). A pass is
    recorded (:class:`~workbench.engine.validation.ValidationRecord`, and per file
    :class:`FilePass`); a failure never is. It lives here, above both kinds of record, so that
    :mod:`~workbench.engine.validation` does not import this module.
    """
    spec = contract.TABLES[name]
    # a strict pass checks more than a backfill pass on the same as-of date: separate keys
    key = f"{name}|strict" if wb.strict else name
    listing = None if os.environ.get("WORKBENCH_VALIDATION_CACHE", "1").strip() == "0" else source_listing(wb._sources)
    record = None if listing is None else validation_record(wb._sources, key, listing)
    if record is None or listing is None:
        validation._validate_table(wb, spec)
        return "full"
    if record.marker(wb.as_of).exists():
        how = "remembered"
    else:
        earlier = [a for a in record.passes() if wb.as_of is not None and a < wb.as_of]
        if earlier:
            validation._validate_since(wb, spec, earlier[-1])
            how = f"since {earlier[-1]}"
        else:
            how = validate_appended(wb, spec, key, listing) or "full"
            if how == "full":
                validation._validate_table(wb, spec)
        record.remember(wb.as_of)
    remember_files(wb, key, listing, how)
    return how


# ---------------------------------------------------------------------- the validation summary, remembered
def _table_files_key(wb: Workbench, name: str) -> str | None:
    """Hex digest of table ``name``'s files (names inside the source, sizes, contents); None if not local files.

    Asked once per workbench and source: every count of the summary keys on it.
    """
    memo = _files_memo.setdefault(wb, {})
    at = (name, str(wb._sources[name]))
    if at not in memo:
        listing = source_listing({name: wb._sources[name]})
        if listing is None:
            memo[at] = None
        else:
            digest = hashlib.sha256()
            for inside, (size, content) in sorted(listing[name].items()):
                digest.update(f"{inside}|{size}|{content}\n".encode())
            memo[at] = digest.hexdigest()
    return memo[at]


def summary_path(wb: Workbench, name: str, what: str, dated: bool) -> Path | None:
    """Where count ``what`` of table ``name`` is remembered, or None when it is not (not files, cache off).

    The key hashes the package version, the digest of its code (the counting rules live in it),
    the engine, the table, ``what`` and the table's files — its own only: each count reads no other table;
    ``dated`` adds the as-of date and whether later rows are left out (the contract views').
    """
    if os.environ.get("WORKBENCH_VALIDATION_CACHE", "1").strip() == "0" or name not in wb._sources:
        return None
    files = _table_files_key(wb, name)
    if files is None:
        return None
    from .. import __version__
    from .memo import code_digest

    parts = [__version__, code_digest(), wb.dialect, name, what, files]
    if dated:
        parts += [_stamp(wb.as_of), str(wb.reads_as_of)]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return _folder().parent / "summary" / f"{name}.{what}.{key}.json"


def remembered_count(wb: Workbench, name: str, what: str, dated: bool, compute: Callable[[], Any]) -> Any:
    """``compute()`` (a JSON value), read from the cache when a kernel counted it on the same files.

    Parameters
    ----------
    wb : Workbench
        The workbench whose table is counted.
    name : str
        The contract table; the count may read nothing but its files.
    what : str
        The count's name (file-name safe).
    dated : bool
        Whether the count reads the contract view (rows at or after the as-of date left out).
    compute : callable
        Counts; returns ints, lists or dicts of them (what JSON gives back unchanged).

    Returns
    -------
    Any
        ``compute()``'s value. Without a cache (:func:`summary_path` is None) it is computed every time.

    Examples
    --------
    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"orders": pd.DataFrame({"order_id": ["O1"]})})
    >>> remembered_count(wb, "orders", "rows", True, lambda: 1)   # a DataFrame: counted, not remembered
    1
    """
    return _remembered(summary_path(wb, name, what, dated), f"{name}.{what}.", _KEEP_COUNTS, compute)


def _remembered(path: Path | None, prefix: str, keep: int, compute: Callable[[], Any]) -> Any:
    """``compute()``, read from JSON file ``path`` when there (None: not remembered); ``keep`` files of ``prefix``."""
    if path is not None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # not counted yet, or half a file from a killed writer
            pass
    value = compute()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(value))  # key order kept: the log lines follow it
            os.replace(tmp, path)  # a concurrent reader sees the whole count or none
            _prune(path.parent, prefix, keep)
        except OSError:  # a read-only cache only costs counting again
            pass
    return value


def _prune(folder: Path, prefix: str, keep: int) -> None:
    """Keep the ``keep`` latest counts of one table and name: older snapshots are not read again."""
    found = sorted(folder.glob(f"{prefix}*.json"), key=lambda f: f.stat().st_mtime_ns, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)


def file_normalisations(wb: Workbench, name: str) -> list[tuple[str, str, int]] | None:
    """:func:`~workbench.engine.validation.normalisation_counts` of a folder of Parquet files, summed over its files.

    Each count sums a condition over rows, so the table's is the sum of its files'. A file's are
    remembered under its content, the code and the table's input types (all files read together:
    a new file can widen them), so the day's new file is counted alone. None (count the table) on
    other engines, for a single file, or without the cache.
    """
    if wb.dialect != "duckdb" or summary_path(wb, name, "normalised", False) is None:  # None: not local files
        return None
    if not (src := Path(wb._sources[name])).is_dir():
        return None
    from .. import __version__
    from .memo import code_digest

    files = source_listing({name: src})[name]
    base = json.dumps([__version__, code_digest(), name, _input_types(wb, name), wb._column_map(name)])
    glob = literal(str(src / "**" / "*.parquet"))
    reader = f"read_parquet({glob}, union_by_name = true, filename = {literal(_FILE)})"
    totals: dict[tuple[str, str], int] = {}
    for rel, file in sorted(_file_names(wb, src).items()):
        size, content = files[rel]
        key = hashlib.sha256(f"{base}|{size}|{content}".encode()).hexdigest()[:32]
        rows = f"(SELECT * EXCLUDE ({quote(_FILE)}) FROM {reader} WHERE {quote(_FILE)} = {literal(file)}) f"
        counted = _remembered(_folder().parent / "summary" / f"{name}.normalised_file.{key}.json",
                              f"{name}.normalised_file.", 64 * _KEEP_COUNTS,
                              lambda rows=rows: validation.normalisation_counts(wb, name, rows))
        for column, rule, n in counted:
            totals[(column, rule)] = totals.get((column, rule), 0) + int(n)
    return [(column, rule, n) for (column, rule), n in totals.items() if n]


def _file_names(wb: Workbench, src: Path) -> dict[str, str]:
    """Path inside folder ``src`` -> the name DuckDB's file column gives it, for each of its Parquet files."""
    found = [r[0] for r in wb._fetch(f"SELECT file FROM glob({literal(str(src / '**' / '*.parquet'))})")]
    prefix = str(src) + os.sep
    return {(f[len(prefix):] if f.startswith(prefix) else f).replace(os.sep, "/"): f for f in found}


# ---------------------------------------------------------------------- what validate_all states
def validate_all(wb: Workbench) -> ValidationSummary:
    """Validate every contract table present; return row counts and what the reading rules did.

    The result maps each present table to its row count (as analyses see it) and also says
    which contract tables are absent (and which analyses need them), how many values each
    normalisation rule changed, how many duplicate events were merged and how many rows
    lie at or after the as-of date (:meth:`ValidationSummary.notes` as text lines; each
    also a log record of the ``workbench.engine`` logger).
    """
    for name in wb.tables:
        wb.validate(name)
    viewed = {t: view_counts(wb, t) for t in wb.tables}
    counts = {t: c["rows"] for t, c in viewed.items()}
    absent = {t: contract.NEEDED_BY.get(t, ()) for t in contract.TABLES if t not in wb._sources}
    for table, needed in absent.items():
        log.info("table '%s' is absent%s", table, f" (needed by {', '.join(needed)})" if needed else "")
    notes = tuple(n for t in wb.tables for n in normalisations(wb, t))
    duplicates = {t: n for t in contract.INTERVAL_EVENTS if t in wb._sources and (n := duplicate_events(wb, t))}
    after = wb.rows_after_as_of()
    sequences = {t: kinds for t, c in viewed.items() if t in contract.INTERVAL_EVENTS
                 and any((kinds := {k: c[k] for k in ("second_closes", "repeated_opens")}).values())}
    for table, kinds in sequences.items():
        log.info("table '%s': %s kept", table, ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in kinds.items()))
    for table, n in duplicates.items():
        log.info("table '%s': %d duplicate event row(s) merged", table, n)
    for table, n in after.items():
        if n:
            log.info("table '%s': %d row(s) at or after the as-of date left out", table, n)
    return ValidationSummary(counts, absent, notes, duplicates, after, sequences)


def view_counts(wb: Workbench, name: str) -> dict[str, int]:
    """Rows of ``name`` as analyses see them and, of an interval event table, its sequences.

    :func:`~workbench.engine.validation.interval_counts` (one pass over the ordered events), or
    from the intervals a current layer keeps (:func:`counts_from_intervals`), which sorts nothing.
    Remembered per snapshot of the table's files and as-of date (:func:`remembered_count`), so
    later kernels read them.
    """
    def count() -> dict[str, int]:
        if name not in contract.INTERVAL_EVENTS:
            return {"rows": int(wb._fetch(f"SELECT COUNT(*) FROM {quote(name)}")[0][0])}
        kept = wb._layer_file(INTERVAL_RELATIONS[name], (name,), ())
        return interval_counts(wb, name) if kept is None else counts_from_intervals(wb, name, kept)

    return {k: int(v) for k, v in remembered_count(wb, name, "view_counts", True, count).items()}


#: The derived relation of each interval event table's intervals (``workbench.relations`` builds it).
INTERVAL_RELATIONS = {"contact_events": "__wb_contact_intervals", "group_events": "__wb_group_intervals"}


def counts_from_intervals(wb: Workbench, table: str, intervals: Any) -> dict[str, int]:
    """:func:`~workbench.engine.validation.interval_counts` from the table's intervals (Parquet) and view.

    The interval builder keeps the first event of each run of opens or of closes of a pair (ties
    in one second keep their kind: any order among them gives the same runs) and starts an
    interval at each kept open, ended by the kept close after it. Repeated opens (not first of
    their run) are ``opens - intervals``; second closes ``closes - ended intervals``, as no pair
    starts with a close (validation refuses it). Opens and closes are the contract's only types.
    """
    rules = contract.INTERVAL_EVENTS[table]
    view = f"__wb_kept_{INTERVAL_RELATIONS[table]}"
    wb.backend.load(view, intervals)
    try:
        started, ended = wb._fetch(f"SELECT COUNT(*), COUNT(end_type) FROM {quote(view)}")[0]
    finally:
        wb.backend.drop(view)

    rows, opens, closes = _view_kinds(wb, table, rules)
    return {"second_closes": int(closes) - int(ended), "repeated_opens": int(opens) - int(started), "rows": int(rows)}


def _view_kinds(wb: Workbench, table: str, rules: dict[str, Any]) -> tuple[int, int, int]:
    """Rows, opens and closes of interval event view ``table`` (a hash of identical rows, no sort).

    When every column is read as it is (no cast) and only the row time reads the as-of date, the
    view's rows are the distinct raw rows before it: one grouping of the raw rows counts them and
    the duplicates (:func:`duplicate_events` reads those remembered); else the view is counted.
    """
    spec, raw_types, row_time = contract.TABLES[table], wb._raw_types(table), contract.ROW_TIME[table]
    as_is = all(wb._cast(c.name, raw_types[c.name], c.dtype) == quote(c.name)
                for c in spec.columns if c.name in raw_types)

    def count(kinds: Iterable[str], also: str = "TRUE", weight: str = "1") -> str:
        kind = f"event_type IN ({', '.join(literal(v) for v in kinds)})" if kinds else "TRUE"
        return f"COALESCE(SUM(CASE WHEN {kind} AND {also} THEN {weight} ELSE 0 END), 0)"

    if not as_is or _as_of_columns(wb, table, spec.column_names) not in ([], [row_time]):
        return wb._fetch(f"SELECT {count(())}, {count(rules['open'])}, {count(rules['close'])} FROM {quote(table)}")[0]
    before = f"{quote(row_time)} < {literal(wb.as_of)}" if wb.reads_as_of else "TRUE"
    groups = (f"SELECT event_type, {quote(row_time)}, COUNT(*) AS n FROM {quote('__raw_' + table)} "
              f"GROUP BY {', '.join(quote(c) for c in raw_types)}")
    total, distinct, rows, opens, closes = wb._fetch(
        f"SELECT {count((), weight='n')}, COUNT(*), {count((), before)}, {count(rules['open'], before)}, "
        f"{count(rules['close'], before)} FROM ({groups}) g")[0]
    remembered_count(wb, table, "duplicates", False, lambda: int(total) - int(distinct))
    return rows, opens, closes


def normalisations(wb: Workbench, name: str) -> list[Normalisation]:
    r"""What the reading rules changed in table ``name``: one record per column and rule.

    Rules: ``null marker`` (``\N``, ``NULL``, ``null`` or empty text read as NULL),
    ``spaces trimmed``, ``integral id`` (``1.0`` written as ``1``), counted by
    :func:`~workbench.engine.validation.normalisation_counts` and remembered per snapshot of the
    table's files. Each record is also logged (INFO) the first time this workbench asks.
    """
    if name in wb._column_notes:
        return wb._column_notes[name]
    def count() -> list[tuple[str, str, int]]:
        found = file_normalisations(wb, name)
        return normalisation_counts(wb, name) if found is None else found

    counted = remembered_count(wb, name, "normalised", False, count)
    notes = [Normalisation(name, column, rule, int(n)) for column, rule, n in counted]
    for note in notes:
        log.info("table '%s', column '%s': %s on %d value(s)", name, note.column, note.rule, note.rows)
    wb._column_notes[name] = notes
    return notes


def duplicate_events(wb: Workbench, name: str) -> int:
    """Identical rows of interval event table ``name`` beyond the first (counted once in analyses)."""
    if name not in contract.INTERVAL_EVENTS or name not in wb._sources:
        return 0
    raw = quote("__raw_" + name)

    def count() -> int:
        total, distinct = wb._fetch(f"SELECT (SELECT COUNT(*) FROM {raw}), "
                                    f"(SELECT COUNT(*) FROM (SELECT DISTINCT * FROM {raw}) d)")[0]
        return int(total) - int(distinct)

    # the raw rows are every row of the files, whatever the as-of date: remembered per files
    return int(remembered_count(wb, name, "duplicates", False, count))
