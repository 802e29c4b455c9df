"""Experiment design: power, minimum detectable effect, sample size (also for k arms) and assignment.

The metric is described by one of

* ``baseline`` (a rate) for a **proportion** — the treatment arm's variance follows the
  alternative rate ``p₁ = p₀ + δ``;
* ``sd`` (per-unit standard deviation; ``baseline`` only needed for relative effects)
  for a **mean**;
* ``statistic``: a :class:`~workbench.experiments.stats.SampleMeanStatistic`,
  :class:`~workbench.experiments.stats.ProportionStatistic` or
  :class:`~workbench.experiments.stats.RatioStatistic` from a past period, which supplies
  the baseline mean and per-unit variance (the delta-method variance for a **ratio**
  metric such as GMV per order).

The test is the two-sided (or one-sided) z test of the analysis, with the variance of the
difference ``deff · (σ₀²/n₀ + σ₁²/n₁)``. For a proportion (unit-level design) the test is the
pooled two-proportion z test, so its critical value is on the scale of the variance under H0,
``p̄q̄ (1/n₀ + 1/n₁)`` with ``p̄ = (n₀p₀ + n₁p₁)/(n₀ + n₁)``, and the statistic's spread under H1 is
unpooled: for equal arms ``n = (z_{1−α/2}·√(2p̄q̄) + z_{1−β}·√(p₀q₀ + p₁q₁))² / δ²`` (Fleiss; what
G*Power's z test for two independent proportions and statsmodels' ``power_proportions_2indep``
compute). For a cluster design (``icc > 0`` or
``mean_cluster_size > 1``), ``deff = 1 + (m̄ − 1)·ICC`` and, as the analysis uses a t
reference with ``G − 2`` degrees of freedom, power uses the noncentral t. Unit-level
mean and ratio designs match ``statsmodels`` ``NormalIndPower`` with the standardised effect
``δ / sqrt((σ₀² + σ₁²/r)/(1 + 1/r))``.

Several treatment arms against one control (:func:`multi_arm_sample_size`): every comparison
gets the power asked for at a per-comparison level that keeps the family-wise error at ``α``:
Bonferroni ``α/k``, or Dunnett's exact critical value for ``k`` z statistics sharing the
control (:func:`dunnett_critical_value`); the per-comparison size is then :func:`sample_size`'s.

Assignment: :func:`assign_variants` hashes ``salt:experiment_id:unit_id`` with SHA-256 to a
uniform number, so the same unit always lands in the same variant, on any machine, in any
order, without storing a random seed; a new ``experiment_id`` (or ``salt``) reshuffles.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from ..errors import ParameterError
from .stats import ProportionStatistic, RatioStatistic, SampleMeanStatistic

ALTERNATIVES = ("two-sided", "larger", "smaller")


@dataclass(frozen=True)
class _Metric:
    kind: str
    baseline: float | None
    variance: float | None  # per-unit variance (None for proportions: depends on the rate)

    def variances(self, delta: float) -> tuple[float, float]:
        if self.kind == "proportion":
            p0, p1 = self.baseline, self.baseline + delta
            if not 0.0 < p1 < 1.0:
                raise ParameterError(f"the alternative rate {p1:.6g} = baseline {p0} + effect {delta:.6g} "
                                     f"is outside (0, 1)")
            return p0 * (1 - p0), p1 * (1 - p1)
        return self.variance, self.variance


def _metric(metric: str | None, baseline: float | None, sd: float | None, statistic: Any) -> _Metric:
    if statistic is not None:
        kinds = {ProportionStatistic: "proportion", SampleMeanStatistic: "mean", RatioStatistic: "ratio"}
        if type(statistic) not in kinds:
            raise ParameterError(f"statistic must be one of {[k.__name__ for k in kinds]}, "
                                 f"got {type(statistic).__name__}")
        kind = kinds[type(statistic)]
        if metric is not None and metric != kind:
            raise ParameterError(f"metric={metric!r} contradicts a {type(statistic).__name__}")
        return _metric(kind, float(statistic.mean), None if kind == "proportion" else math.sqrt(statistic.variance),
                       None)
    if metric is None:
        metric = "mean" if sd is not None else "proportion"
    if metric == "proportion":
        if baseline is None or not 0.0 < baseline < 1.0:
            raise ParameterError(f"a proportion metric needs baseline in (0, 1), got {baseline!r}")
        return _Metric("proportion", float(baseline), None)
    if metric in ("mean", "ratio"):
        if sd is None or not sd > 0:
            raise ParameterError(f"a {metric} metric needs a positive sd (or a statistic), got {sd!r}")
        return _Metric(metric, None if baseline is None else float(baseline), float(sd) ** 2)
    raise ParameterError(f"metric must be 'proportion', 'mean' or 'ratio', got {metric!r}")


def _absolute(effect: float, relative: bool, m: _Metric) -> float:
    if not relative:
        return float(effect)
    if m.baseline is None or m.baseline == 0:
        raise ParameterError("a relative effect needs a non-zero baseline (or a statistic)")
    return float(effect) * m.baseline


def _check(alpha: float, ratio: float, alternative: str, icc: float, mean_cluster_size: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    if not ratio > 0:
        raise ParameterError(f"ratio (n_treatment / n_control) must be positive, got {ratio!r}")
    if alternative not in ALTERNATIVES:
        raise ParameterError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if not 0.0 <= icc < 1.0 or not mean_cluster_size >= 1.0:
        raise ParameterError(f"need 0 <= icc < 1 and mean_cluster_size >= 1 (got {icc}, {mean_cluster_size})")


def _power(delta: float, n0: float, m: _Metric, ratio: float, alpha: float, alternative: str, icc: float,
           mcs: float) -> float:
    v0, v1 = m.variances(delta)
    deff = 1.0 + (mcs - 1.0) * icc
    se = math.sqrt(deff * (v0 / n0 + v1 / (n0 * ratio)))
    nc = delta / se
    clustered = icc > 0 or mcs > 1
    if clustered:
        dof = n0 / mcs + n0 * ratio / mcs - 2.0
        if dof <= 0:
            return float("nan")
        if alternative == "two-sided":
            crit = sps.t.isf(alpha / 2, dof)
            return float(sps.nct.sf(crit, dof, nc) + sps.nct.cdf(-crit, dof, nc))
        crit = sps.t.isf(alpha, dof)
        return float(sps.nct.sf(crit, dof, nc) if alternative == "larger" else sps.nct.cdf(-crit, dof, nc))
    # The pooled two-proportion z test standardises by the variance under H0 (both arms at the pooled
    # rate p̄ = (p₀ + r p₁)/(1 + r)); the statistic's spread under H1 is the unpooled one.
    null_ratio = 1.0
    if m.kind == "proportion":
        p0, p1 = m.baseline, m.baseline + delta
        p_bar = (p0 + ratio * p1) / (1.0 + ratio)
        null_ratio = math.sqrt(p_bar * (1 - p_bar) * (1 / n0 + 1 / (n0 * ratio)) / (v0 / n0 + v1 / (n0 * ratio)))
    if alternative == "two-sided":
        crit = sps.norm.isf(alpha / 2) * null_ratio
        return float(sps.norm.cdf(nc - crit) + sps.norm.cdf(-nc - crit))
    crit = sps.norm.isf(alpha) * null_ratio
    return float(sps.norm.cdf(nc - crit) if alternative == "larger" else sps.norm.cdf(-nc - crit))


def power(effect: float, n_control: float, *, baseline: float | None = None, sd: float | None = None,
          statistic: Any = None, metric: str | None = None, relative: bool = False, ratio: float = 1.0,
          alpha: float = 0.05, alternative: str = "two-sided", icc: float = 0.0,
          mean_cluster_size: float = 1.0) -> float:
    """Probability that the test rejects when the true effect is ``effect``.

    Parameters
    ----------
    effect : float
        True effect, absolute (or relative to the baseline when ``relative``).
    n_control : float
        Units in the control arm; the treatment arm has ``ratio · n_control``.
    baseline, sd, statistic, metric
        Metric description (module docstring).
    icc, mean_cluster_size
        Cluster design: intraclass correlation and mean units per cluster.

    Examples
    --------
    >>> round(power(0.01, 10_000, baseline=0.10), 4)          # +1 point on a 10% rate
    0.6356
    """
    _check(alpha, ratio, alternative, icc, mean_cluster_size)
    if not n_control > 1:
        raise ParameterError(f"n_control must exceed 1, got {n_control!r}")
    m = _metric(metric, baseline, sd, statistic)
    return _power(_absolute(effect, relative, m), float(n_control), m, ratio, alpha, alternative, icc,
                  mean_cluster_size)


def minimum_detectable_effect(n_control: float, *, power: float = 0.8, baseline: float | None = None,
                              sd: float | None = None, statistic: Any = None, metric: str | None = None,
                              relative: bool = False, ratio: float = 1.0, alpha: float = 0.05,
                              alternative: str = "two-sided", icc: float = 0.0,
                              mean_cluster_size: float = 1.0) -> float:
    """Smallest positive effect (``smaller``: largest negative) detected with ``power``.

    Returned on the scale asked for: absolute, or relative to the baseline.

    Examples
    --------
    >>> round(minimum_detectable_effect(10_000, sd=50.0), 3)       # GMV per customer, sd 50
    1.981
    """
    _check(alpha, ratio, alternative, icc, mean_cluster_size)
    target = _target_power(power, alpha)
    m = _metric(metric, baseline, sd, statistic)
    sign = -1.0 if alternative == "smaller" else 1.0
    upper = (1.0 - m.baseline) if m.kind == "proportion" and sign > 0 else (
        m.baseline if m.kind == "proportion" else None)

    def gap(x: float) -> float:
        return _power(sign * x, float(n_control), m, ratio, alpha, alternative, icc, mean_cluster_size) - target

    limit = upper * (1 - 1e-12) if upper is not None else math.inf
    step = math.sqrt(max(m.variances(0.0))) / math.sqrt(n_control)
    hi = min(step, limit)
    while gap(hi) < 0:
        if hi >= limit:
            raise ParameterError(f"no effect within the metric's range reaches power {power} with "
                                 f"n_control={n_control}")
        hi = min(hi * 2, limit)
    delta = sign * optimize.brentq(gap, 0.0, hi, xtol=1e-15, rtol=1e-13)
    return delta / m.baseline if relative else delta


def _target_power(power: float, alpha: float) -> float:
    if not alpha < power < 1.0:
        raise ParameterError(f"power must be in (alpha, 1), got {power!r}")
    return float(power)


@dataclass(frozen=True)
class SampleSize:
    """Required units per arm (exact solution and rounded up) and clusters when clustered."""

    n_control: float
    n_treatment: float
    n_control_required: int
    n_treatment_required: int
    n_total_required: int
    design_effect: float
    clusters_control_required: int | None
    clusters_treatment_required: int | None


def sample_size(effect: float, *, power: float = 0.8, baseline: float | None = None, sd: float | None = None,
                statistic: Any = None, metric: str | None = None, relative: bool = False, ratio: float = 1.0,
                alpha: float = 0.05, alternative: str = "two-sided", icc: float = 0.0,
                mean_cluster_size: float = 1.0) -> SampleSize:
    """Units per arm needed to detect ``effect`` with ``power``.

    Examples
    --------
    >>> s = sample_size(0.01, baseline=0.10)                    # +1 point on a 10% rate
    >>> s.n_control_required, s.n_treatment_required
    (14751, 14751)
    >>> s = sample_size(0.01, baseline=0.10, icc=0.01, mean_cluster_size=200)  # randomised by store
    >>> s.design_effect, s.clusters_control_required
    (2.99, 222)
    """
    _check(alpha, ratio, alternative, icc, mean_cluster_size)
    target = _target_power(power, alpha)
    m = _metric(metric, baseline, sd, statistic)
    delta = _absolute(effect, relative, m)
    if delta == 0 or (alternative == "larger" and delta < 0) or (alternative == "smaller" and delta > 0):
        raise ParameterError(f"effect {effect!r} cannot be detected by a {alternative} test")
    m.variances(delta)  # validates the alternative rate

    def gap(n0: float) -> float:
        return _power(delta, n0, m, ratio, alpha, alternative, icc, mean_cluster_size) - target

    clustered = icc > 0 or mean_cluster_size > 1
    lo = 2.0 * mean_cluster_size / min(1.0, ratio) + 1e-9 if clustered else 1.0 + 1e-9
    hi = max(lo * 2, 10.0)
    while not gap(hi) > 0:
        hi *= 2
        if hi > 1e15:
            raise ParameterError("the required sample size exceeds 1e15 units")
    if gap(lo) > 0:
        n0 = lo
    else:
        n0 = optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-14)
    n1 = n0 * ratio
    deff = 1.0 + (mean_cluster_size - 1.0) * icc
    c0 = math.ceil(n0 - 1e-9)
    c1 = math.ceil(n1 - 1e-9)
    return SampleSize(n_control=n0, n_treatment=n1, n_control_required=c0, n_treatment_required=c1,
                      n_total_required=c0 + c1, design_effect=deff,
                      clusters_control_required=math.ceil(n0 / mean_cluster_size - 1e-9) if clustered else None,
                      clusters_treatment_required=math.ceil(n1 / mean_cluster_size - 1e-9) if clustered else None)


def hash_uniform(unit_ids: Iterable[Any], experiment_id: str, salt: str = "") -> np.ndarray:
    """Uniform numbers in [0, 1) from ``sha256(f"{salt}:{experiment_id}:{unit_id}")``.

    The first 8 bytes of the digest, read big-endian, divided by 2⁶⁴. Unit ids are
    formatted with ``str`` (so ``42`` and ``"42"`` coincide; ``42.0`` does not).

    Examples
    --------
    >>> hash_uniform(["C1"], "EXP1").round(6).tolist()
    [0.175081]
    """
    prefix = f"{salt}:{experiment_id}:"
    scale = float(2 ** 64)
    return np.array([int.from_bytes(hashlib.sha256((prefix + str(u)).encode("utf-8")).digest()[:8], "big") / scale
                     for u in unit_ids], dtype=float)


def assign_variants(unit_ids: Iterable[Any], experiment_id: str, variants: Sequence[str],
                    weights: Sequence[float] | None = None, salt: str = "") -> pd.Series:
    """Deterministic weighted assignment of units to variants by salted hashing.

    Parameters
    ----------
    unit_ids : iterable
        Customer, staff or store ids.
    experiment_id : str
        Part of the hash key: every experiment gets an independent split.
    variants : sequence of str
        Variant names, in the order their weight intervals are laid out on [0, 1).
    weights : sequence of float, optional
        Shares per variant (normalised); default equal.
    salt : str
        Extra key, e.g. to re-randomise an experiment after an SRM.

    Returns
    -------
    Series
        The variant of each unit, indexed by the unit ids, in input order.

    Examples
    --------
    >>> assign_variants(["C1", "C2", "C3"], "EXP1", ["control", "treatment"]).tolist()
    ['control', 'control', 'treatment']
    """
    ids = list(unit_ids)
    variants = [str(v) for v in variants]
    if len(variants) < 1 or len(set(variants)) != len(variants):
        raise ParameterError(f"variants must be non-empty and distinct, got {variants}")
    w = np.ones(len(variants)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(variants),) or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ParameterError(f"weights must be one non-negative number per variant with a positive sum, got {weights}")
    edges = np.cumsum(w) / w.sum()
    u = hash_uniform(ids, experiment_id, salt)
    idx = np.minimum(np.searchsorted(edges, u, side="right"), len(variants) - 1)
    return pd.Series(np.asarray(variants, dtype=object)[idx], index=pd.Index(ids, name="unit_id"), name="variant")


CORRECTIONS = ("bonferroni", "dunnett", None)


def dunnett_critical_value(k: int, alpha: float = 0.05, ratio: float = 1.0, alternative: str = "two-sided") -> float:
    """Dunnett's critical value for ``k`` treatments each compared with one control (normal reference).

    The comparisons share the control arm, so their z statistics are equicorrelated with
    ``ρ = r / (1 + r)`` (``r = n_treatment / n_control``; ½ for equal arms). The value ``c`` solves
    ``P(max_i |Z_i| ≤ c) = 1 − α`` (one-sided: ``P(max_i Z_i ≤ c)``), computed with SciPy's
    multivariate normal distribution (Genz's quasi-Monte Carlo, fixed seed; accurate to about
    1e-4). Dunnett's (1955) table for infinite degrees of freedom, α = 0.05 two-sided: 2.21,
    2.35, 2.44 for k = 2, 3, 4.

    Examples
    --------
    >>> round(dunnett_critical_value(3), 2)
    2.35
    """
    if int(k) != k or k < 1:
        raise ParameterError(f"k (treatment arms) must be a positive integer, got {k!r}")
    _check(alpha, ratio, alternative, 0.0, 1.0)
    k = int(k)
    two = alternative == "two-sided"
    if k == 1:
        return float(sps.norm.isf(alpha / 2 if two else alpha))
    rho = ratio / (1.0 + ratio)
    cov = np.full((k, k), rho)
    np.fill_diagonal(cov, 1.0)
    dist = sps.multivariate_normal(np.zeros(k), cov, seed=20_240_517)
    lower = np.full(k, -np.inf)

    def coverage(c: float) -> float:
        return float(dist.cdf(np.full(k, c), lower_limit=-np.full(k, c) if two else lower)) - (1.0 - alpha)

    return float(optimize.brentq(coverage, sps.norm.isf(alpha / (2 if two else 1)), 10.0, xtol=1e-8))


@dataclass(frozen=True)
class MultiArmSampleSize:
    """Units per arm for ``k`` treatments each compared with a shared control.

    Every comparison reaches ``power`` at the per-comparison level ``alpha_per_comparison``
    (its critical value ``critical_value``), which keeps the family-wise error at ``alpha``
    under ``correction`` (``"bonferroni"``: ``α/k``; ``"dunnett"``: the exact equicorrelated
    normal critical value, a little less conservative).
    """

    k: int
    correction: str | None
    alpha_per_comparison: float
    critical_value: float
    n_control_required: int
    n_treatment_required: int
    n_total_required: int


def multi_arm_sample_size(effect: float, k: int, *, power: float = 0.8, correction: str | None = "bonferroni",
                          control_share: float | None = None, baseline: float | None = None,
                          sd: float | None = None, statistic: Any = None, metric: str | None = None,
                          relative: bool = False, alpha: float = 0.05,
                          alternative: str = "two-sided") -> MultiArmSampleSize:
    """Units per arm for ``k`` treatment arms against one control, corrected for the ``k`` tests.

    Parameters
    ----------
    effect : float
        The effect each comparison must detect (absolute, or relative with ``relative``).
    k : int
        Treatment arms (each compared with the control).
    power : float
        Power of each comparison (not of detecting all of them).
    correction : {"bonferroni", "dunnett", None}
        How the family-wise error ``alpha`` is split over the ``k`` comparisons.
    control_share : float, optional
        ``n_control / n_treatment``; default 1 (equal arms). ``√k`` is the allocation that
        minimises the total for a fixed per-comparison precision (Dunnett 1955).
    baseline, sd, statistic, metric, relative
        The metric, as in :func:`sample_size`.

    Examples
    --------
    >>> s = multi_arm_sample_size(0.01, 3, baseline=0.10)             # three scripts vs control
    >>> s.n_treatment_required, round(s.alpha_per_comparison, 5)
    (19676, 0.01667)
    >>> multi_arm_sample_size(0.01, 3, baseline=0.10, correction="dunnett").n_treatment_required
    19132
    """
    if correction not in CORRECTIONS:
        raise ParameterError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    share = 1.0 if control_share is None else float(control_share)
    if not share > 0:
        raise ParameterError(f"control_share must be positive, got {control_share!r}")
    ratio = 1.0 / share                                   # n_treatment / n_control
    sides = 2 if alternative == "two-sided" else 1
    if correction == "dunnett":
        crit = dunnett_critical_value(k, alpha, ratio, alternative)
        a = float(sides * sps.norm.sf(crit))
    else:
        if int(k) != k or k < 1:
            raise ParameterError(f"k (treatment arms) must be a positive integer, got {k!r}")
        a = alpha / k if correction == "bonferroni" else alpha
        crit = float(sps.norm.isf(a / sides))
    one = sample_size(effect, power=power, baseline=baseline, sd=sd, statistic=statistic, metric=metric,
                      relative=relative, ratio=ratio, alpha=a, alternative=alternative)
    n_c, n_t = one.n_control_required, one.n_treatment_required
    return MultiArmSampleSize(int(k), correction, a, crit, n_c, n_t, n_c + int(k) * n_t)
