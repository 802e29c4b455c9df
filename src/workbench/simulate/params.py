"""True parameters of the simulated brand and their checks."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .. import contract
from ..errors import ParameterError

#: Touch types, channel groups and order channels are the contract's enums; the simulator's
#: integer codes index them (code -> value when a table is built).
CHANNEL_GROUPS = contract.CHANNEL_GROUPS
TOUCH_TYPES = contract.TOUCH_TYPES
ORDER_CHANNELS = contract.ORDER_CHANNELS
TOUCH_CODE = {name: i for i, name in enumerate(TOUCH_TYPES)}
ORDER_CHANNEL_CODE = {name: i for i, name in enumerate(ORDER_CHANNELS)}

#: Order of the ``channel_probs_*`` parameters, and the order in which a channel draw splits the
#: unit interval. It is not the contract's enum order on purpose: reordering it would change every
#: seed's orders, so probabilities are looked up by name (:meth:`SimulationParams.channel_shares`)
#: and a drawn position is mapped to the contract's code (:data:`DRAW_CHANNEL_CODE`).
CHANNEL_PROB_ORDER = ("pos", "mini_program", "wecom_transfer", "proxy_order", "channels_live", "ecommerce")
if sorted(CHANNEL_PROB_ORDER) != sorted(ORDER_CHANNELS):
    raise ImportError("CHANNEL_PROB_ORDER must list the contract's ORDER_CHANNELS")
#: Contract code (index into :data:`ORDER_CHANNELS`) of each position of :data:`CHANNEL_PROB_ORDER`.
DRAW_CHANNEL_CODE = tuple(ORDER_CHANNELS.index(name) for name in CHANNEL_PROB_ORDER)


@dataclass(frozen=True)
class SimulationParams:
    """Every true parameter of the simulated brand (the numbers ``truth.json`` reports).

    Purchases are in weeks, other durations in days or hours as named; money is CNY.

    Purchases
        ``r=0.25``, ``alpha=4.0``: purchase rate ``λ ~ Gamma(shape r, rate alpha)`` per week;
        ``a=0.8``, ``b=2.5``: dropout probability ``p ~ Beta(a, b)`` after each repeat
        purchase. Spend per order ``z ~ Gamma(shape gg_p, rate ν)``, ``ν ~ Gamma(shape gg_q,
        rate gg_gamma)`` with ``gg_p=6``, ``gg_q=4``, ``gg_gamma=150`` (the textbook 15 times
        10, so amounts are CNY and the mean order is ``p·γ/(q−1) = 300``).
        ``buyer_share=0.75`` buy at registration; ``holdout_share=0.10`` are the task holdout;
        ``task_rate_multiplier=1.15`` multiplies the reached customers' ``λ``.
    Acquisition funnel
        ``store_code_share=0.6`` of first scans are store codes (cashier / receipt / poster).
        Store-level step probabilities are Beta with means ``add_prob=0.75``,
        ``join_prob=0.45`` and concentration ``store_prob_concentration=30``;
        ``claim_prob=0.6`` of joiners claim the hook coupon. Step times are lognormal with
        medians ``scan_to_add_median_minutes=5``, ``add_to_join_median_hours=2``,
        ``join_to_claim_median_hours=36`` and log-sds ``*_sigma``. ``group_only_share=0`` of
        non-adders join a store group without ever adding a guide (off by default: such
        customers have no acquisition channel); ``second_guide_share=0.05`` of adders add a
        second guide of the store (after ``Exp(second_guide_gap_mean_days=5)``),
        ``other_store_share=0.03`` a guide of another store (``Exp(30)`` days later).
    Contact lifetimes
        Weibull baseline ``weibull_shape=0.8``, ``weibull_scale_days=400``; log hazard
        ratios ``log_hr_online_mall=0.25``, ``log_hr_wechat_ecosystem=0.4``,
        ``log_hr_ads=0.7``, ``log_hr_other=0.3`` (reference ``offline_store``),
        ``log_hr_early_chat=-0.15`` per early chat after ``landmark_days=14``,
        ``log_hr_tool=-0.2`` for the ``retention_tool_share=0.5`` of stores using a
        retention tool. ``early_chats ~ Poisson(μ_store)``, ``μ_store ~ U(0.5, 3)``
        (``early_chat_mean_low/high``). ``staff_delete_share=0.1``; ``readd_prob=0.15``
        after ``Exp(readd_gap_mean_days=20)`` days, ``readd_same_day_share=0.1`` within six
        hours. Group leaves: Weibull ``group_leave_shape=0.9``, ``group_leave_scale_days=300``.
    Touches and tasks
        ``later_chat_rate_per_month=0.6`` chats per open month after the landmark,
        ``moments_rate_per_month=0.8``, ``group_message_rate_per_month=1.5``;
        ``tasks_per_month_min/max=2/4`` HQ tasks reaching ``task_reach_share=0.5`` of the
        reached open contacts (``mass_send_task_share=0.3`` of them as mass sends); live
        tasks invite ``live_invite_share=0.3``; promotion tasks give coupons to
        ``coupon_issue_share=0.5`` of those reached who registered at least
        ``coupon_min_age_days=30`` days before (so the funnel's claim step sees hook coupons).
    Order channels
        ``channel_probs_contact`` (0.45, 0.30, 0.05, 0.04, 0.04, 0.12) and
        ``channel_probs_no_contact`` (0.60, 0.15, 0, 0, 0, 0.25) over :data:`CHANNEL_PROB_ORDER`;
        ``pos_share_after_chat=0.70`` after a chat in the last ``seven_day_window_days=7``;
        ``live_share_after_invite=0.25`` after a live invitation in the last
        ``link_window_days=3``, when mini-program orders carry the latest push's link with
        ``link_prob=0.6``. POS orders redeem the latest open coupon issued in the last
        ``coupon_valid_days=30`` with ``coupon_redeem_prob=0.5``; ``other_coupon_share=0.03``
        of customers get a non-WeCom coupon; ``refund_share=0.03`` of orders are refunded,
        ``full_refund_share=0.4`` of them fully, the rest a uniform 10–90%.
    Experiments
        Probability of one extra task-link order within ``exp_window_days=14``, (control,
        treatment): ``exp_cust_probs=(0.03, 0.04)``, ``exp_store_probs=(0.03, 0.04)``; store
        probabilities are Beta with intra-store correlation ``exp_store_icc=0.03``.
        ``exp_cust_heterogeneity=1.0`` spreads EXP_CUST's lift over segments of units (see
        :mod:`~workbench.simulate.experiments`: none for customers who never bought, most for
        buyers first added in store less than 90 days before), keeping its mean over the
        treated units; 0 gives every unit the same lift (nothing to target), values in
        between shrink the spread toward it.
    WeCom habits (:mod:`~workbench.simulate.staffing`, :mod:`~workbench.simulate.habits`)
        ``staff_leave_share=0.06`` of active guides leave (离职) at a uniform time in the
        window's second half (at most one per store, only stores with another guide);
        ``departure_transfer_share=0.8`` of their open relationships are transferred
        (离职继承: ``transfer``, then an ``add`` with add_way 202 on another guide of the store
        ``takeover_delay_hours=24`` later), the rest close with ``staff_left``;
        ``active_transfer_share=0.005`` of relationships are moved between two guides of a
        store (在职继承) at a uniform time while open. ``second_close_share=0.3`` of
        relationships ended by ``delete_by_customer`` get the member's own delete
        ``U(1, second_close_max_days=30)`` days later. Execution rate of mass sends per guide
        ``Beta(exec_rate_a=8, exec_rate_b=2)`` (at least ``task_reach_share``); reply rate per
        guide ``U(reply_rate_low=0.6, 1)``, mean reply minutes lognormal around
        ``reply_minutes_median=8``.
    """

    # purchases
    r: float = 0.25
    alpha: float = 4.0
    a: float = 0.8
    b: float = 2.5
    gg_p: float = 6.0
    gg_q: float = 4.0
    gg_gamma: float = 150.0
    buyer_share: float = 0.75
    holdout_share: float = 0.10
    task_rate_multiplier: float = 1.15
    # acquisition funnel
    store_code_share: float = 0.6
    add_prob: float = 0.75
    join_prob: float = 0.45
    claim_prob: float = 0.60
    store_prob_concentration: float = 30.0
    scan_to_add_median_minutes: float = 5.0
    scan_to_add_sigma: float = 0.8
    add_to_join_median_hours: float = 2.0
    add_to_join_sigma: float = 1.0
    join_to_claim_median_hours: float = 36.0
    join_to_claim_sigma: float = 0.8
    group_only_share: float = 0.0
    second_guide_share: float = 0.05
    second_guide_gap_mean_days: float = 5.0
    other_store_share: float = 0.03
    other_store_gap_mean_days: float = 30.0
    # contact lifetimes
    weibull_shape: float = 0.8
    weibull_scale_days: float = 400.0
    log_hr_online_mall: float = 0.25
    log_hr_wechat_ecosystem: float = 0.4
    log_hr_ads: float = 0.7
    log_hr_other: float = 0.3
    log_hr_early_chat: float = -0.15
    log_hr_tool: float = -0.2
    retention_tool_share: float = 0.5
    landmark_days: float = 14.0
    early_chat_mean_low: float = 0.5
    early_chat_mean_high: float = 3.0
    staff_delete_share: float = 0.10
    readd_prob: float = 0.15
    readd_gap_mean_days: float = 20.0
    readd_same_day_share: float = 0.10
    group_leave_shape: float = 0.9
    group_leave_scale_days: float = 300.0
    # touches and tasks
    later_chat_rate_per_month: float = 0.6
    moments_rate_per_month: float = 0.8
    group_message_rate_per_month: float = 1.5
    tasks_per_month_min: int = 2
    tasks_per_month_max: int = 4
    task_reach_share: float = 0.5
    mass_send_task_share: float = 0.3
    live_invite_share: float = 0.3
    coupon_issue_share: float = 0.5
    coupon_min_age_days: float = 30.0
    # order channels
    channel_probs_contact: tuple[float, ...] = (0.45, 0.30, 0.05, 0.04, 0.04, 0.12)
    channel_probs_no_contact: tuple[float, ...] = (0.60, 0.15, 0.0, 0.0, 0.0, 0.25)
    pos_share_after_chat: float = 0.70
    seven_day_window_days: float = 7.0
    live_share_after_invite: float = 0.25
    link_window_days: float = 3.0
    link_prob: float = 0.6
    coupon_redeem_prob: float = 0.5
    coupon_valid_days: float = 30.0
    other_coupon_share: float = 0.03
    refund_share: float = 0.03
    full_refund_share: float = 0.4
    # experiments
    exp_cust_probs: tuple[float, float] = (0.03, 0.04)
    exp_store_probs: tuple[float, float] = (0.03, 0.04)
    exp_store_icc: float = 0.03
    exp_cust_heterogeneity: float = 1.0
    exp_window_days: int = 14
    # WeCom habits
    staff_leave_share: float = 0.06
    departure_transfer_share: float = 0.8
    active_transfer_share: float = 0.005
    takeover_delay_hours: float = 24.0
    second_close_share: float = 0.3
    second_close_max_days: float = 30.0
    exec_rate_a: float = 8.0
    exec_rate_b: float = 2.0
    reply_rate_low: float = 0.6
    reply_minutes_median: float = 8.0

    @property
    def log_hr_channel(self) -> dict[str, float]:
        """Log hazard ratio of each channel group against ``offline_store``."""
        return {"offline_store": 0.0, "online_mall": self.log_hr_online_mall,
                "wechat_ecosystem": self.log_hr_wechat_ecosystem, "ads": self.log_hr_ads,
                "other": self.log_hr_other}

    @property
    def mean_spend(self) -> float:
        """Expected amount of one order, ``p·γ/(q−1)`` (CNY)."""
        return self.gg_p * self.gg_gamma / (self.gg_q - 1)

    @property
    def mean_refund_fraction(self) -> float:
        """Expected refunded share of a refunded order."""
        return self.full_refund_share + (1 - self.full_refund_share) * 0.5

    @property
    def net_spend_factor(self) -> float:
        """Expected net-of-refund share of an order's amount."""
        return 1 - self.refund_share * self.mean_refund_fraction

    def channel_shares(self, contact: bool) -> dict[str, float]:
        """Order-channel probabilities by channel name, with or without an open WeCom contact."""
        probs = self.channel_probs_contact if contact else self.channel_probs_no_contact
        return dict(zip(CHANNEL_PROB_ORDER, probs, strict=False))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


_PROBABILITIES = (
    "buyer_share", "holdout_share", "store_code_share", "add_prob", "join_prob", "claim_prob", "group_only_share",
    "second_guide_share", "other_store_share", "retention_tool_share", "staff_delete_share", "readd_prob",
    "readd_same_day_share", "task_reach_share", "mass_send_task_share", "live_invite_share", "coupon_issue_share",
    "pos_share_after_chat", "live_share_after_invite", "link_prob", "coupon_redeem_prob", "other_coupon_share",
    "refund_share", "full_refund_share", "staff_leave_share", "departure_transfer_share", "active_transfer_share",
    "second_close_share", "reply_rate_low",
)
_POSITIVE = (
    "r", "alpha", "a", "b", "gg_p", "gg_gamma", "task_rate_multiplier", "store_prob_concentration",
    "scan_to_add_median_minutes", "scan_to_add_sigma", "add_to_join_median_hours", "add_to_join_sigma",
    "join_to_claim_median_hours", "join_to_claim_sigma", "second_guide_gap_mean_days", "other_store_gap_mean_days",
    "weibull_shape", "weibull_scale_days", "landmark_days", "early_chat_mean_low", "readd_gap_mean_days",
    "group_leave_shape", "group_leave_scale_days", "seven_day_window_days", "link_window_days", "coupon_valid_days",
    "takeover_delay_hours", "exec_rate_a", "exec_rate_b", "reply_minutes_median",
)


def validate_params(p: Any) -> None:
    """Raise :class:`ParameterError` naming the first parameter out of range."""
    if not isinstance(p, SimulationParams):
        raise ParameterError(f"params must be a SimulationParams, not {type(p).__name__}")
    for f in fields(p):
        v = getattr(p, f.name)
        vals = v if isinstance(v, tuple) else (v,)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vals):
            raise ParameterError(f"SimulationParams.{f.name} must be finite numbers, got {v!r}")
    for name in _PROBABILITIES:
        if not 0.0 <= getattr(p, name) <= 1.0:
            raise ParameterError(f"SimulationParams.{name} is a probability, got {getattr(p, name)!r}")
    for name in _POSITIVE:
        if getattr(p, name) <= 0:
            raise ParameterError(f"SimulationParams.{name} must be positive, got {getattr(p, name)!r}")
    if p.gg_q <= 1:
        raise ParameterError(f"SimulationParams.gg_q must exceed 1 for a finite mean spend, got {p.gg_q!r}")
    if p.a == 1:
        raise ParameterError("SimulationParams.a = 1 is a removable singularity of E[X(t)]; use e.g. 0.999")
    if not 0 < p.add_prob < 1 or not 0 < p.join_prob < 1:
        raise ParameterError("SimulationParams.add_prob and join_prob must lie strictly between 0 and 1")
    if p.early_chat_mean_high < p.early_chat_mean_low:
        raise ParameterError("SimulationParams.early_chat_mean_high must be at least early_chat_mean_low")
    if not 1 <= p.tasks_per_month_min <= p.tasks_per_month_max:
        raise ParameterError("need 1 <= tasks_per_month_min <= tasks_per_month_max")
    for name in ("channel_probs_contact", "channel_probs_no_contact"):
        probs = getattr(p, name)
        if len(probs) != len(CHANNEL_PROB_ORDER) or min(probs) < 0 or abs(sum(probs) - 1) > 1e-9:
            raise ParameterError(f"SimulationParams.{name} must be {len(CHANNEL_PROB_ORDER)} probabilities over "
                                 f"{CHANNEL_PROB_ORDER} summing to 1, got {probs!r}")
    for name in ("exp_cust_probs", "exp_store_probs"):
        probs = getattr(p, name)
        if len(probs) != 2 or not all(0 < x < 1 for x in probs):
            raise ParameterError(f"SimulationParams.{name} must be (control, treatment) probabilities in (0, 1)")
    if not 0 <= p.exp_cust_heterogeneity <= 1:
        raise ParameterError("SimulationParams.exp_cust_heterogeneity must lie in [0, 1] (0: the same lift for "
                             f"every unit, 1: the full spread), got {p.exp_cust_heterogeneity!r}")
    if not 0 < p.exp_store_icc < 1:
        raise ParameterError("SimulationParams.exp_store_icc must lie strictly between 0 and 1")
    if p.second_close_max_days <= 1:
        raise ParameterError("SimulationParams.second_close_max_days must exceed 1 (second closes come 1 day or more "
                             "after the customer's delete)")
    if p.exp_window_days < 1:
        raise ParameterError("SimulationParams.exp_window_days must be at least 1")
