"""Normal-approximation Bayesian read-out: closed forms against numerical integration."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from workbench import ParameterError
from workbench.experiments import (
    ProportionStatistic,
    bayesian_summary,
    expected_shortfall,
    normal_posterior,
    proportion_ztest,
)


class TestBayesianSummary:
    def test_expected_loss_by_quadrature(self):
        for m, s in ((0.3, 1.0), (-0.5, 0.2), (0.0, 2.0)):
            num, _ = integrate.quad(lambda d: max(0.0, -d) * sps.norm.pdf(d, m, s), m - 12 * s, m + 12 * s,
                                    points=[0.0], limit=200)
            assert expected_shortfall(m, s) == pytest.approx(num, abs=1e-10)
        r = bayesian_summary(0.3, 1.0)
        # E[max(0, D)] - E[max(0, -D)] = E[D]
        assert r.expected_loss_control - r.expected_loss == pytest.approx(0.3, abs=1e-12)

    def test_flat_prior_matches_one_sided_p(self):
        res = proportion_ztest(ProportionStatistic(5000, 500), ProportionStatistic(5000, 560), pooled=False)
        r = bayesian_summary(res.effect, res.se)
        assert r.chance_to_beat_control == pytest.approx(1 - res.p_value / 2, abs=1e-12)
        assert (r.ci_low, r.ci_high) == (pytest.approx(res.ci_low), pytest.approx(res.ci_high))

    def test_conjugate_normal_prior(self):
        m, s = normal_posterior(2.0, 0.5, prior_mean=0.0, prior_sd=1.0)
        # precision 4 + 1 = 5; mean = (2 * 4) / 5
        assert m == pytest.approx(1.6) and s == pytest.approx(np.sqrt(0.2))
        r = bayesian_summary(2.0, 0.5, prior_sd=1.0)
        assert r.chance_to_beat_control == pytest.approx(sps.norm.cdf(1.6 / np.sqrt(0.2)))

    def test_lower_is_better_and_aa_calibration(self):
        r = bayesian_summary(-0.02, 0.01, higher_is_better=False)
        assert r.chance_to_beat_control == pytest.approx(sps.norm.cdf(2.0))
        rng = np.random.default_rng(3)
        effects = rng.normal(0.0, 1.0, 20_000)  # A/A: estimate ~ N(0, se^2), se = 1
        ctbc = bayesian_summary(effects, np.ones_like(effects)).chance_to_beat_control
        # P(chance to beat control > 97.5%) = 2.5% under the null; binomial SE 0.11 points
        assert np.mean(ctbc > 0.975) == pytest.approx(0.025, abs=0.005)

    def test_errors(self):
        with pytest.raises(ParameterError, match="prior_sd"):
            normal_posterior(1.0, 1.0, prior_sd=0.0)
        with pytest.raises(ParameterError, match="alpha"):
            bayesian_summary(1.0, 1.0, alpha=0.0)
