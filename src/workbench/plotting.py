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


def styled_table(df: pd.DataFrame, formats: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 index: bool = False) -> Any:
    """A pandas Styler with the workbench formats: ``formats`` maps column → int/cny/pct/float.

    ``headers`` renames columns for display (translated headers). Numbers are right-aligned,
    text left-aligned, and the table scrolls horizontally on a narrow screen. Every cell,
    header and index label is HTML-escaped: values come from brand data and parameters.

    Examples
    --------
    >>> html = styled_table(pd.DataFrame({"store": ["<b>S1</b>"], "gmv": [1234.5]}), {"gmv": "cny"}).to_html()
    >>> "&lt;b&gt;S1&lt;/b&gt;" in html and "<b>S1" not in html and "¥1,234" in html
    True
    """
    formats = dict(formats or {})
    shown = df.rename(columns=dict(headers or {}))
    fmt = {(headers or {}).get(c, c): FORMATS[f] for c, f in formats.items() if c in df.columns}
    styler = shown.style.format(na_rep="–", escape="html")
    styler = styler.format(fmt, na_rep="–", escape="html") if fmt else styler
    styler = styler.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    text_cols = [c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])]
    if text_cols:
        styler = styler.set_properties(subset=text_cols, **{"text-align": "left"})
    if not index:
        styler = styler.hide(axis="index")
    return styler.set_table_attributes('class="wb-table"').set_table_styles([
        {"selector": "th", "props": "text-align: left; padding: 4px 8px; background: #f2f4f7;"},
        {"selector": "td", "props": "padding: 4px 8px; text-align: right;"},
    ])


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
