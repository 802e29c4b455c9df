"""Shared machinery of the CLV fitters: weighted maximum likelihood on de-duplicated rows.

Every parameter of these models is positive, so the optimiser works on ``θ = log(params)``:
no bound to hit at zero and a better-conditioned surface. A fit runs L-BFGS-B (analytic
gradient where the model has one, a central-difference gradient otherwise), then a few
Newton steps on a finite-difference Hessian to polish the last digits. Convergence is
judged by the Newton decrement ``g'H⁻¹g`` — the log-likelihood a further Newton step would
still gain. It is scale-free: below 1e-6 every parameter is within ~0.001 standard errors
of the optimum whatever the sample size.

Standard errors come from the inverse Hessian. At the optimum (zero gradient) the Hessian
in the natural parameters is ``D⁻¹ H_θ D⁻¹`` with ``D = diag(params)``, so the covariance
is ``D H_θ⁻¹ D``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import ConvergenceError, DataContractError, ParameterError

#: log-parameters beyond ±30 (1e±13) are infeasible; beyond ±25 (1e±11) a fit has diverged
_LOG_BOUND = 30.0
#: Newton decrement (log-likelihood units) below which a fit counts as converged
_DECREMENT_TOL = 1e-6


# ---------------------------------------------------------------------------- input checks
def as_array(values: Any, name: str, table: str = "rfm summary") -> np.ndarray:
    """A 1-d float array; NaN or infinite values raise a :class:`DataContractError` naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise DataContractError(table, name, f"values are not numeric ({err})") from err
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise DataContractError(table, name, "non-finite (NaN or infinite) values",
                                pd.DataFrame({"row": idx, name: arr[idx]}), int(bad.sum()))
    return arr


def check_nonnegative(arr: np.ndarray, name: str, table: str = "rfm summary") -> None:
    """Raise a :class:`DataContractError` listing the first negative values of ``arr``."""
    bad = arr < 0
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise DataContractError(table, name, "negative values", pd.DataFrame({"row": idx, name: arr[idx]}),
                                int(bad.sum()))


def check_lengths(**arrays: np.ndarray) -> None:
    """All inputs must have one common, non-zero length."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ParameterError(f"inputs must have the same length, got {lengths}")
    if not any(lengths.values()):
        raise ParameterError("no rows to fit")


def check_weights(weights: Any, n: int) -> np.ndarray | None:
    """Validate optional row weights (counts of identical customers)."""
    if weights is None:
        return None
    w = as_array(weights, "weights")
    check_nonnegative(w, "weights")
    if len(w) != n:
        raise ParameterError(f"weights has {len(w)} values for {n} rows")
    if w.sum() <= 0:
        raise ParameterError("weights sum to zero")
    return w


def check_rfm(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, integer_frequency: bool = True) -> None:
    """Validate (frequency, recency, T) triples; errors name the column and show the first bad rows."""
    check_lengths(frequency=frequency, recency=recency, T=T)
    for arr, name in ((frequency, "frequency"), (recency, "recency"), (T, "T")):
        check_nonnegative(arr, name)
    frame = pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})
    frame.index.name = "row"
    checks = [
        (recency > T * (1 + 1e-12) + 1e-12, "recency", "recency larger than T"),
        ((frequency == 0) & (recency > 0), "recency", "recency > 0 with frequency 0"),
    ]
    if integer_frequency:
        checks.append((frequency != np.round(frequency), "frequency", "frequency must be a whole number"))
    for mask, col, problem in checks:
        if mask.any():
            raise DataContractError("rfm summary", col, problem, frame[mask].head(5).reset_index(), int(mask.sum()))


def collapse(columns: dict[str, np.ndarray], weights: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """De-duplicate identical rows, summing their weights (likelihoods only see unique rows)."""
    frame = pd.DataFrame(columns)
    frame["_w"] = 1.0 if weights is None else np.asarray(weights, float)
    grouped = frame.groupby(list(columns), sort=True, as_index=False)["_w"].sum()
    grouped = grouped[grouped["_w"] > 0]
    return {c: grouped[c].to_numpy(float) for c in columns}, grouped["_w"].to_numpy(float)


# ---------------------------------------------------------------------------- derivatives
def central_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Central-difference gradient: error O(step²) plus rounding O(eps·|f|/step)."""
    eye = np.eye(len(x)) * step
    return np.array([(f(x + e) - f(x - e)) / (2 * step) for e in eye])


def hessian_from_values(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """Central second differences of ``f``; on log-parameters one absolute step suits all."""
    n = len(x)
    f0 = f(x)
    eye = np.eye(n) * step
    hess = np.empty((n, n))
    for i in range(n):
        hess[i, i] = (f(x + eye[i]) - 2 * f0 + f(x - eye[i])) / step**2
        for j in range(i):
            hess[i, j] = hess[j, i] = (f(x + eye[i] + eye[j]) - f(x + eye[i] - eye[j]) - f(x - eye[i] + eye[j])
                                       + f(x - eye[i] - eye[j])) / (4 * step**2)
    return hess


def hessian_from_gradient(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Symmetrised central-difference Jacobian of an exact gradient (2n gradient calls)."""
    eye = np.eye(len(x)) * step
    jac = np.array([(grad(x + e) - grad(x - e)) / (2 * step) for e in eye])
    return (jac + jac.T) / 2


def small_cholesky_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Solve ``a x = b`` for a small symmetric matrix by Cholesky; ``None`` unless positive definite.

    Plain Python on a 2×2–4×4 matrix: calling LAPACK here would wake the BLAS thread pool
    between every likelihood evaluation, which on a small shared machine costs more than
    the arithmetic.
    """
    n = len(b)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            acc = float(a[i, j]) - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if not acc > 0:
                    return None
                low[i][i] = acc ** 0.5
            else:
                low[i][j] = acc / low[j][j]
    y = [0.0] * n
    for i in range(n):
        y[i] = (float(b[i]) - sum(low[i][k] * y[k] for k in range(i))) / low[i][i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return np.array(x)


# ---------------------------------------------------------------------------- base class
class BaseFitter:
    """Weighted maximum-likelihood fitter with positive parameters.

    Subclasses set ``_param_names``, store their collapsed data in ``fit`` (see
    :meth:`_set_data`) and implement ``_negative_ll(params)`` in the natural parameters,
    optionally ``_gradient(params)``.

    Fitted attributes: ``params_``, ``standard_errors_``, ``variance_matrix_``,
    ``log_likelihood_``, ``n_customers_`` (sum of weights), ``n_rows_`` (unique rows the
    likelihood was evaluated on), ``newton_decrement_``; properties ``summary`` and ``AIC_``.
    """

    _param_names: Sequence[str] = ()

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    # -- to implement ---------------------------------------------------------------
    def _negative_ll(self, params: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _gradient(self, params: np.ndarray) -> np.ndarray | None:
        """Analytic gradient of the negative log-likelihood; ``None`` when the model has none."""
        return None

    # -- optimisation -----------------------------------------------------------------
    def _objective(self, theta: np.ndarray) -> float:
        if np.any(np.abs(theta) > _LOG_BOUND):
            return 1e300  # parameters beyond 1e±13: treat as infeasible, the line search backs off
        params = np.exp(theta)
        # trial points far from the optimum may overflow; a NaN or infinite likelihood is
        # simply a point the optimiser must step away from, so no warning is due
        with np.errstate(all="ignore"):
            value = self._negative_ll(params)
            if self.penalizer_coef:
                value += self.penalizer_coef * float(np.sum(params**2))
        return float(value) if np.isfinite(value) else 1e300

    def _objective_gradient(self, theta: np.ndarray) -> np.ndarray:
        if not self._has_gradient:
            return central_gradient(self._objective, theta)
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            g = self._gradient(params)
        if not np.all(np.isfinite(g)):
            return central_gradient(self._objective, theta)
        if self.penalizer_coef:
            g = g + 2 * self.penalizer_coef * params
        return g * params  # chain rule: d/dθ = params · d/dparams

    def _objective_hessian(self, theta: np.ndarray) -> np.ndarray:
        if self._has_gradient:
            return hessian_from_gradient(self._objective_gradient, theta)
        return hessian_from_values(self._objective, theta)

    def _optimise(self, initial: np.ndarray) -> None:
        initial = np.asarray(initial, float)
        name = type(self).__name__
        if initial.shape != (len(self._param_names),) or not np.all(np.isfinite(initial)) or np.any(initial <= 0):
            raise ParameterError(f"{name}: initial_params must be {len(self._param_names)} positive numbers "
                                 f"({', '.join(self._param_names)}), got {initial!r}")
        self._has_gradient = self._gradient(initial) is not None
        if not np.isfinite(self._negative_ll(initial)):
            raise ConvergenceError(f"{name}: the log-likelihood is not finite at the initial parameters "
                                   f"{initial!r}; pass initial_params")
        # unbounded: L-BFGS-B's first step with a box can land on the box's corners
        res = optimize.minimize(self._objective, np.log(initial), jac=self._objective_gradient, method="L-BFGS-B",
                                options={"maxiter": 3000, "gtol": 1e-10, "ftol": 1e-15})
        theta, hess, decrement = self._newton_polish(res.x)
        self._check_converged(theta, hess, decrement, str(res.message))
        params = np.exp(theta)
        cov = np.outer(params, params) * np.linalg.inv(hess)
        names = list(self._param_names)
        self.params_ = pd.Series(params, index=names, name="coef")
        self.log_likelihood_ = -float(self._negative_ll(params))
        self.variance_matrix_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="se(coef)")
        self.newton_decrement_ = float(decrement)

    def _newton_polish(self, theta: np.ndarray, max_steps: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
        """Damped Newton steps from the quasi-Newton solution; returns θ, Hessian, decrement."""
        f = self._objective(theta)
        for _ in range(max_steps):
            g, hess = self._objective_gradient(theta), self._objective_hessian(theta)
            step = small_cholesky_solve(hess, g) if np.all(np.isfinite(hess)) else None
            if step is None:
                return theta, hess, float("inf")  # not a maximum: reported by _check_converged
            decrement = float(np.sum(g * step))
            if decrement < 1e-10:  # within 1e-5 standard errors of the optimum: done
                return theta, hess, decrement
            t = 1.0
            while t > 1e-4:
                candidate = np.clip(theta - t * step, -_LOG_BOUND, _LOG_BOUND)
                f_new = self._objective(candidate)
                if f_new <= f:
                    break
                t /= 2
            else:  # no descent along the Newton direction: rounding has the last word
                return theta, hess, decrement
            theta, f = candidate, f_new
        g, hess = self._objective_gradient(theta), self._objective_hessian(theta)
        step = small_cholesky_solve(hess, g) if np.all(np.isfinite(hess)) else None
        return theta, hess, float("inf") if step is None else float(np.sum(g * step))

    def _check_converged(self, theta: np.ndarray, hess: np.ndarray, decrement: float, message: str) -> None:
        name = type(self).__name__
        at_bound = np.abs(theta) >= _LOG_BOUND - 5
        if at_bound.any() or not np.all(np.isfinite(hess)):
            which = ", ".join(np.asarray(self._param_names)[at_bound]) or "some parameter"
            raise ConvergenceError(f"{name} did not converge: {which} ran off to 0 or infinity, so the data do "
                                   "not identify the model (e.g. too few repeat buyers); try a small penalizer_coef")
        eig = np.linalg.eigvalsh(hess)
        if eig.min() <= 1e-9 * max(eig.max(), 1.0):
            raise ConvergenceError(f"{name} did not converge: the likelihood is flat or not at a maximum "
                                   f"(Hessian eigenvalues on the log scale {np.round(eig, 6).tolist()}), so the "
                                   "parameters are not identified by these data; try a small penalizer_coef")
        if not decrement <= _DECREMENT_TOL:
            raise ConvergenceError(f"{name} did not converge ({message}; Newton decrement {decrement:.3g}); "
                                   "try initial_params closer to the solution")

    # -- results ----------------------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        """Coefficients, standard errors and 95% Wald intervals; ``attrs`` hold log-likelihood, AIC, n."""
        self._check_fitted()
        z = stats.norm.ppf(0.975)
        out = pd.DataFrame({"coef": self.params_, "se(coef)": self.standard_errors_,
                            "lower 95% bound": self.params_ - z * self.standard_errors_,
                            "upper 95% bound": self.params_ + z * self.standard_errors_})
        out.attrs.update(log_likelihood=self.log_likelihood_, AIC=self.AIC_, n_customers=self.n_customers_)
        return out

    @property
    def AIC_(self) -> float:
        """Akaike information criterion, 2k − 2 log L."""
        self._check_fitted()
        return 2 * len(self._param_names) - 2 * self.log_likelihood_

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ParameterError(f"{type(self).__name__} is not fitted: call fit() first")

    def _initial(self, initial_params: dict[str, float] | Sequence[float] | None,
                 default: Sequence[float]) -> np.ndarray:
        if initial_params is None:
            return np.asarray(default, float)
        if isinstance(initial_params, dict):
            missing = [k for k in self._param_names if k not in initial_params]
            if missing:
                raise ParameterError(f"initial_params is missing {missing}")
            return np.asarray([initial_params[k] for k in self._param_names], float)
        return np.asarray(initial_params, float)

    def _set_data(self, weights: np.ndarray | None, **columns: np.ndarray) -> dict[str, np.ndarray]:
        """Collapse identical rows; keep them and their weights for the likelihood."""
        cols, w = collapse(columns, weights)
        self._w = w
        self.n_customers_ = float(w.sum())
        self.n_rows_ = int(len(w))
        return cols

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"<{type(self).__name__}: fitted with {self.n_customers_:,.0f} customers, {ps}>"
        return f"<{type(self).__name__}: not fitted>"
