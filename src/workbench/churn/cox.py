"""Cox proportional hazards on collapsed rows with frequency weights, exactly.

When covariates are categorical, millions of spells collapse to a few thousand unique
(covariates, duration, event) rows. A frequency weight w means "w identical rows", and the
partial likelihood must treat it so — including Efron's correction for tied event times,
where a weight-w row contributes w tied events. This fitter evaluates the Efron partial
likelihood of the *replicated* rows from the collapsed ones, so its coefficients equal
those of lifelines on the raw rows (to optimiser precision), at a fraction of the cost.

Newton-Raphson on the exact gradient and Hessian; the sums over the tied events of each
time are reduced to five scalars per time, so memory grows with the number of events, not
events × covariates².
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConvergenceError, DataContractError


class CollapsedCoxFitter:
    """Cox model (Efron ties) on rows with integer frequency weights.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"tool": [0, 1, 0, 1]})
    >>> m = CollapsedCoxFitter().fit(X, [5, 5, 9, 9], [1, 1, 1, 0], weights=[30, 20, 10, 15])
    >>> m.params_.index.tolist()
    ['tool']
    """

    def __init__(self, tol: float = 1e-10, max_iter: int = 100) -> None:
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, durations, events, weights=None) -> "CollapsedCoxFitter":
        X = pd.DataFrame(X).astype(float)
        t = np.asarray(durations, float)
        e = np.asarray(events, bool)
        w = np.ones(len(t)) if weights is None else np.asarray(weights, float)
        if np.any(w < 0) or np.any(w != np.round(w)):
            raise DataContractError("spells", "weight", "frequency weights must be non-negative whole numbers")
        if not e.any():
            raise DataContractError("spells", "churned", "no events: the Cox model is not identified")
        order = np.argsort(-t, kind="stable")
        self._X, self._t, self._e, self._w = X.to_numpy()[order], t[order], e[order], w[order]
        self._prepare()
        beta = np.zeros(X.shape[1])
        ll = self._loglik(beta)[0]
        for _ in range(self.max_iter):
            ll, grad, hess = self._loglik(beta, derivatives=True)
            try:
                step = np.linalg.solve(-hess, grad)
            except np.linalg.LinAlgError as err:
                raise ConvergenceError("Cox Hessian is singular: a covariate level has no events or no variation") from err
            new = beta + step
            new_ll = self._loglik(new)[0]
            halvings = 0
            while new_ll < ll - 1e-12 and halvings < 30:
                step /= 2
                new = beta + step
                new_ll = self._loglik(new)[0]
                halvings += 1
            beta = new
            if np.max(np.abs(step)) < self.tol or abs(new_ll - ll) < self.tol * max(1.0, abs(ll)):
                break
        else:
            raise ConvergenceError("Cox Newton-Raphson did not converge")
        ll, grad, hess = self._loglik(beta, derivatives=True)
        cov = np.linalg.inv(-hess)
        self.params_ = pd.Series(beta, index=X.columns, name="coef")
        self.variance_matrix_ = pd.DataFrame(cov, index=X.columns, columns=X.columns)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=X.columns, name="se(coef)")
        self.log_likelihood_ = float(ll)
        self._baseline(beta)
        return self

    # ------------------------------------------------------------------ internals
    def _prepare(self) -> None:
        t, e, w = self._t, self._e, self._w
        # distinct event times in descending order; risk set at time s = rows with t >= s
        times = np.unique(t[e])[::-1]
        self._times = times
        # last row index (in the descending order) with t >= s: risk-set cumulative sums end there
        self._risk_end = np.searchsorted(-t, -times, side="right") - 1
        ev_idx = np.flatnonzero(e)
        self._ev_time = np.searchsorted(-times, -t[ev_idx])  # time slot of each event row
        self._ev_idx = ev_idx
        d = np.bincount(self._ev_time, weights=w[ev_idx], minlength=len(times))
        self._d = d
        counts = d.astype(np.int64)
        # Efron fractions l/d for l = 0..d-1 of every event time, flattened
        self._pair_time = np.repeat(np.arange(len(times)), counts)
        starts = np.cumsum(counts) - counts
        self._pair_frac = (np.arange(counts.sum()) - np.repeat(starts, counts)) / np.repeat(d, counts)

    def _loglik(self, beta: np.ndarray, derivatives: bool = False):
        X, w = self._X, self._w
        eta = X @ beta
        r = w * np.exp(eta)
        R = np.cumsum(r)[self._risk_end]
        ev, slot = self._ev_idx, self._ev_time
        S = np.bincount(slot, weights=r[ev], minlength=len(self._times))
        f, pt = self._pair_frac, self._pair_time
        denom = R[pt] - f * S[pt]
        ll = float(np.sum(w[ev] * eta[ev]) - np.sum(np.log(denom)))
        if not derivatives:
            return (ll,)
        p = X.shape[1]
        R1 = np.cumsum(r[:, None] * X, axis=0)[self._risk_end]
        S1 = np.stack([np.bincount(slot, weights=r[ev] * X[ev, k], minlength=len(self._times)) for k in range(p)], 1)
        n = len(self._times)
        a = np.bincount(pt, weights=1 / denom, minlength=n)
        b = np.bincount(pt, weights=f / denom, minlength=n)
        c = np.bincount(pt, weights=1 / denom**2, minlength=n)
        g2 = np.bincount(pt, weights=f / denom**2, minlength=n)
        h = np.bincount(pt, weights=f**2 / denom**2, minlength=n)
        grad = (w[ev, None] * X[ev]).sum(0) - (R1 * a[:, None]).sum(0) + (S1 * b[:, None]).sum(0)
        XR = r[:, None, None] * X[:, :, None] * X[:, None, :]
        R2 = np.cumsum(XR, axis=0)[self._risk_end]
        S2 = np.zeros((n, p, p))
        np.add.at(S2, slot, XR[ev])
        outer = lambda u, v: u[:, :, None] * v[:, None, :]  # noqa: E731
        hess = -(np.einsum("t,tij->ij", a, R2) - np.einsum("t,tij->ij", b, S2)
                 - np.einsum("t,tij->ij", c, outer(R1, R1))
                 + np.einsum("t,tij->ij", g2, outer(R1, S1) + outer(S1, R1))
                 - np.einsum("t,tij->ij", h, outer(S1, S1)))
        return ll, grad, hess

    def _baseline(self, beta: np.ndarray) -> None:
        r = self._w * np.exp(self._X @ beta)
        R = np.cumsum(r)[self._risk_end]
        hazard = self._d / R
        times = self._times[::-1]
        self.baseline_cumulative_hazard_ = pd.DataFrame({"baseline cumulative hazard": np.cumsum(hazard[::-1])},
                                                        index=pd.Index(times, name="timeline"))

    # ------------------------------------------------------------------ outputs
    def predict_partial_hazard(self, X: pd.DataFrame) -> pd.Series:
        """exp(x·β), uncentred (matches ``baseline_cumulative_hazard_``)."""
        X = pd.DataFrame(X).reindex(columns=self.params_.index, fill_value=0.0).astype(float)
        return pd.Series(np.exp(X.to_numpy() @ self.params_.to_numpy()), index=X.index)

    @property
    def summary(self) -> pd.DataFrame:
        z = self.params_ / self.standard_errors_
        q = stats.norm.ppf(0.975)
        return pd.DataFrame({
            "coef": self.params_, "exp(coef)": np.exp(self.params_), "se(coef)": self.standard_errors_,
            "exp(coef) lower 95%": np.exp(self.params_ - q * self.standard_errors_),
            "exp(coef) upper 95%": np.exp(self.params_ + q * self.standard_errors_),
            "z": z, "p": 2 * stats.norm.sf(np.abs(z))})
