"""Shared pieces of the page statements.

Shared pieces of the page statements: a stated number with its unit and period, verdict
words chosen from an interval, and period arithmetic ("last month" is the last complete month).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pandas as pd

from ..plotting import format_cny, format_float, format_int, format_pct

# unit → how a value of it is written. Persons and person-times are never mixed in one statement.
UNITS: dict[str, Any] = {
    "persons": format_int,            # deduplicated people (人数)
    "person_times": format_int,       # events, not deduplicated (人次)
    "count": format_int,              # orders, stores, spells …
    "cny": format_cny,                # money, CNY
    "cny_per_unit": lambda v: format_cny(v, 2),   # money per customer / per experiment unit
    "share": format_pct,              # a share of a whole, 0–1
    "pp": lambda v: _format_pp(v),    # difference of two shares, in percentage points
    "relative": lambda v: format_pct(v, signed=True),   # a relative change
    "days": lambda v: format_float(v, 0),
    "months": lambda v: format_float(v, 1),     # expected months (sBG: discounted residual lifetime)
    "per_1000": lambda v: format_float(v, 1),   # a rate per 1,000 (e.g. deletes per 1,000 contacts per month)
    "ratio": lambda v: format_float(v, 2),    # hazard ratio, multiplier
    "number": lambda v: format_float(v, 2),
}


def _format_pp(v: Any) -> str:
    """A difference of shares written in percentage points.

    A difference of shares in percentage points: two decimals below one point, so that a
    +0.13 pp change is not written as +0.1 pp; one decimal above.

    >>> _format_pp(0.0013), _format_pp(-0.1), _format_pp(None)
    ('+0.13 pp', '-10.0 pp', '–')
    """
    if _missing(v):
        return "–"
    points = float(v) * 100
    return f"{points:+.2f} pp" if abs(points) < 1 else f"{points:+.1f} pp"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Stated:
    """One number a page states.

    ``value`` in ``unit`` (a key of :data:`UNITS`), over the period ``[start, end)`` (None for a
    point in time or no period), defined by ``definition`` (one English sentence: what is
    counted, from which table, with which rule); ``ci_low``/``ci_high`` when it is an estimate.

    Examples
    --------
    >>> s = Stated(1234.0, "persons", "people who added a guide", pd.Timestamp("2025-12-01"),
    ...            pd.Timestamp("2026-01-01"))
    >>> s.text(), s.period_text()
    ('1,234', '2025-12-01 – 2025-12-31')
    """

    value: float
    unit: str
    definition: str
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}; one of {', '.join(UNITS)}")

    def text(self) -> str:
        """The value written in its unit."""
        return UNITS[self.unit](self.value)

    def ci_text(self) -> str:
        """The interval written in the unit, '–' when there is none."""
        if self.ci_low is None or self.ci_high is None:
            return "–"
        return f"{UNITS[self.unit](self.ci_low)} – {UNITS[self.unit](self.ci_high)}"

    def period_text(self) -> str:
        """``start – last day`` of the period (the end is exclusive)."""
        if self.start is None or self.end is None:
            return "–"
        return f"{self.start:%Y-%m-%d} – {self.end - pd.Timedelta(days=1):%Y-%m-%d}"

    @property
    def covers_zero(self) -> bool | None:
        """Whether the interval covers 0 (None without an interval)."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low <= 0 <= self.ci_high


class Verdict(str, Enum):
    """What an estimate with an interval lets a page say."""

    POSITIVE = "positive"                  # the interval lies above zero
    NEGATIVE = "negative"                  # the interval lies below zero
    NOT_DISTINGUISHABLE = "not_distinguishable"   # covers zero, and the test could have seen a relevant effect
    UNDERPOWERED = "underpowered"          # covers zero, and the test had too little power to tell


def effect_verdict(ci_low: float, ci_high: float, power: float | None = None, min_power: float = 0.8) -> Verdict:
    """The verdict an interval supports.

    The verdict an interval supports; ``power`` is the design's power for the effect that matters
    (never "observed power"). Below ``min_power`` a null result is called under-powered.

    >>> effect_verdict(0.5, 2.0).value, effect_verdict(-1, 2, power=0.3).value
    ('positive', 'underpowered')
    """
    if ci_low > 0:
        return Verdict.POSITIVE
    if ci_high < 0:
        return Verdict.NEGATIVE
    if power is not None and power < min_power:
        return Verdict.UNDERPOWERED
    return Verdict.NOT_DISTINGUISHABLE


def last_complete_month(as_of: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the last calendar month that ended on or before ``as_of`` (exclusive).

    >>> [f"{d:%Y-%m-%d}" for d in last_complete_month("2026-01-01")]
    ['2025-12-01', '2026-01-01']
    >>> [f"{d:%Y-%m-%d}" for d in last_complete_month("2026-01-15")]
    ['2025-12-01', '2026-01-01']
    """
    end = pd.Timestamp(as_of).normalize().replace(day=1)
    return end - pd.DateOffset(months=1), end


def complete_periods(start: Any, end: Any, follow_up_days: int) -> pd.Timestamp:
    """Last cohort start whose follow-up window closes before ``end``.

    The last cohort start whose ``follow_up_days`` window closes before ``end``: cohorts after it
    are right-censored (a funnel rate over them is biased low).

    >>> f"{complete_periods('2025-11-01', '2026-01-01', 14):%Y-%m-%d}"
    '2025-12-18'
    """
    return pd.Timestamp(end) - pd.Timedelta(days=int(follow_up_days))


# Counts per unit (orders per customer over a two-week window are around 0.1; two decimals would
# print a lift of 0.008 as "0.01" and its interval as "0.00 – 0.01").
UNITS["count_per_unit"] = lambda v: format_float(v, 3)


def rows_left_out(wb: Any) -> dict[str, int]:
    """Rows of the snapshot the as-of date leaves out, per table.

    ``{table: rows}`` of the snapshot at or after the workbench's as-of date, which every
    view leaves out (a backfill reads the data as they were); empty when nothing was left out.
    """
    counts = wb.rows_after_as_of() if hasattr(wb, "rows_after_as_of") else {}
    return {table: int(n) for table, n in counts.items() if n}


def as_of_note(wb: Any, lang: str) -> str | None:
    """The sentence a page shows when the as-of date left rows of the snapshot out, else None.

    >>> class Backfill:
    ...     as_of = pd.Timestamp("2025-12-01")
    ...     def rows_after_as_of(self): return {"orders": 3780, "touches": 0}
    >>> as_of_note(Backfill(), "en")
    'Data as of 2025-12-01: 3,780 rows dated on or after that day were left out (orders 3,780).'
    """
    from ..i18n import t

    counts = rows_left_out(wb)
    if not counts:
        return None
    tables = ", ".join(f"{table} {format_int(n)}" for table, n in counts.items())
    return t("report.rows_after_as_of", lang, as_of=f"{pd.Timestamp(wb.as_of):%Y-%m-%d}",
             n=format_int(sum(counts.values())), tables=tables)


# Kinds of enumerated data values a page shows, and the catalogue prefix of their labels.
DISPLAY_KINDS: dict[str, str] = {
    "variant": "variant.",               # experiment arms: control, treatment, holdout, reached
    "channel_group": "channel_group.",
    "touch": "touch.",
    "event_type": "event_type.",         # contact_events.event_type
    "order_channel": "order_channel.",
    "task_type": "value.task_type_",
}


def display_value(kind: str, value: Any, lang: str) -> str:
    """An enumerated value from the data as a reader reads it, in ``lang``.

    Looks up the catalogue key of ``kind`` (:data:`DISPLAY_KINDS`) and ``value``; a value the
    catalogue does not name (e.g. a variant a brand named itself) is shown as it is, and a
    missing value as ``–``. Use it for table cells and sentence arguments, never for keys.

    Examples
    --------
    >>> display_value("variant", "treatment", "zh"), display_value("variant", "treatment", "en")
    ('实验组', 'Treatment')
    >>> display_value("variant", "script_b", "zh"), display_value("channel_group", None, "en")
    ('script_b', '–')
    """
    from ..i18n import has_key, t

    if kind not in DISPLAY_KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(DISPLAY_KINDS)}")
    if _missing(value) or value is pd.NA:
        return "–"
    key = DISPLAY_KINDS[kind] + str(value)
    return t(key, lang) if has_key(key) else str(value)
