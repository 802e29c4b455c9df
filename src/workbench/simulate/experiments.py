"""The randomised experiments EXP_CUST and EXP_STORE and their truth."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from .customers import Customers
from .draws import DAY, HOUR, NEVER, Clock, first_per_group, uniform_secs
from .params import SimulationParams
from .relationships import Relationships
from .touches import TouchLog
from .world import World


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
    prob = np.where(treat, pt_, pc_)
    hit = rng.random(len(idx)) < prob
    extra_c = (units[hit], s1 + 1 + uniform_secs(rng, float(w - 1), int(hit.sum())), task[hit], staff[hit])

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
    stats = {"s1": s1, "s2": s2, "n_cust_units": len(units), "n_store_units": len(idx),
             "n_store_reached": int(r2.sum()), "store_seen": store_seen, "store_treat": store_treat,
             "store_p": store_p}

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


def experiments_truth(clock: Clock, world: World, p: SimulationParams, stats: dict[str, Any]) -> dict[str, Any]:
    """Truth of EXP_CUST and EXP_STORE from the design counts (summed over chunks when chunked)."""
    pc_, pt_ = p.exp_cust_probs
    pcs, pts = p.exp_store_probs
    store_treat, store_p = stats["store_treat"], stats["store_p"]
    t_cust = _experiment_truth("customer", clock, stats["s1"], p, stats["n_cust_units"], stats["n_cust_units"],
                               ("TX_CUST_C", "TX_CUST_T"), (pc_, pt_), pt_ - pc_, 1.0)
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
