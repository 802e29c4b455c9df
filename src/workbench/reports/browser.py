"""Open rendered reports in a real browser (headless Chromium) and check what a reader sees.

For every HTML report, at phone width (390 px): no console errors, no failed requests
(reports are self-contained), no horizontal overflow of the page, and what issue #17 found
on phones:

- **chart text** at least :data:`MIN_CHART_TEXT_PX` CSS px: the smallest ``<text>`` of an
  inline SVG (font size × the SVG's scale), or for a raster figure its smallest font
  (``data-wb-font-pt``, written by :func:`workbench.plotting.figure_html`) × displayed width /
  drawn width (``data-wb-width-pt``). Images without those attributes are counted as
  unmeasured, not failed;
- **no one-character-per-line cells**: a table cell narrower than 1.5 em whose text (over 2
  characters) runs over more than 2 lines;
- **no table overflowing without a cue**: a table wider than its box must sit in a box that
  scrolls sideways and shows a cue (a gradient shadow on the box, or a visible
  ``.wb-scroll-hint``).

A full-page screenshot of each page is saved for review. Used by ``make check-reports`` and
the test suite; needs the ``playwright`` Python package (driver only) and a Chromium binary
(Debian's ``chromium`` package).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MIN_CHART_TEXT_PX = 11.0

# Runs in the page; returns plain data. Descriptions name the element and its nearest heading.
_LAYOUT = """(minPx) => {
  const shown = el => {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.display !== 'none' && cs.visibility !== 'hidden';
  };
  const where = el => {
    let node = el, text = '';
    while (node && !text) {
      let prev = node.previousElementSibling;
      while (prev && !text) {
        const h = prev.matches('h1,h2,h3') ? prev : prev.querySelector('h1,h2,h3');
        if (h) text = h.textContent.replace(/\\u00b6/g, '').trim();
        prev = prev.previousElementSibling;
      }
      node = node.parentElement;
    }
    return text ? ' under "' + text.slice(0, 40) + '"' : '';
  };
  const out = {chart_px: [], small_charts: [], one_char_cells: [], unscrolled_tables: [], unmeasured_images: 0};
  let k = 0;
  for (const el of document.querySelectorAll('[data-wb-font-pt][data-wb-width-pt]')) {
    if (!shown(el)) continue;
    k += 1;
    const px = parseFloat(el.dataset.wbFontPt) * el.getBoundingClientRect().width / parseFloat(el.dataset.wbWidthPt);
    out.chart_px.push(px);
    if (px < minPx) out.small_charts.push('figure ' + k + where(el) + ': ' + px.toFixed(1) + ' px');
  }
  for (const svg of document.querySelectorAll('svg')) {
    if (!shown(svg)) continue;
    let smallest = Infinity;
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim()) continue;
      const m = t.getScreenCTM();
      const scale = m ? Math.hypot(m.a, m.b) : 1;
      smallest = Math.min(smallest, parseFloat(getComputedStyle(t).fontSize) * scale);
    }
    if (smallest === Infinity) continue;
    k += 1;
    out.chart_px.push(smallest);
    if (smallest < minPx) out.small_charts.push('svg ' + k + where(svg) + ': ' + smallest.toFixed(1) + ' px');
  }
  for (const img of document.querySelectorAll('img:not([data-wb-font-pt])')) {
    if (shown(img) && img.getBoundingClientRect().width > 120) out.unmeasured_images += 1;
  }
  for (const cell of document.querySelectorAll('td, th')) {
    const text = cell.textContent.trim();
    if ([...text].length <= 2 || !shown(cell)) continue;
    const cs = getComputedStyle(cell), fs = parseFloat(cs.fontSize);
    const inner = cell.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const range = document.createRange();
    range.selectNodeContents(cell);
    const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
    if (inner < 1.5 * fs && lines > 2) {
      out.one_char_cells.push('"' + text.slice(0, 20) + '"' + where(cell.closest('table') || cell) + ': ' +
                              Math.round(inner) + ' px wide, ' + lines + ' lines');
    }
  }
  let n = 0;
  for (const table of document.querySelectorAll('table')) {
    if (!shown(table)) continue;
    n += 1;
    let box = table.parentElement, scroller = null;
    while (box && box !== document.body && box !== document.documentElement) {
      if (getComputedStyle(box).overflowX !== 'visible') { scroller = box; break; }
      box = box.parentElement;
    }
    const width = table.getBoundingClientRect().width;
    const room = scroller ? scroller.clientWidth : document.documentElement.clientWidth;
    if (width <= room + 1) continue;
    const ox = scroller ? getComputedStyle(scroller).overflowX : 'visible';
    const scrolls = ox === 'auto' || ox === 'scroll';
    const container = table.closest('.wb-table-box');
    const hint = container && container.querySelector('.wb-scroll-hint');
    const cue = scrolls && (getComputedStyle(scroller).backgroundImage.includes('gradient') || (hint && shown(hint)));
    if (!cue) {
      out.unscrolled_tables.push('table ' + n + where(table) + ': ' + Math.round(width) + ' px in ' + room +
                                 ' px, ' + (scrolls ? 'scrolls with no cue' : 'no scroll box'));
    }
  }
  return out;
}"""


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    path: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    scroll_width: int = 0
    viewport_width: int = 0
    screenshot: str | None = None
    smallest_chart_text_px: float | None = None  # None: no measured chart on the page
    small_charts: list[str] = field(default_factory=list)
    one_char_cells: list[str] = field(default_factory=list)
    unscrolled_tables: list[str] = field(default_factory=list)
    unmeasured_images: int = 0

    @property
    def ok(self) -> bool:
        """Whether the page passes: loads clean, no page overflow, readable charts and tables."""
        return (not self.console_errors and not self.failed_requests and self.scroll_width <= self.viewport_width
                and not self.small_charts and not self.one_char_cells and not self.unscrolled_tables)

    def problems(self) -> list[str]:
        """One line per failed rule (empty when :attr:`ok`)."""
        out = [f"console error: {e}" for e in self.console_errors]
        out += [f"request left the page: {u}" for u in self.failed_requests]
        if self.scroll_width > self.viewport_width:
            out.append(f"page overflows: {self.scroll_width} px wide at {self.viewport_width} px")
        out += [f"chart text under {MIN_CHART_TEXT_PX:g} px: {s}" for s in self.small_charts]
        out += [f"one character per line: {s}" for s in self.one_char_cells]
        out += [f"table overflows without a scroll cue: {s}" for s in self.unscrolled_tables]
        return out


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _measure(page: Any, res: PageCheck) -> None:
    res.scroll_width, res.viewport_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")
    found = page.evaluate(_LAYOUT, MIN_CHART_TEXT_PX)
    res.smallest_chart_text_px = round(min(found["chart_px"]), 2) if found["chart_px"] else None
    res.small_charts = found["small_charts"]
    res.one_char_cells = found["one_char_cells"]
    res.unscrolled_tables = found["unscrolled_tables"]
    res.unmeasured_images = int(found["unmeasured_images"])


def check_pages(pages: list[Path], screens_dir: Path | None = None, width: int = 390, height: int = 844,
                chromium: str | None = None) -> list[PageCheck]:
    """Load each page at ``width`` × ``height``; record errors, requests, overflow, chart text and tables."""
    from playwright.sync_api import sync_playwright

    binary = chromium or find_chromium()
    if binary is None:
        raise RuntimeError("no Chromium binary found (install Debian's chromium package)")
    if screens_dir is not None:
        screens_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        try:
            for path in pages:
                res = PageCheck(str(path))
                page = browser.new_page(viewport={"width": width, "height": height})
                page.on("console", lambda m, r=res: r.console_errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, r=res: r.console_errors.append(str(e)))
                page.on("requestfailed", lambda q, r=res: r.failed_requests.append(q.url))
                page.on("request", lambda q, r=res: r.failed_requests.append(q.url)
                        if not q.url.startswith(("file:", "data:", "about:")) else None)
                page.goto(path.resolve().as_uri())
                page.wait_for_load_state("load")
                _measure(page, res)
                if screens_dir is not None:
                    shot = screens_dir / f"{path.parent.name}_{path.stem}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    res.screenshot = str(shot)
                page.close()
                results.append(res)
        finally:
            browser.close()
    return results


def main() -> int:  # pragma: no cover - exercised through make check-reports
    """Command line of the Chromium check; the exit status."""
    import argparse

    parser = argparse.ArgumentParser(description="Check rendered reports in headless Chromium")
    parser.add_argument("--reports", default="reports")
    args = parser.parse_args()
    root = Path(args.reports)
    pages = sorted(p for p in root.glob("*/*.html")) + [root / "index.html"]
    pages = [p for p in pages if p.exists()]
    results = check_pages(pages, root / "_screens")
    for r in results:
        chart = "–" if r.smallest_chart_text_px is None else f"{r.smallest_chart_text_px:.1f}px"
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.path} errors={len(r.console_errors)} "
              f"requests={len(r.failed_requests)} width={r.scroll_width}/{r.viewport_width} "
              f"chart_text={chart} unmeasured_images={r.unmeasured_images}")
        for line in r.problems():
            print(f"     {line}")
    bad = [r for r in results if not r.ok]
    print(f"{len(results) - len(bad)} ok, {len(bad)} failed; screenshots in {root / '_screens'}")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
