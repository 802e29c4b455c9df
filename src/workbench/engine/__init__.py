"""The engine layer: contract tables as lazy, validated SQL relations on a pluggable backend.

Every contract table found in a data directory (``<table>.parquet``, ``<table>.csv`` or a
folder ``<table>/`` of Parquet files) or passed as a pandas DataFrame is exposed to SQL under
its contract name, with contract columns cast to their contract types and absent nullable
columns supplied as typed NULLs. Nothing is read until a query needs it; a contract table is
validated the first time a query reads it (:mod:`workbench.engine.validation`).

Transforms elsewhere in the package are SQL strings written once, in DuckDB's dialect, and
run with :meth:`Workbench.query` (small results as pandas) or :meth:`Workbench.sql` (a lazy
relation); other engines transpile them with SQLGlot.

Modules
-------
workbench
    :class:`Workbench` (catalogue, as-of, validate-on-use, derived relations) and :func:`open_workbench`.
backend
    :class:`~workbench.engine.backend.Backend`, the primitives an engine provides.
duckdb, spark
    The two backends: :class:`DuckDBBackend` (the default) and :class:`SparkBackend`.
sql
    Quoting, literals, contract casts, interval ordering, the dialect transpile.
validation
    Contract checks, :class:`ValidationSummary` and the content-keyed validation cache.
reading
    Finding a table's export and decoding CSV bytes.
layer
    The persisted derived layer's format and reading: :func:`default_layer_dir`
    (building it: :func:`workbench.derived_layer.build_layer`).
"""
from __future__ import annotations

from .backend import Backend
from .duckdb import DuckDBBackend, default_memory_limit, quiet_progress, spill_directory
from .layer import default_layer_dir
from .reading import table_sources, utf8_csv
from .sql import (
    empty_table_sql,
    interval_order_sql,
    literal,
    money_product_sum,
    money_sum,
    ordered_events_sql,
    quote,
    referenced_tables,
    to_timestamp,
    transpile,
)
from .validation import Normalisation, ValidationSummary, content_digest, validation_marker
from .workbench import Workbench, derived_table, open_workbench, strict_as_of

__all__ = [
    "Backend", "DuckDBBackend", "Normalisation", "ValidationSummary", "Workbench",
    "content_digest", "default_layer_dir", "default_memory_limit", "derived_table", "empty_table_sql",
    "interval_order_sql", "literal", "money_product_sum", "money_sum", "open_workbench", "ordered_events_sql",
    "quiet_progress",
    "quote", "referenced_tables", "spill_directory", "strict_as_of", "table_sources", "to_timestamp", "transpile",
    "utf8_csv", "validation_marker",
]
