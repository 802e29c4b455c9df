"""What the operations dashboard states (HQ view and store view), computed and tested here.

Every section returns a frozen dataclass of :class:`~workbench.pages.Stated` values (value, unit,
period, definition) plus the small tables the page lays out, and a ``finding(lang)`` method that
chooses the sentence from the numbers. The notebook only lays these out.

Rules this module keeps (README, "What a page states, and how it is checked"; docs/architecture.md,
"What a page may say"):

* **One unit per statement.** Adds and deletes are counted in person-times (every add / delete
  event, 人次), so that ``net adds = adds − deletes`` holds in one unit, and equals the change in
  open customer–guide relationships over the period. People (人数, deduplicated) are stated
  separately and labelled.
* **A store view is the store's.** With ``store_id`` every section is filtered to the store:
  adds to its guides (by the channel the customer scanned, brand-wide codes included), its
  groups, its scans, its orders. What is brand context is said so on the page.
* **Funnel rates on complete cohorts.** A customer who scanned yesterday has not had time to join
  a group or claim a coupon; rates over such cohorts are biased low (right-censored). Rates are
  computed over customers whose first scan lies at least ``follow_up_days`` before the end, each
  followed for exactly ``follow_up_days``.
* **Changes of shares are in percentage points**, changes of counts and money are relative.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats

from .. import metrics
from ..engine import Workbench, to_timestamp
from ..errors import ParameterError
from ..i18n import t
from ._base import Stated, Verdict, effect_verdict

__all__ = [
    "Kpi", "Headline", "Trend", "GmvTrend", "Funnel", "Channels", "Retention", "Conversion", "ToDo",
    "report_window", "check_store", "headline", "weekly_trend", "monthly_gmv", "funnel", "channels",
    "retention", "conversion", "todo",
]

FOLLOW_UP_DAYS = 14   # claim median 36 h: 14 days see all but a fraction of a percent of claims
MIN_SCANS = 30        # stores with fewer scans are listed but not named as best / worst


# ---------------------------------------------------------------------- period and scope
def report_window(wb: Workbench, as_of: Any, period_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The reporting period ``[start, end)``.

    ``[start, end)`` of the reporting period: ``end`` is ``as_of`` (exclusive), or the day after
    the data ends when ``as_of`` is empty.

    >>> report_window(None, "2026-01-01", 30)
    (Timestamp('2025-12-02 00:00:00'), Timestamp('2026-01-01 00:00:00'))
    """
    if int(period_days) <= 0:
        raise ParameterError(f"period_days must be a positive number of days, not {period_days!r}")
    if as_of:
        end = to_timestamp(as_of, "as_of").normalize()
    else:
        end = wb.data_end().normalize() + pd.Timedelta(days=1)
    return end - pd.Timedelta(days=int(period_days)), end


#: Days in the month of a monthly rate (365.25 / 12).
DAYS_PER_MONTH = 365.25 / 12


def check_store(wb: Workbench, store_id: str | None) -> str | None:
    """``store_id`` when the brand has that store (None/"" for the HQ view), else a ParameterError."""
    if not store_id:
        return None
    if wb.has_table("stores"):
        known = set(wb.frame("stores")["store_id"].astype(str))
        if str(store_id) not in known:
            sample = ", ".join(sorted(known)[:5])
            raise ParameterError(f"store_id {store_id!r} is not a store of this brand (e.g. {sample})")
    return str(store_id)


def _scope_row(df: pd.DataFrame, store_id: str | None, col: str = "store_id") -> pd.Series:
    """The HQ row of a brand-cut frame, or the store's row of a store-cut frame (zeros when absent)."""
    if store_id is None:
        return df.iloc[0] if len(df) else pd.Series(dtype=float)
    rows = df[df[col] == store_id]
    return rows.iloc[0] if len(rows) else pd.Series(0, index=df.columns, dtype=float)


def _get(row: pd.Series, key: str) -> float:
    v = row.get(key, 0)
    return float(0 if v is None or (isinstance(v, float) and math.isnan(v)) else v)


def _scope_text(store_id: str | None, lang: str) -> str:
    return t("ops.scope_store", lang, store=store_id) if store_id else t("ops.scope_brand", lang)


# ---------------------------------------------------------------------- headline KPIs
@dataclass(frozen=True)
class Kpi:
    """A headline number with the same number over the previous period of equal length.

    The change of a share is its difference in percentage points; of a count or money the
    relative change.

    >>> cur = Stated(0.3410, "share", "x"); prev = Stated(0.3390, "share", "x")
    >>> Kpi(cur, prev).change.text()
    '+0.20 pp'
    >>> Kpi(Stated(110, "persons", "x"), Stated(100, "persons", "x")).change_text()
    '+10.0%'
    >>> Kpi(Stated(-5, "person_times", "x"), Stated(20, "person_times", "x"), absolute_change=True).change_text()
    '-25'
    """

    current: Stated
    previous: Stated
    lower_is_better: bool = False
    absolute_change: bool = False   # a difference (net adds) changes by an amount: a ratio of it can flip sign

    @property
    def change(self) -> Stated:
        """Change from the previous period: percentage points for a share, else relative (or absolute)."""
        cur, prev = self.current.value, self.previous.value
        if self.current.unit == "share":
            return Stated(cur - prev, "pp", f"change in percentage points of: {self.current.definition}")
        if self.absolute_change:
            return Stated(cur - prev, self.current.unit, f"change of: {self.current.definition}")
        value = (cur - prev) / prev if prev else float("nan")
        return Stated(value, "relative", f"relative change of: {self.current.definition}")

    def change_text(self) -> str:
        """The change in its unit, always signed."""
        ch = self.change
        text = ch.text()
        if self.absolute_change and ch.value > 0:
            text = "+" + text
        return text


@dataclass(frozen=True)
class Headline:
    """Headline numbers of the period, each with the previous period."""

    store_id: str | None
    start: pd.Timestamp
    end: pd.Timestamp
    adds: Kpi
    add_persons: Kpi
    new_persons: Kpi
    deletes: Kpi
    moved_or_left: Kpi
    net_adds: Kpi
    delete_rate: Kpi
    contacts: Kpi
    gmv: Kpi | None = None
    user_share: Kpi | None = None
    task_gmv: Kpi | None = None
    buyers: Kpi | None = None

    def finding(self, lang: str) -> str:
        """The sentence on net adds.

        Net adds as adds − deletes in person-times, the people separately, and the WeCom share;
        the verb follows the sign of the net change.
        """
        net = self.net_adds.current.value
        key = "ops.finding_net_up" if net > 0 else "ops.finding_net_down" if net < 0 else "ops.finding_net_flat"
        moved = self.moved_or_left.current
        parts = [
            t(key + ("_moved" if moved.value else ""), lang, adds=self.adds.current.text(),
              deletes=self.deletes.current.text(), moved=moved.text(),
              net=self.net_adds.current.text(), net_abs=Stated(abs(net), "person_times", "").text()),
            t("ops.finding_persons", lang, persons=self.add_persons.current.text(),
              change=self.add_persons.change_text()),
        ]
        if self.user_share is not None:
            parts.append(t("ops.finding_share", lang, share=self.user_share.current.text(),
                           change=self.user_share.change_text()))
        return " ".join(parts)


def _counts(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, store_id: str | None,
            contacts: pd.DataFrame) -> dict[str, float]:
    """The headline's numbers of ``[s, e)``; ``contacts`` holds the open relationships at ``s`` and ``e``."""
    by = "store" if store_id else "brand"
    acq = _scope_row(metrics.acquisition(wb, s, e, grain=None, by=by, groups=False), store_id)
    los = _scope_row(metrics.losses(wb, s, e, grain=None, by=by, groups=False), store_id)

    def open_at(at: pd.Timestamp) -> float:
        return _get(_scope_row(contacts[contacts["at"] == at], store_id), "contacts")

    out = {"adds": _get(acq, "adds"), "add_persons": _get(acq, "add_persons"),
           "new_persons": _get(acq, "new_persons"), "deletes": _get(los, "deletes"),
           "moved_or_left": _get(los, "transfers_out") + _get(los, "staff_left_closes"),
           "contacts": open_at(e)}
    out["net_adds"] = out["adds"] - out["deletes"] - out["moved_or_left"]
    # a rate, because raw deletes rise with the number of contacts: per 1,000 contacts (the mean of the
    # period's first and last day) per month
    exposure = (open_at(s) + out["contacts"]) / 2
    days = (e - s) / pd.Timedelta(days=1)
    out["delete_rate"] = 1000 * out["deletes"] / exposure * DAYS_PER_MONTH / days if exposure > 0 else float("nan")
    if wb.has_table("orders"):
        conv = _scope_row(metrics.conversion(wb, s, e, grain=None, by=by), store_id)
        gmv = _get(conv, "gmv")
        out |= {"gmv": gmv, "user_share": _get(conv, "user_gmv") / gmv if gmv else float("nan"),
                "task_gmv": _get(conv, "task_gmv"), "buyers": _get(conv, "buyers")}
    return out


_HEADLINE_DEFS: dict[str, tuple[str, str]] = {
    "adds": ("person_times", "add events to {who} in the period (every add counts, re-adds and second guides too)"),
    "add_persons": ("persons", "different customers who added {who} in the period"),
    "new_persons": ("persons", "customers whose first add in the brand was to {who} in the period"),
    "deletes": ("person_times", "relationships with {who} that ended in the period (deleted by customer or staff)"),
    "moved_or_left": ("person_times", "relationships with {who} that ended without a delete in the period: moved "
                                      "to another guide (在职/离职继承) or closed when the guide left"),
    "delete_rate": ("per_1000", "deletes of relationships with {who} per 1,000 open relationships (the mean of the "
                                "period's first and last day) per month of 30.44 days"),
    "net_adds": ("person_times", "adds minus deletes minus relationships moved or closed at a departure, all in "
                                 "person-times: the change in open relationships"),
    "contacts": ("count", "open customer–guide relationships with {who} at the end of the period"),
    "gmv": ("cny", "sum of order amounts {where} in the period"),
    "user_share": ("share", "share of GMV {where} bought by customers with an open WeCom relationship at order time"),
    "task_gmv": ("cny", "GMV {where} of orders that carry a task id or a sharing guide (task links)"),
    "buyers": ("persons", "different customers who ordered {where} in the period"),
}


def headline(wb: Workbench, start: Any, end: Any, store_id: str | None = None) -> Headline:
    """Headline KPIs of ``[start, end)`` for the brand or one store, with the previous period.

    ``net_adds`` is ``adds − deletes − moved_or_left`` in person-times (all events), which is also
    the change in open relationships (``contacts``) over the period; ``moved_or_left`` counts the
    relationships that ended without a delete (moved to another guide, closed when the guide
    left), which are not losses. ``add_persons`` are people.
    In a store view, orders are the store's orders (``orders.store_id``).

    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> h = headline(wb, "2025-12-02", "2026-01-01")   # doctest: +SKIP
    >>> change = h.adds.current.value - h.deletes.current.value - h.moved_or_left.current.value  # doctest: +SKIP
    >>> h.net_adds.current.value == change  # doctest: +SKIP
    True
    """
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    store_id = check_store(wb, store_id)
    ps = s - (e - s)
    # the open relationships at the three instants in one pass (current_contacts' count, without its groups)
    contacts = metrics.contacts_at(wb, (ps, s, e), by="store" if store_id else "brand")
    now, before = _counts(wb, s, e, store_id, contacts), _counts(wb, ps, s, store_id, contacts)
    who = f"guides of store {store_id}" if store_id else "any guide of the brand"
    where = f"of store {store_id}" if store_id else "of the whole brand (stores and online)"
    kpis: dict[str, Kpi] = {}
    for key, value in now.items():
        unit, definition = _HEADLINE_DEFS[key]
        d = definition.format(who=who, where=where)
        point = key == "contacts"   # a stock at the end of each period, not a flow over it
        kpis[key] = Kpi(Stated(value, unit, d, None if point else s, e),
                        Stated(before[key], unit, d, None if point else ps, s),
                        lower_is_better=key in ("deletes", "delete_rate"), absolute_change=key == "net_adds")
    return Headline(store_id, s, e, **kpis)


# ---------------------------------------------------------------------- trends
@dataclass(frozen=True, eq=False)
class Trend:
    """Weekly adds, deletes and net adds, all in person-times, over complete weeks."""

    store_id: str | None
    weeks: pd.DataFrame          # period, adds, deletes, net_adds (person-times)
    avg_adds: Stated
    avg_deletes: Stated
    avg_net: Stated

    def finding(self, lang: str) -> str:
        """The sentence on the weekly trend of adds, deletes and net adds."""
        net = self.avg_net.value
        key = "ops.finding_trend_up" if net > 0 else "ops.finding_trend_down" if net < 0 else "ops.finding_trend_flat"
        return t(key, lang, weeks=len(self.weeks), avg_adds=self.avg_adds.text(),
                 avg_deletes=self.avg_deletes.text(), avg_net=Stated(abs(net), "person_times", "").text())


def weekly_trend(wb: Workbench, end: Any, weeks: int = 12, store_id: str | None = None) -> Trend:
    """The last ``weeks`` complete Monday-aligned weeks before ``end``: adds, deletes, net (person-times).

    Both series are events, so the chart has one unit and the net is their difference.
    """
    store_id = check_store(wb, store_id)
    e = pd.Timestamp(end).normalize()
    w_end = e - pd.Timedelta(days=e.weekday())
    w_start = w_end - pd.Timedelta(weeks=int(weeks))
    by = "store" if store_id else "brand"
    # the two event counts alone: no distinct persons, first adds or group events
    counts = metrics.adds_deletes(wb, w_start, w_end, grain="week", by=by)
    if store_id:
        counts = counts[counts["store_id"] == store_id]
    idx = pd.date_range(w_start, w_end - pd.Timedelta(days=1), freq="W-MON")
    frame = counts.groupby("period")[["adds", "deletes"]].sum().reindex(idx, fill_value=0)
    frame["net_adds"] = frame["adds"] - frame["deletes"]
    frame = frame.rename_axis("period").reset_index()

    def avg(col: str, what: str) -> Stated:
        return Stated(float(frame[col].mean()), "person_times", f"mean per complete week of {what}", w_start, w_end)

    return Trend(store_id, frame, avg("adds", "adds"), avg("deletes", "deletes"),
                 avg("net_adds", "adds minus deletes"))


@dataclass(frozen=True, eq=False)
class GmvTrend:
    """Monthly GMV (CNY): total, user view and task view; the current month is partial."""

    store_id: str | None
    months: pd.DataFrame         # period, gmv, user_gmv, task_gmv
    start: pd.Timestamp
    end: pd.Timestamp


def monthly_gmv(wb: Workbench, end: Any, months: int = 12, store_id: str | None = None) -> GmvTrend:
    """GMV by calendar month for the ``months`` months before ``end`` (brand or the store's orders)."""
    store_id = check_store(wb, store_id)
    e = pd.Timestamp(end)
    s = (e - pd.DateOffset(months=int(months))).normalize().replace(day=1)
    by = "store" if store_id else "brand"
    # no buyer counts: each is a distinct count over a year of orders the chart does not show
    conv = metrics.conversion(wb, s, e, grain="month", by=by, buyers=False)
    if store_id:
        conv = conv[conv["store_id"] == store_id]
    frame = conv.groupby("period", as_index=False)[["gmv", "user_gmv", "task_gmv"]].sum()
    return GmvTrend(store_id, frame, s, e)


# ---------------------------------------------------------------------- funnel
def _wilson(k: float, n: float, z: float = 1.96) -> tuple[float, float]:
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _rate(k: float, n: float, definition: str, s: pd.Timestamp, e: pd.Timestamp) -> Stated:
    lo, hi = _wilson(k, n)
    return Stated(k / n if n else float("nan"), "share", definition, s, e, lo, hi)


def _rate_change(k1: float, n1: float, k0: float, n0: float, definition: str) -> Stated:
    """Difference of two shares (pp) with a 95% normal interval (unpooled)."""
    if not (n1 and n0):
        return Stated(float("nan"), "pp", definition)
    p1, p0 = k1 / n1, k0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    q = float(stats.norm.ppf(0.975))
    return Stated(p1 - p0, "pp", definition, ci_low=p1 - p0 - q * se, ci_high=p1 - p0 + q * se)


_STEPS = (("add_rate", "scanned", "added", "added a guide within the follow-up, of those who scanned"),
          ("join_rate", "added", "joined", "joined a group after adding, within the follow-up, of those who added"),
          ("claim_rate", "joined", "claimed", "claimed a WeCom coupon after joining, within the follow-up, of joiners"))


@dataclass(frozen=True, eq=False)
class Funnel:
    """The acquisition funnel over complete cohorts.

    Scan → add → join → claim over complete cohorts: customers whose first scan fell in
    ``[cohort_start, cohort_end)``, each followed for ``follow_up_days`` (so ``cohort_end +
    follow_up_days <= end`` of the report). Scans after ``cohort_end`` are still in progress and
    left out.
    """

    store_id: str | None
    follow_up_days: int
    cohort_start: pd.Timestamp
    cohort_end: pd.Timestamp
    scanned: Stated
    added: Stated
    joined: Stated
    claimed: Stated
    add_rate: Stated
    join_rate: Stated
    claim_rate: Stated
    add_change: Stated       # vs the previous cohort of equal length, pp with a 95% interval
    join_change: Stated
    claim_change: Stated
    stores: pd.DataFrame     # per store (the store's row only in a store view)
    min_scans: int = MIN_SCANS

    def steps_text(self, lang: str) -> str:
        """The cohort the funnel follows, as text."""
        return t("ops.funnel_cohort", lang, start=f"{self.cohort_start:%Y-%m-%d}",
                 end=f"{self.cohort_end - pd.Timedelta(days=1):%Y-%m-%d}", days=self.follow_up_days)

    def finding(self, lang: str) -> str:
        """The sentence on the funnel's rates."""
        if not self.scanned.value:
            return t("ops.finding_funnel_none", lang, scope=_scope_text(self.store_id, lang))
        text = t("ops.finding_funnel_rates", lang, scanned=self.scanned.text(), add_rate=self.add_rate.text(),
                 join_rate=self.join_rate.text(), claim_rate=self.claim_rate.text())
        changes = []
        for step, ch in (("ops.add_rate", self.add_change), ("ops.join_rate", self.join_change),
                         ("ops.claim_rate", self.claim_change)):
            if ch.ci_low is None or math.isnan(ch.value):
                continue
            v = effect_verdict(ch.ci_low, ch.ci_high)
            word = {Verdict.POSITIVE: "ops.change_up", Verdict.NEGATIVE: "ops.change_down"}.get(v, "ops.change_flat")
            changes.append(t(word, lang, step=t(step, lang), change=ch.text()))
        if changes:
            text += " " + t("ops.finding_funnel_changes", lang, changes=t("ops.list_sep", lang).join(changes))
        return text

    def spread(self, lang: str) -> str | None:
        """Lowest and highest add rate among stores with at least ``min_scans`` scans (HQ view)."""
        big = self.stores[(self.stores["scanned"] >= self.min_scans) & self.stores["store_id"].notna()]
        if self.store_id or len(big) < 2:
            return None
        lo, hi = big.loc[big["add_rate"].idxmin()], big.loc[big["add_rate"].idxmax()]
        fmt = lambda v: Stated(v, "share", "").text()  # noqa: E731
        return t("ops.finding_funnel_spread", lang, low=fmt(lo["add_rate"]), low_store=lo["store_id"],
                 high=fmt(hi["add_rate"]), high_store=hi["store_id"], min_n=self.min_scans)


def funnel(wb: Workbench, start: Any, end: Any, store_id: str | None = None,
           follow_up_days: int = FOLLOW_UP_DAYS, min_scans: int = MIN_SCANS) -> Funnel:
    """Funnel rates of the latest complete cohort of the period's length before ``end``.

    The cohort window is ``[start − f, end − f)`` with ``f = follow_up_days``: the same length as
    the report period, shifted back so that every customer in it had the full follow-up before
    ``end``. Each step must follow within ``f`` days of the scan. The change is against the
    cohort window before it, in percentage points with a 95% interval.
    """
    store_id = check_store(wb, store_id)
    f = pd.Timedelta(days=int(follow_up_days))
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    cs, ce = s - f, e - f
    ps = cs - (e - s)
    by = "store" if store_id else "brand"

    # the cohort, the cohort before it and the cohort per store: one pass over the scans and the later steps
    cohort, previous, per_store = metrics.funnels(wb, [(cs, ce, by), (ps, cs, by), (cs, ce, "store")],
                                                  window_days=follow_up_days)
    now, before = _scope_row(cohort, store_id), _scope_row(previous, store_id)
    if store_id:
        per_store = per_store[per_store["store_id"] == store_id]
    per_store = per_store.sort_values("scanned", ascending=False).reset_index(drop=True)
    where = f" at store {store_id}" if store_id else ""
    did = {"scanned": "", "added": ", who added a guide", "joined": ", who added and then joined a group",
           "claimed": ", who added, joined and then claimed a WeCom coupon"}
    counts = {c: Stated(_get(now, c), "persons", f"customers whose first scan{where} fell in the cohort window{d}, "
                        f"each step within {follow_up_days} days of the scan", cs, ce) for c, d in did.items()}
    rates = {name: _rate(_get(now, k), _get(now, n), d, cs, ce) for name, n, k, d in _STEPS}
    changes = {name.replace("_rate", "_change"): _rate_change(_get(now, k), _get(now, n), _get(before, k),
                                                             _get(before, n), f"change vs the cohort before: {d}")
               for name, n, k, d in _STEPS}
    return Funnel(store_id, int(follow_up_days), cs, ce, **counts, **rates, **changes, stores=per_store,
                  min_scans=min_scans)


# ---------------------------------------------------------------------- channels
@dataclass(frozen=True, eq=False)
class Channels:
    """Adds by channel for one scope.

    Adds by channel (person-times), summing to the scope's adds; persons per row are people
    who added through that channel (a person adding through two channels counts in both rows).
    """

    store_id: str | None
    total_adds: Stated
    top_group: str | None         # a channel_group code, "unknown" for adds without a code
    top_adds: Stated
    top_share: Stated
    groups: pd.DataFrame          # channel_group, adds, add_persons, new_persons
    codes: pd.DataFrame           # channel_code, channel_group, adds, add_persons, store_id, cost

    def finding(self, lang: str) -> str:
        """The sentence on the channel group with the most adds."""
        if self.top_group is None or not self.total_adds.value:
            return t("ops.finding_channels_none", lang, scope=_scope_text(self.store_id, lang))
        return t("ops.finding_channels", lang, scope=_scope_text(self.store_id, lang),
                 top=t(f"channel_group.{self.top_group}", lang), adds=self.top_adds.text(),
                 total=self.total_adds.text(), share=self.top_share.text())


def channels(wb: Workbench, start: Any, end: Any, store_id: str | None = None) -> Channels:
    """Adds of the period by channel code.

    Adds of ``[start, end)`` by the channel code of the add: the brand's, or only adds to the
    store's guides (brand-wide codes included: a store guide added through the online mall is
    the store's add; other stores' adds through that code are not).
    """
    store_id = check_store(wb, store_id)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    by_code = metrics.acquisition(wb, s, e, grain=None, by="channel_code", store_id=store_id)
    if wb.has_table("channels"):
        chan = wb.frame("channels")
        keep = [c for c in ("channel_code", "channel_group", "store_id", "cost") if c in chan.columns]
        by_code = by_code.merge(chan[keep], on="channel_code", how="left")
    for c in ("channel_group", "store_id", "cost"):
        if c not in by_code:
            by_code[c] = None
    by_code["channel_group"] = by_code["channel_group"].where(by_code["channel_group"].notna(), "unknown")
    by_code = by_code.sort_values("adds", ascending=False).reset_index(drop=True)
    groups = (by_code.groupby("channel_group", as_index=False)[["adds", "add_persons", "new_persons"]].sum()
              .sort_values("adds", ascending=False).reset_index(drop=True))
    who = f"to guides of store {store_id}" if store_id else "to any guide"
    total = float(by_code["adds"].sum())
    total_s = Stated(total, "person_times", f"add events {who} in the period, all channels", s, e)
    if len(groups):
        top = groups.iloc[0]
        top_adds = Stated(float(top["adds"]), "person_times", f"add events {who} through the top channel group", s, e)
        share = Stated(top["adds"] / total if total else float("nan"), "share",
                       "the top channel group's adds as a share of all adds (person-times)", s, e)
        return Channels(store_id, total_s, str(top["channel_group"]), top_adds, share, groups, by_code)
    nan = Stated(float("nan"), "person_times", "no adds", s, e)
    return Channels(store_id, total_s, None, nan, Stated(float("nan"), "share", "no adds", s, e), groups, by_code)


# ---------------------------------------------------------------------- retention
@dataclass(frozen=True, eq=False)
class Retention:
    """Contacts and group members at the end of the period; the two work lists."""

    store_id: str | None
    at: pd.Timestamp
    added_not_in_group: Stated
    in_group_not_added: Stated
    stores: pd.DataFrame
    tools: pd.DataFrame | None = None          # HQ only: per-store usage and churn
    correlation: metrics.Correlation | None = None

    def finding(self, lang: str) -> str:
        """The sentence on contact and group coverage."""
        return t("ops.finding_coverage", lang, scope=_scope_text(self.store_id, lang),
                 not_in_group=self.added_not_in_group.text(), not_added=self.in_group_not_added.text())

    def tool_finding(self, lang: str) -> str | None:
        """The sentence on tool use and adds (``None`` without a correlation)."""
        c = self.correlation
        if c is None:
            return None
        key = "ops.finding_tool_flat" if c.ci_low <= 0 <= c.ci_high else "ops.finding_tool"
        return t(key, lang, n=c.n, r=f"{c.r:+.2f}", low=f"{c.ci_low:+.2f}", high=f"{c.ci_high:+.2f}")


def retention(wb: Workbench, start: Any, end: Any, store_id: str | None = None) -> Retention:
    """Contact and group coverage at ``end``.

    Coverage at ``end``: contacts not in a group and group members not added (persons, within
    the brand or the store); in the HQ view also retention-tool usage vs churn across stores.
    """
    store_id = check_store(wb, store_id)
    e = pd.Timestamp(end)
    per_store = metrics.current_contacts(wb, e, by="store")
    if store_id:
        per_store = per_store[per_store["store_id"] == store_id]
    per_store = per_store.sort_values("contacts", ascending=False).reset_index(drop=True)
    scope = (_scope_row(per_store, store_id) if store_id
             else _scope_row(metrics.current_contacts(wb, e, by="brand"), None))
    where = f"of store {store_id} (its guides, its groups)" if store_id else "of the brand"
    nig = Stated(_get(scope, "added_not_in_group"), "persons", f"contacts {where} in none of its groups", None, e)
    ign = Stated(_get(scope, "in_group_not_added"), "persons", f"group members {where} who are not contacts", None, e)
    tools, corr = None, None
    if not store_id:
        try:
            tools, corr = metrics.retention_tools_vs_churn(wb, start, end)
        except ParameterError:   # fewer than 4 stores, or no variation: no correlation to state
            tools, corr = None, None
    return Retention(store_id, e, nig, ign, per_store, tools, corr)


# ---------------------------------------------------------------------- conversion
@dataclass(frozen=True, eq=False)
class Conversion:
    """User-view and task-view shares of GMV of the scope's orders."""

    store_id: str | None
    gmv: Stated
    user_share: Stated
    task_share: Stated
    stores: pd.DataFrame

    def finding(self, lang: str) -> str:
        """The sentence on GMV and its user-view and task-view shares."""
        return t("ops.finding_conversion", lang, scope=_scope_text(self.store_id, lang), gmv=self.gmv.text(),
                 user_share=self.user_share.text(), task_share=self.task_share.text())


def conversion(wb: Workbench, start: Any, end: Any, store_id: str | None = None) -> Conversion:
    """GMV of the period in user view and task view.

    GMV of ``[start, end)`` in user view and task view: the brand's (all orders, online ones
    included) or the store's orders.
    """
    store_id = check_store(wb, store_id)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    per_store = metrics.conversion(wb, s, e, grain=None, by="store")
    if store_id:
        per_store = per_store[per_store["store_id"] == store_id]
    per_store = per_store.sort_values("gmv", ascending=False).reset_index(drop=True)
    row = _scope_row(per_store, store_id) if store_id else _scope_row(metrics.conversion(wb, s, e, grain=None), None)
    gmv = _get(row, "gmv")
    where = f"orders of store {store_id}" if store_id else "all orders of the brand"
    return Conversion(
        store_id, Stated(gmv, "cny", f"sum of amounts of {where}", s, e),
        Stated(_get(row, "user_gmv") / gmv if gmv else float("nan"), "share",
               f"share of GMV of {where} whose buyer had an open WeCom relationship at order time", s, e),
        Stated(_get(row, "task_gmv") / gmv if gmv else float("nan"), "share",
               f"share of GMV of {where} that came through a task link", s, e),
        per_store)


# ---------------------------------------------------------------------- to-do
@dataclass(frozen=True, eq=False)
class ToDo:
    """POS buyers of the period who were not a WeCom contact at its end."""

    store_id: str | None
    pos_buyers: Stated
    not_added: Stated
    stores: pd.DataFrame

    def finding(self, lang: str) -> str:
        """The sentence on buyers not yet added."""
        return t("ops.finding_todo", lang, scope=_scope_text(self.store_id, lang), n=self.not_added.text(),
                 buyers=self.pos_buyers.text())


def todo(wb: Workbench, start: Any, end: Any, store_id: str | None = None) -> ToDo:
    """The guides' to-do list: POS buyers in ``[start, end)`` with no open contact at ``end``."""
    store_id = check_store(wb, store_id)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    # every store's and the brand's counts in one pass (the brand's buyers are distinct across stores)
    frames = metrics.pos_buyers_not_added_by(wb, s, e, ("store",) if store_id else ("store", "brand"))
    per_store = frames[0][frames[0]["store_id"] == store_id] if store_id else frames[0]
    per_store = per_store.sort_values("not_added", ascending=False).reset_index(drop=True)
    row = _scope_row(per_store, store_id) if store_id else _scope_row(frames[1], None)
    where = f"in store {store_id}" if store_id else "in any store"
    return ToDo(store_id,
                Stated(_get(row, "pos_buyers"), "persons", f"customers who bought {where} (POS) in the period", s, e),
                Stated(_get(row, "not_added"), "persons",
                       f"POS buyers {where} with no open WeCom contact at the end of the period", s, e),
                per_store)
