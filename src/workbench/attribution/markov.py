"""Markov-chain attribution with removal effects computed exactly, by linear algebra.

Journeys are walks from ``(start)`` through channel states to ``(conversion)`` or
``(null)``. Transition probabilities are the observed transition counts, weighted by
how many journeys followed each path (converting and non-converting alike), divided by
each state's total outgoing count. With Q the transitions among transient states
((start) and the channel states) and b the one-step probability of converting, the
probability that a journey converts is the absorption probability x[(start)] where

    (I - Q) x = b,

a sparse linear system solved directly (``scipy.sparse.linalg.spsolve``): no simulation,
so the answer is exact and the same on every run.

**Removal effect.** Removing channel c sends every journey that reaches a state
containing c to ``(null)``: drop those states from the system and solve again. The
removal effect is ``1 - P(conversion | c removed) / P(conversion)``, which equals the
probability that a converting journey of the chain passes through c. Conversions are
credited in proportion to the removal effects and add up to the total conversions.

**Value.** Value uses the value-weighted chain: the reward for leaving state s to
``(conversion)`` is the observed conversion value leaving s divided by s's outgoing
count, so the same system gives the expected conversion value per journey; the value
removal effect is its relative drop when c is removed, and the total value is credited
in proportion. This is exactly the quantity ChannelAttribution's ``markov_model``
estimates by simulation (it draws a converting walk's value from the values of the
journeys that converted from the walk's last state), here without simulation error.

**Order.** ``order=k`` uses as state the last k channels of the journey (shorter at its
start: ``(start) → a → (a, b) → (a, b, c) → (b, c, d) …``), so transitions depend on
where a journey came from; removing c removes every state that contains c.
``collapse_repeats`` (default) first merges consecutive touches of one channel
(``a > a > b`` → ``a > b``), as ChannelAttribution does for first-order models; without
it repeats become self-transitions. Without ``null_col`` every journey converted, the
conversion probability is 1 and the removal effect of c is the share of journeys that
pass through it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import spsolve

from ..errors import ParameterError
from .paths import PathData, as_path_data, check_total

MAX_ORDER = 3


@dataclass(frozen=True)
class MarkovChain:
    """Transition counts of an absorbing chain built from paths.

    Transient states ``0 … n_states-1`` are channel tuples (``states[i]``, oldest channel
    first); index ``n_states`` is ``(start)``. ``counts`` holds transitions among transient
    states; ``to_conversion`` / ``to_null`` the journeys absorbed from each transient state,
    ``value_out`` the conversion value leaving each state (``None`` without value).
    """

    channels: tuple[str, ...]
    states: tuple[tuple[int, ...], ...]
    counts: sparse.csr_matrix
    to_conversion: np.ndarray
    to_null: np.ndarray
    value_out: np.ndarray | None

    @property
    def n_states(self) -> int:
        """Number of transient states (channel tuples)."""
        return len(self.states)

    @property
    def start(self) -> int:
        """Index of the start state (after the transient states)."""
        return self.n_states

    @property
    def out_degree(self) -> np.ndarray:
        """Transitions out of each transient state, absorbing ones included."""
        return np.asarray(self.counts.sum(axis=1)).ravel() + self.to_conversion + self.to_null

    def state_labels(self, sep: str = " > ") -> list[str]:
        """A label per state: its channels joined by ``sep``, then ``(start)``."""
        return [sep.join(self.channels[c] for c in s) for s in self.states] + ["(start)"]

    def contains(self) -> sparse.csr_matrix:
        """Boolean (n_channels × n_states) incidence: channel c occurs in state s."""
        rows = np.fromiter((c for s in self.states for c in set(s)), dtype=np.int64)
        cols = np.repeat(np.arange(self.n_states), [len(set(s)) for s in self.states])
        return sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)),
                                 shape=(len(self.channels), self.n_states))

    def absorption(self, keep: np.ndarray | None = None) -> np.ndarray:
        """From (start): P(conversion) and, with value, the expected conversion value per journey.

        ``keep`` lists the transient states that stay (start is always kept); journeys that
        would enter any other state go to ``(null)``.
        """
        out = self.out_degree
        inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
        idx = np.arange(self.n_states + 1) if keep is None else np.append(np.asarray(keep, np.int64), self.start)
        q = sparse.diags(inv[idx]) @ self.counts[idx][:, idx]
        rewards = [self.to_conversion[idx]] + ([self.value_out[idx]] if self.value_out is not None else [])
        b = np.column_stack(rewards) * inv[idx, None]
        a = (sparse.identity(len(idx), format="csc") - q.tocsc()).tocsc()
        x = np.asarray(spsolve(a, b)).reshape(len(idx), -1)
        if not np.isfinite(x[-1]).all():  # cannot happen for a chain built from finite paths; never return it
            raise ArithmeticError("the absorbing-chain system is singular")
        return x[-1]


#: state-code spaces up to this size are indexed by a lookup table instead of a sort
_DENSE_STATE_CODES = 1 << 24


def _state_codes(data: PathData, order: int) -> tuple[np.ndarray, np.ndarray]:
    """State codes of tokens and the channel digits of each state.

    Code of every token's state (its last ``order`` channels) and the (S × order) digits of each
    distinct state: digits[i, s] is the channel s steps back, -1 where the path is shorter.
    """
    base = data.n_channels + 1
    if float(base) ** order >= 2.0**62:
        raise ParameterError(f"order {order} with {data.n_channels} channels does not fit 64-bit state codes")
    pos = data.position
    code = np.zeros(len(data.tokens), dtype=np.int64)
    for s in range(order):
        back = np.zeros(len(data.tokens), dtype=np.int64)
        back[s:] = data.tokens[: len(data.tokens) - s].astype(np.int64) + 1
        code += np.where(pos >= s, back, 0) * base**s
    if base**order <= _DENSE_STATE_CODES:  # a lookup table: linear time, no sort of every token
        present = np.zeros(base**order, bool)
        present[code] = True
        uniq = np.flatnonzero(present)
        inverse = (np.cumsum(present) - 1)[code]
    else:
        uniq, inverse = np.unique(code, return_inverse=True)
    digits = np.stack([(uniq // base**s) % base - 1 for s in range(order)], axis=1)
    return inverse.astype(np.int64), digits


def build_chain(data: PathData, order: int = 1) -> MarkovChain:
    """Transition counts of the order-``order`` chain of ``data`` (vectorised over tokens)."""
    ids, digits = _state_codes(data, order)
    states = tuple(tuple(int(c) for c in row[::-1] if c >= 0) for row in digits)
    n = len(states)
    start = n
    weight = data.conversions + data.nulls
    first = data.offsets[:-1]
    last = data.offsets[1:] - 1
    inner = np.ones(len(ids), bool)
    inner[last] = False  # a token followed by another token of the same path
    inner_idx = np.flatnonzero(inner)
    src = np.concatenate([np.full(len(first), start), ids[inner_idx]])
    dst = np.concatenate([ids[first], ids[inner_idx + 1]])
    w = np.concatenate([weight, weight[data.path_index[inner_idx]]])
    if (n + 1) ** 2 <= _DENSE_STATE_CODES:  # add up repeated transitions by key before building the matrix
        summed = np.bincount(src * (n + 1) + dst, weights=w, minlength=(n + 1) ** 2)
        nz = np.flatnonzero(summed)
        src, dst, w = nz // (n + 1), nz % (n + 1), summed[nz]
    counts = sparse.coo_matrix((w, (src, dst)), shape=(n + 1, n + 1)).tocsr()
    counts.eliminate_zeros()
    absorbed = lambda a: np.bincount(ids[last], weights=a, minlength=n + 1)  # noqa: E731
    return MarkovChain(channels=data.channels, states=states, counts=counts, to_conversion=absorbed(data.conversions),
                       to_null=absorbed(data.nulls), value_out=None if data.value is None else absorbed(data.value))


def transition_matrix(chain: MarkovChain) -> pd.DataFrame:
    """Transitions of the chain as a long table.

    The chain's transitions in long form: ``state_from``, ``state_to``, ``transitions``
    (journey-weighted count) and ``probability`` (rows of one ``state_from`` add up to 1).
    """
    labels = np.array(chain.state_labels() + ["(conversion)", "(null)"], dtype=object)
    coo = chain.counts.tocoo()
    n1 = chain.n_states + 1
    absorbed = [(np.flatnonzero(v), np.full(np.count_nonzero(v), n1 + k), v[v != 0])
                for k, v in enumerate((chain.to_conversion, chain.to_null))]
    src = np.concatenate([coo.row] + [a[0] for a in absorbed])
    dst = np.concatenate([coo.col] + [a[1] for a in absorbed])
    cnt = np.concatenate([coo.data] + [a[2] for a in absorbed])
    out = pd.DataFrame({"state_from": labels[src], "state_to": labels[dst], "transitions": cnt,
                        "probability": cnt / chain.out_degree[src]})
    first = np.where(src == chain.start, -1, src)  # (start) first, then states, absorbing states last
    return out.iloc[np.lexsort((dst, first))].reset_index(drop=True)


@dataclass(frozen=True)
class MarkovAttribution:
    """Result of :func:`markov_model`.

    Attributes
    ----------
    table : DataFrame
        One row per channel (sorted by name): ``channel``, ``removal_effect``,
        ``total_conversions`` (credited), ``share`` and, with a value column,
        ``removal_effect_value`` and ``total_conversion_value``.
    conversion_probability : float
        P(a journey from the start state converts) in the fitted chain.
    value_per_journey : float or None
        Expected conversion value per journey (with a value column).
    n_states : int
        Transient states of the chain.
    order : int
        Past channels a state remembers.
    """

    table: pd.DataFrame
    conversion_probability: float
    value_per_journey: float | None
    n_states: int
    order: int
    chain: MarkovChain = field(repr=False)

    @property
    def transition_matrix(self) -> pd.DataFrame:
        """Transition counts and probabilities (:func:`transition_matrix`)."""
        return transition_matrix(self.chain)


def markov_model(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                 value_col: str | None = None, null_col: str | None = None, order: int = 1, sep: str = ">",
                 collapse_repeats: bool = True) -> MarkovAttribution:
    """Exact Markov-chain removal-effect attribution (method in the module docstring), as a typed result.

    Parameters
    ----------
    paths : DataFrame or PathData
        The path-string format, a journey frame (one row per touch) or parsed paths.
    value_col : str, optional
        Conversion value; adds value removal effects and value credits.
    null_col : str, optional
        Non-converting journeys per path. Without it every journey converted.
    order : {1, 2, 3}
        Number of past channels a state remembers.
    collapse_repeats : bool
        Merge consecutive touches of the same channel first.

    Returns
    -------
    MarkovAttribution
        ``table`` (one row per channel), the chain's ``conversion_probability``,
        ``value_per_journey``, ``n_states``, ``order`` and ``transition_matrix``.

    Raises
    ------
    ParameterError
        ``order`` outside 1–3, or no conversions to attribute.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["c1 > c2 > c3", "c1", "c2 > c3"], "total_conversions": [1, 0, 0],
    ...                   "total_null": [0, 1, 1]})
    >>> m = markov_model(p, null_col="total_null")
    >>> m.table[["channel", "removal_effect", "total_conversions"]].round(6).values.tolist()
    [['c1', 0.5, 0.2], ['c2', 1.0, 0.4], ['c3', 1.0, 0.4]]
    >>> round(m.conversion_probability, 6), m.n_states
    (0.333333, 3)
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_ORDER:
        raise ParameterError(f"order must be 1, 2 or 3, got {order!r}")
    data = as_path_data(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                        null_col=null_col, sep=sep)
    total = data.total_conversions
    if total <= 0:
        raise ParameterError("no conversions to attribute (total conversions is 0)")
    if collapse_repeats:
        data = data.collapse_repeats()
    chain = build_chain(data, int(order))
    base = chain.absorption()
    contains = chain.contains()
    drops = np.empty((data.n_channels, len(base)))
    for c in range(data.n_channels):  # one sparse solve per channel, on the states without c
        keep = np.flatnonzero(~contains[c].toarray().ravel())
        drops[c] = 1.0 - chain.absorption(keep) / np.where(base > 0, base, 1.0)
    drops = np.clip(drops, 0.0, None)  # removal can only lower absorption; clip round-off below 0
    out = pd.DataFrame({"channel": list(data.channels), "removal_effect": drops[:, 0]})
    out["total_conversions"] = total * drops[:, 0] / drops[:, 0].sum()
    out["share"] = out["total_conversions"] / total
    check_total(out["total_conversions"], total, "Markov conversion")
    if data.value is not None:
        out["removal_effect_value"] = drops[:, 1]
        value_total = data.total_value
        spread = drops[:, 1].sum()
        out["total_conversion_value"] = value_total * drops[:, 1] / spread if spread > 0 else 0.0
        check_total(out["total_conversion_value"], value_total, "Markov value")
    return MarkovAttribution(out, float(base[0]), float(base[1]) if data.value is not None else None,
                             chain.n_states, int(order), chain)


def markov_attribution(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                       value_col: str | None = None, null_col: str | None = None, order: int = 1, sep: str = ">",
                       collapse_repeats: bool = True, return_transition_matrix: bool = False
                       ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """The channel table of :func:`markov_model` (the same arguments): credits per channel.

    ``return_transition_matrix`` also returns the transition matrix, second. For the chain's
    conversion probability, value per journey and size use :func:`markov_model`.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"path": ["c1 > c2 > c3", "c1", "c2 > c3"], "total_conversions": [1, 0, 0],
    ...                   "total_null": [0, 1, 1]})
    >>> markov_attribution(p, null_col="total_null")["total_conversions"].round(6).tolist()
    [0.2, 0.4, 0.4]
    """
    model = markov_model(paths, path_col, conversions_col, value_col, null_col, order, sep, collapse_repeats)
    return (model.table, model.transition_matrix) if return_transition_matrix else model.table
