"""Acquisition funnel and WeCom relationships: adds, contact spells, groups."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .customers import Customers
from .draws import (
    DAY,
    HOUR,
    MINUTE,
    MONTH_DAYS,
    NEVER,
    Clock,
    draw_categorical,
    last_per_group,
    lognormal_secs,
    poisson_times,
    uniform_secs,
    weibull_ph_times,
)
from .params import CHANNEL_GROUPS, SimulationParams
from .staffing import apply_staffing
from .world import BRAND_CODES, GROUPS_PER_STORE, STORE_CODES, World


@dataclass
class Spells:
    """Customer–staff contact spells, sorted by (customer, start)."""

    cust: np.ndarray
    staff: np.ndarray
    code: np.ndarray
    start: np.ndarray
    end: np.ndarray        # NEVER while open at as_of
    close: np.ndarray      # how the spell ended: index into staffing.EVENT_TYPES (0: open at as_of)
    number: np.ndarray     # 1 for the first add of the pair, 2 after a re-add, …
    add_way: np.ndarray    # index into staffing.ADD_WAYS of the add that opened the spell

    def open_at(self, t: int, customers: np.ndarray | None = None) -> np.ndarray:
        """One open spell per customer at ``t`` (the latest started), optionally only ``customers``."""
        m = (self.start <= t) & (self.end > t)
        if customers is not None:
            m &= customers[self.cust]
        idx = np.flatnonzero(m)
        return idx[last_per_group(self.cust[idx])]

    def open_for(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """For each (customer, time): the open spell started last, else -1."""
        lo = np.searchsorted(self.cust, cust, side="left")
        cnt = np.searchsorted(self.cust, cust, side="right") - lo
        rep = np.repeat(np.arange(len(cust)), cnt)
        idx = lo[rep] + (np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        ok = (self.start[idx] <= t[rep]) & (t[rep] < self.end[idx])
        rep, idx = rep[ok], idx[ok]
        last = last_per_group(rep)  # spells are in start order within a customer
        out = np.full(len(cust), -1, dtype=np.int64)
        out[rep[last]] = idx[last]
        return out


@dataclass
class Relationships:
    """The simulated contact spells, scans and group memberships."""

    spells: Spells
    scan_cust: np.ndarray
    scan_t: np.ndarray
    scan_code: np.ndarray
    scan_store: np.ndarray
    mem_cust: np.ndarray
    mem_group: np.ndarray
    mem_join: np.ndarray
    mem_leave: np.ndarray
    hook_cust: np.ndarray
    hook_t: np.ndarray
    hook_staff: np.ndarray
    chat_cust: np.ndarray
    chat_staff: np.ndarray
    chat_t: np.ndarray
    store_add_p: np.ndarray
    store_join_p: np.ndarray
    ever_added: np.ndarray
    second_cust: np.ndarray   # the member's own delete after the customer's (second closes)
    second_staff: np.ndarray
    second_t: np.ndarray
    staffing: dict[str, int]  # counts of the staffing processes (truth)


def build_relationships(rng: np.random.Generator, clock: Clock, world: World, cust: Customers,
                         p: SimulationParams, brand_rng: np.random.Generator | None = None,
                         habit_rngs: list[np.random.Generator] | None = None) -> Relationships:
    """Draw the funnel, contact spells and group memberships.

    Funnel, spells and memberships; store-level probabilities come from ``brand_rng``
    (default ``rng``), so that every chunk of a chunked brand draws the same stores.
    Departures, transfers, second closes and add ways (:mod:`.staffing`) correct the spells
    before anything is drawn from them; their draws come from ``habit_rngs`` (four
    generators), so the draws above keep their streams.
    """
    brng = rng if brand_rng is None else brand_rng
    n, span, home = cust.n, clock.span, cust.home
    # scan → add → join → claim
    store_scan = rng.random(n) < p.store_code_share
    kind = draw_categorical(rng, np.array([c[2] for c in STORE_CODES]), n)
    brand = draw_categorical(rng, np.array([c[4] for c in BRAND_CODES]), n)
    code = np.where(store_scan, world.store_code(home, kind), world.n_stores * len(STORE_CODES) + brand)
    scan_t = np.maximum(cust.birth - uniform_secs(rng, 120.0, n), 0)
    kappa = p.store_prob_concentration
    add_p = brng.beta(kappa * p.add_prob, kappa * (1 - p.add_prob), world.n_stores)
    join_p = brng.beta(kappa * p.join_prob, kappa * (1 - p.join_prob), world.n_stores)
    add_t = scan_t + lognormal_secs(rng, p.scan_to_add_median_minutes * MINUTE, p.scan_to_add_sigma, n)
    added = (rng.random(n) < add_p[home]) & (add_t < span)
    guide = world.pick_guide(rng, home)
    join_t = add_t + lognormal_secs(rng, p.add_to_join_median_hours * HOUR, p.add_to_join_sigma, n)
    joined = added & (rng.random(n) < join_p[home]) & (join_t < span)
    claim_t = join_t + lognormal_secs(rng, p.join_to_claim_median_hours * HOUR, p.join_to_claim_sigma, n)
    claimed = joined & (rng.random(n) < p.claim_prob) & (claim_t < span)
    solo_t = scan_t + lognormal_secs(rng, 10 * MINUTE, 1.0, n)
    solo = ~added & (rng.random(n) < p.group_only_share) & (solo_t < span)

    # person-times ≠ persons: a second guide of the same store, a guide of another store
    second_t = add_t + 10 * MINUTE + (rng.exponential(p.second_guide_gap_mean_days, n) * DAY).astype(np.int64)
    second = added & (rng.random(n) < p.second_guide_share) & (world.guide_count[home] > 1) & (second_t < span)
    second_guide = world.pick_other_guide(rng, home, guide)
    far = (home + rng.integers(1, world.n_stores, n)) % world.n_stores
    far_t = add_t + HOUR + (rng.exponential(p.other_store_gap_mean_days, n) * DAY).astype(np.int64)
    far_scan_t = far_t - uniform_secs(rng, 120.0, n)
    other = added & (rng.random(n) < p.other_store_share) & (far_t < span)
    far_guide = world.pick_guide(rng, far)
    far_code = world.store_code(far, np.zeros(n, np.int64))

    i1, i2, i3 = np.flatnonzero(added), np.flatnonzero(second), np.flatnonzero(other)
    first_round = (np.concatenate([i1, i2, i3]),
                   np.concatenate([guide[i1], second_guide[i2], far_guide[i3]]),
                   np.concatenate([code[i1], code[i2], far_code[i3]]),
                   np.concatenate([add_t[i1], second_t[i2], far_t[i3]]))
    chat_mean = brng.uniform(p.early_chat_mean_low, p.early_chat_mean_high, world.n_stores)
    natural = _contact_spells(rng, clock, world, p, *first_round, chat_mean)

    def draw_spells(g: np.random.Generator, c: np.ndarray, s: np.ndarray, k: np.ndarray,
                    t: np.ndarray) -> tuple:
        return _contact_spells(g, clock, world, p, c, s, k, t, chat_mean)

    hr = habit_rngs if habit_rngs is not None else [np.random.default_rng([0, 16, 1, i]) for i in range(4)]
    st = apply_staffing(hr, clock, world, p, natural[:7], natural[7], draw_spells)
    order = np.lexsort((st.start, st.cust))
    spells = Spells(*(a[order] for a in (st.cust, st.staff, st.code, st.start, st.end, st.close, st.number,
                                         st.add_way)))
    chats = st.chats

    # group memberships: adders who join, plus (optionally) some who join without adding
    members = np.flatnonzero(joined | solo)
    mem_join = np.where(joined, join_t, solo_t)[members]
    mem_group = GROUPS_PER_STORE * home[members] + rng.integers(0, GROUPS_PER_STORE, len(members))
    life = p.group_leave_scale_days * DAY * rng.weibull(p.group_leave_shape, len(members))
    mem_leave = mem_join + np.minimum(life, 4e9).astype(np.int64)
    mem_leave = np.where(mem_leave < span, mem_leave, NEVER)

    hooks = np.flatnonzero(claimed)
    hook_staff = world.successor_at(guide[hooks], claim_t[hooks])  # a departed guide's coupons: the heir's
    ever_added = np.zeros(n, dtype=bool)
    ever_added[spells.cust] = True
    return Relationships(
        spells=spells,
        scan_cust=np.concatenate([np.arange(n), i3]), scan_t=np.concatenate([scan_t, far_scan_t[i3]]),
        scan_code=np.concatenate([code, far_code[i3]]),
        scan_store=np.concatenate([np.where(store_scan, home, -1), far[i3]]),
        mem_cust=members, mem_group=mem_group, mem_join=mem_join, mem_leave=mem_leave,
        hook_cust=hooks, hook_t=claim_t[hooks], hook_staff=hook_staff,
        chat_cust=chats[0], chat_staff=chats[1], chat_t=chats[2],
        store_add_p=add_p, store_join_p=join_p, ever_added=ever_added,
        second_cust=st.second[0], second_staff=st.second[1], second_t=st.second[2], staffing=st.counts)


def _contact_spells(rng: np.random.Generator, clock: Clock, world: World, p: SimulationParams,
                    cust: np.ndarray, staff: np.ndarray, code: np.ndarray, start: np.ndarray,
                    chat_mean: np.ndarray) -> tuple:
    """Spell lifetimes from the proportional-hazards Weibull model, early chats, and re-adds.

    One loop iteration per re-add round (a handful), each vectorised over all spells.
    Returns (cust, staff, code, start, end, close, number, (chat cust, staff, time, spell)),
    spells in draw order; ``close`` is 0 while open, 1 deleted by the customer, 2 by staff.
    """
    span = clock.span
    landmark = int(p.landmark_days * DAY)
    beta_group = np.array([p.log_hr_channel[g] for g in CHANNEL_GROUPS])
    spell_parts: list[tuple[np.ndarray, ...]] = []
    chat_parts: list[tuple[np.ndarray, ...]] = []
    number, done = 1, 0
    while len(cust):
        m = len(cust)
        store = world.staff_store(staff)
        eta0 = beta_group[world.code_group[code]] + p.log_hr_tool * world.tool[store]
        early = rng.poisson(chat_mean[store])
        eta1 = eta0 + p.log_hr_early_chat * early
        dur = weibull_ph_times(rng.exponential(1.0, m), p.weibull_shape, p.weibull_scale_days * DAY, eta0, eta1,
                                landmark)
        end = start + np.minimum(dur, 4e9).astype(np.int64)
        ended = end < span
        end = np.where(ended, end, NEVER)
        by_staff = ended & (rng.random(m) < p.staff_delete_share)
        close = np.where(ended, np.where(by_staff, 2, 1), 0).astype(np.int8)
        spell_parts.append((cust, staff, code, start, end, close, np.full(m, number, np.int64)))
        # early chats: uniform over the first `landmark` seconds, sent only while the spell is open
        rep = np.repeat(np.arange(m), early)
        t = start[rep] + uniform_secs(rng, float(landmark), len(rep))
        ok = (t < end[rep]) & (t < span)
        chat_parts.append((cust[rep[ok]], staff[rep[ok]], t[ok], done + rep[ok]))
        # later chats at a low rate while open
        rep, t = poisson_times(rng, start + landmark, np.minimum(end, span), p.later_chat_rate_per_month / MONTH_DAYS)
        chat_parts.append((cust[rep], staff[rep], t, done + rep))
        # re-adds of the same staff member; some within the same day
        same_day = rng.random(m) < p.readd_same_day_share
        gap = MINUTE + np.where(same_day, uniform_secs(rng, 6.0 * HOUR - MINUTE, m),
                                (rng.exponential(p.readd_gap_mean_days, m) * DAY).astype(np.int64))
        nxt = np.where(ended, end, 0) + gap
        back = ended & (rng.random(m) < p.readd_prob) & (nxt < span)
        cust, staff, code, start = cust[back], staff[back], code[back], nxt[back]
        number += 1
        done += m
    if not spell_parts:
        empty = np.array([], np.int64)
        return (empty, empty, empty, empty, empty, np.array([], np.int8), empty, (empty, empty, empty, empty))
    cols = tuple(np.concatenate(c) for c in zip(*spell_parts, strict=True))
    chats = tuple(np.concatenate(c) for c in zip(*chat_parts, strict=True))
    return (*cols, chats)
