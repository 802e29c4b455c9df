"""Group-sequential designs: a few planned looks, each with its own critical value.

An experiment analysed at ``K`` planned looks (information fractions ``t_1 < … < t_K``, the
share of the planned units in at each look) stops at the first look whose cumulative
statistic ``Z_k`` crosses the boundary ``c_k``. The boundaries keep the overall type I error
at ``α``: the cumulative z statistics of one experiment are jointly normal with
``Corr(Z_i, Z_j) = sqrt(t_i / t_j)`` (independent increments), and the boundary-crossing
probabilities are computed exactly by the numerical integration of Armitage, McPherson and
Rowe (1969) as laid out in Jennison & Turnbull (2000, *Group Sequential Methods with
Applications to Clinical Trials*, ch. 19): the sub-density of ``Z_k`` on the continuation
region is carried from look to look on a Simpson grid.

Two families of boundaries:

* **alpha spending** (Lan & DeMets 1983), :func:`spending_design`: a spending function
  ``α(t)`` says how much type I error may be used up by information fraction ``t``; each
  look's critical value spends exactly ``α(t_k) − α(t_{k−1})``. The looks need not be
  equally spaced nor fixed in advance (recompute the design at the fractions observed).
  O'Brien–Fleming type ``α(t) = 2 − 2Φ(z_{1−α/2} / √t)`` (:func:`obrien_fleming_spending`),
  Pocock type ``α(t) = α log(1 + (e − 1) t)`` (:func:`pocock_spending`) and
  Hwang–Shih–DeCani ``α (1 − e^{−γt}) / (1 − e^{−γ})`` (:func:`hsd_spending`);
* **classical** Wang–Tsiatis shapes ``c_k = C · t_k^{Δ − 1/2}`` (:func:`classical_design`;
  ``Δ = 0`` O'Brien & Fleming 1979, ``Δ = 1/2`` Pocock 1977), ``C`` chosen so that the
  overall type I error is ``α``.

``sided=2`` is the symmetric two-sided test (reject when ``|Z_k| ≥ c_k``, ``α`` the total
two-sided level); ``sided=1`` rejects when ``Z_k ≥ c_k``. Power, the stopping probabilities
and the expected sample size under an alternative follow from the same recursion
(:func:`design_power`), and :func:`compare_with_confidence_sequence` sets a design beside the
always-valid confidence sequence of :mod:`~workbench.experiments.sequential` at the same looks.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from ..errors import DataContractError, ParameterError
from .method import two_sample_test
from .moments import _check_alpha
from .sequential import _daily_statistics, cs_multiplier, rho_for_planned_n

SPENDING = ("obrien_fleming", "pocock", "hsd")
_TAIL = 8.0  # the grid covers the drift ± 8 standard deviations: the rest has mass < 1e-15
POINTS_PER_SD = 6.0  # Simpson grid steps per standard deviation of the narrowest look-to-look kernel
MIN_POINTS = 201


def obrien_fleming_spending(t: Any, alpha: float) -> Any:
    """Lan–DeMets O'Brien–Fleming-type spending ``2 − 2Φ(z_{1−α/2} / √t)``.

    Examples
    --------
    >>> round(float(obrien_fleming_spending(0.4, 0.13)), 9)   # rpact getDesignGroupSequential, asOF
    0.016665509
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        return 2.0 * sps.norm.sf(sps.norm.isf(alpha / 2.0) / np.sqrt(t))


def pocock_spending(t: Any, alpha: float) -> Any:
    """Lan–DeMets Pocock-type spending ``α log(1 + (e − 1) t)``.

    Examples
    --------
    >>> round(float(pocock_spending(0.4, 0.025)), 9)   # rpact getDesignGroupSequential, asP
    0.013078429
    """
    return alpha * np.log1p((np.e - 1.0) * np.asarray(t, dtype=float))


def hsd_spending(t: Any, alpha: float, gamma: float) -> Any:
    """Hwang–Shih–DeCani spending ``α (1 − e^{−γt}) / (1 − e^{−γ})`` (``γ = 0``: linear ``α t``).

    Examples
    --------
    >>> round(float(hsd_spending(0.2, 0.03, 0.0)), 6)
    0.006
    """
    t = np.asarray(t, dtype=float)
    if abs(gamma) < 1e-12:
        return alpha * t
    return alpha * -np.expm1(-gamma * t) / -np.expm1(-gamma)


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Critical values of a group-sequential test at its planned looks.

    Attributes
    ----------
    information_fractions : tuple of float
        ``t_k``, the share of the planned information (units) at each look.
    critical_values : tuple of float
        ``c_k`` on the z scale (``inf``: no rejection possible at that look).
    alpha_spent : tuple of float
        Cumulative type I error used up to each look (under no effect).
    nominal_levels : tuple of float
        The fixed-horizon p-value below which each look rejects
        (``2(1 − Φ(c_k))`` two-sided, ``1 − Φ(c_k)`` one-sided).
    alpha : float
        Overall level (two-sided total for ``sided=2``).
    sided : int
        1 or 2.
    kind : str
        ``"obrien_fleming"``, ``"pocock"``, ``"hsd"`` (spending) or ``"wang_tsiatis"``.
    parameter : float
        ``γ`` of the HSD spending or ``Δ`` of the Wang–Tsiatis shape (NaN otherwise).
    """

    information_fractions: tuple[float, ...]
    critical_values: tuple[float, ...]
    alpha_spent: tuple[float, ...]
    nominal_levels: tuple[float, ...]
    alpha: float
    sided: int
    kind: str
    parameter: float = float("nan")

    @property
    def looks(self) -> int:
        """Number of planned looks ``K``."""
        return len(self.information_fractions)

    def table(self) -> pd.DataFrame:
        """The design as a frame, one row per look.

        Columns ``look``, ``information_fraction``, ``critical_value``, ``alpha_spent``, ``nominal_level``.
        """
        return pd.DataFrame({"look": np.arange(1, self.looks + 1), "information_fraction": self.information_fractions,
                             "critical_value": self.critical_values, "alpha_spent": self.alpha_spent,
                             "nominal_level": self.nominal_levels})


def _fractions(information_fractions: int | Sequence[float]) -> np.ndarray:
    if isinstance(information_fractions, (int, np.integer)):
        if information_fractions < 1:
            raise ParameterError(f"the number of looks must be at least 1, got {information_fractions}")
        return np.arange(1, int(information_fractions) + 1) / float(information_fractions)
    t = np.asarray(information_fractions, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ParameterError(f"information fractions must be a non-empty list of numbers, "
                             f"got {information_fractions!r}")
    if t[0] <= 0 or t[-1] > 1 or np.any(np.diff(t) <= 0):
        raise ParameterError(f"information fractions must increase strictly within (0, 1], got {t.tolist()}")
    return t


def _check_sided(sided: int) -> None:
    if sided not in (1, 2):
        raise ParameterError(f"sided must be 1 or 2, got {sided!r}")


class _Recursion:
    """Sub-density of ``Z_k`` on the continuation region, carried look to look (AMR / J&T ch. 19)."""

    def __init__(self, t: np.ndarray, drift: float) -> None:
        self.t, self.drift = t, float(drift)
        steps = np.diff(np.concatenate([[0.0], t]))
        # Enough points that the narrowest transition kernel spans ~POINTS_PER_SD grid steps.
        kernel_sd = np.sqrt(steps[1:] / t[1:]) if t.size > 1 else np.array([1.0])
        self.points = int(min(4001, max(MIN_POINTS, np.ceil(2 * _TAIL * POINTS_PER_SD / kernel_sd.min())))) | 1
        self.grid: np.ndarray | None = None
        self.weights: np.ndarray | None = None  # Simpson weight × sub-density at the grid points
        self.k = 0

    def _mean(self, k: int) -> float:
        return self.drift * np.sqrt(self.t[k])

    def exit(self, upper: float, lower: float) -> tuple[float, float]:
        """Probabilities of first crossing the upper / lower boundary at the next look."""
        k = self.k
        if k == 0:
            m = self._mean(0)
            return float(sps.norm.sf(upper - m)), float(sps.norm.cdf(lower - m))
        sd, loc = self._kernel(k)
        up = float(np.dot(self.weights, sps.norm.sf((upper * np.sqrt(self.t[k]) - loc) / sd)))
        low = float(np.dot(self.weights, sps.norm.cdf((lower * np.sqrt(self.t[k]) - loc) / sd)))
        return up, low

    def _kernel(self, k: int) -> tuple[float, np.ndarray]:
        delta = self.t[k] - self.t[k - 1]
        return float(np.sqrt(delta)), self.grid * np.sqrt(self.t[k - 1]) + self.drift * delta

    def advance(self, upper: float, lower: float) -> None:
        """Move to the next look, keeping only paths that did not cross."""
        k, m = self.k, self._mean(self.k)
        lo, hi = max(lower, m - _TAIL), min(upper, m + _TAIL)
        if hi <= lo:  # every path has stopped
            grid, dens = np.array([lo, lo]), np.zeros(2)
        else:
            grid = np.linspace(lo, hi, self.points)
            if k == 0:
                dens = sps.norm.pdf(grid - m)
            else:
                sd, loc = self._kernel(k)
                scale = np.sqrt(self.t[k]) / sd
                u = (grid[:, None] * np.sqrt(self.t[k]) - loc[None, :]) / sd
                dens = np.exp(-0.5 * u * u) @ self.weights * (scale / np.sqrt(2.0 * np.pi))
        h = (grid[-1] - grid[0]) / (grid.size - 1)
        simpson = np.ones(grid.size)
        simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
        self.grid, self.weights, self.k = grid, dens * simpson * h / 3.0, k + 1


def _crossing(t: np.ndarray, upper: np.ndarray, lower: np.ndarray, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-look probabilities of stopping by crossing the upper / lower boundary."""
    rec = _Recursion(t, drift)
    up, low = np.zeros(t.size), np.zeros(t.size)
    for k in range(t.size):
        up[k], low[k] = rec.exit(upper[k], lower[k])
        if k + 1 < t.size:
            rec.advance(upper[k], lower[k])
    return up, low


def _lower(c: Any, sided: int) -> Any:
    return -np.asarray(c) if sided == 2 else -np.inf * np.ones_like(np.asarray(c, dtype=float))


def _nominal(c: np.ndarray, sided: int) -> tuple[float, ...]:
    return tuple(float(x) for x in sided * sps.norm.sf(c))


def spending_design(information_fractions: int | Sequence[float] = 5, alpha: float = 0.05, sided: int = 2,
                    spending: str = "obrien_fleming", gamma: float = -4.0) -> GroupSequentialDesign:
    """Critical values from a Lan–DeMets alpha-spending function.

    Parameters
    ----------
    information_fractions : int or sequence of float
        The looks' information fractions (strictly increasing in ``(0, 1]``), or ``K`` for ``K``
        equally spaced looks. A last fraction below 1 spends only ``α(t_K)``.
    alpha : float
        Overall level (for ``sided=2`` the total of both sides).
    sided : {1, 2}
        One-sided (upper) or symmetric two-sided boundaries.
    spending : {"obrien_fleming", "pocock", "hsd"}
        The spending function; ``gamma`` is the HSD parameter.

    Examples
    --------
    >>> d = spending_design([0.4, 0.75, 1.0], alpha=0.13, sided=1)   # rpact test-f_design_group_sequential
    >>> [round(c, 5) for c in d.critical_values]
    [2.12807, 1.43686, 1.2469]
    """
    _check_alpha(alpha)
    _check_sided(sided)
    t = _fractions(information_fractions)
    spend: Callable[[Any], Any]
    if spending == "obrien_fleming":
        spend = lambda x: obrien_fleming_spending(x, alpha)  # noqa: E731
    elif spending == "pocock":
        spend = lambda x: pocock_spending(x, alpha)  # noqa: E731
    elif spending == "hsd":
        spend = lambda x: hsd_spending(x, alpha, gamma)  # noqa: E731
    else:
        raise ParameterError(f"spending must be one of {SPENDING}, got {spending!r}")
    cumulative = np.asarray(spend(t), dtype=float)
    increments = np.diff(np.concatenate([[0.0], cumulative]))
    rec = _Recursion(t, 0.0)
    crit = np.zeros(t.size)
    for k in range(t.size):
        crit[k] = _solve_look(rec, increments[k], sided)
        if k + 1 < t.size:
            rec.advance(crit[k], -crit[k] if sided == 2 else -np.inf)
    return GroupSequentialDesign(tuple(t.tolist()), tuple(crit.tolist()), tuple(cumulative.tolist()),
                                 _nominal(crit, sided), float(alpha), sided, spending,
                                 float(gamma) if spending == "hsd" else float("nan"))


def _solve_look(rec: _Recursion, target: float, sided: int) -> float:
    """Critical value at the current look that spends exactly ``target``."""
    if target <= 1e-15:
        return float("inf")

    def excess(c: float) -> float:
        up, low = rec.exit(c, -c if sided == 2 else -np.inf)
        return up + low - target

    if excess(0.0) < 0:  # even c = 0 spends less: everything left has crossed earlier
        return 0.0
    return float(optimize.brentq(excess, 0.0, 40.0, xtol=1e-12, rtol=1e-12))


def classical_design(information_fractions: int | Sequence[float] = 5, alpha: float = 0.05, sided: int = 2,
                     delta: float = 0.0) -> GroupSequentialDesign:
    """Wang–Tsiatis boundaries ``c_k = C · t_k^{Δ − 1/2}`` with overall level ``α``.

    ``delta=0`` gives O'Brien & Fleming's (1979) test (``C`` is the final critical value),
    ``delta=0.5`` Pocock's (1977) constant boundary.

    Examples
    --------
    >>> round(classical_design(5, 0.05, delta=0.5).critical_values[0], 3)   # Jennison & Turnbull Table 2.1
    2.413
    >>> round(classical_design(5, 0.05, delta=0.0).critical_values[-1], 3)  # Jennison & Turnbull Table 2.3
    2.04
    """
    _check_alpha(alpha)
    _check_sided(sided)
    t = _fractions(information_fractions)
    shape = t ** (float(delta) - 0.5)

    def excess(c: float) -> float:
        up, low = _crossing(t, c * shape, _lower(c * shape, sided), 0.0)
        return float(up.sum() + low.sum()) - alpha

    big = float(sps.norm.isf(alpha / (sided * t.size)) / shape.min())  # Bonferroni: always conservative
    const = float(optimize.brentq(excess, 0.0, 2.0 * big + 1.0, xtol=1e-12, rtol=1e-12))
    crit = const * shape
    up, low = _crossing(t, crit, _lower(crit, sided), 0.0)
    return GroupSequentialDesign(tuple(t.tolist()), tuple(crit.tolist()), tuple(np.cumsum(up + low).tolist()),
                                 _nominal(crit, sided), float(alpha), sided, "wang_tsiatis", float(delta))


@dataclass(frozen=True)
class DesignPower:
    """Operating characteristics of a design under a drift.

    ``drift`` is ``θ √I_max``: the expected final z statistic (effect over the standard error at
    the last planned look). ``rejection_by_look`` the probability of stopping for efficacy at each
    look (both sides for a two-sided design), ``power`` their sum, ``stop_by_look`` the probability
    of stopping at each look (the last look takes all that remain), ``expected_fraction`` the
    expected information used as a share of the maximum.
    """

    drift: float
    rejection_by_look: tuple[float, ...]
    power: float
    stop_by_look: tuple[float, ...]
    expected_fraction: float


def boundary_power(information_fractions: Sequence[float], critical_values: Sequence[float], sided: int,
                   drift: float) -> DesignPower:
    """Power and expected information of any boundary (e.g. a confidence sequence's) at given looks."""
    t = np.asarray(information_fractions, dtype=float)
    c = np.asarray(critical_values, dtype=float)
    up, low = _crossing(t, c, _lower(c, sided), float(drift))
    reject = up + low
    stop = reject.copy()
    stop[-1] = 1.0 - reject[:-1].sum()
    return DesignPower(float(drift), tuple(reject.tolist()), float(reject.sum()), tuple(stop.tolist()),
                       float(np.dot(stop, t)))


def design_power(design: GroupSequentialDesign, drift: float) -> DesignPower:
    """Power, stopping probabilities and expected information of ``design`` at ``drift``.

    Examples
    --------
    >>> d = spending_design([0.2, 0.4, 1.0], alpha=0.03, sided=1, spending="hsd", gamma=0.0)
    >>> round(design_power(d, 9.4594101 ** 0.5).power, 4)   # rpact getDesignCharacteristics
    0.86
    """
    return boundary_power(design.information_fractions, design.critical_values, design.sided, drift)


def drift_for_power(design: GroupSequentialDesign, power: float = 0.8) -> float:
    """The drift ``θ √I_max`` at which ``design`` has the given power.

    The maximum sample size is ``(drift / θ)²`` information units; divided by the fixed-horizon
    ``((z_{1−α/s} + z_{power}) / θ)²`` it is the design's inflation factor.
    """
    if not design.alpha < power < 1.0:
        raise ParameterError(f"power must be in (alpha, 1), got {power!r}")
    hi = float(sps.norm.isf(design.alpha / design.sided) + sps.norm.ppf(power)) * 3.0 + 1.0
    return float(optimize.brentq(lambda d: design_power(design, d).power - power, 0.0, hi, xtol=1e-10))


@dataclass(frozen=True)
class GroupSequentialTest:
    """The test at the looks seen so far.

    ``z`` the cumulative z statistics, ``critical_values`` the boundaries of those looks,
    ``crossed`` whether each look's z crosses its boundary, ``stopped_at`` the first look that
    crossed (1-based; 0: none yet), ``reject`` whether the null is rejected by now. Arrays carry
    the leading dimensions of ``z`` (many simulated experiments at once).
    """

    z: Any
    critical_values: tuple[float, ...]
    crossed: Any
    stopped_at: Any
    reject: Any


def group_sequential_test(z: Any, design: GroupSequentialDesign) -> GroupSequentialTest:
    """Test cumulative z statistics (last axis: looks 1..k, ``k ≤ K``) against ``design``.

    Examples
    --------
    >>> d = spending_design(3, 0.05)
    >>> r = group_sequential_test([1.5, 2.5], d)
    >>> r.stopped_at, bool(r.reject)
    (2, True)
    """
    z = np.asarray(z, dtype=float)
    if z.ndim == 0:
        z = z[None]
    k = z.shape[-1]
    if k > design.looks:
        raise ParameterError(f"{k} looks given but the design plans {design.looks}")
    c = np.asarray(design.critical_values[:k])
    stat = np.abs(z) if design.sided == 2 else z
    crossed = stat >= c
    first = np.where(crossed.any(axis=-1), crossed.argmax(axis=-1) + 1, 0)
    reject = first > 0
    scalar = first.ndim == 0
    return GroupSequentialTest(z, tuple(c.tolist()), crossed, int(first) if scalar else first,
                               bool(reject) if scalar else reject)


@dataclass(frozen=True, eq=False)
class SequentialComparison:
    """A group-sequential design beside the always-valid confidence sequence at the same looks.

    ``table``: one row per look with ``look``, ``n`` (units, both arms), ``gs_critical``,
    ``cs_critical`` (z scale), ``gs_threshold`` / ``cs_threshold`` (the smallest absolute effect
    that rejects at that look), ``gs_reject`` / ``cs_reject`` (probability of first rejecting at
    that look under ``effect``). The scalars: power and expected units of each, and the actual
    type I error of the confidence sequence when looked at only at these looks (below ``α``:
    it pays for being valid at every look).
    """

    table: pd.DataFrame
    gs_power: float
    cs_power: float
    gs_expected_n: float
    cs_expected_n: float
    cs_alpha_at_looks: float


def compare_with_confidence_sequence(design: GroupSequentialDesign, planned_n: float, effect: float, sd: float,
                                     ) -> SequentialComparison:
    """Power and expected sample size of ``design`` and of the always-valid confidence sequence.

    Two equal arms, ``planned_n`` units in all at the last look, per-unit standard deviation
    ``sd``; look ``k`` has ``t_k · planned_n`` units and the effect's standard error
    ``2 sd / √n_k``. The confidence sequence (:func:`~workbench.experiments.sequential.cs_multiplier`,
    tuned for ``planned_n``) rejects at look ``k`` when ``|z_k| ≥ c_{n_k}``; both crossing
    probabilities come from the same exact recursion.

    Examples
    --------
    >>> cmp = compare_with_confidence_sequence(spending_design(5), 10_000, 0.06, 1.0)
    >>> cmp.gs_power > cmp.cs_power, cmp.cs_alpha_at_looks < 0.05
    (True, True)
    """
    if planned_n <= 0 or sd <= 0:
        raise ParameterError(f"planned_n and sd must be positive, got {planned_n!r}, {sd!r}")
    t = np.asarray(design.information_fractions)
    n = t * float(planned_n)
    se = 2.0 * float(sd) / np.sqrt(n)
    cs_c = np.asarray(cs_multiplier(n, design.alpha, rho_for_planned_n(planned_n, design.alpha)), dtype=float)
    drift = float(effect) / float(se[-1])
    gs = design_power(design, drift)
    cs = boundary_power(t, cs_c, 2, drift)
    cs_null = boundary_power(t, cs_c, 2, 0.0)
    gs_c = np.asarray(design.critical_values)
    table = pd.DataFrame({"look": np.arange(1, t.size + 1), "n": n, "gs_critical": gs_c, "cs_critical": cs_c,
                          "gs_threshold": gs_c * se, "cs_threshold": cs_c * se,
                          "gs_reject": gs.rejection_by_look, "cs_reject": cs.rejection_by_look})
    return SequentialComparison(table, gs.power, cs.power, gs.expected_fraction * planned_n,
                                cs.expected_fraction * planned_n, cs_null.power)


def group_sequential_frame(daily: pd.DataFrame, control: str, planned_n: float, alpha: float = 0.05,
                           spending: str = "obrien_fleming", gamma: float = -4.0, proportion: bool = False,
                           variant_col: str = "variant", day_col: str = "day", frame_name: str = "daily",
                           ) -> pd.DataFrame:
    """The two-sided spending test at every day of cumulative daily sufficient statistics.

    Each day is a look at information fraction ``(n_c + n_t) / planned_n``; the boundaries are
    those of :func:`spending_design` at the fractions actually observed (spending functions do not
    need the looks fixed in advance, only ``planned_n``). Like
    :func:`~workbench.experiments.sequential.sequential_frame` it is for units that keep entering,
    each with a fixed outcome; not for the same units over a growing window.

    Returns
    -------
    DataFrame
        ``variant``, ``day``, ``n``, ``control_n``, ``information_fraction``, ``effect``, ``z``,
        ``critical_value``, ``nominal_level``, ``crossed`` (this day's z crosses its bound),
        ``reject`` (some day up to this one crossed: stop), ``p_value`` (the naive fixed-horizon p).

    Examples
    --------
    >>> daily = pd.DataFrame({"day": [1, 1, 2, 2], "variant": ["c", "t"] * 2, "n": [500, 500, 1000, 1000],
    ...                       "sum": [500.0, 560.0, 1000.0, 1130.0], "sum_squares": [1500.0, 1600.0, 3000.0, 3200.0]})
    >>> group_sequential_frame(daily, "c", planned_n=4000)[["day", "information_fraction"]].values.tolist()
    [[1.0, 0.25], [2.0, 0.5]]
    """
    if not planned_n > 0:
        raise ParameterError(f"planned_n must be positive, got {planned_n!r}")
    days, variants, stat = _daily_statistics(daily, control, proportion, variant_col, day_col, frame_name)
    out = []
    c = stat(control)
    for variant in [v for v in variants if v != control]:
        t = stat(variant)
        total = np.asarray(c.n, dtype=float) + np.asarray(t.n, dtype=float)
        frac = total / float(planned_n)
        if np.any(frac > 1.0 + 1e-12) or np.any(np.diff(frac) <= 0):
            raise DataContractError(frame_name, "n", f"units must grow day by day and stay within planned_n "
                                    f"({planned_n:g}); got totals {total.tolist()}")
        design = spending_design(np.minimum(frac, 1.0), alpha, 2, spending, gamma)
        res = two_sample_test(c, t, alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.asarray(res.effect, dtype=float) / np.asarray(res.se, dtype=float)
        crossed = np.abs(z) >= np.asarray(design.critical_values)
        out.append(pd.DataFrame({
            "variant": variant, "day": days, "n": np.asarray(t.n), "control_n": np.asarray(c.n),
            "information_fraction": frac, "effect": np.asarray(res.effect), "z": z,
            "critical_value": design.critical_values, "nominal_level": design.nominal_levels,
            "crossed": crossed, "reject": np.logical_or.accumulate(crossed), "p_value": np.asarray(res.p_value)}))
    return pd.concat(out, ignore_index=True)
