"""Shapley-value attribution, exact over all coalitions of channels.

Channels are the players. The worth of a coalition S is what the journeys that used only
channels in S delivered:

    v(S) = sum of the conversions (or value) of journeys whose channel *set* is a subset of S,

the "subset" characteristic function of Dalessandro et al. (2012) and Zhao et al. (2018).
A channel's Shapley value is its marginal contribution v(S ∪ {c}) - v(S) averaged over
all orders in which the channels can arrive; the values add up to v(all channels), the
total conversions (efficiency), and channels that play the same role get the same credit
(symmetry). Non-converting journeys carry no conversions, so ``null_col`` does not change
the result.

**Computation.** Journeys are reduced to channel-set bitmasks and their conversions summed
per set; v(S) for all 2^n coalitions comes from one subset-sum (zeta) transform, n·2^n
vectorised additions; the Shapley sums then run vectorised over coalitions for each
channel. Exact for up to ``max_channels`` channels (default 15: 32,768 coalitions);
beyond that :class:`~workbench.errors.ParameterError` — group rare channels first.

**Ordered variant** (``ordered=True``, Zhao et al.'s ordered Shapley value). Because v is
a sum of unanimity games, one per observed channel set T with weight r(T) (its
conversions), the Shapley value of c is sum over converting sets T containing c of
r(T) / |T|: every converting journey splits its conversions equally over its distinct
channels. The ordered variant keeps that split per journey and files each share under
the position at which the channel first touched the journey (1 = first distinct
channel). Columns ``position_1 …`` then show *when* in journeys a channel earns its
credit; each row adds up to the channel's Shapley value. It uses only the channel
sequences of converting journeys, needs no coalition enumeration and has no channel limit.
"""
from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .paths import PathData, as_path_data, check_total

DEFAULT_MAX_CHANNELS = 15


def coalition_values(masks: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """v(S) for every coalition S (index = bitmask): the total weight of paths whose set ⊆ S."""
    v = np.bincount(masks, weights=weights, minlength=1 << n).astype(float)
    for i in range(n):  # zeta transform: add every coalition without bit i into the one with it
        view = v.reshape(-1, 2, 1 << i)
        view[:, 1, :] += view[:, 0, :]
    return v


def popcounts(n: int) -> np.ndarray:
    """Number of set bits of 0 … 2^n - 1."""
    counts = np.zeros(1, dtype=np.int64)
    for _ in range(n):
        counts = np.concatenate([counts, counts + 1])
    return counts


def shapley_values(v: np.ndarray, n: int) -> np.ndarray:
    """Shapley values of an n-player game given by its coalition values ``v`` (length 2^n, v[0] = 0)."""
    if len(v) != 1 << n:
        raise ParameterError(f"need 2^{n} coalition values, got {len(v)}")
    size = popcounts(n)
    weight = np.array([1.0 / (n * comb(n - 1, k)) for k in range(n)])  # |S|!(n-|S|-1)!/n!
    phi = np.empty(n)
    for i in range(n):
        v3 = v.reshape(-1, 2, 1 << i)  # [:, 0, :] coalitions without i, [:, 1, :] the same plus i
        sizes = size.reshape(-1, 2, 1 << i)[:, 0, :]
        phi[i] = np.sum(weight[sizes] * (v3[:, 1, :] - v3[:, 0, :]))
    return phi


def _first_touch_ranks(data: PathData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (path, distinct channel): path index, channel, rank of its first touch (0-based)."""
    key = data.path_index.astype(np.int64) * data.n_channels + data.tokens
    _, first = np.unique(key, return_index=True)
    first.sort()  # flat token order: grouped by path, in touch order within a path
    path = data.path_index[first]
    group_start = np.r_[0, np.flatnonzero(np.diff(path)) + 1]
    rank = np.arange(len(first)) - np.repeat(group_start, np.diff(np.r_[group_start, len(first)]))
    return path, data.tokens[first], rank


def _ordered(data: PathData, weights: np.ndarray) -> np.ndarray:
    """(n_channels × max distinct channels) credits by position of the channel's first touch."""
    path, channel, rank = _first_touch_ranks(data)
    n_distinct = np.bincount(path, minlength=data.n_paths)
    width = int(n_distinct.max()) if len(n_distinct) else 0
    share = weights[path] / n_distinct[path]
    flat = np.bincount(channel * width + rank, weights=share, minlength=data.n_channels * width)
    return flat.reshape(data.n_channels, width)


def shapley_attribution(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                        value_col: str | None = None, null_col: str | None = None, sep: str = ">",
                        ordered: bool = False, max_channels: int = DEFAULT_MAX_CHANNELS) -> pd.DataFrame:
    """Exact Shapley credits per channel (method in the module docstring).

    Parameters
    ----------
    paths : DataFrame or PathData
        The path-string format, a journey frame (one row per touch) or parsed paths.
    value_col : str, optional
        Conversion value; adds value credits (the same game with value as the worth).
    null_col : str, optional
        Accepted for a uniform call; non-converting journeys do not change Shapley values.
    ordered : bool
        Add the position-aware split ``position_1 …`` (and ``position_k_value`` with value).
    max_channels : int
        Largest number of channels for the exact coalition enumeration (2^n coalitions).

    Returns
    -------
    DataFrame
        One row per channel (sorted by name): ``channel``, ``total_conversions``,
        ``share`` and, with ``value_col``, ``total_conversion_value``; with ``ordered``
        the per-position columns.

    Raises
    ------
    ParameterError
        More than ``max_channels`` channels (unordered), or a bad ``max_channels``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["a", "b", "a > b"], "total_conversions": [1, 1, 4]})
    >>> shapley_attribution(p)[["channel", "total_conversions"]].values.tolist()
    [['a', 3.0], ['b', 3.0]]
    """
    if isinstance(max_channels, bool) or not isinstance(max_channels, (int, np.integer)) or not 1 <= max_channels <= 25:
        raise ParameterError(f"max_channels must be an integer from 1 to 25, got {max_channels!r}")
    data = as_path_data(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                        null_col=null_col, sep=sep)
    n = data.n_channels
    converting = data.conversions > 0
    games = {"total_conversions": data.conversions}
    if data.value is not None:
        games["total_conversion_value"] = data.value
    out = pd.DataFrame({"channel": list(data.channels)})
    if not ordered:
        if n > max_channels:
            raise ParameterError(f"{n} channels: exact Shapley needs 2^{n} coalitions, more than max_channels="
                                 f"{max_channels} allows; group rare channels, raise max_channels, or use "
                                 "ordered=True (same totals, no limit)")
        masks = data.channel_masks()[converting]
        for col, w in games.items():
            out[col] = shapley_values(coalition_values(masks, w[converting], n), n)
    else:
        for col, w in games.items():
            by_position = _ordered(data, w)
            out[col] = by_position.sum(axis=1)
            suffix = "" if col == "total_conversions" else "_value"
            for k in range(by_position.shape[1]):
                out[f"position_{k + 1}{suffix}"] = by_position[:, k]
    check_total(out["total_conversions"], data.total_conversions, "Shapley conversion")
    if data.value is not None:
        check_total(out["total_conversion_value"], data.total_value, "Shapley value")
    total = data.total_conversions
    out.insert(2, "share", out["total_conversions"] / total if total > 0 else 0.0)
    return out
