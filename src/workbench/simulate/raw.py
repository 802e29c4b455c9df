"""What a brand's servers would have logged: a simulated brand as raw WeCom exports, with defects at known rates.

:func:`write_raw_exports` turns a simulated brand's contract tables into the files a brand's
data team would really hold after logging WeCom from a go-live date, so an ingest can be
tested against known truth: it returns the defects it injected and the exact counts a correct
ingest (following :data:`workbench.ingest.report.COUNTS`) must report.

Folder layout
-------------
``callbacks.jsonl``
    One decrypted ``change_external_contact`` / ``change_external_chat`` callback per line, in
    arrival order, keys exactly the XML element names: ``ToUserName`` (the corp id),
    ``FromUserName`` (``sys``), ``CreateTime`` (int, Unix s), ``MsgType`` (``event``),
    ``Event``, ``ChangeType``, then per kind (:data:`CALLBACK_FIELDS`): adds
    (``add_external_contact``, ``add_half_external_contact``) ``UserID``, ``ExternalUserID``,
    ``State`` (channel code, ``""`` when none), ``WelcomeCode``; ``del_follow_user``,
    ``edit_external_contact`` ``UserID``, ``ExternalUserID``; ``del_external_contact`` the same
    plus ``Source`` = ``DELETE_BY_TRANSFER`` on transfers only; ``transfer_fail`` plus
    ``FailReason``; group updates ``ChatId``, ``UpdateDetail`` (``add_member`` / ``del_member``),
    ``JoinScene`` (0 invited, 3 QR code) or ``QuitScene`` (0 left, 1 removed),
    ``MemChangeCnt`` (1), ``MemChangeList`` (``{"Item": [external_userid]}``).
    Contract events at or after go-live only: add → ``add_external_contact`` (a share of
    customer-initiated adds as ``add_half_external_contact``); ``delete_by_customer`` →
    ``del_follow_user``; ``delete_by_staff`` → ``del_external_contact``; ``transfer`` →
    ``del_external_contact`` with ``Source``; ``staff_left`` → nothing (WeCom sends none);
    group join / leave → ``update`` ``add_member`` / ``del_member``.
``snapshots.jsonl``
    ``{"fetched_at", "api": "externalcontact/batch/get_by_user", "response": {"errcode": 0,
    "errmsg": "ok", "external_contact_list": [{"external_contact": {"external_userid", "type": 1},
    "follow_info": {"userid", "createtime", "state", "add_way", "oper_userid", "remark": ""}}],
    "next_cursor"}}``: one snapshot at 00:00 of go-live (the go-live snapshot), then one every
    ``snapshot_every_days`` at 00:00 up to and including the as-of date; each in pages of ≤ 100
    entries (``next_cursor`` ``""`` on a snapshot's last page; an empty snapshot is one empty page).
    A snapshot lists the pairs open at ``fetched_at`` by the contract intervals (an add at or
    before it, no close at or before it), ``createtime`` the add that opened the interval, and no
    pair of a member who has left (``left_at`` at or before it). The file starts with one
    ``groupchat/get`` response per group created by go-live, fetched at go-live:
    ``{"fetched_at", "api": "groupchat/get", "response": {"errcode": 0, "errmsg": "ok",
    "group_chat": {"chat_id", "name", "owner", "create_time", "notice", "admin_list",
    "member_list": [{"userid", "type", "join_time", "join_scene", "group_nickname", "name"}]}}}``:
    the owner (``type`` 1) and the customers in the group at go-live by the contract intervals
    (``type`` 2, ``userid`` their external_userid, ``join_time`` the join that opened the
    membership, ``join_scene`` 1 invited / 2 link / 3 QR code). Daily snapshots repeat every open
    relationship (a 20,000-customer, 12-month brand: 2.1M entries, about 500 MB, written in about
    15 s); raise ``snapshot_every_days`` for big brands.
``behavior.jsonl``
    ``{"userid": [staff_id], "start_time", "end_time", "response": {"errcode": 0, "errmsg": "ok",
    "behavior_data": [{"stat_time", "chat_cnt", "message_cnt", "reply_percentage"?,
    "avg_reply_time"?, "negative_feedback_cnt", "new_apply_cnt", "new_contact_cnt"}]}}`` per
    member per 30-day window, from ``staff_daily`` (the two optional keys absent where null).
``bills.jsonl``
    ``externalpay/get_bill_list`` responses (``{"api", "begin_time", "end_time", "response":
    {..., "bill_list": [...]}}``, ≤ 100 bills each) for the ``wecom_transfer`` orders:
    ``transaction_id`` (order_id), ``trade_state`` (1, 3 when refunded), ``pay_time``,
    ``external_userid``, ``total_fee`` (fen = round(amount·100)), ``payee_userid``
    (share_staff_id), ``payment_type`` 0, ``total_refund_fee``, ``refund_list``.
``mass_sends.jsonl``
    ``{"msgid": task_id, "create_time", "userid", "response": {..., "send_list":
    [{"external_userid", "userid", "status" (0 not sent, 1 sent, 2 not a friend, 3 already
    received), "send_time"?}]}}`` per task, member and creation time, from ``mass_sends``.
``tables/``
    The brand's own tables in contract form (Parquet): customers, identity_links, stores,
    staff, channels, groups, scans, touches, tasks, coupons, experiments, assignments and
    orders except ``wecom_transfer`` (those come from the bills). ``identity_links`` gains an
    ``external_userid`` → ``member_id`` link for each customer seen in the raw files without
    one (group-only members: a brand learns their ids from ``groupchat/get``).

Defects (rates in :class:`RawRates`, counts in the returned ``injected``)
-------------------------------------------------------------------------
* **Retries**: a share of lines (not the ignored kinds) is re-sent 1–2 more times (≤ 3 in
  total, as WeCom retries), each copy arriving 1–5 lines after the previous delivery.
* **Delays**: a share of lines arrives 1–600 s late; the file is in arrival order.
* **Lost callbacks**, adds that open a relationship and first closes (a delete of an open
  pair; never transfers), only where a snapshot repairs them unambiguously: the event is at
  least a day after go-live and a day before the last snapshot, and no other event of the pair
  and no departure of the member falls between ``repair_margin_days`` (2) before the last
  snapshot before it and ``repair_margin_days`` after the first snapshot at or after it. The
  pair's state at that snapshot then contradicts the callbacks, and only that event explains it.
* **Repeated opens**: for a share of adds an ``add_half_external_contact`` 1 s before the
  ``add_external_contact`` of the same pair.
* **Unknown ids**: ``unknown_ids`` adds of external_userids no identity link ties to a customer
  (contacts who are not customers), by members who never leave.
* **Ignored kinds**: ``edit_external_contact`` and ``transfer_fail`` lines.
* Second closes, transfers and departures come from the contract tables.

The expected counts follow the COUNTS definitions applied to what the files say.
``out_of_order`` counts kept lines (not retries, not ignored kinds) whose CreateTime is below
the running maximum of all lines before them. ``group_joins`` are the kept ``add_member`` items
plus a join per customer of the go-live ``groupchat/get`` without a callback of the pair at or
before go-live; ``group_leaves`` the kept ``del_member`` items with a join of the pair at or
before them, the others are ``group_orphan_leaves_dropped``. For contact events the
ingest's view of each pair is its callbacks (deduplicated, ordered by CreateTime; ties keep
the contract's order) plus go-live seeds, repairs and ``staff_left`` closes (a pair open in
that view at the first snapshot at or after its member's ``left_at`` is closed at ``left_at``;
a later transfer of it is then a second close). Closes with no earlier add in that view
(e.g. a second close whose first close was before go-live, or a transfer of a member who left
before go-live) are orphans: counted as ``orphan_deletes_dropped`` and in nothing else.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .draws import BASE64URL_ALPHABET, tokens
from .raw_api import (
    behavior_lines,
    bill_lines,
    group_members_at,
    group_snapshot_lines,
    listed_groups,
    mass_send_lines,
    quoted,
    snapshot_lines,
    texts,
    unix_seconds,
    write_brand_tables,
    write_lines,
)
from .raw_expect import IGNORED_KINDS, contact_counts, external_ids, file_counts, group_counts

CORP_ID = "ww5f3c1a7e9b2d4086"
ENVELOPE = ("ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "ChangeType")
_PAIR = ("UserID", "ExternalUserID")
_GROUP = ("ChatId", "UpdateDetail")
#: Keys after :data:`ENVELOPE` per ChangeType (group updates by UpdateDetail); transfers add ``Source``.
CALLBACK_FIELDS: dict[str, tuple[str, ...]] = {
    "add_external_contact": (*_PAIR, "State", "WelcomeCode"),
    "add_half_external_contact": (*_PAIR, "State", "WelcomeCode"),
    "del_follow_user": _PAIR,
    "del_external_contact": _PAIR,
    "edit_external_contact": _PAIR,
    "transfer_fail": (*_PAIR, "FailReason"),
    "add_member": (*_GROUP, "JoinScene", "MemChangeCnt", "MemChangeList"),
    "del_member": (*_GROUP, "QuitScene", "MemChangeCnt", "MemChangeList"),
}
CLOSE_CHANGE = {"delete_by_customer": "del_follow_user", "delete_by_staff": "del_external_contact",
                "transfer": "del_external_contact"}
DAY = 86_400


@dataclass(frozen=True)
class RawRates:
    """Defect rates of a raw export.

    Parameters
    ----------
    duplicate : float, default 0.02
        Share of callback lines re-sent (1–2 extra copies).
    delayed : float, default 0.03
        Share of callback lines arriving late.
    max_delay_s : int, default 600
        Largest delay in seconds (delays are uniform on 1…max).
    lost : float, default 0.01
        Share of the repairable adds and first closes whose callback is lost.
    add_half : float, default 0.05
        Share of adds preceded by an ``add_half_external_contact`` 1 s earlier (repeated opens).
    half_customer : float, default 0.3
        Share of the other customer-initiated adds sent as ``add_half_external_contact``.
    unknown_ids : int, default 20
        Adds of external_userids that are not customers of the brand.
    edits : float, default 0.01
        ``edit_external_contact`` lines per contact callback.
    transfer_fails : int, default 5
        ``transfer_fail`` lines.
    snapshot_every_days : int, default 1
        Days between ``batch/get_by_user`` snapshots.
    repair_margin_days : int, default 2
        Quiet days around the snapshots that repair a lost callback.
    """

    duplicate: float = 0.02
    delayed: float = 0.03
    max_delay_s: int = 600
    lost: float = 0.01
    add_half: float = 0.05
    half_customer: float = 0.3
    unknown_ids: int = 20
    edits: float = 0.01
    transfer_fails: int = 5
    snapshot_every_days: int = 1
    repair_margin_days: int = 2

    def check(self) -> None:
        """Raise :class:`ParameterError` for a rate outside [0, 1] or a count below its minimum."""
        for name in ("duplicate", "delayed", "lost", "add_half", "half_customer", "edits"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ParameterError(f"RawRates.{name} must be within [0, 1], got {value!r}")
        for name, low in (("max_delay_s", 1), ("unknown_ids", 0), ("transfer_fails", 0),
                          ("snapshot_every_days", 1), ("repair_margin_days", 0)):
            if int(getattr(self, name)) < low:
                raise ParameterError(f"RawRates.{name} must be at least {low}, got {getattr(self, name)!r}")


def write_raw_exports(tables: dict[str, pd.DataFrame], truth: dict, out: str | Path, *, seed: int,
                      go_live_days: int = 30, rates: RawRates = RawRates()) -> dict[str, Any]:
    """Write a brand's raw WeCom exports (module docstring) and return what was injected and expected.

    Parameters
    ----------
    tables : dict of str to DataFrame
        The simulated brand's contract tables (``Brand.tables``).
    truth : dict
        Its truth (``start`` and ``as_of`` are read).
    out : path
        Folder to write (created).
    seed : int
        Everything is deterministic for a seed.
    go_live_days : int, default 30
        Logging starts at 00:00 of ``start + go_live_days`` days.
    rates : RawRates
        Defect rates.

    Returns
    -------
    dict
        JSON-ready: ``go_live``, ``snapshots`` (number), ``rates``, ``injected`` (defect
        counts), ``expected_report`` (count name of ``workbench.ingest.report.COUNTS`` → the value a
        correct ingest reports), ``files`` (lines per file) and ``lost_events`` (the lost
        callbacks: time, customer_id, staff_id, event_type).
    """
    rates.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 0x52415720])
    start, as_of = pd.Timestamp(truth["start"]), pd.Timestamp(truth["as_of"])
    go_live = start.normalize() + pd.Timedelta(days=int(go_live_days))
    if go_live >= as_of:
        raise ParameterError(f"go-live {go_live} is not before the as-of date {as_of}: reduce go_live_days")
    snaps = unix_seconds(pd.date_range(go_live, as_of, freq=f"{int(rates.snapshot_every_days)}D"))
    ext_of, extra_links = external_ids(tables, rng)
    staff = tables["staff"]
    if "left_at" not in staff:  # nullable in the contract, so it may be absent
        staff = staff.assign(left_at=pd.NaT)
    left = pd.Series(_seconds_or_inf(staff["left_at"]), index=staff["staff_id"].to_numpy())
    admin = staff.loc[staff["role"] == "hq", "staff_id"]
    admin_id = str(admin.iloc[0]) if len(admin) else "admin"
    ce = prepare_contacts(tables["contact_events"], ext_of, left, admin_id)
    lost = choose_lost(ce, snaps, rates, rng)
    ce["lost"] = lost
    go = int(snaps[0])

    callbacks, extra = contact_callbacks(ce, go, rates, rng)
    unknown = unknown_adds(staff, go, int(unix_seconds([as_of])[0]), rates.unknown_ids, rng)
    ignored = ignored_lines(ce, go, int(unix_seconds([as_of])[0]), rates, rng)
    groups = group_callbacks(tables.get("group_events"), ext_of, go, rng)
    logical = pd.concat([callbacks, extra, unknown, ignored, groups], ignore_index=True)
    lines, arrival, injected = arrive(logical, rates, rng)
    files = {"callbacks.jsonl": write_lines(out / "callbacks.jsonl", lines)}

    intervals, snap, row = snapshot_entries(ce, unknown, snaps, left)
    seeds = intervals.iloc[row[snap == 0]]
    members = group_members_at(tables.get("group_events"), go_live)
    members = members[members["group_id"].isin(listed_groups(tables.get("groups"), go)["group_id"])]
    members = members.assign(external_userid=members["customer_id"].map(ext_of),
                             join_time=unix_seconds(members["join_time"]) if len(members) else [])
    chats = group_snapshot_lines(tables.get("groups"), members, go, rng)
    listing = snapshot_lines(intervals, snap, row, snaps, rng)
    files["snapshots.jsonl"] = write_lines(out / "snapshots.jsonl", np.r_[chats, listing])
    report = file_counts(arrival)
    report.update(group_counts(arrival, members, go))
    report.update(contact_counts(ce, extra, unknown, seeds, snaps, left))

    daily = tables.get("staff_daily")
    files["behavior.jsonl"] = write_lines(out / "behavior.jsonl", behavior_lines(daily))
    orders = tables["orders"]
    bills = orders[orders["order_channel"] == "wecom_transfer"].assign(
        external_userid=lambda o: o["customer_id"].map(ext_of))
    files["bills.jsonl"] = write_lines(out / "bills.jsonl", bill_lines(bills))
    sends = tables.get("mass_sends")
    if sends is not None:
        sends = sends.assign(external_userid=sends["customer_id"].map(ext_of))
    files["mass_sends.jsonl"] = write_lines(out / "mass_sends.jsonl", mass_send_lines(sends))
    written = write_brand_tables(tables, out / "tables", extra_links)

    known = set(tables["customers"]["customer_id"])
    report.update({
        "callbacks_rejected": 0,
        "ids_unresolved": int(unknown["ExternalUserID"].nunique()),
        "behavior_rows": 0 if daily is None else len(daily),
        "mass_send_rows": 0 if sends is None else len(sends),
        "orders_from_bills": len(bills),
        "orders_in": written.get("orders", 0) + len(bills),
        "orders_linked": int(orders["customer_id"].isin(known).sum()),
    })
    after = ce["t"].to_numpy() >= go
    contract_type = ce["event_type"].to_numpy()
    injected.update({
        "lost_adds": int((lost & (contract_type == "add")).sum()),
        "lost_closes": int((lost & (contract_type != "add")).sum()),
        "add_half": int(len(extra)),
        "half_customer_adds": int((callbacks["ChangeType"] == "add_half_external_contact").sum()),
        "unknown_ids": int(len(unknown)),
        "edits": int((ignored["ChangeType"] == "edit_external_contact").sum()),
        "transfer_fails": int((ignored["ChangeType"] == "transfer_fail").sum()),
        "transfers": int((after & (contract_type == "transfer")).sum()),
        "staff_left": int((after & (contract_type == "staff_left")).sum()),
        "second_closes": int((after & ce["second_close"].to_numpy()).sum()),
    })
    lost_rows = ce.loc[lost, ["event_time", "customer_id", "staff_id", "event_type"]]
    return {
        "go_live": go_live.isoformat(),
        "snapshots": int(len(snaps)),
        "rates": asdict(rates),
        "injected": {k: int(v) for k, v in injected.items()},
        "expected_report": {k: int(v) for k, v in report.items()},
        "files": files,
        "lost_events": [{"time": str(r.event_time), "customer_id": r.customer_id, "staff_id": r.staff_id,
                         "event_type": r.event_type} for r in lost_rows.itertuples(index=False)],
    }


def _seconds_or_inf(values: pd.Series) -> np.ndarray:
    """Unix seconds as float, NaT → +inf."""
    times = pd.to_datetime(values)
    out = np.full(len(times), np.inf)
    ok = times.notna().to_numpy()
    out[ok] = unix_seconds(times[ok]).astype(float)
    return out


def prepare_contacts(events: pd.DataFrame, ext_of: pd.Series, left: pd.Series, admin_id: str) -> pd.DataFrame:
    """Contract contact events sorted by pair and time, with each event's place in its pair's history.

    Adds columns ``t`` (Unix s), ``pair``, ``is_add``, ``prev_t`` / ``next_t`` (the pair's
    neighbouring events, ±inf), ``opening`` (an add while closed), ``first_close`` (a close
    while open), ``second_close`` (a close while closed), ``end_t`` (for an opening add, the
    next close of the pair, +inf when none), ``left_t`` (member's departure, +inf), ``ext``,
    ``state``, ``add_way`` (int) and ``oper_userid``.
    """
    e = events.reset_index(drop=True)
    e = e.assign(seq=np.arange(len(e)), t=unix_seconds(e["event_time"]))
    e = e.sort_values(["customer_id", "staff_id", "t", "seq"], kind="mergesort").reset_index(drop=True)
    pair = pd.factorize(e["customer_id"].astype(str) + "\x00" + e["staff_id"].astype(str))[0]
    t = e["t"].to_numpy(np.int64)
    is_add = (e["event_type"] == "add").to_numpy()
    same_prev = np.r_[False, pair[1:] == pair[:-1]]
    same_next = np.r_[pair[1:] == pair[:-1], False]
    prev_add = np.r_[False, is_add[:-1]] & same_prev
    close_t = pd.Series(np.where(is_add, np.nan, t.astype(float)))
    channel = e["channel_code"] if "channel_code" in e else pd.Series(None, index=e.index, dtype=object)
    initiator = e["initiator"] if "initiator" in e else pd.Series(None, index=e.index, dtype=object)
    initiator = initiator.where(initiator.notna(), np.where(channel.notna(), "customer", "staff"))
    add_way = e["add_way"] if "add_way" in e else pd.Series(None, index=e.index, dtype=object)
    add_way = add_way.where(add_way.notna(), np.where(channel.notna(), "1", "0"))
    ext = e["customer_id"].map(ext_of)
    oper = np.where(initiator == "customer", ext, np.where(initiator == "admin", admin_id, e["staff_id"]))
    return e.assign(
        pair=pair, is_add=is_add,
        prev_t=np.where(same_prev, np.r_[0, t[:-1]], -np.inf), next_t=np.where(same_next, np.r_[t[1:], 0], np.inf),
        opening=is_add & ~prev_add, first_close=~is_add & prev_add, second_close=~is_add & ~prev_add & same_prev,
        end_t=close_t.groupby(pair).bfill().fillna(np.inf).to_numpy(),
        left_t=e["staff_id"].map(left).fillna(np.inf).to_numpy(float),
        ext=ext, state=channel, initiator=initiator,
        add_way=pd.to_numeric(add_way, errors="coerce").fillna(0).astype(np.int64), oper_userid=oper)


def choose_lost(ce: pd.DataFrame, snaps: np.ndarray, rates: RawRates, rng: np.random.Generator) -> np.ndarray:
    """Which contract events lose their callback (module docstring: only unambiguously repairable ones)."""
    t = ce["t"].to_numpy(np.int64)
    nxt = np.searchsorted(snaps, t, side="left")
    ok_idx = (nxt >= 1) & (nxt < len(snaps))
    nxt_c = np.clip(nxt, 1, len(snaps) - 1)
    margin = int(rates.repair_margin_days) * DAY
    lo = snaps[nxt_c - 1] - margin
    hi = snaps[nxt_c] + margin
    kinds = ce["opening"].to_numpy() | (ce["first_close"].to_numpy()
                                        & ce["event_type"].isin(["delete_by_customer", "delete_by_staff"]).to_numpy())
    eligible = (kinds & ok_idx & (t >= snaps[0] + DAY) & (t <= snaps[-1] - DAY)
                & (ce["prev_t"].to_numpy() < lo) & (ce["next_t"].to_numpy() > hi) & (ce["left_t"].to_numpy() > hi)
                & ce["ext"].notna().to_numpy())
    return eligible & (rng.random(len(ce)) < rates.lost)


def _frame(n: int, **cols: Any) -> pd.DataFrame:
    base = {"CreateTime": np.zeros(n, np.int64), "Event": "change_external_contact", "ChangeType": "",
            "UserID": None, "ExternalUserID": None, "State": None, "WelcomeCode": None, "Source": None,
            "FailReason": None, "ChatId": None, "UpdateDetail": None, "JoinScene": -1, "QuitScene": -1,
            "customer_id": None, "order": 0}
    base.update(cols)
    return pd.DataFrame(base, index=pd.RangeIndex(n))


def contact_callbacks(ce: pd.DataFrame, go: int, rates: RawRates,
                      rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The contact callbacks of the contract events at or after go-live, and the injected repeated opens."""
    cb = ce[(ce["t"].to_numpy() >= go) & (ce["event_type"] != "staff_left").to_numpy() & ~ce["lost"].to_numpy()]
    is_add = cb["is_add"].to_numpy()
    t = cb["t"].to_numpy(np.int64)
    half_before = is_add & (cb["prev_t"].to_numpy() < t - 1) & (t - 1 >= go) & (rng.random(len(cb)) < rates.add_half)
    customer_half = (is_add & ~half_before & (cb["initiator"] == "customer").to_numpy()
                     & (rng.random(len(cb)) < rates.half_customer))
    change = np.where(is_add, np.where(customer_half, "add_half_external_contact", "add_external_contact"),
                      cb["event_type"].map(CLOSE_CHANGE).fillna("").to_numpy())
    codes = tokens(rng, len(cb), 32, BASE64URL_ALPHABET)
    frame = _frame(len(cb), CreateTime=t, ChangeType=change, UserID=cb["staff_id"].to_numpy(),
                   ExternalUserID=cb["ext"].to_numpy(), customer_id=cb["customer_id"].to_numpy(),
                   State=np.where(is_add, cb["state"].fillna("").to_numpy(dtype=object), None),
                   WelcomeCode=np.where(is_add, codes, None),
                   Source=np.where((cb["event_type"] == "transfer").to_numpy(), "DELETE_BY_TRANSFER", None),
                   order=cb.index.to_numpy())
    extra = frame[half_before].assign(CreateTime=lambda f: f["CreateTime"] - 1,
                                      ChangeType="add_half_external_contact",
                                      WelcomeCode=tokens(rng, int(half_before.sum()), 32, BASE64URL_ALPHABET))
    return frame, extra.reset_index(drop=True)


def unknown_adds(staff: pd.DataFrame, go: int, end: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Adds of external_userids that are not the brand's customers, by members who never leave."""
    stay = staff.loc[staff["left_at"].isna() & (staff["role"] == "guide"), "staff_id"].to_numpy(dtype=object)
    if n == 0 or len(stay) == 0 or end - DAY <= go + DAY:
        return _frame(0)
    t = np.sort(rng.integers(go + DAY, end - DAY, n))
    ext = tokens(rng, n, 30, BASE64URL_ALPHABET, "wm")
    return _frame(n, CreateTime=t, ChangeType="add_external_contact", UserID=stay[rng.integers(0, len(stay), n)],
                  ExternalUserID=ext, customer_id=ext, State="", WelcomeCode=tokens(rng, n, 32, BASE64URL_ALPHABET),
                  order=-1)


def ignored_lines(ce: pd.DataFrame, go: int, end: int, rates: RawRates, rng: np.random.Generator) -> pd.DataFrame:
    """``edit_external_contact`` and ``transfer_fail`` lines for pairs added at or after go-live."""
    adds = ce[ce["is_add"].to_numpy() & (ce["t"].to_numpy() >= go) & ce["ext"].notna().to_numpy()
              & ~ce["lost"].to_numpy()]
    if adds.empty:
        return _frame(0)
    n_edit = int(np.ceil(rates.edits * int((ce["t"].to_numpy() >= go).sum())))
    n_fail = int(rates.transfer_fails)
    pick = adds.iloc[rng.integers(0, len(adds), n_edit + n_fail)]
    t = np.minimum(pick["t"].to_numpy(np.int64) + rng.integers(60, 3 * DAY, len(pick)), end - 1)
    change = np.r_[np.full(n_edit, "edit_external_contact"), np.full(n_fail, "transfer_fail")].astype(object)
    reason = np.where(rng.random(len(pick)) < 0.7, "customer_refused", "customer_limit_exceed")
    frame = _frame(len(pick), CreateTime=t, ChangeType=change, UserID=pick["staff_id"].to_numpy(),
                   ExternalUserID=pick["ext"].to_numpy(), customer_id=pick["customer_id"].to_numpy(),
                   FailReason=np.where(change == "transfer_fail", reason, None), order=-2)
    return frame.drop_duplicates(["ChangeType", "UserID", "ExternalUserID", "CreateTime"]).reset_index(drop=True)


def group_callbacks(events: pd.DataFrame | None, ext_of: pd.Series, go: int, rng: np.random.Generator) -> pd.DataFrame:
    """``change_external_chat`` updates with one member each, for the group events at or after go-live."""
    if events is None or events.empty:
        return _frame(0)
    g = events[unix_seconds(events["event_time"]) >= go]
    join = (g["event_type"] == "join").to_numpy()
    n = len(g)
    return _frame(n, CreateTime=unix_seconds(g["event_time"]), Event="change_external_chat", ChangeType="update",
                  ChatId=g["group_id"].to_numpy(), UpdateDetail=np.where(join, "add_member", "del_member"),
                  JoinScene=np.where(join, np.where(rng.random(n) < 0.5, 3, 0), -1),
                  QuitScene=np.where(join, -1, np.where(rng.random(n) < 0.1, 1, 0)),
                  ExternalUserID=g["customer_id"].map(ext_of).to_numpy(), customer_id=g["customer_id"].to_numpy(),
                  order=-3)


def callback_json(f: pd.DataFrame) -> np.ndarray:
    """One JSON object per row, keys :data:`ENVELOPE` then :data:`CALLBACK_FIELDS` of its kind."""
    kind = np.where(f["ChangeType"] == "update", f["UpdateDetail"].fillna(""), f["ChangeType"]).astype(object)
    values = {
        "ToUserName": quoted(np.full(len(f), CORP_ID, dtype=object)), "FromUserName": '"sys"',
        "CreateTime": texts(f["CreateTime"]), "MsgType": '"event"', "Event": quoted(f["Event"]),
        "ChangeType": quoted(f["ChangeType"]), "UserID": quoted(f["UserID"]),
        "ExternalUserID": quoted(f["ExternalUserID"]), "State": quoted(f["State"]),
        "WelcomeCode": quoted(f["WelcomeCode"]), "FailReason": quoted(f["FailReason"]), "ChatId": quoted(f["ChatId"]),
        "UpdateDetail": quoted(f["UpdateDetail"]), "JoinScene": texts(f["JoinScene"]),
        "QuitScene": texts(f["QuitScene"]), "MemChangeCnt": "1",
        "MemChangeList": '{"Item":[' + quoted(f["ExternalUserID"]) + "]}",
    }
    lines = np.empty(len(f), dtype=object)
    for name, fields in CALLBACK_FIELDS.items():
        mask = kind == name
        if not mask.any():
            continue
        text = np.full(int(mask.sum()), "{", dtype=object)
        for i, key in enumerate((*ENVELOPE, *fields)):
            v = values[key]
            text = text + ("," if i else "") + f'"{key}":' + (v[mask] if isinstance(v, np.ndarray) else v)
        lines[mask] = text
    transfer = f["Source"].notna().to_numpy()
    lines[transfer] = lines[transfer] + ',"Source":' + quoted(f["Source"][transfer])
    return lines + "}"


def arrive(logical: pd.DataFrame, rates: RawRates,
           rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame, dict[str, int]]:
    """Delay and re-send lines; return the lines in arrival order, the arrival frame and the injected counts."""
    f = logical.sort_values(["CreateTime", "order"], kind="mergesort").reset_index(drop=True)
    n = len(f)
    delayed = rng.random(n) < rates.delayed
    delay = rng.integers(1, int(rates.max_delay_s) + 1, n)
    arrival_t = f["CreateTime"].to_numpy(np.int64) + np.where(delayed, delay, 0)
    order = np.lexsort((np.arange(n), arrival_t))
    f = f.iloc[order].reset_index(drop=True)
    f["line"] = callback_json(f)
    position = np.arange(n, dtype=float)
    resend = (rng.random(n) < rates.duplicate) & ~f["ChangeType"].isin(IGNORED_KINDS).to_numpy()
    copies = np.where(resend, rng.integers(1, 3, n), 0)
    src = np.repeat(np.arange(n), copies)
    first_gap = rng.integers(1, 6, len(src))
    second = np.r_[False, src[1:] == src[:-1]]
    # a second copy arrives 1–5 lines after the first copy
    gap = first_gap + np.where(second, np.r_[0, first_gap[:-1]], 0)
    copy_pos = position[src] + gap - 0.5 + np.where(second, 0.25, 0)
    allpos = np.r_[position, copy_pos]
    rows = np.r_[np.arange(n), src]
    final = rows[np.argsort(allpos, kind="mergesort")]
    arrival = f.iloc[final].reset_index(drop=True)
    injected = {"duplicates": int(len(src)), "duplicated_lines": int(resend.sum()), "delayed": int(delayed.sum())}
    return arrival["line"].to_numpy(dtype=object), arrival, injected


def snapshot_entries(ce: pd.DataFrame, unknown: pd.DataFrame, snaps: np.ndarray,
                     left: pd.Series) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The relationships the snapshots list: open at ``fetched_at`` by the contract intervals, member not left.

    Returns the intervals (sorted by member and external_userid: the page order) and, per
    listing, the snapshot index and the interval's row.
    """
    o = ce[ce["opening"].to_numpy() & ce["ext"].notna().to_numpy()]
    unk = pd.DataFrame({"customer_id": unknown["ExternalUserID"], "staff_id": unknown["UserID"],
                        "ext": unknown["ExternalUserID"], "t": unknown["CreateTime"], "end_t": np.inf,
                        "left_t": unknown["UserID"].map(left).fillna(np.inf).to_numpy(float), "state": "",
                        "add_way": 1, "oper_userid": unknown["ExternalUserID"]})
    cols = ["customer_id", "staff_id", "ext", "t", "end_t", "left_t", "state", "add_way", "oper_userid"]
    iv = pd.concat([o[cols], unk[cols]], ignore_index=True)
    iv = iv.sort_values(["staff_id", "ext", "t"], kind="mergesort").reset_index(drop=True)
    lo = np.searchsorted(snaps, iv["t"].to_numpy(float), side="left")
    hi = np.searchsorted(snaps, np.minimum(iv["end_t"].to_numpy(float), iv["left_t"].to_numpy(float)), side="left")
    n = np.maximum(hi - lo, 0)
    row = np.repeat(np.arange(len(iv)), n)
    snap = np.repeat(lo, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    intervals = pd.DataFrame({"customer_id": iv["customer_id"], "staff_id": iv["staff_id"],
                              "external_userid": iv["ext"], "userid": iv["staff_id"],
                              "createtime": iv["t"].astype(np.int64), "state": iv["state"], "add_way": iv["add_way"],
                              "oper_userid": iv["oper_userid"]})
    return intervals, snap, row
