"""Finding and decoding a brand's exports, the same for every engine.

Contract rules 1 and 2 of :mod:`workbench.contract`: which file holds a table (one of
``<table>.parquet``, ``<table>.csv`` or a folder ``<table>/`` of Parquet files, never two)
and how a CSV's bytes are decoded (UTF-8, else GB18030 with a warning). Each backend then
reads the file with its own reader (:mod:`workbench.engine.duckdb`, :mod:`workbench.engine.spark`).
"""
from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import contract
from ..errors import DataContractError, ParameterError


def table_sources(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Contract tables found in a data directory.

    Contract tables found in a data directory (``<table>.parquet``, ``<table>.csv`` or a
    folder ``<table>/``), or the mapping itself. Only contract names are looked up, so other
    files and folders beside them (the persisted derived layer's ``.layer/``, ``truth.json``)
    are never taken for a table.
    """
    if isinstance(source, Mapping):
        return dict(source)
    root = Path(source)
    if not root.is_dir():
        raise ParameterError(f"data directory not found: {root}")
    sources: dict[str, Any] = {}
    for name in contract.TABLES:
        found = []
        for candidate in (root / f"{name}.parquet", root / f"{name}.csv", root / name):
            if candidate.is_symlink() and not candidate.exists():  # broken, or a link to itself
                raise DataContractError(name, None, f"{candidate.name} is a broken or self-referencing "
                                                    f"symbolic link; point it at the export or remove it")
            if candidate.exists():
                found.append(candidate)
        if len(found) > 1:
            raise DataContractError(name, None, "more than one source for this table: "
                                                + " and ".join(f.name + ("/" if f.is_dir() else "") for f in found)
                                                + "; keep one")
        if found:
            sources[name] = found[0]
    return sources

def utf8_csv(path: Path, table: str) -> Path:
    """``path`` if it is UTF-8, else a UTF-8 copy when it decodes as GB18030 (with a warning).

    Anything else is a :class:`DataContractError` naming the file, the first undecodable line
    and what to do. The copy lives in the system's temporary directory, keyed on the file's
    path, size and modification time.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as err:
                    bad_at = offset + err.start
                    lines += chunk[: err.start].count(b"\n")
                    raise _NotUtf8(bad_at, lines + 1) from None
                offset += len(chunk)
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
        return path
    except _NotUtf8 as bad:
        line = bad.line
    except UnicodeDecodeError:
        line = lines + 1
    data = path.read_bytes()
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise DataContractError(
            table, None, f"{path.name} is not UTF-8 (first undecodable byte on line {line}) and not GBK/GB18030 "
                         "either: save it as 'CSV UTF-8' or convert it, "
                         "e.g. iconv -f <its encoding> -t UTF-8") from None
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
    out = Path(tempfile.gettempdir()) / "workbench-utf8" / f"{key}.csv"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    message = (f"table '{table}': {path.name} is not UTF-8 (line {line}); read it as GB18030 (GBK). "
               "Save exports as UTF-8 to silence this")
    warnings.warn(message, stacklevel=3)
    return out


class _NotUtf8(Exception):
    def __init__(self, offset: int, line: int) -> None:
        super().__init__(offset, line)
        self.line = line

def refuse_empty_file(path: Path, table: str) -> None:
    """An export of 0 bytes is an unfinished export: say so rather than read no columns."""
    if path.is_file() and path.stat().st_size == 0:
        raise DataContractError(table, None, f"{path.name} is empty (0 bytes): the export did not finish? "
                                             "Write it again, or remove it if the table has no data")

def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
