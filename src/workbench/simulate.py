"""A simulated brand with known ground truth: the demo data and the test oracle.

``simulate_brand`` writes every contract table (GUIDE §5), mutually consistent, plus
``truth.json`` holding the parameters later analyses must recover. Everything is
vectorised numpy/pandas and deterministic for a seed.

Processes (defaults in :class:`SimulationParams`):

* **Purchases** follow BG/NBD in weeks from each buyer's birth (registration = first
  order): ``λ ~ Gamma(r, α)``, dropout ``p ~ Beta(a, b)`` after each repeat purchase.
  Spend per order follows Gamma-Gamma (``ν ~ Gamma(q, γ)``, ``z ~ Gamma(p, ν)``, in CNY).
  A quarter of customers register and never buy (潜力粉).
* **Task holdout.** 10% of customers are a randomised holdout that WeCom tasks never
  reach. For the reached 90%, tasks multiply the purchase rate by ``m``: BG/NBD with
  ``α/m``. The holdout is experiment ``HOLDOUT`` (variants ``holdout`` / ``reached``).
* **Order channels** shift with the WeCom relationship, never the volume (so BG/NBD stays
  exact): an open contact at order time opens mini-program, transfer, proxy and live
  channels; a staff ``chat`` in the 7 days before raises the POS share (Belle's rule) and
  sends the order to that guide's store; recent task pushes put link parameters on
  mini-program orders; live invitations lead to Channels-live orders; open WeCom coupons
  are redeemed at POS.
* **Acquisition funnel** scan → add → join the store group → claim the hook coupon, with
  store-level add and join probabilities; some customers add two guides of one store or a
  guide of another store.
* **Contact lifetimes** (per customer–staff relationship) have hazard
  ``h0(t)·exp(β_channel + β_tool + β_early·early_chats·1[t > 14 days])`` with a Weibull
  ``h0``; ``early_chats`` is the number of ``chat`` touches from that staff member to that
  customer in the first 14 days after the add. 10% of deletes are by staff; 15% of deleted
  relationships are re-added later (a new spell from the same model).
* **Experiments** ``EXP_CUST`` (by customer) and ``EXP_STORE`` (by store, with a
  store-level random effect of known ICC) add extra task-link mini-program orders in a
  14-day window — the only orders outside BG/NBD.

``truth.json`` keys: ``seed``, ``n_customers``, ``start``, ``as_of``, ``time_unit``,
``bgnbd`` (holdout group), ``bgnbd_reached``, ``task_rate_multiplier``, ``gamma_gamma``
(``p``, ``q``, ``gamma`` for spend in CNY), ``mean_spend``, ``holdout`` (share,
analytic and realised incremental GMV), ``churn`` (Weibull baseline, log hazard ratios
and hazard ratios), ``seven_day_rule``, ``funnel``, ``experiments``, ``counts``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ParameterError

DAY = np.timedelta64(1, "D")
REGIONS = ("East", "North", "South", "West", "Central")
BRAND_CHANNELS = (
    # code, group, name, cost per add (CNY)
    ("MP_BANNER", "online_mall", "Mini-program banner", None),
    ("PAY_SUCCESS", "online_mall", "Pay-success page", None),
    ("OFFICIAL_ACCOUNT", "wechat_ecosystem", "Official account menu", None),
    ("LIVE_ROOM", "wechat_ecosystem", "Channels live room", None),
    ("MOMENTS_AD", "ads", "Moments ad", 12.0),
    ("ELEVATOR_AD", "ads", "Elevator ad", 25.0),
    ("OTHER", "other", "Other", None),
)
STORE_CODES = (("CASHIER", "Cashier QR"), ("RECEIPT", "Receipt QR"), ("POSTER", "In-store poster"))
ORDER_CHANNELS = ("pos", "mini_program", "wecom_transfer", "proxy_order", "channels_live", "ecommerce")


@dataclass(frozen=True)
class SimulationParams:
    """Every true parameter of the simulated brand."""

    # BG/NBD (weeks) and Gamma-Gamma (spend in CNY)
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
    # funnel
    add_prob: float = 0.75
    join_prob: float = 0.45
    claim_prob: float = 0.60
    store_code_share: float = 0.6
    second_guide_share: float = 0.05
    other_store_share: float = 0.03
    # contact lifetimes
    weibull_shape: float = 0.8
    weibull_scale_days: float = 400.0
    log_hr_channel: dict = field(default_factory=lambda: {
        "offline_store": 0.0, "online_mall": 0.25, "wechat_ecosystem": 0.4, "ads": 0.7, "other": 0.3})
    log_hr_early_chat: float = -0.15
    log_hr_tool: float = -0.2
    landmark_days: float = 14.0
    staff_delete_share: float = 0.10
    readd_prob: float = 0.15
    readd_gap_days: float = 20.0
    group_leave_shape: float = 0.9
    group_leave_scale_days: float = 300.0
    # touches
    chat_rate_per_month: float = 0.6
    tasks_per_month: int = 3
    task_reach_share: float = 0.5
    mass_send_share: float = 0.2
    live_invite_share: float = 0.2
    # order channels
    channel_probs_contact: tuple = (0.40, 0.35, 0.05, 0.04, 0.04, 0.12)
    channel_probs_no_contact: tuple = (0.60, 0.15, 0.0, 0.0, 0.0, 0.25)
    pos_share_after_chat: float = 0.70
    live_share_after_invite: float = 0.25
    link_prob_after_push: float = 0.8
    link_window_days: int = 7
    coupon_redeem_prob: float = 0.5
    refund_share: float = 0.03
    # experiments
    exp_cust_probs: tuple = (0.03, 0.045)
    exp_store_probs: tuple = (0.03, 0.045)
    exp_store_icc: float = 0.03
    exp_window_days: int = 14


@dataclass
class Brand:
    """A simulated brand: contract tables and ground truth."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, Any]

    def write(self, out: str | Path, fmt: str = "parquet") -> Path:
        """Write ``<out>/<table>.parquet`` (or .csv) for every table and ``truth.json``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables.items():
            if fmt == "parquet":
                frame.to_parquet(out / f"{name}.parquet", index=False)
            elif fmt == "csv":
                frame.to_csv(out / f"{name}.csv", index=False)
            else:
                raise ParameterError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
        (out / "truth.json").write_text(json.dumps(self.truth, indent=2, ensure_ascii=False, default=str))
        return out


# ---------------------------------------------------------------------- helpers
def _hex_ids(rng: np.random.Generator, n: int, width: int = 16) -> np.ndarray:
    hi = rng.integers(0, 2**62, n, dtype=np.int64)
    return np.char.zfill(np.char.mod("%x", hi), width)


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def _weibull_times(u: np.ndarray, shape: float, scale: float, eta0: np.ndarray, eta1: np.ndarray,
                   landmark: float) -> np.ndarray:
    """Invert a piecewise proportional-hazards Weibull cumulative hazard at Exp(1) draws ``u``.

    H(t) = (t/scale)^shape·e^eta0 for t ≤ landmark, and continues with e^eta1 after it.
    """
    h_l = (landmark / scale) ** shape * np.exp(eta0)
    early = u <= h_l
    t = np.empty_like(u)
    t[early] = scale * (u[early] / np.exp(eta0[early])) ** (1 / shape)
    late = ~early
    t[late] = scale * ((u[late] - h_l[late]) / np.exp(eta1[late]) + (landmark / scale) ** shape) ** (1 / shape)
    return t


def _bgnbd_expected(t: np.ndarray, r: float, alpha: float, a: float, b: float) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in (0, t] for a new customer (Fader et al. 2005, eq. 7)."""
    from scipy.special import hyp2f1

    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def _asof_last(events: pd.DataFrame, targets: pd.DataFrame, by: str, time_col: str, tol: pd.Timedelta,
               cols: list[str], event_time: str = "event_time") -> pd.DataFrame:
    """For each target row, the latest event of the same ``by`` strictly before it, within ``tol``."""
    ev = events.sort_values(event_time)[[by, event_time] + cols].rename(columns={event_time: "_t"})
    tg = targets.reset_index()[["index", by, time_col]].sort_values(time_col)
    out = pd.merge_asof(tg, ev, left_on=time_col, right_on="_t", by=by, direction="backward",
                        tolerance=tol, allow_exact_matches=False)
    return out.set_index("index").reindex(targets.index)


# ---------------------------------------------------------------------- simulation
def simulate_brand(n_customers: int = 100_000, seed: int = 0, out: str | Path | None = None, n_stores: int = 60,
                   n_staff: int = 300, start: str = "2025-01-01", months: int = 12, fmt: str = "parquet",
                   params: SimulationParams | None = None, progress: bool = False) -> Brand:
    """Simulate a brand's contract tables and ground truth.

    Parameters
    ----------
    n_customers : int
        Customers registered during the window.
    seed : int
        Everything is deterministic for a seed.
    out : path, optional
        Write the tables and ``truth.json`` there.
    n_stores, n_staff : int
        Stores and store guides (plus ten HQ staff).
    start, months :
        The data window ``[start, start + months)``; ``as_of`` is its end.
    params : SimulationParams, optional
        True parameters; defaults documented on the class.

    Returns
    -------
    Brand

    Examples
    --------
    >>> brand = simulate_brand(2_000, seed=1)
    >>> sorted(brand.tables)[:3]
    ['assignments', 'channels', 'contact_events']
    """
    if n_customers < 100 or n_stores < 2 or n_staff < n_stores:
        raise ParameterError("need at least 100 customers, 2 stores and one guide per store")
    p = params or SimulationParams()
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(pd.Timestamp(start).to_datetime64(), "s")
    as_of = np.datetime64((pd.Timestamp(start) + pd.DateOffset(months=months)).to_datetime64(), "s")
    span_days = (as_of - t0) / DAY
    steps = ["stores", "customers", "contacts", "touches", "orders", "experiments"]
    bar = _progress(progress, len(steps))

    # ---------------- stores, staff, channels, groups
    store_ids = _ids("S", n_stores, 3)
    stores = pd.DataFrame({
        "store_id": store_ids,
        "store_name": [f"Store {i:03d}" for i in range(1, n_stores + 1)],
        "region": rng.choice(REGIONS, n_stores),
        "opened_at": t0 - (rng.integers(180, 2500, n_stores) * DAY),
        "uses_retention_tool": rng.random(n_stores) < 0.5,
    })
    guide_store = np.arange(n_staff) % n_stores
    staff_ids = _ids("E", n_staff + 10, 4)
    staff = pd.DataFrame({
        "staff_id": staff_ids,
        "store_id": np.concatenate([store_ids[guide_store], np.full(10, None, dtype=object)]),
        "role": ["guide"] * n_staff + ["hq"] * 10,
        "hired_at": t0 - rng.integers(30, 1500, n_staff + 10) * DAY,
        "left_at": pd.NaT,
    })
    store_guides = [np.flatnonzero(guide_store == s) for s in range(n_stores)]
    ch_rows = [(f"{code}_{sid}", "offline_store", f"{name} {sid}", sid, None)
               for sid in store_ids for code, name in STORE_CODES]
    ch_rows += [(c, g, n, None, cost) for c, g, n, cost in BRAND_CHANNELS]
    channels = pd.DataFrame(ch_rows, columns=["channel_code", "channel_group", "channel_name", "store_id", "cost"])
    groups = pd.DataFrame({
        "group_id": np.char.add("G", np.char.zfill(np.arange(1, 2 * n_stores + 1).astype(str), 4)),
        "store_id": np.repeat(store_ids, 2),
        "owner_staff_id": staff_ids[[store_guides[s][0] for s in np.repeat(np.arange(n_stores), 2)]],
        "created_at": np.repeat(stores["opened_at"].to_numpy(), 2),
    })
    bar(1)

    # ---------------- customers and their latent traits
    n = n_customers
    store_size = rng.lognormal(0, 0.5, n_stores)
    home = rng.choice(n_stores, n, p=store_size / store_size.sum())
    birth = t0 + (rng.random(n) * span_days * 86400).astype("timedelta64[s]")
    holdout = rng.random(n) < p.holdout_share
    buyer = rng.random(n) < p.buyer_share
    lam = rng.gamma(p.r, 1 / p.alpha, n) * np.where(holdout, 1.0, p.task_rate_multiplier)  # per week
    drop_p = rng.beta(p.a, p.b, n)
    nu = rng.gamma(p.gg_q, 1 / p.gg_gamma, n)
    cust_ids = _ids("C", n, 7)
    customers = pd.DataFrame({
        "customer_id": cust_ids,
        "registered_at": birth,
        "gender": rng.choice(["F", "M"], n, p=[0.7, 0.3]),
        "birth_year": rng.integers(1965, 2006, n),
        "member_level": rng.choice(["basic", "silver", "gold"], n, p=[0.6, 0.3, 0.1]),
        "home_store_id": store_ids[home],
    })
    bar(1)

    # ---------------- acquisition: scan → add → join → claim
    store_add_p = rng.beta(p.add_prob * 20, (1 - p.add_prob) * 20, n_stores)
    store_join_p = rng.beta(p.join_prob * 20, (1 - p.join_prob) * 20, n_stores)
    store_code = rng.random(n) < p.store_code_share
    brand_codes = np.array([c[0] for c in BRAND_CHANNELS])
    code = np.where(store_code,
                    np.char.add(np.char.add(rng.choice([c for c, _ in STORE_CODES], n), "_"), store_ids[home]),
                    rng.choice(brand_codes, n, p=[0.2, 0.2, 0.2, 0.1, 0.15, 0.1, 0.05]))
    code_group = channels.set_index("channel_code")["channel_group"].reindex(code).to_numpy()
    scans = pd.DataFrame({"event_time": birth, "customer_id": cust_ids, "channel_code": code,
                          "store_id": np.where(store_code, store_ids[home], None)})
    added = rng.random(n) < store_add_p[home]
    add_time = birth + (rng.lognormal(np.log(300), 0.8, n)).astype("timedelta64[s]")
    added &= add_time < as_of
    guide = _pick_guides(rng, store_guides, home)
    rel = [pd.DataFrame({"cust": np.flatnonzero(added), "staff": guide[added], "t": add_time[added],
                         "code": code[added]})]
    second = added & (rng.random(n) < p.second_guide_share)
    other_guide = _pick_guides(rng, store_guides, home, exclude=guide)
    rel.append(pd.DataFrame({"cust": np.flatnonzero(second), "staff": other_guide[second],
                             "t": add_time[second] + (rng.exponential(3, second.sum()) * 86400).astype("timedelta64[s]"),
                             "code": code[second]}))
    other = added & (rng.random(n) < p.other_store_share)
    far_store = (home + rng.integers(1, n_stores, n)) % n_stores
    far_guide = _pick_guides(rng, store_guides, far_store)
    rel.append(pd.DataFrame({"cust": np.flatnonzero(other), "staff": far_guide[other],
                             "t": add_time[other] + (rng.exponential(30, other.sum()) * 86400).astype("timedelta64[s]"),
                             "code": code[other]}))
    rel = pd.concat(rel, ignore_index=True)
    rel = rel[rel["t"] < as_of].drop_duplicates(["cust", "staff"]).reset_index(drop=True)
    joined = added & (rng.random(n) < store_join_p[home])
    join_time = add_time + rng.lognormal(np.log(2 * 3600), 1.0, n).astype("timedelta64[s]")
    joined &= join_time < as_of
    claimed = joined & (rng.random(n) < p.claim_prob)
    claim_time = join_time + rng.lognormal(np.log(86400), 1.0, n).astype("timedelta64[s]")
    claimed &= claim_time < as_of

    # ---------------- contact spells (two rounds: first add, one possible re-add)
    mu_chat = rng.uniform(0.5, 3.0, n_stores)
    tool = stores["uses_retention_tool"].to_numpy()
    events, chats, spells_all = [], [], []
    round_rel = rel.assign(spell=1)
    for spell in (1, 2):
        m = len(round_rel)
        if m == 0:
            break
        st_idx = np.searchsorted(staff_ids, round_rel["staff"].to_numpy())
        st_store = guide_store[st_idx]
        grp = pd.Series(code_group[round_rel["cust"].to_numpy()])
        eta0 = grp.map(p.log_hr_channel).to_numpy() + np.where(tool[st_store], p.log_hr_tool, 0.0)
        early = rng.poisson(mu_chat[st_store])
        eta1 = eta0 + p.log_hr_early_chat * early
        dur = _weibull_times(rng.exponential(1.0, m), p.weibull_shape, p.weibull_scale_days, eta0, eta1,
                             p.landmark_days)
        start_t = round_rel["t"].to_numpy()
        end_t = start_t + (dur * 86400).astype("timedelta64[s]")
        ended = end_t < as_of
        by_staff = rng.random(m) < p.staff_delete_share
        events.append(pd.DataFrame({"event_time": start_t, "customer_id": cust_ids[round_rel["cust"]],
                                    "staff_id": round_rel["staff"].to_numpy(), "event_type": "add",
                                    "channel_code": round_rel["code"].to_numpy()}))
        events.append(pd.DataFrame({"event_time": end_t[ended], "customer_id": cust_ids[round_rel["cust"][ended]],
                                    "staff_id": round_rel["staff"].to_numpy()[ended],
                                    "event_type": np.where(by_staff[ended], "delete_by_staff", "delete_by_customer"),
                                    "channel_code": None}))
        # early chats: uniform over the first 14 days, emitted only while the relationship is open
        rep = np.repeat(np.arange(m), early)
        offs = rng.random(len(rep)) * p.landmark_days * 86400
        ct = start_t[rep] + offs.astype("timedelta64[s]")
        ok = (ct < end_t[rep]) & (ct < as_of)
        chats.append(pd.DataFrame({"event_time": ct[ok], "cust": round_rel["cust"].to_numpy()[rep][ok],
                                   "staff_id": round_rel["staff"].to_numpy()[rep][ok]}))
        # later chats at a low rate while open
        open_end = np.minimum(end_t, as_of)
        later = np.maximum((open_end - start_t) / DAY - p.landmark_days, 0)
        k = rng.poisson(later / 30.4 * p.chat_rate_per_month)
        rep = np.repeat(np.arange(m), k)
        ct = start_t[rep] + ((p.landmark_days + rng.random(len(rep)) * later[rep]) * 86400).astype("timedelta64[s]")
        chats.append(pd.DataFrame({"event_time": ct, "cust": round_rel["cust"].to_numpy()[rep],
                                   "staff_id": round_rel["staff"].to_numpy()[rep]}))
        spells_all.append(pd.DataFrame({"cust": round_rel["cust"].to_numpy(), "staff": round_rel["staff"].to_numpy(),
                                        "start": start_t, "end": np.where(ended, end_t, np.datetime64("NaT")),
                                        "spell": spell}))
        # re-adds: a share of ended relationships come back after a gap (some within the day)
        back = ended & (rng.random(m) < p.readd_prob)
        gap = np.where(rng.random(m) < 0.1, rng.random(m) * 6 * 3600, rng.exponential(p.readd_gap_days, m) * 86400)
        round_rel = pd.DataFrame({"cust": round_rel["cust"].to_numpy()[back], "staff": round_rel["staff"].to_numpy()[back],
                                  "t": (end_t + gap.astype("timedelta64[s]"))[back], "code": round_rel["code"].to_numpy()[back]})
        round_rel = round_rel[round_rel["t"] < as_of]
    contact_events = pd.concat(events, ignore_index=True)
    spells = pd.concat(spells_all, ignore_index=True)
    chat_df = pd.concat(chats, ignore_index=True)
    chat_df = chat_df[chat_df["event_time"] < as_of]

    # groups: join the home store's first group; leave with a Weibull hazard
    j_idx = np.flatnonzero(joined)
    j_group = groups["group_id"].to_numpy()[2 * home[j_idx]]
    leave_t = join_time[j_idx] + (p.group_leave_scale_days * rng.weibull(p.group_leave_shape, len(j_idx))
                                  * 86400).astype("timedelta64[s]")
    left = leave_t < as_of
    group_events = pd.concat([
        pd.DataFrame({"event_time": join_time[j_idx], "customer_id": cust_ids[j_idx], "group_id": j_group,
                      "event_type": "join"}),
        pd.DataFrame({"event_time": leave_t[left], "customer_id": cust_ids[j_idx][left], "group_id": j_group[left],
                      "event_type": "leave"}),
    ], ignore_index=True)
    hook = np.flatnonzero(claimed)
    bar(1)

    # ---------------- tasks and the touches they send
    n_months = months
    task_rows, touch_frames, coupon_frames = [], [], []
    open_rel = spells.assign(end=spells["end"].fillna(pd.Timestamp(as_of)))
    reached_rel = open_rel[~holdout[open_rel["cust"].to_numpy()]]
    task_types = np.array(["new_arrival", "promotion", "holiday"])
    k = 0
    for mth in range(n_months):
        month_start = pd.Timestamp(t0) + pd.DateOffset(months=mth)
        for j in range(p.tasks_per_month):
            k += 1
            created = month_start + pd.Timedelta(days=int(rng.integers(0, 27)), hours=10)
            ttype = task_types[j % 3]
            tid = f"T{k:04d}"
            task_rows.append((tid, created, ttype, f"{ttype.replace('_', ' ').title()} {month_start:%Y-%m} #{j + 1}", None, None))
            tt = np.datetime64(created.to_datetime64(), "s")
            live = reached_rel[(reached_rel["start"] <= tt) & (reached_rel["end"] > tt)].drop_duplicates("cust")
            live = live[rng.random(len(live)) < p.task_reach_share]
            push_t = tt + (rng.random(len(live)) * 8 * 3600).astype("timedelta64[s]")
            touch_frames.append(pd.DataFrame({"event_time": push_t, "cust": live["cust"].to_numpy(),
                                              "staff_id": live["staff"].to_numpy(), "touch_type": "task_push",
                                              "task_id": tid}))
            if ttype == "promotion":
                c = live[rng.random(len(live)) < 0.5]
                ct = tt + (rng.random(len(c)) * 8 * 3600).astype("timedelta64[s]")
                touch_frames.append(pd.DataFrame({"event_time": ct, "cust": c["cust"].to_numpy(),
                                                  "staff_id": c["staff"].to_numpy(), "touch_type": "coupon_issue",
                                                  "task_id": tid}))
                coupon_frames.append(pd.DataFrame({"customer_id": cust_ids[c["cust"].to_numpy()], "issued_at": ct,
                                                   "issue_source": "wecom", "issued_by_staff_id": c["staff"].to_numpy()}))
        # a monthly mass send and a live stream with invitations
        for kind, share, day in (("mass_send", p.mass_send_share, 15), ("live_invite", p.live_invite_share, 20)):
            tt = np.datetime64((month_start + pd.Timedelta(days=day, hours=19)).to_datetime64(), "s")
            live = reached_rel[(reached_rel["start"] <= tt) & (reached_rel["end"] > tt)].drop_duplicates("cust")
            live = live[rng.random(len(live)) < share]
            touch_frames.append(pd.DataFrame({"event_time": np.full(len(live), tt), "cust": live["cust"].to_numpy(),
                                              "staff_id": live["staff"].to_numpy(), "touch_type": kind, "task_id": None}))
    tasks = pd.DataFrame(task_rows, columns=["task_id", "created_at", "task_type", "title", "experiment_id", "variant"])
    # group messages and Moments: light background touches (group messages come from the group owner)
    gm = group_events[group_events["event_type"] == "join"]
    kk = rng.poisson(2, len(gm))
    rep = np.repeat(np.arange(len(gm)), kk)
    gm_t = gm["event_time"].to_numpy()[rep] + (rng.random(len(rep)) * 120 * 86400).astype("timedelta64[s]")
    owner = groups.set_index("group_id")["owner_staff_id"].reindex(gm["group_id"].to_numpy()[rep]).to_numpy()
    touch_frames.append(pd.DataFrame({"event_time": gm_t, "cust": np.searchsorted(cust_ids, gm["customer_id"].to_numpy()[rep]),
                                      "staff_id": owner, "touch_type": "group_message", "task_id": None}))
    chat_df = chat_df.assign(touch_type="chat", task_id=None)
    touches = pd.concat([chat_df] + touch_frames, ignore_index=True)
    touches = touches[touches["event_time"] < as_of]
    bar(1)

    # ---------------- orders: BG/NBD purchase times, then channels
    b_idx = np.flatnonzero(buyer)
    T_weeks = (as_of - birth[b_idx]) / DAY / 7
    k_repeat = rng.geometric(drop_p[b_idx])  # repeat purchases until dropout (inclusive)
    n_pois = rng.poisson(lam[b_idx] * T_weeks)
    rep = np.repeat(np.arange(len(b_idx)), n_pois)
    u = rng.random(len(rep)) * T_weeks[rep]
    order = np.lexsort((u, rep))
    rep, u = rep[order], u[order]
    rank = np.arange(len(rep)) - np.repeat(np.cumsum(n_pois) - n_pois, n_pois)
    keep = rank < k_repeat[rep]
    o_cust = np.concatenate([b_idx, b_idx[rep[keep]]])
    o_time = np.concatenate([birth[b_idx], birth[b_idx[rep[keep]]] + (u[keep] * 7 * 86400).astype("timedelta64[s]")])
    o_amt = rng.gamma(p.gg_p, 1 / nu[o_cust])
    orders = pd.DataFrame({"cust": o_cust, "order_time": o_time, "amount": np.round(o_amt, 2)})
    orders = orders[orders["order_time"] < as_of].reset_index(drop=True)
    orders = _assign_channels(orders, spells, chat_df, touches, store_ids, home, staff, rng, p, as_of)
    bar(1)

    # ---------------- experiments
    exp_tables, extra_orders, exp_truth, exp_tasks = _experiments(
        rng, p, t0, spells, holdout, cust_ids, store_ids, staff, nu, as_of, n_stores, birth)
    tasks = pd.concat([tasks, exp_tasks], ignore_index=True)
    touches = pd.concat([touches, exp_tables.pop("touches")], ignore_index=True)
    orders = pd.concat([orders, extra_orders], ignore_index=True)
    orders["refunded_amount"] = np.where(
        (rng.random(len(orders)) < p.refund_share) & orders["task_id"].fillna("").str.startswith("TX").eq(False),
        np.round(orders["amount"] * rng.uniform(0.2, 1.0, len(orders)), 2), np.nan)
    orders = orders.sort_values(["order_time", "cust"]).reset_index(drop=True)
    orders.insert(0, "order_id", _ids("O", len(orders), 8))
    orders["customer_id"] = cust_ids[orders.pop("cust").to_numpy()]

    # coupons: hook coupons, task coupons, a few non-WeCom coupons; redemption from orders
    hook_staff = guide[hook]
    coupons = pd.concat([
        pd.DataFrame({"customer_id": cust_ids[hook], "issued_at": claim_time[hook], "issue_source": "wecom",
                      "issued_by_staff_id": hook_staff}),
        *coupon_frames,
        pd.DataFrame({"customer_id": cust_ids[b_idx[: max(1, len(b_idx) // 50)]],
                      "issued_at": birth[b_idx[: max(1, len(b_idx) // 50)]], "issue_source": "other",
                      "issued_by_staff_id": None}),
    ], ignore_index=True)
    coupons = coupons[coupons["issued_at"] < as_of].sort_values(["issued_at", "customer_id"]).reset_index(drop=True)
    coupons.insert(0, "coupon_id", _ids("CP", len(coupons), 8))
    orders, coupons = _redeem_coupons(orders, coupons, rng, p)

    touches = touches.sort_values(["event_time", "cust"]).reset_index(drop=True)
    touches["customer_id"] = cust_ids[touches.pop("cust").to_numpy()]
    identity_links = _identity_links(rng, cust_ids, added)
    contact_events = contact_events.sort_values(["event_time", "customer_id", "event_type"]).reset_index(drop=True)
    group_events = group_events.sort_values(["event_time", "customer_id"]).reset_index(drop=True)
    bar(1)

    tables = {
        "customers": customers, "identity_links": identity_links, "stores": stores, "staff": staff,
        "channels": channels, "contact_events": contact_events, "groups": groups, "group_events": group_events,
        "scans": scans, "touches": touches[["event_time", "customer_id", "staff_id", "touch_type", "task_id"]],
        "tasks": tasks,
        "orders": orders[["order_id", "customer_id", "order_time", "amount", "order_channel", "store_id", "task_id",
                          "share_staff_id", "coupon_id", "refunded_amount"]],
        "coupons": coupons, **exp_tables,
    }
    tables = {k: _normalise(v) for k, v in tables.items()}
    truth = _truth(p, seed, n, t0, as_of, birth, buyer, holdout, orders, exp_truth, store_add_p, store_join_p,
                   store_ids, tables)
    brand = Brand(tables, truth)
    if out is not None:
        brand.write(out, fmt)
    return brand


def _pick_guides(rng: np.random.Generator, store_guides: list[np.ndarray], store: np.ndarray,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """A random guide of each customer's store (another one than ``exclude`` when possible)."""
    sizes = np.array([len(g) for g in store_guides])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(store_guides)
    pick = rng.integers(0, sizes[store])
    if exclude is not None:
        same = _guide_ids(flat[offsets[store] + pick]) == exclude
        pick = np.where(same & (sizes[store] > 1), (pick + 1) % sizes[store], pick)
    return _guide_ids(flat[offsets[store] + pick])


def _guide_ids(index: np.ndarray) -> np.ndarray:
    return np.char.add("E", np.char.zfill((index + 1).astype(str), 4))


def _assign_channels(orders: pd.DataFrame, spells: pd.DataFrame, chats: pd.DataFrame, touches: pd.DataFrame,
                     store_ids: np.ndarray, home: np.ndarray, staff: pd.DataFrame, rng: np.random.Generator,
                     p: SimulationParams, as_of: np.datetime64) -> pd.DataFrame:
    """Channel, store, link parameters of each order given the customer's WeCom state."""
    m = len(orders)
    # open contact at order time: any spell with start <= t < end; its staff is the share staff
    sp = spells.assign(end=spells["end"].fillna(pd.Timestamp(as_of)))
    j = orders.reset_index().merge(sp, on="cust", how="inner")
    j = j[(j["start"] <= j["order_time"]) & (j["end"] > j["order_time"])]
    j = j.sort_values("start").drop_duplicates("index", keep="last").set_index("index")
    has_contact = np.zeros(m, bool)
    has_contact[j.index.to_numpy()] = True
    guide = pd.Series(j["staff"]).reindex(range(m)).to_numpy()
    staff_store = staff.set_index("staff_id")["store_id"]

    chat = _asof_last(chats.rename(columns={"staff_id": "chat_staff"}), orders, "cust", "order_time",
                      pd.Timedelta(days=7), ["chat_staff"])["chat_staff"].to_numpy()
    pushes = touches[touches["touch_type"].isin(["task_push", "mass_send"])]
    push = _asof_last(pushes.rename(columns={"staff_id": "push_staff"}), orders, "cust", "order_time",
                      pd.Timedelta(days=p.link_window_days), ["push_staff", "task_id"])
    invites = touches[touches["touch_type"] == "live_invite"]
    invite = _asof_last(invites.rename(columns={"staff_id": "inv_staff"}), orders, "cust", "order_time",
                        pd.Timedelta(days=3), ["inv_staff"])["inv_staff"].notna().to_numpy()

    probs = np.tile(np.array(p.channel_probs_no_contact, float), (m, 1))
    probs[has_contact] = p.channel_probs_contact
    chatted = has_contact & pd.notna(chat)
    rest = probs[chatted, 1:] / probs[chatted, 1:].sum(axis=1, keepdims=True) * (1 - p.pos_share_after_chat)
    probs[chatted, 0], probs[chatted, 1:] = p.pos_share_after_chat, rest
    invited = has_contact & invite
    live_col = ORDER_CHANNELS.index("channels_live")
    others = np.delete(np.arange(6), live_col)
    probs[np.ix_(invited, others)] *= (1 - p.live_share_after_invite) / probs[np.ix_(invited, others)].sum(1, keepdims=True)
    probs[invited, live_col] = p.live_share_after_invite
    cum = probs.cumsum(axis=1)
    choice = (rng.random(m)[:, None] > cum).sum(axis=1).clip(max=5)
    ch = np.array(ORDER_CHANNELS)[choice]
    cust = orders["cust"].to_numpy()
    home_store = store_ids[home[cust]]
    chat_store = staff_store.reindex(pd.Series(chat).fillna("")).to_numpy()
    store = np.where(np.isin(ch, ["pos", "proxy_order"]) & chatted, chat_store, home_store)
    store = np.where(np.isin(ch, ["channels_live", "ecommerce"]), None, store)
    link = (ch == "mini_program") & has_contact & push["push_staff"].notna().to_numpy() & (rng.random(m) < p.link_prob_after_push)
    share_staff = np.where(link, push["push_staff"].to_numpy(), None)
    share_staff = np.where(np.isin(ch, ["wecom_transfer", "proxy_order"]), guide, share_staff)
    task_id = np.where(link, push["task_id"].to_numpy(), None)
    return orders.assign(order_channel=ch, store_id=store, task_id=task_id, share_staff_id=share_staff)


def _redeem_coupons(orders: pd.DataFrame, coupons: pd.DataFrame, rng: np.random.Generator,
                    p: SimulationParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """POS orders redeem the customer's latest open WeCom coupon (issued within 30 days)."""
    pos = orders[orders["order_channel"] == "pos"]
    wc = coupons[coupons["issue_source"] == "wecom"]
    m = _asof_last(wc, pos, "customer_id", "order_time", pd.Timedelta(days=30), ["coupon_id"], "issued_at") \
        if len(wc) else pd.DataFrame({"coupon_id": [None] * len(pos)}, index=pos.index)
    cand = m["coupon_id"].dropna()
    cand = cand[rng.random(len(cand)) < p.coupon_redeem_prob]
    cand = cand[~cand.duplicated()]
    orders["coupon_id"] = None
    orders.loc[cand.index, "coupon_id"] = cand.to_numpy()
    red = orders.loc[cand.index, ["order_id", "order_time", "coupon_id"]]
    coupons = coupons.merge(red.rename(columns={"order_id": "redeemed_order_id", "order_time": "redeemed_at"}),
                            on="coupon_id", how="left")
    return orders, coupons


def _experiments(rng, p, t0, spells, holdout, cust_ids, store_ids, staff, nu, as_of, n_stores, birth):
    """EXP_CUST (customers) and EXP_STORE (stores) with their extra orders, plus the HOLDOUT."""
    sp = spells.assign(end=spells["end"].fillna(pd.Timestamp(as_of)))
    staff_store = staff.set_index("staff_id")["store_id"]
    w = p.exp_window_days
    mean_spend = p.gg_p * p.gg_gamma / (p.gg_q - 1)
    asg = [pd.DataFrame({"experiment_id": "HOLDOUT", "unit_id": cust_ids,
                         "variant": np.where(holdout, "holdout", "reached"), "assigned_at": birth})]
    exps = [("HOLDOUT", "customer", np.datetime64(t0), None, "Global task holdout", "gmv")]
    tasks, touches, extra, truth = [], [], [], {}

    # EXP_CUST: reached customers with an open contact at the start, 50/50
    s1 = np.datetime64((pd.Timestamp(t0) + pd.DateOffset(months=8) + pd.Timedelta(days=5, hours=10)).to_datetime64(), "s")
    live = sp[(sp["start"] <= s1) & (sp["end"] > s1)].sort_values("start").drop_duplicates("cust", keep="last")
    live = live[~holdout[live["cust"].to_numpy()]]
    treat = rng.random(len(live)) < 0.5
    variant = np.where(treat, "treatment", "control")
    asg.append(pd.DataFrame({"experiment_id": "EXP_CUST", "unit_id": cust_ids[live["cust"].to_numpy()],
                             "variant": variant, "assigned_at": s1}))
    exps.append(("EXP_CUST", "customer", s1, s1 + w * DAY, "New-arrival script test (customer-randomised)", "gmv"))
    for v in ("control", "treatment"):
        tasks.append((f"TX_CUST_{v[0].upper()}", pd.Timestamp(s1), "new_arrival", f"Script test: {v}", "EXP_CUST", v))
    touches.append(pd.DataFrame({"event_time": np.full(len(live), s1), "cust": live["cust"].to_numpy(),
                                 "staff_id": live["staff"].to_numpy(), "touch_type": "task_push",
                                 "task_id": np.where(treat, "TX_CUST_T", "TX_CUST_C")}))
    prob = np.where(treat, p.exp_cust_probs[1], p.exp_cust_probs[0])
    hit = rng.random(len(live)) < prob
    extra.append(_extra_orders(rng, live[hit], s1, w, nu, np.where(treat, "TX_CUST_T", "TX_CUST_C")[hit],
                               staff_store, p))
    dp = p.exp_cust_probs[1] - p.exp_cust_probs[0]
    truth["EXP_CUST"] = {"unit": "customer", "variants": ["control", "treatment"], "control": "control",
                         "start": str(pd.Timestamp(s1)), "window_days": w, "n_units": int(len(live)),
                         "extra_order_prob": dict(zip(["control", "treatment"], p.exp_cust_probs)),
                         "true_abs_lift": {"orders_per_unit": dp, "gmv_per_unit": dp * mean_spend,
                                           "converted": None}}

    # EXP_STORE: stores randomised 50/50; analysis units are customers with an open contact at the start
    s2 = np.datetime64((pd.Timestamp(t0) + pd.DateOffset(months=9) + pd.Timedelta(days=3, hours=10)).to_datetime64(), "s")
    store_treat = rng.permutation(np.arange(n_stores) < n_stores // 2)
    sv = np.where(store_treat, "treatment", "control")
    asg.append(pd.DataFrame({"experiment_id": "EXP_STORE", "unit_id": store_ids, "variant": sv, "assigned_at": s2}))
    exps.append(("EXP_STORE", "store", s2, s2 + w * DAY, "Coupon push by store (store-randomised)", "gmv"))
    for v in ("control", "treatment"):
        tasks.append((f"TX_STORE_{v[0].upper()}", pd.Timestamp(s2), "promotion", f"Store test: {v}", "EXP_STORE", v))
    live = sp[(sp["start"] <= s2) & (sp["end"] > s2)].copy()
    live["store"] = staff_store.reindex(live["staff"]).to_numpy()
    # one cluster per customer: the first store id among their open guides (as experiment_frame does)
    live = live.sort_values(["cust", "store"]).drop_duplicates("cust", keep="first")
    s_idx = np.searchsorted(store_ids, live["store"].to_numpy())
    mu = np.where(store_treat, p.exp_store_probs[1], p.exp_store_probs[0])
    rho = p.exp_store_icc
    p_store = rng.beta(mu * (1 - rho) / rho, (1 - mu) * (1 - rho) / rho)
    reached = ~holdout[live["cust"].to_numpy()]
    task = np.where(store_treat[s_idx], "TX_STORE_T", "TX_STORE_C")
    touches.append(pd.DataFrame({"event_time": np.full(reached.sum(), s2), "cust": live["cust"].to_numpy()[reached],
                                 "staff_id": live["staff"].to_numpy()[reached], "touch_type": "task_push",
                                 "task_id": task[reached]}))
    hit = reached & (rng.random(len(live)) < p_store[s_idx])
    extra.append(_extra_orders(rng, live[hit], s2, w, nu, task[hit], staff_store, p))
    share_reached = float(reached.mean()) if len(live) else 0.0
    expected_extra = (float(np.where(np.isin(variant, "treatment"), p.exp_cust_probs[1], p.exp_cust_probs[0]).sum())
                      + float(p_store[s_idx][reached].sum())) * mean_spend
    truth["_expected_extra_gmv"] = expected_extra
    dp2 = p.exp_store_probs[1] - p.exp_store_probs[0]
    truth["EXP_STORE"] = {"unit": "store", "variants": ["control", "treatment"], "control": "control",
                          "start": str(pd.Timestamp(s2)), "window_days": w, "n_units": int(len(live)),
                          "n_clusters": int(n_stores), "icc_extra_order": rho, "reached_share_of_units": share_reached,
                          "extra_order_prob": dict(zip(["control", "treatment"], p.exp_store_probs)),
                          "true_abs_lift": {"orders_per_unit": dp2 * share_reached,
                                            "gmv_per_unit": dp2 * share_reached * mean_spend, "converted": None}}
    tables = {
        "experiments": pd.DataFrame(exps, columns=["experiment_id", "unit", "start_at", "end_at", "name", "primary_metric"]),
        "assignments": pd.concat(asg, ignore_index=True),
        "touches": pd.concat(touches, ignore_index=True),
    }
    task_df = pd.DataFrame(tasks, columns=["task_id", "created_at", "task_type", "title", "experiment_id", "variant"])
    return tables, pd.concat(extra, ignore_index=True), truth, task_df


def _extra_orders(rng, units: pd.DataFrame, start: np.datetime64, w: int, nu: np.ndarray, task: np.ndarray,
                  staff_store: pd.Series, p: SimulationParams) -> pd.DataFrame:
    k = len(units)
    cust = units["cust"].to_numpy()
    return pd.DataFrame({
        "cust": cust,
        "order_time": start + (rng.random(k) * w * 86400).astype("timedelta64[s]"),
        "amount": np.round(rng.gamma(p.gg_p, 1 / nu[cust]), 2),
        "order_channel": "mini_program",
        "store_id": staff_store.reindex(units["staff"]).to_numpy(),
        "task_id": task,
        "share_staff_id": units["staff"].to_numpy(),
    })


def _identity_links(rng: np.random.Generator, cust_ids: np.ndarray, added: np.ndarray) -> pd.DataFrame:
    n = len(cust_ids)
    phone, union, openid = _hex_ids(rng, n, 16), _hex_ids(rng, n, 16), _hex_ids(rng, n, 16)
    member = np.char.add("M", cust_ids.astype(str))
    ext = np.char.add("wm", _hex_ids(rng, n, 16))
    two = rng.random(n) < 0.05
    frames = [
        pd.DataFrame({"id_type": "member_id", "id_value": member, "linked_type": "phone_hash", "linked_value": phone}),
        pd.DataFrame({"id_type": "phone_hash", "id_value": phone, "linked_type": "unionid", "linked_value": union}),
        pd.DataFrame({"id_type": "unionid", "id_value": union, "linked_type": "openid", "linked_value": openid}),
        pd.DataFrame({"id_type": "unionid", "id_value": union[added], "linked_type": "external_userid",
                      "linked_value": ext[added]}),
        pd.DataFrame({"id_type": "unionid", "id_value": union[two], "linked_type": "openid",
                      "linked_value": np.char.add(openid[two], "b")}),
    ]
    return pd.concat(frames, ignore_index=True)


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract dtypes: timestamps at microsecond precision, ids as object strings."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].astype("datetime64[us]")
        elif out[c].dtype.kind in ("U", "S"):
            out[c] = out[c].astype(object)
    return out.reset_index(drop=True)


def _truth(p, seed, n, t0, as_of, birth, buyer, holdout, orders, exp_truth, store_add_p, store_join_p, store_ids,
           tables) -> dict[str, Any]:
    mean_spend = p.gg_p * p.gg_gamma / (p.gg_q - 1)
    T = (as_of - birth) / DAY / 7
    ex_reached = 1 + _bgnbd_expected(T, p.r, p.alpha / p.task_rate_multiplier, p.a, p.b)
    ex_hold = 1 + _bgnbd_expected(T, p.r, p.alpha, p.a, p.b)
    incr = np.where(buyer, (ex_reached - ex_hold) * mean_spend, 0.0)
    exp_extra = exp_truth.pop("_expected_extra_gmv") / max(int((~holdout).sum()), 1)
    cust_gmv = orders.groupby("customer_id")["amount"].sum()
    gmv = cust_gmv.reindex(tables["customers"]["customer_id"]).fillna(0).to_numpy()
    hr = {k: float(np.exp(v)) for k, v in p.log_hr_channel.items()}
    ce = tables["contact_events"]
    return {
        "seed": seed, "n_customers": n, "start": str(pd.Timestamp(t0)), "as_of": str(pd.Timestamp(as_of)),
        "time_unit": "W",
        "bgnbd": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b, "group": "holdout customers (variant 'holdout')"},
        "bgnbd_reached": {"r": p.r, "alpha": p.alpha / p.task_rate_multiplier, "a": p.a, "b": p.b},
        "task_rate_multiplier": p.task_rate_multiplier,
        "buyer_share": p.buyer_share,
        "gamma_gamma": {"p": p.gg_p, "q": p.gg_q, "gamma": p.gg_gamma, "currency": "CNY"},
        "mean_spend": mean_spend,
        "holdout": {
            "experiment_id": "HOLDOUT", "share": p.holdout_share, "window": [str(pd.Timestamp(t0)), str(pd.Timestamp(as_of))],
            "incremental_gmv_per_reached_customer": float(incr[~holdout].mean()) + exp_extra,
            "incremental_gmv_total": float(incr[~holdout].sum()) + exp_extra * int((~holdout).sum()),
            "incremental_gmv_per_reached_customer_from_rate": float(incr[~holdout].mean()),
            "incremental_gmv_per_reached_customer_from_experiments": exp_extra,
            "realised_mean_gmv_reached": float(gmv[~holdout].mean()),
            "realised_mean_gmv_holdout": float(gmv[holdout].mean()),
            "note": "Expected GMV difference over the whole window, from the BG/NBD expectation at each customer's "
                    "own T with and without the task rate multiplier, plus the expected GMV of the experiments' extra "
                    "orders (they happen only to reached customers), per reached customer.",
        },
        "churn": {
            "level": "customer_staff", "baseline": {"weibull_shape": p.weibull_shape,
                                                    "weibull_scale_days": p.weibull_scale_days},
            "log_hr_channel_group": dict(p.log_hr_channel), "hr_channel_group": hr, "reference_channel_group": "offline_store",
            "log_hr_per_early_chat": p.log_hr_early_chat, "hr_per_early_chat": float(np.exp(p.log_hr_early_chat)),
            "log_hr_retention_tool": p.log_hr_tool, "hr_retention_tool": float(np.exp(p.log_hr_tool)),
            "landmark_days": p.landmark_days,
            "early_chats_definition": "number of touches of type 'chat' from the staff member to the customer in "
                                      "the first 14 days after the add that opened the relationship; it acts on the "
                                      "hazard only after day 14 (analyse with a 14-day landmark)",
            "staff_delete_share": p.staff_delete_share, "readd_prob": p.readd_prob,
        },
        "seven_day_rule": {"pos_share_with_contact": p.channel_probs_contact[0],
                           "pos_share_after_chat": p.pos_share_after_chat, "window_days": 7},
        "funnel": {"add_prob_mean": p.add_prob, "join_prob_mean": p.join_prob, "claim_prob": p.claim_prob,
                   "median_minutes_scan_to_add": 5.0, "median_hours_add_to_join": 2.0,
                   "median_hours_join_to_claim": 24.0,
                   "store_add_prob": dict(zip(store_ids.tolist(), np.round(store_add_p, 6).tolist())),
                   "store_join_prob": dict(zip(store_ids.tolist(), np.round(store_join_p, 6).tolist()))},
        "experiments": exp_truth,
        "counts": {k: int(len(v)) for k, v in tables.items()} | {"contacts_added": int(ce["event_type"].eq("add").sum())},
    }


def _progress(enabled: bool, total: int):
    if not enabled:
        return lambda k: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="simulate", unit="step")
    return bar.update
