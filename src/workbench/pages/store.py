"""The store page: this week's to-do with a guide split, then the store's KPIs against its peers.

* :func:`store_todo` — three work lists for the store's guides at ``as_of``, counted per guide and
  listed with masked customer ids only (:mod:`workbench.masking`): buyers at the store in the last
  ``buyer_days`` days who are nobody's contact, contacts in none of the store's groups, and contacts in
  the brand's top decile of delete risk over ``horizon_days`` (high value first).
* :func:`store_kpis` — the store's KPIs of ``[start, end)`` beside the previous period of equal
  length, its region's and the brand's median store and its rank (k of n stores), every number from
  :mod:`workbench.metrics` by store.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import metrics
from .._as_of import require_as_of
from ..engine import Workbench, literal, money_sum, to_timestamp
from ..engine.memo import memo_path, memoised, memoised_with_note
from ..errors import ParameterError, WorkbenchError
from ..i18n import t
from ..masking import mask_key, mask_tokens
from ..relations import contact_intervals, open_at_sql
from ._base import Stated
from .guides import guide_dims_sql, risk_by_relationship_sql, store_members_sql
from .ops import DAYS_PER_MONTH, check_store

__all__ = ["StoreTodo", "StoreKpi", "StoreKPIs", "store_todo", "store_kpis", "KPI_DEFS", "DAYS_PER_MONTH"]

UNASSIGNED = "(unassigned)"   # display name of the buyers' row with no guide


# ---------------------------------------------------------------------- to-do
@dataclass(frozen=True, eq=False)
class StoreTodo:
    """The store's to-do at ``as_of``: counts per guide and masked lists.

    ``per_guide`` has one row per guide of the store (staff_id, display_name, buyers_not_added,
    not_in_group, at_risk) plus a row with staff_id NULL for buyers no guide sold to. The lists
    hold ``display_name``, ``staff_id``, ``customer`` (a masked token, never the raw id) and their
    own columns; ``at_risk_list`` is ordered by value, highest first, within each guide.
    """

    store_id: str
    as_of: pd.Timestamp
    horizon_days: int
    buyer_days: int
    buyers_not_added: Stated
    not_in_group: Stated
    at_risk: Stated
    per_guide: pd.DataFrame
    buyers_list: pd.DataFrame
    not_in_group_list: pd.DataFrame
    at_risk_list: pd.DataFrame
    risk_note: str | None = None

    def finding(self, lang: str) -> str:
        """The to-do sentence: the three counts of the store (two without a risk model)."""
        if self.risk_note is not None:
            return t("store.finding_todo_no_risk", lang, buyers=self.buyers_not_added.text(), days=self.buyer_days,
                     not_in_group=self.not_in_group.text())
        return t("store.finding_todo", lang, buyers=self.buyers_not_added.text(), days=self.buyer_days,
                 not_in_group=self.not_in_group.text(), at_risk=self.at_risk.text(), horizon=self.horizon_days)

    def table(self, lang: str) -> pd.DataFrame:
        """The per-guide counts with translated headers (the unassigned row named in ``lang``)."""
        df = self.per_guide.drop(columns="staff_id").copy()
        df["display_name"] = df["display_name"].where(df["display_name"] != UNASSIGNED, t("store.unassigned", lang))
        return df.rename(columns={c: t(f"store.col_{c}", lang) for c in df.columns})


def _mask(df: pd.DataFrame, secret: bytes) -> pd.DataFrame:
    """Replace ``customer_id`` by its token in ``customer`` (the raw column is dropped)."""
    out = df.copy()
    out.insert(2, "customer", mask_tokens(out.pop("customer_id"), secret))
    return out


def _limit(df: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    if limit is None:
        return df.reset_index(drop=True)
    return df.groupby("staff_id", dropna=False, sort=False).head(int(limit)).reset_index(drop=True)


# a list's order within a guide (column, ascending); the raw id last, so that ties are listed the same way on
# every run and the brand-wide memo's capped rows are the rows the page would keep
_ORDERS: dict[str, list[tuple[str, bool]]] = {
    "buyers": [("gmv", False), ("last_order_time", False)],
    "not_in_group": [("contact_since", True)],
    "at_risk": [("value", False), ("risk", False)],
}
_COUNTS = ("buyers_not_added", "not_in_group", "at_risk")


@dataclass(frozen=True, eq=False)
class _TodoParts:
    """One store's to-do before naming and masking: counts per guide and the (raw) lists.

    ``counts`` is indexed by staff_id (NaN: the buyers no guide sold to) with the distinct customers
    of each list and ``at_risk_relationships``; the lists have the columns of today's queries.
    """

    counts: pd.DataFrame
    buyers: pd.DataFrame
    not_grouped: pd.DataFrame
    risky: pd.DataFrame
    note: str | None


def store_todo(wb: Workbench, store_id: str, as_of: Any = None, horizon_days: int = 30, buyer_days: int = 90,
               value: str = "clv", limit_per_guide: int | None = 50, key: str | bytes | None = None,
               data_dir: str | Path | None = None) -> StoreTodo:
    """The store's to-do at ``as_of`` (default the workbench's as-of), split by guide.

    * **buyers not added**: customers with an order at the store (``orders.store_id``, any channel)
      in the ``buyer_days`` days before ``as_of`` who have no open relationship with any staff member
      of the brand at ``as_of``. Their guide is the store guide who shared their latest such order
      (``share_staff_id``); the rest are unassigned (staff_id NULL).
    * **not in a group**: persons with an open relationship at ``as_of`` with a guide of the store
      who are in none of the store's groups (as :func:`workbench.metrics.current_contacts`
      ``added_not_in_group``). Each person is one to-do, listed under the guide of their oldest open
      relationship at the store (ties by staff id), so the guides' counts add up to the store's.
    * **at risk**: open relationships with a guide of the store in the brand's top decile of the Cox
      probability of a delete within ``horizon_days`` (the leaderboard's ``at_risk``), listed by
      ``value`` (``"clv"`` expected 12-month value, or ``"gmv"`` trailing 12 months), highest first.

    Lists carry masked ids only: ``key`` (else ``WORKBENCH_MASK_KEY``, else the brand's key file
    selected by ``data_dir``) keys the tokens. ``limit_per_guide`` caps each guide's list (None: all);
    ties are listed by customer.

    With a current layer the counts and capped lists of every store are computed once and kept
    beside it (:func:`~workbench.engine.memo.memoised`: a batch's store pages share them, raw ids
    as in the layer itself); each page masks its own store's rows. Without one, or with
    ``limit_per_guide=None``, the store's own queries run, as cheap for a single page.

    Examples
    --------
    >>> todo = store_todo(wb, "S001", horizon_days=30)      # doctest: +SKIP
    >>> todo.per_guide.head(), todo.at_risk_list.head()      # doctest: +SKIP
    """
    store_id = check_store(wb, store_id)
    if store_id is None:
        raise ParameterError("store_todo needs a store_id")
    at = require_as_of(wb, as_of, "as_of")
    a = literal(at)
    secret = mask_key(data_dir) if key is None else (key.encode() if isinstance(key, str) else key)
    wb.require("contact_events")
    args = (at, float(horizon_days), int(buyer_days), value)
    brand_wide = limit_per_guide is not None and memo_path(wb, "store_todo_buyers", ()) is not None
    parts = (_brand_parts(wb, store_id, *args, max(int(limit_per_guide), 1)) if brand_wide
             else _store_parts(wb, store_id, *args))
    guides = wb.query(f"""SELECT staff_id, display_name, CASE WHEN left_at IS NULL OR left_at >= {a} THEN 1 ELSE 0 END
                          AS employed FROM ({guide_dims_sql(wb, store_id)}) g""")
    per_guide = _per_guide(guides, parts.counts)
    names = dict(zip(per_guide["staff_id"], per_guide["display_name"], strict=False))

    def listed(df: pd.DataFrame, name: str) -> pd.DataFrame:
        order = [c for c, _ in _ORDERS[name]] + ["customer_id"]
        df = df.assign(display_name=df["staff_id"].map(names).fillna(UNASSIGNED))
        df = df.sort_values(["display_name", *order], ascending=[True, *[up for _, up in _ORDERS[name]], True],
                            na_position="last")
        df = df[["display_name", "staff_id", *[c for c in df.columns if c not in ("display_name", "staff_id")]]]
        return _mask(_limit(df, limit_per_guide), secret)

    counts, note, where = parts.counts, parts.note, f"store {store_id}"
    return StoreTodo(
        store_id, at, int(horizon_days), int(buyer_days),
        Stated(float(counts["buyers_not_added"].sum()), "persons",
               f"customers who ordered at {where} in the {buyer_days} days before as-of and are nobody's contact "
               "at as-of", at - pd.Timedelta(days=int(buyer_days)), at),
        Stated(float(counts["not_in_group"].sum()), "persons",
               f"contacts of the guides of {where} at as-of who are in none of its groups", None, at),
        Stated(float(counts["at_risk_relationships"].sum()) if note is None else float("nan"), "count",
               f"open relationships with guides of {where} in the brand's top decile of the probability of a "
               f"delete within {horizon_days} days", at, at + pd.Timedelta(days=int(horizon_days))),
        per_guide, listed(parts.buyers, "buyers"), listed(parts.not_grouped, "not_in_group"),
        listed(parts.risky, "at_risk"), note)


# ---------------------------------------------------------------------- one store's queries
def _store_parts(wb: Workbench, store_id: str, at: pd.Timestamp, horizon: float, buyer_days: int,
                 value: str) -> _TodoParts:
    """The store's to-do from the brand-wide rules run on its guides only (no layer to keep every store's beside)."""
    g = guide_dims_sql(wb, store_id)
    buyers = wb.query(_buyers_sql(wb, g, at, buyer_days, store_id)).drop(columns="store_id")
    not_grouped = wb.query(_not_grouped_sql(wb, g, at)).drop(columns="store_id")
    try:
        risky, note = wb.query(_at_risk_sql(wb, g, at, horizon, value)).drop(columns="store_id"), None
    except _NO_MODEL as exc:   # too few spells for a Cox model: said on the page
        risky, note = pd.DataFrame(columns=["staff_id", "customer_id", "risk", "value"]), str(exc)
    by = [df.groupby("staff_id", dropna=False)["customer_id"].nunique().rename(name)
          for name, df in zip(_COUNTS, (buyers, not_grouped, risky), strict=True)]
    by.append(risky.groupby("staff_id", dropna=False).size().rename("at_risk_relationships"))
    return _TodoParts(_count_frame(pd.concat(by, axis=1)), buyers, not_grouped, risky, note)


def _count_frame(counts: pd.DataFrame) -> pd.DataFrame:
    """Counts per staff_id as int64 columns (zeros where a guide has none of a list)."""
    cols = [*_COUNTS, "at_risk_relationships"]
    return counts.reindex(columns=cols).astype("float64").fillna(0).astype("int64")


_NO_MODEL = (WorkbenchError, ValueError, ArithmeticError, np.linalg.LinAlgError)


# ---------------------------------------------------------------------- every store at once
def _brand_parts(wb: Workbench, store_id: str, at: pd.Timestamp, horizon: float, buyer_days: int, value: str,
                 cap: int) -> _TodoParts:
    """The store's rows of the brand-wide memos: each list capped per (store, guide), with its counts."""
    g = f"SELECT * FROM ({guide_dims_sql(wb)}) g0 WHERE store_id IS NOT NULL"
    buyers = memoised(wb, "store_todo_buyers", (at, buyer_days, cap),
                      lambda: wb.query(_capped(_buyers_sql(wb, g, at, buyer_days), "buyers", cap,
                                               ["store_id", "staff_id", "customer_id", "last_order_time", "gmv"])))
    not_grouped = memoised(wb, "store_todo_not_in_group", (at, cap),
                           lambda: wb.query(_capped(_not_grouped_sql(wb, g, at), "not_in_group", cap,
                                                    ["store_id", "staff_id", "customer_id", "contact_since"])))

    def risk() -> tuple[pd.DataFrame, str | None]:
        cols = ["store_id", "staff_id", "customer_id", "risk", "value"]
        try:
            return wb.query(_capped(_at_risk_sql(wb, g, at, horizon, value), "at_risk", cap, cols)), None
        except _NO_MODEL as exc:   # as _store_parts: no Cox model, no list; the page says why
            return pd.DataFrame(columns=[*cols, "n_customers", "n_rows"]), str(exc)

    risky, note = memoised_with_note(wb, "store_todo_at_risk", (at, horizon, value, cap), risk)
    lists = [df[df["store_id"] == store_id].drop(columns="store_id").reset_index(drop=True)
             for df in (buyers, not_grouped, risky)]
    counts = []
    for name, df in zip(_COUNTS, lists, strict=True):
        per = df.groupby("staff_id", dropna=False)[["n_customers", "n_rows"]].first()
        counts.append(per["n_customers"].rename(name))
        if name == "at_risk":
            counts.append(per["n_rows"].rename("at_risk_relationships"))
    buyers, not_grouped, risky = (df.drop(columns=["n_customers", "n_rows"]) for df in lists)
    return _TodoParts(_count_frame(pd.concat(counts, axis=1)), buyers, not_grouped, risky, note)


def _capped(sql: str, name: str, cap: int, cols: list[str]) -> str:
    """``cols`` of ``sql``'s first ``cap`` rows of each (store, guide) in the list's order, with the group's sizes.

    ``n_customers`` counts the group's distinct customers and ``n_rows`` its rows, before the cap.
    Buyers and not-in-group rows are one per customer and store (one sort fewer); at-risk rows are
    relationships, so a customer is counted once there by a rank.
    """
    order = ", ".join(f"{c} {'ASC' if up else 'DESC'} NULLS LAST" for c, up in _ORDERS[name])
    part = "PARTITION BY store_id, staff_id"
    distinct = (f"SELECT x.*, DENSE_RANK() OVER ({part} ORDER BY customer_id) AS dr_ FROM ({sql}) x"
                if name == "at_risk" else f"SELECT x.*, 1 AS dr_ FROM ({sql}) x")
    customers = "MAX(dr_)" if name == "at_risk" else "COUNT(*)"
    return f"""
        SELECT {", ".join(cols)}, n_customers, n_rows FROM (
            SELECT y.*, ROW_NUMBER() OVER ({part} ORDER BY {order}, customer_id) AS rn_,
                   {customers} OVER ({part}) AS n_customers, COUNT(*) OVER ({part}) AS n_rows
            FROM ({distinct}) y
        ) z WHERE rn_ <= {literal(int(cap))}"""


def _buyers_sql(wb: Workbench, guides_sql: str, at: pd.Timestamp, days: int, store_id: str | None = None) -> str:
    """Buyers at each store (or at ``store_id``) in the window with no open relationship at ``at``.

    One row per (store, customer) with the guide of ``guides_sql`` at that store who shared their
    latest order there, else NULL.
    """
    a, since = literal(at), literal(at - pd.Timedelta(days=days))
    stores = "store_id IS NOT NULL" if store_id is None else f"store_id = {literal(store_id)}"
    return f"""
        WITH o AS (SELECT * FROM {wb.table_or_empty('orders')}
                   WHERE {stores} AND customer_id IS NOT NULL
                     AND order_time >= {since} AND order_time < {a}),
        b AS (SELECT store_id, customer_id, MAX(order_time) AS last_order_time, {money_sum('amount')} AS gmv
                 FROM o GROUP BY store_id, customer_id),
        open_now AS (SELECT DISTINCT customer_id FROM ({contact_intervals(wb)}) iv WHERE {open_at_sql('iv', a)}),
        seller AS (
            SELECT store_id, customer_id, share_staff_id AS staff_id FROM (
                SELECT o.store_id, o.customer_id, o.share_staff_id,
                       ROW_NUMBER() OVER (PARTITION BY o.store_id, o.customer_id
                                          ORDER BY o.order_time DESC, o.order_id DESC) AS rn
                FROM o JOIN ({guides_sql}) g ON g.staff_id = o.share_staff_id AND g.store_id = o.store_id
            ) x WHERE rn = 1)
        SELECT b.store_id, s.staff_id, b.customer_id, b.last_order_time, b.gmv
        FROM b LEFT JOIN open_now n ON n.customer_id = b.customer_id
        LEFT JOIN seller s ON s.store_id = b.store_id AND s.customer_id = b.customer_id
        WHERE n.customer_id IS NULL"""


def _not_grouped_sql(wb: Workbench, guides_sql: str, at: pd.Timestamp) -> str:
    """Contacts of the guides of ``guides_sql`` in none of their store's groups at ``at``.

    One row per person and store, under the guide of their oldest open relationship at the store (ties
    by staff id): a customer with two of a store's guides is one invitation to make, so the guides' rows
    add up to the store's.
    """
    a = literal(at)
    return f"""
        WITH g AS ({guides_sql}), m AS ({store_members_sql(wb, a)})
        SELECT store_id, staff_id, customer_id, contact_since FROM (
            SELECT g.store_id, iv.staff_id, iv.customer_id, iv.start_time AS contact_since,
                   ROW_NUMBER() OVER (PARTITION BY g.store_id, iv.customer_id
                                      ORDER BY iv.start_time, iv.staff_id) AS rn
            FROM ({contact_intervals(wb)}) iv JOIN g ON g.staff_id = iv.staff_id
            LEFT JOIN m ON m.customer_id = iv.customer_id AND m.store_id = g.store_id
            WHERE {open_at_sql('iv', a)} AND m.customer_id IS NULL) x
        WHERE rn = 1"""


def _at_risk_sql(wb: Workbench, guides_sql: str, at: pd.Timestamp, horizon: float, value: str) -> str:
    """Open relationships with the guides of ``guides_sql`` in the brand's top decile of delete risk.

    Raises what the Cox fit raises (:data:`_NO_MODEL`) when the brand has too few spells.
    """
    sql = risk_by_relationship_sql(wb, at, horizon, value)
    return f"""SELECT g.store_id, r.staff_id, r.customer_id, r.risk, r.value FROM ({sql}) r
               JOIN ({guides_sql}) g ON g.staff_id = r.staff_id WHERE r.top_decile = 1"""


def _per_guide(guides: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """One row per guide (employed at as-of, or holding a listed customer) and the unassigned buyers' row."""
    out = guides.set_index("staff_id")[["display_name", "employed"]]
    out = out.join(counts[list(_COUNTS)][counts.index.notna()], how="left")
    out = out.fillna({name: 0 for name in _COUNTS}).astype({name: "int64" for name in _COUNTS})
    # a guide who left is listed only while customers still wait on them
    out = out[(out["employed"] == 1) | (out[list(_COUNTS)].sum(axis=1) > 0)]
    out = out.reset_index().sort_values(["display_name", "staff_id"]).reset_index(drop=True)
    unassigned = int(counts.loc[counts.index.isna(), "buyers_not_added"].sum())
    if unassigned:
        row = pd.DataFrame([{"staff_id": None, "display_name": UNASSIGNED, "buyers_not_added": unassigned,
                             "not_in_group": 0, "at_risk": 0}])
        out = pd.concat([out, row], ignore_index=True)
    return out[["staff_id", "display_name", *_COUNTS]]


# ---------------------------------------------------------------------- KPIs vs peers
# kpi → (unit, lower is better, definition)
KPI_DEFS: dict[str, tuple[str, bool, str]] = {
    "add_persons": ("persons", False, "different customers who added a guide of the store in the period"),
    "deletes_per_1000": ("per_1000", True, "deletes (by customer or guide) per 1,000 contacts per month: deletes / "
                         "mean of contacts at the start and the end × 1,000 × (days per month / period days)"),
    "contacts": ("count", False, "open customer–guide relationships of the store at the end of the period"),
    "group_coverage": ("share", False, "share of the store's contact persons at the end in one of its groups"),
    "user_buyers": ("persons", False, "buyers at the store with an open WeCom relationship at order time"),
    "user_gmv": ("cny", False, "GMV of the store's orders whose buyer had an open WeCom relationship at order time"),
}


@dataclass(frozen=True)
class StoreKpi:
    """One KPI of the store: this period, the previous one, region and brand medians, rank k of n."""

    kpi: str
    current: Stated
    previous: Stated
    region_median: Stated
    brand_median: Stated
    rank: int | None          # 1 = best (lowest for a lower-is-better KPI); None without a value
    n_stores: int             # stores with a value
    lower_is_better: bool

    def rank_text(self, lang: str) -> str:
        """'第 12/60' (zh) or '12 of 60' (en); '–' without a rank."""
        if self.rank is None:
            return "–"
        return t("store.rank", lang, k=self.rank, n=self.n_stores)


@dataclass(frozen=True, eq=False)
class StoreKPIs:
    """The store's KPIs of ``[start, end)`` against its region, the brand and the previous period."""

    store_id: str
    region: str | None
    start: pd.Timestamp
    end: pd.Timestamp
    kpis: dict[str, StoreKpi]
    stores: pd.DataFrame          # every store's values this period: the ranks' and medians' base

    def table(self, lang: str) -> pd.DataFrame:
        """One row per KPI, values written in their units, translated headers."""
        rows = [{t("store.col_kpi", lang): t(f"store.kpi_{k.kpi}", lang), t("store.col_store", lang): k.current.text(),
                 t("store.col_previous", lang): k.previous.text(),
                 t("store.col_region_median", lang): k.region_median.text(),
                 t("store.col_brand_median", lang): k.brand_median.text(), t("store.col_rank", lang): k.rank_text(lang)}
                for k in self.kpis.values()]
        return pd.DataFrame(rows)


def _store_values(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, stores: pd.DataFrame) -> pd.DataFrame:
    """Every store's KPI values of ``[s, e)`` from the metric system (zeros for stores without activity)."""
    key = ["store_id"]
    acq = metrics.acquisition(wb, s, e, grain=None, by="store")[key + ["add_persons"]]
    los = metrics.losses(wb, s, e, grain=None, by="store")
    los = los.assign(deletes=los["deletes_by_customer"] + los["deletes_by_staff"])[key + ["deletes"]]
    cur = metrics.current_contacts(wb, e, by="store")[key + ["contacts", "contact_persons", "added_not_in_group"]]
    cur0 = metrics.current_contacts(wb, s, by="store")[key + ["contacts"]].rename(columns={"contacts": "contacts0"})
    df = stores[key].copy()
    for part in (acq, los, cur, cur0):
        df = df.merge(part, on=key, how="left")
    if wb.has_table("orders"):
        conv = metrics.conversion(wb, s, e, grain=None, by="store")[key + ["user_buyers", "user_gmv"]]
        df = df.merge(conv, on=key, how="left")
    else:
        df["user_buyers"] = df["user_gmv"] = 0.0
    df = df.fillna(0.0)
    exposure = (df["contacts"] + df["contacts0"]) / 2
    days = (e - s) / pd.Timedelta(days=1)
    df["deletes_per_1000"] = 1000 * df["deletes"] / exposure.where(exposure > 0) * DAYS_PER_MONTH / days
    df["group_coverage"] = ((df["contact_persons"] - df["added_not_in_group"])
                            / df["contact_persons"].where(df["contact_persons"] > 0))
    return df


def _rank(values: pd.Series, store_id: str, lower_is_better: bool) -> tuple[int | None, int]:
    """Competition rank (1 = best; ties share the best rank) of ``store_id`` among stores with a value."""
    known = values.dropna()
    if store_id not in known.index:
        return None, len(known)
    ranks = known.rank(method="min", ascending=lower_is_better)
    return int(ranks[store_id]), len(known)


def store_kpis(wb: Workbench, store_id: str, start: Any, end: Any) -> StoreKPIs:
    """The store's KPIs of ``[start, end)`` against its region, the brand, the previous period.

    Beside each value: the previous period of equal length, the median store of its region and
    of the brand, and the store's rank among the brand's stores.

    Medians and ranks are over stores with a value (a store without contacts has no coverage);
    a KPI's rank is 1 for the best store (the lowest deletes per 1,000 contacts).

    Examples
    --------
    >>> k = store_kpis(wb, "S001", "2025-12-02", "2026-01-01")      # doctest: +SKIP
    >>> k.kpis["add_persons"].rank_text("zh")                        # doctest: +SKIP
    '第 3/12'
    """
    store_id = check_store(wb, store_id)
    if store_id is None:
        raise ParameterError("store_kpis needs a store_id")
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    if e <= s:
        raise ParameterError(f"end ({e}) must be after start ({s})")
    ps = s - (e - s)
    if wb.has_table("stores"):
        stores = wb.frame("stores")
        stores = stores.assign(region=stores["region"] if "region" in stores else None)[["store_id", "region"]]
    else:
        stores = wb.query("SELECT DISTINCT store_id, CAST(NULL AS VARCHAR) AS region FROM staff "
                          "WHERE store_id IS NOT NULL")
    # every store's values, the same on each store page of a batch: computed once per layer snapshot
    now = memoised(wb, "store_kpi_values", (s, e), lambda: _store_values(wb, s, e, stores)).set_index("store_id")
    before = memoised(wb, "store_kpi_values", (ps, s), lambda: _store_values(wb, ps, s, stores)).set_index("store_id")
    region = stores.set_index("store_id")["region"].get(store_id)
    region = None if region is None or (isinstance(region, float) and math.isnan(region)) else str(region)
    peers = now.index[stores.set_index("store_id")["region"].reindex(now.index) == region] if region else []
    kpis = {}
    for name, (unit, lower, definition) in KPI_DEFS.items():
        point = name in ("contacts", "group_coverage")   # stocks at the period's end
        span = (None, e) if point else (s, e)
        col = now[name].astype(float)
        rank, n = _rank(col, store_id, lower)
        kpis[name] = StoreKpi(
            name,
            Stated(float(col[store_id]), unit, definition, *span),
            Stated(float(before[name].astype(float)[store_id]), unit, definition, None if point else ps, s),
            Stated(float(col.reindex(peers).median()) if len(peers) else float("nan"), unit,
                   f"median over the stores of region {region}: {definition}", *span),
            Stated(float(col.median()), unit, f"median over the brand's stores: {definition}", *span),
            rank, n, lower)
    return StoreKPIs(store_id, region, s, e, kpis, now.reset_index())
