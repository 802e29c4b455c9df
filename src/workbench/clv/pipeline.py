"""From contract tables to a per-customer value table: the CLV report's engine.

Everything per customer stays in the engine; only collapsed rows reach Python:

1. :func:`summarise_buyers` — one aggregate over orders: frequency, recency and age in
   whole days, mean repeat spend (a temporary engine table, one row per buyer).
2. :func:`fit_value_models` — BG/NBD on the distinct (frequency, recency, age) rows with
   counts, Gamma-Gamma on the distinct (frequency, mean spend) rows of repeat buyers.
3. :func:`value_customers` — CLV = E[spend | x, m̄] · P(alive | x, t_x, T) · D(x, T), where
   D, the discounted purchases of a customer known to be alive, needs the hypergeometric
   function once per distinct (frequency, age) and the other two factors are closed form, so
   the engine computes them row by row in SQL and joins D back.
4. :func:`total_value_interval` — a parametric-bootstrap interval of the total, on the
   collapsed rows (the sum of the linear spend term only needs per-row counts and sums).

:func:`customer_value` runs the four steps for the CLV report and returns a per-customer
frame with tiers. The per-customer tables hold ``customer_id``: use them for exports and
joins, show only aggregates to stakeholders.
Every step that takes ``as_of`` defaults it to the workbench's own ``as_of``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._as_of import require_as_of
from .._rows import first_of_groups
from ..engine import Workbench, literal, money_sum, quote
from ..engine.sql import customer_part_sql
from ..errors import EngineOutOfMemoryError, ParameterError
from ..segments import FAN_TIER_ZH, FAN_TIERS, FanTierThresholds
from .beta_geo import BetaGeoFitter
from .customer_table import CUSTOMER_TABLE, engine_memory_limit, fan_tier_sql, keep_customer_table, value_tier_sql
from .gamma_gamma import GammaGammaFitter
from .rfm import customer_days_sql, model_orders_sql
from .value import alive_purchase_growth, bootstrap_bounds, check_interval_args, draw_values

#: engine tables the pipeline leaves behind (per buyer; per customer with value)
RFM_TABLE = "clv_buyers"
VALUE_TABLE = "customer_clv"
_GROWTH_TABLE = "clv_growth"
_DAYS_PER_WEEK = 7.0
_NET_AMOUNT = "amount - COALESCE(refunded_amount, 0)"
#: how an order's value is counted: net of refunds (what the brand keeps, the default) or gross
SPEND_VALUES = {"net": _NET_AMOUNT, "gross": "amount"}
#: what counts as one purchase: a purchase day (the CLV literature's convention) or an order
PURCHASE_UNITS = ("day", "order")


@dataclass
class CustomerValue:
    """Fitted models and the per-customer value table (None when left in the engine: ``table``)."""

    customers: pd.DataFrame | None
    transaction_model: BetaGeoFitter
    monetary_model: GammaGammaFitter
    as_of: pd.Timestamp
    horizon_months: int
    discount_rate: float
    total_interval: tuple[float, float, float] | None = None
    orders_seen: ModelOrders | None = None
    spend: str = "net"
    #: the fan-tier cut-offs applied to ``customers`` (buyers' medians of spend and orders)
    fan_thresholds: FanTierThresholds | None = None
    #: the engine table holding every registered customer's row (``customers`` comes from it)
    table: str = CUSTOMER_TABLE


@dataclass(frozen=True)
class ModelOrders:
    """Which identified orders before ``as_of`` the models saw.

    ``orders_total`` identified orders before as_of; ``experiment_orders`` of them belong to an
    experiment task; ``orders_excluded`` were left out (the experiment orders when
    ``exclude_experiment_orders``, else none); ``buyers_excluded_only`` customers whose only
    orders were left out (so not modelled as buyers).
    """

    orders_total: int
    experiment_orders: int
    orders_excluded: int
    buyers_excluded_only: int
    exclude_experiment_orders: bool

    @property
    def orders_used(self) -> int:
        """Orders the model is fitted on (total minus excluded)."""
        return self.orders_total - self.orders_excluded


def count_model_orders(wb: Workbench, as_of: Any = None, exclude_experiment_orders: bool = False) -> ModelOrders:
    """Count the orders the CLV models see and leave out.

    Count the identified orders before ``as_of``, the experiment-task orders among them and
    those the models leave out (:func:`~workbench.clv.rfm.model_orders_sql`): what the CLV page
    says the model saw.
    """
    as_of = require_as_of(wb, as_of)
    wb.require("orders")
    before = f"customer_id IS NOT NULL AND order_time < {literal(as_of)}"
    if model_orders_sql(wb, True) == "orders":  # no tasks table: nothing is known to be an experiment order
        total = int(wb.scalar(f"SELECT COUNT(*) FROM orders WHERE {before}"))
        return ModelOrders(total, 0, 0, 0, exclude_experiment_orders)
    # one scan: the orders, the experiment ones (model_orders_sql's rule), and the buyers with no other order
    total, n_experiment, lost = wb.backend.fetch(f"""
        SELECT COALESCE(SUM(n), 0), COALESCE(SUM(e), 0), COALESCE(SUM(CASE WHEN e = n THEN 1 ELSE 0 END), 0)
        FROM (SELECT o.customer_id, COUNT(*) AS n, SUM(CASE WHEN x.task_id IS NULL THEN 0 ELSE 1 END) AS e
              FROM orders o
              LEFT JOIN (SELECT DISTINCT task_id FROM tasks WHERE experiment_id IS NOT NULL AND task_id IS NOT NULL) x
                   ON x.task_id = o.task_id
              WHERE o.customer_id IS NOT NULL AND o.order_time < {literal(as_of)} GROUP BY o.customer_id) c""")[0]
    total, n_experiment, lost = int(total), int(n_experiment), int(lost)
    if not exclude_experiment_orders:
        return ModelOrders(total, n_experiment, 0, 0, False)
    return ModelOrders(total, n_experiment, n_experiment, lost, True)


def main_store_sql(as_of: pd.Timestamp) -> str:
    """Each customer's main store: where they placed most orders before ``as_of``."""
    return f"""
        SELECT customer_id, store_id FROM (
            SELECT customer_id, store_id,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY COUNT(*) DESC, store_id) AS rn
            FROM orders WHERE customer_id IS NOT NULL AND store_id IS NOT NULL AND order_time < {literal(as_of)}
            GROUP BY customer_id, store_id
        ) x WHERE rn = 1"""


def main_stores(wb: Any, as_of: pd.Timestamp) -> str:
    """SQL reading each customer's main store before ``as_of`` (:func:`main_store_sql`), ranked once per workbench.

    The customer table and the covariate rows of the CLV page both join it: on a workbench it is
    kept as a derived relation, so the orders are ranked by store once.
    """
    if not isinstance(wb, Workbench):
        return main_store_sql(as_of)
    return wb.derived("clv_main_stores", main_store_sql(as_of), ("orders",), params=(as_of,))


def summarise_buyers(wb: Workbench, as_of: Any = None, name: str = RFM_TABLE, exclude_experiment_orders: bool = False,
                     spend: str = "net", purchase_unit: str = "day") -> int:
    """Keep one row per buyer with orders before ``as_of`` as engine table ``name``; returns the count.

    Columns: ``customer_id``, ``frequency`` (repeat purchase days), ``recency_days``,
    ``age_days`` (first purchase day to the day before ``as_of``, inclusive),
    ``monetary_value`` (mean value of the repeat days), ``first_day``. Purchases are
    collapsed to days and valued net of refunds (``spend="gross"``: the ``amount`` as
    ordered), as in :func:`~workbench.clv.rfm_summary`. ``exclude_experiment_orders``
    leaves out experiment-task orders (:func:`~workbench.clv.rfm.model_orders_sql`).
    ``purchase_unit="order"`` counts every order as a purchase instead of every purchase day
    (the literature's convention, the default): several orders of one customer on one day are
    then several purchases, as they are in a continuous-time process such as the simulator's.

    On DuckDB the orders are aggregated once by customer; past the engine's memory limit in customer-hash
    parts, one after the other, or with the portable SQL that spills (:func:`_summary_plan`): the same rows.
    """
    as_of = require_as_of(wb, as_of)
    wb.require("orders")
    if spend not in SPEND_VALUES:
        raise ParameterError(f"spend must be one of {', '.join(SPEND_VALUES)}, not {spend!r}")
    if purchase_unit not in PURCHASE_UNITS:
        raise ParameterError(f"purchase_unit must be one of {', '.join(PURCHASE_UNITS)}, not {purchase_unit!r}")
    end = (as_of - pd.Timedelta(days=1)).normalize()
    source = model_orders_sql(wb, exclude_experiment_orders)
    # values summed as decimals (exact): the sums (and so monetary_value) do not depend on the order the engine
    # adds the rows in, so the table is the same bit for bit on any thread count and when the persisted layer
    # recomputes some customers only
    params = buyer_params(as_of, exclude_experiment_orders, spend, purchase_unit)
    layer = getattr(wb, "layer", None)
    persisted = layer is not None and layer.relation_path(name, params) is not None

    def buyers_sql(dialect: str, where: str = "TRUE") -> str:
        days = customer_days_sql(source, "customer_id", "order_time", SPEND_VALUES[spend], end, end, False,
                                 where=where, per_order=purchase_unit == "order", exact=True, dialect=dialect)
        return (f"SELECT customer_id, frequency, recency_days, age_days, "
                f"CAST(monetary_value AS DOUBLE) AS monetary_value, first_day FROM ({days}) b")

    # read from the layer, the SQL is not run: no need to count the orders to choose it
    dialect, parts = (getattr(wb, "dialect", "duckdb"), 1) if persisted else _summary_plan(wb, source)
    # kept once per workbench and options (or read from the persisted layer, which holds the default options)
    reads = ("orders", "tasks") if source != "orders" else ("orders",)
    keep = (lambda sql: wb.derived(name, sql, reads, params=params)) if isinstance(wb, Workbench) else \
        (lambda sql: wb.materialize(name, sql))
    try:
        if parts == 1:
            keep(buyers_sql(dialect))
        else:
            _keep_in_parts(wb, name, keep, lambda i: buyers_sql(dialect, customer_part_sql(parts, i)), parts)
    except EngineOutOfMemoryError:  # the one aggregate's lists did not fit after all: the SQL that spills
        if dialect != "duckdb":
            raise
        if isinstance(wb, Workbench):
            wb.forget(name)  # a first part may have been kept: build the whole relation again
        keep(buyers_sql("portable"))
    return int(wb.scalar(f"SELECT COUNT(*) FROM {quote(name)}"))


#: DuckDB memory per order of the one-aggregate buyer summary (its per-customer lists of order days and values
#: stay in memory: they do not spill): at 1M customers and 7M orders it ran within a 400MB limit (57 bytes per
#: order) and not within 300MB; with margin for the buyer table the parts add up to
_LIST_BYTES_PER_ORDER = 96
#: past this many customer-hash parts the portable two-level SQL is used: every part scans all the orders again
#: (at 20M customers and 5GB, 4 parts took 95 CPU s where the two-level SQL took 163)
_MAX_PARTS = 8


def _summary_plan(wb: Any, source: str) -> tuple[str, int]:
    """The dialect to write the buyer summary in, and in how many customer-hash parts to run it.

    DuckDB's one aggregate keeps each customer's list of order days in memory (list state does not spill).
    When the lists of all the orders do not fit the engine's memory limit, the aggregate runs on parts of
    the customers (by a hash of ``customer_id``) whose lists fit, one after the other: each part scans the
    orders again, which still costs less than the portable two-level SQL (same rows, bit for bit, its hash
    aggregates spill to disk), used past :data:`_MAX_PARTS` parts. Deciding costs one count of the orders.
    """
    dialect = getattr(wb, "dialect", "duckdb")
    if dialect != "duckdb":
        return dialect, 1
    limit_bytes = engine_memory_limit(wb)
    if limit_bytes is None:  # no limit, or one the engine does not say
        return dialect, 1
    orders = int(wb.scalar(f"SELECT COUNT(*) FROM {source}"))
    parts = max(1, -(-orders * _LIST_BYTES_PER_ORDER // limit_bytes))
    return (dialect, parts) if parts <= _MAX_PARTS else ("portable", 1)


def _keep_in_parts(wb: Any, name: str, keep: Any, part_query: Any, parts: int) -> None:
    """Keep relation ``name`` as the union of ``part_query(i)`` for the ``parts`` customer-hash parts, in turn.

    The first part is kept as the relation (once per workbench and options, as any derived relation); the
    others are appended only when it was just built. A relation kept earlier holds every part's customers,
    one just built only the first part's; if every customer is in the first part, the other parts are empty
    and appending them adds nothing, so the test is exact.
    """
    keep(part_query(0))
    if wb.scalar(f"SELECT EXISTS (SELECT 1 FROM {quote(name)} WHERE NOT ({customer_part_sql(parts, 0)}))"):
        return  # kept earlier with every part
    for part in range(1, parts):
        wb.backend.execute(f"INSERT INTO {quote(name)} {part_query(part)}")


def buyer_params(as_of: pd.Timestamp, exclude_experiment_orders: bool = False, spend: str = "net",
                 purchase_unit: str = "day") -> tuple:
    """The parameters the buyer table of :func:`summarise_buyers` is built from (its derived-relation key)."""
    return (as_of, bool(exclude_experiment_orders), spend, purchase_unit)


def buyer_rows(wb: Workbench, table: str = RFM_TABLE) -> pd.DataFrame:
    """Distinct (frequency, recency_days, age_days) rows with ``weight`` (buyers) and ``spend_sum``.

    ``spend_sum`` sums the buyers' mean repeat spend: with the counts it is all the
    Gamma-Gamma conditional expectation needs to total a row's value.
    """
    return wb.query(f"""
        SELECT frequency, recency_days, age_days, COUNT(*) AS weight, {money_sum('monetary_value')} AS spend_sum
        FROM {quote(table)} GROUP BY frequency, recency_days, age_days
        ORDER BY frequency, recency_days, age_days""")


def fit_value_models(wb: Workbench, table: str = RFM_TABLE,
                     rows: pd.DataFrame | None = None) -> tuple[BetaGeoFitter, GammaGammaFitter]:
    """Fit BG/NBD (weeks) and Gamma-Gamma on collapsed rows of the buyer table.

    The fits equal those on the per-customer :func:`~workbench.clv.rfm_summary` (same
    values, summed as weights); ``rows`` reuses a :func:`buyer_rows` result.
    """
    rows = buyer_rows(wb, table) if rows is None else rows
    if rows.empty:
        raise ParameterError("no buyers to fit: there are no orders before as_of")
    bg = BetaGeoFitter().fit(rows["frequency"], rows["recency_days"] / _DAYS_PER_WEEK,
                             rows["age_days"] / _DAYS_PER_WEEK, weights=rows["weight"])
    spend = wb.query(f"""
        SELECT frequency, monetary_value, COUNT(*) AS weight FROM {quote(table)}
        WHERE frequency > 0 AND monetary_value > 0 GROUP BY frequency, monetary_value
        ORDER BY frequency, monetary_value""")  # ordered: the fit's sums then do not depend on the engine's order
    if spend.empty:
        raise ParameterError("no repeat buyers with a positive spend: the Gamma-Gamma model cannot be fitted")
    gg = GammaGammaFitter().fit(spend["frequency"], spend["monetary_value"], weights=spend["weight"])
    return bg, gg


def _population_spend(gg: GammaGammaFitter) -> float:
    p, q, v = gg.params_.to_numpy()
    if q <= 1:
        raise ParameterError(f"Gamma-Gamma q = {q:.3g} <= 1: the mean spend is infinite, so CLV is undefined")
    return p * v / (q - 1)


def _growth_frame(bg: BetaGeoFitter, pairs: pd.DataFrame, horizon_months: int, discount_rate: float) -> pd.DataFrame:
    g = alive_purchase_growth(bg, pairs["frequency"].to_numpy(float), pairs["age_days"].to_numpy(float) / 7,
                              horizon_months, discount_rate, extra_times=(90 / 7,))
    return pd.DataFrame({"frequency": pairs["frequency"].to_numpy(), "age_days": pairs["age_days"].to_numpy(),
                         "alive_discounted": g["discounted"], "alive_90d": g[90 / 7]})


def _num(value: float) -> str:
    return f"CAST({float(value)!r} AS DOUBLE)"


def p_alive_sql(bg: BetaGeoFitter, x: str = "frequency", recency_days: str = "recency_days",
                age_days: str = "age_days") -> str:
    """SQL for BG/NBD P(alive | x, t_x, T) with the fitted parameters (T and t_x in days, model in weeks).

    1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)), the odds taken in log space and
    capped so that no engine overflows ``EXP``.
    """
    r, alpha, a, b = (_num(v) for v in bg.params_.to_numpy())
    log_odds = (f"LN({a}) - LN({b} + {x} - 1) + ({r} + {x}) * (LN({alpha} + {age_days} / 7.0) "
                f"- LN({alpha} + {recency_days} / 7.0))")
    return f"CASE WHEN {x} > 0 THEN 1.0 / (1.0 + EXP(LEAST({log_odds}, 700.0))) ELSE 1.0 END"


def expected_spend_sql(gg: GammaGammaFitter, x: str = "frequency", m: str = "monetary_value") -> str:
    """SQL for the Gamma-Gamma E[mean spend | x, m̄]: (1 − w)·p·v/(q−1) + w·m̄, w = p·x/(p·x+q−1)."""
    p, q, _ = gg.params_.to_numpy()
    pop = _num(_population_spend(gg))
    weight = f"({_num(p)} * {x} / ({_num(p)} * {x} + {_num(q)} - 1))"
    return f"CASE WHEN {x} > 0 THEN (1 - {weight}) * {pop} + {weight} * {m} ELSE {pop} END"


def value_customers(wb: Workbench, bg: BetaGeoFitter, gg: GammaGammaFitter, horizon_months: int = 12,
                    discount_rate: float = 0.01, table: str = RFM_TABLE, name: str = VALUE_TABLE) -> None:
    """Keep every buyer's ``p_alive``, ``expected_purchases_90d``, ``expected_spend`` and ``clv`` as table ``name``.

    The table has the buyer table's columns plus those four; ``clv`` is the expected value
    of the next ``horizon_months`` months, discounted monthly at ``discount_rate``. Equal to
    :func:`~workbench.clv.customer_lifetime_value` on the per-customer arrays.
    """
    _population_spend(gg)  # fail before any work when CLV is undefined
    pairs = wb.query(f"SELECT DISTINCT frequency, age_days FROM {quote(table)}")
    wb.register(_GROWTH_TABLE, _growth_frame(bg, pairs, horizon_months, discount_rate))
    alive, spend = p_alive_sql(bg, "b.frequency", "b.recency_days", "b.age_days"), \
        expected_spend_sql(gg, "b.frequency", "b.monetary_value")
    wb.materialize(name, f"""
        SELECT b.*, {alive} AS p_alive, g.alive_90d * ({alive}) AS expected_purchases_90d,
               {spend} AS expected_spend, ({spend}) * g.alive_discounted * ({alive}) AS clv
        FROM {quote(table)} b
        JOIN {_GROWTH_TABLE} g ON g.frequency = b.frequency AND g.age_days = b.age_days""")


def total_value_interval(bg: BetaGeoFitter, gg: GammaGammaFitter, rows: pd.DataFrame, horizon_months: int = 12,
                         discount_rate: float = 0.01, n_draws: int = 200, level: float = 0.9,
                         seed: int = 0) -> tuple[float, float, float]:
    """Total CLV and a parametric-bootstrap interval from :func:`buyer_rows` (collapsed rows).

    Parameters are drawn as in :func:`~workbench.clv.clv_interval`, by the same loop
    (:func:`~workbench.clv.value.draw_values`: log-scale normal approximation; draws with
    Gamma-Gamma q ≤ 1 are discarded), so with the same ``seed`` the two totals agree. Within a row the expected
    spend is linear in each buyer's mean spend, so the row's total needs only its count
    (``weight``) and ``spend_sum``.
    """
    check_interval_args(n_draws, level)
    x, tx, T = (rows[c].to_numpy(float) for c in ("frequency", "recency_days", "age_days"))
    n, m_sum = rows["weight"].to_numpy(float), rows["spend_sum"].to_numpy(float)
    # the hypergeometric part once per distinct (frequency, age)
    pair, pair_first = first_of_groups(x * 1e6 + T)
    pair_frame = pd.DataFrame({"frequency": x[pair_first], "age_days": T[pair_first]})

    def total(tm: BetaGeoFitter, mm: GammaGammaFitter) -> float:
        discounted = _growth_frame(tm, pair_frame, horizon_months, discount_rate)["alive_discounted"].to_numpy()
        alive = tm.conditional_probability_alive(x, tx / _DAYS_PER_WEEK, T / _DAYS_PER_WEEK)
        spend = n * mm.conditional_expected_average_profit(x, m_sum / n)  # linear in the mean spend
        return float(np.sum(spend * alive * discounted[pair]))

    return (total(bg, gg), *bootstrap_bounds(draw_values(bg, gg, total, n_draws, seed), n_draws, level))


def value_buyers(wb: Workbench, as_of: Any = None, horizon_months: int = 12, discount_rate: float = 0.01,
                 exclude_experiment_orders: bool = False, spend: str = "net",
                 purchase_unit: str = "day") -> tuple[BetaGeoFitter, GammaGammaFitter, pd.DataFrame]:
    """Steps 1–3 above: the buyer table, the fitted models and the per-buyer value table.

    Returns the BG/NBD and Gamma-Gamma models and the :func:`buyer_rows` they were fitted on;
    the engine keeps ``clv_buyers`` and ``customer_clv``.
    """
    as_of = require_as_of(wb, as_of)
    if summarise_buyers(wb, as_of, exclude_experiment_orders=exclude_experiment_orders, spend=spend,
                        purchase_unit=purchase_unit) == 0:
        raise ParameterError(f"no orders before {as_of.date()}")
    rows = buyer_rows(wb)
    bg, gg = fit_value_models(wb, rows=rows)
    value_customers(wb, bg, gg, horizon_months, discount_rate)
    return bg, gg, rows


def customer_value(wb: Workbench, as_of: Any = None, horizon_months: int = 12, discount_rate: float = 0.01,
                   lookback_days: int = 365, interval_draws: int = 0, seed: int = 0,
                   exclude_experiment_orders: bool = False, spend: str = "net",
                   purchase_unit: str = "day", frame: bool = True) -> CustomerValue:
    """Fit BG/NBD + Gamma-Gamma on the orders before ``as_of`` and value every buyer.

    ``exclude_experiment_orders=True`` fits and values on the orders outside experiment
    tasks (an A/B test's extra one-off orders are not repeat purchasing; with them BG/NBD's
    purchase rate is biased up). ``orders_seen`` counts what the models saw. ``spend`` values
    purchases net of refunds (default: what the brand keeps) or ``"gross"`` (the ordered
    ``amount``; what Gamma-Gamma's truth in the simulator describes); ``purchase_unit``
    counts purchase days (default) or orders (:func:`summarise_buyers`).

    Returns a :class:`CustomerValue` whose ``customers`` frame has, per registered customer:
    ``frequency``, ``recency``, ``T`` (weeks), ``monetary_value``, ``p_alive``,
    ``expected_purchases_90d``, ``expected_spend``, ``clv``, ``value_tier``, ``spend`` and
    ``orders`` over the look-back, ``fan_tier``, ``store_id`` (main store). Customers who
    never bought have CLV 0 here and fan tier ``potential``. With ``interval_draws`` the
    ``total_interval`` is (total, 5%, 95%) of the total CLV from that many parameter draws.

    The engine keeps the per-buyer tables ``clv_buyers`` and ``customer_clv`` afterwards, and
    every registered customer's row as ``clv_customers``
    (:func:`~workbench.clv.customer_table.keep_customer_table`). ``frame=False`` leaves the
    per-customer frame there (``customers`` is None): at brand scale its aggregates
    (:func:`~workbench.clv.customer_table.value_figures`) are all a page needs.
    """
    as_of = require_as_of(wb, as_of)
    if horizon_months < 1:
        raise ParameterError("horizon_months must be at least 1")
    seen = count_model_orders(wb, as_of, exclude_experiment_orders)
    bg, gg, rows = value_buyers(wb, as_of, horizon_months, discount_rate, exclude_experiment_orders, spend,
                                purchase_unit)
    total = total_value_interval(bg, gg, rows, horizon_months, discount_rate, interval_draws, seed=seed) \
        if interval_draws else None
    thresholds = keep_customer_table(wb, as_of, VALUE_TABLE, main_stores(wb, as_of), lookback_days)
    out = customer_frame(wb, thresholds) if frame else None
    return CustomerValue(out, bg, gg, as_of, horizon_months, discount_rate, total, seen, spend, thresholds)


def customer_frame(wb: Workbench, thresholds: FanTierThresholds, table: str = CUSTOMER_TABLE) -> pd.DataFrame:
    """The per-customer frame of :func:`customer_value` from the engine table :func:`keep_customer_table` kept.

    Tiers are the table's SQL rules (:func:`~workbench.clv.customer_table.value_tier_sql`,
    :func:`~workbench.clv.customer_table.fan_tier_sql`), the same as every aggregate of the page.
    """
    tier, fan = value_tier_sql(wb, table), fan_tier_sql(thresholds)
    out = wb.query(f"""
        SELECT c.customer_id, c.spend, c.orders, c.frequency, v.recency_days / 7.0 AS recency, v.age_days / 7.0 AS T,
               v.monetary_value, c.p_alive, c.expected_purchases_90d, v.expected_spend, COALESCE(c.clv, 0.0) AS clv,
               c.store_id, c.value_tier, c.fan_tier
        FROM (SELECT *, {tier} AS value_tier, {fan} AS fan_tier FROM {quote(table)}) c
        LEFT JOIN (SELECT customer_id, recency_days, age_days, monetary_value, expected_spend FROM {VALUE_TABLE}) v
             ON v.customer_id = c.customer_id
        ORDER BY c.customer_id""")
    out["frequency"] = out["frequency"].astype(float)
    out["value_tier"] = out["value_tier"].astype(object)
    out["fan_tier"] = pd.Categorical(out["fan_tier"], categories=FAN_TIERS)
    out["fan_tier_zh"] = out["fan_tier"].map(FAN_TIER_ZH)
    return out


def probability_alive_matrix(model: BetaGeoFitter, T: float, max_frequency: int = 20,
                             n_recency: int = 20) -> pd.DataFrame:
    """P(alive) over a grid of frequency (rows) × recency (columns) for customers of age ``T``."""
    freqs = np.arange(0, max_frequency + 1)
    recs = np.linspace(0, T, n_recency + 1)[1:]
    grid = np.array([[model.conditional_probability_alive(f, r if f > 0 else 0.0, T) for r in recs] for f in freqs])
    return pd.DataFrame(grid, index=pd.Index(freqs, name="frequency"), columns=pd.Index(np.round(recs, 1),
                                                                                        name="recency"))


def value_concentration(clv: pd.Series) -> pd.DataFrame:
    """Share of total CLV held by each decile of customers, highest first, and cumulative."""
    values = np.sort(np.asarray(clv, float))[::-1]
    if values.sum() <= 0:
        raise ParameterError("total CLV is zero")
    deciles = np.array_split(values, 10)
    share = np.array([d.sum() for d in deciles]) / values.sum()
    return pd.DataFrame({"decile": np.arange(1, 11), "share": share, "cumulative_share": share.cumsum()})
