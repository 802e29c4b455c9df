"""The randomised experiments EXP_CUST and EXP_STORE and their truth.

EXP_CUST's treatment effect is heterogeneous (``SimulationParams.exp_cust_heterogeneity``):
the extra-order probability of a treated unit is ``pc + (pt - pc) * m`` with a lift
multiplier ``m`` by segment (:data:`EXP_CUST_SEGMENTS`), a rule on what the contract
tables show at the start: any order before it, the channel group of the customer's first
add, and the days from that add to the start. Multipliers are normalised over the realised
treated units, so their mean extra-order probability is exactly ``pt`` as without
heterogeneity. The draws are today's: the number of treated units with an extra order is
the number of uniform draws below ``pt``, as before, and which treated units get them is a
systematic sample with probabilities proportional to their own (exact inclusion
probabilities; the units in the random order of those uniforms, the start from a child
generator), so every other table of the brand is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from .customers import Customers
from .draws import DAY, HOUR, NEVER, Clock, first_per_group, uniform_secs
from .params import CHANNEL_GROUPS, SimulationParams
from .relationships import Relationships, Spells
from .touches import TouchLog
from .world import World

#: Segments of EXP_CUST units, in the order of their codes: name, lift multiplier at full heterogeneity
#: (before normalisation), the rule in words.
EXP_CUST_SEGMENTS: tuple[tuple[str, float, str], ...] = (
    ("no_purchase", 0.0, "no order before the start"),
    ("buyer_other_channel", 0.0, "an order before the start; first added through a code outside offline_store"),
    ("buyer_store_established", 0.5, "an order before the start; first added through an offline_store code, "
                                     "60 days or more before the start"),
    ("buyer_store_new", 6.0, "an order before the start; first added through an offline_store code less than "
                             "60 days before the start"),
)
#: A relationship whose first add is less than this many days before the start is new.
NEW_RELATIONSHIP_DAYS = 60
#: The segment rule on contract columns (the features of workbench.targeting.customer_features at the start).
EXP_CUST_SEGMENT_RULE = {
    "has_bought": "an orders row of the customer with order_time < experiments.start_at",
    "first_add": "the customer's first contact_events 'add' (earliest event_time, ties to the lower staff_id); "
                 "its channel_code's channels.channel_group, and tenure_days = (start_at - its event_time) in "
                 "days of 86,400 s",
    "segment": "no_purchase if not has_bought; else buyer_other_channel if channel_group != 'offline_store'; "
               f"else buyer_store_new if tenure_days < {NEW_RELATIONSHIP_DAYS}; else buyer_store_established",
}


@dataclass
class Experiments:
    """The simulated experiments: their rows, tasks, assignments and extra touches."""

    rows: list[tuple]
    task_rows: list[tuple]
    assignments: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
    extra: tuple[np.ndarray, ...]        # cust, t, task, share staff
    expected_extra_orders: float          # given the realised units and store probabilities
    truth: dict[str, Any]
    stats: dict[str, Any]                 # additive design counts, to merge the truth of chunks


def simulate_experiments(rng: np.random.Generator, clock: Clock, world: World, cust: Customers, rel: Relationships,
                 p: SimulationParams, first_task: int, log: TouchLog,
                 brand_rng: np.random.Generator | None = None) -> Experiments:
    """EXP_CUST and EXP_STORE; store arms and store probabilities come from ``brand_rng`` (default ``rng``)."""
    brng = rng if brand_rng is None else brand_rng
    span, sp = clock.span, rel.spells
    w = int(p.exp_window_days * DAY)
    s1 = clock.month_start(max(0, clock.months - 4)) + 5 * DAY + 10 * HOUR
    s2 = clock.month_start(max(1, clock.months - 3)) + 5 * DAY + 10 * HOUR
    if max(s1, s2) + w >= span:
        raise ParameterError(f"exp_window_days={p.exp_window_days} does not fit before as_of "
                             f"with months={clock.months}")
    reached = ~cust.holdout
    pc_, pt_ = p.exp_cust_probs
    variants = np.array(["control", "treatment"], dtype=object)

    # EXP_CUST: reached customers with an open contact at the start, 50/50
    idx = sp.open_at(s1, reached)
    units, staff = sp.cust[idx], sp.staff[idx]
    treat = rng.random(len(idx)) < 0.5
    task = np.where(treat, first_task + 1, first_task)
    log.add(np.full(len(idx), s1), units, staff, "task_push", task)
    segment = cust_segments(units, s1, cust, sp, world)
    mult = lift_multipliers(segment, treat, p.exp_cust_heterogeneity)
    prob = np.where(treat, pc_ + (pt_ - pc_) * mult[segment], pc_)
    u = rng.random(len(idx))
    slots = np.flatnonzero(u < np.where(treat, pt_, pc_))   # the extra orders, as without heterogeneity
    who = slots.copy()
    if p.exp_cust_heterogeneity > 0 and treat.any():
        # the treated slots (their times and amount draws) go to a sample of treated units in
        # proportion to their probabilities; control slots keep their units
        hits = _systematic_hits(rng.spawn(1)[0], u[treat], prob[treat], int(treat[slots].sum()))
        who[treat[slots]] = np.flatnonzero(treat)[hits]
    extra_c = (units[who], s1 + 1 + uniform_secs(rng, float(w - 1), len(who)), task[who], staff[who])

    # EXP_STORE: half the stores each way; units are customers with an open contact at the start,
    # clustered in the first (by id) store among their open guides, as experiment_frame does
    pcs, pts = p.exp_store_probs
    store_treat = np.zeros(world.n_stores, dtype=bool)
    store_treat[brng.permutation(world.n_stores)[: world.n_stores // 2]] = True
    mu = np.where(store_treat, pts, pcs)
    rho = p.exp_store_icc
    store_p = brng.beta(mu * (1 - rho) / rho, (1 - mu) * (1 - rho) / rho)
    idx = np.flatnonzero((sp.start <= s2) & (sp.end > s2))
    st = world.staff_store(sp.staff[idx])
    order = np.lexsort((st, sp.cust[idx]))
    idx, st = idx[order], st[order]
    first = first_per_group(sp.cust[idx])
    idx, st = idx[first], st[first]
    units2, staff2 = sp.cust[idx], sp.staff[idx]
    r2 = reached[units2]
    task2 = np.where(store_treat[st], first_task + 3, first_task + 2)
    log.add(np.full(int(r2.sum()), s2), units2[r2], staff2[r2], "task_push", task2[r2])
    hit2 = r2 & (rng.random(len(idx)) < store_p[st])
    extra_s = (units2[hit2], s2 + 1 + uniform_secs(rng, float(w - 1), int(hit2.sum())), task2[hit2], staff2[hit2])
    store_seen = np.zeros(world.n_stores, dtype=bool)
    store_seen[st] = True
    n_seg = len(EXP_CUST_SEGMENTS)
    stats = {"s1": s1, "s2": s2, "n_cust_units": len(units), "n_store_units": len(idx),
             "n_store_reached": int(r2.sum()), "store_seen": store_seen, "store_treat": store_treat,
             "store_p": store_p,
             "cust_segment_units": np.bincount(segment, minlength=n_seg),
             "cust_segment_treated": np.bincount(segment[treat], minlength=n_seg),
             "cust_segment_lift_sum": np.bincount(segment, weights=(pt_ - pc_) * mult[segment], minlength=n_seg),
             "cust_segment_treated_lift_sum": np.bincount(segment[treat], weights=(pt_ - pc_) * mult[segment[treat]],
                                                          minlength=n_seg)}

    rows = [
        ("HOLDOUT", "customer", 0, NEVER, "Global task holdout", "gmv"),
        ("EXP_CUST", "customer", s1, s1 + w, "New-arrival script test (customer-randomised)", "gmv"),
        ("EXP_STORE", "store", s2, s2 + w, "Promotion script test (store-randomised)", "gmv"),
    ]
    task_rows = [
        ("TX_CUST_C", s1 - 2 * HOUR, "new_arrival", "Script test: control", "EXP_CUST", "control", "task_push"),
        ("TX_CUST_T", s1 - 2 * HOUR, "new_arrival", "Script test: treatment", "EXP_CUST", "treatment", "task_push"),
        ("TX_STORE_C", s2 - 2 * HOUR, "promotion", "Store test: control", "EXP_STORE", "control", "task_push"),
        ("TX_STORE_T", s2 - 2 * HOUR, "promotion", "Store test: treatment", "EXP_STORE", "treatment", "task_push"),
    ]
    assignments = [
        ("HOLDOUT", cust.ids, np.array(["reached", "holdout"], dtype=object)[cust.holdout.astype(np.int64)],
         cust.birth),
        ("EXP_CUST", cust.ids[units], variants[treat.astype(np.int64)], np.full(len(units), s1)),
        ("EXP_STORE", world.store_ids, variants[store_treat.astype(np.int64)], np.full(world.n_stores, s2)),
    ]
    extra = tuple(np.concatenate([a, b]) for a, b in zip(extra_c, extra_s, strict=False))
    expected = float(prob.sum() + store_p[st][r2].sum())
    return Experiments(rows, task_rows, assignments, extra, expected, experiments_truth(clock, world, p, stats),
                        stats)


def cust_segments(units: np.ndarray, s1: int, cust: Customers, sp: Spells, world: World) -> np.ndarray:
    """Segment code (index into :data:`EXP_CUST_SEGMENTS`) of each unit, as the contract shows it at ``s1``.

    A buyer's first order is at registration and nothing else precedes ``s1``, so "an order
    before the start" is ``buyer and birth < s1``; the first add is the customer's earliest
    spell (ties to the lower staff index, whose id is the lower one).
    """
    order = np.lexsort((sp.staff, sp.start, sp.cust))
    first = order[first_per_group(sp.cust[order])]
    first_start = np.full(cust.n, NEVER, dtype=np.int64)
    first_code = np.zeros(cust.n, dtype=np.int64)
    first_start[sp.cust[first]], first_code[sp.cust[first]] = sp.start[first], sp.code[first]
    bought = cust.buyer[units] & (cust.birth[units] < s1)
    store = world.code_group[first_code[units]] == CHANNEL_GROUPS.index("offline_store")
    new = (s1 - first_start[units]) < NEW_RELATIONSHIP_DAYS * DAY
    return np.where(~bought, 0, np.where(~store, 1, np.where(new, 3, 2))).astype(np.int64)


def lift_multipliers(segment: np.ndarray, treat: np.ndarray, heterogeneity: float) -> np.ndarray:
    """Lift multiplier of each segment, with mean 1 over the treated units.

    At ``heterogeneity`` ``h`` a segment's raw multiplier is ``1 - h + h * base``; 0 gives every
    unit the same lift.

    Examples
    --------
    >>> seg = np.array([0, 1, 2, 3, 3]); treat = np.ones(5, dtype=bool)
    >>> lift_multipliers(seg, treat, 0.0).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> lift_multipliers(seg, treat, 1.0).round(3).tolist()
    [0.0, 0.0, 0.2, 2.4]
    """
    raw = np.array([1.0 - heterogeneity + heterogeneity * base for _, base, _ in EXP_CUST_SEGMENTS])
    mean = raw[segment[treat]].mean() if treat.any() else 0.0
    return raw / mean if mean > 0 else np.ones_like(raw)


def _systematic_hits(rng: np.random.Generator, u: np.ndarray, prob: np.ndarray, k: int) -> np.ndarray:
    """``k`` hits among units with probabilities ``prob`` (summing to ``k`` in expectation): systematic sampling.

    Unit ``i`` is drawn with probability ``k * prob_i / sum(prob)``: exactly ``prob_i`` on average
    over ``k`` when ``k`` is the count of ``u < mean(prob)`` and ``u`` are uniform. Units are taken
    in the order of ``u`` (a random order independent of ``k``); ``rng`` draws the one start.
    """
    hit = np.zeros(len(u), dtype=bool)
    if k == 0:
        return hit
    pi = k * prob / prob.sum()
    if prob.min() < 0 or pi.max() > 1:
        raise ParameterError("EXP_CUST: a treated unit's extra-order probability is too large for the design; "
                             "lower exp_cust_heterogeneity or exp_cust_probs")
    order = np.argsort(u, kind="stable")
    cum = np.cumsum(pi[order])
    pos = np.searchsorted(cum, rng.random() + np.arange(k), side="right")
    hit[order[np.minimum(pos, len(u) - 1)]] = True
    return hit


def merge_stats(total: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    """The design statistics of two chunks of one brand: counts add up, brand-level arrays are shared."""
    if total is None:
        return dict(part)
    out = dict(total)
    for k in ("n_cust_units", "n_store_units", "n_store_reached", "cust_segment_units", "cust_segment_treated",
              "cust_segment_lift_sum", "cust_segment_treated_lift_sum"):
        out[k] = total[k] + part[k]
    out["store_seen"] = total["store_seen"] | part["store_seen"]
    return out


def _segments_truth(p: SimulationParams, stats: dict[str, Any]) -> dict[str, Any]:
    """Per-segment units, treatment probability and true lift of EXP_CUST (realised averages over units)."""
    pc_, pt_ = p.exp_cust_probs
    gmv = p.mean_spend * p.net_spend_factor
    out = {}
    for i, (name, base, words) in enumerate(EXP_CUST_SEGMENTS):
        n, n_t = int(stats["cust_segment_units"][i]), int(stats["cust_segment_treated"][i])
        lift = float(stats["cust_segment_lift_sum"][i] / n) if n else 0.0
        lift_t = float(stats["cust_segment_treated_lift_sum"][i] / n_t) if n_t else lift
        out[name] = {
            "code": i, "rule": words, "base_multiplier": base, "n_units": n, "n_treated": n_t,
            "extra_order_prob": {"control": pc_, "treatment": pc_ + lift_t},
            "true_abs_lift": {"orders_per_unit": lift, "gmv_per_unit": lift * gmv,
                              "gross_gmv_per_unit": lift * p.mean_spend},
        }
    return out


def experiments_truth(clock: Clock, world: World, p: SimulationParams, stats: dict[str, Any]) -> dict[str, Any]:
    """Truth of EXP_CUST and EXP_STORE from the design counts (summed over chunks when chunked)."""
    pc_, pt_ = p.exp_cust_probs
    pcs, pts = p.exp_store_probs
    store_treat, store_p = stats["store_treat"], stats["store_p"]
    n_cust = stats["n_cust_units"]
    dp = float(stats["cust_segment_lift_sum"].sum() / n_cust) if n_cust else pt_ - pc_
    t_cust = _experiment_truth("customer", clock, stats["s1"], p, n_cust, n_cust,
                               ("TX_CUST_C", "TX_CUST_T"), (pc_, pt_), dp, 1.0)
    t_cust.update({
        "heterogeneity": p.exp_cust_heterogeneity,
        "segments": _segments_truth(p, stats),
        "segment_rule": EXP_CUST_SEGMENT_RULE,
        "new_relationship_days": NEW_RELATIONSHIP_DAYS,
        "note": "A treated unit's extra-order probability is control + (treatment - control) x its segment's "
                "multiplier; the multipliers (1 - heterogeneity + heterogeneity x base_multiplier) are normalised "
                "to mean 1 over the treated units, so extra_order_prob.treatment is their mean. true_abs_lift is "
                "the mean over all units of their segment's lift (the value of treating everybody); a unit's true "
                "lift is its segment's true_abs_lift. A chunked brand normalises each chunk on its own treated "
                "units: a segment's true_abs_lift is then the mean over its units of all chunks, its "
                "extra_order_prob.treatment the mean over its treated units.",
    })
    n_units = stats["n_store_units"]
    share_reached = stats["n_store_reached"] / n_units if n_units else 0.0
    t_store = _experiment_truth("store", clock, stats["s2"], p, n_units, int(stats["store_seen"].sum()),
                                ("TX_STORE_C", "TX_STORE_T"), (pcs, pts), pts - pcs, share_reached)
    t_store.update({
        "icc_extra_order": p.exp_store_icc,
        "reached_share_of_units": share_reached,
        "n_stores_per_variant": {"control": int((~store_treat).sum()), "treatment": int(store_treat.sum())},
        "store_extra_order_prob": {str(s): round(float(v), 6) for s, v in zip(world.store_ids, store_p, strict=False)},
        "note": "Extra orders only for reached (non-holdout) units; the per-unit lift is the difference in mean "
                "store probability times the reached share of units. store_extra_order_prob are the realised "
                "store-level probabilities (Beta with this ICC).",
    })
    return {"EXP_CUST": t_cust, "EXP_STORE": t_store}


def _experiment_truth(unit: str, clock: Clock, s: int, p: SimulationParams, n_units: int, n_clusters: int,
                      tasks: tuple[str, str], probs: tuple[float, float], dp: float, share: float) -> dict[str, Any]:
    w = p.exp_window_days
    return {
        "unit": unit, "variants": ["control", "treatment"], "control": "control",
        "start": str(clock.stamp(s)), "end": str(clock.stamp(s + w * DAY)), "window_days": w,
        "n_units": int(n_units), "n_clusters": int(n_clusters),
        "task_ids": {"control": tasks[0], "treatment": tasks[1]},
        "extra_order_prob": {"control": probs[0], "treatment": probs[1]},
        "true_abs_lift": {
            "orders_per_unit": dp * share,
            "gmv_per_unit": dp * share * p.mean_spend * p.net_spend_factor,
            "gross_gmv_per_unit": dp * share * p.mean_spend,
        },
    }
