"""A simulated brand as an OpenSCRM database would hold it: the rows OpenSCRM's own code writes.

:func:`openscrm_tables` turns the contract tables of a simulated brand into the rows of the
OpenSCRM tables that ``workbench ingest openscrm`` reads (``openscrm/api-server``, schema in
``workbench/ingest/openscrm_schema.sql``), following what OpenSCRM does with each callback:

- ``customer_staff``: one row per customer–member pair, holding the pair's **last** spell:
  ``createtime`` its add time (follow_user.createtime, exact), ``add_way``, ``oper_user_id`` and
  ``state`` of that add; ``deleted_at`` (soft delete) the processing time of its close when it
  ended; ``created_at`` the processing time of the pair's **first** add (a re-add upserts the row:
  it overwrites ``createtime`` and clears ``deleted_at`` but keeps ``created_at``).
- ``customer_staff_relation_history``: one row per ended spell. The close time is the processing
  time (``time.Now()``): the event time plus a delay of 1 to ``max_delay`` seconds.
  ``createtime`` is the spell's add time when the customer deleted the member
  (``CustomerDeleteStaff`` copies ``cs.Createtime``) but the pair row's ``created_at`` when the
  member deleted the customer (``StaffDeleteCustomer`` copies ``cs.CreatedAt``).
- ``group_chat_member``: current members only (a leave hard-deletes the row), ``join_time`` in
  Unix seconds, plus each group owner as an internal member (``type`` 1).
- ``contact_way``: one per channel code, ``state`` = channel_code, ``name`` = channel_name;
  ``staff`` with ``ext_id`` = staff_id, ``dept_ids`` its store's department and ``status`` 5 for
  members who left; ``department``: a root, ``HQ``, one per region and one per store (named as
  the store); ``mass_msg`` per mass-send task (``ext_msg_id`` = task_id), ``mass_msg_staff`` per
  ``mass_send`` touch (``is_sent`` 1).

External user ids come from ``identity_links`` (the ``external_userid`` of each customer);
customers who only joined groups get a generated one. :func:`write_openscrm_dump` writes the
rows as a ``.sql`` file of INSERT statements for the ``mariadb`` client.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..identity import resolve_identities

CORP_ID = "ww5e3c1a9d0b7f2468"
#: Department ext ids: the root, HQ, then regions from 10 and stores from 1000.
ROOT_DEPT, HQ_DEPT, REGION_DEPT0, STORE_DEPT0 = 1, 2, 10, 1000
_SH = "Asia/Shanghai"


def openscrm_tables(tables: dict[str, pd.DataFrame], seed: int = 0, max_delay: int = 30) -> dict[str, pd.DataFrame]:
    """OpenSCRM rows (table name → DataFrame) for a simulated brand's contract tables.

    Parameters
    ----------
    tables : dict of DataFrame
        Contract tables of a brand (:attr:`workbench.simulate.Brand.tables`): customers,
        identity_links, stores, staff, channels, contact_events, groups, group_events, tasks,
        touches.
    seed : int, default 0
        Seed of the processing delays.
    max_delay : int, default 30
        Largest processing delay in seconds (each close is stored 1 to ``max_delay`` s late).

    Returns
    -------
    dict of DataFrame
        ``customer``, ``customer_staff``, ``customer_staff_relation_history``, ``contact_way``,
        ``group_chat``, ``group_chat_member``, ``staff``, ``department``, ``mass_msg``,
        ``mass_msg_staff``; the columns of ``openscrm_schema.sql``.
    """
    rng = np.random.default_rng(seed)
    ext, union = _customer_ids(tables)
    staff = tables["staff"]
    hq = staff.loc[staff["role"] == "hq", "staff_id"]
    rel, hist = _relationships(tables["contact_events"], ext, rng, max_delay, str(hq.min()) if len(hq) else "admin")
    depts, store_dept = _departments(tables["stores"])
    out = {
        "customer": _customer(tables["customers"], rel, ext, union),
        "customer_staff": rel,
        "customer_staff_relation_history": hist,
        "contact_way": _contact_way(tables["channels"]),
        **_groups(tables, ext, union),
        "staff": _staff(tables["staff"], store_dept),
        "department": depts,
        **_mass(tables, ext),
    }
    for frame in out.values():
        if "ext_corp_id" in frame:
            frame["ext_corp_id"] = CORP_ID
    return out


def _customer_ids(tables: dict[str, pd.DataFrame]) -> tuple[pd.Series, pd.Series]:
    """customer_id → external_userid and → unionid, by resolving the identity links."""
    comp = resolve_identities(tables["identity_links"])
    cust = tables["customers"][["customer_id", "member_id"]]
    owner = comp[comp["id_type"] == "member_id"].merge(cust, left_on="id_value", right_on="member_id",
                                                       suffixes=("_c", ""))
    label = owner.set_index("customer_id_c")["customer_id"]  # resolved component id → brand customer id

    def first(kind: str) -> pd.Series:
        rows = comp[comp["id_type"] == kind].sort_values("id_value")
        rows = rows.assign(customer=rows["customer_id"].map(label)).dropna(subset=["customer"])
        return rows.drop_duplicates("customer").set_index("customer")["id_value"]

    return first("external_userid"), first("unionid")


def _ext_for(customers: pd.Series, ext: pd.Series) -> pd.Series:
    """External ids of ``customers``; one generated (``wmG_<customer_id>``) for customers without one."""
    known = customers.map(ext)
    made = "wmG_" + customers.astype(str)
    return known.fillna(made)


def _delay(rng: np.random.Generator, n: int, max_delay: int) -> pd.TimedeltaIndex:
    return pd.to_timedelta(rng.integers(1, max_delay + 1, n), unit="s")


def _relationships(events: pd.DataFrame, ext: pd.Series, rng: np.random.Generator, max_delay: int,
                   admin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """customer_staff (one row per pair: its last spell) and the history rows (one per ended spell).

    What OpenSCRM never hears of is left out: a second close (the member deleting a customer who had
    already deleted them finds the pair row soft-deleted, and ``StaffDeleteCustomer`` stops there) and a
    ``staff_left`` close (a departure sends no callback: the pair row stays live). A ``transfer`` arrives
    as ``del_external_contact`` and is stored as a member's delete (OpenSCRM ignores ``Source``).
    """
    pair = ["customer_id", "staff_id"]
    ev = events.assign(kind=(events["event_type"] != "add").astype(np.int8))
    ev = ev.sort_values(pair + ["event_time", "kind"], kind="stable").reset_index(drop=True)
    prev = ev.groupby(pair, sort=False)["kind"].shift()
    ev = ev[~((ev["kind"] == 1) & ((prev == 1) | (ev["event_type"] == "staff_left")))].reset_index(drop=True)
    ev["spell"] = (1 - ev["kind"]).groupby([ev["customer_id"], ev["staff_id"]]).cumsum() - 1
    adds = ev[ev["kind"] == 0].rename(columns={"event_time": "start"})
    closes = ev[ev["kind"] == 1][pair + ["spell", "event_time", "event_type"]].rename(
        columns={"event_time": "end", "event_type": "end_type"})
    attrs = [c for c in ("add_way", "initiator") if c in adds]
    sp = adds[pair + ["spell", "start", "channel_code", *attrs]].merge(closes, on=pair + ["spell"], how="left")
    sp["add_done"] = sp["start"] + _delay(rng, len(sp), max_delay)
    sp["end_done"] = sp["end"] + _delay(rng, len(sp), max_delay)
    sp["ext"] = _ext_for(sp["customer_id"], ext).to_numpy()
    sp["pair_created"] = sp.groupby(pair)["add_done"].transform("min")
    last = sp.sort_values("spell").drop_duplicates(pair, keep="last").sort_values(pair).reset_index(drop=True)
    has_state = last["channel_code"].notna()
    way = (pd.to_numeric(last["add_way"], errors="coerce") if "add_way" in last
           else pd.Series(np.where(has_state, 1, 2), index=last.index)).fillna(0).astype(np.int64)
    # who sent the request: the customer (their external id), the member, or an admin assigning it (202)
    initiator = last["initiator"] if "initiator" in last else pd.Series(
        np.where(has_state, "customer", "staff"), index=last.index)
    oper = np.select([initiator == "customer", initiator == "staff", initiator == "admin"],
                     [last["ext"], last["staff_id"], pd.Series(admin, index=last.index)], "")
    n = len(last)
    rel = pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64) + 7_000_000_000,
        "ext_corp_id": "", "ext_creator_id": last["staff_id"].to_numpy(),
        "ext_staff_id": last["staff_id"].to_numpy(), "ext_customer_id": last["ext"].to_numpy(),
        "remark": "", "description": "", "createtime": last["start"].to_numpy(), "remark_corp_name": "",
        "remark_mobiles": "[]", "add_way": way.to_numpy(), "oper_user_id": oper,
        "state": last["channel_code"].fillna("").to_numpy(), "is_notified": 2, "internal_tag_ids": "[]",
        "signature": None, "created_at": last["pair_created"].to_numpy(),
        "updated_at": last["end_done"].fillna(last["add_done"]).to_numpy(),
        "deleted_at": last["end_done"].to_numpy(),
    })
    ended = sp[sp["end"].notna()].sort_values(["end_done", "customer_id", "staff_id"]).reset_index(drop=True)
    by_customer = (ended["end_type"] == "delete_by_customer").to_numpy()
    hist = pd.DataFrame({
        "id": np.arange(1, len(ended) + 1, dtype=np.int64) + 8_000_000_000,
        "ext_corp_id": "", "ext_creator_id": ended["ext"].to_numpy(),
        "ext_staff_id": ended["staff_id"].to_numpy(), "ext_customer_id": ended["ext"].to_numpy(),
        # StaffDeleteCustomer stores the row's insert time, CustomerDeleteStaff the add time
        "createtime": np.where(by_customer, ended["start"], ended["pair_created"]).astype("datetime64[us]"),
        "customer_delete_staff_at": ended["end_done"].where(by_customer).to_numpy(),
        "staff_delete_customer_at": ended["end_done"].where(~by_customer).to_numpy(),
        "created_at": ended["end_done"].to_numpy(), "updated_at": ended["end_done"].to_numpy(),
        "deleted_at": pd.NaT,
    })
    return rel, hist


def _customer(customers: pd.DataFrame, rel: pd.DataFrame, ext: pd.Series, union: pd.Series) -> pd.DataFrame:
    """One customer row per external contact of any member."""
    first = rel.groupby("ext_customer_id", as_index=False)["created_at"].min()
    back = pd.Series(ext.index, index=ext.to_numpy())  # external_userid → customer_id
    cid = first["ext_customer_id"].map(back)
    gender = cid.map(customers.set_index("customer_id")["gender"]) if "gender" in customers else None
    n = len(first)
    return pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64) + 6_000_000_000, "ext_corp_id": "",
        "ext_creator_id": "", "ext_id": first["ext_customer_id"], "name": "", "position": "", "corp_name": "",
        "avatar": "", "type": 1,
        "gender": np.zeros(n, np.int64) if gender is None else gender.map({"M": 1, "F": 2}).fillna(0).astype(np.int64),
        "unionid": cid.map(union).fillna(""), "external_profile": None,
        "created_at": first["created_at"], "updated_at": first["created_at"], "deleted_at": pd.NaT,
    })


def _departments(stores: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The department tree (root, HQ, regions, stores) and store_id → department ext id."""
    regions = sorted(stores["region"].dropna().unique()) if "region" in stores else []
    region_id = {r: REGION_DEPT0 + i for i, r in enumerate(regions)}
    store_dept = pd.Series(STORE_DEPT0 + np.arange(len(stores)), index=stores["store_id"].to_numpy())
    parent = stores["region"].map(region_id).fillna(ROOT_DEPT) if "region" in stores else ROOT_DEPT
    depts = pd.DataFrame({
        "ext_id": [ROOT_DEPT, HQ_DEPT, *region_id.values(), *store_dept.to_numpy()],
        "name": ["Brand", "HQ", *regions, *stores["store_name"]],
        "ext_parent_id": [0, ROOT_DEPT, *[ROOT_DEPT] * len(regions), *np.asarray(parent, dtype=np.int64)],
    })
    n = len(depts)
    depts.insert(0, "id", np.arange(1, n + 1, dtype=np.int64))
    depts.insert(1, "ext_corp_id", "")
    depts["order"] = np.arange(n, dtype=np.int64)
    return depts, store_dept


def _staff(staff: pd.DataFrame, store_dept: pd.Series) -> pd.DataFrame:
    dept = staff["store_id"].map(store_dept).fillna(HQ_DEPT).astype(np.int64)
    left = staff["left_at"].notna() if "left_at" in staff else pd.Series(False, index=staff.index)
    name = staff["staff_name"] if "staff_name" in staff else pd.Series("", index=staff.index)
    return pd.DataFrame({
        "id": np.arange(1, len(staff) + 1, dtype=np.int64), "ext_corp_id": "", "ext_id": staff["staff_id"],
        "role_type": np.where(staff["store_id"].isna(), "admin", "staff"), "name": name.fillna(""),
        "status": np.where(left, 5, 1).astype(np.int64), "dept_ids": "[" + dept.astype(str) + "]",
        "created_at": staff["hired_at"] if "hired_at" in staff else pd.NaT,
    })


def _contact_way(channels: pd.DataFrame) -> pd.DataFrame:
    n = len(channels)
    return pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64) + 5_000_000_000, "ext_corp_id": "", "ext_creator_id": "",
        "name": channels["channel_name"].fillna(channels["channel_code"]),
        "config_id": channels["channel_code"].map(lambda c: hashlib.md5(str(c).encode()).hexdigest()),
        "group_id": 0, "qr_code": "", "remark": "", "skip_verify": 1, "state": channels["channel_code"],
        "add_customer_count": 0,
    })


def _epoch(times: pd.Series) -> np.ndarray:
    """Naive Asia/Shanghai times → Unix seconds (what WeCom's join_time is)."""
    return (pd.to_datetime(times).dt.tz_localize(_SH).dt.tz_convert("UTC").dt.tz_localize(None)
            - pd.Timestamp("1970-01-01")).dt.total_seconds().astype(np.int64).to_numpy()


def _groups(tables: dict[str, pd.DataFrame], ext: pd.Series, union: pd.Series) -> dict[str, pd.DataFrame]:
    """group_chat and its current members (customers whose last event in the group is a join)."""
    groups, ev = tables["groups"], tables["group_events"]
    ev = ev.assign(kind=(ev["event_type"] != "join").astype(np.int8))
    last = ev.sort_values(["event_time", "kind"], kind="stable").drop_duplicates(["customer_id", "group_id"],
                                                                                   keep="last")
    cur = last[last["kind"] == 0].sort_values(["group_id", "event_time", "customer_id"])
    members = pd.DataFrame({
        "ext_chat_id": cur["group_id"].to_numpy(), "userid": _ext_for(cur["customer_id"], ext).to_numpy(),
        "type": 2, "join_time": _epoch(cur["event_time"]), "join_scene": 3, "invitor": "",
        "unionid": cur["customer_id"].map(union).fillna("").to_numpy(),
    })
    owners = pd.DataFrame({
        "ext_chat_id": groups["group_id"].to_numpy(), "userid": groups["owner_staff_id"].to_numpy(), "type": 1,
        "join_time": _epoch(groups["created_at"]), "join_scene": 1, "invitor": "", "unionid": "",
    })
    members = pd.concat([owners, members], ignore_index=True)
    members.insert(0, "id", np.arange(1, len(members) + 1, dtype=np.int64) + 4_000_000_000)
    members.insert(1, "ext_corp_id", "")
    total = members.groupby("ext_chat_id").size()
    chat = pd.DataFrame({
        "id": np.arange(1, len(groups) + 1, dtype=np.int64) + 3_000_000_000, "ext_corp_id": "",
        "ext_creator_id": groups["owner_staff_id"], "ext_chat_id": groups["group_id"],
        "name": "Group " + groups["group_id"].astype(str), "owner": groups["owner_staff_id"], "owner_name": "",
        "create_time": groups["created_at"], "status": 2,
        "total": groups["group_id"].map(total).fillna(0).astype(np.int64),
    })
    return {"group_chat": chat, "group_chat_member": members}


def _mass(tables: dict[str, pd.DataFrame], ext: pd.Series) -> dict[str, pd.DataFrame]:
    """mass_msg per mass-send task and mass_msg_staff per mass_send touch (sent)."""
    touches = tables["touches"]
    sent = touches[touches["touch_type"] == "mass_send"].drop_duplicates(["task_id", "staff_id", "customer_id"])
    tasks = tables["tasks"]
    tasks = tasks[tasks["task_id"].isin(sent["task_id"])].reset_index(drop=True)
    msg_id = pd.Series(np.arange(1, len(tasks) + 1, dtype=np.int64) + 2_000_000_000, index=tasks["task_id"].to_numpy())
    staff_lists = sent.groupby("task_id")["staff_id"].unique()
    msg = pd.DataFrame({
        "id": msg_id.to_numpy(), "ext_corp_id": "", "ext_creator_id": "", "send_type": 1,
        "ext_staff_ids": [json.dumps(sorted(staff_lists.get(t, []))) for t in tasks["task_id"]],  # per task
        "msg": [json.dumps({"text": {"content": str(t)}}, ensure_ascii=False) for t in tasks["title"]],
        "ext_msg_id": tasks["task_id"], "mission_status": 3, "send_at": tasks["created_at"],
        "created_at": tasks["created_at"], "updated_at": tasks["created_at"], "deleted_at": pd.NaT,
    })
    created = sent["task_id"].map(tasks.set_index("task_id")["created_at"])
    rows = pd.DataFrame({
        "id": np.arange(1, len(sent) + 1, dtype=np.int64) + 1_000_000_000, "ext_corp_id": "",
        "ext_creator_id": "", "mass_msg_id": sent["task_id"].map(msg_id).to_numpy(),
        "ext_staff_id": sent["staff_id"].to_numpy(), "ext_customer_id": _ext_for(sent["customer_id"], ext).to_numpy(),
        "ext_chat_id": "", "is_sent": 1, "is_delivered": 1, "failed_reason": 0,
        "created_at": created.to_numpy(), "updated_at": created.to_numpy(), "deleted_at": pd.NaT,
    })
    return {"mass_msg": msg, "mass_msg_staff": rows}


# ---------------------------------------------------------------------------------------------- the dump

def _sql_values(col: pd.Series) -> pd.Series:
    """MySQL literals of one column, vectorised: NULL, numbers, 'text' with MySQL escapes, 'datetime'."""
    missing = col.isna()
    if pd.api.types.is_datetime64_any_dtype(col):
        text = "'" + col.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:23] + "'"
    elif pd.api.types.is_bool_dtype(col):
        text = col.astype(np.int64).astype(str)
    elif pd.api.types.is_integer_dtype(col):
        text = col.astype(str)
    elif pd.api.types.is_float_dtype(col):
        text = col.map(repr)
    else:
        s = col.astype(str)
        for a, b in (("\\", "\\\\"), ("'", "\\'"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\x1a", "\\Z")):
            s = s.str.replace(a, b, regex=False)
        text = "'" + s + "'"
    return text.where(~missing, "NULL")


def write_openscrm_dump(tables: dict[str, pd.DataFrame], path: str | Path, batch: int = 500) -> Path:
    r"""Write OpenSCRM rows as a ``.sql`` file of multi-row INSERTs for the ``mariadb`` client.

    Parameters
    ----------
    tables : dict of DataFrame
        OpenSCRM table name → rows (:func:`openscrm_tables`); columns must exist in the schema.
    path : path
        The file to write (UTF-8).
    batch : int, default 500
        Rows per INSERT statement.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> out = Path(tempfile.mkdtemp()) / "dump.sql"
    >>> _ = write_openscrm_dump({"staff": pd.DataFrame({"id": [1], "ext_id": ["E0001"], "name": ["O'Brien"]})}, out)
    >>> print(out.read_text().splitlines()[-1])
    INSERT INTO `staff` (`id`, `ext_id`, `name`) VALUES (1, 'E0001', 'O\'Brien');
    """
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("SET NAMES utf8mb4;\nSET time_zone = '+08:00';\n")
        for name, frame in tables.items():  # a loop over tables; rows are joined vectorised
            if frame.empty:
                continue
            cols = ", ".join(f"`{c}`" for c in frame.columns)
            vals = [_sql_values(frame[c]).reset_index(drop=True) for c in frame.columns]
            rows = "(" + vals[0].str.cat(vals[1:], sep=", ") + ")" if len(vals) > 1 else "(" + vals[0] + ")"
            for lo in range(0, len(rows), batch):
                fh.write(f"INSERT INTO `{name}` ({cols}) VALUES {', '.join(rows.iloc[lo:lo + batch])};\n")
    return path
