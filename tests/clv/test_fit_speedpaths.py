"""The CLV fitters' fast paths against straightforward per-row evaluation.

BG/NBD and Gamma-Gamma evaluate their likelihoods on per-level tables and sufficient
statistics, with analytic Hessians, and ``fit`` collapses rows by integer keys. Each piece
is checked here against the plain formula on every row (no speed is asserted).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import ConvergenceError
from workbench.clv import BetaGeoFitter, GammaGammaFitter
from workbench._mle import hessian_from_gradient
from workbench._rows import collapse_indexed, level_codes
from workbench.clv.beta_geo import simulate_beta_geo
from workbench.clv.gamma_gamma import simulate_gamma_gamma

BG_POINTS = [np.array([0.2426, 4.4136, 0.7929, 2.4259]), np.array([0.5, 30.0, 1.3, 0.7]),
             np.array([2.0, 0.5, 0.2, 5.0]), np.array([0.05, 10.0, 3.0, 0.3])]
GG_POINTS = [np.array([6.25, 3.74, 15.44]), np.array([0.5, 8.0, 2.0]), np.array([20.0, 1.5, 300.0])]


@pytest.fixture(scope="module")
def rfm() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whole-day recency and T in weeks, x = 0 rows, x up to 500, ties, weights, unsorted."""
    rng = np.random.default_rng(11)
    T = rng.integers(10, 365, 3000) / 7
    d = simulate_beta_geo(3000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=T, seed=5)
    x, tx = d["frequency"].to_numpy(), np.floor(d["recency"].to_numpy() * 7) / 7  # whole days: many ties
    x = np.r_[x, 500, 500, 499, 0, 0, 1, 1]
    tx = np.r_[tx, 38.0, 1.0, 52.0, 0.0, 0.0, 52.0, 0.0]
    T = np.r_[T, 39.0, 39.0, 52.0, 20.0, 20.0, 52.0, 1 / 7]
    order = rng.permutation(len(x))
    w = rng.integers(1, 6, len(x)).astype(float)
    return x[order], tx[order], T[order], w[order]


@pytest.fixture(scope="module")
def spend() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12)
    x = np.r_[rng.geometric(0.3, 3000), 500, 500, 1].astype(float)
    m = np.round(simulate_gamma_gamma(x, 6.0, 4.0, 15.0, seed=13), 1)  # rounded: ties
    m[-1] = m[-2] = 1e4
    return x, m, rng.integers(1, 4, len(x)).astype(float)


def bg_reference(params: np.ndarray, x, tx, T, w) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and gradient, row by row."""
    value = -float(np.sum(w * BetaGeoFitter._log_likelihood(params, x, tx, T)))
    grad = -(BetaGeoFitter._gradient_rows(params, x, tx, T) * w).sum(axis=1)
    return value, grad


def gg_reference(params: np.ndarray, x, m, w) -> tuple[float, np.ndarray]:
    value = -float(np.sum(w * GammaGammaFitter._log_likelihood(params, x, m)))
    grad = -(GammaGammaFitter._gradient_rows(params, x, m) * w).sum(axis=1)
    return value, grad


class TestBetaGeoTerms:
    @pytest.mark.parametrize("weighted", [False, True])
    def test_value_and_gradient_match_rows(self, rfm, weighted):
        x, tx, T, w = rfm
        w = w if weighted else np.ones(len(x))
        bg = BetaGeoFitter().fit(x, tx, T, weights=w if weighted else None)
        assert bg.n_rows_ < len(x)  # the ties were merged
        for params in BG_POINTS + [bg.params_.to_numpy()]:
            value, grad, _ = bg._terms(params, 2)
            ref_value, ref_grad = bg_reference(params, x, tx, T, w)
            assert value == pytest.approx(ref_value, rel=1e-10)
            # at the optimum the gradient is ~0: compare on the scale of its row terms
            scale = np.abs(BetaGeoFitter._gradient_rows(params, x, tx, T) * w).sum(axis=1)
            np.testing.assert_array_less(np.abs(grad - ref_grad), 1e-10 * scale + 1e-300)
            assert bg._negative_ll(params) == value
            np.testing.assert_array_equal(bg._gradient(params), grad)

    def test_hessian_matches_differenced_gradient(self, rfm):
        x, tx, T, w = rfm
        bg = BetaGeoFitter().fit(x, tx, T, weights=w)
        for params in BG_POINTS:
            hess = bg._terms(params, 2)[2]
            numeric = hessian_from_gradient(lambda p: bg._terms(p, 1)[1], params, step=1e-6 * params.min())
            np.testing.assert_allclose(hess, numeric, rtol=1e-5, atol=1e-6 * np.abs(hess).max())
            np.testing.assert_array_equal(hess, hess.T)

    def test_extreme_rows_are_finite(self):
        # one customer of each kind: 500 purchases, recent or long silent; the fit's terms stay finite
        x, tx, T = np.array([500.0, 500.0, 0.0, 3.0]), np.array([38.0, 1.0, 0.0, 20.0]), np.full(4, 39.0)
        bg = BetaGeoFitter()
        cols = bg._set_data(None, x=x, tx=tx, T=T)
        bg._x, bg._tx, bg._T = cols["x"], cols["tx"], cols["T"]
        bg._prepare_terms()
        with np.errstate(over="raise", divide="raise", invalid="raise"):  # exp(-big) may underflow to 0
            value, grad, hess = bg._terms(BG_POINTS[0], 2)
        assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
        assert value == pytest.approx(bg_reference(BG_POINTS[0], x, tx, T, np.ones(4))[0], rel=1e-12)

    def test_same_fit_from_raw_weighted_and_shuffled_rows(self, rfm):
        x, tx, T, w = rfm
        raw = np.repeat(np.arange(len(x)), w.astype(int))
        fits = [BetaGeoFitter().fit(x, tx, T, weights=w), BetaGeoFitter().fit(x[raw], tx[raw], T[raw])]
        c = pd.DataFrame({"x": x, "tx": tx, "T": T, "w": w}).groupby(["x", "tx", "T"], as_index=False)["w"].sum()
        fits.append(BetaGeoFitter().fit(c["x"], c["tx"], c["T"], weights=c["w"]))  # already unique and sorted
        for other in fits[1:]:
            np.testing.assert_allclose(other.params_, fits[0].params_, rtol=1e-7)
            np.testing.assert_allclose(other.standard_errors_, fits[0].standard_errors_, rtol=1e-7)
            assert other.log_likelihood_ == pytest.approx(fits[0].log_likelihood_, rel=1e-12)
            assert other.n_rows_ == fits[0].n_rows_ == len(c)

    def test_standard_errors_match_differenced_hessian(self, rfm):
        x, tx, T, w = rfm
        bg = BetaGeoFitter().fit(x, tx, T, weights=w)
        theta = np.log(bg.params_.to_numpy())
        numeric = hessian_from_gradient(bg._objective_gradient, theta, step=1e-5)
        cov = np.outer(bg.params_, bg.params_) * np.linalg.inv(numeric)
        np.testing.assert_allclose(bg.standard_errors_, np.sqrt(np.diag(cov)), rtol=1e-5)
        assert bg.newton_decrement_ < 1e-6

    def test_penalizer_moves_the_fit_to_the_penalised_optimum(self, rfm):
        x, tx, T, w = rfm
        plain = BetaGeoFitter().fit(x, tx, T, weights=w)
        pen = BetaGeoFitter(penalizer_coef=0.5).fit(x, tx, T, weights=w)
        assert not np.allclose(pen.params_, plain.params_, rtol=1e-3)
        params = pen.params_.to_numpy()
        grad = bg_reference(params, x, tx, T, w)[1] + 2 * 0.5 * params
        # stationary for the penalised objective (on a log-likelihood of size ~1e4)
        assert np.max(np.abs(grad * params)) < 1e-3 and pen.newton_decrement_ < 1e-6
        assert pen.log_likelihood_ == pytest.approx(-bg_reference(params, x, tx, T, w)[0], rel=1e-12)

    def test_newton_from_a_poor_start_falls_back_and_converges(self, rfm):
        x, tx, T, w = rfm
        ref = BetaGeoFitter().fit(x, tx, T, weights=w)
        far = BetaGeoFitter().fit(x, tx, T, weights=w, initial_params=(20.0, 0.01, 50.0, 0.01))
        np.testing.assert_allclose(far.params_, ref.params_, rtol=1e-6)

    def test_unidentified_still_raises(self):
        with pytest.raises(ConvergenceError, match="not identified|ran off"):
            BetaGeoFitter().fit(np.zeros(50), np.zeros(50), np.arange(50) / 7 + 1, weights=np.full(50, 3.0))


class TestGammaGammaTerms:
    @pytest.mark.parametrize("weighted", [False, True])
    def test_value_and_gradient_match_rows(self, spend, weighted):
        x, m, w = spend
        w = w if weighted else np.ones(len(x))
        gg = GammaGammaFitter().fit(x, m, weights=w if weighted else None)
        for params in GG_POINTS + [gg.params_.to_numpy()]:
            value, grad, _ = gg._terms(params, 2)
            ref_value, ref_grad = gg_reference(params, x, m, w)
            assert value == pytest.approx(ref_value, rel=1e-10)
            scale = np.abs(GammaGammaFitter._gradient_rows(params, x, m) * w).sum(axis=1)
            np.testing.assert_array_less(np.abs(grad - ref_grad), 1e-10 * scale)

    def test_hessian_matches_differenced_gradient(self, spend):
        x, m, w = spend
        gg = GammaGammaFitter().fit(x, m, weights=w)
        for params in GG_POINTS:
            hess = gg._terms(params, 2)[2]
            numeric = hessian_from_gradient(lambda p: gg._terms(p, 1)[1], params, step=1e-6 * params.min())
            np.testing.assert_allclose(hess, numeric, rtol=1e-5, atol=1e-6 * np.abs(hess).max())

    def test_weighted_equals_repeated_rows_and_zero_weights_drop(self, spend):
        x, m, w = spend
        raw = np.repeat(np.arange(len(x)), w.astype(int))
        a = GammaGammaFitter().fit(x, m, weights=w)
        b = GammaGammaFitter().fit(x[raw], m[raw])
        c = GammaGammaFitter().fit(np.r_[x, 7.0], np.r_[m, 1e6], weights=np.r_[w, 0.0])
        for other in (b, c):
            np.testing.assert_allclose(other.params_, a.params_, rtol=1e-7)
            assert other.log_likelihood_ == pytest.approx(a.log_likelihood_, rel=1e-12)
        assert a.n_customers_ == b.n_customers_ == c.n_customers_ == w.sum()

    def test_identical_spends_raise(self):
        with pytest.raises(ConvergenceError):
            GammaGammaFitter().fit(np.full(200, 3.0), np.full(200, 20.0))


class TestCollapse:
    @pytest.mark.parametrize("weighted", [False, True])
    def test_matches_groupby(self, rfm, weighted):
        x, tx, T, w = rfm
        m = np.round(np.random.default_rng(1).gamma(2.0, 10.0, len(x)), 1)  # continuous: hashed
        weights = w.copy() if weighted else None
        if weighted:
            weights[:7] = 0.0
        columns = {"x": x, "tx": tx, "T": T, "m": m}
        rows, cw, levels = collapse_indexed(columns, weights)
        frame = pd.DataFrame({**columns, "w": np.ones(len(x)) if weights is None else weights})
        ref = frame.groupby(list(columns), as_index=False)["w"].sum()
        ref = ref[ref["w"] > 0]
        for c in columns:
            np.testing.assert_array_equal(rows[c], ref[c].to_numpy())
            codes, lv = levels[c]
            np.testing.assert_array_equal(lv[codes], rows[c])
            assert np.all(np.diff(lv) > 0)
        np.testing.assert_array_equal(cw, ref["w"].to_numpy())

    def test_unique_sorted_rows_pass_through(self):
        x, tx = np.array([0.0, 1.0, 1.0, 2.0]), np.array([0.0, 1 / 7, 3 / 7, 3 / 7])
        w = np.array([5.0, 1.0, 2.0, 3.0])
        rows, cw, _ = collapse_indexed({"x": x, "tx": tx}, w)
        np.testing.assert_array_equal(rows["x"], x)
        np.testing.assert_array_equal(rows["tx"], tx)
        np.testing.assert_array_equal(cw, w)

    @pytest.mark.parametrize("values", [np.arange(400) / 7, np.array([3.0, 0.0, 500.0, 3.0]),
                                        np.array([0.1, 0.3, 0.1, 1e-300]), np.array([2.5, 1e12, -4.0]),
                                        np.array([1e300, 0.0, 1.0])])
    def test_level_codes_reproduce_values_exactly(self, values):
        codes, levels = level_codes(values)
        np.testing.assert_array_equal(levels[codes], values)
        assert np.all(np.diff(levels) > 0)


class TestSampleStart:
    """Large fits start Newton's method from a fit on a systematic sample: the answer is unchanged."""

    def test_bg_and_gg_same_fit_with_and_without_sample_start(self, rfm, spend, monkeypatch):
        import workbench.clv.beta_geo as beta_geo
        import workbench.clv.gamma_gamma as gamma_gamma

        x, tx, T, w = rfm
        xs, m, ws = spend
        fits = {}
        for rows in (10**9, 100):  # never / always start from a sample of ~100 rows
            monkeypatch.setattr(beta_geo, "SUBSAMPLE_ROWS", rows)
            monkeypatch.setattr(gamma_gamma, "SUBSAMPLE_ROWS", rows)
            fits[rows] = (BetaGeoFitter().fit(x, tx, T, weights=w), GammaGammaFitter().fit(xs, m, weights=ws))
        for direct, sampled in zip(fits[10**9], fits[100]):
            # both converged (Newton decrement < 1e-6): equal to well within 1e-4 standard errors
            np.testing.assert_allclose(sampled.params_, direct.params_, rtol=1e-6)
            np.testing.assert_allclose(sampled.standard_errors_, direct.standard_errors_, rtol=1e-4)
            assert sampled.log_likelihood_ == pytest.approx(direct.log_likelihood_, rel=1e-12)
