"""Cox proportional hazards on collapsed rows with frequency weights, exactly.

When covariates are categorical, millions of spells collapse to a few thousand unique
(covariates, duration, event) rows. A frequency weight w means "w identical rows", and the
partial likelihood must treat it so — including Efron's correction for tied event times,
where a weight-w row contributes w tied events. This fitter evaluates the Efron partial
likelihood of the *replicated* rows from the collapsed ones, so its coefficients equal
those of lifelines on the raw rows (to optimiser precision), at a fraction of the cost.

Efron's term for a time with d tied events, risk-set sum S0 and tied-events sum T0 is
Σ_{l<d} log(S0 − (l/d)·T0). Since S0 − (l/d)·T0 = (T0/d)·(c − l) with c = d·S0/T0, the sum
is d·log(T0/d) + lgamma(c+1) − lgamma(c−d+1): a closed form, differentiated with digamma
and trigamma, so each event time costs O(p²) however many events are tied there (the
explicit loop costs O(d)). The gamma-function differences are evaluated without
cancellation (Stirling series in log1p form when the arguments are large), and the
Hessian's risk-set parts are accumulated as ``X.T @ (weights * X)``: memory grows with
rows × covariates, never rows × covariates².

Strata (``strata=``, e.g. the store) give each stratum its own baseline hazard with shared
coefficients: the partial likelihood is the sum of the strata's, each over its own risk
sets, as R's ``coxph(... + strata(s))`` and lifelines' ``CoxPHFitter(strata=...)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .._rows import collapse_rows  # noqa: F401  (re-exported: older imports)
from ..errors import ConvergenceError, DataContractError

# Above this argument the asymptotic (Stirling) series below are exact to double precision
# with the terms kept; below it scipy's functions have no cancellation to lose.
_ASYMPTOTIC_FROM = 30.0


def _stirling_correction(z: np.ndarray) -> np.ndarray:
    """lgamma(z) − [(z − ½)·log z − z + ½·log 2π] for z ≥ 30 (error < 1e-21)."""
    v = 1.0 / z
    u = v * v  # not 1/(z*z): z*z overflows for z > 1e154
    return (1 / 12 - u * (1 / 360 - u * (1 / 1260 - u * (1 / 1680 - u * (1 / 1188 - u * 691 / 360360))))) * v


def _trigamma_tail(z: np.ndarray) -> np.ndarray:
    """trigamma(z) − 1/z − 1/(2z²) for z ≥ 30 (asymptotic series, error < 1e-20)."""
    v = 1.0 / z
    u = v * v
    return u * v * (1 / 6 - u * (1 / 30 - u * (1 / 42 - u * (1 / 30 - u * 5 / 66))))


def _digamma_tail(z: np.ndarray) -> np.ndarray:
    """digamma(z) − log z + 1/(2z) for z ≥ 30 (asymptotic series, error < 1e-20)."""
    v = 1.0 / z
    u = v * v
    return -u * (1 / 12 - u * (1 / 120 - u * (1 / 252 - u * (1 / 240 - u / 132))))


def efron_tie_terms(y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the d tied events of a time, in closed form: Σ log, Σ 1/·, Σ 1/·² of (y + j).

    With c = d·S0/T0, the Efron factors are (T0/d)·(c − l), l = 0..d−1, i.e. (T0/d)·(y + j)
    with y = c − d + 1 ≥ 1 and j = 0..d−1. Hence

    * ``log_sum``  = Σ_j log(y + j)   = lgamma(y + d) − lgamma(y)
    * ``inv_sum``  = Σ_j 1/(y + j)    = digamma(y + d) − digamma(y)
    * ``inv2_sum`` = Σ_j 1/(y + j)²   = trigamma(y) − trigamma(y + d)

    For large y these are differences of nearly equal numbers (lgamma(1e7) ≈ 1.5e8 while the
    difference for d = 1 is 16), so there the Stirling series are differenced analytically
    (``log1p``, d/(xy)) and only small remainders are subtracted; below 30 scipy's functions
    are used directly, where there is nothing to cancel.

    Parameters
    ----------
    y : ndarray
        c − d + 1 = 1 + d·(risk-set sum without the tied events)/T0, at least 1.
    d : ndarray
        Number of tied events (frequency-weighted), at least 1.

    Returns
    -------
    log_sum, inv_sum, inv2_sum : ndarray
    """
    y = np.asarray(y, float)
    d = np.asarray(d, float)
    x = y + d
    # one event (untied, the usual case for continuous times): the sums are single terms
    log_sum, inv_sum = np.log(y), 1.0 / y
    inv2_sum = inv_sum * inv_sum
    tied = d != 1
    if not tied.any():
        return log_sum, inv_sum, inv2_sum
    small = tied & (y < _ASYMPTOTIC_FROM)
    big = tied & ~small
    ys, xs = y[small], x[small]
    log_sum[small] = special.gammaln(xs) - special.gammaln(ys)
    inv_sum[small] = special.digamma(xs) - special.digamma(ys)
    inv2_sum[small] = special.polygamma(1, ys) - special.polygamma(1, xs)
    yb, xb, db = y[big], x[big], d[big]
    lr = np.log1p(db / yb)  # log(x/y) without cancellation
    log_sum[big] = (xb - 0.5) * lr + db * (np.log(yb) - 1.0) + (_stirling_correction(xb) - _stirling_correction(yb))
    dxy = db / xb / yb  # d/(xy), the leading difference, divided in turn so nothing overflows
    inv_sum[big] = lr + dxy / 2 + (_digamma_tail(xb) - _digamma_tail(yb))
    inv2_sum[big] = dxy + dxy * (1 / xb + 1 / yb) / 2 + (_trigamma_tail(yb) - _trigamma_tail(xb))
    return log_sum, inv_sum, inv2_sum


class _RiskSets:
    """The rows of one stratum, sorted so that every risk set is a prefix (see :meth:`loglik`)."""

    def __init__(self, x: np.ndarray, t: np.ndarray, e: np.ndarray, w: np.ndarray) -> None:
        # descending time; within a time, censored rows before events, so that "at risk but
        # not failing at t" is a prefix of the rows and the tied events a contiguous block
        order = np.lexsort((e, -t))
        self.X, self.t, self.e, self.w = x[order], t[order], e[order], w[order]
        ev = np.flatnonzero(self.e)
        # distinct event times, descending: slot k of each event row (event rows are sorted by slot)
        new_time = np.r_[True, self.t[ev][1:] != self.t[ev][:-1]]
        self.times = self.t[ev][new_time]
        self.ev_idx = ev
        self.ev_slot = np.cumsum(new_time) - 1
        self.ev_start = np.flatnonzero(new_time)  # first event-row position of each slot
        # rows [0, first event row of slot k) are at risk at time k but do not fail there
        self.u_end = ev[self.ev_start]
        # row j is in that set for slots k >= u_from[j] (len(times): never)
        self.u_from = np.searchsorted(self.u_end, np.arange(len(self.t)), side="right")
        self.d = np.add.reduceat(self.w[ev], self.ev_start)
        self.w_x_events = self.w[ev] @ self.X[ev]

    def sums(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per event time: U0 (at risk, not failing) and T0 (tied events) sums of ``r``."""
        U0 = np.concatenate([[0.0], np.cumsum(r)])[self.u_end]
        T0 = np.add.reduceat(r[self.ev_idx], self.ev_start)  # positive terms only: no cancellation
        return U0, T0

    def loglik(self, beta: np.ndarray, derivatives: bool = False) -> tuple:
        """Efron log partial likelihood of the replicated rows (and gradient, Hessian).

        Per event time, with r = w·exp(xβ): T0, T1 = Σ r, Σ r·x over the tied events; U0, U1
        the same over the rest of the risk set (so S0 = U0 + T0 without a cancelling
        subtraction); d tied events; y = 1 + d·U0/T0. The time contributes
        Σ w·xβ (events) − d·log(T0/d) − [lgamma(y + d) − lgamma(y)]
        to the log-likelihood, and its derivatives follow from ∂y = (d/T0)·U1 − (y − 1)·T1/T0
        with digamma and trigamma differences (see :func:`efron_tie_terms`).
        """
        X, w, d = self.X, self.w, self.d
        eta = X @ beta
        shift = float(eta.max())  # exp(eta - shift) <= 1: no overflow; only log T0 needs it back
        r = w * np.exp(eta - shift)
        U0, T0 = self.sums(r)
        y = 1.0 + d * U0 / T0
        log_sum, inv_sum, inv2_sum = efron_tie_terms(y, d)
        ll = float(self.w_x_events @ beta - np.sum(d * (np.log(T0 / d) + shift)) - np.sum(log_sum))
        if not derivatives:
            return (ll,)
        ev, starts = self.ev_idx, self.ev_start
        rX = r[:, None] * X
        T1 = np.add.reduceat(rX[ev], starts, axis=0)
        np.cumsum(rX, axis=0, out=rX)  # in place: rows × covariates is the largest array here
        u_end = self.u_end
        U1 = np.where((u_end > 0)[:, None], rX[np.maximum(u_end - 1, 0)], 0.0)
        m = T1 / T0[:, None]
        q = d / T0
        dy = q[:, None] * U1 - (y - 1.0)[:, None] * m  # gradient of y
        grad = self.w_x_events - (d[:, None] * m + inv_sum[:, None] * dy).sum(0)
        # Hessian of the per-time term d·log T0 + lgamma(y + d) − lgamma(y), with T2, U2 the
        # Σ r·x·xᵀ analogues and m = T1/T0, collected by parts:
        #   a·T2 + b·U2 + g·m·mᵀ − inv2_sum·∂y·∂yᵀ − b·(U1·mᵀ + m·U1ᵀ).
        # Summed over times, Σ a·T2 + Σ b·U2 is Xᵀ·diag(row weight)·X, each row weighted by
        # the coefficients of the times whose sets it belongs to, and the outer-product terms
        # are (times × p)ᵀ(times × p) products: no per-time (or per-row) p×p array is built.
        a = (d - inv_sum * (y - 1.0)) / T0
        b = inv_sum * q
        g = 2.0 * inv_sum * (y - 1.0) - d
        b_from = np.concatenate([np.cumsum(b[::-1])[::-1], [0.0]])[self.u_from]  # Σ_{k ≥ entry} b_k
        row = r * b_from
        row[ev] += r[ev] * a[self.ev_slot]
        bU1 = b[:, None] * U1
        part = (X.T @ (row[:, None] * X) + (g[:, None] * m).T @ m - (inv2_sum[:, None] * dy).T @ dy
                - bU1.T @ m - m.T @ bU1)
        hess = -(part + part.T) / 2  # symmetric up to rounding; make it exactly so
        return ll, grad, hess

    def cumulative_hazard(self, beta: np.ndarray) -> pd.Series:
        """Breslow's baseline cumulative hazard (as lifelines) at the event times, ascending."""
        r = self.w * np.exp(self.X @ beta)
        U0, T0 = self.sums(r)
        hazard = self.d / (U0 + T0)
        return pd.Series(np.cumsum(hazard[::-1]), index=pd.Index(self.times[::-1], name="timeline"))


class CollapsedCoxFitter:
    """Cox model (Efron ties) on rows with integer frequency weights, optionally stratified.

    Parameters
    ----------
    tol : float
        Convergence tolerance on the Newton step (max abs) or the relative log-likelihood change.
    max_iter : int
        Newton-Raphson iterations before :class:`~workbench.ConvergenceError`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"tool": [0, 1, 0, 1]})
    >>> m = CollapsedCoxFitter().fit(X, [5, 5, 9, 9], [1, 1, 1, 0], weights=[30, 20, 10, 15])
    >>> m.params_.index.tolist()
    ['tool']
    >>> X8 = pd.DataFrame({"tool": [0, 1, 0, 1, 0, 1, 0, 1]})
    >>> s = CollapsedCoxFitter().fit(X8, [2, 3, 5, 4, 3, 6, 8, 7], [1, 1, 1, 0, 1, 1, 0, 1],
    ...                              weights=[30, 20, 10, 15, 25, 20, 10, 5], strata=["n"] * 4 + ["s"] * 4)
    >>> s.baseline_cumulative_hazard_.columns.tolist(), round(float(s.params_["tool"]), 3)
    (['n', 's'], -0.565)
    """

    def __init__(self, tol: float = 1e-10, max_iter: int = 100) -> None:
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, durations: Sequence[float] | np.ndarray | pd.Series,
            events: Sequence[bool] | np.ndarray | pd.Series,
            weights: Sequence[float] | np.ndarray | pd.Series | None = None,
            strata: Sequence[Any] | np.ndarray | pd.Series | pd.Index | None = None) -> CollapsedCoxFitter:
        """Maximise the Efron partial likelihood of the rows replicated by their weights.

        Parameters
        ----------
        X : DataFrame
            Covariates, one row per (collapsed) row.
        durations, events : array-like
            Time and event indicator of each row.
        weights : array-like, optional
            Non-negative whole numbers: how many identical raw rows each row stands for.
        strata : array-like, optional
            Stratum label of each row (any hashable values, e.g. store ids or tuples). Each
            stratum has its own baseline hazard; the coefficients are shared. A stratum
            without events adds nothing to the partial likelihood.

        Returns
        -------
        CollapsedCoxFitter
            Fitted: ``params_``, ``standard_errors_``, ``variance_matrix_``, ``log_likelihood_``,
            ``baseline_cumulative_hazard_`` (one column per stratum when stratified),
            ``strata_`` (the stratum labels in column order, ``None`` unstratified).
        """
        X = pd.DataFrame(X).astype(float)
        t = np.asarray(durations, float)
        e = np.asarray(events, bool)
        w = np.ones(len(t)) if weights is None else np.asarray(weights, float)
        if np.any(w < 0) or np.any(w != np.round(w)):
            raise DataContractError("spells", "weight", "frequency weights must be non-negative whole numbers")
        if not (e & (w > 0)).any():
            raise DataContractError("spells", "churned", "no events: the Cox model is not identified")
        if strata is not None and len(strata) != len(t):
            raise DataContractError("spells", "strata", f"{len(strata)} stratum labels for {len(t)} rows")
        keep = w > 0  # zero-weight rows stand for no raw rows
        x, t, e, w = X.to_numpy()[keep], t[keep], e[keep], w[keep]
        if strata is None:
            codes, labels = np.zeros(len(t), np.intp), None
        else:
            codes, uniques = pd.factorize(pd.Index(strata)[keep], sort=True)
            if (codes < 0).any():
                raise DataContractError("spells", "strata", "missing stratum labels (give them a level)")
            labels = list(uniques)
        self._blocks = []
        for k in range(1 if labels is None else len(labels)):  # a loop over strata (stores), not rows
            rows = codes == k
            if (e[rows]).any():
                self._blocks.append((k, _RiskSets(x[rows], t[rows], e[rows], w[rows])))
        beta = np.zeros(X.shape[1])
        for _ in range(self.max_iter):
            ll, grad, hess = self._loglik(beta, derivatives=True)
            try:
                step = np.linalg.solve(-hess, grad)
            except np.linalg.LinAlgError as err:
                raise ConvergenceError(
                    "Cox Hessian is singular: a covariate level has no events or no variation") from err
            new, new_ll = self._trial(beta, step)
            halvings = 0
            # step-halving; the tolerance is relative because ll sums millions of terms
            while not new_ll >= ll - 1e-12 * max(1.0, abs(ll)) and halvings < 30:
                step /= 2
                new, new_ll = self._trial(beta, step)
                halvings += 1
            beta = new
            if np.max(np.abs(step), initial=0.0) < self.tol or abs(new_ll - ll) < self.tol * max(1.0, abs(ll)):
                break
        else:
            raise ConvergenceError("Cox Newton-Raphson did not converge")
        ll, grad, hess = self._loglik(beta, derivatives=True)
        if not (np.isfinite(ll) and np.isfinite(hess).all()):
            raise ConvergenceError("Cox log-likelihood is not finite at the estimate")
        try:
            cov = np.linalg.inv(-hess)
        except np.linalg.LinAlgError as err:
            raise ConvergenceError("Cox Hessian is singular at the optimum") from err
        self.params_ = pd.Series(beta, index=X.columns, name="coef")
        self.variance_matrix_ = pd.DataFrame(cov, index=X.columns, columns=X.columns)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=X.columns, name="se(coef)")
        self.log_likelihood_ = float(ll)
        self.strata_ = labels
        self._baseline(beta, labels)
        return self

    # ------------------------------------------------------------------ internals
    def _trial(self, beta: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, float]:
        """A candidate point and its log-likelihood (−inf if it under/overflows).

        A long Newton step can push a tie group's sum to underflow (y = inf); the line search
        just halves such a step, so those floating-point warnings are expected and silenced.
        """
        new = beta + step
        with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
            ll = self._loglik(new)[0]
        return new, (ll if np.isfinite(ll) else -np.inf)

    def _loglik(self, beta: np.ndarray, derivatives: bool = False) -> tuple:
        """Efron log partial likelihood summed over the strata (and gradient, Hessian).

        See :meth:`_RiskSets.loglik` for one stratum's terms.

        Parameters
        ----------
        beta : ndarray
            Coefficients.
        derivatives : bool
            Also return the gradient and the Hessian.

        Returns
        -------
        tuple
            ``(ll,)`` or ``(ll, gradient, hessian)``.
        """
        parts = [block.loglik(beta, derivatives) for _, block in self._blocks]
        if not derivatives:
            return (sum(p[0] for p in parts),)
        return (sum(p[0] for p in parts), np.sum([p[1] for p in parts], axis=0),
                np.sum([p[2] for p in parts], axis=0))

    def _baseline(self, beta: np.ndarray, labels: list[Any] | None) -> None:
        if labels is None:
            h = self._blocks[0][1].cumulative_hazard(beta)
            self.baseline_cumulative_hazard_ = h.to_frame("baseline cumulative hazard")
            return
        # one column per stratum on the union of event times (0 before a stratum's first event,
        # and throughout in a stratum without events), as lifelines lays it out
        hazards = {k: block.cumulative_hazard(beta) for k, block in self._blocks}
        times = pd.Index(np.unique(np.concatenate([h.index.to_numpy() for h in hazards.values()])), name="timeline")
        values = np.zeros((len(times), len(labels)))
        for k, h in hazards.items():
            values[:, k] = h.reindex(times).ffill().fillna(0.0).to_numpy()
        self.baseline_cumulative_hazard_ = pd.DataFrame(values, index=times,
                                                        columns=pd.Index(labels, tupleize_cols=False))

    # ------------------------------------------------------------------ outputs
    def predict_partial_hazard(self, X: pd.DataFrame) -> pd.Series:
        """exp(x·β), uncentred (matches ``baseline_cumulative_hazard_``)."""
        X = pd.DataFrame(X).reindex(columns=self.params_.index, fill_value=0.0).astype(float)
        return pd.Series(np.exp(X.to_numpy() @ self.params_.to_numpy()), index=X.index)

    @property
    def summary(self) -> pd.DataFrame:
        """Coefficients, hazard ratios with 95% intervals, z and p (lifelines' column names)."""
        z = self.params_ / self.standard_errors_
        q = stats.norm.ppf(0.975)
        return pd.DataFrame({
            "coef": self.params_, "exp(coef)": np.exp(self.params_), "se(coef)": self.standard_errors_,
            "exp(coef) lower 95%": np.exp(self.params_ - q * self.standard_errors_),
            "exp(coef) upper 95%": np.exp(self.params_ + q * self.standard_errors_),
            "z": z, "p": 2 * stats.norm.sf(np.abs(z))})
