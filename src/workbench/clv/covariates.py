"""Pareto/NBD and BG/NBD with time-invariant covariates, parameterised as CLVTools does.

Fader & Hardie (2007), "Incorporating time-invariant covariates into the Pareto/NBD and
BG/NBD models", and CLVTools' ``pnbd``/``bgnbd`` with static covariates: the gamma scale
of the purchase rate carries the purchase covariates, the drop-out process the drop-out
covariates,

* Pareto/NBD: ``α_i = α0·exp(−γ_p'x_i)``, ``β_i = β0·exp(−γ_d'x_i)``; ``r`` and ``s`` shared;
* BG/NBD: ``α_i = α0·exp(−γ_p'x_i)``, ``a_i = a0·exp(γ_d'x_i)``, ``b_i = b0·exp(γ_d'x_i)``.

So ``exp(γ_p)`` multiplies every customer's purchase rate (λ ~ Gamma(r, α_i) has mean
r/α_i) and, in the Pareto/NBD, ``exp(γ_d)`` multiplies the drop-out rate (μ ~ Gamma(s, β_i),
mean s/β_i): "customers from ads buy 0.7× as often and leave 1.3× as fast". In the BG/NBD
the drop-out covariate scales a and b together, which keeps the mean drop-out probability
a/(a+b) and changes only how alike customers are (CLVTools' choice, kept for comparability).

The fit works on the log of every shape and scale and on the γ's directly. Each customer's
log-parameters ``u_i = (log r, log α_i, log s|a_i, log β_i|b_i)`` are linear in these, so
the gradient and Hessian of the log-likelihood are the per-row derivatives in ``u`` (central
differences of the vectorised per-row likelihood, 33 evaluations a step whatever the number
of covariates) gathered through the design: ``Σ_i w_i A_i' H_i A_i``. Rows are collapsed by
(x, t_x, T, covariates) with weights; the per-row 4×4 blocks are summed per covariate
pattern before the design enters, so categorical covariates (channel group, region) cost a
handful of small products. The fit starts from the model without covariates (the existing
fitter, γ = 0) and takes damped Newton steps; without covariates it *is* that fit.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import betaln, digamma, expit, gammaln

from .._mle import trigamma
from .._rows import collapse_indexed, distinct_rows
from ..errors import ConvergenceError, DataContractError, ParameterError
from ._base import as_array, check_rfm, check_weights
from .beta_geo import BetaGeoFitter, _growth, _log_dropout_odds
from .pareto_nbd import ParetoNBDFitter, _one_minus_ratio_power_over, log_hyp2f1_unit_a

_STEP = 1e-4  # central-difference step on log-parameters (second differences: error ~1e-7 relative)
_DECREMENT_TOL = 1e-6
_TABLE = "covariates"


# ---------------------------------------------------------------------------- design
def design_matrix(frame: pd.DataFrame | None, reference: Mapping[str, Any] | None = None,
                  table: str = _TABLE) -> tuple[np.ndarray, list[str]]:
    """Numeric design of covariates: numbers as they are, categories as 0/1 columns against a reference.

    A non-numeric column (text, category, boolean) becomes one indicator per level other than
    its reference level (``reference[col]``, else the most common level; ties go to the first
    in sorted order), named ``"col=level"``. Missing values are refused, naming the column
    and the first rows.

    Examples
    --------
    >>> X, names = design_matrix(pd.DataFrame({"channel": ["store", "ads", "store"], "age": [1.0, 2.0, 3.0]}))
    >>> names, X.tolist()
    (['channel=ads', 'age'], [[0.0, 1.0], [1.0, 2.0], [0.0, 3.0]])
    """
    if frame is None or frame.shape[1] == 0:
        return np.zeros((0 if frame is None else len(frame), 0)), []
    reference = dict(reference or {})
    cols, names = [], []
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            cols.append(as_array(values, str(col), table))
            names.append(str(col))
            continue
        codes, uniques = pd.factorize(values)  # codes, not strings: one hash pass per column
        if (codes < 0).any():
            idx = np.flatnonzero(codes < 0)[:5]
            raise DataContractError(table, str(col), "missing values", pd.DataFrame({"row": idx}),
                                    int((codes < 0).sum()))
        labels = [str(v) for v in uniques]
        counts = dict(zip(labels, np.bincount(codes, minlength=len(labels)).tolist(), strict=True))
        levels = sorted(labels)
        ref = str(reference[col]) if col in reference else min(levels, key=lambda v: (-counts[v], v))
        if ref not in counts:
            raise ParameterError(f"reference level {ref!r} of {col!r} does not occur; levels are {levels}")
        for level in levels:
            if level != ref:
                cols.append((codes == labels.index(level)).astype(float))
                names.append(f"{col}={level}")
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0)), names


# ---------------------------------------------------------------------------- per-row likelihoods
def pareto_nbd_log_a0(r: Any, alpha: Any, s: Any, beta: Any, x: np.ndarray, tx: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """Log A0 of the Pareto/NBD likelihood with a scale per row (−inf where t_x = T).

    The same Euler-transformed, overflow-free form as :mod:`workbench.clv.pareto_nbd`, the
    α ≥ β branch chosen row by row.
    """
    r, alpha, s, beta, x, tx, T = np.broadcast_arrays(*(np.asarray(v, float) for v in (r, alpha, s, beta, x, tx, T)))
    a_ge = alpha >= beta
    big, small = np.where(a_ge, alpha, beta), np.where(a_ge, beta, alpha)
    b = np.where(a_ge, r + x, s + 1.0)
    k = np.where(a_ge, -s, 1.0 - r - x)
    rsx = r + s + x
    out = []
    for t in (tx, T):
        log_big_t = np.log(big + t)
        z = np.minimum(np.abs(alpha - beta) / (big + t), 1 - 1e-15)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_1mz = np.log(small + t) - log_big_t
            out.append(k * log_1mz + log_hyp2f1_unit_a(b, rsx + 1, z) - rsx * log_big_t)
    l_tx, l_T = out
    with np.errstate(divide="ignore"):
        return l_tx + np.log(-np.expm1(np.minimum(l_T - l_tx, 0.0)))


def pareto_nbd_log_likelihood(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-row Pareto/NBD log-likelihood; ``u`` (4, rows) holds log r, log α_i, log s, log β_i."""
    r, alpha, s, beta = np.exp(u)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) - np.log(r + s + x) + pareto_nbd_log_a0(r, alpha, s, beta, x, tx, T)
    return head + np.logaddexp(alive, died)


def beta_geo_log_likelihood(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-row BG/NBD log-likelihood; ``u`` (4, rows) holds log r, log α_i, log a_i, log b_i."""
    r, alpha, a, b = np.exp(u)
    z = _log_dropout_odds(r, alpha, a, b, x, tx, T)
    return (gammaln(r + x) - gammaln(r) + betaln(a, b + x) - betaln(a, b) + r * np.log(alpha)
            - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, z))


def beta_geo_row_derivatives(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                             groups: tuple[np.ndarray, np.ndarray] | None = None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row BG/NBD log-likelihood with its exact gradient (4, n) and Hessian (4, 4, n) in ``u``.

    The terms of :meth:`~workbench.clv.BetaGeoFitter._terms` row by row: in the natural
    parameters p, then ``∂/∂log p = p·∂/∂p`` and ``∂²/∂log p ∂log q = p q ∂²/∂p∂q + δ_pq p ∂/∂p``.
    ``groups`` = (code of each row, first row of each code) for rows sharing x, r, a and b:
    the gamma-function terms are evaluated once per group and gathered (a few hundred
    groups instead of every row).
    """
    r, alpha, a, b = np.exp(u)
    has = x > 0
    z = _log_dropout_odds(r, alpha, a, b, x, tx, T)
    codes, first = groups if groups is not None else (slice(None), slice(None))
    rg, ag, bg, xg = r[first], a[first], b[first], x[first]
    lg = (gammaln(rg + xg) - gammaln(rg) + betaln(ag, bg + xg) - betaln(ag, bg))[codes]
    dg = np.array([digamma(rg + xg) - digamma(rg), digamma(ag + bg) - digamma(ag + bg + xg),
                   digamma(bg + xg) - digamma(bg)])[:, codes]
    tg = np.array([trigamma(rg + xg) - trigamma(rg), trigamma(ag + bg) - trigamma(ag + bg + xg),
                   trigamma(bg + xg) - trigamma(bg)])[:, codes]
    value = lg + r * np.log(alpha) - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, z)
    sig = expit(z)  # 0 where x = 0
    v = sig * (1 - sig)
    k = np.where(has, 1 / np.where(has, b + x - 1, 1.0), 0.0)
    q_T, q_t = 1 / (alpha + T), 1 / (alpha + tx)
    d = np.log(alpha + T) - np.log(alpha + tx)
    rx = r + x
    dz = [d, rx * (q_T - q_t), np.where(has, 1 / a, 0.0), -k]  # ∂z/∂p
    g = np.array([dg[0] + np.log(alpha) - np.log(alpha + T), r / alpha - rx * q_T, dg[1], dg[2] + dg[1]])
    g += sig * np.array(dz)
    tg_ab = tg[1]
    h = np.empty((4, 4, len(x)))
    h[0, 0] = tg[0]
    h[0, 1] = 1 / alpha - q_T + sig * (q_T - q_t)
    h[0, 2] = h[0, 3] = h[1, 2] = h[1, 3] = 0.0
    h[1, 1] = -r / alpha**2 + rx * q_T**2 - sig * rx * (q_T**2 - q_t**2)
    h[2, 2] = tg_ab - sig * np.where(has, 1 / a**2, 0.0)
    h[2, 3] = tg_ab
    h[3, 3] = tg[2] + tg_ab + sig * k * k
    for i in range(4):
        for j in range(i, 4):
            h[i, j] += v * dz[i] * dz[j]
            h[j, i] = h[i, j]
    p = np.array([r, alpha, a, b])
    hess = h * p[:, None] * p[None, :]
    hess[np.arange(4), np.arange(4)] += g * p
    return value, g * p, hess


def _row_derivatives(loglik: Any, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row value, gradient (4, n) and Hessian (4, 4, n) in ``u`` by central differences."""
    h = _STEP
    f0 = loglik(u, x, tx, T)
    eye = np.eye(4)[:, :, None] * h
    plus = [loglik(u + eye[j], x, tx, T) for j in range(4)]
    minus = [loglik(u - eye[j], x, tx, T) for j in range(4)]
    g = np.array([(p - m) / (2 * h) for p, m in zip(plus, minus, strict=True)])
    hess = np.empty((4, 4, len(x)))
    for j in range(4):
        hess[j, j] = (plus[j] - 2 * f0 + minus[j]) / h**2
        for k in range(j):
            pp = loglik(u + eye[j] + eye[k], x, tx, T)
            pm = loglik(u + eye[j] - eye[k], x, tx, T)
            mp = loglik(u - eye[j] + eye[k], x, tx, T)
            mm = loglik(u - eye[j] - eye[k], x, tx, T)
            hess[j, k] = hess[k, j] = (pp - pm - mp + mm) / (4 * h**2)
    return f0, g, hess


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CovariateEffect:
    """One covariate's effect on one process, as a multiplier with its 95% Wald interval.

    ``process`` is ``"purchase"`` (``multiplier`` = exp(γ): factor on the purchase rate) or
    ``"dropout"`` (Pareto/NBD: factor on the drop-out rate; BG/NBD: factor on both a and b).
    """

    process: str
    covariate: str
    coef: float
    se: float
    multiplier: float
    multiplier_low: float
    multiplier_high: float
    p_value: float


# ---------------------------------------------------------------------------- fitters
class _CovariateFitter:
    """Shared machinery: design, collapse, Newton on (log shape/scale, γ), predictions' inputs."""

    _base_names: tuple[str, str, str, str] = ("", "", "", "")
    _dropout_sign: float = -1.0  # sign of γ_d in the 3rd/4th log-parameters
    _dropout_slots: tuple[int, ...] = (3,)

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    # -- to specialise ------------------------------------------------------------------
    @staticmethod
    def _loglik(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _base_fitter(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _derivatives(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-row value, gradient and Hessian in ``u``: central differences unless a model has them exactly."""
        return _row_derivatives(self._loglik, u, x, tx, T)

    # -- fitting ----------------------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, purchase_covariates: pd.DataFrame | None = None,
            dropout_covariates: pd.DataFrame | None = None, weights: Any = None,
            reference: Mapping[str, Any] | None = None) -> _CovariateFitter:
        """Maximum-likelihood fit; returns ``self``.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchases, time of the last one and age, as for the fitters without covariates.
        purchase_covariates, dropout_covariates : DataFrame, optional
            One row per customer (same order); categorical columns are coded against a
            reference level (:func:`design_matrix`). Either may be omitted.
        weights : array-like, optional
            Counts of identical customers (rows already collapsed).
        reference : mapping, optional
            Reference level per categorical column (default: its most common level).

        Raises
        ------
        DataContractError
            Bad RFM rows (as the fitters without covariates) or missing covariate values.
        ConvergenceError
            When the likelihood has no interior maximum (e.g. a level with no repeat buyer).
        """
        x, tx, T_ = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
        check_rfm(x, tx, T_)
        w = check_weights(weights, len(x))
        Xp, self.purchase_names_ = design_matrix(purchase_covariates, reference)
        Xd, self.dropout_names_ = (Xp, self.purchase_names_) if dropout_covariates is purchase_covariates else \
            design_matrix(dropout_covariates, reference)
        self.reference_ = dict(reference or {})
        self._purchase_columns = None if purchase_covariates is None else list(purchase_covariates.columns)
        self._dropout_columns = None if dropout_covariates is None else list(dropout_covariates.columns)
        for X, what in ((Xp, "purchase_covariates"), (Xd, "dropout_covariates")):
            if len(X) not in (0, len(x)):
                raise ParameterError(f"{what} has {len(X)} rows for {len(x)} customers")
        base = self._base_fitter()
        base.fit(x, tx, T_, weights=w)
        self.base_model_ = base
        kp, kd = Xp.shape[1], Xd.shape[1]
        columns = {"x": x, "tx": tx, "T": T_}
        columns.update({f"p{j}": Xp[:, j] for j in range(kp)})
        columns.update({f"d{j}": Xd[:, j] for j in range(kd)})
        cols, self._w, _ = collapse_indexed(columns, w)
        self.n_customers_, self.n_rows_ = float(self._w.sum()), int(len(self._w))
        self._x, self._tx, self._T = cols["x"], cols["tx"], cols["T"]
        Xp_rows = np.column_stack([cols[f"p{j}"] for j in range(kp)]) if kp else np.zeros((self.n_rows_, 0))
        Xd_rows = np.column_stack([cols[f"d{j}"] for j in range(kd)]) if kd else np.zeros((self.n_rows_, 0))
        # distinct covariate patterns: the 4×4 blocks are summed per pattern before the design enters
        pattern_cols = {f"c{j}": v for j, v in enumerate(np.column_stack([Xp_rows, Xd_rows]).T)} or \
            {"c": np.zeros(self.n_rows_)}
        patterns, _, self._pattern = distinct_rows(pattern_cols)
        n_pat = len(next(iter(patterns.values())))
        self._Xp_pat, self._Xd_pat = Xp_rows[self._first_rows(n_pat)], Xd_rows[self._first_rows(n_pat)]
        self._Xp_rows, self._Xd_rows = Xp_rows, Xd_rows
        # rows sharing x and the drop-out pattern share every gamma-function term
        groups = distinct_rows({"x": self._x, **{f"d{j}": Xd_rows[:, j] for j in range(kd)}})[2]
        first = np.empty(int(groups.max()) + 1, np.intp)
        first[groups[::-1]] = np.arange(len(groups) - 1, -1, -1)
        self._x_groups = (groups, first)
        self._k = (kp, kd)
        theta0 = np.r_[np.log(base.params_.to_numpy()), np.zeros(kp + kd)]
        if kp + kd == 0:
            self._finish(theta0, None, 0.0, base.log_likelihood_, base.variance_matrix_.to_numpy())
        else:
            theta, hess, decrement, f = self._newton(theta0)
            self._finish(theta, hess, decrement, -f, None)
        return self

    def _first_rows(self, n_pat: int) -> np.ndarray:
        first = np.empty(n_pat, np.intp)
        first[self._pattern[::-1]] = np.arange(len(self._pattern) - 1, -1, -1)
        return first

    def _u(self, theta: np.ndarray, Xp: np.ndarray, Xd: np.ndarray) -> np.ndarray:
        """Per-row log-parameters (4, n) from θ and the design rows."""
        kp, kd = self._k
        n = len(Xp)
        u = np.repeat(theta[:4, None], n, axis=1)
        if kp:
            u[1] -= Xp @ theta[4:4 + kp]
        if kd:
            eta = Xd @ theta[4 + kp:]
            for slot in self._dropout_slots:
                u[slot] += self._dropout_sign * eta
        return u

    def _blocks(self, Xp: np.ndarray, Xd: np.ndarray) -> np.ndarray:
        """A (n, 4, k): ∂u_i/∂θ for each row of the design."""
        kp, kd = self._k
        A = np.zeros((len(Xp), 4, 4 + kp + kd))
        A[:, np.arange(4), np.arange(4)] = 1.0
        A[:, 1, 4:4 + kp] = -Xp
        for slot in self._dropout_slots:
            A[:, slot, 4 + kp:] = self._dropout_sign * Xd
        return A

    def _value_grad_hess(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """−log L, its gradient and Hessian in θ (penalty on the γ's included)."""
        u = self._u(theta, self._Xp_rows, self._Xd_rows)
        with np.errstate(all="ignore"):
            f0, g, hess = self._derivatives(u, self._x, self._tx, self._T)
        w, pat, n_pat = self._w, self._pattern, len(self._Xp_pat)
        g_pat = np.array([np.bincount(pat, w * g[j], n_pat) for j in range(4)])  # (4, P)
        h_pat = np.empty((4, 4, n_pat))
        for j in range(4):
            for k in range(j + 1):  # symmetric: the lower triangle only
                h_pat[j, k] = h_pat[k, j] = np.bincount(pat, w * hess[j, k], n_pat)
        A = self._blocks(self._Xp_pat, self._Xd_pat)  # (P, 4, k)
        grad = np.einsum("pjk,jp->k", A, g_pat)
        H = np.einsum("pja,jlp,plb->ab", A, h_pat, A)
        value = float(np.dot(w, f0))
        pen = self.penalizer_coef
        kcov = len(theta) - 4
        if pen and kcov:
            value -= pen * float(theta[4:] @ theta[4:])
            grad[4:] -= 2 * pen * theta[4:]
            H[4:, 4:] -= 2 * pen * np.eye(kcov)
        if not np.isfinite(value):
            return np.inf, grad, H
        return -value, -grad, -H

    def _newton(self, theta: np.ndarray, max_steps: int = 60) -> tuple[np.ndarray, np.ndarray, float, float]:
        f, g, H = self._value_grad_hess(theta)
        decrement = np.inf
        for _ in range(max_steps):
            step, exact = _solve_pd(H, g)
            decrement = float(g @ step) if exact else np.inf
            if exact and decrement <= _DECREMENT_TOL:
                # within ~1e-3 standard errors: Newton's quadratic convergence puts the full step
                # within ~1e-6 of the optimum, so it is taken without another evaluation; the
                # objective there is the quadratic model's, and the decrement reported is the one
                # before the step (an upper bound)
                return theta - step, H, decrement, f - decrement / 2
            step = step * min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-300))
            t = 1.0
            while True:
                cand = theta - t * step
                f_new, g_new, H_new = self._value_grad_hess(cand)
                if f_new <= f or t < 1e-3:
                    break
                t /= 4
            if not f_new <= f:
                break  # no descent along the Newton direction: rounding has the last word
            theta, f, g, H = cand, f_new, g_new, H_new
        step, exact = _solve_pd(H, g)
        return theta, H, float(g @ step) if exact else np.inf, f

    def _finish(self, theta: np.ndarray, hess: np.ndarray | None, decrement: float, loglik: float,
                base_cov: np.ndarray | None) -> None:
        name = type(self).__name__
        if hess is not None:
            if not np.all(np.isfinite(hess)) or np.linalg.eigvalsh(hess).min() <= 0:
                raise ConvergenceError(f"{name} did not converge: the likelihood is flat or not at a maximum, so a "
                                       "covariate effect is not identified (e.g. a level with no repeat buyers); "
                                       "merge rare levels or pass a small penalizer_coef")
            if not decrement <= _DECREMENT_TOL:
                raise ConvergenceError(f"{name} did not converge (Newton decrement {decrement:.3g})")
            cov_theta = np.linalg.inv(hess)
        d = np.r_[np.exp(theta[:4]), np.ones(len(theta) - 4)]  # natural scale for the four base parameters
        cov = base_cov if base_cov is not None else np.outer(d, d) * cov_theta
        names = list(self._base_names) + [f"purchase: {n}" for n in self.purchase_names_] + \
            [f"dropout: {n}" for n in self.dropout_names_]
        self.theta_ = theta
        self.params_ = pd.Series(np.r_[np.exp(theta[:4]), theta[4:]], index=names, name="coef")
        self.variance_matrix_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="se(coef)")
        self.log_likelihood_ = float(loglik)
        self.newton_decrement_ = float(decrement)

    # -- results ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ParameterError(f"{type(self).__name__} is not fitted: call fit() first")

    @property
    def summary(self) -> pd.DataFrame:
        """Coefficients (r, α0, … natural; γ's on the log scale), standard errors, 95% Wald bounds."""
        self._check_fitted()
        z = stats.norm.ppf(0.975)
        return pd.DataFrame({"coef": self.params_, "se(coef)": self.standard_errors_,
                             "lower 95% bound": self.params_ - z * self.standard_errors_,
                             "upper 95% bound": self.params_ + z * self.standard_errors_})

    def effects(self) -> tuple[CovariateEffect, ...]:
        """Every covariate's multiplier exp(γ) with its 95% interval exp(γ ± 1.96 se) and Wald p-value."""
        self._check_fitted()
        z = stats.norm.ppf(0.975)
        out = []
        for process, names in (("purchase", self.purchase_names_), ("dropout", self.dropout_names_)):
            for n in names:
                key = f"{process}: {n}"
                c, se = float(self.params_[key]), float(self.standard_errors_[key])
                out.append(CovariateEffect(process, n, c, se, float(np.exp(c)), float(np.exp(c - z * se)),
                                           float(np.exp(c + z * se)), float(2 * stats.norm.sf(abs(c) / se))))
        return tuple(out)

    @property
    def AIC_(self) -> float:
        """Akaike information criterion, 2k − 2 log L."""
        self._check_fitted()
        return 2 * len(self.params_) - 2 * self.log_likelihood_

    def customer_parameters(self, purchase_covariates: pd.DataFrame | None = None,
                            dropout_covariates: pd.DataFrame | None = None, n: int | None = None) -> np.ndarray:
        """Per-customer log-parameters ``u`` (4, n) for new covariate rows (same columns as the fit)."""
        self._check_fitted()
        Xp = self._design_like(purchase_covariates, self._purchase_columns, self.purchase_names_, "purchase", n)
        Xd = self._design_like(dropout_covariates, self._dropout_columns, self.dropout_names_, "dropout", n)
        if len(Xp) != len(Xd):
            raise ParameterError(f"purchase_covariates has {len(Xp)} rows, dropout_covariates {len(Xd)}")
        return self._u(self.theta_, Xp, Xd)

    def _design_like(self, frame: pd.DataFrame | None, columns: list[str] | None, names: list[str], what: str,
                     n: int | None) -> np.ndarray:
        if columns is None:
            if n is None and frame is None:
                raise ParameterError("pass the covariates, or n for a model without them")
            return np.zeros((n if frame is None else len(frame), 0))
        if frame is None:
            raise ParameterError(f"the model was fitted with {what} covariates {columns}: pass them")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ParameterError(f"{what} covariates lack the columns {missing}")
        out = np.zeros((len(frame), len(names)))
        for j, name in enumerate(names):
            col, eq, level = name.partition("=")
            if eq and col in columns and not pd.api.types.is_numeric_dtype(frame[col]):
                out[:, j] = (frame[col].astype(str) == level).to_numpy(float)
            else:
                out[:, j] = as_array(frame[name], name, _TABLE)
        return out

    def _rows(self, frequency: Any, recency: Any, T: Any, purchase_covariates: Any,
              dropout_covariates: Any) -> tuple[np.ndarray, ...]:
        x, tx, T_ = (np.atleast_1d(np.asarray(v, float)).ravel() for v in (frequency, recency, T))
        x, tx, T_ = np.broadcast_arrays(x, tx, T_)
        u = self.customer_parameters(purchase_covariates, dropout_covariates, n=len(x))
        if u.shape[1] != len(x):
            raise ParameterError(f"{u.shape[1]} covariate rows for {len(x)} customers")
        return u, x, tx, T_

    def log_likelihood_rows(self, frequency: Any, recency: Any, T: Any, purchase_covariates: Any = None,
                            dropout_covariates: Any = None) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        u, x, tx, T_ = self._rows(frequency, recency, T, purchase_covariates, dropout_covariates)
        return self._loglik(u, x, tx, T_)

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            return (f"<{type(self).__name__}: fitted with {self.n_customers_:,.0f} customers, "
                    f"{len(self.params_) - 4} covariate effects>")
        return f"<{type(self).__name__}: not fitted>"


def _solve_pd(H: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, bool]:
    """Newton step H⁻¹g; where H is not positive definite, (H + λI)⁻¹g with the smallest working λ."""
    try:
        low = np.linalg.cholesky(H)
        return np.linalg.solve(low.T, np.linalg.solve(low, g)), True
    except np.linalg.LinAlgError:
        pass
    shift = 1e-3 * max(float(np.max(np.abs(np.diag(H)))), 1e-8)
    while shift < 1e30:
        try:
            low = np.linalg.cholesky(H + shift * np.eye(len(g)))
            return np.linalg.solve(low.T, np.linalg.solve(low, g)), False
        except np.linalg.LinAlgError:
            shift *= 10
    return np.zeros(len(g)), False


class ParetoNBDCovariatesFitter(_CovariateFitter):
    """Pareto/NBD with time-invariant covariates: α_i = α0·exp(−γ_p'x_i), β_i = β0·exp(−γ_d'x_i).

    Examples
    --------
    >>> d = simulate_pareto_nbd_covariates(4000, 0.8, 8.0, 0.6, 10.0, {"ads": 0.5}, {"ads": 0.7}, T=52.0, seed=3)
    >>> cov = d[["ads"]]
    >>> m = ParetoNBDCovariatesFitter().fit(d["frequency"], d["recency"], d["T"], cov, cov)
    >>> [e.covariate for e in m.effects()]
    ['ads', 'ads']
    >>> bool(0 < m.conditional_probability_alive(2, 30.0, 52.0, cov.iloc[:1], cov.iloc[:1])[0] < 1)
    True
    """

    _base_names = ("r", "alpha", "s", "beta")
    _dropout_sign, _dropout_slots = -1.0, (3,)
    _loglik = staticmethod(pareto_nbd_log_likelihood)

    def _base_fitter(self) -> ParetoNBDFitter:
        return ParetoNBDFitter()

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any, purchase_covariates: Any = None,
                                      dropout_covariates: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T, covariates), per customer."""
        u, x, tx, T_ = self._rows(frequency, recency, T, purchase_covariates, dropout_covariates)
        r, alpha, s, beta = np.exp(u)
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T_) + s * np.log(beta + T_)
                    + pareto_nbd_log_a0(r, alpha, s, beta, x, tx, T_))
        return expit(-log_odds)

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any, T: Any,
                                                            purchase_covariates: Any = None,
                                                            dropout_covariates: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T, covariates]: expected purchases in the next ``t`` periods, per customer."""
        u, x, tx, T_ = self._rows(frequency, recency, T, purchase_covariates, dropout_covariates)
        r, alpha, s, beta = np.exp(u)
        t = np.asarray(t, float)
        rate = (r + x) * (beta + T_) / (alpha + T_) * _one_minus_ratio_power_over(s - 1, np.log1p(t / (beta + T_)))
        return rate * self.conditional_probability_alive(x, tx, T_, purchase_covariates, dropout_covariates)


class BetaGeoCovariatesFitter(_CovariateFitter):
    """BG/NBD with time-invariant covariates: α_i = α0·exp(−γ_p'x_i); a_i, b_i = a0, b0 · exp(γ_d'x_i).

    Examples
    --------
    >>> from workbench.clv.beta_geo import simulate_beta_geo
    >>> d = simulate_beta_geo(3000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> m = BetaGeoCovariatesFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> m.params_.round(2).to_dict()
    {'r': 0.24, 'alpha': 3.86, 'a': 0.9, 'b': 2.84}
    """

    _base_names = ("r", "alpha", "a", "b")
    _dropout_sign, _dropout_slots = 1.0, (2, 3)
    _loglik = staticmethod(beta_geo_log_likelihood)

    def _base_fitter(self) -> BetaGeoFitter:
        return BetaGeoFitter()

    def _derivatives(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fitting = len(x) == self.n_rows_ and x is self._x
        return beta_geo_row_derivatives(u, x, tx, T, self._x_groups if fitting else None)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any, purchase_covariates: Any = None,
                                      dropout_covariates: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T, covariates), per customer (1 for x = 0, by the model's construction)."""
        u, x, tx, T_ = self._rows(frequency, recency, T, purchase_covariates, dropout_covariates)
        r, alpha, a, b = np.exp(u)
        return expit(-_log_dropout_odds(r, alpha, a, b, x, tx, T_))

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any, T: Any,
                                                            purchase_covariates: Any = None,
                                                            dropout_covariates: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T, covariates] (FHL 2005, eq. 10, with each customer's α, a, b)."""
        u, x, tx, T_ = self._rows(frequency, recency, T, purchase_covariates, dropout_covariates)
        r, alpha, a, b = np.exp(u)
        t = np.asarray(t, float)
        alive = expit(-_log_dropout_odds(r, alpha, a, b, x, tx, T_))
        return _growth(a, b, r, a + b + x - 1, t / (alpha + T_ + t)) * alive


# ---------------------------------------------------------------------------- simulation
def simulate_pareto_nbd_covariates(n_customers: int, r: float, alpha0: float, s: float, beta0: float,
                                   purchase_effects: Mapping[str, float], dropout_effects: Mapping[str, float],
                                   T: Any, share: float = 0.4, seed: int | None = 0) -> pd.DataFrame:
    """Draw Pareto/NBD customers whose purchase and drop-out rates depend on 0/1 covariates.

    Each covariate named in either mapping is an independent Bernoulli(``share``) flag;
    α_i = α0·exp(−Σ γ_p x_i), β_i = β0·exp(−Σ γ_d x_i). Exact and vectorised: λ ~ Gamma(r, α_i),
    μ ~ Gamma(s, β_i), lifetime ~ Exp(μ); the purchases in (0, min(lifetime, T)] are Poisson
    and the recency is the last of them (the active span times a Beta(x, 1) draw).

    Returns ``frequency``, ``recency``, ``T`` and one 0/1 column per covariate.
    """
    if min(r, alpha0, s, beta0) <= 0 or n_customers < 1:
        raise ParameterError("r, alpha0, s, beta0 and n_customers must be positive")
    rng = np.random.default_rng(seed)
    names = list(dict.fromkeys([*purchase_effects, *dropout_effects]))
    X = {c: (rng.random(n_customers) < share).astype(float) for c in names}
    eta_p = sum((purchase_effects.get(c, 0.0) * X[c] for c in names), np.zeros(n_customers))
    eta_d = sum((dropout_effects.get(c, 0.0) * X[c] for c in names), np.zeros(n_customers))
    T_ = np.broadcast_to(np.asarray(T, float), (n_customers,)).copy()
    lam = rng.gamma(r, 1 / (alpha0 * np.exp(-eta_p)))
    mu = rng.gamma(s, 1 / (beta0 * np.exp(-eta_d)))
    span = np.minimum(rng.exponential(1 / mu), T_)
    x = rng.poisson(lam * span)
    recency = np.where(x > 0, span * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": recency, "T": T_, **X})
