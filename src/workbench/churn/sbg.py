"""Shifted-beta-geometric cohort retention (Fader & Hardie 2007, "How to project customer retention").

Each member of a cohort churns at the end of a period with a constant probability θ, and θ
varies across members as Beta(α, β). Retention then rises with tenure (the fragile leave
first): r(t) = (β + t − 1)/(α + β + t − 1). Fit on a cohort's survival series (or on several
cohorts of different ages at once) and project it forward: the contractual view of WeCom
monthly cohorts.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln

from .._mle import BaseFitter
from ..errors import DataContractError, ParameterError


def _cohort_counts(survival: np.ndarray, n: float) -> tuple[np.ndarray, float]:
    """Lost per period 1..k and alive at the end, from a survival series starting at 1 (or 100)."""
    s = np.asarray(survival, float)
    if s[0] <= 0:
        raise DataContractError("survival", None, "the series must start with the cohort size share (1 or 100)")
    s = s / s[0]
    if np.any(np.diff(s) > 1e-12) or np.any(s < 0):
        raise DataContractError("survival", None, "survival must be non-increasing and non-negative",
                                pd.DataFrame({"period": np.arange(len(s)), "survival": s}))
    return -np.diff(s) * n, s[-1] * n


class ShiftedBetaGeometricFitter(BaseFitter):
    """sBG model of cohort retention (alpha, beta).

    Examples
    --------
    >>> m = ShiftedBetaGeometricFitter().fit(survival=[100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], n=1000)
    >>> round(float(m.params_["alpha"]), 3), round(float(m.params_["beta"]), 3)
    (0.704, 1.182)
    """

    _param_names = ("alpha", "beta")

    def fit(self, survival: Any = None, n: float = 1000.0, lost: Any = None, alive_at_end: Any = None,
            cohorts: pd.DataFrame | None = None, initial_params: Any = None) -> ShiftedBetaGeometricFitter:
        """Fit the shifted-beta-geometric model.

        Fit on one survival series (``survival`` with cohort size ``n``), on counts
        (``lost`` per period 1..k and ``alive_at_end``), or on several cohorts (``cohorts``:
        a frame with ``cohort``, ``period`` (0 = start) and ``n_alive``).
        """
        blocks: list[tuple[np.ndarray, float]] = []
        if cohorts is not None:
            missing = [c for c in ("cohort", "period", "n_alive") if c not in cohorts.columns]
            if missing:
                raise DataContractError("cohorts", missing[0], "required column is missing")
            for key, g in cohorts.sort_values(["cohort", "period"]).groupby("cohort"):
                alive = g["n_alive"].to_numpy(float)
                if g["period"].iloc[0] != 0 or np.any(np.diff(g["period"].to_numpy()) != 1):
                    raise DataContractError("cohorts", "period",
                                            f"cohort {key!r} needs periods 0, 1, 2, … without gaps", g.head())
                blocks.append(_cohort_counts(alive, alive[0]))
        elif survival is not None:
            blocks.append(_cohort_counts(np.asarray(survival, float), float(n)))
        elif lost is not None and alive_at_end is not None:
            blocks.append((np.asarray(lost, float), float(alive_at_end)))
        else:
            raise ParameterError("give survival (with n), lost and alive_at_end, or cohorts")
        self._blocks = blocks
        self.n_customers_ = float(sum(b[0].sum() + b[1] for b in blocks))
        self._optimise(self._initial(initial_params, (1.0, 1.0)))
        return self

    def _negative_ll(self, params: np.ndarray) -> float:
        alpha, beta = params
        total = 0.0
        for lost, alive in self._blocks:
            t = np.arange(1, len(lost) + 1)
            log_p = betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta)
            log_s = betaln(alpha, beta + len(lost)) - betaln(alpha, beta)
            total += float(np.sum(lost * log_p) + alive * log_s)
        return -total

    def survival_function(self, periods: Any) -> np.ndarray:
        """S(t): share of a cohort still active after t periods."""
        self._check_fitted()
        alpha, beta = self.params_.to_numpy()
        t = np.asarray(periods, float)
        return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))

    def retention_rate(self, periods: Any) -> np.ndarray:
        """r(t) = S(t)/S(t−1) for t >= 1."""
        self._check_fitted()
        alpha, beta = self.params_.to_numpy()
        t = np.asarray(periods, float)
        return (beta + t - 1) / (alpha + beta + t - 1)

    def churn_probability(self, periods: Any) -> np.ndarray:
        """P(T = t): share of the cohort churning at period t (t >= 1)."""
        self._check_fitted()
        alpha, beta = self.params_.to_numpy()
        t = np.asarray(periods, float)
        return np.exp(betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta))

    def project(self, n_periods: int) -> pd.DataFrame:
        """Survival and retention for periods 0..n_periods."""
        t = np.arange(0, n_periods + 1)
        return pd.DataFrame({"period": t, "survival": self.survival_function(t),
                             "retention": np.r_[np.nan, self.retention_rate(t[1:])]})

    def expected_lifetime(self, horizon: int = 1000) -> float:
        """Expected number of periods survived (sum of S(t), truncated at ``horizon``)."""
        return float(self.survival_function(np.arange(0, horizon)).sum())
