"""The DuckDB backend: an embedded connection in this process (the default engine).

:class:`DuckDBBackend` implements :class:`~workbench.engine.backend.Backend` over one
``duckdb`` connection, with a memory limit that leaves room for the analysis's pandas frames,
a spill directory, and Asia/Shanghai as the session time zone. Files are read with DuckDB's
own readers; CSV contract columns are read as text and typed by the contract.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import contract
from ..errors import DataContractError, EngineOutOfMemoryError, ParameterError
from .reading import _first_line, refuse_empty_file, utf8_csv
from .sizes import parse_size, physical_memory
from .sql import _TIMEZONE, TEXT_TIME_SQL, literal, quote


class DuckDBBackend:
    """Contract tables in an embedded DuckDB connection.

    Parameters
    ----------
    threads : int, optional
        DuckDB's worker threads (default: its own, one per core).
    memory_limit : str, optional
        Default :func:`default_memory_limit`; past it DuckDB spills to :func:`spill_directory`.
    connection : duckdb.DuckDBPyConnection, optional
        An open connection to use instead of a new one (its memory settings are kept unless
        ``memory_limit`` is given).
    """

    dialect = "duckdb"
    text_time_sql = TEXT_TIME_SQL

    def __init__(self, threads: int | None = None, memory_limit: str | None = None,
                 connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = connection or duckdb.connect()
        self._spill: Path | None = None
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if connection is None:
            self.con.execute(f"SET memory_limit = {literal(memory_limit or default_memory_limit())}")
            self._spill = connection_spill_directory()
            self.con.execute(f"SET temp_directory = {literal(str(self._spill))}")
            quiet_progress(self.con)
        elif memory_limit:
            self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        # Text times without an offset are Asia/Shanghai, whatever the machine's TZ says.
        self.con.execute(f"SET TimeZone = {literal(_TIMEZONE)}")

    def execute(self, statement: str) -> None:
        """Run a statement for its effect."""
        with out_of_memory_as_domain_error():
            self.con.execute(statement).fetchall()

    def fetch(self, query: str) -> list[tuple]:
        """Run a query; its rows as tuples."""
        with out_of_memory_as_domain_error():
            return self.con.execute(query).fetchall()

    def frame(self, query: str) -> pd.DataFrame:
        """Run a query; its result as a pandas DataFrame."""
        with out_of_memory_as_domain_error():
            return self.con.sql(query).df()

    def relation(self, query: str) -> duckdb.DuckDBPyRelation:
        """The query as a lazy DuckDB relation (not run)."""
        return self.con.sql(query)

    def load(self, name: str, source: Any, table: str = "") -> None:
        """Expose ``source`` under ``name`` (see :meth:`Backend.load`)."""
        if isinstance(source, pd.DataFrame):
            self.con.register(name, source)
            return
        if isinstance(source, duckdb.DuckDBPyRelation):
            source.create_view(name, replace=True)
            return
        path = Path(source)
        reader = _reader(path, table or name, self.con)
        try:
            self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT * FROM {reader}")
        except duckdb.Error as err:
            raise DataContractError(table or name, None, f"cannot read {path.name}: {_first_line(err)}") from None

    def create_view(self, name: str, select: str) -> None:
        """Create or replace view ``name`` as ``select``."""
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {select}")

    def materialise(self, name: str, query: str) -> None:
        """Compute ``query`` once and keep the result as temporary table ``name``."""
        with out_of_memory_as_domain_error():
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {query}")

    def drop(self, name: str) -> None:
        """Forget a materialised relation or a loaded view (no error if there is none)."""
        # a temporary table shadows a view of the same name: drop whichever exists, both if both do
        for kind in ("TABLE", "VIEW", "TABLE"):
            try:
                self.con.execute(f"DROP {kind} IF EXISTS {quote(name)}")
            except duckdb.CatalogException:  # the name is the other kind of object
                pass

    def write_parquet(self, query: str, path: str) -> None:
        """Write the result of ``query`` to the Parquet file ``path`` (``COPY … TO … (FORMAT PARQUET)``)."""
        with out_of_memory_as_domain_error():
            self.con.execute(f"COPY ({query}) TO {literal(str(path))} (FORMAT PARQUET)")

    def column_types(self, view: str) -> dict[str, str]:
        """Column names and DuckDB type names of a relation, in order."""
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {quote(view)}").fetchall()
        return {r[0]: str(r[1]).upper() for r in rows}

    def memory_limit_bytes(self) -> int | None:
        """DuckDB's ``memory_limit`` in bytes as the connection has it now; None when it is unlimited.

        DuckDB shows the limit rounded to a tenth of its binary unit (``5GB`` reads ``4.6 GiB``, 1% less),
        and that is the value read back.
        """
        shown = str(self.con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        try:
            limit = parse_size(shown)
        except ParameterError:  # a form this version of DuckDB does not show: unknown
            return None
        return None if limit >= UNLIMITED else limit

    def close(self) -> None:
        """Close the DuckDB connection and remove its spill folder."""
        self.con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)


#: DuckDB shows no limit (``SET memory_limit = '-1'``) as about 16 EiB: a limit this large is none
UNLIMITED = 2**60


@contextmanager
def out_of_memory_as_domain_error() -> Iterator[None]:
    """Raise :class:`~workbench.errors.EngineOutOfMemoryError` for DuckDB's out-of-memory error inside the block.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("SET memory_limit = '1MB'")
    >>> with out_of_memory_as_domain_error():  # doctest: +ELLIPSIS
    ...     _ = con.execute("SELECT LIST(i) FROM range(1000000) t(i) GROUP BY i % 1000").fetchall()
    Traceback (most recent call last):
    ...
    workbench.errors.EngineOutOfMemoryError: DuckDB ran out of memory: Out of Memory Error: ...
    """
    try:
        yield
    except duckdb.OutOfMemoryException as err:
        raise EngineOutOfMemoryError(f"DuckDB ran out of memory: {_first_line(err)}; raise the memory limit "
                                     "(WORKBENCH_MEMORY_LIMIT, or --memory-limit)") from err


def default_memory_limit() -> str:
    """``WORKBENCH_MEMORY_LIMIT``, else half the physical memory (in MB)."""
    configured = os.environ.get("WORKBENCH_MEMORY_LIMIT", "").strip()
    if configured:
        return configured
    return f"{max(physical_memory() // 2 // 2**20, 1024)}MB"

def spill_directory() -> Path:
    """Where DuckDB spills past its memory limit: ``WORKBENCH_SPILL_DIR`` or the temporary directory.

    Each connection spills into a folder of its own inside it (:func:`connection_spill_directory`).
    """
    configured = os.environ.get("WORKBENCH_SPILL_DIR", "").strip()
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "workbench-spill"


def connection_spill_directory() -> Path:
    """A spill folder of one connection: ``<spill_directory()>/duckdb-<pid>-<random>``.

    DuckDB names its spill files the same way in every process, so two processes spilling into
    one folder (the kernels of a parallel batch, a build beside a report) overwrite each other's
    blocks and fail with "Corrupt temporary file". Each connection gets its own folder, removed
    when it closes; folders left by processes that no longer run are removed here.

    >>> a, b = connection_spill_directory(), connection_spill_directory()
    >>> a != b and a.parent == b.parent == spill_directory()
    True
    """
    base = spill_directory()
    _remove_dead_spills(base)
    return base / f"duckdb-{os.getpid()}-{secrets.token_hex(4)}"


def _remove_dead_spills(base: Path) -> None:
    """Remove ``duckdb-<pid>-*`` folders of processes that have ended (a killed kernel's blocks)."""
    try:
        children = list(base.glob("duckdb-*-*"))
    except OSError:
        return
    for child in children:
        try:
            pid = int(child.name.split("-")[1])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(child, ignore_errors=True)
        except OSError:   # another user's process, or no permission to ask: leave it
            continue


def quiet_progress(con: duckdb.DuckDBPyConnection) -> None:
    """Turn DuckDB's progress bar off outside a terminal.

    Turn DuckDB's text progress bar off outside a terminal: in CI and in a scheduled run's log
    files it is noise. In a notebook kernel DuckDB draws it as a widget (only when ipywidgets is
    installed, and it refuses the setting otherwise), so kernels keep DuckDB's own behaviour.
    """
    import sys

    if "ipykernel" in sys.modules or (sys.stderr.isatty() and not os.environ.get("CI")):
        return
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # a cosmetic setting: never a reason to fail opening the data
        pass

def _reader(path: Path, table: str, con: duckdb.DuckDBPyConnection) -> str:
    """The DuckDB table function reading ``path`` (contract rules 1, 2, 4 and 5)."""
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise DataContractError(table, None, f"folder {path.name}/ holds no .parquet file")
        return f"read_parquet({literal(str(path / '**' / '*.parquet'))}, union_by_name = true)"
    refuse_empty_file(path, table)
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
