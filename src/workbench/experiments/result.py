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
from .srm import SRMResult

RESULT_COLUMNS = [
    "metric", "variant", "n", "mean", "control_n", "control_mean", "abs_effect", "rel_effect", "ci_low", "ci_high",
    "rel_ci_low", "rel_ci_high", "p_value", "p_value_adjusted", "significant", "chance_to_beat_control",
    "expected_loss", "method", "se", "dof", "theta", "variance_reduction", "icc", "design_effect", "n_clusters",
    "control_n_clusters", "fieller_rel_ci_low", "fieller_rel_ci_high",
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

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        _method(self.correction)
        if self.correction_scope not in SCOPES:
            raise ParameterError(f"correction_scope must be one of {SCOPES}, got {self.correction_scope!r}")

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
