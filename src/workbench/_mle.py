"""Weighted maximum likelihood with positive parameters: the base fitter every model family shares.

Every parameter of these models is positive, so the optimiser works on ``θ = log(params)``:
no bound to hit at zero and a better-conditioned surface. Models with an analytic Hessian
(BG/NBD, Gamma-Gamma) are fitted by damped Newton's method from the start — a handful of
steps, each about the price of two gradients — and fall back to the general route if it
stalls. The general route runs L-BFGS-B (analytic gradient where the model has one, a
central-difference gradient otherwise), then a few Newton steps on a finite-difference
Hessian to polish the last digits. Convergence is
judged by the Newton decrement ``g'H⁻¹g`` — the log-likelihood a further Newton step would
still gain. It is scale-free: below 1e-6 every parameter is within ~0.001 standard errors
of the optimum whatever the sample size.

Standard errors come from the inverse Hessian. At the optimum (zero gradient) the Hessian
in the natural parameters is ``D⁻¹ H_θ D⁻¹`` with ``D = diag(params)``, so the covariance
is ``D H_θ⁻¹ D``.

The CLV fitters (:mod:`workbench.clv`) and the shifted-beta-geometric churn model
(:mod:`workbench.churn.sbg`) subclass :class:`BaseFitter`; rows are de-duplicated by
:mod:`workbench._rows` before a likelihood sees them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ._rows import collapse_indexed
from .errors import ConvergenceError, ParameterError

#: log-parameters beyond ±30 (1e±13) are infeasible; beyond ±25 (1e±11) a fit has diverged
_LOG_BOUND = 30.0
#: Newton decrement (log-likelihood units) below which a fit counts as converged
_DECREMENT_TOL = 1e-6
#: fitters with an analytic Hessian and more than 4× this many rows start Newton's method from
#: the fit on a systematic sample of about this many rows: from their generic start Newton
#: needs ~7 full-data steps, from the sample's optimum (a few standard errors away) ~3
SUBSAMPLE_ROWS = 20_000


# ---------------------------------------------------------------------------- derivatives
def dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product without BLAS.

    Σ a·b without BLAS: BLAS threads woken for a long vector product contend for the cores
    of a small shared machine (several times slower under load).

    >>> dot(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    11.0
    """
    return float(np.einsum("i,i->", a, b))


def trigamma(x: np.ndarray | float) -> np.ndarray | float:
    """ψ'(x) as the Hurwitz zeta ζ(2, x): the ufunc itself, without ``polygamma``'s Python wrapper."""
    return special.zeta(2.0, x)


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

    def _value_grad_hess(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Negative log-likelihood with its analytic gradient and Hessian in the natural parameters.

        Models that implement it are fitted by Newton's method from the start (see
        :meth:`_optimise`); the others by L-BFGS-B and a finite-difference Newton polish.
        """
        raise NotImplementedError

    @property
    def _has_hessian(self) -> bool:
        return type(self)._value_grad_hess is not BaseFitter._value_grad_hess

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
        if self._has_hessian:
            return self._theta_value_grad_hess(theta)[2]
        if self._has_gradient:
            return hessian_from_gradient(self._objective_gradient, theta)
        return hessian_from_values(self._objective, theta)

    def _theta_value_grad_hess(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Objective, gradient and Hessian in θ = log(params), penalty included.

        With ``p = e^θ``: ``∂f/∂θ = p·∂f/∂p``, ``∂²f/∂θ² = diag(p) H diag(p) + diag(p·∂f/∂p)``.
        Without an analytic Hessian the gradient and a finite-difference Hessian are returned.
        """
        if not self._has_hessian:
            return self._objective(theta), self._objective_gradient(theta), self._objective_hessian(theta)
        nan = np.full(len(theta), np.nan)
        if np.any(np.abs(theta) > _LOG_BOUND):
            return 1e300, nan, np.full((len(theta), len(theta)), np.nan)
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            value, g, hess = self._value_grad_hess(params)
            if self.penalizer_coef:
                value += self.penalizer_coef * float(np.sum(params**2))
                g = g + 2 * self.penalizer_coef * params
                hess = hess + 2 * self.penalizer_coef * np.eye(len(params))
        if not np.isfinite(value):
            return 1e300, nan, np.full((len(theta), len(theta)), np.nan)
        return float(value), g * params, hess * np.outer(params, params) + np.diag(g * params)

    def _optimise(self, initial: np.ndarray) -> None:
        initial = np.asarray(initial, float)
        name = type(self).__name__
        if initial.shape != (len(self._param_names),) or not np.all(np.isfinite(initial)) or np.any(initial <= 0):
            raise ParameterError(f"{name}: initial_params must be {len(self._param_names)} positive numbers "
                                 f"({', '.join(self._param_names)}), got {initial!r}")
        self._has_gradient = self._has_hessian or self._gradient(initial) is not None
        start = self._theta_value_grad_hess(np.log(initial)) if self._has_hessian else None
        if not (np.isfinite(self._negative_ll(initial)) if start is None else start[0] < 1e300):
            raise ConvergenceError(f"{name}: the log-likelihood is not finite at the initial parameters "
                                   f"{initial!r}; pass initial_params")
        theta = hess = None
        value = None  # the objective at theta, when known
        if start is not None:
            # an exact Hessian makes Newton's method converge in a handful of steps from a
            # reasonable start; each step costs about two gradients, and a quasi-Newton run
            # needs tens of them
            theta, hess, decrement, value = self._newton(np.log(initial), 60, modified=True, start=start)
            message = "Newton's method"
        if theta is None or not decrement <= _DECREMENT_TOL:
            # unbounded: L-BFGS-B's first step with a box can land on the box's corners
            res = optimize.minimize(self._objective, np.log(initial), jac=self._objective_gradient,
                                    method="L-BFGS-B", options={"maxiter": 3000, "gtol": 1e-10, "ftol": 1e-15})
            theta, hess, decrement = self._newton_polish(res.x)
            message, value = str(res.message), None
        self._check_converged(theta, hess, decrement, message)
        params = np.exp(theta)
        # plain 2×2–4×4 inverse from the Cholesky solver, one column at a time (no BLAS threads)
        cols = [small_cholesky_solve(hess, e) for e in np.eye(len(params))]
        inv = np.column_stack(cols) if all(c is not None for c in cols) else np.linalg.inv(hess)
        cov = np.outer(params, params) * inv
        names = list(self._param_names)
        self.params_ = pd.Series(params, index=names, name="coef")
        if value is None or self.penalizer_coef:
            value = float(self._negative_ll(params))
        self.log_likelihood_ = -value
        self.variance_matrix_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="se(coef)")
        self.newton_decrement_ = float(decrement)

    def _newton_polish(self, theta: np.ndarray, max_steps: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
        """Damped Newton steps from the quasi-Newton solution; returns θ, Hessian, decrement."""
        theta, hess, decrement, _ = self._newton(theta, max_steps=max_steps, modified=False)
        return theta, hess, decrement

    def _newton(self, theta: np.ndarray, max_steps: int, modified: bool,
                start: tuple[float, np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Damped Newton's method on θ; returns θ, the Hessian, the Newton decrement and the objective.

        ``modified``: where the Hessian is not positive definite (far from the optimum), step
        along ``(H + λI)⁻¹g`` with the smallest λ = 10^k·max|H_ii| that makes it so, and cap a
        step at ``e^±2`` per parameter; such a run reports an infinite decrement unless it
        reaches a point where the plain Newton decrement is below 1e-10. Without
        ``modified`` a non-positive-definite Hessian ends the run (infinite decrement).
        """
        f, g, hess = self._theta_value_grad_hess(theta) if start is None else start
        for _ in range(max_steps):
            finite = np.all(np.isfinite(hess)) and np.all(np.isfinite(g))
            step = small_cholesky_solve(hess, g) if finite else None
            if step is not None:
                decrement = float(np.sum(g * step))
                if decrement < 1e-10:  # within 1e-5 standard errors of the optimum: done
                    return theta, hess, decrement, f
                if decrement <= _DECREMENT_TOL and self._has_hessian:
                    # within 1e-3 standard errors: Newton's quadratic convergence puts the full step
                    # within ~1e-6 of the optimum, so take it without paying for another Hessian;
                    # the decrement reported is the one measured before it (an upper bound)
                    candidate = theta - step
                    f_new = self._objective(candidate)
                    return (candidate, hess, decrement, f_new) if f_new <= f else (theta, hess, decrement, f)
            elif modified and finite:
                shift = 1e-3 * max(float(np.max(np.abs(np.diag(hess)))), 1e-8)
                while step is None and shift < 1e30:
                    step = small_cholesky_solve(hess + shift * np.eye(len(g)), g)
                    shift *= 10
                if step is None:
                    return theta, hess, float("inf"), f
                decrement = float("inf")
            else:
                return theta, hess, float("inf"), f  # not a maximum: reported by _check_converged
            if modified:
                step = step * min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-300))
            candidate = np.clip(theta - step, -_LOG_BOUND, _LOG_BOUND)
            g_new = hess_new = None
            if self._has_hessian:  # the full step is usually taken: evaluate everything there at once
                f_new, g_new, hess_new = self._theta_value_grad_hess(candidate)
            else:  # a finite-difference Hessian is dear: only once a step is accepted
                f_new = self._objective(candidate)
            t = 1.0
            while not f_new <= f:
                t /= 2
                if t < 1e-4:  # no descent along the Newton direction: rounding has the last word
                    return theta, hess, decrement, f
                candidate = np.clip(theta - t * step, -_LOG_BOUND, _LOG_BOUND)
                f_new, g_new = self._objective(candidate), None
            if g_new is None:
                f_new, g_new, hess_new = self._theta_value_grad_hess(candidate)
            theta, f, g, hess = candidate, f_new, g_new, hess_new
        step = small_cholesky_solve(hess, g) if np.all(np.isfinite(hess)) and np.all(np.isfinite(g)) else None
        return theta, hess, float("inf") if step is None else float(np.sum(g * step)), f

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
        """Coefficients, standard errors and 95% Wald intervals.

        The fit's ``log_likelihood_``, ``AIC_`` and ``n_customers_`` are attributes of the fitter.
        """
        self._check_fitted()
        z = stats.norm.ppf(0.975)
        out = pd.DataFrame({"coef": self.params_, "se(coef)": self.standard_errors_,
                            "lower 95% bound": self.params_ - z * self.standard_errors_,
                            "upper 95% bound": self.params_ + z * self.standard_errors_})
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
        """Collapse identical rows; keep them, their weights and level codes (``_levels``)."""
        cols, w, self._levels = collapse_indexed(columns, weights)
        self._w = w
        self.n_customers_ = float(w.sum())
        self.n_rows_ = int(len(w))
        return cols

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"<{type(self).__name__}: fitted with {self.n_customers_:,.0f} customers, {ps}>"
        return f"<{type(self).__name__}: not fitted>"


class ExactDerivativesFitter(BaseFitter):
    """A fitter whose likelihood, gradient and Hessian come from one ``_terms(params, order)``.

    ``_terms`` returns (−log L, −gradient or ``None``, −Hessian or ``None``) up to
    ``order`` (0, 1 or 2) in the natural parameters, sharing the per-level work between
    them; such models are fitted by Newton's method from the start.
    """

    def _terms(self, params: np.ndarray, order: int) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _negative_ll(self, params: np.ndarray) -> float:
        return self._terms(params, 0)[0]

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        return self._terms(params, 1)[1]

    def _value_grad_hess(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return self._terms(params, 2)
