"""BG/BB: the beta-geometric / beta-binomial model for discrete opportunities
(Fader, Hardie & Shang 2010): each period an alive customer transacts with probability
p ~ Beta(α, β) and dies with probability θ ~ Beta(γ, δ)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, logsumexp

from ._base import BaseFitter, as_array, collapse
from ..errors import DataContractError


class BetaGeoBetaBinomFitter(BaseFitter):
    """BG/BB model (alpha, beta, gamma, delta) on (frequency, recency, n_periods).

    Examples
    --------
    >>> import numpy as np
    >>> m = BetaGeoBetaBinomFitter().fit(np.array([0, 1, 3, 6]), np.array([0, 1, 4, 6]), np.array([6, 6, 6, 6]),
    ...                                  weights=np.array([50, 20, 10, 5]))
    >>> list(m.params_.index)
    ['alpha', 'beta', 'gamma', 'delta']
    """

    _param_names = ("alpha", "beta", "gamma", "delta")

    def fit(self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None,
            initial_params: Any = None) -> "BetaGeoBetaBinomFitter":
        x, tx, n = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(n_periods, "n_periods")
        frame = pd.DataFrame({"frequency": x, "recency": tx, "n_periods": n})
        for mask, col, problem in ((x > tx, "frequency", "frequency larger than recency"),
                                   (tx > n, "recency", "recency larger than n_periods"),
                                   ((x > 0) & (tx == 0), "recency", "recency 0 with purchases"),
                                   (x != np.round(x), "frequency", "must be whole numbers")):
            if mask.any():
                raise DataContractError("bgbb summary", col, problem, frame[mask].head(5), int(mask.sum()))
        cols, w = collapse({"x": x, "tx": tx, "n": n}, None if weights is None else as_array(weights, "weights"))
        self._x, self._tx, self._n, self._w = cols["x"], cols["tx"], cols["n"], w
        self.n_customers_ = float(w.sum())
        self._optimise(self._initial(initial_params, (1.0, 1.0, 1.0, 1.0)))
        return self

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray) -> np.ndarray:
        alpha, beta, gamma, delta = params
        alive = betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n) - betaln(gamma, delta)
        max_i = int(np.max(n - tx)) if len(n) else 0
        i = np.arange(max_i)[None, :]
        terms = (betaln(alpha + x[:, None], beta + tx[:, None] - x[:, None] + i) - betaln(alpha, beta)
                 + betaln(gamma + 1, delta + tx[:, None] + i) - betaln(gamma, delta))
        terms = np.where(i < (n - tx)[:, None], terms, -np.inf)
        return logsumexp(np.hstack([alive[:, None], terms]), axis=1)

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.sum(self._w * self._log_likelihood(params, self._x, self._tx, self._n)))

    def conditional_probability_alive(self, m_periods_in_future: int, frequency: Any, recency: Any,
                                      n_periods: Any) -> np.ndarray:
        """P(alive at period n + m | x, t_x, n)."""
        self._check_fitted()
        alpha, beta, gamma, delta = self.params_.to_numpy()
        x, tx, n = (np.asarray(v, float) for v in (frequency, recency, n_periods))
        log_p = (betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n + m_periods_in_future)
                 - betaln(gamma, delta) - self._log_likelihood(self.params_.to_numpy(), np.atleast_1d(x),
                                                               np.atleast_1d(tx), np.atleast_1d(n)))
        return np.clip(np.exp(log_p), 0.0, 1.0)

    def conditional_expected_number_of_purchases_up_to_time(self, m_periods_in_future: int, frequency: Any,
                                                            recency: Any, n_periods: Any) -> np.ndarray:
        """E[X(n, n + m) | x, t_x, n] (Fader, Hardie & Shang 2010, eq. 13)."""
        self._check_fitted()
        alpha, beta, gamma, delta = self.params_.to_numpy()
        x, tx, n = (np.atleast_1d(np.asarray(v, float)) for v in (frequency, recency, n_periods))
        m = m_periods_in_future
        log_l = self._log_likelihood(self.params_.to_numpy(), x, tx, n)
        first = np.exp(betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - log_l)
        scale = np.exp(gammaln_ratio(gamma + delta, 1 + delta))
        term = scale * (np.exp(gammaln_ratio(1 + delta + n, gamma + delta + n))
                        - np.exp(gammaln_ratio(1 + delta + n + m, gamma + delta + n + m)))
        return first * delta / (gamma - 1) * term


def gammaln_ratio(a: Any, b: Any) -> np.ndarray:
    """log Γ(a) − log Γ(b)."""
    from scipy.special import gammaln

    return gammaln(a) - gammaln(b)
