"""The report notebooks explain each section in English Markdown cells tagged ``notes``, for the analyst in
JupyterLab; the published page (in the reader's language, from the catalogue) carries none of them."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest

from workbench.reports.html import NOTES_TAG, render_html

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ("churn_report", "clv_report", "data_quality", "experiment_report", "ops_dashboard", "value_model_report")


def cells(name: str) -> list[dict]:
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def is_notes(cell: dict) -> bool:
    return NOTES_TAG in cell.get("metadata", {}).get("tags", [])


def plain(markdown: str) -> str:
    """Markdown text as it would read on a page: no emphasis, code marks or heading hashes."""
    return re.sub(r"\s+", " ", re.sub(r"[`*#]", "", markdown)).strip()


def page_text(path: str | Path) -> str:
    """The visible text of a page: tags and the style sheet removed, entities decoded."""
    page = Path(path).read_text(encoding="utf-8")
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize("name", REPORTS)
def test_every_section_has_an_english_note_and_all_prose_cells_are_notes(name):
    nb = cells(name)
    assert is_notes(nb[0]) and nb[0]["cell_type"] == "markdown"  # what the notebook is, first
    for before, cell in zip(nb, nb[1:], strict=False):
        if cell["cell_type"] == "code" and "parameters" not in cell["metadata"].get("tags", []):
            assert is_notes(before) and before["cell_type"] == "markdown", (name, "".join(cell["source"])[:60])
    for cell in nb:
        if cell["cell_type"] == "markdown":  # fixed prose is for the analyst; page text comes from the catalogue
            text = "".join(cell["source"])
            assert is_notes(cell) and not re.search(r"[\u4e00-\u9fff]", text), text[:60]


def test_render_html_leaves_notes_cells_out(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## For the analyst\n\nComputed by `pages.ops.ops_page`.",
                                              metadata={"tags": [NOTES_TAG]}),
                nbformat.v4.new_markdown_cell("## Headline KPIs\n\ntext for the reader")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    page = render_html(path, "ops_dashboard", "en", "2026-01-01", {})
    assert "Headline KPIs" in page and "text for the reader" in page
    assert "For the analyst" not in page and "pages.ops.ops_page" not in page  # neither the text nor the contents


@pytest.mark.parametrize("name", REPORTS)
def test_published_pages_contain_no_notes_text(render, name):
    run = render(name, "en")
    assert run.ok, run.error
    text = page_text(run.html_path)
    # a note may open with the section's title in bold (the page shows the title): the rest must not show
    notes = [plain(re.sub(r"\*\*[^*]+\*\*", "", "".join(c["source"]))) for c in cells(name) if is_notes(c)]
    assert len(notes) >= 5
    for note in notes:
        for sentence in re.split(r"(?<=[.:;])\s+", note):
            if len(sentence) >= 25:
                assert sentence not in text, (name, sentence)
    assert "notes for the analyst" not in text
