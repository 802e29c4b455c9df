"""What the experiment report states.

What the experiment report states: the decision on the primary metric, every metric's
comparison, which multiple-testing correction applied, and the daily band.

Every number comes back typed (:class:`ExperimentPage`), so the notebook only lays it out and
the tests check what the page says against the simulator's truth:

* the decision's absolute interval and the **Fieller** interval of the relative lift come from
  the same test, so they never disagree on significance; "significant" always means that test
  (two-sided, at ``alpha``, after the correction when one applied);
* the design's **power** for a stated relevant lift (never "observed power"), and when a
  significant result comes from an under-powered design, the **exaggeration ratio** it implies
  (Gelman & Carlin 2014, "Beyond power calculations: assessing Type S and Type M errors"): the
  expected ``|estimate| / true effect`` among estimates that pass the test;
* the correction is named only when it changed something (more than one comparison in a family);
* the daily band is :func:`~workbench.experiments.sequential.window_band` (one interval per
  planned look, Bonferroni over the looks), valid for each day's growing outcome window;
* **guardrails** (:class:`Guardrail`): metrics the decision needs not to have got worse by more
  than a margin (by default ``retained``, the share of customers none of whose contacts was
  deleted, with a 2% relative margin). Each gets a one-sided non-inferiority test at ``alpha``
  (:mod:`~workbench.experiments.noninferiority`); the page says in words whether any guardrail
  may have worsened, the margins and tests go to the technical appendix. The rule: roll out
  only when the primary metric is significantly better **and** every guardrail is non-inferior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ._base import Stated, Verdict, effect_verdict

if TYPE_CHECKING:  # the experiments package is imported when a page is built, not with pages
    from ..experiments.srm import SRMResult

# metric → unit of its absolute difference (a key of UNITS)
METRIC_UNITS = {"gmv": "cny_per_unit", "orders": "count_per_unit", "converted": "pp", "aov": "cny_per_unit",
                "retained": "pp"}
METRIC_DEFINITIONS = {
    "gmv": "GMV per analysis unit (order amount net of refunds) over the outcome window",
    "orders": "orders per analysis unit over the outcome window",
    "converted": "share of analysis units with at least one order in the outcome window",
    "aov": "GMV divided by orders over the outcome window (a ratio metric)",
    "retained": "share of analysis units whose contacts were all still open at the window end",
}
MIN_POWER = 0.8   # below this a design is called under-powered (effect_verdict's default)


@dataclass(frozen=True)
class Correction:
    """The multiple-testing correction as it applied.

    The multiple-testing correction as it applied: ``applied`` only when a family had more
    than one comparison (with one treatment arm and a per-metric family nothing is corrected).
    """

    method: str | None
    family_size: int
    applied: bool


@dataclass(frozen=True)
class DesignPower:
    """Design power and the errors of a significant result.

    Power of the test, as designed, for a stated relevant lift; and what a significant result
    from this design is expected to overstate (Gelman & Carlin's Type M and Type S errors).
    """

    relevant_lift: float         # relative to the control mean, e.g. 0.10
    relevant_effect: float       # the same in the metric's unit
    power: float
    exaggeration: float          # E[|estimate| / effect | significant]
    type_s: float                # P(wrong sign | significant)

    @property
    def underpowered(self) -> bool:
        """Whether the design's power is below ``MIN_POWER``."""
        return self.power < MIN_POWER


@dataclass(frozen=True)
class Decision:
    """The comparison of one treatment variant with control on one metric."""

    metric: str
    variant: str
    difference: Stated           # absolute, with the test's interval
    lift: Stated                 # relative, with the Fieller interval
    p_value: float               # the p the decision uses (adjusted when a correction applied)
    significant: bool
    verdict: Verdict
    design: DesignPower
    chance_to_beat_control: float

    @property
    def winners_curse(self) -> bool:
        """A significant estimate from an under-powered design: it probably overstates the effect."""
        return self.significant and self.design.underpowered


@dataclass(frozen=True)
class DailyBand:
    """The daily band of the primary metric (customer-randomised designs).

    One entry per day in ``days``: the effect on the first days since exposure and its interval
    (``low``, ``high``) at level ``1 − alpha / looks``, so that all ``looks`` intervals hold together
    at ``1 − alpha`` (:func:`~workbench.experiments.sequential.window_band`).
    """

    metric: str
    unit: str
    variant: str
    alpha: float
    looks: int
    days: tuple[int, ...]
    effect: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def final(self) -> Stated:
        """The effect on the last day, with its interval."""
        return Stated(self.effect[-1], self.unit, f"difference in cumulative {self.metric} per unit after "
                      f"{self.days[-1]} days", ci_low=self.low[-1], ci_high=self.high[-1])


@dataclass(frozen=True)
class ClusterDesign:
    """A store- or staff-randomised design: its clusters and how much clustering costs."""

    n_clusters: int
    icc: float            # intraclass correlation of the primary metric (ANOVA, within arms)
    design_effect: float  # variance inflation against a per-customer analysis


DEFAULT_GUARDRAILS = ("retained",)            # deletes: the share of customers who kept every contact
DEFAULT_MARGINS = {"retained": 0.02}          # worse by at most 2% of the control's retention


@dataclass(frozen=True)
class Guardrail:
    """The non-inferiority check of one guardrail metric for one treatment variant.

    ``null_value`` is the worst acceptable change (``−margin·|control mean|`` for a relative
    margin on a metric where an increase is good); ``bound`` the one-sided ``1 − α`` bound of
    the difference on the bad side; ``held`` when the bound is on the good side of the null
    (the one-sided test rejects "worse by at least the margin").
    """

    metric: str
    variant: str
    margin: float
    relative: bool
    preference: str
    null_value: float
    difference: float
    bound: float
    p_value: float
    held: bool


@dataclass(frozen=True)
class ExperimentPage:
    """Everything the experiment report states for one experiment."""

    experiment_id: str
    name: str
    unit: str
    n_units: int
    control: str
    alpha: float
    correction: Correction
    decisions: tuple[Decision, ...]      # primary metric, one per treatment variant
    metrics: tuple[Decision, ...]        # every metric × variant
    band: DailyBand | None
    srm: SRMResult                       # the sample-ratio check
    n_variants: int
    clusters: ClusterDesign | None = None  # store/staff designs
    guardrails: tuple[Guardrail, ...] = ()          # one per guardrail metric × treatment variant
    guardrails_dropped: tuple[str, ...] = ()        # asked for, but the data cannot measure them

    @property
    def guardrails_held(self) -> bool:
        """No guardrail got worse by more than its margin (true when there is none)."""
        return all(g.held for g in self.guardrails)

    def ship(self, variant: str) -> bool:
        """The rule: the primary metric significantly better for ``variant`` and its guardrails held."""
        better = any(d.variant == variant and d.significant and d.verdict.value == "positive" for d in self.decisions)
        return better and all(g.held for g in self.guardrails if g.variant == variant)


def design_power(se: float, relevant_effect: float, alpha: float = 0.05, dof: float = math.inf) -> DesignPower:
    """Power, Type M and Type S errors of a two-sided test.

    Power of a two-sided test with standard error ``se`` for a true effect ``relevant_effect``,
    and the Type M (exaggeration) and Type S errors of its significant results.

    Uses the normal approximation of Gelman & Carlin's ``retrodesign`` with the test's critical
    value. The standard error is the design's (it does not depend on the observed effect).

    Examples
    --------
    >>> d = design_power(1.0, 1.0)                 # a true effect of one standard error
    >>> round(d.power, 3), round(d.exaggeration, 2)
    (0.17, 2.49)
    """
    q = float(sps.t.isf(alpha / 2, dof)) if math.isfinite(dof) else float(sps.norm.isf(alpha / 2))
    d = abs(float(relevant_effect)) / float(se)
    upper, lower = sps.norm.sf(q - d), sps.norm.cdf(-q - d)
    power = float(upper + lower)
    # E[|Z|; |Z| > q] for Z ~ N(d, 1), in standard errors
    tail = (d * upper + sps.norm.pdf(q - d)) + (-d * lower + sps.norm.pdf(-q - d))
    exaggeration = float(tail / power / d) if d > 0 else math.inf
    return DesignPower(float("nan"), float(relevant_effect), power, exaggeration, float(lower / power))


def _decision(row: pd.Series, alpha: float, applied: bool, relevant_lift: float) -> Decision:
    metric = str(row["metric"])
    unit = METRIC_UNITS.get(metric, "number")
    definition = METRIC_DEFINITIONS.get(metric, metric)
    difference = Stated(float(row["abs_effect"]), unit, "difference from control in " + definition,
                        ci_low=float(row["ci_low"]), ci_high=float(row["ci_high"]))
    lift = Stated(float(row["rel_effect"]), "relative", "relative lift over the control mean in " + definition
                  + " (Fieller interval)", ci_low=_finite(row["fieller_rel_ci_low"]),
                  ci_high=_finite(row["fieller_rel_ci_high"]))
    p = float(row["p_value_adjusted"] if applied else row["p_value"])
    relevant = relevant_lift * float(row["control_mean"])
    dp = design_power(float(row["se"]), relevant, alpha, float(row["dof"]))
    dp = DesignPower(relevant_lift, dp.relevant_effect, dp.power, dp.exaggeration, dp.type_s)
    # Without a correction, "significant" is the interval excluding zero: the same test as the Fieller
    # interval (for conversion rates the pooled p-value could differ in the last digit).
    significant = p < alpha if applied else not difference.covers_zero
    if significant:
        verdict = effect_verdict(float(row["ci_low"]), float(row["ci_high"]))
    else:   # covers zero (or not significant after the correction)
        verdict = effect_verdict(-1.0, 1.0, dp.power, MIN_POWER)
    return Decision(metric, str(row["variant"]), difference, lift, p, significant, verdict, dp,
                    float(row["chance_to_beat_control"]))


def bounds(stated: Stated) -> tuple[str, str]:
    """The interval's two ends written in the stated unit ('–' when there is none).

    >>> bounds(Stated(0.1, "relative", "lift", ci_low=-0.02, ci_high=0.2))
    ('-2.0%', '+20.0%')
    """
    from ._base import UNITS

    if stated.ci_low is None or stated.ci_high is None:
        return "–", "–"
    return UNITS[stated.unit](stated.ci_low), UNITS[stated.unit](stated.ci_high)


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(float(v)) else None


def correction_used(method: str | None, n_treatments: int, scope: str = "metric", n_metrics: int = 1) -> Correction:
    """Which multiple-testing correction changed anything.

    Which correction changed anything: families are per metric (across treatment variants)
    or, with ``scope="all"``, every comparison.

    >>> correction_used("holm", 1).applied, correction_used("holm", 2).applied
    (False, True)
    """
    size = n_treatments * (n_metrics if scope == "all" else 1)
    return Correction(method, size, bool(method) and size > 1)


def _guardrails(table: pd.DataFrame, preferences: dict[str, str] | None, alpha: float) -> tuple[Guardrail, ...]:
    """The guardrail rows of the results table, with the one-sided bound of each one's own test."""
    from ..experiments.noninferiority import one_sided

    out = []
    for _, r in table[table["guardrail"].astype(bool)].iterrows():
        preference = (preferences or {}).get(str(r["metric"]), "increase")
        increase = preference == "increase"
        one = one_sided(r["abs_effect"], r["se"], r["dof"], "greater" if increase else "less", r["null_value"], alpha)
        out.append(Guardrail(str(r["metric"]), str(r["variant"]), float(r["margin"]), True, preference,
                             float(r["null_value"]), float(r["abs_effect"]), float(one.ci_low if increase
                                                                                    else one.ci_high),
                             float(r["ni_p_value"]), bool(r["non_inferior"])))
    return tuple(out)


def experiment_page(wb: Any, experiment_id: str, metrics: list[str], primary_metric: str = "gmv",
                    alpha: float = 0.05, window_days: int = 14, pre_days: int = 28,
                    correction: str | None = "holm", relevant_lift: float = 0.10,
                    sequential: bool = False, guardrails: list[str] | tuple[str, ...] | None = None,
                    margins: dict[str, float] | None = None,
                    preferences: dict[str, str] | None = None) -> tuple[ExperimentPage, pd.DataFrame]:
    """Everything the experiment page states, and the per-unit frame (for the segment section).

    Customer designs use CUPED on GMV and orders; store/staff designs the CR2 cluster-robust
    test. The band is shown for customer designs only (clusters are not independent units).
    ``guardrails`` (default :data:`DEFAULT_GUARDRAILS`) are analysed even when not in
    ``metrics``, each with its relative margin from ``margins`` (default
    :data:`DEFAULT_MARGINS`); a guardrail the data cannot measure (``retained`` without contact
    events) is left out and listed in ``guardrails_dropped``.
    """
    from ..errors import ParameterError
    from ..experiments import analyze, window_band
    from ..experiments.frame import experiment_daily, experiment_frame, experiment_info, experiment_segments

    if primary_metric not in metrics:
        raise ParameterError(f"primary_metric {primary_metric!r} must be one of metrics {metrics}")
    if not relevant_lift > 0:
        raise ParameterError(f"relevant_lift must be positive (a relative lift such as 0.10), got {relevant_lift!r}")
    info = experiment_info(wb, experiment_id)
    frame = experiment_segments(wb, experiment_frame(wb, experiment_id, window_days=window_days, pre_days=pre_days))
    control = "control" if "control" in info.variants else sorted(info.variants)[0]
    clustered = info.unit != "customer"
    asked = list(DEFAULT_GUARDRAILS if guardrails is None else guardrails)
    margins = {**DEFAULT_MARGINS, **(margins or {})}
    missing = [g for g in asked if g not in margins]
    if missing:
        raise ParameterError(f"guardrail(s) {missing} need a margin in margins (a fraction of the control mean, "
                             "e.g. 0.02)")
    measurable = [g for g in asked if g in frame.columns and frame[g].notna().all()]
    dropped = tuple(g for g in asked if g not in measurable)
    spec = {m: ("gmv", "orders") if m == "aov" else m for m in metrics}
    spec.update({g: g for g in measurable if g not in spec})
    covariates = None if clustered else {m: c for m, c in (("gmv", "pre_gmv"), ("orders", "pre_orders")) if m in spec}
    res = analyze(frame, "variant", spec, control=control, covariates=covariates,
                  cluster_col="cluster_id" if clustered else None, alpha=alpha, correction=correction,
                  sequential=sequential, guardrails=tuple(measurable),
                  margins={g: float(margins[g]) for g in measurable}, preferences=preferences)
    guards = _guardrails(res.table, preferences, alpha)
    table = res.table[res.table["metric"].isin(list(metrics))]
    corr = correction_used(correction, len(info.variants) - 1)
    rows = tuple(_decision(r, alpha, corr.applied, relevant_lift) for _, r in table.iterrows())
    band = None
    if not clustered:
        metric_daily = primary_metric if primary_metric in ("gmv", "orders", "converted") else "gmv"
        daily = experiment_daily(wb, experiment_id, metric=metric_daily, days=window_days)
        wb_band = window_band(daily, control, alpha=alpha, looks=window_days, proportion=metric_daily == "converted")
        first = wb_band[wb_band["variant"] == wb_band["variant"].iloc[0]]
        band = DailyBand(metric=metric_daily, unit=METRIC_UNITS[metric_daily], variant=str(first["variant"].iloc[0]),
                         alpha=float(alpha), looks=int(first["looks"].iloc[0]),
                         days=tuple(int(d) for d in first["day"]), effect=tuple(map(float, first["effect"])),
                         low=tuple(map(float, first["band_low"])), high=tuple(map(float, first["band_high"])))
    clusters = None
    if clustered:
        prim = table[table["metric"] == primary_metric].iloc[0]
        clusters = ClusterDesign(int(frame["cluster_id"].nunique()), float(prim["icc"]), float(prim["design_effect"]))
    page = ExperimentPage(experiment_id, info.name or experiment_id, info.unit, len(frame), control, float(alpha),
                          corr, tuple(d for d in rows if d.metric == primary_metric), rows, band, res.srm,
                          len(info.variants), clusters, guards, dropped)
    return page, frame


#: the segment columns of the page's segment section
SEGMENTS = ("channel_group", "buyer_type")


@dataclass(frozen=True)
class ExperimentReport:
    """The experiment page in no language, and its segment breakdowns.

    ``page`` as :func:`experiment_page` returns it; ``segments`` maps each column of
    :data:`SEGMENTS` to the primary metric's breakdown
    (:func:`~workbench.experiments.segment_breakdown`'s table on the segments' codes,
    corrected across segments); :func:`segment_table` names and orders it in the reader's language.
    """

    page: ExperimentPage
    segments: dict[str, pd.DataFrame]


def experiment_report(wb: Any, experiment_id: str, metrics: list[str], primary_metric: str = "gmv",
                      alpha: float = 0.05, window_days: int = 14, pre_days: int = 28,
                      correction: str | None = "holm", relevant_lift: float = 0.10, sequential: bool = False,
                      guardrails: list[str] | tuple[str, ...] | None = None, margins: dict[str, float] | None = None,
                      preferences: dict[str, str] | None = None) -> ExperimentReport:
    """:func:`experiment_page` and its segment breakdowns, kept beside a current layer.

    The report's kernels of one batch (zh and en) share it: the first computes, the others read it
    (:func:`~workbench.engine.memo.memoised_result`), so the per-unit frame is built once.
    Arguments as for :func:`experiment_page`.
    """
    from ..engine.memo import memoised_result
    from ..experiments import segment_breakdown

    params = (experiment_id, tuple(metrics), primary_metric, float(alpha), int(window_days), int(pre_days),
              correction, float(relevant_lift), bool(sequential), None if guardrails is None else tuple(guardrails),
              tuple(sorted((margins or {}).items())), tuple(sorted((preferences or {}).items())))

    def compute() -> ExperimentReport:
        page, frame = experiment_page(wb, experiment_id, metrics, primary_metric=primary_metric, alpha=alpha,
                                      window_days=window_days, pre_days=pre_days, correction=correction,
                                      relevant_lift=relevant_lift, sequential=sequential, guardrails=guardrails,
                                      margins=margins, preferences=preferences)
        spec = {primary_metric: ("gmv", "orders") if primary_metric == "aov" else primary_metric}
        cluster = "cluster_id" if page.unit != "customer" else None
        segments = {seg: segment_breakdown(frame, seg, "variant", spec, page.control, alpha=alpha,
                                           correction=correction, on_error="skip", cluster_col=cluster).table
                    for seg in SEGMENTS}
        return ExperimentReport(page, segments)

    return memoised_result(wb, "experiment.report", params, compute)


def segment_table(report: ExperimentReport, segment: str, lang: str) -> pd.DataFrame:
    """The breakdown by ``segment`` with its segments named in ``lang``, in the order of their names.

    The order a breakdown computed on the names would have: segments sorted by name, each
    segment's rows as computed.
    """
    from ..i18n import t

    def name(code: str) -> str:
        if segment == "channel_group":
            return "–" if code == "unknown" else t(f"channel_group.{code}", lang)
        return t(f"exp.seg_{code}", lang)

    table = report.segments[segment].copy()
    table["segment"] = table["segment"].map(name)
    return table.sort_values("segment", kind="stable").reset_index(drop=True)
