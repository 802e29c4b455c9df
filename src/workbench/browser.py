"""Re-export: the headless-Chromium check of rendered reports lives in :mod:`workbench.reports.browser`.

``python -m workbench.browser --reports reports`` (``make check-reports``) still works.
"""
from __future__ import annotations

from .reports.browser import CHROMIUM_ARGS, MIN_CHART_TEXT_PX, PageCheck, check_pages, find_chromium, main

__all__ = ["CHROMIUM_ARGS", "MIN_CHART_TEXT_PX", "PageCheck", "check_pages", "find_chromium", "main"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
