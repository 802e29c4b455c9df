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
the gradient and Hessian of the log-likelihood are the per-row derivatives in ``u`` (exact,
:mod:`workbench.clv.covariate_rows`; one pass over the rows a step whatever the number of
covariates) gathered through the design: ``Σ_i w_i A_i' H_i A_i``. Rows are collapsed by
(x, t_x, T, covariates) with weights; the per-row 4×4 blocks are summed per covariate
pattern before the design enters, so categorical covariates (channel group, region) cost a
handful of small products, and terms rows share (the Pareto/NBD's F(t_x) per x, t_x and
pattern, F(T) per x, T and pattern) are evaluated once. The fit starts from the model
without covariates (the existing fitter's maximum, γ = 0) and takes damped Newton steps,
on many rows first on a systematic sample; without covariates it *is* that fit.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from .._mle import SUBSAMPLE_ROWS, dot
from .._rows import collapse_indexed, distinct_rows
from ..errors import ConvergenceError, DataContractError, ParameterError
from ._base import as_array, check_rfm, check_weights, set_rfm_data
from .beta_geo import BetaGeoFitter, _growth, _log_dropout_odds
from .covariate_rows import (
    beta_geo_log_likelihood,
    beta_geo_row_derivatives,
    pareto_nbd_log_a0,
    pareto_nbd_log_likelihood,
    pareto_nbd_row_derivatives,
)
from .pareto_nbd import ParetoNBDFitter, _one_minus_ratio_power_over

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

    def _derivatives(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, shared: Any
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """Per-row value, gradient and Hessian in ``u``, with the terms rows share (``shared``) evaluated once."""
        raise NotImplementedError

    def _share(self, Xd_rows: np.ndarray) -> Any:  # pragma: no cover - abstract
        """Which fitted rows share which terms of the likelihood (the ``shared`` of :meth:`_derivatives`)."""
        raise NotImplementedError

    def _alive(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _expected(self, t: np.ndarray, u: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

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
        self._pattern, first = _groups(np.zeros(self.n_rows_), *Xp_rows.T, *Xd_rows.T)
        self._Xp_pat, self._Xd_pat = Xp_rows[first], Xd_rows[first]
        self._Xp_rows, self._Xd_rows = Xp_rows, Xd_rows
        self._k = (kp, kd)
        self._shared = self._share(Xd_rows)
        theta0 = np.r_[np.log(base.params_.to_numpy()), np.zeros(kp + kd)]
        if kp + kd == 0:
            self._finish(theta0, None, 0.0, base.log_likelihood_, base.variance_matrix_.to_numpy())
        else:
            theta, hess, decrement, f = self._newton(self._sample_start(theta0))
            self._finish(theta, hess, decrement, -f, None)
        return self

    def _sample_start(self, theta0: np.ndarray) -> np.ndarray:
        """θ fitted on a systematic sample of about ``SUBSAMPLE_ROWS`` rows: where the full data's Newton steps start.

        From the model without covariates a large effect takes several steps, some rejected;
        on the sample they cost a tenth, and from its optimum (a few standard errors away) the
        full data need two or three. Rows come sorted by (x, t_x, T, covariates), so every k-th
        row is a stratified sample; weights are scaled so that each covariate pattern keeps its
        total. ``theta0`` when there are too few rows for the detour to pay or the sample fails.
        """
        k = self.n_rows_ // SUBSAMPLE_ROWS
        if k < 4:
            return theta0
        take = np.arange(0, self.n_rows_, k)
        sub = copy.copy(self)  # same design and settings, the sampled rows
        pat, w, n_pat = self._pattern[take], self._w[take], len(self._Xp_pat)
        got = np.bincount(pat, w, n_pat)
        sub._w = w * (np.bincount(self._pattern, self._w, n_pat) / np.where(got > 0, got, 1.0))[pat]
        sub._x, sub._tx, sub._T, sub._pattern = self._x[take], self._tx[take], self._T[take], pat
        sub._Xp_rows, sub._Xd_rows, sub.n_rows_ = self._Xp_rows[take], self._Xd_rows[take], len(take)
        sub._shared = sub._share(sub._Xd_rows)
        theta = sub._newton(theta0, max_steps=20)[0]
        return theta if np.all(np.isfinite(theta)) else theta0

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
            f0, g, hess = self._derivatives(u, self._x, self._tx, self._T, self._shared)
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

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any, purchase_covariates: Any = None,
                                      dropout_covariates: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T, covariates), per customer."""
        return self._alive(*self._rows(frequency, recency, T, purchase_covariates, dropout_covariates))

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any, T: Any,
                                                            purchase_covariates: Any = None,
                                                            dropout_covariates: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T, covariates]: expected purchases in the next ``t`` periods, per customer.

        The model's expectation for someone alive at T, at the customer's own parameters, times
        :meth:`conditional_probability_alive`.
        """
        u, x, tx, T_ = self._rows(frequency, recency, T, purchase_covariates, dropout_covariates)
        return self._expected(np.asarray(t, float), u, x, T_) * self._alive(u, x, tx, T_)

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            return (f"<{type(self).__name__}: fitted with {self.n_customers_:,.0f} customers, "
                    f"{len(self.params_) - 4} covariate effects>")
        return f"<{type(self).__name__}: not fitted>"


def _groups(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row, first row of each code) for rows equal in every column."""
    codes = distinct_rows({str(j): c for j, c in enumerate(columns)})[2]
    first = np.empty(int(codes.max()) + 1, np.intp)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


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
        return _ExactParetoNBDFitter()

    def _share(self, Xd_rows: np.ndarray) -> Any:
        # F(t_x) is the same for rows sharing x, t_x and the covariate pattern, F(T) for x, T and the pattern
        return _groups(self._x, self._tx, self._pattern), _groups(self._x, self._T, self._pattern)

    def _derivatives(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, shared: Any
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return pareto_nbd_row_derivatives(u, x, tx, T, shared)

    def _alive(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = np.exp(u)
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
                    + pareto_nbd_log_a0(r, alpha, s, beta, x, tx, T))
        return expit(-log_odds)

    def _expected(self, t: np.ndarray, u: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = np.exp(u)
        return (r + x) * (beta + T) / (alpha + T) * _one_minus_ratio_power_over(s - 1, np.log1p(t / (beta + T)))


class _ExactParetoNBDFitter(ParetoNBDFitter):
    """:class:`~workbench.clv.ParetoNBDFitter` fitted by Newton's method on the exact derivatives.

    The same likelihood and maximum: the covariate model's base, where Newton's method takes a
    handful of steps instead of the hundreds of likelihood evaluations of L-BFGS-B on
    central differences. F(t_x) and F(T) are evaluated once per distinct (x, t_x) and (x, T).
    """

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> _ExactParetoNBDFitter:
        """As :meth:`ParetoNBDFitter.fit`; on many rows Newton's method starts from the fit on a sample of them."""
        self._shared = None
        scale = set_rfm_data(self, frequency, recency, T, weights)
        if initial_params is None and len(self._x) >= 4 * SUBSAMPLE_ROWS:
            take = np.arange(0, len(self._x), len(self._x) // SUBSAMPLE_ROWS)  # rows sorted by x: stratified
            w = self._w[take] * (self._w.sum() / self._w[take].sum())
            with contextlib.suppress(ConvergenceError):
                sample = _ExactParetoNBDFitter().fit(self._x[take], self._tx[take], self._T[take], w)
                initial_params = sample.params_.to_numpy()
        self._optimise(self._initial(initial_params, (0.5, scale / 4, 0.5, scale)))
        return self

    def _value_grad_hess(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if self._shared is None:
            self._shared = (_groups(self._x, self._tx), _groups(self._x, self._T))
        u = np.repeat(np.log(params)[:, None], len(self._x), axis=1)
        value, grad, hess = pareto_nbd_row_derivatives(u, self._x, self._tx, self._T, self._shared)
        w = self._w
        g_u, h_u = np.einsum("jn,n->j", grad, w), np.einsum("jkn,n->jk", hess, w)
        # back from the log-parameters: ∂/∂p = ∂/∂u / p, ∂²/∂p∂q = (∂²/∂u∂v − δ ∂/∂u) / (p q)
        return -dot(w, value), -g_u / params, -(h_u - np.diag(g_u)) / np.outer(params, params)

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        return self._value_grad_hess(params)[1]


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

    def _share(self, Xd_rows: np.ndarray) -> Any:
        # rows sharing x and the drop-out pattern share every gamma-function term
        return _groups(self._x, *Xd_rows.T)

    def _derivatives(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, shared: Any
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return beta_geo_row_derivatives(u, x, tx, T, shared)

    def _alive(self, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = np.exp(u)
        return expit(-_log_dropout_odds(r, alpha, a, b, x, tx, T))  # 1 for x = 0, by the model's construction

    def _expected(self, t: np.ndarray, u: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = np.exp(u)
        return _growth(a, b, r, a + b + x - 1, t / (alpha + T + t))  # FHL 2005, eq. 10, each customer's α, a, b


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
