"""Each metric frame once per workbench and arguments, and once per batch beside the derived layer.

:func:`once_per_workbench` wraps the functions of :mod:`workbench.metrics`: a page asking twice runs
the SQL once, and while the workbench reads a current layer the frame is kept beside it
(:func:`~workbench.engine.memo.memoised`) for the other kernels of a batch. A function computing
the frames of several calls in one pass (several cohort windows, several instants) asks
:func:`kept` which are missing and hands each frame to :func:`keep`, so the calls read them.
"""
from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from .engine import Workbench
from .engine.memo import memo_path, memoised

__all__ = ["once_per_workbench", "kept", "keep", "in_one_pass"]

_F = TypeVar("_F", bound=Callable[..., pd.DataFrame])
_RESULTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def once_per_workbench(func: _F) -> _F:
    """Keep a metric's frame per workbench and arguments: a page asking twice runs the SQL once.

    A report states some numbers in two places (the contacts at the period's start close one
    period and open the next; the brand's contacts at as-of head the KPIs and the retention
    section). The frame is keyed by the arguments (defaults filled in) and the identity of the
    workbench's tables, so attaching a new table computes it again; callers get a copy. While the
    workbench reads a current layer the frame is also kept beside it
    (:func:`~workbench.engine.memo.memoised`), so the other kernels of a batch (the other language,
    the store pages) read it instead of computing it again. A function computing the frames of
    several calls in one pass keeps each of them with :func:`keep` (after :func:`kept` said which
    are missing), so the later calls read them.
    """
    sig = inspect.signature(func)

    def call_key(wb: Workbench, *args: Any, **kwargs: Any) -> tuple[tuple, tuple] | None:
        """(in-process key, memo parameters) of a call, or None when it cannot be kept."""
        bound = sig.bind(wb, *args, **kwargs)
        bound.apply_defaults()
        key = (func.__name__, tuple(id(v) for v in getattr(wb, "_sources", {}).values()),
               tuple((k, v) for k, v in bound.arguments.items() if k != "wb"))
        try:
            hash(key)
        except TypeError:  # an unhashable argument: no memo
            return None
        return key, tuple(v for k, v in bound.arguments.items() if k != "wb")

    @functools.wraps(func)
    def wrapper(wb: Workbench, *args: Any, **kwargs: Any) -> pd.DataFrame:
        keys = call_key(wb, *args, **kwargs)
        try:
            memo = _RESULTS.setdefault(wb, {})
        except TypeError:  # a stand-in workbench: no memo
            keys = None
        if keys is None:
            return func(wb, *args, **kwargs)
        key, params = keys
        if key not in memo:   # and across the kernels of a batch, while a current layer is read
            memo[key] = memoised(wb, f"metrics.{func.__name__}", params, lambda: func(wb, *args, **kwargs))
        return memo[key].copy()

    wrapper.call_key = call_key  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def kept(metric: Callable[..., pd.DataFrame], wb: Workbench, *args: Any, **kwargs: Any) -> bool:
    """Whether ``metric(wb, *args, **kwargs)`` is kept already, in this process or beside the layer."""
    keys = metric.call_key(wb, *args, **kwargs)  # type: ignore[attr-defined]
    if keys is None:
        return False
    key, params = keys
    try:
        if key in _RESULTS.get(wb, {}):
            return True
    except TypeError:  # a stand-in workbench: nothing is kept
        return False
    path = memo_path(wb, f"metrics.{metric.__name__}", params)
    return path is not None and path.exists()


def keep(metric: Callable[..., pd.DataFrame], frame: pd.DataFrame, wb: Workbench, *args: Any, **kwargs: Any) -> None:
    """Keep ``frame`` as the result of ``metric(wb, *args, **kwargs)`` (computed by a pass over several calls)."""
    keys = metric.call_key(wb, *args, **kwargs)  # type: ignore[attr-defined]
    if keys is None:
        return
    key, params = keys
    try:
        memo = _RESULTS.setdefault(wb, {})
    except TypeError:  # a stand-in workbench: nothing is kept
        return
    memo[key] = memoised(wb, f"metrics.{metric.__name__}", params, lambda: frame)


def in_one_pass(metric: Callable[..., pd.DataFrame], wb: Workbench, calls: list[tuple[tuple, dict]],
                 compute: Callable[[list[tuple[tuple, dict]]], list[pd.DataFrame]]) -> list[pd.DataFrame]:
    """``[metric(wb, *args, **kw) for args, kw in calls]``, the calls not kept yet computed by one ``compute``.

    ``compute`` gets those calls and returns their frames, in order (one pass for all of them); each
    is kept as ``metric``'s result for its call (:func:`keep`), then every call reads its frame.
    """
    missing = [(args, kw) for args, kw in calls if not kept(metric, wb, *args, **kw)]
    for (args, kw), frame in zip(missing, compute(missing) if missing else [], strict=True):
        keep(metric, frame, wb, *args, **kw)
    return [metric(wb, *args, **kw) for args, kw in calls]
