"""Shapley-value attribution, exact over all coalitions of channels.

The value of a coalition S of channels is what the journeys that used only channels in S
delivered: v(S) = Σ conversions (or value) of converting paths whose channel *set* is a
subset of S (the characteristic function of Zhao et al. 2018 and Dalessandro et al.).
Each channel's Shapley value is its average marginal contribution over all orders of
arrival; the values add up to v(all channels) = total conversions.

Computed with bitmasks: path conversions are summed per channel set, the subset sums
v(S) for all 2^n coalitions come from one fast zeta transform (n·2^n additions), and the
Shapley weights are vectorised over coalitions. Exact for up to ``max_channels`` (default
20: 2^20 coalitions).
"""
from __future__ import annotations

from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .paths import as_path_data, check_credits


def coalition_values(masks: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """v(S) for every coalition S (as a bitmask): sum of weights of paths whose set ⊆ S."""
    v = np.bincount(masks, weights=weights, minlength=1 << n).astype(float)
    for i in range(n):  # zeta transform over subsets
        bit = 1 << i
        idx = np.arange(1 << n)
        has = (idx & bit) != 0
        v[has] += v[idx[has] ^ bit]
    return v


def shapley_from_values(v: np.ndarray, n: int) -> np.ndarray:
    """Shapley values from the coalition values of an n-player game."""
    size = np.array([bin(s).count("1") for s in range(1 << n)]) if n <= 16 else \
        np.unpackbits(np.arange(1 << n, dtype=np.uint32).view(np.uint8).reshape(-1, 4), axis=1).sum(1)
    weight = np.array([factorial(k) * factorial(n - k - 1) / factorial(n) for k in range(n)])
    idx = np.arange(1 << n)
    phi = np.empty(n)
    for i in range(n):
        bit = 1 << i
        without = idx[(idx & bit) == 0]
        phi[i] = np.sum(weight[size[without]] * (v[without | bit] - v[without]))
    return phi


def shapley_attribution(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                        value_col: str | None = None, null_col: str | None = None, sep: str = ">",
                        max_channels: int = 20) -> pd.DataFrame:
    """Exact Shapley credits per channel for conversions (and value).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["a", "b", "a > b"], "total_conversions": [1, 1, 4]})
    >>> shapley_attribution(p)["total_conversions"].tolist()
    [3.0, 3.0]
    """
    data = as_path_data(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                        null_col=null_col, sep=sep)
    n = len(data.channels)
    if n > max_channels:
        raise ParameterError(f"{n} channels: exact Shapley needs 2^{n} coalitions; group channels or raise "
                             f"max_channels (limit {max_channels})")
    masks = np.zeros(data.n_paths, dtype=np.int64)
    np.bitwise_or.at(masks, data.path_index, (1 << data.tokens).astype(np.int64))
    out = pd.DataFrame({"channel": list(data.channels)})
    v = coalition_values(masks, data.conversions, n)
    out["total_conversions"] = shapley_from_values(v, n)
    check_credits(out["total_conversions"], float(data.conversions.sum()))
    if value_col:
        out["total_conversion_value"] = shapley_from_values(coalition_values(masks, data.value, n), n)
    out["share"] = out["total_conversions"] / out["total_conversions"].sum()
    return out
