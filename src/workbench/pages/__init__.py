"""What each report page states.

What each report page states: the numbers, their units, periods and definitions, and the
sentence each one supports.

A report notebook lays out; it never computes a number worth stating. Every headline, table
total and finding comes from a function here, returned as :class:`Stated` values (value, unit,
period ``[start, end)``, definition, interval) so that tests can check the rendered statements
against the simulator's truth and against their own arithmetic (net = adds − deletes in one
unit, shares adding up, a store view summing to the store's totals).

One module per report family: ``ops`` (the operations dashboard and store view), ``experiment``,
``value`` (the value model), ``churn``, ``clv`` and ``targeting`` (whom to give the next task); shared
pieces are in ``_base``.
"""
from __future__ import annotations

from ._base import (
    UNITS,
    Stated,
    Verdict,
    as_of_note,
    complete_periods,
    effect_verdict,
    last_complete_month,
    rows_left_out,
)

__all__ = ["UNITS", "as_of_note", "rows_left_out", "Stated", "Verdict", "complete_periods", "effect_verdict",
           "last_complete_month"]
