"""What the value-model page states.

What the value-model page states (README, "What a page states"): one reconciled ladder of
"WeCom share" figures, the industry marks judged on the definition they were made for, attributed beside incremental
value with a verdict from the interval, and every section computed at the page's own interaction
window.

Why a ladder: the page used to show four "WeCom shares" (user view, value buckets, task view,
mini-program via WeCom link) side by side without saying how they relate, and judged the
narrowest against marks made for it without saying so. Here each is a step of one ladder over
the *same* orders of the *same* month, each with its definition and the part of it that lies
outside the step before (so a reader can see which figures contain which).

Every function returns frozen dataclasses of :class:`~workbench.pages.Stated` values; the
notebook only lays them out.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from ..attribution.buckets import (
    DEFAULT_PRECEDENCE,
    RULES,
    Incrementality,
    holdout_incrementality,
    order_rules_sql,
    value_buckets,
)
from ..engine import Workbench, literal, money_sum
from ..engine.memo import memoised
from ..errors import ParameterError
from ..i18n import has_key, t
from ._base import Stated, Verdict, effect_verdict, last_complete_month

#: Industry marks for apparel (README, "What a page states"), valid only for mini-program orders via WeCom links as a
#: share of total GMV: passing, good, excellent.
MINI_PROGRAM_MARKS = (0.05, 0.10, 0.15)
#: Transfers to guides as a share of total GMV: the industry's usual range.
TRANSFER_MARKS = (0.04, 0.05)
#: The increase per reached customer the holdout should be able to see, as a share of the holdout's
#: own GMV per customer (the "relevant effect" of the power statement).
RELEVANT_LIFT = 0.10

DEFINITIONS = {
    "total": "GMV (gross order amount) of every order placed in the period, all channels",
    "user_view": "GMV of orders whose customer had an open WeCom contact at order time (user view)",
    "buckets": "GMV of orders matched by a value-model rule, each order in one bucket: direct (mini-program "
               "orders via a WeCom link, transfers to guides) plus indirect (WeCom coupon redeemed in store, a "
               "store purchase within {days} days of a guide interaction, proxy orders, Channels live orders "
               "after a WeCom invitation)",
    "task_view": "GMV of orders carrying a task link or a sharing staff member (task_id or share_staff_id set; "
                 "task view)",
    "link": "GMV of mini-program orders that arrived through a WeCom link (task_id or share_staff_id set): the "
            "definition the industry marks are made for",
    "increment": "Incremental GMV caused by WeCom tasks: reached minus holdout GMV per customer (randomised "
                 "holdout), times the reached customers, Welch 95% interval",
}
LADDER_KEYS = ("total", "user_view", "buckets", "task_view", "link")


def _check_window(interaction_window_days: Any) -> int:
    try:
        days = int(interaction_window_days)
    except (TypeError, ValueError) as err:
        raise ParameterError(
            f"interaction_window_days must be a whole number of days, not {interaction_window_days!r}") from err
    if days != interaction_window_days or days < 1:
        raise ParameterError(f"interaction_window_days must be a positive whole number of days, "
                             f"not {interaction_window_days!r}")
    return days


def report_month(end: Any, month: str = "") -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the page's month: ``month`` (``YYYY-MM``) or the last complete month before ``end``.

    >>> [f"{d:%Y-%m-%d}" for d in report_month("2026-01-01")]
    ['2025-12-01', '2026-01-01']
    >>> [f"{d:%Y-%m-%d}" for d in report_month("2026-01-01", "2025-06")]
    ['2025-06-01', '2025-07-01']
    """
    if not month:
        return last_complete_month(end)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(month)):
        raise ParameterError(f"month must be YYYY-MM, not {month!r}")
    start = pd.Timestamp(f"{month}-01")
    if start >= pd.Timestamp(end):
        raise ParameterError(f"month {month} starts on or after the data's as-of date {pd.Timestamp(end):%Y-%m-%d}")
    return start, start + pd.DateOffset(months=1)


# ---------------------------------------------------------------------- the ladder
@dataclass(frozen=True)
class LadderStep:
    """One step of the ladder.

    One step of the ladder: its GMV, its share of total GMV, and the GMV of its orders that are
    *not* in the step before (zero where the definitions nest).
    """

    key: str
    gmv: Stated
    share: Stated
    outside_previous: Stated | None


@dataclass(frozen=True)
class RuleValue:
    """GMV of one value-model rule (one row of the bucket table)."""

    rule: str
    bucket: str
    orders: Stated
    gmv: Stated
    share: Stated


@dataclass(frozen=True)
class ValueLadder:
    """Total GMV → user view → value buckets → task view → mini-program via WeCom link, one month.

    ``direct + indirect + not_attributed == total`` exactly (every order in one bucket).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    interaction_window_days: int
    steps: tuple[LadderStep, ...]
    direct: Stated
    indirect: Stated
    not_attributed: Stated
    transfer: Stated
    rules: tuple[RuleValue, ...]

    def step(self, key: str) -> LadderStep:
        """The ladder step with key ``key``."""
        return next(s for s in self.steps if s.key == key)

    @property
    def total(self) -> Stated:
        """Total GMV of the month (the first step)."""
        return self.step("total").gmv


def _ladder_crosstab(wb: Workbench, start: pd.Timestamp, end: pd.Timestamp, days: int) -> pd.DataFrame:
    """Orders and GMV of the month by rule, bucket and view flags.

    Orders and GMV of the month by rule, bucket, user-view flag and task-view flag (one small table
    from which every step is summed, so all steps count the same orders). Money is summed as
    decimals: the sums do not depend on the order the engine's threads add the rows in. Kept
    beside a current layer (:func:`~workbench.engine.memo.memoised`): the page's other language
    reads it.
    """
    return memoised(wb, "value.ladder_crosstab", (start, end, days),
                    lambda: _compute_ladder_crosstab(wb, start, end, days))


def _compute_ladder_crosstab(wb: Workbench, start: pd.Timestamp, end: pd.Timestamp, days: int) -> pd.DataFrame:
    """The query of :func:`_ladder_crosstab`."""
    from ..metrics import _order_flags_sql  # the user/task-view flags exactly as the ops pages define them

    # the rules alone (the ladder credits no one): the cheaper query with the same rule and bucket per order
    return wb.query(f"""
        SELECT b.rule, b.bucket, f.user_active, f.task_view, COUNT(*) AS orders,
               COALESCE({money_sum('b.amount')}, 0) AS gmv
        FROM ({order_rules_sql(wb, start, end, interaction_window_days=days)}) b
        JOIN (SELECT order_id, user_active, task_view FROM ({_order_flags_sql(wb, start, end)}) x) f
          ON f.order_id = b.order_id
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""")


def value_ladder(wb: Workbench, start: Any, end: Any, interaction_window_days: int = 7) -> ValueLadder:
    """The reconciled ladder of WeCom value figures over the orders of ``[start, end)``.

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> ladder = value_ladder(wb, "2025-12-01", "2026-01-01")        # doctest: +SKIP
    >>> [s.key for s in ladder.steps]                                 # doctest: +SKIP
    ['total', 'user_view', 'buckets', 'task_view', 'link']
    """
    days = _check_window(interaction_window_days)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    x = _ladder_crosstab(wb, s, e, days)
    gmv = x["gmv"].astype(float)
    attributed = x["bucket"] != "not_attributed"
    user, task = x["user_active"] == 1, x["task_view"] == 1
    link = x["rule"] == "link"
    total = float(gmv.sum())
    sums = {"total": total, "user_view": float(gmv[user].sum()), "buckets": float(gmv[attributed].sum()),
            "task_view": float(gmv[task].sum()), "link": float(gmv[link].sum())}
    outside = {"user_view": 0.0,   # a subset of all orders by construction
               "buckets": float(gmv[attributed & ~user].sum()),
               "task_view": float(gmv[task & ~attributed].sum()),
               "link": float(gmv[link & ~task].sum())}

    def cny(v: float, definition: str) -> Stated:
        return Stated(v, "cny", definition, s, e)

    def share(v: float, definition: str) -> Stated:
        return Stated(v / total if total > 0 else float("nan"), "share", f"{definition}, as a share of total GMV", s, e)

    steps = []
    for key in LADDER_KEYS:
        d = DEFINITIONS[key].format(days=days)
        out = None if key == "total" else cny(outside[key], f"{d}, not in the step before")
        steps.append(LadderStep(key, cny(sums[key], d), share(sums[key], d), out))
    by_bucket = {b: float(gmv[x["bucket"] == b].sum()) for b in ("direct", "indirect", "not_attributed")}
    rules = []
    for rule in (*DEFAULT_PRECEDENCE, "none"):
        m = x["rule"] == rule
        bucket = RULES.get(rule, "not_attributed")
        d = f"orders of rule {rule!r} (bucket {bucket})"
        rules.append(RuleValue(rule, bucket, Stated(float(x.loc[m, "orders"].sum()), "count", d, s, e),
                               cny(float(gmv[m].sum()), f"GMV of {d}"), share(float(gmv[m].sum()), f"GMV of {d}")))
    return ValueLadder(
        s, e, days, tuple(steps),
        cny(by_bucket["direct"], "GMV of direct orders (mini-program via WeCom link, transfers to guides)"),
        cny(by_bucket["indirect"], f"GMV of indirect orders (coupon, {days}-day interaction rule, proxy, live)"),
        cny(by_bucket["not_attributed"], "GMV of orders no value-model rule matched"),
        cny(float(gmv[x["rule"] == "transfer"].sum()), "GMV of transfers to guides (wecom_transfer orders)"),
        tuple(rules))


# ---------------------------------------------------------------------- industry marks
@dataclass(frozen=True)
class MarksVerdict:
    """The industry marks judged on the one definition they were made for.

    ``grade``: ``below`` / ``pass`` / ``good`` / ``excellent`` for the mini-program-via-WeCom-link
    share; ``transfer_grade``: ``below`` / ``within`` / ``above`` the usual 4–5% for transfers; both
    ``none`` when the period has no GMV to take a share of.
    """

    link_share: Stated
    grade: str
    transfer_share: Stated
    transfer_grade: str


def industry_marks(ladder: ValueLadder) -> MarksVerdict:
    """Compare the marks with the mini-program-via-WeCom-link share only, and transfers with 4–5%.

    The marks and the definition they were made for: README, "What a page states".

    >>> _grade(0.049), _grade(0.05), _grade(0.15)
    ('below', 'pass', 'excellent')
    """
    link = ladder.step("link").share
    tot = ladder.total.value
    tshare = Stated(ladder.transfer.value / tot if tot > 0 else float("nan"), "share",
                    "GMV of transfers to guides as a share of total GMV", ladder.start, ladder.end)
    if not tot > 0:   # no orders: nothing to judge (a NaN share would otherwise read as "above")
        return MarksVerdict(link, "none", tshare, "none")
    lo, hi = TRANSFER_MARKS
    tg = "below" if tshare.value < lo else "within" if tshare.value <= hi else "above"
    return MarksVerdict(link, _grade(link.value), tshare, tg)


def _grade(share: float) -> str:
    passing, good, excellent = MINI_PROGRAM_MARKS
    return ("excellent" if share >= excellent else "good" if share >= good else "pass" if share >= passing
            else "below")


# ---------------------------------------------------------------------- attributed vs incremental
@dataclass(frozen=True)
class HoldoutIncrement:
    """Incremental GMV of tasks over one holdout window.

    Incremental GMV of tasks from the randomised holdout over one window, with the attributed
    value of the same window beside it and the verdict its interval supports.

    ``power`` is the design's power (the arms' sizes and the holdout's spread of GMV per customer) to
    detect ``relevant_effect`` per reached customer — never "observed power" at the estimate.
    """

    window: str
    per_customer: Stated
    total: Stated
    attributed: Stated
    holdout_share: Stated
    n_reached: Stated
    n_holdout: Stated
    relevant_effect: Stated
    power: Stated
    minimum_detectable: Stated
    verdict: Verdict


def holdout_share(wb: Workbench, experiment_id: str = "HOLDOUT", holdout_variant: str = "holdout") -> float | None:
    """Share of assigned customers in the holdout arm, or None when the data has no such holdout."""
    if not wb.has_table("assignments"):
        return None
    v = wb.scalar(f"""SELECT AVG(CASE WHEN variant = {literal(holdout_variant)} THEN 1.0 ELSE 0.0 END)
                      FROM assignments WHERE experiment_id = {literal(experiment_id)}""")
    return None if v is None or pd.isna(v) or v <= 0 else float(v)


def holdout_increment(wb: Workbench, start: Any, end: Any, window: str, interaction_window_days: int = 7,
                      relevant_lift: float = RELEVANT_LIFT, alpha: float = 0.05) -> HoldoutIncrement:
    """Reached-minus-holdout GMV per customer over ``[start, end)`` with its verdict and the holdout's power.

    ``window`` names the window for the page (``month`` or ``last_12_months``). The relevant
    effect is ``relevant_lift`` × the holdout's GMV per customer in the window.
    """
    from ..experiments.design import minimum_detectable_effect, power

    days = _check_window(interaction_window_days)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    inc = _incrementality(wb, s, e, alpha)
    share = inc.holdout_n / (inc.holdout_n + inc.reached_n)
    attributed = memoised(wb, "value.attributed", (s, e, days),
                          lambda: value_buckets(wb, s, e, interaction_window_days=days, by=("bucket",)))
    attributed_gmv = float(attributed.loc[attributed["bucket"] != "not_attributed", "gmv"].sum())
    relevant = relevant_lift * inc.holdout_mean
    ratio = inc.reached_n / inc.holdout_n
    sd = inc.holdout_sd
    if relevant > 0 and sd > 0 and inc.holdout_n > 1:
        pw = power(relevant, inc.holdout_n, sd=sd, ratio=ratio, alpha=alpha)
        mde = minimum_detectable_effect(inc.holdout_n, sd=sd, ratio=ratio, alpha=alpha)
    else:
        pw, mde = float("nan"), float("nan")
    per_def = ("reached minus holdout mean GMV per customer (every assigned customer, 0 without orders), "
               "Welch 95% interval")
    return HoldoutIncrement(
        window,
        Stated(inc.per_customer, "cny_per_unit", per_def, s, e, inc.ci_low, inc.ci_high),
        Stated(inc.total, "cny", DEFINITIONS["increment"], s, e, inc.total_ci_low, inc.total_ci_high),
        Stated(attributed_gmv, "cny", DEFINITIONS["buckets"].format(days=days), s, e),
        Stated(share, "share", "share of assigned customers in the randomised holdout (never reached by tasks)"),
        Stated(float(inc.reached_n), "count", "customers assigned to be reached by tasks"),
        Stated(float(inc.holdout_n), "count", "customers in the holdout"),
        Stated(relevant, "cny_per_unit", f"{relevant_lift:.0%} of the holdout's GMV per customer in the window", s, e),
        Stated(pw, "share", "probability the holdout comparison finds the relevant effect (design power, "
                            f"two-sided alpha {alpha})", s, e),
        Stated(mde, "cny_per_unit", "smallest increase per reached customer found with 80% power", s, e),
        effect_verdict(inc.ci_low, inc.ci_high, power=None if np.isnan(pw) else pw))


def _incrementality(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, alpha: float) -> Incrementality:
    """:func:`~workbench.attribution.buckets.holdout_incrementality`, kept beside a current layer.

    Every assigned customer's GMV of the window is summed (twelve months of orders for the year's
    row): the page's other language reads the numbers (:func:`~workbench.engine.memo.memoised`).
    """
    row = memoised(wb, "value.incrementality", (s, e, float(alpha)),
                   lambda: pd.DataFrame([asdict(holdout_incrementality(wb, s, e, alpha=alpha))]))
    return Incrementality(**{f.name: (int if f.name.endswith("_n") else float)(row[f.name].iloc[0])
                             for f in fields(Incrementality)})


def incremental_sentence(h: HoldoutIncrement, lang: str) -> str:
    """The page's sentence for one holdout window, chosen by the verdict."""
    window = t(f"value.window_{h.window}", lang)
    per = h.per_customer
    return t(f"value.incr_{h.verdict.value}", lang, window=window, period=per.period_text(), per=per.text(),
             low=_per_customer_text(per.ci_low), high=_per_customer_text(per.ci_high),
             total=h.total.text(), relevant=h.relevant_effect.text(), power=h.power.text(),
             mde=h.minimum_detectable.text(), holdout=h.n_holdout.text(), attributed=h.attributed.text())


def _per_customer_text(v: float) -> str:
    """An interval bound written like the estimate it bounds."""
    return Stated(v, "cny_per_unit", "").text()


# ---------------------------------------------------------------------- sentences of the ladder
def ladder_sentences(ladder: ValueLadder, lang: str) -> dict[str, str]:
    """The ladder's sentences.

    The ladder's sentences: ``buckets`` (direct/indirect/not attributed), ``marks`` (the verdict on
    its own definition, with the wider figures named as not comparable) and ``overlaps``.
    """
    marks = industry_marks(ladder)
    tot = ladder.total
    sh = {k: ladder.step(k).share.text() for k in LADDER_KEYS}
    return {
        "buckets": t("value.finding_total", lang, total=tot.text(), direct=ladder.direct.text(),
                     direct_share=_share_of(ladder.direct, tot), indirect=ladder.indirect.text(),
                     indirect_share=_share_of(ladder.indirect, tot), rest=ladder.not_attributed.text()),
        "marks": t("value.marks", lang, period=tot.period_text(), share=marks.link_share.text(),
                   verdict=t(f"value.verdict_{marks.grade}", lang), transfer=marks.transfer_share.text(),
                   transfer_verdict=t(f"value.transfer_{marks.transfer_grade}", lang), user=sh["user_view"],
                   buckets=sh["buckets"], task=sh["task_view"]),
        "overlaps": t("value.ladder_overlaps", lang,
                      buckets_out=ladder.step("buckets").outside_previous.text(),
                      task_out=ladder.step("task_view").outside_previous.text(),
                      link_out=ladder.step("link").outside_previous.text()),
    }


def _share_of(part: Stated, whole: Stated) -> str:
    return Stated(part.value / whole.value if whole.value > 0 else float("nan"), "share", "").text()


def increment_step(ladder: ValueLadder, h: HoldoutIncrement) -> LadderStep:
    """The ladder's last step: the holdout's measured increment.

    The ladder's last step: the holdout's measured increment over the ladder's own month, as GMV
    and as a share of the same total GMV (with its interval).
    """
    if (h.total.start, h.total.end) != (ladder.start, ladder.end):
        raise ParameterError("the increment step must cover the ladder's month")
    tot = ladder.total.value
    scale = (lambda v: v / tot) if tot > 0 else (lambda v: float("nan"))
    share = Stated(scale(h.total.value), "share", f"{DEFINITIONS['increment']}, as a share of total GMV",
                   ladder.start, ladder.end, scale(h.total.ci_low), scale(h.total.ci_high))
    return LadderStep("increment", h.total, share, None)


def ladder_table(ladder: ValueLadder, lang: str, increment: HoldoutIncrement | None = None) -> pd.DataFrame:
    """The ladder as the page's table.

    The ladder as the page's table: step, definition (in the page's language), GMV, share of total
    GMV, GMV not in the step before, and the 95% interval where the step is an estimate.
    """
    steps = list(ladder.steps) + ([increment_step(ladder, increment)] if increment is not None else [])
    rows = []
    for st in steps:
        rows.append({"step": t(f"value.step_{st.key}", lang),
                     "definition": t(f"value.def_{st.key}", lang, days=ladder.interaction_window_days),
                     "gmv": st.gmv.value, "share": st.share.value,
                     "outside": np.nan if st.outside_previous is None else st.outside_previous.value,
                     "ci": st.gmv.ci_text() if st.gmv.ci_low is not None else ""})
    return pd.DataFrame(rows)


def increment_table(rows: list[HoldoutIncrement], lang: str) -> pd.DataFrame:
    """The holdout windows as the page's table.

    One row per holdout window: period, per-customer increment and interval, total, attributed
    value, the design's power for the relevant effect, and the verdict in words.
    """
    return pd.DataFrame([{
        "window": t(f"value.window_{h.window}", lang), "period": h.per_customer.period_text(),
        "per": h.per_customer.text(), "ci": h.per_customer.ci_text(), "total": h.total.value,
        "attributed": h.attributed.value, "power": h.power.value,
        "verdict": t(f"value.verdict_word_{h.verdict.value}", lang)} for h in rows])


def rule_label(rule: str, lang: str, interaction_window_days: int) -> str:
    """A value-model rule's name; the interaction rule names the window actually used."""
    return t(f"value.rule_{rule}", lang, days=interaction_window_days)


# ---------------------------------------------------------------------- per task, per store, per staff
@dataclass(frozen=True)
class TaskTable:
    """Reach and conversion of the period's tasks.

    Tasks created in ``[start, end)``: reach and conversion in user view (orders within
    ``window_days`` of the push) and task view (orders through the task's link).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    window_days: int
    rows: pd.DataFrame


def task_table(wb: Workbench, start: Any, end: Any, interaction_window_days: int = 7) -> TaskTable | None:
    """Per-task user view vs task view at the page's window; None without tasks or touches."""
    from ..metrics import task_performance

    days = _check_window(interaction_window_days)
    if not (wb.has_table("tasks") and wb.has_table("touches")):
        return None
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    # one row per task of the period, kept beside a current layer for the page's other language
    rows = memoised(wb, "value.task_performance", (s, e, days), lambda: task_performance(wb, s, e, window_days=days))
    return TaskTable(s, e, days, rows)


def task_type_label(task_type: Any, lang: str) -> str:
    """Label of a task type (``other`` for a type the catalogue does not name)."""
    key = f"value.task_type_{task_type}"
    return t(key, lang) if has_key(key) else t("value.task_type_other", lang)


@dataclass(frozen=True)
class CreditedValue:
    """Direct and indirect value by credited store or staff member, with the concentration finding."""

    key: str
    rows: pd.DataFrame          # id column (store_id / staff_id), direct, indirect, pd (sorted by pd)
    top_k: int
    top_k_share: Stated | None
    leader: str | None
    leader_value: Stated | None


def credited_value(wb: Workbench, start: Any, end: Any, key: str, interaction_window_days: int = 7,
                   top_k: int = 10) -> CreditedValue:
    """Private-domain value (direct + indirect) per credited ``store`` or ``staff`` in ``[start, end)``."""
    if key not in ("store", "staff"):
        raise ParameterError(f"key must be 'store' or 'staff', not {key!r}")
    days = _check_window(interaction_window_days)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    col = "store_id" if key == "store" else "staff_id"
    g = value_buckets(wb, s, e, interaction_window_days=days, by=(key, "bucket"))
    p = g.pivot_table(index=col, columns="bucket", values="gmv", aggfunc="sum", fill_value=0).reset_index()
    for b in ("direct", "indirect"):
        if b not in p:
            p[b] = 0.0
    p = p[p[col].notna()].copy()
    p["pd"] = p["direct"] + p["indirect"]
    p = p.sort_values(["pd", col], ascending=[False, True]).reset_index(drop=True)[[col, "direct", "indirect", "pd"]]
    total = float(p["pd"].sum())
    if not len(p) or total <= 0:
        return CreditedValue(key, p, 0, None, None, None)
    k = min(top_k, len(p))
    return CreditedValue(key, p, k,
                         Stated(float(p["pd"].head(k).sum()) / total, "share",
                                f"share of private-domain value credited to the top {k} {key}s", s, e),
                         str(p[col].iloc[0]),
                         Stated(float(p["pd"].iloc[0]), "cny", f"private-domain value credited to the leading {key}",
                                s, e))


# ---------------------------------------------------------------------- channel codes
@dataclass(frozen=True)
class ChannelSection:
    """Brand-level channel codes of the adds in ``[start, end)``, measured at ``as_of``."""

    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    rows: pd.DataFrame
    best_code: str | None
    best_roi: Stated | None


def channel_section(wb: Workbench, as_of: Any, days_back: int = 90, value_days: int = 30) -> ChannelSection:
    """Adds 90 to 30 days before ``as_of`` (so every add has its full 30-day value window)."""
    from ..attribution.channels import channel_roi

    at = pd.Timestamp(as_of)
    s, e = at - pd.Timedelta(days=days_back), at - pd.Timedelta(days=value_days)
    roi = channel_roi(wb, s, e, as_of=at, value_days=value_days)
    rows = roi[roi["store_id"].isna()].reset_index(drop=True)
    paid = rows[rows["roi"].notna()]
    if not len(paid):
        return ChannelSection(s, e, at, rows, None, None)
    best = paid.loc[paid["roi"].idxmax()]
    return ChannelSection(s, e, at, rows, str(best["channel_code"]),
                          Stated(float(best["roi"]), "ratio", f"GMV within {value_days} days of the add per yuan of "
                                                               "channel cost", s, e))


# ---------------------------------------------------------------------- multi-touch attribution
@dataclass(frozen=True)
class MtaComparison:
    """Share of credited conversions per touchpoint under each method, and where they disagree most."""

    start: pd.Timestamp
    end: pd.Timestamp
    lookback_days: int
    shares: pd.DataFrame        # index: channel (raw), columns: methods; each column sums to 1
    unattributed: Stated
    widest_channel: str | None
    low: Stated | None
    low_method: str | None
    high: Stated | None
    high_method: str | None


METHODS = ("first", "last", "linear", "time_decay", "position_based", "markov", "shapley")


def mta_comparison(wb: Workbench, start: Any, end: Any, lookback_days: int = 30) -> MtaComparison:
    """Heuristic, Markov and Shapley attribution of the month's orders, as shares of credited conversions."""
    from ..attribution import heuristic_attribution, markov_attribution, shapley_attribution

    s, e = pd.Timestamp(start), pd.Timestamp(end)
    paths, n_unattributed = _journey_paths(wb, s, e, lookback_days)
    unattributed = Stated(n_unattributed, "count",
                          f"orders with no touch in the {lookback_days} days before them", s, e)
    if not len(paths) or paths["total_conversions"].sum() <= 0:
        return MtaComparison(s, e, lookback_days, pd.DataFrame(columns=list(METHODS)), unattributed,
                             None, None, None, None, None)
    h = heuristic_attribution(paths, null_col="total_null", half_life=2).set_index("channel")
    comp = pd.DataFrame({m: h[m] for m in METHODS[:5]})
    comp["markov"] = markov_attribution(paths, null_col="total_null").set_index("channel")["total_conversions"]
    comp["shapley"] = shapley_attribution(paths, null_col="total_null").set_index("channel")["total_conversions"]
    comp = comp / comp.sum()
    spread = comp.max(axis=1) - comp.min(axis=1)
    ch = str(spread.idxmax())
    d = "share of the month's credited conversions given to the touchpoint by the method"
    return MtaComparison(s, e, lookback_days, comp, unattributed, ch,
                         Stated(float(comp.loc[ch].min()), "share", d, s, e), str(comp.loc[ch].idxmin()),
                         Stated(float(comp.loc[ch].max()), "share", d, s, e), str(comp.loc[ch].idxmax()))


def _journey_paths(wb: Workbench, s: pd.Timestamp, e: pd.Timestamp, lookback_days: int) -> tuple[pd.DataFrame, float]:
    """The month's journey paths and the number of orders without a touchpoint, kept beside a current layer.

    The journeys join every order and every recently touched customer to two months of touchpoints;
    the paths (a few thousand rows) are what the models read, so the page's other language reads them.
    """
    from ..attribution.journeys import journey_path_summary

    params = (s, e, int(lookback_days))
    done: dict[str, Any] = {}

    def summary() -> Any:
        if "summary" not in done:
            done["summary"] = journey_path_summary(wb, s, e, lookback_days=lookback_days)
        return done["summary"]

    paths = memoised(wb, "value.journey_paths", params, lambda: summary().paths)
    left = memoised(wb, "value.journey_unattributed", params,
                    lambda: pd.DataFrame({"orders": [summary().unattributed_conversions]}))
    return paths, float(left["orders"].iloc[0])


def touch_label(channel: str, lang: str) -> str:
    """A touchpoint's name: a touch type, or "add via <channel group>"."""
    if channel.startswith("add_"):
        g = channel[4:]
        key = f"channel_group.{g}"
        return t("touch.add", lang, group=t(key, lang) if has_key(key) else t("channel_group.unknown", lang))
    key = f"touch.{channel}"
    return t(key, lang) if has_key(key) else t("touch.other", lang)


# ---------------------------------------------------------------------- user view and task view by store
@dataclass(frozen=True)
class ViewsByStore:
    """User-view and task-view GMV per order store over ``[start, end)`` (largest stores first)."""

    start: pd.Timestamp
    end: pd.Timestamp
    rows: pd.DataFrame   # store_id (None: online / brand level), gmv, user_gmv, user_share, task_gmv, task_share


def views_by_store(wb: Workbench, start: Any, end: Any) -> ViewsByStore:
    """The two conversion views of the ops pages, cut by the order's store, for the page's month."""
    from ..metrics import conversion

    s, e = pd.Timestamp(start), pd.Timestamp(end)
    conv = conversion(wb, s, e, grain=None, by="store").sort_values(["gmv", "store_id"], ascending=[False, True])
    cols = ["store_id", "gmv", "user_gmv", "user_share", "task_gmv", "task_share"]
    return ViewsByStore(s, e, conv[cols].reset_index(drop=True))
