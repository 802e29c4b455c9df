"""Domain exceptions, all in one place.

Every error the workbench raises on purpose derives from :class:`WorkbenchError`, so a
scheduled run can catch one type and exit non-zero with a readable message.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where rows are shown: `workbench --help` stays light
    import pandas as pd


class WorkbenchError(Exception):
    """Base class of every error raised on purpose by the workbench."""


class DataContractError(WorkbenchError, ValueError):
    """Input data breaks the data contract (README, "The data contract").

    The message names the table, the column and shows the first offending rows, so the
    person who owns the upstream export can find and fix them.

    Parameters
    ----------
    table : str
        Contract table name (``orders``, ``contact_events`` …) or a user frame's name.
    column : str or None
        The offending column, when one column is at fault.
    problem : str
        What is wrong, in one sentence.
    rows : pandas.DataFrame, optional
        The first offending rows (a handful; never the whole table).
    """

    def __init__(
        self,
        table: str,
        column: str | None,
        problem: str,
        rows: pd.DataFrame | None = None,
        n_bad: int | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        self.rows = rows
        self.n_bad = n_bad
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        msg = f"{where}: {problem}"
        if n_bad is not None:
            msg += f" ({n_bad:,} offending row{'s' if n_bad != 1 else ''})"
        if rows is not None and len(rows):
            import pandas as pd

            with pd.option_context("display.width", 160, "display.max_columns", 20):
                msg += "\nfirst offending rows:\n" + rows.head(5).to_string(index=False)
        super().__init__(msg)


class SourceUnavailableError(WorkbenchError, OSError):
    """An input cannot be read at all: a database that refuses the connection, a missing export.

    The message names the source (never a password); the CLI exits 3, as for bad input data.
    """


class ParameterError(WorkbenchError, ValueError):
    """A function or report parameter is unknown, of the wrong type or out of range."""


class TooFewUnitsError(ParameterError):
    """Too few units to learn from: a cross-fitting fold is empty, or has no units in one arm."""


class ConvergenceError(WorkbenchError, RuntimeError):
    """A model fit did not converge; the message says what to try."""


class ReportError(WorkbenchError, RuntimeError):
    """A report notebook failed to execute or render."""


class EngineOutOfMemoryError(WorkbenchError, MemoryError):
    """The engine ran out of its memory limit on a query (an aggregate whose state does not spill).

    Raised by a backend in place of its engine's own error, so callers can fall back to SQL that
    spills, or say which limit to raise, without importing the engine.
    """


def bad_rows(frame: pd.DataFrame, mask: Any, limit: int = 5) -> pd.DataFrame:
    """Return the first ``limit`` rows of ``frame`` where ``mask`` is true."""
    return frame.loc[mask].head(limit)
