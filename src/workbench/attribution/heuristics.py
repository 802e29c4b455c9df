"""Rule-based multi-touch attribution: first, last, linear, time decay, position based.

Each rule splits every converting journey's conversions (and value) over its touches, so
the credits of every rule add up to the total conversions (and value). Conventions:

* **first** / **last**: everything to the first / last touch of the path;
* **linear**: an equal share to every touch, *repeated channels counted each time*
  (``a > b > a`` gives ``a`` two thirds), as ChannelAttribution's ``linear_touch`` does;
* **time_decay**: a touch of age ``t`` weighs ``2 ** (-t / half_life)``, normalised per
  path. For path strings the age is the number of touches after it (the last touch has
  age 0), so ``half_life`` is in steps (default 2). For a journey frame or a
  :class:`~workbench.attribution.paths.PathData` from
  :func:`~workbench.attribution.paths.parse_journeys` the age is the real time in days
  from the touch to the end of the journey, and ``half_life`` is in days (default 7);
* **position_based** (U-shaped): ``position_weights`` = (first, middle, last), default
  40 / 20 / 40: the first and last touches take their weights and the middle touches
  share the middle weight equally. A one-touch path gives its touch everything; a
  two-touch path has no middle, so first and last split the whole credit in the ratio
  first : last (50 / 50 by default).

First, last and linear credits equal ChannelAttribution's ``heuristic_models`` output.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .paths import PathData, as_path_data, check_total

METHODS = ("first", "last", "linear", "time_decay", "position_based")
#: Default time-decay half-life: in steps for path strings, in days when touch times are known.
DEFAULT_HALF_LIFE_STEPS = 2.0
DEFAULT_HALF_LIFE_DAYS = 7.0


def _check_arguments(methods: Sequence[str], half_life: float | None, position_weights: Sequence[float]) -> None:
    if isinstance(methods, str) or not len(methods):
        raise ParameterError(f"methods must be a non-empty sequence of names from {METHODS}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ParameterError(f"unknown method {unknown[0]!r}; methods: {', '.join(METHODS)}")
    if half_life is not None and not (np.isfinite(half_life) and half_life > 0):
        raise ParameterError(f"half_life must be a positive number, got {half_life!r}")
    weights = np.asarray(position_weights, dtype=float)
    if weights.shape != (3,) or (weights < 0).any() or not np.isclose(weights.sum(), 1.0) \
            or weights[0] + weights[2] <= 0:
        raise ParameterError("position_weights must be three non-negative numbers (first, middle, last) adding "
                             f"up to 1 with first + last > 0, got {tuple(position_weights)!r}")


def touch_weights(data: PathData, method: str, half_life: float | None = None,
                  position_weights: Sequence[float] = (0.4, 0.2, 0.4)) -> np.ndarray:
    """Each touch's share of its path's credit under ``method`` (the shares of a path sum to 1)."""
    lengths = np.repeat(data.lengths, data.lengths)
    pos = data.position
    after = data.steps_to_end
    if method == "first":
        return (pos == 0).astype(float)
    if method == "last":
        return (after == 0).astype(float)
    if method == "linear":
        return 1.0 / lengths
    if method == "time_decay":
        if data.ages is not None:
            age, h = data.ages, DEFAULT_HALF_LIFE_DAYS if half_life is None else half_life
        else:
            age, h = after.astype(float), DEFAULT_HALF_LIFE_STEPS if half_life is None else half_life
        w = np.exp2(-age / h)
        return w / np.bincount(data.path_index, weights=w, minlength=data.n_paths)[data.path_index]
    if method == "position_based":
        first, middle, last = (float(x) for x in position_weights)
        w = np.where(pos == 0, first, 0.0) + np.where(after == 0, last, 0.0)
        w = np.where((pos > 0) & (after > 0), middle / np.maximum(lengths - 2, 1), w)
        two = lengths == 2
        w = np.where(two, np.where(pos == 0, first, last) / (first + last), w)
        return np.where(lengths == 1, 1.0, w)
    raise ParameterError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")


def heuristic_attribution(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                          value_col: str | None = None, null_col: str | None = None, sep: str = ">",
                          methods: Sequence[str] = METHODS, half_life: float | None = None,
                          position_weights: Sequence[float] = (0.4, 0.2, 0.4)) -> pd.DataFrame:
    """Credits per channel under rule-based attribution (conventions in the module docstring).

    Parameters
    ----------
    paths : DataFrame or PathData
        The path-string format (``path_col``, ``conversions_col``, optional ``value_col``
        and ``null_col``), a journey frame (one row per touch: ``journey_id``, ``channel``,
        ``touch_time``, ``converted``, and ``value_col``), or parsed paths.
    sep : str
        Channel separator of the path strings.
    methods : sequence of str
        Any of ``"first"``, ``"last"``, ``"linear"``, ``"time_decay"``, ``"position_based"``.
    half_life : float, optional
        Time-decay half-life: steps for path strings (default 2), days with touch times
        (default 7).
    position_weights : (float, float, float)
        First, middle and last weights of the position-based rule; they must add up to 1.

    Returns
    -------
    DataFrame
        One row per channel (sorted by name): ``channel``, one column of credited
        conversions per method and, with a value column, ``<method>_value``. Non-converting
        journeys (``null_col``) carry no conversions and do not change the credits.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["a > b > a", "b"], "total_conversions": [3, 1]})
    >>> heuristic_attribution(p, methods=("first", "last", "linear")).values.tolist()
    [['a', 3.0, 3.0, 2.0], ['b', 1.0, 1.0, 2.0]]
    """
    _check_arguments(methods, half_life, position_weights)
    data = as_path_data(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                        null_col=null_col, sep=sep)
    out = pd.DataFrame({"channel": list(data.channels)})
    conv_per_touch = data.conversions[data.path_index]
    value_per_touch = None if data.value is None else data.value[data.path_index]
    for method in methods:
        w = touch_weights(data, method, half_life, position_weights)
        out[method] = np.bincount(data.tokens, weights=w * conv_per_touch, minlength=data.n_channels)
        check_total(out[method], data.total_conversions, f"{method} conversion")
        if value_per_touch is not None:
            out[f"{method}_value"] = np.bincount(data.tokens, weights=w * value_per_touch,
                                                 minlength=data.n_channels)
            check_total(out[f"{method}_value"], data.total_value, f"{method} value")
    return out
