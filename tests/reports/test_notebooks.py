"""Every report notebook runs through the pipeline on a small simulated brand, in both languages;
the rendered HTML never contains a raw identifier from the data, and every page passes a check
in a real browser."""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if not p.stem.startswith("_"))
LANGS = ("zh", "en")


@pytest.fixture(scope="module")
def small_brand(report_brand):
    return report_brand


@pytest.fixture(scope="module")
def rendered(render):
    """Every report in both languages (plus the store-randomised experiment), rendered once."""
    runs = {(name, lang): render(name, lang) for name in NOTEBOOKS for lang in LANGS}
    runs[("experiment_report-EXP_STORE", "en")] = render("experiment_report", "en", label="EXP_STORE",
                                                         experiment_id="EXP_STORE")
    return runs


def identifiers(brand) -> set[str]:
    """Raw identifiers that must never appear in a report."""
    ids = set(brand.tables["customers"]["customer_id"])
    links = brand.tables["identity_links"]
    for col in ("id_value", "linked_value"):
        ids |= set(links[col])
    return ids


@pytest.mark.parametrize("name", NOTEBOOKS)
@pytest.mark.parametrize("lang", LANGS)
def test_report_renders_without_identifiers(small_brand, rendered, name, lang):
    _, brand = small_brand
    run = rendered[(name, lang)]
    assert run.ok, run.error
    page = Path(run.html_path).read_text(encoding="utf-8")
    assert "Traceback" not in page
    # self-contained: no script, stylesheet or module import from the network (e.g. a CDN Mermaid loader)
    assert not re.search(r"""(src|href)=["']https?://|import\s*\(?\s*["']https?://|from\s+["']https?://""", page)
    leaked = set(re.findall(r"[A-Za-z0-9]{8,}", page)) & identifiers(brand)
    assert not leaked, f"{name} [{lang}] shows raw identifiers: {sorted(leaked)[:5]}"
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", page)


def test_experiment_report_for_a_store_randomised_experiment(rendered):
    run = rendered[("experiment_report-EXP_STORE", "en")]
    assert run.ok, run.error
    page = Path(run.html_path).read_text(encoding="utf-8")
    assert "intra-cluster correlation" in page and "design effect" in page


def test_rendered_reports_in_a_real_browser(small_brand, rendered):
    """No console errors, no requests leaving the file, no horizontal overflow at 390 px.
    Screenshots land in reports/_screens/."""
    from workbench.reports.browser import check_pages, find_chromium

    if find_chromium() is None or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium and playwright (.ci/run installs them)")
        pytest.skip("needs Debian's chromium and the playwright package (make env installs the package; "
                    "apt-get install chromium)")
    out, _ = small_brand
    pages = [Path(r.html_path) for r in rendered.values()] + [out / "reports" / "index.html"]
    results = check_pages(pages, ROOT / "reports" / "_screens")
    bad = [(r.path, r.console_errors, r.failed_requests, r.scroll_width) for r in results if not r.ok]
    assert not bad, bad
