"""Pareto/NBD and BG/NBD with time-invariant covariates (workbench.clv.covariates).

References: no published fit of CLVTools' static-covariate models is stored in its repository
(its correctness tests pin only the no-covariate apparel fit), so the references are
(1) the likelihoods written out independently here from Fader & Hardie (2005, Pareto/NBD
eq. 22, with Gauss hypergeometric functions taken raw from scipy) and Fader, Hardie & Lee
(2005, BG/NBD eq. 6), maximised by plain scipy.optimize on per-customer rows; (2) the
fitters without covariates; (3) simulated truth.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.special import betaln, gammaln, hyp2f1

from workbench import DataContractError, ParameterError
from workbench.clv import BetaGeoFitter, ParetoNBDFitter
from workbench.clv.beta_geo import simulate_beta_geo
from workbench.clv.covariates import (
    BetaGeoCovariatesFitter,
    ParetoNBDCovariatesFitter,
    design_matrix,
    simulate_pareto_nbd_covariates,
)

TRUTH = {"r": 0.8, "alpha0": 8.0, "s": 0.6, "beta0": 10.0}
GAMMA_P = {"ads": 0.5, "north": -0.3}
GAMMA_D = {"ads": 0.7, "north": 0.0}


def _weekly(d: pd.DataFrame) -> pd.DataFrame:
    """Recency on whole days in weeks, as rfm_summary writes it (so rows collapse)."""
    return d.assign(recency=np.floor(d["recency"] * 7) / 7)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    """20,000 simulated Pareto/NBD customers with two 0/1 covariates."""
    return _weekly(simulate_pareto_nbd_covariates(20_000, *TRUTH.values(), GAMMA_P, GAMMA_D, T=52.0, seed=3))


@pytest.fixture(scope="module")
def pnbd_cov(sim) -> ParetoNBDCovariatesFitter:
    """Pareto/NBD with both covariates on both processes, fitted on ``sim``."""
    cov = sim[["ads", "north"]]
    return ParetoNBDCovariatesFitter().fit(sim["frequency"], sim["recency"], sim["T"], cov, cov)


# ---------------------------------------------------------------- independent likelihoods
def pnbd_ll_reference(r, alpha, s, beta, x, tx, T):
    """Fader & Hardie (2005) eq. 22 term by term; alpha, beta per customer."""
    rsx = r + s + x
    big = np.maximum(alpha, beta)
    second = np.where(alpha >= beta, s + 1, r + x)
    a0 = (hyp2f1(rsx, second, rsx + 1, np.abs(alpha - beta) / (big + tx)) / (big + tx) ** rsx
          - hyp2f1(rsx, second, rsx + 1, np.abs(alpha - beta) / (big + T)) / (big + T) ** rsx)
    like = np.exp(gammaln(r + x) - gammaln(r)) * alpha**r * beta**s * (
        1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + s / rsx * a0)
    return np.log(like)


def bgnbd_ll_reference(r, alpha, a, b, x, tx, T):
    """Fader, Hardie & Lee (2005) eq. 6; alpha, a, b per customer."""
    like = np.exp(betaln(a, b + x) - betaln(a, b) + gammaln(r + x) - gammaln(r)) * alpha**r * (
        (alpha + T) ** -(r + x) + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300), 0.0) * (alpha + tx) ** -(r + x))
    return np.log(like)


def _brute_force(ll, d: pd.DataFrame, X: np.ndarray, dropout_sign: float, dropout_both: bool,
                 start: np.ndarray) -> optimize.OptimizeResult:
    x, tx, T = (d[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    k = X.shape[1]

    def negll(theta):
        r, a0, third, fourth = np.exp(theta[:4])
        alpha = a0 * np.exp(-X @ theta[4:4 + k])
        scale = np.exp(dropout_sign * X @ theta[4 + k:])
        args = (third * scale, fourth * scale) if dropout_both else (third, fourth * scale)
        return -float(np.sum(ll(r, alpha, *args, x, tx, T)))

    return optimize.minimize(negll, start, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})


def _small_sample(seed: int) -> pd.DataFrame:
    d = simulate_pareto_nbd_covariates(1500, *TRUTH.values(), GAMMA_P, {"ads": 0.7}, T=39.0, seed=seed)
    return _weekly(d)


def test_pareto_nbd_matches_brute_force_maximum():
    """Same maximum as scipy BFGS on the independent per-customer likelihood (1,500 customers)."""
    d = _small_sample(11)
    cov = d[["ads", "north"]]
    m = ParetoNBDCovariatesFitter().fit(d["frequency"], d["recency"], d["T"], cov, cov)
    X = cov.to_numpy(float)
    res = _brute_force(pnbd_ll_reference, d, X, -1.0, False, np.r_[np.log([1.0, 5.0, 1.0, 5.0]), np.zeros(4)])
    theta_bf = res.x
    assert m.log_likelihood_ == pytest.approx(-res.fun, abs=1e-6)
    # parameters agree far inside their standard errors (brute force's own optimum is ~1e-5 SE precise)
    se_theta = np.r_[m.standard_errors_.to_numpy()[:4] / m.params_.to_numpy()[:4], m.standard_errors_.to_numpy()[4:]]
    assert np.max(np.abs(m.theta_ - theta_bf) / se_theta) < 1e-3
    # and the per-customer likelihood itself, at the optimum
    ref = pnbd_ll_reference(*[np.exp(m.theta_[0]), np.exp(m.theta_[1] - X @ m.theta_[4:6]), np.exp(m.theta_[2]),
                              np.exp(m.theta_[3] - X @ m.theta_[6:])], *(d[c].to_numpy(float) for c in
                                                                         ("frequency", "recency", "T")))
    np.testing.assert_allclose(m.log_likelihood_rows(d["frequency"], d["recency"], d["T"], cov, cov), ref,
                               rtol=1e-10, atol=1e-10)


def test_beta_geo_matches_brute_force_maximum():
    """Same maximum as scipy BFGS on the independent per-customer BG/NBD likelihood."""
    d = _small_sample(12)
    cov = d[["ads", "north"]]
    m = BetaGeoCovariatesFitter().fit(d["frequency"], d["recency"], d["T"], cov, cov)
    X = cov.to_numpy(float)
    res = _brute_force(bgnbd_ll_reference, d, X, 1.0, True, np.r_[np.log([1.0, 5.0, 1.0, 3.0]), np.zeros(4)])
    assert m.log_likelihood_ == pytest.approx(-res.fun, abs=1e-6)
    se_theta = np.r_[m.standard_errors_.to_numpy()[:4] / m.params_.to_numpy()[:4], m.standard_errors_.to_numpy()[4:]]
    assert np.max(np.abs(m.theta_ - res.x) / se_theta) < 1e-3


# ---------------------------------------------------------------- exact derivatives
def test_pareto_nbd_exact_derivatives_match_central_differences():
    """Per-row gradient and Hessian in the log-parameters against central differences.

    Both branches (α ≥ β and α < β), t_x = T, frequencies up to 500, and α, β a hundred-fold
    apart (z > 0.99, where rows fall back to differences). Central differences with step 1e-5
    are good to ~1e-10 times the next derivative plus 1e-16·|f|/1e-5, below 1e-7 relative here:
    of the likelihood for the gradient, of the exact gradient for the Hessian. Rows sharing
    x, t_x and u (or x, T and u) evaluated once give the same numbers bit for bit.
    """
    from workbench._rows import distinct_rows
    from workbench.clv.covariate_rows import pareto_nbd_log_likelihood, pareto_nbd_row_derivatives

    rng = np.random.default_rng(7)
    n = 3000
    x = rng.poisson(2.0, n).astype(float)
    x[:6] = [0, 1, 50, 200, 500, 3]
    T = rng.integers(1, 700, n) / 7
    tx = np.where(x > 0, np.floor(rng.random(n) * T * 7) / 7, 0.0)
    tx[10:40] = T[10:40]
    pattern = rng.integers(0, 4, n)
    scales = np.array([[8.0, 10.0], [12.0, 3.0], [0.5, 3.0], [300.0, 2.0]])[pattern]  # the last: z > 0.99
    u = np.log(np.vstack([np.full(n, 0.8), scales[:, 0], np.full(n, 0.6), scales[:, 1]]))
    value, grad, hess = pareto_nbd_row_derivatives(u, x, tx, T)
    np.testing.assert_allclose(value, pareto_nbd_log_likelihood(u, x, tx, T), rtol=1e-13, atol=1e-12)
    h, eye = 1e-5, np.eye(4)[:, :, None]
    numeric = np.array([(pareto_nbd_log_likelihood(u + h * eye[j], x, tx, T)
                         - pareto_nbd_log_likelihood(u - h * eye[j], x, tx, T)) / (2 * h) for j in range(4)])
    assert np.max(np.abs(grad - numeric) / (1 + np.abs(grad))) < 1e-6
    exact = pattern < 3  # the fallback rows' Hessian is itself a central difference (error ~1e-5)
    jac = np.array([(pareto_nbd_row_derivatives(u + h * eye[j], x, tx, T)[1]
                     - pareto_nbd_row_derivatives(u - h * eye[j], x, tx, T)[1]) / (2 * h) for j in range(4)])
    assert np.max((np.abs(hess - jac) / (1 + np.abs(hess)))[:, :, exact]) < 1e-6
    np.testing.assert_array_equal(hess, hess.transpose(1, 0, 2))

    def groups(*cols):
        codes = distinct_rows({str(i): c for i, c in enumerate(cols)})[2]
        first = np.empty(codes.max() + 1, np.intp)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)
        return codes, first

    shared = pareto_nbd_row_derivatives(u, x, tx, T, (groups(x, tx, pattern), groups(x, T, pattern)))
    for a, b in zip(shared, (value, grad, hess), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- without covariates = existing fitters
@pytest.mark.parametrize("cov_cls, base_cls", [(ParetoNBDCovariatesFitter, ParetoNBDFitter),
                                               (BetaGeoCovariatesFitter, BetaGeoFitter)])
def test_without_covariates_equals_existing_fitter(cov_cls, base_cls):
    """No covariates: the existing fitter's maximum, errors and likelihood; its predictions at the same parameters.

    The Pareto/NBD base is fitted by Newton's method on exact derivatives, the existing fitter by
    L-BFGS-B and a finite-difference Hessian: both stop within 1e-3 standard errors of the maximum
    (Newton decrement <= 1e-6), and a finite-difference Hessian is good to ~1e-4.
    """
    d = _weekly(simulate_beta_geo(4000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=5))
    args = (d["frequency"], d["recency"], d["T"])
    m, base = cov_cls().fit(*args), base_cls().fit(*args)
    np.testing.assert_array_equal(m.params_.to_numpy(), m.base_model_.params_.to_numpy())
    se_theta = base.standard_errors_.to_numpy() / base.params_.to_numpy()
    assert np.max(np.abs(m.theta_ - np.log(base.params_.to_numpy())) / se_theta) < 1e-3
    np.testing.assert_allclose(m.standard_errors_.to_numpy(), base.standard_errors_.to_numpy(), rtol=1e-3)
    assert m.log_likelihood_ == pytest.approx(base.log_likelihood_, abs=1e-6)
    same = base_cls()
    same.params_ = m.params_.copy()
    np.testing.assert_allclose(m.log_likelihood_rows(*args), same.log_likelihood_rows(*args), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(m.conditional_probability_alive(*args), same.conditional_probability_alive(*args),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.conditional_expected_number_of_purchases_up_to_time(13.0, *args),
                               same.conditional_expected_number_of_purchases_up_to_time(13.0, *args), rtol=1e-9)


@pytest.mark.parametrize("cov_cls, base_cls, names", [
    (ParetoNBDCovariatesFitter, ParetoNBDFitter, ("r", "alpha", "s", "beta")),
    (BetaGeoCovariatesFitter, BetaGeoFitter, ("r", "alpha", "a", "b"))])
def test_predictions_equal_existing_fitter_at_each_customers_parameters(sim, cov_cls, base_cls, names):
    """A customer's prediction is the no-covariate model's at that customer's (α_i, β_i | a_i, b_i)."""
    head = sim.iloc[:400]
    cov = head[["ads", "north"]]
    m = cov_cls().fit(sim["frequency"], sim["recency"], sim["T"], sim[["ads", "north"]], sim[["ads", "north"]])
    u = m.customer_parameters(cov, cov)
    pa = m.conditional_probability_alive(head["frequency"], head["recency"], head["T"], cov, cov)
    ey = m.conditional_expected_number_of_purchases_up_to_time(26.0, head["frequency"], head["recency"], head["T"],
                                                               cov, cov)
    for pattern in np.unique(u.T, axis=0):
        rows = np.all(u.T == pattern, axis=1)
        ref = base_cls()
        ref.params_ = pd.Series(np.exp(pattern), index=list(names))
        args = (head["frequency"][rows], head["recency"][rows], head["T"][rows])
        np.testing.assert_allclose(pa[rows], ref.conditional_probability_alive(*args), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ey[rows], ref.conditional_expected_number_of_purchases_up_to_time(26.0, *args),
                                   rtol=1e-9)


# ---------------------------------------------------------------- simulated truth
def test_recovers_simulated_effects(pnbd_cov):
    """20,000 simulated customers: every 95% interval covers the true γ and the base parameters."""
    s = pnbd_cov.summary
    truth = {"r": TRUTH["r"], "alpha": TRUTH["alpha0"], "s": TRUTH["s"], "beta": TRUTH["beta0"],
             **{f"purchase: {k}": v for k, v in GAMMA_P.items()}, **{f"dropout: {k}": v for k, v in GAMMA_D.items()}}
    for name, value in truth.items():
        assert s.loc[name, "lower 95% bound"] <= value <= s.loc[name, "upper 95% bound"], name
    ads = {e.process: e for e in pnbd_cov.effects() if e.covariate == "ads"}
    assert ads["purchase"].multiplier_low < np.exp(0.5) < ads["purchase"].multiplier_high
    assert ads["dropout"].multiplier == pytest.approx(np.exp(s.loc["dropout: ads", "coef"]))


def test_rows_collapse_by_covariate_pattern(sim, pnbd_cov):
    """Weighted rows collapsed beforehand give the same fit as raw customers."""
    assert pnbd_cov.n_customers_ == 20_000
    assert pnbd_cov.n_rows_ < 20_000 / 3
    keys = ["frequency", "recency", "T", "ads", "north"]
    rows = sim.groupby(keys).size().rename("weight").reset_index()
    cov = rows[["ads", "north"]]
    m = ParetoNBDCovariatesFitter().fit(rows["frequency"], rows["recency"], rows["T"], cov, cov,
                                        weights=rows["weight"])
    np.testing.assert_allclose(m.params_.to_numpy(), pnbd_cov.params_.to_numpy(), rtol=1e-6, atol=1e-8)


def test_categorical_covariates_against_reference_level(sim):
    """Text columns become indicators against the most common level, or the one named."""
    channel = np.where(sim["ads"] == 1, "ads", "store")
    frame = pd.DataFrame({"channel_group": channel})
    m = ParetoNBDCovariatesFitter().fit(sim["frequency"], sim["recency"], sim["T"], frame, frame)
    assert m.purchase_names_ == ["channel_group=ads"]  # store is the more common level: the reference
    flipped = ParetoNBDCovariatesFitter().fit(sim["frequency"], sim["recency"], sim["T"], frame, frame,
                                              reference={"channel_group": "ads"})
    assert flipped.params_["purchase: channel_group=store"] == pytest.approx(-m.params_["purchase: channel_group=ads"],
                                                                             abs=1e-6)
    pa = m.conditional_probability_alive([1.0, 1.0], [20.0, 20.0], [52.0, 52.0],
                                         pd.DataFrame({"channel_group": ["ads", "store"]}),
                                         pd.DataFrame({"channel_group": ["ads", "store"]}))
    assert pa[0] < pa[1]  # ads customers drop out faster (γ_d = 0.7)


def test_design_matrix_and_errors():
    """Design coding and the errors for missing values, unknown levels, bad lengths, no fit."""
    X, names = design_matrix(pd.DataFrame({"g": ["b", "a", "b"]}))
    assert names == ["g=a"] and X[:, 0].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(DataContractError, match="missing"):
        design_matrix(pd.DataFrame({"g": ["a", None, "b"]}))
    with pytest.raises(ParameterError, match="reference level"):
        design_matrix(pd.DataFrame({"g": ["a", "b"]}), {"g": "c"})
    with pytest.raises(ParameterError, match="rows"):
        ParetoNBDCovariatesFitter().fit([1, 0], [1.0, 0.0], [5.0, 5.0], pd.DataFrame({"g": [1.0, 0.0, 1.0]}))
    with pytest.raises(ParameterError, match="not fitted"):
        _ = ParetoNBDCovariatesFitter().summary


def _simulate_bg_covariate(n: int, seed: int, gamma_p: float, gamma_d: float) -> tuple[np.ndarray, ...]:
    """BG/NBD customers with one 0/1 flag: α_i = 4·e^(−γ_p x), a_i, b_i = 0.8, 2.5 · e^(γ_d x) (r = 0.25)."""
    rng = np.random.default_rng(seed)
    flag = (rng.random(n) < 0.4).astype(float)
    lam = rng.gamma(0.25, 1 / (4.0 * np.exp(-gamma_p * flag)))
    p = rng.beta(0.8 * np.exp(gamma_d * flag), 2.5 * np.exp(gamma_d * flag))
    T = np.full(n, 39.0)
    events = rng.poisson(lam * T)
    x = np.minimum(events, rng.geometric(np.clip(p, 1e-12, 1.0)))
    recency = np.zeros(n)
    has = x > 0
    recency[has] = T[has] * rng.beta(x[has], events[has] - x[has] + 1)
    return x.astype(float), np.floor(recency * 7) / 7, T, flag


@pytest.mark.slow
def test_bg_nbd_interval_coverage_over_2000_simulations():
    """Coverage of the 95% Wald intervals of γ over 2,000 samples of 1,000 customers (about 200 s).

    Measured with seeds 1000–2999: purchase 94.4%, drop-out 97.1%, 1 sample without an interior
    maximum (left out). The drop-out effect scales a and b together and is weakly identified in
    1,000 customers, so its Wald interval errs on the wide side; the band below allows that
    (binomial standard error of a coverage over 2,000 samples: 0.5 points).
    """
    from workbench import ConvergenceError

    hits, fits = np.zeros(2), 0
    for i in range(2000):
        x, tx, T, flag = _simulate_bg_covariate(1000, 1000 + i, 0.5, 0.4)
        frame = pd.DataFrame({"flag": flag})
        try:
            s = BetaGeoCovariatesFitter().fit(x, tx, T, frame, frame).summary
        except ConvergenceError:
            continue
        fits += 1
        for j, (name, truth) in enumerate((("purchase: flag", 0.5), ("dropout: flag", 0.4))):
            hits[j] += s.loc[name, "lower 95% bound"] <= truth <= s.loc[name, "upper 95% bound"]
    coverage = hits / fits
    assert fits >= 1990
    assert 0.94 <= coverage[0] <= 0.96
    assert 0.94 <= coverage[1] <= 0.98
