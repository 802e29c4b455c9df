"""The message catalogue: every key in both languages, strict look-ups, placeholders that agree."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.i18n import LANGS, catalogue, get_lang, has_key, labels, set_lang, t

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ("ops_dashboard", "experiment_report", "value_model_report", "churn_report", "clv_report", "data_quality")
PIPELINE_KEYS = ("report.generated", "report.data_as_of", "report.parameters", "report.version", "report.contents",
                 "report.failed_title", "report.failed_body", "report.failed_error", "report.failed_cell",
                 "report.no_pii", "index.title", "index.date", "index.report", "index.lang", "index.status",
                 "index.generated", "index.ok", "index.failed", "index.empty", "index.last_good")


def test_every_key_has_every_language():
    for key, entry in catalogue().items():
        assert set(entry) == set(LANGS), f"{key}: languages {sorted(entry)}"
        for lang in LANGS:
            assert entry[lang].strip(), f"{key} has no {lang} text"


def test_chinese_text_is_chinese():
    """A zh entry copied from en by mistake shows up as ASCII-only text identical to the English."""
    same = [k for k, e in catalogue().items() if e["zh"] == e["en"] and re.search(r"[A-Za-z]{4,}", e["en"])
            and not re.search(r"[\u4e00-\u9fff]", e["zh"])]
    assert len(same) <= 0.05 * len(catalogue()), f"untranslated: {same[:10]}"


def test_pipeline_keys_and_report_titles():
    for key in PIPELINE_KEYS + tuple(f"{r}.title" for r in REPORTS):
        assert has_key(key), key
    assert t("ops_dashboard.title", "zh") == "私域运营看板"


def test_placeholders_agree_between_languages():
    for key, entry in catalogue().items():
        ph = {lang: set(re.findall(r"{(\w+)", text)) for lang, text in entry.items()}
        assert ph["en"] == ph["zh"], f"{key}: placeholders differ {ph}"


def test_format_and_strictness():
    key = next(k for k, e in catalogue().items() if re.search(r"{(\w+)}", e["en"]))
    names = set(re.findall(r"{(\w+)}", catalogue()[key]["en"]))
    filled = t(key, "zh", **{n: f"<{n}>" for n in names})
    assert all(f"<{n}>" in filled for n in names)
    with pytest.raises(KeyError, match="not in the catalogue"):
        t("no.such.key", "en")
    with pytest.raises(KeyError):  # a placeholder left unfilled is an error, not a literal brace
        t(key, "en", unrelated=1)
    with pytest.raises(ValueError, match="lang must be one of"):
        t("report.generated", "fr")


def test_set_lang():
    assert get_lang() == "en"
    try:
        assert set_lang("zh") == "zh"
        assert t("report.failed_title") == "报告生成失败"
        assert labels({"gmv": "report.generated"}) == {"gmv": "生成时间"}
        assert t("report.failed_title", "en") == "Report failed"  # an explicit language wins
        with pytest.raises(ValueError):
            set_lang("de")
    finally:
        set_lang("en")


def test_notebooks_use_only_known_keys():
    keys = set(catalogue())
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        used = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", nb.read_text(encoding="utf-8")))
        assert used <= keys, f"{nb.name} uses untranslated keys {sorted(used - keys)}"
