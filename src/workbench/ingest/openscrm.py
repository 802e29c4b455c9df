"""``workbench ingest openscrm``: an OpenSCRM database (MySQL/MariaDB) → contract tables + report.

OpenSCRM (``openscrm/api-server``) keeps one ``customer_staff`` row per customer–member pair
(soft-deleted on a delete, overwritten on a re-add) and one ``customer_staff_relation_history``
row per delete. :func:`ingest_openscrm` reads the columns it needs from those and from
``customer``, ``staff``, ``department``, ``contact_way``, ``group_chat``, ``group_chat_member``,
``mass_msg`` and ``mass_msg_staff``, maps them to the contract (rules in
:mod:`workbench.ingest.openscrm_map` and ``docs/ingest-openscrm.md``), copies the brand's own
contract tables through, and writes Parquet plus an :class:`~workbench.ingest.IngestReport`.

The password of the database URL never appears in the report, in log records or in error
messages: they name ``user@host:port/database`` only.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError, SourceUnavailableError
from . import openscrm_map as m
from .report import IngestReport

log = logging.getLogger(__name__)

#: The columns read from each OpenSCRM table (only these: SCRM tables hold millions of rows).
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer_staff": ("ext_staff_id", "ext_customer_id", "createtime", "add_way", "oper_user_id", "state",
                       "deleted_at"),
    "customer_staff_relation_history": ("id", "ext_staff_id", "ext_customer_id", "createtime",
                                        "customer_delete_staff_at", "staff_delete_customer_at"),
    "customer": ("ext_id", "type", "gender", "unionid"),
    "staff": ("ext_id", "name", "dept_ids", "status"),
    "department": ("ext_id", "name", "ext_parent_id"),
    "contact_way": ("name", "state", "deleted_at"),
    "group_chat": ("ext_chat_id", "owner", "create_time", "status"),
    "group_chat_member": ("ext_chat_id", "userid", "type", "join_time", "unionid"),
    "mass_msg": ("id", "ext_msg_id", "msg", "send_at", "created_at"),
    "mass_msg_staff": ("mass_msg_id", "ext_staff_id", "ext_customer_id", "is_sent", "created_at"),
}
#: Tables of the brand's own folder that this ingest writes itself from the SCRM.
_FROM_SCRM_ONLY = ("contact_events", "group_events", "mass_sends")
#: Tables the SCRM gives and the brand may give too (the brand's rows win, by key).
_MERGED = {"stores": "store_id", "staff": "staff_id", "channels": "channel_code", "groups": "group_id",
           "tasks": "task_id"}
_SOFT_DELETE = ("customer", "staff", "department", "group_chat", "mass_msg", "mass_msg_staff")


def _url(url: str) -> tuple[Any, str]:
    """SQLAlchemy URL for PyMySQL and the URL to show (``mysql://user@host:port/db``, no password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        raise ParameterError("the OpenSCRM URL must look like mysql://user:password@host:port/database") from None
    if u.drivername.split("+")[0] not in ("mysql", "mariadb") or not u.database:
        raise ParameterError(f"the OpenSCRM URL must be mysql://user:password@host:port/database "
                             f"(also mariadb://), not {u.drivername}://…{'' if u.database else ' without a database'}")
    u = u.set(drivername="mysql+pymysql", query={**u.query, "charset": "utf8mb4"})
    shown = f"mysql://{u.username + '@' if u.username else ''}{u.host or 'localhost'}:{u.port or 3306}/{u.database}"
    return u, shown


def _scrub(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text


def _connect(url: Any, shown: str) -> Any:
    """An engine that answered ``SELECT 1``; else a SourceUnavailableError naming host:port (never the password)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver failure: refused, unknown host, bad login, unknown database
        engine.dispose()
        reason = getattr(exc, "orig", exc)
        raise SourceUnavailableError(f"cannot connect to the OpenSCRM database {shown}: "
                             f"{_scrub(str(reason), url.password)}") from None
    return engine


def _read(engine: Any, shown: str) -> dict[str, pd.DataFrame]:
    """The needed columns of every OpenSCRM table; a missing table or column is refused by name."""
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names())
    for table, cols in COLUMNS.items():  # a loop over tables
        if table not in present:
            found = ", ".join(sorted(present)) or "none"
            raise DataContractError(table, None, f"table is missing from the OpenSCRM database {shown} (is this an "
                                                 f"OpenSCRM database? tables found: {found})")
        have = {c["name"] for c in inspector.get_columns(table)}
        missing = [c for c in cols if c not in have]
        if missing:
            raise DataContractError(table, missing[0], f"column missing from the OpenSCRM database {shown}")
    out = {}
    with engine.connect() as conn:
        for table, cols in COLUMNS.items():
            select = ", ".join(f"`{c}`" for c in cols)
            where = " WHERE `deleted_at` IS NULL" if table in _SOFT_DELETE and "deleted_at" in {
                c["name"] for c in inspector.get_columns(table)} else ""
            # customer_staff is read with its soft-deleted rows: they hold the last spell of ended pairs
            out[table] = pd.read_sql(sa.text(f"SELECT {select} FROM `{table}`{where}"), conn)
    for frame in out.values():
        for c in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[c]) or c in ("createtime", "deleted_at", "send_at",
                                                                       "created_at", "create_time",
                                                                       "customer_delete_staff_at",
                                                                       "staff_delete_customer_at"):
                frame[c] = pd.to_datetime(frame[c], errors="coerce").astype("datetime64[us]")
    for table in ("customer_staff", "customer_staff_relation_history", "mass_msg_staff", "customer"):
        for c in ("ext_staff_id", "ext_customer_id", "ext_id"):
            if c in out[table]:
                out[table][c] = m.blank_to_null(out[table][c])
    return out


def _brand_tables(folder: str | Path | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any] | None]:
    """The brand's own contract tables, read with the contract's rules (``workbench.open``)."""
    if folder is None:
        return {}, None
    from ..engine import open_workbench

    path = Path(folder)
    if not path.is_dir():
        raise ParameterError(f"--tables must be a folder of contract tables; {path} is not a folder")
    wb = open_workbench(path)
    try:
        clash = [t for t in wb.tables if t in _FROM_SCRM_ONLY]
        if clash:
            raise ParameterError(f"the tables folder {path} holds {', '.join(clash)}, which this ingest writes from "
                                 f"the SCRM; leave {'it' if len(clash) == 1 else 'them'} out of the folder")
        frames = {t: wb.frame(t) for t in wb.tables}
    finally:
        wb.close()
    return frames, {"path": str(path), "kind": "contract tables", "rows": int(sum(len(f) for f in frames.values()))}


def ingest_openscrm(url: str, out: str | Path, tables: str | Path | None = None) -> IngestReport:
    """Read an OpenSCRM database and write the contract tables and the ingest report to ``out``.

    Parameters
    ----------
    url : str
        ``mysql://user:password@host:port/database`` (also ``mariadb://``); read with
        SQLAlchemy and PyMySQL.
    out : path
        Folder for ``<table>.parquet`` and ``ingest_report.json`` / ``ingest_daily.csv``.
    tables : path, optional
        A folder of the brand's own contract tables (customers, identity_links, orders, stores,
        staff, channels, tasks …): copied through; its rows win over the SCRM's for stores, staff,
        channels, groups and tasks; identity_links (with identifier columns of customers such as
        ``member_id``) tie each external_userid to the brand's customer.

    Returns
    -------
    IngestReport
        Counts ``scrm_relationships``, ``scrm_history_rows``, ``second_closes``,
        ``repeated_opens``, ``orphan_deletes_dropped``, ``ids_unresolved``, ``group_joins``,
        ``mass_send_rows``, ``orders_in``, ``orders_linked`` (definitions in
        :data:`workbench.ingest.COUNTS`).

    Raises
    ------
    SourceUnavailableError
        The database cannot be reached or refuses the login (the message names host:port).
    DataContractError
        A needed OpenSCRM table or column is missing.
    """
    u, shown = _url(url)
    brand, brand_input = _brand_tables(tables)
    engine = _connect(u, shown)
    try:
        raw = _read(engine, shown)
    finally:
        engine.dispose()
    log.info("read the OpenSCRM database %s", shown)
    written, counts, rejected, daily = _build(raw, brand)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in written.items():  # a loop over tables
        _write_parquet(frame, out / f"{name}.parquet")
    inputs = [{"path": f"{shown}#{t}", "kind": "openscrm table", "rows": int(len(f))} for t, f in raw.items()]
    if brand_input:
        inputs.append(brand_input)
    report = IngestReport("openscrm", counts=counts, rejected=rejected, daily=daily, inputs=inputs,
                          tables={k: int(len(v)) for k, v in written.items()})
    report.write(out)
    return report


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.reset_index(drop=True)
    fields = []
    for c in frame.columns:
        kind = frame[c].dtype.kind
        fields.append((c, pa.timestamp("us") if kind == "M" else pa.float64() if kind == "f" else
                       pa.int64() if kind in "iu" else pa.bool_() if kind == "b" else pa.string()))
    data = {c: (frame[c].astype(object).where(frame[c].notna(), None) if frame[c].dtype.kind == "O" else frame[c])
            for c in frame.columns}
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(data), schema=pa.schema(fields), preserve_index=False), path)


def _build(raw: dict[str, pd.DataFrame], brand: dict[str, pd.DataFrame]) -> tuple[
        dict[str, pd.DataFrame], dict[str, int], list[dict], pd.DataFrame]:
    """Every contract table, the counts, the rejected rows and the per-day table."""
    from ..identity import resolve_identities

    live, hist = raw["customer_staff"], raw["customer_staff_relation_history"]
    events, counts, rejected = m.contact_events(live, hist)
    links = brand.get("identity_links")
    ids = m.resolver(resolve_identities(links) if links is not None and len(links) else None, brand.get("customers"))
    unionid = raw["customer"].drop_duplicates("ext_id").set_index("ext_id")["unionid"]
    members = raw["group_chat_member"]
    members = members[pd.to_numeric(members["type"], errors="coerce") == 2]  # type 1: the brand's own members
    member_union = members.drop_duplicates("userid").set_index("userid")["unionid"]
    exts = pd.Series(pd.unique(pd.concat([events["ext_customer_id"], raw["customer"]["ext_id"].dropna(),
                                          members["userid"], raw["mass_msg_staff"]["ext_customer_id"].dropna()])))
    resolved = m.resolve(exts, exts.map(unionid).fillna(exts.map(member_union)), ids)
    who = pd.Series(resolved.to_numpy(), index=exts.to_numpy())
    counts["ids_unresolved"] = int((resolved == exts).sum())

    depts = m.departments(raw["department"], brand.get("stores"))
    staff = m.merge_brand(brand.get("staff"), m.staff_table(raw["staff"], depts), "staff_id")
    stores = m.merge_brand(brand.get("stores"), m.stores_table(depts), "store_id")
    contact = events.assign(customer_id=events["ext_customer_id"].map(who), origin="scrm")
    contact = contact[["event_time", "customer_id", "staff_id", "event_type", "channel_code", "add_way", "initiator",
                       "origin"]]
    channels = m.merge_brand(brand.get("channels"), m.channels_table(raw["contact_way"], contact["channel_code"]),
                             "channel_code")
    groups, group_events = _groups(raw["group_chat"], members, who, staff)
    groups = m.merge_brand(brand.get("groups"), groups, "group_id")
    tasks, mass_sends = _mass(raw["mass_msg"], raw["mass_msg_staff"], who)
    tasks = m.merge_brand(brand.get("tasks"), tasks, "task_id")
    left = m.staff_left_closes(contact, staff)
    counts["staff_left_closes"] = int(len(left))
    contact = pd.concat([contact, left], ignore_index=True).sort_values(
        ["event_time", "customer_id", "staff_id"], kind="stable").reset_index(drop=True)
    customers = brand.get("customers")
    if customers is None:
        customers = _customers(raw["customer"], who, contact)
    counts["scrm_relationships"] = int(live["deleted_at"].isna().sum())
    counts["scrm_history_rows"] = int(len(hist))
    counts["group_joins"] = int(len(group_events))
    counts["mass_send_rows"] = int(len(mass_sends))
    written = {**{k: v for k, v in brand.items() if k not in _MERGED and k != "customers"},
               "customers": customers, "stores": stores, "staff": staff, "channels": channels, "groups": groups,
               "tasks": tasks, "contact_events": contact, "group_events": group_events, "mass_sends": mass_sends}
    if "orders" in brand:
        orders = brand["orders"]
        counts["orders_in"] = int(len(orders))
        counts["orders_linked"] = int(orders["customer_id"].isin(customers["customer_id"]).sum())
    return written, counts, rejected, _daily(contact, group_events)


def _groups(chats: pd.DataFrame, members: pd.DataFrame, who: pd.Series,
            staff: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups (store of the owner) and a join per current external member (no leaves: OpenSCRM drops them)."""
    owner = m.blank_to_null(chats["owner"])
    groups = pd.DataFrame({
        "group_id": chats["ext_chat_id"], "store_id": owner.map(staff.set_index("staff_id")["store_id"]),
        "owner_staff_id": owner, "created_at": chats["create_time"].astype("datetime64[us]"),
        "dismissed": pd.to_numeric(chats["status"], errors="coerce") == 1,
    })
    known = members["ext_chat_id"].isin(groups["group_id"])
    joins = members[known]
    events = pd.DataFrame({
        "event_time": m.from_unix(joins["join_time"]), "customer_id": joins["userid"].map(who),
        "group_id": joins["ext_chat_id"], "event_type": "join",
    }).dropna(subset=["event_time"])
    return groups, events.sort_values(["event_time", "group_id", "customer_id"]).reset_index(drop=True)


def _mass(msgs: pd.DataFrame, rows: pd.DataFrame, who: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tasks of the mass messages and one mass_sends row per member and customer (group sends skipped)."""
    tasks = m.task_rows(msgs)
    task_of = pd.Series(tasks["task_id"].to_numpy(), index=msgs["id"].to_numpy())
    r = rows[rows["ext_customer_id"].notna() & rows["mass_msg_id"].isin(msgs["id"])]
    sends = pd.DataFrame({
        "task_id": r["mass_msg_id"].map(task_of), "staff_id": m.blank_to_null(r["ext_staff_id"]),
        "customer_id": r["ext_customer_id"].map(who), "created_at": r["created_at"].astype("datetime64[us]"),
        "status": np.where(pd.to_numeric(r["is_sent"], errors="coerce") == 1, "sent", "not_sent"),
        "send_time": pd.Series(pd.NaT, index=r.index, dtype="datetime64[us]"),
    })
    sends = sends.sort_values(["status"], key=lambda s: s != "sent", kind="stable")
    sends = sends.drop_duplicates(["task_id", "staff_id", "customer_id"]).sort_values(
        ["created_at", "task_id", "staff_id", "customer_id"]).reset_index(drop=True)
    return tasks, sends


def _customers(customer: pd.DataFrame, who: pd.Series, contact: pd.DataFrame) -> pd.DataFrame:
    """One row per resolved customer: registered at the first add, OpenSCRM's type and gender kept."""
    c = customer.dropna(subset=["ext_id"]).assign(customer_id=lambda f: f["ext_id"].map(who))
    first = contact[contact["event_type"] == "add"].groupby("customer_id")["event_time"].min()
    ids = pd.Series(pd.unique(pd.concat([c["customer_id"], contact["customer_id"]])), dtype=object)
    attrs = c.drop_duplicates("customer_id").set_index("customer_id")
    return pd.DataFrame({
        "customer_id": ids, "registered_at": ids.map(first).astype("datetime64[us]"),
        "scrm_type": ids.map(attrs["type"]), "gender": ids.map(attrs["gender"].map({1: "M", 2: "F"})),
    })


def _daily(contact: pd.DataFrame, joins: pd.DataFrame) -> pd.DataFrame:
    """Per-day adds, deletes by direction and group joins."""
    day = contact["event_time"].dt.floor("D")
    kinds = {"adds": "add", "deletes_by_customer": "delete_by_customer", "deletes_by_staff": "delete_by_staff",
             "transfers": "transfer", "staff_left_closes": "staff_left"}
    cols = {k: (contact["event_type"] == v).groupby(day).sum() for k, v in kinds.items()}
    cols["group_joins"] = joins.groupby(joins["event_time"].dt.floor("D")).size()
    daily = pd.DataFrame(cols).fillna(0).astype(np.int64).sort_index()
    daily.index.name = "day"
    return daily.reset_index()
