"""Sufficient statistics: sums, moments and additivity against numpy on the raw values."""
from __future__ import annotations

import numpy as np
import pytest

from workbench import DataContractError
from workbench.experiments import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    pooled_theta,
)


@pytest.fixture()
def rng():
    return np.random.default_rng(11)


class TestSampleMeanStatistic:
    def test_moments_match_numpy(self, rng):
        x = rng.gamma(2.0, 30.0, 501)
        s = SampleMeanStatistic.from_values(x)
        assert s.n == 501
        assert s.mean == pytest.approx(x.mean(), rel=1e-13)
        assert s.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
        assert s.mean_variance == pytest.approx(x.var(ddof=1) / 501, rel=1e-10)

    def test_addition_equals_concatenation(self, rng):
        a, b = rng.normal(5, 2, 100), rng.normal(7, 3, 57)
        both = SampleMeanStatistic.from_values(a) + SampleMeanStatistic.from_values(b)
        direct = SampleMeanStatistic.from_values(np.concatenate([a, b]))
        assert both.n == direct.n
        assert both.mean == pytest.approx(direct.mean, rel=1e-13)
        assert both.variance == pytest.approx(direct.variance, rel=1e-10)

    def test_elementwise_on_arrays(self):
        s = SampleMeanStatistic(np.array([2, 4]), np.array([2.0, 8.0]), np.array([4.0, 20.0]))
        np.testing.assert_allclose(s.mean, [1.0, 2.0])
        np.testing.assert_allclose(s.variance, [2.0, 4.0 / 3.0])

    def test_nan_values_rejected(self):
        with pytest.raises(DataContractError, match="finite"):
            SampleMeanStatistic.from_values([1.0, np.nan])


class TestProportionStatistic:
    def test_binomial_variance(self):
        p = ProportionStatistic.from_values([1, 0, 0, 1, 1])
        assert (p.n, p.sum, p.sum_squares) == (5, 3.0, 3.0)
        assert p.mean == pytest.approx(0.6)
        assert p.variance == pytest.approx(0.24)  # p(1-p), not the n-1 sample variance 0.3
        assert (p + p).n == 10

    def test_rejects_non_binary(self):
        with pytest.raises(DataContractError, match="0/1"):
            ProportionStatistic.from_values([0, 1, 2])


class TestRatioStatistic:
    def test_delta_variance_equals_linearisation(self, rng):
        d = 1 + rng.poisson(2.0, 400)
        m = d * 80.0 + rng.normal(0, 30, 400) * np.sqrt(d)
        r = RatioStatistic.from_values(m, d)
        ratio = m.sum() / d.sum()
        # delta method = variance of the linearised values (m - R d) / d̄, divided by n
        lin = (m - ratio * d) / d.mean()
        assert r.mean == pytest.approx(ratio, rel=1e-13)
        assert r.variance == pytest.approx(lin.var(ddof=1), rel=1e-9)
        assert r.mean_variance == pytest.approx(lin.var(ddof=1) / 400, rel=1e-9)

    def test_addition(self, rng):
        m, d = rng.normal(10, 2, 50), rng.integers(1, 4, 50).astype(float)
        whole = RatioStatistic.from_values(m, d)
        parts = RatioStatistic.from_values(m[:20], d[:20]) + RatioStatistic.from_values(m[20:], d[20:])
        assert parts.mean == pytest.approx(whole.mean, rel=1e-13)
        assert parts.variance == pytest.approx(whole.variance, rel=1e-9)


class TestRegressionAdjustedStatistic:
    def test_theta_is_the_pooled_ols_slope(self, rng):
        x1, x2 = rng.normal(10, 3, 300), rng.normal(10, 3, 200)
        y1, y2 = 1 + 0.7 * x1 + rng.normal(0, 1, 300), 1.5 + 0.7 * x2 + rng.normal(0, 1, 200)
        a = RegressionAdjustedStatistic.from_values(y1, x1)
        b = RegressionAdjustedStatistic.from_values(y2, x2)
        x, y = np.concatenate([x1, x2]), np.concatenate([y1, y2])
        slope = np.polyfit(x, y, 1)[0]
        assert pooled_theta(a, b) == pytest.approx(slope, rel=1e-9)
        assert a.covariance == pytest.approx(np.cov(y1, x1)[0, 1], rel=1e-10)

    def test_adjusted_variance_is_variance_of_residualised_values(self, rng):
        x = rng.normal(0, 2, 250)
        y = 3 * x + rng.normal(0, 1, 250)
        s = RegressionAdjustedStatistic.from_values(y, x)
        theta = 2.5
        assert s.adjusted_variance(theta) == pytest.approx(np.var(y - theta * x, ddof=1), rel=1e-9)
        assert s.mean == pytest.approx(y.mean())
