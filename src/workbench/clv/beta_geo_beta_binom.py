"""BG/BB model for discrete purchase opportunities.

BG/BB: the beta-geometric / beta-binomial model for discrete opportunities
(Fader, Hardie & Shang 2010, "Customer-base analysis in a discrete-time noncontractual setting").

At each of ``n`` opportunities (periods) an alive customer transacts with probability
p ~ Beta(α, β) and, at the end of the period, dies with probability θ ~ Beta(γ, δ).
A history is summarised by frequency x (periods with a transaction), recency t_x (the
last such period, 0 if none) and n. Everything is computed in log space with ``betaln``
and ``logsumexp``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln, logsumexp

from ..errors import DataContractError
from ._base import RowsFitter, as_array, broadcast_rows, check_lengths, check_nonnegative, check_weights


def _log_choose(n: Any, k: Any) -> np.ndarray:
    return gammaln(np.asarray(n, float) + 1) - gammaln(np.asarray(k, float) + 1) - gammaln(
        np.asarray(n, float) - np.asarray(k, float) + 1)


class BetaGeoBetaBinomFitter(RowsFitter):
    """BG/BB model (alpha, beta, gamma, delta) on (frequency, recency, n_periods).

    Examples
    --------
    >>> import numpy as np
    >>> m = BetaGeoBetaBinomFitter().fit([0, 1, 2, 3, 6, 2], [0, 1, 4, 5, 6, 2], [6] * 6,
    ...                                  weights=[50, 20, 10, 8, 5, 6])
    >>> list(m.params_.index)
    ['alpha', 'beta', 'gamma', 'delta']
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _columns = ("_x", "_tx", "_n")

    def fit(self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None,
            initial_params: Any = None) -> BetaGeoBetaBinomFitter:
        """Maximum-likelihood fit; returns ``self``.

        Raises
        ------
        DataContractError
            NaN, negative or fractional values; frequency > recency; recency > n_periods;
            recency 0 with purchases or recency > 0 without.
        """
        x, tx, n = (as_array(v, name) for v, name in ((frequency, "frequency"), (recency, "recency"),
                                                       (n_periods, "n_periods")))
        check_lengths(frequency=x, recency=tx, n_periods=n)
        for arr, name in ((x, "frequency"), (tx, "recency"), (n, "n_periods")):
            check_nonnegative(arr, name, "bgbb summary")
        frame = pd.DataFrame({"frequency": x, "recency": tx, "n_periods": n}).rename_axis("row").reset_index()
        whole = (x == np.round(x)) & (tx == np.round(tx)) & (n == np.round(n))
        for mask, col, problem in ((~whole, "frequency", "frequency, recency and n_periods must be whole numbers"),
                                   (x > tx, "frequency", "frequency larger than recency"),
                                   (tx > n, "recency", "recency larger than n_periods"),
                                   ((x > 0) & (tx == 0), "recency", "recency 0 with purchases"),
                                   ((x == 0) & (tx > 0), "recency", "recency > 0 with frequency 0")):
            if mask.any():
                raise DataContractError("bgbb summary", col, problem, frame[mask].head(5), int(mask.sum()))
        w = check_weights(weights, len(x))
        cols = self._set_data(w, x=x, tx=tx, n=n)
        self._x, self._tx, self._n = cols["x"], cols["tx"], cols["n"]
        self._optimise(self._initial(initial_params, (1.0, 1.0, 1.0, 1.0)))
        return self

    # ------------------------------------------------------------------ likelihood
    @staticmethod
    def _log_alive_part(params: np.ndarray, x: np.ndarray, n: np.ndarray, extra: Any = 0) -> np.ndarray:
        """Log P(x transactions in n periods and alive after n + extra)."""
        alpha, beta, gamma, delta = params
        return (betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n + extra)
                - betaln(gamma, delta))

    @classmethod
    def _log_likelihood(cls, params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray) -> np.ndarray:
        alpha, beta, gamma, delta = params
        x, tx, n = (np.atleast_1d(np.asarray(v, float)) for v in (x, tx, n))
        alive = cls._log_alive_part(params, x, n)
        width = int(np.max(n - tx)) if len(n) else 0
        if width == 0:
            return alive
        i = np.arange(width)[None, :]
        # died after period t_x + i + 1 (i = 0 .. n − t_x − 1), having bought x times by t_x
        died = (betaln(alpha + x[:, None], beta + tx[:, None] - x[:, None] + i) - betaln(alpha, beta)
                + betaln(gamma + 1, delta + tx[:, None] + i) - betaln(gamma, delta))
        died = np.where(i < (n - tx)[:, None], died, -np.inf)
        return logsumexp(np.hstack([alive[:, None], died]), axis=1)

    def log_likelihood_rows(self, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters, in the broadcast shape of the inputs."""
        return self._rows_log_likelihood(frequency, recency, n_periods)

    # ------------------------------------------------------------------ predictions
    def conditional_probability_alive(self, frequency: Any, recency: Any, n_periods: Any,
                                      m_periods_in_future: int = 0) -> np.ndarray:
        """P(alive after period n + m | x, t_x, n); m = 0 is "alive at the end of the data"."""
        self._check_fitted()
        p = self.params_.to_numpy()
        x, tx, n = broadcast_rows(frequency, recency, n_periods)
        log_p = self._log_alive_part(p, x.ravel(), n.ravel(), m_periods_in_future) - self._log_likelihood(
            p, x.ravel(), tx.ravel(), n.ravel())
        return np.clip(np.exp(log_p), 0.0, 1.0).reshape(x.shape)

    def _future_rate(self, n: np.ndarray, m: Any) -> np.ndarray:
        """δ/(γ−1) · Γ(γ+δ)/Γ(1+δ) · [Γ(1+δ+n)/Γ(γ+δ+n) − Γ(1+δ+n+m)/Γ(γ+δ+n+m)], in log space."""
        _, _, gamma, delta = self.params_.to_numpy()
        g1 = gamma - 1 if abs(gamma - 1) > 1e-10 else 1e-10
        lead = gammaln(1 + delta + n) - gammaln(gamma + delta + n)
        later = gammaln(1 + delta + n + m) - gammaln(gamma + delta + n + m)
        return delta / g1 * np.exp(gammaln(gamma + delta) - gammaln(1 + delta) + lead) * -np.expm1(later - lead)

    def conditional_expected_number_of_purchases_up_to_time(self, m_periods_in_future: Any, frequency: Any,
                                                            recency: Any, n_periods: Any) -> np.ndarray:
        """E[X(n, n + m) | x, t_x, n]: transactions in the next m periods (FHS 2010, eq. 13)."""
        self._check_fitted()
        alpha, beta, gamma, delta = p = self.params_.to_numpy()
        m, x, tx, n = broadcast_rows(m_periods_in_future, frequency, recency, n_periods)
        shape = x.shape
        m, x, tx, n = m.ravel(), x.ravel(), tx.ravel(), n.ravel()
        lead = np.exp(betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - self._log_likelihood(p, x, tx, n))
        return (lead * self._future_rate(n, m)).reshape(shape)

    def expected_number_of_purchases_up_to_time(self, n_periods: Any) -> np.ndarray:
        """E[X(n)]: expected transactions of a new customer in the first n periods (FHS 2010, eq. 9)."""
        self._check_fitted()
        alpha, beta, _, _ = self.params_.to_numpy()
        n = np.asarray(n_periods, float)
        return alpha / (alpha + beta) * self._future_rate(np.zeros(n.shape), n)

    def probability_of_n_purchases_up_to_time(self, n_periods: int, n: int) -> float:
        """P(X(n_periods) = n) for a new customer (FHS 2010, eq. 7)."""
        self._check_fitted()
        alpha, beta, gamma, delta = self.params_.to_numpy()
        periods, x = int(n_periods), int(n)
        if x < 0 or x > periods:
            return 0.0
        first = (_log_choose(periods, x) + betaln(alpha + x, beta + periods - x) - betaln(alpha, beta)
                 + betaln(gamma, delta + periods) - betaln(gamma, delta))
        i = np.arange(x, periods)
        rest = (_log_choose(i, x) + betaln(alpha + x, beta + i - x) - betaln(alpha, beta)
                + betaln(gamma + 1, delta + i) - betaln(gamma, delta))
        return float(np.exp(logsumexp(np.r_[first, rest])))
