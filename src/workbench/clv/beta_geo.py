"""BG/NBD: the beta-geometric / negative binomial model of repeat buying (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
repeat purchase they drop out with probability p ~ Beta(a, b). The likelihood of
(x, t_x, T) is

    B(a, b+x)/B(a, b) · Γ(r+x) α^r / Γ(r) · [ (α+T)^-(r+x) + 1{x>0} a/(b+x−1) (α+t_x)^-(r+x) ]

and is evaluated in log space, the bracket with ``logsumexp``, so a customer with 500
repeat purchases is as finite as one with none.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp

from ._base import BaseFitter, as_array, check_rfm, check_weights
from ..errors import ParameterError


def _broadcast(*values: Any) -> list[np.ndarray]:
    return list(np.broadcast_arrays(*(np.asarray(v, float) for v in values)))


def _log_second_term(a: float, b: float, r: float, x: np.ndarray, tx: np.ndarray, alpha: float) -> np.ndarray:
    """log[a/(b+x−1) (α+t_x)^-(r+x)] where x > 0, −inf where x = 0 (no drop-out yet possible)."""
    has = x > 0
    out = np.full(np.shape(x), -np.inf)
    out[has] = np.log(a) - np.log(b + x[has] - 1) - (r + x[has]) * np.log(alpha + tx[has])
    return out


def _growth(a: float, b: float, r: float, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """c/(a−1) · [1 − (1−z)^(a−1) · 2F1(a+b−1−r, a−1; c; z)].

    This is the Euler transform of the BG/NBD expectation term
    ``c/(a−1) [1 − (1−z)^r 2F1(r+x, b+x; c; z)]`` with ``c = a+b+x−1``: the transformed
    parameters stay small for any x, so the series neither overflows nor loses digits.
    At a = 1 the bracket is 0/0; its limit is taken by a tiny offset.
    """
    a = a if abs(a - 1) > 1e-10 else 1 + 1e-10
    f = hyp2f1(a + b - 1 - r, a - 1, c, z)
    positive = f > 0  # always, except for x = 0 when a + b < 1 makes c negative
    with np.errstate(divide="ignore", invalid="ignore"):
        bracket = np.where(positive, -np.expm1((a - 1) * np.log1p(-z) + np.log(np.where(positive, f, 1.0))),
                           1 - (1 - z) ** (a - 1) * f)
    return c / (a - 1) * bracket


class BetaGeoFitter(BaseFitter):
    """BG/NBD model (r, alpha, a, b) on frequency (repeat purchases), recency and T.

    ``fit`` collapses identical (frequency, recency, T) rows into weights, so millions of
    customers cost a few thousand likelihood terms; ``weights`` lets you pass rows that are
    already collapsed (see :func:`~workbench.clv.collapse_rfm`).

    Examples
    --------
    >>> d = simulate_beta_geo(5000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> bg.params_.round(2).to_dict()
    {'r': 0.24, 'alpha': 3.75, 'a': 1.06, 'b': 3.65}
    >>> float(bg.conditional_probability_alive(2, 20.0, 39.0).round(3))
    0.54
    """

    _param_names = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> "BetaGeoFitter":
        """Maximum-likelihood fit; returns ``self``.

        Raises
        ------
        DataContractError
            NaN, negative, fractional frequency, recency > T or recency > 0 with frequency 0.
        ConvergenceError
            When the likelihood has no interior maximum (e.g. nobody bought twice).
        """
        x, tx, T_ = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
        check_rfm(x, tx, T_)
        w = check_weights(weights, len(x))
        cols = self._set_data(w, x=x, tx=tx, T=T_)
        self._x, self._tx, self._T = cols["x"], cols["tx"], cols["T"]
        scale = max(float(np.average(self._T, weights=self._w)), 1.0)
        self._optimise(self._initial(initial_params, (0.5, scale / 4, 1.0, 1.0)))
        return self

    # ------------------------------------------------------------------ likelihood
    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
        first = -(r + x) * np.log(alpha + T)
        return head + np.logaddexp(first, _log_second_term(a, b, r, x, tx, alpha))

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.sum(self._w * self._log_likelihood(params, self._x, self._tx, self._T)))

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        x, tx, T, w = self._x, self._tx, self._T, self._w
        first = -(r + x) * np.log(alpha + T)
        second = _log_second_term(a, b, r, x, tx, alpha)
        lse = np.logaddexp(first, second)
        w1, w2 = np.exp(first - lse), np.exp(second - lse)  # shares of the two terms of the bracket
        has = x > 0
        inv_bx1 = np.where(has, 1 / np.where(has, b + x - 1, 1.0), 0.0)
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + tx)
        d_alpha = r / alpha - w1 * (r + x) / (alpha + T) - w2 * (r + x) / (alpha + tx)
        d_a = digamma(a + b) - digamma(a + b + x) + w2 / a
        d_b = digamma(b + x) - digamma(b) + digamma(a + b) - digamma(a + b + x) - w2 * inv_bx1
        # plain sums, not BLAS dot products: BLAS threads contend on small shared machines
        return -np.array([np.sum(w * d) for d in (d_r, d_alpha, d_a, d_b)])

    def log_likelihood_rows(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        self._check_fitted()
        x, tx, T_ = _broadcast(frequency, recency, T)
        return self._log_likelihood(self.params_.to_numpy(), x.ravel(), tx.ravel(), T_.ravel()).reshape(x.shape)

    # ------------------------------------------------------------------ predictions
    def _log_dropout_odds(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """log of P(dead)/P(alive) given the history; −inf when x = 0 (cannot have dropped out)."""
        r, alpha, a, b = self.params_.to_numpy()
        second = _log_second_term(a, b, r, x.ravel(), tx.ravel(), alpha).reshape(x.shape)
        return second + (r + x) * np.log(alpha + T)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x−1) ((α+T)/(α+t_x))^(r+x)), in [0, 1].

        Computed as a logistic of the log-odds, so x = 500 gives neither overflow nor warning.
        """
        self._check_fitted()
        x, tx, T_ = _broadcast(frequency, recency, T)
        return expit(-self._log_dropout_odds(x, tx, T_))

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any,
                                                            T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` periods (FHL 2005, eq. 10)."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        t, x, tx, T_ = _broadcast(t, frequency, recency, T)
        z = t / (alpha + T_ + t)
        return _growth(a, b, r, a + b + x - 1, z) * expit(-self._log_dropout_odds(x, tx, T_))

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a customer in the ``t`` periods after the first."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        t = np.asarray(t, float)
        return _growth(a, b, r, np.full(t.shape, a + b - 1), t / (alpha + t))

    def probability_of_n_purchases_up_to_time(self, t: Any, n: int) -> np.ndarray:
        """P(X(t) = n) for a customer just acquired (FHL 2005, eq. 8); vectorised over ``t``."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        n = int(n)
        t = np.asarray(t, float)
        j = np.arange(n + 1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 gives log 0 = −inf, handled below
            log_q, log_p0 = np.log(t) - np.log(alpha + t), r * (np.log(alpha) - np.log(alpha + t))
            # log of the NBD probabilities P(Poisson-gamma count = j by t), j = 0..n
            log_nbd = (gammaln(r + j) - gammaln(r) - gammaln(j + 1)) + log_p0.ravel()[None, :] \
                + np.where(j > 0, j * log_q.ravel()[None, :], 0.0)
        first = np.exp(betaln(a, b + n) - betaln(a, b) + log_nbd[n])
        if n == 0:
            return first.reshape(t.shape)
        tail = -np.expm1(logsumexp(log_nbd[:n], axis=0))  # P(count >= n)
        out = first + np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * np.clip(tail, 0.0, 1.0)
        return out.reshape(t.shape)


def simulate_beta_geo(n_customers: int, r: float, alpha: float, a: float, b: float, T: Any,
                      seed: int | None = 0) -> pd.DataFrame:
    """Draw (frequency, recency, T) of customers from the BG/NBD model itself.

    Exact and vectorised: the Poisson purchases in (0, T] number N ~ Poisson(λT); the
    customer drops out after the K-th repeat purchase, K ~ Geometric(p); the observed
    frequency is x = min(N, K) and the recency the x-th of N uniform times, T·Beta(x, N−x+1).

    Parameters
    ----------
    T : float or array of length ``n_customers``
        Each customer's time since the first purchase.

    Examples
    --------
    >>> d = simulate_beta_geo(3, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=0)
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
    k = rng.geometric(np.clip(p, 1e-12, 1.0))
    x = np.minimum(n_events, k)
    recency = np.zeros(n_customers)
    has = x > 0
    recency[has] = T_[has] * rng.beta(x[has], n_events[has] - x[has] + 1)
    return pd.DataFrame({"frequency": x.astype(float), "recency": recency, "T": T_})
