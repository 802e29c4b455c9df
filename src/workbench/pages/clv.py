"""What the CLV report states.

What the CLV report states: every number with its unit, period and definition, and the
sentences chosen from those numbers.

What BG/NBD can and cannot say about one-time buyers: in the model a customer can only drop
out right after a repeat purchase, so a buyer with no repeat purchase has P(alive) = 1 by
construction. That is a model artefact, not evidence that they are active. The page therefore
never adds one-time buyers into an "expected active" count: it states the expected active
among repeat buyers, and one-time buyers separately with their expected future purchases.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..clv.covariates import ParetoNBDCovariatesFitter
from ..clv.customer_table import ValueFigures, value_figures
from ..clv.pipeline import (
    RFM_TABLE,
    CustomerValue,
    ModelOrders,
    customer_value,
    main_stores,
    probability_alive_matrix,
    summarise_buyers,
)
from ..engine import literal, quote
from ..i18n import has_key, t
from ..segments import FanTierThresholds
from ._base import Stated


@dataclass(frozen=True)
class ModelParameter:
    """A fitted model parameter with its 95% interval (``model``: ``bgnbd`` or ``gamma_gamma``)."""

    model: str
    name: str
    estimate: Stated


@dataclass(frozen=True)
class ClvStatements:
    """The headline statements of the CLV page."""

    buyers: Stated
    repeat_buyers: Stated
    one_time_buyers: Stated
    expected_active_repeat_buyers: Stated
    one_time_expected_purchases_90d: Stated
    total_value: Stated
    top_decile_share: Stated
    top_percentile_share: Stated
    median_value: Stated
    high_value_at_risk: Stated
    high_value_repeat_buyers: Stated
    value_at_risk: Stated
    orders_used: Stated
    orders_excluded: Stated
    experiment_orders: Stated
    exclude_experiment_orders: bool
    parameters: tuple[ModelParameter, ...]
    spend: str = "net"     # how purchases were valued: "net" of refunds or "gross"

    def parameter(self, model: str, name: str) -> Stated:
        """The estimate of one parameter, e.g. ``parameter("bgnbd", "r")``."""
        for p in self.parameters:
            if p.model == model and p.name == name:
                return p.estimate
        raise KeyError(f"{model}.{name}")


def clv_statements(cv: CustomerValue, figures: ValueFigures) -> ClvStatements:
    """Headline statements of the CLV page.

    Every headline number of the CLV page, from a :func:`~workbench.clv.pipeline.customer_value` result
    (fitted with ``interval_draws`` for the total's interval) and the aggregates of its customer table
    (:func:`~workbench.clv.customer_table.value_figures`, which fixes the at-risk threshold).
    One-time buyers are never at risk: their P(alive) = 1 is the model's assumption.
    """
    f, as_of = figures, cv.as_of
    horizon_end = as_of + pd.DateOffset(months=cv.horizon_months)
    d90 = as_of + pd.Timedelta(days=90)
    total, low, high = cv.total_interval if cv.total_interval is not None else (f.total_clv, None, None)
    seen: ModelOrders | None = cv.orders_seen
    used = seen.orders_used if seen else float("nan")
    params = tuple(
        ModelParameter(model, str(name), Stated(float(row["coef"]), "number", f"{model} parameter {name}, "
                       "maximum likelihood on the buyers the model saw; 95% Wald interval",
                       ci_low=float(row["lower 95% bound"]), ci_high=float(row["upper 95% bound"])))
        for model, fitted in (("bgnbd", cv.transaction_model), ("gamma_gamma", cv.monetary_model))
        for name, row in fitted.summary.iterrows())
    return ClvStatements(
        buyers=Stated(float(f.buyers), "persons", "customers with at least one modelled order before as-of",
                      None, as_of),
        repeat_buyers=Stated(float(f.repeat_buyers), "persons", "buyers with at least one repeat purchase day", None,
                             as_of),
        one_time_buyers=Stated(float(f.one_time_buyers), "persons", "buyers with a single purchase day", None, as_of),
        expected_active_repeat_buyers=Stated(
            f.expected_active_repeat, "persons",
            "sum of BG/NBD P(alive) over repeat buyers (the expected number still active); one-time buyers "
            "are left out because P(alive) = 1 for them by the model's construction", None, as_of),
        one_time_expected_purchases_90d=Stated(
            f.one_time_purchases_90d, "count",
            "BG/NBD expected purchases of one-time buyers in the next 90 days", as_of, d90),
        total_value=Stated(float(total), "cny", f"expected {cv.spend} spend of all buyers over the next "
                           f"{cv.horizon_months} "
                           f"months, discounted at {cv.discount_rate:.2%} a month; 90% parametric-bootstrap "
                           "interval", as_of, horizon_end, low, high),
        top_decile_share=Stated(float(f.deciles["share"].iloc[0]), "share",
                                "share of the expected value held by the top 10% of buyers", as_of, horizon_end),
        top_percentile_share=Stated(f.top_percentile_share, "share",
                                    "share of the expected value held by the top 1% of buyers", as_of, horizon_end),
        median_value=Stated(f.median_clv, "cny", "median expected value per buyer over the horizon",
                            as_of, horizon_end),
        high_value_at_risk=Stated(float(f.high_value_at_risk), "persons",
                                  f"super-VIP and cultivate-tier repeat buyers with P(alive) < {f.threshold:g}",
                                  None, as_of),
        high_value_repeat_buyers=Stated(float(f.high_value_repeat), "persons",
                                        "super-VIP and cultivate-tier repeat buyers", None, as_of),
        value_at_risk=Stated(f.value_at_risk, "cny",
                             "expected value of the high-value repeat buyers at risk", as_of, horizon_end),
        orders_used=Stated(float(used), "count", "identified orders before as-of the models were fitted on",
                           None, as_of),
        orders_excluded=Stated(float(seen.orders_excluded if seen else 0), "count",
                               "orders of experiment tasks left out of the fit", None, as_of),
        experiment_orders=Stated(float(seen.experiment_orders if seen else 0), "count",
                                 "identified orders before as-of carrying the task id of an experiment task",
                                 None, as_of),
        exclude_experiment_orders=bool(seen.exclude_experiment_orders if seen else False),
        parameters=params,
        spend=cv.spend,
    )


def orders_sentence(s: ClvStatements, lang: str) -> str:
    """Which orders the model saw: chosen by whether experiment orders were left out."""
    if s.exclude_experiment_orders:
        return t("clv.orders_excluded", lang, used=s.orders_used.text(), excluded=s.orders_excluded.text())
    if s.experiment_orders.value > 0:
        return t("clv.orders_included", lang, used=s.orders_used.text(), experiment=s.experiment_orders.text())
    return t("clv.orders_all", lang, used=s.orders_used.text())


def one_time_sentence(s: ClvStatements, lang: str) -> str:
    """What the model can and cannot say about one-time buyers."""
    n = s.one_time_buyers.value
    per = s.one_time_expected_purchases_90d.value / n if n else float("nan")
    from ..plotting import format_float

    return t("clv.one_time", lang, n=s.one_time_buyers.text(), purchases=s.one_time_expected_purchases_90d.text(),
             per=format_float(per, 2))


def alive_sentence(s: ClvStatements, lang: str) -> str:
    """The sentence: expected active repeat buyers out of repeat buyers."""
    return t("clv.finding_alive", lang, expected=s.expected_active_repeat_buyers.text(),
             repeat=s.repeat_buyers.text())


def at_risk_sentence(s: ClvStatements, lang: str) -> str:
    """The sentence: high-value repeat buyers at risk, and their share."""
    from ..plotting import format_pct

    n, of = s.high_value_at_risk.value, s.high_value_repeat_buyers.value
    return t("clv.finding_at_risk", lang, n=s.high_value_at_risk.text(), share=format_pct(n / of if of else np.nan),
             value=s.value_at_risk.text())


def alive_matrix(model: Any, weeks: float, max_frequency: int = 12, n_recency: int = 13) -> pd.DataFrame:
    """P(alive) matrix for customers of one first-purchase age.

    P(alive) by repeat purchases (rows) × weeks from first to last purchase, for customers whose
    first purchase was ``weeks`` ago; the zero-repeat row is NaN (drawn grey): P(alive) = 1 there
    is the model's assumption, not an estimate.
    """
    matrix = probability_alive_matrix(model, weeks, max_frequency=max_frequency, n_recency=n_recency)
    matrix.loc[0] = np.nan
    return matrix


@dataclass(frozen=True)
class SuperVipStatements:
    """How many buyers are super-VIPs, the share of value they hold, and the registered non-buyers."""

    super_vips: Stated
    share_of_buyers: Stated
    share_of_value: Stated
    potential_fans: Stated


def super_vip_statements(cv: CustomerValue, figures: ValueFigures) -> SuperVipStatements:
    """Super-VIP and potential-fan statements from a customer-value result and its aggregates."""
    vt = figures.value_tiers.set_index("value_tier")
    n = float(vt.loc["super_vip", "n"])
    end = cv.as_of + pd.DateOffset(months=cv.horizon_months)
    return SuperVipStatements(
        Stated(n, "persons", "buyers in the super-VIP value tier (top 5% by expected value)", None, cv.as_of),
        Stated(n / figures.buyers if figures.buyers else float("nan"), "share", "super-VIPs / buyers", None,
               cv.as_of),
        Stated(float(vt.loc["super_vip", "share"]), "share", "super-VIPs' share of the expected value", cv.as_of, end),
        Stated(float(figures.potential_fans), "persons",
               "registered customers with no order before as-of (潜力粉)", None, cv.as_of))


def tiers_sentence(s: SuperVipStatements, lang: str) -> str:
    """The sentence on value tiers: super-VIPs, their share of buyers and value, potential fans."""
    return t("clv.finding_tiers", lang, n=s.super_vips.text(), share_n=s.share_of_buyers.text(),
             share_v=s.share_of_value.text(), potential=s.potential_fans.text())


@dataclass(frozen=True)
class HoldoutCheck:
    """BG/NBD refitted on the weeks before a holdout and compared with the holdout's purchases.

    ``by_frequency`` (mean holdout purchases by calibration frequency: actual, predicted, naive),
    ``period_counts`` (customers by calibration repeat purchases: actual, expected) and
    ``cumulative`` (cumulative repeat purchases, actual and expected, by week) feed the charts;
    ``calibration_week`` marks the holdout start on the cumulative chart.
    """

    predicted: Stated
    actual: Stated
    naive: Stated
    total_error: Stated
    model_mae: Stated
    naive_mae: Stated
    by_frequency: pd.DataFrame
    period_counts: pd.DataFrame
    cumulative: pd.DataFrame
    calibration_week: float


def holdout_check(wb: Any, as_of: Any, holdout_weeks: int, exclude_experiment_orders: bool = False) -> HoldoutCheck:
    """Fit BG/NBD on purchases up to ``holdout_weeks`` before ``as_of`` and predict the holdout."""
    from ..clv import BetaGeoFitter, rfm_summary
    from ..clv.validation import calibration_holdout_comparison, expected_vs_actual_cumulative, period_transactions
    from ..engine import to_timestamp

    as_of = to_timestamp(as_of, "as_of")
    last_day = as_of - pd.Timedelta(days=1)
    cal_end = (as_of - pd.Timedelta(weeks=holdout_weeks) - pd.Timedelta(days=1)).normalize()
    cal = rfm_summary(wb, calibration_end=cal_end, observation_end=last_day, collapsed=True,
                      exclude_experiment_orders=exclude_experiment_orders)
    model = BetaGeoFitter().fit(cal["frequency"], cal["recency"], cal["T"], weights=cal["weight"])
    table, fit = calibration_holdout_comparison(model, cal)
    cum = expected_vs_actual_cumulative(model, wb, observation_end=last_day, calibration_end=cal_end,
                                        exclude_experiment_orders=exclude_experiment_orders)
    start = cal_end + pd.Timedelta(days=1)
    what = "repeat purchase days in the holdout of buyers who first bought before it"
    return HoldoutCheck(
        predicted=Stated(float(fit["predicted_total"]), "count", f"BG/NBD expected {what}", start, as_of),
        actual=Stated(float(fit["actual_total"]), "count", f"observed {what}", start, as_of),
        naive=Stated(float(fit["naive_total"]), "count", f"{what}, at each buyer's past rate", start, as_of),
        total_error=Stated(float(fit["model_total_error"]), "relative", "(predicted − actual) / actual", start, as_of),
        model_mae=Stated(float(fit["model_mae"]), "number", "mean absolute error per customer, model", start, as_of),
        naive_mae=Stated(float(fit["naive_mae"]), "number", "mean absolute error per customer, naive", start, as_of),
        by_frequency=table, period_counts=period_transactions(model, cal), cumulative=cum.table,
        calibration_week=float(cum.calibration_period))


def holdout_sentence(h: HoldoutCheck, weeks: int, lang: str) -> str:
    """The sentence on the holdout check: predicted vs actual, and the model against the naive forecast."""
    return t("clv.finding_fit", lang, weeks=weeks, pred=h.predicted.text(), actual=h.actual.text(),
             err=h.total_error.text(), naive=h.naive.text(), mae=h.model_mae.text(), naive_mae=h.naive_mae.text())


# ---------------------------------------------------------------------------- covariate effects
#: engine table of the buyers the covariate model sees: the value models' own (same as-of date and options), so
#: after :func:`~workbench.clv.pipeline.customer_value` it is read as it stands instead of being summarised again
COVARIATE_BUYERS_TABLE = RFM_TABLE
#: the covariates HQ asks about: how the customer was acquired, and where they shop
CLV_COVARIATES = ("channel_group", "region")
#: groups with fewer buyers are pooled as ``other``: too few to estimate an effect on drop-out
COVARIATE_MIN_BUYERS = 200


@dataclass(frozen=True)
class CovariateFinding:
    """One level's effect against its covariate's reference level, as multipliers with 95% intervals.

    ``purchase``: factor on the purchase rate while active; ``dropout``: factor on the rate of
    dropping out (Pareto/NBD with time-invariant covariates); ``p_purchase``, ``p_dropout``
    their Wald p-values. ``clear``: the level differs from the reference in at least one of
    the two after Holm's correction over every comparison the page puts in words (levels
    other than ``unknown`` and ``other``), so the sentences keep a 5% family-wise error.
    """

    covariate: str
    level: str
    reference: str
    buyers: int
    purchase: Stated
    dropout: Stated
    p_purchase: float
    p_dropout: float
    clear: bool


@dataclass(frozen=True)
class CovariateEffects:
    """Pareto/NBD with acquisition channel group and store region as covariates.

    ``findings`` per non-reference level; ``table`` (technical appendix) every coefficient
    with its standard error and interval; ``buyers`` modelled; ``log_likelihood`` and
    ``lr_statistic`` (twice the gain over the model without covariates, on ``df`` degrees of
    freedom) with its ``p_value``.
    """

    findings: tuple[CovariateFinding, ...]
    references: dict[str, str]
    table: pd.DataFrame
    buyers: int
    log_likelihood: float
    lr_statistic: float
    df: int
    p_value: float
    as_of: pd.Timestamp


#: pooled or unknown groups: in the appendix table, never in words
UNSTATED_LEVELS = ("unknown", "other")


def holm(p_values: dict[Any, float], alpha: float = 0.05) -> dict[Any, bool]:
    """Holm's step-down rejections at family-wise level ``alpha``.

    >>> holm({"a": 0.001, "b": 0.02, "c": 0.04})
    {'a': True, 'b': True, 'c': True}
    >>> holm({"a": 0.001, "b": 0.03, "c": 0.04})
    {'a': True, 'b': False, 'c': False}
    """
    order = sorted(p_values, key=lambda k: p_values[k])
    out, m, going = {}, len(order), True
    for i, key in enumerate(order):
        going = going and p_values[key] <= alpha / (m - i)
        out[key] = going
    return {k: out[k] for k in p_values}


def covariate_rows_sql(wb: Any, buyers: str, as_of: pd.Timestamp, min_buyers: int) -> str:
    """Buyers collapsed by (frequency, recency, age, channel group, region) with counts.

    Channel group: of the customer's acquisition channel, their first ``add`` in the brand
    (:func:`~workbench.relations.first_adds`: ties at one second to the lower staff id), when
    it was before ``as_of``; region: of the customer's main store
    (:func:`~workbench.clv.pipeline.main_stores`). Both relations are kept once per workbench (the
    first adds in the persisted layer). Missing ones are ``unknown``; levels with fewer than
    ``min_buyers`` buyers are pooled as ``other``.
    """
    from ..relations import first_adds

    raw = f"""
        SELECT b.frequency, b.recency_days, b.age_days,
               COALESCE(f.channel_group, 'unknown') AS channel_group, COALESCE(st.region, 'unknown') AS region
        FROM {quote(buyers)} b
        LEFT JOIN ({first_adds(wb)}) f ON f.customer_id = b.customer_id AND f.first_add_time < {literal(as_of)}
        LEFT JOIN ({main_stores(wb, as_of)}) m ON m.customer_id = b.customer_id
        LEFT JOIN stores st ON st.store_id = m.store_id"""
    pooled = ", ".join(
        f"CASE WHEN COUNT(*) OVER (PARTITION BY {c}) < {literal(int(min_buyers))} THEN 'other' ELSE {c} END AS {c}"
        for c in CLV_COVARIATES)
    return f"""
        SELECT frequency, recency_days, age_days, channel_group, region, COUNT(*) AS weight
        FROM (SELECT frequency, recency_days, age_days, {pooled} FROM ({raw}) r) p
        GROUP BY frequency, recency_days, age_days, channel_group, region
        ORDER BY frequency, recency_days, age_days, channel_group, region"""


def covariate_effects(wb: Any, cv: CustomerValue, min_buyers: int = COVARIATE_MIN_BUYERS) -> CovariateEffects | None:
    """Fit Pareto/NBD with acquisition channel group and store region on the buyers of ``cv``.

    The buyers and orders are those of the value models (same ``as_of``, spend basis and
    experiment-order choice); ages and recencies in weeks. ``None`` when the workbench lacks
    contact events, channels or stores, or when no covariate has two levels.
    """
    if not all(wb.has_table(n) for n in ("contact_events", "channels", "stores")):
        return None
    exclude = bool(cv.orders_seen.exclude_experiment_orders) if cv.orders_seen else False
    summarise_buyers(wb, cv.as_of, COVARIATE_BUYERS_TABLE, exclude_experiment_orders=exclude, spend=cv.spend)
    rows = wb.query(covariate_rows_sql(wb, COVARIATE_BUYERS_TABLE, cv.as_of, min_buyers))
    used = [c for c in CLV_COVARIATES if rows[c].nunique() > 1]
    if not used:
        return None
    cov = rows[used].astype(str)
    # each covariate against its most common level among the buyers (ties: the first in order)
    references = {c: str(rows["weight"].groupby(cov[c]).sum().sort_index().idxmax()) for c in used}
    weeks = (rows["frequency"], rows["recency_days"] / 7.0, rows["age_days"] / 7.0)
    model = ParetoNBDCovariatesFitter().fit(*weeks, cov, cov, weights=rows["weight"], reference=references)
    by_name = {(e.process, e.covariate): e for e in model.effects()}
    worded = [n for n in model.purchase_names_ if n.partition("=")[2] not in UNSTATED_LEVELS]
    clear = holm({(p, n): by_name[(p, n)].p_value for n in worded for p in ("purchase", "dropout")})
    findings = []
    for name in model.purchase_names_:
        c, _, level = name.partition("=")
        n = int(rows.loc[cov[c] == level, "weight"].sum())
        stated = {}
        for process, what in (("purchase", "purchase rate while active"), ("dropout", "rate of dropping out")):
            e = by_name[(process, name)]
            stated[process] = Stated(e.multiplier, "ratio", f"{what} of buyers with {c} = {level} relative to "
                                     f"{references[c]}, Pareto/NBD with covariates; 95% Wald interval",
                                     None, cv.as_of, e.multiplier_low, e.multiplier_high)
        findings.append(CovariateFinding(c, level, references[c], n, stated["purchase"], stated["dropout"],
                                         by_name[("purchase", name)].p_value, by_name[("dropout", name)].p_value,
                                         clear.get(("purchase", name), False) or clear.get(("dropout", name), False)))
    lr = 2 * (model.log_likelihood_ - model.base_model_.log_likelihood_)
    df = len(model.params_) - 4
    table = model.summary.rename_axis("parameter").reset_index()
    return CovariateEffects(tuple(findings), references, table, int(model.n_customers_), model.log_likelihood_,
                            float(lr), df, float(stats.chi2.sf(max(lr, 0.0), df)), cv.as_of)


def level_label(covariate: str, level: str, lang: str) -> str:
    """A group's name for the page: translated channel groups; other levels as they are, Markdown-escaped."""
    from ..plotting import escape_markdown

    key = f"{covariate}.{level}"
    return t(key, lang) if has_key(key) else escape_markdown(level)


def covariate_intro(ce: CovariateEffects, lang: str) -> str:
    """What the covariate model is, on how many buyers, and the reference group of each covariate."""
    from ..plotting import format_int

    sep = "；" if lang == "zh" else "; "
    refs = sep.join(level_label(c, r, lang) for c, r in ce.references.items())
    return t("clv.cov_intro", lang, buyers=format_int(ce.buyers), references=refs)


def covariate_sentences(ce: CovariateEffects, lang: str) -> list[str]:
    """One sentence per level the data tell from its reference; one 'no clear difference' sentence otherwise."""
    out = []
    for f in ce.findings:
        if not f.clear or f.level in UNSTATED_LEVELS:
            continue
        out.append(t(f"clv.cov_finding_{f.covariate}", lang, level=level_label(f.covariate, f.level, lang),
                     reference=level_label(f.covariate, f.reference, lang), buy=f.purchase.text(),
                     buy_ci=f.purchase.ci_text(), leave=f.dropout.text(), leave_ci=f.dropout.ci_text()))
    if not out:
        out.append(t("clv.cov_none", lang))
    return out


# ---------------------------------------------------------------------------- the whole page, once per snapshot
@dataclass(frozen=True)
class ClvPage:
    """Everything the CLV page states or draws, in no language: the notebook lays it out in ``lang``.

    ``statements`` (headline numbers), ``vip`` (super-VIPs and potential fans), ``figures`` (the
    customer table's aggregates: deciles, histogram, tier tables, stores at risk), ``fan_thresholds``
    (the fan-tier cut-offs), ``holdout`` (the model check), ``alive`` (P(alive) by repeat purchases ×
    recency for customers of age ``alive_weeks``; recency labels as text) and ``covariates`` (None
    without contact events, channels and stores).
    """

    statements: ClvStatements
    vip: SuperVipStatements
    figures: ValueFigures
    fan_thresholds: FanTierThresholds | None
    holdout: HoldoutCheck
    alive: pd.DataFrame
    alive_weeks: int
    covariates: CovariateEffects | None


def clv_page(wb: Any, as_of: Any, horizon_months: int = 12, discount_rate: float = 0.01, holdout_weeks: int = 13,
             at_risk_threshold: float = 0.5, exclude_experiment_orders: bool = True, spend: str = "net",
             interval_draws: int = 100, alive_weeks: int = 26) -> ClvPage:
    """Compute the CLV page: models, aggregates, model check and covariate effects, kept beside a current layer.

    The report's kernels of one batch (zh and en) share it: the first computes, the others read it
    (:func:`~workbench.engine.memo.memoised_result`). Nothing per customer leaves the engine:
    the value of every customer stays in the engine table
    :data:`~workbench.clv.customer_table.CUSTOMER_TABLE` and only its aggregates are read.
    """
    from ..engine import to_timestamp
    from ..engine.memo import memoised_result

    at = to_timestamp(as_of, "as_of")
    params = (at, int(horizon_months), float(discount_rate), int(holdout_weeks), float(at_risk_threshold),
              bool(exclude_experiment_orders), spend, int(interval_draws), int(alive_weeks))

    def compute() -> ClvPage:
        cv = customer_value(wb, at, horizon_months=horizon_months, discount_rate=discount_rate,
                            interval_draws=interval_draws, exclude_experiment_orders=exclude_experiment_orders,
                            spend=spend, frame=False)
        figures = value_figures(wb, cv.fan_thresholds, at_risk_threshold, cv.table)
        alive = alive_matrix(cv.transaction_model, alive_weeks, max_frequency=12, n_recency=13)
        alive.columns = alive.columns.map(str)   # kept as Parquet: text labels, as the chart shows them
        return ClvPage(clv_statements(cv, figures), super_vip_statements(cv, figures), figures, cv.fan_thresholds,
                       holdout_check(wb, at, holdout_weeks, exclude_experiment_orders), alive, int(alive_weeks),
                       covariate_effects(wb, cv))

    return memoised_result(wb, "clv.page", params, compute)
