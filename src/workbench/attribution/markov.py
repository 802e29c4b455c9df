"""Markov-chain attribution with removal effects computed exactly.

Journeys are walks through channel states from ``(start)`` to ``(conversion)`` or
``(null)``. With the transition probabilities estimated from the paths, the probability
of converting from ``(start)`` is the absorption probability of an absorbing Markov
chain: the solution of a sparse linear system, no simulation. Removing channel c sends
every visit of a state containing c to ``(null)``; its *removal effect* is the relative
drop in the conversion probability, and conversions (and value) are credited in
proportion to the removal effects.

Order k > 1 uses states made of the last k channels (shorter at the start of a path), so
the chain remembers where a journey came from. ``collapse_repeats`` first merges
consecutive touches of the same channel, as is usual for first-order models.

Value is credited with the same removal effects as conversions (each channel's share of
value equals its share of conversions); with ``value_col`` the shares are applied to the
total value.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import spsolve

from ..errors import ParameterError
from .paths import PathData, as_path_data, check_credits


def _states(data: PathData, order: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, ...]]]:
    """State id of every token (the last ``order`` channels), and each state's channel tuple."""
    base = len(data.channels) + 1
    pidx = data.path_index
    pos = np.arange(len(data.tokens)) - np.repeat(data.offsets[:-1], data.lengths)
    code = np.zeros(len(data.tokens), dtype=np.int64)
    for s in range(order):
        shifted = np.r_[np.full(s, -1), data.tokens[: len(data.tokens) - s]] if s else data.tokens
        valid = pos >= s
        code += np.where(valid, shifted + 1, 0) * base**s
    ids, uniques = pd.factorize(code, sort=True)
    tuples = []
    for u in uniques:
        digits, rest = [], int(u)
        while rest:
            digits.append(rest % base - 1)
            rest //= base
        tuples.append(tuple(d for d in reversed(digits) if d >= 0))
    del pidx
    return ids.astype(np.int64), np.asarray(uniques), tuples


def transition_counts(data: PathData, order: int = 1) -> tuple[sparse.csr_matrix, list[tuple[int, ...]]]:
    """Weighted transition counts between states, (start) = S, (conversion) = S+1, (null) = S+2."""
    ids, _, tuples = _states(data, order)
    n_states = len(tuples)
    start, conv, null = n_states, n_states + 1, n_states + 2
    weight = data.conversions + data.nulls
    lengths = data.lengths
    nonempty = lengths > 0
    first_tok = data.offsets[:-1][nonempty]
    last_tok = data.offsets[1:][nonempty] - 1
    pidx = data.path_index
    inner = np.ones(len(ids), bool)
    inner[last_tok] = False  # tokens followed by another token of the same path
    src = np.concatenate([np.full(len(first_tok), start), ids[inner], ids[last_tok], ids[last_tok]])
    dst = np.concatenate([ids[first_tok], ids[np.flatnonzero(inner) + 1], np.full(len(last_tok), conv),
                          np.full(len(last_tok), null)])
    w = np.concatenate([weight[nonempty], weight[pidx[inner]], data.conversions[nonempty], data.nulls[nonempty]])
    size = n_states + 3
    counts = sparse.coo_matrix((w, (src, dst)), shape=(size, size)).tocsr()
    counts.eliminate_zeros()
    return counts, tuples


def _conversion_probability(P: sparse.csr_matrix, keep: np.ndarray, start: int, conv: int) -> float:
    """Absorption probability in (conversion) from (start), over transient nodes ``keep``."""
    Q = P[keep][:, keep]
    b = np.asarray(P[keep][:, conv].todense()).ravel()
    A = sparse.identity(len(keep), format="csc") - Q.tocsc()
    x = spsolve(A, b)
    return float(np.atleast_1d(x)[int(np.flatnonzero(keep == start)[0])])


def markov_attribution(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                       value_col: str | None = None, null_col: str | None = None, order: int = 1, sep: str = ">",
                       collapse_repeats: bool = True, return_transition_matrix: bool = False) -> pd.DataFrame:
    """Exact Markov removal-effect attribution (see module docstring).

    Returns
    -------
    DataFrame
        Per channel: ``removal_effect``, ``total_conversions`` (credited), ``share`` and with
        ``value_col`` ``total_conversion_value``. ``attrs`` holds ``conversion_probability``,
        ``n_states`` and, when asked, ``transition_matrix`` (a labelled DataFrame).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["c1 > c2 > c3", "c1", "c2 > c3"], "total_conversions": [1, 0, 0],
    ...                   "total_null": [0, 1, 1]})
    >>> markov_attribution(p, null_col="total_null")["total_conversions"].round(3).tolist()
    [0.2, 0.4, 0.4]
    """
    if order not in (1, 2, 3, 4):
        raise ParameterError("order must be 1, 2, 3 or 4")
    data = as_path_data(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                        null_col=null_col, sep=sep)
    if data.conversions.sum() <= 0:
        raise ParameterError("no conversions to attribute")
    if collapse_repeats:
        data = data.collapse_repeats()
    counts, tuples = transition_counts(data, order)
    n_states = len(tuples)
    start, conv = n_states, n_states + 1
    out_deg = np.asarray(counts.sum(axis=1)).ravel()
    P = sparse.diags(np.divide(1.0, out_deg, out=np.zeros_like(out_deg), where=out_deg > 0)) @ counts
    P = P.tocsr()
    transient = np.r_[np.arange(n_states), start]
    p_conv = _conversion_probability(P, transient, start, conv)
    if p_conv <= 0:
        raise ParameterError("the chain never converts")
    k = len(data.channels)
    contains = np.zeros((k, n_states), bool)
    for sid, tup in enumerate(tuples):
        contains[list(set(tup)), sid] = True
    effects = np.empty(k)
    for c in range(k):
        keep = np.r_[np.flatnonzero(~contains[c]), start]
        effects[c] = 1.0 - _conversion_probability(P, keep, start, conv) / p_conv
    share = effects / effects.sum()
    total = float(data.conversions.sum())
    out = pd.DataFrame({"channel": list(data.channels), "removal_effect": effects, "total_conversions": share * total,
                        "share": share})
    check_credits(out["total_conversions"], total)
    if value_col:
        out["total_conversion_value"] = share * float(data.value.sum())
    out.attrs["conversion_probability"] = p_conv
    out.attrs["n_states"] = n_states
    if return_transition_matrix:
        labels = [" > ".join(data.channels[i] for i in t) for t in tuples] + ["(start)", "(conversion)", "(null)"]
        out.attrs["transition_matrix"] = pd.DataFrame(P.toarray(), index=labels, columns=labels)
    return out
