"""Shifted-beta-geometric cohort retention (Fader & Hardie 2007, "How to project customer retention").

Each member of a cohort churns at the end of a period with a constant probability θ, and θ
varies across members as Beta(α, β). Retention then rises with tenure (the fragile leave
first): r(t) = (β + t − 1)/(α + β + t − 1). Fit on a cohort's survival series (or on several
cohorts of different ages at once) and project it forward: the contractual view of WeCom
monthly cohorts.

Valuation (Fader & Hardie 2010, "Customer-base valuation in a contractual setting: the perils
of ignoring heterogeneity", Marketing Science 29(1)): :func:`derl`, the discounted expected
residual lifetime of a member who has renewed n − 1 times, and :func:`retention_elasticity`,
the % change in it when retention rises by 1%. :class:`MultiCohortSBGFitter` fits several
cohorts with their own parameters (or some shared) in one joint likelihood.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln

from .._mle import BaseFitter
from ..errors import DataContractError, ParameterError


# --------------------------------------------------------------------------- valuation
def _hyp2f1_unit(a: int, b: np.ndarray, c: np.ndarray, x: float) -> np.ndarray:
    """Gauss's ₂F₁(a, b; c; x) for a ∈ {1, 2}, 0 ≤ x < 1, by summing its series to convergence.

    Near x = 1 (small discount rates) scipy's ``hyp2f1`` loses up to 2e-4 relative for a = 2;
    the series has positive terms whose ratio tends to x, so it is summed in blocks of terms
    until the geometric bound on the rest is below 1e-15 of the sum.
    """
    b, c = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float))
    shape, b, c = b.shape, b.ravel(), c.ravel()
    total, log_term = np.ones(b.shape), np.zeros(b.shape)
    start, block = 0, 2048
    while True:  # a loop over blocks of series terms, vectorised across the arguments
        k = start + np.arange(block)[:, None]
        log_ratio = np.log((a + k) * (b + k) / ((c + k) * (k + 1)) * x)
        logs = log_term + np.cumsum(log_ratio, axis=0)
        total = total + np.exp(logs).sum(0)
        log_term, last = logs[-1], np.exp(log_ratio[-1])
        start += block
        if np.all(last < 1) and np.all(np.exp(log_term) * last / (1 - last) < 1e-15 * total):
            return total.reshape(shape)
        if start > 50_000_000:
            raise ParameterError("the discount rate is too small for the series to converge; use a larger one")


def _gauss_unit(a: int, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """₂F₁(a, b; c; 1) = Γ(c)Γ(c−a−b)/(Γ(c−a)Γ(c−b)), infinite when c − a − b ≤ 0."""
    b, c = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float))
    out = np.full(b.shape, np.inf)
    ok = c - a - b > 0
    out[ok] = np.exp(gammaln(c[ok]) + gammaln(c[ok] - a - b[ok]) - gammaln(c[ok] - a) - gammaln(c[ok] - b[ok]))
    return out


def _valuation_args(alpha: float, beta: float, discount_rate: float, renewals: Any) -> tuple:
    if not (alpha > 0 and beta > 0):
        raise ParameterError(f"alpha and beta must be positive, got {alpha!r}, {beta!r}")
    if not discount_rate >= 0:
        raise ParameterError(f"discount_rate must be non-negative, got {discount_rate!r}")
    n1 = np.asarray(renewals, float)
    if np.any(n1 < 0):
        raise ParameterError("renewals must be non-negative")
    b = beta + n1  # posterior Beta(α, β + renewals) of θ among those still active
    return b, alpha + b, 1.0 / (1.0 + discount_rate)


def derl(alpha: float, beta: float, discount_rate: float, renewals: Any = 0) -> np.ndarray:
    """Discounted expected residual lifetime of an active sBG member (Fader & Hardie 2010, eq. 6).

    For a member who has renewed ``renewals`` (= n − 1) times and faces the next renewal:
    Σ_{t≥1} P(still active t renewals on | active now)·(1 + d)^{−(t−1)}
    = (β + n − 1)/(α + β + n − 1) · ₂F₁(1, β + n; α + β + n; 1/(1 + d)):
    the expected number of further periods, each discounted, the first undiscounted.
    Multiply by the margin per period for the member's residual value. With d = 0 it is the
    undiscounted expected residual lifetime, infinite unless α > 1.

    Examples
    --------
    >>> [round(float(v), 2) for v in derl(3.80, 15.20, 0.10, renewals=[0, 1, 2, 3, 4])]
    [3.31, 3.45, 3.59, 3.72, 3.84]
    """
    b, c, x = _valuation_args(alpha, beta, discount_rate, renewals)
    f = _gauss_unit(1, b + 1, c + 1) if x == 1.0 else _hyp2f1_unit(1, b + 1, c + 1, x)
    return b / c * f


def retention_elasticity(alpha: float, beta: float, discount_rate: float, renewals: Any = 0) -> np.ndarray:
    """The % increase in :func:`derl` from a 1% increase in retention (the limit of small increases).

    Raising every member's retention probability 1 − θ by 1% — equivalently every future
    retention rate of the cohort by 1% — multiplies the chance of surviving t more renewals
    by 1.01^t, so the elasticity is E[Σ t·p^t x^{t−1}] / E[Σ p^t x^{t−1}] over the active
    members' p = 1 − θ ~ Beta(β + n − 1, α), x = 1/(1 + d); in closed form
    ₂F₁(2, β + n; α + β + n; x) / ₂F₁(1, β + n; α + β + n; x). It is the DERL-weighted mean of
    the members' own elasticities 1/(1 − p·x), so it exceeds the elasticity 1/(1 − r̄·x) of a
    homogeneous cohort with the same mean retention (Fader & Hardie 2010's point).

    Examples
    --------
    >>> round(float(retention_elasticity(3.80, 15.20, 0.10)), 3)
    4.516
    """
    b, c, x = _valuation_args(alpha, beta, discount_rate, renewals)
    if x == 1.0:
        return _gauss_unit(2, b + 1, c + 1) / _gauss_unit(1, b + 1, c + 1)
    return _hyp2f1_unit(2, b + 1, c + 1, x) / _hyp2f1_unit(1, b + 1, c + 1, x)


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
            blocks.extend(_cohort_blocks(cohorts).values())
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

    def derl(self, discount_rate: float, renewals: Any = 0) -> np.ndarray:
        """:func:`derl` at the fitted parameters (a member who has renewed ``renewals`` times)."""
        self._check_fitted()
        return derl(float(self.params_["alpha"]), float(self.params_["beta"]), discount_rate, renewals)

    def retention_elasticity(self, discount_rate: float, renewals: Any = 0) -> np.ndarray:
        """:func:`retention_elasticity` at the fitted parameters."""
        self._check_fitted()
        return retention_elasticity(float(self.params_["alpha"]), float(self.params_["beta"]), discount_rate,
                                    renewals)

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        return _sbg_gradient(params[0], params[1], self._blocks)


def _sbg_gradient(alpha: float, beta: float, blocks: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Gradient of the negative sBG log-likelihood of ``blocks`` in (α, β) (digamma differences)."""
    g = np.zeros(2)
    for lost, alive in blocks:
        t = np.arange(1, len(lost) + 1)
        k = len(lost)
        # d/dα, d/dβ of log B(α+1, β+t−1) − log B(α, β) and log B(α, β+k) − log B(α, β)
        base_a, base_b = digamma(alpha) - digamma(alpha + beta), digamma(beta) - digamma(alpha + beta)
        da_p = digamma(alpha + 1) - digamma(alpha + beta + t) - base_a
        db_p = digamma(beta + t - 1) - digamma(alpha + beta + t) - base_b
        da_s = digamma(alpha) - digamma(alpha + beta + k) - base_a
        db_s = digamma(beta + k) - digamma(alpha + beta + k) - base_b
        g -= np.array([lost @ da_p + alive * da_s, lost @ db_p + alive * db_s])
    return g


def _cohort_blocks(cohorts: pd.DataFrame) -> dict[Any, tuple[np.ndarray, float]]:
    """Per cohort: lost per period 1..k and alive at the end, from ``cohort``, ``period``, ``n_alive`` rows."""
    missing = [c for c in ("cohort", "period", "n_alive") if c not in cohorts.columns]
    if missing:
        raise DataContractError("cohorts", missing[0], "required column is missing")
    blocks = {}
    for key, g in cohorts.sort_values(["cohort", "period"]).groupby("cohort"):  # a loop over cohorts
        alive = g["n_alive"].to_numpy(float)
        if g["period"].iloc[0] != 0 or np.any(np.diff(g["period"].to_numpy()) != 1):
            raise DataContractError("cohorts", "period", f"cohort {key!r} needs periods 0, 1, 2, … without gaps",
                                    g.head())
        blocks[key] = _cohort_counts(alive, alive[0])
    return blocks


class MultiCohortSBGFitter(BaseFitter):
    """Several cohorts' sBG models in one joint likelihood: per-cohort (α, β), or some shared.

    Parameters
    ----------
    shared : sequence of {"alpha", "beta"}
        Parameters common to all cohorts. With nothing shared the joint log-likelihood is the
        sum of the cohorts' own, each term depending only on its cohort's parameters, so the
        estimates, standard errors and total log-likelihood equal separate
        :class:`ShiftedBetaGeometricFitter` fits (the joint fit's use is comparing cohorts with
        one covariance matrix, and a likelihood-ratio test against ``shared``); with both
        shared it is the pooled fit of ``ShiftedBetaGeometricFitter().fit(cohorts=...)``.
    penalizer_coef : float
        L2 penalty on the parameters (as the other fitters).

    Attributes
    ----------
    params_ : Series
        Indexed ``alpha[<cohort>]``, ``beta[<cohort>]`` (or plain ``alpha``/``beta`` when shared).
    cohort_params_ : DataFrame
        One row per cohort: ``cohort``, ``alpha``, ``beta``, ``n`` (cohort size), ``periods``.

    Examples
    --------
    >>> frame = pd.DataFrame({"cohort": ["a"] * 4 + ["b"] * 3, "period": [0, 1, 2, 3, 0, 1, 2],
    ...                       "n_alive": [1000, 631, 468, 382, 1000, 869, 743]})
    >>> m = MultiCohortSBGFitter().fit(frame)
    >>> m.params_.index.tolist()
    ['alpha[a]', 'beta[a]', 'alpha[b]', 'beta[b]']
    """

    def __init__(self, shared: Any = (), penalizer_coef: float = 0.0) -> None:
        super().__init__(penalizer_coef)
        self.shared = [shared] if isinstance(shared, str) else list(shared)
        if set(self.shared) - {"alpha", "beta"}:
            raise ParameterError(f"shared takes 'alpha' and/or 'beta', got {self.shared!r}")

    def fit(self, cohorts: pd.DataFrame, initial_params: Any = None) -> MultiCohortSBGFitter:
        """Fit on ``cohorts`` (``cohort``, ``period`` from 0, ``n_alive``); returns ``self``."""
        blocks = _cohort_blocks(cohorts)
        self._keys, self._blocks = list(blocks), list(blocks.values())
        names, index = [], np.zeros((len(self._keys), 2), np.intp)
        for j, name in enumerate(("alpha", "beta")):
            for i, key in enumerate(self._keys):
                label = name if name in self.shared else f"{name}[{key}]"
                if label not in names:
                    names.append(label)
                index[i, j] = names.index(label)
        # shared parameters first, then alpha[a], beta[a], alpha[b], … in cohort order
        pos = {f"{n}[{key}]": (1, i, n) for i, key in enumerate(self._keys) for n in ("alpha", "beta")}
        order = sorted(range(len(names)), key=lambda i: pos.get(names[i], (0, 0, names[i])))
        names = [names[i] for i in order]
        remap = np.argsort(order)
        self._param_names, self._index = names, remap[index]
        self.n_customers_ = float(sum(b[0].sum() + b[1] for b in self._blocks))
        self._optimise(self._initial(initial_params, np.ones(len(names))))
        p = self.params_.to_numpy()
        self.cohort_params_ = pd.DataFrame({
            "cohort": self._keys, "alpha": p[self._index[:, 0]], "beta": p[self._index[:, 1]],
            "n": [b[0].sum() + b[1] for b in self._blocks], "periods": [len(b[0]) for b in self._blocks]})
        return self

    def _negative_ll(self, params: np.ndarray) -> float:
        total = 0.0
        for (lost, alive), (ia, ib) in zip(self._blocks, self._index, strict=True):
            alpha, beta = params[ia], params[ib]
            t = np.arange(1, len(lost) + 1)
            log_p = betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta)
            log_s = betaln(alpha, beta + len(lost)) - betaln(alpha, beta)
            total += float(np.sum(lost * log_p) + alive * log_s)
        return -total

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        g = np.zeros(len(params))
        for block, (ia, ib) in zip(self._blocks, self._index, strict=True):
            ga, gb = _sbg_gradient(params[ia], params[ib], [block])
            g[ia] += ga
            g[ib] += gb
        return g

    def cohort_model(self, cohort: Any) -> ShiftedBetaGeometricFitter:
        """One cohort's fitted model (its projections, :meth:`~ShiftedBetaGeometricFitter.derl`, …)."""
        self._check_fitted()
        row = self.cohort_params_[self.cohort_params_["cohort"] == cohort]
        if row.empty:
            raise ParameterError(f"no cohort {cohort!r} in the fit (cohorts: {self._keys})")
        model = ShiftedBetaGeometricFitter()
        model.params_ = pd.Series([float(row["alpha"].iloc[0]), float(row["beta"].iloc[0])],
                                  index=["alpha", "beta"], name="coef")
        return model
