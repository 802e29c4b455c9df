"""The report pipeline: parameterised notebooks → papermill → HTML without code.

``run_report`` checks the parameters against the notebook's typed ``parameters`` cell
*before* anything runs (papermill alone only warns), executes the notebook with papermill
into ``reports/<as_of>/<name>.<lang>.ipynb`` and renders
``reports/<as_of>/<name>.<lang>.html`` with no input cells, a header (title, parameters,
data as-of, generation time, package version), a table of contents and the workbench
styles. Output is written to a temporary file and moved into place, so a failed run never
overwrites a good report: it renders ``<name>.<lang>.failed.html`` instead. Every run is
recorded in ``reports/runs.json`` and listed in ``reports/index.html``.

Every report notebook has the standard parameters ``lang``, ``as_of`` and ``data_dir``.
"""
from __future__ import annotations

import ast
import datetime as dt
import html
import json
import os
import re
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ParameterError, ReportError
from .i18n import LANGS, t

KERNEL_NAME = "workbench"
STANDARD_PARAMETERS = ("lang", "as_of", "data_dir")
_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}


# ---------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell."""

    name: str
    type: type
    default: Any


def notebook_parameters(path: str | Path) -> dict[str, NotebookParameter]:
    """Parse the cell tagged ``parameters``: ``name: type = value`` or ``name = value``."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ReportError(f"{Path(path).name}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    out: dict[str, NotebookParameter] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, ast.literal_eval(node.value) if node.value else None
            ann = ast.unparse(node.annotation).split("[")[0]
            typ = _TYPES.get(ann, type(value))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, ast.literal_eval(node.value)
            typ = type(value)
        else:
            continue
        out[name] = NotebookParameter(name, typ, value)
    return out


def coerce_parameter(param: NotebookParameter, value: Any) -> Any:
    """Convert a CLI string (or a YAML value) to the parameter's type; ParameterError when it does not fit."""
    typ = param.type
    try:
        if isinstance(value, str) and typ is not str:
            if typ is bool:
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return low in ("true", "1", "yes")
            if typ in (list, dict):
                value = yaml.safe_load(value)
            else:
                return typ(value)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if typ is str and isinstance(value, (dt.date,)):
            return value.isoformat()
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ValueError(value)
        return value
    except (ValueError, TypeError, yaml.YAMLError):
        raise ParameterError(f"parameter {param.name!r} expects {typ.__name__}, got {value!r}") from None


def check_parameters(path: str | Path, given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against the notebook's parameters cell; return typed values."""
    declared = notebook_parameters(path)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(f"{Path(path).stem}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(declared))}")
    return {k: coerce_parameter(declared[k], v) for k, v in given.items()}


# ---------------------------------------------------------------------- kernel
def ensure_kernel() -> str:
    """Install (once) a kernelspec named ``workbench`` for this interpreter inside ``sys.prefix``."""
    kdir = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=ERROR"],  # kernel chatter is not the operator's business
            "display_name": "workbench (project)", "language": "python", "metadata": {"debugger": True}}
    target = kdir / "kernel.json"
    if not target.exists() or json.loads(target.read_text()).get("argv") != spec["argv"]:
        kdir.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(spec, indent=1))
    return KERNEL_NAME


# ---------------------------------------------------------------------- runs
@dataclass
class ReportRun:
    """The outcome of one report run."""

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

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def default_as_of(data_dir: str | Path) -> str:
    """The day after the latest event in the data (the natural as-of date)."""
    import pandas as pd

    from .engine import open_workbench

    wb = open_workbench(data_dir, validate=False)
    end = wb.data_end()
    wb.close()
    if end is None:
        return dt.date.today().isoformat()
    return (pd.Timestamp(end).normalize() + pd.Timedelta(days=1)).date().isoformat()


def run_report(name: str, parameters: dict[str, Any] | None = None, lang: str = "en", as_of: str | None = None,
               data_dir: str | Path = "data/demo", out_dir: str | Path = "reports",
               notebooks_dir: str | Path = "notebooks", record: bool = True, label: str | None = None) -> ReportRun:
    """Execute ``notebooks/<name>.ipynb`` with papermill and render it to HTML.

    ``label`` distinguishes several runs of one report on the same date (e.g. one per
    experiment): the files become ``<name>-<label>.<lang>.html``.

    Raises :class:`ParameterError` for an unknown report, language or parameter (nothing is
    run); returns a :class:`ReportRun` with ``status`` ``ok`` or ``failed`` otherwise.
    """
    import papermill as pm

    nb_path = Path(notebooks_dir) / f"{name}.ipynb"
    if not nb_path.exists():
        known = sorted(p.stem for p in Path(notebooks_dir).glob("*.ipynb") if not p.stem.startswith("_"))
        raise ParameterError(f"unknown report {name!r}; available: {', '.join(known)}")
    if lang not in LANGS:
        raise ParameterError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    given = dict(parameters or {})
    for reserved in STANDARD_PARAMETERS:
        if reserved in given:
            raise ParameterError(f"parameter {reserved!r} is set with its own option (--lang, --as-of, --data)")
    typed = check_parameters(nb_path, given)
    data_dir = Path(data_dir)
    if as_of is None:
        as_of = default_as_of(data_dir)
    as_of = _check_date(as_of)
    declared = notebook_parameters(nb_path)
    for std in STANDARD_PARAMETERS:
        if std not in declared:
            raise ReportError(f"{nb_path.name}: the parameters cell must define {std!r}")
    typed.update(lang=lang, as_of=as_of, data_dir=str(data_dir.resolve()))

    out = Path(out_dir) / as_of
    out.mkdir(parents=True, exist_ok=True)
    if label is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", str(label)):
        raise ParameterError(f"label {label!r} may hold only letters, digits, '_', '.' and '-'")
    stem = f"{name}-{label}.{lang}" if label else f"{name}.{lang}"
    run = ReportRun(name, lang, as_of, parameters={k: v for k, v in typed.items() if k != "data_dir"},
                    started=_now(), label=label)
    kernel = ensure_kernel()
    with tempfile.TemporaryDirectory(dir=out, prefix=".tmp-") as tmp:
        executed = Path(tmp) / f"{stem}.ipynb"
        try:
            pm.execute_notebook(str(nb_path), str(executed), parameters=typed, kernel_name=kernel,
                                cwd=str(nb_path.parent.resolve()), progress_bar=False, log_output=False,
                                report_mode=True)
            page = render_html(executed, name, lang, as_of, run.parameters)
            tmp_html = Path(tmp) / f"{stem}.html"
            tmp_html.write_text(page, encoding="utf-8")
            os.replace(executed, out / f"{stem}.ipynb")
            os.replace(tmp_html, out / f"{stem}.html")
            stale = out / f"{stem}.failed.html"
            if stale.exists():
                stale.unlink()
            run.status, run.html_path, run.ipynb_path = "ok", str(out / f"{stem}.html"), str(out / f"{stem}.ipynb")
        except Exception as err:  # the run failed: record it, render a failure page, keep the good report
            run.status, run.error = "failed", _error_text(err)
            failed = out / f"{stem}.failed.html"
            failed.write_text(failure_page(name, lang, as_of, run.parameters, err, executed), encoding="utf-8")
            run.html_path = str(failed)
    run.finished = _now()
    if record:
        record_run(run, out_dir)
    return run


def _check_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise ParameterError(f"--as-of must be a date YYYY-MM-DD, not {value!r}") from None


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def _error_text(err: Exception) -> str:
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    return f"{ename}: {evalue}"[:2000]


# ---------------------------------------------------------------------- HTML
_CSS = """
body { max-width: 1100px; margin: 0 auto; padding: 0 12px; font-family: "Noto Sans CJK SC", "PingFang SC",
  "Microsoft YaHei", -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933; line-height: 1.55; }
.wb-header { border-bottom: 3px solid #2F6B9A; margin: 16px 0 12px; padding-bottom: 8px; }
.wb-header h1 { margin: 0 0 6px; font-size: 1.6em; }
.wb-meta { color: #52606d; font-size: 0.88em; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.wb-meta code { background: #f2f4f7; padding: 0 4px; border-radius: 3px; }
.wb-toc { background: #f7f9fb; border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px 14px; margin: 10px 0 18px; font-size: 0.92em; }
.wb-toc ol { margin: 4px 0; padding-left: 20px; }
.wb-kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 8px 0 16px; }
.wb-kpi { border: 1px solid #e4e7eb; border-radius: 8px; padding: 10px 12px; background: #fff; }
.wb-kpi-label { color: #52606d; font-size: 0.85em; }
.wb-kpi-value { font-size: 1.45em; font-weight: 700; }
.wb-kpi-delta { font-size: 0.9em; font-weight: 600; }
.wb-kpi-note { color: #7b8794; font-size: 0.78em; }
.wb-callout { border-left: 4px solid #2F6B9A; background: #f0f6fb; padding: 8px 12px; margin: 8px 0 14px; border-radius: 4px; }
.wb-warning { border-color: #E07B39; background: #fdf3ec; }
.wb-danger { border-color: #C44E52; background: #fbeeee; font-weight: 600; }
.jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow-x: auto; max-width: 100%; }
table.wb-table, .jp-RenderedHTMLCommon table { border-collapse: collapse; font-size: 0.88em; margin: 6px 0 14px; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { border-bottom: 1px solid #e4e7eb; }
img { max-width: 100%; height: auto; }
.jp-InputPrompt, .jp-OutputPrompt { display: none !important; }
@media (max-width: 600px) { body { padding: 0 6px; } .wb-header h1 { font-size: 1.25em; } }
"""


def _strip_external(page: str) -> str:
    """Remove every external script/style request (no CDN): reports must open offline."""
    page = re.sub(r"<script[^>]+src=\"https?://[^\"]+\"[^>]*>\s*</script>", "", page)
    page = re.sub(r"<link[^>]+href=\"https?://[^\"]+\"[^>]*>", "", page)
    # MathJax configuration blocks load from a CDN; reports use no LaTeX
    page = re.sub(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", "", page, flags=re.S)
    return page


def _toc(page: str, lang: str) -> tuple[str, str]:
    """Give h2/h3 headings ids and build a table of contents."""
    items = []

    def repl(m: re.Match) -> str:
        level, attrs, inner = m.group(1), m.group(2), m.group(3)
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        ident = re.search(r'id="([^"]+)"', attrs)
        hid = ident.group(1) if ident else f"s{len(items) + 1}"
        items.append((level, hid, text))
        attrs = attrs if ident else f'{attrs} id="{hid}"'
        return f"<h{level}{attrs}>{inner}</h{level}>"

    page = re.sub(r"<h([23])([^>]*)>(.*?)</h\1>", repl, page, flags=re.S)
    if not items:
        return page, ""
    lis = "".join(f'<li style="margin-left:{(int(lv) - 2) * 14}px"><a href="#{hid}">{html.escape(text)}</a></li>'
                  for lv, hid, text in items)
    return page, f'<nav class="wb-toc"><strong>{t("report.contents", lang)}</strong><ol>{lis}</ol></nav>'


def _header(name: str, lang: str, as_of: str, parameters: dict[str, Any]) -> str:
    from . import __version__

    params = ", ".join(f"<code>{html.escape(str(k))}={html.escape(str(v))}</code>"
                       for k, v in parameters.items() if k not in ("lang", "as_of")) or "–"
    return (f'<header class="wb-header"><h1>{html.escape(t(name + ".title", lang))}</h1><div class="wb-meta">'
            f'<span>{t("report.data_as_of", lang)}: <strong>{as_of}</strong></span>'
            f'<span>{t("report.generated", lang)}: {dt.datetime.now():%Y-%m-%d %H:%M}</span>'
            f'<span>{t("report.parameters", lang)}: {params}</span>'
            f'<span>{t("report.version", lang)}: {__version__}</span></div></header>')


def render_html(executed: str | Path, name: str, lang: str, as_of: str, parameters: dict[str, Any]) -> str:
    """Render an executed notebook to self-contained HTML with no code."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:  # logs and warnings are for the operator, not the stakeholder
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                       and o.get("name") == "stderr")]
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_output_stdin = True
    body, _ = exporter.from_notebook_node(nb)
    body = _strip_external(body)
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(t(name + '.title', lang))} · {as_of}</title>", body,
                  count=1, flags=re.S)
    body = body.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    body = body.replace("</head>", '<meta name="viewport" content="width=device-width, initial-scale=1">'
                                   f"<style>{_CSS}</style></head>", 1)
    body, toc = _toc(body, lang)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _header(name, lang, as_of, parameters) + toc, body, count=1)


def failure_page(name: str, lang: str, as_of: str, parameters: dict[str, Any], err: Exception,
                 executed: Path | None = None) -> str:
    """A visible page for a failed run: what failed and where, with no data."""
    cell = ""
    if executed is not None and executed.exists():
        import nbformat

        try:
            nb = nbformat.read(str(executed), as_version=4)
            for c in nb.cells:
                if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", [])):
                    cell = c.source
                    break
        except Exception:  # a half-written notebook: the error text is enough
            cell = ""
    if not cell and not hasattr(err, "ename"):
        cell = "".join(traceback.format_exception_only(type(err), err))
    try:
        title = t(name + ".title", lang)
    except KeyError:
        title = name
    return (f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)} · '
            f'{t("report.failed_title", lang)}</title><style>{_CSS}</style></head><body>'
            f'{_header(name, lang, as_of, parameters) if _has_title(name) else ""}'
            f'<div class="wb-callout wb-danger">{t("report.failed_title", lang)}: {html.escape(title)}</div>'
            f'<p>{t("report.failed_body", lang)}</p><h3>{t("report.failed_error", lang)}</h3>'
            f'<pre style="white-space:pre-wrap">{html.escape(_error_text(err))}</pre>'
            + (f'<h3>{t("report.failed_cell", lang)}</h3><pre style="white-space:pre-wrap">{html.escape(cell)}</pre>'
               if cell else "") + "</body></html>")


def _has_title(name: str) -> bool:
    try:
        t(name + ".title", "en")
        return True
    except KeyError:
        return False


# ---------------------------------------------------------------------- index
def record_run(run: ReportRun, out_dir: str | Path = "reports") -> None:
    """Append ``run`` to ``runs.json`` and rebuild ``index.html``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(out)
    runs.append(asdict(run))
    tmp = out / ".runs.json.tmp"
    tmp.write_text(json.dumps(runs, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, out / "runs.json")
    write_index(out)


def load_runs(out_dir: str | Path = "reports") -> list[dict[str, Any]]:
    path = Path(out_dir) / "runs.json"
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def write_index(out_dir: str | Path = "reports", lang: str = "zh") -> Path:
    """``index.html``: one row per (as-of, report, language) — its latest run — newest first."""
    out = Path(out_dir)
    runs = load_runs(out)
    latest: dict[tuple, dict] = {}
    for r in runs:
        latest[(r["as_of"], r["name"], r.get("label"), r["lang"])] = r
    rows = sorted(latest.values(), key=lambda r: (r["as_of"], r["finished"]), reverse=True)
    both = lambda key: f"{t(key, 'zh')} / {t(key, 'en')}"  # noqa: E731 - the index is bilingual
    trs = []
    for r in rows:
        href = os.path.relpath(r["html_path"], out) if r.get("html_path") else ""
        try:
            title = f"{t(r['name'] + '.title', 'zh')} / {t(r['name'] + '.title', 'en')}"
        except KeyError:
            title = r["name"]
        if r.get("label"):
            title += f" · {r['label']}"
        status = both("index.ok") if r["status"] == "ok" else both("index.failed")
        color = "#3A9D6E" if r["status"] == "ok" else "#C44E52"
        err = f'<div style="color:#7b8794;font-size:.8em">{html.escape((r.get("error") or "")[:160])}</div>' \
            if r["status"] != "ok" else ""
        trs.append(f'<tr><td>{r["as_of"]}</td><td><a href="{html.escape(href)}">{html.escape(title)}</a>{err}</td>'
                   f'<td>{r["lang"]}</td><td style="color:{color};font-weight:600">{status}</td>'
                   f'<td>{r["finished"].replace("T", " ")}</td></tr>')
    table = (f'<div style="overflow-x:auto"><table class="wb-table"><thead><tr><th>{both("index.date")}</th>'
             f'<th>{both("index.report")}</th><th>{both("index.lang")}</th><th>{both("index.status")}</th>'
             f'<th>{both("index.generated")}</th></tr></thead><tbody>{"".join(trs)}</tbody></table></div>'
             if trs else f"<p>{both('index.empty')}</p>")
    page = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{both("index.title")}</title>'
            f'<style>{_CSS} td, th {{ padding: 6px 10px; text-align: left; border-bottom: 1px solid #e4e7eb; }}</style>'
            f'</head><body><header class="wb-header"><h1>{both("index.title")}</h1></header>{table}</body></html>')
    tmp = out / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out / "index.html")
    return out / "index.html"


# ---------------------------------------------------------------------- schedules
def load_schedule(path: str | Path) -> list[dict[str, Any]]:
    """Read a schedule file: ``reports: [{name, langs, parameters, label}]`` with optional ``defaults``."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParameterError(f"schedule not found: {path}") from None
    except yaml.YAMLError as err:
        raise ParameterError(f"schedule {path} is not valid YAML: {err}") from None
    entries = spec.get("reports")
    if not isinstance(entries, list) or not entries:
        raise ParameterError(f"schedule {path}: expected a non-empty list under 'reports'")
    defaults = spec.get("defaults", {}) or {}
    jobs = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "name" not in e:
            raise ParameterError(f"schedule {path}: entry {i + 1} needs a 'name'")
        langs = e.get("langs", defaults.get("langs", ["zh", "en"]))
        for lang in langs if isinstance(langs, list) else [langs]:
            jobs.append({"name": e["name"], "lang": lang, "parameters": dict(e.get("parameters", {}) or {}),
                         "label": e.get("label")})
    return jobs


def _up_to_date(job: dict[str, Any], as_of: str, data_dir: str | Path, out_dir: str | Path,
                notebooks_dir: str | Path) -> ReportRun | None:
    """The last successful run of ``job`` if nothing it depends on changed since."""
    nb_path = Path(notebooks_dir) / f"{job['name']}.ipynb"
    for r in reversed(load_runs(out_dir)):
        if (r["name"], r["lang"], r["as_of"], r.get("label")) != (job["name"], job["lang"], as_of, job.get("label")):
            continue
        if r["status"] != "ok" or not r.get("html_path") or not Path(r["html_path"]).exists():
            return None
        params = {k: v for k, v in r["parameters"].items() if k not in STANDARD_PARAMETERS}
        if params != {k: v for k, v in job["parameters"].items()}:
            return None
        finished = dt.datetime.fromisoformat(r["finished"]).timestamp()
        inputs = [nb_path, *Path(data_dir).glob("*")]
        if any(p.stat().st_mtime > finished for p in inputs if p.exists()):
            return None
        return ReportRun(**r)
    return None


def run_schedule(path: str | Path, data_dir: str | Path = "data/demo", as_of: str | None = None,
                 out_dir: str | Path = "reports", notebooks_dir: str | Path = "notebooks",
                 progress: bool = True, skip_up_to_date: bool = False) -> list[ReportRun]:
    """Run every report of a schedule; a failure does not stop the batch.

    With ``skip_up_to_date``, a report whose last successful run used the same as-of date
    and parameters, and whose notebook and data have not changed since, is not run again.
    """
    jobs = load_schedule(path)
    if as_of is None:
        as_of = default_as_of(data_dir)
    runs = []
    iterator = jobs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(jobs, desc="reports", unit="report", disable=None)
    for job in iterator:
        done = _up_to_date(job, str(as_of), data_dir, out_dir, notebooks_dir) if skip_up_to_date else None
        if done is not None:
            runs.append(done)
            continue
        try:
            run = run_report(job["name"], job["parameters"], lang=job["lang"], as_of=as_of, data_dir=data_dir,
                             out_dir=out_dir, notebooks_dir=notebooks_dir, label=job.get("label"))
        except (ParameterError, ReportError) as err:
            run = ReportRun(job["name"], job["lang"], str(as_of), status="failed", error=str(err),
                            started=_now(), finished=_now(), label=job.get("label"))
            record_run(run, out_dir)
        runs.append(run)
    return runs


def clean_outputs(notebook: str | Path) -> None:
    """Strip outputs and execution counts from a notebook (notebooks are committed clean)."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nbformat.write(nb, str(notebook))


__all__ = ["run_report", "run_schedule", "check_parameters", "notebook_parameters", "ReportRun", "write_index",
           "load_schedule", "ensure_kernel", "render_html", "default_as_of", "clean_outputs"]
