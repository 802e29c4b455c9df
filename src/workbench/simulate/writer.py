"""The simulated brand (tables and truth) and how it is written to a folder."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ParameterError


@dataclass(frozen=True)
class Brand:
    """A simulated brand: contract tables (pandas) and their ground truth.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Every contract table (README, "The data contract"), keyed by its contract name.
    truth : dict
        Ground truth, JSON-ready (schema in the :mod:`workbench.simulate` docstring).
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, Any]

    @property
    def as_of(self) -> pd.Timestamp:
        """End of the data (exclusive): no event at or after it."""
        return pd.Timestamp(self.truth["as_of"])

    def write(self, out: str | Path, fmt: str = "parquet", force: bool = False) -> Path:
        """Write ``<out>/<table>.parquet`` (or ``.csv``) for every table, and ``truth.json``.

        Refuses (:class:`ParameterError`) a folder holding data the simulator did not write,
        unless ``force`` (see :func:`check_simulation_target`).
        """
        check_format(fmt)
        out = Path(out)
        check_simulation_target(out, force)
        out.mkdir(parents=True, exist_ok=True)
        mark_simulated(out)
        for name, frame in self.tables.items():
            if fmt == "parquet":
                write_parquet(frame, out / f"{name}.parquet")
            else:
                frame.to_csv(out / f"{name}.csv", index=False)
        (out / "truth.json").write_text(json.dumps(self.truth, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        return out

    def __repr__(self) -> str:
        rows = ", ".join(f"{k}={len(v):,}" for k, v in self.tables.items())
        return f"Brand(n_customers={self.truth['n_customers']:,}, as_of={self.truth['as_of']!r}, rows: {rows})"


#: Written into every folder the simulator writes; its presence means "simulated data, safe to replace".
SIMULATED_MARKER = ".workbench-simulated"


def check_simulation_target(out: str | Path, force: bool = False) -> None:
    r"""Refuse to write a simulated brand over data the simulator did not create.

    A folder may be written when it does not exist, holds no contract table, or carries the
    simulator's marker file (``.workbench-simulated``; a ``truth.json`` from an older version
    counts too). Anything else is a real brand's export: a simulation there would replace its
    tables, so :class:`ParameterError` unless ``force``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> real = pathlib.Path(tempfile.mkdtemp()); _ = (real / "orders.csv").write_text("order_id\n1\n")
    >>> check_simulation_target(real)
    Traceback (most recent call last):
    ...
    workbench.errors.ParameterError: ...
    """
    out = Path(out)
    if force or not out.exists():
        return
    if not out.is_dir():
        raise ParameterError(f"out {str(out)!r} exists and is not a directory")
    if (out / SIMULATED_MARKER).exists() or (out / "truth.json").exists():
        return
    found = sorted({p.name for name in contract_tables()
                    for p in (out / f"{name}.parquet", out / f"{name}.csv", out / name) if p.exists()})
    if found:
        shown = ", ".join(found[:5]) + (" …" if len(found) > 5 else "")
        raise ParameterError(f"{out} holds data the simulator did not write ({shown}); a simulated brand would "
                             f"replace those tables. Choose another folder, or pass --force (force=True) to "
                             f"overwrite them")


def mark_simulated(out: Path) -> None:
    """Leave the marker that says the folder was written by the simulator."""
    (out / SIMULATED_MARKER).write_text("written by workbench.simulate: simulate may overwrite this folder\n",
                                        encoding="utf-8")


def check_format(fmt: str) -> None:
    """Check that ``fmt`` is ``parquet`` or ``csv`` (else :class:`ParameterError`)."""
    if fmt not in ("parquet", "csv"):
        raise ParameterError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")


def _arrow_type(series: pd.Series) -> pa.DataType:
    kind = series.dtype.kind
    if kind == "M":
        return pa.timestamp("us")
    if kind == "f":
        return pa.float64()
    if kind in "iu":
        return pa.int64()
    if kind == "b":
        return pa.bool_()
    return pa.string()


def write_parquet(frame: pd.DataFrame, path: Path, chunk_rows: int = 2_000_000) -> None:
    """Write in row chunks so a 15M-row table never holds a second full copy in Arrow."""
    schema = pa.schema([(c, _arrow_type(frame[c])) for c in frame.columns])
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, max(len(frame), 1), chunk_rows):
            part = frame.iloc[lo:lo + chunk_rows]
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


def contract_tables() -> tuple[str, ...]:
    """Contract table names, in the order of :data:`workbench.contract.TABLES`."""
    from .. import contract

    return tuple(contract.TABLES)


def remove_table(out: Path, name: str) -> None:
    """Delete ``<out>/<name>.parquet``/``.csv`` and the Parquet parts of ``<out>/<name>/``."""
    for f in (out / f"{name}.parquet", out / f"{name}.csv"):
        if f.is_file():
            f.unlink()
    folder = out / name
    if folder.is_dir():
        for f in folder.glob("part-*.parquet"):
            f.unlink()
