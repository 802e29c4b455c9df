"""MBG/NBD: the modified beta-geometric / NBD model (Batislam, Denizel & Filiztekin 2007).

As BG/NBD (:mod:`workbench.clv.beta_geo`), except that a customer may also drop out right
after the first purchase, so someone who never bought again can be dead. With λ ~ Gamma(r, α)
and p ~ Beta(a, b) the likelihood of (x, t_x, T) is

    B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / Γ(r) · [ (α+T)^-(r+x) + a/(b+x) (α+t_x)^-(r+x) ],

the second term now present for x = 0 as well (t_x = 0). It is evaluated in log space as
``(α+T)^-(r+x)·(1 + e^z)`` with z the log-odds of having dropped out, so P(alive) is σ(−z).
Given alive at T, p ~ Beta(a, b+x+1) and λ ~ Gamma(r+x, α+T), which gives the conditional
expectation ``(a+b+x)/(a−1)·[1 − ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))]``
times P(alive); the hypergeometric term is taken through Euler's transformation
(:func:`~workbench.clv.beta_geo._growth`, with b+1 for b), which keeps it finite for any x.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln

from .._mle import BaseFitter
from ..errors import ParameterError
from ._base import set_rfm_data
from .beta_geo import _broadcast, _growth, dert_by_quadrature


def _log_dropout_odds(r: float, alpha: float, a: float, b: float, x: np.ndarray, tx: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """Z = log[a/(b+x)] + (r+x)·[log(α+T) − log(α+t_x)]: log P(dead)/P(alive), finite for every x."""
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))


class ModifiedBetaGeoFitter(BaseFitter):
    """MBG/NBD model (r, alpha, a, b) on frequency (repeat purchases), recency and T.

    ``fit`` collapses identical (frequency, recency, T) rows into weights (``weights`` takes
    rows that are already collapsed, e.g. from :func:`~workbench.clv.collapse_rfm`). The
    likelihood has an analytic gradient; the fit runs L-BFGS-B and a Newton polish on the
    log parameters (:class:`~workbench._mle.BaseFitter`).

    Examples
    --------
    >>> d = simulate_modified_beta_geo(4000, r=0.5, alpha=6.0, a=0.9, b=1.6, T=39.0, seed=1)
    >>> m = ModifiedBetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> m.params_.round(1).to_dict()
    {'r': 0.5, 'alpha': 5.4, 'a': 0.9, 'b': 1.5}
    >>> float(m.conditional_probability_alive(0, 0.0, 39.0).round(3)) < 1.0  # x = 0 can be dead
    True
    """

    _param_names = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> ModifiedBetaGeoFitter:
        """Maximum-likelihood fit; returns ``self``.

        Raises
        ------
        DataContractError
            NaN, negative, fractional frequency, recency > T or recency > 0 with frequency 0.
        ConvergenceError
            When the likelihood has no interior maximum (e.g. nobody bought twice).
        """
        scale = set_rfm_data(self, frequency, recency, T, weights)
        self._optimise(self._initial(initial_params, (0.5, scale / 4, 1.0, 1.0)))
        return self

    # ------------------------------------------------------------------ likelihood
    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-row log-likelihood."""
        r, alpha, a, b = params
        z = _log_dropout_odds(r, alpha, a, b, x, tx, T)
        return (gammaln(r + x) - gammaln(r) + betaln(a, b + x + 1) - betaln(a, b) + r * np.log(alpha)
                - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, z))

    @staticmethod
    def _gradient_rows(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-row gradient of the log-likelihood, shape (4, rows); ``∂ softplus(z) = σ(z)·∂z``."""
        r, alpha, a, b = params
        w2 = expit(_log_dropout_odds(r, alpha, a, b, x, tx, T))  # share of the drop-out term
        w1 = 1.0 - w2
        dg_ab, dg_abx = digamma(a + b), digamma(a + b + x + 1)
        return np.array([
            digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + tx),
            r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + tx)),
            dg_ab - dg_abx + w2 / a,
            digamma(b + x + 1) - digamma(b) + dg_ab - dg_abx - w2 / (b + x),
        ])

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.dot(self._w, self._log_likelihood(params, self._x, self._tx, self._T)))

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        return -(self._gradient_rows(params, self._x, self._tx, self._T) @ self._w)

    def log_likelihood_rows(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        self._check_fitted()
        x, tx, T_ = _broadcast(frequency, recency, T)
        return self._log_likelihood(self.params_.to_numpy(), x.ravel(), tx.ravel(), T_.ravel()).reshape(x.shape)

    # ------------------------------------------------------------------ predictions
    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)), in [0, 1].

        Below 1 even for x = 0: the customer may have dropped out right after the first purchase.
        """
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        x, tx, T_ = _broadcast(frequency, recency, T)
        return expit(-_log_dropout_odds(r, alpha, a, b, x, tx, T_))

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any,
                                                            T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` periods (Batislam et al. 2007)."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        t, x, tx, T_ = _broadcast(t, frequency, recency, T)
        z = t / (alpha + T_ + t)
        alive = expit(-_log_dropout_odds(r, alpha, a, b, x, tx, T_))
        return _growth(a, b + 1, r, a + b + x, z) * alive

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """E[X(t)] = b/(a−1) [1 − (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))] for a customer just acquired."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        t = np.asarray(t, float)
        return b / (a + b) * _growth(a, b + 1, r, np.full(t.shape, a + b), t / (alpha + t))

    def discounted_expected_residual_transactions(self, frequency: Any, recency: Any, T: Any,
                                                  discount_rate: float) -> np.ndarray:
        """DERT: ∫₀^∞ e^(−δt) dE[Y(t) | x, t_x, T], the present value of the expected future purchases.

        ``discount_rate`` is the continuously compounded rate δ per time unit of the data
        (15% a year on weekly data: δ = log(1.15)/52 ≈ 0.0027). Evaluated by quadrature of
        δ·∫ e^(−δt) E[Y(t)] dt (:func:`~workbench.clv.beta_geo.dert_by_quadrature`).
        """
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()

        def expected(t: np.ndarray, x: np.ndarray, tx: np.ndarray, T_: np.ndarray) -> np.ndarray:
            alive = expit(-_log_dropout_odds(r, alpha, a, b, x, tx, T_))
            return _growth(a, b + 1, r, a + b + x, t / (alpha + T_ + t)) * alive

        return dert_by_quadrature(expected, discount_rate, alpha, *_broadcast(frequency, recency, T))

def simulate_modified_beta_geo(n_customers: int, r: float, alpha: float, a: float, b: float, T: Any,
                               seed: int | None = 0) -> pd.DataFrame:
    """Draw (frequency, recency, T) of customers from the MBG/NBD model itself.

    As :func:`~workbench.clv.beta_geo.simulate_beta_geo`, with one more drop-out chance at
    the first purchase: the customer survives K ~ Geometric(p) − 1 repeat purchases.

    Examples
    --------
    >>> d = simulate_modified_beta_geo(3, r=0.5, alpha=6.0, a=0.9, b=1.6, T=39.0, seed=0)
    >>> list(d.columns)
    ['frequency', 'recency', 'T']
    """
    if min(r, alpha, a, b) <= 0 or n_customers < 1:
        raise ParameterError("r, alpha, a, b and n_customers must be positive")
    rng = np.random.default_rng(seed)
    T_ = np.broadcast_to(np.asarray(T, float), (n_customers,)).copy()
    lam = rng.gamma(r, 1 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    n_events = rng.poisson(lam * T_)
    k = rng.geometric(np.clip(p, 1e-12, 1.0)) - 1  # dropped at the first purchase when 0
    x = np.minimum(n_events, k)
    recency = np.zeros(n_customers)
    has = x > 0
    recency[has] = T_[has] * rng.beta(x[has], n_events[has] - x[has] + 1)
    return pd.DataFrame({"frequency": x.astype(float), "recency": recency, "T": T_})
