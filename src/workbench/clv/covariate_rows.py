"""Per-row log-likelihoods of the covariate models and their derivatives in the log-parameters.

Each customer's log-parameters ``u_i`` (4, rows) are linear in the fitted θ
(:mod:`workbench.clv.covariates`), so a Newton step needs the per-row value, gradient and
Hessian in ``u`` only. Both models have them exactly: BG/NBD from its gamma and beta
functions, Pareto/NBD by differentiating the Gauss hypergeometric series of its A0 term
term by term. Rows whose series would be too long (α and β a hundred-fold apart) fall back
to central differences of the likelihood (33 evaluations on those rows).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln

from .._mle import trigamma
from .beta_geo import _log_dropout_odds
from .pareto_nbd import log_hyp2f1_unit_a

_STEP = 1e-4  # central-difference step on log-parameters (second differences: error ~1e-7 relative)
#: the differentiated 2F1 series runs to z = 0.99 (~40/(1−z) terms, on the few rows that need them); rows with
#: a larger z (α and β a hundred-fold apart near t = 0) take central differences
_SERIES_MAX_Z = 0.99


# ---------------------------------------------------------------------------- per-row likelihoods
def pareto_nbd_log_a0(r: Any, alpha: Any, s: Any, beta: Any, x: np.ndarray, tx: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """Log A0 of the Pareto/NBD likelihood with a scale per row (−inf where t_x = T).

    The same Euler-transformed, overflow-free form as :mod:`workbench.clv.pareto_nbd`, the
    α ≥ β branch chosen row by row.
    """
    r, alpha, s, beta, x, tx, T = np.broadcast_arrays(*(np.asarray(v, float) for v in (r, alpha, s, beta, x, tx, T)))
    a_ge = alpha >= beta
    big, small = np.where(a_ge, alpha, beta), np.where(a_ge, beta, alpha)
    b = np.where(a_ge, r + x, s + 1.0)
    k = np.where(a_ge, -s, 1.0 - r - x)
    rsx = r + s + x
    out = []
    for t in (tx, T):
        log_big_t = np.log(big + t)
        z = np.minimum(np.abs(alpha - beta) / (big + t), 1 - 1e-15)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_1mz = np.log(small + t) - log_big_t
            out.append(k * log_1mz + log_hyp2f1_unit_a(b, rsx + 1, z) - rsx * log_big_t)
    l_tx, l_T = out
    with np.errstate(divide="ignore"):
        return l_tx + np.log(-np.expm1(np.minimum(l_T - l_tx, 0.0)))


def pareto_nbd_log_likelihood(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-row Pareto/NBD log-likelihood; ``u`` (4, rows) holds log r, log α_i, log s, log β_i."""
    r, alpha, s, beta = np.exp(u)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) - np.log(r + s + x) + pareto_nbd_log_a0(r, alpha, s, beta, x, tx, T)
    return head + np.logaddexp(alive, died)


def _log_hyp2f1_unit_a_derivatives(b: np.ndarray, c: np.ndarray, z: np.ndarray, tol: float = 1e-17
                                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log 2F1(1, b; c; z) with its gradient (3, n) and Hessian (3, 3, n) in (b, c, z), for c > b > 0, 0 <= z < 1.

    The series of :func:`~workbench.clv.pareto_nbd.log_hyp2f1_unit_a` differentiated term by
    term: with ``t_n = (b)_n/(c)_n·z^n``, ``∂ log t_n/∂b = Σ_{k<n} 1/(b+k)``, ``∂ log t_n/∂c =
    −Σ_{k<n} 1/(c+k)`` (second derivatives −Σ 1/(b+k)² and Σ 1/(c+k)²), and ``n·t_n/z``,
    ``n(n−1)·t_n/z²`` kept by their own recurrences, so z = 0 needs no division. Ten sums of
    positive or one-signed terms in one pass; a row leaves once its latest terms, weighted as
    in the sums, fall below ``tol`` of the total: a few dozen terms for z <= 0.5.
    """
    n = len(z)
    out, idx, acc = np.empty((10, n)), np.arange(n), np.zeros((10, n))
    acc[0] = 1.0
    t, tz, B, C, Bb, Cc = np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    k = 1
    while idx.size:
        ib, ic = 1.0 / (b + (k - 1)), 1.0 / (c + (k - 1))
        rho = (b + (k - 1)) * ic
        tzz, tz, t = (k * rho) * tz, (k * rho) * t, t * rho * z
        B += ib
        C -= ic
        Bb -= ib * ib
        Cc += ic * ic
        tB, tC = t * B, t * C
        for row, term in enumerate((t, tB, tC, tz, tB * B + t * Bb, tC * C + t * Cc, tB * C, tz * B, tz * C, tzz)):
            acc[row] += term
        if k % 3 == 0:  # every third term is often enough to look (B >= 0 >= C)
            done = np.maximum(np.maximum(t * (1 + B * B + C * C), tz * (1 + B - C)), tzz) <= tol * acc[0]
            n_done = int(np.count_nonzero(done))
            if 4 * n_done >= len(idx):  # rows done keep adding negligible terms until enough leave at once
                out[:, idx[done]] = acc[:, done]
                keep = ~done
                idx, acc = idx[keep], acc[:, keep]
                b, c, z, t, tz, B, C, Bb, Cc = (v[keep] for v in (b, c, z, t, tz, B, C, Bb, Cc))
        k += 1
    grad = out[1:4] / out[0]
    hess = np.empty((3, 3, n))
    for (i, j), row in {(0, 0): 4, (1, 1): 5, (0, 1): 6, (0, 2): 7, (1, 2): 8, (2, 2): 9}.items():
        hess[i, j] = hess[j, i] = out[row] / out[0] - grad[i] * grad[j]
    return np.log(out[0]), grad, hess


#: a symmetric 4×4 Hessian per row kept as its 10 entries on and above the diagonal: entry (i, j) is row _PACK[i, j]
_PACK_I, _PACK_J = np.triu_indices(4)
_PACK = np.zeros((4, 4), np.intp)
_PACK[_PACK_I, _PACK_J] = _PACK[_PACK_J, _PACK_I] = np.arange(10)


def _log_f_derivatives(t: np.ndarray, p: np.ndarray, x: np.ndarray, a_ge: bool
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log F(t), A0 = F(t_x) − F(T), with gradient (4, n) and packed Hessian (10, n) in p = (r, α, s, β).

    Euler's form of :func:`pareto_nbd_log_a0` on rows of one branch: with P, Q the larger and
    smaller of α, β (``a_ge``: α >= β), z = (P−Q)/(P+t), m = r+s+x and (b, k) = (r+x, −s) if
    α >= β else (s+1, 1−r−x), ``log F = k·ℓ + log 2F1(1, b; m+1; z) − m·L`` with ℓ = log(1−z)
    and L = log(P+t). The chain rule runs through these intermediates, whose gradients in p
    have one or two entries each. NaN where z > 0.99: those rows are left to the caller.
    """
    r, alpha, s, beta = p
    iP, iQ, ib, ik = (1, 3, 0, 2) if a_ge else (3, 1, 2, 0)
    b, k = (r + x, -s) if a_ge else (s + 1.0, 1.0 - r - x)
    m = r + s + x
    Pt, Qt = p[iP] + t, p[iQ] + t
    iPt, iQt = 1.0 / Pt, 1.0 / Qt
    z = (p[iP] - p[iQ]) * iPt
    L = np.log(Pt)
    ell = np.log(Qt) - L
    lh, hg, hh = np.full(len(t), np.nan), np.full((3, len(t)), np.nan), np.full((3, 3, len(t)), np.nan)
    ok = z <= _SERIES_MAX_Z
    lh[ok], hg[:, ok], hh[:, :, ok] = _log_hyp2f1_unit_a_derivatives(np.broadcast_to(b, t.shape)[ok], m[ok] + 1,
                                                                     z[ok])
    # gradients of the intermediates in p, sparse; c = m + 1 and m share theirs ("c")
    d = {"b": {ib: 1.0}, "c": {0: 1.0, 2: 1.0}, "z": {iP: Qt * iPt * iPt, iQ: -iPt}, "k": {ik: -1.0},
         "l": {iP: -iPt, iQ: iQt}, "L": {iP: iPt}}
    grad, hess = np.zeros((4, len(t))), np.zeros((10, len(t)))
    for v, coef in {"b": hg[0], "c": hg[1] - L, "z": hg[2], "k": ell, "l": k, "L": -m}.items():
        for i, dv in d[v].items():
            grad[i] += coef * dv
    for v, w, coef in (("b", "b", hh[0, 0]), ("c", "c", hh[1, 1]), ("z", "z", hh[2, 2]), ("b", "c", hh[0, 1]),
                       ("b", "z", hh[0, 2]), ("c", "z", hh[1, 2]), ("k", "l", 1.0), ("c", "L", -1.0)):
        for i, dv in d[v].items():
            for j, dw in d[w].items():
                if v != w or i <= j:  # a cross pair reaches (i, j) and (j, i): twice on the diagonal
                    hess[_PACK[i, j]] += (2.0 if v != w and i == j else 1.0) * coef * dv * dw
    # the intermediates' own second derivatives: z, ℓ and L in the scales only
    hess[_PACK[iP, iP]] += hg[2] * (-2.0 * Qt * iPt**3) + (k + m) * iPt**2
    hess[_PACK[iP, iQ]] += hg[2] * iPt**2
    hess[_PACK[iQ, iQ]] -= k * iQt**2
    return k * ell + lh - m * L, grad, hess


def _log_f_rows(t: np.ndarray, p: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_log_f_derivatives` on rows of both branches."""
    value, grad, hess = np.empty(len(t)), np.empty((4, len(t))), np.empty((10, len(t)))
    a_ge = p[1] >= p[3]
    for branch in (True, False):
        rows = np.flatnonzero(a_ge == branch)
        if rows.size:
            value[rows], grad[:, rows], hess[:, rows] = _log_f_derivatives(t[rows], p[:, rows], x[rows], branch)
    return value, grad, hess


def pareto_nbd_row_derivatives(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                               shared: tuple[tuple[Any, Any], tuple[Any, Any]] | None = None
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row Pareto/NBD log-likelihood with its exact gradient (4, n) and Hessian (4, 4, n) in ``u``.

    ``log L = head + log(e^alive + e^died)`` with head = log Γ(r+x) − log Γ(r) + r log α + s log β,
    alive = −(r+x) log(α+T) − s log(β+T) and died = log s − log(r+s+x) + log(F(t_x) − F(T))
    (:func:`_log_f_derivatives`): derivatives in p = (r, α, s, β), then ``∂/∂log p = p·∂/∂p``.
    ``shared`` = ((code of each row, first row of each code) for rows sharing x, t_x and u, the
    same for x, T and u): F(t_x), F(T) and the gamma-function terms are evaluated once per code
    and gathered. Rows with z > 0.99 take central differences of :func:`pareto_nbd_log_likelihood`.
    """
    p = np.exp(u)
    r, alpha, s, beta = p
    whole = (slice(None), slice(None))
    (c1, f1), (c2, f2) = shared if shared is not None else (whole, whole)
    v1, g1, h1 = (a[..., c1] for a in _log_f_rows(tx[f1], p[:, f1], x[f1]))
    v2, g2, h2 = (a[..., c2] for a in _log_f_rows(T[f2], p[:, f2], x[f2]))
    rg, xg = r[f1], x[f1]
    gam, dig, tri = (a[c1] for a in (gammaln(rg + xg) - gammaln(rg), digamma(rg + xg) - digamma(rg),
                                     trigamma(rg + xg) - trigamma(rg)))
    # log A0 = log(e^v1 − e^v2) = v1 + log(1 − q): gradient (∇v1 − q∇v2)/(1 − q), and the Hessian alike
    q = np.where(tx == T, 1.0, np.exp(np.minimum(v2 - v1, 0.0)))
    inv = np.where(q < 1, 1.0 / np.where(q < 1, 1.0 - q, 1.0), 0.0)  # t_x = T: A0 = 0, died has no weight
    m, rx, aT, bT = r + s + x, r + x, alpha + T, beta + T
    alive = -rx * np.log(aT) - s * np.log(bT)
    with np.errstate(divide="ignore", invalid="ignore"):  # −inf where t_x = T, NaN on the rows left to differences
        lse = np.logaddexp(alive, np.log(s) - np.log(m) + v1 + np.log1p(-q))
    g_d = (g1 - q * g2) * inv
    h_d = (h1 + g1[_PACK_I] * g1[_PACK_J] - q * (h2 + g2[_PACK_I] * g2[_PACK_J])) * inv - g_d[_PACK_I] * g_d[_PACK_J]
    g_d[0] -= 1.0 / m
    g_d[2] += 1.0 / s - 1.0 / m
    for i, j in ((0, 0), (0, 2), (2, 2)):
        h_d[_PACK[i, j]] += 1.0 / m**2
    h_d[_PACK[2, 2]] -= 1.0 / s**2
    pa = np.exp(alive - lse)  # the weight of "alive at T"
    diff = np.array([-np.log(aT), -rx / aT, -np.log(bT), -s / bT]) - g_d  # alive's gradient less died's
    hess = (1.0 - pa) * h_d + (pa * (1.0 - pa)) * diff[_PACK_I] * diff[_PACK_J]
    for i, j, val in ((0, 0, tri), (0, 1, 1.0 / alpha - pa / aT), (2, 3, 1.0 / beta - pa / bT),
                      (1, 1, pa * rx / aT**2 - r / alpha**2), (3, 3, pa * s / bT**2 - s / beta**2)):
        hess[_PACK[i, j]] += val
    grad = g_d + pa * diff
    grad += (dig + np.log(alpha), r / alpha, np.log(beta), s / beta)
    value = gam + r * np.log(alpha) + s * np.log(beta) + lse
    hess *= p[_PACK_I] * p[_PACK_J]
    hess[_PACK[np.arange(4), np.arange(4)]] += grad * p
    grad *= p
    hess = hess[_PACK]  # (4, 4, n)
    bad = np.flatnonzero(np.isnan(v1))  # z > 0.99 at t_x (z is largest there)
    if bad.size:
        value[bad], grad[:, bad], hess[:, :, bad] = _row_derivatives(pareto_nbd_log_likelihood, u[:, bad], x[bad],
                                                                     tx[bad], T[bad])
    return value, grad, hess


def beta_geo_log_likelihood(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-row BG/NBD log-likelihood; ``u`` (4, rows) holds log r, log α_i, log a_i, log b_i."""
    r, alpha, a, b = np.exp(u)
    z = _log_dropout_odds(r, alpha, a, b, x, tx, T)
    return (gammaln(r + x) - gammaln(r) + betaln(a, b + x) - betaln(a, b) + r * np.log(alpha)
            - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, z))


def beta_geo_row_derivatives(u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                             groups: tuple[np.ndarray, np.ndarray] | None = None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row BG/NBD log-likelihood with its exact gradient (4, n) and Hessian (4, 4, n) in ``u``.

    The terms of :meth:`~workbench.clv.BetaGeoFitter._terms` row by row: in the natural
    parameters p, then ``∂/∂log p = p·∂/∂p`` and ``∂²/∂log p ∂log q = p q ∂²/∂p∂q + δ_pq p ∂/∂p``.
    ``groups`` = (code of each row, first row of each code) for rows sharing x, r, a and b:
    the gamma-function terms are evaluated once per group and gathered (a few hundred
    groups instead of every row).
    """
    r, alpha, a, b = np.exp(u)
    has = x > 0
    z = _log_dropout_odds(r, alpha, a, b, x, tx, T)
    codes, first = groups if groups is not None else (slice(None), slice(None))
    rg, ag, bg, xg = r[first], a[first], b[first], x[first]
    lg = (gammaln(rg + xg) - gammaln(rg) + betaln(ag, bg + xg) - betaln(ag, bg))[codes]
    dg = np.array([digamma(rg + xg) - digamma(rg), digamma(ag + bg) - digamma(ag + bg + xg),
                   digamma(bg + xg) - digamma(bg)])[:, codes]
    tg = np.array([trigamma(rg + xg) - trigamma(rg), trigamma(ag + bg) - trigamma(ag + bg + xg),
                   trigamma(bg + xg) - trigamma(bg)])[:, codes]
    value = lg + r * np.log(alpha) - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, z)
    sig = expit(z)  # 0 where x = 0
    v = sig * (1 - sig)
    k = np.where(has, 1 / np.where(has, b + x - 1, 1.0), 0.0)
    q_T, q_t = 1 / (alpha + T), 1 / (alpha + tx)
    d = np.log(alpha + T) - np.log(alpha + tx)
    rx = r + x
    dz = [d, rx * (q_T - q_t), np.where(has, 1 / a, 0.0), -k]  # ∂z/∂p
    g = np.array([dg[0] + np.log(alpha) - np.log(alpha + T), r / alpha - rx * q_T, dg[1], dg[2] + dg[1]])
    g += sig * np.array(dz)
    tg_ab = tg[1]
    h = np.empty((4, 4, len(x)))
    h[0, 0] = tg[0]
    h[0, 1] = 1 / alpha - q_T + sig * (q_T - q_t)
    h[0, 2] = h[0, 3] = h[1, 2] = h[1, 3] = 0.0
    h[1, 1] = -r / alpha**2 + rx * q_T**2 - sig * rx * (q_T**2 - q_t**2)
    h[2, 2] = tg_ab - sig * np.where(has, 1 / a**2, 0.0)
    h[2, 3] = tg_ab
    h[3, 3] = tg[2] + tg_ab + sig * k * k
    for i in range(4):
        for j in range(i, 4):
            h[i, j] += v * dz[i] * dz[j]
            h[j, i] = h[i, j]
    p = np.array([r, alpha, a, b])
    hess = h * p[:, None] * p[None, :]
    hess[np.arange(4), np.arange(4)] += g * p
    return value, g * p, hess


def _row_derivatives(loglik: Any, u: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row value, gradient (4, n) and Hessian (4, 4, n) in ``u`` by central differences."""
    h = _STEP
    f0 = loglik(u, x, tx, T)
    eye = np.eye(4)[:, :, None] * h
    plus = [loglik(u + eye[j], x, tx, T) for j in range(4)]
    minus = [loglik(u - eye[j], x, tx, T) for j in range(4)]
    g = np.array([(p - m) / (2 * h) for p, m in zip(plus, minus, strict=True)])
    hess = np.empty((4, 4, len(x)))
    for j in range(4):
        hess[j, j] = (plus[j] - 2 * f0 + minus[j]) / h**2
        for k in range(j):
            pp = loglik(u + eye[j] + eye[k], x, tx, T)
            pm = loglik(u + eye[j] - eye[k], x, tx, T)
            mp = loglik(u - eye[j] + eye[k], x, tx, T)
            mm = loglik(u - eye[j] - eye[k], x, tx, T)
            hess[j, k] = hess[k, j] = (pp - pm - mp + mm) / (4 * h**2)
    return f0, g, hess
