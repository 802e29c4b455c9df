"""What the churn report states.

What the churn report states: every number with its unit, period and definition, and the
sentences chosen from those numbers.

The notebook ``churn_report.ipynb`` only lays these out. "Last month" is the last complete
calendar month before as-of (:func:`~workbench.pages.last_complete_month`): the callout and
the chart under it read the same row of :attr:`MonthlyLosses.monthly`.
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine import Workbench, literal, to_timestamp
from ..engine.memo import memoised
from ..i18n import t
from ._base import Stated, Verdict, effect_verdict, last_complete_month

_LOSS_COLUMNS = {
    "deletes": "relationships ended by a delete of either side (contact_events delete_by_customer or "
               "delete_by_staff), person-times",
    "deletes_by_customer": "relationships ended by the customer deleting the guide (contact_events "
                           "delete_by_customer), person-times",
    "deletes_by_staff": "relationships ended by the guide deleting the customer (contact_events delete_by_staff), "
                        "person-times",
    "group_leaves": "group leaves (group_events leave), person-times",
}


@dataclass(frozen=True)
class MonthlyLosses:
    """Losses of the last complete month and the complete months before it (the chart).

    ``monthly`` has one row per complete calendar month (``period`` = first day), oldest first,
    ending with the month the three ``Stated`` values describe.
    """

    deletes: Stated
    deletes_by_customer: Stated
    deletes_by_staff: Stated
    group_leaves: Stated
    monthly: pd.DataFrame

    @property
    def month_start(self) -> pd.Timestamp:
        """First day of the month stated."""
        return self.deletes_by_customer.start

    def month_label(self) -> str:
        """``YYYY-MM`` of the month stated (the month a "last month" sentence means)."""
        return f"{self.month_start:%Y-%m}"


def monthly_losses(wb: Workbench, as_of: Any, months: int = 12) -> MonthlyLosses:
    """Deletes by reason and group leaves per complete calendar month before ``as_of``.

    The last row is the last complete month (as-of 2026-01-01 or 2026-01-15 → December 2025);
    a month still running at as-of is left out of the chart as well, so the bars and the
    sentence about "last month" show the same numbers.
    """
    from .. import metrics  # the metric definitions live there; the page only picks periods

    as_of = to_timestamp(as_of, "as_of")
    if months < 1:
        raise ValueError("months must be at least 1")
    start, end = last_complete_month(as_of)
    first = start - pd.DateOffset(months=months - 1)
    los = metrics.losses(wb, first, end, grain="month")
    los["period"] = pd.to_datetime(los["period"])
    grid = pd.DataFrame({"period": pd.date_range(first, start, freq="MS")})
    los = grid.merge(los, on="period", how="left")
    for col in _LOSS_COLUMNS:
        los[col] = (los[col] if col in los else pd.Series(0, index=los.index)).fillna(0).astype(int)
    last = los.iloc[-1]
    stated = {col: Stated(float(last[col]), "person_times", definition, start, end)
              for col, definition in _LOSS_COLUMNS.items()}
    return MonthlyLosses(monthly=los.reset_index(drop=True), **stated)


def losses_sentence(losses: MonthlyLosses, lang: str) -> str:
    """The "last month" callout, naming the month it means."""
    return t("churn.finding_reasons", lang, month=losses.month_label(), cust=losses.deletes_by_customer.text(),
             staff=losses.deletes_by_staff.text(), leaves=losses.group_leaves.text())


# --------------------------------------------------------------------------- headline numbers
@dataclass(frozen=True)
class SurvivalKpis:
    """Headline numbers of the contact-lifetime curves (all relationships, Kaplan–Meier)."""

    open_relationships: Stated
    median_days: Stated          # NaN when half of the relationships have not ended yet
    longest_days: Stated         # the longest follow-up, for "beyond N days"
    still_connected_30d: Stated
    still_connected_90d: Stated


def survival_kpis(spells: pd.DataFrame, km_row: pd.Series, as_of: Any) -> SurvivalKpis:
    """KPI statements of the churn page.

    KPI statements from :func:`~workbench.churn.spells.spell_counts` rows (``weight``) and the
    brand row of :func:`~workbench.churn.kaplan_meier_table`.
    """
    as_of = to_timestamp(as_of, "as_of")
    open_n = float(spells["open_weight"].sum())
    km = "Kaplan–Meier estimate over all customer–guide relationships, deletes by either side as events, " \
         "relationships still open, moved to another guide or closed when the guide left censored at that time"
    return SurvivalKpis(
        open_relationships=Stated(open_n, "count", "customer–guide relationships open at as-of", None, as_of),
        median_days=Stated(float(km_row["median_days"]), "days", "median relationship lifetime; " + km),
        longest_days=Stated(float(spells["duration_days"].max()), "days", "longest observed relationship"),
        still_connected_30d=Stated(float(km_row["s30"]), "share", "share still connected 30 days after the add; " + km,
                                   ci_low=_opt(km_row, "s30_low"), ci_high=_opt(km_row, "s30_high")),
        still_connected_90d=Stated(float(km_row["s90"]), "share", "share still connected 90 days after the add; " + km,
                                   ci_low=_opt(km_row, "s90_low"), ci_high=_opt(km_row, "s90_high")),
    )


def _opt(row: pd.Series, key: str) -> float | None:
    return float(row[key]) if key in row and pd.notna(row[key]) else None


def median_text(kpis: SurvivalKpis, lang: str) -> str:
    """"285 days", or "beyond 365 days" when the median is not reached."""
    if math.isfinite(kpis.median_days.value):
        return t("churn.days", lang, n=kpis.median_days.text())
    return t("churn.beyond", lang, n=kpis.longest_days.text())


# --------------------------------------------------------------------------- tests and models
@dataclass(frozen=True)
class GroupDifference:
    """A log-rank test across groups: the sentence depends on ``p_value`` against ``alpha``."""

    statistic: float
    degrees_of_freedom: int
    p_value: float
    alpha: float = 0.05

    @property
    def differs(self) -> bool:
        """Whether the p-value is below ``alpha``."""
        return self.p_value < self.alpha


def group_difference(logrank: pd.DataFrame, alpha: float = 0.05) -> GroupDifference:
    """From the one-row :func:`~workbench.churn.logrank_table` result."""
    row = logrank.iloc[0]
    return GroupDifference(float(row["test_statistic"]), int(row["degrees_of_freedom"]), float(row["p_value"]), alpha)


def group_difference_sentence(test: GroupDifference, lang: str) -> str:
    """The sentence for the log-rank test between groups."""
    from ..plotting import format_p

    return t("churn.logrank" if test.differs else "churn.logrank_same", lang, p=format_p(test.p_value))


@dataclass(frozen=True)
class HazardRatio:
    """One Cox hazard ratio as stated on the page.

    One Cox hazard ratio with its 95% interval and the verdict the interval supports
    (an interval covering 1 is "not distinguishable" from no effect).
    """

    covariate: str
    hazard_ratio: Stated
    verdict: Verdict

    @property
    def change_text(self) -> str:
        """The hazard change in percent, signed ("-12.4%")."""
        return _pct_change(self.hazard_ratio.value)


def _pct_change(hr: float) -> str:
    from ..plotting import format_pct

    return format_pct(hr - 1, signed=True)


def hazard_ratios(cox: Any, landmark_days: int) -> dict[str, HazardRatio]:
    """Every hazard ratio of a fitted Cox model (``cox.hazard_ratios``), keyed by covariate name."""
    out = {}
    for _, row in cox.hazard_ratios.iterrows():
        lo, hi = float(row["hr_low"]), float(row["hr_high"])
        verdict = effect_verdict(math.log(lo), math.log(hi))
        out[str(row["covariate"])] = HazardRatio(
            str(row["covariate"]),
            Stated(float(row["hr"]), "ratio", f"Cox hazard ratio of deletion for {row['covariate']}, relationships "
                   f"still open at day {landmark_days}, from that day on (landmark)", ci_low=lo, ci_high=hi),
            verdict)
    return out


def hazard_sentence(hr: HazardRatio, label: str, lang: str) -> str:
    """The sentence for one hazard ratio.

    "<label> lowers / raises the deletion hazard by x% (95% CI …)", or "is not distinguishable
    from no effect", chosen from the interval.
    """
    key = {Verdict.NEGATIVE: "churn.hr_lower", Verdict.POSITIVE: "churn.hr_higher"}.get(
        hr.verdict, "churn.hr_not_distinguishable")
    s = hr.hazard_ratio
    return t(key, lang, label=label, change=hr.change_text, low=_pct_change(s.ci_low), high=_pct_change(s.ci_high))



@dataclass(frozen=True)
class ToolLossRates:
    """Customer deletions with and without a retention tool.

    Share of exposed relationships deleted by customers, in stores using a retention tool on
    more than half of their days vs the others, over ``[start, end)``.
    """

    with_tool: Stated
    without_tool: Stated


def tool_loss_rates(per_store: pd.DataFrame, start: Any, end: Any) -> ToolLossRates:
    """Retention-tool statements from per-store rows.

    From :func:`~workbench.metrics.retention_tools_vs_churn` per-store rows (``usage``,
    ``customer_deletes``, ``exposed``).
    """
    start, end = to_timestamp(start, "start"), to_timestamp(end, "end")
    uses = per_store["usage"] > 0.5

    def rate(rows: pd.DataFrame) -> float:
        exposed = float(rows["exposed"].sum())
        return float(rows["customer_deletes"].sum()) / exposed if exposed > 0 else float("nan")

    definition = "relationships deleted by the customer / relationships exposed, stores {} a retention tool"
    return ToolLossRates(Stated(rate(per_store[uses]), "share", definition.format("using"), start, end),
                         Stated(rate(per_store[~uses]), "share", definition.format("not using"), start, end))


#: reference levels of the deletion Cox model (hazard ratios are against these)
COX_REFERENCE = {"channel_group": "offline_store", "group_member": 0, "bought_by_landmark": 0, "uses_retention_tool": 0}


@dataclass(frozen=True)
class DeletionCox:
    """What the page states of its Cox model of deletion: the hazard-ratio table and the PH check.

    ``hazard_ratios`` has the columns of :attr:`~workbench.churn.SpellCoxFitter.hazard_ratios`
    (``covariate``, ``coef``, ``se``, ``hr``, ``hr_low``, ``hr_high``, ``p``); ``ph_test`` those of
    its proportional-hazards check (``covariate``, ``test_statistic``, ``p``; ``note`` when the
    check failed), or None without one. The numbers of the model, not the model: they are kept
    beside the layer, so the page's other language reads them.
    """

    hazard_ratios: pd.DataFrame
    ph_test: pd.DataFrame | None


def fit_deletion_cox(wb: Workbench, as_of: Any, landmark_days: int) -> tuple[DeletionCox, dict[str, HazardRatio]]:
    """Fit the churn report's Cox model of deletion.

    The report's Cox model of deletion: relationships still open at ``landmark_days``, from that
    day on, by channel group, group membership and purchase by the landmark, the store's retention
    tool (when ``stores.uses_retention_tool`` exists) and early 1:1 chats. Returns its hazard-ratio
    table and proportional-hazards check (:class:`DeletionCox`) and its :func:`hazard_ratios`.

    The two tables are kept beside a current layer (:func:`~workbench.engine.memo.memoised`); the
    fit runs at most once per call, and not at all when both are kept.
    """
    as_of = to_timestamp(as_of, "as_of")
    params = (as_of, float(landmark_days))
    fitted: dict[str, Any] = {}

    def fit() -> Any:
        if not fitted:
            fitted["cox"] = _deletion_cox(wb, as_of, landmark_days)
        return fitted["cox"]

    hr = memoised(wb, "churn.cox_hazard_ratios", params, lambda: fit().hazard_ratios)
    ph = memoised(wb, "churn.cox_ph_test", params, lambda: pd.DataFrame() if fit().ph_test is None
                  else fit().ph_test)
    cox = DeletionCox(hr, None if ph.columns.empty else ph)
    return cox, hazard_ratios(cox, landmark_days)


def _deletion_cox(wb: Workbench, as_of: pd.Timestamp, landmark_days: int) -> Any:
    """The fitted :class:`~workbench.churn.SpellCoxFitter` behind :func:`fit_deletion_cox`."""
    from ..churn import fit_cox, landmark

    categorical = _cox_categorical(wb, as_of, landmark_days)
    rows = landmark(spell_rows(wb, as_of, [*categorical, "early_chats"], landmark_days), landmark_days)
    return fit_cox(rows, categorical=categorical, numeric=["early_chats"], duration_resolution=1.0,
                   weights_col="weight", reference=COX_REFERENCE)


def _cox_categorical(wb: Workbench, as_of: pd.Timestamp, landmark_days: float) -> list[str]:
    from ..churn.spells import spell_columns

    return ["channel_group", "group_member", "bought_by_landmark"] + \
        (["uses_retention_tool"] if "uses_retention_tool" in spell_columns(wb, as_of, landmark_days) else [])


# --------------------------------------------------------------------------- kept beside the layer
def spell_rows(wb: Workbench, as_of: Any, by: Sequence[str], landmark_days: float = 14.0) -> pd.DataFrame:
    """The page's collapsed spells: :func:`~workbench.churn.spells.spell_counts` kept beside the layer.

    A few thousand weighted rows (covariates, whole-day duration, churned, ``weight``,
    ``open_weight``; no customer ids), the same in every language: the page's other language
    reads them (:func:`~workbench.engine.memo.memoised`). The page's four lists (by channel, by
    cohort, the Cox model's and the risk model's covariates) are collapsed together
    (:func:`~workbench.churn.spells.spell_counts_sets`: the spells are grouped twice, not four
    times) the first time one of them is asked for.
    """
    from ..churn.spells import spell_counts

    at = to_timestamp(as_of, "as_of")
    by = list(by)

    def compute() -> pd.DataFrame:
        sets = _page_sets(wb, at, landmark_days)
        if by not in sets:
            return spell_counts(wb, at, by=by, landmark_days=landmark_days)
        return _page_spell_rows(wb, at, landmark_days, sets)[sets.index(by)].copy()

    return memoised(wb, "churn.spell_counts", (at, ",".join(by), float(landmark_days)), compute)


def _page_sets(wb: Workbench, at: pd.Timestamp, landmark_days: float) -> list[list[str]]:
    """The ``by`` lists the page reads: channel, cohort, the Cox model's and the risk model's covariates."""
    from ..churn.risk import model_covariates

    return [["channel_group"], ["cohort"], [*_cox_categorical(wb, at, landmark_days), "early_chats"],
            model_covariates(wb, at, landmark_days)]


_SPELL_SETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _page_spell_rows(wb: Workbench, at: pd.Timestamp, landmark_days: float,
                     sets: list[list[str]]) -> list[pd.DataFrame]:
    """The page's lists collapsed together, once per workbench, its tables and these arguments."""
    from ..churn.spells import spell_counts_sets

    key = (at, float(landmark_days), tuple(map(tuple, sets)),
           tuple(id(v) for v in getattr(wb, "_sources", {}).values()))
    kept = _SPELL_SETS.setdefault(wb, {})
    if key not in kept:
        kept.clear()       # another as-of or another table: the earlier frames are not read again
        kept[key] = spell_counts_sets(wb, at, sets, landmark_days)
    return kept[key]


def retention_tool_rows(wb: Workbench, start: Any, end: Any) -> pd.DataFrame:
    """Per store over ``[start, end)``: ``exposed``, ``customer_deletes`` and tool ``usage``.

    The rows :func:`tool_loss_rates` reads, as
    :func:`~workbench.metrics.retention_tools_vs_churn` gives them (``store_id``, ``exposed``,
    ``customer_deletes``, ``usage``), kept beside the layer. When ``stores.uses_retention_tool``
    exists the usage is that flag, so the staff touches of the window (the metric's ``touched``
    column, its usage measure without a flag) are not read.
    """
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    return memoised(wb, "churn.tool_rows", (s, e), lambda: _tool_rows(wb, s, e))


_TOOL_COLUMNS = ["store_id", "exposed", "customer_deletes", "usage"]


def _tool_rows(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp) -> pd.DataFrame:
    from .. import metrics
    from ..relations import contact_intervals, staff_dims

    if not (wb.has_table("stores") and "uses_retention_tool" in wb.columns("stores")):
        return metrics.retention_tools_vs_churn(wb, s, e)[0][_TOOL_COLUMNS]
    # metrics.store_churn's exposed relationships and customer deletes per store, without its touches
    per_store = wb.query(f"""
        SELECT sd.store_id, COUNT(*) AS exposed,
               SUM(CASE WHEN iv.end_type = 'delete_by_customer' AND iv.end_time < {literal(e)}
                   THEN 1 ELSE 0 END) AS customer_deletes
        FROM ({contact_intervals(wb)}) iv LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = iv.staff_id
        WHERE iv.start_time < {literal(e)} AND (iv.end_time IS NULL OR iv.end_time >= {literal(s)})
          AND sd.store_id IS NOT NULL
        GROUP BY sd.store_id ORDER BY sd.store_id""")
    stores = wb.frame("stores")[["store_id", "uses_retention_tool"]]
    per_store = per_store.merge(stores, on="store_id", how="left")
    per_store["usage"] = per_store["uses_retention_tool"].astype(float)
    return per_store[_TOOL_COLUMNS]


def at_risk_rows(wb: Workbench, as_of: Any, horizon_days: float = 30.0, risk_threshold: float = 0.1,
                 landmark_days: float = 14.0) -> pd.DataFrame:
    """:func:`~workbench.churn.risk.at_risk_by` per store, kept beside the layer.

    Per ``store_id`` (ids, not names: :func:`~workbench.pages.names.with_store_names` names them
    when shown): ``open_relationships``, ``at_risk``, ``expected_deletions``, ``value_at_risk``.
    """
    from ..churn.risk import at_risk_by, model_covariates

    at = to_timestamp(as_of, "as_of")
    return memoised(wb, "churn.at_risk_by_store", (at, float(horizon_days), float(risk_threshold),
                                                    float(landmark_days)),
                    lambda: at_risk_by(wb, at, "store_id", horizon_days=horizon_days, risk_threshold=risk_threshold,
                                       landmark_days=landmark_days,
                                       rows=spell_rows(wb, at, model_covariates(wb, at, landmark_days),
                                                       landmark_days)))


@dataclass(frozen=True)
class CohortComparison:
    """30-day retention of the newest and the oldest complete monthly cohort shown."""

    newest: str
    newest_s30: Stated
    oldest: str
    oldest_s30: Stated
    difference: Stated       # newest − oldest, percentage points, approximate 95% interval
    verdict: Verdict


def cohort_comparison(km_by_cohort: pd.DataFrame, as_of: Any) -> CohortComparison | None:
    """Compare the latest complete cohort with the earliest.

    From :func:`~workbench.churn.kaplan_meier_table` by ``cohort`` (``YYYY-MM``): a cohort is
    complete when all its adds have had 30 days of follow-up before ``as_of``; None with fewer
    than two complete cohorts.
    """
    as_of = to_timestamp(as_of, "as_of")
    ck = km_by_cohort.sort_values("cohort")
    starts = pd.to_datetime(ck["cohort"])
    full = ck[starts + pd.DateOffset(months=1) + pd.Timedelta(days=30) <= as_of]
    if len(full) < 2:
        return None

    def s30(row: pd.Series) -> Stated:
        start = pd.Timestamp(row["cohort"])
        return Stated(float(row["s30"]), "share", "share of the cohort's relationships still connected 30 days "
                      "after the add (Kaplan–Meier)", start, start + pd.DateOffset(months=1),
                      _opt(row, "s30_low"), _opt(row, "s30_high"))

    new, old = s30(full.iloc[-1]), s30(full.iloc[0])
    diff = _difference(new, old)
    return CohortComparison(str(full["cohort"].iloc[-1]), new, str(full["cohort"].iloc[0]), old, diff,
                            effect_verdict(diff.ci_low, diff.ci_high) if diff.ci_low is not None
                            else Verdict.NOT_DISTINGUISHABLE)


def _difference(new: Stated, old: Stated) -> Stated:
    """Difference of two independent estimates with its interval.

    New − old with a normal-approximation 95% interval from each estimate's own interval
    (half-width / 1.96 as its standard error; the cohorts are independent).
    """
    value = new.value - old.value
    definition = "difference of two cohorts' 30-day retention, percentage points"
    if None in (new.ci_low, new.ci_high, old.ci_low, old.ci_high):
        return Stated(value, "pp", definition)
    se = math.hypot((new.ci_high - new.ci_low) / (2 * 1.96), (old.ci_high - old.ci_low) / (2 * 1.96))
    return Stated(value, "pp", definition, ci_low=value - 1.96 * se, ci_high=value + 1.96 * se)


def cohort_sentence(c: CohortComparison, lang: str) -> str:
    """The cohort finding, with whether the two cohorts are distinguishable."""
    first = t("churn.finding_cohorts", lang, new=c.newest, new_s30=c.newest_s30.text(), old=c.oldest,
              old_s30=c.oldest_s30.text())
    key = {Verdict.POSITIVE: "churn.cohort_better", Verdict.NEGATIVE: "churn.cohort_worse"}.get(
        c.verdict, "churn.cohort_same")
    return first + " " + t(key, lang, diff=c.difference.text(), low=c.difference.ci_text().split(" – ")[0],
                           high=c.difference.ci_text().split(" – ")[-1])


def recent_cohorts(cohorts: Any, as_of: Any, n: int) -> list[str]:
    """The last ``n`` complete monthly cohorts.

    The last ``n`` monthly cohorts (``YYYY-MM``) of complete calendar months before ``as_of``
    (a month still running at as-of is not a cohort yet).

    >>> recent_cohorts(["2025-10", "2025-11", "2025-12", "2026-01"], "2026-01-15", 2)
    ['2025-11', '2025-12']
    >>> recent_cohorts(["2025-10", "2025-11", "2025-12"], "2026-01-01", 2)
    ['2025-11', '2025-12']
    """
    _, end = last_complete_month(as_of)
    done = sorted(str(c) for c in set(cohorts) if pd.notna(c) and pd.Timestamp(str(c)) < end)
    return done[-int(n):] if n > 0 else []


@dataclass(frozen=True)
class AtRiskTotals:
    """Brand totals of the at-risk table (:func:`~workbench.churn.risk.at_risk_by`) over the next ``days``."""

    open_relationships: Stated
    expected_deletions: Stated
    value_at_risk: Stated


def at_risk_totals(counts: pd.DataFrame, as_of: Any, days: int) -> AtRiskTotals:
    """Sum the per-store at-risk rows (every store, not only the rows shown)."""
    as_of = to_timestamp(as_of, "as_of")
    until = as_of + pd.Timedelta(days=int(days))
    return AtRiskTotals(
        Stated(float(counts["open_relationships"].sum()), "count", "customer–guide relationships open at as-of",
               None, as_of),
        Stated(float(counts["expected_deletions"].sum()), "count", "sum over open relationships of the Cox "
               f"probability of a delete within {days} days", as_of, until),
        Stated(float(counts["value_at_risk"].sum()), "cny", "expected customer value times the probability of a "
               f"delete within {days} days, summed", as_of, until))


@dataclass(frozen=True)
class ChannelExtremes:
    """The channel groups whose relationships last longest and shortest (90-day survival)."""

    best: str
    best_s90: Stated
    worst: str
    worst_s90: Stated


def channel_extremes(km_by_group: pd.DataFrame, group_col: str = "channel_label") -> ChannelExtremes | None:
    """The channel groups with the highest and the lowest 90-day retention.

    From :func:`~workbench.churn.kaplan_meier_table` by channel group; None with fewer than two
    groups that have a 90-day estimate.
    """
    ranked = km_by_group.dropna(subset=["s90"]).sort_values(["s90", group_col])
    if len(ranked) < 2:
        return None
    definition = "share of the group's relationships still connected 90 days after the add (Kaplan–Meier)"

    def s90(row: pd.Series) -> Stated:
        return Stated(float(row["s90"]), "share", definition, ci_low=_opt(row, "s90_low"),
                      ci_high=_opt(row, "s90_high"))

    return ChannelExtremes(str(ranked[group_col].iloc[-1]), s90(ranked.iloc[-1]), str(ranked[group_col].iloc[0]),
                           s90(ranked.iloc[0]))


# --------------------------------------------------------------------------- cohort value (sBG)
#: tenure the DERL sentence speaks about, and the yearly rate future months are discounted at
DERL_TENURE_MONTHS = 6
ANNUAL_DISCOUNT = 0.10


@dataclass(frozen=True)
class ResidualLifetime:
    """Discounted expected residual lifetime (DERL) of a relationship, from the cohort sBG model.

    ``new`` and ``stayed`` are expected further months connected (each month discounted at
    ``annual_discount`` a year, the coming one undiscounted) for a relationship just added and
    one that has lasted ``tenure_months``; ``elasticity`` the % change of ``stayed`` when every
    monthly retention rate rises by 1%. ``table`` (the appendix): ``months_stayed`` 0..12,
    ``derl_months``, ``elasticity``.
    """

    tenure_months: int
    annual_discount: float
    new: Stated
    stayed: Stated
    elasticity: Stated
    table: pd.DataFrame


def residual_lifetime(sbg: Any, tenure_months: int = DERL_TENURE_MONTHS, annual_discount: float = ANNUAL_DISCOUNT,
                      max_months: int = 12) -> ResidualLifetime:
    """DERL statements from a fitted monthly :class:`~workbench.churn.ShiftedBetaGeometricFitter`.

    Fader & Hardie (2010): a relationship that has lasted n months has renewed n times; the
    sBG model's sorting effect makes it worth more further months than a new one.

    >>> from workbench.churn import ShiftedBetaGeometricFitter
    >>> m = ShiftedBetaGeometricFitter().fit(survival=[100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1])
    >>> r = residual_lifetime(m)
    >>> r.new.text(), r.stayed.text()
    ('9.3', '27.9')
    """
    monthly = (1.0 + annual_discount) ** (1.0 / 12.0) - 1.0
    months = np.arange(0, max(max_months, tenure_months) + 1)
    values, elastic = sbg.derl(monthly, months), sbg.retention_elasticity(monthly, months)
    table = pd.DataFrame({"months_stayed": months, "derl_months": values, "elasticity": elastic})
    how = (f"expected further months connected, shifted-beta-geometric model of the monthly cohorts, each future "
           f"month discounted at {annual_discount:.0%} a year (Fader & Hardie 2010 DERL)")
    return ResidualLifetime(
        int(tenure_months), float(annual_discount),
        Stated(float(values[0]), "months", "relationship just added: " + how),
        Stated(float(values[tenure_months]), "months", f"relationship that has lasted {tenure_months} months: " + how),
        Stated(float(elastic[tenure_months]), "number", f"% change of the expected further months of a relationship "
               f"that has lasted {tenure_months} months when every monthly retention rate rises by 1%"),
        table)


def residual_lifetime_sentence(r: ResidualLifetime, lang: str) -> str:
    """"A relationship that has lasted 6 months is expected to last another N months, against M …"."""
    from ..plotting import format_pct

    return t("churn.finding_derl", lang, months=r.tenure_months, stayed=r.stayed.text(), new=r.new.text(),
             discount=format_pct(r.annual_discount, 0))


#: Fleming–Harrington weights shown in the appendix: plain, early, late, middle differences
FH_WEIGHTS = ((0, 0), (1, 0), (0, 1), (1, 1))


def weighted_logrank_rows(spells: pd.DataFrame, group_col: str, weights_col: str | None = "weight") -> pd.DataFrame:
    """Fleming–Harrington G(p, q) log-rank tests across ``group_col`` (the appendix table).

    One row per (p, q) of :data:`FH_WEIGHTS`: ``weighting``, ``test_statistic``,
    ``degrees_of_freedom``, ``p_value`` (:func:`~workbench.churn.survival.logrank_table`).
    """
    from ..churn.survival import logrank_table

    rows = [logrank_table(spells, group_col, weights_col=weights_col, weighting="fleming-harrington", p=p, q=q)
            for p, q in FH_WEIGHTS]
    out = pd.concat(rows, ignore_index=True)
    return out[["weighting", "test_statistic", "degrees_of_freedom", "p_value"]]
