"""Numerically careful special functions for the CLV likelihoods."""
from __future__ import annotations

import numpy as np


def log_hyp2f1_series(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray, max_terms: int = 20_000,
                      tol: float = 1e-15) -> np.ndarray:
    """log 2F1(a, b; c; z) by its power series, for a, b, c > 0 and 0 <= z < 1.

    All terms are positive, so the sum has no cancellation; it is accumulated relative to
    its first term in log space, so large parameters neither overflow nor underflow.
    Callers use Euler's transformation to reach parameters where the series converges fast.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, float) for v in (a, b, c, z)))
    total = np.ones(a.shape)
    term = np.ones(a.shape)
    active = z > 0
    for n in range(max_terms):
        if not active.any():
            break
        term = np.where(active, term * (a + n) * (b + n) / ((c + n) * (n + 1)) * z, 0.0)
        total += term
        active &= term > tol * total
    return np.log(total)


def log_hyp2f1_euler(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log 2F1(a, b; c; z) via Euler: (1-z)^(c-a-b) 2F1(c-a, c-b; c; z); needs c-a, c-b > 0."""
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, float) for v in (a, b, c, z)))
    return (c - a - b) * np.log1p(-z) + log_hyp2f1_series(c - a, c - b, c, z)
