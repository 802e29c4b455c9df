"""Plain language on every page (issue #17): what a reader sees before the technical appendix.

Every report is rendered in Chinese and English on the shared report brand (the ``render``
fixture: the same runs as the page tests, so the pages are rendered once per worker). Each
notebook ends with a level-2 heading ``report.appendix`` ("技术附录" / "Technical appendix"); the
*body* is the page before it, without the table of contents (which lists the appendix's own
headings). In the body:

- no raw enumerated values: no snake_case value of a contract enum on any page, and on a
  Chinese page no English enum word (channel groups, touch types, order channels, task types,
  the brand's experiment arms such as ``treatment``);
- no CJK text on an English page, except names from the brand's data (staff, stores, regions,
  experiments, tasks, channels), which are removed before the check;
- none of the technical names that belong to the appendix (Cox, Kaplan–Meier, log-rank, α/β,
  Holm, Fieller, Markov, Shapley, "Belle's rule"…);
- no KPI card whose label is a p-value.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from workbench import contract
from workbench.i18n import t

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if not p.stem.startswith("_"))
# (report, lang, label, params): every report in both languages, the store page of the
# operations dashboard and the store-randomised experiment (the arguments the page tests use,
# so the runs are shared with them).
PAGES = ([(name, lang, None, {}) for name in NOTEBOOKS for lang in ("zh", "en")]
         + [("ops_dashboard", lang, "S001", {"store_id": "S001"}) for lang in ("zh", "en")]
         + [("experiment_report", "en", "EXP_STORE", {"experiment_id": "EXP_STORE"})])

ENUMS = {v for values in (contract.CHANNEL_GROUPS, contract.CONTACT_EVENT_TYPES, contract.ORDER_CHANNELS,
                          contract.TOUCH_TYPES, contract.GROUP_EVENT_TYPES, contract.MASS_SEND_STATUSES,
                          contract.INITIATORS, contract.EVENT_ORIGINS, contract.ID_TYPES, contract.COUPON_SOURCES)
         for v in values}
SNAKE_ENUMS = {v for v in ENUMS if "_" in v}
# English words that are enum values a Chinese page must translate (single words too).
ZH_WORDS = (set(contract.CHANNEL_GROUPS) | set(contract.TOUCH_TYPES) | set(contract.ORDER_CHANNELS)
            | set(contract.CONTACT_EVENT_TYPES) | {"control", "treatment", "holdout", "reached", "new_arrival",
                                                   "promotion", "holiday", "not_distinguishable", "underpowered"})
JARGON = [r"\bCox\b", "Schoenfeld", r"log-?rank", "Kaplan", "Meier", "α", "β", r"\bHolm\b", "CUPED", r"\bICC\b",
          "Markov", "Shapley", "Fieller", "Weibull", "Belle", "对数秩", "马尔可夫", "百丽", "比例风险"]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")


def _text(raw: str) -> str:
    raw = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", raw, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))


def body_html(path: Path, lang: str) -> str:
    """The page's HTML before the notebook's appendix heading, without the table of contents."""
    raw = Path(path).read_text(encoding="utf-8")
    raw = re.sub(r'<nav\b[^>]*class="wb-toc".*?</nav>', " ", raw, flags=re.S)
    heading = re.search(r'<h2 id="[^"]*"[^>]*>\s*' + re.escape(html.escape(t("report.appendix", lang))), raw)
    assert heading, f"{Path(path).name}: no '{t('report.appendix', lang)}' section closing the page"
    return raw[:heading.start()]


def _context(text: str, match: re.Match) -> str:
    return text[max(0, match.start() - 60):match.end() + 40]


@pytest.fixture(scope="module")
def data_names(report_brand) -> list[str]:
    """Names from the brand's data (they are shown as they are), longest first."""
    _, brand = report_brand
    names: set[str] = set()
    for table in ("staff", "stores", "experiments", "tasks", "channels", "groups"):
        frame = brand.tables.get(table)
        if frame is None:
            continue
        for col in frame.columns:
            if pd.api.types.is_object_dtype(frame[col]) or pd.api.types.is_string_dtype(frame[col]):
                names |= {v for v in frame[col].dropna().astype(str) if CJK.search(v)}
    return sorted(names, key=len, reverse=True)


def _page_id(p: tuple) -> str:
    return "-".join([p[0], p[1]] + ([p[2]] if p[2] else []))


def _rendered(render, spec: tuple) -> tuple:
    name, lang, label, params = spec
    run = render(name, lang, label=label, **params) if label else render(name, lang)
    assert run.ok, run.error
    body = body_html(run.html_path, lang)
    return name, lang, body, _text(body)


@pytest.fixture(scope="module", params=PAGES, ids=_page_id)
def page(request, render):
    """``(report, lang, body HTML, body text)`` of one rendered page."""
    return _rendered(render, request.param)


@pytest.fixture(scope="module", params=[p for p in PAGES if p[1] == "en"], ids=_page_id)
def english_page(request, render):
    """The English pages only, as :func:`page`."""
    return _rendered(render, request.param)


def test_no_raw_enum_values_in_the_body(page):
    """Enum values are translated for the reader: snake_case never, English enum words not on zh pages."""
    name, lang, _, text = page
    words = SNAKE_ENUMS | (ZH_WORDS if lang == "zh" else set())
    found = [(m.group(), _context(text, m)) for m in re.finditer(r"\b[A-Za-z_]+\b", text) if m.group() in words]
    assert not found, f"{name} [{lang}]: raw values {found[:5]}"


def test_no_chinese_on_an_english_page_except_data_names(english_page, data_names):
    """An English page has English labels (fan tiers too); only names from the data stay as they are."""
    name, _, _, text = english_page
    for value in data_names:
        text = text.replace(value, " ")
    found = [_context(text, m) for m in CJK.finditer(text)]
    assert not found, f"{name}: Chinese text on the English page {found[:5]}"


def test_no_technical_names_before_the_appendix(page):
    """Model, test and parameter names are said in plain words in the body and named in the appendix."""
    name, lang, _, text = page
    found = [(word, _context(text, m)) for word in JARGON for m in re.finditer(word, text)]
    assert not found, f"{name} [{lang}]: {found[:5]}"


def test_no_p_value_kpi_card(page):
    """A p-value is not a headline number."""
    name, lang, body, _ = page
    labels = [_text(label).strip() for label in re.findall(r'wb-kpi-label">(.*?)</div>', body, flags=re.S)]
    bad = [label for label in labels if re.search(r"\bp\b|p-value|p 值|p值|显著性", label, flags=re.I)]
    assert not bad, f"{name} [{lang}]: p-value cards {bad}"


def test_the_checks_catch_what_issue_17_found():
    """The old wording fails the checks: a raw arm in Chinese, a fan tier in English, Cox in the body."""
    zh = "treatment 对人均 GMV的影响与零无法区分"
    assert [w for w in re.findall(r"\b[A-Za-z_]+\b", zh) if w in ZH_WORDS] == ["treatment"]
    assert CJK.search("970 registered customers have not bought yet (潜力粉).")
    assert any(re.search(w, "What drives deletion: Cox model") for w in JARGON)
    assert any(re.search(w, "projected (α = 1.139, β = 9.151)") for w in JARGON)
    assert not any(re.search(w, "The relationship model compares customers") for w in JARGON)
