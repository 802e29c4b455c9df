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
from scipy.special import expit, gammaln, hyp2f1, hyperu, logsumexp, roots_legendre

from ..errors import ParameterError
from ._base import RfmFitter, broadcast_rows

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


class ParetoNBDFitter(RfmFitter):
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

    def _default_start(self, scale: float) -> tuple[float, ...]:
        return (0.5, scale / 4, 0.5, scale)

    # ------------------------------------------------------------------ likelihood
    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        x, tx, T = (np.atleast_1d(np.asarray(v, float)) for v in (x, tx, T))
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        died = np.log(s) - np.log(r + s + x) + _log_a0(params, x, tx, T)
        return head + np.logaddexp(alive, died)

    # ------------------------------------------------------------------ predictions
    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0), in [0, 1]."""
        self._check_fitted()
        p = self.params_.to_numpy()
        r, alpha, s, beta = p
        x, tx, T_ = broadcast_rows(frequency, recency, T)
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
        t, x, tx, T_ = broadcast_rows(t, frequency, recency, T)
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

        (Fader & Hardie, "Deriving an expression for P(X(t) = x) under the Pareto/NBD model"),
        the integral by 96-point Gauss-Legendre in ``u = log(1 + τ/c)`` (c the smaller of
        α, β and t), which resolves both the early rise and the long tail.
        """
        self._check_fitted()
        t = np.asarray(t, float)
        zero = np.zeros(t.shape)
        alive, died = _log_pmf_parts(self.params_.to_numpy(), int(n), t, zero, zero)
        return (np.exp(alive) + np.exp(died)).reshape(t.shape)

    def conditional_probability_of_n_purchases_up_to_time(self, n: int, t: Any, frequency: Any, recency: Any,
                                                          T: Any) -> np.ndarray:
        """P(Y(t) = n | x, t_x, T): exactly ``n`` purchases in (T, T+t] given the history.

        Fader & Hardie, "Deriving the conditional PMF of the Pareto/NBD model" (2014): with
        L the customer's likelihood,

            P = 1{n=0}·(1 − P(alive)) + [ Γ(r+x+n) α^r β^s / (Γ(r) n!) ] / L ·
                { t^n (α+T+t)^-(r+x+n) (β+T+t)^-s + s ∫₀ᵗ τ^n (α+T+τ)^-(r+x+n) (β+T+τ)^-(s+1) dτ },

        the integral by quadrature as in :meth:`probability_of_n_purchases_up_to_time` (which
        is the case x = t_x = T = 0). Vectorised over ``t`` and the customers.
        """
        self._check_fitted()
        if int(n) != n or n < 0:
            raise ParameterError(f"n must be a whole number >= 0, got {n!r}")
        p = self.params_.to_numpy()
        t, x, tx, T_ = broadcast_rows(t, frequency, recency, T)
        shape = x.shape
        t, x, tx, T_ = t.ravel(), x.ravel(), tx.ravel(), T_.ravel()
        log_l = self._log_likelihood(p, x, tx, T_)
        alive, died = _log_pmf_parts(p, int(n), t, x, T_)
        out = np.exp(alive - log_l) + np.exp(died - log_l)
        if n == 0:
            out = out + (1.0 - self.conditional_probability_alive(x, tx, T_))
        return np.clip(out, 0.0, 1.0).reshape(shape)

    def discounted_expected_residual_transactions(self, frequency: Any, recency: Any, T: Any,
                                                  discount_rate: float) -> np.ndarray:
        """DERT: ∫₀^∞ e^(−δt) dE[Y(t) | x, t_x, T] (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 2).

        Given alive at T, λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T), and the present value of
        the purchases of someone alive is E[λ/(μ+δ)], so

            DERT = P(alive) · (r+x)/(α+T) · (β+T)^s δ^(s−1) U(s, s; δ(β+T)),

        with U Tricomi's confluent hypergeometric function (the paper's Ψ). ``discount_rate``
        is the continuously compounded rate δ per time unit of the data (the paper's 15% a
        year on weekly data: δ = log(1.15)/52 ≈ 0.0027). Multiply by the expected spend per
        purchase for the customer's residual value.
        """
        self._check_fitted()
        if not np.isfinite(discount_rate) or discount_rate <= 0:
            raise ParameterError(f"discount_rate must be a positive continuously compounded rate, "
                                 f"got {discount_rate!r}")
        r, alpha, s, beta = self.params_.to_numpy()
        x, tx, T_ = broadcast_rows(frequency, recency, T)
        z = discount_rate * (beta + T_)
        log_value = (np.log(r + x) - np.log(alpha + T_) + s * np.log(beta + T_) + (s - 1) * np.log(discount_rate)
                     + np.log(hyperu(s, s, z)))
        return np.exp(log_value) * self.conditional_probability_alive(x, tx, T_)


def _log_pmf_parts(params: np.ndarray, n: int, t: np.ndarray, x: np.ndarray, T: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Logs of the two parts of P(n purchases in (T, T+t]) times the likelihood, per row.

    ``alive``: Γ(r+x+n) α^r β^s / (Γ(r) n!) · t^n (α+T+t)^-(r+x+n) (β+T+t)^-s (alive at T+t);
    ``died``: the same constant · s ∫₀ᵗ τ^n (α+T+τ)^-(r+x+n) (β+T+τ)^-(s+1) dτ (died at T+τ
    after n purchases). At t = 0 they are log 1{n=0} and −inf.
    """
    r, alpha, s, beta = params
    t, x, T = (np.atleast_1d(v).astype(float).ravel() for v in np.broadcast_arrays(t, x, T))
    a_, b_, rx = alpha + T, beta + T, r + x
    const = gammaln(rx + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha) + s * np.log(beta)
    alive = np.full(t.shape, 0.0 if n == 0 else -np.inf)
    died = np.full(t.shape, -np.inf)
    pos = t > 0
    if pos.any():
        tp, ap, bp, rxp, cp = t[pos], a_[pos], b_[pos], rx[pos], const[pos]
        alive_p = cp + n * np.log(tp) - (rxp + n) * np.log(ap + tp) - s * np.log(bp + tp)
        alive[pos] = alive_p
        c = np.minimum(np.minimum(ap, bp), tp)
        u_max = np.log1p(tp / c)
        u = (_GL_NODES[None, :] + 1) / 2 * u_max[:, None]
        tau = c[:, None] * np.expm1(u)
        with np.errstate(divide="ignore"):
            log_f = (n * np.log(tau) - (rxp[:, None] + n) * np.log(ap[:, None] + tau)
                     - (s + 1) * np.log(bp[:, None] + tau) + np.log(c[:, None] + tau))  # dτ = (c+τ) du
        log_int = np.log(u_max / 2) + logsumexp(log_f + np.log(_GL_WEIGHTS)[None, :], axis=1)
        died[pos] = cp + np.log(s) + log_int
    return alive, died
