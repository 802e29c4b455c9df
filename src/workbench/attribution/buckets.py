"""The private-domain value model (README, "What a page states": value model): every order in exactly one value bucket.

Value = direct + indirect + operating premium. Each order in the window is tested against
the rules below in the order of ``precedence``; the first rule that matches is its bucket,
so bucket totals add up exactly to total GMV (``not_attributed`` takes the rest).

========================  =========  ==========================================================
rule                      bucket     an order matches when
========================  =========  ==========================================================
``link``                  direct     a mini-program order arrived through a WeCom link
                                     (``task_id`` or ``share_staff_id`` set) — credited to the
                                     sharing staff member
``transfer``              direct     a transfer straight to a guide (``wecom_transfer``)
``coupon``                indirect   a POS order redeemed a coupon issued in WeCom — credited to
                                     the issuing staff member
``interaction``           indirect   Belle's 7-day rule: a POS order whose customer had a staff
                                     interaction in the ``interaction_window_days`` before —
                                     credited to the most recent such staff member and store
``proxy``                 indirect   an order the guide placed for the customer (代客下单)
``live``                  indirect   a Channels live order following a WeCom ``live_invite``
                                     within ``live_window_days``
========================  =========  ==========================================================

The operating premium (exposure, long-term interaction, membership, brand) is not
measured from orders: reports show it as an explicit, unmeasured line, never a number.
Attribution is not causation: where a randomised holdout exists, set the attributed
value beside the incremental estimate (:func:`holdout_incrementality`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine import Workbench, literal, money_product_sum, money_sum, to_timestamp
from ..engine.workbench import derived_table
from ..errors import ParameterError
from ..experiments.frequentist import welch_ttest
from ..experiments.stats import SampleMeanStatistic

RULES = {
    "link": "direct",
    "transfer": "direct",
    "coupon": "indirect",
    "interaction": "indirect",
    "proxy": "indirect",
    "live": "indirect",
}
DEFAULT_PRECEDENCE = ("link", "transfer", "coupon", "interaction", "proxy", "live")
#: Touches that count as a staff interaction for the 7-day rule (Moments posts are not aimed at one customer).
INTERACTION_TYPES = ("chat", "group_message", "mass_send", "task_push", "coupon_issue", "live_invite")
BUCKETS = ("direct", "indirect", "not_attributed")


#: rule → (condition, credited staff expression, credited store expression, the optional table it needs)
_RULE_SQL: dict[str, tuple[str, str, str, str | None]] = {
    "link": ("o.order_channel = 'mini_program' AND (o.task_id IS NOT NULL OR o.share_staff_id IS NOT NULL)",
             "o.share_staff_id", "COALESCE(ss.store_id, o.store_id)", None),
    "transfer": ("o.order_channel = 'wecom_transfer'", "o.share_staff_id", "COALESCE(ss.store_id, o.store_id)",
                 None),
    "coupon": ("o.order_channel = 'pos' AND cp.coupon_id IS NOT NULL", "cp.issued_by_staff_id",
               "COALESCE(cs.store_id, o.store_id)", "coupons"),
    "interaction": ("o.order_channel = 'pos' AND it.staff_id IS NOT NULL", "it.staff_id",
                    "COALESCE(its.store_id, o.store_id)", "touches"),
    "proxy": ("o.order_channel = 'proxy_order'", "o.share_staff_id", "COALESCE(ss.store_id, o.store_id)", None),
    "live": ("o.order_channel = 'channels_live' AND li.staff_id IS NOT NULL", "NULLIF(li.staff_id, '')",
             "COALESCE(lis.store_id, o.store_id)", "touches"),
}


def _rule_sql(rule: str, has: dict[str, bool]) -> tuple[str, str, str]:
    """(condition, credited staff expression, credited store expression) for a rule.

    A rule whose optional table is absent matches no order.
    """
    if rule not in _RULE_SQL:
        raise ParameterError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
    condition, staff, store, needs = _RULE_SQL[rule]
    if needs is not None and not has[needs]:
        return "FALSE", "NULL", "NULL"
    return condition, staff, store


def _checked(wb: Workbench, start: Any, end: Any, interaction_window_days: int, live_window_days: int,
             precedence: tuple[str, ...]) -> tuple[pd.Timestamp, pd.Timestamp, dict[str, bool]]:
    """``(start, end, has)`` after checking the window and the rules; ``has``: which optional tables exist."""
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    if e <= s:
        raise ParameterError(f"end ({e}) must be after start ({s})")
    if interaction_window_days < 0 or live_window_days < 0:
        raise ParameterError("windows must be non-negative")
    unknown = [r for r in precedence if r not in RULES]
    if unknown or len(set(precedence)) != len(precedence):
        raise ParameterError(f"precedence must list distinct rules from {', '.join(RULES)}; got {precedence}")
    wb.require("orders")
    return s, e, {t: wb.has_table(t) for t in ("coupons", "touches", "staff")}


def order_buckets_sql(wb: Workbench, start: Any, end: Any, interaction_window_days: int = 7,
                      live_window_days: int = 3, precedence: tuple[str, ...] = DEFAULT_PRECEDENCE,
                      interaction_types: tuple[str, ...] = INTERACTION_TYPES, coupon_state: bool = False) -> str:
    """SQL for one row per order in ``[start, end)`` with its rule, bucket and credit.

    ``coupon_state`` adds :data:`COUPON_STATE`: the order's ``coupon_id``, whether the coupon rule's
    join found it (a WeCom coupon, issued before as-of) and its issuing staff member, what the
    persisted layer compares to find orders whose coupon changed.
    """
    s, e, has = _checked(wb, start, end, interaction_window_days, live_window_days, precedence)
    iw = f"INTERVAL '{int(interaction_window_days)} days'"
    lw = f"INTERVAL '{int(live_window_days)} days'"
    types = ", ".join(literal(t) for t in interaction_types)
    staff = ("staff" if has["staff"]
             else "(SELECT CAST(NULL AS VARCHAR) AS staff_id, CAST(NULL AS VARCHAR) AS store_id WHERE FALSE)")
    joins = [f"LEFT JOIN {staff} ss ON ss.staff_id = o.share_staff_id"]
    if has["coupons"]:
        joins.append("LEFT JOIN coupons cp ON cp.coupon_id = o.coupon_id AND cp.issue_source = 'wecom'")
        joins.append(f"LEFT JOIN {staff} cs ON cs.staff_id = cp.issued_by_staff_id")
    if has["touches"]:
        # the most recent qualifying touch before the order, found with a window function
        joins.append(f"""LEFT JOIN (
            SELECT order_id, staff_id FROM (
                SELECT o2.order_id, t.staff_id,
                       ROW_NUMBER() OVER (PARTITION BY o2.order_id ORDER BY t.event_time DESC, t.staff_id) AS rn
                FROM orders o2 JOIN touches t ON t.customer_id = o2.customer_id
                WHERE o2.order_channel = 'pos' AND o2.order_time >= {literal(s)} AND o2.order_time < {literal(e)}
                  AND t.staff_id IS NOT NULL AND t.touch_type IN ({types})
                  AND t.event_time < o2.order_time AND t.event_time >= o2.order_time - {iw}
            ) x WHERE rn = 1) it ON it.order_id = o.order_id""")
        joins.append(f"LEFT JOIN {staff} its ON its.staff_id = it.staff_id")
        joins.append(f"""LEFT JOIN (
            SELECT order_id, staff_id FROM (
                SELECT o2.order_id, COALESCE(t.staff_id, '') AS staff_id,
                       ROW_NUMBER() OVER (PARTITION BY o2.order_id ORDER BY t.event_time DESC) AS rn
                FROM orders o2 JOIN touches t ON t.customer_id = o2.customer_id
                WHERE o2.order_channel = 'channels_live'
                  AND o2.order_time >= {literal(s)} AND o2.order_time < {literal(e)}
                  AND t.touch_type = 'live_invite' AND t.event_time < o2.order_time
                  AND t.event_time >= o2.order_time - {lw}
            ) x WHERE rn = 1) li ON li.order_id = o.order_id""")
        joins.append(f"LEFT JOIN {staff} lis ON lis.staff_id = NULLIF(li.staff_id, '')")
    rule_case, staff_case, store_case = [], [], []
    for rule in precedence:
        cond, st, so = _rule_sql(rule, has)
        rule_case.append(f"WHEN {cond} THEN '{rule}'")
        staff_case.append(f"WHEN {cond} THEN {st}")
        store_case.append(f"WHEN {cond} THEN {so}")
    bucket_case = " ".join(f"WHEN '{r}' THEN '{b}'" for r, b in RULES.items())
    state, inner = "", ""
    if coupon_state:
        state = ", " + ", ".join(COUPON_STATE)
        inner = (", o.coupon_id, cp.coupon_id IS NOT NULL AS coupon_hit, cp.issued_by_staff_id AS coupon_staff"
                 if has["coupons"] else
                 ", o.coupon_id, FALSE AS coupon_hit, CAST(NULL AS VARCHAR) AS coupon_staff")
    return f"""
        SELECT order_id, customer_id, order_time, amount, net_amount, order_channel, store_id, rule,
               CASE rule {bucket_case} ELSE 'not_attributed' END AS bucket,
               credited_staff_id, credited_store_id{state}
        FROM (
            SELECT o.order_id, o.customer_id, o.order_time, o.amount,
                   o.amount - COALESCE(o.refunded_amount, 0) AS net_amount, o.order_channel, o.store_id,
                   CASE {' '.join(rule_case)} ELSE 'none' END AS rule,
                   CASE {' '.join(staff_case)} ELSE NULL END AS credited_staff_id,
                   CASE {' '.join(store_case)} ELSE o.store_id END AS credited_store_id{inner}
            FROM orders o {' '.join(joins)}
            WHERE o.order_time >= {literal(s)} AND o.order_time < {literal(e)}
        ) b"""


#: the keys of :func:`value_buckets` that need only an order's rule, not whom it credits
RULE_KEYS = ("bucket", "rule", "month", "order_channel")


def order_rules_sql(wb: Workbench, start: Any, end: Any, interaction_window_days: int = 7,
                    live_window_days: int = 3, precedence: tuple[str, ...] = DEFAULT_PRECEDENCE,
                    interaction_types: tuple[str, ...] = INTERACTION_TYPES) -> str:
    """SQL for one row per order in ``[start, end)`` with its rule and bucket, without the credit.

    The rows of :func:`order_buckets_sql` less ``credited_staff_id`` and ``credited_store_id``,
    with the same rule and bucket: a rule asks only *whether* a qualifying touch precedes the
    order, so the touches are joined for their existence (no ranking of each order's touches,
    no joins to ``staff``, only the touches the window can reach). For the cuts that do not
    need the credit (:data:`RULE_KEYS`): the twelve-month attributed value beside the holdout
    and the value ladder.
    """
    s, e, has = _checked(wb, start, end, interaction_window_days, live_window_days, precedence)
    types = ", ".join(literal(t) for t in interaction_types)
    joins = []
    if has["coupons"]:
        joins.append("LEFT JOIN coupons cp ON cp.coupon_id = o.coupon_id AND cp.issue_source = 'wecom'")
    if has["touches"]:
        # the rules' conditions read it.staff_id / li.staff_id: non-NULL exactly when a qualifying touch exists
        joins.append(_touch_exists("it", "pos", f"t.staff_id IS NOT NULL AND t.touch_type IN ({types})",
                                   "t.staff_id", s, e, interaction_window_days))
        joins.append(_touch_exists("li", "channels_live", "t.touch_type = 'live_invite'", "COALESCE(t.staff_id, '')",
                                   s, e, live_window_days))
    rule_case = " ".join(f"WHEN {_rule_sql(rule, has)[0]} THEN '{rule}'" for rule in precedence)
    bucket_case = " ".join(f"WHEN '{r}' THEN '{b}'" for r, b in RULES.items())
    return f"""
        SELECT order_id, customer_id, order_time, amount, net_amount, order_channel, store_id, rule,
               CASE rule {bucket_case} ELSE 'not_attributed' END AS bucket
        FROM (
            SELECT o.order_id, o.customer_id, o.order_time, o.amount,
                   o.amount - COALESCE(o.refunded_amount, 0) AS net_amount, o.order_channel, o.store_id,
                   CASE {rule_case} ELSE 'none' END AS rule
            FROM orders o {' '.join(joins)}
            WHERE o.order_time >= {literal(s)} AND o.order_time < {literal(e)}
        ) b"""


def _touch_exists(alias: str, channel: str, condition: str, staff: str, s: pd.Timestamp, e: pd.Timestamp,
                  days: int) -> str:
    """A LEFT JOIN giving each ``channel`` order of ``[s, e)`` with a touch in its ``days`` before a non-NULL staff_id.

    A touch ``days`` before an order of the window lies in ``[s - days, e)``: the bound is implied by
    the per-order condition and lets the engine skip the other touches before the join.
    """
    w = f"INTERVAL '{int(days)} days'"
    return f"""LEFT JOIN (
            SELECT o2.order_id, MIN({staff}) AS staff_id
            FROM orders o2 JOIN touches t ON t.customer_id = o2.customer_id
            WHERE o2.order_channel = {literal(channel)}
              AND o2.order_time >= {literal(s)} AND o2.order_time < {literal(e)} AND {condition}
              AND t.event_time >= {literal(s - pd.Timedelta(days=int(days)))} AND t.event_time < {literal(e)}
              AND t.event_time < o2.order_time AND t.event_time >= o2.order_time - {w}
            GROUP BY o2.order_id) {alias} ON {alias}.order_id = o.order_id"""


#: the tables the bucket of an order depends on
BUCKET_READS = ("orders", "touches", "coupons", "staff")
#: the columns of a window's orders with their buckets (:func:`bucket_window`)
WINDOW_COLUMNS = ("customer_id", "order_time", "amount", "net_amount", "order_channel", "rule", "bucket",
                  "credited_staff_id", "credited_store_id")
#: what the coupon rule saw of an order's coupon (``order_buckets_sql(..., coupon_state=True)``)
COUPON_STATE = ("coupon_id", "coupon_hit", "coupon_staff")
#: the persisted layer's orders with their buckets, default parameters, from a month start to as-of
BUCKET_ROWS = "__wb_bucket_rows"


def bucket_window(wb: Workbench, start: Any, end: Any, interaction_window_days: int = 7,
                  live_window_days: int = 3, precedence: tuple[str, ...] = DEFAULT_PRECEDENCE,
                  interaction_types: tuple[str, ...] = INTERACTION_TYPES) -> tuple[str, str]:
    """The name and SQL of a window's orders with their buckets, as kept once per workbench.

    One row per order in ``[start, end)``: ``customer_id``, ``order_time``, ``amount``,
    ``net_amount``, ``order_channel``, ``rule``, ``bucket``, ``credited_staff_id``,
    ``credited_store_id``. The name is derived from the SQL, so each window and set of
    parameters is its own relation (:meth:`~workbench.engine.Workbench.derived`, reading
    :data:`BUCKET_READS`); the persisted layer holds the last complete month's.
    """
    sql = order_buckets_sql(wb, start, end, interaction_window_days, live_window_days, precedence, interaction_types)
    name = "__wb_buckets_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
    return name, f"SELECT {', '.join(WINDOW_COLUMNS)} FROM ({sql}) b"


def bucket_rows(wb: Workbench, start: Any, as_of: Any) -> str:
    """The orders from ``start`` to ``as_of`` with their buckets (default parameters), kept once per workbench.

    What the persisted layer keeps so that a day's update recomputes only the customers whose rows
    changed: :data:`WINDOW_COLUMNS` and :data:`COUPON_STATE` of every order in ``[start, as_of)``.
    An order's row depends only on the order, its customer's touches before it, its coupon and the
    staff table, not on the window: the rows of a window ``[start, end)`` with ``end <= as_of`` are
    the rows with ``order_time < end`` (:func:`window_from_rows`), and as the days pass the rows of
    the running month become those of the next last complete month.
    """
    s, at = to_timestamp(start, "start"), to_timestamp(as_of, "as_of")
    sql = order_buckets_sql(wb, s, at, coupon_state=True)
    return derived_table(wb, BUCKET_ROWS, f"SELECT {', '.join(WINDOW_COLUMNS + COUPON_STATE)} FROM ({sql}) b",
                         BUCKET_READS, params=(s, at))


def changed_coupons_sql(wb: Workbench, rows: str, start: Any) -> str:
    """SQL: customers of :func:`bucket_rows` from ``start`` on whose coupon now reads otherwise to the coupon rule.

    ``rows`` were kept at an earlier as-of; the coupon rule's join is made again on today's
    ``coupons`` (a coupon may have been reissued, changed hands or appeared since). Customers
    whose orders changed are found from the orders themselves.
    """
    s = literal(to_timestamp(start, "start"))
    if not wb.has_table("coupons"):
        return f"SELECT customer_id FROM {rows} WHERE FALSE"
    return f"""SELECT r.customer_id FROM {rows} r
               LEFT JOIN coupons cp ON cp.coupon_id = r.coupon_id AND cp.issue_source = 'wecom'
               WHERE r.coupon_id IS NOT NULL AND r.order_time >= {s}
                 AND ((cp.coupon_id IS NOT NULL) <> r.coupon_hit
                      OR cp.issued_by_staff_id IS DISTINCT FROM r.coupon_staff)"""


def window_from_rows(rows: str, end: Any) -> str:
    """SQL: a window's orders with their buckets, from :func:`bucket_rows` that start with the window.

    The same rows as :func:`bucket_window`'s SQL for ``[start, end)`` when ``rows`` start at ``start``.
    """
    return (f"SELECT {', '.join(WINDOW_COLUMNS)} FROM ({rows}) r "
            f"WHERE order_time < {literal(to_timestamp(end, 'end'))}")


def value_buckets(wb: Workbench, start: Any, end: Any, interaction_window_days: int = 7,
                  live_window_days: int = 3, precedence: tuple[str, ...] = DEFAULT_PRECEDENCE,
                  interaction_types: tuple[str, ...] = INTERACTION_TYPES,
                  by: tuple[str, ...] | None = ("bucket", "rule")) -> pd.DataFrame:
    """Orders in ``[start, end)`` by value bucket, per order or aggregated.

    Parameters
    ----------
    wb : Workbench
        Needs ``orders``; uses ``coupons``, ``touches`` and ``staff`` when present (a rule
        whose table is absent never matches).
    interaction_window_days : int, default 7
        Belle's rule window: a staff interaction this many days before a POS order.
    live_window_days : int, default 3
        How long a live-stream invitation counts.
    precedence : tuple of rule names
        Order in which rules are tried (module docstring); the first match wins.
    by : tuple of str or None
        Aggregate by any of ``bucket``, ``rule``, ``month``, ``store`` (credited store),
        ``staff`` (credited staff), ``order_channel``. ``None`` returns one row per order.

    Returns
    -------
    DataFrame
        Aggregated: the keys, ``orders``, ``gmv``, ``net_gmv`` and ``gmv_share`` (of total GMV
        in the window: every order falls in exactly one group, so ``gmv`` sums to it).

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> value_buckets(wb, "2025-11-01", "2025-12-01", by=("bucket",))   # doctest: +SKIP
    """
    if by is None:
        sql = order_buckets_sql(wb, start, end, interaction_window_days, live_window_days, precedence,
                                interaction_types)
        return wb.query(sql + " ORDER BY order_time, order_id")
    # a report cuts one window several ways (bucket, store, staff…): from the second cut of the same window on
    # (from the first when the persisted layer holds the window), its orders are classified once per workbench
    # and kept (only the columns the cuts need)
    name, sql = bucket_window(wb, start, end, interaction_window_days, live_window_days, precedence,
                              interaction_types)
    seen = wb.__dict__.setdefault("_bucket_windows", set())
    layer = getattr(wb, "layer", None)
    if name in seen or (layer is not None and layer.relation_path(name, ()) is not None):
        sql = derived_table(wb, name, sql, BUCKET_READS)
    elif set(by) <= set(RULE_KEYS):   # a first cut that needs no credit: the rules alone, a cheaper query
        sql = order_rules_sql(wb, start, end, interaction_window_days, live_window_days, precedence,
                              interaction_types)
    seen.add(name)
    keymap = {"bucket": "bucket", "rule": "rule", "month": "date_trunc('month', order_time)",
              "store": "credited_store_id", "staff": "credited_staff_id", "order_channel": "order_channel"}
    bad = [k for k in by if k not in keymap]
    if bad:
        raise ParameterError(f"by: unknown key(s) {bad}; use {', '.join(keymap)}")
    names = {"store": "store_id", "staff": "staff_id"}
    select = ", ".join(f"{keymap[k]} AS {names.get(k, k)}" for k in by)
    group = ", ".join(str(i + 1) for i in range(len(by)))
    # money summed as decimals: the sums do not depend on the order the engine adds the rows in (a window read
    # from the persisted layer gives the same cents as one classified here)
    df = wb.query(f"""SELECT {select + ', ' if select else ''} COUNT(*) AS orders,
                             {money_sum('amount')} AS gmv,
                             {money_sum('net_amount')} AS net_gmv
                      FROM ({sql}) b {'GROUP BY ' + group if group else ''}
                      {'ORDER BY ' + group if group else ''}""")
    # every order of the window falls in exactly one group: the total is the groups' sum (no second pass over
    # the orders × touches joins, the costliest part of the query)
    total = float(df["gmv"].fillna(0).sum()) if len(df) else 0.0
    df["gmv_share"] = df["gmv"] / total if total > 0 else np.nan
    return df


# ---------------------------------------------------------------------- incrementality
@dataclass(frozen=True)
class Incrementality:
    """Reached-minus-holdout difference in GMV per customer, with a Welch CI."""

    reached_n: int
    holdout_n: int
    reached_mean: float
    holdout_mean: float
    per_customer: float
    ci_low: float
    ci_high: float
    p_value: float
    total: float
    total_ci_low: float
    total_ci_high: float
    #: per-customer GMV standard deviation in each arm (what a power calculation needs)
    reached_sd: float
    holdout_sd: float


def holdout_incrementality(wb: Workbench, start: Any, end: Any, experiment_id: str = "HOLDOUT",
                           holdout_variant: str = "holdout", alpha: float = 0.05) -> Incrementality:
    """Incremental GMV of WeCom tasks from a randomised customer holdout.

    Every assigned customer contributes their GMV in ``[start, end)`` (zero when they did not
    buy). The incremental GMV per customer is the reached mean minus the holdout mean
    (Welch's t test, :func:`~workbench.experiments.frequentist.welch_ttest`); the total scales it
    by the number of reached customers. Money is summed as decimals (squares of amounts rounded to 10⁻⁸ yuan), so
    the sums do not depend on the order the engine's threads add the rows in.

    Each customer's GMV is summed once from the window's orders and joined to the assigned
    customers (each ``unit_id`` and ``variant`` once): a customer without orders adds nothing to
    the sums and one to the count, so the arms' sums need no zero row per customer.
    """
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    wb.require("assignments", "orders")
    exp_id = literal(experiment_id)
    df = wb.query(f"""
        WITH c AS (
            SELECT customer_id, SUM(CAST(amount AS DECIMAL(38, 10))) AS gmv FROM orders
            WHERE order_time >= {literal(s)} AND order_time < {literal(e)} GROUP BY customer_id),
        g AS (
            SELECT a.variant, c.gmv
            FROM (SELECT DISTINCT unit_id, variant FROM assignments WHERE experiment_id = {exp_id}) a
            LEFT JOIN c ON c.customer_id = a.unit_id)
        SELECT CASE WHEN variant = {literal(holdout_variant)} THEN 'holdout' ELSE 'reached' END AS arm,
               COUNT(*) AS n, CAST(COALESCE(SUM(gmv), 0) AS DOUBLE) AS s,
               COALESCE({money_product_sum('gmv', 'gmv')}, 0) AS ss
        FROM g GROUP BY 1""").set_index("arm")
    if set(df.index) != {"holdout", "reached"}:
        raise ParameterError(f"experiment {experiment_id!r} needs a '{holdout_variant}' arm and at least one other arm")
    reached, holdout = (SampleMeanStatistic(int(df.at[arm, "n"]), float(df.at[arm, "s"]), float(df.at[arm, "ss"]))
                        for arm in ("reached", "holdout"))
    test = welch_ttest(holdout, reached, alpha)
    n_r = int(reached.n)
    return Incrementality(n_r, int(holdout.n), float(reached.mean), float(holdout.mean), float(test.effect),
                          float(test.ci_low), float(test.ci_high), float(test.p_value), float(test.effect) * n_r,
                          float(test.ci_low) * n_r, float(test.ci_high) * n_r,
                          float(np.sqrt(reached.variance)), float(np.sqrt(holdout.variance)))
