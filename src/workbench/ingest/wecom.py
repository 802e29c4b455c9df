"""``workbench ingest wecom``: decrypted callbacks and API snapshots → contract tables + an ingest report.

:func:`ingest_wecom` reads the callbacks (:mod:`~workbench.ingest.callbacks`), the API
responses (:mod:`~workbench.ingest.snapshots`), reconciles contact events with the snapshots
(:mod:`~workbench.ingest.repair`), builds group events (:mod:`~workbench.ingest.groups`),
resolves WeCom external_userids to the brand's customers and writes every contract table
as Parquet beside an :class:`~workbench.ingest.report.IngestReport`. All event-level work
runs in DuckDB.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..contract import TABLES
from ..engine import Backend, DuckDBBackend, Workbench, literal, open_workbench, quote
from ..errors import ParameterError
from .callbacks import load_callbacks
from .groups import build_group_events, group_events_sql, groups_sql
from .lines import unix_seconds
from .repair import finish, reconcile
from .report import COUNTS, IngestReport
from .snapshots import load_behavior, load_bills, load_mass_sends, load_snapshots

log = logging.getLogger(__name__)

#: The brand's own tables, copied through from ``--tables`` (orders, groups, tasks are merged).
BRAND_TABLES = ("customers", "identity_links", "stores", "staff", "channels", "groups", "scans", "touches", "tasks",
                "orders", "coupons", "experiments", "assignments")
_MERGED = ("groups", "tasks", "orders")
_EXT_ID_TABLES = ("__wi_ev", "__wi_cb_group", "__wi_snap_members", "__wi_bills", "__wi_mass")

PathsArg = str | Path | Iterable[str | Path]


def _paths(value: PathsArg | None) -> list[Path]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [Path(value)]
    return [Path(v) for v in value]


def ingest_wecom(events: PathsArg, out: str | Path, snapshots: PathsArg = (), behavior: PathsArg | None = None,
                 bills: PathsArg | None = None, mass_sends: PathsArg | None = None,
                 tables: str | Path | None = None) -> IngestReport:
    """Turn decrypted WeCom callbacks and API snapshots into contract tables in ``out``.

    Parameters
    ----------
    events : path or paths
        Callback files (or folders of them): one decrypted callback per line, JSON keyed by the
        XML element names or the ``<xml>`` document itself.
    out : path
        Output folder: every contract table as Parquet, ``ingest_report.json`` and ``ingest_daily.csv``.
    snapshots : path or paths
        JSON Lines of wrapped API responses (``fetched_at``, ``api``, ``response``); the earliest
        ``fetched_at`` is the go-live snapshot.
    behavior, bills, mass_sends : path or paths, optional
        ``get_user_behavior_data`` (one userid per line), ``get_bill_list`` and
        ``get_groupmsg_send_result`` responses.
    tables : path, optional
        The brand's own contract tables, copied through and used for ``staff.left_at`` and
        identity resolution.

    Returns
    -------
    IngestReport
        Counts by rule (:data:`~workbench.ingest.COUNTS`), rejected lines, the per-day table.

    Raises
    ------
    DataContractError
        A malformed line, a millisecond time or a non-UTF-8 file (naming the file and line).
    ParameterError
        A missing input, or ``out`` equal to ``tables``.
    """
    out = Path(out)
    if tables is not None and out.resolve() == Path(tables).resolve():
        raise ParameterError(f"--out must differ from --tables ({out}): the brand's tables would be overwritten")
    wb = open_workbench(tables, tables=BRAND_TABLES) if tables is not None else None
    backend: Backend = wb.backend if wb is not None else DuckDBBackend()
    try:
        return _ingest(backend, wb, _paths(events), out, _paths(snapshots), _paths(behavior), _paths(bills),
                       _paths(mass_sends))
    finally:
        (wb or backend).close()


def _ingest(backend: Backend, wb: Workbench | None, events: list[Path], out: Path, snapshots: list[Path],
            behavior: list[Path], bills: list[Path], mass_sends: list[Path]) -> IngestReport:
    brand = [t for t in BRAND_TABLES if wb is not None and wb.has_table(t)]
    for t in brand:
        wb.validate(t)  # type: ignore[union-attr]
    backend.execute("CREATE OR REPLACE TEMP TABLE __wi_daily (day DATE, name VARCHAR)")
    counts, rejected, inputs = load_callbacks(backend, events)
    times, more = load_snapshots(backend, snapshots)
    inputs += more
    if behavior:
        inputs += load_behavior(backend, behavior)
        counts["behavior_rows"] = _count(backend, "__wi_staff_daily")
        _daily(backend, "behavior_rows", "__wi_staff_daily", "stat_date")
    if bills:
        inputs += load_bills(backend, bills)
    else:
        backend.materialise("__wi_bills", "SELECT NULL::VARCHAR AS ext_id WHERE FALSE")
    if mass_sends:
        inputs += load_mass_sends(backend, mass_sends)
    else:
        backend.materialise("__wi_mass", "SELECT NULL::VARCHAR AS ext_id WHERE FALSE")
    left = f"SELECT staff_id, {unix_seconds('left_at')} AS left_ts FROM staff WHERE left_at IS NOT NULL" \
        if "staff" in brand else "SELECT NULL::VARCHAR AS staff_id, NULL::BIGINT AS left_ts WHERE FALSE"
    backend.materialise("__wi_left", left)

    reconcile(backend, times)
    counts["ids_unresolved"] = _resolve_ids(backend, wb, brand)
    counts.update(finish(backend, has_behavior=bool(behavior)))
    counts.update(build_group_events(backend))

    written = _write_tables(backend, out, brand, counts, bool(bills), bool(mass_sends))
    day_counts = {k: counts.pop(k) for k in ("adds", "deletes_by_customer", "deletes_by_staff")}
    log.info("contact events: %s adds, %s deletes by customer, %s deletes by staff", *day_counts.values())
    report = IngestReport("wecom", counts={k: counts[k] for k in COUNTS if k in counts}, rejected=rejected,
                          daily=_daily_frame(backend), inputs=inputs, tables=written)
    report.write(out)
    return report


def _count(backend: Backend, table: str, where: str = "TRUE") -> int:
    return int(backend.fetch(f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}")[0][0])


def _daily(backend: Backend, name: str, table: str, time_column: str) -> None:
    backend.execute(f"INSERT INTO __wi_daily SELECT CAST({quote(time_column)} AS DATE), {literal(name)} "
                    f"FROM {quote(table)}")


def _resolve_ids(backend: Backend, wb: Workbench | None, brand: list[str]) -> int:
    """``__wi_ids`` (ext_id, customer_id) for the external_userids tied to a customer; the number not tied.

    An external_userid is tied through ``identity_links`` to the brand customer whose
    ``customer_id`` (or ``member_id``, when ``customers`` has that column) is an identifier of
    its component; without a ``customers`` table, to the id :func:`workbench.identity.resolve_identities`
    gives the component. An external_userid that is itself a ``customer_id`` is tied to it.
    """
    seen = " UNION ".join(f"SELECT ext_id FROM {t} WHERE ext_id IS NOT NULL" for t in _EXT_ID_TABLES)
    backend.materialise("__wi_ext", f"SELECT DISTINCT ext_id FROM ({seen})")
    has_customers = "customers" in brand
    parts = ["SELECT NULL::VARCHAR AS ext_id, NULL::VARCHAR AS customer_id WHERE FALSE"]
    if has_customers:
        parts.append("SELECT ext_id, ext_id FROM __wi_ext WHERE ext_id IN (SELECT customer_id FROM customers)")
    if "identity_links" in brand:
        from ..identity import resolve_identities

        backend.load("__wi_res", resolve_identities(wb))
        if has_customers:
            member = "OR (o.id_type = 'member_id' AND o.id_value = c.member_id)" \
                if "member_id" in wb.columns("customers") else ""  # type: ignore[union-attr]
            parts.append(f"""
                SELECT e.id_value, MIN(c.customer_id) FROM __wi_res e JOIN __wi_res o USING (customer_id)
                JOIN customers c ON c.customer_id = o.id_value {member}
                WHERE e.id_type = 'external_userid' GROUP BY 1""")
        else:
            parts.append("SELECT id_value, customer_id FROM __wi_res WHERE id_type = 'external_userid'")
    backend.materialise("__wi_ids", "SELECT ext_id, MIN(customer_id) AS customer_id FROM ("
                        + " UNION ALL ".join(parts) + ") WHERE ext_id IN (SELECT ext_id FROM __wi_ext) GROUP BY 1")
    return _count(backend, "__wi_ext", "ext_id NOT IN (SELECT ext_id FROM __wi_ids)")


def _write_tables(backend: Backend, out: Path, brand: list[str], counts: dict[str, int], bills: bool,
                  mass: bool) -> dict[str, int]:
    """Write every contract table into ``out``; rows written per table."""
    selects: dict[str, str] = {"contact_events": "SELECT * FROM __wi_contact"}
    for t in brand:
        if t not in _MERGED:
            selects[t] = f"SELECT * FROM {quote(t)}"
    has_groups = "groups" in brand or _count(backend, "__wi_group") or _count(backend, "__wi_snap_chats") \
        or _count(backend, "__wi_cb_dismiss")
    if has_groups:
        selects["group_events"] = group_events_sql()
        selects["groups"] = groups_sql("groups" in brand)
    if "behavior_rows" in counts:
        selects["staff_daily"] = "SELECT * FROM __wi_staff_daily ORDER BY stat_date, staff_id"
    if mass:
        backend.materialise("__wi_mass_out", """
            SELECT seq, task_id, staff_id, customer_id, created_at, status, send_time FROM (
                SELECT m.*, COALESCE(i.customer_id, m.ext_id) AS customer_id,
                       ROW_NUMBER() OVER (PARTITION BY task_id, staff_id, COALESCE(i.customer_id, m.ext_id)
                                          ORDER BY seq) AS r
                FROM __wi_mass m LEFT JOIN __wi_ids i USING (ext_id)) WHERE r = 1""")
        counts["mass_send_rows"] = _count(backend, "__wi_mass_out")
        _daily(backend, "mass_send_rows", "__wi_mass_out", "created_at")
        selects["mass_sends"] = "SELECT * EXCLUDE (seq) FROM __wi_mass_out ORDER BY seq, staff_id, customer_id"
    if mass or "tasks" in brand:
        brand_tasks = "SELECT * FROM tasks" if "tasks" in brand else \
            "SELECT NULL::VARCHAR AS task_id WHERE FALSE"
        new = "" if not mass else """UNION ALL BY NAME
            SELECT task_id, MIN(created_at) AS created_at, 'mass_send' AS task_type FROM __wi_mass_out
            WHERE task_id NOT IN (SELECT task_id FROM b) GROUP BY task_id"""
        selects["tasks"] = f"WITH b AS ({brand_tasks}) SELECT * FROM b {new}"
    if bills or "orders" in brand:
        _orders(backend, "orders" in brand, bills, "customers" in brand, counts)
        selects["orders"] = "SELECT * FROM __wi_orders ORDER BY order_time, order_id"
    out.mkdir(parents=True, exist_ok=True)
    _check_out(out, selects)
    written = {}
    for table, select in selects.items():
        backend.execute(f"COPY ({select}) TO {literal(str(out / f'{table}.parquet'))} (FORMAT PARQUET)")
        written[table] = int(backend.fetch(f"SELECT COUNT(*) FROM ({select})")[0][0])
    return written


def _orders(backend: Backend, brand_orders: bool, bills: bool, has_customers: bool, counts: dict[str, int]) -> None:
    base = "SELECT * FROM orders" if brand_orders else \
        "SELECT NULL::VARCHAR AS order_id WHERE FALSE"
    from_bills = "" if not bills else """UNION ALL BY NAME
        SELECT b.order_id, COALESCE(i.customer_id, b.ext_id) AS customer_id, b.order_time, b.amount,
               'wecom_transfer' AS order_channel, b.share_staff_id, b.refunded_amount
        FROM __wi_bills b LEFT JOIN __wi_ids i USING (ext_id)
        WHERE b.order_id NOT IN (SELECT order_id FROM base WHERE order_id IS NOT NULL)"""
    backend.materialise("__wi_orders", f"WITH base AS ({base}) SELECT * FROM base {from_bills}")
    counts["orders_in"] = _count(backend, "__wi_orders")
    if bills:
        counts["orders_from_bills"] = _count(backend, "__wi_orders", "order_channel = 'wecom_transfer' AND "
                                             "order_id IN (SELECT order_id FROM __wi_bills)")
        skipped = _count(backend, "__wi_bills") - counts["orders_from_bills"]
        if skipped:
            log.warning("%s bills are already among the brand's orders (same order_id): kept once", skipped)
        backend.execute("INSERT INTO __wi_daily SELECT CAST(order_time AS DATE), 'orders_from_bills' FROM __wi_orders "
                        "WHERE order_channel = 'wecom_transfer' AND order_id IN (SELECT order_id FROM __wi_bills)")
    if has_customers:
        counts["orders_linked"] = _count(backend, "__wi_orders",
                                         "customer_id IN (SELECT customer_id FROM customers)")


def _check_out(out: Path, selects: dict[str, str]) -> None:
    """Refuse an output folder holding a table in another form (``orders.csv``, a folder ``orders/``)."""
    clash = sorted(p.name for t in TABLES for p in (out / f"{t}.csv", out / t) if p.exists())
    if clash:
        raise ParameterError(f"{out} already holds {', '.join(clash)}: write into an empty folder (the ingest "
                             "writes every table as Parquet)")
    for t in TABLES:  # a Parquet table from an earlier ingest that this one does not write would be stale
        stale = out / f"{t}.parquet"
        if stale.exists() and t not in selects:
            stale.unlink()


def _daily_frame(backend: Backend) -> pd.DataFrame:
    long = backend.frame("SELECT day, name, COUNT(*) AS n FROM __wi_daily WHERE day IS NOT NULL GROUP BY ALL")
    if long.empty:
        return pd.DataFrame({"day": pd.Series(dtype="datetime64[ns]")})
    wide = long.pivot_table(index="day", columns="name", values="n", aggfunc="sum", fill_value=0)
    order = [c for c in [*COUNTS, "adds", "deletes_by_customer", "deletes_by_staff"] if c in wide.columns]
    wide = wide[order].astype("int64").reset_index()
    wide["day"] = pd.to_datetime(wide["day"])
    wide.columns.name = None
    return wide.sort_values("day", ignore_index=True)
