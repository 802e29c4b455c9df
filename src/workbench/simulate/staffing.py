"""WeCom staffing habits: staff names, departures (离职继承), in-service transfers (在职继承), second closes.

Every draw here comes from generators of their own (:func:`habit_rng`), so the processes that
existed before them keep their random streams: the world's draws, the funnel, the spells'
lifetimes. World-level draws (who leaves and when, heirs, names, per-guide behaviour) are keyed
on the seed alone, so every chunk of a chunked brand draws the same world.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .draws import DAY, HOUR, NEVER, Clock, first_per_group, uniform_secs
from .params import SimulationParams
from .world import BRAND_CODES, STORE_CODES, World

#: Random streams of the WeCom habits: ``[seed, HABIT_STREAM, ...]`` never collides with a
#: ``SeedSequence(seed).spawn`` child, so the existing streams are untouched.
HABIT_STREAM = 16
#: Spell close codes, the index into this tuple (0: still open at as_of).
EVENT_TYPES = ("add", "delete_by_customer", "delete_by_staff", "transfer", "staff_left")
OPEN, DEL_CUSTOMER, DEL_STAFF, TRANSFER, STAFF_LEFT = range(5)
#: WeCom ``add_way`` codes the simulator writes, with the initiator each implies.
ADD_WAYS = ("1", "2", "3", "4", "202")
ADD_WAY_INITIATOR = ("customer", "staff", "customer", "customer", "admin")
TAKEOVER_WAY = ADD_WAYS.index("202")
#: Adds under the brand code ``OTHER`` ("Other / unknown") came without a contact-me code:
#: phone search ('2', the member sends the request), card share ('3'), group ('4').
OTHER_CODE_ADD_WAYS = {"2": 0.5, "3": 0.3, "4": 0.2}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
_GIVEN = "丽敏静芳娜秀英华慧巧美娟燕玲婷雪琳晶颖欣怡佳悦晓梦璐伟强磊军洋勇杰涛明超刚平辉鹏浩宇晨阳"


def habit_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator of the WeCom-habit draws, independent of every existing stream.

    Examples
    --------
    >>> float(habit_rng(1, 0, 0).random()) == float(habit_rng(1, 0, 0).random())
    True
    """
    return np.random.default_rng([int(seed), HABIT_STREAM, *(int(k) for k in key)])


def staff_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` Chinese names: a common surname and a one- or two-character given name.

    Examples
    --------
    >>> names = staff_names(habit_rng(0, 9), 3)
    >>> all(2 <= len(s) <= 3 for s in names)
    True
    """
    sur = rng.integers(0, len(_SURNAMES), n)
    g1, g2 = rng.integers(0, len(_GIVEN), n), rng.integers(0, len(_GIVEN), n)
    two = rng.random(n) < 0.6
    return np.array([_SURNAMES[s] + _GIVEN[a] + (_GIVEN[b] if t else "")  # a loop over staff: small
                     for s, a, b, t in zip(sur, g1, g2, two, strict=True)], dtype=object)


def add_staffing(world: World, seed: int, clock: Clock, p: SimulationParams) -> World:
    """Departures in the window, heirs, names and per-guide behaviour, added to ``world``.

    At most one guide per store leaves, and only in stores with another guide, so every
    leaver has a colleague who stays to take the relationships over. ``left_at`` is uniform
    in the window's second half.
    """
    rng = habit_rng(seed, 0, 0)
    n_g = len(world.guide_store)
    eligible = np.flatnonzero(world.guide_count >= 2)
    k = min(int(round(p.staff_leave_share * n_g)), len(eligible))
    stores = np.sort(rng.choice(eligible, size=k, replace=False)) if k else np.array([], np.int64)
    leaver = world.guide_offset[stores] + (rng.random(k) * world.guide_count[stores]).astype(np.int64)
    half = clock.span // 2
    left = np.full(n_g, NEVER, dtype=np.int64)
    left[leaver] = half + uniform_secs(rng, float(clock.span - half), k)
    stayers = np.flatnonzero(left == NEVER)  # guide order is store order
    count = np.bincount(world.guide_store[stayers], minlength=world.n_stores)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    heir = np.full(n_g, -1, dtype=np.int64)
    heir[leaver] = stayers[offset[stores] + (rng.random(k) * count[stores]).astype(np.int64)]

    staff = world.tables["staff"]
    left_col = staff["left_at"].to_numpy().copy()
    left_col[leaver] = clock.dt(left[leaver])
    names = staff_names(habit_rng(seed, 0, 1), len(staff))
    cols = {c: staff[c].to_numpy() for c in staff.columns}
    cols["left_at"], cols["staff_name"] = left_col, names
    from .draws import make_frame

    brng = habit_rng(seed, 0, 2)
    behavior = {
        "exec_rate": np.maximum(brng.beta(p.exec_rate_a, p.exec_rate_b, n_g), p.task_reach_share),
        "reply_rate": brng.uniform(p.reply_rate_low, 1.0, n_g),
        "reply_minutes": p.reply_minutes_median * np.exp(brng.normal(0.0, 0.5, n_g)),
        "messages_per_chat": np.round(brng.uniform(2.0, 6.0, n_g), 1),
    }
    tables = dict(world.tables) | {"staff": make_frame(cols)}
    return replace(world, tables=tables, guide_left=left, guide_heir=heir, stayers=stayers, stayer_offset=offset,
                   stayer_count=count, behavior=behavior)


@dataclass
class StaffingResult:
    """Spell-level arrays after departures, transfers and overlap checks."""

    cust: np.ndarray
    staff: np.ndarray
    code: np.ndarray
    start: np.ndarray
    end: np.ndarray
    close: np.ndarray
    number: np.ndarray
    add_way: np.ndarray
    chats: tuple[np.ndarray, np.ndarray, np.ndarray]
    second: tuple[np.ndarray, np.ndarray, np.ndarray]
    counts: dict[str, int]


SpellFn = Callable[[np.random.Generator, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple]


def apply_staffing(rngs: list[np.random.Generator], clock: Clock, world: World, p: SimulationParams,
                   spells: tuple[np.ndarray, ...], chats: tuple[np.ndarray, ...],
                   draw_spells: SpellFn) -> StaffingResult:
    """Departures, transfers, takeovers, second closes and add ways on the natural spells.

    ``spells`` are (cust, staff, code, start, end, close, number); ``chats`` (cust, staff, t,
    spell index). ``draw_spells(rng, cust, staff, code, start)`` draws fresh spells from the
    hazard model (the takeovers) in the same form. ``rngs``: four generators of this part.
    """
    cust, staff, code, start, end, close, number = (np.array(a) for a in spells)
    ch_cust, ch_staff, ch_t, ch_spell = chats
    span = clock.span
    n0 = len(cust)
    keep = np.ones(n0, dtype=bool)
    # pairs whose first add comes after the guide left: the customer added the heir (the QR code went on)
    pair_order = np.lexsort((start, staff, cust))
    first = first_per_group(cust[pair_order] * (len(world.guide_store) + 1) + staff[pair_order])
    group = np.cumsum(first) - 1
    pair_first_start = np.empty(n0, np.int64)
    pair_first_start[pair_order] = start[pair_order][first][group]
    leave = world.left_at(staff)
    redirect = pair_first_start >= leave
    keep &= ~((start >= leave) & ~redirect)  # a re-add of a guide who has gone
    staff = np.where(redirect, world.guide_heir[staff], staff)
    leave = np.where(redirect, NEVER, leave)
    cut = keep & (start < leave) & (end > leave)
    end[cut] = leave[cut]
    moved = cut & (rngs[0].random(n0) < p.departure_transfer_share)
    close[cut] = np.where(moved[cut], TRANSFER, STAFF_LEFT)
    take_src = np.flatnonzero(moved)
    take_at = leave[take_src]
    # in-service transfers between two guides of a store, at a uniform time while open
    is_stayer = world.guide_left[staff] == NEVER
    others = world.stayer_count[world.guide_store[staff]] - is_stayer
    stop = np.minimum(end, span)
    u = rngs[0].random(n0)
    at = start + uniform_secs(rngs[0], np.maximum(stop - start, 0).astype(float))
    active = keep & (close != STAFF_LEFT) & (close != TRANSFER) & (others > 0) & (u < p.active_transfer_share) & \
        (at > start) & (at < stop)
    end[active], close[active] = at[active], TRANSFER
    take_src = np.concatenate([take_src, np.flatnonzero(active)])
    take_at = np.concatenate([take_at, at[active]])
    # spells of a pair after one moved away never happen (the natural delete that led to them did not)
    keep &= ~_after_in_pair(cust, staff, start, close == TRANSFER) & ~_after_in_pair(cust, staff, start,
                                                                                     close == STAFF_LEFT)
    # takeovers: another guide of the store who stays, 24 h later, a fresh spell from the hazard model
    target = _other_stayer(rngs[0], world, staff[take_src])
    t_start = take_at + int(p.takeover_delay_hours * HOUR)
    ok = t_start < span
    new = draw_spells(rngs[1], cust[take_src][ok], target[ok], code[take_src][ok], t_start[ok])
    n_cust, n_staff, n_code, n_start, n_end, n_close, n_number, (nc_cust, nc_staff, nc_t, nc_spell) = new
    takeover_first = n_number == 1

    cust = np.concatenate([cust, n_cust])
    staff = np.concatenate([staff, n_staff])
    code = np.concatenate([code, n_code])
    start = np.concatenate([start, n_start])
    end = np.concatenate([end, n_end])
    close = np.concatenate([close, n_close])
    number = np.concatenate([number, n_number])
    keep = np.concatenate([keep, np.ones(len(n_cust), bool)])
    is_takeover = np.concatenate([np.zeros(n0, bool), takeover_first])
    keep &= ~_overlapping(cust, staff, start, np.where(close == OPEN, NEVER, end), keep)

    # chats follow the corrected spells: none after a spell's new end, none of dropped spells
    c_spell = np.concatenate([ch_spell, nc_spell + n0])
    c_t = np.concatenate([ch_t, nc_t])
    c_ok = keep[c_spell] & (c_t < np.where(close[c_spell] == OPEN, NEVER, end[c_spell]))
    c_spell, c_t = c_spell[c_ok], c_t[c_ok]
    chats_out = (cust[c_spell], staff[c_spell], c_t)

    idx = np.flatnonzero(keep)
    cust, staff, code, start, end, close, number, is_takeover = (
        a[idx] for a in (cust, staff, code, start, end, close, number, is_takeover))
    end = np.where(close == OPEN, NEVER, end)
    add_way = _add_ways(rngs[2], world, code, is_takeover)
    second = _second_closes(rngs[3], clock, world, p, cust, staff, start, end, close)
    counts = {"transfer": int((close == TRANSFER).sum()), "staff_left": int((close == STAFF_LEFT).sum()),
              "takeover_adds": int(is_takeover.sum()), "redirected_adds": int(redirect[keep[:n0]].sum()),
              "active_transfers": int(active.sum()), "second_closes": int(len(second[0]))}
    return StaffingResult(cust, staff, code, start, end, close, number, add_way, chats_out, second, counts)


def _after_in_pair(cust: np.ndarray, staff: np.ndarray, start: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Spells that start after a flagged spell of the same customer–staff pair."""
    o = np.lexsort((start, staff, cust))
    key = cust[o] * (int(staff.max(initial=0)) + 2) + staff[o]
    first = first_per_group(key)
    cs = np.cumsum(flag[o])
    base = np.maximum.accumulate(np.where(first, cs - flag[o], 0))  # flags before each group
    out = np.empty(len(o), bool)
    out[o] = (cs - flag[o] - base) > 0
    return out


def _overlapping(cust: np.ndarray, staff: np.ndarray, start: np.ndarray, end: np.ndarray,
                 keep: np.ndarray) -> np.ndarray:
    """Spells that open while an earlier kept spell of the same pair is open (repeated opens: dropped)."""
    drop = np.zeros(len(cust), bool)
    while True:  # a few rounds at most: each drops the first overlap of every pair
        idx = np.flatnonzero(keep & ~drop)
        idx = idx[np.lexsort((start[idx], staff[idx], cust[idx]))]
        same = (cust[idx][1:] == cust[idx][:-1]) & (staff[idx][1:] == staff[idx][:-1])
        bad = same & (start[idx][1:] < end[idx][:-1])
        if not bad.any():
            return drop
        first_bad = bad & ~np.concatenate([[False], bad[:-1]])
        drop[idx[1:][first_bad]] = True


def _other_stayer(rng: np.random.Generator, world: World, staff: np.ndarray) -> np.ndarray:
    """A guide of the same store who stays, other than ``staff``, drawn uniformly."""
    store = world.guide_store[staff]
    cnt, off = world.stayer_count[store], world.stayer_offset[store]
    own = np.searchsorted(world.stayers, staff)
    is_stayer = (own < len(world.stayers)) & (world.stayers[np.minimum(own, len(world.stayers) - 1)] == staff)
    k = (rng.random(len(staff)) * (cnt - is_stayer)).astype(np.int64)
    k = np.where(is_stayer & (k >= own - off), k + 1, k)  # skip the guide's own place among the stayers
    return world.stayers[off + k]


def _add_ways(rng: np.random.Generator, world: World, code: np.ndarray, takeover: np.ndarray) -> np.ndarray:
    """``add_way`` index of each spell's add: QR/channel codes '1', the ``OTHER`` code phone/card/group."""
    other_code = world.n_stores * len(STORE_CODES) + [c[0] for c in BRAND_CODES].index("OTHER")
    ways = np.zeros(len(code), np.int8)
    probs = np.array(list(OTHER_CODE_ADD_WAYS.values()))
    pick = np.searchsorted(np.cumsum(probs) / probs.sum(), rng.random(len(code)), side="right")
    way_idx = np.array([ADD_WAYS.index(w) for w in OTHER_CODE_ADD_WAYS], np.int8)
    ways = np.where(code == other_code, way_idx[np.minimum(pick, len(probs) - 1)], ways)
    return np.where(takeover, TAKEOVER_WAY, ways).astype(np.int8)


def _second_closes(rng: np.random.Generator, clock: Clock, world: World, p: SimulationParams, cust: np.ndarray,
                   staff: np.ndarray, start: np.ndarray, end: np.ndarray,
                   close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The member's own delete of a contact the customer already deleted: (cust, staff, time).

    1 to ``second_close_max_days`` days after the customer's delete, only before the pair's
    next add, before as_of and while the member is still with the company.
    """
    o = np.lexsort((start, staff, cust))
    nxt = np.full(len(o), NEVER, dtype=np.int64)
    same = (cust[o][1:] == cust[o][:-1]) & (staff[o][1:] == staff[o][:-1])
    nxt[o[:-1][same]] = start[o][1:][same]
    u = rng.random(len(cust))
    t = np.where(close == DEL_CUSTOMER, end, 0) + DAY + uniform_secs(rng, (p.second_close_max_days - 1) * DAY,
                                                                      len(cust))
    ok = (close == DEL_CUSTOMER) & (u < p.second_close_share) & (t < nxt) & (t < clock.span) & \
        (t < world.left_at(staff))
    return cust[ok], staff[ok], t[ok]
