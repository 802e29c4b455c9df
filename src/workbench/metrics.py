"""The metric system (README "Analyses in the package"): acquisition, retention and conversion.

Every function takes a :class:`~workbench.Workbench`, a half-open window ``[start, end)``
(``end`` defaults to the workbench's as-of date), a ``grain`` (``"day"``, ``"week"``,
``"month"`` or ``None`` for the whole window) and a cut ``by`` (``"brand"``, ``"region"``,
``"store"``, ``"staff"``, ``"channel_group"``, ``"channel_code"``). The work runs in the
engine; the result is a small pandas frame with one row per period and cut value.

The queries compose the named relations of :mod:`workbench.relations` (intervals, first
adds, staff, store, channel and group dimensions, order flags). An optional table the data
lacks reads as an empty table, so a metric needs no "does this table exist" branch: a brand
without group data has ``group_joins`` of 0, without ``channels`` a NULL channel group.

Definitions that matter:

* **person-times vs persons.** ``adds`` counts add events (人次); ``add_persons`` counts
  distinct customers (人数). A customer adding two guides of one store is two adds and
  one person for that store — persons is the honest store number.
* **stores and channels of an event.** A contact belongs to the store of the staff member
  added; a group event to the group's store. A customer's *acquisition channel* is the
  channel code of their first add in the brand; conversion and group metrics cut by
  channel use it.
* **user view** (用户角度): an order counts for WeCom when the customer had an open
  relationship with any staff member when ordering (``variant="active"``, the default,
  interval-aware via :func:`workbench.relations.contact_intervals`) or had added anyone before the order
  (``variant="ever"``). **task view** (任务角度): the order carries a ``task_id`` or a
  ``share_staff_id`` from a WeCom link.
* **GMV** is the sum of ``amount``; ``net_gmv`` subtracts ``refunded_amount``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._as_of import require_as_of
from .contract import CONTACT_DELETE_TYPES
from .engine import Workbench, literal, money_sum, to_timestamp
from .errors import ParameterError
from .metric_memo import in_one_pass, once_per_workbench
from .metric_sql import flagged_orders_sql, funnel_steps_sql, open_counts_sql, pos_buyers_sql
from .relations import (
    channel_dims,
    contact_intervals,
    first_adds,
    group_dims,
    group_intervals,
    open_at_sql,
    order_flags,
    order_flags_sql,
    staff_dims,
)
from .relations import derived_table as derived_table  # re-export: churn and attribution import it from here

# Old private name, read by workbench.pages.value: the flags now have a public home.
_order_flags_sql = order_flags_sql

GRAINS = ("day", "week", "month", None)
CUTS = ("brand", "region", "store", "staff", "channel_group", "channel_code")
_CUT_COLUMN = {"brand": None, "region": "region", "store": "store_id", "staff": "staff_id",
               "channel_group": "channel_group", "channel_code": "channel_code"}


# ---------------------------------------------------------------------- shared pieces
def _window(wb: Workbench, start: Any, end: Any = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` as timestamps; ``end`` None is the workbench's as-of date."""
    s, e = to_timestamp(start, "start"), require_as_of(wb, end, "end")
    if e <= s:
        raise ParameterError(f"end ({e}) must be after start ({s})")
    return s, e


def _check(grain: str | None, by: str, allowed: tuple[str, ...] = CUTS) -> None:
    if grain not in GRAINS:
        raise ParameterError(f"grain must be one of day, week, month or None, not {grain!r}")
    if by not in allowed:
        raise ParameterError(f"by must be one of {', '.join(allowed)}, not {by!r}")


def _period(grain: str | None, col: str, start: pd.Timestamp) -> str:
    if grain is None:
        return f"{literal(start)}"
    return f"date_trunc({literal(grain)}, {col})"


def _select_cut(by: str) -> tuple[str, str]:
    """(select-list fragment, group-by fragment) for a cut column named like the cut."""
    col = _CUT_COLUMN[by]
    if col is None:
        return "", ""
    return f", {col}", f", {col}"


def _finish(df: pd.DataFrame, by: str, grain: str | None) -> pd.DataFrame:
    keys = ["period"] + ([_CUT_COLUMN[by]] if _CUT_COLUMN[by] else [])
    df = df.sort_values(keys).reset_index(drop=True)
    if "period" in df:
        df["period"] = pd.to_datetime(df["period"])
    return df


def _merge(frames: list[pd.DataFrame], by: str) -> pd.DataFrame:
    keys = ["period"] + ([_CUT_COLUMN[by]] if _CUT_COLUMN[by] else [])
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on=keys, how="outer")
    counts = [c for c in out.columns if c not in keys]
    out[counts] = out[counts].fillna(0)
    for c in counts:
        if np.allclose(out[c], out[c].round()):
            out[c] = out[c].astype("int64")
    return out


# ---------------------------------------------------------------------- acquisition
@once_per_workbench
def acquisition(wb: Workbench, start: Any, end: Any = None, grain: str | None = "day", by: str = "brand",
                store_id: str | None = None, groups: bool = True) -> pd.DataFrame:
    """Adds and group joins per period, in person-times and persons (拉新).

    ``store_id`` keeps only that store's acquisition: adds to its staff and joins of its groups,
    whatever the channel (a store's adds through a brand-wide online code are the store's adds;
    other stores' adds through that code are not). Cut by channel, the rows then sum to the
    store's own adds. ``groups=False`` leaves the two group columns out (a headline of adds).

    Returns
    -------
    DataFrame
        ``period``, the cut column, ``adds`` (person-times), ``add_persons`` (distinct
        customers), ``new_persons`` (customers whose first-ever add in the brand falls in
        the period and cut), ``group_joins`` and ``group_join_persons``.

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> acquisition(wb, "2025-06-01", "2025-07-01", grain="week", by="store")  # doctest: +SKIP
    """
    _check(grain, by)
    s, e = _window(wb, start, end)
    wb.require("contact_events")
    sel, grp = _select_cut(by)
    store_cond = f"AND sd.store_id = {literal(store_id)}" if store_id is not None else ""
    adds = wb.query(f"""
        WITH ev AS (
            SELECT ce.customer_id, ce.staff_id, ce.channel_code, ch.channel_group, sd.store_id, sd.region,
                   {_period(grain, 'ce.event_time', s)} AS period,
                   CASE WHEN fa.first_add_time = ce.event_time THEN 1 ELSE 0 END AS is_first
            FROM contact_events ce
            LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = ce.staff_id
            LEFT JOIN ({channel_dims(wb)}) ch ON ch.channel_code = ce.channel_code
            LEFT JOIN ({first_adds(wb)}) fa ON fa.customer_id = ce.customer_id
            WHERE ce.event_type = 'add' AND ce.event_time >= {literal(s)} AND ce.event_time < {literal(e)}
              {store_cond}
        )
        SELECT period{sel}, COUNT(*) AS adds, COUNT(DISTINCT customer_id) AS add_persons,
               COUNT(DISTINCT CASE WHEN is_first = 1 THEN customer_id END) AS new_persons
        FROM ev GROUP BY period{grp}
    """)
    if not groups:
        return _finish(_merge([adds], by), by, grain)
    joins = _group_event_counts(wb, s, e, grain, by, "join", "group_joins", "group_join_persons", store_id=store_id)
    return _finish(_merge([adds, joins], by), by, grain)


def _group_event_counts(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, grain: str | None, by: str,
                        event_type: str, n_name: str, p_name: str, store_id: str | None = None) -> pd.DataFrame:
    """Group events of one type per period and cut.

    Group events of one type per period and cut: the group's store, its owner as staff, the
    member's acquisition channel. No group data: no rows (the merged columns read 0).
    """
    sel, grp = _select_cut(by)
    store_cond = f"AND gd.store_id = {literal(store_id)}" if store_id is not None else ""
    return wb.query(f"""
        WITH ev AS (
            SELECT ge.customer_id, gd.store_id, gd.region, gd.staff_id, fa.channel_code, fa.channel_group,
                   {_period(grain, 'ge.event_time', s)} AS period
            FROM {wb.table_or_empty('group_events')} ge
            LEFT JOIN ({group_dims(wb)}) gd ON gd.group_id = ge.group_id
            LEFT JOIN ({first_adds(wb)}) fa ON fa.customer_id = ge.customer_id
            WHERE ge.event_type = {literal(event_type)}
              AND ge.event_time >= {literal(s)} AND ge.event_time < {literal(e)}
              {store_cond}
        )
        SELECT period{sel}, COUNT(*) AS {n_name}, COUNT(DISTINCT customer_id) AS {p_name}
        FROM ev GROUP BY period{grp}
    """)


# ---------------------------------------------------------------------- retention
@once_per_workbench
def losses(wb: Workbench, start: Any, end: Any = None, grain: str | None = "day", by: str = "brand",
           groups: bool = True) -> pd.DataFrame:
    """Deletes and group leaves per period (删除员工人次, 退群人次).

    Returns ``period``, the cut, ``deletes`` (person-times), ``deletes_by_customer``,
    ``deletes_by_staff``, ``delete_persons``, ``transfers_out`` (relationships moved to another
    guide by 在职/离职继承) and ``staff_left_closes`` (closed when the guide left) — these two end a
    relationship without a delete and are not losses — then ``group_leaves``, ``group_leave_persons``
    (left out with ``groups=False``).
    """
    _check(grain, by)
    s, e = _window(wb, start, end)
    wb.require("contact_events")
    sel, grp = _select_cut(by)
    # Deletes inherit the channel code of the add they close. Transfers and closes at a guide's departure
    # end a relationship without a delete: they are not losses (contract rule 13), and are counted apart.
    deletes = ", ".join(literal(t) for t in CONTACT_DELETE_TYPES)
    dels = wb.query(f"""
        WITH iv AS ({contact_intervals(wb)}),
        ev AS (
            SELECT iv.customer_id, iv.staff_id, iv.channel_code, ch.channel_group, sd.store_id, sd.region,
                   iv.end_type, {_period(grain, 'iv.end_time', s)} AS period
            FROM iv LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = iv.staff_id
            LEFT JOIN ({channel_dims(wb)}) ch ON ch.channel_code = iv.channel_code
            WHERE iv.end_time >= {literal(s)} AND iv.end_time < {literal(e)}
        )
        SELECT period{sel}, SUM(CASE WHEN end_type IN ({deletes}) THEN 1 ELSE 0 END) AS deletes,
               SUM(CASE WHEN end_type = 'delete_by_customer' THEN 1 ELSE 0 END) AS deletes_by_customer,
               SUM(CASE WHEN end_type = 'delete_by_staff' THEN 1 ELSE 0 END) AS deletes_by_staff,
               COUNT(DISTINCT CASE WHEN end_type IN ({deletes}) THEN customer_id END) AS delete_persons,
               SUM(CASE WHEN end_type = 'transfer' THEN 1 ELSE 0 END) AS transfers_out,
               SUM(CASE WHEN end_type = 'staff_left' THEN 1 ELSE 0 END) AS staff_left_closes
        FROM ev GROUP BY period{grp}
    """)
    if not groups:
        return _finish(_merge([dels], by), by, grain)
    leaves = _group_event_counts(wb, s, e, grain, by, "leave", "group_leaves", "group_leave_persons")
    return _finish(_merge([dels, leaves], by), by, grain)




@once_per_workbench
def adds_deletes(wb: Workbench, start: Any, end: Any = None, grain: str | None = "week",
                 by: str = "brand") -> pd.DataFrame:
    """Adds and deletes per period and cut, in person-times (a trend of events).

    :func:`acquisition`'s ``adds`` and :func:`losses`' ``deletes`` alone, without the distinct
    persons, the first adds and the group events.

    Returns ``period``, the cut, ``adds`` and ``deletes``.
    """
    _check(grain, by)
    s, e = _window(wb, start, end)
    wb.require("contact_events")
    sel, grp = _select_cut(by)
    dims = f"""LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = x.staff_id
            LEFT JOIN ({channel_dims(wb)}) ch ON ch.channel_code = x.channel_code"""
    deletes = ", ".join(literal(t) for t in CONTACT_DELETE_TYPES)
    frames = [wb.query(f"""
        SELECT period{sel}, COUNT(*) AS {name} FROM (
            SELECT ch.channel_group, sd.store_id, sd.region, x.staff_id, x.channel_code,
                   {_period(grain, f'x.{col}', s)} AS period
            FROM {source} x {dims}
            WHERE {cond} AND x.{col} >= {literal(s)} AND x.{col} < {literal(e)}) ev
        GROUP BY period{grp}""") for name, source, col, cond in (
        ("adds", "contact_events", "event_time", "x.event_type = 'add'"),
        ("deletes", f"({contact_intervals(wb)})", "end_time", f"x.end_type IN ({deletes})"))]
    return _finish(_merge(frames, by), by, grain)


@once_per_workbench
def current_contacts(wb: Workbench, at: Any = None, by: str = "store") -> pd.DataFrame:
    """Open relationships at one instant.

    Open relationships at instant ``at`` (default: the workbench's as-of): contacts, group
    members and their overlap.

    Returns the cut, ``contacts`` (open customer–staff relationships), ``contact_persons``,
    ``staff_with_contacts``, ``contacts_per_staff``, ``group_members`` (persons in at least
    one group of the cut), ``added_not_in_group`` (contact persons in no group of the cut),
    ``in_group_not_added`` (group members with no contact in the cut) and ``both``. Two
    channels to a customer beat one: the last two columns are the work list.
    Cuts: brand, region, store, staff (contacts only; groups by owner).
    """
    _check(None, by, ("brand", "region", "store", "staff"))
    t = literal(require_as_of(wb, at, "at"))
    wb.require("contact_events")
    col = _CUT_COLUMN[by]
    cut = f"{col}" if col else "'brand'"
    contacts = f"""
        SELECT iv.customer_id, iv.staff_id, sd.store_id, sd.region
        FROM ({contact_intervals(wb)}) iv LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = iv.staff_id
        WHERE {open_at_sql('iv', t)}"""
    members = f"""
        SELECT gv.customer_id, gd.staff_id, gd.store_id, gd.region
        FROM ({group_intervals(wb)}) gv LEFT JOIN ({group_dims(wb)}) gd ON gd.group_id = gv.group_id
        WHERE {open_at_sql('gv', t)}"""
    df = wb.query(f"""
        WITH c AS ({contacts}), m AS ({members}),
        cp AS (SELECT DISTINCT {cut} AS cut, customer_id FROM c),
        mp AS (SELECT DISTINCT {cut} AS cut, customer_id FROM m),
        cc AS (SELECT {cut} AS cut, COUNT(*) AS contacts, COUNT(DISTINCT customer_id) AS contact_persons,
                      COUNT(DISTINCT staff_id) AS staff_with_contacts FROM c GROUP BY 1),
        both_ AS (
            SELECT COALESCE(cp.cut, mp.cut) AS cut,
                   SUM(CASE WHEN mp.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS group_members,
                   SUM(CASE WHEN mp.customer_id IS NULL THEN 1 ELSE 0 END) AS added_not_in_group,
                   SUM(CASE WHEN cp.customer_id IS NULL THEN 1 ELSE 0 END) AS in_group_not_added,
                   SUM(CASE WHEN cp.customer_id IS NOT NULL AND mp.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS both
            FROM cp FULL OUTER JOIN mp ON cp.cut = mp.cut AND cp.customer_id = mp.customer_id
            GROUP BY 1)
        SELECT COALESCE(cc.cut, b.cut) AS cut, cc.contacts, cc.contact_persons, cc.staff_with_contacts,
               b.group_members, b.added_not_in_group, b.in_group_not_added, b.both
        FROM cc FULL OUTER JOIN both_ b ON cc.cut = b.cut
    """)
    counts = [c for c in df.columns if c != "cut"]
    df[counts] = df[counts].fillna(0).astype("int64")
    df["contacts_per_staff"] = df["contacts"] / df["staff_with_contacts"].where(df["staff_with_contacts"] > 0)
    df = df.rename(columns={"cut": col or "brand"}).sort_values(col or "brand").reset_index(drop=True)
    return df


@once_per_workbench
def contacts_at(wb: Workbench, instants: tuple, by: str = "brand") -> pd.DataFrame:
    """Open relationships at each of several instants, in one pass over the intervals.

    :func:`current_contacts`' ``contacts`` without its group columns (a headline states the contacts at
    the start and end of two periods). Returns ``at``, the cut and ``contacts`` (rows with some).
    """
    _check(None, by, ("brand", "region", "store", "staff"))
    wb.require("contact_events")
    times = [literal(require_as_of(wb, at, "at")) for at in instants]
    col = _CUT_COLUMN[by]
    df = wb.query(open_counts_sql(wb, times, col or "'brand'"))
    long = pd.concat([pd.DataFrame({"at": pd.Timestamp(require_as_of(wb, at, "at")), col or "brand": df["cut"],
                                    "contacts": df[f"n{i}"].fillna(0).astype("int64")})
                      for i, at in enumerate(instants)], ignore_index=True)
    return long[long["contacts"] > 0].sort_values(["at", col or "brand"]).reset_index(drop=True)


# ---------------------------------------------------------------------- funnel
@once_per_workbench
def funnel(wb: Workbench, start: Any, end: Any = None, by: str = "store", window_days: int = 30) -> pd.DataFrame:
    """The acquisition funnel scan → add → join group → claim hook coupon, per cut.

    The cohort is every customer whose first scan in ``[start, end)`` happened at the cut
    (the scan's store, else the channel code's store). Each later step must follow the
    previous one within ``window_days`` of the scan: the first add (any staff), the first
    group join after that add, the first WeCom-issued coupon after that join.

    Returns the cut, ``scanned``, ``added``, ``joined``, ``claimed``, step conversions
    ``add_rate``, ``join_rate``, ``claim_rate``, overall ``scan_to_claim`` and median hours
    between steps ``median_hours_scan_add``, ``median_hours_add_join``,
    ``median_hours_join_claim``. :func:`funnels` computes several windows and cuts in one pass.
    """
    return _funnel_frames(wb, [(start, end, by)], window_days)[0]


def funnels(wb: Workbench, calls: list[tuple[Any, Any, str]], window_days: int = 30) -> list[pd.DataFrame]:
    """``[funnel(wb, start, end, by=by, window_days=window_days) for start, end, by in calls]``, in one pass."""
    return in_one_pass(funnel, wb, [((a, b), {"by": by, "window_days": window_days}) for a, b, by in calls],
                        lambda todo: _funnel_frames(wb, [(*args, kw["by"]) for args, kw in todo], window_days))


def _funnel_frames(wb: Workbench, calls: list[tuple[Any, Any, str]], window_days: int) -> list[pd.DataFrame]:
    """The funnel frames of ``calls`` (start, end, by): one query, the cohort windows as rows, each cut a set."""
    windows: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for start, end, by in calls:
        _check(None, by, ("brand", "region", "store", "channel_group", "channel_code"))
        if (win := _window(wb, start, end)) not in windows:
            windows.append(win)
    wb.require("scans", "contact_events")
    w = f"INTERVAL '{int(window_days)} days'"
    cols = sorted({_CUT_COLUMN[by] for _, _, by in calls if _CUT_COLUMN[by]})
    sets = ", ".join(["(win.k)"] * any(by == "brand" for _, _, by in calls) + [f"(win.k, kk.{c})" for c in cols])
    values = ", ".join(f"({k}, {literal(a)}, {literal(b)})" for k, (a, b) in enumerate(windows))
    flags = "".join(f", GROUPING(kk.{c}) AS g_{c}, kk.{c}" for c in cols)
    df = wb.query(f"""
        WITH kk AS ({funnel_steps_sql(wb, min(a for a, _ in windows), max(b for _, b in windows), w)})
        SELECT win.k{flags}, COUNT(*) AS scanned, COUNT(kk.add_time) AS added, COUNT(kk.join_time) AS joined,
               COUNT(kk.claim_time) AS claimed,
               MEDIAN(date_diff('second', kk.scan_time, kk.add_time)) / 3600.0 AS median_hours_scan_add,
               MEDIAN(date_diff('second', kk.add_time, kk.join_time)) / 3600.0 AS median_hours_add_join,
               MEDIAN(date_diff('second', kk.join_time, kk.claim_time)) / 3600.0 AS median_hours_join_claim
        FROM kk JOIN (VALUES {values}) AS win(k, a, b) ON kk.scan_time >= win.a AND kk.scan_time < win.b
        GROUP BY GROUPING SETS ({sets})
    """)
    measures = ["scanned", "added", "joined", "claimed", "median_hours_scan_add", "median_hours_add_join",
                "median_hours_join_claim"]
    out = []
    for start, end, by in calls:
        col = _CUT_COLUMN[by]
        mine = df["k"] == windows.index(_window(wb, start, end))
        for c in cols:   # a row of this cut's set groups by its column only
            mine &= df[f"g_{c}"] == (0 if c == col else 1)
        part = df.loc[mine, ([col] if col else []) + measures].reset_index(drop=True)
        if col is None:
            part.insert(0, "brand", "brand")
        part["add_rate"] = part["added"] / part["scanned"]
        part["join_rate"] = part["joined"] / part["added"].where(part["added"] > 0)
        part["claim_rate"] = part["claimed"] / part["joined"].where(part["joined"] > 0)
        part["scan_to_claim"] = part["claimed"] / part["scanned"]
        out.append(part.sort_values(col or "brand").reset_index(drop=True))
    return out


# ---------------------------------------------------------------------- conversion
@once_per_workbench
def conversion(wb: Workbench, start: Any, end: Any = None, grain: str | None = "month", by: str = "brand",
               variant: str = "active", buyers: bool = True) -> pd.DataFrame:
    """Buyers and GMV in user view and task view, side by side (转化).

    Parameters
    ----------
    variant : {"active", "ever"}
        User-view rule: relationship open at order time (default), or added at any time
        before the order.
    by : str
        ``store``/``region`` use the order's store; ``staff`` uses ``share_staff_id`` (only
        task-view numbers are meaningful there); channel cuts use the buyer's acquisition
        channel.
    buyers : bool, default True
        Count the distinct buyers; False leaves the three ``*buyers`` columns out (each is a
        distinct count over every order of the window: a year's GMV chart needs none of them).

    Returns
    -------
    DataFrame
        ``orders``, ``buyers``, ``gmv``, ``net_gmv``; ``user_orders``, ``user_buyers``,
        ``user_gmv``, ``user_share`` (of GMV); ``task_orders``, ``task_buyers``, ``task_gmv``,
        ``task_share``.
    """
    _check(grain, by)
    if variant not in ("active", "ever"):
        raise ParameterError(f"variant must be 'active' or 'ever', not {variant!r}")
    s, e = _window(wb, start, end)
    wb.require("orders")
    sel, grp = _select_cut(by)
    flag = "user_active" if variant == "active" else "user_ever"

    def distinct(name: str, sql: str) -> str:
        return f" COUNT(DISTINCT {sql}) AS {name}," if buyers else ""

    df = wb.query(f"""
        WITH o AS ({flagged_orders_sql(wb, s, e, flag, dims=by in ('region', 'channel_group', 'channel_code'))})
        SELECT {_period(grain, 'order_time', s)} AS period{sel},
               COUNT(*) AS orders,{distinct('buyers', 'customer_id')}
               {money_sum('amount')} AS gmv, {money_sum('net_amount')} AS net_gmv,
               SUM({flag}) AS user_orders,{distinct('user_buyers', f'CASE WHEN {flag} = 1 THEN customer_id END')}
               {money_sum(f'CASE WHEN {flag} = 1 THEN amount ELSE 0 END')} AS user_gmv,
               SUM(task_view) AS task_orders,{distinct('task_buyers', 'CASE WHEN task_view = 1 THEN customer_id END')}
               {money_sum('CASE WHEN task_view = 1 THEN amount ELSE 0 END')} AS task_gmv
        FROM o GROUP BY 1{grp}
    """)
    df["user_share"] = df["user_gmv"] / df["gmv"].where(df["gmv"] > 0)
    df["task_share"] = df["task_gmv"] / df["gmv"].where(df["gmv"] > 0)
    return _finish(df, by, grain)


def order_views(wb: Workbench, start: Any, end: Any = None) -> pd.DataFrame:
    """Order-level flags (for drill-down and tests): order_id, user_active, user_ever, task_view.

    Returns one row per order in the window; fine for a store or a month, not for a whole
    brand-year (use :func:`conversion` for aggregates).
    """
    s, e = _window(wb, start, end)
    wb.require("orders")
    return wb.query(f"SELECT order_id, customer_id, order_time, amount, user_active, user_ever, task_view "
                    f"FROM ({order_flags_sql(wb, s, e)}) o ORDER BY order_time, order_id")


@once_per_workbench
def pos_buyers_not_added(wb: Workbench, start: Any, end: Any = None, by: str = "store") -> pd.DataFrame:
    """The store's to-do list: POS buyers in the window with no open contact at ``end``.

    Returns the cut, ``pos_buyers``, ``not_added`` and ``not_added_share``. Only counts: the ids stay in the engine.
    """
    return _pos_frames(wb, start, end, [by])[0]


def pos_buyers_not_added_by(wb: Workbench, start: Any, end: Any = None, cuts: tuple = ("store", "brand")) -> list:
    """``[pos_buyers_not_added(wb, start, end, by=by) for by in cuts]`` in one pass, each frame kept for its call."""
    return in_one_pass(pos_buyers_not_added, wb, [((start, end), {"by": by}) for by in cuts],
                        lambda calls: _pos_frames(wb, start, end, [kw["by"] for _, kw in calls]))


def _pos_frames(wb: Workbench, start: Any, end: Any, cuts: list[str]) -> list[pd.DataFrame]:
    for by in cuts:
        _check(None, by, ("brand", "region", "store"))
    s, e = _window(wb, start, end)
    wb.require("orders", "contact_events")
    cols = sorted({_CUT_COLUMN[by] for by in cuts if _CUT_COLUMN[by]})
    df = wb.query(pos_buyers_sql(wb, s, e, cols, brand="brand" in cuts))
    out = []
    for by in cuts:
        col = _CUT_COLUMN[by]
        mine = pd.Series(True, index=df.index)
        for c in cols:   # a row of this cut's set groups by its column only
            mine &= df[f"g_{c}"] == (0 if c == col else 1)
        part = df.loc[mine, [col or "brand", "pos_buyers", "not_added"]].reset_index(drop=True)
        part["not_added_share"] = part["not_added"] / part["pos_buyers"]
        out.append(part.sort_values(col or "brand").reset_index(drop=True))
    return out


# ---------------------------------------------------------------------- tools vs churn
@dataclass(frozen=True)
class Correlation:
    """Pearson correlation across stores with a Fisher-z confidence interval."""

    r: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    spearman_rho: float


def correlation(x: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> Correlation:
    """Pearson r with Fisher-z CI and Spearman's rho, dropping pairs with a NaN."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 4 or np.std(x) == 0 or np.std(y) == 0:
        raise ParameterError("correlation needs at least 4 stores with varying values")
    r, p = stats.pearsonr(x, y)
    z, se = np.arctanh(r), 1.0 / np.sqrt(n - 3)
    q = stats.norm.ppf(1 - alpha / 2)
    rho = stats.spearmanr(x, y).statistic
    return Correlation(float(r), float(np.tanh(z - q * se)), float(np.tanh(z + q * se)), float(p), n, float(rho))


@once_per_workbench
def store_churn(wb: Workbench, start: Any, end: Any = None) -> pd.DataFrame:
    """Per store: contacts at risk in the window and customer deletes.

    ``exposed`` = relationships open at ``start`` plus adds in the window; ``churn_rate`` =
    deletes by the customer in the window / exposed. ``touched_share`` = share of exposed
    relationships that got a staff touch (chat, group message, Moments) in the window — a
    usage measure of retention work when the brand has no tool flag.
    """
    s, e = _window(wb, start, end)
    wb.require("contact_events")
    touched = f"""
        SELECT DISTINCT customer_id, staff_id FROM {wb.table_or_empty('touches')}
        WHERE touch_type IN ('chat', 'group_message', 'moments') AND staff_id IS NOT NULL
          AND event_time >= {literal(s)} AND event_time < {literal(e)}"""
    return wb.query(f"""
        WITH x AS (
            SELECT iv.*, sd.store_id FROM ({contact_intervals(wb)}) iv
            LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = iv.staff_id
            WHERE iv.start_time < {literal(e)} AND (iv.end_time IS NULL OR iv.end_time >= {literal(s)})
        )
        SELECT x.store_id, COUNT(*) AS exposed,
               SUM(CASE WHEN x.end_type = 'delete_by_customer' AND x.end_time < {literal(e)}
                   THEN 1 ELSE 0 END) AS customer_deletes,
               SUM(CASE WHEN tt.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS touched
        FROM x LEFT JOIN ({touched}) tt ON tt.customer_id = x.customer_id AND tt.staff_id = x.staff_id
        WHERE x.store_id IS NOT NULL
        GROUP BY x.store_id ORDER BY x.store_id
    """).assign(
        churn_rate=lambda d: d["customer_deletes"] / d["exposed"],
        touched_share=lambda d: d["touched"] / d["exposed"],
    )


def retention_tools_vs_churn(wb: Workbench, start: Any, end: Any = None, tool_col: str | None = None,
                             alpha: float = 0.05) -> tuple[pd.DataFrame, Correlation]:
    """Retention-tool usage per store against its churn rate, with the correlation and CI.

    Parameters
    ----------
    tool_col : str, optional
        A ``stores`` column measuring tool usage (a rate, or a 0/1 flag such as
        ``uses_retention_tool``). Defaults to that column when present, else the share of
        relationships touched by staff in the window.

    Returns
    -------
    (DataFrame, Correlation)
        Per-store ``usage`` and ``churn_rate`` (plus counts), and the correlation across
        stores. Observational: stores choose their tools.
    """
    per_store = store_churn(wb, start, end)
    # Whether the data has stores decides the usage measure (its tool flag, else touches).
    stores = wb.frame("stores") if wb.has_table("stores") else pd.DataFrame({"store_id": per_store["store_id"]})
    if tool_col is None:
        tool_col = "uses_retention_tool" if "uses_retention_tool" in stores.columns else None
    if tool_col is not None:
        if tool_col not in stores.columns:
            raise ParameterError(f"stores has no column {tool_col!r} (columns: {', '.join(stores.columns)})")
        per_store = per_store.merge(stores[["store_id", tool_col]], on="store_id", how="left")
        per_store["usage"] = per_store[tool_col].astype(float)
    else:
        per_store["usage"] = per_store["touched_share"]
    return per_store, correlation(per_store["usage"].to_numpy(), per_store["churn_rate"].to_numpy(), alpha)


# ---------------------------------------------------------------------- headline KPIs
# The unit of each KPI (keys of workbench.pages.UNITS): events and people are never mixed.
KPI_UNITS = {"adds": "person_times", "add_persons": "persons", "new_persons": "persons",
             "deletes": "person_times", "net_adds": "person_times", "contacts": "count", "gmv": "cny",
             "user_gmv": "cny", "user_share": "share", "task_gmv": "cny", "task_share": "share",
             "buyers": "persons"}


def kpis(wb: Workbench, start: Any, end: Any = None, by: str = "brand") -> pd.DataFrame:
    """Headline KPIs for ``[start, end)`` with the previous window of equal length beside it.

    Returns one row per KPI (and cut): ``kpi``, ``unit``, ``value``, ``previous``, ``change``
    (relative; for a share prefer the difference ``value − previous``, in percentage points).
    KPIs: adds (person-times), add_persons, new_persons (persons), deletes (person-times),
    net_adds (adds − deletes, person-times: state it beside ``adds``, never beside
    ``add_persons``), contacts (open relationships at ``end``), gmv, user_gmv, user_share,
    task_gmv, task_share, buyers. :mod:`workbench.pages.ops` states these for the dashboard.
    """
    s, e = _window(wb, start, end)
    prev_s = s - (e - s)
    rows = []
    for label, (a, b) in {"value": (s, e), "previous": (prev_s, s)}.items():
        acq = acquisition(wb, a, b, grain=None, by=by)
        los = losses(wb, a, b, grain=None, by=by)
        # A brand without orders has no conversion KPIs (rows left out, not stated as 0).
        conv = conversion(wb, a, b, grain=None, by=by) if wb.has_table("orders") else None
        cur = current_contacts(wb, b, by=by if by in ("brand", "region", "store", "staff") else "brand")
        key = _CUT_COLUMN[by] or "brand"
        for frame in (acq, los, conv):
            if frame is not None and key == "brand":
                frame["brand"] = "brand"
        merged = acq.drop(columns="period").merge(los.drop(columns="period"), on=key, how="outer")
        if conv is not None:
            merged = merged.merge(conv.drop(columns="period"), on=key, how="outer")
        merged = merged.merge(cur[[key, "contacts"]], on=key, how="outer")
        merged["net_adds"] = merged["adds"].fillna(0) - merged["deletes"].fillna(0)
        cols = ["adds", "add_persons", "new_persons", "deletes", "net_adds", "contacts"]
        if conv is not None:
            cols += ["gmv", "user_gmv", "user_share", "task_gmv", "task_share", "buyers"]
        long = merged.melt(id_vars=[key], value_vars=cols, var_name="kpi", value_name=label)
        rows.append(long.set_index([key, "kpi"]))
    out = rows[0].join(rows[1], how="outer").reset_index()
    out["change"] = (out["value"] - out["previous"]) / out["previous"].where(out["previous"] != 0)
    out.insert(out.columns.get_loc("kpi") + 1, "unit", out["kpi"].map(KPI_UNITS))
    if by == "brand":
        out = out.drop(columns="brand")
    return out


def task_performance(wb: Workbench, start: Any, end: Any = None, window_days: int = 7,
                     variant: str = "active") -> pd.DataFrame:
    """Per task created in ``[start, end)``: reach, and conversion in user view vs task view.

    * ``reached``: customers who got the task's push (``touches`` with its ``task_id``);
    * user view: orders by reached customers within ``window_days`` after their push, while
      a WeCom relationship was open (``variant="active"``) or at all (``"ever"`` — a push
      implies an earlier add);
    * task view: orders carrying the task's ``task_id`` (its link), any time.

    Returns ``task_id``, ``task_type``, ``title``, ``reached``, ``user_orders``,
    ``user_buyers``, ``user_gmv``, ``task_orders``, ``task_buyers``, ``task_gmv`` and the
    conversion rates ``user_conversion`` and ``task_conversion`` (buyers / reached).
    """
    s, e = _window(wb, start, end)
    if variant not in ("active", "ever"):
        raise ParameterError(f"variant must be 'active' or 'ever', not {variant!r}")
    wb.require("tasks", "touches", "orders")
    w = f"INTERVAL '{int(window_days)} days'"
    # The active rule reads the order's user_active flag (computed once per workbench). Without contact
    # data no relationship can be checked: it reads as "ever" (a push implies an earlier add) rather than
    # counting no orders at all.
    open_join = (f"JOIN ({order_flags(wb)}) fl ON fl.order_id = o.order_id AND fl.user_active = 1"
                 if variant == "active" and wb.has_table("contact_events") else "")
    df = wb.query(f"""
        WITH t AS (SELECT task_id, task_type, title FROM tasks
                   WHERE created_at >= {literal(s)} AND created_at < {literal(e)}),
        pushed AS (
            SELECT tc.task_id, tc.customer_id, MIN(tc.event_time) AS pushed_at
            FROM touches tc JOIN t ON t.task_id = tc.task_id GROUP BY 1, 2
        ),
        user_view AS (
            SELECT p.task_id, COUNT(o.order_id) AS user_orders, COUNT(DISTINCT o.customer_id) AS user_buyers,
                   COALESCE({money_sum('o.amount')}, 0) AS user_gmv
            FROM pushed p JOIN orders o ON o.customer_id = p.customer_id AND o.order_time >= p.pushed_at
                 AND o.order_time < p.pushed_at + {w} {open_join}
            GROUP BY p.task_id
        ),
        task_view AS (
            SELECT o.task_id, COUNT(*) AS task_orders, COUNT(DISTINCT o.customer_id) AS task_buyers,
                   {money_sum('o.amount')} AS task_gmv
            FROM orders o JOIN t ON t.task_id = o.task_id GROUP BY o.task_id
        ),
        reach AS (SELECT task_id, COUNT(*) AS reached FROM pushed GROUP BY task_id)
        SELECT t.task_id, t.task_type, t.title, COALESCE(r.reached, 0) AS reached,
               COALESCE(u.user_orders, 0) AS user_orders, COALESCE(u.user_buyers, 0) AS user_buyers,
               COALESCE(u.user_gmv, 0) AS user_gmv, COALESCE(v.task_orders, 0) AS task_orders,
               COALESCE(v.task_buyers, 0) AS task_buyers, COALESCE(v.task_gmv, 0) AS task_gmv
        FROM t LEFT JOIN reach r ON r.task_id = t.task_id LEFT JOIN user_view u ON u.task_id = t.task_id
        LEFT JOIN task_view v ON v.task_id = t.task_id
        ORDER BY t.task_id""")
    df["user_conversion"] = df["user_buyers"] / df["reached"].where(df["reached"] > 0)
    df["task_conversion"] = df["task_buyers"] / df["reached"].where(df["reached"] > 0)
    return df
