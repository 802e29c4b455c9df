"""What an experiment analysis is asked and what it returns, as typed values.

* :class:`AnalysisOptions` — how to analyse (level, multiple-testing correction, sequential
  looks, SRM weights, capping); what to analyse (metrics, variants, clusters) stays in the
  arguments of :func:`~workbench.experiments.analyze.analyze`;
* :class:`ExperimentResult` — the results table (one row per metric × treatment variant,
  columns :data:`RESULT_COLUMNS`) with the sample-ratio check and the caps applied;
* :class:`SegmentBreakdown` — the same per segment, with the segments that were skipped.

Side results are fields rather than ``DataFrame.attrs``, which pandas drops on most
operations without a word.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

from ..errors import ParameterError
from .moments import _check_alpha
from .multiple import SCOPES, _method
from .noninferiority import ShipDecision, check_alternative, check_preference, one_sided, ship_decision
from .srm import SRMResult

RESULT_COLUMNS = [
    "metric", "variant", "n", "mean", "control_n", "control_mean", "abs_effect", "rel_effect", "ci_low", "ci_high",
    "rel_ci_low", "rel_ci_high", "p_value", "p_value_adjusted", "significant", "chance_to_beat_control",
    "expected_loss", "method", "se", "dof", "theta", "variance_reduction", "icc", "design_effect", "n_clusters",
    "control_n_clusters", "fieller_rel_ci_low", "fieller_rel_ci_high",
    # one-sided tests, simultaneous intervals and guardrails (appended: earlier columns keep their places)
    "adjusted_ci_low", "adjusted_ci_high", "guardrail", "margin", "null_value", "ni_p_value", "non_inferior",
]


@dataclass(frozen=True)
class AnalysisOptions:
    """How an experiment is analysed.

    Parameters
    ----------
    alpha : float, default 0.05
        Two-sided level of every test and interval.
    correction : {"holm", "bh", "bonferroni", None}, default "holm"
        Multiple-testing correction.
    correction_scope : {"metric", "all"}, default "metric"
        One family per metric (across treatment variants, and segments) or one over all rows.
    sequential : bool, default False
        Always-valid intervals and p-values instead of fixed-horizon ones.
    planned_n : float, optional
        Planned independent units (clusters in a cluster design) for the sequential test.
    expected_weights : mapping, optional
        Planned variant shares for the SRM check (default equal).
    cap_quantile : float, optional
        Winsorise non-binary metric columns and covariates at this pooled upper quantile.
    cap_ignore_zeros : bool, default False
        Take the capping quantile over the non-zero values (sparse metrics such as GMV).
    alternative : {"two-sided", "greater", "less"} or mapping, default "two-sided"
        The test's alternative, for every metric or ``{metric: alternative}`` (others two-sided).
        One-sided rows have one-sided p-values and intervals (one end infinite) and no Fieller
        interval; not with ``sequential``.
    guardrails : tuple of str, default ()
        Metrics whose non-inferiority the decision requires; each needs a margin.
    margins : mapping, optional
        ``{metric: non-inferiority margin}``; relative to the control mean unless
        ``margin_relative=False``. Every metric with a margin gets a non-inferiority test
        (columns ``null_value``, ``ni_p_value``, ``non_inferior``), one-sided at ``alpha``, not
        corrected (the guardrails form an intersection–union test).
    margin_relative : bool, default True
        Margins are fractions of the control mean (``0.02``: worse by 2% of it) or absolute.
    preferences : mapping, optional
        ``{metric: "increase" | "decrease"}``, the direction that is good (default increase;
        deletes and unsubscribes: decrease).

    Examples
    --------
    >>> AnalysisOptions.build(alpha=0.1).correction
    'holm'
    """

    alpha: float = 0.05
    correction: str | None = "holm"
    correction_scope: str = "metric"
    sequential: bool = False
    planned_n: float | None = None
    expected_weights: Mapping[str, float] | None = None
    cap_quantile: float | None = None
    cap_ignore_zeros: bool = False
    alternative: str | Mapping[str, str] = "two-sided"
    guardrails: tuple[str, ...] = ()
    margins: Mapping[str, float] | None = None
    margin_relative: bool = True
    preferences: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        if _method(self.correction) == "sidak":  # Šidák is offered as functions (multiple.sidak), not here yet
            raise ParameterError("unknown correction 'sidak' for an analysis; use 'holm', 'bh', 'bonferroni' or None")
        if self.correction_scope not in SCOPES:
            raise ParameterError(f"correction_scope must be one of {SCOPES}, got {self.correction_scope!r}")
        alternatives = self.alternative.values() if isinstance(self.alternative, Mapping) else [self.alternative]
        for alt in alternatives:
            check_alternative(alt)
        if self.sequential and any(a != "two-sided" for a in alternatives):
            raise ParameterError("one-sided alternatives are not available with sequential=True (the always-valid "
                                 "intervals are two-sided)")
        if isinstance(self.guardrails, str):
            object.__setattr__(self, "guardrails", (self.guardrails,))
        object.__setattr__(self, "guardrails", tuple(self.guardrails))
        margins = dict(self.margins or {})
        missing = [g for g in self.guardrails if g not in margins]
        if missing:
            raise ParameterError(f"guardrail metric(s) {missing} need a non-inferiority margin in margins")
        for metric, margin in margins.items():
            if not isinstance(margin, (int, float)) or not 0 <= float(margin) < float("inf"):
                raise ParameterError(f"margin of {metric!r} must be a finite number >= 0, got {margin!r}")
        for pref in (self.preferences or {}).values():
            check_preference(pref)

    def alternative_of(self, metric: str) -> str:
        """The alternative of ``metric``'s test."""
        if isinstance(self.alternative, Mapping):
            return self.alternative.get(metric, "two-sided")
        return self.alternative

    def preference_of(self, metric: str) -> str:
        """Which direction is good for ``metric`` (``increase`` unless stated)."""
        return (self.preferences or {}).get(metric, "increase")

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names (the keyword arguments that build the options)."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def build(cls, options: AnalysisOptions | None = None, **settings: Any) -> AnalysisOptions:
        """``options`` (default: the defaults) with the keyword ``settings`` replacing its fields."""
        unknown = sorted(set(settings) - cls.names())
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}; analysis options are {sorted(cls.names())}")
        base = options if options is not None else cls()
        return replace(base, **settings) if settings else base


# eq=False: a DataFrame field has no single truth value to compare by.
@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """One experiment's analysis.

    Attributes
    ----------
    table : DataFrame
        One row per metric × treatment variant, columns :data:`RESULT_COLUMNS`.
    srm : SRMResult
        The sample-ratio check of the assignment counts (clusters in a cluster design).
    options : AnalysisOptions
        The options the analysis ran with.
    caps : dict
        ``{column: (low, high)}`` capping thresholds applied (empty without capping).
    """

    table: pd.DataFrame
    srm: SRMResult
    options: AnalysisOptions
    caps: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def ship_decisions(self, success: list[str] | tuple[str, ...]) -> dict[str, ShipDecision]:
        """The ship rule per treatment variant (:func:`~.noninferiority.ship_decision`).

        A success metric is superior when its one-sided test in the good direction (its
        ``preferences`` entry) rejects at ``alpha / len(success)`` (Bonferroni over the success
        metrics, any one of which may carry the decision); every guardrail must be non-inferior
        (``non_inferior`` of the table, each at ``alpha``).
        """
        return ship_decisions(self.table, self.options, success)


def ship_decisions(table: pd.DataFrame, options: AnalysisOptions,
                   success: list[str] | tuple[str, ...]) -> dict[str, ShipDecision]:
    """:meth:`ExperimentResult.ship_decisions` on a results table."""
    unknown = sorted(set(success) - set(table["metric"]))
    if unknown:
        raise ParameterError(f"success metric(s) {unknown} are not in the results; metrics: "
                             f"{sorted(set(table['metric']))}")
    level = options.alpha / max(len(success), 1)
    out = {}
    for variant, rows in table.groupby("variant", sort=False):
        wins = {}
        for _, r in rows[rows["metric"].isin(success)].iterrows():
            good = "greater" if options.preference_of(str(r["metric"])) == "increase" else "less"
            wins[str(r["metric"])] = bool(one_sided(r["abs_effect"], r["se"], r["dof"], good, 0.0, level).rejected)
        guards = {str(r["metric"]): bool(r["non_inferior"]) for _, r in rows[rows["guardrail"]].iterrows()}
        out[str(variant)] = ship_decision(wins, guards)
    return out


@dataclass(frozen=True, eq=False)
class SegmentBreakdown:
    """An experiment analysed within each segment, corrected across segments.

    Attributes
    ----------
    table : DataFrame
        ``segment`` and :data:`RESULT_COLUMNS`, one row per segment × metric × treatment variant.
    srm : dict
        Segment → :class:`~workbench.experiments.srm.SRMResult`.
    skipped : dict
        Segment → why it could not be analysed (only with ``on_error="skip"``).
    options : AnalysisOptions
        The options the analysis ran with.
    """

    table: pd.DataFrame
    srm: Mapping[Any, SRMResult]
    skipped: Mapping[Any, str]
    options: AnalysisOptions
