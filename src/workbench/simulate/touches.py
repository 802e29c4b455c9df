"""Touches and HQ tasks: background chats, Moments, group messages, task pushes, coupons."""
from __future__ import annotations

import numpy as np

from .customers import Customers
from .draws import DAY, HOUR, MINUTE, MONTH_DAYS, NEVER, Clock, draw_categorical, poisson_times, uniform_secs
from .params import TOUCH_CODE, SimulationParams
from .relationships import Relationships
from .world import TASK_TYPES, World


class TouchLog:
    """Touches collected as integer arrays; staff and task -1 mean NULL."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, t: np.ndarray, cust: np.ndarray, staff: np.ndarray | int, kind: str,
            task: np.ndarray | int = -1) -> None:
        """Append touches (times, customers, staff, kind, task)."""
        k = len(t)
        self.parts.append((np.asarray(t, np.int64), np.asarray(cust, np.int32),
                           np.broadcast_to(np.asarray(staff, np.int32), (k,)),
                           np.full(k, TOUCH_CODE[kind], np.int8), np.broadcast_to(np.asarray(task, np.int32), (k,))))

    def select(self, kinds: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        """(time, customer, staff, task) of the touches of ``kinds`` that belong to a task."""
        codes = {TOUCH_CODE[k] for k in kinds}
        parts = [x for x in self.parts if len(x[0]) and int(x[3][0]) in codes]
        if not parts:
            return tuple(np.array([], np.int64) for _ in range(4))
        t, c, s, _, task = (np.concatenate(col) for col in zip(*parts, strict=False))
        keep = task >= 0
        return t[keep], c[keep].astype(np.int64), s[keep].astype(np.int64), task[keep].astype(np.int64)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The touches so far as arrays: time, customer, staff, kind, task."""
        if not self.parts:
            return tuple(np.array([], d) for d in (np.int64, np.int32, np.int32, np.int8, np.int32))
        return tuple(np.concatenate(c) for c in zip(*self.parts, strict=False))


class CouponLog:
    """Coupons collected as integer arrays: customer, issue time, issuing staff (-1: none), source."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, cust: np.ndarray, t: np.ndarray, staff: np.ndarray | int, source: str) -> None:
        """Append touches (customers, times, staff, source)."""
        k = len(cust)
        self.parts.append((np.asarray(cust, np.int64), np.asarray(t, np.int64),
                           np.broadcast_to(np.asarray(staff, np.int64), (k,)),
                           np.full(k, 0 if source == "wecom" else 1, np.int8)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The touches so far as arrays: customer, time, staff, source."""
        return tuple(np.concatenate(c) for c in zip(*self.parts, strict=False))


def background_touches(rng: np.random.Generator, clock: Clock, world: World, rel: Relationships,
                        p: SimulationParams, log: TouchLog) -> None:
    """Chats (all contacts, holdout included), Moments views and group messages."""
    span, sp = clock.span, rel.spells
    log.add(rel.chat_t, rel.chat_cust, rel.chat_staff, "chat")
    rep, t = poisson_times(rng, sp.start, np.minimum(sp.end, span), p.moments_rate_per_month / MONTH_DAYS)
    log.add(t, sp.cust[rep], sp.staff[rep], "moments")
    rep, t = poisson_times(rng, rel.mem_join, np.minimum(rel.mem_leave, span),
                            p.group_message_rate_per_month / MONTH_DAYS)
    # a departed owner's groups pass to the heir (离职继承 of groups): no message of a guide after leaving
    log.add(t, rel.mem_cust[rep], world.successor_at(world.group_owner[rel.mem_group[rep]], t), "group_message")


def hq_tasks(rng: np.random.Generator, clock: Clock, cust: Customers, rel: Relationships, p: SimulationParams,
              log: TouchLog, coupons: CouponLog, brand_rng: np.random.Generator | None = None,
              world: World | None = None, unsent: list[tuple] | None = None) -> list[tuple]:
    """2–4 HQ tasks a month, delivered to reached open contacts only (the holdout never sees them).

    The task definitions (count, day, type, delivery) come from ``brand_rng`` (default ``rng``):
    brand-level draws that every chunk of a chunked brand repeats identically. A guide who
    left between the task and the send sends nothing (``world``'s departures); ``unsent``
    collects, per mass-send task, (task, created, open spells, chosen mask) for ``mass_sends``.
    """
    brng = rng if brand_rng is None else brand_rng
    span, sp = clock.span, rel.spells
    reached = ~cust.holdout
    rows: list[tuple] = []
    type_p = np.array([w for *_, w in TASK_TYPES])
    for month in range(clock.months):  # a loop over months and tasks, each vectorised over contacts
        m0, m1 = clock.month_start(month), clock.month_start(month + 1)
        k = int(brng.integers(p.tasks_per_month_min, p.tasks_per_month_max + 1))
        n_days = max((m1 - m0) // DAY - 3, k)
        days = np.sort(brng.choice(n_days, size=k, replace=False))
        for j in range(k):
            ttype, label, _ = TASK_TYPES[int(draw_categorical(brng, type_p, 1)[0])]
            created = m0 + int(days[j]) * DAY + 10 * HOUR + int(brng.integers(0, 2 * HOUR))
            task = len(rows)
            idx = sp.open_at(created, reached)
            if ttype == "live":
                delivery, share, lag = "live_invite", p.live_invite_share, 6 * HOUR
            elif brng.random() < p.mass_send_task_share:
                delivery, share, lag = "mass_send", p.task_reach_share, HOUR
            else:
                delivery, share, lag = "task_push", p.task_reach_share, 10 * HOUR
            chosen = rng.random(len(idx)) < share
            sel = idx[chosen]
            t = created + uniform_secs(rng, float(lag), len(sel))
            ok = t < span
            sel, t = sel[ok], t[ok]
            # the draws above and below keep their sizes; a guide gone by the send time only drops rows
            left = world.left_at(sp.staff[sel]) if world is not None else np.full(len(sel), NEVER)
            here = t < left
            log.add(t[here], sp.cust[sel][here], sp.staff[sel][here], delivery, task)
            if unsent is not None and delivery == "mass_send":
                unsent.append((task, created, idx, chosen))
            if ttype == "promotion":
                c = sp.cust[sel]
                old_enough = cust.birth[c] <= created - p.coupon_min_age_days * DAY
                give = old_enough & (rng.random(len(sel)) < p.coupon_issue_share)
                ct = t[give] + MINUTE
                ok = (ct < span) & (ct < left[give])
                log.add(ct[ok], c[give][ok], sp.staff[sel][give][ok], "coupon_issue", task)
                coupons.add(c[give][ok], ct[ok], sp.staff[sel][give][ok], "wecom")
            month_label = clock.stamp(m0).strftime("%Y-%m")
            rows.append((f"T{task + 1:04d}", created, ttype, f"{label} {month_label} #{j + 1}", None, None, delivery))
    return rows
