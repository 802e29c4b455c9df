"""The workbench: a brand's contract tables as lazy, validated SQL relations on one backend.

A :class:`Workbench` holds a :class:`~workbench.engine.backend.Backend` (DuckDB in this
process by default, or Spark) and does everything that does not depend on the engine, in
SQL written once in DuckDB's dialect: the catalogue of contract tables, the reading rules
of :mod:`workbench.contract`, contract types, the as-of date, validation on first use
(:mod:`workbench.engine.validation`) and derived relations materialised once per workbench
(:meth:`Workbench.derived`). It never imports an engine's client library itself.

Each source is exposed in three layers: ``__input_<table>`` as read, ``__raw_<table>`` with
contract columns named and text normalised (what validation checks), and ``<table>`` with
contract types (what analyses read). An absent contract table an analysis can do without
reads as an empty typed view (:meth:`Workbench.table_or_empty`).
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .. import contract
from ..contract import STRING, TIMESTAMP
from ..errors import DataContractError, ParameterError
from . import validation
from .backend import Backend
from .reading import table_sources
from .sql import (
    _SQL_TYPES,
    _TIMEZONE,
    _cast_expr,
    _normalise_expr,
    empty_table_sql,
    literal,
    quote,
    referenced_tables,
    to_timestamp,
)
from .validation import Normalisation, ValidationSummary
from .validation_files import duplicate_events, normalisations, validate_all, validate_remembered

log = logging.getLogger("workbench.engine")

def strict_as_of() -> bool:
    """Whether rows at or after as-of are refused.

    ``WORKBENCH_STRICT_AS_OF=1`` (what the CLI's ``--strict`` sets): refuse rows at or after
    the as-of date instead of leaving them out.
    """
    return os.environ.get("WORKBENCH_STRICT_AS_OF", "").strip().lower() in ("1", "true", "yes")



class Workbench:
    """Contract tables of one brand, exposed to SQL through a backend (DuckDB by default).

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
    backend : Backend, optional
        The engine (:mod:`workbench.engine.duckdb` or :mod:`workbench.engine.spark`); by
        default a new DuckDB connection with the settings below.
    threads, memory_limit, connection : optional
        DuckDB settings for large brands. Without ``memory_limit`` the engine takes
        ``WORKBENCH_MEMORY_LIMIT`` (e.g. ``"6GB"``) or half the machine's memory, leaving
        the other half to the pandas frames of the analysis in the same process (DuckDB's
        own default, 80%, leaves too little). Past the limit it spills to
        a folder of its own inside ``WORKBENCH_SPILL_DIR`` (default: a ``workbench-spill``
        folder in the system's temporary directory), so parallel kernels never share spill files.

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

    def __init__(
        self,
        sources: Mapping[str, Any],
        as_of: Any = None,
        validate: bool = True,
        threads: int | None = None,
        memory_limit: str | None = None,
        connection: Any = None,
        strict: bool | None = None,
        backend: Backend | None = None,
    ) -> None:
        if backend is None:  # imported here: the DuckDB client loads only when DuckDB is the engine
            from .duckdb import DuckDBBackend

            backend = DuckDBBackend(threads=threads, memory_limit=memory_limit, connection=connection)
        self.backend = backend
        self.as_of = to_timestamp(as_of, "as_of") if as_of is not None else None
        self.strict = strict_as_of() if strict is None else bool(strict)
        # Without an analysis date, nothing may lie in the future of the moment of opening.
        self.future_limit = self.as_of if self.as_of is not None else pd.Timestamp.now(_TIMEZONE).tz_localize(None)
        self.validate_on_use = validate
        self._sources: dict[str, Any] = {}
        self._validated: set[str] = set()
        #: per validated table, how: "full", "remembered", "since <as-of>" (checks narrowed to later rows) or
        #: "new files since <as-of>: <n>" (narrowed to the rows of files added since a pass)
        self.validation_kind: dict[str, str] = {}
        self._user_tables: set[str] = set()
        self._column_notes: dict[str, list[Normalisation]] = {}
        self._column_maps: dict[str, dict[str, str]] = {}
        self._raw_type_cache: dict[str, dict[str, str]] = {}
        self._padded: dict[tuple[str, str], int] = {}
        self._empty_views: set[str] = set()
        self._derived: dict[str, tuple[tuple[Any, ...], tuple]] = {}
        for name, source in sources.items():
            self._attach(name, source)
        #: the persisted derived layer read by :meth:`derived` (set by :func:`open_workbench`), and the
        #: sources it was built from: a table attached again is no longer the layer's
        self.layer: Any = None
        self._layer_sources: dict[str, Any] = dict(self._sources)

    # ------------------------------------------------------------------ engine
    @property
    def dialect(self) -> str:
        """The SQL dialect of the engine (``"duckdb"``, ``"spark"``); transforms are written in DuckDB's."""
        return self.backend.dialect

    @property
    def con(self) -> Any:
        """The DuckDB connection (DuckDB backend only), for DuckDB-specific work such as ``COPY``."""
        try:
            return self.backend.con
        except AttributeError:
            raise AttributeError(f"a workbench on {self.dialect} has no DuckDB connection") from None

    # The primitives every query goes through (kept as methods: validation calls them).
    def _execute(self, statement: str) -> None:
        self.backend.execute(statement)

    def _fetch(self, query: str) -> list[tuple]:
        return self.backend.fetch(query)

    def _frame(self, query: str) -> pd.DataFrame:
        return self.backend.frame(query)

    def _create_view(self, name: str, select: str) -> None:
        self.backend.create_view(name, select)

    def _view_types(self, view: str) -> dict[str, str]:
        """Column names and engine types of a view, in order."""
        return self.backend.column_types(view)

    # ------------------------------------------------------------------ sources
    def _attach(self, name: str, source: Any) -> None:
        self.backend.load(f"__input_{name}", source, table=name)
        self._sources[name] = source
        self._validated.discard(name)
        self.validation_kind.pop(name, None)
        self._column_notes.pop(name, None)
        self._column_maps.pop(name, None)
        self._raw_type_cache.pop(name, None)
        self._padded = {k: v for k, v in self._padded.items() if k[0] != name}
        if name in contract.TABLES:
            self._create_view(f"__raw_{name}", self._normalised_select(name))
            self._create_contract_view(name)
        else:
            self._user_tables.add(name)
            self._create_view(name, f"SELECT * FROM {quote('__input_' + name)}")

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
        """SQL of a contract view over an attached input.

        SELECT over ``__input_<name>``: contract columns renamed and their text normalised
        (rules 3-6 of :mod:`workbench.contract`); extra columns as they are.
        """
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

    def register(self, name: str, frame: Any) -> None:
        """Expose a derived table (a DataFrame or the engine's relation) to later queries under ``name``."""
        if name in contract.TABLES:
            self._attach(name, frame)
            return
        self.backend.load(name, frame)
        self._user_tables.add(name)

    def materialize(self, name: str, query: str) -> None:
        """Run ``query`` once and keep its result as a temporary table ``name``.

        Used for intermediate results that several later queries read (spells, journeys).
        """
        self._check_tables(query)
        self.backend.materialise(name, query)
        self._user_tables.add(name)

    def derived(self, name: str, sql: str, reads: tuple[str, ...], params: tuple = ()) -> str:
        """``SELECT * FROM name``, with ``sql`` materialised once per workbench as relation ``name``.

        Derived relations that many queries of a report read (contact intervals, first adds) are
        built once instead of once per query: each rebuild is a sort of a whole event table. The
        relation is rebuilt when a contract table in ``reads`` is attached again (a new source) or
        when ``params`` (the arguments ``sql`` was built from, such as an as-of date) change.
        """
        key = tuple(self._sources.get(t) for t in reads)
        seen = self._derived.get(name)
        if seen is None or seen[1] != params or any(a is not b for a, b in zip(seen[0], key, strict=False)):
            persisted = self._layer_file(name, reads, params)
            if persisted is None:
                self.materialize(name, sql)
            else:  # the same rows, persisted by build_layer for this snapshot and as-of
                self._check_tables(sql)
                self.backend.drop(name)
                self.backend.load(name, persisted)
                self._user_tables.add(name)
            self._derived[name] = (key, params)
        return f"SELECT * FROM {name}"

    def _layer_file(self, name: str, reads: tuple[str, ...], params: tuple) -> Any:
        """The layer's Parquet of relation ``name`` when it holds it with these ``params``, else None.

        Only while every table the relation reads is still the source the layer was built from.
        """
        if self.layer is None or any(self._sources.get(t) is not self._layer_sources.get(t) for t in reads):
            return None
        return self.layer.relation_path(name, params)

    @contextmanager
    def restricted(self, keys: str, tables: Iterable[str], key: str = "customer_id") -> Iterator[None]:
        """Within the block, contract tables ``tables`` hold only the rows whose ``key`` is in relation ``keys``.

        Every derived relation built inside is built from those rows only: the same SQL, restricted to
        some customers (what an incremental build of the layer recomputes). Derived relations are
        forgotten on entry and on exit, so none built on the restricted rows outlives the block.
        Tables must have been validated before (validation reads the full tables).
        """
        present = [t for t in tables if t in self._sources and t in contract.TABLES]
        saved_layer, self.layer = self.layer, None
        self._forget_derived()
        for t in present:
            self._create_view(t, self._contract_select(t, self._restricted_raw(t, keys, key)))
        try:
            yield
        finally:
            for t in present:
                self._create_contract_view(t)
            self._forget_derived()
            self.layer = saved_layer

    def _restricted_raw(self, name: str, keys: str, key: str) -> str:
        """``__raw_<name>``'s rows whose ``key`` (normalised and typed as the views do) is in ``keys``: a subquery.

        Before the typed view's DISTINCT and as-of rules (a filter the engine does not push below them); only the
        key is normalised before the semi-join, the other columns (as :meth:`_normalised_select`) on the rows kept.
        """
        spec, types = contract.TABLES[name], self._view_types(f"__input_{name}")
        to_contract = {v: k for k, v in self._column_map(name).items()}
        normalised = {s: _normalise_expr(quote(s), kind, spec.column(to_contract[s])) if s in to_contract else quote(s)
                      for s, kind in types.items()}
        source = self._column_map(name)[key]
        typed = self._cast("__wb_restricted_key", self._raw_types(name)[key], STRING)
        kept = (f"SELECT * FROM (SELECT *, {normalised[source]} AS __wb_restricted_key "
                f"FROM {quote('__input_' + name)}) i WHERE {typed} IN (SELECT {quote(key)} FROM {quote(keys)})")
        columns = ", ".join(f"{expr} AS {quote(to_contract.get(s, s))}" for s, expr in normalised.items())
        return f"(SELECT {columns} FROM ({kept}) k) r"

    def forget(self, name: str) -> None:
        """Drop derived relation ``name``: the next :meth:`derived` call builds it again (or reads the layer)."""
        if self._derived.pop(name, None) is not None:
            self.backend.drop(name)

    def _forget_derived(self) -> None:
        for name in self._derived:
            self.backend.drop(name)
        self._derived = {}

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
        >>> stores = pd.DataFrame({"store_id": ["S1"], "store_name": ["Store one"]})
        >>> wb = workbench.open({"stores": stores}, as_of="2025-04-01")
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
        return _cast_expr(col, raw_type, dtype, self.backend.text_time_sql)

    @property
    def reads_as_of(self) -> bool:
        """Whether rows at or after the as-of date are left out (rather than refused)."""
        return self.as_of is not None and not self.strict

    def _contract_select(self, name: str, raw: str | None = None) -> str:
        """SELECT that casts contract columns, supplies absent nullable ones and keeps extras.

        With an as-of date (not strict), event rows at or after it are left out and later
        times read as NULL (rule 11); identical interval events are one event (rule 9). ``raw``
        reads some rows of ``__raw_<name>`` instead (a subquery and its alias).
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
        sql = f"SELECT {distinct}{', '.join(selected + extras)} FROM {raw or quote('__raw_' + name)}"
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

    def sql(self, query: str) -> Any:
        """A lazy relation of the engine for ``query``; contract tables it reads are validated first."""
        self._check_tables(query)
        return self.backend.relation(query)

    def query(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return its (small) result as a pandas DataFrame."""
        self._check_tables(query)
        return self._frame(query)

    def scalar(self, query: str) -> Any:
        """Run ``query`` and return the single value it yields."""
        self._check_tables(query)
        rows = self._fetch(query)
        return rows[0][0] if rows else None

    def table(self, name: str) -> Any:
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
                    rows = validation._first_rows(
                        self, f"SELECT * FROM {quote(table)} WHERE {cond} ORDER BY {quote(col)} DESC")
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
        :func:`~workbench.engine.validation.validation_record`), so a batch of reports on the same
        files validates once; at a later as-of date on the same files only the checks that can
        differ run, on the rows the later date adds or changes. :attr:`validation_kind` says which
        (:func:`~workbench.engine.validation_files.validate_remembered`).
        """
        if name in self._validated or name not in contract.TABLES:
            return
        self.require(name)
        self._validated.add(name)  # referenced tables are validated while checking this one
        try:
            self.validation_kind[name] = validate_remembered(self, name)
        except Exception:
            self._validated.discard(name)
            raise

    def validate_all(self) -> ValidationSummary:
        """Validate every contract table present; what they hold (:func:`.validation_files.validate_all`)."""
        return validate_all(self)

    def normalisations(self, name: str) -> list[Normalisation]:
        """What the reading rules changed in table ``name`` (:func:`.validation_files.normalisations`)."""
        return normalisations(self, name)

    def duplicate_events(self, name: str) -> int:
        """Identical rows of interval event table ``name`` beyond the first (counted once in analyses)."""
        return duplicate_events(self, name)

    def close(self) -> None:
        """Release the backend's resources."""
        self.backend.close()

    def __repr__(self) -> str:
        as_of = self.as_of.isoformat() if self.as_of is not None else "now"
        return f"Workbench(tables={self.tables}, as_of={as_of}, engine={self.dialect})"

def derived_table(wb: Workbench, name: str, sql: str, reads: tuple[str, ...], params: tuple = ()) -> str:
    """:meth:`Workbench.derived` as a function: ``SELECT * FROM name`` with ``sql`` materialised once.

    Anything that is not a :class:`Workbench` (a stand-in without a backend) gets ``sql`` back,
    to be run inline.
    """
    if not isinstance(wb, Workbench):
        return sql
    return wb.derived(name, sql, reads, params)


def open_workbench(
    source: str | Path | Mapping[str, Any],
    as_of: Any = None,
    tables: Iterable[str] | None = None,
    validate: bool = True,
    strict: bool | None = None,
    layer: Any = "auto",
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
    layer : "auto", path or None
        The persisted derived layer (:func:`workbench.derived_layer.build_layer`) to read derived
        relations from, when it is current for these files and this as-of date: ``"auto"`` looks
        in the data directory's default place (:func:`~workbench.engine.layer.default_layer_dir`),
        a path reads that layer, ``None`` never reads one. The results are the same either way.

    Returns
    -------
    Workbench

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

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
    wb = Workbench(sources, as_of=as_of, validate=validate, strict=strict, **engine_options)
    if layer is not None and not isinstance(source, Mapping) and tables is None:
        from .layer import current_layer

        wb.layer = current_layer(source, wb.as_of, wb.dialect, None if layer == "auto" else layer)
    return wb
