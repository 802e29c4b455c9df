"""Rendering: an executed notebook to HTML without code (headings, template), the failure page."""
from __future__ import annotations

import datetime as dt
import html
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..i18n import has_key, t

TEMPLATES = Path(__file__).parent.parent / "templates"  # workbench/templates, beside this package
TEMPLATE_NAME = "report"


@lru_cache(maxsize=1)
def report_css() -> str:
    """The workbench stylesheet shared by reports, failure pages and the index."""
    return (TEMPLATES / TEMPLATE_NAME / "static" / "workbench.css").read_text(encoding="utf-8")


_HEADING = re.compile(r"<h([23])\b[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.S)


def _headings(nb: Any) -> list[dict[str, Any]]:
    """Level-2 and level-3 headings of markdown cells and markdown/HTML outputs, in order.

    Markdown goes through nbconvert's own renderer, so the ids are the ones the page gets.
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    chunks: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            chunks.append(markdown2html_mistune(cell.source))
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "text/markdown" in data:
                    chunks.append(markdown2html_mistune(_text(data["text/markdown"])))
                elif "text/html" in data:
                    chunks.append(_text(data["text/html"]))
    toc = []
    for chunk in chunks:
        for level, ident, inner in _HEADING.findall(chunk):
            inner = re.sub(r"<a[^>]*class=\"anchor-link\"[^>]*>.*?</a>", "", inner, flags=re.S)
            text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
            if text:
                toc.append({"level": int(level), "id": html.unescape(ident), "text": text})
    return toc


NOTES_TAG = "notes"


def without_notes(nb: Any) -> Any:
    """The notebook without its cells tagged ``notes``.

    A report notebook explains each section to the analyst in English Markdown cells tagged
    ``notes`` (what the section shows, which package function computes it); the published page
    is in the reader's language and carries none of them.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("for the analyst",
    ...     metadata={"tags": ["notes"]}), nbformat.v4.new_code_cell("1 + 1")])
    >>> [c.cell_type for c in without_notes(nb).cells]
    ['code']
    """
    nb.cells = [c for c in nb.cells if NOTES_TAG not in c.get("metadata", {}).get("tags", [])]
    return nb


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _html_lang(lang: str) -> str:
    return "zh-CN" if lang == "zh" else "en"


def render_html(executed: str | Path, name: str, lang: str, as_of: str, parameters: dict[str, Any],
                store: tuple[str | None, str | None] = (None, None)) -> str:
    """Render an executed notebook to one self-contained HTML page with no code.

    Uses the ``report`` template (extends JupyterLab's): a header for the reader (title from
    the catalogue, data as-of, for whom: :func:`audience`), a table of contents of the
    level-2/3 headings, figures inline as base64, a closing technical appendix (``parameters``,
    generation time, package version), and no script or stylesheet fetched from anywhere.
    Cells tagged ``notes`` (the analyst's English notes) are left out (:func:`without_notes`).
    Output streams written to stderr (warnings, logs) are dropped: they are for the
    operator, who has the executed notebook. ``store`` is the store's ``(name, region)`` of a
    store page: the page is titled with the store's name and says whom it is for by name.
    """
    import nbformat
    from nbconvert import HTMLExporter

    from .. import __version__

    nb = without_notes(nbformat.read(str(executed), as_version=4))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    title = t(f"{name}.title", lang)
    store_name, region = store
    if store_name:  # a store manager's page carries the store's name, not its code
        title = f"{store_name} · {title}"
    nb.metadata["title"] = f"{title} · {as_of}"
    exporter = HTMLExporter(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_output_stdin = True
    exporter.embed_images = True  # markdown images too: the page is one file
    exporter.language_code = lang
    keys = ("data_as_of", "generated", "version", "parameters", "contents", "run_details")
    labels = {k: label(k, lang) for k in keys}
    resources = {"workbench": {
        "title": title, "as_of": as_of, "generated": f"{dt.datetime.now():%Y-%m-%d %H:%M}",
        "audience": audience(parameters, lang, " · ".join(v for v in store if v) or None),
        "version": __version__, "parameters": {str(k): _show(v) for k, v in parameters.items()},
        "labels": labels, "toc": _headings(nb), "css": report_css(), "footer": t("report.no_pii", lang),
    }}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    # nbconvert knows ISO 639-1 codes only; browsers pick CJK glyph forms from the region
    return re.sub(r'<html lang="[^"]*">', f'<html lang="{_html_lang(lang)}">', body, count=1)


# Page labels the catalogue may not have yet: the page still renders, in the reader's language.
_FALLBACK_LABELS = {"appendix": {"en": "Technical appendix", "zh": "技术附录"},
                    "run_details": {"en": "Run details", "zh": "运行信息"}}


def label(key: str, lang: str) -> str:
    """The catalogue's ``report.<key>`` in ``lang`` (a built-in text for a key it does not have yet).

    >>> label("data_as_of", "en")
    'Data as of'
    """
    if has_key(f"report.{key}") or key not in _FALLBACK_LABELS:
        return t(f"report.{key}", lang)
    table = _FALLBACK_LABELS[key]
    return table.get(lang, table["en"])


def audience(parameters: dict[str, Any], lang: str, store_label: str | None = None) -> str | None:
    """Whom the page is for, from its parameters: one store's view, the HQ view, or None (not a store report).

    ``store_label`` (the store's name and region) replaces the store's code when given.

    >>> audience({"store_id": ""}, "en"), audience({"store_id": "S1"}, "en"), audience({}, "en")
    ('HQ view: all stores', 'Store view: S1', None)
    >>> audience({"store_id": "S1"}, "zh", "南京三店 · 华东")
    '门店视角：南京三店 · 华东'
    """
    if "store_id" not in parameters or not has_key("ops.view_hq"):
        return None
    store = parameters.get("store_id")
    if store in (None, ""):
        return t("ops.view_hq", lang)
    return t("ops.view_store", lang, store=store_label or str(store))


def _show(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "''" if value == "" else str(value)


def html_page(title: str, lang: str, body: str) -> str:
    """A complete HTML page with the report style around ``body``."""
    return (f'<!DOCTYPE html>\n<html lang="{_html_lang(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{report_css()}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def failure_page(name: str, lang: str, as_of: str, parameters: dict[str, Any], err: BaseException,
                 executed: Path | None = None, notebook_shown_as: str | None = None) -> str:
    """A visible page for a failed run: which report, the error's first line and the failing cell.

    It holds no outputs of the notebook, so no customer data; the full traceback is in
    the executed notebook, kept outside the published folder: ``notebook_shown_as`` is its
    path relative to the reports folder, shown for the operator. Every value is escaped.
    """
    from .. import __version__

    cell = _failing_cell(executed)
    title = t(f"{name}.title", lang) if has_key(f"{name}.title") else name
    params = " ".join(f"<code>{html.escape(str(k))}={html.escape(_show(v))}</code>" for k, v in parameters.items())
    heading = html.escape(label("run_details", lang))
    appendix = (f'<section class="wb-appendix"><h2 class="wb-appendix-title">{heading}</h2>'
                f'<dl><dt>{html.escape(t("report.parameters", lang))}</dt><dd>{params or "–"}</dd>'
                f'<dt>{html.escape(t("report.generated", lang))}</dt><dd>{dt.datetime.now():%Y-%m-%d %H:%M}</dd>'
                f'<dt>{html.escape(t("report.version", lang))}</dt><dd>{html.escape(__version__)}</dd></dl></section>')
    body = (f'<header class="wb-header"><h1>{html.escape(title)}</h1><div class="wb-meta">'
            f'<span>{t("report.data_as_of", lang)}: <strong>{html.escape(as_of)}</strong></span></div></header>'
            f'<div class="wb-callout wb-danger">{t("report.failed_title", lang)}</div>'
            f'<p>{t("report.failed_body", lang)}</p>'
            f'<h2>{t("report.failed_error", lang)}</h2><pre>{html.escape(error_summary(err))}</pre>')
    if cell:
        body += f'<h2>{t("report.failed_cell", lang)}</h2><pre>{html.escape(cell)}</pre>'
    if notebook_shown_as:
        body += f'<p class="wb-note">{html.escape(t("report.failed_notebook", lang, path=notebook_shown_as))}</p>'
    body += appendix
    return html_page(f"{title} · {t('report.failed_title', lang)}", lang, body)


def _failing_cell(executed: Path | None) -> str:
    """Source of the first code cell with an error output ('' when unknown)."""
    if executed is None or not Path(executed).exists():
        return ""
    import nbformat

    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:  # a half-written notebook: the error line is enough
        return ""
    for c in nb.cells:
        if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            return c.source
    return ""


def error_summary(err: BaseException) -> str:
    """``ExceptionName: first line of the message`` — no data rows, no traceback.

    A :class:`~workbench.errors.DataContractError` lists offending rows after its first
    line; those stay in the operator's executed notebook and never reach a page.
    """
    ename = getattr(err, "ename", None) or type(err).__name__
    evalue = getattr(err, "evalue", None)
    evalue = str(err) if evalue is None else str(evalue)
    first = evalue.strip().splitlines()[0] if evalue.strip() else ""
    return f"{ename}: {first}"[:500] if first else ename
