"""What a correct ingest must report on a raw export (:mod:`workbench.simulate.raw`), and the customers' WeCom ids.

The counts apply the definitions of :data:`workbench.ingest.report.COUNTS` to the files as
written; the rules for the ingest's view of each pair are in the :mod:`workbench.simulate.raw`
docstring.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .draws import BASE64URL_ALPHABET, tokens

#: Callback kinds that make no contract row.
IGNORED_KINDS = ("edit_external_contact", "transfer_fail")
_MAX_HOPS = 12


def external_ids(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> tuple[pd.Series, pd.DataFrame]:
    """Each customer's external_userid, following ``identity_links`` from ``customers.member_id``.

    Returns the map customer_id → external_userid and the links added for customers that
    appear in WeCom data (contacts, groups, orders, mass sends) without one: a new
    external_userid linked to the customer's ``member_id``.
    """
    customers = tables["customers"]
    links = tables.get("identity_links")
    if "member_id" in customers and links is not None and len(links):
        known = pd.DataFrame({"id_type": "member_id", "id_value": customers["member_id"].to_numpy(),
                              "customer_id": customers["customer_id"].to_numpy()}).dropna()
        edges = pd.concat([
            links.rename(columns={"id_type": "a_type", "id_value": "a", "linked_type": "b_type", "linked_value": "b"}),
            links.rename(columns={"linked_type": "a_type", "linked_value": "a", "id_type": "b_type", "id_value": "b"}),
        ], ignore_index=True)[["a_type", "a", "b_type", "b"]]
        frontier = known
        for _ in range(_MAX_HOPS):  # one hop per round: rounds follow the longest chain, not the rows
            step = frontier.merge(edges, left_on=["id_type", "id_value"], right_on=["a_type", "a"])
            step = pd.DataFrame({"id_type": step["b_type"], "id_value": step["b"], "customer_id": step["customer_id"]})
            step = step.drop_duplicates(["id_type", "id_value"])
            step = step.merge(known[["id_type", "id_value"]], how="left", indicator=True)
            frontier = step.loc[step["_merge"] == "left_only", ["id_type", "id_value", "customer_id"]]
            if frontier.empty:
                break
            known = pd.concat([known, frontier], ignore_index=True)
        ext = known[known["id_type"] == "external_userid"].sort_values("id_value", kind="mergesort")
        ext_of = ext.drop_duplicates("customer_id").set_index("customer_id")["id_value"]
    else:
        ext_of = pd.Series(dtype=object)
    seen = [tables[name]["customer_id"] for name in ("contact_events", "group_events", "mass_sends")
            if name in tables and tables[name] is not None]
    orders = tables.get("orders")
    if orders is not None:
        seen.append(orders.loc[orders["order_channel"] == "wecom_transfer", "customer_id"])
    needed = pd.Series(pd.unique(pd.concat(seen, ignore_index=True).dropna()) if seen else [], dtype=object)
    missing = np.sort(needed[~needed.isin(ext_of.index)].to_numpy(dtype=object))
    new = tokens(rng, len(missing), 30, BASE64URL_ALPHABET, "wm")
    member = customers.set_index("customer_id")["member_id"] if "member_id" in customers else pd.Series(dtype=object)
    extra = pd.DataFrame({"id_type": "external_userid", "id_value": new, "linked_type": "member_id",
                          "linked_value": pd.Series(missing, dtype=object).map(member).to_numpy()})
    extra = extra[extra["linked_value"].notna()].reset_index(drop=True)
    ext_of = pd.concat([ext_of, pd.Series(new, index=missing, dtype=object)])
    return ext_of, extra


def dedupe_keys(frame: pd.DataFrame) -> pd.Series:
    """The duplicate key of COUNTS ``duplicates_dropped`` for each callback row.

    Event, ChangeType, UserID, ExternalUserID (contact events) or ChatId (group updates),
    CreateTime, and for group updates the changed members.
    """
    group = (frame["Event"] == "change_external_chat").to_numpy()
    who = np.where(group, frame["ChatId"].fillna("").astype(str), frame["ExternalUserID"].fillna("").astype(str))
    members = np.where(group, frame["ExternalUserID"].fillna("").astype(str), "")
    return (frame["Event"].astype(str) + "\x00" + frame["ChangeType"].astype(str) + "\x00"
            + frame["UserID"].fillna("").astype(str) + "\x00" + who + "\x00" + frame["CreateTime"].astype(str)
            + "\x00" + members)


def file_counts(arrival: pd.DataFrame) -> dict[str, int]:
    """``callback_lines``, ``duplicates_dropped``, ``callbacks_ignored`` and ``out_of_order`` of the file.

    ``out_of_order`` counts the kept lines (neither a retry nor an ignored kind) whose CreateTime is
    below the running maximum of all lines before them, as COUNTS defines it.
    """
    repeated = dedupe_keys(arrival).duplicated().to_numpy()
    ignored = arrival["ChangeType"].isin(IGNORED_KINDS).to_numpy() & ~repeated
    t = arrival["CreateTime"].to_numpy(np.int64)
    # the running maximum of every line before (a retry repeats an earlier CreateTime, so it changes nothing);
    # only kept lines (not retries, not ignored kinds) are counted
    running = np.maximum.accumulate(np.r_[np.iinfo(np.int64).min, t[:-1]]) if len(t) else t
    return {"callback_lines": len(arrival), "duplicates_dropped": int(repeated.sum()),
            "callbacks_ignored": int(ignored.sum()),
            "out_of_order": int(((t < running) & ~repeated & ~ignored).sum())}


def _events(cust: object, staff: object, t: object, is_add: object, etype: object, rank: object,
            source: str) -> pd.DataFrame:
    return pd.DataFrame({"cust": np.asarray(cust, dtype=object), "staff": np.asarray(staff, dtype=object),
                         "t": np.asarray(t, dtype=float), "is_add": np.asarray(is_add, dtype=bool),
                         "etype": np.asarray(etype, dtype=object), "rank": np.asarray(rank, dtype=float),
                         "source": source})


def ingest_view(ce: pd.DataFrame, extra: pd.DataFrame, unknown: pd.DataFrame, seeds: pd.DataFrame,
                snaps: np.ndarray, left: pd.Series) -> pd.DataFrame:
    """Every contact event a correct ingest puts in its sequence, sorted by pair, time and tie rank.

    ``source`` is ``callback``, ``seed``, ``repair`` or ``staff_left``.
    """
    go = snaps[0]
    t = ce["t"].to_numpy(np.int64)
    lost = ce["lost"].to_numpy()
    cb = ce[(t >= go) & (ce["event_type"] != "staff_left").to_numpy() & ~lost]
    parts = [_events(cb["customer_id"], cb["staff_id"], cb["t"], cb["is_add"], cb["event_type"], cb.index, "callback")]
    if len(extra):
        parts.append(_events(extra["customer_id"], extra["UserID"], extra["CreateTime"], True, "add",
                             extra["order"].to_numpy(float) - 0.5, "callback"))
    if len(unknown):
        parts.append(_events(unknown["ExternalUserID"], unknown["UserID"], unknown["CreateTime"], True, "add", -1,
                             "callback"))
    parts.append(_events(seeds["customer_id"], seeds["staff_id"], seeds["createtime"], True, "add", -2, "seed"))
    rep = ce[lost]
    nxt = snaps[np.searchsorted(snaps, rep["t"].to_numpy(np.int64), side="left")]
    prv = snaps[np.searchsorted(snaps, rep["t"].to_numpy(np.int64), side="left") - 1]
    mid = (np.maximum(rep["prev_t"].to_numpy(float), prv) + nxt) / 2
    parts.append(_events(rep["customer_id"], rep["staff_id"], np.where(rep["is_add"], rep["t"], mid), rep["is_add"],
                         np.where(rep["is_add"], "add", "delete_by_customer"), rep.index, "repair"))
    view = _sorted(pd.concat(parts, ignore_index=True))
    return _sorted(pd.concat([view, _staff_left(view, snaps, left)], ignore_index=True))


def _sorted(view: pd.DataFrame) -> pd.DataFrame:
    return view.sort_values(["cust", "staff", "t", "rank"], kind="mergesort").reset_index(drop=True)


def _staff_left(view: pd.DataFrame, snaps: np.ndarray, left: pd.Series) -> pd.DataFrame:
    """Closes at ``left_at`` of the pairs still open, in ``view``, at the first snapshot after the member left."""
    leavers = left[np.isfinite(left.to_numpy(float)) & (left.to_numpy(float) <= snaps[-1])]
    if leavers.empty:
        return view.iloc[:0]
    check = pd.Series(snaps[np.searchsorted(snaps, leavers.to_numpy(float), side="left")], index=leavers.index)
    v = view[view["staff"].isin(leavers.index)]
    v = v[v["t"].to_numpy() <= v["staff"].map(check).to_numpy(float)]
    last = v.groupby(["cust", "staff"], sort=False).tail(1)
    still_open = last[last["is_add"].to_numpy()]
    return _events(still_open["cust"], still_open["staff"], still_open["staff"].map(leavers), False, "staff_left",
                   np.inf, "staff_left")


def contact_counts(ce: pd.DataFrame, extra: pd.DataFrame, unknown: pd.DataFrame, seeds: pd.DataFrame,
                   snaps: np.ndarray, left: pd.Series) -> dict[str, int]:
    """The contact-event counts of COUNTS for the ingest's view (:func:`ingest_view`).

    ``seeds`` are the go-live snapshot's relationships (``customer_id``, ``staff_id``, ``createtime``).
    """
    view = ingest_view(ce, extra, unknown, seeds, snaps, left)
    pair = pd.factorize(view["cust"].astype(str) + "\x00" + view["staff"].astype(str))[0]
    is_add = view["is_add"].to_numpy()
    adds_before = pd.Series(is_add.astype(np.int64)).groupby(pair).cumsum().to_numpy() - is_add
    orphan = ~is_add & (adds_before == 0)
    kept = view[~orphan]
    kpair = pair[~orphan]
    k_add = is_add[~orphan]
    same_prev = np.r_[False, kpair[1:] == kpair[:-1]]
    prev_add = np.r_[False, k_add[:-1]] & same_prev
    prev_close = np.r_[False, ~k_add[:-1]] & same_prev
    lost = ce["lost"].to_numpy()
    return {
        "second_closes": int((~k_add & prev_close).sum()),
        "repeated_opens": int((k_add & prev_add).sum()),
        "transfers": int((kept["etype"] == "transfer").sum()),
        "staff_left_closes": int((kept["source"] == "staff_left").sum()),
        "go_live_seeds": len(seeds),
        "repaired_adds": int((lost & ce["is_add"].to_numpy()).sum()),
        "repaired_closes": int((lost & ~ce["is_add"].to_numpy()).sum()),
        "orphan_deletes_dropped": int(orphan.sum()),
    }


def group_counts(arrival: pd.DataFrame, seeds: pd.DataFrame, go: int) -> dict[str, int]:
    """``group_joins``, ``group_leaves``, ``group_orphan_leaves_dropped``: callback items and go-live seeds.

    ``seeds`` (``group_id``, ``external_userid``, ``join_time`` in Unix s) seed a join unless a
    callback of the pair came at or before go-live; a leave with no join of the pair at or before
    it (the member joined before logging began) is not written but counted as an orphan.
    """
    kept = arrival.loc[~dedupe_keys(arrival).duplicated().to_numpy()]
    g = kept[(kept["Event"] == "change_external_chat").to_numpy() & (kept["ChangeType"] == "update").to_numpy()]
    items = pd.DataFrame({"chat": g["ChatId"].to_numpy(dtype=object), "ext": g["ExternalUserID"].to_numpy(dtype=object),
                          "t": g["CreateTime"].to_numpy(np.int64),
                          "join": (g["UpdateDetail"] == "add_member").to_numpy()})
    early = items.loc[items["t"] <= go, ["chat", "ext"]].drop_duplicates()
    s = pd.DataFrame({"chat": seeds["group_id"].to_numpy(dtype=object),
                      "ext": seeds["external_userid"].to_numpy(dtype=object),
                      "t": seeds["join_time"].to_numpy(np.int64)})
    s = s.merge(early, how="left", on=["chat", "ext"], indicator=True)
    s = s.loc[s["_merge"] == "left_only", ["chat", "ext", "t"]]
    joins = pd.concat([items.loc[items["join"], ["chat", "ext", "t"]], s], ignore_index=True)
    first = joins.groupby(["chat", "ext"], as_index=False)["t"].min().rename(columns={"t": "first"})
    leaves = items[~items["join"].to_numpy()].merge(first, how="left", on=["chat", "ext"])
    written = leaves["first"].notna().to_numpy() & (leaves["first"].to_numpy(float) <= leaves["t"].to_numpy(float))
    return {"group_joins": len(joins), "group_leaves": int(written.sum()),
            "group_orphan_leaves_dropped": int((~written).sum())}
