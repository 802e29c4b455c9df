"""BG/NBD purchase streams for the benchmarks, drawn exactly and without a Python loop."""
from __future__ import annotations

import numpy as np


def repeat_purchases(rng: np.random.Generator, T: np.ndarray, lam: np.ndarray,
                     drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases of customers observed for ``T`` weeks after their first purchase.

    While alive a customer buys as a Poisson process with rate ``lam``; after each repeat
    purchase they drop out with probability ``drop``. Returns (customer index, weeks after
    the first purchase) of every repeat purchase, sorted by customer and time.
    """
    n_events = rng.poisson(lam * T)
    k = rng.geometric(drop)  # the customer drops out right after the k-th repeat purchase
    who = np.repeat(np.arange(len(T)), n_events)
    when = rng.random(len(who)) * T[who]
    order = np.lexsort((when, who))
    who, when = who[order], when[order]
    rank = np.arange(len(who)) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    keep = rank < k[who]
    return who[keep], when[keep]
