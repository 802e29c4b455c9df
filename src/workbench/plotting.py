"""One look for every report: seaborn theme, a CJK font, number formats and tables.

``set_theme()`` registers Noto Sans CJK SC (shipped by the ``mplfonts`` package from PyPI,
so no system font is needed) as the first sans-serif font, with DejaVu Sans behind it for
anything it lacks; Chinese and Latin text render in the same figure without missing-glyph
warnings.
"""
from __future__ import annotations

import html
import importlib.util
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from .errors import ParameterError
from .figures import (  # noqa: F401 - the figure helpers were first published here
    NARROW_BELOW_PX,
    NARROW_INCHES,
    NARROW_MIN_PT,
    PHONE_TEXT_PX,
    PHONE_WIDTH_PX,
    _register_figure_html,
    figure_html,
    narrow_png,
    phone_png,
)
from .masking import TOKEN_HEX_DIGITS

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"
CJK_FONT_NAME = "Noto Sans CJK SC"
PALETTE = ["#2F6B9A", "#E07B39", "#3A9D6E", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
ACCENT, MUTED, GOOD, BAD = PALETTE[0], "#8C8C8C", PALETTE[2], PALETTE[3]


def cjk_font_path() -> Path:
    """Path of the CJK font file shipped by ``mplfonts``."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the mplfonts package (CJK fonts) is not installed: pip install mplfonts")
    path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / CJK_FONT_FILE
    if not path.exists():
        raise RuntimeError(f"mplfonts does not ship {CJK_FONT_FILE}")
    return path


def set_theme(context: str = "notebook", dpi: int = 110) -> None:
    """Apply the workbench theme: seaborn whitegrid, the palette, CJK-capable fonts."""
    import seaborn as sns
    from matplotlib import font_manager

    path = str(cjk_font_path())
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):  # once per process
        font_manager.fontManager.addfont(path)
    sns.set_theme(context=context, style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update({
        "font.family": "sans-serif",
        "font.sans-serif": [CJK_FONT_NAME, "DejaVu Sans"],
        "axes.unicode_minus": False,
        "figure.dpi": dpi,
        "savefig.dpi": dpi,
        "figure.figsize": (8, 4.2),
        "axes.titlesize": 13,
        "axes.titleweight": "normal",  # the CJK font ships one weight; asking for bold only logs warnings
        "axes.labelsize": 11,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    _register_figure_html()


def ranking_bars(frame: pd.DataFrame, label: str, value: str, ax: Any = None, top: int | None = 15,
                 fmt: str = "int", title: str | None = None, xlabel: str | None = None,
                 color: str = ACCENT, max_label_chars: int = 14) -> Any:
    """A ranking as horizontal bars: largest on top, each bar labelled with its formatted value.

    Horizontal bars keep long labels (store names) readable on a phone, where vertical bars
    turn them sideways. ``fmt`` is a :data:`FORMATS` name for the value labels; labels longer
    than ``max_label_chars`` are shortened with '…'. Returns the Axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = ranking_bars(pd.DataFrame({"store": ["A", "B", "C"], "gmv": [5.0, 9.0, 1.0]}), "store", "gmv", fmt="cny")
    >>> [t.get_text() for t in ax.get_yticklabels()], [t.get_text() for t in ax.texts]
    (['C', 'A', 'B'], ['¥1', '¥5', '¥9'])
    >>> plt.close("all")
    """
    import matplotlib.pyplot as plt

    rows = frame[[label, value]].dropna(subset=[value]).sort_values(value, ascending=False)
    rows = rows.head(top) if top else rows
    rows = rows.iloc[::-1]  # barh draws bottom-up: the largest ends on top
    names = [str(v) if len(str(v)) <= max_label_chars else str(v)[:max_label_chars - 1] + "…" for v in rows[label]]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.8 + 0.38 * max(len(rows), 1)))
    y = np.arange(len(rows))
    values = rows[value].to_numpy(dtype=float)
    ax.barh(y, values, color=color, height=0.65)
    ax.set_yticks(y, names)
    ax.grid(axis="y", visible=False)
    span = float(np.nanmax(np.abs(values))) if len(values) else 1.0
    for yi, v in zip(y, values, strict=True):
        ax.text(v + span * 0.01, yi, FORMATS[fmt](v), va="center", ha="left" if v >= 0 else "right")
    ax.set_xlim(right=max(ax.get_xlim()[1], span * 1.18))
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    return ax


# ---------------------------------------------------------------------- number formats
def label_missing(series: pd.Series, label: str) -> pd.Series:
    """Replace missing category values (e.g. orders with no store) with a readable label."""
    return series.astype(object).where(series.notna(), label)


def format_int(x: Any) -> str:
    """Thousands separators: 12345 → '12,345'; NaN → '–'."""
    return "–" if _missing(x) else f"{float(x):,.0f}"


def format_float(x: Any, digits: int = 2) -> str:
    """A number with thousands separators and ``digits`` decimals (``–`` when missing)."""
    return "–" if _missing(x) else f"{float(x):,.{digits}f}"


def format_cny(x: Any, digits: int = 0) -> str:
    """Money in CNY: ¥12,345; large values compact: ¥1.23M."""
    if _missing(x):
        return "–"
    v = float(x)
    sign = "-" if v < 0 else ""
    if abs(v) >= 1e8:
        return f"{sign}¥{abs(v) / 1e6:,.1f}M"
    return f"{sign}¥{abs(v):,.{digits}f}"


def format_pct(x: Any, digits: int = 1, signed: bool = False) -> str:
    """A share as a percentage: 0.1234 → '12.3%' (``signed`` adds '+')."""
    if _missing(x):
        return "–"
    return f"{float(x) * 100:{'+' if signed else ''}.{digits}f}%"


def format_p(p: Any, floor: float = 1e-4) -> str:
    """A p-value written for prose.

    A p-value for prose: 'p = 0.032'; below ``floor`` 'p < 0.0001' (at millions of rows p
    underflows to 0, and digits beyond the floor say nothing); NaN → '–'.
    """
    if _missing(p):
        return "–"
    return f"p < {floor:g}" if float(p) < floor else f"p = {float(p):.2g}"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and np.isnan(x)) or x is pd.NA


FORMATS: dict[str, Callable[[Any], str]] = {"int": format_int, "cny": format_cny, "pct": format_pct,
                                            "float": format_float, "signed_pct": lambda x: format_pct(x, signed=True)}


# ---------------------------------------------------------------------- tables
# Alignment travels as cell classes, not as per-cell id rules: pandas writes ``#T_x td`` (one id,
# one element) for table-wide rules, which beats a per-cell ``#T_x_row0_col0`` rule (one id), so
# every label column used to come out right-aligned. ``#T_x td.wb-text`` (id, class, element)
# wins over ``#T_x td`` and over JupyterLab's ``.jp-RenderedHTMLCommon td``.
_TABLE_STYLES = [
    {"selector": "th", "props": "text-align: left; padding: 4px 8px; background: #f2f4f7;"},
    {"selector": "td", "props": "padding: 4px 8px;"},
    {"selector": "td.wb-num, th.wb-num", "props": "text-align: right; white-space: nowrap;"},
    {"selector": "td.wb-text", "props": "text-align: left; min-width: 5.5em;"},
]
RAW_ID_COLUMNS = re.compile(r"^(customer_id|external_userid|unionid|openid|phone.*)$", re.I)
_TOKEN = re.compile(rf"^[A-Za-z]{{0,8}}-?[0-9a-f]{{{TOKEN_HEX_DIGITS}}}$")
MAX_EXPORT_ROWS = 10_000
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class TableView(Styler):
    """A :class:`pandas.io.formats.style.Styler` whose HTML sits in the workbench table box.

    The box scrolls sideways on a narrow screen, keeps the first column in view, shows a
    scroll cue when the table is wider than the screen and, when ``export`` was given, the
    download links of the table as CSV and XLSX.
    """

    wb_export: str | None = None
    wb_frame: pd.DataFrame | None = None
    wb_index: bool = False
    wb_width: int = 0  # estimated unwrapped width in CSS px; 0: unknown

    def to_html(self, buf: Any = None, **kwargs: Any) -> str | None:  # noqa: D102 - Styler's, wrapped
        inner = super().to_html(**kwargs)
        links = table_downloads(self.wb_frame, self.wb_export, index=self.wb_index) \
            if self.wb_export is not None and self.wb_frame is not None else ""
        box = f"wb-box-{self.uuid}"
        # the text cue shows only on screens narrower than the table's estimated width (no script)
        hint = ""
        if self.wb_width:
            need = self.wb_width + 40
            hint = (f'<style>@media (min-width: {need}px) {{ #{box} .wb-scroll-hint {{ display: none; }} }}</style>'
                    '<div class="wb-scroll-hint" aria-hidden="true"></div>')
        out = f'<div class="wb-table-box" id="{box}">{links}{hint}<div class="wb-scroll">{inner}</div></div>'
        if buf is None:
            return out
        if hasattr(buf, "write"):
            buf.write(out)
        else:
            Path(buf).write_text(out, encoding="utf-8")
        return None


def _em(text: str) -> float:
    """Width of ``text`` in em: CJK characters 1, others about 0.6."""
    return sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in text)


def _natural_width_px(frame: pd.DataFrame, fmt: Mapping[Any, Callable[[Any], str]], index: bool = False,
                      px_per_em: float = 14.0) -> int:
    """A rough unwrapped width of the table as shown, in CSS px (cells 0.88 em of 16 px, 16 px padding)."""
    shown = frame.reset_index() if index else frame
    total = 0.0
    for col in shown.columns:
        show = fmt.get(col) or (lambda v: f"{v:.6f}" if isinstance(v, float) else str(v))  # Styler's default
        cells = shown[col].head(200).map(lambda v, f=show: "–" if _missing(v) else f(v))
        widest = max((_em(v) for v in cells), default=0.0)
        total += max(widest, min(_em(str(col)), 6.0)) * px_per_em + 16
    return int(total)


def styled_table(df: pd.DataFrame, formats: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 index: bool = False, export: str | None = None) -> TableView:
    """A pandas Styler with the workbench formats: ``formats`` maps column → int/cny/pct/float.

    ``headers`` renames columns for display (translated headers). Numbers are right-aligned,
    text left-aligned; the table scrolls sideways inside its box on a narrow screen with the
    first column kept in view. Every cell, header and index label is HTML-escaped: values come
    from brand data and parameters. ``export`` (a file name without extension) adds download
    links for the table as CSV and XLSX, embedded in the page (:func:`table_downloads`; raw
    customer-id columns are refused).

    Examples
    --------
    >>> html = styled_table(pd.DataFrame({"store": ["<b>S1</b>"], "gmv": [1234.5]}), {"gmv": "cny"}).to_html()
    >>> "&lt;b&gt;S1&lt;/b&gt;" in html and "<b>S1" not in html and "¥1,234" in html
    True
    >>> 'class="data row0 col0 wb-text"' in html and "wb-scroll" in html
    True
    """
    formats = dict(formats or {})
    shown = df.rename(columns=dict(headers or {}))
    if export is not None:
        check_exportable(df)
    fmt = {(headers or {}).get(c, c): FORMATS[f] for c, f in formats.items() if c in df.columns}
    styler = TableView(shown)
    styler.wb_export, styler.wb_frame, styler.wb_index = export, shown, index
    styler.wb_width = _natural_width_px(shown, fmt, index)
    styler = styler.format(na_rep="–", escape="html")
    styler = styler.format(fmt, na_rep="–", escape="html") if fmt else styler
    styler = styler.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    numeric = [pd.api.types.is_numeric_dtype(shown.iloc[:, i]) and not pd.api.types.is_bool_dtype(shown.iloc[:, i])
               for i in range(shown.shape[1])]
    classes = pd.DataFrame([["wb-num" if n else "wb-text" for n in numeric]] * len(shown),
                           index=shown.index, columns=shown.columns)
    styler = styler.set_td_classes(classes)
    heads = [{"selector": f"th.col_heading.col{i}", "props": "text-align: right;"} for i, n in enumerate(numeric) if n]
    if not index:
        styler = styler.hide(axis="index")
    return styler.set_table_attributes('class="wb-table"').set_table_styles(_TABLE_STYLES + heads)


def check_exportable(df: pd.DataFrame) -> None:
    """Refuse a table whose columns look like raw customer ids (``customer_id``, ``phone``…).

    A column with such a name passes only when every value is a masking token
    (:func:`workbench.masking.mask_tokens`) or missing.

    Examples
    --------
    >>> check_exportable(pd.DataFrame({"customer_id": ["C-" + "0" * 20]}))
    >>> check_exportable(pd.DataFrame({"customer_id": ["C00012"]}))
    Traceback (most recent call last):
    ...
    workbench.errors.ParameterError: column 'customer_id' holds raw customer ids (first: row 0); mask it ...
    """
    for col in df.columns:
        if not RAW_ID_COLUMNS.match(str(col)):
            continue
        values = df[col]
        bad = values.notna() & ~values.astype(str).str.match(_TOKEN)
        if bad.any():
            first = list(values.index[bad.to_numpy()][:3])
            raise ParameterError(f"column {str(col)!r} holds raw customer ids (first: row "
                                 f"{', '.join(map(str, first))}); mask it with workbench.masking.mask_tokens "
                                 f"before exporting it from a page")


def export_name(name: Any) -> str:
    """A safe download file name stem: path separators, reserved and control characters become ``_``.

    >>> export_name('../<门店>:"x"')
    '_门店_x_'
    """
    stem = re.sub(r'[\\/<>:"|?*\x00-\x1f\x7f]+', "_", str(name)).strip(" .")
    return (stem or "table")[:80]


def _spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) get a leading ``'``."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            risky = text.map(lambda v: isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"))
            out[col] = text.where(~risky, "'" + text.astype(str))
    return out


def table_bytes(frame: pd.DataFrame, index: bool = False) -> tuple[bytes, bytes]:
    """The table as CSV (UTF-8 with a byte-order mark, so Excel reads Chinese) and as XLSX bytes."""
    import io

    safe = _spreadsheet_safe(frame)
    csv = ("\ufeff" + safe.to_csv(index=index, lineterminator="\r\n")).encode("utf-8")
    buf = io.BytesIO()
    safe.to_excel(buf, index=index, engine="openpyxl", sheet_name="table")
    return csv, buf.getvalue()


def table_downloads(frame: pd.DataFrame, name: str, index: bool = False) -> str:
    """Download links (CSV and XLSX, as ``data:`` URIs) for ``frame``, to place beside its table.

    ``name`` is the file name without extension (made safe and escaped). Raw customer-id
    columns are refused (:func:`check_exportable`); tables over :data:`MAX_EXPORT_ROWS` rows too.

    Examples
    --------
    >>> links = table_downloads(pd.DataFrame({"门店": ["S1"], "gmv": [1.5]}), "gmv <by store>")
    >>> 'download="gmv _by store_.csv"' in links and 'download="gmv _by store_.xlsx"' in links
    True
    """
    import base64

    check_exportable(frame)
    if len(frame) > MAX_EXPORT_ROWS:
        raise ParameterError(f"a page embeds tables of at most {MAX_EXPORT_ROWS:,} rows for download, "
                             f"not {len(frame):,}: export a summary, or write the file next to the page")
    csv, xlsx = table_bytes(frame, index=index)
    stem = html.escape(export_name(name), quote=True)
    links = []
    for ext, mime, data in (("csv", "text/csv;charset=utf-8", csv), ("xlsx", XLSX_MIME, xlsx)):
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        links.append(f'<a class="wb-download wb-download-{ext}" download="{stem}.{ext}" href="{uri}">'
                     f"{ext.upper()}</a>")
    return f'<div class="wb-downloads">{"".join(links)}</div>'


# ---------------------------------------------------------------------- text on the page
# Report text is a catalogue sentence with values from data or parameters filled in. Nothing
# of it is trusted as markup: every output path escapes the whole text, then applies the few
# marks the catalogue uses (**bold**, `code`, "- " list items), so a value can never open a tag.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_markdown(text: Any) -> str:
    r"""Text safe to place in Markdown: HTML-escaped, Markdown punctuation backslash-escaped.

    >>> escape_markdown("<img src=x onerror=alert(1)> [a](javascript:x)")
    '&lt;img src=x onerror=alert\\(1\\)&gt; \\[a\\]\\(javascript:x\\)'
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def _marked(text: Any) -> str:
    """Escape ``text`` for HTML, then render the catalogue's marks: **bold**, `code`."""
    out = html.escape(str(text), quote=True)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _blocks(text: str) -> str:
    """Paragraphs (blank-line separated) and "- " bullet lists, each line escaped."""
    parts = []
    for block in re.split(r"\n\s*\n", str(text).strip()):
        lines = block.splitlines()
        if lines and all(line.lstrip().startswith("- ") for line in lines):
            items = "".join(f"<li>{_marked(line.lstrip()[2:])}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append(f"<p>{'<br>'.join(_marked(line) for line in lines)}</p>")
    return "".join(parts)


def heading(text: Any, level: int = 2) -> Any:
    """A section heading (Markdown, so the page's table of contents lists it); ``text`` is escaped.

    >>> heading("Stores <script>", 2).data
    '## Stores &lt;script&gt;'
    """
    from IPython.display import Markdown

    return Markdown("#" * int(level) + " " + escape_markdown(text))


def note(text: Any) -> Any:
    """A paragraph of report text as HTML.

    A paragraph of report text (replaces ``display(Markdown(...))``): escaped, then **bold**,
    `code` and "- " lists rendered.

    >>> note("**Tip**: see <b>x</b>").data
    '<div class="wb-note"><p><strong>Tip</strong>: see &lt;b&gt;x&lt;/b&gt;</p></div>'
    """
    from IPython.display import HTML

    return HTML(f'<div class="wb-note">{_blocks(text)}</div>')


def kpi_cards(cards: list[dict[str, Any]]) -> Any:
    """Headline KPI cards as HTML.

    Headline KPI cards as HTML: each card has ``label``, ``value`` (formatted), optionally
    ``change`` (a number) with ``change_text`` (its formatted form, default a signed percentage),
    ``lower_is_better`` and ``note``. Every text is escaped.

    >>> "&lt;i&gt;" in kpi_cards([{"label": "<i>x</i>", "value": "1"}]).data
    True
    """
    from IPython.display import HTML

    items = []
    for c in cards:
        change = c.get("change")
        if change is None or _missing(change):
            delta = ""
        else:
            good = change >= 0 if not c.get("lower_is_better") else change <= 0
            color = GOOD if good else BAD
            shown = c.get("change_text") or format_pct(change, signed=True)
            delta = f'<div class="wb-kpi-delta" style="color:{color}">{_marked(shown)}</div>'
        note_html = f'<div class="wb-kpi-note">{_marked(c["note"])}</div>' if c.get("note") else ""
        items.append(f'<div class="wb-kpi"><div class="wb-kpi-label">{_marked(c["label"])}</div>'
                     f'<div class="wb-kpi-value">{_marked(c["value"])}</div>{delta}{note_html}</div>')
    return HTML('<div class="wb-kpis">' + "".join(items) + "</div>")


_CALLOUT_KINDS = ("info", "warning", "danger", "success")


def callout(text: Any, kind: str = "info") -> Any:
    """A highlighted sentence as HTML.

    A highlighted sentence (``kind``: info, warning, danger, success) for findings and banners;
    ``text`` is escaped (then **bold** and `code` rendered).

    >>> callout("<img src=x onerror=alert(1)>").data
    '<div class="wb-callout wb-info"><p>&lt;img src=x onerror=alert(1)&gt;</p></div>'
    """
    from IPython.display import HTML

    if kind not in _CALLOUT_KINDS:
        raise ValueError(f"callout kind must be one of {', '.join(_CALLOUT_KINDS)}, not {kind!r}")
    return HTML(f'<div class="wb-callout wb-{kind}">{_blocks(text)}</div>')
