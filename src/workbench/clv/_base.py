"""Shared machinery of the CLV fitters: weighted maximum likelihood on de-duplicated rows.

Parameters are optimised on the log scale (all are positive); standard errors come from
a central finite-difference Hessian of the total negative log-likelihood at the optimum,
in the natural parameters.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import ConvergenceError, DataContractError, ParameterError


def as_array(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise DataContractError("input", name, f"non-finite values at positions {idx.tolist()}",
                                pd.DataFrame({name: arr[idx]}), int(bad.sum()))
    return arr


def check_nonnegative(arr: np.ndarray, name: str) -> None:
    bad = arr < 0
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise DataContractError("input", name, "negative values", pd.DataFrame({"position": idx, name: arr[idx]}),
                                int(bad.sum()))


def collapse(columns: dict[str, np.ndarray], weights: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """De-duplicate identical rows, summing their weights (likelihoods only see unique rows)."""
    frame = pd.DataFrame(columns)
    frame["_w"] = 1.0 if weights is None else np.asarray(weights, float)
    grouped = frame.groupby(list(columns), sort=False, as_index=False)["_w"].sum()
    return {c: grouped[c].to_numpy() for c in columns}, grouped["_w"].to_numpy()


def numerical_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, rel_step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x``."""
    n = len(x)
    h = rel_step * np.maximum(np.abs(x), 1e-3)
    hess = np.empty((n, n))
    f0 = f(x)
    for i in range(n):
        for j in range(i, n):
            if i == j:
                e = np.zeros(n)
                e[i] = h[i]
                hess[i, i] = (f(x + e) - 2 * f0 + f(x - e)) / h[i] ** 2
            else:
                ei, ej = np.zeros(n), np.zeros(n)
                ei[i], ej[j] = h[i], h[j]
                hess[i, j] = hess[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                    4 * h[i] * h[j])
    return hess


def gradient_jacobian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rel_step: float = 1e-5) -> np.ndarray:
    """Hessian as the central-difference Jacobian of an exact gradient (2n gradient calls)."""
    n = len(x)
    h = rel_step * np.maximum(np.abs(x), 1e-3)
    cols = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = h[i]
        cols.append((grad(x + e) - grad(x - e)) / (2 * h[i]))
    jac = np.array(cols).T
    return (jac + jac.T) / 2


class BaseFitter:
    """Weighted maximum-likelihood fitter; subclasses define ``_param_names`` and ``_negative_ll``."""

    _param_names: Sequence[str] = ()

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    # subclasses: negative log-likelihood of natural parameters on the collapsed data
    def _negative_ll(self, params: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _total_negative_ll(self, params: np.ndarray) -> float:
        value = self._negative_ll(params)
        if self.penalizer_coef:
            value += self.penalizer_coef * float(np.sum(params**2))
        return value

    def _gradient(self, params: np.ndarray) -> np.ndarray | None:
        """Analytic gradient of the negative log-likelihood, when a model provides one."""
        return None

    def _optimise(self, initial: np.ndarray) -> None:
        analytic = self._gradient(np.asarray(initial, float)) is not None

        def objective(log_params: np.ndarray) -> float:
            value = self._total_negative_ll(np.exp(log_params))
            return value if np.isfinite(value) else 1e300

        def gradient(log_params: np.ndarray) -> np.ndarray:
            params = np.exp(log_params)
            g = self._gradient(params) + (2 * self.penalizer_coef * params if self.penalizer_coef else 0.0)
            return g * params  # chain rule for the log scale

        jac = gradient if analytic else None
        best = optimize.minimize(objective, np.log(initial), jac=jac, method="L-BFGS-B",
                                 options={"maxiter": 5000, "gtol": 1e-9, "ftol": 1e-15})
        if not analytic or not best.success:
            # without exact gradients, a quasi-Newton polish tightens the last digits
            polish = optimize.minimize(objective, best.x, jac=jac, method="BFGS",
                                       options={"gtol": 1e-8, "maxiter": 2000})
            if polish.fun <= best.fun:
                best = polish
        if not best.success and not np.isfinite(best.fun):
            best = optimize.minimize(objective, np.log(initial), method="Nelder-Mead",
                                     options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-10})
        if not np.isfinite(best.fun) or best.fun >= 1e299:
            raise ConvergenceError(f"{type(self).__name__} did not converge: {best.message}; "
                                   "try initial_params or a small penalizer_coef")
        params = np.exp(best.x)
        self.params_ = pd.Series(params, index=list(self._param_names), name="coef")
        self.log_likelihood_ = -float(self._negative_ll(params))
        hess = (gradient_jacobian(self._gradient, params) if analytic
                else numerical_hessian(self._negative_ll, params))
        try:
            cov = np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            cov = np.full_like(hess, np.nan)
        self.variance_matrix_ = pd.DataFrame(cov, index=self.params_.index, columns=self.params_.index)
        self.standard_errors_ = pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=self.params_.index,
                                          name="se(coef)")

    @property
    def summary(self) -> pd.DataFrame:
        """Coefficients, standard errors and 95% intervals (normal approximation)."""
        self._check_fitted()
        z = stats.norm.ppf(0.975)
        return pd.DataFrame({"coef": self.params_, "se(coef)": self.standard_errors_,
                             "lower 95% bound": self.params_ - z * self.standard_errors_,
                             "upper 95% bound": self.params_ + z * self.standard_errors_})

    @property
    def AIC_(self) -> float:
        return 2 * len(self._param_names) - 2 * self.log_likelihood_

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ParameterError(f"{type(self).__name__} is not fitted: call fit() first")

    def _initial(self, initial_params: dict[str, float] | Sequence[float] | None, default: Sequence[float]) -> np.ndarray:
        if initial_params is None:
            return np.asarray(default, float)
        if isinstance(initial_params, dict):
            return np.asarray([initial_params[k] for k in self._param_names], float)
        return np.asarray(initial_params, float)

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"<{type(self).__name__}: fitted with {self.n_customers_:,.0f} customers, {ps}>"
        return f"<{type(self).__name__}: not fitted>"
