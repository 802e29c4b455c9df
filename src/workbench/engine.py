"""The engine layer: contract tables as lazy, validated SQL views.

A :class:`Workbench` wraps an embedded DuckDB connection. Every contract table found in a
data directory (``<table>.parquet``, ``<table>.csv`` or a folder ``<table>/`` of Parquet
files) or passed as a pandas DataFrame is exposed to SQL under its contract name, with
contract columns cast to their contract types and absent nullable columns supplied as
typed NULLs. Nothing is read until a query needs it.

Validation runs when a table is first used by a query: missing table or column, wrong
type, null key, duplicate key, unknown enum value, negative or non-finite money, a delete
with no earlier add, identifiers written two ways, timestamps later than the moment of
opening (or than ``as_of`` with ``strict=True``) and dangling references all raise
:class:`~workbench.errors.DataContractError` naming the table, column and first
offending rows.

How real exports are read (file ambiguity, encodings, column-name matching, null markers,
identifiers, time zones, duplicate and same-second events, the as-of date) is listed once,
in :mod:`workbench.contract`. Each source is exposed in three layers: ``__input_<table>``
as read, ``__raw_<table>`` with contract columns named and text normalised (what
validation checks), and ``<table>`` with contract types (what analyses read).

Transforms elsewhere in the package are SQL strings in a portable dialect (standard
window functions and joins). They are run with :meth:`Workbench.query` (small results
as pandas) or :meth:`Workbench.sql` (a lazy relation). ``Workbench.dialect`` tells which
SQL dialect the engine speaks; transforms are written once, in DuckDB's dialect, and
transpiled with SQLGlot for other engines.
"""
from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from . import contract
from .contract import BOOLEAN, DOUBLE, STRING, TIMESTAMP, TableSpec
from .errors import DataContractError, ParameterError

_SQL_TYPES = {STRING: "VARCHAR", TIMESTAMP: "TIMESTAMP", DOUBLE: "DOUBLE", BOOLEAN: "BOOLEAN"}
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|REAL|DECIMAL.*)$")
_TIMEZONE = "Asia/Shanghai"
_SAMPLE_ROWS = 5
_FLOATS = re.compile(r"^(FLOAT|DOUBLE|REAL|DECIMAL.*)$")
_INTEGRAL_TEXT = r"^-?[0-9]+[.]0+$"
_MUST_HAVE_ROWS = ("orders", "contact_events")
log = logging.getLogger("workbench.engine")

Source = "str | Path | pd.DataFrame"


def quote(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """Render a Python value as a portable SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return f"TIMESTAMP '{pd.Timestamp(value).strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    if isinstance(value, dt.date):
        return f"TIMESTAMP '{value.isoformat()} 00:00:00'"
    return "'" + str(value).replace("'", "''") + "'"


def to_timestamp(value: Any, name: str = "timestamp") -> pd.Timestamp:
    """Parse a date or timestamp argument into a naive local ``pd.Timestamp``.

    Timezone-aware values are converted to Asia/Shanghai local time first, matching how
    the engine stores contract timestamps.
    """
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ParameterError(f"{name}: cannot read {value!r} as a date or timestamp") from err
    if ts is pd.NaT:
        raise ParameterError(f"{name}: {value!r} is not a date")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(_TIMEZONE).tz_localize(None)
    return ts


def default_memory_limit() -> str:
    """``WORKBENCH_MEMORY_LIMIT``, else half the physical memory (in MB)."""
    configured = os.environ.get("WORKBENCH_MEMORY_LIMIT", "").strip()
    if configured:
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: DuckDB's own default
        return "80%"
    return f"{max(total // 2 // 2**20, 1024)}MB"


_DIGEST_MEMO_MIN_BYTES = 8 << 20  # smaller files are hashed every time: cheaper than a memo lookup
_SETTLED_NS = 2_000_000_000  # only files unchanged for 2 s are memoised (the kernel's ctime clock is coarse)
_digests: dict[tuple[Any, ...], str] = {}


def content_digest(path: str | Path, cache: Path | None = None) -> str:
    """SHA-256 of a file's bytes (streamed, 1 MiB at a time), as hex.

    Hashing is the cost of keying the validation cache on content: 0.07 s per 100 MB and
    0.7 s per GB on one core of the benchmark machine (blake2b took twice as long there: SHA-256
    has CPU instructions). So that a batch of reports does not hash a 12 GB brand once per
    kernel, the digest of a file of 8 MiB or more is remembered (in this process and, when
    ``cache`` is given, as a small file under ``cache/digests``) under its device, inode, size,
    modification time *and change time*. Tools that restore a modification time (``rsync -t``,
    ``cp -p``, ``tar x``, ``os.utime``) cannot restore the change time — the kernel sets it on
    every write and every time change — so an edited file is hashed again. Files changed in the
    last 2 seconds are not remembered (the change-time clock is coarse, as for git's index).
    ``WORKBENCH_VALIDATION_CACHE=content`` hashes every file every time.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = f.write_text("order_id\\n")
    >>> content_digest(f)[:12]
    'c1ae5e874e06'
    """
    import time

    path = Path(path)
    st = path.stat()
    remember = (st.st_size >= _DIGEST_MEMO_MIN_BYTES and time.time_ns() - st.st_ctime_ns > _SETTLED_NS
                and os.environ.get("WORKBENCH_VALIDATION_CACHE", "").strip() != "content")
    stamp = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    memo_file = None
    if remember:
        if stamp in _digests:
            return _digests[stamp]
        if cache is not None:
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


def validation_marker(sources: Mapping[str, Any], name: str, as_of: pd.Timestamp | None) -> Path | None:
    """The file that records a passed validation of table ``name`` for this snapshot of the data.

    The key hashes the package version, the table, the analysis date and, for every source
    file, its table, its name inside the source, its size and its content (:func:`content_digest`)
    — any change to any table (references cross tables) makes a new key, whatever its
    modification time says; a copy of the same bytes elsewhere or a ``touch`` keeps the key.
    Without an analysis date the check is against the time of opening, and a pass then stays a
    pass later. ``None`` (no caching) when a source is not a local file (a DataFrame, a
    catalogue table) or when ``WORKBENCH_VALIDATION_CACHE=0``.
    """
    if os.environ.get("WORKBENCH_VALIDATION_CACHE", "1").strip() == "0":
        return None
    from . import __version__

    base = os.environ.get("WORKBENCH_CACHE_DIR", "").strip()
    cache = Path(base) if base else Path.home() / ".cache" / "workbench"
    digest = hashlib.sha256(f"{__version__}|{name}|{as_of}".encode())
    for table in sorted(sources):
        src = sources[table]
        if not isinstance(src, (str, Path)) or not Path(src).exists():
            return None
        root = Path(src).resolve()
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if f.is_file():
                inside = f.relative_to(root).as_posix() if root.is_dir() else f.name
                digest.update(f"{table}|{inside}|{f.stat().st_size}|{content_digest(f, cache)}\n".encode())
    return cache / "validated" / f"{digest.hexdigest()}.ok"


def spill_directory() -> Path:
    """Where DuckDB spills past its memory limit: ``WORKBENCH_SPILL_DIR`` or the temporary directory."""
    configured = os.environ.get("WORKBENCH_SPILL_DIR", "").strip()
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "workbench-spill"


def quiet_progress(con: duckdb.DuckDBPyConnection) -> None:
    """Turn DuckDB's text progress bar off outside a terminal: in CI and in a scheduled run's log
    files it is noise. In a notebook kernel DuckDB draws it as a widget (only when ipywidgets is
    installed, and it refuses the setting otherwise), so kernels keep DuckDB's own behaviour."""
    import sys

    if "ipykernel" in sys.modules or (sys.stderr.isatty() and not os.environ.get("CI")):
        return
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # a cosmetic setting: never a reason to fail opening the data
        pass


def strict_as_of() -> bool:
    """``WORKBENCH_STRICT_AS_OF=1`` (what the CLI's ``--strict`` sets): refuse rows at or after
    the as-of date instead of leaving them out."""
    return os.environ.get("WORKBENCH_STRICT_AS_OF", "").strip().lower() in ("1", "true", "yes")


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
    """

    rows: dict[str, int]
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)
    normalised: tuple[Normalisation, ...] = ()
    duplicate_events: dict[str, int] = field(default_factory=dict)
    after_as_of: dict[str, int] = field(default_factory=dict)

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
        return lines


class Workbench:
    """Contract tables of one brand, exposed to SQL through an embedded engine.

    Use :func:`workbench.open` rather than the constructor.

    Parameters
    ----------
    sources : mapping of table name to a file path, a folder of Parquet files or a DataFrame
        Tables that are not contract tables are exposed as given, without validation.
    as_of : date-like, optional
        The analysis date. Event rows at or after it are left out of every view (a backfill
        reads a full snapshot as of the date; :meth:`rows_after_as_of` counts them). Without
        it, the time of opening, and any later time is refused (data from the future).
    strict : bool, optional
        Refuse rows at or after ``as_of`` instead of leaving them out. Default:
        ``WORKBENCH_STRICT_AS_OF=1`` in the environment (the CLI's ``--strict``).
    validate : bool, default True
        Validate each contract table the first time a query uses it.
    threads, memory_limit : optional
        DuckDB settings for large brands. Without ``memory_limit`` the engine takes
        ``WORKBENCH_MEMORY_LIMIT`` (e.g. ``"6GB"``) or half the machine's memory, leaving
        the other half to the pandas frames of the analysis in the same process (DuckDB's
        own default, 80%, leaves too little). Past the limit it spills to
        ``WORKBENCH_SPILL_DIR`` (default: a ``workbench-spill`` folder in the system's
        temporary directory).

    Examples
    --------
    >>> import pandas as pd, workbench
    >>> orders = pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"],
    ...     "order_time": pd.to_datetime(["2025-03-01 10:00"]), "amount": [99.0],
    ...     "order_channel": ["pos"]})
    >>> wb = workbench.open({"orders": orders}, as_of="2025-04-01")
    >>> float(wb.query("SELECT SUM(amount) AS gmv FROM orders")["gmv"].iloc[0])
    99.0
    """

    dialect = "duckdb"

    def __init__(
        self,
        sources: Mapping[str, Any],
        as_of: Any = None,
        validate: bool = True,
        threads: int | None = None,
        memory_limit: str | None = None,
        connection: duckdb.DuckDBPyConnection | None = None,
        strict: bool | None = None,
    ) -> None:
        self.con = connection or duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if connection is None:
            self.con.execute(f"SET memory_limit = {literal(memory_limit or default_memory_limit())}")
            self.con.execute(f"SET temp_directory = {literal(str(spill_directory()))}")
            quiet_progress(self.con)
        elif memory_limit:
            self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        if isinstance(self.con, duckdb.DuckDBPyConnection):
            # Text times without an offset are Asia/Shanghai, whatever the machine's TZ says.
            self.con.execute(f"SET TimeZone = {literal(_TIMEZONE)}")
        self.as_of = to_timestamp(as_of, "as_of") if as_of is not None else None
        self.strict = strict_as_of() if strict is None else bool(strict)
        # Without an analysis date, nothing may lie in the future of the moment of opening.
        self.future_limit = self.as_of if self.as_of is not None else pd.Timestamp.now(_TIMEZONE).tz_localize(None)
        self.validate_on_use = validate
        self._sources: dict[str, Any] = {}
        self._validated: set[str] = set()
        self._user_tables: set[str] = set()
        self._column_notes: dict[str, list[Normalisation]] = {}
        self._column_maps: dict[str, dict[str, str]] = {}
        self._raw_type_cache: dict[str, dict[str, str]] = {}
        self._padded: dict[tuple[str, str], int] = {}
        self._empty_views: set[str] = set()
        for name, source in sources.items():
            self._attach(name, source)

    # ------------------------------------------------------------------ sources
    # Text of a contract column that holds a time, as a naive Asia/Shanghai timestamp.
    _text_time_sql = "timezone(" + literal(_TIMEZONE) + ", TRY_CAST({q} AS TIMESTAMPTZ))"

    def _load_raw(self, name: str, source: Any) -> None:
        """Expose ``source`` unchanged as ``__input_<name>`` (the engine-specific part of attaching)."""
        raw = f"__input_{name}"
        if isinstance(source, pd.DataFrame):
            self.con.register(raw, source)
            return
        path = Path(source)
        reader = _reader(path, name, self.con)
        try:
            self.con.execute(f"CREATE OR REPLACE VIEW {quote(raw)} AS SELECT * FROM {reader}")
        except duckdb.Error as err:
            raise DataContractError(name, None, f"cannot read {path.name}: {_first_line(err)}") from None

    def _create_view(self, name: str, select: str) -> None:
        """Create or replace view ``name`` as ``select`` (a DuckDB-dialect SELECT)."""
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {select}")

    def _view_types(self, view: str) -> dict[str, str]:
        """Column names and engine types of a view, in order."""
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {quote(view)}").fetchall()
        return {r[0]: str(r[1]).upper() for r in rows}

    def _create_plain_view(self, name: str) -> None:
        self._create_view(name, f"SELECT * FROM {quote('__input_' + name)}")

    def _attach(self, name: str, source: Any) -> None:
        self._load_raw(name, source)
        self._sources[name] = source
        self._validated.discard(name)
        self._column_notes.pop(name, None)
        self._column_maps.pop(name, None)
        self._raw_type_cache.pop(name, None)
        self._padded = {k: v for k, v in self._padded.items() if k[0] != name}
        if name in contract.TABLES:
            self._create_view(f"__raw_{name}", self._normalised_select(name))
            self._create_contract_view(name)
        else:
            self._user_tables.add(name)
            self._create_plain_view(name)

    def _column_map(self, name: str) -> dict[str, str]:
        """Contract column -> source column, matching exactly, else ignoring case and spaces.

        A loose match is logged and warned about (the export should be fixed); two source
        columns matching one contract column are refused.
        """
        if name in self._column_maps:
            return self._column_maps[name]
        spec = contract.TABLES[name]
        found = list(self._view_types(f"__input_{name}"))
        mapping: dict[str, str] = {}
        for col in spec.columns:
            if col.name in found and sum(c.strip().lower() == col.name for c in found) == 1:
                mapping[col.name] = col.name
                continue
            matches = [c for c in found if c.strip().lower() == col.name]
            if len(matches) > 1:
                raise DataContractError(
                    name, col.name, "two or more columns match this contract column when case and surrounding "
                                    "spaces are ignored: " + ", ".join(repr(c) for c in matches) + "; keep one")
            if matches:
                mapping[col.name] = matches[0]
                message = (f"table '{name}': column {matches[0]!r} read as contract column '{col.name}' "
                           f"(case or surrounding spaces differ; fix the export's header)")
                warnings.warn(message, stacklevel=4)
        self._column_maps[name] = mapping
        return mapping

    def _normalised_select(self, name: str) -> str:
        """SELECT over ``__input_<name>``: contract columns renamed and their text normalised
        (rules 3-6 of :mod:`workbench.contract`); extra columns as they are."""
        spec = contract.TABLES[name]
        types = self._view_types(f"__input_{name}")
        source_to_contract = {v: k for k, v in self._column_map(name).items()}
        exprs = []
        for source_col, source_type in types.items():
            target = source_to_contract.get(source_col)
            if target is None:
                exprs.append(quote(source_col))
            else:
                exprs.append(f"{_normalise_expr(quote(source_col), source_type, spec.column(target))} "
                             f"AS {quote(target)}")
        return f"SELECT {', '.join(exprs)} FROM {quote('__input_' + name)}"

    def register(self, name: str, frame: pd.DataFrame | duckdb.DuckDBPyRelation) -> None:
        """Expose a derived table (a DataFrame or relation) to later queries under ``name``."""
        if name in contract.TABLES:
            self._attach(name, frame)
            return
        if isinstance(frame, pd.DataFrame):
            self.con.register(name, frame)
        else:
            frame.create_view(name, replace=True)
        self._user_tables.add(name)

    def materialize(self, name: str, query: str) -> None:
        """Run ``query`` once and keep its result as a temporary table ``name``.

        Used for intermediate results that several later queries read (spells, journeys).
        """
        self._check_tables(query)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {query}")
        self._user_tables.add(name)

    @property
    def tables(self) -> list[str]:
        """Names of the contract tables available in this workbench."""
        return [t for t in contract.TABLES if t in self._sources]

    def has_table(self, name: str) -> bool:
        """Whether contract table (or registered table) ``name`` is available."""
        return name in self._sources or name in self._user_tables

    def table_or_empty(self, name: str) -> str:
        """The relation to read contract table ``name`` from: the table, or an empty typed view.

        For analyses to which the table is optional (a channel dimension, staff names):
        transforms read it unconditionally and an absent table contributes no rows, with
        every contract column present and typed. :meth:`has_table` keeps its meaning (the
        data has the table); a query that names an absent table directly is still refused
        with the analyses that need it (:meth:`require`).

        Returns
        -------
        str
            A quoted relation name to put in a ``FROM`` clause.

        Examples
        --------
        >>> import pandas as pd, workbench
        >>> orders = pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"],
        ...     "order_time": pd.to_datetime(["2025-03-01 10:00"]), "amount": [99.0],
        ...     "order_channel": ["pos"]})
        >>> wb = workbench.open({"orders": orders}, as_of="2025-04-01")
        >>> wb.has_table("channels"), wb.table_or_empty("channels")
        (False, '"__empty_channels"')
        >>> int(wb.scalar(f"SELECT COUNT(*) FROM {wb.table_or_empty('channels')}"))
        0
        """
        if name not in contract.TABLES:
            raise ParameterError(f"{name!r} is not a contract table (tables: {', '.join(contract.TABLES)})")
        if self.has_table(name):
            return quote(name)
        empty = f"__empty_{name}"
        if empty not in self._empty_views:
            self._create_view(empty, empty_table_sql(name))
            self._empty_views.add(empty)
        return quote(empty)

    def require(self, *names: str) -> None:
        """Raise :class:`DataContractError` unless every table in ``names`` is present.

        The message says which analyses need the table (:data:`workbench.contract.NEEDED_BY`).
        """
        for name in names:
            if not self.has_table(name):
                needed = contract.NEEDED_BY.get(name)
                why = f"; it is required by {', '.join(needed)}" if needed else ""
                raise DataContractError(
                    name,
                    None,
                    f"table is missing: expected {name}.parquet, {name}.csv or a folder {name}/ of Parquet "
                    f"files in the data directory{why} (available: {', '.join(self.tables) or 'none'})",
                )

    # ------------------------------------------------------------------ views
    def _raw_types(self, name: str) -> dict[str, str]:
        # asked hundreds of times while validating; a view's columns change only on _attach
        if name not in self._raw_type_cache:
            self._raw_type_cache[name] = self._view_types(f"__raw_{name}")
        return self._raw_type_cache[name]

    def _cast(self, col: str, raw_type: str, dtype: str) -> str:
        return _cast_expr(col, raw_type, dtype, self._text_time_sql)

    @property
    def reads_as_of(self) -> bool:
        """Whether rows at or after the as-of date are left out (rather than refused)."""
        return self.as_of is not None and not self.strict

    def _contract_select(self, name: str) -> str:
        """SELECT that casts contract columns, supplies absent nullable ones and keeps extras.

        With an as-of date (not strict), event rows at or after it are left out and later
        times read as NULL (rule 11); identical interval events are one event (rule 9).
        """
        spec = contract.TABLES[name]
        raw_types = self._raw_types(name)
        casts = {c.name: self._cast(c.name, raw_types[c.name], c.dtype) for c in spec.columns if c.name in raw_types}
        exprs = {c.name: casts.get(c.name, f"CAST(NULL AS {_SQL_TYPES[c.dtype]})") for c in spec.columns}
        where = []
        if self.reads_as_of:
            limit = literal(self.as_of)
            for col in spec.columns:
                if col.dtype != TIMESTAMP or col.name not in casts:
                    continue
                if contract.ROW_TIME.get(name) == col.name:
                    where.append(f"{casts[col.name]} < {limit}")
                elif col.nullable:
                    later = f"{casts[col.name]} >= {limit}"
                    for target in (col.name, *contract.AS_OF_COMPANIONS.get((name, col.name), ())):
                        exprs[target] = f"CASE WHEN {later} THEN NULL ELSE {exprs[target]} END"
        selected = [f"{exprs[c.name]} AS {quote(c.name)}" for c in spec.columns]
        extras = [quote(c) for c in raw_types if c not in spec.column_names]
        distinct = "DISTINCT " if name in contract.INTERVAL_EVENTS else ""
        sql = f"SELECT {distinct}{', '.join(selected + extras)} FROM {quote('__raw_' + name)}"
        return sql + (f" WHERE {' AND '.join(where)}" if where else "")

    def _create_contract_view(self, name: str) -> None:
        self._create_view(name, self._contract_select(name))

    # ------------------------------------------------------------------ queries
    def _check_tables(self, query: str) -> None:
        if not self.validate_on_use:
            return
        for name in referenced_tables(query):
            if name in contract.TABLES:
                self.require(name)
                self.validate(name)

    # The three primitives an engine provides; everything else is written in terms of them.
    def _execute(self, statement: str) -> None:
        self.con.execute(statement).fetchall()

    def _fetch(self, query: str) -> list[tuple]:
        return self.con.execute(query).fetchall()

    def _frame(self, query: str) -> pd.DataFrame:
        return self.con.sql(query).df()

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """A lazy relation for ``query``; contract tables it reads are validated first."""
        self._check_tables(query)
        return self.con.sql(query)

    def query(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return its (small) result as a pandas DataFrame."""
        self._check_tables(query)
        return self._frame(query)

    def scalar(self, query: str) -> Any:
        """Run ``query`` and return the single value it yields."""
        self._check_tables(query)
        rows = self._fetch(query)
        return rows[0][0] if rows else None

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        """The validated, contract-typed table ``name`` as a lazy relation."""
        return self.sql(f"SELECT * FROM {quote(name)}")

    def frame(self, name: str) -> pd.DataFrame:
        """A small table (stores, staff, channels…) as a pandas DataFrame."""
        return self.query(f"SELECT * FROM {quote(name)}")

    def columns(self, name: str) -> list[str]:
        """Column names of table ``name`` (contract columns first, then extras)."""
        return list(self._frame(f"SELECT * FROM {quote(name)} LIMIT 0").columns)

    def data_end(self) -> pd.Timestamp | None:
        """The latest event time in the event tables present (the natural as-of date).

        Without an as-of date, an event later than the moment of opening is refused, naming
        the table, column and row: one mistyped year would otherwise move the analysis date
        (and every "last month") to that year.
        """
        parts = []
        for table, col in [("orders", "order_time"), ("contact_events", "event_time"), ("touches", "event_time"),
                           ("group_events", "event_time"), ("scans", "event_time")]:
            if self.has_table(table):
                parts.append((table, col))
        if not parts:
            return None
        if self.as_of is None:
            for table, col in parts:
                cond = f"{quote(col)} > {literal(self.future_limit)}"
                n = self._fetch(f"SELECT COUNT(*) FROM {quote(table)} WHERE {cond}")[0][0]
                if n:
                    rows = _first_rows(self, f"SELECT * FROM {quote(table)} WHERE {cond} ORDER BY {quote(col)} DESC")
                    raise DataContractError(
                        table, col, f"time later than today ({self.future_limit:%Y-%m-%d}): the analysis date "
                                    "cannot be taken from the data; fix the row, or give the analysis date "
                                    "(--as-of YYYY-MM-DD; rows at or after it are left out)", rows, int(n))
        union = " UNION ALL ".join(f"SELECT MAX({quote(c)}) AS t FROM {quote(t)}" for t, c in parts)
        value = self.scalar(f"SELECT MAX(t) FROM ({union})")
        return None if value is None else pd.Timestamp(value)

    def rows_after_as_of(self) -> dict[str, int]:
        """Rows of each event table at or after the as-of date, left out of the views.

        ``{table: rows}`` for the event tables present (:data:`workbench.contract.ROW_TIME`);
        empty without an as-of date or with ``strict=True`` (such rows are refused then).
        A backfill report says how many rows of the snapshot it did not read.
        """
        if not self.reads_as_of:
            return {}
        counts = {}
        for name, col in contract.ROW_TIME.items():
            if not self.has_table(name) or name not in self._sources:
                continue
            raw_types = self._raw_types(name)
            if col not in raw_types:
                continue
            cast = self._cast(col, raw_types[col], TIMESTAMP)
            n = self._fetch(f"SELECT COUNT(*) FROM {quote('__raw_' + name)} WHERE {cast} >= {literal(self.as_of)}")
            counts[name] = int(n[0][0])
        return counts

    # ------------------------------------------------------------------ validation
    def validate(self, name: str) -> None:
        """Validate contract table ``name`` (once); raise :class:`DataContractError`.

        A pass on files is remembered for that snapshot of the data (see
        :func:`validation_marker`), so a batch of reports on the same files validates once.
        """
        if name in self._validated or name not in contract.TABLES:
            return
        self.require(name)
        # a strict pass checks more than a backfill pass on the same as-of date: separate keys
        marker = validation_marker(self._sources, f"{name}|strict" if self.strict else name, self.as_of)
        if marker is not None and marker.exists():
            self._validated.add(name)
            return
        self._validated.add(name)  # referenced tables are validated while checking this one
        try:
            _validate_table(self, contract.TABLES[name])
        except Exception:
            self._validated.discard(name)
            raise
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:  # a read-only cache only costs a re-validation next time
                pass

    def validate_all(self) -> ValidationSummary:
        """Validate every contract table present; return row counts and what the reading rules did.

        The result maps each present table to its row count (as analyses see it) and also says
        which contract tables are absent (and which analyses need them), how many values each
        normalisation rule changed, how many duplicate events were merged and how many rows
        lie at or after the as-of date (:meth:`ValidationSummary.notes` as text lines; each
        also a log record of the ``workbench.engine`` logger).
        """
        counts = {}
        for name in self.tables:
            self.validate(name)
            counts[name] = int(self._fetch(f"SELECT COUNT(*) FROM {quote(name)}")[0][0])
        absent = {t: contract.NEEDED_BY.get(t, ()) for t in contract.TABLES if t not in self._sources}
        for table, needed in absent.items():
            log.info("table '%s' is absent%s", table, f" (needed by {', '.join(needed)})" if needed else "")
        notes = tuple(n for t in self.tables for n in self.normalisations(t))
        duplicates = {t: n for t in contract.INTERVAL_EVENTS if t in self._sources and (n := self.duplicate_events(t))}
        after = self.rows_after_as_of()
        for table, n in duplicates.items():
            log.info("table '%s': %d duplicate event row(s) merged", table, n)
        for table, n in after.items():
            if n:
                log.info("table '%s': %d row(s) at or after the as-of date left out", table, n)
        return ValidationSummary(counts, absent, notes, duplicates, after)

    def normalisations(self, name: str) -> list[Normalisation]:
        """What the reading rules changed in table ``name``: one record per column and rule.

        Rules: ``null marker`` (``\\N``, ``NULL``, ``null`` or empty text read as NULL),
        ``spaces trimmed``, ``integral id`` (``1.0`` written as ``1``). Each record is also
        logged (INFO) the first time it is counted.
        """
        if name in self._column_notes:
            return self._column_notes[name]
        spec = contract.TABLES[name]
        types = self._view_types(f"__input_{name}")
        conds: list[tuple[str, str, str]] = []
        for target, source in self._column_map(name).items():
            q, kind = quote(source), types[source]
            if kind == "VARCHAR":
                markers = ", ".join(literal(m) for m in contract.NULL_MARKERS)
                conds.append((target, "null marker", f"TRIM({q}) IN ({markers})"))
                conds.append((target, "spaces trimmed", f"{q} <> TRIM({q}) AND TRIM({q}) NOT IN ({markers})"))
                if contract.is_identifier(target):
                    conds.append((target, "integral id", f"TRIM({q}) LIKE '%.%0' AND "
                                                          f"regexp_matches(TRIM({q}), {literal(_INTEGRAL_TEXT)})"))
            elif _FLOATS.match(kind) and spec.column(target).dtype == STRING:
                conds.append((target, "integral id", f"{q} IS NOT NULL"))
        notes = []
        if conds:
            agg = ", ".join(f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END)" for _, _, c in conds)
            values = self._fetch(f"SELECT {agg} FROM {quote('__input_' + name)}")[0]
            for (column, rule, _), n in zip(conds, values):
                if n:
                    notes.append(Normalisation(name, column, rule, int(n)))
                    log.info("table '%s', column '%s': %s on %d value(s)", name, column, rule, int(n))
        self._column_notes[name] = notes
        return notes

    def duplicate_events(self, name: str) -> int:
        """Identical rows of interval event table ``name`` beyond the first (counted once in analyses)."""
        if name not in contract.INTERVAL_EVENTS or name not in self._sources:
            return 0
        raw = quote("__raw_" + name)
        total, distinct = self._fetch(f"SELECT (SELECT COUNT(*) FROM {raw}), "
                                      f"(SELECT COUNT(*) FROM (SELECT DISTINCT * FROM {raw}) d)")[0]
        return int(total) - int(distinct)

    def close(self) -> None:
        self.con.close()

    def __repr__(self) -> str:
        as_of = self.as_of.isoformat() if self.as_of is not None else "now"
        return f"Workbench(tables={self.tables}, as_of={as_of}, engine={self.dialect})"


# ---------------------------------------------------------------------- helpers
def referenced_tables(query: str) -> set[str]:
    """Table names a query reads, CTE names excluded.

    A query that cannot even be split into tokens (an unbalanced quote) is a
    :class:`ParameterError`. One that tokenises but does not parse in SQLGlot's grammar
    falls back to every contract table named in it, so validation is never skipped.
    """
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.TokenError as err:
        raise ParameterError(f"cannot read this SQL ({err}); an unbalanced quote? "
                             f"Query starts: {query.strip()[:120]!r}") from None
    except sqlglot.errors.ParseError:
        return {t for t in contract.TABLES if re.search(rf"\b{t}\b", query)}
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _reader(path: Path, table: str, con: duckdb.DuckDBPyConnection) -> str:
    """The DuckDB table function reading ``path`` (contract rules 1, 2, 4 and 5)."""
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise DataContractError(table, None, f"folder {path.name}/ holds no .parquet file")
        return f"read_parquet({literal(str(path / '**' / '*.parquet'))}, union_by_name = true)"
    if path.stat().st_size == 0:
        raise DataContractError(table, None, f"{path.name} is empty (0 bytes): the export did not finish? "
                                             "Write it again, or remove it if the table has no data")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({literal(str(path))})"
    if suffix in (".csv", ".tsv", ".txt"):
        text = literal(str(utf8_csv(path, table)))
        nulls = "[" + ", ".join(literal(m) for m in contract.NULL_MARKERS) + "]"
        base = f"read_csv({text}, header = true, nullstr = {nulls}"
        try:
            found = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {base})").fetchall()]
        except duckdb.Error as err:
            raise DataContractError(table, None, f"cannot read {path.name}: {_first_line(err)}") from None
        names = set(contract.TABLES[table].column_names) if table in contract.TABLES else set()
        # contract columns are read as text and typed by the contract: ids keep leading zeros,
        # times keep their offsets, and the sniffer's guess never decides a contract type
        as_text = [c for c in found if c.strip().lower() in names]
        types = ", ".join(f"{literal(c)}: 'VARCHAR'" for c in as_text)
        return base + (f", types = {{{types}}})" if types else ")")
    raise ParameterError(f"cannot read {path.name}: expected .parquet, .csv or a folder of Parquet files")


def utf8_csv(path: Path, table: str) -> Path:
    """``path`` if it is UTF-8, else a UTF-8 copy when it decodes as GB18030 (with a warning).

    Anything else is a :class:`DataContractError` naming the file, the first undecodable line
    and what to do. The copy lives in the system's temporary directory, keyed on the file's
    path, size and modification time.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as err:
                    bad_at = offset + err.start
                    lines += chunk[: err.start].count(b"\n")
                    raise _NotUtf8(bad_at, lines + 1) from None
                offset += len(chunk)
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
        return path
    except _NotUtf8 as bad:
        line = bad.line
    except UnicodeDecodeError:
        line = lines + 1
    data = path.read_bytes()
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise DataContractError(
            table, None, f"{path.name} is not UTF-8 (first undecodable byte on line {line}) and not GBK/GB18030 "
                         "either: save it as 'CSV UTF-8' or convert it, e.g. iconv -f <its encoding> -t UTF-8") from None
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
    out = Path(tempfile.gettempdir()) / "workbench-utf8" / f"{key}.csv"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    message = (f"table '{table}': {path.name} is not UTF-8 (line {line}); read it as GB18030 (GBK). "
               "Save exports as UTF-8 to silence this")
    warnings.warn(message, stacklevel=3)
    return out


class _NotUtf8(Exception):
    def __init__(self, offset: int, line: int) -> None:
        super().__init__(offset, line)
        self.line = line


def _normalise_expr(q: str, source_type: str, col: contract.Column) -> str:
    """Contract rules 4-6 on one source column ``q``: null markers, trimmed text, integral ids."""
    if source_type == "VARCHAR":
        markers = ", ".join(literal(m) for m in contract.NULL_MARKERS)
        text = f"TRIM({q})"
        integral = ""
        suspect = [f"{q} IN ({markers})", f"{q} LIKE ' %'", f"{q} LIKE '% '"]
        if contract.is_identifier(col.name):
            integral = (f" WHEN {text} LIKE '%.%0' AND regexp_matches({text}, {literal(_INTEGRAL_TEXT)}) "
                        f"THEN split_part({text}, '.', 1)")
            suspect.append(f"{q} LIKE '%.%0%'")
        # almost every value is clean: cheap comparisons first, the string work only for suspects
        slow = f"CASE WHEN {text} IN ({markers}) THEN NULL{integral} ELSE {text} END"
        return f"CASE WHEN {q} IS NULL THEN NULL WHEN {' OR '.join(suspect)} THEN {slow} ELSE {q} END"
    if col.dtype == STRING and _FLOATS.match(source_type):
        # a float id column (a pandas column with NaN, an Excel number): 1.0 is the id '1'
        return (f"CASE WHEN {q} = FLOOR({q}) AND ABS({q}) < 1e15 THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({q} AS VARCHAR) END")
    if col.dtype == STRING:  # an integer id column: ids are text
        return f"CAST({q} AS VARCHAR)"
    return q


def _cast_expr(col: str, raw_type: str, dtype: str, text_time: str = Workbench._text_time_sql) -> str:
    q = quote(col)
    if dtype == STRING:
        return q if raw_type == "VARCHAR" else f"CAST({q} AS VARCHAR)"
    if dtype == TIMESTAMP:
        if raw_type == "TIMESTAMP":
            return q
        if raw_type.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"timezone({literal(_TIMEZONE)}, {q})"
        if raw_type.startswith("TIMESTAMP") or raw_type == "DATE":
            return f"CAST({q} AS TIMESTAMP)"
        if raw_type == "VARCHAR":
            return text_time.format(q=q)
        return text_time.format(q=f"CAST({q} AS VARCHAR)")
    if dtype == DOUBLE:
        if _NUMERIC.match(raw_type):
            return f"CAST({q} AS DOUBLE)"
        return f"TRY_CAST(CAST({q} AS VARCHAR) AS DOUBLE)" if raw_type != "BOOLEAN" else "CAST(NULL AS DOUBLE)"
    if dtype == BOOLEAN:
        return q if raw_type == "BOOLEAN" else f"TRY_CAST(CAST({q} AS VARCHAR) AS BOOLEAN)"
    raise ValueError(dtype)


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
                           f"{cast} IS NOT NULL AND ({cast} > 1.7976931348623157e308 OR {cast} < -1.7976931348623157e308 "
                           f"OR {cast} <> {cast})"))
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
    if checks or padded:
        agg = ", ".join([f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS c{i}" for i, (_, _, cond) in enumerate(checks)]
                        + padded)
        counts = wb._fetch(f"SELECT {agg} FROM {raw}")[0]
        for column, n in zip(id_columns, counts[len(checks):]):
            wb._padded[(name, column)] = int(n or 0)
        for (column, problem, cond), n in zip(checks, counts):
            if n:
                rows = _first_rows(wb, f"SELECT * FROM {raw} WHERE {cond}")
                raise DataContractError(name, column, problem, rows, int(n))

    view = quote(name)
    if spec.key:
        keys = ", ".join(quote(k) for k in spec.key)
        n = wb._fetch(f"SELECT COUNT(*) FROM (SELECT {keys} FROM {view} GROUP BY {keys} HAVING COUNT(*) > 1) d")[0][0]
        if n:
            rows = _first_rows(wb, f"SELECT t.* FROM {view} t JOIN (SELECT {keys} FROM {view} GROUP BY {keys} "
                                   f"HAVING COUNT(*) > 1) d USING ({keys}) ORDER BY {keys}")
            raise DataContractError(name, ", ".join(spec.key), "duplicate key", rows, int(n))

    if name in contract.INTERVAL_EVENTS:
        _check_interval_sequence(wb, name)

    for ref in spec.references:
        if ref.column not in raw_types or not wb.has_table(ref.table) or ref.table == name:
            continue
        wb.validate(ref.table)
        cond = (f"t.{quote(ref.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {quote(ref.table)} r "
                f"WHERE r.{quote(ref.target_column)} = t.{quote(ref.column)})")
        n = wb._fetch(f"SELECT COUNT(*) FROM {view} t WHERE {cond}")[0][0]
        if n:
            rows = _first_rows(wb, f"SELECT t.* FROM {view} t WHERE {cond}")
            raise DataContractError(name, ref.column, f"value not found in {ref.table}.{ref.target_column}", rows, int(n))

    _check_identifier_spelling(wb, spec)

    if name == "tasks" and wb.has_table("assignments"):
        wb.validate("assignments")
        cond = ("t.experiment_id IS NOT NULL AND t.variant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM assignments a "
                "WHERE a.experiment_id = t.experiment_id AND a.variant = t.variant)")
        n = wb._fetch(f"SELECT COUNT(*) FROM tasks t WHERE {cond}")[0][0]
        if n:
            rows = _first_rows(wb, f"SELECT t.* FROM tasks t WHERE {cond}")
            raise DataContractError("tasks", "variant", "unknown variant: not assigned in that experiment", rows, int(n))


def _padded_condition(q: str) -> str:
    """SQL: text id ``q`` is written with leading zeros (``007``); LIKE first, the regex is slower."""
    return f"({q} LIKE '0%' AND regexp_matches({q}, '^0[0-9]+$'))"


def _check_identifier_spelling(wb: Workbench, spec: TableSpec) -> None:
    """Contract rule 6: an id written zero-padded in this table and without the zeros in another
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


def ordered_events_sql(table: str) -> str:
    """Events of ``table`` with a ``tie_rank`` column for :func:`interval_order_sql` (contract rule 10).

    At one second of one pair, a delete comes before an add when the pair was open just
    before that second (delete and re-add: the relationship goes on as a new interval), and
    after it when it was not (an add and a delete in one second: a zero-length interval).
    The state before a second is that left by the last earlier second holding only adds or
    only deletes: a second holding both leaves the state as it found it.
    """
    rules = contract.INTERVAL_EVENTS[table]
    a, b = rules["pair"]
    opens = ", ".join(literal(v) for v in rules["open"])
    flagged = f"SELECT *, CASE WHEN event_type IN ({opens}) THEN 1 ELSE 0 END AS is_open_event FROM {quote(table)}"
    grouped = (f"SELECT *, MIN(is_open_event) OVER (PARTITION BY {a}, {b}, event_time) AS second_min, "
               f"MAX(is_open_event) OVER (PARTITION BY {a}, {b}, event_time) AS second_max FROM ({flagged}) f")
    before = (f"SELECT *, COALESCE(LAST_VALUE(CASE WHEN second_min = second_max THEN is_open_event END IGNORE NULLS) "
              f"OVER (PARTITION BY {a}, {b} ORDER BY event_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) "
              f"AS open_before FROM ({grouped}) g")
    return (f"SELECT *, CASE WHEN open_before = 1 THEN is_open_event ELSE 1 - is_open_event END AS tie_rank "
            f"FROM ({before}) s")


def empty_table_sql(name: str) -> str:
    """SELECT with every contract column of table ``name``, typed, and no rows."""
    columns = ", ".join(f"CAST(NULL AS {_SQL_TYPES[c.dtype]}) AS {quote(c.name)}" for c in contract.TABLES[name].columns)
    return f"SELECT {columns} WHERE FALSE"


def interval_order_sql(table: str) -> str:
    """ORDER BY clause putting events of one relationship in time order, ties by ``tie_rank``.

    Use it over :func:`ordered_events_sql`, which supplies ``tie_rank`` (contract rule 10).
    """
    return "event_time, tie_rank"


def _check_interval_sequence(wb: Workbench, table: str) -> None:
    rules = contract.INTERVAL_EVENTS[table]
    pair = ", ".join(rules["pair"])
    closes = ", ".join(literal(v) for v in rules["close"])
    seq = (f"SELECT *, LAG(event_type) OVER (PARTITION BY {pair} ORDER BY {interval_order_sql(table)}) AS previous_event "
           f"FROM ({ordered_events_sql(table)}) e")
    cond = f"event_type IN ({closes}) AND (previous_event IS NULL OR previous_event IN ({closes}))"
    n = wb._fetch(f"SELECT COUNT(*) FROM ({seq}) s WHERE {cond}")[0][0]
    if n:
        shown = ", ".join(quote(c) for c in contract.TABLES[table].column_names)
        rows = _first_rows(wb, f"SELECT {shown} FROM ({seq}) s WHERE {cond} ORDER BY {pair}, event_time")
        verb = "delete" if table == "contact_events" else "leave"
        first = "add" if table == "contact_events" else "join"
        raise DataContractError(table, "event_type", f"a {verb} with no earlier {first} of the same {pair}", rows, int(n))


def table_sources(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Contract tables found in a data directory (``<table>.parquet``, ``<table>.csv`` or a
    folder ``<table>/``), or the mapping itself."""
    if isinstance(source, Mapping):
        return dict(source)
    root = Path(source)
    if not root.is_dir():
        raise ParameterError(f"data directory not found: {root}")
    sources: dict[str, Any] = {}
    for name in contract.TABLES:
        found = []
        for candidate in (root / f"{name}.parquet", root / f"{name}.csv", root / name):
            if candidate.is_symlink() and not candidate.exists():  # broken, or a link to itself
                raise DataContractError(name, None, f"{candidate.name} is a broken or self-referencing "
                                                    f"symbolic link; point it at the export or remove it")
            if candidate.exists():
                found.append(candidate)
        if len(found) > 1:
            raise DataContractError(name, None, "more than one source for this table: "
                                                + " and ".join(f.name + ("/" if f.is_dir() else "") for f in found)
                                                + "; keep one")
        if found:
            sources[name] = found[0]
    return sources


def open_workbench(
    source: str | Path | Mapping[str, Any],
    as_of: Any = None,
    tables: Iterable[str] | None = None,
    validate: bool = True,
    strict: bool | None = None,
    **engine_options: Any,
) -> Workbench:
    """Open a brand's data: a directory of contract files, or a dict of DataFrames.

    Parameters
    ----------
    source : path or mapping
        A directory holding ``<table>.parquet`` / ``<table>.csv`` files (or folders of
        Parquet files), or a mapping ``{table_name: DataFrame or path}``.
    as_of : date-like, optional
        Analysis date; event rows at or after it are left out (counted by
        :meth:`Workbench.rows_after_as_of`).
    strict : bool, optional
        Refuse rows at or after ``as_of`` instead (default: ``WORKBENCH_STRICT_AS_OF=1``).
    tables : iterable of str, optional
        Only attach these tables.
    validate : bool, default True
        Validate each contract table when a query first reads it.

    Returns
    -------
    Workbench

    Examples
    --------
    >>> import workbench
    >>> wb = workbench.open("data/demo", as_of="2026-01-01")   # doctest: +SKIP
    >>> wb.query("SELECT order_channel, SUM(amount) FROM orders GROUP BY 1")  # doctest: +SKIP
    """
    sources = table_sources(source)
    if not isinstance(source, Mapping):
        root = Path(source)
        if not sources:
            raise DataContractError(
                "*", None, f"no contract table found in {root}: expected files such as orders.parquet or "
                           f"contact_events.csv (tables: {', '.join(contract.TABLES)})")
    if tables is not None:
        wanted = set(tables)
        sources = {k: v for k, v in sources.items() if k in wanted}
    return Workbench(sources, as_of=as_of, validate=validate, strict=strict, **engine_options)
