"""Customer journeys as paths: parsing the common path-string format into flat arrays.

The format (ChannelAttribution's, and what most tools export): one row per distinct path,
``path`` like ``"eta > iota > alpha"``, with the number of journeys that converted
(``total_conversions``), their value, and the number that did not (``total_null``).

Paths are parsed once into a :class:`PathData`: channel names, one flat array of channel
codes for all paths and the offsets where each path starts, plus per-path conversions,
value and nulls. Every model works on these arrays with numpy, never looping over rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError


@dataclass(frozen=True)
class PathData:
    """Parsed paths: ``tokens[offsets[i]:offsets[i+1]]`` are path i's channel codes."""

    channels: tuple[str, ...]
    tokens: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray

    @property
    def n_paths(self) -> int:
        return len(self.conversions)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def path_index(self) -> np.ndarray:
        """For every token, the index of its path."""
        return np.repeat(np.arange(self.n_paths), self.lengths)

    def collapse_repeats(self) -> "PathData":
        """Drop consecutive repeats of a channel within a path (a > a > b → a > b)."""
        pidx = self.path_index
        first = np.zeros(len(self.tokens), bool)
        first[self.offsets[:-1][self.lengths > 0]] = True
        keep = first | (self.tokens != np.r_[-1, self.tokens[:-1]])
        new_lengths = np.bincount(pidx[keep], minlength=self.n_paths)
        return PathData(self.channels, self.tokens[keep], np.r_[0, np.cumsum(new_lengths)], self.conversions,
                        self.value, self.nulls)


def parse_paths(paths: pd.DataFrame, path_col: str = "path", conversions_col: str = "total_conversions",
                value_col: str | None = None, null_col: str | None = None, sep: str = ">") -> PathData:
    """Parse the path-string format; identical paths are aggregated first.

    Raises :class:`DataContractError` for missing columns, negative counts or empty paths.
    """
    cols = [path_col, conversions_col] + [c for c in (value_col, null_col) if c]
    missing = [c for c in cols if c not in paths.columns]
    if missing:
        raise DataContractError("paths", missing[0], f"required column is missing (found: {list(paths.columns)})")
    frame = paths[cols].copy()
    for c in cols[1:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
        bad = frame[c].isna() | (frame[c] < 0)
        if bad.any():
            raise DataContractError("paths", c, "counts must be non-negative numbers", paths[bad].head(), int(bad.sum()))
    import pyarrow as pa
    import pyarrow.compute as pc

    # normalise spacing in C (pyarrow) so "a>b" and "a > b" are one path, then aggregate duplicates
    text = pc.utf8_trim_whitespace(pa.array(frame[path_col].to_numpy(), pa.string(), from_pandas=True))
    bad = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    if bad.any():
        raise DataContractError("paths", path_col, "empty path", paths[bad].head(), int(bad.sum()))
    text = pc.replace_substring_regex(text, pattern=r"\s*" + re.escape(sep) + r"\s*", replacement=sep)
    frame["_path"] = text.to_numpy(zero_copy_only=False)
    agg = frame.groupby("_path", sort=False)[cols[1:]].sum().reset_index()
    split = pc.split_pattern(pa.array(agg["_path"].to_numpy(), pa.string()), pattern=sep)
    lengths = pc.list_value_length(split).to_numpy()
    flat = pc.list_flatten(split)
    if len(flat) and pc.any(pc.equal(flat, "")).as_py():
        raise DataContractError("paths", path_col, f"a path has an empty step (two '{sep}' in a row?)")
    codes, names = pd.factorize(flat.to_numpy(zero_copy_only=False), sort=True)
    return PathData(
        channels=tuple(str(n) for n in names),
        tokens=codes.astype(np.int64),
        offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
        conversions=agg[conversions_col].to_numpy(float),
        value=agg[value_col].to_numpy(float) if value_col else np.zeros(len(agg)),
        nulls=agg[null_col].to_numpy(float) if null_col else np.zeros(len(agg)),
    )


def paths_from_journeys(journeys: pd.DataFrame, journey_col: str = "journey_id", channel_col: str = "channel",
                        time_col: str = "touch_time", converted_col: str = "converted", value_col: str | None = "value",
                        sep: str = " > ") -> pd.DataFrame:
    """One row per touch (a journey frame, e.g. :func:`workbench.attribution.journeys.journeys`)
    → the path-string format with ``total_conversions``, ``total_conversion_value``, ``total_null``."""
    cols = [journey_col, channel_col, time_col, converted_col] + ([value_col] if value_col else [])
    missing = [c for c in cols if c not in journeys.columns]
    if missing:
        raise DataContractError("journeys", missing[0], "required column is missing")
    j = journeys.sort_values([journey_col, time_col, channel_col], kind="stable")
    per = j.groupby(journey_col, sort=False).agg(path=(channel_col, lambda s: sep.join(map(str, s))),
                                                 converted=(converted_col, "max"),
                                                 value=(value_col, "max") if value_col else (converted_col, "size"))
    if not value_col:
        per["value"] = 0.0
    per["conv_value"] = np.where(per["converted"] > 0, per["value"], 0.0)
    out = per.groupby("path", as_index=False).agg(total_conversions=("converted", "sum"),
                                                  total_conversion_value=("conv_value", "sum"),
                                                  total_null=("converted", lambda s: int((s == 0).sum())))
    return out.sort_values("total_conversions", ascending=False).reset_index(drop=True)


def check_credits(credits: pd.Series, total: float, what: str = "conversions") -> None:
    """Guard: attribution credits must add up to the total being attributed."""
    if not np.isclose(float(credits.sum()), total, rtol=1e-9, atol=1e-9):
        raise ParameterError(f"credits sum to {credits.sum()} but total {what} is {total}")


def as_path_data(paths: Any, **kwargs: Any) -> PathData:
    """Accept a :class:`PathData` or a path-format frame."""
    return paths if isinstance(paths, PathData) else parse_paths(paths, **kwargs)
