"""Runs: :class:`ReportRun` (one line of ``runs.json``), ``runs.json`` appended under a lock, ``index.html``."""
from __future__ import annotations

import contextlib
import html
import json
import os
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
    notebook kept outside the published folder.
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


def _title_both(name: str) -> str:
    key = f"{name}.title"
    return f"{t(key, 'zh')} / {t(key, 'en')}" if has_key(key) else name


def write_index(out_dir: str | Path = "reports") -> Path:
    """Rebuild ``index.html``: the latest run of each (date, report, language), newest first.

    A failed run links its failure page and, when an earlier run of the same report
    succeeded, that good report too. The page is bilingual (zh / en).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(out)
    latest: dict[tuple, dict] = {}
    last_good: dict[tuple, dict] = {}
    for r in runs:  # oldest first: later runs replace earlier ones
        key = (r["as_of"], r["name"], r.get("label"), r["lang"])
        latest[key] = r
        if r.get("status") == "ok":
            last_good[key] = r
    rows = sorted(latest.items(), key=lambda kv: (kv[1]["as_of"], kv[1].get("finished", "")), reverse=True)

    def both(key: str) -> str:
        return f"{t(key, 'zh')} / {t(key, 'en')}"

    trs = []
    for key, r in rows:
        href = r.get("href") or _href(r.get("html_path"), out)
        title = html.escape(_title_both(r["name"]) + (f" · {r['label']}" if r.get("label") else ""))
        link = f'<a href="{html.escape(href)}">{title}</a>' if href else title
        ok = r.get("status") == "ok"
        interrupted = r.get("status") == "interrupted"
        extra = ""
        if not ok:
            extra = f'<div class="wb-note">{html.escape((r.get("error") or "")[:200])}</div>'
            good = last_good.get(key)
            good_href = good and (good.get("href") or _href(good.get("html_path"), out))
            if good_href:
                extra += (f'<div class="wb-note"><a href="{html.escape(good_href)}">{both("index.last_good")}</a> '
                          f'({html.escape(good.get("finished", "").replace("T", " "))})</div>')
        status = (f'<span class="wb-status-ok">{both("index.ok")}</span>' if ok
                  else f'<span class="wb-status-failed">{both("index.interrupted")}</span>' if interrupted
                  else f'<span class="wb-status-failed">{both("index.failed")}</span>')
        trs.append(f'<tr><td>{html.escape(r["as_of"])}</td><td>{link}{extra}</td><td>{html.escape(r["lang"])}</td>'
                   f'<td>{status}</td><td>{html.escape(r.get("finished", "").replace("T", " "))}</td></tr>')
    if trs:
        table = (f'<div class="wb-scroll"><table class="wb-table"><thead><tr><th>{both("index.date")}</th>'
                 f'<th>{both("index.report")}</th><th>{both("index.lang")}</th><th>{both("index.status")}</th>'
                 f'<th>{both("index.generated")}</th></tr></thead><tbody>{"".join(trs)}</tbody></table></div>')
    else:
        table = f"<p>{both('index.empty')}</p>"
    body = f'<header class="wb-header"><h1>{both("index.title")}</h1></header>{table}'
    atomic_write(out / "index.html", html_page(both("index.title"), "zh", body))
    return out / "index.html"
