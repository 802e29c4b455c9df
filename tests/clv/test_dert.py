"""Pareto/NBD: DERT (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 2) and P(n purchases), unconditional and
conditional on the history (Fader & Hardie 2014, "Deriving the conditional PMF of the Pareto/NBD model").

References
----------
- DERT: computed once in a throw-away environment with mpmath at 30 digits, two ways that agree to all
  printed digits: the paper's closed form with Tricomi's U(s, s; δ(β+T)) (``mpmath.hyperu``), and
  P(alive)·(r+x)/(α+T)·E[1/(μ+δ)] with the expectation over μ ~ Gamma(s, β+T) by ``mpmath.quad``; P(alive)
  from lifetimes 0.11.3. Parameters: the published CDNOW fit r = 0.5532, α = 10.5763, s = 0.6062,
  β = 11.6715; δ = log(1.15)/52 (the paper's 15% a year, continuously compounded, per week).
- Conditional PMF: lifetimes 0.11.3 ``ParetoNBDFitter.conditional_probability_of_n_purchases_up_to_time``
  (the note's eq. 16, hypergeometric closed form) at the same parameters (α < β) and at (0.8, 30, 1.5, 4)
  (α > β), t = 39 weeks.
No published table of DERT digits for CDNOW was found (the paper shows DERT as iso-value plots).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench import ParameterError
from workbench.clv import BetaGeoFitter, ParetoNBDFitter
from workbench.clv.beta_geo import dert_by_quadrature

PUBLISHED = {"r": 0.5532, "alpha": 10.5763, "s": 0.6062, "beta": 11.6715}
X = np.array([0.0, 2, 7, 26, 1])
TX = np.array([0.0, 30.43, 35, 30.86, 38.0])
TT = np.array([38.86, 38.86, 77.86, 31.0, 38.86])
DELTA = np.log(1.15) / 52


def fixed(params: dict[str, float]) -> ParetoNBDFitter:
    m = ParetoNBDFitter()
    m.params_ = pd.Series(params)
    return m


class TestDERT:
    def test_reference_values(self):
        m = fixed(PUBLISHED)
        expected = [0.4783390848374675, 6.5005701615690015, 0.89467899162858, 86.27132604261125, 4.5022301833172875]
        np.testing.assert_allclose(m.discounted_expected_residual_transactions(X, TX, TT, DELTA), expected,
                                   rtol=1e-10)

    @pytest.mark.parametrize("params", [PUBLISHED, {"r": 0.8, "alpha": 30.0, "s": 1.5, "beta": 4.0},
                                        {"r": 2.0, "alpha": 3.0, "s": 3.0, "beta": 200.0}])
    @pytest.mark.parametrize("delta", [DELTA, 0.05])
    def test_closed_form_is_the_discounted_expectation(self, params, delta):
        # DERT = δ ∫ e^(−δt) E[Y(t) | x, t_x, T] dt, by quadrature of the conditional expectation
        m = fixed(params)
        closed = m.discounted_expected_residual_transactions(X, TX, TT, delta)
        quad = dert_by_quadrature(m.conditional_expected_number_of_purchases_up_to_time, delta, params["alpha"],
                                  X, TX, TT)
        np.testing.assert_allclose(closed, quad, rtol=1e-9)

    def test_simulated_present_value(self):
        # Given alive at T the present value of the future purchases is λ/(μ+δ) exactly, so the mean DERT
        # over customers drawn from the model equals the mean of 1{alive at T}·λ/(μ+δ); tolerance 4 SE
        r, alpha, s, beta = 0.8, 6.0, 1.2, 20.0
        n, T = 200_000, 39.0
        rng = np.random.default_rng(5)
        lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
        life = rng.exponential(1 / mu)
        seen = np.minimum(life, T)
        x = rng.poisson(lam * seen)
        tx = np.where(x > 0, seen * rng.beta(np.maximum(x, 1), 1), 0.0)
        truth = (life > T) * lam / (mu + 0.01)
        m = fixed({"r": r, "alpha": alpha, "s": s, "beta": beta})
        dert = m.discounted_expected_residual_transactions(x, tx, np.full(n, T), 0.01)
        assert abs(dert.mean() - truth.mean()) < 4 * truth.std() / np.sqrt(n)

    def test_beta_geo_dert_against_pareto_scale_and_bad_rate(self):
        bg = BetaGeoFitter()
        bg.params_ = pd.Series({"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259})
        d = bg.discounted_expected_residual_transactions(X, TX, TT, DELTA)
        # the discounted total is below the undiscounted expectation over the same long horizon and
        # above the next 39 weeks' purchases discounted at the horizon's end
        e39 = bg.conditional_expected_number_of_purchases_up_to_time(39, X, TX, TT)
        e_long = bg.conditional_expected_number_of_purchases_up_to_time(40 / DELTA, X, TX, TT)
        assert np.all(d < e_long) and np.all(d > e39 * np.exp(-39 * DELTA))
        with pytest.raises(ParameterError, match="discount_rate"):
            bg.discounted_expected_residual_transactions(X, TX, TT, 0.0)
        with pytest.raises(ParameterError, match="discount_rate"):
            fixed(PUBLISHED).discounted_expected_residual_transactions(X, TX, TT, -0.1)


class TestConditionalPMF:
    @pytest.mark.parametrize(("params", "expected"), [
        (PUBLISHED, {0: [0.9307221963129438, 0.4080791418507996, 0.9485364499470257, 0.0238156399715825,
                         0.4896662573359078],
                     1: [0.045890593911220794, 0.21926948422695972, 0.009802853939540068, 0.020522327416198225,
                         0.25405565782058315],
                     5: [0.0008058286734963701, 0.031984388668750974, 0.005375811786088749, 0.016684095504332086,
                         0.015286441613934729]}),
        ({"r": 0.8, "alpha": 30.0, "s": 1.5, "beta": 4.0},
         {0: [0.9968036151054479, 0.6640054568244512, 0.9797151979449779, 0.09262141972762893, 0.6395745909601944],
          1: [0.00230530021656467, 0.16873727907934669, 0.005875703425119102, 0.0748138959164861,
              0.21657432779505847],
          3: [0.0001866115366953671, 0.04298805027840519, 0.003774686214984482, 0.05736411562513789,
              0.0347215714594831]}),
    ])
    def test_matches_lifetimes(self, params, expected):
        m = fixed(params)
        for n, values in expected.items():
            np.testing.assert_allclose(m.conditional_probability_of_n_purchases_up_to_time(n, 39.0, X, TX, TT),
                                       values, rtol=1e-9, err_msg=str(n))

    def test_sums_to_one_with_the_conditional_mean(self):
        m = fixed(PUBLISHED)
        for t in (5.0, 39.0, 200.0):
            probs = np.array([m.conditional_probability_of_n_purchases_up_to_time(n, t, X, TX, TT)
                              for n in range(600)])
            np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-9)
            np.testing.assert_allclose(np.arange(600) @ probs,
                                       m.conditional_expected_number_of_purchases_up_to_time(t, X, TX, TT), rtol=1e-8)

    def test_new_customer_is_the_unconditional_pmf(self):
        m = fixed(PUBLISHED)
        t = np.array([0.0, 1.0, 39.0, 78.0])
        for n in (0, 1, 4):
            np.testing.assert_allclose(m.conditional_probability_of_n_purchases_up_to_time(n, t, 0, 0, 0),
                                       m.probability_of_n_purchases_up_to_time(t, n), rtol=1e-12)
        assert m.probability_of_n_purchases_up_to_time(0.0, 0) == 1.0
        assert m.probability_of_n_purchases_up_to_time(0.0, 2) == 0.0

    def test_unconditional_pmf_is_the_model(self):
        # P(X(t) = n) by brute-force double quadrature over λ ~ Gamma(r, α) and the lifetime τ ~ Pareto II
        from scipy import integrate

        r, alpha, s, beta = PUBLISHED.values()
        m = fixed(PUBLISHED)
        t = 39.0
        for n in (0, 2, 10):
            # customer alive throughout (prob (β/(β+t))^s) or died at τ < t, buying Poisson(λ·min(τ, t))
            def nb(n, w):
                return stats.nbinom.pmf(n, r, alpha / (alpha + w))

            alive = nb(n, t) * (beta / (beta + t)) ** s
            died = integrate.quad(lambda tau, n=n: nb(n, tau) * s / beta * (beta / (beta + tau)) ** (s + 1), 0, t,
                                  epsabs=0, epsrel=1e-11, limit=200)[0]
            assert float(m.probability_of_n_purchases_up_to_time(t, n)) == pytest.approx(alive + died, rel=1e-9)

    def test_holdout_counts_of_simulated_customers(self):
        # law of total probability: the mean over customers of P(Y = n | history) is P(Y = n), so it must
        # match the share of customers with n holdout purchases within 4 binomial standard errors
        r, alpha, s, beta = 0.8, 6.0, 1.2, 20.0
        N, T, t = 20_000, 39.0, 26.0
        rng = np.random.default_rng(11)
        lam, mu = rng.gamma(r, 1 / alpha, N), rng.gamma(s, 1 / beta, N)
        life = rng.exponential(1 / mu)
        seen = np.minimum(life, T)
        x = rng.poisson(lam * seen)
        tx = np.where(x > 0, seen * rng.beta(np.maximum(x, 1), 1), 0.0)
        y = rng.poisson(lam * np.clip(life - T, 0, t))
        m = fixed({"r": r, "alpha": alpha, "s": s, "beta": beta})
        for n in range(6):
            p = m.conditional_probability_of_n_purchases_up_to_time(n, t, x, tx, np.full(N, T)).mean()
            share = float(np.mean(y == n))
            assert abs(p - share) < 4 * np.sqrt(share * (1 - share) / N), n

    def test_bad_n(self):
        with pytest.raises(ParameterError, match="whole number"):
            fixed(PUBLISHED).conditional_probability_of_n_purchases_up_to_time(1.5, 39, 1, 1, 2)
