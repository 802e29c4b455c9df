"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013).

Each transaction's value z ~ Gamma(p, ν) around the customer's mean p/ν, with
ν ~ Gamma(q, γ) across customers. The model is fitted on repeat buyers (frequency > 0)
with ``monetary_value`` = the mean value of their *repeat* purchases (the first purchase
is left out, as in the published CDNOW fit p = 6.25, q = 3.74, γ = 15.44), and assumes
spend independent of purchase frequency.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from ._base import BaseFitter, as_array, check_lengths, check_weights
from ..errors import DataContractError, ParameterError


class GammaGammaFitter(BaseFitter):
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
            initial_params: Any = None) -> "GammaGammaFitter":
        """Fit on repeat buyers; returns ``self``.

        Raises
        ------
        DataContractError
            Frequency 0 (not a repeat buyer), non-positive or non-finite monetary value.
        ConvergenceError
            When the spend data do not identify the model (e.g. identical spends).
        """
        x, m = as_array(frequency, "frequency"), as_array(monetary_value, "monetary_value")
        check_lengths(frequency=x, monetary_value=m)
        frame = pd.DataFrame({"frequency": x, "monetary_value": m}).rename_axis("row").reset_index()
        for mask, col, problem in ((x <= 0, "frequency", "Gamma-Gamma needs repeat buyers only (frequency > 0)"),
                                   (m <= 0, "monetary_value", "monetary value must be positive")):
            if mask.any():
                raise DataContractError("rfm summary", col, problem, frame[mask].head(5), int(mask.sum()))
        w = check_weights(weights, len(x))
        cols = self._set_data(w, x=x, m=m)
        self._x, self._m = cols["x"], cols["m"]
        self._optimise(self._initial(initial_params, (1.0, 1.0, float(np.average(self._m, weights=self._w)))))
        return self

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, v = params
        px = p * x
        return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
                + px * np.log(x) - (px + q) * np.log(v + m * x))

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.sum(self._w * self._log_likelihood(params, self._x, self._m)))

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        p, q, v = params
        x, m, w = self._x, self._m, self._w
        common = digamma(p * x + q)
        log_vmx = np.log(v + m * x)
        d_p = x * (common - digamma(p * x) + np.log(m) + np.log(x) - log_vmx)
        d_q = common - digamma(q) + np.log(v) - log_vmx
        d_v = q / v - (p * x + q) / (v + m * x)
        # plain sums, not BLAS dot products: BLAS threads contend on small shared machines
        return -np.array([np.sum(w * d) for d in (d_p, d_q, d_v)])

    def conditional_expected_average_profit(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[mean spend | x, m̄] = (1 − w)·p·v/(q−1) + w·m̄ with w = p·x/(p·x + q − 1).

        A credibility-weighted mean of the population mean and the customer's own mean;
        customers without a repeat purchase get the population mean.
        """
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        x, m = np.broadcast_arrays(np.asarray(frequency, float), np.asarray(monetary_value, float))
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
