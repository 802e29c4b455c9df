"""Customer journeys as paths: parsing, aggregation and the compact form every model reads.

Two inputs are accepted.

* **The path-string format** (ChannelAttribution's, and what most tools export): one row
  per path, ``path`` like ``"eta > iota > alpha"``, the number of journeys along it that
  converted (``total_conversions``), optionally their conversion value
  (``total_conversion_value``) and the number that did not convert (``total_null``).
  Whitespace around the separator and at both ends is ignored, so ``"a>b"`` and
  ``" a > b "`` are the same path; rows with the same path are added up.
* **A journey frame**: one row per touch (``journey_id``, ``channel``, ``touch_time``,
  ``converted``, ``value``), e.g. from :func:`workbench.attribution.journeys.journeys`.
  :func:`paths_from_journeys` turns it into the path-string format;
  :func:`parse_journeys` keeps one path per journey together with the age of every touch,
  which the time-decay rule uses.

Both become a :class:`PathData`: channel names, the channel codes of all paths in one
flat integer array with the offsets where each path starts, and per-path conversions,
value and nulls. String work is done once, vectorised in Arrow; the models then work on
integer arrays with numpy and never loop over paths in Python.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._rows import first_of_groups
from ..errors import DataContractError, ParameterError, bad_rows

#: Columns of a journey frame, in the order :func:`parse_journeys` reads them.
JOURNEY_COLUMNS = ("journey_id", "channel", "touch_time", "converted")


@dataclass(frozen=True)
class PathData:
    """Parsed paths in compact form.

    ``tokens[offsets[i]:offsets[i + 1]]`` are the channel codes of path ``i`` (codes index
    ``channels``, which is sorted). ``conversions``, ``value`` and ``nulls`` are per path
    (weights: how many journeys followed it); ``value`` is ``None`` when no value column
    was given. ``ages`` is ``None`` for path strings; for a journey frame it holds, per
    touch, the days from the touch to the end of its journey (see :func:`parse_journeys`).
    """

    channels: tuple[str, ...]
    tokens: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray | None
    nulls: np.ndarray
    ages: np.ndarray | None = None

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return len(self.conversions)

    @property
    def n_channels(self) -> int:
        """Number of distinct channels."""
        return len(self.channels)

    @property
    def lengths(self) -> np.ndarray:
        """Touches on each path."""
        return np.diff(self.offsets)

    @property
    def path_index(self) -> np.ndarray:
        """For every token, the index of its path."""
        return np.repeat(np.arange(self.n_paths), self.lengths)

    @property
    def position(self) -> np.ndarray:
        """For every token, its 0-based position in its path."""
        return np.arange(len(self.tokens)) - np.repeat(self.offsets[:-1], self.lengths)

    @property
    def steps_to_end(self) -> np.ndarray:
        """For every token, how many touches follow it on its path (0 for the last touch)."""
        return np.repeat(self.lengths, self.lengths) - 1 - self.position

    @property
    def total_conversions(self) -> float:
        """Conversions over all paths."""
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        """Conversion value over all paths (0 without values)."""
        return float(self.value.sum()) if self.value is not None else 0.0

    def collapse_repeats(self) -> PathData:
        """Merge consecutive touches of the same channel (``a > a > b`` → ``a > b``).

        A merged run keeps the age of its last touch.
        """
        if len(self.tokens) == 0:
            return self
        same_as_next = np.zeros(len(self.tokens), bool)
        same_as_next[:-1] = self.tokens[:-1] == self.tokens[1:]
        same_as_next[self.offsets[1:] - 1] = False  # never merge the end of one path with the next
        keep = ~same_as_next
        lengths = np.bincount(self.path_index[keep], minlength=self.n_paths)
        return replace(self, tokens=self.tokens[keep], offsets=_offsets(lengths),
                       ages=None if self.ages is None else self.ages[keep])

    def channel_masks(self) -> np.ndarray:
        """Bitmask of the set of channels on each path (bit c set when channel c occurs)."""
        if self.n_channels > 62:
            raise ParameterError(f"{self.n_channels} channels do not fit a 64-bit channel-set mask")
        masks = np.zeros(self.n_paths, dtype=np.int64)
        np.bitwise_or.at(masks, self.path_index, np.left_shift(np.int64(1), self.tokens.astype(np.int64)))
        return masks

    def aggregate(self) -> PathData:
        """Add up identical paths (touch ages are dropped: they differ between journeys)."""
        codes, first = first_of_groups(_path_strings(self, "\x1f"))
        if len(first) == self.n_paths and self.ages is None:
            return self
        n = len(first)
        tokens, offsets = _take_paths(self, first)
        add = lambda a: np.bincount(codes, weights=a, minlength=n)  # noqa: E731
        return PathData(self.channels, tokens, offsets, add(self.conversions),
                        None if self.value is None else add(self.value), add(self.nulls))

    def to_frame(self, sep: str = " > ") -> pd.DataFrame:
        """Paths in the path-string format.

        The path-string format (``path``, ``total_conversions``, ``total_conversion_value``
        when there is value, ``total_null``), identical paths added up, most conversions first.
        """
        agg = self.aggregate()
        out = pd.DataFrame({"path": _path_strings(agg, sep), "total_conversions": agg.conversions})
        if agg.value is not None:
            out["total_conversion_value"] = agg.value
        out["total_null"] = agg.nulls
        return out.sort_values(["total_conversions", "path"], ascending=[False, True], kind="stable",
                               ignore_index=True)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _take_paths(data: PathData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and offsets of the paths ``rows`` (a vectorised gather of variable-length segments)."""
    lengths = data.lengths[rows]
    offsets = _offsets(lengths)
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
    return data.tokens[np.repeat(data.offsets[:-1][rows], lengths) + within], offsets


def _path_strings(data: PathData, sep: str) -> np.ndarray:
    """Every path as one string (built in Arrow, no Python loop over paths)."""
    names = pa.array(list(data.channels), pa.string())
    lists = pa.LargeListArray.from_arrays(pa.array(data.offsets, pa.int64()), names.take(pa.array(data.tokens)))
    return pc.binary_join(lists, sep).to_numpy(zero_copy_only=False)


def _require_columns(frame: Any, table: str, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"{table} must be a pandas DataFrame, got {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise DataContractError(table, col, f"required column is missing (columns: {list(frame.columns)})")


def _numeric(frame: pd.DataFrame, table: str, col: str, what: str = "non-negative numbers") -> np.ndarray:
    """A column as float64, raising on non-numbers, missing, infinite or negative entries."""
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise DataContractError(table, col, f"must hold {what}", bad_rows(frame, bad), int(bad.sum()))
    return values


def _encode_channels(flat: pa.Array) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted channel names and the code of every token."""
    encoded = pc.dictionary_encode(flat)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype=np.int32)
    rank[order] = np.arange(len(names), dtype=np.int32)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int32)
    return tuple(str(n) for n in names[order]), codes.astype(np.int32)


def parse_paths(paths: pd.DataFrame, path_col: str = "path", conversions_col: str = "total_conversions",
                value_col: str | None = None, null_col: str | None = None, sep: str = ">") -> PathData:
    """Parse the path-string format into a :class:`PathData`; identical paths are added up.

    Parameters
    ----------
    paths : DataFrame
        One row per path (repeated paths allowed).
    path_col, conversions_col : str
        The path strings and the number of converting journeys on each row.
    value_col : str, optional
        Total conversion value on each row.
    null_col : str, optional
        Number of non-converting journeys on each row. Without it every journey converted.
    sep : str
        Channel separator (any non-blank string; whitespace around it is ignored).

    Raises
    ------
    DataContractError
        Missing columns; missing, negative or non-numeric counts or value; value on a row
        without conversions; empty paths or empty steps (``"a > > b"``).

    Examples
    --------
    >>> import pandas as pd
    >>> d = parse_paths(pd.DataFrame({"path": ["a>b", " a > b ", "c"], "total_conversions": [1, 2, 3]}))
    >>> d.channels, d.n_paths, d.conversions.tolist()
    (('a', 'b', 'c'), 2, [3.0, 3.0])
    """
    if not isinstance(sep, str) or not sep.strip():
        raise ParameterError("sep must be a non-empty, non-blank string")
    numeric = [conversions_col] + [c for c in (value_col, null_col) if c]
    _require_columns(paths, "paths", [path_col] + numeric)
    nums = {c: _numeric(paths, "paths", c) for c in numeric}
    if value_col:
        orphan = (nums[value_col] > 0) & (nums[conversions_col] == 0)
        if orphan.any():
            raise DataContractError("paths", value_col, "conversion value on a row without conversions",
                                    bad_rows(paths, orphan), int(orphan.sum()))
    missing = paths[path_col].isna().to_numpy()
    if missing.any():
        raise DataContractError("paths", path_col, "missing path", bad_rows(paths, missing), int(missing.sum()))
    text = pa.array(paths[path_col].astype(str).to_numpy(dtype=object), pa.string())
    # one canonical spelling per path (tokens trimmed, joined by the bare separator), so that
    # grouping the strings once adds up every row of a path, however it was spaced
    split = pc.split_pattern(text, pattern=sep)
    trimmed = pc.utf8_trim_whitespace(split.flatten())
    canonical = pc.binary_join(pa.ListArray.from_arrays(split.offsets, trimmed), sep)
    encoded = pc.dictionary_encode(canonical)
    row_path = encoded.indices.to_numpy(zero_copy_only=False)
    n = len(encoded.dictionary)
    if n == len(text):  # every row is its own path, in row order: the split above is the answer
        lists, flat = split, trimmed
    else:
        lists = pc.split_pattern(encoded.dictionary, pattern=sep)
        flat = lists.flatten()
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    empty = pc.equal(flat, "").to_numpy(zero_copy_only=False)
    if empty.any():
        owner = np.repeat(np.arange(n), lengths)
        mask = np.isin(row_path, np.unique(owner[empty]))
        raise DataContractError("paths", path_col, f"empty path or empty step (nothing between two '{sep}')",
                                bad_rows(paths, mask), int(mask.sum()))
    channels, tokens = _encode_channels(flat)
    add = lambda a: np.bincount(row_path, weights=a, minlength=n)  # noqa: E731
    return PathData(channels=channels, tokens=tokens, offsets=_offsets(lengths), conversions=add(nums[conversions_col]),
                    value=add(nums[value_col]) if value_col else None,
                    nulls=add(nums[null_col]) if null_col else np.zeros(n))


def _journey_order(jid: np.ndarray, times: np.ndarray, chan: np.ndarray) -> np.ndarray:
    """Row order by journey, then time, then channel name; frames from SQL usually arrive in it."""
    dj, dt, dc = np.diff(jid), np.diff(times), np.diff(chan)
    if ((dj > 0) | ((dj == 0) & ((dt > 0) | ((dt == 0) & (dc >= 0))))).all():
        return np.arange(len(jid))
    return np.lexsort((chan, times, jid))


def parse_journeys(journeys: pd.DataFrame, journey_col: str = "journey_id", channel_col: str = "channel",
                   time_col: str = "touch_time", converted_col: str = "converted", value_col: str | None = "value",
                   end_col: str | None = None) -> PathData:
    """One path per journey from a journey frame (one row per touch), with the age of each touch.

    Touches are ordered by time (ties by channel name). The age of a touch is the time in
    days from the touch to the end of its journey: ``end_col`` when given (e.g. the order
    time), otherwise the journey's last touch. ``converted`` (0/1 or bool) and ``value``
    belong to the journey and must be the same on all its rows; the value of a journey
    that did not convert is ignored.

    Raises
    ------
    DataContractError
        Missing columns; missing journey ids, channels or times; ``converted`` not 0/1;
        ``converted``, ``value`` or ``end_col`` varying within a journey; negative
        values; touches after ``end_col``.

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"journey_id": [1, 1, 2], "channel": ["chat", "task_push", "chat"],
    ...                   "touch_time": pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-02"]),
    ...                   "converted": [1, 1, 0], "value": [50.0, 50.0, 0.0]})
    >>> d = parse_journeys(j)
    >>> d.channels, d.ages.tolist(), d.conversions.tolist(), d.nulls.tolist()
    (('chat', 'task_push'), [2.0, 0.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    """
    cols = [journey_col, channel_col, time_col, converted_col] + [c for c in (value_col, end_col) if c]
    _require_columns(journeys, "journeys", cols)
    if len(journeys) == 0:
        raise DataContractError("journeys", None, "no touches")
    for col in (journey_col, channel_col, time_col) + ((end_col,) if end_col else ()):
        na = journeys[col].isna().to_numpy()
        if na.any():
            raise DataContractError("journeys", col, "missing values", bad_rows(journeys, na), int(na.sum()))
    conv = _numeric(journeys, "journeys", converted_col, "0/1 or booleans")
    not01 = (conv != 0) & (conv != 1)
    if not01.any():
        raise DataContractError("journeys", converted_col, "must hold 0/1 or booleans",
                                bad_rows(journeys, not01), int(not01.sum()))
    value = _numeric(journeys, "journeys", value_col) if value_col else None
    times = pd.to_datetime(journeys[time_col]).to_numpy("datetime64[ns]").astype(np.int64)
    jid, _ = pd.factorize(journeys[journey_col])
    chan, names = pd.factorize(journeys[channel_col].astype(str).to_numpy(dtype=object), sort=True)
    order = _journey_order(jid, times, chan)
    jid, chan, times = jid[order], chan[order], times[order]
    lengths = np.bincount(jid)
    offsets = _offsets(lengths)

    def per_journey(values: np.ndarray, col: str) -> np.ndarray:
        lo = np.minimum.reduceat(values, offsets[:-1])
        varies = np.repeat(lo != np.maximum.reduceat(values, offsets[:-1]), lengths)
        if varies.any():
            rows = journeys.iloc[np.sort(order[varies])]
            raise DataContractError("journeys", col, "must be the same on every touch of a journey",
                                    rows.head(5), int(varies.sum()))
        return lo

    converted = per_journey(conv[order], converted_col)
    journey_value = None
    if value is not None:
        journey_value = np.where(converted == 1, per_journey(value[order], value_col), 0.0)
    if end_col:
        ends = pd.to_datetime(journeys[end_col]).to_numpy("datetime64[ns]").astype(np.int64)[order]
        end = per_journey(ends, end_col)
    else:
        end = times[offsets[1:] - 1]
    ages = (np.repeat(end, lengths) - times) / 86_400e9
    late = ages < 0
    if late.any():
        mask = np.zeros(len(journeys), bool)
        mask[order[late]] = True
        raise DataContractError("journeys", time_col, f"touch after the journey's end ('{end_col}')",
                                bad_rows(journeys, mask), int(mask.sum()))
    return PathData(channels=tuple(str(c) for c in names), tokens=chan.astype(np.int32), offsets=offsets,
                    conversions=converted.astype(float), value=journey_value, nulls=1.0 - converted, ages=ages)


def paths_from_journeys(journeys: pd.DataFrame, journey_col: str = "journey_id", channel_col: str = "channel",
                        time_col: str = "touch_time", converted_col: str = "converted",
                        value_col: str | None = "value", sep: str = " > ") -> pd.DataFrame:
    """A journey frame (one row per touch) → the path-string format.

    Returns
    -------
    DataFrame
        ``path``, ``total_conversions``, ``total_conversion_value`` (with ``value_col``)
        and ``total_null``: one row per distinct path, most conversions first.

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"journey_id": ["o1", "o1", "n1"], "channel": ["chat", "task_push", "chat"],
    ...                   "touch_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-01"]),
    ...                   "converted": [1, 1, 0], "value": [50.0, 50.0, 0.0]})
    >>> paths_from_journeys(j).values.tolist()
    [['chat > task_push', 1.0, 50.0, 0.0], ['chat', 0.0, 0.0, 1.0]]
    """
    return parse_journeys(journeys, journey_col=journey_col, channel_col=channel_col, time_col=time_col,
                          converted_col=converted_col, value_col=value_col).to_frame(sep)


def as_path_data(paths: Any, path_col: str = "path", conversions_col: str = "total_conversions",
                 value_col: str | None = None, null_col: str | None = None, sep: str = ">") -> PathData:
    """Accept a :class:`PathData`, a path-format frame or a journey frame.

    A frame without ``path_col`` that has the journey-frame columns (``journey_id``,
    ``channel``, ``touch_time``, ``converted``) is read with :func:`parse_journeys`, using
    ``value_col`` as its value column.
    """
    if isinstance(paths, PathData):
        return paths
    if isinstance(paths, pd.DataFrame) and path_col not in paths.columns \
            and set(JOURNEY_COLUMNS) <= set(paths.columns):
        return parse_journeys(paths, value_col=value_col)
    return parse_paths(paths, path_col=path_col, conversions_col=conversions_col, value_col=value_col,
                       null_col=null_col, sep=sep)


def check_total(credits: np.ndarray, total: float, what: str) -> None:
    """Guard: credits must add up to the total they distribute (never a silently wrong number)."""
    got = float(np.sum(credits))
    if not np.isclose(got, total, rtol=1e-9, atol=1e-9 * max(1.0, abs(total))):
        raise ArithmeticError(f"{what} credits add up to {got!r}, not the total {total!r}")
