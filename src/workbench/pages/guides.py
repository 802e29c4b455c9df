"""The guide leaderboard (HQ and store pages): one row per guide, every column a metric of the period.

:func:`guide_leaderboard` returns a :class:`GuideLeaderboard`: a frame with one row per guide of the
brand (or of one store), zero-activity and departed guides included, computed in the engine in one
query plus one risk-scoring query. Every column of a guide's row is the guide's own, so with a current
layer both are computed for the whole brand once and kept beside it (a batch's HQ and store pages
share them) and a store page takes its guides' rows. Definitions (each column's, in :data:`COLUMNS`):

* **adds / add_persons**: add events to the guide in ``[start, end)`` (person-times) and the distinct
  customers behind them (persons) — :func:`workbench.metrics.acquisition` by staff.
* **deletes**: relationships with the guide closed in the period by the customer or by the guide.
  Transfers (在职/离职继承) and closes because the guide left are *not* deletes.
  ``net = adds − deletes`` (person-times); with transfers it is not the change in contacts.
* **contacts**: relationships with the guide open at ``end``; **group_coverage**: the share of them
  whose customer is at ``end`` a member of a group of the guide's store (of any group of the brand for
  a guide without a store) — :func:`workbench.metrics.current_contacts`' rule.
* **chats**: distinct customers the guide had a 1:1 chat touch with in the period.
* **pushes_executed / pushes_assigned**: with ``mass_sends``, the guide's mass-send assignments
  created in the period that were sent / all of them (every status counts in the denominator); without
  it, touches with a ``task_id`` of type ``task_push`` or ``mass_send`` (executed), assigned unknown.
* **user view**: orders in the period whose customer had a relationship with this guide open at the
  order time (one order counts for each guide the customer had, so guide rows do not sum to the
  brand's user-view GMV); **task view**: orders whose ``share_staff_id`` is the guide.
* **at_risk**: the guide's open relationships at ``as_of`` whose Cox probability of a delete within
  ``horizon_days`` is in the brand's top decile (``PERCENT_RANK`` ≥ 0.9 over every open relationship
  of the brand); **expected_deletes**: the sum of those probabilities over the guide's relationships
  (:func:`workbench.churn.risk.at_risk_by` by staff).
* **reply_rate / reply_minutes**: from ``staff_daily`` when present, the days' reply percentage and
  average first-reply time weighted by the day's ``chat_cnt``.

**Bottom performers** (:data:`BOTTOM_RULE`): among guides still employed at ``end`` who held at least
``min_contacts`` contacts at ``start`` or ``end``, the ``bottom_share`` with the lowest net adds per
100 contacts (contacts at the start, at least one), ties at the cut included; none when fewer than
``min_guides`` guides qualify. Per 100 contacts so a large book's larger delete count is not read as
poor work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..churn.risk import relationship_risk_sql
from ..engine import Workbench, literal, money_sum, to_timestamp
from ..engine.memo import memo_path, memoised, memoised_with_note
from ..errors import ParameterError, WorkbenchError
from ..i18n import t
from ..relations import contact_intervals, group_dims, group_intervals, open_at_sql, store_regions
from ._base import Stated
from .ops import check_store

__all__ = ["GuideLeaderboard", "guide_leaderboard", "guide_dims_sql", "store_members_sql", "risk_by_relationship_sql",
           "COLUMNS", "BOTTOM_RULE", "TOP_DECILE"]

TOP_DECILE = 0.9
_TOP_DECILE_CUT = "__wb_top_decile_cut"
BOTTOM_RULE = ("guides employed at the end with at least {min_contacts} contacts at the start or the end; the "
               "lowest {share:.0%} (at least one) by net adds per 100 contacts at the start; none with fewer "
               "than {min_guides} such guides")

# column → (unit, i18n key of its header). Units are keys of workbench.pages.UNITS.
COLUMNS: dict[str, tuple[str, str]] = {
    "display_name": ("text", "guides.col_guide"),
    "store_name": ("text", "guides.col_store"),
    "region": ("text", "guides.col_region"),
    "departed": ("text", "guides.col_departed"),
    "adds": ("person_times", "guides.col_adds"),
    "add_persons": ("persons", "guides.col_add_persons"),
    "deletes_by_customer": ("person_times", "guides.col_deletes_by_customer"),
    "deletes_by_staff": ("person_times", "guides.col_deletes_by_staff"),
    "deletes": ("person_times", "guides.col_deletes"),
    "net": ("person_times", "guides.col_net"),
    "contacts": ("count", "guides.col_contacts"),
    "group_coverage": ("share", "guides.col_group_coverage"),
    "chats": ("persons", "guides.col_chats"),
    "pushes_executed": ("count", "guides.col_pushes_executed"),
    "pushes_assigned": ("count", "guides.col_pushes_assigned"),
    "push_rate": ("share", "guides.col_push_rate"),
    "user_buyers": ("persons", "guides.col_user_buyers"),
    "user_gmv": ("cny", "guides.col_user_gmv"),
    "task_buyers": ("persons", "guides.col_task_buyers"),
    "task_gmv": ("cny", "guides.col_task_gmv"),
    "at_risk": ("count", "guides.col_at_risk"),
    "expected_deletes": ("number", "guides.col_expected_deletes"),
    "reply_rate": ("share", "guides.col_reply_rate"),
    "reply_minutes": ("number", "guides.col_reply_minutes"),
}


# ---------------------------------------------------------------------- shared relations
def guide_dims_sql(wb: Workbench, store_id: str | None = None) -> str:
    """One row per guide: staff_id, display_name, store_id, store_name, region, hired_at, left_at.

    ``display_name`` is ``staff_name``, else the staff id. Reads ``staff`` (required) and
    ``stores`` (optional: store_name falls back to the store id, region NULL). A candidate for
    :mod:`workbench.relations` (staff display names are wanted by every guide-level page).
    """
    wb.require("staff")
    cond = "s.role = 'guide'" + (f" AND s.store_id = {literal(store_id)}" if store_id is not None else "")
    return f"""
        SELECT s.staff_id, COALESCE(s.staff_name, s.staff_id) AS display_name, s.store_id,
               COALESCE(st.store_name, s.store_id) AS store_name, sr.region, s.hired_at, s.left_at
        FROM staff s
        LEFT JOIN {wb.table_or_empty('stores')} st ON st.store_id = s.store_id
        LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = s.store_id
        WHERE {cond}"""


def store_members_sql(wb: Workbench, at: str) -> str:
    """Customers in a group at SQL timestamp ``at``: one row per (store_id, customer_id).

    The brand-level membership (any group) is the row with store_id ``'*'``; a group without a
    store counts only there.
    """
    open_members = f"""
        SELECT gv.customer_id, gd.store_id FROM ({group_intervals(wb)}) gv
        LEFT JOIN ({group_dims(wb)}) gd ON gd.group_id = gv.group_id WHERE {open_at_sql('gv', at)}"""
    return f"""
        SELECT DISTINCT store_id, customer_id FROM ({open_members}) m WHERE store_id IS NOT NULL
        UNION SELECT DISTINCT '*' AS store_id, customer_id FROM ({open_members}) m"""


def risk_by_relationship_sql(wb: Workbench, as_of: pd.Timestamp, horizon_days: float, value: str = "gmv") -> str:
    """Open relationships at ``as_of`` with ``risk``, ``value`` and ``top_decile`` (1 in the brand's top 10%).

    ``top_decile`` is 1 when ``PERCENT_RANK() OVER (ORDER BY risk)`` ≥ 0.9 across every open
    relationship of the brand (ties at the cut included). Raises what the Cox fit raises when the
    brand has too few spells.

    The rank is a sort of every open relationship of the brand, while a store page needs its own
    guides' rows: the smallest risk with a percent rank of at least 0.9 (:func:`top_decile_cut`) is
    computed once, kept beside a current layer for the batch's other pages, and each row compared
    with it. Percent rank does not decrease with risk and ties share it, so ``risk ≥ cut`` holds for
    exactly the rows the rank puts in the top decile; the cut is a one-row relation, not an SQL
    literal, so the comparison is with the very same double.
    """
    sql, _ = relationship_risk_sql(wb, as_of, horizon_days, value)
    cut = top_decile_cut(wb, sql, as_of, horizon_days)
    return f"""
        SELECT r.*, CASE WHEN r.risk >= c.cut THEN 1 ELSE 0 END AS top_decile
        FROM ({sql}) r CROSS JOIN {cut} c"""


def top_decile_cut(wb: Workbench, risk_sql: str, as_of: pd.Timestamp, horizon_days: float) -> str:
    """The name of a one-row relation whose ``cut`` is the smallest risk in the brand's top decile (NULL: none).

    ``risk_sql`` is :func:`~workbench.churn.risk.relationship_risk_sql`'s query for ``as_of`` and
    ``horizon_days`` (its risk does not depend on the value column).
    """
    cut = memoised(wb, "top_decile_risk", (pd.Timestamp(as_of), float(horizon_days)), lambda: wb.query(f"""
        SELECT CAST(MIN(risk) AS DOUBLE) AS cut FROM (
            SELECT risk, PERCENT_RANK() OVER (ORDER BY risk) AS pr FROM ({risk_sql}) r
        ) x WHERE pr >= {TOP_DECILE!r}"""))
    # one name per as-of and horizon: a page may hold two risk queries at once
    name = f"{_TOP_DECILE_CUT}_{pd.Timestamp(as_of):%Y%m%d%H%M%S}_{int(round(float(horizon_days) * 1000))}"
    wb.register(name, cut)
    return name


# ---------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class GuideLeaderboard:
    """The guide leaderboard of ``[start, end)`` for the brand or one store.

    ``rows`` has one row per guide (columns of :data:`COLUMNS` plus ``staff_id``, ``store_id``,
    ``bottom``); the headline numbers are :class:`~workbench.pages.Stated`.
    """

    store_id: str | None
    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    rows: pd.DataFrame
    guides: Stated
    departed: Stated
    bottom_rule: str
    has_mass_sends: bool
    has_behaviour: bool
    risk_note: str | None = None            # why at_risk is empty (the Cox model could not be fitted)
    definitions: dict[str, str] = field(default_factory=dict)
    bottom_share: float = 0.1
    min_contacts: int = 20

    def rule_text(self, lang: str) -> str:
        """The bottom-performer rule as a sentence for the page."""
        return t("guides.bottom_rule", lang, min_contacts=self.min_contacts,
                 share=Stated(self.bottom_share, "share", "").text())

    @property
    def bottom_performers(self) -> pd.DataFrame:
        """The rows flagged by :data:`BOTTOM_RULE`, lowest net adds per 100 contacts first."""
        return self.rows[self.rows["bottom"]].sort_values(["net_per_100", "display_name"]).reset_index(drop=True)

    def sorted_by(self, column: str, ascending: bool = False) -> pd.DataFrame:
        """All guides sorted by ``column`` (missing values last, then by name)."""
        if column not in self.rows.columns:
            raise ParameterError(f"the leaderboard has no column {column!r} (columns: {', '.join(self.rows.columns)})")
        return self.rows.sort_values([column, "display_name"], ascending=[ascending, True],
                                     na_position="last").reset_index(drop=True)

    def table(self, lang: str, sort: str = "net", ascending: bool = False) -> pd.DataFrame:
        """The display table: translated headers (units in them), departed as a word, sorted."""
        shown = [c for c in COLUMNS if c in self.rows.columns]
        if not self.has_behaviour:
            shown = [c for c in shown if c not in ("reply_rate", "reply_minutes")]
        if not self.has_mass_sends:
            shown = [c for c in shown if c not in ("pushes_assigned", "push_rate")]
        df = self.sorted_by(sort, ascending)[shown].copy()
        df["departed"] = np.where(df["departed"], t("guides.yes", lang), "")
        return df.rename(columns={c: t(COLUMNS[c][1], lang) for c in shown})

    def formats(self, lang: str) -> dict[str, str]:
        """``styled_table`` formats of :meth:`table`'s numeric columns (int/cny/pct/float)."""
        kind = {"person_times": "int", "persons": "int", "count": "int", "cny": "cny", "share": "pct",
                "number": "float"}
        return {t(key, lang): kind[unit] for unit, key in COLUMNS.values() if unit in kind}

    def finding(self, lang: str) -> str:
        """The sentence on the board: how many guides, who is at the bottom by the stated rule."""
        bottom = self.bottom_performers
        if not len(bottom):
            return t("guides.finding_no_bottom", lang, n=self.guides.text())
        names = t("guides.list_sep", lang).join(bottom["display_name"].astype(str))
        return t("guides.finding_bottom", lang, n=self.guides.text(), k=len(bottom), names=names)


# ---------------------------------------------------------------------- the query
def _activity_sql(wb: Workbench, s: str, e: str, store_id: str | None) -> str:
    push_types = "('task_push', 'mass_send')"
    if wb.has_table("mass_sends"):
        pushes = f"""SELECT staff_id, SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS pushes_executed,
                            COUNT(*) AS pushes_assigned
                     FROM mass_sends WHERE created_at >= {s} AND created_at < {e} GROUP BY staff_id"""
    else:
        pushes = f"""SELECT staff_id, COUNT(*) AS pushes_executed, CAST(NULL AS BIGINT) AS pushes_assigned
                     FROM {wb.table_or_empty('touches')}
                     WHERE task_id IS NOT NULL AND touch_type IN {push_types}
                       AND event_time >= {s} AND event_time < {e} GROUP BY staff_id"""
    if wb.has_table("staff_daily"):
        behaviour = f"""
            SELECT staff_id,
                   SUM(CASE WHEN reply_percentage IS NOT NULL THEN reply_percentage * chat_cnt END) / 100.0
                     / NULLIF(SUM(CASE WHEN reply_percentage IS NOT NULL THEN chat_cnt END), 0) AS reply_rate,
                   SUM(CASE WHEN avg_reply_time IS NOT NULL THEN avg_reply_time * chat_cnt END)
                     / NULLIF(SUM(CASE WHEN avg_reply_time IS NOT NULL THEN chat_cnt END), 0) AS reply_minutes
            FROM staff_daily WHERE stat_date >= {s} AND stat_date < {e} GROUP BY staff_id"""
    else:
        behaviour = ("SELECT CAST(NULL AS VARCHAR) AS staff_id, CAST(NULL AS DOUBLE) AS reply_rate, "
                     "CAST(NULL AS DOUBLE) AS reply_minutes WHERE FALSE")
    orders = wb.table_or_empty("orders")
    touches = wb.table_or_empty("touches")
    return f"""
        WITH g AS ({guide_dims_sql(wb, store_id)}),
        iv AS (SELECT * FROM ({contact_intervals(wb)}) i WHERE i.staff_id IN (SELECT staff_id FROM g)),
        adds AS (SELECT staff_id, COUNT(*) AS adds, COUNT(DISTINCT customer_id) AS add_persons
                 FROM contact_events WHERE event_type = 'add' AND event_time >= {s} AND event_time < {e}
                 GROUP BY staff_id),
        dels AS (SELECT staff_id,
                        SUM(CASE WHEN end_type = 'delete_by_customer' THEN 1 ELSE 0 END) AS deletes_by_customer,
                        SUM(CASE WHEN end_type = 'delete_by_staff' THEN 1 ELSE 0 END) AS deletes_by_staff
                 FROM iv WHERE end_time >= {s} AND end_time < {e} GROUP BY staff_id),
        members AS ({store_members_sql(wb, e)}),
        cur AS (SELECT iv.staff_id, COUNT(*) AS contacts,
                       SUM(CASE WHEN m.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS in_group
                FROM iv JOIN g ON g.staff_id = iv.staff_id
                LEFT JOIN members m ON m.customer_id = iv.customer_id AND m.store_id = COALESCE(g.store_id, '*')
                WHERE {open_at_sql('iv', e)} GROUP BY iv.staff_id),
        cur0 AS (SELECT staff_id, COUNT(*) AS contacts_start FROM iv WHERE {open_at_sql('iv', s)} GROUP BY staff_id),
        chats AS (SELECT staff_id, COUNT(DISTINCT customer_id) AS chats FROM {touches}
                  WHERE touch_type = 'chat' AND event_time >= {s} AND event_time < {e} GROUP BY staff_id),
        pushes AS ({pushes}),
        uv AS (SELECT iv.staff_id, COUNT(DISTINCT o.customer_id) AS user_buyers,
                      {money_sum('o.amount')} AS user_gmv
               FROM {orders} o JOIN iv ON iv.customer_id = o.customer_id AND {open_at_sql('iv', 'o.order_time')}
               WHERE o.order_time >= {s} AND o.order_time < {e} GROUP BY iv.staff_id),
        tv AS (SELECT share_staff_id AS staff_id, COUNT(DISTINCT customer_id) AS task_buyers,
                      {money_sum('amount')} AS task_gmv
               FROM {orders} WHERE share_staff_id IS NOT NULL AND order_time >= {s} AND order_time < {e}
               GROUP BY share_staff_id),
        beh AS ({behaviour})
        SELECT g.staff_id, g.display_name, g.store_id, g.store_name, g.region, g.hired_at, g.left_at,
               COALESCE(a.adds, 0) AS adds, COALESCE(a.add_persons, 0) AS add_persons,
               COALESCE(d.deletes_by_customer, 0) AS deletes_by_customer,
               COALESCE(d.deletes_by_staff, 0) AS deletes_by_staff,
               COALESCE(c.contacts, 0) AS contacts, COALESCE(c.in_group, 0) AS in_group,
               COALESCE(c0.contacts_start, 0) AS contacts_start, COALESCE(ch.chats, 0) AS chats,
               COALESCE(p.pushes_executed, 0) AS pushes_executed, p.pushes_assigned,
               COALESCE(u.user_buyers, 0) AS user_buyers, COALESCE(u.user_gmv, 0) AS user_gmv,
               COALESCE(v.task_buyers, 0) AS task_buyers, COALESCE(v.task_gmv, 0) AS task_gmv,
               b.reply_rate, b.reply_minutes
        FROM g LEFT JOIN adds a ON a.staff_id = g.staff_id LEFT JOIN dels d ON d.staff_id = g.staff_id
        LEFT JOIN cur c ON c.staff_id = g.staff_id LEFT JOIN cur0 c0 ON c0.staff_id = g.staff_id
        LEFT JOIN chats ch ON ch.staff_id = g.staff_id LEFT JOIN pushes p ON p.staff_id = g.staff_id
        LEFT JOIN uv u ON u.staff_id = g.staff_id LEFT JOIN tv v ON v.staff_id = g.staff_id
        LEFT JOIN beh b ON b.staff_id = g.staff_id
        WHERE (g.hired_at IS NULL OR g.hired_at < {e}) AND (g.left_at IS NULL OR g.left_at >= {s})"""


def _guide_rows(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, store_id: str | None) -> pd.DataFrame:
    """The engine's counts of every guide of the brand (kept beside a current layer), or of one store.

    Every column of a guide's row is the guide's own (its store's groups, the brand's top decile),
    so a store's rows are the brand's rows of its guides: a batch's HQ and store pages share one
    brand-wide query. Without a layer to keep it, a store page queries its own guides only.
    """
    if store_id is not None and memo_path(wb, "guide_rows", ()) is None:
        return wb.query(_activity_sql(wb, literal(s), literal(e), store_id))
    rows = memoised(wb, "guide_rows", (s, e), lambda: wb.query(_activity_sql(wb, literal(s), literal(e), None)))
    if store_id is None:
        return rows
    return rows[rows["store_id"] == store_id].reset_index(drop=True)


def _risk_by_guide(wb: Workbench, as_of: pd.Timestamp, horizon_days: float) -> tuple[pd.DataFrame, str | None]:
    """Per staff: at_risk (top-decile relationships) and expected_deletes; a note instead when no model fits."""
    try:
        sql = risk_by_relationship_sql(wb, as_of, horizon_days, value="gmv")
        # expected deletes summed exactly (as decimals), like money: the stated count is then free of thread order
        df = wb.query(f"""SELECT staff_id, SUM(top_decile) AS at_risk, {money_sum('risk')} AS expected_deletes
                          FROM ({sql}) r GROUP BY staff_id""")
    except (WorkbenchError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        # too few spells to fit a Cox model: the columns stay empty and the page says why
        return pd.DataFrame(columns=["staff_id", "at_risk", "expected_deletes"]), str(exc)
    return df, None


def _bottom(rows: pd.DataFrame, share: float, min_contacts: int, min_guides: int) -> pd.Series:
    eligible = ~rows["departed"] & (rows[["contacts_start", "contacts"]].max(axis=1) >= min_contacts)
    flag = pd.Series(False, index=rows.index)
    if eligible.sum() < min_guides:
        return flag
    k = max(1, math.floor(share * eligible.sum()))
    cut = rows.loc[eligible, "net_per_100"].nsmallest(k).max()
    return eligible & (rows["net_per_100"] <= cut)


def guide_leaderboard(wb: Workbench, start: Any, end: Any, store_id: str | None = None, as_of: Any = None,
                      horizon_days: float = 30.0, bottom_share: float = 0.1, min_contacts: int = 20,
                      min_guides: int = 5) -> GuideLeaderboard:
    """Every guide of the brand (or of ``store_id``) with the period's numbers; bottom performers flagged.

    Guides are staff with role ``guide`` employed at some time in ``[start, end)`` (hired before
    ``end``, not left before ``start``); ``departed`` marks those who left before ``end``. Risk
    columns are scored at ``as_of`` (default ``end``). See the module docstring for each column.

    Examples
    --------
    >>> import workbench
    >>> staff = pd.DataFrame({"staff_id": ["E1", "E2"], "store_id": ["S1", "S1"], "role": ["guide", "guide"],
    ...                       "staff_name": ["Li Na", None]})
    >>> events = pd.DataFrame({"event_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]),
    ...                        "customer_id": ["C1", "C2", "C1"], "staff_id": "E1",
    ...                        "event_type": ["add", "add", "delete_by_customer"]})
    >>> stores = pd.DataFrame({"store_id": ["S1"], "store_name": ["One"]})
    >>> wb = workbench.open({"stores": stores, "staff": staff, "contact_events": events}, as_of="2025-02-01")
    >>> board = guide_leaderboard(wb, "2025-01-01", "2025-01-08")
    >>> board.rows[["display_name", "adds", "deletes", "net", "contacts"]].values.tolist()
    [['Li Na', 2, 1, 1, 1], ['E2', 0, 0, 0, 0]]
    """
    s, e = to_timestamp(start, "start"), to_timestamp(end, "end")
    if e <= s:
        raise ParameterError(f"end ({e}) must be after start ({s})")
    if not 0 < bottom_share < 1:
        raise ParameterError(f"bottom_share must be between 0 and 1, not {bottom_share!r}")
    at = to_timestamp(as_of, "as_of") if as_of is not None else e
    store_id = check_store(wb, store_id)
    wb.require("contact_events")
    rows = _guide_rows(wb, s, e, store_id)
    risk, note = memoised_with_note(wb, "guide_risk", (at, float(horizon_days)),
                                    lambda: _risk_by_guide(wb, at, horizon_days))
    rows = rows.merge(risk, on="staff_id", how="left")
    rows = _derive(rows, e, note is None, wb.has_table("mass_sends"))
    # the rule among the guides shown: after the store's rows are taken from the brand's
    rows["bottom"] = _bottom(rows, bottom_share, min_contacts, min_guides)
    rows = rows.sort_values(["net", "display_name", "staff_id"], ascending=[False, True, True]).reset_index(drop=True)
    scope = f"of store {store_id}" if store_id else "of the brand"
    guides = Stated(float(len(rows)), "count", f"guides {scope} employed at some time in the period", s, e)
    departed = Stated(float(rows["departed"].sum()), "count", f"guides {scope} who left before the period's end",
                      s, e)
    rule = BOTTOM_RULE.format(min_contacts=min_contacts, share=bottom_share, min_guides=min_guides)
    return GuideLeaderboard(store_id, s, e, at, rows, guides, departed, rule, wb.has_table("mass_sends"),
                            wb.has_table("staff_daily"), note, _DEFINITIONS, bottom_share, min_contacts)


def _derive(rows: pd.DataFrame, e: pd.Timestamp, scored: bool, assigned_known: bool) -> pd.DataFrame:
    """Columns computed from the engine's counts (small frame: one row per guide)."""
    if assigned_known:   # with mass-send results a guide without assignments had none; without, unknown
        rows["pushes_assigned"] = rows["pushes_assigned"].fillna(0)
    counts = ["adds", "add_persons", "deletes_by_customer", "deletes_by_staff", "contacts", "in_group",
              "contacts_start", "chats", "pushes_executed", "user_buyers", "task_buyers"]
    rows[counts] = rows[counts].astype("int64")
    for col in ("reply_rate", "reply_minutes", "pushes_assigned", "user_gmv", "task_gmv"):
        rows[col] = rows[col].astype(float)
    rows["departed"] = (rows["left_at"].notna() & (rows["left_at"] < e)).astype(bool)
    rows["deletes"] = rows["deletes_by_customer"] + rows["deletes_by_staff"]
    rows["net"] = rows["adds"] - rows["deletes"]
    rows["group_coverage"] = rows["in_group"] / rows["contacts"].where(rows["contacts"] > 0)
    rows["push_rate"] = rows["pushes_executed"] / rows["pushes_assigned"].where(rows["pushes_assigned"] > 0)
    rows["net_per_100"] = 100 * rows["net"] / rows["contacts_start"].clip(lower=1)
    if scored:
        # a guide without open relationships has no risk rows: nothing at risk
        rows["at_risk"] = rows["at_risk"].fillna(0).astype("int64")
        rows["expected_deletes"] = rows["expected_deletes"].fillna(0.0).astype(float)
    else:
        rows["at_risk"] = rows["expected_deletes"] = float("nan")
    return rows


_DEFINITIONS = {
    "adds": "add events to the guide in the period (person-times)",
    "add_persons": "different customers who added the guide in the period",
    "deletes": "relationships with the guide deleted in the period by the customer or the guide (transfers and "
               "departures are not deletes)",
    "net": "adds minus deletes, both person-times",
    "contacts": "relationships with the guide open at the end of the period",
    "group_coverage": "share of the guide's contacts at the end who are in a group of the guide's store",
    "chats": "different customers with a 1:1 chat from the guide in the period",
    "pushes": "mass-send assignments sent / all (mass_sends), else task pushes with a task id (touches)",
    "user_view": "orders in the period whose buyer had an open relationship with the guide at order time",
    "task_view": "orders in the period shared by the guide (share_staff_id)",
    "at_risk": "the guide's open relationships in the brand's top decile of 30-day delete probability (Cox)",
    "expected_deletes": "sum of the 30-day delete probabilities of the guide's open relationships",
    "reply": "reply rate and average first-reply minutes of the days in the period, weighted by chats "
             "(staff_daily)",
}
