"""Time units, the window clock and the vectorised random draws every process shares."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MINUTE = 60
HOUR = 3_600
DAY = 86_400
WEEK = 7 * DAY
MONTH_DAYS = 365.25 / 12
NEVER = np.iinfo(np.int64).max  # end of a spell or membership still open at as_of
_NAT = np.iinfo(np.int64).min
_SHIFT = 36  # times (seconds, < 2**36) packed under the customer index in one sortable key

BASE64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEX_ALPHABET = b"0123456789abcdef"


@dataclass(frozen=True)
class Clock:
    """The window ``[t0, as_of)``; event times are int64 seconds since ``t0``."""

    t0: pd.Timestamp
    months: int

    @property
    def as_of(self) -> pd.Timestamp:
        """The as-of time: ``t0`` plus the simulated months."""
        return self.t0 + pd.DateOffset(months=self.months)

    @property
    def span(self) -> int:
        """Seconds from ``t0`` to as-of."""
        return int((self.as_of - self.t0) // pd.Timedelta(seconds=1))

    def month_start(self, k: int) -> int:
        """Seconds from ``t0`` to the start of month ``k``."""
        return int((self.t0 + pd.DateOffset(months=k) - self.t0) // pd.Timedelta(seconds=1))

    def stamp(self, secs: int) -> pd.Timestamp:
        """Seconds since ``t0`` as a timestamp."""
        return self.t0 + pd.Timedelta(seconds=int(secs))

    def dt(self, secs: np.ndarray) -> np.ndarray:
        """Seconds since t0 → naive ``datetime64[us]`` (``NEVER`` → NaT)."""
        secs = np.asarray(secs, dtype=np.int64)
        never = secs == NEVER
        us = self.t0.value // 1000 + np.where(never, 0, secs) * 1_000_000
        us[never] = _NAT
        return us.view("datetime64[us]")


def seq_ids(prefix: str, n: int, width: int, first: int = 1) -> np.ndarray:
    """``prefix`` + zero-padded ``first``…``first + n − 1``, as an object array of str."""
    width = max(width, len(str(first + n - 1)))
    nums = pc.utf8_lpad(pa.array(np.arange(first, first + n, dtype=np.int64)).cast(pa.string()), width, "0")
    return np.asarray(pc.binary_join_element_wise(prefix, nums, "").to_numpy(zero_copy_only=False), dtype=object)


def tokens(rng: np.random.Generator, n: int, length: int, alphabet: bytes, prefix: str = "") -> np.ndarray:
    """``n`` random identifiers (``prefix`` + ``length`` characters of ``alphabet``), object array of str."""
    alpha = np.frombuffer(alphabet, dtype=np.uint8)
    body = alpha[rng.integers(0, len(alpha), (n, length), dtype=np.uint8)]
    pre = np.frombuffer(prefix.encode(), dtype=np.uint8)
    mat = np.ascontiguousarray(np.concatenate([np.broadcast_to(pre, (n, len(pre))), body], axis=1))
    width = mat.shape[1]
    offsets = np.arange(n + 1, dtype=np.int64) * width
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(mat)])
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def make_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame over the column arrays as they are: no consolidation copy of 15M-row tables."""
    return pd.DataFrame(columns, copy=False)


def nullable(ids: np.ndarray) -> np.ndarray:
    """Object array with a trailing None, so that index -1 means NULL."""
    return np.append(np.asarray(ids, dtype=object), None)


def uniform_secs(rng: np.random.Generator, upper: np.ndarray | float, size: int | None = None) -> np.ndarray:
    """Uniform whole seconds in ``[0, upper)``."""
    return (rng.random(size if size is not None else np.shape(upper)) * upper).astype(np.int64)


def lognormal_secs(rng: np.random.Generator, median_s: float, sigma: float, size: int) -> np.ndarray:
    """Log-normal durations in whole seconds (at least 1) with the given median."""
    return np.maximum(rng.lognormal(np.log(median_s), sigma, size), 1.0).astype(np.int64)


def poisson_times(rng: np.random.Generator, start: np.ndarray, stop: np.ndarray,
                   rate_per_day: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Homogeneous Poisson events on each interval ``[start, stop)``: (interval index, time)."""
    length = np.maximum(stop - start, 0)
    k = rng.poisson(rate_per_day * length / DAY)
    rep = np.repeat(np.arange(len(start)), k)
    t = start[rep] + uniform_secs(rng, length[rep])
    return rep, t


def draw_categorical(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """Category indices drawn with probabilities proportional to ``probs``."""
    cum = np.cumsum(probs) / np.sum(probs)
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(probs) - 1)


def first_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal ``keys`` (keys sorted)."""
    m = np.ones(len(keys), dtype=bool)
    m[1:] = keys[1:] != keys[:-1]
    return m


def last_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the last row of each run of equal sorted keys."""
    m = np.ones(len(keys), dtype=bool)
    m[:-1] = keys[1:] != keys[:-1]
    return m


class Latest:
    """Events of customers indexed for "latest event strictly before t" look-ups."""

    def __init__(self, cust: np.ndarray, t: np.ndarray) -> None:
        self.cust = np.asarray(cust, dtype=np.int64)
        self.t = np.asarray(t, dtype=np.int64)
        key = (self.cust << _SHIFT) + self.t
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]

    def before(self, cust: np.ndarray, t: np.ndarray, window_s: float) -> np.ndarray:
        """Index of each query's latest event in ``(t − window, t)`` of the same customer, else -1."""
        if len(self.key) == 0:
            return np.full(len(cust), -1, dtype=np.int64)
        q = (np.asarray(cust, dtype=np.int64) << _SHIFT) + t
        pos = np.searchsorted(self.key, q, side="left") - 1
        j = self.order[np.maximum(pos, 0)]
        ok = (pos >= 0) & (self.cust[j] == cust) & (t - self.t[j] <= window_s)
        return np.where(ok, j, -1)


def weibull_ph_times(u: np.ndarray, shape: float, scale: float, eta0: np.ndarray, eta1: np.ndarray,
                      landmark: float) -> np.ndarray:
    """Invert a piecewise proportional-hazards Weibull cumulative hazard at Exp(1) draws ``u``.

    ``H(t) = (t/scale)^shape · e^eta0`` up to ``landmark``; after it the hazard is multiplied
    by ``e^eta1`` instead: ``H(t) = H(L) + ((t/scale)^shape − (L/scale)^shape) · e^eta1``.
    """
    base_l = (landmark / scale) ** shape
    h_l = base_l * np.exp(eta0)
    early = u <= h_l
    t = np.empty_like(u)
    t[early] = scale * (u[early] * np.exp(-eta0[early])) ** (1 / shape)
    late = ~early
    t[late] = scale * ((u[late] - h_l[late]) * np.exp(-eta1[late]) + base_l) ** (1 / shape)
    return t


def expected_repeat_purchases(t: np.ndarray | float, r: float, alpha: float, a: float, b: float) -> np.ndarray:
    """BG/NBD ``E[X(t)]``: expected repeat purchases in ``(0, t]`` of a new customer.

    Fader, Hardie & Lee (2005), eq. 7; ``t`` in the time unit of ``alpha`` (weeks here).

    Examples
    --------
    >>> round(float(expected_repeat_purchases(52.0, 0.25, 4.0, 0.8, 2.5)), 4)
    1.5879
    """
    from scipy.special import hyp2f1

    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
