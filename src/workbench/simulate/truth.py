"""The ground truth (truth.json) from the parameters and realised statistics."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .customers import Customers
from .draws import NEVER, WEEK, Clock, expected_repeat_purchases
from .experiments import Experiments
from .params import SimulationParams
from .relationships import Relationships
from .world import World


def truth_stats(p: SimulationParams, clock: Clock, cust: Customers, rel: Relationships, exp: Experiments,
                 o_cust: np.ndarray, amount: np.ndarray, tables: dict[str, pd.DataFrame],
                 n_two_openids: int) -> dict[str, Any]:
    """Additive statistics of a group of customers from which :func:`build_truth` builds the truth.

    Sums and counts only, so the truth of a chunked brand is the sum over its chunks; the
    store-level arrays (``store_add_p``, ``store_join_p``) are the same in every chunk.
    """
    reached, hold = ~cust.holdout, cust.holdout
    weeks = (clock.span - cust.birth) / WEEK
    alpha_r = p.alpha / p.task_rate_multiplier
    ex_hold = expected_repeat_purchases(weeks, p.r, p.alpha, p.a, p.b)
    ex_reach = expected_repeat_purchases(weeks, p.r, alpha_r, p.a, p.b)
    incr = np.where(cust.buyer, (ex_reach - ex_hold) * p.mean_spend, 0.0)
    gmv = np.bincount(o_cust, weights=amount, minlength=cust.n)
    add_w = rel.store_add_p[cust.home]
    ce = tables["contact_events"]
    return {
        "n": int(cust.n), "n_reached": int(reached.sum()), "n_holdout": int(hold.sum()),
        "n_buyers_holdout": int((cust.buyer & hold).sum()), "n_buyers_reached": int((cust.buyer & reached).sum()),
        "sum_ex_holdout": float(ex_hold[cust.buyer & hold].sum()),
        "sum_ex_reached": float(ex_reach[cust.buyer & reached].sum()),
        "sum_incr_reached": float(incr[reached].sum()),
        "expected_extra_orders": float(exp.expected_extra_orders),
        "sum_gmv_reached": float(gmv[reached].sum()), "sum_gmv_holdout": float(gmv[hold].sum()),
        "sum_add_w": float(add_w.sum()), "sum_add_join_w": float((add_w * rel.store_join_p[cust.home]).sum()),
        "store_add_p": rel.store_add_p, "store_join_p": rel.store_join_p,
        "two_openid_customers": int(n_two_openids),
        "contacts_added": int((ce["event_type"] == "add").sum()),
    }


def build_truth(p: SimulationParams, seed: int, clock: Clock, world: World, st: dict[str, Any],
           exp_truth: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    """The ground truth of a simulated brand (``truth.json``)."""
    n, spend = st["n"], p.mean_spend
    alpha_r = p.alpha / p.task_rate_multiplier
    n_r, n_h = st["n_reached"], st["n_holdout"]
    from_rate = st["sum_incr_reached"] / n_r if n_r else 0.0
    from_exp = st["expected_extra_orders"] * spend / max(n_r, 1)
    mean_r = st["sum_gmv_reached"] / n_r if n_r else float("nan")
    mean_h = st["sum_gmv_holdout"] / n_h if n_h else float("nan")
    hr = {g: math.exp(v) for g, v in p.log_hr_channel.items()}
    store_add_p, store_join_p = st["store_add_p"], st["store_join_p"]
    store_truth = {
        str(s): {"add_prob": round(float(a), 6), "join_prob": round(float(j), 6), "claim_prob": p.claim_prob}
        for s, a, j in zip(world.store_ids, store_add_p, store_join_p, strict=False)
    }
    contact_shares = p.channel_shares(contact=True)
    return {
        "seed": int(seed), "n_customers": int(n), "n_stores": int(world.n_stores),
        "n_staff": int(len(world.guide_store)), "months": clock.months,
        "start": str(clock.t0), "as_of": str(clock.as_of), "time_unit": "W",
        "params": p.to_dict(),
        "bgnbd": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b,
                  "group": "holdout customers (HOLDOUT variant 'holdout'); time unit weeks from registration"},
        "bgnbd_reached": {"r": p.r, "alpha": alpha_r, "a": p.a, "b": p.b,
                          "group": "reached customers (HOLDOUT variant 'reached'), excluding experiment orders"},
        "task_rate_multiplier": p.task_rate_multiplier,
        "buyer_share": p.buyer_share,
        "expected_orders_per_buyer": {
            "holdout": float(1 + st["sum_ex_holdout"] / st["n_buyers_holdout"]) if st["n_buyers_holdout"] else None,
            "reached": float(1 + st["sum_ex_reached"] / st["n_buyers_reached"]) if st["n_buyers_reached"] else None,
        },
        "gamma_gamma": {"p": p.gg_p, "q": p.gg_q, "gamma": p.gg_gamma, "currency": "CNY"},
        "mean_spend": spend,
        "holdout": {
            "experiment_id": "HOLDOUT", "share": p.holdout_share, "realised_share": n_h / n,
            "n_reached": n_r, "n_holdout": n_h,
            "window": [str(clock.t0), str(clock.as_of)],
            "incremental_gmv_per_reached_customer": from_rate + from_exp,
            "incremental_gmv_total": (from_rate + from_exp) * n_r,
            "incremental_gmv_per_reached_customer_from_rate": from_rate,
            "incremental_gmv_per_reached_customer_from_experiments": from_exp,
            "realised_mean_gmv_reached": mean_r,
            "realised_mean_gmv_holdout": mean_h,
            "realised_gmv_difference": mean_r - mean_h,
            "note": "Expected difference in gross GMV per customer over the whole window, reached minus holdout: "
                    "BG/NBD E[X(T)] with alpha/m minus with alpha at each buyer's own T (weeks from registration "
                    "to as_of) times mean_spend, averaged over the realised reached customers (non-buyers count "
                    "0), plus the expected GMV of the experiments' extra orders per reached customer.",
        },
        "churn": {
            "level": "customer_staff",
            "weibull_shape": p.weibull_shape, "weibull_scale_days": p.weibull_scale_days,
            "baseline": {"weibull_shape": p.weibull_shape, "weibull_scale_days": p.weibull_scale_days},
            "reference_channel_group": "offline_store",
            "log_hr_channel_group": p.log_hr_channel, "hr_channel_group": hr,
            "log_hr_per_early_chat": p.log_hr_early_chat, "hr_per_early_chat": math.exp(p.log_hr_early_chat),
            "log_hr_retention_tool": p.log_hr_tool, "hr_retention_tool": math.exp(p.log_hr_tool),
            "landmark_days": p.landmark_days,
            "early_chats_definition": (
                f"number of touches of type 'chat' from the staff member to the customer with event_time in "
                f"[add, add + {p.landmark_days:g} days) of the add that opened the spell; it multiplies the "
                f"hazard only after day {p.landmark_days:g} (fit on spells still open at that landmark, time "
                f"measured from the add), while channel group and retention tool act from the add"),
            "channel_group_definition": "channel_group of the channel_code on the add that opened the spell",
            "retention_tool_definition": "stores.uses_retention_tool of the staff member's store",
            "censoring": "as_of, and the 'transfer' / 'staff_left' closes (truth['transfers']): not churn",
            "staff_delete_share": p.staff_delete_share, "readd_prob": p.readd_prob,
            "readd_gap_mean_days": p.readd_gap_mean_days,
            "group_leave": {"weibull_shape": p.group_leave_shape, "weibull_scale_days": p.group_leave_scale_days},
        },
        "seven_day_rule": {
            "window_days": p.seven_day_window_days,
            "pos_share_with_contact": contact_shares["pos"],
            "pos_share_after_chat": p.pos_share_after_chat,
            "pos_share_without_contact": p.channel_shares(contact=False)["pos"],
            "note": "Among orders of customers with an open contact and no live invitation in the last "
                    f"{p.link_window_days:g} days: POS share without / with a staff 'chat' touch in the "
                    f"{p.seven_day_window_days:g} days before the order. After a chat, POS and proxy orders go "
                    "to the chatting staff member's store. Purchase volume is unaffected (channel shift only).",
        },
        "order_channels": {
            "with_contact": contact_shares,
            "without_contact": p.channel_shares(contact=False),
            "live_share_after_invite": p.live_share_after_invite,
            "link_window_days": p.link_window_days, "link_prob": p.link_prob,
        },
        "refunds": {"share": p.refund_share, "full_share": p.full_refund_share,
                    "mean_fraction": p.mean_refund_fraction, "net_spend_factor": p.net_spend_factor},
        "funnel": {
            "add_prob": float(st["sum_add_w"] / n),
            "join_prob": float(st["sum_add_join_w"] / st["sum_add_w"]),
            "claim_prob": p.claim_prob,
            "add_prob_mean": p.add_prob, "join_prob_mean": p.join_prob,
            "median_minutes_scan_to_add": p.scan_to_add_median_minutes,
            "median_hours_add_to_join": p.add_to_join_median_hours,
            "median_hours_join_to_claim": p.join_to_claim_median_hours,
            "second_guide_share": p.second_guide_share, "other_store_share": p.other_store_share,
            "group_only_share": p.group_only_share,
            "stores": store_truth,
            "note": "Step probabilities of each customer's first scan: add (any guide of the home store), join "
                    "(a store group, after the add), claim (the hook coupon, a WeCom coupon after the join). "
                    "Store codes carry the home store; brand codes have no store. add_prob and join_prob are "
                    "the expected brand-level conversions (store probabilities weighted by customers, resp. "
                    "expected adders); window-end censoring lowers realised rates for the last scans.",
        },
        "experiments": exp_truth,
        "identity": {"n_components": int(n), "linked_types": ["member_id", "phone_hash", "unionid", "openid",
                                                                "external_userid", "erp_id"],
                     "two_openid_customers": int(st["two_openid_customers"]),
                     "note": "each customer is exactly one connected component; customers.member_id names it"},
        "counts": dict(counts) | {"contacts_added": int(st["contacts_added"])},
    } | habits_truth(p, clock, world, st)


def habits_truth(p: SimulationParams, clock: Clock, world: World, st: dict[str, Any]) -> dict[str, Any]:
    """The WeCom-habit keys: ``transfers``, ``second_closes``, ``add_way``, ``staff_behavior``, ``mass_send``."""
    from .habits import CUSTOMER_INITIATED_SHARE, EXTRA_APPLY_RATE, REPLY_SIGMA, mass_send_truth
    from .staffing import ADD_WAY_INITIATOR, ADD_WAYS, OTHER_CODE_ADD_WAYS

    gone = np.flatnonzero(world.guide_left != NEVER)
    b = world.behavior
    return {
        "transfers": {
            "leave_share": p.staff_leave_share,
            "left_staff": {str(world.staff_ids[g]): str(clock.stamp(int(world.guide_left[g]))) for g in gone},
            "successors": {str(world.staff_ids[g]): str(world.staff_ids[world.guide_heir[g]]) for g in gone},
            "departure_transfer_share": p.departure_transfer_share,
            "active_transfer_share": p.active_transfer_share,
            "takeover_delay_hours": p.takeover_delay_hours,
            "counts": {k: int(st[f"staffing_{k}"]) for k in ("transfer", "staff_left", "takeover_adds",
                                                             "redirected_adds", "active_transfers")},
            "note": "A leaving guide's open relationships end at left_at: 'transfer' (离职继承, then an 'add' with "
                    "add_way '202', initiator 'admin', on another guide of the store who stays, takeover_delay_hours "
                    "later, unless the customer already has that guide) or 'staff_left'. 在职继承 moves "
                    "active_transfer_share of relationships between two guides of a store at a uniform time while "
                    "open. The takeover is a fresh spell of the same hazard model carrying the original add's "
                    "channel_code; transfer and staff_left censor a spell, they are not churn. Adds drawn after a "
                    "guide left go to the successor (redirected_adds); no event, touch, coupon or order share of a "
                    "guide falls at or after left_at.",
        },
        "second_closes": {
            "share": p.second_close_share, "min_days": 1.0, "max_days": p.second_close_max_days,
            "n": int(st["staffing_second_closes"]),
            "note": "After a 'delete_by_customer', the member deletes the one-way contact ('delete_by_staff') "
                    "U(1, max_days) days later with probability share, unless the pair was re-added first, the "
                    "member left, or as_of came; the interval builder ignores it (the first close ends the interval).",
        },
        "add_way": {
            "codes": {w: i for w, i in zip(ADD_WAYS, ADD_WAY_INITIATOR, strict=True)},
            "other_code_add_ways": OTHER_CODE_ADD_WAYS,
            "note": "add_way '1' (initiator customer) for adds under a channel code, except the brand code OTHER "
                    "(adds without a contact-me code): '2' phone search (staff), '3' card share, '4' group (customer) "
                    "with other_code_add_ways; takeovers '202' (admin). origin is NULL in simulated tables.",
        },
        "staff_behavior": {
            "staff": {str(world.staff_ids[g]): {"reply_rate": round(float(b["reply_rate"][g]), 6),
                                                "reply_minutes": round(float(b["reply_minutes"][g]), 4),
                                                "messages_per_chat": float(b["messages_per_chat"][g])}
                      for g in range(len(world.guide_store))},
            "customer_initiated_share": CUSTOMER_INITIATED_SHARE, "extra_apply_rate": EXTRA_APPLY_RATE,
            "reply_sigma": REPLY_SIGMA,
            "note": "staff_daily per guide and day, from the first day of the window to the day a guide left: "
                    "new_contact_cnt = adds (takeovers included), negative_feedback_cnt = delete_by_customer, "
                    "chat_cnt = distinct customers sent a 'chat' touch, message_cnt = round(chat touches x "
                    "messages_per_chat), new_apply_cnt = new_contact_cnt + Poisson(extra_apply_rate); "
                    "customer-initiated chats ~ Binomial(chat_cnt, customer_initiated_share), replied ~ "
                    "Binomial(initiated, reply_rate); reply_percentage = 100 replied / initiated (NULL without a "
                    "customer-initiated chat); avg_reply_time (minutes) lognormal with mean reply_minutes and "
                    "log-sd reply_sigma / sqrt(replied) (NULL without a reply). Chunked brands sum the chunks' "
                    "day counts and draw the day-level values once.",
        },
        "mass_send": mass_send_truth(world, p, st),
    }
