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

from .beta_geo import _BetaGeoFamily, _simulate_family


def _log_dropout_odds(r: float, alpha: float, a: float, b: float, x: np.ndarray, tx: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """Z = log[a/(b+x)] + (r+x)·[log(α+T) − log(α+t_x)]: log P(dead)/P(alive), finite for every x."""
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))


class ModifiedBetaGeoFitter(_BetaGeoFamily):
    """MBG/NBD model (r, alpha, a, b) on frequency (repeat purchases), recency and T.

    ``fit`` collapses identical (frequency, recency, T) rows into weights (``weights`` takes
    rows that are already collapsed, e.g. from :func:`~workbench.clv.collapse_rfm`). The
    likelihood has an analytic gradient; the fit runs L-BFGS-B and a Newton polish on the
    log parameters (:class:`~workbench._mle.BaseFitter`). The likelihood, P(alive) and the
    expectations are BG/NBD's with one more drop-out chance, at the first purchase
    (:class:`~workbench.clv.beta_geo._BetaGeoFamily`).

    Examples
    --------
    >>> d = simulate_modified_beta_geo(4000, r=0.5, alpha=6.0, a=0.9, b=1.6, T=39.0, seed=1)
    >>> m = ModifiedBetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> m.params_.round(1).to_dict()
    {'r': 0.5, 'alpha': 5.4, 'a': 0.9, 'b': 1.5}
    >>> float(m.conditional_probability_alive(0, 0.0, 39.0).round(3)) < 1.0  # x = 0 can be dead
    True
    """

    _first_dropout = 1
    _dropout_odds = staticmethod(_log_dropout_odds)

    def _default_start(self, scale: float) -> tuple[float, ...]:
        return (0.5, scale / 4, 1.0, 1.0)

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        return -(self._gradient_rows(params, self._x, self._tx, self._T) @ self._w)


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
    return _simulate_family(n_customers, r, alpha, a, b, T, seed, first_dropout=1)
