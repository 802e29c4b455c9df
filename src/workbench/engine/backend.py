"""The seam between the :class:`~workbench.engine.Workbench` and an SQL engine.

A backend runs SQL and keeps named relations; the workbench does everything else
(catalogue, reading rules, contract types, the as-of date, validation, derived relations)
in terms of these primitives, in DuckDB's dialect. A backend for another engine transpiles
each statement (:func:`workbench.engine.sql.transpile`) and reads sources its own way.
:mod:`workbench.engine.duckdb` and :mod:`workbench.engine.spark` are the two backends; a new
engine is a new module beside them implementing :class:`Backend`, and passes the engine
conformance tests when opened with ``Workbench(sources, backend=...)``.

A backend raises :class:`~workbench.errors.EngineOutOfMemoryError` in place of its engine's own
out-of-memory error wherever it runs a query, so no caller imports the engine to catch it.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Backend(Protocol):
    """What an engine provides to a :class:`~workbench.engine.Workbench`.

    Attributes
    ----------
    dialect : str
        SQLGlot's name of the engine's dialect (``"duckdb"``, ``"spark"``).
    text_time_sql : str
        SQL (DuckDB dialect) reading text ``{q}`` of a contract time column as a naive
        Asia/Shanghai timestamp: an offset is converted, a time without one is local.
    """

    dialect: str
    text_time_sql: str

    def execute(self, statement: str) -> None:
        """Run a statement for its effect."""

    def fetch(self, query: str) -> list[tuple]:
        """Run a query; its rows as tuples (small results: counts, a few values)."""

    def frame(self, query: str) -> pd.DataFrame:
        """Run a query; its result as a pandas DataFrame."""

    def relation(self, query: str) -> Any:
        """The query as the engine's own lazy relation (not run)."""

    def load(self, name: str, source: Any, table: str = "") -> None:
        """Expose ``source`` under ``name``.

        Expose ``source`` as it is under ``name``: a path (file or folder of Parquet), a
        pandas frame or the engine's own relation or table name; ``table`` names the contract
        table in error messages.
        """

    def create_view(self, name: str, select: str) -> None:
        """Create or replace view ``name`` as ``select``."""

    def materialise(self, name: str, query: str) -> None:
        """Compute ``query`` once and keep the result as relation ``name`` (for this session)."""

    def drop(self, name: str) -> None:
        """Forget a materialised relation or a loaded view (no error if there is none)."""

    def write_parquet(self, query: str, path: str) -> None:
        """Write the result of ``query`` to Parquet at ``path`` (a file or a folder of part files).

        What :meth:`load` reads back with the same column names and types: the persisted derived
        layer (:mod:`workbench.engine.layer`) is written and read through these two.
        """

    def column_types(self, view: str) -> dict[str, str]:
        """Column names and DuckDB type names (``VARCHAR``, ``TIMESTAMP``…) of a relation, in order."""

    def memory_limit_bytes(self) -> int | None:
        """The engine's memory limit for this session in bytes, or None when unknown or unbounded (a cluster).

        SQL whose aggregate state does not spill can be chosen (or partitioned) to fit it.
        """

    def close(self) -> None:
        """Release the engine's resources (a shared session may stay open)."""
