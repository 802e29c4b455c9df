"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), likelihood as in Fader & Hardie (2005).

Purchasing at rate λ ~ Gamma(r, α) while alive; lifetimes exponential with rate
μ ~ Gamma(s, β). The likelihood's Gauss hypergeometric terms are evaluated in log space
through Euler's transformation, so very frequent buyers (x = 500 and more) stay finite.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, gammaln, logsumexp

from ._base import BaseFitter, as_array, collapse
from ._special import log_hyp2f1_series
from .beta_geo import check_rfm


class ParetoNBDFitter(BaseFitter):
    """Pareto/NBD model (r, alpha, s, beta); same interface as :class:`BetaGeoFitter`.

    Examples
    --------
    >>> import numpy as np
    >>> m = ParetoNBDFitter().fit(np.array([0, 2, 5]), np.array([0, 10.0, 30.0]), np.array([40, 40, 40.0]))
    >>> list(m.params_.index)
    ['r', 'alpha', 's', 'beta']
    """

    _param_names = ("r", "alpha", "s", "beta")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> "ParetoNBDFitter":
        x, tx, T_ = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
        check_rfm(x, tx, T_)
        cols, w = collapse({"x": x, "tx": tx, "T": T_}, None if weights is None else as_array(weights, "weights"))
        self._x, self._tx, self._T, self._w = cols["x"], cols["tx"], cols["T"], w
        self.n_customers_ = float(w.sum())
        scale = max(float(np.average(T_)), 1.0)
        self._optimise(self._initial(initial_params, (0.5, scale / 4, 0.5, scale)))
        return self

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.sum(self._w * self._log_likelihood(params, self._x, self._tx, self._T)))

    @staticmethod
    def _log_a0(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """log A0 of the likelihood: a difference of two 2F1 terms, computed without cancellation."""
        r, alpha, s, beta = params
        rsx = r + s + x
        if alpha >= beta:
            big, b_param = alpha, s + 1
            z_tx, z_T = (alpha - beta) / (alpha + tx), (alpha - beta) / (alpha + T)
        else:
            big, b_param = beta, r + x
            z_tx, z_T = (beta - alpha) / (beta + tx), (beta - alpha) / (beta + T)
        # 2F1(rsx, b; rsx+1; z) = (1-z)^(1-b) 2F1(1, rsx+1-b; rsx+1; z)   (Euler)
        def log_term(z: np.ndarray, t: np.ndarray) -> np.ndarray:
            return ((1 - b_param) * np.log1p(-z) + log_hyp2f1_series(1.0, rsx + 1 - b_param, rsx + 1, z)
                    - rsx * np.log(big + t))
        l_tx, l_T = log_term(z_tx, tx), log_term(z_T, T)
        with np.errstate(divide="ignore"):
            return l_tx + np.log1p(-np.exp(np.minimum(l_T - l_tx, 0.0)))

    @classmethod
    def _log_likelihood(cls, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        second = np.log(s) - np.log(r + s + x) + cls._log_a0(params, x, tx, T)
        return head + logsumexp(np.vstack([first, second]), axis=0)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) in [0, 1]."""
        self._check_fitted()
        p = self.params_.to_numpy()
        r, alpha, s, beta = p
        x, tx, T_ = np.broadcast_arrays(*(np.asarray(v, float) for v in (frequency, recency, T)))
        log_ratio = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T_) + s * np.log(beta + T_)
                     + self._log_a0(p, x, tx, T_))
        return expit(-log_ratio)

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any,
                                                            T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]."""
        self._check_fitted()
        r, alpha, s, beta = self.params_.to_numpy()
        t, x, tx, T_ = np.broadcast_arrays(*(np.asarray(v, float) for v in (t, frequency, recency, T)))
        base = (r + x) * (beta + T_) / ((alpha + T_) * (s - 1)) * (1 - ((beta + T_) / (beta + T_ + t)) ** (s - 1))
        return base * self.conditional_probability_alive(x, tx, T_)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """E[X(t)] for a customer just acquired."""
        self._check_fitted()
        r, alpha, s, beta = self.params_.to_numpy()
        t = np.asarray(t, float)
        return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
