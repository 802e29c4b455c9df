"""Orders: BG/NBD purchase times, amounts, order channels, coupon redemption."""
from __future__ import annotations

import numpy as np

from .customers import Customers
from .draws import DAY, WEEK, Clock, Latest
from .params import CHANNEL_PROB_ORDER, DRAW_CHANNEL_CODE, ORDER_CHANNEL_CODE, SimulationParams
from .relationships import Relationships
from .touches import TouchLog
from .world import World

_DRAW_POSITION = {name: i for i, name in enumerate(CHANNEL_PROB_ORDER)}
_DRAW_CODES = np.array(DRAW_CHANNEL_CODE, dtype=np.int8)


def bgnbd_orders(rng: np.random.Generator, clock: Clock, cust: Customers,
                  p: SimulationParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First order at birth, then BG/NBD repeat purchases up to as_of; Gamma-Gamma amounts.

    Given ``λ``, repeat purchases are a Poisson process on ``(birth, as_of)``; the customer
    drops out right after their K-th repeat purchase, ``K ~ Geometric(p)``, so the first K
    Poisson events are kept. This is BG/NBD exactly (no dropout before the first repeat).
    """
    b = np.flatnonzero(cust.buyer)
    weeks = (clock.span - cust.birth[b]) / WEEK
    rep, u = repeat_purchases(rng, weeks, cust.lam[b], cust.drop_p[b])
    o_cust = np.concatenate([b, b[rep]])
    o_t = np.concatenate([cust.birth[b], cust.birth[b[rep]] + (u * WEEK).astype(np.int64)])
    return o_cust, o_t, draw_amounts(rng, cust.nu[o_cust], p)


def repeat_purchases(rng: np.random.Generator, T: np.ndarray, lam: np.ndarray,
                     drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD repeat purchases of customers observed for ``T`` weeks after their first purchase.

    While alive a customer buys as a Poisson process with rate ``lam``; after each repeat
    purchase they drop out with probability ``drop``. Drawn exactly and without a loop: the
    customer drops out right after their K-th repeat purchase, K ~ Geometric(drop), so the
    first K events of the Poisson process on (0, T) are kept.

    Returns
    -------
    (customer index, weeks after the first purchase) of every repeat purchase, sorted by
    customer and time.
    """
    k_max = rng.geometric(np.clip(drop, 1e-12, 1.0))
    n_events = rng.poisson(lam * T)
    who = np.repeat(np.arange(len(T)), n_events)
    when = rng.random(len(who)) * T[who]
    order = np.lexsort((when, who))
    who, when = who[order], when[order]
    rank = np.arange(len(who)) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    keep = rank < k_max[who]
    return who[keep], when[keep]


def draw_amounts(rng: np.random.Generator, nu: np.ndarray, p: SimulationParams) -> np.ndarray:
    """Order amounts (gamma spend, rounded to the fen, at least 0.01)."""
    return np.maximum(np.round(rng.gamma(p.gg_p, 1.0 / nu), 2), 0.01)


def _channel_probs(p: SimulationParams, contact: bool, chat: bool, invite: bool) -> np.ndarray:
    """Order-channel probabilities given the customer's WeCom state at order time.

    The vector follows :data:`CHANNEL_PROB_ORDER` (the draw's order); every adjustment finds its
    channel by name, so no position is assumed.
    """
    shares = p.channel_shares(contact)
    q = np.array([shares[name] for name in CHANNEL_PROB_ORDER], dtype=float)
    if not contact:
        return q
    if chat:  # Belle's 7-day rule: a recent 1:1 chat pulls the purchase into the store
        q = _fix_share(q, _DRAW_POSITION["pos"], p.pos_share_after_chat)
    if invite:
        q = _fix_share(q, _DRAW_POSITION["channels_live"], p.live_share_after_invite)
    return q


def _fix_share(q: np.ndarray, at: int, share: float) -> np.ndarray:
    """Set ``q[at]`` to ``share`` and rescale the other channels to fill the rest, keeping their ratios."""
    others = np.arange(len(q)) != at
    total = q[others].sum()
    out = np.zeros_like(q)
    if total > 0:  # all mass on ``at`` already: nothing to rescale (the draw normalises)
        out[others] = q[others] * (1 - share) / total
    out[at] = share
    return out


def assign_channels(rng: np.random.Generator, world: World, cust: Customers, rel: Relationships,
                     log: TouchLog, o_cust: np.ndarray, o_t: np.ndarray,
                     p: SimulationParams) -> tuple[np.ndarray, ...]:
    """Channel, store, task link and sharing staff of each BG/NBD order (volume unchanged)."""
    m = len(o_cust)
    sp = rel.spells
    open_sp = sp.open_for(o_cust, o_t)
    contact = open_sp >= 0
    guide = np.where(contact, sp.staff[np.maximum(open_sp, 0)], -1)
    chat_j = Latest(rel.chat_cust, rel.chat_t).before(o_cust, o_t, p.seven_day_window_days * DAY)
    chat_staff = np.where(contact & (chat_j >= 0), rel.chat_staff[np.maximum(chat_j, 0)], -1)
    link_window = p.link_window_days * DAY
    push_t, push_c, push_s, push_task = log.select(("task_push", "mass_send"))
    push_j = Latest(push_c, push_t).before(o_cust, o_t, link_window)
    inv_t, inv_c, inv_s, inv_task = log.select(("live_invite",))
    inv_j = Latest(inv_c, inv_t).before(o_cust, o_t, link_window)
    invited = contact & (inv_j >= 0)

    state = np.where(contact, 1 + (chat_staff >= 0) + 2 * invited, 0)
    u = rng.random(m)
    channel = np.zeros(m, dtype=np.int8)
    for s in range(5):  # five WeCom states, each a vectorised categorical draw
        probs = _channel_probs(p, s > 0, bool((s - 1) & 1) if s else False, bool((s - 1) & 2) if s else False)
        cum = np.cumsum(probs) / probs.sum()
        sel = state == s
        position = np.minimum(np.searchsorted(cum, u[sel], side="right"), len(probs) - 1)
        channel[sel] = _DRAW_CODES[position]  # draw position -> contract code

    home = cust.home[o_cust]
    chat_store = world.staff_store(np.maximum(chat_staff, 0))
    store = np.full(m, -1, dtype=np.int64)
    in_store = (channel == ORDER_CHANNEL_CODE["pos"]) | (channel == ORDER_CHANNEL_CODE["proxy_order"])
    store[in_store] = np.where(chat_staff >= 0, chat_store, home)[in_store]
    store[channel == ORDER_CHANNEL_CODE["mini_program"]] = home[channel == ORDER_CHANNEL_CODE["mini_program"]]
    transfer = channel == ORDER_CHANNEL_CODE["wecom_transfer"]
    store[transfer] = world.staff_store(guide[transfer])
    share = np.full(m, -1, dtype=np.int64)
    share[transfer] = guide[transfer]
    proxy = channel == ORDER_CHANNEL_CODE["proxy_order"]
    share[proxy] = np.where(chat_staff >= 0, chat_staff, guide)[proxy]
    task = np.full(m, -1, dtype=np.int64)
    link = (channel == ORDER_CHANNEL_CODE["mini_program"]) & (push_j >= 0) & (rng.random(m) < p.link_prob)
    task[link], share[link] = push_task[push_j[link]], push_s[push_j[link]]
    live = (channel == ORDER_CHANNEL_CODE["channels_live"]) & (inv_j >= 0)
    task[live], share[live] = inv_task[inv_j[live]], inv_s[inv_j[live]]
    return channel, store, task, share


def redeem_coupons(rng: np.random.Generator, o_cust: np.ndarray, o_t: np.ndarray, channel: np.ndarray,
            c_cust: np.ndarray, c_t: np.ndarray, p: SimulationParams) -> tuple[np.ndarray, np.ndarray]:
    """POS orders redeem the customer's latest coupon issued in the validity window, once each.

    Orders must be in time order; returns (coupon of each order or -1, redeeming order of
    each coupon or -1).
    """
    pos = np.flatnonzero(channel == ORDER_CHANNEL_CODE["pos"])
    j = Latest(c_cust, c_t).before(o_cust[pos], o_t[pos], p.coupon_valid_days * DAY)
    accept = (j >= 0) & (rng.random(len(pos)) < p.coupon_redeem_prob)
    pos, j = pos[accept], j[accept]
    _, first = np.unique(j, return_index=True)  # the earliest order wins a coupon
    pos, j = pos[first], j[first]
    order_coupon = np.full(len(o_cust), -1, dtype=np.int64)
    order_coupon[pos] = j
    coupon_order = np.full(len(c_cust), -1, dtype=np.int64)
    coupon_order[j] = pos
    return order_coupon, coupon_order
