"""CUPED for ratio metrics: gbstats' own test values, the reduction to the plain ratio test, and A/A."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ParameterError
from workbench.experiments.cuped_ratio import RegressionAdjustedRatioStatistic, cuped_ratio_test, ratio_theta
from workbench.experiments.frequentist import ratio_test
from workbench.experiments.stats import RatioStatistic


def _gbstats_arm(n, mp, mps, dp, dps, m0, m0s, d0, d0s, mm, dd, m0d0, mpdp, mpd0, m0dp):
    return RegressionAdjustedRatioStatistic(
        n, mp, mps, dp, dps, m0, m0s, d0, d0s, m_post_d_post_sum_of_products=mpdp, m_post_m_pre_sum_of_products=mm,
        m_post_d_pre_sum_of_products=mpd0, d_post_m_pre_sum_of_products=m0dp, d_post_d_pre_sum_of_products=dd,
        m_pre_d_pre_sum_of_products=m0d0)


# gbstats (GrowthBook), packages/stats/tests/frequentist/test_tests.py,
# TestTwoSidedTTest.test_two_sided_ttest_test_runs_ratio_ra: the two RegressionAdjustedRatioStatistic arms.
CONTROL = _gbstats_arm(100, 485.112236689623, 2715.484666118136, 679.9093275844917, 4939.424001640236,
                       192.59138069991536, 460.076026390857, 290.1398399750233, 920.9461385038898,
                       1113.6215759318352, 2130.9404074446747, 634.239482353647, 3602.146836776702,
                       1559.2878434944676, 1460.3181079276983)
TREATMENT = _gbstats_arm(100, 514.7757826608777, 2994.897482705013, 705.4090874383759, 5291.36604146392,
                         206.94157227402536, 514.2903702246757, 302.54389139107326, 994.4506208125663,
                         1237.0953021125997, 2292.081739775257, 698.4173425817908, 3918.1561431600717,
                         1701.0287270040265, 1604.0759503266522)


def test_reproduces_gbstats_regression_adjusted_ratio_test():
    r = cuped_ratio_test(CONTROL, TREATMENT)
    # Published (rounded to 5 decimals) in gbstats' test: relative expected -0.0007, ci (-0.00841, 0.00700),
    # uplift stddev 0.00391. Full-precision values: gbstats' TwoSidedTTest on the same statistics
    # (difference_type "relative" and "absolute"), computed once outside this project.
    assert round(r.rel_effect, 5) == -0.0007
    assert (round(r.rel_ci_low, 5), round(r.rel_ci_high, 5), round(r.rel_se, 5)) == (-0.00841, 0.007, 0.00391)
    assert r.rel_effect == pytest.approx(-0.0007014833343349333, abs=1e-10)
    assert r.rel_se == pytest.approx(0.003907384079294573, abs=1e-10)
    assert (r.rel_ci_low, r.rel_ci_high) == pytest.approx((-0.0084077861436321, 0.007004819474962233), abs=1e-10)
    assert r.theta == pytest.approx(0.8290044254063292, abs=1e-10)
    assert r.effect == pytest.approx(-0.0005005051931390447, abs=1e-10)
    assert r.se == pytest.approx(0.0027882397747049296, abs=1e-10)
    assert r.dof == pytest.approx(194.41780731451198, abs=1e-6)
    assert r.p_value == pytest.approx(0.8577275125565893, abs=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((-0.005999585798668331, 0.004998575412390242), abs=1e-10)
    # gbstats' per-unit variance of the control arm's adjusted statistic (stat_a.variance).
    assert CONTROL.adjusted_variance(r.theta) == pytest.approx(0.00033595017597942847, abs=1e-12)
    assert r.method == "cuped_ratio" and r.variance_reduction == pytest.approx(0.98, abs=0.01)


def _linearised(m, d):
    return (m - m.mean() / d.mean() * d) / d.mean()


def _arm(rng, n, lift=1.0):
    d0 = rng.poisson(3, n) + 1.0
    m0 = d0 * rng.gamma(4.0, 5.0, n)
    d = d0 + rng.poisson(1, n)
    m = lift * m0 * (d / d0) * rng.lognormal(0.0, 0.3, n)
    return m, d, m0, d0


def test_theta_is_the_pooled_slope_of_the_linearised_ratios_and_zero_gives_the_ratio_test():
    rng = np.random.default_rng(3)
    arms = [_arm(rng, 400), _arm(rng, 600, 1.05)]
    c, t = (RegressionAdjustedRatioStatistic.from_values(*a) for a in arms)
    lin = [(_linearised(m, d), _linearised(m0, d0)) for m, d, m0, d0 in arms]
    cov = sum(np.cov(y, x)[0, 1] for y, x in lin)
    var = sum(np.var(x, ddof=1) for _, x in lin)
    assert ratio_theta(c, t) == pytest.approx(cov / var, rel=1e-10)
    plain = ratio_test(*(RatioStatistic.from_values(m, d) for m, d, _, _ in arms))
    zero = cuped_ratio_test(c, t, theta=0.0)
    assert (zero.effect, zero.se, zero.p_value) == pytest.approx((plain.effect, plain.se, plain.p_value), rel=1e-10)
    assert zero.variance_reduction == pytest.approx(0.0, abs=1e-12)
    adjusted = cuped_ratio_test(c, t)
    assert adjusted.se < 0.8 * plain.se
    assert (c + c).n == 800 and (c + c).mean == pytest.approx(c.mean)


def test_impossible_sums_and_unequal_lengths_are_refused():
    bad = RegressionAdjustedRatioStatistic(10, 10.0, 1.0, *([10.0, 20.0] * 3), *([5.0] * 6))
    with pytest.raises(ParameterError, match="m_post_sum_squares"):
        cuped_ratio_test(bad, CONTROL)
    with pytest.raises(Exception, match="differ in length"):
        RegressionAdjustedRatioStatistic.from_values([1.0, 2.0], [1.0, 1.0], [1.0], [1.0])


def _sums(m, d, m0, d0):
    """Per-experiment sums (rows are experiments) as one array-valued statistic."""
    parts = {"m_post": m, "d_post": d, "m_pre": m0, "d_pre": d0}
    out = {"n": np.full(m.shape[0], float(m.shape[1]))}
    for k, v in parts.items():
        out[f"{k}_sum"], out[f"{k}_sum_squares"] = v.sum(axis=1), (v * v).sum(axis=1)
    for a, b in (("m_post", "d_post"), ("m_post", "m_pre"), ("m_post", "d_pre"), ("d_post", "m_pre"),
                 ("d_post", "d_pre"), ("m_pre", "d_pre")):
        out[f"{a}_{b}_sum_of_products"] = (parts[a] * parts[b]).sum(axis=1)
    return RegressionAdjustedRatioStatistic(**out)


@pytest.mark.slow
def test_aa_false_positive_rate_and_variance_reduction():
    """A/A: 4,000 simulated experiments of 300 units per arm; the adjusted test rejects about 5%."""
    rng = np.random.default_rng(11)
    sims, n = 4000, 300
    c = _sums(*_arm(rng, (sims, n)))
    t = _sums(*_arm(rng, (sims, n)))
    r = cuped_ratio_test(c, t)
    rate = float((np.asarray(r.p_value) < 0.05).mean())
    assert 0.04 <= rate <= 0.06, rate
    assert float(np.median(r.variance_reduction)) > 0.5
