"""Open rendered reports in a real browser (headless Chromium) and check what a reader sees.

For every HTML report: no console errors, no failed requests (reports are self-contained),
no horizontal overflow at phone width (390 px), and a full-page screenshot saved for
review. Used by ``make check-reports`` and the test suite; needs the ``playwright`` Python
package (driver only) and a Chromium binary (Debian's ``chromium`` package).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    path: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    scroll_width: int = 0
    viewport_width: int = 0
    screenshot: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the page loaded clean: no console errors, no failed requests, no horizontal scroll."""
        return not self.console_errors and not self.failed_requests and self.scroll_width <= self.viewport_width


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_pages(pages: list[Path], screens_dir: Path | None = None, width: int = 390, height: int = 844,
                chromium: str | None = None) -> list[PageCheck]:
    """Load each page at ``width`` × ``height`` and record errors, failed requests and overflow."""
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
                res.scroll_width, res.viewport_width = page.evaluate(
                    "() => [document.documentElement.scrollWidth, window.innerWidth]")
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
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.path} errors={len(r.console_errors)} "
              f"requests={len(r.failed_requests)} width={r.scroll_width}/{r.viewport_width}")
    bad = [r for r in results if not r.ok]
    print(f"{len(results) - len(bad)} ok, {len(bad)} failed; screenshots in {root / '_screens'}")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
