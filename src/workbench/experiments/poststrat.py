"""Post-stratification: the effect re-weighted over pre-treatment strata (gbstats' estimator).

Customers fall into strata known before the experiment (region, channel group, new vs
repeat buyer). Within stratum ``k`` the arms give a control mean ``a_k`` and an effect
``d_k = b_k − a_k``; the post-stratified estimate weighs them by the strata's observed
shares ``ν_k = n_k / N`` (both arms together)::

    (ā, d̄) = Σ_k ν_k (a_k, d_k)

This is the regression of the outcome on the strata, the arm and their interaction, read at
the pooled strata mix: it removes the noise from chance imbalances of the strata between the
arms, so its variance is smaller than the plain difference of means whenever the strata
explain part of the outcome (and about the same when they do not).

The covariance of ``(ā, d̄)`` counts both sources of noise (gbstats "Algorithm 4", with the
cells from its "Algorithm 1"): the noise of the cell means given the counts, and that of the
multinomial shares ``ν̂``::

    Cov = A (diag ν − ν νᵀ) Aᵀ / N + Σ_k ν_k Σ_k / N,
    Σ_k = [[v_a N_k/n_a,  −v_a N_k/n_a], [−v_a N_k/n_a,  v_b N_k/n_b + v_a N_k/n_a]]

with ``A`` the 2 × K matrix of ``(a_k, d_k)`` and ``v`` the per-unit sample variances. The
relative effect ``d̄ / |ā|`` has the delta-method variance ``∇ᵀ Cov ∇``, ``∇ = (−d̄/ā², 1/ā)``.
The reference is a t with the Welch degrees of freedom of the arms pooled over the strata
(as gbstats). A stratum where either arm has no variance (fewer than 2 units, or a constant
metric) cannot be estimated on its own: it is merged into the largest stratum, as gbstats
does; with a single stratum left the estimate is the ordinary difference of means.

Reference: GrowthBook ``gbstats`` (``gbstats/models/tests.py``, ``EffectMomentsPostStratification``;
``tests/frequentist/test_post_strat.py``), whose published values the tests reproduce.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataContractError, ParameterError
from .moments import _check_alpha, critical_value, two_sided_p, welch_dof
from .stats import ProportionStatistic, SampleMeanStatistic

Cell = tuple[SampleMeanStatistic | ProportionStatistic, SampleMeanStatistic | ProportionStatistic]


@dataclass(frozen=True)
class PostStratifiedResult:
    """The post-stratified comparison of treatment with control.

    ``effect``/``se`` absolute, ``rel_effect``/``rel_se`` relative to ``|control_mean|``
    (the strata-weighted control mean); intervals at ``1 − alpha`` with the t reference of
    ``dof`` degrees of freedom; ``n_strata`` the strata used after merging, ``merged`` how
    many were merged into the largest one.
    """

    effect: float
    se: float
    rel_effect: float
    rel_se: float
    control_mean: float
    dof: float
    ci_low: float
    ci_high: float
    rel_ci_low: float
    rel_ci_high: float
    p_value: float
    alpha: float
    n_strata: int
    merged: int


def _viable(cell: Cell) -> bool:
    return all(float(s.n) >= 2 and float(s.variance) > 0 for s in cell)


def combine_cells(cells: Sequence[Cell]) -> tuple[list[Cell], int]:
    """Merge the strata that cannot be estimated alone into the largest one (gbstats' rule).

    Returns the cells to analyse (largest first) and how many were merged.
    """
    ordered = sorted(cells, key=lambda c: float(c[0].n) + float(c[1].n), reverse=True)
    out, merged = [ordered[0]], 0
    for cell in ordered[1:]:
        if _viable(cell):
            out.append(cell)
        else:
            out[0] = (out[0][0] + cell[0], out[0][1] + cell[1])
            merged += 1
    return out, merged


def moments(cells: Sequence[Cell]) -> tuple[np.ndarray, np.ndarray]:
    """``(ā, d̄)`` and their 2 × 2 covariance from the strata's per-arm statistics."""
    n_a = np.array([float(c[0].n) for c in cells])
    n_b = np.array([float(c[1].n) for c in cells])
    mean_a = np.array([float(c[0].mean) for c in cells])
    mean_b = np.array([float(c[1].mean) for c in cells])
    var_a = np.array([float(c[0].variance) for c in cells])
    var_b = np.array([float(c[1].variance) for c in cells])
    n_k = n_a + n_b
    total = n_k.sum()
    nu = n_k / total
    alpha = np.vstack([mean_a, mean_b - mean_a])                # 2 × K
    mean = alpha @ nu
    ca = var_a * n_k / n_a                                       # N_k · Var(a_k)
    cb = var_b * n_k / n_b
    cell_cov = np.array([[ca, -ca], [-ca, ca + cb]])             # 2 × 2 × K
    cov = alpha @ (np.diag(nu) - np.outer(nu, nu)) @ alpha.T / total + (cell_cov * nu).sum(axis=2) / total
    return mean, cov


def post_stratified_test(cells: Sequence[Cell], alpha: float = 0.05) -> PostStratifiedResult:
    """Post-stratified effect of treatment on a mean or proportion metric.

    Parameters
    ----------
    cells : sequence of (control, treatment) statistic pairs
        One pair per stratum: :class:`~.stats.SampleMeanStatistic` or
        :class:`~.stats.ProportionStatistic` of each arm within the stratum.
    alpha : float
        Two-sided level of the intervals and the test.

    Examples
    --------
    >>> c = [(SampleMeanStatistic(100, 1000.0, 12_000.0), SampleMeanStatistic(100, 1100.0, 14_000.0)),
    ...      (SampleMeanStatistic(50, 1000.0, 21_000.0), SampleMeanStatistic(60, 1260.0, 27_500.0))]
    >>> r = post_stratified_test(c)
    >>> round(r.effect, 4), round(r.se, 4)
    (1.0, 0.5023)
    """
    _check_alpha(alpha)
    cells = list(cells)
    if not cells:
        raise ParameterError("post-stratification needs at least one stratum")
    for k, cell in enumerate(cells):
        if len(cell) != 2 or type(cell[0]) is not type(cell[1]) or \
                not isinstance(cell[0], (SampleMeanStatistic, ProportionStatistic)):
            raise ParameterError(f"stratum {k}: expected a (control, treatment) pair of SampleMeanStatistic or "
                                 f"ProportionStatistic, got {tuple(type(s).__name__ for s in cell)}")
    pooled_a = sum((c[0] for c in cells[1:]), cells[0][0])
    pooled_b = sum((c[1] for c in cells[1:]), cells[0][1])
    if not _viable((pooled_a, pooled_b)):
        raise DataContractError("strata", None, "an arm has fewer than 2 units or no variance over all strata; "
                                "no test is possible")
    used, merged = combine_cells(cells)
    mean, cov = moments(used)
    if mean[0] == 0:
        raise DataContractError("strata", None, "the strata-weighted control mean is 0: no relative effect")
    grad = np.array([-mean[1] / mean[0] ** 2, 1.0 / mean[0]])
    se, rel_se = float(np.sqrt(cov[1, 1])), float(np.sqrt(grad @ cov @ grad))
    rel = float(mean[1] / abs(mean[0]))
    dof = float(welch_dof(pooled_a.mean_variance, pooled_a.n, pooled_b.mean_variance, pooled_b.n))
    q = float(critical_value(alpha, dof))
    effect = float(mean[1])
    return PostStratifiedResult(effect, se, rel, rel_se, float(mean[0]), dof, effect - q * se, effect + q * se,
                                rel - q * rel_se, rel + q * rel_se, float(two_sided_p(effect / se, dof)),
                                float(alpha), len(used), merged)


def variance_reduction(cells: Sequence[Cell]) -> float:
    """``1 − Var(post-stratified effect) / Var(difference of pooled means)``.

    Examples
    --------
    >>> c = [(ProportionStatistic(500, 50), ProportionStatistic(500, 60)),
    ...      (ProportionStatistic(500, 250), ProportionStatistic(500, 260))]
    >>> round(variance_reduction(c), 3)
    0.187
    """
    used, _ = combine_cells(list(cells))
    _, cov = moments(used)
    a = sum((c[0] for c in cells[1:]), cells[0][0])
    b = sum((c[1] for c in cells[1:]), cells[0][1])
    return float(1.0 - cov[1, 1] / (float(a.mean_variance) + float(b.mean_variance)))


__all__ = ["PostStratifiedResult", "combine_cells", "moments", "post_stratified_test", "variance_reduction"]
