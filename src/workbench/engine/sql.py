"""SQL text: quoting, literals, contract casts, interval ordering and the dialect transpile.

Transforms are written once, in DuckDB's dialect; :func:`transpile` rewrites a statement for
another engine with SQLGlot. Nothing here runs SQL: these are pure functions of their
arguments, shared by the :class:`~workbench.engine.Workbench`, its backends and the
analyses.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd
import sqlglot
from sqlglot import exp

from .. import contract
from ..contract import BOOLEAN, DOUBLE, STRING, TIMESTAMP
from ..errors import ParameterError

_SQL_TYPES = {STRING: "VARCHAR", TIMESTAMP: "TIMESTAMP", DOUBLE: "DOUBLE", BOOLEAN: "BOOLEAN"}
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT"
                      r"|FLOAT|DOUBLE|REAL|DECIMAL.*)$")
_TIMEZONE = "Asia/Shanghai"
_FLOATS = re.compile(r"^(FLOAT|DOUBLE|REAL|DECIMAL.*)$")
_INTEGRAL_TEXT = r"^-?[0-9]+[.]0+$"

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


def money_sum(expr: str) -> str:
    """SQL for the sum of yuan, exact: each value as ``DECIMAL(38, 10)``, added, then read back as DOUBLE.

    A DOUBLE sum depends on the order the engine's threads add the rows in, so a total at a
    rounding boundary can say 2,104 in one render and 2,103 in the next. Decimal addition is
    exact and order-free; 28 integer digits hold any brand's yuan. ``expr`` is SQL text written
    by the caller (a column or expression), never a value from data.

    Examples
    --------
    >>> money_sum("amount")
    'CAST(SUM(CAST(amount AS DECIMAL(38, 10))) AS DOUBLE)'
    """
    return f"CAST(SUM(CAST({expr} AS DECIMAL(38, 10))) AS DOUBLE)"


def money_product_sum(a: str, b: str) -> str:
    """SQL for the exact sum of ``a × b`` over rows (yuan times yuan or a count), read back as DOUBLE.

    The sums of squares and cross products of the experiments' statistics. Eight decimals keep a
    product's 16 within DECIMAL(38)'s digits for any brand's per-unit yuan; as :func:`money_sum`,
    the result does not depend on the order the engine's threads add rows in.

    Examples
    --------
    >>> money_product_sum("gmv", "gmv")
    'CAST(SUM(CAST(gmv AS DECIMAL(38, 8)) * CAST(gmv AS DECIMAL(38, 8))) AS DOUBLE)'
    """
    return f"CAST(SUM(CAST({a} AS DECIMAL(38, 8)) * CAST({b} AS DECIMAL(38, 8))) AS DOUBLE)"


def customer_part_sql(parts: int, part: int) -> str:
    """SQL condition: the row's customer is in customer-hash part ``part`` of ``parts`` (DuckDB's ``hash``).

    The same customers in every statement of a connection, so work too large for the engine's memory
    can run part after part and the parts add up to the whole (the CLV summary, the journey paths).

    >>> customer_part_sql(4, 1)
    'hash(customer_id) % 4 = 1'
    """
    return f"hash(customer_id) % {literal(int(parts))} = {literal(int(part))}"


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

#: Text of a contract column that holds a time, as a naive Asia/Shanghai timestamp (DuckDB).
TEXT_TIME_SQL = "timezone(" + literal(_TIMEZONE) + ", TRY_CAST({q} AS TIMESTAMPTZ))"

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

def _cast_expr(col: str, raw_type: str, dtype: str, text_time: str = TEXT_TIME_SQL) -> str:
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

def _padded_condition(q: str) -> str:
    """SQL: text id ``q`` is written with leading zeros (``007``); LIKE first, the regex is slower."""
    return f"({q} LIKE '0%' AND regexp_matches({q}, '^0[0-9]+$'))"

def ordered_events_sql(table: str, rows: str | None = None) -> str:
    """Events of ``table`` with a ``tie_rank`` column for :func:`interval_order_sql` (contract rule 10).

    ``rows``, a SELECT over the table, reads only those rows (whole pairs, for the ranks to hold).

    At one second of one pair, a delete comes before an add when the pair was open just
    before that second (delete and re-add: the relationship goes on as a new interval), and
    after it when it was not (an add and a delete in one second: a zero-length interval).
    The state before a second is that left by the last earlier second holding only adds or
    only deletes: a second holding both leaves the state as it found it.
    """
    rules = contract.INTERVAL_EVENTS[table]
    a, b = rules["pair"]
    opens = ", ".join(literal(v) for v in rules["open"])
    source = quote(table) if rows is None else f"({rows}) r"
    flagged = f"SELECT *, CASE WHEN event_type IN ({opens}) THEN 1 ELSE 0 END AS is_open_event FROM {source}"
    grouped = (f"SELECT *, MIN(is_open_event) OVER (PARTITION BY {a}, {b}, event_time) AS second_min, "
               f"MAX(is_open_event) OVER (PARTITION BY {a}, {b}, event_time) AS second_max FROM ({flagged}) f")
    before = (f"SELECT *, COALESCE(LAST_VALUE(CASE WHEN second_min = second_max THEN is_open_event END IGNORE NULLS) "
              f"OVER (PARTITION BY {a}, {b} ORDER BY event_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) "
              f"AS open_before FROM ({grouped}) g")
    return (f"SELECT *, CASE WHEN open_before = 1 THEN is_open_event ELSE 1 - is_open_event END AS tie_rank "
            f"FROM ({before}) s")

def empty_table_sql(name: str) -> str:
    """SELECT with every contract column of table ``name``, typed, and no rows."""
    columns = ", ".join(f"CAST(NULL AS {_SQL_TYPES[c.dtype]}) AS {quote(c.name)}"
                        for c in contract.TABLES[name].columns)
    return f"SELECT {columns} WHERE FALSE"

def interval_order_sql(table: str) -> str:
    """ORDER BY clause putting events of one relationship in time order, ties by ``tie_rank``.

    Use it over :func:`ordered_events_sql`, which supplies ``tie_rank`` (contract rule 10).
    """
    return "event_time, tie_rank"

def _double_literals(node: exp.Expression) -> exp.Expression:
    # DuckDB reads 7.0 as a double, Spark as an exact decimal (and rounds quotients to six
    # places): make fractional literals doubles so both engines compute the same numbers.
    if isinstance(node, exp.Literal) and not node.is_string and ("." in node.this or "e" in node.this.lower()):
        return exp.cast(node, exp.DataType.build("double"))
    return node


def transpile(query: str, dialect: str) -> str:
    """Rewrite one DuckDB-dialect statement in ``dialect`` (a SQLGlot dialect name)."""
    if dialect == "duckdb":
        return query
    return sqlglot.parse_one(query, read="duckdb").transform(_double_literals).sql(dialect=dialect)


def to_spark_sql(query: str) -> str:
    """Transpile one DuckDB-dialect statement to Spark SQL."""
    return transpile(query, "spark")
