"""BG/NBD: the beta-geometric / negative binomial model of repeat buying (Fader, Hardie & Lee 2005)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp

from ._base import BaseFitter, as_array, check_nonnegative, collapse
from ..errors import DataContractError


def check_rfm(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, integer_frequency: bool = True) -> None:
    """Validate (frequency, recency, T) triples; errors name the column and first bad rows."""
    for arr, name in ((frequency, "frequency"), (recency, "recency"), (T, "T")):
        check_nonnegative(arr, name)
    frame = pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})
    checks = [
        (recency > T + 1e-9, "recency", "recency larger than T"),
        ((frequency == 0) & (recency > 0), "recency", "recency > 0 with frequency 0"),
    ]
    if integer_frequency:
        checks.append((frequency != np.round(frequency), "frequency", "frequency must be a whole number"))
    for mask, col, problem in checks:
        if mask.any():
            raise DataContractError("rfm summary", col, problem, frame[mask].head(5), int(mask.sum()))


class BetaGeoFitter(BaseFitter):
    """BG/NBD model: Poisson purchasing at rate λ ~ Gamma(r, α) while alive; after each repeat
    purchase the customer drops out with probability p ~ Beta(a, b).

    ``fit`` takes per-customer frequency (repeat purchases), recency and T (age) in one
    time unit; identical rows are collapsed and weighted, so millions of customers cost a
    few thousand likelihood terms.

    Examples
    --------
    >>> import numpy as np
    >>> bg = BetaGeoFitter().fit(np.array([0, 2, 5]), np.array([0, 10.0, 30.0]), np.array([40, 40, 40.0]))
    >>> sorted(bg.params_.index)
    ['a', 'alpha', 'b', 'r']
    """

    _param_names = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> "BetaGeoFitter":
        x, tx, T_ = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
        check_rfm(x, tx, T_)
        cols, w = collapse({"x": x, "tx": tx, "T": T_}, None if weights is None else as_array(weights, "weights"))
        self._x, self._tx, self._T, self._w = cols["x"], cols["tx"], cols["T"], w
        self.n_customers_ = float(w.sum())
        self._optimise(self._initial(initial_params, (0.5, max(float(np.average(T_)), 1.0) / 4, 1.0, 1.0)))
        return self

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.sum(self._w * self._log_likelihood(params, self._x, self._tx, self._T)))

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
                          -np.inf)
        return a1 + a2 + logsumexp(np.vstack([a3, a4]), axis=0)

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        x, tx, T, w = self._x, self._tx, self._T, self._w
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
                          -np.inf)
        lse = logsumexp(np.vstack([a3, a4]), axis=0)
        w3, w4 = np.exp(a3 - lse), np.exp(a4 - lse)  # weights of the two terms of the mixture
        has = x > 0
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + tx)
        d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - np.where(has, w4 * (r + x) / (alpha + tx), 0.0)
        d_a = digamma(a + b) - digamma(a + b + x) + np.where(has, w4 / a, 0.0)
        d_b = (digamma(b + x) - digamma(b) + digamma(a + b) - digamma(a + b + x)
               - np.where(has, w4 / np.maximum(b + x - 1, 1e-300), 0.0))
        return -np.array([np.sum(w * d_r), np.sum(w * d_alpha), np.sum(w * d_a), np.sum(w * d_b)])

    def log_likelihood_rows(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        self._check_fitted()
        return self._log_likelihood(self.params_.to_numpy(), np.asarray(frequency, float), np.asarray(recency, float),
                                    np.asarray(T, float))

    # ------------------------------------------------------------------ predictions
    def _log_alive_odds(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.params_.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        return np.where(x > 0, odds, -np.inf)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T), in [0, 1] even for very frequent buyers."""
        self._check_fitted()
        x, tx, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
        return expit(-self._log_alive_odds(x, tx, T_))

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any,
                                                            T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` periods.

        Uses Euler's transformation of 2F1(r+x, b+x; a+b+x-1; z) so the computation stays
        stable for high-frequency customers.
        """
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        t, x, tx, T_ = np.broadcast_arrays(*(np.asarray(v, float) for v in (t, frequency, recency, T)))
        z = t / (alpha + T_ + t)
        # ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z)
        f2 = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        numer = (a + b + x - 1) / (a - 1) * (1 - (1 - z) ** (a - 1) * f2)
        return numer * expit(-self._log_alive_odds(x, tx, T_))

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """E[X(t)] for a customer just acquired."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        t = np.asarray(t, float)
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))

    def probability_of_n_purchases_up_to_time(self, t: float, n: int) -> float:
        """P(X(t) = n) for a customer just acquired (Fader, Hardie & Lee 2005, eq. 8)."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        if t <= 0:  # nothing can have happened yet
            return 1.0 if n == 0 else 0.0
        q = t / (alpha + t)
        log_pois = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + t)) + n * np.log(q) \
            if n > 0 else r * np.log(alpha / (alpha + t))
        first = np.exp(betaln(a, b + n) - betaln(a, b) + log_pois)
        if n == 0:
            return float(first)
        j = np.arange(n)
        partial = np.sum(np.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + j * np.log(q))) * (alpha / (alpha + t)) ** r
        return float(first + np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * (1 - partial))
