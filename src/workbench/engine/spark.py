"""The Spark backend: the same transforms for brands beyond one machine.

:class:`SparkBackend` implements :class:`~workbench.engine.backend.Backend` on a Spark session:
every SQL string the package writes (in DuckDB's dialect) is transpiled with SQLGlot to
Spark SQL. Contract tables come from Parquet/CSV paths, Hive or catalogue tables, or pandas
frames; they are exposed as temporary views with contract types, and validated exactly as on
DuckDB. The reading rules of :mod:`workbench.contract` are the same SQL on both engines; CSV
files are read with every contract column as text and typed by the contract, and the session
time zone is Asia/Shanghai.

Install with ``pip install -e .[spark]`` (PySpark and Java 17).

Examples
--------
The examples need PySpark, a Spark session and data, so doctests skip them.

>>> from workbench.engine.spark import open_spark
>>> wb = open_spark("data/demo", as_of="2026-01-01")            # doctest: +SKIP
>>> wb = open_spark({"orders": "brand_dw.orders"}, spark=spark)  # catalogue tables # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import contract
from ..errors import ParameterError
from .reading import refuse_empty_file, table_sources, utf8_csv
from .sql import to_spark_sql
from .workbench import Workbench

_SPARK_TYPES = {
    "StringType": "VARCHAR", "TimestampType": "TIMESTAMP", "TimestampNTZType": "TIMESTAMP", "DateType": "DATE",
    "DoubleType": "DOUBLE", "FloatType": "FLOAT", "LongType": "BIGINT", "IntegerType": "INTEGER",
    "ShortType": "SMALLINT", "ByteType": "TINYINT", "BooleanType": "BOOLEAN", "NullType": "VARCHAR",
}


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


class SparkBackend:
    """Temporary views on a Spark session; statements are transpiled from DuckDB's dialect.

    Parameters
    ----------
    spark : SparkSession, optional
        The session to work in (default :func:`local_session`). The backend takes a new
        session of it: temporary views are per session, so two workbenches on one cluster
        never see each other's tables.
    """

    dialect = "spark"
    # Spark's TIMESTAMP is an instant read in the session time zone (set to Asia/Shanghai):
    # text with an offset is converted, text without one is Asia/Shanghai local time.
    text_time_sql = "TRY_CAST({q} AS TIMESTAMPTZ)"  # Spark: TIMESTAMP (local-zone instant), not _NTZ

    def __init__(self, spark: Any = None) -> None:
        self.spark = (spark or local_session()).newSession()
        self.spark.conf.set("spark.sql.session.timeZone", "Asia/Shanghai")

    def execute(self, statement: str) -> None:
        """Run a statement for its effect."""
        self.spark.sql(to_spark_sql(statement))

    def fetch(self, query: str) -> list[tuple]:
        """Run a query; its rows as tuples (times as the session's wall clock, as :meth:`frame` gives them)."""
        df = self.spark.sql(to_spark_sql(query))
        # collect() turns a TIMESTAMP into the driver process's local time; TIMESTAMP_NTZ is the session zone's
        # wall clock (Asia/Shanghai), which is what the contract's naive times mean
        stamps = [f.name for f in df.schema.fields if f.dataType.typeName() == "timestamp"]
        if stamps:
            from pyspark.sql import functions as F

            df = df.select(*[F.col(f"`{c}`").cast("timestamp_ntz").alias(c) if c in stamps else F.col(f"`{c}`")
                             for c in df.columns])
        return [tuple(r) for r in df.collect()]

    def frame(self, query: str) -> pd.DataFrame:
        """Run a query; its result as a pandas DataFrame."""
        return self.spark.sql(to_spark_sql(query)).toPandas()

    def relation(self, query: str) -> Any:
        """The query as a lazy Spark DataFrame (not run)."""
        return self.spark.sql(to_spark_sql(query))

    def load(self, name: str, source: Any, table: str = "") -> None:
        """Expose ``source`` under ``name`` (see :meth:`Backend.load`)."""
        self._read(source, table or name).createOrReplaceTempView(name)

    def create_view(self, name: str, select: str) -> None:
        """Create or replace temporary view ``name`` as ``select``."""
        self.spark.sql(to_spark_sql(select)).createOrReplaceTempView(name)

    def materialise(self, name: str, query: str) -> None:
        """Compute ``query`` now and keep the result as view ``name``, cut from its lineage."""
        # Computed now and cut from its lineage (as DuckDB's temporary table is): a relation
        # built from earlier materialised ones (identity resolution's rounds) would otherwise
        # carry every earlier round's plan, and analysing that plan grows with each round.
        self.spark.sql(to_spark_sql(query)).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def drop(self, name: str) -> None:
        """Forget a materialised relation (no error if there is none)."""
        self.spark.catalog.dropTempView(name)

    def write_parquet(self, query: str, path: str) -> None:
        """Write the result of ``query`` as a folder of Parquet part files at ``path`` (replacing it)."""
        self.spark.sql(to_spark_sql(query)).write.mode("overwrite").parquet(str(path))

    def column_types(self, view: str) -> dict[str, str]:
        """Column names and DuckDB type names of a relation, in order."""
        fields = self.spark.table(view).schema.fields
        return {f.name: _SPARK_TYPES.get(type(f.dataType).__name__, type(f.dataType).__name__.upper())
                for f in fields}

    def memory_limit_bytes(self) -> int | None:
        """None: a cluster's executors spill shuffles and aggregates past their memory, so no SQL is chosen to fit."""
        return None

    def close(self) -> None:  # the session may be shared; leave it running
        """Leave the Spark session running: it may be shared."""
        pass

    # ------------------------------------------------------------------ reading
    def _read(self, source: Any, name: str) -> Any:
        if isinstance(source, pd.DataFrame):
            return self.spark.createDataFrame(_spark_ready(source))
        if hasattr(source, "createOrReplaceTempView"):  # already a Spark DataFrame
            return source
        if isinstance(source, str) and not Path(source).exists() and "." in source and "/" not in source:
            return self.spark.table(source)  # a catalogue table such as brand_dw.orders
        path = Path(source)
        refuse_empty_file(path, name)
        if path.is_dir():
            return self.spark.read.option("recursiveFileLookup", "true").parquet(str(path))
        if path.suffix.lower() == ".parquet":
            return self.spark.read.parquet(str(path))
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            return self._read_csv(utf8_csv(path, name), name)
        raise ParameterError(f"cannot read {source}: expected Parquet, CSV, a folder of Parquet or a catalogue table")

    def _read_csv(self, path: Path, name: str) -> Any:
        """Read a CSV with contract columns typed by the contract.

        A CSV with contract columns as text (typed by the contract, as on DuckDB: ids keep
        their zeros, times their offsets) and extra columns as Spark infers them.
        """
        from pyspark.sql.types import StringType, StructField, StructType

        inferred = self.spark.read.option("header", "true").option("inferSchema", "true").csv(str(path)).schema
        names = set(contract.TABLES[name].column_names) if name in contract.TABLES else set()
        schema = StructType([StructField(f.name, StringType() if f.name.strip().lower() in names else f.dataType, True)
                             for f in inferred.fields])
        return self.spark.read.option("header", "true").schema(schema).csv(str(path))


def _spark_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Make a pandas frame safe for createDataFrame: all-null object columns become strings."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string").astype(object).where(out[c].notna(), None)
    return out


class SparkWorkbench(Workbench):
    """A workbench on Spark.

    A :class:`~workbench.engine.Workbench` on a :class:`SparkBackend` (kept for its name:
    it adds nothing but the constructor and the ``spark`` session it works in).
    """

    def __init__(self, sources: Mapping[str, Any], as_of: Any = None, validate: bool = True, spark: Any = None,
                 strict: bool | None = None) -> None:
        super().__init__(sources, as_of=as_of, validate=validate, strict=strict, backend=SparkBackend(spark))

    @property
    def spark(self) -> Any:
        """The Spark session holding this workbench's temporary views."""
        return self.backend.spark


def open_spark(source: str | Path | Mapping[str, Any], as_of: Any = None, spark: Any = None,
               validate: bool = True, strict: bool | None = None) -> SparkWorkbench:
    """Open a brand's data on Spark: a directory of contract files, or a mapping of tables.

    Mapping values may be DataFrames, paths or catalogue table names (``"db.orders"``).
    """
    sources = table_sources(source)
    if not isinstance(source, Mapping):
        sources = {k: str(v) for k, v in sources.items()}
    return SparkWorkbench(sources, as_of=as_of, spark=spark, validate=validate, strict=strict)
