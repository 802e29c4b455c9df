"""The engine layer: contract tables as lazy, validated SQL views.

A :class:`Workbench` wraps an embedded DuckDB connection. Every contract table found in a
data directory (``<table>.parquet``, ``<table>.csv`` or a folder ``<table>/`` of Parquet
files) or passed as a pandas DataFrame is exposed to SQL under its contract name, with
contract columns cast to their contract types and absent nullable columns supplied as
typed NULLs. Nothing is read until a query needs it.

Validation runs when a table is first used by a query: missing table or column, wrong
type, null key, duplicate key, unknown enum value, negative money, a delete with no
earlier add, timestamps later than ``as_of`` and dangling references all raise
:class:`~workbench.errors.DataContractError` naming the table, column and first
offending rows.

Transforms elsewhere in the package are SQL strings in a portable dialect (standard
window functions and joins). They are run with :meth:`Workbench.query` (small results
as pandas) or :meth:`Workbench.sql` (a lazy relation). ``Workbench.dialect`` tells which
SQL dialect the engine speaks; transforms are written once, in DuckDB's dialect, and
transpiled with SQLGlot for other engines.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
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


class Workbench:
    """Contract tables of one brand, exposed to SQL through an embedded engine.

    Use :func:`workbench.open` rather than the constructor.

    Parameters
    ----------
    sources : mapping of table name to a file path, a folder of Parquet files or a DataFrame
        Tables that are not contract tables are exposed as given, without validation.
    as_of : date-like, optional
        The analysis date. Events at or after it are contract violations (data from the
        future). Defaults to the time of opening.
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
    >>> wb.query("SELECT SUM(amount) AS gmv FROM orders")["gmv"].iloc[0]
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
        self.as_of = to_timestamp(as_of, "as_of") if as_of is not None else None
        # Without an analysis date, nothing may lie in the future of the moment of opening.
        self.future_limit = self.as_of if self.as_of is not None else pd.Timestamp.now(_TIMEZONE).tz_localize(None)
        self.validate_on_use = validate
        self._sources: dict[str, Any] = {}
        self._validated: set[str] = set()
        self._user_tables: set[str] = set()
        for name, source in sources.items():
            self._attach(name, source)

    # ------------------------------------------------------------------ sources
    def _load_raw(self, name: str, source: Any) -> None:
        """Expose ``source`` unchanged as ``__raw_<name>`` (the engine-specific part of attaching)."""
        raw = f"__raw_{name}"
        if isinstance(source, pd.DataFrame):
            self.con.register(raw, source)
        else:
            self.con.execute(f"CREATE OR REPLACE VIEW {quote(raw)} AS SELECT * FROM {_reader(Path(source))}")

    def _create_plain_view(self, name: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT * FROM {quote('__raw_' + name)}")

    def _attach(self, name: str, source: Any) -> None:
        self._load_raw(name, source)
        self._sources[name] = source
        self._validated.discard(name)
        if name in contract.TABLES:
            self._create_contract_view(name)
        else:
            self._user_tables.add(name)
            self._create_plain_view(name)

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

    def require(self, *names: str) -> None:
        """Raise :class:`DataContractError` unless every table in ``names`` is present."""
        for name in names:
            if not self.has_table(name):
                raise DataContractError(
                    name,
                    None,
                    f"table is missing: expected {name}.parquet, {name}.csv or a folder {name}/ of Parquet "
                    f"files in the data directory (available: {', '.join(self.tables) or 'none'})",
                )

    # ------------------------------------------------------------------ views
    def _raw_types(self, name: str) -> dict[str, str]:
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {quote('__raw_' + name)}").fetchall()
        return {r[0]: str(r[1]).upper() for r in rows}

    def _contract_select(self, name: str) -> str:
        """SELECT that casts contract columns, supplies absent nullable ones and keeps extras."""
        spec = contract.TABLES[name]
        raw_types = self._raw_types(name)
        exprs = []
        for col in spec.columns:
            if col.name in raw_types:
                exprs.append(f"{_cast_expr(col.name, raw_types[col.name], col.dtype)} AS {quote(col.name)}")
            else:
                exprs.append(f"CAST(NULL AS {_SQL_TYPES[col.dtype]}) AS {quote(col.name)}")
        extras = [quote(c) for c in raw_types if c not in spec.column_names]
        return f"SELECT {', '.join(exprs + extras)} FROM {quote('__raw_' + name)}"

    def _create_contract_view(self, name: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {self._contract_select(name)}")

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
        """The latest event time in the event tables present (the natural as-of date)."""
        parts = []
        for table, col in [("orders", "order_time"), ("contact_events", "event_time"), ("touches", "event_time"),
                           ("group_events", "event_time"), ("scans", "event_time")]:
            if self.has_table(table):
                parts.append(f"SELECT MAX({col}) AS t FROM {table}")
        if not parts:
            return None
        value = self.scalar("SELECT MAX(t) FROM (" + " UNION ALL ".join(parts) + ")")
        return None if value is None else pd.Timestamp(value)

    # ------------------------------------------------------------------ validation
    def validate(self, name: str) -> None:
        """Validate contract table ``name`` (once); raise :class:`DataContractError`.

        A pass on files is remembered for that snapshot of the data (see
        :func:`validation_marker`), so a batch of reports on the same files validates once.
        """
        if name in self._validated or name not in contract.TABLES:
            return
        self.require(name)
        marker = validation_marker(self._sources, name, self.as_of)
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

    def validate_all(self) -> dict[str, int]:
        """Validate every contract table present; return row counts per table."""
        counts = {}
        for name in self.tables:
            self.validate(name)
            counts[name] = int(self._fetch(f"SELECT COUNT(*) FROM {quote(name)}")[0][0])
        return counts

    def close(self) -> None:
        self.con.close()

    def __repr__(self) -> str:
        as_of = self.as_of.isoformat() if self.as_of is not None else "now"
        return f"Workbench(tables={self.tables}, as_of={as_of}, engine={self.dialect})"


# ---------------------------------------------------------------------- helpers
def referenced_tables(query: str) -> set[str]:
    """Table names a query reads, CTE names excluded."""
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.ParseError:
        return set()
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


def _reader(path: Path) -> str:
    if path.is_dir():
        return f"read_parquet({literal(str(path / '**' / '*.parquet'))}, union_by_name = true)"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({literal(str(path))})"
    if suffix in (".csv", ".tsv", ".txt"):
        return f"read_csv_auto({literal(str(path))}, header = true)"
    raise ParameterError(f"cannot read {path.name}: expected .parquet, .csv or a folder of Parquet files")


def _cast_expr(col: str, raw_type: str, dtype: str) -> str:
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
            return f"TRY_CAST({q} AS TIMESTAMP)"
        return f"TRY_CAST(CAST({q} AS VARCHAR) AS TIMESTAMP)"
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

    # One scan computes every per-row violation count; details are fetched only on failure.
    checks: list[tuple[str, str, str]] = []  # (column, problem, condition on raw columns)
    for col in spec.columns:
        if col.name not in raw_types:
            continue
        q = quote(col.name)
        cast = _cast_expr(col.name, raw_types[col.name], col.dtype)
        if cast.startswith("TRY_CAST") or cast.startswith("CAST(NULL"):
            checks.append((col.name, f"wrong type: expected {col.dtype}, found {raw_types[col.name]} values "
                                     f"that do not convert", f"{q} IS NOT NULL AND {cast} IS NULL"))
    for col in spec.columns:
        if col.name not in raw_types:
            continue
        q = quote(col.name)
        cast = _cast_expr(col.name, raw_types[col.name], col.dtype)
        if not col.nullable:
            checks.append((col.name, "null value in a required column", f"{q} IS NULL"))
        if col.values:
            allowed = ", ".join(literal(v) for v in col.values)
            checks.append((col.name, f"unknown value (allowed: {', '.join(col.values)})",
                           f"{cast} IS NOT NULL AND {cast} NOT IN ({allowed})"))
        if col.min_value is not None:
            checks.append((col.name, f"value below {col.min_value:g} (money cannot be negative)",
                           f"{cast} < {col.min_value!r}"))
        if col.dtype == TIMESTAMP:
            checks.append((col.name, f"timestamp at or after as_of {wb.future_limit}: data from the future of the "
                                     f"analysis date", f"{cast} >= {literal(wb.future_limit)}"))
    if name == "orders" and "refunded_amount" in raw_types:
        checks.append(("refunded_amount", "refund larger than the order amount",
                       "TRY_CAST(refunded_amount AS DOUBLE) > TRY_CAST(amount AS DOUBLE) + 1e-9"))
    if checks:
        agg = ", ".join(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS c{i}" for i, (_, _, cond) in enumerate(checks))
        counts = wb._fetch(f"SELECT {agg} FROM {raw}")[0]
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

    if name == "tasks" and wb.has_table("assignments"):
        wb.validate("assignments")
        cond = ("t.experiment_id IS NOT NULL AND t.variant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM assignments a "
                "WHERE a.experiment_id = t.experiment_id AND a.variant = t.variant)")
        n = wb._fetch(f"SELECT COUNT(*) FROM tasks t WHERE {cond}")[0][0]
        if n:
            rows = _first_rows(wb, f"SELECT t.* FROM tasks t WHERE {cond}")
            raise DataContractError("tasks", "variant", "unknown variant: not assigned in that experiment", rows, int(n))


def interval_order_sql(table: str) -> str:
    """ORDER BY clause putting events of one relationship in time order, opens first on ties.

    A same-second add and delete is a zero-length relationship, not a delete before an add.
    """
    opens = ", ".join(literal(v) for v in contract.INTERVAL_EVENTS[table]["open"])
    return f"event_time, CASE WHEN event_type IN ({opens}) THEN 0 ELSE 1 END"


def _check_interval_sequence(wb: Workbench, table: str) -> None:
    rules = contract.INTERVAL_EVENTS[table]
    pair = ", ".join(rules["pair"])
    closes = ", ".join(literal(v) for v in rules["close"])
    seq = (f"SELECT *, LAG(event_type) OVER (PARTITION BY {pair} ORDER BY {interval_order_sql(table)}) AS previous_event "
           f"FROM {quote(table)}")
    cond = f"event_type IN ({closes}) AND (previous_event IS NULL OR previous_event IN ({closes}))"
    n = wb._fetch(f"SELECT COUNT(*) FROM ({seq}) s WHERE {cond}")[0][0]
    if n:
        rows = _first_rows(wb, f"SELECT * FROM ({seq}) s WHERE {cond} ORDER BY {pair}, event_time")
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
        for candidate in (root / f"{name}.parquet", root / f"{name}.csv", root / name):
            if candidate.exists():
                sources[name] = candidate
                break
    return sources


def open_workbench(
    source: str | Path | Mapping[str, Any],
    as_of: Any = None,
    tables: Iterable[str] | None = None,
    validate: bool = True,
    **engine_options: Any,
) -> Workbench:
    """Open a brand's data: a directory of contract files, or a dict of DataFrames.

    Parameters
    ----------
    source : path or mapping
        A directory holding ``<table>.parquet`` / ``<table>.csv`` files (or folders of
        Parquet files), or a mapping ``{table_name: DataFrame or path}``.
    as_of : date-like, optional
        Analysis date; events at or after it are rejected as data from the future.
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
    return Workbench(sources, as_of=as_of, validate=validate, **engine_options)
