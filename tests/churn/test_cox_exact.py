"""Collapsed Cox: the closed-form Efron tie correction against the explicit loop and lifelines."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench import ConvergenceError, DataContractError
from workbench._rows import collapse_rows
from workbench.churn.cox import CollapsedCoxFitter, efron_tie_terms


def loop_sums(y: float, d: int) -> tuple[float, float, float]:
    """Σ log(y+j), Σ 1/(y+j), Σ 1/(y+j)² over j < d, term by term (exactly rounded sums)."""
    terms = [y + j for j in range(d)]
    return (math.fsum(math.log(v) for v in terms), math.fsum(1 / v for v in terms),
            math.fsum(1 / (v * v) for v in terms))


def efron_loop(X: np.ndarray, t: np.ndarray, e: np.ndarray, w: np.ndarray, beta: np.ndarray):
    """Textbook Efron log-likelihood, gradient and Hessian: explicit loop over every tied event.

    A weight-w event row counts as w tied events (the replicated raw rows), so this is the
    likelihood lifelines maximises on the raw rows.
    """
    eta = X @ beta
    r = w * np.exp(eta)
    p = X.shape[1]
    ll, grad, hess = 0.0, np.zeros(p), np.zeros((p, p))
    for s in np.unique(t[e]):
        risk, tied = t >= s, (t == s) & e
        d = int(round(w[tied].sum()))
        S0, S1, S2 = r[risk].sum(), r[risk] @ X[risk], (r[risk, None] * X[risk]).T @ X[risk]
        T0, T1, T2 = r[tied].sum(), r[tied] @ X[tied], (r[tied, None] * X[tied]).T @ X[tied]
        ll += w[tied] @ eta[tied]
        grad += w[tied] @ X[tied]
        for k in range(d):
            f = k / d
            D0, D1, D2 = S0 - f * T0, S1 - f * T1, S2 - f * T2
            ll -= math.log(D0)
            grad -= D1 / D0
            hess -= D2 / D0 - np.outer(D1, D1) / D0**2
    return ll, grad, hess


def tied_data(n: int, seed: int, n_times: int = 5, max_weight: int = 3000, p: int = 3):
    """Few distinct times and large integer weights: thousands of tied events per time."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, (n, p)).astype(float)
    t = rng.integers(1, n_times + 1, n).astype(float)
    e = rng.random(n) < 0.6
    w = rng.integers(1, max_weight, n).astype(float)
    return X, t, e, w


class TestClosedFormSums:
    @pytest.mark.parametrize("d", [1, 2, 3, 7, 50, 999, 10_000])
    @pytest.mark.parametrize("y", [1.0, 1.0 + 1e-9, 2.5, 29.999, 30.0, 31.7, 1e3, 123456.789, 1e6, 1e7, 3e8])
    def test_equal_to_explicit_sums(self, y, d):
        got = [float(v[0]) for v in efron_tie_terms(np.array([y]), np.array([float(d)]))]
        want = loop_sums(y, d)
        # log Σ: absolute 1e-12 per term at most; the reciprocal sums to 1e-13 relative
        assert got[0] == pytest.approx(want[0], rel=1e-14, abs=1e-13 * d)
        assert got[1] == pytest.approx(want[1], rel=1e-13)
        assert got[2] == pytest.approx(want[2], rel=1e-12)

    def test_efron_identity_large_and_tiny_c(self):
        # Σ_l log(S0 − (l/d)·T0) = d·log(T0/d) + Σ_j log(y + j) with y = 1 + d·(S0 − T0)/T0
        for S0, T0, d in [(1e7, 3.0, 3), (5e6, 4e3, 4000), (10_000.0, 10_000.0, 10_000), (1.0, 0.999, 2),
                          (2e9, 1e4, 10_000), (12.0, 11.0, 11)]:
            y = 1 + d * (S0 - T0) / T0
            closed = d * math.log(T0 / d) + float(efron_tie_terms(np.array([y]), np.array([float(d)]))[0][0])
            loop = math.fsum(math.log(S0 - k / d * T0) for k in range(d))
            assert closed == pytest.approx(loop, rel=1e-13, abs=1e-9)


def assert_matches_loop(X, t, e, w, beta, ll_rel, grad_rtol, hess_rtol, grad_atol=0.0, hess_atol=0.0):
    """The collapsed fitter's log-likelihood, gradient and Hessian at ``beta`` equal the explicit
    Efron loop's (absolute tolerances relative to the largest reference entry)."""
    m = CollapsedCoxFitter().fit(pd.DataFrame(X), t, e, weights=w)
    ll, grad, hess = m._loglik(beta, derivatives=True)
    ll_ref, grad_ref, hess_ref = efron_loop(X, t, e, w, beta)
    assert ll == pytest.approx(ll_ref, rel=ll_rel)
    np.testing.assert_allclose(grad, grad_ref, rtol=grad_rtol, atol=grad_atol * np.abs(grad_ref).max())
    np.testing.assert_allclose(hess, hess_ref, rtol=hess_rtol, atol=hess_atol * np.abs(hess_ref).max())


class TestAgainstLoop:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_loglik_gradient_hessian_with_heavy_ties(self, seed):
        X, t, e, w = tied_data(60, seed)
        assert_matches_loop(X, t, e, w, np.array([0.3, -0.5, 0.2]), ll_rel=1e-12, grad_rtol=1e-8, hess_rtol=1e-8,
                            grad_atol=1e-8, hess_atol=1e-10)

    def test_large_c_one_event_among_millions_at_risk(self):
        # a huge censored weight late: c = d·S0/T0 ~ 1e7 at every event time
        X = np.array([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0], [0.0], [1.0]])
        t = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 9.0, 9.0])
        e = np.array([True, True, True, True, True, True, False, False])
        w = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 2.0, 1e7, 5e6])
        assert_matches_loop(X, t, e, w, np.array([0.4]), ll_rel=1e-13, grad_rtol=1e-9, hess_rtol=1e-8)

    def test_estimate_with_ten_million_at_risk(self):
        # MLE near β = 16 (x=1 rows must out-hazard 1e7 censored x=0 rows); overshooting Newton
        # steps underflow the tie sums, which the line search rejects quietly
        X = np.array([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0]])
        t = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 9.0])
        e = np.array([True, True, True, True, True, False])
        w = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1e7])
        m = CollapsedCoxFitter().fit(pd.DataFrame(X), t, e, weights=w)
        ll_ref, grad_ref, hess_ref = efron_loop(X, t, e, w, m.params_.to_numpy())
        assert 10 < m.params_.iloc[0] < 25 and abs(grad_ref[0]) < 1e-8
        assert m.log_likelihood_ == pytest.approx(ll_ref, rel=1e-12)
        assert m.standard_errors_.iloc[0] == pytest.approx(1 / math.sqrt(-hess_ref[0, 0]), rel=1e-8)

    def test_everyone_at_risk_fails_together(self):
        # the last time: all 10,000 at risk die at once (y = 1, c = d: the tiny-c end)
        X = np.array([[0.0], [1.0], [0.0], [1.0]])
        t = np.array([1.0, 1.0, 5.0, 5.0])
        e = np.array([True, False, True, True])
        w = np.array([40.0, 7.0, 6000.0, 4000.0])
        assert_matches_loop(X, t, e, w, np.array([-0.7]), ll_rel=1e-12, grad_rtol=1e-8, hess_rtol=1e-8)

    def test_zero_weights_are_absent_rows(self):
        X, t, e, w = tied_data(40, 5, max_weight=50, p=2)
        w0 = w.copy()
        w0[::4] = 0
        full = CollapsedCoxFitter().fit(pd.DataFrame(X), t, e, weights=w0)
        keep = w0 > 0
        dropped = CollapsedCoxFitter().fit(pd.DataFrame(X[keep]), t[keep], e[keep], weights=w0[keep])
        np.testing.assert_allclose(full.params_, dropped.params_, atol=1e-12)


class TestAgainstLifelines:
    def test_replicated_rows(self):
        from lifelines import CoxPHFitter

        X, t, e, w = tied_data(120, 11, n_times=12, max_weight=40, p=3)
        cols = ["a", "b", "c"]
        ours = CollapsedCoxFitter().fit(pd.DataFrame(X, columns=cols), t, e, weights=w)
        reps = w.astype(int)
        raw = pd.DataFrame(np.repeat(X, reps, axis=0), columns=cols).assign(
            T=np.repeat(t, reps), E=np.repeat(e, reps).astype(int))
        ref = CoxPHFitter().fit(raw, "T", "E")
        np.testing.assert_allclose(ours.params_[cols], ref.params_[cols], atol=1e-6)
        np.testing.assert_allclose(ours.standard_errors_[cols], ref.standard_errors_[cols], rtol=1e-5)
        assert ours.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-9)
        np.testing.assert_allclose(ours.baseline_cumulative_hazard_.iloc[:, 0].to_numpy(),
                                   ref.baseline_cumulative_hazard_.iloc[:, 0].to_numpy()
                                   / np.exp(ref._norm_mean.to_numpy() @ ref.params_.to_numpy()), rtol=1e-6)

    def test_ten_thousand_tied_events_per_time(self):
        from lifelines import CoxPHFitter

        X, t, e, w = tied_data(60, 3, n_times=4, max_weight=3000, p=2)
        reps = w.astype(int)
        d_max = max(reps[(t == s) & e].sum() for s in np.unique(t[e]))
        assert d_max >= 10_000  # the case the closed form is for
        ours = CollapsedCoxFitter().fit(pd.DataFrame(X, columns=["a", "b"]), t, e, weights=w)
        raw = pd.DataFrame(np.repeat(X, reps, axis=0), columns=["a", "b"]).assign(
            T=np.repeat(t, reps), E=np.repeat(e, reps).astype(int))
        ref = CoxPHFitter().fit(raw, "T", "E")
        np.testing.assert_allclose(ours.params_, ref.params_, atol=1e-6)
        np.testing.assert_allclose(ours.standard_errors_, ref.standard_errors_, rtol=1e-5)
        assert ours.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-9)

    def test_continuous_times_no_ties(self):
        from lifelines import CoxPHFitter

        rng = np.random.default_rng(4)
        n = 2000
        X = rng.normal(size=(n, 2))
        t = rng.exponential(np.exp(-X @ np.array([0.5, -0.25])))
        e = rng.random(n) < 0.7
        ours = CollapsedCoxFitter().fit(pd.DataFrame(X, columns=["u", "v"]), t, e)
        ref = CoxPHFitter().fit(pd.DataFrame(X, columns=["u", "v"]).assign(T=t, E=e.astype(int)), "T", "E")
        np.testing.assert_allclose(ours.params_, ref.params_, atol=1e-6)
        np.testing.assert_allclose(ours.standard_errors_, ref.standard_errors_, rtol=1e-5)


class TestErrorsAndCollapse:
    def test_constant_covariate_is_singular(self):
        X = pd.DataFrame({"a": [1.0, 0.0, 1.0, 0.0], "const": [0.0, 0.0, 0.0, 0.0]})
        with pytest.raises(ConvergenceError, match="singular"):
            CollapsedCoxFitter().fit(X, [1, 2, 3, 4], [1, 1, 0, 1], weights=[3, 4, 5, 6])

    def test_bad_weights_and_no_events(self):
        X = pd.DataFrame({"a": [1.0, 0.0]})
        with pytest.raises(DataContractError, match="whole numbers"):
            CollapsedCoxFitter().fit(X, [1, 2], [1, 0], weights=[1.5, 2])
        with pytest.raises(DataContractError, match="no events"):
            CollapsedCoxFitter().fit(X, [1, 2], [1, 0], weights=[0, 2])

    def test_collapse_rows_matches_groupby(self):
        rng = np.random.default_rng(0)
        n = 5000
        frame = pd.DataFrame({"g": rng.choice(["x", "y", "z"], n), "tier": rng.integers(0, 3, n),
                              "days": np.ceil(rng.exponential(20, n)), "churned": rng.random(n) < 0.5})
        keys = ["g", "tier", "days", "churned"]
        got = collapse_rows(frame, keys)
        want = frame.groupby(keys, as_index=False).size().rename(columns={"size": "weight"})
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
        assert got["weight"].sum() == n and list(got.dtypes[keys]) == list(frame.dtypes[keys])


class TestLifelinesPath:
    """Fits handed to lifelines (collapse=False, entry times, clusters, a penalizer); issue 19.

    Data: the Rossi recidivism data shipped with lifelines (``lifelines.datasets.load_rossi``).
    """

    COVS = ["fin", "race", "wexp", "mar", "paro", "prio"]

    def test_weights_mean_the_replicated_rows(self):
        """rossi with ``weights=age`` and six covariates: the fit on the replicated rows (reference: the
        exact collapsed fitter on those rows, which matches lifelines unweighted) has fin −0.508274;
        lifelines' case weights gave −0.507408."""
        from lifelines.datasets import load_rossi

        from workbench.churn.survival import fit_cox

        rossi = load_rossi()
        rep = rossi.loc[rossi.index.repeat(rossi["age"])].reset_index(drop=True)
        exact = CollapsedCoxFitter().fit(rep[self.COVS], rep["week"], rep["arrest"])
        weighted = fit_cox(rossi, numeric=self.COVS, duration_col="week", event_col="arrest", collapse=False,
                           check_ph=False, weights_col="age")
        coef = weighted.hazard_ratios_.set_index("covariate")["coef"]
        assert coef["fin"] == pytest.approx(-0.508274, abs=1e-6)
        for c in self.COVS:
            assert coef[c] == pytest.approx(exact.params_[c], abs=1e-8)
        assert weighted.n_spells_ == int(rossi["age"].sum())

    def test_penalised_fit_is_converged(self):
        """lifelines' defaults stop 7.5e-6 short on rossi with penalizer 0.1; the fit is now at the optimum,
        where the penalised score is zero (gradient of the exact Efron log-likelihood / n = penalizer · β,
        lifelines' objective with l1_ratio = 0)."""
        from lifelines.datasets import load_rossi

        from workbench.churn.survival import fit_cox

        rossi = load_rossi()
        covs = self.COVS + ["age"]
        fit = fit_cox(rossi, numeric=covs, duration_col="week", event_col="arrest", collapse=False,
                      check_ph=False, penalizer=0.1)
        beta = fit.hazard_ratios_.set_index("covariate")["coef"][covs].to_numpy()
        exact = CollapsedCoxFitter().fit(rossi[covs], rossi["week"], rossi["arrest"])
        _, grad, _ = exact._loglik(beta, derivatives=True)
        # lifelines standardises covariates (sample sd) and penalises 0.5·penalizer·‖β_std‖² against the
        # mean log-likelihood: at the optimum score / (sd · n) = penalizer · β · sd
        sd = rossi[covs].std(ddof=1).to_numpy()
        assert np.max(np.abs(grad / (sd * len(rossi)) - 0.1 * beta * sd)) < 1e-9
