"""Fixed-horizon tests: agreement with scipy/statsmodels, A/A calibration and CI coverage.

The A/A and coverage checks simulate N_SIMS = 10,000 experiments at once (the statistics
are elementwise in arrays). Binomial standard error of a 5% rate: sqrt(.05 * .95 / 10,000)
= 0.22 points, so the 4-6% band is about ±4.6 SE and the 94-96% coverage band the same:
a correct method passes for any seed, a miscalibrated one (e.g. a z test at small n or a
missing delta term) does not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from workbench import ParameterError
from workbench.experiments import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    capping_thresholds,
    cuped_test,
    proportion_ztest,
    ratio_test,
    welch_ttest,
    winsorize,
)

N_SIMS = 10_000


def rate(mask) -> float:
    return float(np.mean(mask))


def covers(result, truth, rel=False) -> float:
    lo, hi = (result.rel_ci_low, result.rel_ci_high) if rel else (result.ci_low, result.ci_high)
    return rate((lo <= truth) & (truth <= hi))


def gamma_arm(rng, n, shift=0.0, sims=N_SIMS):
    """Per-unit GMV-like values (skewed), reduced to sums per simulated experiment."""
    x = rng.gamma(2.0, 10.0, size=(sims, n)) + shift
    return SampleMeanStatistic(np.full(sims, n), x.sum(1), (x * x).sum(1))


class TestWelchTTest:
    def test_matches_scipy(self):
        rng = np.random.default_rng(1)
        a, b = rng.normal(10, 2, 80), rng.normal(10.8, 3.5, 55)
        ref = sps.ttest_ind(b, a, equal_var=False)
        res = welch_ttest(SampleMeanStatistic.from_values(a), SampleMeanStatistic.from_values(b))
        assert res.effect / res.se == pytest.approx(ref.statistic, abs=1e-8)
        assert res.p_value == pytest.approx(ref.pvalue, abs=1e-8)
        assert res.dof == pytest.approx(ref.df, abs=1e-8)
        ci = ref.confidence_interval(0.95)
        assert (res.ci_low, res.ci_high) == (pytest.approx(ci.low, abs=1e-8), pytest.approx(ci.high, abs=1e-8))

    def test_aa_false_positive_rate(self):
        rng = np.random.default_rng(101)
        res = welch_ttest(gamma_arm(rng, 200), gamma_arm(rng, 200))
        fpr = rate(res.p_value < 0.05)
        assert 0.04 <= fpr <= 0.06, fpr

    def test_coverage_of_known_effect(self):
        rng = np.random.default_rng(102)
        res = welch_ttest(gamma_arm(rng, 200), gamma_arm(rng, 200, shift=2.0))
        assert 0.94 <= covers(res, 2.0) <= 0.96
        # relative effect: true mean 20 -> 22, +10%, delta-method interval
        assert 0.94 <= covers(res, 0.10, rel=True) <= 0.96

    def test_bad_alpha(self):
        s = SampleMeanStatistic.from_values([1.0, 2.0, 3.0])
        with pytest.raises(ParameterError, match="alpha"):
            welch_ttest(s, s, alpha=1.5)


class TestProportionZTest:
    def test_matches_statsmodels(self):
        c, t = ProportionStatistic(2400, 312), ProportionStatistic(2350, 365)
        res = proportion_ztest(c, t)
        stat, p = proportions_ztest([365, 312], [2350, 2400])
        assert res.p_value == pytest.approx(p, abs=1e-8)
        lo, hi = confint_proportions_2indep(365, 2350, 312, 2400, method="wald", compare="diff")
        assert (res.ci_low, res.ci_high) == (pytest.approx(lo, abs=1e-8), pytest.approx(hi, abs=1e-8))

    def test_aa_false_positive_rate(self):
        rng = np.random.default_rng(201)
        n = np.full(N_SIMS, 1000)
        res = proportion_ztest(ProportionStatistic(n, rng.binomial(n, 0.10).astype(float)),
                               ProportionStatistic(n, rng.binomial(n, 0.10).astype(float)))
        assert 0.04 <= rate(res.p_value < 0.05) <= 0.06

    def test_coverage_of_known_effect(self):
        rng = np.random.default_rng(202)
        n = np.full(N_SIMS, 1000)
        res = proportion_ztest(ProportionStatistic(n, rng.binomial(n, 0.10).astype(float)),
                               ProportionStatistic(n, rng.binomial(n, 0.12).astype(float)))
        assert 0.94 <= covers(res, 0.02) <= 0.96
        assert 0.94 <= covers(res, 0.20, rel=True) <= 0.96


def ratio_arm(rng, n, aov):
    """Orders per customer (1 + Poisson) and GMV = orders x AOV + noise."""
    d = 1 + rng.poisson(1.5, (N_SIMS, n))
    m = d * aov + rng.normal(0, 5, (N_SIMS, n)) * np.sqrt(d)
    return RatioStatistic(np.full(N_SIMS, n), m.sum(1), (m * m).sum(1), d.sum(1).astype(float),
                          (d * d).sum(1).astype(float), (m * d).sum(1))


class TestRatioDeltaMethod:
    def test_variance_matches_bootstrap_free_linearisation(self):
        rng = np.random.default_rng(3)
        d = 1 + rng.poisson(1.0, 300)
        m = d * 50 + rng.normal(0, 10, 300)
        r = RatioStatistic.from_values(m, d)
        lin = (m - m.sum() / d.sum() * d) / d.mean()
        res = ratio_test(r, r)
        assert res.se == pytest.approx(np.sqrt(2 * lin.var(ddof=1) / 300), rel=1e-9)

    def test_aa_false_positive_rate(self):
        rng = np.random.default_rng(301)
        res = ratio_test(ratio_arm(rng, 400, 10.0), ratio_arm(rng, 400, 10.0))
        assert 0.04 <= rate(res.p_value < 0.05) <= 0.06

    def test_coverage_of_known_effect(self):
        rng = np.random.default_rng(302)
        res = ratio_test(ratio_arm(rng, 400, 10.0), ratio_arm(rng, 400, 11.0))
        assert 0.94 <= covers(res, 1.0) <= 0.96
        assert 0.94 <= covers(res, 0.10, rel=True) <= 0.96


def cuped_arm(rng, n, effect=0.0):
    x = rng.normal(10, 3, (N_SIMS, n))
    y = 2 + 0.8 * x + rng.normal(0, 2, (N_SIMS, n)) + effect
    return RegressionAdjustedStatistic(np.full(N_SIMS, n), y.sum(1), (y * y).sum(1), x.sum(1), (x * x).sum(1),
                                       (x * y).sum(1))


class TestCuped:
    def test_aa_false_positive_rate(self):
        rng = np.random.default_rng(401)
        res = cuped_test(cuped_arm(rng, 200), cuped_arm(rng, 200))
        assert 0.04 <= rate(res.p_value < 0.05) <= 0.06

    def test_coverage_and_variance_reduction(self):
        rng = np.random.default_rng(402)
        c, t = cuped_arm(rng, 200), cuped_arm(rng, 200, effect=0.5)
        res = cuped_test(c, t)
        assert 0.94 <= covers(res, 0.5) <= 0.96
        # corr(y, x)^2 = (0.8*3)^2 / ((0.8*3)^2 + 2^2) = 0.590
        assert np.mean(res.variance_reduction) == pytest.approx(5.76 / 9.76, abs=0.01)
        raw = welch_ttest(c.post, t.post)
        assert np.mean(res.se) < 0.7 * np.mean(raw.se)

    def test_theta_zero_is_the_unadjusted_test(self):
        rng = np.random.default_rng(5)
        x, y = rng.normal(size=(2, 100))
        a = RegressionAdjustedStatistic.from_values(y, x)
        b = RegressionAdjustedStatistic.from_values(y + 1, x[::-1])
        res, raw = cuped_test(a, b, theta=0.0), welch_ttest(a.post, b.post)
        assert res.effect == pytest.approx(raw.effect, abs=1e-12)
        assert res.p_value == pytest.approx(raw.p_value, abs=1e-12)


class TestWinsorize:
    def test_pooled_threshold(self):
        df = pd.DataFrame({"variant": ["a"] * 50 + ["b"] * 50, "gmv": np.arange(100.0)})
        out = winsorize(df, ["gmv"], upper=0.9)
        cap = np.quantile(np.arange(100.0), 0.9)
        assert capping_thresholds(df, ["gmv"], upper=0.9) == {"gmv": (-np.inf, pytest.approx(cap))}
        assert out["gmv"].max() == pytest.approx(cap)
        assert (out["gmv"] == np.minimum(np.arange(100.0), cap)).all()
        assert df["gmv"].max() == 99.0  # input untouched

    def test_ignore_zeros_for_sparse_metrics(self):
        gmv = np.r_[np.zeros(995), [10.0, 20.0, 30.0, 40.0, 5000.0]]
        df = pd.DataFrame({"gmv": gmv})
        assert winsorize(df, ["gmv"], upper=0.99)["gmv"].max() == 0.0  # the trap
        capped = winsorize(df, ["gmv"], upper=0.75, ignore_zeros=True)
        assert capped["gmv"].max() == pytest.approx(40.0)

    def test_capping_reduces_variance_of_heavy_tails(self):
        rng = np.random.default_rng(6)
        df = pd.DataFrame({"gmv": rng.pareto(1.5, 5000) * 100})
        capped = winsorize(df, ["gmv"], upper=0.99)
        assert capped["gmv"].var() < 0.5 * df["gmv"].var()


class TestNegativeControlMean:
    """Relative effects divide by |control mean| (gbstats' convention; issue 19).

    Reference values: −10 → −5 is an increase of 5 on a base of magnitude 10, +50% (hand-worked,
    and what gbstats reports); the Fieller limits are the roots of Fieller's (1954) defining
    inequality for ``r = (μ_t − μ_c) / |μ_c|``, solved here independently with scipy's brentq.
    """

    def test_increase_from_negative_control_is_positive(self):
        from workbench.experiments.frequentist import relative_delta

        rel, var = relative_delta(-10.0, 1.0, -5.0, 1.0)
        assert rel == pytest.approx(0.5, abs=1e-12)
        # delta-method variance v_t / m_c² + m_t² v_c / m_c⁴ = 1/100 + 25/10,000
        assert var == pytest.approx(0.0125, abs=1e-12)

    def test_welch_result_and_intervals(self):
        from scipy.optimize import brentq

        rng = np.random.default_rng(19)
        a, b = rng.normal(-10, 3, 400), rng.normal(-9, 3, 400)
        res = welch_ttest(SampleMeanStatistic.from_values(a), SampleMeanStatistic.from_values(b))
        m_c, m_t = a.mean(), b.mean()
        assert res.rel_effect == pytest.approx((m_t - m_c) / abs(m_c), abs=1e-12)
        assert res.effect > 0 and res.rel_effect > 0
        q = sps.t.isf(0.025, res.dof)
        rel_se = np.sqrt(b.var(ddof=1) / 400 / m_c ** 2 + m_t ** 2 * a.var(ddof=1) / 400 / m_c ** 4)
        assert res.rel_ci_low == pytest.approx(res.rel_effect - q * rel_se, abs=1e-12)
        assert res.rel_ci_high == pytest.approx(res.rel_effect + q * rel_se, abs=1e-12)
        v_c, v_t = a.var(ddof=1) / 400, b.var(ddof=1) / 400

        def fieller(r):  # ≤ 0 inside the Fieller set: μ_t − μ_c − r|μ_c| = 0 not rejected
            # μ_t − (1 − r) μ_c for μ_c < 0; its variance v_t + (1 − r)² v_c
            return (m_t - (1 - r) * m_c) ** 2 - q ** 2 * (v_t + (1 - r) ** 2 * v_c)

        lo = brentq(fieller, res.rel_effect - 1.0, res.rel_effect)
        hi = brentq(fieller, res.rel_effect, res.rel_effect + 1.0)
        assert res.fieller_rel_ci_low == pytest.approx(lo, abs=1e-9)
        assert res.fieller_rel_ci_high == pytest.approx(hi, abs=1e-9)
        # consistent with the absolute test: both exclude 0 or both cover it
        assert (res.ci_low > 0) == (res.fieller_rel_ci_low > 0)
