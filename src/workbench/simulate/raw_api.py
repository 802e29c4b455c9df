"""The API responses of a raw export (:mod:`workbench.simulate.raw`): snapshots, behaviour, bills, mass sends.

Each function returns the lines of one JSON Lines file as an object array of strings, built by
vectorised string concatenation (values JSON-escaped once per distinct value), so a file of a
million entries is written in seconds. The formats are documented in :mod:`workbench.simulate.raw`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: Asia/Shanghai has had no daylight saving time since 1991: naive local time is UTC+8.
SHANGHAI_OFFSET_S = 8 * 3600
SNAPSHOT_API = "externalcontact/batch/get_by_user"
BILL_API = "externalpay/get_bill_list"
PAGE_SIZE = 100
SEND_PAGE_SIZE = 1000
MASS_SEND_STATUS_CODES = {"not_sent": 0, "sent": 1, "not_friend": 2, "already_received": 3}


def unix_seconds(values: object) -> np.ndarray:
    """Naive Asia/Shanghai times → Unix seconds (int64).

    Examples
    --------
    >>> unix_seconds(pd.Series(pd.to_datetime(["1970-01-01 08:00:01"]))).tolist()
    [1]
    """
    stamps = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[s]")
    return stamps.astype(np.int64) - SHANGHAI_OFFSET_S


def quoted(values: object) -> np.ndarray:
    r"""JSON string literals of ``values`` (None → ``""``), escaped once per distinct value.

    Examples
    --------
    >>> quoted(['a"b', None]).tolist()
    ['"a\\"b"', '""']
    """
    s = pd.Series(values, dtype=object).where(lambda v: v.notna(), "")
    lut = {u: json.dumps(str(u), ensure_ascii=False) for u in pd.unique(s)}
    return s.map(lut).to_numpy(dtype=object)


def numbers(values: object) -> np.ndarray:
    """JSON numbers: integral values without a decimal part, others in full precision.

    Examples
    --------
    >>> numbers([3.0, 60.25]).tolist()
    ['3', '60.25']
    """
    v = np.asarray(values, dtype=float)
    integral = np.isfinite(v) & (v == np.floor(v))
    as_int = np.where(integral, v, 0).astype(np.int64).astype(str).astype(object)
    return np.where(integral, as_int, v.astype(str).astype(object))


def texts(values: object) -> np.ndarray:
    """Integers as decimal text (object array, for concatenation)."""
    return np.asarray(values, dtype=np.int64).astype(str).astype(object)


def join_groups(parts: np.ndarray, groups: np.ndarray) -> pd.Series:
    """``","``-joined ``parts`` per group (groups in order of first appearance)."""
    return pd.Series(parts, dtype=object).groupby(groups, sort=False).agg(",".join)


def write_lines(path: Path, lines: np.ndarray | list[str]) -> int:
    """Write one string per line (UTF-8); return the number of lines."""
    lines = list(lines)
    with open(path, "w", encoding="utf-8") as fh:
        if lines:
            fh.write("\n".join(lines))
            fh.write("\n")
    return len(lines)


def _pages(n_per_group: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Page number within its group for each row of rows sorted by group, and whether it is the group's last page."""
    n_per_group = np.asarray(n_per_group, dtype=np.int64)
    starts = np.repeat(np.cumsum(n_per_group) - n_per_group, n_per_group)
    rank = np.arange(int(n_per_group.sum())) - starts
    page = rank // size
    last_page = np.repeat((np.maximum(n_per_group, 1) - 1) // size, n_per_group)
    return page, page == last_page


def snapshot_lines(intervals: pd.DataFrame, snap: np.ndarray, row: np.ndarray, fetched: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """``batch/get_by_user`` responses: pages of ≤ 100 entries per snapshot; an empty snapshot is one empty page.

    ``intervals`` (``external_userid``, ``userid``, ``createtime``, ``state``, ``add_way`` (int),
    ``oper_userid``) are the listed relationships in page order; snapshot ``snap[i]`` (an index
    into ``fetched``, Unix seconds) lists ``intervals`` row ``row[i]``. Each entry's JSON is built
    once per relationship and repeated, so daily snapshots cost little more than their bytes.
    """
    e = intervals
    body_iv = ('{"external_contact":{"external_userid":' + quoted(e["external_userid"]) + ',"type":1},'
               '"follow_info":{"userid":' + quoted(e["userid"]) + ',"createtime":' + texts(e["createtime"])
               + ',"state":' + quoted(e["state"]) + ',"add_way":' + texts(e["add_way"])
               + ',"oper_userid":' + quoted(e["oper_userid"]) + ',"remark":""}}')
    order = np.argsort(snap, kind="stable")
    snap = np.asarray(snap, dtype=np.int64)[order]
    body = body_iv[np.asarray(row)[order]]
    counts = np.bincount(snap, minlength=len(fetched))
    page, last = _pages(counts, PAGE_SIZE)
    key = snap * 1_000_000 + page
    joined = join_groups(body, key)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.array([], dtype=np.int64)
    pages = pd.DataFrame({"snap": snap[first], "list": joined.to_numpy(dtype=object), "last": last[first]})
    empty = np.flatnonzero(counts == 0)
    pages = pd.concat([pages, pd.DataFrame({"snap": empty, "list": "", "last": True})], ignore_index=True)
    pages = pages.sort_values("snap", kind="mergesort")
    cursor = np.where(pages["last"], '""', quoted(_cursor_tokens(rng, len(pages))))
    return ('{"fetched_at":' + texts(fetched[pages["snap"].to_numpy(np.int64)])
            + ',"api":"' + SNAPSHOT_API + '","response":{"errcode":0,"errmsg":"ok","external_contact_list":['
            + pages["list"].to_numpy(dtype=object) + '],"next_cursor":' + cursor + '}}')


def _cursor_tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    from .draws import BASE64URL_ALPHABET, tokens

    return tokens(rng, n, 24, BASE64URL_ALPHABET)


def behavior_lines(staff_daily: pd.DataFrame, window_days: int = 30) -> np.ndarray:
    """``get_user_behavior_data`` responses, one per member per ``window_days`` window.

    Days are the rows of ``staff_daily``; ``reply_percentage`` and ``avg_reply_time`` are left
    out of a day where they are null (WeCom omits them on days without chats).
    """
    if staff_daily is None or staff_daily.empty:
        return np.array([], dtype=object)
    d = staff_daily.sort_values(["staff_id", "stat_date"], kind="mergesort")
    day = pd.to_datetime(d["stat_date"]).dt.normalize()
    first = day.min()
    window = ((day - first).dt.days // window_days).to_numpy(np.int64)
    body = '{"stat_time":' + texts(unix_seconds(day))
    for col in ("chat_cnt", "message_cnt"):
        body = body + f',"{col}":' + numbers(d[col])
    for col in ("reply_percentage", "avg_reply_time"):
        if col in d:
            present = d[col].notna().to_numpy()
            body = body + np.where(present, f',"{col}":' + numbers(d[col].fillna(0)), "")
    for col in ("negative_feedback_cnt", "new_apply_cnt", "new_contact_cnt"):
        body = body + f',"{col}":' + numbers(d[col])
    body = body + "}"
    staff = d["staff_id"].to_numpy(dtype=object)
    key = pd.Series(staff).astype(str) + "\x00" + pd.Series(window).astype(str)
    joined = join_groups(body, key.to_numpy())
    head = pd.DataFrame({"staff": staff, "window": window}).groupby(key.to_numpy(), sort=False).first()
    start = first + pd.to_timedelta(head["window"].to_numpy() * window_days, unit="D")
    end = start + pd.Timedelta(days=window_days - 1)
    return ('{"userid":[' + quoted(head["staff"]) + '],"start_time":' + texts(unix_seconds(start))
            + ',"end_time":' + texts(unix_seconds(end)) + ',"response":{"errcode":0,"errmsg":"ok","behavior_data":['
            + joined.to_numpy(dtype=object) + ']}}')


def bill_lines(bills: pd.DataFrame) -> np.ndarray:
    """``externalpay/get_bill_list`` responses, pages of ≤ 100 bills in pay_time order.

    ``bills`` holds the ``wecom_transfer`` orders with an ``external_userid`` column added.
    """
    if bills.empty:
        return np.array([], dtype=object)
    b = bills.sort_values(["order_time", "order_id"], kind="mergesort")
    pay = unix_seconds(b["order_time"])
    fee = np.rint(b["amount"].to_numpy(float) * 100).astype(np.int64)
    refund = np.rint(b["refunded_amount"].fillna(0).to_numpy(float) * 100).astype(np.int64)
    payee = quoted(b["share_staff_id"])
    refunds = np.where(refund > 0, '{"out_refund_no":' + quoted("R" + b["order_id"].astype(str)) + ',"refund_userid":'
                       + payee + ',"refund_fee":' + texts(refund) + ',"refund_reqtime":' + texts(pay + 86_400)
                       + ',"refund_status":2}', "")
    body = ('{"transaction_id":' + quoted(b["order_id"]) + ',"trade_state":' + np.where(refund > 0, "3", "1")
            + ',"pay_time":' + texts(pay) + ',"external_userid":' + quoted(b["external_userid"])
            + ',"total_fee":' + texts(fee) + ',"payee_userid":' + payee + ',"payment_type":0,"total_refund_fee":'
            + texts(refund) + ',"refund_list":[' + refunds + ']}')
    page = np.arange(len(b)) // PAGE_SIZE
    joined = join_groups(body, page)
    lo = pd.Series(pay).groupby(page).min().to_numpy()
    hi = pd.Series(pay).groupby(page).max().to_numpy()
    last = np.arange(len(joined)) == len(joined) - 1
    cursor = np.where(last, '""', '"' + pd.Series(np.arange(len(joined)) + 1).astype(str).to_numpy(object) + '"')
    return ('{"api":"' + BILL_API + '","begin_time":' + texts(lo) + ',"end_time":' + texts(hi)
            + ',"response":{"errcode":0,"errmsg":"ok","next_cursor":' + cursor + ',"bill_list":['
            + joined.to_numpy(dtype=object) + ']}}')


def mass_send_lines(sends: pd.DataFrame) -> np.ndarray:
    """``get_groupmsg_send_result`` responses wrapped with their task: one per task, member and creation time.

    ``sends`` is the contract table ``mass_sends`` with an ``external_userid`` column added;
    ``send_time`` is left out of an entry where it is null (not sent).
    """
    if sends is None or sends.empty:
        return np.array([], dtype=object)
    unknown = sorted(set(sends["status"].dropna()) - set(MASS_SEND_STATUS_CODES))
    if unknown or sends["status"].isna().any():
        from ..errors import DataContractError

        bad = sends[~sends["status"].isin(list(MASS_SEND_STATUS_CODES))]
        raise DataContractError("mass_sends", "status", f"unknown status {unknown or [None]}; known: "
                                f"{', '.join(MASS_SEND_STATUS_CODES)}", bad.head(), len(bad))
    s = sends.sort_values(["task_id", "staff_id", "created_at", "customer_id"], kind="mergesort")
    created = unix_seconds(s["created_at"])
    sent = s["send_time"].notna().to_numpy() if "send_time" in s else np.zeros(len(s), bool)
    send_t = unix_seconds(s["send_time"].fillna(s["created_at"])) if "send_time" in s else created
    status = s["status"].map(MASS_SEND_STATUS_CODES).to_numpy(np.int64)
    user = quoted(s["staff_id"])
    body = ('{"external_userid":' + quoted(s["external_userid"]) + ',"userid":' + user + ',"status":'
            + texts(status) + np.where(sent, ',"send_time":' + texts(send_t), "") + "}")
    group = (s["task_id"].astype(str) + "\x00" + s["staff_id"].astype(str) + "\x00"
             + pd.Series(created, index=s.index).astype(str)).to_numpy()
    codes = pd.factorize(group)[0]
    n_per = np.bincount(codes)
    page, last = _pages(n_per, SEND_PAGE_SIZE)
    key = codes.astype(np.int64) * 1_000_000 + page
    joined = join_groups(body, key)
    first = pd.Series(np.arange(len(key))).groupby(key, sort=False).first().to_numpy()
    cursor = np.where(last[first], '""', '"' + texts(page[first] + 1) + '"')
    return ('{"msgid":' + quoted(s["task_id"].to_numpy()[first]) + ',"create_time":' + texts(created[first])
            + ',"userid":' + user[first] + ',"response":{"errcode":0,"errmsg":"ok","next_cursor":' + cursor
            + ',"send_list":[' + joined.to_numpy(dtype=object) + ']}}')


#: The brand's own tables copied in contract form (orders without the wecom_transfer ones).
BRAND_TABLES = ("customers", "identity_links", "stores", "staff", "channels", "groups", "scans", "touches", "tasks",
                "coupons", "experiments", "assignments", "orders")


def write_brand_tables(tables: dict[str, pd.DataFrame], folder: Path, extra_links: pd.DataFrame) -> dict[str, int]:
    """Write ``folder/<table>.parquet`` for :data:`BRAND_TABLES` present; return rows written per table."""
    from .writer import write_parquet

    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in BRAND_TABLES:
        if name not in tables:
            continue
        frame = tables[name]
        if name == "identity_links" and len(extra_links):
            frame = pd.concat([frame, extra_links[frame.columns]], ignore_index=True)
        if name == "orders":
            frame = frame[frame["order_channel"] != "wecom_transfer"].reset_index(drop=True)
        write_parquet(frame, folder / f"{name}.parquet")
        rows[name] = len(frame)
    return rows


GROUP_API = "groupchat/get"


def group_members_at(events: pd.DataFrame | None, at: pd.Timestamp) -> pd.DataFrame:
    """Customers in each group at ``at`` by the contract intervals: ``group_id``, ``customer_id``, ``join_time``.

    A join while a member and a leave while not one are ignored, as for contact events.
    """
    if events is None or events.empty:
        return pd.DataFrame({"group_id": pd.Series(dtype=object), "customer_id": pd.Series(dtype=object),
                             "join_time": pd.Series(dtype="datetime64[ns]")})
    g = events.reset_index(drop=True).assign(seq=lambda f: np.arange(len(f)))
    g = g.sort_values(["customer_id", "group_id", "event_time", "seq"], kind="mergesort").reset_index(drop=True)
    pair = pd.factorize(g["customer_id"].astype(str) + "\x00" + g["group_id"].astype(str))[0]
    join = (g["event_type"] == "join").to_numpy()
    prev_join = np.r_[False, join[:-1]] & np.r_[False, pair[1:] == pair[:-1]]
    leave_t = pd.Series(np.where(join, pd.NaT, g["event_time"]), dtype="datetime64[ns]")
    end = leave_t.groupby(pair).bfill()
    t = pd.to_datetime(g["event_time"])
    member = join & ~prev_join & (t <= at).to_numpy() & (end.isna() | (end > at)).to_numpy()
    return pd.DataFrame({"group_id": g["group_id"][member].to_numpy(),
                         "customer_id": g["customer_id"][member].to_numpy(), "join_time": t[member].to_numpy()})


def listed_groups(groups: pd.DataFrame | None, fetched: int) -> pd.DataFrame:
    """The groups a ``groupchat/get`` at ``fetched`` (Unix s) returns: created by then (or of unknown creation)."""
    if groups is None or groups.empty:
        return pd.DataFrame({"group_id": pd.Series(dtype=object), "owner_staff_id": pd.Series(dtype=object),
                             "create_s": pd.Series(dtype=np.int64)})
    created = pd.to_datetime(groups["created_at"]) if "created_at" in groups else pd.Series(pd.NaT, index=groups.index)
    created_s = np.where(created.notna(), unix_seconds(created.fillna(pd.Timestamp(0))), 0)
    keep = created.isna().to_numpy() | (created_s <= fetched)
    owner = groups["owner_staff_id"] if "owner_staff_id" in groups else pd.Series(None, index=groups.index)
    return pd.DataFrame({"group_id": groups["group_id"].to_numpy(dtype=object)[keep],
                         "owner_staff_id": owner.to_numpy(dtype=object)[keep],
                         "create_s": created_s[keep]}).sort_values("group_id", kind="mergesort")


def group_snapshot_lines(groups: pd.DataFrame | None, members: pd.DataFrame, fetched: int,
                         rng: np.random.Generator) -> np.ndarray:
    """``groupchat/get`` responses at ``fetched`` (Unix s), one per group created by then.

    ``members`` has ``group_id``, ``external_userid`` and ``join_time`` (Unix s); the owner is
    listed first as an internal member (``type`` 1), customers as ``type`` 2 with ``join_scene``
    1 (invited), 2 (invitation link) or 3 (QR code).
    """
    gr = listed_groups(groups, fetched)
    if gr.empty:
        return np.array([], dtype=object)
    m = members[members["group_id"].isin(gr["group_id"])]
    m = m.sort_values(["group_id", "join_time", "external_userid"], kind="mergesort")
    scene = rng.choice(np.array(["1", "2", "3"], dtype=object), len(m), p=[0.5, 0.2, 0.3])
    body = ('{"userid":' + quoted(m["external_userid"]) + ',"type":2,"join_time":' + texts(m["join_time"])
            + ',"join_scene":' + scene + ',"group_nickname":"","name":""}')
    listed = join_groups(body, m["group_id"].to_numpy()) if len(m) else pd.Series(dtype=object)
    owner = gr["owner_staff_id"]
    owner_entry = np.where(owner.notna(), '{"userid":' + quoted(owner) + ',"type":1,"join_time":'
                           + texts(gr["create_s"]) + ',"join_scene":1,"group_nickname":"","name":""}', "")
    customers = gr["group_id"].map(listed).fillna("").to_numpy(dtype=object)
    sep = np.where((owner_entry != "") & (customers != ""), ",", "")
    return ('{"fetched_at":' + str(int(fetched)) + ',"api":"' + GROUP_API + '","response":{"errcode":0,"errmsg":"ok",'
            '"group_chat":{"chat_id":' + quoted(gr["group_id"]) + ',"name":"","owner":' + quoted(owner)
            + ',"create_time":' + texts(gr["create_s"]) + ',"notice":"","admin_list":[],"member_list":['
            + owner_entry + sep + customers + ']}}}')
