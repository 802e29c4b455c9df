"""Post-stratification against gbstats' published values and by simulation.

Reference: GrowthBook gbstats, ``packages/stats/tests/frequentist/test_post_strat.py``
(``TestPostStratification.setUp``: ``stats_count_strata`` with ``point_estimate_count_abs``,
``standard_error_count_abs``, ``point_estimate_count_rel``, ``standard_error_count_rel``;
``test_post_strat_count_gbstats``: the interval is ``t.ppf(1 − α/2, dof)`` with the Welch dof of
the strata summed).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from workbench import DataContractError, ParameterError
from workbench.experiments.frequentist import welch_ttest
from workbench.experiments.poststrat import post_stratified_test, variance_reduction
from workbench.experiments.stats import ProportionStatistic
from workbench.experiments.stats import SampleMeanStatistic as S

GBSTATS_STRATA = [
    (S(21, 330.0696210595999, 5377.811252605509), S(42, 708.1220000911836, 12249.255519049513)),
    (S(65, 1391.96628040659, 30546.63404187155), S(75, 1807.4703052657744, 45000.287664918586)),
    (S(102, 2916.824124651419, 86396.06886690554), S(101, 3104.5399914554023, 98365.40553530994)),
    (S(151, 5172.587929941052, 182453.04528037464), S(121, 4613.696610070716, 180520.64781229294)),
    (S(160, 6539.348445231273, 274981.98909352464), S(162, 7431.953259880505, 349244.6690736718)),
]


class TestGbstatsValues:
    def test_effect_and_standard_errors(self):
        r = post_stratified_test(GBSTATS_STRATA)
        assert r.effect == pytest.approx(3.548094377986586, abs=1e-9)
        assert r.se == pytest.approx(0.37634374823059685, abs=1e-9)
        assert r.rel_effect == pytest.approx(0.10994584851937336, abs=1e-9)
        assert r.rel_se == pytest.approx(0.012225394656480164, abs=1e-9)
        assert (r.n_strata, r.merged) == (5, 0)

    def test_interval_uses_the_welch_dof_of_the_summed_strata(self):
        r = post_stratified_test(GBSTATS_STRATA)
        a = sum((c[0] for c in GBSTATS_STRATA[1:]), GBSTATS_STRATA[0][0])
        b = sum((c[1] for c in GBSTATS_STRATA[1:]), GBSTATS_STRATA[0][1])
        dof = (b.variance / b.n + a.variance / a.n) ** 2 / (
            b.variance ** 2 / (b.n ** 2 * (b.n - 1)) + a.variance ** 2 / (a.n ** 2 * (a.n - 1)))
        half = sps.t.ppf(0.975, dof) * 0.37634374823059685
        assert r.dof == pytest.approx(dof, rel=1e-12)
        assert (r.ci_low, r.ci_high) == pytest.approx((3.548094377986586 - half, 3.548094377986586 + half), abs=1e-9)
        half_rel = sps.t.ppf(0.975, dof) * 0.012225394656480164
        assert r.rel_ci_low == pytest.approx(0.10994584851937336 - half_rel, abs=1e-9)


class TestMerging:
    def test_stratum_without_variance_joins_the_largest(self):
        tiny = (S(1, 10.0, 100.0), S(3, 30.0, 320.0))        # one control unit: no variance
        r = post_stratified_test(GBSTATS_STRATA + [tiny])
        largest = GBSTATS_STRATA[4]
        merged = GBSTATS_STRATA[:4] + [(largest[0] + tiny[0], largest[1] + tiny[1])]
        ref = post_stratified_test(merged)
        assert (r.n_strata, r.merged) == (5, 1)
        assert r.effect == pytest.approx(ref.effect, abs=1e-12) and r.se == pytest.approx(ref.se, abs=1e-12)

    def test_single_stratum_is_the_difference_of_means(self):
        c, t = GBSTATS_STRATA[2]
        r, w = post_stratified_test([(c, t)]), welch_ttest(c, t)
        assert r.effect == pytest.approx(w.effect, abs=1e-12)
        # gbstats' cell covariance includes the multinomial term, zero with one stratum
        assert r.se == pytest.approx(w.se, rel=1e-12)

    def test_errors(self):
        with pytest.raises(ParameterError, match="stratum 0"):
            post_stratified_test([(S(5, 1.0, 2.0), ProportionStatistic(5, 1))])
        with pytest.raises(DataContractError, match="no variance"):
            post_stratified_test([(S(5, 5.0, 5.0), S(5, 5.0, 5.0))])


def _simulate(rng: np.random.Generator, sims: int, n: int, effect: float) -> list:
    """Two strata with different means (shares 30/70); per-stratum sums per simulation."""
    stratum = rng.random((sims, n)) < 0.3
    arm = rng.random((sims, n)) < 0.5
    y = np.where(stratum, 10.0, 30.0) + rng.normal(0, 5.0, (sims, n)) + effect * arm
    cells = []
    for k in (True, False):
        cell = []
        for a in (False, True):
            mask = (stratum == k) & (arm == a)
            cell.append(S(mask.sum(1), (y * mask).sum(1), (y * y * mask).sum(1)))
        cells.append(cell)
    return cells


@pytest.mark.slow
def test_aa_false_positive_rate_and_variance_reduction():
    """A/A: 2,500 simulated experiments, 5% ± 1% rejections; the strata explain most of the variance."""
    rng = np.random.default_rng(19)
    sims = 2500
    cells = _simulate(rng, sims, 400, 0.0)
    p, se, plain = np.empty(sims), np.empty(sims), np.empty(sims)
    for i in range(sims):  # a loop over simulated experiments, not over units
        pair = [(S(c[0].n[i], c[0].sum[i], c[0].sum_squares[i]), S(c[1].n[i], c[1].sum[i], c[1].sum_squares[i]))
                for c in cells]
        r = post_stratified_test(pair)
        p[i], se[i] = r.p_value, r.se
        plain[i] = 1.0 - variance_reduction(pair)
    rate = float(np.mean(p < 0.05))
    assert 0.04 <= rate <= 0.06, rate
    # within-stratum sd 5, between-strata sd ≈ 20·sqrt(0.21) ≈ 9.2: Var ratio ≈ 25 / (25 + 84) ≈ 0.23
    assert np.median(plain) == pytest.approx(25 / (25 + 400 * 0.21), abs=0.03)
