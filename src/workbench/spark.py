"""The same transforms on Spark, for brands beyond one machine.

:class:`SparkWorkbench` is a :class:`~workbench.engine.Workbench` whose three primitives
run on a Spark session: every SQL string the package writes (in DuckDB's dialect) is
transpiled with SQLGlot to Spark SQL. Contract tables come from Parquet/CSV paths, Hive or
catalogue tables, or pandas frames; they are exposed as temporary views with contract
types, and validated exactly as on DuckDB. The reading rules of :mod:`workbench.contract`
(column names, null markers, identifiers, time zones, duplicate events, the as-of date) are
the same SQL on both engines; CSV files are read with every column as text and typed by the
contract, and the session time zone is Asia/Shanghai.

Install with ``pip install -e .[spark]`` (PySpark and Java 17).

Examples
--------
>>> from workbench.spark import open_spark
>>> wb = open_spark("data/demo", as_of="2026-01-01")            # doctest: +SKIP
>>> wb = open_spark({"orders": "brand_dw.orders"}, spark=spark)  # catalogue tables # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlglot
from sqlglot import exp

from . import contract
from .engine import Workbench, table_sources, utf8_csv
from .errors import DataContractError, ParameterError

_SPARK_TYPES = {
    "StringType": "VARCHAR", "TimestampType": "TIMESTAMP", "TimestampNTZType": "TIMESTAMP", "DateType": "DATE",
    "DoubleType": "DOUBLE", "FloatType": "FLOAT", "LongType": "BIGINT", "IntegerType": "INTEGER",
    "ShortType": "SMALLINT", "ByteType": "TINYINT", "BooleanType": "BOOLEAN", "NullType": "VARCHAR",
}


def _double_literals(node: exp.Expression) -> exp.Expression:
    # DuckDB reads 7.0 as a double, Spark as an exact decimal (and rounds quotients to six
    # places): make fractional literals doubles so both engines compute the same numbers.
    if isinstance(node, exp.Literal) and not node.is_string and ("." in node.this or "e" in node.this.lower()):
        return exp.cast(node, exp.DataType.build("double"))
    return node


def to_spark_sql(query: str) -> str:
    """Transpile one DuckDB-dialect statement to Spark SQL."""
    tree = sqlglot.parse_one(query, read="duckdb").transform(_double_literals)
    return tree.sql(dialect="spark")


def local_session(app_name: str = "workbench", cores: int = 2, driver_memory: str = "2g") -> Any:
    """A local Spark session tuned for tests and laptops (Asia/Shanghai session time zone).

    No console progress bars: they would interleave with notebook and CLI output.
    """
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{cores}]").appName(app_name)
        .config("spark.sql.session.timeZone", "Asia/Shanghai")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.driver.memory", driver_memory)
        .getOrCreate()
    )


class SparkWorkbench(Workbench):
    """Contract tables on a Spark session; the package's SQL is transpiled from DuckDB's dialect."""

    dialect = "spark"

    # Spark's TIMESTAMP is an instant read in the session time zone (set to Asia/Shanghai):
    # text with an offset is converted, text without one is Asia/Shanghai local time.
    _text_time_sql = "TRY_CAST({q} AS TIMESTAMPTZ)"  # Spark: TIMESTAMP (local-zone instant), not _NTZ

    def __init__(self, sources: Mapping[str, Any], as_of: Any = None, validate: bool = True, spark: Any = None,
                 strict: bool | None = None) -> None:
        # a new session per workbench: temporary views are per session, so two workbenches on
        # one cluster never see each other's tables
        self.spark = (spark or local_session()).newSession()
        self.spark.conf.set("spark.sql.session.timeZone", "Asia/Shanghai")
        super().__init__({}, as_of=as_of, validate=validate, connection=_NoConnection(), strict=strict)
        for name, source in sources.items():
            self._attach(name, source)

    # ------------------------------------------------------------------ primitives
    def _execute(self, statement: str) -> None:
        self.spark.sql(to_spark_sql(statement))

    def _fetch(self, query: str) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(to_spark_sql(query)).collect()]

    def _frame(self, query: str) -> pd.DataFrame:
        return self.spark.sql(to_spark_sql(query)).toPandas()

    def sql(self, query: str) -> Any:
        """A lazy Spark DataFrame for ``query`` (validated like the DuckDB engine)."""
        self._check_tables(query)
        return self.spark.sql(to_spark_sql(query))

    # ------------------------------------------------------------------ sources
    def _read(self, source: Any, name: str = "") -> Any:
        if isinstance(source, pd.DataFrame):
            return self.spark.createDataFrame(_spark_ready(source))
        if isinstance(source, str) and not Path(source).exists() and "." in source and "/" not in source:
            return self.spark.table(source)  # a catalogue table such as brand_dw.orders
        path = Path(source)
        if path.is_file() and path.stat().st_size == 0:
            raise DataContractError(name, None, f"{path.name} is empty (0 bytes): the export did not finish? "
                                                "Write it again, or remove it if the table has no data")
        if path.is_dir():
            return self.spark.read.option("recursiveFileLookup", "true").parquet(str(path))
        if path.suffix.lower() == ".parquet":
            return self.spark.read.parquet(str(path))
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            return self._read_csv(utf8_csv(path, name), name)
        raise ParameterError(f"cannot read {source}: expected Parquet, CSV, a folder of Parquet or a catalogue table")

    def _read_csv(self, path: Path, name: str) -> Any:
        """A CSV with contract columns as text (typed by the contract, as on DuckDB: ids keep
        their zeros, times their offsets) and extra columns as Spark infers them."""
        from pyspark.sql.types import StringType, StructField, StructType

        inferred = self.spark.read.option("header", "true").option("inferSchema", "true").csv(str(path)).schema
        names = set(contract.TABLES[name].column_names) if name in contract.TABLES else set()
        schema = StructType([StructField(f.name, StringType() if f.name.strip().lower() in names else f.dataType, True)
                             for f in inferred.fields])
        return self.spark.read.option("header", "true").schema(schema).csv(str(path))

    def _load_raw(self, name: str, source: Any) -> None:
        self._read(source, name).createOrReplaceTempView(f"__input_{name}")

    def _create_view(self, name: str, select: str) -> None:
        self.spark.sql(to_spark_sql(select)).createOrReplaceTempView(name)

    def _create_plain_view(self, name: str) -> None:
        self.spark.table(f"__input_{name}").createOrReplaceTempView(name)

    def register(self, name: str, frame: Any) -> None:
        if isinstance(frame, pd.DataFrame):
            frame = self.spark.createDataFrame(_spark_ready(frame))
        if name in contract.TABLES:
            self._attach(name, frame.toPandas())
            return
        frame.createOrReplaceTempView(name)
        self._user_tables.add(name)

    def materialize(self, name: str, query: str) -> None:
        self._check_tables(query)
        self.spark.sql(to_spark_sql(query)).cache().createOrReplaceTempView(name)
        self._user_tables.add(name)

    def _view_types(self, view: str) -> dict[str, str]:
        fields = self.spark.table(view).schema.fields
        return {f.name: _SPARK_TYPES.get(type(f.dataType).__name__, type(f.dataType).__name__.upper())
                for f in fields}

    def close(self) -> None:  # the session may be shared; leave it running
        pass


class _NoConnection:
    """Placeholder so the base constructor does not open a DuckDB connection."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
        raise RuntimeError("SparkWorkbench has no DuckDB connection")


def _spark_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Make a pandas frame safe for createDataFrame: all-null object columns become strings."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string").astype(object).where(out[c].notna(), None)
    return out


def open_spark(source: str | Path | Mapping[str, Any], as_of: Any = None, spark: Any = None,
               validate: bool = True, strict: bool | None = None) -> SparkWorkbench:
    """Open a brand's data on Spark: a directory of contract files, or a mapping of tables.

    Mapping values may be DataFrames, paths or catalogue table names (``"db.orders"``).
    """
    sources = table_sources(source)
    if not isinstance(source, Mapping):
        sources = {k: str(v) for k, v in sources.items()}
    return SparkWorkbench(sources, as_of=as_of, spark=spark, validate=validate, strict=strict)
