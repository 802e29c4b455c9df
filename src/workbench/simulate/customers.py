"""Customers: birth, buyer status, BG/NBD and Gamma-Gamma latent draws."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .draws import Clock, draw_categorical, make_frame, seq_ids, uniform_secs
from .params import SimulationParams
from .world import World


@dataclass
class Customers:
    """The simulated customers, as arrays indexed by customer."""

    ids: np.ndarray
    birth: np.ndarray      # seconds since t0 (registration = first order of buyers)
    home: np.ndarray       # home store index
    holdout: np.ndarray
    buyer: np.ndarray
    lam: np.ndarray        # purchase rate per week (multiplier included)
    drop_p: np.ndarray
    nu: np.ndarray         # Gamma-Gamma spend rate
    member_ids: np.ndarray
    frame: pd.DataFrame

    @property
    def n(self) -> int:
        """Number of customers."""
        return len(self.ids)


def build_customers(rng: np.random.Generator, clock: Clock, world: World, n: int,
                     p: SimulationParams, first: int = 0, id_width: int = 7) -> Customers:
    """``n`` customers numbered from ``first + 1`` (a chunk of a chunked brand starts past the others)."""
    # customer ids follow registration order, as a membership system numbers them
    birth = np.sort(uniform_secs(rng, clock.span, n))
    home = draw_categorical(rng, world.store_weight, n)
    holdout = rng.random(n) < p.holdout_share
    buyer = rng.random(n) < p.buyer_share
    lam = rng.gamma(p.r, 1.0 / p.alpha, n) * np.where(holdout, 1.0, p.task_rate_multiplier)
    drop_p = rng.beta(p.a, p.b, n)
    nu = rng.gamma(p.gg_q, 1.0 / p.gg_gamma, n)
    ids = seq_ids("C", n, id_width, first=first + 1)
    member_ids = seq_ids("M", n, 8, first=10_000_001 + first)
    frame = make_frame({
        "customer_id": ids,
        "registered_at": clock.dt(birth),
        "gender": np.array(["F", "M"], dtype=object)[(rng.random(n) < 0.3).astype(np.int64)],
        "birth_year": rng.integers(1965, 2007, n).astype(np.int64),
        "member_level": np.array(["basic", "silver", "gold"], dtype=object)[
            draw_categorical(rng, np.array([0.6, 0.3, 0.1]), n)],
        "home_store_id": world.store_ids[home],
        "member_id": member_ids,
    })
    return Customers(ids, birth, home, holdout, buyer, lam, drop_p, nu, member_ids, frame)
