"""Rule-based multi-touch attribution: first, last, linear, time decay, position based.

Conventions (those of ChannelAttribution's ``heuristic_models`` where it has the method):

* **first** / **last**: all credit to the first / last touch;
* **linear**: equal credit to every touch of the path, repeats counted each time;
* **time_decay**: touch k steps before the conversion weighs 2^(−k / half_life), normalised
  per path (steps from the end stand in for time in the path-string format);
* **position_based**: ``position_weights`` (default 40/20/40) to the first touch, the middle
  touches (shared equally) and the last touch; a one-touch path gives it everything, a
  two-touch path splits first + last in proportion and gives the middle share to them too.

Every method distributes each path's conversions (and value) in full, so credits always
sum to the totals.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .paths import PathData, as_path_data, check_credits

METHODS = ("first", "last", "linear", "time_decay", "position_based")


def _weights(data: PathData, method: str, half_life: float, position_weights: Sequence[float]) -> np.ndarray:
    """Per-token share of its path's credit (shares of a path sum to 1)."""
    n_tok = len(data.tokens)
    lengths = data.lengths
    pidx = data.path_index
    pos = np.arange(n_tok) - np.repeat(data.offsets[:-1], lengths)  # 0-based position in the path
    from_end = np.repeat(lengths, lengths) - 1 - pos
    L = np.repeat(lengths, lengths).astype(float)
    if method == "first":
        return (pos == 0).astype(float)
    if method == "last":
        return (from_end == 0).astype(float)
    if method == "linear":
        return 1.0 / L
    if method == "time_decay":
        if half_life <= 0:
            raise ParameterError("half_life must be positive")
        w = 2.0 ** (-from_end / half_life)
        return w / np.bincount(pidx, weights=w, minlength=data.n_paths)[pidx]
    if method == "position_based":
        first_w, mid_w, last_w = (float(x) for x in position_weights)
        if min(first_w, mid_w, last_w) < 0 or not np.isclose(first_w + mid_w + last_w, 1.0):
            raise ParameterError("position_weights must be three non-negative numbers adding up to 1")
        w = np.where(pos == 0, first_w, 0.0) + np.where(from_end == 0, last_w, 0.0)
        middle = (pos > 0) & (from_end > 0)
        w = np.where(middle, mid_w / np.maximum(L - 2, 1), w)
        w = np.where(L == 1, 1.0, w)
        two = L == 2  # no middle: first and last share the whole credit in proportion
        w = np.where(two & (pos == 0), first_w / (first_w + last_w), np.where(two & (from_end == 0),
                                                                              last_w / (first_w + last_w), w))
        return w
    raise ParameterError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")


def heuristic_attribution(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                          value_col: str | None = None, null_col: str | None = None, sep: str = ">",
                          methods: Sequence[str] = METHODS, half_life: float = 1.0,
                          position_weights: Sequence[float] = (0.4, 0.2, 0.4)) -> pd.DataFrame:
    """Credits per channel under each rule (see module docstring).

    Returns
    -------
    DataFrame
        One row per channel; a column ``<method>`` of conversions per method and, with
        ``value_col``, ``<method>_value``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["a > b", "b"], "total_conversions": [2, 1]})
    >>> heuristic_attribution(p, methods=("first", "linear"))[["channel", "first", "linear"]].values.tolist()
    [['a', 2.0, 1.0], ['b', 1.0, 2.0]]
    """
    data = as_path_data(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                        null_col=null_col, sep=sep)
    out = pd.DataFrame({"channel": list(data.channels)})
    pidx = data.path_index
    k = len(data.channels)
    for method in methods:
        w = _weights(data, method, half_life, position_weights)
        out[method] = np.bincount(data.tokens, weights=w * data.conversions[pidx], minlength=k)
        check_credits(out[method], float(data.conversions.sum()))
        if value_col:
            out[f"{method}_value"] = np.bincount(data.tokens, weights=w * data.value[pidx], minlength=k)
            check_credits(out[f"{method}_value"], float(data.value.sum()), "value")
    return out
