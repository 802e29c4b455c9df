"""The as-of date of a computation: the one given, else the workbench's own.

``workbench.open(..., as_of=...)`` already fixes the date a brand is read as of; model and
pipeline functions that take a workbench let their ``as_of`` (``observation_end``, ``at``)
default to it, so a notebook states the date once.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .engine import to_timestamp
from .errors import ParameterError


def workbench_as_of(wb: Any, value: Any = None, name: str = "as_of") -> pd.Timestamp | None:
    """``value`` as a timestamp when given, else the workbench's ``as_of`` (``None`` when it has none)."""
    if value is not None:
        return to_timestamp(value, name)
    own = getattr(wb, "as_of", None)
    return None if own is None else pd.Timestamp(own)


def require_as_of(wb: Any, value: Any = None, name: str = "as_of") -> pd.Timestamp:
    """Like :func:`workbench_as_of`, but a :class:`~workbench.ParameterError` when neither is set."""
    at = workbench_as_of(wb, value, name)
    if at is None:
        raise ParameterError(f"{name} is required: the workbench was opened without as_of")
    return at

