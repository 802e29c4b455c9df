"""OpenSCRM rows → contract tables: the mapping rules of ``workbench ingest openscrm``.

Pure pandas (vectorised, no database): :mod:`workbench.ingest.openscrm` reads the rows and
writes what these functions return. The rules and what OpenSCRM cannot give back are in
``docs/ingest-openscrm.md``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..contract import ID_TYPES

_SH = "Asia/Shanghai"
#: Department names that mark headquarters (their members are ``hq``; they are no store).
HQ_NAMES = ("HQ", "总部", "Headquarters", "总公司")


def blank_to_null(s: pd.Series) -> pd.Series:
    """Strings with surrounding spaces trimmed; empty strings as NULL (OpenSCRM writes '' for none)."""
    s = s.astype("object").where(s.notna(), None)
    text = s.astype(str).str.strip()
    return text.where(s.notna() & (text != ""), None)


def from_unix(s: pd.Series) -> pd.Series:
    """WeCom Unix seconds → naive Asia/Shanghai times (0 and NULL → NaT)."""
    secs = pd.to_numeric(s, errors="coerce")
    secs = secs.where(secs > 0)
    return (pd.to_datetime(secs, unit="s", utc=True).dt.tz_convert(_SH).dt.tz_localize(None)
            .astype("datetime64[us]"))


# ------------------------------------------------------------------------------------- identities

def resolver(components: pd.DataFrame | None, customers: pd.DataFrame | None) -> pd.DataFrame:
    """(id_type, id_value) → customer_id, from resolved identity links and the brand's customers.

    ``components`` is :func:`workbench.identity.resolve_identities` output. When the brand's
    ``customers`` table carries identifier columns (``member_id``, ``erp_id`` … as named in
    :data:`workbench.contract.ID_TYPES`), a component takes the ``customer_id`` of the brand
    customer found in it (the smallest when several are); otherwise the resolved id.
    """
    if components is None or components.empty:
        return pd.DataFrame({"id_type": pd.Series(dtype=object), "id_value": pd.Series(dtype=object),
                             "customer_id": pd.Series(dtype=object)})
    comp = components[["id_type", "id_value", "customer_id"]].rename(columns={"customer_id": "component"})
    label = pd.Series(dtype=object)
    if customers is not None:
        found = []
        for col in (c for c in ID_TYPES if c in customers.columns):  # a loop over identifier columns
            ids = customers[["customer_id", col]].dropna().rename(columns={col: "id_value"})
            found.append(comp[comp["id_type"] == col].merge(ids, on="id_value"))
        if found:
            hits = pd.concat(found).sort_values("customer_id").drop_duplicates("component")
            label = hits.set_index("component")["customer_id"]
    comp["customer_id"] = comp["component"].map(label).fillna(comp["component"])
    return comp[["id_type", "id_value", "customer_id"]]


def resolve(ext: pd.Series, unionid: pd.Series | None, ids: pd.DataFrame) -> pd.Series:
    """customer_id of each external_userid: through the links, else its unionid, else itself."""
    by_type = {t: g.drop_duplicates("id_value").set_index("id_value")["customer_id"] for t, g in ids.groupby("id_type")}
    out = ext.map(by_type["external_userid"]) if "external_userid" in by_type else pd.Series(None, index=ext.index)
    if unionid is not None and "unionid" in by_type:
        out = out.fillna(blank_to_null(unionid).map(by_type["unionid"]))
    return out.astype(object).where(out.notna(), ext)


# ------------------------------------------------------------------------------------- relationships

def contact_events(live: pd.DataFrame, hist: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], list[dict]]:
    """Contact events (by external ids) from customer_staff and its history rows.

    Returns the events (``event_time, ext_customer_id, staff_id, event_type, channel_code, add_way,
    initiator``), the counts ``second_closes``, ``repeated_opens``, ``orphan_deletes_dropped`` and
    the rejected history rows (no delete time). Rules (docs/ingest-openscrm.md):

    - every history row is a close at ``customer_delete_staff_at`` (``delete_by_customer``) or
      ``staff_delete_customer_at`` (``delete_by_staff``), the earlier when both are set;
    - the pair's last spell starts at the live row's ``createtime`` (exact, with its add_way, state
      and oper_user_id): open when ``deleted_at`` is NULL, else closed by the pair's last history row;
    - an earlier spell starts at its history row's ``createtime`` when the customer deleted (a copy of
      the add time); when the member deleted, OpenSCRM stored the pair row's insert time, which is the
      spell's start (late by the processing delay) only for the pair's first spell. For a later spell
      it predates the previous close: the start is lost and no add is written (its close is then a
      second close).
    """
    pair = ["ext_customer_id", "ext_staff_id"]
    cds, sdc = hist["customer_delete_staff_at"], hist["staff_delete_customer_at"]
    by_customer = cds.notna() & (sdc.isna() | (cds <= sdc))
    h = hist.assign(end=cds.where(by_customer, sdc), by_customer=by_customer)
    bad = h["end"].isna()
    rejected = [{"file": "customer_staff_relation_history", "line": str(i),  # at most 50
                 "reason": "no customer_delete_staff_at nor staff_delete_customer_at"}
                for i in h.loc[bad, "id"].head(50)]
    h = h[~bad].sort_values(pair + ["end", "id"], kind="stable").reset_index(drop=True)
    grp = h.groupby(pair, sort=False)
    h["k"] = grp.cumcount()
    h["n"] = grp["k"].transform("size")
    h["prev_end"] = grp["end"].shift()
    lv = live.drop_duplicates(pair, keep="last")
    h = h.merge(lv[pair + ["createtime", "deleted_at", "add_way", "oper_user_id", "state"]].rename(
        columns={"createtime": "live_start"}), on=pair, how="left")
    last_of_closed = (h["k"] == h["n"] - 1) & h["deleted_at"].notna() & h["live_start"].notna()
    start = h["createtime"].where(h["by_customer"], h["createtime"].clip(upper=h["end"]))
    lost = ~h["by_customer"] & h["prev_end"].notna() & ~(h["createtime"] > h["prev_end"])
    start = start.where(~lost)
    start = h["live_start"].where(last_of_closed, start)
    keep_attr = last_of_closed
    hist_adds = pd.DataFrame({
        "event_time": start, "ext_customer_id": h["ext_customer_id"], "staff_id": h["ext_staff_id"],
        "event_type": "add", "state": h["state"].where(keep_attr), "add_way": h["add_way"].where(keep_attr),
        "oper_user_id": h["oper_user_id"].where(keep_attr)})
    closes = pd.DataFrame({
        "event_time": h["end"], "ext_customer_id": h["ext_customer_id"], "staff_id": h["ext_staff_id"],
        "event_type": np.where(h["by_customer"], "delete_by_customer", "delete_by_staff"),
        "state": None, "add_way": np.nan, "oper_user_id": None})
    is_open = lv["deleted_at"].isna()
    live_adds = pd.DataFrame({
        "event_time": lv.loc[is_open, "createtime"], "ext_customer_id": lv.loc[is_open, "ext_customer_id"],
        "staff_id": lv.loc[is_open, "ext_staff_id"], "event_type": "add", "state": lv.loc[is_open, "state"],
        "add_way": lv.loc[is_open, "add_way"], "oper_user_id": lv.loc[is_open, "oper_user_id"]})
    ev = pd.concat([hist_adds, closes, live_adds], ignore_index=True)
    ev = ev[ev["event_time"].notna()].reset_index(drop=True)  # a lost start, or no createtime: no add
    ev, transfers = _transfers(ev)
    out, counts, rejected = _sequence(ev, rejected)
    counts["transfers"] = transfers
    return out, counts, rejected


#: A member's delete followed this soon by an add_way 202 (管理员/负责人分配) add of the same
#: customer to another member is a transfer (在职/离职继承 completes 24 h after it is started).
TRANSFER_WINDOW = pd.Timedelta(hours=48)


def _transfers(ev: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Mark as ``transfer`` the member deletes that a takeover add (add_way 202) follows.

    OpenSCRM stores a transfer's ``del_external_contact`` (Source=DELETE_BY_TRANSFER) as a member's
    delete. The takeover member's add, when they were not a friend already, carries add_way 202.
    """
    way = pd.to_numeric(ev["add_way"], errors="coerce")
    take = ev.loc[(ev["event_type"] == "add") & (way == 202), ["ext_customer_id", "staff_id", "event_time"]]
    dels = ev.loc[ev["event_type"] == "delete_by_staff", ["ext_customer_id", "staff_id", "event_time"]]
    pairs = dels.reset_index().merge(take, on="ext_customer_id", suffixes=("", "_take"))
    gap = pairs["event_time_take"] - pairs["event_time"]
    hit = pairs.loc[(pairs["staff_id_take"] != pairs["staff_id"]) & (gap >= pd.Timedelta(0))
                    & (gap <= TRANSFER_WINDOW), "index"].unique()
    ev.loc[hit, "event_type"] = "transfer"
    return ev, int(len(hit))


def staff_left_closes(events: pd.DataFrame, staff: pd.DataFrame) -> pd.DataFrame:
    """Closes at ``staff.left_at`` (type ``staff_left``) of the relationships still open when their member left.

    A departure sends no callback, so OpenSCRM keeps those pair rows live. ``events`` are contract
    contact events (customer_id); only members with a ``left_at`` after the pair's last add count.
    """
    if "left_at" not in staff or staff["left_at"].isna().all():
        return events.iloc[0:0]
    last = events.sort_values(["event_time"], kind="stable").drop_duplicates(["customer_id", "staff_id"], keep="last")
    left = last["staff_id"].map(staff.drop_duplicates("staff_id").set_index("staff_id")["left_at"])
    cut = last[(last["event_type"] == "add") & left.notna() & (left > last["event_time"])]
    return cut.assign(event_time=left[cut.index].astype("datetime64[us]"), event_type="staff_left",
                      channel_code=None, add_way=None, initiator=None)


def _sequence(ev: pd.DataFrame, rejected: list[dict]) -> tuple[pd.DataFrame, dict[str, int], list[dict]]:
    """Order each pair's events, drop orphan closes and count second closes and repeated opens."""
    pair = ["ext_customer_id", "staff_id"]
    ev = ev.assign(kind=(ev["event_type"] != "add").astype(np.int8))
    ev = ev.sort_values(pair + ["event_time", "kind"], kind="stable").reset_index(drop=True)
    adds_so_far = (1 - ev["kind"]).groupby([ev[c] for c in pair]).cumsum()
    orphan = (ev["kind"] == 1) & (adds_so_far == 0)
    ev = ev[~orphan].reset_index(drop=True)
    prev = ev.groupby(pair, sort=False)["kind"].shift()
    counts = {"second_closes": int(((ev["kind"] == 1) & (prev == 1)).sum()),
              "repeated_opens": int(((ev["kind"] == 0) & (prev == 0)).sum()),
              "orphan_deletes_dropped": int(orphan.sum())}
    ext, staff, oper = ev["ext_customer_id"], ev["staff_id"], blank_to_null(ev["oper_user_id"])
    initiator = np.select([oper.isna(), oper == ext, oper == staff], [None, "customer", "staff"], "admin")
    add_way = pd.to_numeric(ev["add_way"], errors="coerce")
    out = pd.DataFrame({
        "event_time": ev["event_time"].astype("datetime64[us]"), "ext_customer_id": ext, "staff_id": staff,
        "event_type": ev["event_type"], "channel_code": blank_to_null(ev["state"]),
        "add_way": add_way.astype("Int64").astype(str).where(add_way.notna(), None),
        "initiator": pd.Series(initiator, index=ev.index, dtype=object).where(oper.notna(), None),
    })
    return out, counts, rejected


# ------------------------------------------------------------------------------------- dimensions

def departments(dept: pd.DataFrame, brand_stores: pd.DataFrame | None) -> pd.DataFrame:
    """Department ext id → ``store_id`` (NULL when not a store) and ``store_name``/``region``.

    A store is a leaf department outside any department named as headquarters (:data:`HQ_NAMES`)
    and other than a root. Its ``store_id`` is the brand store of the same name when the brand's
    stores are given, else the department id; ``region`` is the parent's name unless that is a root.
    """
    d = dept.assign(ext_id=pd.to_numeric(dept["ext_id"]), ext_parent_id=pd.to_numeric(dept["ext_parent_id"]))
    ids = set(d["ext_id"])
    root = ~d["ext_parent_id"].isin(ids)
    parents = set(d["ext_parent_id"])
    name = d.set_index("ext_id")["name"]
    hq = d["name"].isin(HQ_NAMES)
    for _ in range(16):  # inherit the HQ mark down the tree: a loop over levels, not rows
        hq = hq | d["ext_parent_id"].isin(d.loc[hq, "ext_id"])
    store = ~d["ext_id"].isin(parents) & ~root & ~hq
    by_name = (brand_stores.drop_duplicates("store_name").set_index("store_name")["store_id"]
               if brand_stores is not None and len(brand_stores) else pd.Series(dtype=object))
    store_id = d["name"].map(by_name).fillna(d["ext_id"].astype("int64").astype(str))
    par = d["ext_parent_id"]
    region = par.map(name).where(~par.isin(d.loc[root, "ext_id"]))
    return pd.DataFrame({"ext_id": d["ext_id"], "store_id": store_id.where(store, None),
                         "store_name": d["name"], "region": region.where(store, None)})


def staff_table(staff: pd.DataFrame, depts: pd.DataFrame) -> pd.DataFrame:
    """Contract staff: ``staff_id`` = ext_id, store of the main (first) department, guide/hq by it."""
    main = pd.to_numeric(staff["dept_ids"].astype(str).str.extract(r"\[\s*(-?\d+)")[0], errors="coerce")
    store = main.map(depts.set_index("ext_id")["store_id"])
    return pd.DataFrame({
        "staff_id": staff["ext_id"].astype(str).str.strip(), "store_id": store.where(store.notna(), None),
        "role": np.where(store.notna(), "guide", "hq"), "hired_at": pd.Series(pd.NaT, index=staff.index,
                                                                               dtype="datetime64[us]"),
        "left_at": pd.Series(pd.NaT, index=staff.index, dtype="datetime64[us]"),
        "staff_name": blank_to_null(staff["name"]),
        "scrm_status": pd.to_numeric(staff["status"], errors="coerce"),
    })


def stores_table(depts: pd.DataFrame) -> pd.DataFrame:
    """Contract stores from the store departments (no opening date in OpenSCRM)."""
    s = depts[depts["store_id"].notna()]
    return pd.DataFrame({"store_id": s["store_id"], "store_name": s["store_name"], "region": s["region"],
                         "opened_at": pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")})


def channels_table(ways: pd.DataFrame, used_codes: pd.Series) -> pd.DataFrame:
    """Contract channels from contact_way (state, name) plus codes used by adds but not listed there.

    OpenSCRM has no channel group: ``other`` unless the brand's channels say otherwise.
    """
    w = pd.DataFrame({"channel_code": blank_to_null(ways["state"]), "channel_name": blank_to_null(ways["name"]),
                      "deleted": ways["deleted_at"].notna()})
    w = w.dropna(subset=["channel_code"]).sort_values("deleted", kind="stable").drop_duplicates("channel_code")
    extra = pd.Series(sorted(set(used_codes.dropna()) - set(w["channel_code"])), dtype=object)
    codes = pd.concat([w["channel_code"], extra], ignore_index=True)
    names = pd.concat([w["channel_name"], pd.Series([None] * len(extra), dtype=object)], ignore_index=True)
    return pd.DataFrame({"channel_code": codes, "channel_group": "other", "channel_name": names,
                         "store_id": None, "cost": np.nan})


def merge_brand(brand: pd.DataFrame | None, scrm: pd.DataFrame, key: str) -> pd.DataFrame:
    """The brand's own rows win; SCRM rows whose key the brand lacks are appended."""
    if brand is None:
        return scrm.reset_index(drop=True)
    extra = scrm[~scrm[key].isin(brand[key])]
    return pd.concat([brand, extra[[c for c in extra.columns if c in brand.columns]]],
                     ignore_index=True) if len(extra) else brand.reset_index(drop=True)


def task_rows(msgs: pd.DataFrame) -> pd.DataFrame:
    """Contract tasks of the mass messages (``task_id`` = ext_msg_id, else ``mass_msg:<id>``)."""
    import json

    def title(text: Any) -> Any:
        try:
            return str(json.loads(text)["text"]["content"])[:30]
        except (TypeError, ValueError, KeyError):
            return None

    return pd.DataFrame({
        "task_id": mass_task_ids(msgs),
        "created_at": msgs["send_at"].fillna(msgs["created_at"]).astype("datetime64[us]"),
        "task_type": "mass_send", "title": [title(m) for m in msgs["msg"]],  # a loop over tasks
        "experiment_id": None, "variant": None,
    })


def mass_task_ids(msgs: pd.DataFrame) -> pd.Series:
    """WeCom msgid (``ext_msg_id``) when set, else ``mass_msg:<id>``."""
    return blank_to_null(msgs["ext_msg_id"]).fillna("mass_msg:" + msgs["id"].astype(str))
