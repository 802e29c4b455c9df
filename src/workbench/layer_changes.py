"""Which customers an incremental build of the derived layer recomputes: found per source file, else per row.

:func:`~workbench.derived_layer.build_layer` updates the layer of as-of A to a new as-of B by
recomputing the *affected* customers of the keyed event tables (:data:`KEYED_TABLES`). Two ways
find them; :func:`change_finder` picks one and the manifest records which (``change_detection``).

Per file (:class:`FileKeys`), when every keyed table is a local file or folder of files and the
engine is DuckDB. The manifest lists each table's files (path inside the table's source, size,
content digest) and the layer keeps ``_filekeys_<table>/``: the distinct (file, customer)
of the rows before its as-of, as parts. An update that finds no file changed or removed links the
previous parts into its folder and writes only the new pairs as one more part (rewriting the 52M
pairs of a 20M brand every day cost seconds); past :data:`MAX_KEY_PARTS` parts, or when a file
changed, the pairs are written again as one part. Affected at B are (a) the previous customers of files that changed
or disappeared, (b) the customers of changed and new files with rows before B, (c) in unchanged
files, the customers with a row whose row time, or whose optional time (which the typed view read
as not yet happened at A), falls in [A, B). Only (b) and (c) read the data: the changed files, and
a filtered scan of two to four columns of the others (DuckDB skips row groups whose min/max rule
the rows out). A file's bytes decide, not its rows, so a rewritten file recomputes all its
customers: more than needed, and still exact, since recomputing an unchanged customer gives the
same rows.

Per row (:class:`RowFingerprints`), the fallback for DataFrame or catalogue sources and for
Spark: per customer, the row count and summed row hash of the rows before the as-of; customers
with rows in [A, B), whose earlier rows now hash differently, or whose optional times moved into
[A, B), are affected. It reads every column of every row, so it costs as much as the history.

Rows without a customer have no customer to recompute: when such earlier rows changed (by file:
a changed or removed file held some before A, a new or changed file holds some before A, or
their optional times moved), the relations reading the table are rebuilt in full.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import contract
from .engine.layer import Layer
from .engine.reading import table_sources
from .engine.sql import _normalise_expr, literal, quote
from .engine.validation import content_digest
from .engine.workbench import Workbench

#: every layer relation is keyed by this column
KEY = "customer_id"
#: event tables whose changes find the affected customers
KEYED_TABLES = ("contact_events", "group_events", "touches", "orders")
_PRIME = 4294967291  # the largest prime below 2**32: row hashes are summed modulo-reduced, in a BIGINT
_FILE = "__layer_file"  # the file column of a folder read (DuckDB's filename option)
_CSV = (".csv", ".tsv", ".txt")
#: parts of a table's file keys before an update writes them again as one
MAX_KEY_PARTS = 32


def change_finder(wb: Workbench, data_dir: str | Path | Mapping[str, Any],
                  keyed: list[str]) -> FileKeys | RowFingerprints:
    """Per-file change detection when every keyed table is a local file or folder on DuckDB, else per row.

    Examples
    --------
    >>> import pandas as pd, workbench
    >>> orders = pd.DataFrame({"order_id": ["O1"], "customer_id": ["C1"], "amount": [10.0],
    ...                        "order_time": [pd.Timestamp("2025-01-02")]})
    >>> wb = workbench.open({"orders": orders}, as_of="2025-02-01")
    >>> change_finder(wb, {"orders": orders}, ["orders"]).description
    'row fingerprints (orders is not a local file)'
    """
    if wb.dialect != "duckdb":
        return RowFingerprints(f"row fingerprints (engine {wb.dialect})")
    sources = table_sources(data_dir)
    for t in keyed:
        src = sources.get(t)
        path = Path(src) if isinstance(src, (str, Path)) else None
        if path is None or not (path.is_dir() or path.suffix.lower() in (".parquet", *_CSV)):
            return RowFingerprints(f"row fingerprints ({t} is not a local file)")
    return FileKeys({t: Path(sources[t]) for t in keyed}, _digest_cache())


def _digest_cache() -> Path | None:
    """The folder validation keeps its digests in (the same memo: unchanged files are hashed once)."""
    if os.environ.get("WORKBENCH_VALIDATION_CACHE", "1").strip() == "0":
        return None
    base = os.environ.get("WORKBENCH_CACHE_DIR", "").strip()
    return Path(base) if base else Path.home() / ".cache" / "workbench"


def _in(column: str, values: list[str]) -> str:
    """SQL: ``column`` is one of ``values`` (FALSE for none)."""
    return f"{column} IN ({', '.join(literal(v) for v in values)})" if values else "FALSE"


def _optional_times(wb: Workbench, table: str) -> list[str]:
    """The nullable timestamp columns of ``table`` present in its source (read as NULL until they happen)."""
    types = wb._raw_types(table)
    return [c.name for c in contract.TABLES[table].columns
            if c.dtype == contract.TIMESTAMP and c.nullable and c.name in types]


def _moved(times: list[str], since: pd.Timestamp, at: pd.Timestamp) -> str:
    """SQL: one of the (typed) optional ``times`` falls in [since, at)."""
    return " OR ".join(f"({t} >= {literal(since)} AND {t} < {literal(at)})" for t in times) or "FALSE"


# ---------------------------------------------------------------------- per file
class FileKeys:
    """Find changed customers by source file: file listings in the manifest, (file, customer) pairs in the layer.

    Parameters
    ----------
    sources : mapping of str to Path
        Keyed table -> its local source (a ``.parquet`` / ``.csv`` file or a folder of Parquet files).
    cache : Path or None
        The folder of the content-digest memo (validation's).
    """

    method = "files"
    description = "file keys"

    def __init__(self, sources: Mapping[str, Path], cache: Path | None) -> None:
        self.sources = dict(sources)
        self.cache = cache

    def unusable(self, previous: Mapping[str, Any], keyed: list[str]) -> str:
        """Why the previous layer holds no file keys to update from ('' when it does)."""
        if previous.get("change_detection", "rows") != self.method:
            return "the previous layer found changes by row fingerprints"
        missing = [t for t in keyed if t not in previous.get("filekeys", {}) or t not in previous.get("files", {})]
        return f"the previous layer has no file keys of {', '.join(missing)}" if missing else ""

    def scan(self, wb: Workbench, keyed: list[str], since: pd.Timestamp, old: Layer | None) -> None:
        """List and digest the files; materialise per table the (file, customer) pairs to look at.

        ``__layer_scan_<table>``: per file and customer, whether the file is unchanged since
        ``old``, whether it holds rows before ``since`` and whether their optional times moved;
        rows of changed and new files before as-of, and of unchanged files only those from
        ``since`` on (or moved). Without ``old`` every file is new: the pairs of all rows.
        """
        self.files_: dict[str, dict[str, Any]] = {}
        self.same_: dict[str, list[str]] = {}
        self.gone_: dict[str, list[str]] = {}  # the previous files changed or removed since
        for t in keyed:
            names = self._names(wb, t)
            types = wb.backend.column_types(f"__input_{t}")
            listing = [[rel, *self._stat(self._path(t, rel))] for rel in sorted(names)]
            self.files_[t] = {"types": types, "files": listing}
            before = old.manifest["files"][t] if old is not None else None
            if before is None or before["types"] != types:  # a type change may read every file differently
                self.same_[t] = []
            else:
                was = {e[0]: list(e[1:]) for e in before["files"]}
                self.same_[t] = [e[0] for e in listing if was.get(e[0]) == e[1:]]
            # the previous pairs name only the previous files: those of the others are the pairs not of ``same_``
            # (a filter that reads nothing when every file is unchanged, not a scan of every pair)
            self.gone_[t] = sorted(set(e[0] for e in before["files"]) - set(self.same_[t])) if before else []
            if old is not None:
                wb.backend.load(f"__layer_oldkeys_{t}", str(old.folder / old.manifest["filekeys"][t]))
            wb.backend.materialise(f"__layer_scan_{t}", self._scan_sql(wb, t, names, since))

    def _names(self, wb: Workbench, table: str) -> dict[str, str | None]:
        """Path inside the source -> the name DuckDB's file column gives it (None for a single file)."""
        src = self.sources[table]
        if not src.is_dir():
            return {src.name: None}
        found = [r[0] for r in wb.backend.fetch(f"SELECT file FROM glob({literal(str(src / '**' / '*.parquet'))})")]
        prefix = str(src) + os.sep
        return {(f[len(prefix):] if f.startswith(prefix) else f).replace(os.sep, "/"): f for f in found}

    def _path(self, table: str, rel: str) -> Path:
        src = self.sources[table]
        return src / rel if src.is_dir() else src

    def _stat(self, path: Path) -> list[Any]:
        return [path.stat().st_size, content_digest(path, self.cache)]

    def _scan_sql(self, wb: Workbench, table: str, names: dict[str, str | None], since: pd.Timestamp) -> str:
        at, src, same = literal(wb.as_of), self.sources[table], set(self.same_[table])
        if src.is_dir():
            reader = (f"read_parquet({literal(str(src / '**' / '*.parquet'))}, union_by_name = true, "
                      f"filename = {literal(_FILE)})")
            # a filter on the file column alone lets DuckDB skip the files it rules out
            kept = _in(_FILE, [n for rel, n in names.items() if rel in same and n is not None])
            prefix = literal(str(src) + os.sep)
            rel = f"CASE WHEN starts_with(file, {prefix}) THEN substr(file, length({prefix}) + 1) ELSE file END"
            file_of = rel if os.sep == "/" else f"replace({rel}, {literal(os.sep)}, '/')"
        else:
            reader, kept, file_of = quote(f"__raw_{table}"), "TRUE" if src.name in same else "FALSE", literal(src.name)
        rows = self._typed_rows_sql(wb, table, reader, src.is_dir())
        times = [f"__o{i}" for i, _ in enumerate(_optional_times(wb, table))]
        past, moved = f"__time < {literal(since)}", _moved(times, since, wb.as_of)
        file = _FILE if src.is_dir() else "CAST(NULL AS VARCHAR)"

        if not same and since >= wb.as_of:
            # every file new and no row from ``since`` on (a full build): each pair is a new file's, with rows
            # before ``since`` and no time moved; the distinct pairs, without grouping the flags row by row
            return f"""SELECT {file_of} AS file, {KEY}, FALSE AS same, 1 AS past, 0 AS moved FROM (
                           SELECT DISTINCT {file} AS file, {KEY} FROM ({rows}) r WHERE __time < {at}) g"""

        def pick(unchanged: str) -> str:
            return (f"SELECT {file} AS file, {KEY}, {unchanged} AS same, CASE WHEN {past} THEN 1 ELSE 0 END AS past, "
                    f"CASE WHEN {moved} THEN 1 ELSE 0 END AS moved FROM ({rows}) r WHERE __time < {at}")
        return f"""SELECT {file_of} AS file, {KEY}, same, past, moved FROM (
                       SELECT file, {KEY}, same, MAX(past) AS past, MAX(moved) AS moved FROM (
                           {pick("FALSE")} AND NOT ({kept})
                           UNION ALL
                           {pick("TRUE")} AND {kept} AND (__time >= {literal(since)} OR {moved})
                       ) s GROUP BY file, {KEY}, same) g"""

    @staticmethod
    def _typed_rows_sql(wb: Workbench, table: str, reader: str, folder: bool) -> str:
        """Key, row time and optional times of ``reader``'s rows, normalised and typed as the typed view does."""
        spec = contract.TABLES[table]
        raw = wb._raw_types(table)
        optional = _optional_times(wb, table)
        cols = [KEY, contract.ROW_TIME[table], *optional]
        if folder:  # a second read of the files, with their names: the reading rules of __raw_<table> again
            types, names = wb.backend.column_types(f"__input_{table}"), wb._column_map(table)
            inner = ", ".join(f"{_normalise_expr(quote(names[c]), types[names[c]], spec.column(c))} AS {quote(c)}"
                              for c in cols)
            source = f"(SELECT {_FILE}, {inner} FROM {reader})"
        else:
            source = reader
        typed = [f"{wb._cast(KEY, raw[KEY], contract.STRING)} AS {KEY}",
                 f"{wb._cast(cols[1], raw[cols[1]], contract.TIMESTAMP)} AS __time",
                 *(f"{wb._cast(c, raw[c], contract.TIMESTAMP)} AS __o{i}" for i, c in enumerate(optional))]
        return f"SELECT {_FILE + ', ' if folder else ''}{', '.join(typed)} FROM {source} n"

    def keyless(self, wb: Workbench, keyed: list[str], old: Layer) -> list[str]:
        """Keyed tables whose rows without a customer before the previous as-of may have changed."""
        changed = []
        for t in keyed:
            found = wb.backend.fetch(f"""
                SELECT EXISTS (SELECT 1 FROM __layer_oldkeys_{t} WHERE {KEY} IS NULL AND {_in("file", self.gone_[t])})
                    OR EXISTS (SELECT 1 FROM __layer_scan_{t}
                               WHERE {KEY} IS NULL AND ((NOT same AND past = 1) OR moved = 1))""")[0][0]
            if found:
                changed.append(t)
        return changed

    def new_keyless(self, wb: Workbench, keyed: list[str]) -> list[str]:
        """Keyed tables with rows without a customer since the previous as-of."""
        found = "SELECT EXISTS (SELECT 1 FROM __layer_scan_{} WHERE " + KEY + " IS NULL AND past = 0)"
        return [t for t in keyed if wb.backend.fetch(found.format(t))[0][0]]

    def affected_sql(self, keyed: list[str]) -> str:
        """The affected customers: (a) of changed or removed files before, (b) and (c) as scanned."""
        parts = [(f"SELECT {KEY} FROM __layer_oldkeys_{t} WHERE {_in('file', self.gone_[t])} UNION ALL "
                  if self.gone_[t] else "") + f"SELECT {KEY} FROM __layer_scan_{t}" for t in keyed]
        return f"SELECT DISTINCT {KEY} FROM ({' UNION ALL '.join(parts)}) k WHERE {KEY} IS NOT NULL"

    def save(self, wb: Workbench, keyed: list[str], old: Layer | None, target: Path,
             manifest: dict[str, Any]) -> None:
        """Write ``_filekeys_<table>/`` (previous pairs of unchanged files and the new ones); list the files."""
        manifest["files"], manifest["filekeys"] = {}, {}
        for t in keyed:
            new = f"SELECT file, {KEY} FROM __layer_scan_{t} WHERE NOT same"
            later = ""
            if old is not None:  # pairs of the unchanged files' later rows not among the previous pairs
                later = f""" UNION ALL SELECT s.file, s.{KEY} FROM __layer_scan_{t} s WHERE s.same AND s.past = 0
                              AND NOT EXISTS (SELECT 1 FROM __layer_oldkeys_{t} o
                                              WHERE o.file = s.file AND o.{KEY} IS NOT DISTINCT FROM s.{KEY})"""
            folder = f"_filekeys_{t}"
            (target / folder).mkdir()
            parts = key_parts(old.folder / old.manifest["filekeys"][t]) if old is not None else []
            if parts and not self.gone_[t] and len(parts) < MAX_KEY_PARTS:
                # every previous file is unchanged: its pairs are the previous parts as they are
                for i, part in enumerate(parts):
                    _link(part, target / folder / f"part-{i:05d}.parquet")
                wb.backend.write_parquet(new + later, str(target / folder / f"part-{len(parts):05d}.parquet"))
            else:
                if old is not None:  # the previous pairs of the unchanged files only
                    new += (f" UNION ALL SELECT file, {KEY} FROM __layer_oldkeys_{t} "
                            f"WHERE {_in('file', self.same_[t])}")
                wb.backend.write_parquet(new + later, str(target / folder / "part-00000.parquet"))
            manifest["files"][t], manifest["filekeys"][t] = self.files_[t], folder


def key_parts(path: Path) -> list[Path]:
    """The Parquet parts of a layer's file keys: a folder's parts in order, or one file (an older layer's).

    >>> key_parts(Path("_filekeys_orders.parquet"))
    [PosixPath('_filekeys_orders.parquet')]
    """
    return sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy where the file system has none): the bytes are not rewritten."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


# ---------------------------------------------------------------------- per row
class RowFingerprints:
    """Find changed customers by per-customer row fingerprints (any source, any engine).

    Parameters
    ----------
    description : str
        Why this way was chosen, for the build's reason.
    """

    method = "rows"

    def __init__(self, description: str = "row fingerprints") -> None:
        self.description = description

    def unusable(self, previous: Mapping[str, Any], keyed: list[str]) -> str:
        """Why the previous layer holds no row fingerprints to update from ('' when it does)."""
        if previous.get("change_detection", "rows") != self.method:
            return "the previous layer found changes by file"
        missing = [t for t in keyed if t not in previous.get("fingerprints", {})]
        return f"the previous layer has no fingerprints of {', '.join(missing)}" if missing else ""

    def scan(self, wb: Workbench, keyed: list[str], since: pd.Timestamp, old: Layer | None) -> None:
        """Materialise ``__layer_fp_<table>`` (and load the previous layer's as ``__layer_oldfp_<table>``)."""
        for t in keyed:
            wb.backend.materialise(f"__layer_fp_{t}", fingerprint_sql(wb, t, since))
            if old is not None:
                wb.backend.load(f"__layer_oldfp_{t}", str(old.folder / old.manifest["fingerprints"][t]))

    def keyless(self, wb: Workbench, keyed: list[str], old: Layer) -> list[str]:
        """Keyed tables whose earlier rows without a customer changed.

        New rows without a customer are :meth:`new_keyless` (only the bucket rows keep such rows).
        """
        changed = []
        for t in keyed:
            now = wb.backend.fetch(f"SELECT n_past, h_past, moved FROM __layer_fp_{t} WHERE {KEY} IS NULL")
            before = wb.backend.fetch(f"SELECT n, h FROM __layer_oldfp_{t} WHERE {KEY} IS NULL")
            earlier = [tuple(int(v or 0) for v in r[:2]) for r in now if r[0]]
            if any(r[2] for r in now) or earlier != [tuple(map(int, r)) for r in before]:
                changed.append(t)
        return changed

    def new_keyless(self, wb: Workbench, keyed: list[str]) -> list[str]:
        """Keyed tables with rows without a customer since the previous as-of."""
        return [t for t in keyed if wb.backend.fetch(
            f"SELECT COALESCE(SUM(n - n_past), 0) FROM __layer_fp_{t} WHERE {KEY} IS NULL")[0][0]]

    def affected_sql(self, keyed: list[str]) -> str:
        """Customers with rows after the previous as-of, or whose earlier rows fingerprint differently."""
        parts = [f"""SELECT COALESCE(s.{KEY}, o.{KEY}) AS {KEY}
                     FROM __layer_fp_{t} s FULL OUTER JOIN __layer_oldfp_{t} o ON o.{KEY} = s.{KEY}
                     WHERE COALESCE(s.n, 0) <> COALESCE(s.n_past, 0) OR COALESCE(s.moved, 0) > 0
                        OR COALESCE(s.n_past, 0) <> COALESCE(o.n, 0)
                        OR COALESCE(s.h_past, 0) <> COALESCE(o.h, 0)""" for t in keyed]
        return f"SELECT DISTINCT {KEY} FROM ({' UNION ALL '.join(parts)}) k WHERE {KEY} IS NOT NULL"

    def save(self, wb: Workbench, keyed: list[str], old: Layer | None, target: Path,
             manifest: dict[str, Any]) -> None:
        """Write ``_fingerprint_<table>.parquet`` per keyed table."""
        manifest["fingerprints"] = {}
        for t in keyed:
            file = f"_fingerprint_{t}.parquet"
            wb.backend.write_parquet(f"SELECT {KEY}, n, h FROM __layer_fp_{t}", str(target / file))
            manifest["fingerprints"][t] = file


def row_hash(wb: Workbench, table: str, view: str | None = None) -> str:
    """SQL: a hash of every column of a row of ``table`` (or ``view``), reduced to fit summing in a BIGINT."""
    cols = ", ".join(quote(c) for c in wb.columns(view or table))
    return f"CAST(hash({cols}) % {_PRIME} AS BIGINT)"


def fingerprint_sql(wb: Workbench, table: str, since: pd.Timestamp) -> str:
    """Per customer: rows and summed row hashes of the rows before as-of, and of those before ``since``.

    Read from the table as exported (``__raw_<table>``: names and text normalised, nothing cast,
    no as-of rules), which costs half the typed view and does not depend on the as-of date: rows
    before ``since`` fingerprint the same at every later build unless they changed. ``moved``
    counts rows whose optional times fall in [since, as-of), which the typed view read as not
    yet happened at ``since``.
    """
    raw = f"__raw_{table}"
    types = wb._raw_types(table)
    key = wb._cast(KEY, types[KEY], contract.STRING)
    row_time = wb._cast(contract.ROW_TIME[table], types[contract.ROW_TIME[table]], contract.TIMESTAMP)
    h, past = row_hash(wb, table, raw), f"{row_time} < {literal(since)}"
    moved = _moved([wb._cast(c, types[c], contract.TIMESTAMP) for c in _optional_times(wb, table)], since, wb.as_of)
    return f"""SELECT {key} AS {KEY}, COUNT(*) AS n, SUM({h}) AS h,
                      SUM(CASE WHEN {past} THEN 1 ELSE 0 END) AS n_past,
                      SUM(CASE WHEN {past} THEN {h} ELSE 0 END) AS h_past,
                      SUM(CASE WHEN {moved} THEN 1 ELSE 0 END) AS moved
               FROM {quote(raw)} WHERE {row_time} < {literal(wb.as_of)} GROUP BY 1"""


__all__ = ["KEY", "KEYED_TABLES", "FileKeys", "RowFingerprints", "change_finder", "fingerprint_sql", "row_hash"]
