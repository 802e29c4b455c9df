"""A simulated brand with known ground truth: the demo data and the test oracle.

:func:`simulate_brand` produces every contract table (README, "The data contract"), mutually
consistent, plus ``truth`` (written as ``truth.json``): the parameters and expected values later analyses
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

7. **WeCom habits** (:mod:`.staffing`, :mod:`.habits`; every draw from new generators
   ``[seed, 16, …]``, so the draws above keep their streams). 6% of active guides leave
   (``staff.left_at`` uniform in the window's second half; at most one per store, only in
   stores with another guide). At ``left_at`` each open relationship of a leaver is
   ``transfer`` (80%, 离职继承) or ``staff_left``; a transfer is followed 24 h later by an
   ``add`` (add_way ``202``, initiator ``admin``) on another guide of the store who stays,
   unless the customer already has that guide. 0.5% of relationships are moved between two
   guides of a store at a uniform time while open (在职继承), same shapes. The takeover is a
   fresh spell of the same hazard model carrying the original channel code; transfers and
   departures censor spells (not churn). Adds drawn after a guide left go to their successor,
   re-adds of a leaver never happen; group messages, coupons and order shares of a leaver
   after ``left_at`` pass to the successor; task touches whose send time falls after it are
   not sent. All of this corrects the spells before chats, touches and orders are drawn from
   them. 30% of ``delete_by_customer`` closes get the member's own ``delete_by_staff`` 1–30
   days later (a second close, unless re-added first). Adds carry ``add_way``/``initiator``:
   ``1``/customer under a channel code; under the brand code ``OTHER`` phone search ``2``
   (staff), card ``3`` or group ``4`` (customer); ``origin`` is NULL. Staff have Chinese
   names (``staff_name``). ``staff_daily``: every guide's every day from the window's start
   to the day they left, counted from the events (adds, customers' deletes, chat customers,
   chat touches times messages per chat) plus day-level draws (extra applications, replies).
   ``mass_sends``: every ``mass_send`` touch ``sent``, plus ``not_sent`` assigned customers
   (per-guide execution rate ``Beta(8, 2)``, at least ``task_reach_share``) and
   ``not_friend`` contacts that ended in the 7 days before the task.

**Chunked mode** (``chunk_customers``, ``workbench simulate --chunk-customers``): a brand too
big for memory (20M customers) is simulated a chunk of customers at a time, each chunk written
as one Parquet part per table before the next starts, so memory stays at one chunk's. The
world (stores, staff, channels, groups), the store-level draws (funnel and chat rates,
store arms and probabilities of ``EXP_STORE``) and the HQ task calendar come from
brand-level generators that every chunk re-seeds identically; per-customer draws come from
per-chunk generators. Ids run across chunks. The truth is merged from additive statistics;
``staff_daily`` is built once from the chunks' summed per-(guide, day) counts and written as
one file, ``mass_sends`` as parts.

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
``icc_extra_order``, ``reached_share_of_units`` and ``store_extra_order_prob``; ``EXP_CUST`` also
``heterogeneity``, ``new_relationship_days``, ``segment_rule`` (the segment rule on contract
columns) and ``segments`` (``{name: {code, rule, base_multiplier, n_units, n_treated,
extra_order_prob, true_abs_lift}}``: its lift differs by segment, ``true_abs_lift`` is the mean over
the units).

``identity``: ``n_components`` (one per customer), ``linked_types``, ``two_openid_customers``.
``counts``: rows per table plus ``contacts_added``.

``transfers``: ``leave_share``, ``left_staff`` (``{staff_id: left_at}``), ``successors``
(``{staff_id: heir staff_id}``), ``departure_transfer_share``, ``active_transfer_share``,
``takeover_delay_hours``, ``counts`` (``transfer``, ``staff_left``, ``takeover_adds``,
``redirected_adds``, ``active_transfers``), ``note``. ``second_closes``: ``share``,
``min_days``, ``max_days``, ``n``, ``note``. ``add_way``: ``codes`` (add_way → initiator),
``other_code_add_ways``, ``note``. ``staff_behavior``: ``staff`` (``{staff_id: {reply_rate,
reply_minutes, messages_per_chat}}``), ``customer_initiated_share``, ``extra_apply_rate``,
``reply_sigma``, ``note``. ``mass_send``: ``staff_exec_rate`` (``{staff_id: rate}``),
``brand_rate`` (expected sent / (sent + not_sent), open contacts at the tasks as weights),
``exec_rate_beta``, ``not_friend_window_days``, ``rows`` (by status), ``definition``.
``churn.censoring`` names the closes that censor. Chunked brands add ``chunks``:
``{n_chunks, chunk_customers, customers_per_chunk}``.

Modules
-------
``params`` (:class:`SimulationParams`, the contract's enums and the channel-probability order),
``draws`` (time units, the window clock, shared vectorised draws), ``world`` (stores, staff,
channel codes, groups), ``customers``, ``relationships`` (funnel, contact spells, groups),
``staffing`` (names, departures, transfers, second closes, add ways), ``habits``
(``staff_daily``, ``mass_sends``), ``touches`` (background touches, HQ tasks, coupons),
``orders`` (BG/NBD orders, channels, redemption), ``experiments``, ``identity``, ``tables``
(event tables from the arrays), ``truth``, ``simulation`` (:func:`simulate_brand`, whole or chunked) and ``writer``
(:class:`Brand` and the folder it is written to). Touch types, channel groups and order
channels are :mod:`workbench.contract`'s; the ``channel_probs_*`` parameters keep their own
documented order (``CHANNEL_PROB_ORDER``) and are read by channel name.
"""
from __future__ import annotations

from .draws import expected_repeat_purchases

# Names outside __all__ are re-exported so ``workbench.simulate.X`` keeps working for them.
from .orders import repeat_purchases  # noqa: F401
from .params import CHANNEL_GROUPS, CHANNEL_PROB_ORDER, ORDER_CHANNELS, TOUCH_TYPES, SimulationParams  # noqa: F401
from .simulation import simulate_brand
from .writer import SIMULATED_MARKER, Brand, check_simulation_target  # noqa: F401

__all__ = ["Brand", "SimulationParams", "expected_repeat_purchases", "simulate_brand"]
