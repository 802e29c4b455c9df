"""Gamma-Gamma's q > 1 requirement: the mean spend p·v/(q−1) exists only for q > 1.

Data that drive q ≤ 1 are simulated from the model itself with q = 0.7 (spend heavy-tailed enough that the
population mean is infinite); the fit must say so (warn or refuse) and the ``min_q`` option must give the
constrained maximum (on the boundary q = min_q, checked against a profile of the likelihood).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize

from workbench import ConvergenceError, ParameterError
from workbench.clv import GammaGammaFitter, rfm_summary
from workbench.clv.gamma_gamma import simulate_gamma_gamma


@pytest.fixture(scope="module")
def heavy() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(3).geometric(0.4, 4000).astype(float)
    return x, simulate_gamma_gamma(x, 4.0, 0.7, 15.0, seed=5)


def test_q_below_one_warns_by_default(heavy):
    x, m = heavy
    with pytest.warns(RuntimeWarning, match=r"q = 0\.68.*no finite mean spend"):
        g = GammaGammaFitter().fit(x, m)
    # the fit itself is kept (backward compatible) and covers the simulated truth q = 0.7
    assert g.params_["q"] == pytest.approx(0.6803, abs=1e-4)
    s = g.summary
    assert s.loc["q", "lower 95% bound"] <= 0.7 <= s.loc["q", "upper 95% bound"]
    assert g.population_mean_spend == float("inf") and not g.q_constrained_
    with pytest.raises(ParameterError, match="not above 1"):
        g.conditional_expected_average_profit(2, 50.0)


def test_q_below_one_can_refuse_or_pass_silently(heavy):
    x, m = heavy
    with pytest.raises(ConvergenceError, match="not above 1.*min_q"):
        GammaGammaFitter().fit(x, m, if_mean_infinite="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GammaGammaFitter().fit(x, m, if_mean_infinite="ignore").params_["q"] < 1


def test_min_q_gives_the_constrained_maximum(heavy):
    x, m = heavy
    free = GammaGammaFitter().fit(x, m, if_mean_infinite="ignore")
    c = GammaGammaFitter().fit(x, m, min_q=1.5)
    assert c.q_constrained_ and c.params_["q"] == 1.5 and c.standard_errors_["q"] == 0.0
    assert c.log_likelihood_ < free.log_likelihood_

    # profile log-likelihood: (p, v) maximised at fixed q by Nelder-Mead, independently of the fitter
    def profile(q: float) -> float:
        res = optimize.minimize(lambda lp: c._negative_ll(np.array([np.exp(lp[0]), q, np.exp(lp[1])])),
                                np.log([c.params_["p"], c.params_["v"]]), method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 4000})
        return -res.fun

    assert c.log_likelihood_ == pytest.approx(profile(1.5), abs=1e-6)
    assert profile(1.55) < c.log_likelihood_ and profile(1.45) > c.log_likelihood_  # boundary maximum
    # the constrained model has a finite mean spend again
    p, q, v = c.params_
    assert c.population_mean_spend == pytest.approx(p * v / (q - 1))
    assert np.isfinite(c.conditional_expected_average_profit(2, 50.0))
    cov = c.variance_matrix_.to_numpy()
    assert np.all(cov[1] == 0) and np.all(cov[:, 1] == 0) and cov[0, 0] > 0


def test_min_q_is_inactive_when_the_free_fit_satisfies_it(cdnow_transactions):
    # CDNOW's published fit has q = 3.7446: a bound of 1.5 changes nothing
    s = rfm_summary(cdnow_transactions, "customer", "date", "dollars", calibration_end="1997-09-30",
                    observation_end="1998-06-30")
    rep = s[s["frequency"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        free = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        bounded = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"], min_q=1.5)
    assert not bounded.q_constrained_
    np.testing.assert_array_equal(bounded.params_, free.params_)
    assert float(f"{free.params_['q']:.3g}") == 3.74


def test_bad_arguments(heavy):
    x, m = heavy
    with pytest.raises(ParameterError, match="min_q"):
        GammaGammaFitter().fit(x, m, min_q=1.0)
    with pytest.raises(ParameterError, match="if_mean_infinite"):
        GammaGammaFitter().fit(x, m, if_mean_infinite="maybe")
