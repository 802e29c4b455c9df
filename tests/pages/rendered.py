"""Reading a rendered report as a reader sees it (shared by the report-truth tests)."""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any


def page_text(run_or_path: Any) -> str:
    """The visible text of a rendered page: scripts, styles and tags stripped, entities decoded,
    white space collapsed. Takes a ``ReportRun`` (which must have succeeded) or a path."""
    path = getattr(run_or_path, "html_path", run_or_path)
    if hasattr(run_or_path, "ok"):
        assert run_or_path.ok, run_or_path.error
    raw = Path(path).read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", raw, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))
