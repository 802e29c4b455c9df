"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), likelihood as in Fader & Hardie (2005).

While alive a customer buys at rate λ ~ Gamma(r, α); lifetimes are exponential with rate
μ ~ Gamma(s, β). The likelihood of (x, t_x, T) is

    Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A0 ],

where ``A0`` is a difference of two Gauss hypergeometric terms 2F1(r+s+x, ·; r+s+x+1; z).
Raw, those terms overflow for frequent buyers (x = 500 raises (α+t)^(r+s+x) beyond
floating point). Here each term is taken through Euler's transformation to
``(1−z)^k · 2F1(1, b; c; z)`` with ``c > b > 0``: a series of positive terms whose value
lies between 1 and 1/(1−z), summed in log space — no overflow and no cancellation. The
difference of the two terms is formed as ``log(e^u − e^v) = u + log(−expm1(v − u))``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, gammaln, hyp2f1, logsumexp, roots_legendre

from .._mle import BaseFitter
from ._base import as_array, check_rfm, check_weights

#: below this z the series is summed directly (≤ ~370 terms to reach 1e-17); above it the
#: bounded Euler form is handed to scipy, whose value is then at most 1/(1−z)
_SERIES_MAX_Z = 0.9
_GL_NODES, _GL_WEIGHTS = roots_legendre(96)


def log_hyp2f1_unit_a(b: np.ndarray, c: np.ndarray, z: np.ndarray, tol: float = 1e-17) -> np.ndarray:
    """Log 2F1(1, b; c; z) for c > b > 0 and 0 <= z < 1.

    Term ratios ``(b+n)/(c+n) · z`` are below z, so the positive series converges at least
    geometrically; it is accumulated relative to its first term (1) and so cannot overflow.
    """
    b, c, z = (np.asarray(v, float) for v in np.broadcast_arrays(b, c, z))
    out = np.empty(z.shape)
    small = z <= _SERIES_MAX_Z
    if small.any():
        bs, cs, zs = b[small], c[small], z[small]
        total, term = np.ones(zs.shape), np.ones(zs.shape)
        active = np.flatnonzero(zs > 0)
        n = 0
        while active.size:
            term[active] *= (bs[active] + n) / (cs[active] + n) * zs[active]
            total[active] += term[active]
            active = active[term[active] > tol * total[active]]
            n += 1
        out[small] = np.log(total)
    if (~small).any():
        out[~small] = np.log(hyp2f1(1.0, b[~small], c[~small], z[~small]))
    return out


def _log_a0(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Log A0 of the likelihood (−inf where t_x = T: no time to have died unseen)."""
    r, alpha, s, beta = params
    rsx = r + s + x
    if alpha >= beta:
        big, b, k = alpha, r + x, -s
    else:
        big, b, k = beta, np.full(x.shape, s + 1.0), 1 - r - x
    both_t = np.concatenate([tx, T])
    log_big_t = np.log(big + both_t)
    z = np.minimum(np.abs(alpha - beta) / (big + both_t), 1 - 1e-15)
    # log(1 − z) taken exactly as log((min(α, β) + t) / (max(α, β) + t)): no cancellation near z = 1
    with np.errstate(divide="ignore"):
        log_1mz = np.log(min(alpha, beta) + both_t) - log_big_t
    # 2F1(r+s+x, ·; r+s+x+1; z) = (1−z)^k · 2F1(1, b; r+s+x+1; z)    (Euler)
    with np.errstate(invalid="ignore"):
        log_terms = (np.concatenate([k, k]) if np.ndim(k) else k) * log_1mz \
            + log_hyp2f1_unit_a(np.concatenate([b, b]), np.concatenate([rsx, rsx]) + 1, z) \
            - np.concatenate([rsx, rsx]) * log_big_t
    l_tx, l_T = log_terms[: len(x)], log_terms[len(x):]
    with np.errstate(divide="ignore"):
        return l_tx + np.log(-np.expm1(np.minimum(l_T - l_tx, 0.0)))


def _one_minus_ratio_power_over(k: Any, ratio_log: Any) -> np.ndarray:
    """[1 − exp(−k·L)] / k with L = ``ratio_log`` > 0; its limit L at k = 0."""
    k = np.asarray(k, float)
    safe_k = np.where(np.abs(k) > 1e-12, k, 1.0)
    return np.where(np.abs(k) > 1e-12, -np.expm1(-k * ratio_log) / safe_k, ratio_log)


class ParetoNBDFitter(BaseFitter):
    """Pareto/NBD model (r, alpha, s, beta); same interface as :class:`~workbench.clv.BetaGeoFitter`.

    Examples
    --------
    >>> from workbench.clv.beta_geo import simulate_beta_geo
    >>> d = simulate_beta_geo(3000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> m = ParetoNBDFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> list(m.params_.index)
    ['r', 'alpha', 's', 'beta']
    >>> bool(0 <= m.conditional_probability_alive(500, 38.9, 39.0) <= 1)
    True
    """

    _param_names = ("r", "alpha", "s", "beta")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> ParetoNBDFitter:
        """Maximum-likelihood fit; returns ``self`` (errors as :meth:`BetaGeoFitter.fit`)."""
        x, tx, T_ = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
        check_rfm(x, tx, T_)
        w = check_weights(weights, len(x))
        cols = self._set_data(w, x=x, tx=tx, T=T_)
        self._x, self._tx, self._T = cols["x"], cols["tx"], cols["T"]
        scale = max(float(np.average(self._T, weights=self._w)), 1.0)
        self._optimise(self._initial(initial_params, (0.5, scale / 4, 0.5, scale)))
        return self

    # ------------------------------------------------------------------ likelihood
    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        x, tx, T = (np.atleast_1d(np.asarray(v, float)) for v in (x, tx, T))
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        died = np.log(s) - np.log(r + s + x) + _log_a0(params, x, tx, T)
        return head + np.logaddexp(alive, died)

    def _negative_ll(self, params: np.ndarray) -> float:
        return -float(np.sum(self._w * self._log_likelihood(params, self._x, self._tx, self._T)))

    def log_likelihood_rows(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        self._check_fitted()
        x, tx, T_ = np.broadcast_arrays(*(np.asarray(v, float) for v in (frequency, recency, T)))
        return self._log_likelihood(self.params_.to_numpy(), x.ravel(), tx.ravel(), T_.ravel()).reshape(x.shape)

    # ------------------------------------------------------------------ predictions
    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0), in [0, 1]."""
        self._check_fitted()
        p = self.params_.to_numpy()
        r, alpha, s, beta = p
        x, tx, T_ = np.broadcast_arrays(*(np.asarray(v, float) for v in (frequency, recency, T)))
        shape = x.shape
        x, tx, T_ = x.ravel(), tx.ravel(), T_.ravel()
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T_) + s * np.log(beta + T_)
                    + _log_a0(p, x, tx, T_))
        return expit(-log_odds).reshape(shape)

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any,
                                                            T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T] = (r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive)."""
        self._check_fitted()
        r, alpha, s, beta = self.params_.to_numpy()
        t, x, tx, T_ = np.broadcast_arrays(*(np.asarray(v, float) for v in (t, frequency, recency, T)))
        rate = (r + x) * (beta + T_) / (alpha + T_) * _one_minus_ratio_power_over(s - 1, np.log1p(t / (beta + T_)))
        return rate * self.conditional_probability_alive(x, tx, T_)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """E[X(t)] = rβ/(α(s−1)) [1 − (β/(β+t))^(s−1)] for a customer just acquired."""
        self._check_fitted()
        r, alpha, s, beta = self.params_.to_numpy()
        t = np.asarray(t, float)
        return r * beta / alpha * _one_minus_ratio_power_over(s - 1, np.log1p(t / beta))

    def probability_of_n_purchases_up_to_time(self, t: Any, n: int) -> np.ndarray:
        """P(X(t) = n) for a customer just acquired; vectorised over ``t``.

        P = NB(n; r, α, t) · (β/(β+t))^s  (alive throughout)
          + ∫₀ᵗ NB(n; r, α, τ) · s β^s (β+τ)^-(s+1) dτ  (died at τ after n purchases),

        the integral by 96-point Gauss-Legendre in ``u = log(1 + τ/c)`` (c the smaller of
        α, β and t), which resolves both the early rise and the long tail.
        """
        self._check_fitted()
        r, alpha, s, beta = self.params_.to_numpy()
        n = int(n)
        shape = np.shape(t)
        t = np.atleast_1d(np.asarray(t, float)).ravel()
        log_nb_const = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha)
        out = np.zeros(t.shape)
        pos = t > 0
        if not pos.all():
            out[~pos] = 1.0 if n == 0 else 0.0
        tp = t[pos]
        alive = np.exp(log_nb_const + n * np.log(tp) - (r + n) * np.log(alpha + tp) + s * (np.log(beta)
                                                                                           - np.log(beta + tp)))
        c = np.minimum(min(alpha, beta), tp)
        u_max = np.log1p(tp / c)
        u = (_GL_NODES[None, :] + 1) / 2 * u_max[:, None]
        tau = c[:, None] * np.expm1(u)
        with np.errstate(divide="ignore"):
            log_f = (n * np.log(tau) - (r + n) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau)
                     + np.log(c[:, None] + tau))  # dτ = (c+τ) du
        log_int = np.log(u_max / 2) + logsumexp(log_f + np.log(_GL_WEIGHTS)[None, :], axis=1)
        died = np.exp(log_nb_const + np.log(s) + s * np.log(beta) + log_int)
        out[pos] = alive + died
        return out.reshape(shape)
