"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013).

Each transaction's value z ~ Gamma(p, ν) around the customer's mean p/ν, with
ν ~ Gamma(q, γ) across customers. The model is fitted on repeat buyers (frequency > 0)
with ``monetary_value`` = the mean value of their *repeat* purchases (the first purchase
is left out, as in the published CDNOW fit p = 6.25, q = 3.74, γ = 15.44), and assumes
spend independent of purchase frequency.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from .._mle import SUBSAMPLE_ROWS, ExactDerivativesFitter, dot, trigamma
from .._rows import level_codes
from ..errors import ConvergenceError, DataContractError, ParameterError
from ._base import as_array, broadcast_rows, check_lengths, check_weights


class GammaGammaFitter(ExactDerivativesFitter):
    """Gamma-Gamma model with parameters p, q and v (γ in the papers).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(1, 8, 3000).astype(float)
    >>> m = simulate_gamma_gamma(x, p=6.0, q=4.0, v=15.0, seed=1)
    >>> gg = GammaGammaFitter().fit(x, m)
    >>> gg.params_.round(1).to_dict()
    {'p': 5.7, 'q': 4.0, 'v': 16.1}
    >>> float(gg.conditional_expected_average_profit(2, 50.0).round(2))
    45.85
    """

    _param_names = ("p", "q", "v")

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None,
            initial_params: Any = None, if_mean_infinite: str = "warn",
            min_q: float | None = None) -> GammaGammaFitter:
        """Fit on repeat buyers; returns ``self``.

        The mean spend p·v/(q−1) exists only for q > 1. A maximum-likelihood q ≤ 1 says the
        spends are so heavy-tailed that the model has no mean spend (and
        :meth:`conditional_expected_average_profit` refuses to give one).

        Parameters
        ----------
        if_mean_infinite : {"warn", "raise", "ignore"}
            What to do when the fitted q ≤ 1 (and ``min_q`` is not given): a
            ``RuntimeWarning`` (the default), a :class:`ConvergenceError`, or nothing.
        min_q : float, optional
            Constrain q ≥ ``min_q`` (> 1): when the unconstrained q is below it, the fit is
            repeated with q fixed at ``min_q`` and p, v maximised (the constrained maximum
            lies on the boundary); ``q_constrained_`` is then True and q's standard error 0.

        Raises
        ------
        DataContractError
            Frequency 0 (not a repeat buyer), non-positive or non-finite monetary value.
        ConvergenceError
            When the spend data do not identify the model (e.g. identical spends), or
            q ≤ 1 with ``if_mean_infinite="raise"``.
        ParameterError
            ``if_mean_infinite`` unknown or ``min_q`` not above 1.
        """
        if if_mean_infinite not in ("warn", "raise", "ignore"):
            raise ParameterError(f"if_mean_infinite must be 'warn', 'raise' or 'ignore', not {if_mean_infinite!r}")
        if min_q is not None and not (np.isfinite(min_q) and min_q > 1):
            raise ParameterError(f"min_q must be a number above 1 (the mean spend needs q > 1), got {min_q!r}")
        x, m = as_array(frequency, "frequency"), as_array(monetary_value, "monetary_value")
        check_lengths(frequency=x, monetary_value=m)
        for mask, col, problem in ((x <= 0, "frequency", "Gamma-Gamma needs repeat buyers only (frequency > 0)"),
                                   (m <= 0, "monetary_value", "monetary value must be positive")):
            if mask.any():
                idx = np.flatnonzero(mask)[:5]  # the table of offending rows is only built on failure
                rows = pd.DataFrame({"row": idx, "frequency": x[idx], "monetary_value": m[idx]})
                raise DataContractError("rfm summary", col, problem, rows, int(mask.sum()))
        w = check_weights(weights, len(x))
        self._set_rows(w, x, m)
        start = None
        if initial_params is None and len(self._x) >= 4 * SUBSAMPLE_ROWS:
            # Newton's method needs ~8 steps from the generic start but ~3 from near the optimum:
            # the fit on every k-th row (cheap) lands within a few standard errors of it
            k = len(self._x) // SUBSAMPLE_ROWS
            try:
                sub = GammaGammaFitter(self.penalizer_coef).fit(self._x[::k], self._m[::k], self._w[::k] * k,
                                                                if_mean_infinite="ignore")
                start = sub.params_.to_numpy()
            except ConvergenceError:
                start = None
        default = (1.0, 1.0, float(np.average(self._m, weights=self._w)))
        self._fixed_q = None
        self._optimise(self._initial(initial_params, default if start is None else start))
        self.q_constrained_ = False
        q = float(self.params_["q"])
        if min_q is not None and q < min_q:
            self._fit_fixed_q(float(min_q))
        elif q <= 1 and if_mean_infinite != "ignore":
            message = (f"GammaGammaFitter: the fitted q = {q:.4g} is not above 1, so the model has no finite mean "
                       "spend (p·v/(q−1)): the spends are too heavy-tailed for Gamma-Gamma; cap outlying spends, "
                       "or refit with min_q (e.g. 1.5) to constrain q")
            if if_mean_infinite == "raise":
                raise ConvergenceError(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        return self

    def _fit_fixed_q(self, q: float) -> None:
        """Maximise over (p, v) with q fixed: the maximum under q ≥ ``q`` when the free fit lies below it."""
        p0, _, v0 = self.params_.to_numpy()
        self._fixed_q, self._param_names = q, ("p", "v")
        try:
            self._optimise(np.array([p0, v0 * q / max(float(self.params_["q"]), 1e-3)]))
        finally:
            self._fixed_q = None
            del self._param_names  # back to the class's ("p", "q", "v")
        p, v = self.params_.to_numpy()
        names = list(self._param_names)
        cov = np.zeros((3, 3))
        cov[np.ix_([0, 2], [0, 2])] = self.variance_matrix_.to_numpy()
        self.params_ = pd.Series([p, q, v], index=names, name="coef")
        self.variance_matrix_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="se(coef)")
        self.q_constrained_ = True

    def _set_rows(self, w: np.ndarray | None, x: np.ndarray, m: np.ndarray) -> None:
        """Keep the rows and the sufficient statistics of the likelihood.

        The log-likelihood of a row,

            log Γ(px+q) − log Γ(px) − log Γ(q) + q·log v + (px−1)·log m + px·log x − (px+q)·log(v+mx),

        is linear in p and q given v except for the gamma functions, which depend on x alone
        (summed once per distinct x with its total weight), and ``log(v+mx)``. So Σw·x·log m,
        Σw·log m and Σw·x·log x are constants and an evaluation makes one pass over the rows
        for log(v+mx) and its reciprocals. Spends are continuous, so identical (x, m) rows
        are rare: the rows are used as given rather than collapsed (collapsing costs more
        than it saves), and ``n_rows_`` counts the rows with positive weight.
        """
        if w is not None and not np.all(w > 0):
            keep = w > 0
            x, m, w = x[keep], m[keep], w[keep]
        codes, ux = level_codes(x)
        self._x, self._m = x, m
        self._w = np.ones(len(x)) if w is None else w
        self._unit_weights = w is None  # Σw·f is then a plain sum: one pass fewer
        self._wx = x if w is None else w * x
        self._y = m * x
        self._ux = ux
        self._w_by_x = np.bincount(codes, w, minlength=len(ux)).astype(float)
        self._w_total = float(self._w_by_x.sum())
        log_m, log_x = np.log(m), np.log(ux)
        self._sum_wx_log_m = dot(self._wx, log_m)
        self._sum_w_log_m = float(np.sum(log_m)) if w is None else dot(w, log_m)
        self._sum_wx_log_x = dot(self._w_by_x * ux, log_x)
        self.n_customers_ = self._w_total
        self.n_rows_ = int(len(x))

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Per-row log-likelihood, evaluated directly (the reference for the fitting fast path)."""
        p, q, v = params
        px = p * x
        return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
                + px * np.log(x) - (px + q) * np.log(v + m * x))

    @staticmethod
    def _gradient_rows(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Per-row gradient of the log-likelihood, shape (3, rows), evaluated directly (reference)."""
        p, q, v = params
        common = digamma(p * x + q)
        log_vmx = np.log(v + m * x)
        d_p = x * (common - digamma(p * x) + np.log(m) + np.log(x) - log_vmx)
        d_q = common - digamma(q) + np.log(v) - log_vmx
        d_v = q / v - (p * x + q) / (v + m * x)
        return np.array([d_p, d_q, d_v])

    def _sum_w(self, values: np.ndarray) -> float:
        return float(np.sum(values)) if self._unit_weights else dot(self._w, values)

    def _terms(self, params: np.ndarray, order: int) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Negative log-likelihood (``order`` 0), with gradient (1) and Hessian (2), natural parameters.

        With q fixed (:meth:`_fit_fixed_q`) ``params`` is (p, v) and q's row and column are dropped.
        """
        if getattr(self, "_fixed_q", None) is None:
            return self._full_terms(params, order)
        value, g, h = self._full_terms(np.array([params[0], self._fixed_q, params[1]]), order)
        keep = [0, 2]
        return value, None if g is None else g[keep], None if h is None else h[np.ix_(keep, keep)]

    def _full_terms(self, params: np.ndarray, order: int) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        p, q, v = (float(t) for t in params)
        ux, w_x, W = self._ux, self._w_by_x, self._w_total
        pxq, px = p * ux + q, p * ux
        log_s = np.log(v + self._y)
        a1, a0 = dot(self._wx, log_s), self._sum_w(log_s)
        ll = (dot(w_x, gammaln(pxq) - gammaln(px)) - W * gammaln(q) + W * q * np.log(v)
              + p * (self._sum_wx_log_m + self._sum_wx_log_x) - self._sum_w_log_m - p * a1 - q * a0)
        if order == 0:
            return -ll, None, None
        inv = 1.0 / (v + self._y)
        b1, b0 = dot(self._wx, inv), self._sum_w(inv)
        dg = digamma(pxq)
        g = np.array([dot(w_x, ux * (dg - digamma(px))) + self._sum_wx_log_m + self._sum_wx_log_x - a1,
                      dot(w_x, dg) - W * digamma(q) + W * np.log(v) - a0,
                      W * q / v - p * b1 - q * b0])
        if order == 1:
            return -ll, -g, None
        inv2 = inv * inv
        c1, c0 = dot(self._wx, inv2), self._sum_w(inv2)
        tg = trigamma(pxq)
        h = np.array([
            [dot(w_x, ux * ux * (tg - trigamma(px))), dot(w_x, ux * tg), -b1],
            [0.0, dot(w_x, tg) - W * trigamma(q), W / v - b0],
            [0.0, 0.0, -W * q / v**2 + p * c1 + q * c0]])
        h = np.triu(h) + np.triu(h, 1).T
        return -ll, -g, -h

    def conditional_expected_average_profit(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[mean spend | x, m̄] = (1 − w)·p·v/(q−1) + w·m̄ with w = p·x/(p·x + q − 1).

        A credibility-weighted mean of the population mean and the customer's own mean;
        customers without a repeat purchase get the population mean. Raises
        :class:`ParameterError` when q ≤ 1 (no finite mean).
        """
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        if q <= 1:
            raise ParameterError(f"GammaGammaFitter: q = {q:.4g} is not above 1, so the expected spend is infinite; "
                                 "refit with min_q (e.g. 1.5) or cap outlying spends")
        x, m = broadcast_rows(frequency, monetary_value)
        population = p * v / (q - 1)
        weight = p * x / (p * x + q - 1)
        return np.where(x > 0, (1 - weight) * population + weight * m, population)

    @property
    def population_mean_spend(self) -> float:
        """E[spend per transaction] across customers, p·v/(q−1) (infinite when q ≤ 1)."""
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        return float(p * v / (q - 1)) if q > 1 else float("inf")


def simulate_gamma_gamma(frequency: Any, p: float, q: float, v: float, seed: int | None = 0) -> np.ndarray:
    """Mean spend of ``frequency`` transactions per customer drawn from the Gamma-Gamma model.

    ν ~ Gamma(q, rate v) per customer; the mean of x transactions z ~ Gamma(p, rate ν) is
    Gamma(p·x, rate x·ν). Customers with frequency 0 get 0.
    """
    if min(p, q, v) <= 0:
        raise ParameterError("p, q and v must be positive")
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, float)
    nu = rng.gamma(q, 1 / v, x.shape)
    has = x > 0
    out = np.zeros(x.shape)
    out[has] = rng.gamma(p * x[has], 1 / (x[has] * nu[has]))
    return out
