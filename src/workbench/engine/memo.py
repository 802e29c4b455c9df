"""Small results kept beside the derived layer, so a batch computes each of them once.

Sixty store pages of one batch each state their store against every store of the brand: the
same brand-wide table of KPI values, computed sixty times in sixty kernels. :func:`memoised`
keeps such a result (a small pandas frame: aggregates, never events) as Parquet inside the
version folder of the current layer, keyed by a name, the parameters and the digest of the
package's code. Every kernel of the batch reads the layer, so the first one computes
and the others read.

It is as safe as the layer itself. A memo is used only while the workbench reads a current
layer (same source files, as-of date, engine and package version; see
:func:`~workbench.engine.layer.current_layer`) and every table is still the source the layer
was built from; a new build writes a new version folder, so memos never outlive their
snapshot. Without a layer the result is computed every time, so callers behave the same
either way. Two kernels computing the same memo at once both write it; the write is a rename,
so a reader never sees half a file.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import json
import math
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .layer import encode_params

MEMO_DIR = "memo"


@cache
def code_digest() -> str:
    """The first 16 hex digits of the SHA-256 of the package's Python and SQL sources (once per process).

    A memo's result depends on every function its computation calls, anywhere in the package, so
    any code change is a new key (a few milliseconds: the sources are about 1.5 MB).

    >>> len(code_digest())
    16
    """
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".sql", ".yml") and p.is_file()):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def memo_path(wb: Any, name: str, params: tuple) -> Path | None:
    """Where the memo of ``name`` with ``params`` lives, or None when ``wb`` reads no current layer.

    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"orders": pd.DataFrame({"order_id": ["O1"]})})
    >>> memo_path(wb, "x", ()) is None     # a DataFrame source has no layer
    True
    """
    layer = getattr(wb, "layer", None)
    if layer is None or not _sources_are_the_layers(wb):
        return None
    # the tables present are part of the key: a workbench opened on some tables only (``tables=``)
    # computes other numbers (no contacts: no user view) from the same layer
    tables = ",".join(sorted(wb._sources))
    key = hashlib.sha256("\x1f".join([name, code_digest(), tables, *encode_params(params)]).encode()).hexdigest()[:24]
    return Path(layer.folder) / MEMO_DIR / f"{name}-{key}.parquet"


def _sources_are_the_layers(wb: Any) -> bool:
    """Whether every table is still the source the layer was built from (none attached since)."""
    sources, built = getattr(wb, "_sources", {}), getattr(wb, "_layer_sources", {})
    return sources.keys() == built.keys() and all(sources[t] is built[t] for t in sources)


def memoised(wb: Any, name: str, params: tuple, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``compute()``, read from the layer's memo when a kernel of this snapshot has computed it already.

    Parameters
    ----------
    wb : Workbench
        The workbench the result is computed on; the memo is used only while it reads a current layer.
    name : str
        The result's name (a file-name-safe word, e.g. ``"store_kpi_values"``).
    params : tuple
        Everything the result depends on besides the data, the as-of date and the code: dates,
        windows, options (as for :meth:`Workbench.derived <workbench.engine.Workbench.derived>`).
    compute : callable
        Returns the result as a pandas DataFrame with string column names (what Parquet keeps,
        with its index and dtypes). The digest of the package's code is part of the key.

    Returns
    -------
    pandas.DataFrame
        The same frame ``compute()`` returns (column dtypes as Parquet round-trips them).

    Examples
    --------
    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"orders": pd.DataFrame({"order_id": ["O1"]})})
    >>> memoised(wb, "one", (), lambda: pd.DataFrame({"n": [1]}))["n"].tolist()
    [1]
    """
    path = memo_path(wb, name, params)
    if path is not None and path.exists():
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError):   # a damaged memo: compute it again and replace it
            pass
    result = compute()
    if path is not None:
        _write(result, path)
    return result


def memoised_with_note(wb: Any, name: str, params: tuple,
                       compute: Callable[[], tuple[pd.DataFrame, str | None]]) -> tuple[pd.DataFrame, str | None]:
    """:func:`memoised` for a result that comes with a note (why it is empty).

    The note is kept as a second one-row memo (``name`` + ``_note``); ``compute`` runs at most once.

    Examples
    --------
    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"orders": pd.DataFrame({"order_id": ["O1"]})})
    >>> df, note = memoised_with_note(wb, "x", (), lambda: (pd.DataFrame({"n": [1]}), "no model"))
    >>> df["n"].tolist(), note
    ([1], 'no model')
    """
    done: dict[str, Any] = {}

    def run() -> dict[str, Any]:
        if not done:
            done["df"], done["note"] = compute()
        return done

    note = memoised(wb, f"{name}_note", params, lambda: pd.DataFrame({"note": [run()["note"]]}))["note"].iloc[0]
    df = memoised(wb, name, params, lambda: run()["df"])
    return df, None if note is None or (isinstance(note, float) and math.isnan(note)) else str(note)


def memoised_result(wb: Any, name: str, params: tuple, compute: Callable[[], Any]) -> Any:
    """:func:`memoised` for a typed result: a frozen dataclass of the package holding numbers and small frames.

    The result is kept as a JSON record (floats by their exact ``repr``, timestamps, tuples,
    string-keyed dicts, enums and nested dataclasses of ``workbench``) plus one Parquet file
    per DataFrame in it (string column names, as for :func:`memoised`). Reading builds only
    dataclasses and enums of the ``workbench`` package, never arbitrary objects: a memo is
    data, not code.

    Examples
    --------
    >>> import workbench, pandas as pd
    >>> from workbench.pages._base import Stated
    >>> wb = workbench.open({"orders": pd.DataFrame({"order_id": ["O1"]})})
    >>> memoised_result(wb, "one", (), lambda: Stated(0.5, "share", "half")).text()
    '50.0%'
    """
    path = memo_path(wb, name, params)
    if path is not None and path.exists():
        try:
            record = json.loads(pd.read_parquet(path)["record"].iloc[0])
            return _decode(record, lambda i: pd.read_parquet(_frame_path(path, i)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError):
            pass   # damaged or from a layout this code does not read: compute it again and replace it
    result = compute()
    if path is not None:
        frames: list[pd.DataFrame] = []
        record = json.dumps(_encode(result, frames))
        for i, frame in enumerate(frames):   # the frames first: the record names them, so it is written last
            _write(frame, _frame_path(path, i))
        _write(pd.DataFrame({"record": [record]}), path)
    return result


def _frame_path(path: Path, i: int) -> Path:
    return path.with_name(f"{path.stem}.frame{i}.parquet")


def _encode(value: Any, frames: list[pd.DataFrame]) -> Any:
    """``value`` as JSON-ready data; DataFrames are appended to ``frames`` and named by their position."""
    if isinstance(value, enum.Enum):   # before str: a str-valued enum is a str too
        return {"__enum__": _type_name(type(value)), "value": value.value}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):   # json writes a float's exact repr (NaN too)
        return float(value)
    if value is pd.NaT or isinstance(value, pd.Timestamp):
        return {"__timestamp__": "NaT" if value is pd.NaT else value.isoformat()}
    if isinstance(value, pd.DataFrame):
        if not all(isinstance(c, str) for c in value.columns):
            raise TypeError("a memoised frame needs string column names (what Parquet keeps)")
        frames.append(value)
        return {"__frame__": len(frames) - 1}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": _type_name(type(value)),
                "fields": {f.name: _encode(getattr(value, f.name), frames)   # fields set by __post_init__ are not
                           for f in dataclasses.fields(value) if f.init}}     # arguments: built again on reading
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, frames) for v in value]}
    if isinstance(value, list):
        return [_encode(v, frames) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, frames) for k, v in value.items()}}
    raise TypeError(f"a memoised result cannot hold {type(value).__name__}")


def _type_name(cls: type) -> str:
    if not cls.__module__.startswith("workbench."):
        raise TypeError(f"a memoised result holds only the package's own types, not {cls.__module__}")
    return f"{cls.__module__}:{cls.__qualname__}"


def _package_type(name: str) -> type:
    """The package class ``module:qualname`` names (nothing outside ``workbench`` is imported)."""
    module, _, qualname = name.partition(":")
    if not module.startswith("workbench."):
        raise TypeError(f"not a package type: {name}")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not isinstance(cls, type):
        raise TypeError(f"not a type: {name}")
    return cls


def _decode(value: Any, frame: Callable[[int], pd.DataFrame]) -> Any:
    if isinstance(value, list):
        return [_decode(v, frame) for v in value]
    if not isinstance(value, dict):
        return value
    if "__frame__" in value:
        return frame(int(value["__frame__"]))
    if "__timestamp__" in value:
        return pd.Timestamp(value["__timestamp__"])
    if "__tuple__" in value:
        return tuple(_decode(v, frame) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, frame) for k, v in value["__dict__"].items()}
    if "__enum__" in value:
        cls = _package_type(value["__enum__"])
        if not issubclass(cls, enum.Enum):
            raise TypeError(f"not an enum: {value['__enum__']}")
        return cls(value["value"])
    cls = _package_type(value["__dataclass__"])
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"not a dataclass: {value['__dataclass__']}")
    return cls(**{k: _decode(v, frame) for k, v in value["fields"].items()})


def _write(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` through a temporary name and a rename (atomic for readers)."""
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        df.to_parquet(tmp)   # the index too: a frame reads back as it was written
        os.replace(tmp, path)
    except OSError:   # a read-only layer: the result is still right, only not kept
        return


__all__ = ["MEMO_DIR", "code_digest", "memo_path", "memoised", "memoised_result", "memoised_with_note"]
