"""Runs: :class:`ReportRun` (one line of ``runs.json``), ``runs.json`` appended under a lock, ``index.html``."""
from __future__ import annotations

import contextlib
import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ReportError
from ..i18n import has_key, t
from .files import atomic_write
from .html import html_page


@dataclass
class ReportRun:
    """The outcome of one report run (one line of ``runs.json``).

    ``status`` is ``ok``, ``failed`` or ``interrupted`` (stopped by SIGTERM/SIGINT); for a
    failed run ``html_path`` is the failure page, ``error`` the one-line reason and
    ``error_type`` the exception's name (``DataContractError`` for bad data, raised in the
    notebook or before it). ``parameters`` are the values given (typed), not the
    notebook's defaults; ``label`` is the one given or derived from non-default parameters;
    ``started`` / ``finished`` are ISO timestamps; ``inputs`` fingerprints the notebook and
    the data files (see ``skip_up_to_date``). ``ipynb_path`` of a failed run is the executed
    notebook kept outside the published folder. ``store_name`` and ``region`` name the
    store of a store page (``store_id`` among the parameters), read from the data's
    ``stores`` table; None for HQ pages and in records written before they existed.
    """

    name: str
    lang: str
    as_of: str
    status: str = "running"
    parameters: dict[str, Any] = field(default_factory=dict)
    html_path: str | None = None
    ipynb_path: str | None = None
    error: str | None = None
    started: str = ""
    finished: str = ""
    label: str | None = None
    version: str = ""
    inputs: str = ""
    error_type: str | None = None
    store_name: str | None = None
    region: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "ok"

    @property
    def bad_data(self) -> bool:
        """The run failed because the input data break the contract."""
        return self.error_type == "DataContractError"

    @property
    def stem(self) -> str:
        """File stem of the report: name, label if any, language."""
        return f"{self.name}-{self.label}.{self.lang}" if self.label else f"{self.name}.{self.lang}"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReportRun:
        """Build from a ``runs.json`` record, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Serialise writers of ``runs.json`` (two scheduled batches may overlap)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".runs.lock", "a+") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: single-writer use only
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record_run(run: ReportRun, out_dir: str | Path = "reports") -> None:
    """Append ``run`` to ``runs.json`` and rebuild ``index.html``."""
    out = Path(out_dir)
    entry = asdict(run)
    entry["href"] = _href(run.html_path, out)
    with _locked(out):
        runs = load_runs(out)
        runs.append(entry)
        atomic_write(out / "runs.json", json.dumps(runs, indent=1, ensure_ascii=False, default=str))
        write_index(out)


def _href(path: str | None, out: Path) -> str | None:
    if not path:
        return None
    return Path(os.path.relpath(Path(path).resolve(), out.resolve())).as_posix()


def load_runs(out_dir: str | Path = "reports") -> list[dict[str, Any]]:
    """Every recorded run, oldest first (``runs.json``; empty when there is none)."""
    path = Path(out_dir) / "runs.json"
    if not path.exists():
        return []
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ReportError(f"{path} is not valid JSON ({err}); move it aside to start a new record") from None
    if not isinstance(runs, list):
        raise ReportError(f"{path} should hold a list of runs")
    return runs


LANG_NAMES = {"zh": "中文", "en": "English"}  # each language named in itself, on a bilingual page
_LANG_ORDER = ("zh", "en")


def _both(key: str) -> str:
    return f"{t(key, 'zh')} / {t(key, 'en')}"


def _title_both(name: str) -> str:
    key = f"{name}.title"
    return f"{t(key, 'zh')} / {t(key, 'en')}" if has_key(key) else name


def _store_id(record: dict[str, Any]) -> str | None:
    value = (record.get("parameters") or {}).get("store_id")
    return str(value) if value is not None and str(value).strip() else None


def _plain_store_label(store_id: str) -> str | None:
    """The label a store page gets from its store id alone (not worth repeating beside the store's name)."""
    from .parameters import NotebookParameter, auto_label

    return auto_label({"store_id": NotebookParameter("store_id", str, None)}, {"store_id": store_id})


def _finished(record: dict[str, Any]) -> str:
    return html.escape((record.get("finished") or "").replace("T", " "))


def _status(record: dict[str, Any]) -> str:
    if record.get("status") == "ok":
        return f'<span class="wb-status-ok">{_both("index.ok")}</span>'
    key = "index.interrupted" if record.get("status") == "interrupted" else "index.failed"
    return f'<span class="wb-status-failed">{_both(key)}</span>'


class _Page:
    """What the index needs from ``runs.json``: the latest run and the last good run of each page."""

    def __init__(self, runs: list[dict[str, Any]], out: Path) -> None:
        self.out = out
        self.latest: dict[tuple, dict] = {}
        self.last_good: dict[tuple, dict] = {}
        self.names: dict[str, tuple[str | None, str | None]] = {}  # store id -> (name, region), newest known
        for r in runs:  # oldest first: later runs replace earlier ones; a key keeps its first position
            key = (r["as_of"], r["name"], r.get("label"), r["lang"])
            self.latest[key] = r
            if r.get("status") == "ok":
                self.last_good[key] = r
            sid = _store_id(r)
            if sid is not None and (r.get("store_name") or r.get("region") or sid not in self.names):
                self.names[sid] = (r.get("store_name"), r.get("region"))

    def href(self, record: dict[str, Any] | None) -> str | None:
        return record and (record.get("href") or _href(record.get("html_path"), self.out))

    def store_name(self, store_id: str) -> str:
        return self.names.get(store_id, (None, None))[0] or store_id

    def title(self, record: dict[str, Any], with_store: bool = False) -> str:
        """Report title (zh / en), its label unless a store page's own, and the store's name if asked."""
        text = _title_both(record["name"])
        sid, label = _store_id(record), record.get("label")
        if label and not (sid is not None and label == _plain_store_label(sid)):
            text += f" · {label}"
        if with_store and sid is not None:
            text += f" · {self.store_name(sid)}"
        return html.escape(text)

    def links(self, by_lang: dict[str, dict]) -> str:
        """中文 | English: each language's latest page (a failed run's failure page)."""
        parts = []
        for lang in by_lang:
            href, name = self.href(by_lang[lang]), html.escape(LANG_NAMES.get(lang, lang))
            parts.append(f'<a href="{html.escape(href)}">{name}</a>' if href else name)
        return " | ".join(parts)

    def status(self, by_lang: dict[str, dict]) -> str:
        """One ok mark when every language succeeded; otherwise each language's status, error and last good page."""
        if all(r.get("status") == "ok" for r in by_lang.values()):
            return _status(next(iter(by_lang.values())))
        parts = []
        for lang, r in by_lang.items():
            item = f"<div>{_status(r)} {html.escape(LANG_NAMES.get(lang, lang))}</div>"
            if r.get("status") != "ok":
                item += f'<div class="wb-note">{html.escape((r.get("error") or "")[:200])}</div>'
                good = self.last_good.get((r["as_of"], r["name"], r.get("label"), lang))
                good_href = self.href(good)
                if good_href:
                    item += (f'<div class="wb-note"><a href="{html.escape(good_href)}">{_both("index.last_good")}'
                             f"</a> ({_finished(good)})</div>")
            parts.append(item)
        return "".join(parts)

    def row(self, by_lang: dict[str, dict], first: str = "", about: bool = False) -> str:
        record = next(iter(by_lang.values()))
        title = self.title(record)
        key = f"index.about.{record['name']}"
        if about and has_key(key):
            title += f'<div class="wb-note">{html.escape(_both(key))}</div>'
        finished = max((r.get("finished") or "" for r in by_lang.values()), default="")
        return (f"<tr>{first}<td>{title}</td><td>{self.links(by_lang)}</td><td>{self.status(by_lang)}</td>"
                f"<td>{_finished({'finished': finished})}</td></tr>")


def _natural(text: str) -> tuple:
    """Sort key putting "Store #2" before "Store #10"."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in re.split(r"(\d+)", text) if p)


def _table(head: list[str], rows: list[str]) -> str:
    ths = "".join(f"<th>{h}</th>" for h in head)
    return (f'<div class="wb-scroll"><table class="wb-table"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _groups(page: _Page, as_of: str) -> dict[tuple, dict[str, dict]]:
    """The as-of's pages as ``(name, label, store id) -> {lang: latest run}``, in order of first run."""
    groups: dict[tuple, dict[str, dict]] = {}
    for (day, name, label, lang), r in page.latest.items():
        if day == as_of:
            groups.setdefault((name, label, _store_id(r)), {})[lang] = r
    rank = {lang: i for i, lang in enumerate(_LANG_ORDER)}
    return {k: dict(sorted(v.items(), key=lambda kv: rank.get(kv[0], len(rank)))) for k, v in groups.items()}


def _report_order(keys: list[tuple]) -> list[tuple]:
    """The daily ops page first, then reports in the order they first ran; a report's default page first."""
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(key[0], i)
    return sorted(keys, key=lambda k: (k[0] != "ops_dashboard", first[k[0]], k[1] is not None, keys.index(k)))


def _hq_section(page: _Page, groups: dict[tuple, dict[str, dict]]) -> str:
    keys = _report_order([k for k in groups if k[2] is None])
    if not keys:
        return ""
    rows = [page.row(groups[k], about=True) for k in keys]
    head = [_both("index.report"), _both("index.links"), _both("index.status"), _both("index.generated")]
    return f"<h2>{_both('index.hq')}</h2>{_table(head, rows)}"


def _stores_section(page: _Page, groups: dict[tuple, dict[str, dict]]) -> str:
    """Stores grouped by region (no region last), then by store name; one row per report."""
    by_store: dict[str, list[tuple]] = {}
    for k in groups:
        if k[2] is not None:
            by_store.setdefault(k[2], []).append(k)
    if not by_store:
        return ""
    regions: dict[str | None, list[str]] = {}
    for sid in by_store:
        regions.setdefault(page.names.get(sid, (None, None))[1], []).append(sid)
    head = [_both("index.store"), _both("index.report"), _both("index.links"), _both("index.status"),
            _both("index.generated")]
    parts = [f"<h2>{_both('index.stores')}</h2>"]
    for region in sorted(regions, key=lambda x: (x is None, (x or "").casefold(), x or "")):
        rows = []
        for sid in sorted(regions[region], key=lambda x: (_natural(page.store_name(x)), x)):
            store = f"<td>{html.escape(page.store_name(sid))}</td>"  # once per store; no rowspan: the
            rows += [page.row(groups[k], first=store if i == 0 else "<td></td>")  # first column is sticky
                     for i, k in enumerate(_report_order(by_store[sid]))]
        parts.append(f"<h3>{html.escape(region) if region is not None else _both('index.no_region')}</h3>"
                     f"{_table(head, rows)}")
    return "".join(parts)


def _earlier_section(page: _Page, latest_as_of: str) -> str:
    """Older as-of dates: one compact row per page and language, newest first."""
    older = [r for (day, *_), r in page.latest.items() if day != latest_as_of]
    if not older:
        return ""
    older.sort(key=lambda r: (r["as_of"], r.get("finished") or ""), reverse=True)
    rows = []
    for r in older:
        href, title = page.href(r), page.title(r, with_store=True)
        link = f'<a href="{html.escape(href)}">{title}</a>' if href else title
        rows.append(f'<tr><td>{html.escape(r["as_of"])}</td><td>{link}</td>'
                    f'<td>{html.escape(LANG_NAMES.get(r["lang"], r["lang"]))}</td><td>{_status(r)}</td></tr>')
    head = [_both("index.date"), _both("index.report"), _both("index.lang"), _both("index.status")]
    return f"<h2>{_both('index.earlier')}</h2>{_table(head, rows)}"


def write_index(out_dir: str | Path = "reports") -> Path:
    """Rebuild ``index.html`` from ``runs.json`` alone.

    For the latest as-of date: HQ pages (the daily ops page first), one row per report and
    label with its title, a line on whom it is for, and 中文 | English links; then store
    pages grouped by region and store name (the store id when no name was recorded). A
    failed run shows its status, its failure page and, when an earlier run succeeded, that
    good page. Older dates follow as a compact list. Every value is escaped. The page is
    bilingual (zh / en).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = _Page(load_runs(out), out)
    if page.latest:
        newest = max(day for day, *_ in page.latest)
        groups = _groups(page, newest)
        body = (f'<p>{_both("index.date")}: {html.escape(newest)}</p>' + _hq_section(page, groups)
                + _stores_section(page, groups) + _earlier_section(page, newest))
    else:
        body = f"<p>{_both('index.empty')}</p>"
    body = f'<header class="wb-header"><h1>{_both("index.title")}</h1></header>{body}'
    atomic_write(out / "index.html", html_page(_both("index.title"), "zh", body))
    return out / "index.html"
