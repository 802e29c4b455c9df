"""What the data-quality report states, computed and tested here.

For the brand's data team: was the data usable, what the ingest from WeCom or the SCRM changed
(every rule's count under its name in :data:`workbench.ingest.report.COUNTS`), what the reading
rules and the contract checks found, and how the contact events agree with WeCom's own daily
counts per member (``staff_daily``, from ``get_user_behavior_data``).

Each section returns a frozen dataclass of :class:`~workbench.pages.Stated` values plus the
small tables the page lays out, with a ``finding(lang)`` method; the notebook only lays these
out. Event-level counting runs in the engine (SQL through the workbench); staff names or ids
may be shown, customer ids never.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Workbench, derived_table, interval_order_sql, literal, ordered_events_sql
from ..engine.memo import memoised
from ..i18n import has_key, t
from ..ingest.report import COUNTS, IngestReport
from ..relations import contact_intervals
from ._base import Stated

__all__ = [
    "CrossCheck", "DailyIngest", "Headline", "IngestSummary", "Validation", "cross_check", "daily_ingest",
    "headline", "ingest_summary", "rule_definitions", "sequence_counts", "validation",
]

DAILY_DAYS = 14            # days shown in the per-day ingest table
TOP_MEMBERS = 10           # members listed with the largest gaps to WeCom's counts
# Per-day ingest columns the page charts, in this order (an absent column does not apply to the source).
DAILY_COLUMNS = ("callback_lines", "duplicates_dropped", "out_of_order", "repairs")
# Rules whose counts are caveats in the headline: something was refused, dropped, repaired or guessed.
CAVEAT_COUNTS = ("callbacks_rejected", "orphan_deletes_dropped", "group_orphan_leaves_dropped", "repaired_adds",
                 "repaired_closes", "ids_unresolved")


def _n(value: float, unit: str = "count") -> str:
    return Stated(float(value), unit, "").text()


def _join(lang: str, *sentences: str) -> str:
    """Sentences as one paragraph: a space between English sentences, none between Chinese ones."""
    return ("" if lang == "zh" else " ").join(sentences)


# ---------------------------------------------------------------------- the ingest report
# Ids carry digits, words do not: a token of six or more id characters with a digit in it, or a
# WeCom external id (wm…/wo…), is taken out of a rejection reason before it reaches the page.
_ID_LIKE = re.compile(r"(?<![\w@.-])(?:w[mo][\w-]{6,}|(?=[\w@.-]*\d)[\w@.-]{6,})(?![\w@.-])")


def _scrub(text: Any) -> str:
    """A rejection reason without anything that looks like an id (customer, external user, phone).

    >>> _scrub("unknown ChangeType 'foo' for wmABCDEFGH; customer C00012345, phone 13800138000")
    "unknown ChangeType 'foo' for …; customer …, phone …"
    >>> _scrub("line 7: UserID missing")
    'line 7: UserID missing'
    """
    return _ID_LIKE.sub("…", str(text))


@dataclass(frozen=True, eq=False)
class IngestSummary:
    """What the ingest beside the tables read, wrote and changed (from ``ingest_report.json``).

    ``counts`` maps each count name of the report (:data:`~workbench.ingest.report.COUNTS`
    order) to a :class:`Stated` whose definition is the rule's definition.
    """

    source: str
    counts: dict[str, Stated]
    rows_in: Stated
    rows_out: Stated
    inputs: pd.DataFrame        # input (file name), kind, rows
    tables: pd.DataFrame        # table, rows
    rejected: pd.DataFrame      # file (name), line, reason (ids scrubbed): the first rejections
    daily: pd.DataFrame         # the report's per-day table

    def count(self, name: str) -> float:
        """The value of count ``name`` (0 when the source does not report it)."""
        s = self.counts.get(name)
        return s.value if s is not None else 0.0

    def rule_sentences(self, lang: str) -> list[str]:
        """One sentence per reported count, in words ("312 retried callbacks dropped (duplicates)").

        Repaired adds and closes are one sentence: relationships repaired from snapshots.
        """
        out = []
        for name, stated in self.counts.items():
            if name == "repaired_closes" and "repaired_adds" in self.counts:
                continue
            if name == "repaired_adds":
                adds, closes = self.count("repaired_adds"), self.count("repaired_closes")
                out.append(t("dq.count_repairs", lang, n=_n(adds + closes), adds=_n(adds), closes=_n(closes)))
            elif has_key(f"dq.count.{name}"):
                out.append(t(f"dq.count.{name}", lang, n=stated.text()))
            else:   # a count added to COUNTS after this page: its name, never silence
                out.append(t("dq.count_other", lang, name=name, n=stated.text()))
        return out

    def finding(self, lang: str) -> str:
        """The sentence on where the data came from and how many rows went in and out."""
        source = t(f"dq.source_{self.source}", lang) if has_key(f"dq.source_{self.source}") else self.source
        return t("dq.finding_ingest", lang, source=source, inputs=_n(len(self.inputs)), rows_in=self.rows_in.text(),
                 rows_out=self.rows_out.text(), tables=_n(len(self.tables)))


def ingest_summary(data_dir: str | Path) -> IngestSummary | None:
    """The ingest report written beside the contract tables in ``data_dir``, or None when there is none.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> ingest_summary(folder) is None
    True
    >>> _ = IngestReport("wecom", counts={"callback_lines": 12, "duplicates_dropped": 2},
    ...                  inputs=[{"path": "/in/cb.jsonl", "kind": "callbacks", "rows": 12}],
    ...                  tables={"contact_events": 9}).write(folder)
    >>> s = ingest_summary(folder)
    >>> s.count("duplicates_dropped"), s.rows_in.text(), s.rows_out.text()
    (2.0, '12', '9')
    """
    report = IngestReport.read(data_dir)
    if report is None:
        return None
    counts = {k: Stated(float(report.counts[k]), "count", COUNTS[k]) for k in COUNTS if k in report.counts}
    inputs = pd.DataFrame([{"input": Path(str(i.get("path", ""))).name, "kind": str(i.get("kind", "")),
                            "rows": float(i.get("rows") or 0)} for i in report.inputs],
                          columns=["input", "kind", "rows"])
    tables = pd.DataFrame([{"table": k, "rows": float(v)} for k, v in report.tables.items()], columns=["table", "rows"])
    rejected = pd.DataFrame([{"file": Path(str(r.get("file", ""))).name, "line": r.get("line"),
                              "reason": _scrub(r.get("reason", ""))} for r in report.rejected],
                            columns=["file", "line", "reason"])
    daily = report.daily.copy()
    if "day" in daily:
        daily["day"] = pd.to_datetime(daily["day"])
    return IngestSummary(
        report.source, counts,
        Stated(float(inputs["rows"].sum()), "count", "lines or rows read from the ingest's inputs"),
        Stated(float(tables["rows"].sum()), "count", "rows written to the contract tables"),
        inputs, tables, rejected, daily)


@dataclass(frozen=True, eq=False)
class DailyIngest:
    """Per-day ingest counts over the last ``days`` days of the ingest report before the end."""

    days: pd.DataFrame           # day + the DAILY_COLUMNS the report has (repairs = repaired adds + closes)
    columns: tuple[str, ...]
    totals: dict[str, Stated]


def daily_ingest(summary: IngestSummary | None, end: Any, days: int = DAILY_DAYS) -> DailyIngest | None:
    """The ingest report's per-day table, last ``days`` days before ``end``; None without a per-day table.

    ``repairs`` is ``repaired_adds + repaired_closes`` of the day.
    """
    if summary is None or "day" not in summary.daily or summary.daily.empty:
        return None
    frame = summary.daily[summary.daily["day"].notna()].fillna(0)   # an empty cell: none that day
    if "repaired_adds" in frame or "repaired_closes" in frame:
        frame["repairs"] = frame.get("repaired_adds", 0) + frame.get("repaired_closes", 0)
    cols = tuple(c for c in DAILY_COLUMNS if c in frame)
    if not cols:
        return None
    frame = frame[frame["day"] < pd.Timestamp(end)]
    if frame.empty:
        return None
    last = frame["day"].max().normalize()
    first = last - pd.Timedelta(days=int(days) - 1)
    idx = pd.date_range(first, last, freq="D")
    frame = (frame[frame["day"] >= first].groupby("day")[list(cols)].sum()
             .reindex(idx, fill_value=0).rename_axis("day").reset_index())
    s, e = first, last + pd.Timedelta(days=1)
    totals = {c: Stated(float(frame[c].sum()), "count", f"{c} per day of the ingest report, summed", s, e)
              for c in cols}
    return DailyIngest(frame, cols, totals)


# ---------------------------------------------------------------------- validation
def sequence_counts(wb: Workbench) -> dict[str, int]:
    """Second closes and repeated opens in ``contact_events``, counted in the engine.

    ``second_closes``: closes whose previous event of the same customer–member pair is a close
    (the first close ended the relationship; the interval builder ignores the second).
    ``repeated_opens``: adds whose previous event of the pair is an add (ignored while open).
    Events are in the interval builder's order (time, then contract rule 10 for ties).
    """
    if not wb.has_table("contact_events"):
        return {"second_closes": 0, "repeated_opens": 0}
    opens = ", ".join(literal(v) for v in ("add",))
    seq = (f"SELECT event_type, LAG(event_type) OVER (PARTITION BY customer_id, staff_id "
           f"ORDER BY {interval_order_sql('contact_events')}) AS previous_event "
           f"FROM ({ordered_events_sql('contact_events')}) e")
    row = wb.query(
        f"SELECT SUM(CASE WHEN event_type NOT IN ({opens}) AND previous_event IS NOT NULL "
        f"AND previous_event NOT IN ({opens}) THEN 1 ELSE 0 END) AS second_closes, "
        f"SUM(CASE WHEN event_type IN ({opens}) AND previous_event IN ({opens}) THEN 1 ELSE 0 END) "
        f"AS repeated_opens FROM ({seq}) s").iloc[0]
    return {k: int(0 if pd.isna(row[k]) else row[k]) for k in ("second_closes", "repeated_opens")}


def _sequences(wb: Workbench, summary: Any) -> dict[str, int]:
    """Second closes and repeated opens of ``contact_events``: the validation summary's, else counted here.

    The summary lists only tables that had some (``sequences``); an older summary without the
    field leaves the counting to :func:`sequence_counts`.
    """
    found = getattr(summary, "sequences", None)
    if found is None:
        return sequence_counts(wb)
    mine = found.get("contact_events", {}) if isinstance(found, Mapping) else {}
    return {k: int(mine.get(k, 0)) for k in ("second_closes", "repeated_opens")}


@dataclass(frozen=True, eq=False)
class Validation:
    """What the contract checks and the reading rules found (:meth:`Workbench.validate_all`)."""

    tables: pd.DataFrame         # table, rows
    absent: pd.DataFrame         # table, needed_by (text)
    normalised: pd.DataFrame     # table, column, rule, values
    total_rows: Stated
    normalised_values: Stated
    duplicate_events: Stated
    after_as_of: Stated
    second_closes: Stated
    repeated_opens: Stated
    as_of: pd.Timestamp | None

    def finding(self, lang: str) -> str:
        """The sentence on what validation found, in the numbers of this section."""
        text = t("dq.finding_validation", lang, tables=_n(len(self.tables)), rows=self.total_rows.text(),
                 normalised=self.normalised_values.text(), duplicates=self.duplicate_events.text(),
                 second_closes=self.second_closes.text(), repeated_opens=self.repeated_opens.text())
        if self.after_as_of.value and self.as_of is not None:
            text = _join(lang, text, t("dq.finding_after_as_of", lang, n=self.after_as_of.text(),
                                       as_of=f"{self.as_of:%Y-%m-%d}"))
        return text

    def absent_text(self, lang: str) -> str | None:
        """The sentence listing absent tables (None when every contract table is present)."""
        if self.absent.empty:
            return None
        return t("dq.absent", lang, n=_n(len(self.absent)), tables=", ".join(self.absent["table"]))


def validation(wb: Workbench) -> Validation:
    """Validate every table (a :class:`~workbench.errors.DataContractError` stops the report) and state the findings.

    Second closes and repeated opens come from the validation summary when it counts them,
    else from :func:`sequence_counts`.
    """
    summary = wb.validate_all()
    tables = pd.DataFrame({"table": list(summary.rows), "rows": [float(v) for v in summary.rows.values()]},
                          columns=["table", "rows"])
    absent = pd.DataFrame({"table": list(summary.absent), "needed_by": [", ".join(v) for v in summary.absent.values()]},
                          columns=["table", "needed_by"])
    normalised = pd.DataFrame([{"table": n.table, "column": n.column, "rule": n.rule, "values": float(n.rows)}
                               for n in summary.normalised], columns=["table", "column", "rule", "values"])
    seq = _sequences(wb, summary)
    return Validation(
        tables, absent, normalised,
        Stated(float(tables["rows"].sum()), "count", "rows of the present contract tables, as analyses read them"),
        Stated(float(normalised["values"].sum()), "count",
               "values changed by the reading rules (null markers, trimmed spaces, integral ids)"),
        Stated(float(sum(summary.duplicate_events.values())), "count",
               "identical contact or group event rows merged into one (beyond the first)"),
        Stated(float(sum(summary.after_as_of.values())), "count",
               "rows of event tables at or after the as-of date, left out of every view"),
        Stated(float(seq["second_closes"]), "count", COUNTS["second_closes"]),
        Stated(float(seq["repeated_opens"]), "count", COUNTS["repeated_opens"]),
        wb.as_of)


# ---------------------------------------------------------------------- the headline
@dataclass(frozen=True, eq=False)
class Headline:
    """Was the data usable: the contract checks passed, and what was refused, dropped or repaired."""

    validation: Validation
    ingest: IngestSummary | None
    caveats: dict[str, Stated]   # the nonzero CAVEAT_COUNTS of the ingest report

    def finding(self, lang: str) -> str:
        """The first sentence of the page: usable, on how many rows, and what to keep in mind."""
        v = self.validation
        text = t("dq.finding_usable", lang, tables=_n(len(v.tables)), rows=v.total_rows.text())
        if self.ingest is None:
            return _join(lang, text, t("dq.no_ingest", lang))
        if not self.caveats:
            return _join(lang, text, t("dq.no_caveats", lang))
        sep = t("dq.list_sep", lang)
        parts = [self.caveat_text(k, lang) for k in self.caveats]
        return _join(lang, text, t("dq.caveats", lang, items=sep.join(parts)))

    def caveat_text(self, name: str, lang: str) -> str:
        """One caveat in words (its count name when the catalogue has no words for it)."""
        stated = self.caveats[name]
        if has_key(f"dq.caveat.{name}"):
            return t(f"dq.caveat.{name}", lang, n=stated.text())
        return t("dq.count_other", lang, name=name, n=stated.text())


def headline(valid: Validation, ingest: IngestSummary | None) -> Headline:
    """The headline from the validation and the ingest report (None when there is none)."""
    caveats = {k: ingest.counts[k] for k in CAVEAT_COUNTS if ingest is not None and k in COUNTS and ingest.count(k)}
    return Headline(valid, ingest, caveats)


# ---------------------------------------------------------------------- cross-checks with WeCom
def _staff_days_sql(intervals: str, start: pd.Timestamp, end: pd.Timestamp) -> str:
    """One row per staff-day of ``[start, end)`` that WeCom reported or that opened or ended contact intervals.

    ``adds``: adds that opened a relationship (repeated opens left out): the intervals that start
    that day; ``customer_deletes``: ``delete_by_customer`` closes that ended an open relationship
    (second closes left out): the intervals that end that day by such a close. Both from
    ``intervals``, a SELECT of the contact intervals (:func:`~workbench.relations.contact_intervals`,
    kept by a current layer), so no event is sorted here. ``reported`` says whether ``staff_daily``
    has the day.
    """
    s, e = literal(start), literal(end)
    by_customer = literal("delete_by_customer")

    def day(col: str) -> str:
        return f"CAST(date_trunc('day', {col}) AS TIMESTAMP)"

    changes = (f"SELECT staff_id, {day('start_time')} AS day, 1 AS adds, 0 AS customer_deletes FROM ({intervals}) i "
               f"WHERE start_time >= {s} AND start_time < {e} UNION ALL "
               f"SELECT staff_id, {day('end_time')} AS day, 0 AS adds, 1 AS customer_deletes FROM ({intervals}) i "
               f"WHERE end_type = {by_customer} AND end_time >= {s} AND end_time < {e}")
    events = (f"SELECT staff_id, day, SUM(adds) AS adds, SUM(customer_deletes) AS customer_deletes "
              f"FROM ({changes}) c GROUP BY 1, 2")
    wecom = (f"SELECT staff_id, {day('stat_date')} AS day, "
             f"SUM(new_contact_cnt) AS new_contact_cnt, SUM(negative_feedback_cnt) AS negative_feedback_cnt "
             f"FROM staff_daily WHERE stat_date >= {s} AND stat_date < {e} GROUP BY 1, 2")
    return (f"SELECT COALESCE(w.staff_id, v.staff_id) AS staff_id, COALESCE(w.day, v.day) AS day, "
            f"w.staff_id IS NOT NULL AS reported, COALESCE(v.adds, 0) AS adds, "
            f"COALESCE(v.customer_deletes, 0) AS customer_deletes, COALESCE(w.new_contact_cnt, 0) AS new_contact_cnt, "
            f"COALESCE(w.negative_feedback_cnt, 0) AS negative_feedback_cnt "
            f"FROM ({wecom}) w FULL OUTER JOIN ({events}) v ON w.staff_id = v.staff_id AND w.day = v.day")


@dataclass(frozen=True, eq=False)
class CrossCheck:
    """Contact events against WeCom's own daily counts per member (``staff_daily``), over ``[start, end)``.

    Only staff-days WeCom reported are compared; events on other staff-days are stated apart
    (``unreported_adds``, ``unreported_deletes``). ``negative_feedback_cnt`` also counts
    blacklisting, so WeCom's deletes may exceed the events without anything being lost.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    staff_days: Stated
    adds: Stated                 # opening adds in contact_events, reported staff-days
    new_contact_cnt: Stated      # WeCom's new customers, same staff-days
    customer_deletes: Stated     # delete_by_customer closes, reported staff-days
    negative_feedback_cnt: Stated
    adds_agree: Stated           # share of staff-days whose adds equal new_contact_cnt
    deletes_agree: Stated
    both_agree: Stated
    unreported_adds: Stated
    unreported_deletes: Stated
    days: pd.DataFrame           # day, adds, new_contact_cnt, customer_deletes, negative_feedback_cnt
    members: pd.DataFrame        # member, staff_days, adds, new_contact_cnt, customer_deletes,
    #                              negative_feedback_cnt, gap (sum of absolute daily differences)

    def finding(self, lang: str) -> str:
        """The sentence on the brand's totals and the share of staff-days that agree."""
        if not self.staff_days.value:
            return t("dq.finding_cross_none", lang)
        return t("dq.finding_cross", lang, staff_days=self.staff_days.text(), adds=self.adds.text(),
                 new_contact=self.new_contact_cnt.text(), deletes=self.customer_deletes.text(),
                 negative=self.negative_feedback_cnt.text(), adds_agree=self.adds_agree.text(),
                 deletes_agree=self.deletes_agree.text(), both_agree=self.both_agree.text())

    def unreported_text(self, lang: str) -> str | None:
        """The sentence on events of staff-days WeCom did not report (None when there are none)."""
        if not (self.unreported_adds.value or self.unreported_deletes.value):
            return None
        return t("dq.unreported", lang, adds=self.unreported_adds.text(), deletes=self.unreported_deletes.text())


def cross_check(wb: Workbench, start: Any, end: Any, top: int = TOP_MEMBERS) -> CrossCheck | None:
    """Adds and customer deletes of ``contact_events`` vs ``staff_daily`` per member and day; None without it.

    The members listed are the ``top`` with the largest sum of absolute daily differences
    (adds and deletes), named by ``staff.staff_name`` when present, else by their id.
    """
    if not (wb.has_table("staff_daily") and wb.has_table("contact_events")):
        return None
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    tot, days, members = _cross_frames(wb, s, e, int(top))
    tot = tot.iloc[0].fillna(0)
    n = float(tot["staff_days"])

    def share(k: str, what: str) -> Stated:
        return Stated(float(tot[k]) / n if n else float("nan"), "share",
                      f"share of staff-days WeCom reported on which {what}", s, e)

    def pt(k: str, what: str) -> Stated:
        return Stated(float(tot[k]), "person_times", what, s, e)

    return CrossCheck(
        s, e, Stated(n, "count", "member-days with a staff_daily row in the period", s, e),
        pt("adds", "adds in contact_events that opened a relationship, on staff-days WeCom reported"),
        pt("new_contact_cnt", "WeCom's new_contact_cnt summed over the staff-days of staff_daily"),
        pt("customer_deletes", "delete_by_customer closes of an open relationship, on staff-days WeCom reported"),
        pt("negative_feedback_cnt", "WeCom's negative_feedback_cnt (deleted or blacklisted the member), summed"),
        share("adds_agree", "the adds equal new_contact_cnt"),
        share("deletes_agree", "the customer deletes equal negative_feedback_cnt"),
        share("both_agree", "both agree exactly"),
        pt("unreported_adds", "opening adds on member-days staff_daily has no row for"),
        pt("unreported_deletes", "customer deletes on member-days staff_daily has no row for"),
        days, members)


def _cross_frames(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, top: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The cross-check's totals (one row), days and members, kept beside a current layer (per period and top).

    So a batch's second language reads what the first computed; the staff-day relation is built
    only when one of them is not kept yet.
    """
    built: list[str] = []

    def days_sql() -> str:
        if not built:  # one staff-day relation for the three summaries
            built.append(derived_table(wb, "__dq_staff_days", _staff_days_sql(contact_intervals(wb), s, e),
                                       ("contact_events", "staff_daily"), (s, e)))
        return built[0]

    def where(cond: str) -> str:
        return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"

    def totals() -> pd.DataFrame:
        return wb.query(
            f"SELECT {where('reported')} AS staff_days, "
            "SUM(CASE WHEN reported THEN adds ELSE 0 END) AS adds, SUM(new_contact_cnt) AS new_contact_cnt, "
            "SUM(CASE WHEN reported THEN customer_deletes ELSE 0 END) AS customer_deletes, "
            "SUM(negative_feedback_cnt) AS negative_feedback_cnt, "
            f"{where('reported AND adds = new_contact_cnt')} AS adds_agree, "
            f"{where('reported AND customer_deletes = negative_feedback_cnt')} AS deletes_agree, "
            f"{where('reported AND adds = new_contact_cnt AND customer_deletes = negative_feedback_cnt')} "
            "AS both_agree, SUM(CASE WHEN reported THEN 0 ELSE adds END) AS unreported_adds, "
            f"SUM(CASE WHEN reported THEN 0 ELSE customer_deletes END) AS unreported_deletes FROM ({days_sql()}) d")

    def days() -> pd.DataFrame:
        return wb.query(
            "SELECT day, SUM(adds) AS adds, SUM(new_contact_cnt) AS new_contact_cnt, "
            "SUM(customer_deletes) AS customer_deletes, SUM(negative_feedback_cnt) AS negative_feedback_cnt "
            f"FROM ({days_sql()}) d WHERE reported GROUP BY day ORDER BY day")

    def members() -> pd.DataFrame:
        staff = wb.table_or_empty("staff")
        gap = "SUM(ABS(d.adds - d.new_contact_cnt) + ABS(d.customer_deletes - d.negative_feedback_cnt))"
        return wb.query(
            "SELECT COALESCE(MAX(st.staff_name), d.staff_id) AS member, COUNT(*) AS staff_days, "
            "SUM(d.adds) AS adds, SUM(d.new_contact_cnt) AS new_contact_cnt, "
            "SUM(d.customer_deletes) AS customer_deletes, "
            f"SUM(d.negative_feedback_cnt) AS negative_feedback_cnt, {gap} AS gap "
            f"FROM ({days_sql()}) d LEFT JOIN {staff} st ON st.staff_id = d.staff_id WHERE d.reported "
            f"GROUP BY d.staff_id HAVING {gap} > 0 ORDER BY gap DESC, d.staff_id LIMIT {int(top)}")

    return (memoised(wb, "dq.cross_totals", (s, e), totals), memoised(wb, "dq.cross_days", (s, e), days),
            memoised(wb, "dq.cross_members", (s, e, top), members))


# ---------------------------------------------------------------------- appendix
def rule_definitions(ingest: IngestSummary | None) -> pd.DataFrame:
    """Every ingest rule with its definition and this ingest's count (NaN: not reported by the source).

    >>> rule_definitions(None).shape[0] == len(COUNTS)
    True
    """
    return pd.DataFrame([{"rule": name, "count": ingest.counts[name].value if ingest and name in ingest.counts
                          else float("nan"), "definition": text} for name, text in COUNTS.items()],
                        columns=["rule", "count", "definition"])
