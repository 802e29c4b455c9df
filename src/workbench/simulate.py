"""A simulated brand with known ground truth: the demo data and the test oracle.

:func:`simulate_brand` produces every contract table of GUIDE §5, mutually consistent, plus
``truth`` (written as ``truth.json``): the parameters and expected values later analyses
must recover. Everything is vectorised numpy (loops run over months, tasks and spell
rounds only, never over customers or events) and deterministic for a seed.

Processes (defaults and their meaning: :class:`SimulationParams`)
-----------------------------------------------------------------
1. **Purchases.** Each customer is born (``registered_at``) uniformly inside the window.
   Buyers (75%) make their first order at birth; the rest register and never buy (潜力粉).
   Repeat purchases follow BG/NBD in weeks from birth: ``λ ~ Gamma(r, α)``, dropout
   ``p ~ Beta(a, b)`` after each repeat purchase, exponential gaps. Spend per order is
   Gamma-Gamma in CNY. A randomised 10% **task holdout** (experiment ``HOLDOUT``) never
   receives task touches (``task_push``, ``mass_send``, ``coupon_issue``, ``live_invite``)
   nor task coupons; for the reached 90% tasks multiply ``λ`` by ``m`` from birth, which is
   BG/NBD with ``α/m``.
2. **Order channels** shift with the WeCom relationship, never the volume, so BG/NBD stays
   exact: an open contact at order time opens the transfer, proxy and live channels; a staff
   ``chat`` in the 7 days before raises the POS share (Belle's 7-day rule) and sends the
   order to that guide's store; task pushes and mass sends put link parameters
   (``task_id``, ``share_staff_id``) on mini-program orders in the next 3 days; live
   invitations raise the Channels-live share; POS orders redeem open coupons; 3% of orders
   are refunded.
3. **Acquisition funnel**: scan (channel code, store) just before birth → add a guide of
   the home store (store-level probability) minutes later → join a store group (store-level
   probability) hours later → claim the hook coupon days later. Some customers add a second
   guide of the same store or a guide of another store (after a new scan there), so
   person-times exceed persons.
4. **Contact lifetimes** per customer–staff spell: hazard
   ``h0(t)·exp(β_group + β_tool·tool + β_early·early_chats·1[t > 14 days])``, Weibull ``h0``,
   drawn by inverting the piecewise cumulative hazard. ``early_chats`` is the number of
   ``chat`` touches from that staff member to that customer in the first 14 days after the
   add that opened the spell. 10% of deletes are by staff; 15% of deleted relationships are
   re-added later (some within the day) as a new spell from the same model. Group members
   leave with a Weibull hazard.
5. **Touches**: chats (all contacts, holdout included), Moments, group messages, and the
   touches of 2–4 HQ tasks a month (pushes or mass sends, live invitations, coupons).
6. **Experiments** ``EXP_CUST`` (customer-randomised, 50/50) and ``EXP_STORE``
   (store-randomised, half the stores each way, store random effect with a known ICC) add
   one extra task-link mini-program order with a known probability per arm within 14 days
   of the push: the only orders outside BG/NBD, only for reached customers. Their task ids
   start with ``TX_``; regular task ids are ``T0001``… .

**Chunked mode** (``chunk_customers``, ``workbench simulate --chunk-customers``): a brand too
big for memory (20M customers) is simulated a chunk of customers at a time, each chunk written
as one Parquet part per table before the next starts, so memory stays at one chunk's. The
world (stores, staff, channels, groups), the store-level draws (funnel and chat rates,
store arms and probabilities of ``EXP_STORE``) and the HQ task calendar come from
brand-level generators that every chunk re-seeds identically; per-customer draws come from
per-chunk generators. Ids run across chunks. The truth is merged from additive statistics.

Tables carry no latent quantity (rates, dropout, "incremental" flags). Extra columns:
``stores.uses_retention_tool``, ``customers.gender/birth_year/member_level/home_store_id/
member_id`` (``member_id`` is the identifier that ties ``identity_links`` to the customer),
``tasks.delivery``.

``truth.json`` schema (stable keys)
-----------------------------------
``seed``, ``n_customers``, ``n_stores``, ``n_staff``, ``months``, ``start``, ``as_of`` (end of
data, exclusive), ``time_unit`` (``"W"``: BG/NBD times in weeks), ``params`` (every
:class:`SimulationParams` field).

``bgnbd``: ``{r, alpha, a, b, group}``, true for the holdout group; ``bgnbd_reached``: the
same with ``alpha/m``; ``task_rate_multiplier``: ``m``; ``buyer_share``;
``expected_orders_per_buyer``: ``{holdout, reached}`` means of ``1 + E[X(T)]`` over the
realised buyers. ``gamma_gamma``: ``{p, q, gamma, currency}`` for the ``amount`` column in
CNY; ``mean_spend``: ``p·γ/(q−1)``.

``holdout``: ``experiment_id``, ``share`` (parameter), ``realised_share``, ``n_reached``,
``n_holdout``, ``window``, ``incremental_gmv_per_reached_customer`` (expected GMV difference
per reached customer over the window = ``..._from_rate`` + ``..._from_experiments``),
``incremental_gmv_total``, ``incremental_gmv_per_reached_customer_from_rate`` (BG/NBD
``E[X(T)]`` with ``α/m`` minus with ``α`` at each buyer's own ``T``, times ``mean_spend``,
averaged over the reached customers), ``incremental_gmv_per_reached_customer_from_experiments``
(expected gross GMV of the experiments' extra orders per reached customer),
``realised_mean_gmv_reached``, ``realised_mean_gmv_holdout``, ``realised_gmv_difference``
(gross ``amount``, whole window).

``churn``: ``level`` (``customer_staff``), ``weibull_shape``, ``weibull_scale_days`` (also as
``baseline``), ``reference_channel_group``, ``log_hr_channel_group``, ``hr_channel_group``,
``log_hr_per_early_chat``, ``hr_per_early_chat``, ``log_hr_retention_tool``,
``hr_retention_tool``, ``landmark_days``, ``early_chats_definition``,
``staff_delete_share``, ``readd_prob``, ``readd_gap_mean_days``, ``group_leave``
(``{weibull_shape, weibull_scale_days}``).

``seven_day_rule``: ``window_days``, ``pos_share_with_contact`` (no chat),
``pos_share_after_chat``, ``pos_share_without_contact``, ``note``. ``order_channels``:
channel probabilities with and without contact, ``live_share_after_invite``,
``link_window_days``, ``link_prob``. ``refunds``: ``share``, ``full_share``,
``mean_fraction``, ``net_spend_factor``.

``funnel``: ``add_prob``, ``join_prob``, ``claim_prob`` (expected brand-level step
conversions: store probabilities weighted by customers, resp. expected adders),
``add_prob_mean``, ``join_prob_mean`` (means of the store-level Beta distributions),
``median_minutes_scan_to_add``, ``median_hours_add_to_join``, ``median_hours_join_to_claim``,
``second_guide_share``, ``other_store_share``, ``group_only_share``, ``stores``
(``{store_id: {add_prob, join_prob, claim_prob}}`` by the store of the scan) and ``note``.

``experiments``: ``EXP_CUST`` and ``EXP_STORE``, each with ``unit``, ``variants``,
``control``, ``start``, ``end``, ``window_days``, ``n_units`` (analysis units, as
``experiment_frame`` builds them), ``n_clusters``, ``task_ids``, ``extra_order_prob``
(per variant), ``true_abs_lift`` (``orders_per_unit``, ``gmv_per_unit`` net of refunds as
``experiment_frame`` measures GMV, ``gross_gmv_per_unit``); ``EXP_STORE`` also
``icc_extra_order``, ``reached_share_of_units`` and ``store_extra_order_prob``.

``identity``: ``n_components`` (one per customer), ``linked_types``, ``two_openid_customers``.
``counts``: rows per table plus ``contacts_added``. Chunked brands add ``chunks``:
``{n_chunks, chunk_customers, customers_per_chunk}``.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ParameterError

__all__ = ["Brand", "SimulationParams", "expected_repeat_purchases", "simulate_brand"]

MINUTE = 60
HOUR = 3_600
DAY = 86_400
WEEK = 7 * DAY
MONTH_DAYS = 365.25 / 12
NEVER = np.iinfo(np.int64).max  # end of a spell or membership still open at as_of
_NAT = np.iinfo(np.int64).min
_SHIFT = 36  # times (seconds, < 2**36) packed under the customer index in one sortable key

#: Order channels in the column order of the channel-probability tuples.
ORDER_CHANNELS = ("pos", "mini_program", "wecom_transfer", "proxy_order", "channels_live", "ecommerce")
CHANNEL_GROUPS = ("offline_store", "online_mall", "wechat_ecosystem", "ads", "other")
TOUCH_TYPES = ("chat", "group_message", "moments", "mass_send", "task_push", "coupon_issue", "live_invite", "other")
_T = {name: i for i, name in enumerate(TOUCH_TYPES)}
_O = {name: i for i, name in enumerate(ORDER_CHANNELS)}
REGIONS = {
    "East": ("Shanghai", "Hangzhou", "Nanjing", "Suzhou"),
    "North": ("Beijing", "Tianjin", "Jinan"),
    "South": ("Guangzhou", "Shenzhen", "Xiamen"),
    "Southwest": ("Chengdu", "Chongqing", "Kunming"),
    "Central": ("Wuhan", "Changsha", "Zhengzhou"),
}
_REGION_WEIGHTS = (0.32, 0.22, 0.2, 0.13, 0.13)
#: Store-level QR codes (one of each per store): code prefix, name, share of store scans.
STORE_CODES = (("CASHIER", "Cashier QR", 0.5), ("RECEIPT", "Receipt QR", 0.3), ("POSTER", "In-store poster", 0.2))
#: Brand-level codes: code, group, name, cost per add (CNY) or None, share of brand scans.
BRAND_CODES = (
    ("MP_BANNER", "online_mall", "Mini-program home banner", None, 0.20),
    ("PAY_SUCCESS", "online_mall", "Mini-program pay-success page", None, 0.20),
    ("OFFICIAL_ACCOUNT", "wechat_ecosystem", "Official account menu", None, 0.15),
    ("CHANNELS_LIVE", "wechat_ecosystem", "Channels live room", None, 0.10),
    ("MOMENTS_AD", "ads", "Moments ad", 12.0, 0.15),
    ("ELEVATOR_AD", "ads", "Elevator ad", 25.0, 0.08),
    ("REFERRAL", "other", "Member referral reward", 5.0, 0.07),
    ("OTHER", "other", "Other / unknown", None, 0.05),
)
TASK_TYPES = (("new_arrival", "New arrivals", 0.35), ("promotion", "Promotion", 0.30),
              ("holiday", "Holiday greetings", 0.15), ("live", "Live stream", 0.20))
GROUPS_PER_STORE = 2
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_HEX = b"0123456789abcdef"


# =============================================================================== parameters
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
        ``channel_probs_no_contact`` (0.60, 0.15, 0, 0, 0, 0.25) over :data:`ORDER_CHANNELS`;
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
    exp_window_days: int = 14

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

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


_PROBABILITIES = (
    "buyer_share", "holdout_share", "store_code_share", "add_prob", "join_prob", "claim_prob", "group_only_share",
    "second_guide_share", "other_store_share", "retention_tool_share", "staff_delete_share", "readd_prob",
    "readd_same_day_share", "task_reach_share", "mass_send_task_share", "live_invite_share", "coupon_issue_share",
    "pos_share_after_chat", "live_share_after_invite", "link_prob", "coupon_redeem_prob", "other_coupon_share",
    "refund_share", "full_refund_share",
)
_POSITIVE = (
    "r", "alpha", "a", "b", "gg_p", "gg_gamma", "task_rate_multiplier", "store_prob_concentration",
    "scan_to_add_median_minutes", "scan_to_add_sigma", "add_to_join_median_hours", "add_to_join_sigma",
    "join_to_claim_median_hours", "join_to_claim_sigma", "second_guide_gap_mean_days", "other_store_gap_mean_days",
    "weibull_shape", "weibull_scale_days", "landmark_days", "early_chat_mean_low", "readd_gap_mean_days",
    "group_leave_shape", "group_leave_scale_days", "seven_day_window_days", "link_window_days", "coupon_valid_days",
)


def _validate_params(p: Any) -> None:
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
        if len(probs) != len(ORDER_CHANNELS) or min(probs) < 0 or abs(sum(probs) - 1) > 1e-9:
            raise ParameterError(f"SimulationParams.{name} must be {len(ORDER_CHANNELS)} probabilities over "
                                 f"{ORDER_CHANNELS} summing to 1, got {probs!r}")
    for name in ("exp_cust_probs", "exp_store_probs"):
        probs = getattr(p, name)
        if len(probs) != 2 or not all(0 < x < 1 for x in probs):
            raise ParameterError(f"SimulationParams.{name} must be (control, treatment) probabilities in (0, 1)")
    if not 0 < p.exp_store_icc < 1:
        raise ParameterError("SimulationParams.exp_store_icc must lie strictly between 0 and 1")
    if p.exp_window_days < 1:
        raise ParameterError("SimulationParams.exp_window_days must be at least 1")


# =============================================================================== result
@dataclass(frozen=True)
class Brand:
    """A simulated brand: contract tables (pandas) and their ground truth.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Every contract table of GUIDE §5, keyed by its contract name.
    truth : dict
        Ground truth, JSON-ready (schema in the :mod:`workbench.simulate` docstring).
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, Any]

    @property
    def as_of(self) -> pd.Timestamp:
        """End of the data (exclusive): no event at or after it."""
        return pd.Timestamp(self.truth["as_of"])

    def write(self, out: str | Path, fmt: str = "parquet", force: bool = False) -> Path:
        """Write ``<out>/<table>.parquet`` (or ``.csv``) for every table, and ``truth.json``.

        Refuses (:class:`ParameterError`) a folder holding data the simulator did not write,
        unless ``force`` (see :func:`check_simulation_target`).
        """
        _check_format(fmt)
        out = Path(out)
        check_simulation_target(out, force)
        out.mkdir(parents=True, exist_ok=True)
        _mark_simulated(out)
        for name, frame in self.tables.items():
            if fmt == "parquet":
                _write_parquet(frame, out / f"{name}.parquet")
            else:
                frame.to_csv(out / f"{name}.csv", index=False)
        (out / "truth.json").write_text(json.dumps(self.truth, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        return out

    def __repr__(self) -> str:
        rows = ", ".join(f"{k}={len(v):,}" for k, v in self.tables.items())
        return f"Brand(n_customers={self.truth['n_customers']:,}, as_of={self.truth['as_of']!r}, rows: {rows})"


#: Written into every folder the simulator writes; its presence means "simulated data, safe to replace".
SIMULATED_MARKER = ".workbench-simulated"


def check_simulation_target(out: str | Path, force: bool = False) -> None:
    """Refuse to write a simulated brand over data the simulator did not create.

    A folder may be written when it does not exist, holds no contract table, or carries the
    simulator's marker file (``.workbench-simulated``; a ``truth.json`` from an older version
    counts too). Anything else is a real brand's export: a simulation there would replace its
    tables, so :class:`ParameterError` unless ``force``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> real = pathlib.Path(tempfile.mkdtemp()); _ = (real / "orders.csv").write_text("order_id\\n1\\n")
    >>> check_simulation_target(real)
    Traceback (most recent call last):
    ...
    workbench.errors.ParameterError: ...
    """
    out = Path(out)
    if force or not out.exists():
        return
    if not out.is_dir():
        raise ParameterError(f"out {str(out)!r} exists and is not a directory")
    if (out / SIMULATED_MARKER).exists() or (out / "truth.json").exists():
        return
    found = sorted({p.name for name in _contract_tables()
                    for p in (out / f"{name}.parquet", out / f"{name}.csv", out / name) if p.exists()})
    if found:
        shown = ", ".join(found[:5]) + (" …" if len(found) > 5 else "")
        raise ParameterError(f"{out} holds data the simulator did not write ({shown}); a simulated brand would "
                             f"replace those tables. Choose another folder, or pass --force (force=True) to "
                             f"overwrite them")


def _mark_simulated(out: Path) -> None:
    (out / SIMULATED_MARKER).write_text("written by workbench.simulate: simulate may overwrite this folder\n",
                                        encoding="utf-8")


def _check_format(fmt: str) -> None:
    if fmt not in ("parquet", "csv"):
        raise ParameterError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")


def _arrow_type(series: pd.Series) -> pa.DataType:
    kind = series.dtype.kind
    if kind == "M":
        return pa.timestamp("us")
    if kind == "f":
        return pa.float64()
    if kind in "iu":
        return pa.int64()
    if kind == "b":
        return pa.bool_()
    return pa.string()


def _write_parquet(frame: pd.DataFrame, path: Path, chunk_rows: int = 2_000_000) -> None:
    """Write in row chunks so a 15M-row table never holds a second full copy in Arrow."""
    schema = pa.schema([(c, _arrow_type(frame[c])) for c in frame.columns])
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, max(len(frame), 1), chunk_rows):
            part = frame.iloc[lo:lo + chunk_rows]
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


# =============================================================================== helpers
@dataclass(frozen=True)
class _Clock:
    """The window ``[t0, as_of)``; event times are int64 seconds since ``t0``."""

    t0: pd.Timestamp
    months: int

    @property
    def as_of(self) -> pd.Timestamp:
        return self.t0 + pd.DateOffset(months=self.months)

    @property
    def span(self) -> int:
        return int((self.as_of - self.t0) // pd.Timedelta(seconds=1))

    def month_start(self, k: int) -> int:
        return int((self.t0 + pd.DateOffset(months=k) - self.t0) // pd.Timedelta(seconds=1))

    def stamp(self, secs: int) -> pd.Timestamp:
        return self.t0 + pd.Timedelta(seconds=int(secs))

    def dt(self, secs: np.ndarray) -> np.ndarray:
        """Seconds since t0 → naive ``datetime64[us]`` (``NEVER`` → NaT)."""
        secs = np.asarray(secs, dtype=np.int64)
        never = secs == NEVER
        us = self.t0.value // 1000 + np.where(never, 0, secs) * 1_000_000
        us[never] = _NAT
        return us.view("datetime64[us]")


def _seq_ids(prefix: str, n: int, width: int, first: int = 1) -> np.ndarray:
    """``prefix`` + zero-padded ``first``…``first + n − 1``, as an object array of str."""
    width = max(width, len(str(first + n - 1)))
    nums = pc.utf8_lpad(pa.array(np.arange(first, first + n, dtype=np.int64)).cast(pa.string()), width, "0")
    return np.asarray(pc.binary_join_element_wise(prefix, nums, "").to_numpy(zero_copy_only=False), dtype=object)


def _tokens(rng: np.random.Generator, n: int, length: int, alphabet: bytes, prefix: str = "") -> np.ndarray:
    """``n`` random identifiers (``prefix`` + ``length`` characters of ``alphabet``), object array of str."""
    alpha = np.frombuffer(alphabet, dtype=np.uint8)
    body = alpha[rng.integers(0, len(alpha), (n, length), dtype=np.uint8)]
    pre = np.frombuffer(prefix.encode(), dtype=np.uint8)
    mat = np.ascontiguousarray(np.concatenate([np.broadcast_to(pre, (n, len(pre))), body], axis=1))
    width = mat.shape[1]
    offsets = np.arange(n + 1, dtype=np.int64) * width
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(mat)])
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame over the column arrays as they are: no consolidation copy of 15M-row tables."""
    return pd.DataFrame(columns, copy=False)


def _nullable(ids: np.ndarray) -> np.ndarray:
    """Object array with a trailing None, so that index -1 means NULL."""
    return np.append(np.asarray(ids, dtype=object), None)


def _secs(rng: np.random.Generator, upper: np.ndarray | float, size: int | None = None) -> np.ndarray:
    """Uniform whole seconds in ``[0, upper)``."""
    return (rng.random(size if size is not None else np.shape(upper)) * upper).astype(np.int64)


def _lognormal_secs(rng: np.random.Generator, median_s: float, sigma: float, size: int) -> np.ndarray:
    return np.maximum(rng.lognormal(np.log(median_s), sigma, size), 1.0).astype(np.int64)


def _poisson_times(rng: np.random.Generator, start: np.ndarray, stop: np.ndarray,
                   rate_per_day: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Homogeneous Poisson events on each interval ``[start, stop)``: (interval index, time)."""
    length = np.maximum(stop - start, 0)
    k = rng.poisson(rate_per_day * length / DAY)
    rep = np.repeat(np.arange(len(start)), k)
    t = start[rep] + _secs(rng, length[rep])
    return rep, t


def _draw_categorical(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    cum = np.cumsum(probs) / np.sum(probs)
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(probs) - 1)


def _first_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal ``keys`` (keys sorted)."""
    m = np.ones(len(keys), dtype=bool)
    m[1:] = keys[1:] != keys[:-1]
    return m


def _last_per_group(keys: np.ndarray) -> np.ndarray:
    m = np.ones(len(keys), dtype=bool)
    m[:-1] = keys[1:] != keys[:-1]
    return m


class _Latest:
    """Events of customers indexed for "latest event strictly before t" look-ups."""

    def __init__(self, cust: np.ndarray, t: np.ndarray) -> None:
        self.cust = np.asarray(cust, dtype=np.int64)
        self.t = np.asarray(t, dtype=np.int64)
        key = (self.cust << _SHIFT) + self.t
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]

    def before(self, cust: np.ndarray, t: np.ndarray, window_s: float) -> np.ndarray:
        """Index of each query's latest event in ``(t − window, t)`` of the same customer, else -1."""
        if len(self.key) == 0:
            return np.full(len(cust), -1, dtype=np.int64)
        q = (np.asarray(cust, dtype=np.int64) << _SHIFT) + t
        pos = np.searchsorted(self.key, q, side="left") - 1
        j = self.order[np.maximum(pos, 0)]
        ok = (pos >= 0) & (self.cust[j] == cust) & (t - self.t[j] <= window_s)
        return np.where(ok, j, -1)


def _weibull_ph_times(u: np.ndarray, shape: float, scale: float, eta0: np.ndarray, eta1: np.ndarray,
                      landmark: float) -> np.ndarray:
    """Invert a piecewise proportional-hazards Weibull cumulative hazard at Exp(1) draws ``u``.

    ``H(t) = (t/scale)^shape · e^eta0`` up to ``landmark``; after it the hazard is multiplied
    by ``e^eta1`` instead: ``H(t) = H(L) + ((t/scale)^shape − (L/scale)^shape) · e^eta1``.
    """
    base_l = (landmark / scale) ** shape
    h_l = base_l * np.exp(eta0)
    early = u <= h_l
    t = np.empty_like(u)
    t[early] = scale * (u[early] * np.exp(-eta0[early])) ** (1 / shape)
    late = ~early
    t[late] = scale * ((u[late] - h_l[late]) * np.exp(-eta1[late]) + base_l) ** (1 / shape)
    return t


def expected_repeat_purchases(t: np.ndarray | float, r: float, alpha: float, a: float, b: float) -> np.ndarray:
    """BG/NBD ``E[X(t)]``: expected repeat purchases in ``(0, t]`` of a new customer.

    Fader, Hardie & Lee (2005), eq. 7; ``t`` in the time unit of ``alpha`` (weeks here).

    Examples
    --------
    >>> round(float(expected_repeat_purchases(52.0, 0.25, 4.0, 0.8, 2.5)), 4)
    1.5879
    """
    from scipy.special import hyp2f1

    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


# =============================================================================== the brand's fixed world
@dataclass
class _World:
    """Stores, staff, channels and groups, with the index arrays the processes use."""

    store_ids: np.ndarray
    store_weight: np.ndarray      # share of customers whose home store it is
    tool: np.ndarray              # store uses a retention tool
    staff_ids: np.ndarray         # active guides first (sorted by store), then former guides, then HQ
    guide_store: np.ndarray       # store index of each active guide
    guide_offset: np.ndarray      # first guide index of each store
    guide_count: np.ndarray       # guides per store
    code_ids: np.ndarray          # channel codes: store codes (3 per store) first, then brand codes
    code_group: np.ndarray        # channel group index of each code
    group_store: np.ndarray       # store index of each WeCom group
    group_owner: np.ndarray       # staff index of each group's owner
    group_ids: np.ndarray
    tables: dict[str, pd.DataFrame]

    @property
    def n_stores(self) -> int:
        return len(self.store_ids)

    def staff_store(self, staff: np.ndarray) -> np.ndarray:
        """Store index of staff members (all contacts are with active guides)."""
        return self.guide_store[staff]

    def pick_guide(self, rng: np.random.Generator, store: np.ndarray) -> np.ndarray:
        return self.guide_offset[store] + (rng.random(len(store)) * self.guide_count[store]).astype(np.int64)

    def pick_other_guide(self, rng: np.random.Generator, store: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """Another guide of the same store (the same one when the store has a single guide)."""
        cnt = self.guide_count[store]
        local = guide - self.guide_offset[store]
        step = 1 + (rng.random(len(store)) * np.maximum(cnt - 1, 1)).astype(np.int64)
        return self.guide_offset[store] + (local + step) % cnt

    def store_code(self, store: np.ndarray, kind: np.ndarray) -> np.ndarray:
        return store * len(STORE_CODES) + kind


def _build_world(rng: np.random.Generator, clock: _Clock, n_stores: int, n_staff: int, p: SimulationParams) -> _World:
    store_ids = _seq_ids("S", n_stores, 3)
    region_names = list(REGIONS)
    region = _draw_categorical(rng, np.array(_REGION_WEIGHTS), n_stores)
    names, seen = [], {}
    for s in range(n_stores):  # a loop over stores: small and fixed
        cities = REGIONS[region_names[region[s]]]
        city = cities[int(rng.integers(len(cities)))]
        seen[city] = seen.get(city, 0) + 1
        names.append(f"{city} #{seen[city]}")
    size = rng.lognormal(0.0, 0.5, n_stores)
    opened_days = rng.uniform(180, 2500, n_stores)
    opened = -(opened_days * DAY).astype(np.int64) + 10 * HOUR
    tool = rng.random(n_stores) < p.retention_tool_share
    stores = _frame({
        "store_id": store_ids, "store_name": np.array(names, dtype=object),
        "region": np.array(region_names, dtype=object)[region], "opened_at": clock.dt(opened),
        "uses_retention_tool": tool,
    })

    # guides: one per store, the rest in proportion to store size; ids follow store order
    extra = _draw_categorical(rng, size, n_staff - n_stores) if n_staff > n_stores else np.array([], np.int64)
    guide_store = np.sort(np.concatenate([np.arange(n_stores), extra])).astype(np.int64)
    guide_count = np.bincount(guide_store, minlength=n_stores)
    guide_offset = np.concatenate([[0], np.cumsum(guide_count)[:-1]])
    n_former = max(1, n_staff // 50)
    n_hq = 10
    staff_ids = _seq_ids("E", n_staff + n_former + n_hq, 4)
    # former guides left before the window: they hold no contacts, so they never bias churn
    former_store = rng.integers(0, n_stores, n_former)
    former_hired = opened[former_store] + _secs(rng, -opened[former_store] * 0.5)
    hired = np.concatenate([
        opened[guide_store] + _secs(rng, -opened[guide_store] - 30 * DAY),
        former_hired,
        -(rng.uniform(60, 2000, n_hq) * DAY).astype(np.int64),
    ])
    left = np.full(n_staff + n_former + n_hq, NEVER)
    stay = (rng.uniform(0.5, 0.95, n_former) * -former_hired).astype(np.int64)
    left[n_staff:n_staff + n_former] = former_hired + stay
    store_of_staff = np.concatenate([guide_store, former_store, np.full(n_hq, -1)])
    staff = _frame({
        "staff_id": staff_ids,
        "store_id": _nullable(store_ids)[store_of_staff],
        "role": np.array(["guide"] * (n_staff + n_former) + ["hq"] * n_hq, dtype=object),
        "hired_at": clock.dt(hired),
        "left_at": clock.dt(left),
    })

    # channel codes: three store-level codes per store, then brand-level codes
    k = len(STORE_CODES)
    code_prefix = np.array([c for c, _, _ in STORE_CODES], dtype=object)
    code_name = np.array([nm for _, nm, _ in STORE_CODES], dtype=object)
    rep_store = np.repeat(np.arange(n_stores), k)
    rep_kind = np.tile(np.arange(k), n_stores)
    store_code_ids = code_prefix[rep_kind] + "_" + store_ids[rep_store]
    brand = BRAND_CODES
    code_ids = np.concatenate([store_code_ids, np.array([c[0] for c in brand], dtype=object)])
    code_group = np.concatenate([np.zeros(n_stores * k, np.int64),
                                 np.array([CHANNEL_GROUPS.index(c[1]) for c in brand], np.int64)])
    channels = _frame({
        "channel_code": code_ids,
        "channel_group": np.array(CHANNEL_GROUPS, dtype=object)[code_group],
        "channel_name": np.concatenate([code_name[rep_kind] + " " + store_ids[rep_store],
                                        np.array([c[2] for c in brand], dtype=object)]),
        "store_id": np.concatenate([store_ids[rep_store], np.full(len(brand), None, dtype=object)]),
        "cost": np.array([np.nan] * (n_stores * k) + [np.nan if c[3] is None else c[3] for c in brand]),
    })

    # customer groups of each store, each owned by one of its guides
    group_store = np.repeat(np.arange(n_stores), GROUPS_PER_STORE)
    group_owner = guide_offset[group_store] + (rng.random(len(group_store)) * guide_count[group_store]).astype(np.int64)
    group_ids = _seq_ids("G", len(group_store), 4)
    created = opened[group_store] + _secs(rng, np.minimum(-opened[group_store], 400 * DAY) - DAY)
    groups = _frame({"group_id": group_ids, "store_id": store_ids[group_store],
                     "owner_staff_id": staff_ids[group_owner], "created_at": clock.dt(created)})
    return _World(store_ids, size / size.sum(), tool, staff_ids, guide_store, guide_offset, guide_count, code_ids,
                  code_group, group_store, group_owner, group_ids,
                  {"stores": stores, "staff": staff, "channels": channels, "groups": groups})


# =============================================================================== customers
@dataclass
class _Customers:
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
        return len(self.ids)


def _build_customers(rng: np.random.Generator, clock: _Clock, world: _World, n: int,
                     p: SimulationParams, first: int = 0, id_width: int = 7) -> _Customers:
    """``n`` customers numbered from ``first + 1`` (a chunk of a chunked brand starts past the others)."""
    # customer ids follow registration order, as a membership system numbers them
    birth = np.sort(_secs(rng, clock.span, n))
    home = _draw_categorical(rng, world.store_weight, n)
    holdout = rng.random(n) < p.holdout_share
    buyer = rng.random(n) < p.buyer_share
    lam = rng.gamma(p.r, 1.0 / p.alpha, n) * np.where(holdout, 1.0, p.task_rate_multiplier)
    drop_p = rng.beta(p.a, p.b, n)
    nu = rng.gamma(p.gg_q, 1.0 / p.gg_gamma, n)
    ids = _seq_ids("C", n, id_width, first=first + 1)
    member_ids = _seq_ids("M", n, 8, first=10_000_001 + first)
    frame = _frame({
        "customer_id": ids,
        "registered_at": clock.dt(birth),
        "gender": np.array(["F", "M"], dtype=object)[(rng.random(n) < 0.3).astype(np.int64)],
        "birth_year": rng.integers(1965, 2007, n).astype(np.int64),
        "member_level": np.array(["basic", "silver", "gold"], dtype=object)[
            _draw_categorical(rng, np.array([0.6, 0.3, 0.1]), n)],
        "home_store_id": world.store_ids[home],
        "member_id": member_ids,
    })
    return _Customers(ids, birth, home, holdout, buyer, lam, drop_p, nu, member_ids, frame)


# =============================================================================== funnel and relationships
@dataclass
class _Spells:
    """Customer–staff contact spells, sorted by (customer, start)."""

    cust: np.ndarray
    staff: np.ndarray
    code: np.ndarray
    start: np.ndarray
    end: np.ndarray        # NEVER while open at as_of
    by_staff: np.ndarray
    number: np.ndarray     # 1 for the first add of the pair, 2 after a re-add, …

    def open_at(self, t: int, customers: np.ndarray | None = None) -> np.ndarray:
        """One open spell per customer at ``t`` (the latest started), optionally only ``customers``."""
        m = (self.start <= t) & (self.end > t)
        if customers is not None:
            m &= customers[self.cust]
        idx = np.flatnonzero(m)
        return idx[_last_per_group(self.cust[idx])]

    def open_for(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """For each (customer, time): the open spell started last, else -1."""
        lo = np.searchsorted(self.cust, cust, side="left")
        cnt = np.searchsorted(self.cust, cust, side="right") - lo
        rep = np.repeat(np.arange(len(cust)), cnt)
        idx = lo[rep] + (np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        ok = (self.start[idx] <= t[rep]) & (t[rep] < self.end[idx])
        rep, idx = rep[ok], idx[ok]
        last = _last_per_group(rep)  # spells are in start order within a customer
        out = np.full(len(cust), -1, dtype=np.int64)
        out[rep[last]] = idx[last]
        return out


@dataclass
class _Relationships:
    spells: _Spells
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


def _build_relationships(rng: np.random.Generator, clock: _Clock, world: _World, cust: _Customers,
                         p: SimulationParams, brand_rng: np.random.Generator | None = None) -> _Relationships:
    """Funnel, spells and memberships; store-level probabilities come from ``brand_rng``
    (default ``rng``), so that every chunk of a chunked brand draws the same stores."""
    brng = rng if brand_rng is None else brand_rng
    n, span, home = cust.n, clock.span, cust.home
    # scan → add → join → claim
    store_scan = rng.random(n) < p.store_code_share
    kind = _draw_categorical(rng, np.array([c[2] for c in STORE_CODES]), n)
    brand = _draw_categorical(rng, np.array([c[4] for c in BRAND_CODES]), n)
    code = np.where(store_scan, world.store_code(home, kind), world.n_stores * len(STORE_CODES) + brand)
    scan_t = np.maximum(cust.birth - _secs(rng, 120.0, n), 0)
    kappa = p.store_prob_concentration
    add_p = brng.beta(kappa * p.add_prob, kappa * (1 - p.add_prob), world.n_stores)
    join_p = brng.beta(kappa * p.join_prob, kappa * (1 - p.join_prob), world.n_stores)
    add_t = scan_t + _lognormal_secs(rng, p.scan_to_add_median_minutes * MINUTE, p.scan_to_add_sigma, n)
    added = (rng.random(n) < add_p[home]) & (add_t < span)
    guide = world.pick_guide(rng, home)
    join_t = add_t + _lognormal_secs(rng, p.add_to_join_median_hours * HOUR, p.add_to_join_sigma, n)
    joined = added & (rng.random(n) < join_p[home]) & (join_t < span)
    claim_t = join_t + _lognormal_secs(rng, p.join_to_claim_median_hours * HOUR, p.join_to_claim_sigma, n)
    claimed = joined & (rng.random(n) < p.claim_prob) & (claim_t < span)
    solo_t = scan_t + _lognormal_secs(rng, 10 * MINUTE, 1.0, n)
    solo = ~added & (rng.random(n) < p.group_only_share) & (solo_t < span)

    # person-times ≠ persons: a second guide of the same store, a guide of another store
    second_t = add_t + 10 * MINUTE + (rng.exponential(p.second_guide_gap_mean_days, n) * DAY).astype(np.int64)
    second = added & (rng.random(n) < p.second_guide_share) & (world.guide_count[home] > 1) & (second_t < span)
    second_guide = world.pick_other_guide(rng, home, guide)
    far = (home + rng.integers(1, world.n_stores, n)) % world.n_stores
    far_t = add_t + HOUR + (rng.exponential(p.other_store_gap_mean_days, n) * DAY).astype(np.int64)
    far_scan_t = far_t - _secs(rng, 120.0, n)
    other = added & (rng.random(n) < p.other_store_share) & (far_t < span)
    far_guide = world.pick_guide(rng, far)
    far_code = world.store_code(far, np.zeros(n, np.int64))

    i1, i2, i3 = np.flatnonzero(added), np.flatnonzero(second), np.flatnonzero(other)
    first_round = (np.concatenate([i1, i2, i3]),
                   np.concatenate([guide[i1], second_guide[i2], far_guide[i3]]),
                   np.concatenate([code[i1], code[i2], far_code[i3]]),
                   np.concatenate([add_t[i1], second_t[i2], far_t[i3]]))
    spells, chats = _contact_spells(rng, clock, world, p, *first_round, brand_rng=brng)

    # group memberships: adders who join, plus (optionally) some who join without adding
    members = np.flatnonzero(joined | solo)
    mem_join = np.where(joined, join_t, solo_t)[members]
    mem_group = GROUPS_PER_STORE * home[members] + rng.integers(0, GROUPS_PER_STORE, len(members))
    life = p.group_leave_scale_days * DAY * rng.weibull(p.group_leave_shape, len(members))
    mem_leave = mem_join + np.minimum(life, 4e9).astype(np.int64)
    mem_leave = np.where(mem_leave < span, mem_leave, NEVER)

    hooks = np.flatnonzero(claimed)
    ever_added = np.zeros(n, dtype=bool)
    ever_added[spells.cust] = True
    return _Relationships(
        spells=spells,
        scan_cust=np.concatenate([np.arange(n), i3]), scan_t=np.concatenate([scan_t, far_scan_t[i3]]),
        scan_code=np.concatenate([code, far_code[i3]]),
        scan_store=np.concatenate([np.where(store_scan, home, -1), far[i3]]),
        mem_cust=members, mem_group=mem_group, mem_join=mem_join, mem_leave=mem_leave,
        hook_cust=hooks, hook_t=claim_t[hooks], hook_staff=guide[hooks],
        chat_cust=chats[0], chat_staff=chats[1], chat_t=chats[2],
        store_add_p=add_p, store_join_p=join_p, ever_added=ever_added)


def _contact_spells(rng: np.random.Generator, clock: _Clock, world: _World, p: SimulationParams,
                    cust: np.ndarray, staff: np.ndarray, code: np.ndarray, start: np.ndarray,
                    brand_rng: np.random.Generator | None = None,
                    ) -> tuple[_Spells, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Spell lifetimes from the proportional-hazards Weibull model, early chats, and re-adds.

    One loop iteration per re-add round (a handful), each vectorised over all spells.
    """
    span = clock.span
    landmark = int(p.landmark_days * DAY)
    beta_group = np.array([p.log_hr_channel[g] for g in CHANNEL_GROUPS])
    chat_mean = (rng if brand_rng is None else brand_rng).uniform(p.early_chat_mean_low, p.early_chat_mean_high,
                                                                  world.n_stores)
    spell_parts: list[tuple[np.ndarray, ...]] = []
    chat_parts: list[tuple[np.ndarray, ...]] = []
    number = 1
    while len(cust):
        m = len(cust)
        store = world.staff_store(staff)
        eta0 = beta_group[world.code_group[code]] + p.log_hr_tool * world.tool[store]
        early = rng.poisson(chat_mean[store])
        eta1 = eta0 + p.log_hr_early_chat * early
        dur = _weibull_ph_times(rng.exponential(1.0, m), p.weibull_shape, p.weibull_scale_days * DAY, eta0, eta1,
                                landmark)
        end = start + np.minimum(dur, 4e9).astype(np.int64)
        ended = end < span
        end = np.where(ended, end, NEVER)
        by_staff = ended & (rng.random(m) < p.staff_delete_share)
        spell_parts.append((cust, staff, code, start, end, by_staff, np.full(m, number, np.int64)))
        # early chats: uniform over the first `landmark` seconds, sent only while the spell is open
        rep = np.repeat(np.arange(m), early)
        t = start[rep] + _secs(rng, float(landmark), len(rep))
        ok = (t < end[rep]) & (t < span)
        chat_parts.append((cust[rep[ok]], staff[rep[ok]], t[ok]))
        # later chats at a low rate while open
        rep, t = _poisson_times(rng, start + landmark, np.minimum(end, span), p.later_chat_rate_per_month / MONTH_DAYS)
        chat_parts.append((cust[rep], staff[rep], t))
        # re-adds of the same staff member; some within the same day
        same_day = rng.random(m) < p.readd_same_day_share
        gap = MINUTE + np.where(same_day, _secs(rng, 6.0 * HOUR - MINUTE, m),
                                (rng.exponential(p.readd_gap_mean_days, m) * DAY).astype(np.int64))
        nxt = np.where(ended, end, 0) + gap
        back = ended & (rng.random(m) < p.readd_prob) & (nxt < span)
        cust, staff, code, start = cust[back], staff[back], code[back], nxt[back]
        number += 1
    cols = [np.concatenate(c) for c in zip(*spell_parts)]
    order = np.lexsort((cols[3], cols[0]))
    spells = _Spells(*(c[order] for c in cols))
    chats = tuple(np.concatenate(c) for c in zip(*chat_parts))
    return spells, chats  # type: ignore[return-value]


# =============================================================================== touches and tasks
class _TouchLog:
    """Touches collected as integer arrays; staff and task -1 mean NULL."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, t: np.ndarray, cust: np.ndarray, staff: np.ndarray | int, kind: str,
            task: np.ndarray | int = -1) -> None:
        k = len(t)
        self.parts.append((np.asarray(t, np.int64), np.asarray(cust, np.int32),
                           np.broadcast_to(np.asarray(staff, np.int32), (k,)),
                           np.full(k, _T[kind], np.int8), np.broadcast_to(np.asarray(task, np.int32), (k,))))

    def select(self, kinds: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        """(time, customer, staff, task) of the touches of ``kinds`` that belong to a task."""
        codes = {_T[k] for k in kinds}
        parts = [x for x in self.parts if len(x[0]) and int(x[3][0]) in codes]
        if not parts:
            return tuple(np.array([], np.int64) for _ in range(4))
        t, c, s, _, task = (np.concatenate(col) for col in zip(*parts))
        keep = task >= 0
        return t[keep], c[keep].astype(np.int64), s[keep].astype(np.int64), task[keep].astype(np.int64)

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return tuple(np.array([], d) for d in (np.int64, np.int32, np.int32, np.int8, np.int32))
        return tuple(np.concatenate(c) for c in zip(*self.parts))


class _CouponLog:
    """Coupons collected as integer arrays: customer, issue time, issuing staff (-1: none), source."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, cust: np.ndarray, t: np.ndarray, staff: np.ndarray | int, source: str) -> None:
        k = len(cust)
        self.parts.append((np.asarray(cust, np.int64), np.asarray(t, np.int64),
                           np.broadcast_to(np.asarray(staff, np.int64), (k,)),
                           np.full(k, 0 if source == "wecom" else 1, np.int8)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(c) for c in zip(*self.parts))


def _background_touches(rng: np.random.Generator, clock: _Clock, world: _World, rel: _Relationships,
                        p: SimulationParams, log: _TouchLog) -> None:
    """Chats (all contacts, holdout included), Moments views and group messages."""
    span, sp = clock.span, rel.spells
    log.add(rel.chat_t, rel.chat_cust, rel.chat_staff, "chat")
    rep, t = _poisson_times(rng, sp.start, np.minimum(sp.end, span), p.moments_rate_per_month / MONTH_DAYS)
    log.add(t, sp.cust[rep], sp.staff[rep], "moments")
    rep, t = _poisson_times(rng, rel.mem_join, np.minimum(rel.mem_leave, span),
                            p.group_message_rate_per_month / MONTH_DAYS)
    log.add(t, rel.mem_cust[rep], world.group_owner[rel.mem_group[rep]], "group_message")


def _hq_tasks(rng: np.random.Generator, clock: _Clock, cust: _Customers, rel: _Relationships, p: SimulationParams,
              log: _TouchLog, coupons: _CouponLog, brand_rng: np.random.Generator | None = None) -> list[tuple]:
    """2–4 HQ tasks a month, delivered to reached open contacts only (the holdout never sees them).

    The task definitions (count, day, type, delivery) come from ``brand_rng`` (default ``rng``):
    brand-level draws that every chunk of a chunked brand repeats identically.
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
            ttype, label, _ = TASK_TYPES[int(_draw_categorical(brng, type_p, 1)[0])]
            created = m0 + int(days[j]) * DAY + 10 * HOUR + int(brng.integers(0, 2 * HOUR))
            task = len(rows)
            idx = sp.open_at(created, reached)
            if ttype == "live":
                delivery, share, lag = "live_invite", p.live_invite_share, 6 * HOUR
            elif brng.random() < p.mass_send_task_share:
                delivery, share, lag = "mass_send", p.task_reach_share, HOUR
            else:
                delivery, share, lag = "task_push", p.task_reach_share, 10 * HOUR
            sel = idx[rng.random(len(idx)) < share]
            t = created + _secs(rng, float(lag), len(sel))
            ok = t < span
            sel, t = sel[ok], t[ok]
            log.add(t, sp.cust[sel], sp.staff[sel], delivery, task)
            if ttype == "promotion":
                c = sp.cust[sel]
                old_enough = cust.birth[c] <= created - p.coupon_min_age_days * DAY
                give = old_enough & (rng.random(len(sel)) < p.coupon_issue_share)
                ct = t[give] + MINUTE
                ok = ct < span
                log.add(ct[ok], c[give][ok], sp.staff[sel][give][ok], "coupon_issue", task)
                coupons.add(c[give][ok], ct[ok], sp.staff[sel][give][ok], "wecom")
            month_label = clock.stamp(m0).strftime("%Y-%m")
            rows.append((f"T{task + 1:04d}", created, ttype, f"{label} {month_label} #{j + 1}", None, None, delivery))
    return rows


# =============================================================================== orders
def _bgnbd_orders(rng: np.random.Generator, clock: _Clock, cust: _Customers,
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
    return o_cust, o_t, _amounts(rng, cust.nu[o_cust], p)


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


def _amounts(rng: np.random.Generator, nu: np.ndarray, p: SimulationParams) -> np.ndarray:
    return np.maximum(np.round(rng.gamma(p.gg_p, 1.0 / nu), 2), 0.01)


def _channel_probs(p: SimulationParams, contact: bool, chat: bool, invite: bool) -> np.ndarray:
    """Order-channel probabilities given the customer's WeCom state at order time."""
    if not contact:
        return np.array(p.channel_probs_no_contact, dtype=float)
    q = np.array(p.channel_probs_contact, dtype=float)
    if chat:  # Belle's 7-day rule: a recent 1:1 chat pulls the purchase into the store
        rest = q[1:] * (1 - p.pos_share_after_chat) / q[1:].sum()
        q = np.concatenate([[p.pos_share_after_chat], rest])
    if invite:
        live = _O["channels_live"]
        others = q.copy()
        others[live] = 0.0
        q = others * (1 - p.live_share_after_invite) / others.sum()
        q[live] = p.live_share_after_invite
    return q


def _assign_channels(rng: np.random.Generator, world: _World, cust: _Customers, rel: _Relationships,
                     log: _TouchLog, o_cust: np.ndarray, o_t: np.ndarray,
                     p: SimulationParams) -> tuple[np.ndarray, ...]:
    """Channel, store, task link and sharing staff of each BG/NBD order (volume unchanged)."""
    m = len(o_cust)
    sp = rel.spells
    open_sp = sp.open_for(o_cust, o_t)
    contact = open_sp >= 0
    guide = np.where(contact, sp.staff[np.maximum(open_sp, 0)], -1)
    chat_j = _Latest(rel.chat_cust, rel.chat_t).before(o_cust, o_t, p.seven_day_window_days * DAY)
    chat_staff = np.where(contact & (chat_j >= 0), rel.chat_staff[np.maximum(chat_j, 0)], -1)
    link_window = p.link_window_days * DAY
    push_t, push_c, push_s, push_task = log.select(("task_push", "mass_send"))
    push_j = _Latest(push_c, push_t).before(o_cust, o_t, link_window)
    inv_t, inv_c, inv_s, inv_task = log.select(("live_invite",))
    inv_j = _Latest(inv_c, inv_t).before(o_cust, o_t, link_window)
    invited = contact & (inv_j >= 0)

    state = np.where(contact, 1 + (chat_staff >= 0) + 2 * invited, 0)
    u = rng.random(m)
    channel = np.zeros(m, dtype=np.int8)
    for s in range(5):  # five WeCom states, each a vectorised categorical draw
        probs = _channel_probs(p, s > 0, bool((s - 1) & 1) if s else False, bool((s - 1) & 2) if s else False)
        cum = np.cumsum(probs) / probs.sum()
        sel = state == s
        channel[sel] = np.minimum(np.searchsorted(cum, u[sel], side="right"), len(probs) - 1)

    home = cust.home[o_cust]
    chat_store = world.staff_store(np.maximum(chat_staff, 0))
    store = np.full(m, -1, dtype=np.int64)
    in_store = (channel == _O["pos"]) | (channel == _O["proxy_order"])
    store[in_store] = np.where(chat_staff >= 0, chat_store, home)[in_store]
    store[channel == _O["mini_program"]] = home[channel == _O["mini_program"]]
    transfer = channel == _O["wecom_transfer"]
    store[transfer] = world.staff_store(guide[transfer])
    share = np.full(m, -1, dtype=np.int64)
    share[transfer] = guide[transfer]
    proxy = channel == _O["proxy_order"]
    share[proxy] = np.where(chat_staff >= 0, chat_staff, guide)[proxy]
    task = np.full(m, -1, dtype=np.int64)
    link = (channel == _O["mini_program"]) & (push_j >= 0) & (rng.random(m) < p.link_prob)
    task[link], share[link] = push_task[push_j[link]], push_s[push_j[link]]
    live = (channel == _O["channels_live"]) & (inv_j >= 0)
    task[live], share[live] = inv_task[inv_j[live]], inv_s[inv_j[live]]
    return channel, store, task, share


def _redeem(rng: np.random.Generator, o_cust: np.ndarray, o_t: np.ndarray, channel: np.ndarray,
            c_cust: np.ndarray, c_t: np.ndarray, p: SimulationParams) -> tuple[np.ndarray, np.ndarray]:
    """POS orders redeem the customer's latest coupon issued in the validity window, once each.

    Orders must be in time order; returns (coupon of each order or -1, redeeming order of
    each coupon or -1).
    """
    pos = np.flatnonzero(channel == _O["pos"])
    j = _Latest(c_cust, c_t).before(o_cust[pos], o_t[pos], p.coupon_valid_days * DAY)
    accept = (j >= 0) & (rng.random(len(pos)) < p.coupon_redeem_prob)
    pos, j = pos[accept], j[accept]
    _, first = np.unique(j, return_index=True)  # the earliest order wins a coupon
    pos, j = pos[first], j[first]
    order_coupon = np.full(len(o_cust), -1, dtype=np.int64)
    order_coupon[pos] = j
    coupon_order = np.full(len(c_cust), -1, dtype=np.int64)
    coupon_order[j] = pos
    return order_coupon, coupon_order


# =============================================================================== experiments
@dataclass
class _Experiments:
    rows: list[tuple]
    task_rows: list[tuple]
    assignments: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
    extra: tuple[np.ndarray, ...]        # cust, t, task, share staff
    expected_extra_orders: float          # given the realised units and store probabilities
    truth: dict[str, Any]
    stats: dict[str, Any]                 # additive design counts, to merge the truth of chunks


def _experiments(rng: np.random.Generator, clock: _Clock, world: _World, cust: _Customers, rel: _Relationships,
                 p: SimulationParams, first_task: int, log: _TouchLog,
                 brand_rng: np.random.Generator | None = None) -> _Experiments:
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
    extra_c = (units[hit], s1 + 1 + _secs(rng, float(w - 1), int(hit.sum())), task[hit], staff[hit])

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
    first = _first_per_group(sp.cust[idx])
    idx, st = idx[first], st[first]
    units2, staff2 = sp.cust[idx], sp.staff[idx]
    r2 = reached[units2]
    task2 = np.where(store_treat[st], first_task + 3, first_task + 2)
    log.add(np.full(int(r2.sum()), s2), units2[r2], staff2[r2], "task_push", task2[r2])
    hit2 = r2 & (rng.random(len(idx)) < store_p[st])
    extra_s = (units2[hit2], s2 + 1 + _secs(rng, float(w - 1), int(hit2.sum())), task2[hit2], staff2[hit2])
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
    extra = tuple(np.concatenate([a, b]) for a, b in zip(extra_c, extra_s))
    expected = float(prob.sum() + store_p[st][r2].sum())
    return _Experiments(rows, task_rows, assignments, extra, expected, _experiments_truth(clock, world, p, stats),
                        stats)


def _experiments_truth(clock: _Clock, world: _World, p: SimulationParams, stats: dict[str, Any]) -> dict[str, Any]:
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
        "store_extra_order_prob": {str(s): round(float(v), 6) for s, v in zip(world.store_ids, store_p)},
        "note": "Extra orders only for reached (non-holdout) units; the per-unit lift is the difference in mean "
                "store probability times the reached share of units. store_extra_order_prob are the realised "
                "store-level probabilities (Beta with this ICC).",
    })
    return {"EXP_CUST": t_cust, "EXP_STORE": t_store}


def _experiment_truth(unit: str, clock: _Clock, s: int, p: SimulationParams, n_units: int, n_clusters: int,
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


# =============================================================================== identity
def _identity_links(rng: np.random.Generator, cust: _Customers, ever_added: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Identifier pairs: every customer is one connected component of the links."""
    n = cust.n
    phone = _tokens(rng, n, 64, _HEX)
    union = _tokens(rng, n, 27, _B64, "o")
    openid = _tokens(rng, n, 27, _B64, "o")
    two = np.flatnonzero(rng.random(n) < 0.05)  # mini-program and official-account openids
    openid2 = _tokens(rng, len(two), 27, _B64, "o")
    added = np.flatnonzero(ever_added)
    ext = _tokens(rng, len(added), 30, _B64, "wm")
    buyers = np.flatnonzero(cust.buyer)
    _tokens(rng, len(buyers), 10, b"0123456789", "ERP")  # drawn only to keep the random stream as it was
    # ERP numbers must be unique (random 10-digit draws collide by the thousand at 20M buyers):
    # a bijection of the customer number onto 10 digits, unique across chunks too
    number = pd.Series(cust.ids[buyers]).str[1:].astype(np.int64).to_numpy()
    erp = np.asarray(pd.Series((number * 7_919_187_561 + 1_234_567) % 10**10).astype(str).str.zfill(10).radd("ERP"),
                     dtype=object)
    parts = [
        ("member_id", cust.member_ids, "phone_hash", phone),
        ("phone_hash", phone, "unionid", union),
        ("unionid", union, "openid", openid),
        ("unionid", union[two], "openid", openid2),
        ("external_userid", ext, "unionid", union[added]),
        ("erp_id", erp, "phone_hash", phone[buyers]),
    ]
    frame = _frame({
        "id_type": np.concatenate([np.full(len(v), a, dtype=object) for a, v, _, _ in parts]),
        "id_value": np.concatenate([v for _, v, _, _ in parts]),
        "linked_type": np.concatenate([np.full(len(v), b, dtype=object) for _, v, b, _ in parts]),
        "linked_value": np.concatenate([lv for _, _, _, lv in parts]),
    })
    return frame, len(two)


# =============================================================================== the simulation
def simulate_brand(n_customers: int = 100_000, seed: int = 0, out: str | Path | None = None, n_stores: int = 60,
                   n_staff: int = 300, start: str = "2025-01-01", months: int = 12, fmt: str = "parquet",
                   params: SimulationParams | None = None, progress: bool = False,
                   chunk_customers: int | None = None, force: bool = False) -> Brand:
    """Simulate a brand's contract tables and their ground truth.

    Parameters
    ----------
    n_customers : int, default 100,000
        Customers registering inside the window (at least 100).
    seed : int, default 0
        Everything is deterministic for a seed.
    out : path, optional
        When given, write ``<out>/<table>.<fmt>`` for every contract table and
        ``<out>/truth.json``.
    n_stores : int, default 60
        Stores (at least 2: the store experiment needs both arms).
    n_staff : int, default 300
        Active store guides (at least one per store), spread over stores by store size; a
        few former guides (``left_at`` before the window) and ten HQ staff are added.
    start : str, default "2025-01-01"
        First day of the window (Asia/Shanghai local time).
    months : int, default 12
        Window length (at least 2); ``as_of = start + months`` ends the data, exclusive.
    fmt : {"parquet", "csv"}
        File format when writing.
    params : SimulationParams, optional
        True parameters; defaults documented on :class:`SimulationParams`.
    progress : bool, default False
        Show a progress bar (over chunks when chunked; quiet when stderr is not a terminal).
    chunk_customers : int, optional
        Simulate at most this many customers at a time and write each chunk as it is done,
        so memory stays at about one chunk's peak (1M customers ≈ 3.5 GB) whatever
        ``n_customers`` is. Needs ``out`` and Parquet. The chunks share one world: stores,
        staff, channels, groups, the store-level funnel and chat rates, the HQ task
        calendar, the experiments with their store arms and store probabilities. Customer,
        member, order and coupon ids are numbered across chunks, so keys are unique.
        Dimension tables (stores, staff, channels, groups, tasks, experiments) are written
        once as ``<out>/<table>.parquet``; per-customer tables as folders of parts
        ``<out>/<table>/part-00000.parquet`` …, which :func:`workbench.open` reads as one
        table. ``truth.json`` is one truth: the same parameters, counts summed, realised
        means weighted over chunks. The data differ from the unchunked brand of the same
        seed (other random streams), not in distribution. ``None`` (default): one chunk, in
        memory, exactly as before.
    force : bool, default False
        Write into ``out`` even when it holds data the simulator did not write (a real
        brand's export); without it that is refused before anything is simulated.

    Returns
    -------
    Brand
        ``tables`` (dict of DataFrames keyed by contract table) and ``truth``. When chunked,
        ``tables`` holds only the dimension tables (the rest is on disk).

    Examples
    --------
    >>> brand = simulate_brand(2_000, seed=1, n_stores=8, n_staff=24)
    >>> sorted(brand.tables)[:3]
    ['assignments', 'channels', 'contact_events']
    >>> brand.truth["bgnbd"]["r"], brand.truth["gamma_gamma"]["gamma"]
    (0.25, 150.0)
    """
    p = SimulationParams() if params is None else params
    _validate_params(p)
    _check_format(fmt)
    clock = _check_arguments(n_customers, seed, n_stores, n_staff, start, months)
    if out is not None:  # before minutes of simulation, not after
        check_simulation_target(out, force)
    if chunk_customers is not None:
        return _simulate_chunked(n_customers, seed, out, n_stores, n_staff, clock, fmt, p, progress,
                                 chunk_customers)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    step = _progress(progress, 7)
    world = _build_world(rngs[0], clock, n_stores, n_staff, p)
    tables, stats, exp = _simulate_part(rngs, (None, None, None), clock, world, p, n_customers, step)
    truth = _truth(p, seed, clock, world, stats, exp.truth, {k: int(len(v)) for k, v in tables.items()})
    step(None)
    brand = Brand(tables, truth)
    if out is not None:
        brand.write(out, fmt, force=True)  # checked above
    return brand


#: Tables written once by a chunked simulation (the brand's world, its tasks and experiments).
_DIMENSIONS = ("stores", "staff", "channels", "groups", "tasks", "experiments")


def _simulate_part(rngs: list[np.random.Generator], brngs: tuple, clock: _Clock, world: _World,
                   p: SimulationParams, n: int, step: Callable[[str | None], None], first_customer: int = 0,
                   first_order: int = 0, first_coupon: int = 0,
                   id_width: int = 7) -> tuple[dict[str, pd.DataFrame], dict[str, Any], _Experiments]:
    """Every table of ``n`` customers in ``world``: (tables, additive truth statistics, experiments).

    ``brngs`` are the generators of the brand-level draws (store probabilities, task calendar,
    store arms); ``None`` draws them from the process's own generator, as an unchunked brand does.
    """
    cust = _build_customers(rngs[1], clock, world, n, p, first=first_customer, id_width=id_width)
    step("relationships")
    rel = _build_relationships(rngs[2], clock, world, cust, p, brand_rng=brngs[0])
    step("touches")
    log, coupons = _TouchLog(), _CouponLog()
    _background_touches(rngs[3], clock, world, rel, p, log)
    task_rows = _hq_tasks(rngs[4], clock, cust, rel, p, log, coupons, brand_rng=brngs[1])
    step("orders")
    o_cust, o_t, amount = _bgnbd_orders(rngs[5], clock, cust, p)
    channel, store, task, share = _assign_channels(rngs[5], world, cust, rel, log, o_cust, o_t, p)
    step("experiments")
    exp = _experiments(rngs[6], clock, world, cust, rel, p, len(task_rows), log, brand_rng=brngs[2])
    x_cust, x_t, x_task, x_share = exp.extra
    task_rows += exp.task_rows
    o_cust = np.concatenate([o_cust, x_cust])
    o_t = np.concatenate([o_t, x_t])
    amount = np.concatenate([amount, _amounts(rngs[6], cust.nu[x_cust], p)])
    channel = np.concatenate([channel, np.full(len(x_cust), _O["mini_program"], np.int8)])
    store = np.concatenate([store, cust.home[x_cust]])
    task = np.concatenate([task, x_task])
    share = np.concatenate([share, x_share])
    order = np.lexsort((o_cust, o_t))
    o_cust, o_t, amount, channel, store, task, share = (
        a[order] for a in (o_cust, o_t, amount, channel, store, task, share))

    step("coupons and refunds")
    rng = rngs[7]
    coupons.add(rel.hook_cust, rel.hook_t, rel.hook_staff, "wecom")
    other = np.flatnonzero(rng.random(cust.n) < p.other_coupon_share)
    coupons.add(other, cust.birth[other] + _secs(rng, (clock.span - cust.birth[other]).astype(float)), -1, "other")
    c_cust, c_t, c_staff, c_source = coupons.arrays()
    c_order = np.lexsort((c_cust, c_t))
    c_cust, c_t, c_staff, c_source = c_cust[c_order], c_t[c_order], c_staff[c_order], c_source[c_order]
    order_coupon, coupon_order = _redeem(rng, o_cust, o_t, channel, c_cust, c_t, p)
    refunded = rng.random(len(o_cust)) < p.refund_share
    fraction = np.where(rng.random(len(o_cust)) < p.full_refund_share, 1.0, rng.uniform(0.1, 0.9, len(o_cust)))
    refund = np.where(refunded, np.minimum(np.round(amount * fraction, 2), amount), np.nan)

    step("tables")
    links, n_two_openids = _identity_links(rng, cust, rel.ever_added)
    order_ids = _seq_ids("O", len(o_cust), 9, first=first_order + 1)
    coupon_ids = _seq_ids("CP", len(c_cust), 8, first=first_coupon + 1)
    task_ids = np.array([r[0] for r in task_rows], dtype=object)
    tables: dict[str, pd.DataFrame] = {
        "customers": cust.frame,
        "identity_links": links,
        **{k: world.tables[k] for k in ("stores", "staff", "channels")},
        "contact_events": _contact_events(clock, world, cust, rel.spells),
        "groups": world.tables["groups"],
        "group_events": _group_events(clock, world, cust, rel),
        "scans": _scans(clock, world, cust, rel),
        "touches": _touches(clock, world, cust, log, task_ids),
        "tasks": _frame({
            "task_id": task_ids,
            "created_at": clock.dt(np.array([r[1] for r in task_rows], dtype=np.int64)),
            "task_type": np.array([r[2] for r in task_rows], dtype=object),
            "title": np.array([r[3] for r in task_rows], dtype=object),
            "experiment_id": np.array([r[4] for r in task_rows], dtype=object),
            "variant": np.array([r[5] for r in task_rows], dtype=object),
            "delivery": np.array([r[6] for r in task_rows], dtype=object),
        }),
        "orders": _frame({
            "order_id": order_ids,
            "customer_id": cust.ids[o_cust],
            "order_time": clock.dt(o_t),
            "amount": amount,
            "order_channel": np.array(ORDER_CHANNELS, dtype=object)[channel],
            "store_id": _nullable(world.store_ids)[store],
            "task_id": _nullable(task_ids)[task],
            "share_staff_id": _nullable(world.staff_ids)[share],
            "coupon_id": _nullable(coupon_ids)[order_coupon],
            "refunded_amount": refund,
        }),
        "coupons": _frame({
            "coupon_id": coupon_ids,
            "customer_id": cust.ids[c_cust],
            "issued_at": clock.dt(c_t),
            "issue_source": np.array(["wecom", "other"], dtype=object)[c_source],
            "issued_by_staff_id": _nullable(world.staff_ids)[c_staff],
            "redeemed_at": clock.dt(np.where(coupon_order >= 0, o_t[np.maximum(coupon_order, 0)], NEVER)),
            "redeemed_order_id": _nullable(order_ids)[coupon_order],
        }),
        "experiments": _frame({
            "experiment_id": np.array([r[0] for r in exp.rows], dtype=object),
            "unit": np.array([r[1] for r in exp.rows], dtype=object),
            "start_at": clock.dt(np.array([r[2] for r in exp.rows], dtype=np.int64)),
            "end_at": clock.dt(np.array([r[3] for r in exp.rows], dtype=np.int64)),
            "name": np.array([r[4] for r in exp.rows], dtype=object),
            "primary_metric": np.array([r[5] for r in exp.rows], dtype=object),
        }),
        "assignments": _frame({
            "experiment_id": np.concatenate([np.full(len(u), e, dtype=object) for e, u, _, _ in exp.assignments]),
            "unit_id": np.concatenate([u for _, u, _, _ in exp.assignments]),
            "variant": np.concatenate([v for _, _, v, _ in exp.assignments]),
            "assigned_at": clock.dt(np.concatenate([t for _, _, _, t in exp.assignments]).astype(np.int64)),
        }),
    }
    stats = _truth_stats(p, clock, cust, rel, exp, o_cust, amount, tables, n_two_openids)
    return tables, stats, exp


def _simulate_chunked(n_customers: int, seed: int, out: str | Path | None, n_stores: int, n_staff: int,
                      clock: _Clock, fmt: str, p: SimulationParams, progress: bool, chunk_customers: Any) -> Brand:
    """Simulate and write ``n_customers`` in chunks of at most ``chunk_customers`` sharing one world."""
    if isinstance(chunk_customers, bool) or not isinstance(chunk_customers, (int, np.integer)) \
            or chunk_customers < 100:
        raise ParameterError(f"chunk_customers must be an integer of at least 100, got {chunk_customers!r}")
    if out is None:
        raise ParameterError("chunk_customers needs out: chunks are written to disk as they are made")
    if fmt != "parquet":
        raise ParameterError("chunk_customers writes folders of Parquet parts; fmt must be 'parquet'")
    import gc

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _mark_simulated(out)
    n_chunks = -(-n_customers // chunk_customers)
    sizes = np.full(n_chunks, n_customers // n_chunks, dtype=np.int64)
    sizes[: n_customers % n_chunks] += 1  # balanced: no tiny last chunk
    world = _build_world(np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[0]), clock, n_stores, n_staff, p)
    id_width = max(7, len(str(n_customers)))
    for name in _contract_tables():  # stale files of an earlier brand in `out` would shadow or mix in
        _remove_table(out, name)

    totals: dict[str, Any] = {}
    counts: dict[str, int] = {}
    exp_stats: dict[str, Any] | None = None
    dims: dict[str, pd.DataFrame] = {}
    first_customer = first_order = first_coupon = 0
    bar = _chunk_bar(progress, n_chunks)
    try:
        for i, n in enumerate(int(x) for x in sizes):
            rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed, spawn_key=(2_000 + i,)).spawn(8)]
            # brand-level draws: fresh generators of one brand seed in every chunk, hence identical draws
            brngs = tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed, spawn_key=(1_000,)).spawn(3))
            tables, stats, exp = _simulate_part(rngs, brngs, clock, world, p, n, lambda label: None,
                                                first_customer, first_order, first_coupon, id_width)
            if i == 0:
                dims = {k: tables[k] for k in _DIMENSIONS}
                for k, frame in dims.items():
                    _write_parquet(frame, out / f"{k}.parquet")
            elif not tables["tasks"].equals(dims["tasks"]):  # the shared calendar is the chunks' contract
                raise AssertionError("chunks drew different task calendars")
            a = tables["assignments"]
            if i > 0:  # store-level assignments belong to the world: written with the first chunk only
                tables["assignments"] = a[a["experiment_id"] != "EXP_STORE"].reset_index(drop=True)
            for k, frame in tables.items():
                if k in _DIMENSIONS:
                    counts[k] = len(frame)
                    continue
                folder = out / k
                folder.mkdir(exist_ok=True)
                _write_parquet(frame, folder / f"part-{i:05d}.parquet")
                counts[k] = counts.get(k, 0) + len(frame)
            first_customer += n
            first_order += len(tables["orders"])
            first_coupon += len(tables["coupons"])
            for k, v in stats.items():  # sums; the store-level arrays are the same in every chunk
                totals[k] = v if isinstance(v, np.ndarray) and k in totals else totals.get(k, 0) + v
            if exp_stats is None:
                exp_stats = dict(exp.stats)
            else:
                for k in ("n_cust_units", "n_store_units", "n_store_reached"):
                    exp_stats[k] += exp.stats[k]
                exp_stats["store_seen"] = exp_stats["store_seen"] | exp.stats["store_seen"]
            del tables, stats, exp, a
            gc.collect()
            bar.update(1)
    finally:
        bar.close()
    assert exp_stats is not None
    counts = {k: counts[k] for k in _contract_tables() if k in counts}
    truth = _truth(p, seed, clock, world, totals, _experiments_truth(clock, world, p, exp_stats), counts)
    truth["chunks"] = {"n_chunks": int(n_chunks), "chunk_customers": int(chunk_customers),
                       "customers_per_chunk": [int(x) for x in sizes]}
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Brand(dims, truth)


def _contract_tables() -> tuple[str, ...]:
    """Contract table names, in the order of GUIDE §5."""
    from . import contract

    return tuple(contract.TABLES)


def _remove_table(out: Path, name: str) -> None:
    """Delete ``<out>/<name>.parquet``/``.csv`` and the Parquet parts of ``<out>/<name>/``."""
    for f in (out / f"{name}.parquet", out / f"{name}.csv"):
        if f.is_file():
            f.unlink()
    folder = out / name
    if folder.is_dir():
        for f in folder.glob("part-*.parquet"):
            f.unlink()


def _chunk_bar(enabled: bool, total: int) -> Any:
    """tqdm over chunks; silent unless asked for and stderr is a terminal outside CI."""
    import os
    import sys

    from tqdm.auto import tqdm

    quiet = not enabled or bool(os.environ.get("CI")) or not sys.stderr.isatty()
    return tqdm(total=total, desc="simulate", unit="chunk", disable=quiet)


def _check_arguments(n_customers: Any, seed: Any, n_stores: Any, n_staff: Any, start: Any, months: Any) -> _Clock:
    for name, v in (("n_customers", n_customers), ("seed", seed), ("n_stores", n_stores), ("n_staff", n_staff),
                    ("months", months)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ParameterError(f"{name} must be an integer, got {v!r}")
    if n_customers < 100:
        raise ParameterError(f"n_customers must be at least 100, got {n_customers}")
    if seed < 0:
        raise ParameterError(f"seed must be non-negative, got {seed}")
    if n_stores < 2:
        raise ParameterError(f"n_stores must be at least 2 (the store experiment needs two arms), got {n_stores}")
    if n_staff < n_stores:
        raise ParameterError(f"n_staff must be at least n_stores (one guide per store), got {n_staff} < {n_stores}")
    if months < 2:
        raise ParameterError(f"months must be at least 2, got {months}")
    try:
        t0 = pd.Timestamp(start)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"start must be a date such as '2025-01-01', got {start!r}") from e
    if t0.tzinfo is not None:  # contract times are naive Asia/Shanghai local time
        t0 = t0.tz_convert("Asia/Shanghai").tz_localize(None)
    return _Clock(t0.as_unit("ns"), int(months))


def _progress(enabled: bool, total: int) -> Callable[[str | None], None]:
    """A tqdm bar over simulation steps; silent when stderr is not a terminal or under CI
    (a bar redrawn into a cron log or a CI log is noise)."""
    import os
    import sys

    if not enabled or os.environ.get("CI") or not sys.stderr.isatty():
        return lambda label: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="simulate", unit="step")

    def step(label: str | None) -> None:
        bar.update(1)
        if label is None:
            bar.close()
        else:
            bar.set_postfix_str(label)

    return step


# =============================================================================== tables
def _contact_events(clock: _Clock, world: _World, cust: _Customers, sp: _Spells) -> pd.DataFrame:
    ended = sp.end != NEVER
    t = np.concatenate([sp.start, sp.end[ended]])
    c = np.concatenate([sp.cust, sp.cust[ended]])
    s = np.concatenate([sp.staff, sp.staff[ended]])
    kind = np.concatenate([np.zeros(len(sp.start), np.int64), np.where(sp.by_staff[ended], 2, 1)])
    code = np.concatenate([sp.code, np.full(int(ended.sum()), -1)])
    o = np.lexsort((kind, s, c, t))  # time order; an add sorts before a same-second delete
    return _frame({
        "event_time": clock.dt(t[o]),
        "customer_id": cust.ids[c[o]],
        "staff_id": world.staff_ids[s[o]],
        "event_type": np.array(["add", "delete_by_customer", "delete_by_staff"], dtype=object)[kind[o]],
        "channel_code": _nullable(world.code_ids)[code[o]],
    })


def _group_events(clock: _Clock, world: _World, cust: _Customers, rel: _Relationships) -> pd.DataFrame:
    left = rel.mem_leave != NEVER
    t = np.concatenate([rel.mem_join, rel.mem_leave[left]])
    c = np.concatenate([rel.mem_cust, rel.mem_cust[left]])
    g = np.concatenate([rel.mem_group, rel.mem_group[left]])
    kind = np.concatenate([np.zeros(len(rel.mem_join), np.int64), np.ones(int(left.sum()), np.int64)])
    o = np.lexsort((kind, g, c, t))
    return _frame({
        "event_time": clock.dt(t[o]),
        "customer_id": cust.ids[c[o]],
        "group_id": world.group_ids[g[o]],
        "event_type": np.array(["join", "leave"], dtype=object)[kind[o]],
    })


def _scans(clock: _Clock, world: _World, cust: _Customers, rel: _Relationships) -> pd.DataFrame:
    o = np.lexsort((rel.scan_cust, rel.scan_t))
    return _frame({
        "event_time": clock.dt(rel.scan_t[o]),
        "customer_id": cust.ids[rel.scan_cust[o]],
        "channel_code": world.code_ids[rel.scan_code[o]],
        "store_id": _nullable(world.store_ids)[rel.scan_store[o]],
    })


def _touches(clock: _Clock, world: _World, cust: _Customers, log: _TouchLog, task_ids: np.ndarray) -> pd.DataFrame:
    t, c, s, kind, task = log.arrays()
    log.parts.clear()  # the arrays above are the only copy from here on
    o = np.lexsort((c, t))
    # build column by column, dropping each integer array once used: the largest table stays lean
    cols = {"event_time": clock.dt(t[o])}
    del t
    cols["customer_id"] = cust.ids[c[o]]
    del c
    cols["staff_id"] = _nullable(world.staff_ids)[s[o]]
    del s
    cols["touch_type"] = np.array(TOUCH_TYPES, dtype=object)[kind[o]]
    cols["task_id"] = _nullable(task_ids)[task[o]]
    return _frame(cols)


# =============================================================================== truth
def _truth_stats(p: SimulationParams, clock: _Clock, cust: _Customers, rel: _Relationships, exp: _Experiments,
                 o_cust: np.ndarray, amount: np.ndarray, tables: dict[str, pd.DataFrame],
                 n_two_openids: int) -> dict[str, Any]:
    """Additive statistics of a group of customers from which :func:`_truth` builds the truth.

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


def _truth(p: SimulationParams, seed: int, clock: _Clock, world: _World, st: dict[str, Any],
           exp_truth: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
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
        for s, a, j in zip(world.store_ids, store_add_p, store_join_p)
    }
    contact_shares = dict(zip(ORDER_CHANNELS, p.channel_probs_contact))
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
            "staff_delete_share": p.staff_delete_share, "readd_prob": p.readd_prob,
            "readd_gap_mean_days": p.readd_gap_mean_days,
            "group_leave": {"weibull_shape": p.group_leave_shape, "weibull_scale_days": p.group_leave_scale_days},
        },
        "seven_day_rule": {
            "window_days": p.seven_day_window_days,
            "pos_share_with_contact": p.channel_probs_contact[0],
            "pos_share_after_chat": p.pos_share_after_chat,
            "pos_share_without_contact": p.channel_probs_no_contact[0],
            "note": "Among orders of customers with an open contact and no live invitation in the last "
                    f"{p.link_window_days:g} days: POS share without / with a staff 'chat' touch in the "
                    f"{p.seven_day_window_days:g} days before the order. After a chat, POS and proxy orders go "
                    "to the chatting staff member's store. Purchase volume is unaffected (channel shift only).",
        },
        "order_channels": {
            "with_contact": contact_shares,
            "without_contact": dict(zip(ORDER_CHANNELS, p.channel_probs_no_contact)),
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
    }
