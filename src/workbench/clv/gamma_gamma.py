"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV").

Each transaction's value z ~ Gamma(p, ν) around the customer's mean p/ν, with
ν ~ Gamma(q, γ) across customers. Fit on repeat buyers (frequency > 0) with their mean
repeat-transaction value; assumes spend independent of frequency.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from ._base import BaseFitter, as_array, collapse
from ..errors import DataContractError


class GammaGammaFitter(BaseFitter):
    """Gamma-Gamma model with parameters p, q, v (γ).

    Examples
    --------
    >>> import numpy as np
    >>> gg = GammaGammaFitter().fit(np.array([1, 2, 5, 3]), np.array([20.0, 35.0, 25.0, 40.0]))
    >>> list(gg.params_.index)
    ['p', 'q', 'v']
    """

    _param_names = ("p", "q", "v")

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None,
            initial_params: Any = None) -> "GammaGammaFitter":
        x, m = as_array(frequency, "frequency"), as_array(monetary_value, "monetary_value")
        frame = pd.DataFrame({"frequency": x, "monetary_value": m})
        for mask, col, problem in ((x <= 0, "frequency", "Gamma-Gamma needs repeat buyers only (frequency > 0)"),
                                   (m <= 0, "monetary_value", "monetary value must be positive")):
            if mask.any():
                raise DataContractError("rfm summary", col, problem, frame[mask].head(5), int(mask.sum()))
        cols, w = collapse({"x": x, "m": m}, None if weights is None else as_array(weights, "weights"))
        self._x, self._m, self._w = cols["x"], cols["m"], w
        self.n_customers_ = float(w.sum())
        self._optimise(self._initial(initial_params, (1.0, 1.0, float(np.average(m)))))
        return self

    def _negative_ll(self, params: np.ndarray) -> float:
        p, q, v = params
        x, m = self._x, self._m
        ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
              + p * x * np.log(x) - (p * x + q) * np.log(v + m * x))
        return -float(np.sum(self._w * ll))

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        p, q, v = params
        x, m, w = self._x, self._m, self._w
        common = digamma(p * x + q)
        d_p = x * (common - digamma(p * x) + np.log(m) + np.log(x) - np.log(v + m * x))
        d_q = common - digamma(q) + np.log(v) - np.log(v + m * x)
        d_v = q / v - (p * x + q) / (v + m * x)
        return -np.array([np.sum(w * d_p), np.sum(w * d_q), np.sum(w * d_v)])

    def conditional_expected_average_profit(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[spend | x, m̄]: a weighted mean of the population mean and the customer's own mean.

        Customers with no repeat purchase get the population mean ``p·v/(q−1)``.
        """
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        x, m = np.broadcast_arrays(np.asarray(frequency, float), np.asarray(monetary_value, float))
        population = p * v / (q - 1)
        weight = p * x / (p * x + q - 1)
        return np.where(x > 0, (1 - weight) * population + weight * m, population)

    @property
    def population_mean_spend(self) -> float:
        p, q, v = self.params_.to_numpy()
        return float(p * v / (q - 1))
