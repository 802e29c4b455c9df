"""BG/NBD: the beta-geometric / negative binomial model of repeat buying (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
repeat purchase they drop out with probability p ~ Beta(a, b). The likelihood of
(x, t_x, T) is

    B(a, b+x)/B(a, b) · Γ(r+x) α^r / Γ(r) · [ (α+T)^-(r+x) + 1{x>0} a/(b+x−1) (α+t_x)^-(r+x) ]

and is evaluated in log space, the bracket as ``(α+T)^-(r+x)·(1 + e^z)`` with z the log-odds
of having dropped out (:func:`_log_dropout_odds`, shared by the likelihood, its derivatives
and P(alive)), so a customer with 500 repeat purchases is as finite as one with none.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp, roots_legendre

from .._mle import SUBSAMPLE_ROWS, ExactDerivativesFitter, dot, trigamma
from .._rows import distinct_rows
from ..errors import ConvergenceError, ParameterError
from ._base import RfmFitter, broadcast_rows

#: Gauss-Legendre nodes per panel and panels of the DERT quadrature (see :func:`dert_by_quadrature`)
_DERT_NODES, _DERT_WEIGHTS = roots_legendre(16)
_DERT_PANELS = 4
#: rows per block of the DERT quadrature: bounds the (rows × nodes) work array
_DERT_BLOCK = 4096


def dert_by_quadrature(expected: Callable[..., np.ndarray], discount_rate: float, scale: float,
                       *columns: np.ndarray) -> np.ndarray:
    """DERT = ∫₀^∞ e^(−δt) dE(t) = δ ∫₀^∞ e^(−δt) E(t) dt for a cumulative expectation curve E.

    The second form (integration by parts: E(0) = 0 and E grows at most linearly) needs only
    E itself. It is integrated in ``v = log(1 + t/scale)`` up to t = 40/δ (the rest weighs
    below e^−40), by 4 panels of 16-point Gauss-Legendre: the substitution resolves both the
    curve's own time scale (``scale``, e.g. α) and the discounting's (1/δ). On the CDNOW
    customers it agrees with 16 panels of 64 points to 1e-12 for δ from 1e-4 to 0.05.

    Parameters
    ----------
    expected : callable
        ``expected(t, *cols)``: E[Y(t)] for rows ``cols`` (shape (rows, 1)) at times ``t``
        (shape (nodes,)), returning shape (rows, nodes).
    discount_rate : float
        Continuously compounded rate δ > 0 per time unit.
    scale : float
        Time scale of the curve.
    *columns : ndarray
        Per-row inputs of equal shape; evaluated in blocks of 4,096 rows.

    Examples
    --------
    >>> # E(t) = t: DERT = δ ∫ t e^(−δt) dt = 1/δ
    >>> float(dert_by_quadrature(lambda t, c: c * t, 0.01, 1.0, np.array([1.0]))[0].round(6))
    100.0
    """
    if not np.isfinite(discount_rate) or discount_rate <= 0:
        raise ParameterError(f"discount_rate must be a positive continuously compounded rate, got {discount_rate!r}")
    delta = float(discount_rate)
    edges = np.linspace(0.0, np.log1p(40.0 / delta / scale), _DERT_PANELS + 1)
    half, mid = np.diff(edges) / 2, (edges[:-1] + edges[1:]) / 2
    v = (mid[:, None] + half[:, None] * _DERT_NODES[None, :]).ravel()
    t = scale * np.expm1(v)
    weight = (half[:, None] * _DERT_WEIGHTS[None, :]).ravel() * delta * np.exp(-delta * t) * scale * np.exp(v)
    cols = broadcast_rows(*columns)
    shape = cols[0].shape
    # customers share few distinct (x, t_x, T): integrate once per distinct row, gather back
    rows, _, inverse = distinct_rows({str(i): c.ravel() for i, c in enumerate(cols)})
    flat = list(rows.values())
    out = np.empty(flat[0].shape)
    for start in range(0, len(out), _DERT_BLOCK):
        block = [c[start:start + _DERT_BLOCK, None] for c in flat]
        out[start:start + _DERT_BLOCK] = expected(t, *block) @ weight
    return out[inverse].reshape(shape)


def _log_h(r: float, a: float, b: float, x: Any) -> Any:
    """The part of the log-likelihood that depends on x alone, without r·log α.

    log Γ(r+x) − log Γ(r) + log B(a, b+x) − log B(a, b); the fast path sums it once per
    distinct x.
    """
    return gammaln(r + x) - gammaln(r) + betaln(a, b + x) - betaln(a, b)


def _log_dropout_odds(r: Any, alpha: Any, a: Any, b: Any, x: np.ndarray, tx: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """Z = log[a/(b+x−1)] + (r+x)·[log(α+T) − log(α+t_x)]: log P(dead)/P(alive); −inf where x = 0.

    The bracket of the likelihood is ``(α+T)^-(r+x) · (1 + e^z)``, so the log-likelihood of a
    row is ``_log_h + r·log α − (r+x)·log(α+T) + softplus(z)`` and P(alive) is ``σ(−z)``.
    The parameters may be scalars or per-row arrays (the covariate models give each customer
    their own α, a, b).
    """
    has = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(a) - np.log(np.where(has, b + x - 1, 1.0)) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return np.where(has, z, -np.inf)


def _growth(a: Any, b: Any, r: Any, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """c/(a−1) · [1 − (1−z)^(a−1) · 2F1(a+b−1−r, a−1; c; z)].

    This is the Euler transform of the BG/NBD expectation term
    ``c/(a−1) [1 − (1−z)^r 2F1(r+x, b+x; c; z)]`` with ``c = a+b+x−1``: the transformed
    parameters stay small for any x, so the series neither overflows nor loses digits.
    At a = 1 the bracket is 0/0; its limit is taken by a tiny offset. ``a``, ``b``, ``r`` may be
    per-row arrays.
    """
    a = np.where(np.abs(np.asarray(a, float) - 1) > 1e-10, a, 1 + 1e-10)
    f = hyp2f1(a + b - 1 - r, a - 1, c, z)
    positive = f > 0  # always, except for x = 0 when a + b < 1 makes c negative
    with np.errstate(divide="ignore", invalid="ignore"):
        bracket = np.where(positive, -np.expm1((a - 1) * np.log1p(-z) + np.log(np.where(positive, f, 1.0))),
                           1 - (1 - z) ** (a - 1) * f)
    return c / (a - 1) * bracket


class _BetaGeoFamily(RfmFitter):
    """What BG/NBD and MBG/NBD share: parameters (r, α, a, b), the likelihood, P(alive) and the expectations.

    The two models differ only in when a customer may drop out: BG/NBD after each repeat
    purchase, MBG/NBD also right after the first. With ``k = _first_dropout`` (0 for BG/NBD,
    1 for MBG/NBD) a customer with x repeat purchases has had x+k chances to drop out, so the
    likelihood of (x, t_x, T) is

        B(a, b+x+k)/B(a, b) · Γ(r+x) α^r / Γ(r) · (α+T)^-(r+x) · (1 + e^z),

    z the model's log-odds of having dropped out, ``_dropout_odds(r, α, a, b, x, t_x, T)``
    (−inf where BG/NBD's customer has had no chance), and P(alive) = σ(−z). A customer alive
    at T has p ~ Beta(a, b+x+k) and λ ~ Gamma(r+x, α+T), and expects
    ``_growth(a, b+k, r, a+b+x−1+k, t/(α+T+t))`` purchases in the next t periods.
    """

    _param_names = ("r", "alpha", "a", "b")
    #: 1 where a customer may also drop out right after the first purchase (MBG/NBD)
    _first_dropout = 0
    _dropout_odds = staticmethod(_log_dropout_odds)

    @classmethod
    def _log_likelihood(cls, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-row log-likelihood, evaluated directly (for BG/NBD the reference of the fitting fast path)."""
        r, alpha, a, b = params
        k = cls._first_dropout
        z = cls._dropout_odds(r, alpha, a, b, x, tx, T)
        return (gammaln(r + x) - gammaln(r) + betaln(a, b + x + k) - betaln(a, b) + r * np.log(alpha)
                - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, z))

    @classmethod
    def _gradient_rows(cls, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-row gradient of the log-likelihood, shape (4, rows), evaluated directly; ``∂ softplus(z) = σ(z)·∂z``."""
        r, alpha, a, b = params
        k = cls._first_dropout
        w2 = expit(cls._dropout_odds(r, alpha, a, b, x, tx, T))  # share of the drop-out term of the bracket
        w1 = 1.0 - w2
        chances = x + k > 0  # the drop-out term a/(b+x−1+k) exists
        inv_bxk = np.where(chances, 1 / np.where(chances, b + x - 1 + k, 1.0), 0.0)
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + tx)
        d_alpha = r / alpha - w1 * (r + x) / (alpha + T) - w2 * (r + x) / (alpha + tx)
        d_a = digamma(a + b) - digamma(a + b + x + k) + w2 / a
        d_b = digamma(b + x + k) - digamma(b) + digamma(a + b) - digamma(a + b + x + k) - w2 * inv_bxk
        return np.array([d_r, d_alpha, d_a, d_b])

    def _expected_given_history(self, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[Y(t) | x, t_x, T] on broadcastable arrays: the expectation given alive times P(alive)."""
        r, alpha, a, b = self.params_.to_numpy()
        k = self._first_dropout
        alive = expit(-self._dropout_odds(r, alpha, a, b, x, tx, T))
        return _growth(a, b + k, r, a + b + x + (k - 1), t / (alpha + T + t)) * alive

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T), in [0, 1].

        BG/NBD: 1 / (1 + a/(b+x−1) ((α+T)/(α+t_x))^(r+x)) for x > 0, and 1 for x = 0 (a
        customer drops out only after a repeat purchase). MBG/NBD: 1 / (1 + a/(b+x)
        ((α+T)/(α+t_x))^(r+x)), below 1 even for x = 0: the customer may have dropped out
        right after the first purchase. Computed as a logistic of the log-odds, so x = 500
        gives neither overflow nor warning.

        Parameters
        ----------
        frequency, recency, T : array-like
            Customers' histories (repeat purchases, time of the last, time observed), broadcast.

        Returns
        -------
        ndarray
            P(alive) per customer, in the broadcast shape.
        """
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        return expit(-self._dropout_odds(r, alpha, a, b, *broadcast_rows(frequency, recency, T)))

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any,
                                                            T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` periods.

        FHL 2005, eq. 10 (BG/NBD); Batislam et al. 2007 (MBG/NBD). The hypergeometric term is
        taken through Euler's transformation (:func:`_growth`), which keeps it finite for any x.

        Parameters
        ----------
        t : array-like
            Length of the future window, in the time unit of the data.
        frequency, recency, T : array-like
            Customers' histories, broadcast against ``t`` and each other.

        Returns
        -------
        ndarray
            Expected purchases per customer, in the broadcast shape.
        """
        self._check_fitted()
        return self._expected_given_history(*broadcast_rows(t, frequency, recency, T))

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a customer just acquired, in the ``t`` periods after the first.

        The conditional expectation at x = t_x = T = 0. BG/NBD: c/(a−1) [1 − (α/(α+t))^r
        2F1(r, b; a+b−1; t/(α+t))] with c = a+b−1 (FHL 2005, eq. 9). MBG/NBD: b/(a−1) [1 −
        (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))], the BG/NBD form with b+1 for b times the
        chance b/(a+b) of surviving the first purchase.

        Parameters
        ----------
        t : array-like
            Time since the first purchase, in the time unit of the data.

        Returns
        -------
        ndarray
            Expected repeat purchases, in the shape of ``t``.
        """
        self._check_fitted()
        return self._expected_given_history(*broadcast_rows(t, 0.0, 0.0, 0.0))

    def discounted_expected_residual_transactions(self, frequency: Any, recency: Any, T: Any,
                                                  discount_rate: float) -> np.ndarray:
        """DERT: ∫₀^∞ e^(−δt) dE[Y(t) | x, t_x, T], the present value of the expected future purchases.

        Neither model has a closed form; the integral is taken by quadrature of
        δ·∫ e^(−δt) E[Y(t)] dt (:func:`dert_by_quadrature`), which reproduces the Pareto/NBD
        closed form to ~1e-10. Multiply by the expected spend per purchase for the customer's
        residual value.

        Parameters
        ----------
        frequency, recency, T : array-like
            Customers' histories, broadcast against each other.
        discount_rate : float
            Continuously compounded rate δ per time unit of the data (15% a year on weekly
            data: δ = log(1.15)/52 ≈ 0.0027).

        Returns
        -------
        ndarray
            DERT per customer, in the broadcast shape.
        """
        self._check_fitted()
        alpha = float(self.params_["alpha"])
        return dert_by_quadrature(self._expected_given_history, discount_rate, alpha,
                                  *broadcast_rows(frequency, recency, T))


class BetaGeoFitter(ExactDerivativesFitter, _BetaGeoFamily):
    """BG/NBD model (r, alpha, a, b) on frequency (repeat purchases), recency and T.

    ``fit`` collapses identical (frequency, recency, T) rows into weights, so millions of
    customers cost a few thousand likelihood terms; ``weights`` lets you pass rows that are
    already collapsed (see :func:`~workbench.clv.collapse_rfm`). The likelihood, its gradient
    and Hessian come from :meth:`_terms` (:class:`~workbench._mle.ExactDerivativesFitter`,
    listed first so that they, not the generic row sum, give the objective).

    Examples
    --------
    >>> d = simulate_beta_geo(5000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    >>> bg.params_.round(2).to_dict()
    {'r': 0.24, 'alpha': 3.75, 'a': 1.06, 'b': 3.65}
    >>> float(bg.conditional_probability_alive(2, 20.0, 39.0).round(3))
    0.54
    """

    def _default_start(self, scale: float) -> np.ndarray:
        """The fit on a sample of the rows where that pays (:meth:`_sample_start`), else a generic start."""
        start = self._sample_start()
        return np.array([0.5, scale / 4, 1.0, 1.0]) if start is None else start

    def _sample_start(self) -> np.ndarray | None:
        """Parameters fitted on a systematic sample of the rows with x > 0 (all x = 0 rows kept).

        ``None`` when there are too few rows for the detour to pay, or the sample fit fails.
        Rows come sorted by (x, t_x, T), so every k-th row is a stratified sample; its weights
        are scaled so that each x keeps its total weight.
        """
        pos = np.flatnonzero(self._x > 0)
        if len(pos) < 4 * SUBSAMPLE_ROWS:
            return None
        k = len(pos) // SUBSAMPLE_ROWS
        firsts = pos[self._run_starts]
        take = np.zeros(len(pos), bool)
        take[::k] = True
        take[self._run_starts] = True  # every x keeps at least one row
        sample = pos[take]
        run = np.searchsorted(firsts, sample, side="right") - 1
        w = self._w[sample]
        w = w * (np.add.reduceat(self._pos_w, self._run_starts) / np.bincount(run, w, minlength=len(firsts)))[run]
        rows = np.r_[np.flatnonzero(self._x == 0), sample]
        try:
            sub = BetaGeoFitter(self.penalizer_coef).fit(self._x[rows], self._tx[rows], self._T[rows],
                                                        weights=np.r_[self._w[self._x == 0], w])
        except ConvergenceError:
            return None
        return sub.params_.to_numpy()

    # ------------------------------------------------------------------ likelihood
    def _prepare_terms(self) -> None:
        """Index the collapsed rows for :meth:`_terms`.

        The log-likelihood of a row is

            H_x(r, a, b) + r·log α − (r+x)·log(α+T) + [x > 0]·softplus(z),
            z = (r+x)·[log(α+T) − log(α+t_x)] − log((b+x−1)/a),

        (``softplus(z) = log(1 + e^z)``: the bracket (α+T)^-(r+x) + a/(b+x−1)·(α+t_x)^-(r+x)
        taken relative to its first term). ``H_x`` — the gamma and beta functions — depends on
        x alone, so it is summed once per distinct x with the x's total weight; the log(α+T)
        term is summed once per distinct T. Only the softplus needs a pass over the rows with
        x > 0, whose logs and reciprocals of α+T and α+t_x are gathered from tables over the
        distinct T and t_x (whole days in weeks: a few hundred values).
        """
        (cx, ux), (ctx, utx), (cT, uT) = self._levels["x"], self._levels["tx"], self._levels["T"]
        w = self._w
        self._ux, self._uT, self._utx = ux, uT, utx
        self._w_by_x = np.bincount(cx, w, minlength=len(ux))
        self._w_by_T = np.bincount(cT, w, minlength=len(uT))
        self._wx_by_T = np.bincount(cT, w * self._x, minlength=len(uT))
        self._w_total = float(w.sum())
        pos = np.flatnonzero(self._x > 0)
        # rows come sorted by x, so each distinct x > 0 is a contiguous run: np.add.reduceat
        # sums a run far faster than np.bincount gathers by code
        cx_pos = cx[pos]
        starts = np.flatnonzero(np.r_[True, cx_pos[1:] != cx_pos[:-1]]) if len(pos) else np.zeros(0, np.intp)
        self._run_starts = starts
        self._run_x = ux[cx_pos[starts]]
        self._row_run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pos)]))
        self._pos_w, self._pos_x = w[pos], self._x[pos]
        self._pos_cT, self._pos_ctx = cT[pos], ctx[pos]

    def _terms(self, params: np.ndarray, order: int) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Negative log-likelihood (``order`` 0), with gradient (1) and Hessian (2), natural parameters.

        Derivatives of the softplus term use ``∂ softplus(z) = σ(z)·∂z`` and
        ``∂² softplus(z) = σ(1−σ)·∂z ∂z' + σ·∂²z``; the special-function terms are
        differentiated once per distinct x.
        """
        r, alpha, a, b = (float(v) for v in params)
        ux, w_x = self._ux, self._w_by_x
        w_T, wx_T, W = self._w_by_T, self._wx_by_T, self._w_total
        log_aT, log_atx = np.log(alpha + self._uT), np.log(alpha + self._utx)
        # the part without a row pass
        ll = dot(w_x, _log_h(r, a, b, ux))
        ll += W * r * np.log(alpha) - dot(log_aT, r * w_T + wx_T)
        # the softplus over rows with x > 0
        wp, xp, starts = self._pos_w, self._pos_x, self._run_starts
        k = 1.0 / (b + self._run_x - 1)  # 1/(b+x−1) per run of equal x
        rx = r + xp
        d = log_aT[self._pos_cT] - log_atx[self._pos_ctx]  # log(α+T) − log(α+t_x) >= 0
        z = rx * d + (np.log(a) + np.log(k))[self._row_run]
        e = np.exp(-np.abs(z))
        ll += dot(wp, np.maximum(z, 0.0) + np.log1p(e))
        if order == 0:
            return -ll, None, None
        sig = np.where(z >= 0, 1.0, e) / (1.0 + e)  # share of the drop-out term of the bracket
        ws = wp * sig
        q_T, q_tx = 1.0 / (alpha + self._uT), 1.0 / (alpha + self._utx)
        gq = q_T[self._pos_cT] - q_tx[self._pos_ctx]  # ∂d/∂α
        rxg = rx * gq  # ∂z/∂α
        s_run = np.add.reduceat(ws, starts) if len(starts) else np.zeros(0)
        dg_rx, dg_r = digamma(r + ux), digamma(r)
        dg_abx, dg_ab = digamma(a + b + ux), digamma(a + b)
        g = np.array([
            dot(w_x, dg_rx - dg_r) + W * np.log(alpha) - dot(log_aT, w_T)
            + dot(ws, d),
            W * r / alpha - dot(q_T, r * w_T + wx_T) + dot(ws, rxg),
            dot(w_x, dg_ab - dg_abx) + float(s_run.sum()) / a,
            dot(w_x, digamma(b + ux) - digamma(b) + dg_ab - dg_abx) - dot(s_run, k),
        ])
        if order == 1:
            return -ll, -g, None
        v = ws * (1.0 - sig)  # weight × σ(1−σ)
        vd, vg = v * d, v * rxg
        v_run = np.add.reduceat(v, starts) if len(starts) else np.zeros(0)
        vd_run = np.add.reduceat(vd, starts) if len(starts) else np.zeros(0)
        vg_run = np.add.reduceat(vg, starts) if len(starts) else np.zeros(0)
        tg_ab = dot(w_x, trigamma(a + b) - trigamma(a + b + ux))
        q2_T, q2_tx = q_T * q_T, q_tx * q_tx
        h = np.empty((4, 4))
        h[0, 0] = dot(w_x, trigamma(r + ux) - trigamma(r)) + dot(vd, d)
        h[0, 1] = (W / alpha - dot(q_T, w_T) + dot(vd, rxg)
                   + dot(ws, gq))
        h[0, 2] = float(vd_run.sum()) / a
        h[0, 3] = -dot(vd_run, k)
        h[1, 1] = (-W * r / alpha**2 + dot(q2_T, r * w_T + wx_T) + dot(vg, rxg)
                   - dot(ws * rx, q2_T[self._pos_cT] - q2_tx[self._pos_ctx]))
        h[1, 2] = float(vg_run.sum()) / a
        h[1, 3] = -dot(vg_run, k)
        h[2, 2] = tg_ab + float(v_run.sum() - s_run.sum()) / a**2
        h[2, 3] = tg_ab - dot(v_run, k) / a
        h[3, 3] = (dot(w_x, trigamma(b + ux) - trigamma(b)) + tg_ab
                   + dot(v_run + s_run, k * k))
        h = np.triu(h) + np.triu(h, 1).T
        return -ll, -g, -h

    # ------------------------------------------------------------------ predictions
    def probability_of_n_purchases_up_to_time(self, t: Any, n: int) -> np.ndarray:
        """P(X(t) = n) for a customer just acquired (FHL 2005, eq. 8); vectorised over ``t``."""
        self._check_fitted()
        r, alpha, a, b = self.params_.to_numpy()
        n = int(n)
        t = np.asarray(t, float)
        j = np.arange(n + 1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 gives log 0 = −inf, handled below
            log_q, log_p0 = np.log(t) - np.log(alpha + t), r * (np.log(alpha) - np.log(alpha + t))
            # log of the NBD probabilities P(Poisson-gamma count = j by t), j = 0..n
            log_nbd = (gammaln(r + j) - gammaln(r) - gammaln(j + 1)) + log_p0.ravel()[None, :] \
                + np.where(j > 0, j * log_q.ravel()[None, :], 0.0)
        first = np.exp(betaln(a, b + n) - betaln(a, b) + log_nbd[n])
        if n == 0:
            return first.reshape(t.shape)
        tail = -np.expm1(logsumexp(log_nbd[:n], axis=0))  # P(count >= n)
        out = first + np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * np.clip(tail, 0.0, 1.0)
        return out.reshape(t.shape)


def simulate_beta_geo(n_customers: int, r: float, alpha: float, a: float, b: float, T: Any,
                      seed: int | None = 0) -> pd.DataFrame:
    """Draw (frequency, recency, T) of customers from the BG/NBD model itself.

    Exact and vectorised: the Poisson purchases in (0, T] number N ~ Poisson(λT); the
    customer drops out after the K-th repeat purchase, K ~ Geometric(p); the observed
    frequency is x = min(N, K) and the recency the x-th of N uniform times, T·Beta(x, N−x+1).

    Parameters
    ----------
    T : float or array of length ``n_customers``
        Each customer's time since the first purchase.

    Examples
    --------
    >>> d = simulate_beta_geo(3, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=0)
    >>> list(d.columns)
    ['frequency', 'recency', 'T']
    """
    return _simulate_family(n_customers, r, alpha, a, b, T, seed, first_dropout=0)


def _simulate_family(n_customers: int, r: float, alpha: float, a: float, b: float, T: Any, seed: int | None,
                     first_dropout: int) -> pd.DataFrame:
    """Draws of BG/NBD (``first_dropout`` 0) or MBG/NBD (1: one more drop-out chance at the first purchase)."""
    if min(r, alpha, a, b) <= 0 or n_customers < 1:
        raise ParameterError("r, alpha, a, b and n_customers must be positive")
    rng = np.random.default_rng(seed)
    T_ = np.broadcast_to(np.asarray(T, float), (n_customers,)).copy()
    lam = rng.gamma(r, 1 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    n_events = rng.poisson(lam * T_)
    # repeat purchases survived: K ~ Geometric(p), one fewer when the first purchase may end it (K = 0 dropped there)
    k = rng.geometric(np.clip(p, 1e-12, 1.0)) - first_dropout
    x = np.minimum(n_events, k)
    recency = np.zeros(n_customers)
    has = x > 0
    recency[has] = T_[has] * rng.beta(x[has], n_events[has] - x[has] + 1)
    return pd.DataFrame({"frequency": x.astype(float), "recency": recency, "T": T_})
