"""Quantile metrics: gbstats' quantile test values, the order-statistic bracket, and coverage by simulation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.errors import DataContractError, ParameterError
from workbench.experiments.quantile import QuantileStatistic, quantile_frame, quantile_ranks, quantile_test

# gbstats (GrowthBook), packages/stats/tests/test_shared_models.py: the p90 QuantileStatistic pair
# (n 11054 / 10861, quantile_hat, quantile_lower, quantile_upper). Expected values: gbstats' TwoSidedTTest
# on that pair (difference_type "absolute" and "relative"), computed once outside this project.
CONTROL = QuantileStatistic(11054, 0.9, 7.157987489967789, 7.098780136176828, 7.217194843758751)
TREATMENT = QuantileStatistic(10861, 0.9, 7.694499927525767, 7.64180598628119, 7.747193868770344)


def test_reproduces_gbstats_quantile_test():
    r = quantile_test(CONTROL, TREATMENT)
    assert CONTROL.variance == pytest.approx(10.086379172635016, rel=1e-12)  # gbstats stat.variance (per unit)
    assert TREATMENT.variance == pytest.approx(7.8497352407290535, rel=1e-12)
    assert r.dof == pytest.approx(21663.958355118295, rel=1e-10)
    assert r.effect == pytest.approx(0.5365124375579775, abs=1e-12)
    assert r.se == pytest.approx(0.040437721953872775, abs=1e-12)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.45725153061125173, 0.6157733445047033), abs=1e-10)
    assert r.rel_effect == pytest.approx(0.07495297222996289, abs=1e-12)
    assert r.rel_se == pytest.approx(0.005889349954281477, abs=1e-12)
    assert (r.rel_ci_low, r.rel_ci_high) == pytest.approx((0.06340941348955016, 0.08649653097037562), abs=1e-10)
    assert r.p_value < 1e-15 and r.method == "quantile"


def test_bracket_ranks_and_their_binomial_coverage():
    # Median of 100: ranks 50 ∓ 1.96·5 = 40.2 and 59.8 (Woodruff's bracket, read between order statistics).
    assert quantile_ranks(100, 0.5).round(3).tolist() == [50.0, 40.2, 59.8]
    half = stats.norm.isf(0.025) * np.sqrt(1000 * 0.9 * 0.1)
    assert quantile_ranks(1000, 0.9).tolist() == pytest.approx([900.0, 900 - half, 900 + half])
    # The number of values below the 0.9-quantile is Binomial(1000, 0.9): the bracket holds ~95% of it.
    coverage = stats.binom.cdf(900 + half, 1000, 0.9) - stats.binom.cdf(900 - half, 1000, 0.9)
    assert coverage == pytest.approx(0.95, abs=0.01)
    s = QuantileStatistic.from_values(np.arange(1.0, 1001.0)[::-1], 0.9)
    assert (s.quantile_hat, s.quantile_lower, s.quantile_upper) == pytest.approx((900.0, 900 - half, 900 + half))
    assert s.mean_variance == pytest.approx(999 / 1000 * (half / stats.norm.isf(0.025)) ** 2)
    assert QuantileStatistic.from_values([3.0, 1.0, 2.0], 0.5).quantile_hat == 2.0


def test_two_dimensional_values_give_one_statistic_per_row():
    x = np.vstack([np.arange(100.0), np.arange(100.0) * 2])
    s = QuantileStatistic.from_values(x, 0.5)
    assert np.asarray(s.quantile_hat).tolist() == [49.0, 98.0]


def test_quantile_frame_and_bad_input():
    df = pd.DataFrame({"variant": ["a"] * 200 + ["b"] * 200, "gmv": np.r_[np.arange(200.0), np.arange(200.0) * 1.5]})
    out = quantile_frame(df, "variant", "gmv", "a", quantiles=(0.5,))
    assert out[["variant", "n", "value", "control_value", "abs_effect"]].values.tolist() == [["b", 200, 148.5, 99.0,
                                                                                              49.5]]
    assert out["ci_low"].iloc[0] < 49.5 < out["ci_high"].iloc[0]
    with pytest.raises(DataContractError, match="gmv"):
        quantile_frame(df.assign(gmv=["x"] + [1.0] * 399), "variant", "gmv", "a")
    with pytest.raises(ParameterError, match="control"):
        quantile_frame(df, "variant", "gmv", "z")
    with pytest.raises(ParameterError, match="nu"):
        QuantileStatistic.from_values([1.0, 2.0], 1.0)
    with pytest.raises(ParameterError, match="levels differ"):
        quantile_test(CONTROL, QuantileStatistic(10, 0.5, 1.0, 0.0, 2.0))


@pytest.mark.slow
@pytest.mark.parametrize("nu", [0.5, 0.9])
def test_interval_coverage_and_aa_false_positive_rate(nu):
    """4,000 simulated experiments, 1,000 lognormal order values per arm; treatment scaled by 1.1."""
    rng = np.random.default_rng(5 if nu == 0.5 else 6)
    sims, n = 4000, 1000
    c = rng.lognormal(4.0, 0.8, (sims, n))
    t = rng.lognormal(4.0, 0.8, (sims, n)) * 1.1
    truth = 0.1 * np.exp(4.0 + 0.8 * stats.norm.ppf(nu))  # the true difference of the nu-quantiles
    c_stat = QuantileStatistic.from_values(c, nu)
    r = quantile_test(c_stat, QuantileStatistic.from_values(t, nu))
    coverage = float(((r.ci_low <= truth) & (truth <= r.ci_high)).mean())
    assert 0.94 <= coverage <= 0.96, coverage
    aa = quantile_test(c_stat, QuantileStatistic.from_values(rng.lognormal(4.0, 0.8, (sims, n)), nu))
    rate = float((np.asarray(aa.p_value) < 0.05).mean())
    assert 0.04 <= rate <= 0.06, rate
