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

import hashlib
import math
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

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


def _write(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` through a temporary name and a rename (atomic for readers)."""
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        df.to_parquet(tmp)   # the index too: a frame reads back as it was written
        os.replace(tmp, path)
    except OSError:   # a read-only layer: the result is still right, only not kept
        return


__all__ = ["MEMO_DIR", "code_digest", "memo_path", "memoised", "memoised_with_note"]
