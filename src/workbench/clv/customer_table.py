"""Every registered customer's value, tiers and main store as one engine table, and the CLV page's aggregates of it.

:func:`~workbench.clv.pipeline.customer_value` values every buyer in the engine. What the CLV
page states about them (counts, sums, the value deciles, the median, tiers, the stores with
high-value customers at risk) are aggregates, so they are computed where the rows are:

1. :func:`keep_customer_table` keeps one row per registered customer (spend and orders over the
   look-back, the buyer's value columns, the main store) and returns the fan-tier cut-offs (the
   buyers' medians).
2. :func:`value_tier_sql` and :func:`fan_tier_sql` are the tiers of
   :func:`~workbench.segments.value_tiers` and :func:`~workbench.segments.fan_tiers` as SQL on
   that table (comparisons with the CLVs at the tiers' last ranks, read as top-k values: no
   window over every customer), so every aggregate and the per-customer frame use the same rule.
3. :func:`value_figures` computes the page's aggregates in a few grouped queries: at 20 million
   customers nothing per customer reaches pandas.

Sums of yuan and of probabilities are exact decimals (:func:`~workbench.engine.sql.money_sum`):
they do not depend on the order the engine adds rows in. Medians and shares are taken at exact
ranks, as numpy takes them from the sorted values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import literal, money_sum, quote
from ..engine.sql import customer_part_sql
from ..errors import ParameterError
from ..segments import FAN_TIERS, VALUE_TIERS, FanTierThresholds

#: the engine table of :func:`keep_customer_table`
CUSTOMER_TABLE = "clv_customers"
#: value tiers considered high value (super-VIP and cultivate)
HIGH_VALUE_TIERS = ("super_vip", "cultivate")
#: value-tier quantiles (:func:`~workbench.segments.value_tiers`' defaults: top 5% super-VIP, next 15% cultivate)
TIER_QUANTILES = (0.8, 0.95)
#: bins of the histogram of log10 CLV
HISTOGRAM_BINS = 40
_TIER_EPS = 1e-9   # as value_tiers: 1 − 0.95 is 0.05000000000000004 in floating point


#: engine memory per registered customer of the customer table's joins (population, value, main store): at 20M
#: customers one statement did not fit a 2.7 GiB engine (the buyers' value table alone held 1.7 GB); past the limit
#: the table is built in customer-hash parts whose joins each fit
_TABLE_BYTES_PER_CUSTOMER = 400


def keep_customer_table(wb: Any, as_of: pd.Timestamp, value_table: str, main_store_sql: str, lookback_days: int = 365,
                        name: str = CUSTOMER_TABLE, parts: int | None = None) -> FanTierThresholds:
    """Keep every registered customer's row as engine table ``name``; returns the fan-tier cut-offs.

    Columns: ``customer_id``, ``spend`` (net of refunds) and ``orders`` over the ``lookback_days``
    before ``as_of``, the value columns of ``value_table`` (NULL for customers who never bought),
    ``store_id`` (main store, from ``main_store_sql``): the value columns the page's aggregates read
    (the others stay in ``value_table``; :func:`~workbench.clv.pipeline.customer_frame` joins them).
    Without a ``customers`` table the buyers are the population, with no spend or orders. Net spend
    is never negative: the data contract refuses negative amounts and refunds above the amount.
    ``parts`` (default: from the engine's memory limit) builds the table in customer-hash parts,
    one after the other: the same rows.
    """
    parts = _table_parts(wb) if parts is None else int(parts)
    start = as_of - pd.Timedelta(days=lookback_days)

    def rows(where: str) -> str:
        value = (f"SELECT customer_id, frequency, p_alive, expected_purchases_90d, clv FROM {quote(value_table)} "
                 f"WHERE {where}")
        if wb.has_table("customers"):
            population = f"""
                SELECT c.customer_id,
                       COALESCE({money_sum('o.amount - COALESCE(o.refunded_amount, 0)')}, 0) AS spend,
                       COUNT(o.order_id) AS orders
                FROM (SELECT customer_id FROM customers
                      WHERE ({where}) AND (registered_at IS NULL OR registered_at < {literal(as_of)})) c
                LEFT JOIN (SELECT customer_id, order_id, amount, refunded_amount FROM orders
                           WHERE ({where}) AND order_time >= {literal(start)} AND order_time < {literal(as_of)}) o
                     ON o.customer_id = c.customer_id
                GROUP BY c.customer_id"""
        else:
            population = f"SELECT customer_id, 0.0 AS spend, 0 AS orders FROM {quote(value_table)} WHERE {where}"
        return f"""
            SELECT p.customer_id, p.spend, p.orders, v.frequency, v.p_alive, v.expected_purchases_90d, v.clv,
                   s.store_id
            FROM ({population}) p
            LEFT JOIN ({value}) v ON v.customer_id = p.customer_id
            LEFT JOIN (SELECT * FROM ({main_store_sql}) m WHERE {where}) s ON s.customer_id = p.customer_id"""

    wb.materialize(name, rows("TRUE" if parts == 1 else customer_part_sql(parts, 0)))
    for part in range(1, parts):
        wb.backend.execute(f"INSERT INTO {quote(name)} {rows(customer_part_sql(parts, part))}")
    return fan_thresholds(wb, name)


def engine_memory_limit(wb: Any) -> int | None:
    """The memory limit of the workbench's engine in bytes (None: unbounded, unknown, or a stand-in without one)."""
    limit = getattr(getattr(wb, "backend", None), "memory_limit_bytes", None)
    return limit() if callable(limit) else None


def _table_parts(wb: Any) -> int:
    """In how many customer-hash parts the customer table fits the engine's memory (DuckDB; 1 elsewhere)."""
    limit = engine_memory_limit(wb)
    if getattr(wb, "dialect", "duckdb") != "duckdb" or not limit:
        return 1
    customers = int(wb.scalar(f"SELECT COUNT(*) FROM {'customers' if wb.has_table('customers') else 'orders'}"))
    return max(1, -(-customers * _TABLE_BYTES_PER_CUSTOMER // limit))


def middle_values(wb: Any, table: str, column: str, where: str, n: int) -> float:
    """The median of ``column`` over the ``n`` rows of ``table`` matching ``where``, as numpy takes it.

    The mean of the two middle values of the sorted column (the one middle value when ``n`` is
    odd), read at their ranks. ``column`` and ``where`` are SQL text written by the caller.
    """
    low, high = (n + 1) // 2, n // 2 + 1
    got = wb.query(f"""
        SELECT rn, {column} AS v FROM (
            SELECT {column}, ROW_NUMBER() OVER (ORDER BY {column}) AS rn FROM {quote(table)} WHERE {where}) x
        WHERE rn IN ({literal(low)}, {literal(high)})""").set_index("rn")["v"]
    return (float(got.loc[low]) + float(got.loc[high])) / 2


def fan_thresholds(wb: Any, table: str = CUSTOMER_TABLE, min_frequency: float = 2.0) -> FanTierThresholds:
    """The fan-tier cut-offs of :func:`~workbench.segments.fan_tier_thresholds`: the look-back buyers' medians."""
    n = int(wb.scalar(f"SELECT COUNT(*) FROM {quote(table)} WHERE orders > 0"))
    if n == 0:
        return FanTierThresholds(0.0, min_frequency, min_frequency)
    return FanTierThresholds(middle_values(wb, table, "spend", "orders > 0", n),
                             max(min_frequency, middle_values(wb, table, "orders", "orders > 0", n)), min_frequency)


def tier_ranks(buyers: int, quantiles: tuple[float, float] = TIER_QUANTILES) -> tuple[int, int]:
    """The highest CLV rank in super-VIP and in cultivate among ``buyers`` (as :func:`~workbench.segments.value_tiers`).

    A buyer is super-VIP when the share of buyers with a strictly higher CLV, ``(rank − 1) / buyers``,
    is below ``1 − quantiles[1]``: the ranks that pass are found with the same floating-point
    division, so the SQL compares integers only.

    >>> tier_ranks(100)
    (5, 20)
    """
    lo, hi = quantiles
    if not 0 < lo < hi < 1:
        raise ParameterError(f"quantiles must satisfy 0 < low < high < 1, got {quantiles!r}")

    def last_rank(cut: float) -> int:
        m = max(0, math.floor(cut * buyers) - 1)
        while m / buyers < cut:   # the first share at or past the cut: its rank is one past the tier
            m += 1
        while m > 0 and (m - 1) / buyers >= cut:
            m -= 1
        return m

    return last_rank(1 - hi - _TIER_EPS), last_rank(1 - lo - _TIER_EPS)


def kth_largest(wb: Any, table: str, column: str, where: str, k: int) -> float:
    """The ``k``-th largest value of ``column`` over the rows matching ``where`` (``k`` ≥ 1).

    Equal values are counted apart. A top-``k`` read, not a sort of the whole column.
    ``column`` and ``where`` are SQL text written by the caller.
    """
    return float(wb.scalar(f"SELECT MIN(v) FROM (SELECT {column} AS v FROM {quote(table)} WHERE {where} "
                           f"ORDER BY {column} DESC LIMIT {literal(int(k))}) x"))


def value_tier_sql(wb: Any, table: str = CUSTOMER_TABLE, quantiles: tuple[float, float] = TIER_QUANTILES,
                   buyers: int | None = None) -> str:
    """SQL for the value tier of a row of the customer table (non-buyers and CLV ≤ 0: activate).

    A buyer's rank is at most ``r`` exactly when their CLV is at least the ``r``-th largest, so
    the tiers of :func:`tier_ranks` are two comparisons with the CLVs at those ranks (ties share
    a tier, the better one, as in :func:`~workbench.segments.value_tiers`).
    """
    buyers = count_buyers(wb, table) if buyers is None else buyers   # a caller that counted them passes them
    if buyers == 0:
        return "'activate'"

    def at_least(rank: int) -> str:
        return "FALSE" if rank == 0 else f"clv >= {_double(kth_largest(wb, table, 'clv', 'clv IS NOT NULL', rank))}"

    vip, cultivate = tier_ranks(buyers, quantiles)
    return (f"CASE WHEN clv > 0 AND {at_least(vip)} THEN 'super_vip' "
            f"WHEN clv > 0 AND {at_least(cultivate)} THEN 'cultivate' ELSE 'activate' END")


def _double(value: float) -> str:
    """A float as SQL, bit for bit: parsed from its shortest repr, which engines read correctly rounded."""
    return f"CAST({literal(repr(float(value)))} AS DOUBLE)"


def fan_tier_sql(th: FanTierThresholds) -> str:
    """SQL for the fan tier of a row of :func:`keep_customer_table` (every registered customer has one)."""
    hi_s, hi_f = f"spend >= {_double(th.spend)}", f"orders >= {_double(th.frequency)}"
    return (f"CASE WHEN orders > 0 AND {hi_s} AND {hi_f} THEN 'die_hard' WHEN orders > 0 AND {hi_f} THEN 'loyal' "
            f"WHEN orders > 0 AND {hi_s} THEN 'big_spender' WHEN orders > 0 THEN 'casual' ELSE 'potential' END")


def count_buyers(wb: Any, table: str = CUSTOMER_TABLE) -> int:
    """Customers of the table who bought before as-of (those with a CLV)."""
    return int(wb.scalar(f"SELECT COUNT(*) FROM {quote(table)} WHERE clv IS NOT NULL"))


@dataclass(frozen=True)
class ValueFigures:
    """The CLV page's aggregates of the customer table (:func:`value_figures`).

    Counts of buyers (``repeat_buyers`` with a repeat purchase day, ``one_time_buyers`` without);
    ``expected_active_repeat`` sums P(alive) over repeat buyers, ``one_time_purchases_90d`` the
    one-time buyers' expected purchases in 90 days; ``total_clv`` and ``median_clv`` over buyers;
    ``top_percentile_share`` the top 1%'s share of the value. ``deciles``: ``decile``, ``share``,
    ``cumulative_share`` (numpy's ``array_split`` of the sorted values into ten). ``histogram``:
    ``low``, ``high`` (log10 yuan) and ``customers`` of the positive CLVs. ``value_tiers``:
    ``value_tier``, ``n``, ``value``, ``spend``, ``share``, ``mean``. ``fan_tiers``: ``fan_tier``,
    ``n``, ``value``, ``spend``, ``share``. ``at_risk_by_store``: ``store_id`` (``–`` without one),
    ``high_value``, ``at_risk``, ``value_at_risk``, ``share``, most at risk first. The high-value
    counts are of super-VIP and cultivate repeat buyers; at risk: P(alive) below ``threshold``.
    """

    buyers: int
    repeat_buyers: int
    one_time_buyers: int
    expected_active_repeat: float
    one_time_purchases_90d: float
    total_clv: float
    median_clv: float
    top_percentile_share: float
    high_value_repeat: int
    high_value_at_risk: int
    value_at_risk: float
    potential_fans: int
    threshold: float
    deciles: pd.DataFrame
    histogram: pd.DataFrame
    value_tiers: pd.DataFrame
    fan_tiers: pd.DataFrame
    at_risk_by_store: pd.DataFrame


def value_figures(wb: Any, th: FanTierThresholds, threshold: float = 0.5, table: str = CUSTOMER_TABLE) -> ValueFigures:
    """The aggregates the CLV page states, from the table :func:`keep_customer_table` kept.

    ``th`` are the fan-tier cut-offs it returned; ``threshold`` the P(alive) below which a
    high-value repeat buyer is at risk. A handful of grouped queries and two rank reads.

    Raises
    ------
    ParameterError
        No buyer, or the buyers' total CLV is not positive (no shares to state).
    """
    buyers = count_buyers(wb, table)
    if buyers == 0:
        raise ParameterError("no buyers to value")
    tier, fan = value_tier_sql(wb, table, buyers=buyers), fan_tier_sql(th)
    high = f"({tier}) IN ({', '.join(literal(t) for t in HIGH_VALUE_TIERS)}) AND frequency > 0"
    risky = f"{high} AND p_alive < {_double(threshold)}"
    head = wb.query(f"""
        SELECT SUM(CASE WHEN frequency > 0 THEN 1 ELSE 0 END) AS repeat_buyers,
               SUM(CASE WHEN frequency = 0 THEN 1 ELSE 0 END) AS one_time_buyers,
               {money_sum('CASE WHEN frequency > 0 THEN p_alive END')} AS expected_active_repeat,
               {money_sum('CASE WHEN frequency = 0 THEN expected_purchases_90d END')} AS one_time_purchases_90d,
               {money_sum('clv')} AS total_clv,
               SUM(CASE WHEN {high} THEN 1 ELSE 0 END) AS high_value_repeat,
               SUM(CASE WHEN {risky} THEN 1 ELSE 0 END) AS high_value_at_risk,
               COALESCE({money_sum(f'CASE WHEN {risky} THEN clv END')}, 0) AS value_at_risk
        FROM {quote(table)} WHERE clv IS NOT NULL""").iloc[0]
    total = float(head["total_clv"])
    if not total > 0:
        raise ParameterError("total CLV is zero")
    deciles, top = _deciles(wb, table, buyers, total)
    return ValueFigures(
        buyers=buyers, repeat_buyers=int(head["repeat_buyers"]), one_time_buyers=int(head["one_time_buyers"]),
        expected_active_repeat=_float(head["expected_active_repeat"]),
        one_time_purchases_90d=_float(head["one_time_purchases_90d"]), total_clv=total,
        median_clv=middle_values(wb, table, "clv", "clv IS NOT NULL", buyers),
        top_percentile_share=top,
        high_value_repeat=int(head["high_value_repeat"]), high_value_at_risk=int(head["high_value_at_risk"]),
        value_at_risk=float(head["value_at_risk"]),
        potential_fans=int(wb.scalar(f"SELECT COUNT(*) FROM {quote(table)} WHERE NOT (orders > 0)")),
        threshold=float(threshold), deciles=deciles, histogram=_histogram(wb, table),
        value_tiers=_value_tier_table(wb, table, tier), fan_tiers=_tier_table(wb, table, "fan_tier", fan, FAN_TIERS),
        at_risk_by_store=_at_risk_by_store(wb, table, high, risky))


def _float(v: Any) -> float:
    return 0.0 if v is None or pd.isna(v) else float(v)


def _deciles(wb: Any, table: str, buyers: int, total: float) -> tuple[pd.DataFrame, float]:
    """The buyers' value deciles and the top 1%'s share of ``total`` (at least one buyer).

    Ten groups by CLV, highest first, sized as ``numpy.array_split`` sizes them.
    """
    top = max(1, int(buyers * 0.01))
    size, extra = divmod(buyers, 10)
    big = extra * (size + 1)   # the first ``extra`` groups have one buyer more
    row = "ROW_NUMBER() OVER (ORDER BY clv DESC)"
    decile = (f"CASE WHEN rn <= {literal(big)} THEN FLOOR((rn - 1) / {literal(float(size + 1))}) + 1 "
              f"ELSE {literal(extra)} + FLOOR((rn - {literal(big)} - 1) / {literal(float(max(size, 1)))}) + 1 END")
    got = wb.query(f"""
        SELECT CAST({decile} AS INTEGER) AS decile, {money_sum('clv')} AS value,
               COALESCE({money_sum(f'CASE WHEN rn <= {literal(top)} THEN clv END')}, 0) AS top_value
        FROM (SELECT clv, {row} AS rn FROM {quote(table)} WHERE clv IS NOT NULL) r
        GROUP BY 1""").set_index("decile")
    share = got["value"].reindex(range(1, 11), fill_value=0.0).to_numpy(float) / total
    return (pd.DataFrame({"decile": range(1, 11), "share": share, "cumulative_share": share.cumsum()}),
            float(got["top_value"].sum()) / total)


def _histogram(wb: Any, table: str, bins: int = HISTOGRAM_BINS) -> pd.DataFrame:
    """Buyers with a positive CLV in ``bins`` equal bins of log10 CLV (the chart; no number is stated from it)."""
    lo, hi = wb.backend.fetch(f"SELECT MIN(LOG10(clv)), MAX(LOG10(clv)) FROM {quote(table)} WHERE clv > 0")[0]
    if lo is None:
        return pd.DataFrame({"low": pd.Series(dtype=float), "high": pd.Series(dtype=float),
                             "customers": pd.Series(dtype="int64")})
    lo, hi = float(lo), float(hi)
    if hi == lo:   # one value: numpy's one unit-wide range around it
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    got = wb.query(f"""
        SELECT LEAST(CAST(FLOOR((LOG10(clv) - {_double(lo)}) / {_double(width)}) AS INTEGER), {literal(bins - 1)})
               AS bin, COUNT(*) AS customers
        FROM {quote(table)} WHERE clv > 0 GROUP BY 1""").set_index("bin")["customers"]
    counts = got.reindex(range(bins), fill_value=0).to_numpy("int64")
    edges = [lo + i * width for i in range(bins + 1)]
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "customers": counts})


def _tier_table(wb: Any, table: str, name: str, tier: str, levels: tuple[str, ...]) -> pd.DataFrame:
    """Customers, expected value (non-buyers: 0), spend and share of the value per tier, every level in order."""
    got = wb.query(f"""
        SELECT {tier} AS {name}, COUNT(*) AS n, COALESCE({money_sum('clv')}, 0) AS value,
               {money_sum('spend')} AS spend
        FROM {quote(table)} GROUP BY 1""").set_index(name)
    out = got.reindex(list(levels)).fillna(0).rename_axis(name).reset_index()
    out["n"] = out["n"].astype("int64")
    out["share"] = out["value"] / out["value"].sum()
    return out[[name, "n", "value", "spend", "share"]]


def _value_tier_table(wb: Any, table: str, tier: str) -> pd.DataFrame:
    vt = _tier_table(wb, table, "value_tier", tier, VALUE_TIERS)
    vt["mean"] = vt["value"] / vt["n"].where(vt["n"] > 0)
    return vt


def _at_risk_by_store(wb: Any, table: str, high: str, risky: str) -> pd.DataFrame:
    out = wb.query(f"""
        SELECT COALESCE(store_id, '–') AS store_id, COUNT(*) AS high_value,
               SUM(CASE WHEN {risky} THEN 1 ELSE 0 END) AS at_risk,
               COALESCE({money_sum(f'CASE WHEN {risky} THEN clv ELSE 0 END')}, 0) AS value_at_risk
        FROM {quote(table)} WHERE {high}
        GROUP BY 1 ORDER BY at_risk DESC, store_id""")
    out["high_value"] = out["high_value"].astype("int64")
    out["at_risk"] = out["at_risk"].astype("int64")
    out["share"] = out["at_risk"] / out["high_value"]
    return out[["store_id", "high_value", "at_risk", "value_at_risk", "share"]]


__all__ = ["CUSTOMER_TABLE", "HIGH_VALUE_TIERS", "ValueFigures", "count_buyers", "engine_memory_limit",
           "fan_thresholds", "fan_tier_sql", "keep_customer_table", "kth_largest", "middle_values", "tier_ranks",
           "value_figures", "value_tier_sql"]
