"""CLV fitters against published fits (CDNOW, donations), simulated truth and their own identities.

This is the one published-fit suite; test_clv.py keeps RFM summaries, customer value and the simulator's truth."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from workbench import ConvergenceError, DataContractError, ParameterError
from workbench.clv import (BetaGeoBetaBinomFitter, BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter, collapse_rfm,
                           rfm_summary)
from workbench.clv.beta_geo import simulate_beta_geo
from workbench.clv.gamma_gamma import simulate_gamma_gamma
from workbench.clv.validation import calibration_holdout_comparison


def sig3(x: float) -> float:
    return float(f"{x:.3g}")


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions) -> pd.DataFrame:
    raw = cdnow_transactions
    return rfm_summary(raw, "customer", "date", "dollars", calibration_end="1997-09-30", observation_end="1998-06-30")


@pytest.fixture(scope="module")
def bg(cdnow) -> BetaGeoFitter:
    return BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pnbd(cdnow) -> ParetoNBDFitter:
    return ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def donations(shared_datasets) -> pd.DataFrame:
    return pd.read_csv(shared_datasets / "donations.csv")


# x = 500 bought-yesterday, x = 500 silent for 37 weeks, x = 500 at t_x = T, x = 0, x = 1 at t_x = T − 0.1
EXTREME = (np.array([500.0, 500.0, 500.0, 0.0, 1.0]), np.array([38.76, 1.0, 38.86, 0.0, 38.76]),
           np.full(5, 38.86))


class TestBetaGeo:
    def test_published_cdnow_fit(self, bg):
        # Fader, Hardie & Lee (2005): r = 0.2426, α = 4.4136, a = 0.7929, b = 2.4259, LL = −9582.43
        for k, v in {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}.items():
            assert sig3(bg.params_[k]) == sig3(v), k
        assert bg.log_likelihood_ == pytest.approx(-9582.43, abs=0.05)
        assert bg.AIC_ == pytest.approx(8 + 2 * 9582.43, abs=0.1)
        assert bg.n_customers_ == 2357 and bg.newton_decrement_ < 1e-6

    def test_published_conditional_expectation(self, bg):
        # the paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks
        e = bg.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
        assert float(e) == pytest.approx(1.226, abs=5e-4)

    def test_holdout_comparison(self, cdnow, bg):
        table, m = calibration_holdout_comparison(bg, cdnow)
        assert m["actual_total"] == 1882
        assert m["predicted_total"] == pytest.approx(1653.4, abs=0.5)
        assert m["model_mae"] < m["naive_mae"]
        assert len(table) == 8

    def test_summary(self, bg):
        s = bg.summary
        assert list(s.columns) == ["coef", "se(coef)", "lower 95% bound", "upper 95% bound"]
        assert (s["se(coef)"] > 0).all() and (s["lower 95% bound"] < s["coef"]).all()
        assert np.allclose(np.sqrt(np.diag(bg.variance_matrix_)), bg.standard_errors_)
        assert bg.AIC_ == 2 * 4 - 2 * bg.log_likelihood_ and not s.attrs

    def test_weighted_equals_raw(self, cdnow, bg):
        c = collapse_rfm(cdnow)
        weighted = BetaGeoFitter().fit(c["frequency"], c["recency"], c["T"], weights=c["weight"])
        np.testing.assert_allclose(weighted.params_, bg.params_, rtol=1e-6)
        np.testing.assert_allclose(weighted.standard_errors_, bg.standard_errors_, rtol=1e-4)
        assert weighted.log_likelihood_ == pytest.approx(bg.log_likelihood_, abs=1e-8)
        assert weighted.n_rows_ == bg.n_rows_ == len(c)

    def test_extreme_customers_are_stable(self, bg):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            p = bg.conditional_probability_alive(*EXTREME)
            e = bg.conditional_expected_number_of_purchases_up_to_time(39, *EXTREME)
            ll = bg.log_likelihood_rows(*EXTREME)
        assert np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(e)) and np.all(np.isfinite(ll))
        assert p[0] > 0.99 and p[1] < 1e-100 and p[2] == pytest.approx(1 / (1 + 0.7929 / 501.43), abs=1e-4)
        assert p[3] == 1.0  # no repeat purchase: BG/NBD customers cannot have dropped out yet
        assert e[0] > 300 and e[1] < 1e-100

    def test_a_thousand_purchases_is_stable(self, bg):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            p = bg.conditional_probability_alive(1000.0, 38.5, 38.86)
            e = bg.conditional_expected_number_of_purchases_up_to_time(10, 1000.0, 38.5, 38.86)
            ll = bg.log_likelihood_rows(np.array([1000.0]), np.array([38.5]), np.array([38.86]))
        assert 0 <= p <= 1 and np.isfinite(e) and np.all(np.isfinite(ll))

    def test_probability_of_n_purchases(self, bg):
        t = np.array([10.0, 39.0, 78.0])
        probs = np.array([bg.probability_of_n_purchases_up_to_time(t, n) for n in range(400)])
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-9)
        np.testing.assert_allclose(np.arange(400) @ probs, bg.expected_number_of_purchases_up_to_time(t), rtol=1e-8)

    def test_simulated_truth_is_covered(self):
        truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
        T = np.random.default_rng(7).integers(20 * 7, 52 * 7, 20_000) / 7
        d = simulate_beta_geo(20_000, **truth, T=T, seed=7)
        s = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"]).summary
        for k, v in truth.items():
            assert s.loc[k, "lower 95% bound"] <= v <= s.loc[k, "upper 95% bound"], (k, s.loc[k].to_dict())
        # and the interval is informative: the truth is not covered by a trivially wide interval
        assert (s["se(coef)"] / s["coef"] < 0.25).all()

    def test_bad_input(self):
        cases = [
            (([1, 2], [5.0, 50.0], [10.0, 20.0]), "recency larger than T"),
            (([0], [5.0], [10.0]), "recency > 0 with frequency 0"),
            (([0, np.nan], [0, 1], [3, 4]), "frequency.*non-finite"),
            (([1, 1], [-1.0, 1], [3, 4]), "recency.*negative"),
            (([1.5], [1.0], [3.0]), "whole number"),
        ]
        for args, match in cases:
            with pytest.raises(DataContractError, match=match):
                BetaGeoFitter().fit(*args)
        with pytest.raises(DataContractError) as err:
            BetaGeoFitter().fit([0, 1, 2], [0, 1.0, 9.0], [5.0, 5.0, 5.0])
        assert err.value.column == "recency" and err.value.rows["row"].tolist() == [2]
        with pytest.raises(ParameterError, match="same length"):
            BetaGeoFitter().fit([0, 1], [0, 1.0], [5.0])
        with pytest.raises(ParameterError, match="weights"):
            BetaGeoFitter().fit([0, 1], [0, 1.0], [5.0, 5.0], weights=[1.0])
        with pytest.raises(ParameterError, match="not fitted"):
            BetaGeoFitter().conditional_probability_alive(1, 1, 2)

    def test_unidentified_model_raises(self):
        # nobody bought twice: the drop-out process (a, b) is not identified
        with pytest.raises(ConvergenceError, match="not identified|ran off"):
            BetaGeoFitter().fit(np.zeros(500), np.zeros(500), np.linspace(10, 40, 500))


class TestParetoNBD:
    def test_published_cdnow_fit(self, pnbd):
        # Fader, Hardie & Lee (2005): r = 0.5532, α = 10.5763, s = 0.6062, β = 11.6715, LL = −9594.98
        for k, v in {"r": 0.5532, "alpha": 10.5763, "s": 0.6062, "beta": 11.6715}.items():
            assert sig3(pnbd.params_[k]) == sig3(v), k
        assert pnbd.log_likelihood_ == pytest.approx(-9594.98, abs=0.05)

    def test_extreme_customers_are_stable(self, pnbd):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            p = pnbd.conditional_probability_alive(*EXTREME)
            e = pnbd.conditional_expected_number_of_purchases_up_to_time(39, *EXTREME)
            ll = pnbd.log_likelihood_rows(*EXTREME)
        assert np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(e)) and np.all(np.isfinite(ll))
        assert p[0] > 0.99 and p[1] < 1e-100 and p[2] == 1.0  # t_x = T: no unseen time to have died in

    def test_private_likelihood_is_finite_at_high_frequency(self, pnbd):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            p = pnbd.conditional_probability_alive([500.0, 500.0], [38.0, 2.0], [38.86, 38.86])
            ll = pnbd._log_likelihood(pnbd.params_.to_numpy(), np.array([500.0]), np.array([38.0]), np.array([38.86]))
        assert np.all((p >= 0) & (p <= 1)) and np.isfinite(ll).all()

    @pytest.mark.parametrize("params", [(0.5533, 10.578, 0.6062, 11.669),  # the CDNOW fit (α < β)
                                        (0.8, 30.0, 1.5, 4.0),  # α > β
                                        (0.5, 100.0, 0.6, 0.05),  # z ≈ 1 on one side
                                        (0.5, 0.05, 0.6, 100.0)])  # z ≈ 1 on the other
    def test_likelihood_matches_direct_integration(self, params):
        # the A0 term is s ∫_{t_x}^{T} (α+y)^-(r+x) (β+y)^-(s+1) dy: check it by brute-force quadrature
        from scipy.integrate import quad
        from scipy.special import gammaln

        r, alpha, s, beta = params
        for x, tx, T in [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 0.2, 38.86), (60, 20.0, 38.86)]:
            integral = quad(lambda y: (alpha + y) ** -(r + x) * (beta + y) ** -(s + 1), tx, T, epsabs=0,
                            epsrel=1e-12, points=[tx + 0.01, tx + 0.1, tx + 1])[0]
            direct = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                      + np.log((alpha + T) ** -(r + x) * (beta + T) ** -s + s * integral))
            ours = ParetoNBDFitter._log_likelihood(np.array(params), np.array([x]), np.array([tx]), np.array([T]))
            assert ours[0] == pytest.approx(direct, abs=1e-8), (x, tx, T)

    def test_probability_of_n_purchases(self, pnbd):
        t = np.array([5.0, 39.0, 200.0])
        probs = np.array([pnbd.probability_of_n_purchases_up_to_time(t, n) for n in range(1500)])
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-6)
        np.testing.assert_allclose(np.arange(1500) @ probs, pnbd.expected_number_of_purchases_up_to_time(t),
                                   rtol=1e-5)


class TestGammaGamma:
    def test_published_cdnow_fit(self, cdnow):
        # monetary value = mean of the repeat purchases' dollars in calibration (946 repeat buyers)
        rep = cdnow[cdnow["frequency"] > 0]
        assert len(rep) == 946
        gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        for k, v in {"p": 6.2488, "q": 3.7446, "v": 15.4477}.items():
            assert sig3(gg.params_[k]) == sig3(v), k
        # the published figures sit a hair below the maximum (a spreadsheet solver's tolerance)
        assert gg.log_likelihood_ >= -gg._negative_ll(np.array([6.2488, 3.7446, 15.4477]))
        # E[spend | x, m̄] is the credibility-weighted mean of p·v/(q−1) and m̄
        p, q, v = gg.params_
        w = p * 2 / (p * 2 + q - 1)
        assert gg.conditional_expected_average_profit(2, 50.0) == pytest.approx((1 - w) * p * v / (q - 1) + w * 50)

    def test_weighted_equals_raw_and_truth_is_covered(self):
        x = np.random.default_rng(3).geometric(0.4, 8000).astype(float)
        m = np.round(simulate_gamma_gamma(x, 6.0, 4.0, 15.0, seed=4), 2)
        raw = GammaGammaFitter().fit(x, m)
        c = pd.DataFrame({"x": x, "m": m}).value_counts().reset_index()
        weighted = GammaGammaFitter().fit(c["x"], c["m"], weights=c["count"])
        np.testing.assert_allclose(weighted.params_, raw.params_, rtol=1e-6)
        s = raw.summary
        for k, v in {"p": 6.0, "q": 4.0, "v": 15.0}.items():
            assert s.loc[k, "lower 95% bound"] <= v <= s.loc[k, "upper 95% bound"], k

    def test_bad_input(self):
        with pytest.raises(DataContractError, match="repeat buyers"):
            GammaGammaFitter().fit([0, 1], [10.0, 20.0])
        with pytest.raises(DataContractError, match="monetary_value.*positive"):
            GammaGammaFitter().fit([1, 1], [10.0, -20.0])
        with pytest.raises(DataContractError, match="monetary_value.*non-finite"):
            GammaGammaFitter().fit([1, 2], [np.nan, 3.0])


class TestBetaGeoBetaBinom:
    def test_published_donations_fit(self, donations):
        # Fader, Hardie & Shang (2010): α = 1.204, β = 0.750, γ = 0.657, δ = 2.783 (11,104 donors, 6 years)
        d = donations
        m = BetaGeoBetaBinomFitter().fit(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
        assert m.n_customers_ == 11104
        for k, v in {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}.items():
            assert sig3(m.params_[k]) == sig3(v), k
        # the same fit on one row per donor
        raw = d.loc[d.index.repeat(d["weights"])]
        unweighted = BetaGeoBetaBinomFitter().fit(raw["frequency"], raw["recency"], raw["periods"])
        np.testing.assert_allclose(unweighted.params_, m.params_, rtol=1e-6)

    def test_predictions(self, donations):
        d = donations
        m = BetaGeoBetaBinomFitter().fit(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
        probs = np.array([m.probability_of_n_purchases_up_to_time(6, x) for x in range(7)])
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.arange(7) @ probs == pytest.approx(float(m.expected_number_of_purchases_up_to_time(6)), rel=1e-10)
        # expected donor counts by number of repeat years match the data (the paper's Figure 3)
        observed = d.groupby("frequency")["weights"].sum().reindex(range(7), fill_value=0).to_numpy()
        np.testing.assert_allclose(probs * 11104, observed, rtol=0.08)
        alive = m.conditional_probability_alive([6, 3, 0], [6, 3, 0], [6, 6, 6])
        assert alive[0] == pytest.approx(1.0) and np.all((alive >= 0) & (alive <= 1))  # gave in the last year
        assert alive[1] < 0.2 and alive[2] < 0.2  # silent for three years, or never gave again
        # one more period: survival of the Beta(γ, δ)-geometric, (δ + n) / (γ + δ + n)
        _, _, g, dl = m.params_
        assert m.conditional_probability_alive(6, 6, 6, 1) == pytest.approx((dl + 6) / (g + dl + 6))
        e = m.conditional_expected_number_of_purchases_up_to_time(5, [6, 0], [6, 0], [6, 6])
        assert 0 < e[1] < e[0] < 5

    def test_bad_input(self):
        with pytest.raises(DataContractError, match="frequency larger than recency"):
            BetaGeoBetaBinomFitter().fit([3], [2], [6])
        with pytest.raises(DataContractError, match="recency larger than n_periods"):
            BetaGeoBetaBinomFitter().fit([1], [7], [6])
        with pytest.raises(DataContractError, match="negative"):
            BetaGeoBetaBinomFitter().fit([-1], [-1], [6])
