"""Figures drawn for the width they are shown at: the desktop rendering and a phone rendering.

Every matplotlib figure a report shows goes through :func:`figure_html` (registered with
IPython by :func:`workbench.plotting.set_theme`): it is rendered as drawn and again at phone
width with panels stacked, long labels wrapped and text kept legible, and the page picks one by
screen width. Each image records its smallest font and width, which the browser check reads.
"""
from __future__ import annotations

import re
from typing import Any

import matplotlib

# ---------------------------------------------------------------------- figures on the page
# A figure drawn 8 in wide and squeezed onto a 390 px phone shows 10 pt text at ~5 CSS px. Each
# figure is therefore rendered twice: as drawn (desktop) and NARROW_INCHES wide (phones, shown
# below NARROW_BELOW_PX by the stylesheet), with side-by-side panels stacked and no text under
# NARROW_MIN_PT. Each <img> records its smallest font and its width in points
# (data-wb-font-pt, data-wb-width-pt), so a browser measures the text size a reader sees.
NARROW_INCHES = 4.0
NARROW_MIN_PT = 10.0
NARROW_BELOW_PX = 760
PHONE_WIDTH_PX = 360  # a figure's width on a 390 px phone (page and output-area padding)
PHONE_TEXT_PX = 11.5  # the smallest chart text aimed for there; the browser check fails under 11


def _png(fig: Any, dpi: float) -> tuple[bytes, int]:
    """The figure as PNG (tight bounding box, as Jupyter shows it) and its width in pixels."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    data = buf.getvalue()
    return data, int.from_bytes(data[16:20], "big")  # IHDR width


def _texts(fig: Any) -> list[Any]:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _img(data: bytes, width_px: int, dpi: float, font_pt: float, kind: str) -> str:
    import base64

    width_pt = width_px / dpi * 72
    src = base64.b64encode(data).decode("ascii")
    return (f'<img class="wb-fig-{kind}" src="data:image/png;base64,{src}" alt="" '
            f'data-wb-font-pt="{font_pt:.2f}" data-wb-width-pt="{width_pt:.1f}">')


def _stack_panels(fig: Any) -> list[tuple[Any, Any]] | None:
    """Re-stack a one-row grid of panels into one column; the old specs, or None when not such a grid."""
    from matplotlib.gridspec import GridSpec

    specs = [ax.get_subplotspec() for ax in fig.axes]
    if len(specs) < 2 or any(s is None for s in specs):
        return None
    grid = specs[0].get_gridspec()
    if any(s.get_gridspec() is not grid for s in specs) or grid.nrows != 1 or grid.ncols != len(specs):
        return None
    column = GridSpec(len(specs), 1, figure=fig)
    for i, ax in enumerate(fig.axes):
        ax.set_subplotspec(column[i])
    return list(zip(fig.axes, specs, strict=True))


_WRAP_TOKENS = re.compile(r"[\u2e80-\uffff]|[^\s\u2e80-\uffff]+|\s+")


def _wrap(text: str, width_em: float) -> str:
    """Break text into lines of about ``width_em``: between CJK characters or at spaces.

    CJK characters count 1 em, others 0.55; a single word longer than a line stays whole.

    >>> print(_wrap("Chats in the first 30 days 新增好友人次", 8))
    Chats in the
    first 30 days
    新增好友人次
    """
    lines, line, used = [], "", 0.0
    for token in _WRAP_TOKENS.findall(str(text)):
        w = sum(1.0 if ord(ch) > 0x2E80 else 0.55 for ch in token)
        if used + w > width_em and line.strip() and not token.isspace():
            lines.append(line.rstrip())
            line, used = token, w
        elif not (token.isspace() and not line):
            line, used = line + token, used + w
    return "\n".join([*lines, line.rstrip()])


def _wrap_tick_labels(fig: Any, width_in: float) -> tuple[list[tuple[Any, Any]], float]:
    """Wrap y tick labels wider than 45% of the figure.

    Returns the (axis, old formatter) pairs to restore and the height in inches the wrapped
    labels need (0 when none were wrapped).
    """
    from matplotlib.ticker import FuncFormatter

    changed, need = [], 0.0
    for ax in fig.axes:
        labels = [t for t in ax.get_yticklabels() if t.get_text()]
        if not labels:
            continue
        size = max(t.get_fontsize() for t in labels)
        em = width_in * 72 * 0.45 / size
        if max(sum(1.0 if ord(ch) > 0x2E80 else 0.55 for ch in t.get_text()) for t in labels) <= em:
            continue
        old = ax.yaxis.get_major_formatter()
        changed.append((ax.yaxis, old))
        lines = max(_wrap(t.get_text(), em).count("\n") + 1 for t in labels)
        need += len(labels) * (lines + 0.6) * size * 1.25 / 72 + 1.2  # rows of wrapped labels + title and axis
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, pos, f=old, e=em: _wrap(f(v, pos), e)))
    return changed, need


def _thin_tick_labels(fig: Any) -> list[Any]:
    """Hide every other x tick label (then every third…) while neighbours overlap; the hidden labels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden: list[Any] = []
    for ax in fig.axes:
        labels = [t for t in [*ax.get_xticklabels(), *ax.get_xticklabels(minor=True)]
                  if t.get_visible() and t.get_text().strip()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        order = sorted(range(len(labels)), key=lambda i: boxes[i].x0)  # minor and major labels interleave
        labels, boxes = [labels[i] for i in order], [boxes[i] for i in order]
        for step in range(1, max(len(labels), 1)):
            kept = boxes[::step]
            if all(a.x1 + 2 <= b.x0 for a, b in zip(kept, kept[1:], strict=False)):
                break
        else:
            step = 1
        for i, t in enumerate(labels):
            if i % step:
                t.set_visible(False)
                hidden.append(t)
    return hidden


def narrow_png(fig: Any, dpi: float, width_in: float = NARROW_INCHES) -> tuple[bytes, int, float]:
    """Render ``fig`` ``width_in`` wide for phones; the figure is left as it was.

    Returns the PNG, its width in pixels and its smallest font size in points.
    """
    import warnings

    size = fig.get_size_inches().copy()
    pars = {k: getattr(fig.subplotpars, k) for k in ("left", "right", "bottom", "top", "wspace", "hspace")}
    stacked = _stack_panels(fig)
    formatters: list[tuple[Any, Any]] = []
    rows = len(fig.axes) if stacked else 1
    texts = _texts(fig)
    fonts = [(t, t.get_fontsize(), t.get_text()) for t in texts]
    legends = [leg for leg in [*(ax.get_legend() for ax in fig.axes), *fig.legends] if leg is not None]
    frames = [(leg, leg.get_frame_on(), leg.get_frame().get_alpha()) for leg in legends]
    # a stacked panel keeps about its old shape; a single panel gets a little flatter than half-size
    panel_h = min(size[1], size[0] / rows) * 0.8 + 0.3 if stacked else size[1] * 0.8
    try:
        fig.set_size_inches(width_in, max(2.4, panel_h * rows))
        for t, pt, _ in fonts:
            t.set_fontsize(max(pt, NARROW_MIN_PT))
        for leg in legends:  # a legend over the lines of a small plot needs a backdrop to stay legible
            leg.set_frame_on(True)
            leg.get_frame().set_alpha(0.85)
        for ax in fig.axes:  # titles break into lines instead of widening the image
            title = ax.title
            if title.get_text():
                em = width_in * 72 / max(title.get_fontsize(), 1) * 0.95
                title.set_text(_wrap(title.get_text(), em))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tight_layout cannot always fit; the bbox still does
            if fig.get_layout_engine() is None or type(fig.get_layout_engine()).__name__ == "PlaceHolderLayoutEngine":
                fig.tight_layout()  # (a notebook's own tight_layout() leaves a place-holder engine behind)
        formatters, need_h = _wrap_tick_labels(fig, width_in)
        if need_h > fig.get_size_inches()[1]:
            fig.set_size_inches(width_in, need_h)
        hidden = _thin_tick_labels(fig)
        data, width_px = _png(fig, dpi)
        for label in hidden:
            label.set_visible(True)
        smallest = min((t.get_fontsize() for t in _texts(fig)), default=NARROW_MIN_PT)
    finally:
        for t, pt, text in fonts:
            t.set_fontsize(pt)
            t.set_text(text)
        for axis, formatter in formatters:
            axis.set_major_formatter(formatter)
        for leg, on, alpha in frames:
            leg.set_frame_on(on)
            leg.get_frame().set_alpha(alpha)
        for ax, spec in stacked or []:
            ax.set_subplotspec(spec)
        fig.set_size_inches(size)
        fig.subplots_adjust(**pars)
    return data, width_px, smallest


def phone_png(fig: Any, dpi: float) -> tuple[bytes, int, float]:
    """:func:`narrow_png`, narrowed until its smallest text shows at :data:`PHONE_TEXT_PX` or more.

    Long tick labels or a legend outside the axes widen the tight bounding box beyond the
    figure; each retry takes that excess off the figure width (at most 3 retries, not under 2.5 in).
    """
    width_in = NARROW_INCHES
    for _ in range(4):
        data, width_px, smallest = narrow_png(fig, dpi, width_in)
        width_pt = width_px / dpi * 72
        allowed_pt = smallest * PHONE_WIDTH_PX / PHONE_TEXT_PX  # widest image keeping the text large enough
        if width_pt <= allowed_pt or width_in <= 2.5:
            break
        width_in = max(2.5, width_in - (width_pt - allowed_pt) / 72 - 0.05)
    return data, width_px, smallest


def figure_html(fig: Any) -> str:
    """A figure as HTML: the desktop rendering and the phone rendering, each with its text size recorded.

    ``set_theme`` registers this as the notebook's HTML form of every matplotlib figure, so
    ``plt.show()`` in a report notebook puts both renderings on the page.
    """
    dpi = float(matplotlib.rcParams["savefig.dpi"]) if matplotlib.rcParams["savefig.dpi"] != "figure" \
        else float(fig.dpi)
    wide, wide_px = _png(fig, dpi)
    wide_pt = min((t.get_fontsize() for t in _texts(fig)), default=10.0)
    if fig.get_size_inches()[0] <= NARROW_INCHES:
        return f'<div class="wb-figure">{_img(wide, wide_px, dpi, wide_pt, "one")}</div>'
    narrow, narrow_px, narrow_pt = phone_png(fig, dpi)
    return (f'<div class="wb-figure">{_img(wide, wide_px, dpi, wide_pt, "wide")}'
            f'{_img(narrow, narrow_px, dpi, narrow_pt, "narrow")}</div>')


def _register_figure_html() -> None:
    """Let IPython show matplotlib figures through :func:`figure_html` (no-op outside IPython)."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython
    from matplotlib.figure import Figure

    shell = get_ipython()
    if shell is not None:
        # the mime-bundle formatter, not the text/html one: matplotlib-inline drops every Figure
        # entry of the per-mime formatters when pyplot's backend loads (often after set_theme)
        shell.display_formatter.mimebundle_formatter.for_type(Figure, lambda fig: {"text/html": figure_html(fig)})
