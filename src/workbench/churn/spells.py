"""Contact spells: WeCom relationships as lifetimes with censoring, built in the engine.

Two levels:

* ``"customer_staff"``: one spell per add of a customer–staff pair (a re-add starts a new
  spell); it ends with the delete (``deleted_by_customer`` / ``deleted_by_staff``) or is
  censored: at ``as_of``, when the relationship was moved to another member
  (``transferred``: 在职/离职继承) or when the member left the company (``staff_left``).
  Neither side chose those two ends, so they are not churn; the takeover member's
  relationship is a new spell.
* ``"customer"``: "in the private domain" — any open contact *or* group membership. The
  customer's intervals (contacts and groups) are merged into islands; a spell ends when
  the last open one closes, with the reason of that last closure (``left_group`` when it
  was a group leave). Touching intervals (a delete and a re-add at the same second) stay
  one spell.

Left truncation: with ``window_start``, spells that began before it but were still open at
it are kept with ``entry_days`` = their age at ``window_start`` (pass it to the survival
fitters as the entry time); spells that ended before it are dropped. Without it every spell
enters at 0.

``as_of`` defaults to the workbench's own ``as_of`` (a dict of frames has none: pass it).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from .._as_of import require_as_of
from ..engine import Workbench, literal, quote, to_timestamp
from ..errors import DataContractError, ParameterError
from ..metrics import contact_intervals, derived_table, group_intervals

LEVELS = ("customer", "customer_staff")
END_REASONS = ("deleted_by_customer", "deleted_by_staff", "left_group", "transferred", "staff_left", "censored")
#: End reasons that are not churn: the spell is censored there (still open at as-of, moved to another
#: member, or closed because the member left the company).
CENSORING_REASONS = ("censored", "transferred", "staff_left")


def _workbench(source: Any) -> Workbench:
    if isinstance(source, Workbench) or (hasattr(source, "query") and hasattr(source, "require")):
        return source
    if isinstance(source, dict):
        from ..engine import open_workbench

        return open_workbench(source)
    raise ParameterError("contact_spells needs a Workbench or a dict of contract DataFrames")


def _reason(end_time: str, end_type: str, as_of: str) -> str:
    return (f"CASE WHEN {end_time} IS NULL OR {end_time} > {as_of} THEN 'censored' "
            f"WHEN {end_type} = 'delete_by_customer' THEN 'deleted_by_customer' "
            f"WHEN {end_type} = 'delete_by_staff' THEN 'deleted_by_staff' "
            f"WHEN {end_type} = 'transfer' THEN 'transferred' "
            f"WHEN {end_type} = 'staff_left' THEN 'staff_left' ELSE 'left_group' END")


def contact_spells_sql(wb: Workbench, as_of: Any = None, level: str = "customer", window_start: Any = None) -> str:
    """The SQL behind :func:`contact_spells` (for materialising in the engine at scale)."""
    if level not in LEVELS:
        raise ParameterError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    at = require_as_of(wb, as_of)
    a = literal(at)
    wb.require("contact_events")
    contact_cols = "customer_id, staff_id, channel_code" if level == "customer_staff" else "customer_id"
    parts = [f"""SELECT {contact_cols}, start_time,
                        CASE WHEN end_time IS NULL OR end_time > {a} THEN {a} ELSE end_time END
                        AS end_time, {_reason('end_time', 'end_type', a)} AS end_reason
                 FROM ({contact_intervals(wb)}) c WHERE start_time <= {a}"""]
    if level == "customer_staff":
        spells = f"""
            SELECT customer_id, staff_id, channel_code,
                   ROW_NUMBER() OVER (PARTITION BY customer_id, staff_id ORDER BY start_time) AS spell_number,
                   start_time AS start, end_time AS "end", end_reason
            FROM ({parts[0]}) s"""
    else:
        if wb.has_table("group_events"):
            parts.append(f"""SELECT customer_id, start_time,
                                    CASE WHEN end_time IS NULL OR end_time > {a} THEN {a} ELSE end_time END AS end_time,
                                    CASE WHEN end_time IS NULL OR end_time > {a} THEN 'censored' ELSE 'left_group' END
                                    AS end_reason
                             FROM ({group_intervals(wb)}) g WHERE start_time <= {a}""")
        spells = f"""
            WITH iv AS ({' UNION ALL '.join(parts)}),
            ordered AS (
                SELECT *, MAX(end_time) OVER (PARTITION BY customer_id ORDER BY start_time, end_time
                                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_end
                FROM iv
            ),
            islands AS (
                SELECT *, CAST(SUM(CASE WHEN previous_end IS NULL OR start_time > previous_end THEN 1 ELSE 0 END)
                          OVER (PARTITION BY customer_id ORDER BY start_time, end_time ROWS UNBOUNDED PRECEDING)
                          AS BIGINT) AS spell_number
                FROM ordered
            ),
            ranked AS (
                SELECT *, MIN(start_time) OVER (PARTITION BY customer_id, spell_number) AS spell_start,
                       ROW_NUMBER() OVER (PARTITION BY customer_id, spell_number
                                          ORDER BY end_time DESC, CASE WHEN end_reason = 'censored' THEN 0 ELSE 1 END,
                                                   end_reason) AS rn
                FROM islands
            )
            SELECT customer_id, spell_number, spell_start AS start, end_time AS "end", end_reason
            FROM ranked WHERE rn = 1"""
    entry = "0.0"
    keep = "TRUE"
    if window_start is not None:
        w = literal(to_timestamp(window_start, "window_start"))
        entry = f"CASE WHEN start < {w} THEN date_diff('second', start, {w}) / 86400.0 ELSE 0.0 END"
        keep = f"""("end" > {w} OR end_reason = 'censored')"""
    return f"""
        SELECT *, date_diff('second', start, "end") / 86400.0 AS duration_days,
               end_reason NOT IN ({", ".join(literal(r) for r in CENSORING_REASONS)}) AS churned,
               {entry} AS entry_days
        FROM ({spells}) sp WHERE {keep}"""


def contact_spells(source: Any, as_of: Any = None, level: str = "customer", window_start: Any = None) -> pd.DataFrame:
    """Contact spells, one row each.

    One row per spell: ``customer_id`` (and ``staff_id``, ``channel_code`` at level
    ``"customer_staff"``), ``spell_number``, ``start``, ``end`` (``as_of`` when censored),
    ``duration_days``, ``churned`` (False = censored: open at ``as_of``, transferred or
    closed when the member left), ``end_reason`` (deleted_by_customer / deleted_by_staff /
    left_group / transferred / staff_left / censored) and ``entry_days``.

    Parameters
    ----------
    source : Workbench or dict of DataFrames
        Needs ``contact_events``; level ``"customer"`` also uses ``group_events``.
    as_of : date-like, optional
        Censoring time; must not precede the data. Defaults to the workbench's ``as_of``.

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> spells = contact_spells(wb, "2026-01-01", level="customer_staff")   # doctest: +SKIP
    """
    wb = _workbench(source)
    at = require_as_of(wb, as_of)
    first = wb.scalar("SELECT MIN(event_time) FROM contact_events")
    if first is not None and at < pd.Timestamp(first):
        raise ParameterError(f"as_of {at} is before the first contact event ({first}): no spell can be observed")
    order = "customer_id, staff_id, spell_number" if level == "customer_staff" else "customer_id, spell_number"
    df = wb.query(contact_spells_sql(wb, at, level, window_start) + f" ORDER BY {order}")
    bad = df["duration_days"] < 0
    if bad.any():  # cannot happen with validated events; guards hand-made inputs
        raise DataContractError("contact_events", "event_time", "spell with negative duration", df[bad].head(),
                                int(bad.sum()))
    return df


def _has_retention_tool(wb: Workbench) -> bool:
    return wb.has_table("stores") and "uses_retention_tool" in wb.columns("stores")


SPELL_BASE = "__wb_spell_base"


def spell_base(wb: Workbench, as_of: Any = None) -> str:
    """:func:`contact_spells_sql` at level ``customer_staff``, materialised once per workbench and as-of date.

    The covariates read the spells four times. In the persisted layer
    (:mod:`workbench.engine.layer`) its as-of-dependent columns are ``end`` and ``duration_days``
    of the spells open at as-of (``end_reason = 'censored'``).
    """
    at = require_as_of(wb, as_of)
    return derived_table(wb, SPELL_BASE, contact_spells_sql(wb, at, "customer_staff"), ("contact_events",),
                         params=(at,))


def spell_covariates_sql(wb: Workbench, as_of: Any = None, landmark_days: float = 14.0) -> str:
    """The SQL behind :func:`spell_covariates` (unordered, for use inside the engine)."""
    at = require_as_of(wb, as_of)
    base = spell_base(wb, at)
    lm = f"INTERVAL '{int(landmark_days * 86400)} seconds'"
    tool = ", CAST(st.uses_retention_tool AS INTEGER) AS uses_retention_tool" if _has_retention_tool(wb) else ""
    chans = wb.has_table("channels")
    chats = (f"""LEFT JOIN (SELECT s.customer_id, s.staff_id, s.start, COUNT(*) AS n FROM ({base}) s
                  JOIN touches t ON t.customer_id = s.customer_id AND t.staff_id = s.staff_id AND t.touch_type = 'chat'
                   AND t.event_time >= s.start AND t.event_time < s.start + {lm}
                  GROUP BY 1, 2, 3) ch ON ch.customer_id = sp.customer_id AND ch.staff_id = sp.staff_id
                                      AND ch.start = sp.start""" if wb.has_table("touches") else "")
    groups = (f"""LEFT JOIN (SELECT DISTINCT s.customer_id, s.start FROM ({base}) s
                   JOIN ({group_intervals(wb)}) g ON g.customer_id = s.customer_id
                    AND g.start_time <= s.start + {lm} AND (g.end_time IS NULL OR g.end_time > s.start + {lm})
                  ) gm ON gm.customer_id = sp.customer_id AND gm.start = sp.start"""
              if wb.has_table("group_events") else "")
    bought = (f"""LEFT JOIN (SELECT DISTINCT s.customer_id, s.start FROM ({base}) s
                   JOIN orders o ON o.customer_id = s.customer_id AND o.order_time < s.start + {lm}
                  ) b ON b.customer_id = sp.customer_id AND b.start = sp.start""" if wb.has_table("orders") else "")
    return f"""
        SELECT sp.*, {'c.channel_group' if chans else 'CAST(NULL AS VARCHAR)'} AS channel_group, sf.store_id{tool},
               {'COALESCE(ch.n, 0)' if chats else '0'} AS early_chats,
               {'CASE WHEN gm.customer_id IS NOT NULL THEN 1 ELSE 0 END' if groups else '0'} AS group_member,
               {'CASE WHEN b.customer_id IS NOT NULL THEN 1 ELSE 0 END' if bought else '0'} AS bought_by_landmark
        FROM ({base}) sp
        {'LEFT JOIN channels c ON c.channel_code = sp.channel_code' if chans else ''}
        LEFT JOIN staff sf ON sf.staff_id = sp.staff_id
        {'LEFT JOIN stores st ON st.store_id = sf.store_id' if tool else ''}
        {chats} {groups} {bought}"""


def spell_covariates(wb: Workbench, as_of: Any = None, landmark_days: float = 14.0) -> pd.DataFrame:
    """Customer–staff spells with the covariates of the churn models.

    Adds to :func:`contact_spells` at level ``customer_staff``: ``channel_group`` (of the add's
    channel code), ``store_id`` (the staff member's store) and, when the stores table has it,
    ``uses_retention_tool``; measured over the first ``landmark_days`` of the spell:
    ``early_chats`` (1:1 chats from that staff member), ``group_member`` (in any group at the
    landmark) and ``bought_by_landmark`` (any order before the landmark, including before the
    add). Spells are kept whole; use :func:`workbench.churn.survival.landmark` to keep those
    still open at the landmark (the covariates are only known then).

    One row per spell in pandas: at brand scale use :func:`spell_counts`, which collapses the
    spells in the engine.
    """
    return wb.query(spell_covariates_sql(wb, as_of, landmark_days) + " ORDER BY customer_id, staff_id, spell_number")


SPELL_TABLE = "__wb_spell_covariates"
SPELL_READS = ("contact_events", "touches", "group_events", "orders", "channels", "staff", "stores")


def spell_table(wb: Workbench, as_of: Any = None, landmark_days: float = 14.0) -> str:
    """Name of the materialised spell-covariate relation.

    ``SELECT`` over :func:`spell_covariates`, materialised in the engine once per workbench,
    as-of date and landmark (the churn report reads it for every table and model).
    """
    at = require_as_of(wb, as_of)
    return derived_table(wb, SPELL_TABLE, spell_covariates_sql(wb, at, landmark_days), SPELL_READS,
                         params=(at, float(landmark_days)))


def spell_counts(wb: Workbench, as_of: Any = None, by: Sequence[str] = (), landmark_days: float = 14.0,
                 duration_resolution: float | None = 1.0) -> pd.DataFrame:
    """Customer–staff spells collapsed in the engine: distinct (``by``…, duration, churned) with a count.

    What the survival statistics need from millions of spells is a few thousand rows: the
    Kaplan–Meier curves and tables, log-rank tests, cohort tables and Cox fits of
    :mod:`workbench.churn.survival` and :mod:`workbench.churn.cohorts` all take these rows
    with ``weights_col="weight"`` and give the results of the replicated spells.

    Parameters
    ----------
    wb : Workbench
    as_of : date-like
        Censoring time.
    by : sequence of str
        Columns of :func:`spell_covariates` to keep (``channel_group``, ``store_id``,
        ``early_chats``, ``group_member``, ``bought_by_landmark``, ``uses_retention_tool``,
        …), and ``cohort``: the month the spell started, as ``YYYY-MM``.
    landmark_days : float
        Window of the early-interaction covariates.
    duration_resolution : float or None
        Durations are rounded up to a multiple of this (``1.0``: whole days, the grain the
        Cox fits of the reports use; a spell of 2.3 days counts as day 3); spells censored
        before as-of (transferred, closed when the guide left) are rounded down. Survival at whole
        days is then that of the exact durations up to the order of events within a day.
        ``None`` keeps durations to the second: hardly anything collapses.

    Returns
    -------
    DataFrame
        ``by`` columns, ``duration_days``, ``churned``, ``weight`` (number of spells) and
        ``open_weight`` (how many of them are still open at ``as_of``; the other censored
        ones were transferred or closed when their member left), sorted by the keys.

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> rows = spell_counts(wb, "2026-01-01", by=["channel_group"])          # doctest: +SKIP
    >>> kaplan_meier_table(rows, "channel_group", weights_col="weight")      # doctest: +SKIP
    """
    if duration_resolution is not None and not duration_resolution > 0:
        raise ParameterError(f"duration_resolution must be positive, got {duration_resolution!r}")
    source = spell_table(wb, as_of, landmark_days)
    _check_by(wb, as_of, by, landmark_days)
    keys = [f"{_key_sql(c)} AS {quote(c)}" for c in by]
    select = ", ".join([*keys, f"{_duration_sql(duration_resolution)} AS duration_days", "churned"])
    order = ", ".join(str(i + 1) for i in range(len(by) + 2))
    return wb.query(f"SELECT {select}, COUNT(*) AS weight, {_STILL_OPEN} FROM ({source}) s "
                    f"GROUP BY {order} ORDER BY {order}")


_STILL_OPEN = "SUM(CASE WHEN end_reason = 'censored' THEN 1 ELSE 0 END) AS open_weight"


def _key_sql(column: str) -> str:
    return "strftime(start, '%Y-%m')" if column == "cohort" else quote(column)


def _duration_sql(duration_resolution: float | None) -> str:
    # Events and the censoring at as-of round up (a delete on day 2.3 counts on day 3, as the Cox fits of
    # the reports do); a spell censored earlier, by a transfer or a departure, rounds down: it was not
    # seen alive at the next whole day.
    if duration_resolution is None:
        return "duration_days"
    res = f"{float(duration_resolution)!r}"
    cut = ", ".join(literal(r) for r in CENSORING_REASONS if r != "censored")
    return (f"CASE WHEN end_reason IN ({cut}) THEN FLOOR(duration_days / {res}) * {res} "
            f"ELSE CEIL(duration_days / {res}) * {res} END")


def _check_by(wb: Workbench, as_of: Any, by: Sequence[str], landmark_days: float) -> None:
    available = spell_columns(wb, as_of, landmark_days)
    unknown = [c for c in by if c not in available]
    if unknown:
        raise ParameterError(f"spell_counts cannot group by {unknown[0]!r}; spells have {', '.join(available)}")


def spell_counts_sets(wb: Workbench, as_of: Any = None, sets: Sequence[Sequence[str]] = ((),),
                      landmark_days: float = 14.0, duration_resolution: float | None = 1.0) -> list[pd.DataFrame]:
    """:func:`spell_counts` for several ``by`` lists, grouping the spells once per widest list.

    A report that reads the spells collapsed by channel and by the covariates of its models
    groups the millions of spells once, by the widest list (channel and the other covariates):
    each narrower list is the sum of those few thousand rows (counts are integers, so the sums
    are the same). A list that is no subset of another groups the spells itself. Each frame has
    the types and order :func:`spell_counts` gives (the same frames, tested).

    Parameters
    ----------
    wb, as_of, landmark_days, duration_resolution
        As for :func:`spell_counts`.
    sets : sequence of sequences of str
        The ``by`` lists.

    Returns
    -------
    list of DataFrame
        One frame per list, in the order given: what ``spell_counts(wb, as_of, by=...)`` returns.
    """
    sets = [list(by) for by in sets]
    roots: dict[tuple[str, ...], pd.DataFrame] = {}
    for by in sets:
        if not any(set(by) < set(other) for other in sets) and not any(set(by) == set(k) for k in roots):
            roots[tuple(by)] = spell_counts(wb, as_of, by, landmark_days, duration_resolution)
    out = []
    for by in sets:
        if tuple(by) in roots:
            out.append(roots[tuple(by)].copy())     # a caller may add columns to its frame
        else:
            out.append(_sum_rows(wb, roots[next(k for k in roots if set(by) <= set(k))], by))
    return out


def _sum_rows(wb: Workbench, rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Collapsed spells summed to the keys ``by`` in the engine: the types and order of :func:`spell_counts`."""
    name = "__wb_spell_rows"
    wb.register(name, rows)
    keys = ", ".join([*map(quote, by), "duration_days", "churned"])
    order = ", ".join(str(i + 1) for i in range(len(by) + 2))
    try:
        return wb.query(f"SELECT {keys}, CAST(SUM(weight) AS BIGINT) AS weight, "
                        f"CAST(SUM(open_weight) AS HUGEINT) AS open_weight FROM {name} "
                        f"GROUP BY {order} ORDER BY {order}")
    finally:
        wb.backend.drop(name)


def spell_columns(wb: Workbench, as_of: Any = None, landmark_days: float = 14.0) -> list[str]:
    """The columns :func:`spell_counts` can group by (including ``cohort``)."""
    cols = list(wb.query(f"SELECT * FROM ({spell_table(wb, as_of, landmark_days)}) s LIMIT 0").columns)
    return [*cols, "cohort"]
