"""WeCom behaviour tables: ``staff_daily`` (get_user_behavior_data) and ``mass_sends`` (send results).

``staff_daily`` is built from additive per-(guide, day) counts, so a chunked brand sums its
chunks' grids and builds the table once; its day-level draws (extra applications,
customer-initiated chats, replies, reply minutes) come from a brand-level generator over the
whole grid. ``mass_sends`` rows are per customer, drawn per chunk from the chunk's own
generator: the touches keep their draws.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .customers import Customers
from .draws import DAY, NEVER, Clock, make_frame
from .params import SimulationParams
from .relationships import Relationships
from .staffing import DEL_CUSTOMER, habit_rng
from .touches import TouchLog
from .world import World

#: Share of a day's chats the customer started (WeCom's reply rate counts only those).
CUSTOMER_INITIATED_SHARE = 0.6
#: Friend requests a guide receives per day beyond those accepted (Poisson mean).
EXTRA_APPLY_RATE = 0.3
#: Log-sd of a single reply time around the guide's mean.
REPLY_SIGMA = 0.5
#: A mass send assigned from a customer list this many days stale reaches ended contacts: 'not_friend'.
NOT_FRIEND_WINDOW_DAYS = 7
MASS_SEND_STATUSES = ("sent", "not_sent", "not_friend")


def n_days(clock: Clock) -> int:
    """Calendar days touched by the window ``[t0, as_of)``."""
    first = clock.t0.normalize()
    last = (clock.as_of - pd.Timedelta(seconds=1)).normalize()
    return int((last - first).days) + 1


def day_index(clock: Clock, t: np.ndarray) -> np.ndarray:
    """Calendar day (0 = the day of ``t0``) of times in seconds since ``t0``."""
    offset = int((clock.t0 - clock.t0.normalize()) // pd.Timedelta(seconds=1))
    return (np.asarray(t, np.int64) + offset) // DAY


def staff_day_counts(clock: Clock, world: World, cust: Customers, rel: Relationships) -> dict[str, np.ndarray]:
    """Additive per-(guide, day) counts of one part: adds, customers' deletes, chat touches, chat customers.

    Flat arrays over ``guide * n_days + day``; chunks sum them.
    """
    g, d = len(world.guide_store), n_days(clock)
    size = g * d
    sp = rel.spells

    def cells(staff: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.asarray(staff, np.int64) * d + day_index(clock, t)

    neg = sp.close == DEL_CUSTOMER
    chat_cell = cells(rel.chat_staff, rel.chat_t)
    pairs = np.unique(chat_cell * max(cust.n, 1) + np.asarray(rel.chat_cust, np.int64))
    return {
        "add_sd_adds": np.bincount(cells(sp.staff, sp.start), minlength=size),
        "add_sd_neg": np.bincount(cells(sp.staff[neg], sp.end[neg]), minlength=size),
        "add_sd_chat_touches": np.bincount(chat_cell, minlength=size),
        "add_sd_chat_customers": np.bincount(pairs // max(cust.n, 1), minlength=size),
    }


def staff_daily_table(seed: int, clock: Clock, world: World, counts: dict[str, np.ndarray]) -> pd.DataFrame:
    """``staff_daily``: every guide's every day from the first to the last day active in the window.

    ``new_contact_cnt`` adds (takeovers included), ``negative_feedback_cnt`` deletes by the
    customer, ``chat_cnt`` customers chatted to, ``message_cnt`` chat touches times the
    guide's messages per chat (rounded), ``new_apply_cnt`` adds plus Poisson extra requests;
    ``reply_percentage`` replied share of customer-initiated chats (NULL without one),
    ``avg_reply_time`` minutes (NULL without a reply).
    """
    g, d = len(world.guide_store), n_days(clock)
    rng = habit_rng(seed, 0, 3)
    b = world.behavior
    # rows in (day, guide) order, which is (stat_date, staff_id) order: staff ids follow guide order
    day = np.repeat(np.arange(d), g)
    guide = np.tile(np.arange(g), d)
    cell = guide * d + day
    counts = {k: v[cell] for k, v in counts.items() if k.startswith("add_sd_")}
    chats = counts["add_sd_chat_customers"].astype(np.int64)
    extra = rng.poisson(EXTRA_APPLY_RATE, g * d)
    initiated = rng.binomial(chats, CUSTOMER_INITIATED_SHARE)
    replied = rng.binomial(initiated, b["reply_rate"][guide])
    sigma = REPLY_SIGMA / np.sqrt(np.maximum(replied, 1))
    minutes = b["reply_minutes"][guide] * np.exp(sigma * rng.standard_normal(g * d) - sigma ** 2 / 2)
    last = np.where(world.guide_left == NEVER, d - 1, day_index(clock, np.minimum(world.guide_left, clock.span)))
    active = day <= last[guide]  # guides were hired before the window; a leaver's last day is the day they left
    adds = counts["add_sd_adds"].astype(float)
    frame = make_frame({
        "stat_date": (clock.t0.normalize() + pd.to_timedelta(day, unit="D")).to_numpy().astype("datetime64[us]"),
        "staff_id": world.staff_ids[guide],
        "new_apply_cnt": adds + extra,
        "new_contact_cnt": adds,
        "chat_cnt": chats.astype(float),
        "message_cnt": np.round(counts["add_sd_chat_touches"] * b["messages_per_chat"][guide]),
        "negative_feedback_cnt": counts["add_sd_neg"].astype(float),
        "reply_percentage": np.where(initiated > 0, 100.0 * replied / np.maximum(initiated, 1), np.nan),
        "avg_reply_time": np.where(replied > 0, np.round(minutes, 2), np.nan),
    })
    return frame[active].reset_index(drop=True)


def mass_sends_table(rng: np.random.Generator, clock: Clock, world: World, cust: Customers, rel: Relationships,
                     p: SimulationParams, log: TouchLog, unsent: list[tuple], task_ids: np.ndarray,
                     task_created: np.ndarray) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``mass_sends``: every mass-send touch 'sent', assigned customers not sent to, ended contacts.

    A guide sends each assigned customer with their execution rate ``e``: HQ's touches (share
    ``s`` of the open contacts) are the sends, so an open contact not sent to was assigned with
    probability ``(s/e − s)/(1 − s)`` ('not_sent'). Contacts that ended in the
    ``NOT_FRIEND_WINDOW_DAYS`` before the task are on the stale list with probability ``s``
    ('not_friend'). Returns the table and additive truth statistics.
    """
    sp = rel.spells
    g = len(world.guide_store)
    s = p.task_reach_share
    e = world.behavior["exec_rate"]
    q = np.clip((s / e - s) / (1 - s), 0.0, 1.0) if s < 1 else np.zeros(g)
    t, c, st, task = log.select(("mass_send",))
    parts = [(task, st, c, np.zeros(len(t), np.int8), t)]
    opportunities = np.zeros(g, np.int64)
    reached = ~cust.holdout
    for k, created, idx_all, chosen in unsent:  # a loop over mass-send tasks, vectorised over contacts
        opportunities += np.bincount(sp.staff[idx_all], minlength=g)
        idx = idx_all[~chosen]
        staff = sp.staff[idx]
        miss = rng.random(len(idx)) < q[staff]
        parts.append((np.full(int(miss.sum()), k), staff[miss], sp.cust[idx][miss], np.ones(int(miss.sum()), np.int8),
                      np.full(int(miss.sum()), NEVER)))
        gone = (sp.end < created) & (sp.end >= created - NOT_FRIEND_WINDOW_DAYS * DAY) & reached[sp.cust] & \
            (world.left_at(sp.staff) > created)
        cand = np.flatnonzero(gone)
        open_now = np.flatnonzero((sp.start <= created) & (sp.end > created))
        key = sp.cust[cand] * (g + 1) + sp.staff[cand]
        fresh = ~np.isin(key, sp.cust[open_now] * (g + 1) + sp.staff[open_now])
        _, first = np.unique(key, return_index=True)
        once = np.zeros(len(cand), bool)
        once[first] = True
        pick = fresh & once & (rng.random(len(cand)) < s)
        nf = cand[pick]
        parts.append((np.full(len(nf), k), sp.staff[nf], sp.cust[nf], np.full(len(nf), 2, np.int8),
                      np.full(len(nf), NEVER)))
    k_, s_, c_, status, when = (np.concatenate([np.asarray(x[i]) for x in parts]) for i in range(5))
    k_, s_, c_ = k_.astype(np.int64), s_.astype(np.int64), c_.astype(np.int64)
    o = np.lexsort((c_, s_, k_))
    k_, s_, c_, status, when = k_[o], s_[o], c_[o], status[o], when[o]
    frame = make_frame({
        "task_id": task_ids[k_],
        "staff_id": world.staff_ids[s_],
        "customer_id": cust.ids[c_],
        "created_at": clock.dt(task_created[k_]),
        "status": np.array(MASS_SEND_STATUSES, dtype=object)[status],
        "send_time": clock.dt(when),
    })
    stats = {"add_ms_opportunities": opportunities,
             **{f"ms_{name}": int((status == i).sum()) for i, name in enumerate(MASS_SEND_STATUSES)}}
    return frame, stats


def mass_send_truth(world: World, p: SimulationParams, st: dict[str, Any]) -> dict[str, Any]:
    """``truth['mass_send']``: per-guide execution rates and the brand rate they imply."""
    e = world.behavior["exec_rate"]
    n = st["add_ms_opportunities"].astype(float)
    brand = float(n.sum() / (n / e).sum()) if n.sum() else float("nan")
    return {
        "staff_exec_rate": {str(k): round(float(v), 6) for k, v in zip(world.staff_ids, e, strict=False)},
        "brand_rate": brand,
        "exec_rate_beta": [p.exec_rate_a, p.exec_rate_b],
        "not_friend_window_days": NOT_FRIEND_WINDOW_DAYS,
        "rows": {name: int(st[f"ms_{name}"]) for name in MASS_SEND_STATUSES},
        "definition": "execution rate = sent / (sent + not_sent) over a guide's assigned customers of mass-send "
                      "tasks; 'not_friend' rows (the contact ended before the task) are left out. Per-guide rates "
                      f"are Beta({p.exec_rate_a:g}, {p.exec_rate_b:g}) draws raised to at least task_reach_share; "
                      "brand_rate is the expected brand-level rate: open contacts at each mass-send task weighted "
                      "sum(n_g) / sum(n_g / e_g). 'already_received' is not simulated.",
    }
