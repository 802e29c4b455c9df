"""One-sided tests, non-inferiority margins, guardrail metrics and the ship decision.

Every two-arm test of the package reduces to an effect ``Δ = m_t − m_c``, its standard error
and the degrees of freedom of its reference distribution (:class:`~.moments.TestResult`).
This module turns those three numbers into a test of a **shifted** one-sided null:

* :func:`one_sided` — ``alternative="greater"``: H0 ``Δ ≤ δ0`` against H1 ``Δ > δ0``,
  ``p = P(T ≥ (Δ − δ0)/se)``, interval ``[Δ − q₁₋α·se, +∞)``; ``"less"`` mirrors it;
  ``"two-sided"`` the usual test of ``Δ = δ0``. The p-value and the interval are the same test:
  ``p < α`` exactly when the interval excludes ``δ0``. For proportions the one-sided tests use
  the unpooled (Wald) standard error of the interval — the pooled variance belongs to the null
  ``Δ = 0`` only and would not match a shifted null.
* :func:`margin_null` — the null of a **non-inferiority** test with margin NIM (Spotify
  confidence's semantics): for a metric where an increase is good, H0 ``Δ ≤ −NIM`` ("the
  treatment is worse by at least the margin"); where a decrease is good (deletes,
  unsubscribes), H0 ``Δ ≥ +NIM``. A relative margin is taken on the control mean,
  ``NIM_abs = NIM · |m_c|``, treated as fixed (as Spotify does).
* :func:`non_inferiority_test` — both steps for two arms' sufficient statistics.
* :func:`ship_decision` — the decision rule written out: ship when **at least one success
  metric is superior** (one-sided test of ``Δ = 0`` in its good direction) **and every
  guardrail is non-inferior**. The guardrails form an intersection–union test (every one must
  reject its own null), which keeps the error of "declaring all guardrails safe" at ``α``
  without any multiplicity correction (Berger 1982; Schultzberg, Ankargren & Frånberg 2024,
  "Risk-aware product decisions in A/B tests with multiple metrics"); the success metrics,
  where any one suffices, are Bonferroni-corrected over their number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from ..errors import ParameterError
from .method import two_sample_test
from .moments import TestResult, _check_alpha
from .stats import ArrayLike, _scalar

ALTERNATIVES = ("two-sided", "greater", "less")
PREFERENCES = ("increase", "decrease")


def check_alternative(alternative: str) -> str:
    """``alternative`` if it is one of :data:`ALTERNATIVES`, else a :class:`ParameterError`."""
    if alternative not in ALTERNATIVES:
        raise ParameterError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def check_preference(preference: str) -> str:
    """``preference`` if it is one of :data:`PREFERENCES`, else a :class:`ParameterError`."""
    if preference not in PREFERENCES:
        raise ParameterError(f"preference must be one of {PREFERENCES} (which direction is good), got {preference!r}")
    return preference


def quantile(prob: ArrayLike, dof: ArrayLike = np.inf) -> ArrayLike:
    """Upper ``prob`` quantile of a t reference (normal for ``dof = inf``)."""
    dof = np.asarray(dof, dtype=float)
    finite = np.where(np.isinf(dof), 1.0, dof)
    return _scalar(np.where(np.isinf(dof), sps.norm.isf(prob), sps.t.isf(prob, finite)))


def _sf(z: Any, dof: Any) -> np.ndarray:
    dof = np.asarray(dof, dtype=float)
    return np.where(np.isinf(dof), sps.norm.sf(z), sps.t.sf(z, np.where(np.isinf(dof), 1.0, dof)))


@dataclass(frozen=True)
class ShiftedTest:
    """A test of ``Δ`` against a (possibly shifted) null ``δ0``, one- or two-sided.

    ``ci_low``/``ci_high`` is the interval of the same test (one end infinite when one-sided);
    ``p_value < alpha`` exactly when it excludes ``null_value``.
    """

    effect: ArrayLike
    se: ArrayLike
    dof: ArrayLike
    null_value: ArrayLike
    alternative: str
    ci_low: ArrayLike
    ci_high: ArrayLike
    p_value: ArrayLike
    alpha: float

    @property
    def rejected(self) -> ArrayLike:
        """Whether the null is rejected at ``alpha``."""
        return _scalar(np.asarray(self.p_value) < self.alpha)


def one_sided(effect: ArrayLike, se: ArrayLike, dof: ArrayLike = np.inf, alternative: str = "greater",
              null: ArrayLike = 0.0, alpha: float = 0.05) -> ShiftedTest:
    """Test ``Δ`` against ``null`` with a t (normal for ``dof = inf``) reference.

    Elementwise in its arguments (arrays of experiments in one call).

    Examples
    --------
    >>> r = one_sided(1.0, 0.5, alternative="greater", null=-0.2)      # z = 2.4
    >>> round(float(r.p_value), 5), round(float(r.ci_low), 4), float(r.ci_high)
    (0.0082, 0.1776, inf)
    """
    check_alternative(alternative)
    _check_alpha(alpha)
    d, s = np.asarray(effect, dtype=float), np.asarray(se, dtype=float)
    null_arr = np.asarray(null, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (d - null_arr) / s
    if alternative == "two-sided":
        q = np.asarray(quantile(alpha / 2, dof))
        p, low, high = 2 * _sf(np.abs(z), dof), d - q * s, d + q * s
    else:
        q = np.asarray(quantile(alpha, dof))
        if alternative == "greater":
            p, low, high = _sf(z, dof), d - q * s, np.full(np.shape(d), np.inf)
        else:
            p, low, high = _sf(-z, dof), np.full(np.shape(d), -np.inf), d + q * s
    return ShiftedTest(_scalar(d), _scalar(s), _scalar(np.asarray(dof, dtype=float)), _scalar(null_arr), alternative,
                       _scalar(low), _scalar(high), _scalar(np.minimum(p, 1.0)), float(alpha))


def margin_null(control_mean: ArrayLike, margin: float, *, relative: bool = True,
                preference: str = "increase") -> ArrayLike:
    """The null value ``δ0`` of a non-inferiority test: the worst acceptable change.

    ``−NIM`` (``−NIM·|m_c|`` for a relative margin) when an increase is good, ``+NIM`` when a
    decrease is good.

    Examples
    --------
    >>> round(float(margin_null(0.2, 0.05)), 6)             # a 5% relative margin on a 20% rate
    -0.01
    >>> float(margin_null(3.0, 0.5, relative=False, preference="decrease"))
    0.5
    """
    check_preference(preference)
    if not np.isfinite(margin) or margin < 0:
        raise ParameterError(f"a non-inferiority margin must be a finite number >= 0, got {margin!r}")
    size = float(margin) * np.abs(np.asarray(control_mean, dtype=float)) if relative else float(margin)
    return _scalar(np.asarray(-size if preference == "increase" else size, dtype=float))


def good_direction(preference: str) -> str:
    """The one-sided alternative that says "better": ``greater`` for increase, ``less`` for decrease."""
    return "greater" if check_preference(preference) == "increase" else "less"


def shift(res: TestResult, alternative: str = "greater", null: ArrayLike = 0.0,
          alpha: float | None = None) -> ShiftedTest:
    """:func:`one_sided` on a two-arm :class:`~.moments.TestResult` (its effect, se and dof)."""
    return one_sided(res.effect, res.se, res.dof, alternative, null, res.alpha if alpha is None else alpha)


def non_inferiority_test(control: Any, treatment: Any, margin: float, *, relative: bool = True,
                         preference: str = "increase", alpha: float = 0.05) -> ShiftedTest:
    """Non-inferiority of ``treatment`` to ``control`` within ``margin``.

    The test the statistics' type calls for (:func:`~.method.two_sample_test`) gives ``Δ``, its
    standard error and degrees of freedom; the null is :func:`margin_null`, the alternative
    the metric's good direction. ``rejected`` means "non-inferior": the one-sided
    ``1 − α`` bound lies on the good side of ``δ0``.

    Examples
    --------
    >>> from workbench.experiments.stats import ProportionStatistic
    >>> r = non_inferiority_test(ProportionStatistic(100_000, 20_000), ProportionStatistic(100_000, 19_500), 0.05)
    >>> round(float(r.null_value), 6), bool(r.rejected)       # worse by 0.5 points, margin 1 point
    (-0.01, True)
    """
    res = two_sample_test(control, treatment, alpha)
    null = margin_null(res.control_mean, margin, relative=relative, preference=preference)
    return shift(res, good_direction(preference), null, alpha)


@dataclass(frozen=True)
class ShipDecision:
    """The ship rule applied to one treatment arm.

    Attributes
    ----------
    ship : bool
        At least one success metric superior and every guardrail non-inferior.
    superior : tuple of str
        Success metrics significantly better than control (one-sided, Bonferroni over them).
    not_superior : tuple of str
        Success metrics that were not.
    guardrails_ok : tuple of str
        Guardrails shown non-inferior (the one-sided bound is inside the margin).
    guardrails_failed : tuple of str
        Guardrails that may have worsened by more than their margin.
    rule : str
        The rule in words.
    """

    ship: bool
    superior: tuple[str, ...]
    not_superior: tuple[str, ...]
    guardrails_ok: tuple[str, ...]
    guardrails_failed: tuple[str, ...]
    rule: str


RULE = ("ship when at least one success metric is significantly better than control (one-sided tests, "
        "Bonferroni over the success metrics) and every guardrail is non-inferior (each one-sided test at "
        "alpha rejects 'worse by at least the margin'; an intersection-union test needs no correction)")


def ship_decision(success: dict[str, bool], guardrails: dict[str, bool]) -> ShipDecision:
    """Apply the rule: ``success`` maps metric → superior; ``guardrails`` metric → non-inferior.

    With no success metric the decision is a pure non-inferiority decision (ship when every
    guardrail holds).

    Examples
    --------
    >>> d = ship_decision({"gmv": True}, {"deletes": True, "unsubscribes": False})
    >>> d.ship, d.guardrails_failed
    (False, ('unsubscribes',))
    """
    superior = tuple(m for m, ok in success.items() if ok)
    ok = tuple(m for m, good in guardrails.items() if good)
    failed = tuple(m for m, good in guardrails.items() if not good)
    wins = bool(superior) or not success
    return ShipDecision(wins and not failed, superior, tuple(m for m in success if m not in superior), ok, failed,
                        RULE)
