"""Reading the line-per-record files of a WeCom ingest into the engine, with errors naming file and line.

Every input of ``workbench ingest wecom`` (callbacks, API snapshots, behaviour data, bills,
mass-send results) is a text file of one record per line. This module turns such files into
an engine table ``(seq, file, line, j)``: ``seq`` the arrival order over all files, ``line``
the 1-based line number, ``j`` the record as JSON. JSON is checked by the engine
(``json_valid``), so no Python loop runs over the records; the stdlib XML parser runs once
per line only for the XML form of callbacks.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..engine import Backend, literal, quote
from ..errors import DataContractError, ParameterError

#: Unix seconds past this are milliseconds (1e11 s is the year 5138).
MILLISECONDS = 10**11
#: Naive Asia/Shanghai = UTC + 8 h (no daylight saving since 1991, before WeCom existed).
SHANGHAI_OFFSET_S = 8 * 3600


def input_files(paths: Iterable[str | Path], kind: str) -> list[Path]:
    """Files named by ``paths``; a folder stands for its files (sorted, hidden files skipped).

    Examples
    --------
    >>> input_files([], "events")
    []
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise ParameterError(f"{kind} input not found: {p}")
    return out


def file_lines(path: Path, kind: str) -> pd.DataFrame:
    """Non-empty lines of ``path``: columns ``file``, ``line`` (1-based), ``text``.

    A file that is not UTF-8 is refused, naming it and its first undecodable line.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise DataContractError(kind, None, f"{path}, line {line}: not UTF-8 text (byte {data[err.start]:#04x} "
                                            f"at offset {err.start}); export the file as UTF-8") from None
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    lines = lines[lines.str.strip() != ""]
    return pd.DataFrame({"file": str(path), "line": (lines.index + 1).astype("int64"),
                         "text": lines.str.strip().to_numpy()})


def xml_to_json(frame: pd.DataFrame, kind: str) -> pd.Series:
    """The ``<xml>…</xml>`` callback of each line as JSON text with the element names as keys.

    ``MemChangeList`` becomes ``{"Item": [...]}``, as in the JSON form.

    Examples
    --------
    >>> f = pd.DataFrame({"file": ["a"], "line": [1],
    ...                   "text": ["<xml><CreateTime>1700000000</CreateTime><UserID><![CDATA[u1]]></UserID></xml>"]})
    >>> xml_to_json(f, "callbacks").iloc[0]
    '{"CreateTime": "1700000000", "UserID": "u1"}'
    """
    out = []
    for file, line, text in frame[["file", "line", "text"]].itertuples(index=False):  # XML only (stdlib parser)
        try:
            root = ET.fromstring(text)
        except ET.ParseError as err:
            raise DataContractError(kind, None, f"{file}, line {line}: not an XML callback ({err})") from None
        record: dict[str, object] = {}
        for child in root:
            if child.tag == "MemChangeList":
                record[child.tag] = {"Item": [(i.text or "").strip() for i in child]}
            else:
                record[child.tag] = (child.text or "").strip()
        out.append(json.dumps(record, ensure_ascii=False))
    return pd.Series(out, index=frame.index, dtype=object)


def load_lines(backend: Backend, name: str, paths: Iterable[str | Path], kind: str,
               allow_xml: bool = False) -> tuple[int, list[dict]]:
    """Read every file into engine table ``name`` ``(seq, file, line, j JSON)``; (lines, inputs) back.

    A line that is not a JSON object (or, with ``allow_xml``, an XML document in a file whose
    first character is ``<``) stops the ingest with an error naming the file and line.
    """
    frames, inputs = [], []
    for path in input_files(paths, kind):
        frame = file_lines(path, kind)
        if allow_xml and len(frame) and frame["text"].iloc[0].startswith("<"):
            frame["text"] = xml_to_json(frame, kind)
        frames.append(frame)
        inputs.append({"path": str(path), "kind": kind, "rows": len(frame)})
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"file": pd.Series(dtype=object), "line": pd.Series(dtype="int64"), "text": pd.Series(dtype=object)})
    frame.insert(0, "seq", pd.RangeIndex(len(frame)).astype("int64"))
    raw = f"__wi_raw_{name}"
    backend.load(raw, frame)
    bad = backend.fetch(f"SELECT file, line, text FROM {quote(raw)} "
                        "WHERE NOT (COALESCE(json_valid(text), FALSE) AND starts_with(text, '{')) "
                        "ORDER BY seq LIMIT 1")
    if bad:
        file, line, text = bad[0]
        raise DataContractError(kind, None, f"{file}, line {line}: not a JSON object"
                                            f"{' or an XML callback' if allow_xml else ''}: {text[:60]!r}")
    backend.materialise(name, f"SELECT seq, file, line, text::JSON AS j FROM {quote(raw)}")
    backend.execute(f"DROP VIEW IF EXISTS {quote(raw)}")
    return len(frame), inputs


def first_bad(backend: Backend, table: str, condition: str, kind: str, problem: str) -> None:
    """Raise naming the first line of ``table`` where ``condition`` holds (nothing when none does)."""
    rows = backend.fetch(f"SELECT file, line FROM {quote(table)} WHERE {condition} ORDER BY seq LIMIT 1")
    if rows:
        n = backend.fetch(f"SELECT COUNT(*) FROM {quote(table)} WHERE {condition}")[0][0]
        more = f" ({n:,} such lines)" if n > 1 else ""
        raise DataContractError(kind, None, f"{rows[0][0]}, line {rows[0][1]}: {problem}{more}")


def local_time(seconds_sql: str) -> str:
    """SQL: Unix seconds → naive Asia/Shanghai timestamp.

    Examples
    --------
    >>> local_time("ts")
    'make_timestamp((ts + 28800) * 1000000)'
    """
    return f"make_timestamp(({seconds_sql} + {SHANGHAI_OFFSET_S}) * 1000000)"


def unix_seconds(timestamp_sql: str) -> str:
    """SQL: naive Asia/Shanghai timestamp → Unix seconds."""
    return f"(epoch(CAST({timestamp_sql} AS TIMESTAMP))::BIGINT - {SHANGHAI_OFFSET_S})"


def text(path: str) -> str:
    """SQL: the trimmed text at JSON ``path`` of ``j``, NULL when absent or empty."""
    return f"NULLIF(trim(j->>{literal(path)}), '')"


def whole(path: str) -> str:
    """SQL: the whole number at JSON ``path`` of ``j`` (a number or its text), NULL when absent or not whole."""
    return whole_sql(f"j->>{literal(path)}")


def whole_sql(text_sql: str) -> str:
    """SQL: text ``text_sql`` as a BIGINT when it is a whole number, else NULL (a cast would round ``1.5``).

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {whole_sql(repr('1.5'))}, {whole_sql(repr(' 17 '))}").fetchone()
    (None, 17)
    """
    return (f"CASE WHEN regexp_full_match(trim({text_sql}), '-?[0-9]{{1,18}}') "
            f"THEN CAST(trim({text_sql}) AS BIGINT) END")
