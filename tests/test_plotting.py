"""Theme, CJK glyphs, number formats, and the message catalogue."""
from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.i18n import LANGS, catalogue, t  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class TestTheme:
    def test_chinese_renders_without_missing_glyphs(self, caplog):
        plotting.set_theme()
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
            warnings.simplefilter("always")
            fig, ax = plt.subplots()
            ax.plot([1, 2, 3], [3, 1, -2], label="新增好友 adds")
            ax.set_title("私域运营看板 — 铁杆粉 真爱粉 实力粉 普通粉 潜力粉")
            ax.set_xlabel("日期 / date")
            ax.legend()
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)
        messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
        assert not [m for m in messages if "missing from" in m or "Glyph" in m], messages

    def test_every_catalogue_string_has_glyphs(self):
        from matplotlib.font_manager import FontProperties, findfont
        from matplotlib.ft2font import FT2Font

        plotting.set_theme()
        font = FT2Font(findfont(FontProperties(family=plotting.CJK_FONT_NAME)))
        cmap = font.get_charmap()
        missing = {ch for entry in catalogue().values() for text in entry.values() for ch in text
                   if ord(ch) > 127 and ord(ch) not in cmap and ch not in "–—¥·…×≥≤→"}
        assert not missing, f"characters without a glyph in {plotting.CJK_FONT_NAME}: {sorted(missing)}"


class TestFormats:
    def test_numbers(self):
        assert plotting.format_int(1234567) == "1,234,567"
        assert plotting.format_cny(12345.6) == "¥12,346"
        assert plotting.format_pct(0.1234) == "12.3%"
        assert plotting.format_pct(0.05, signed=True) == "+5.0%"
        assert plotting.format_int(float("nan")) == "–"

    def test_styled_table_formats_and_headers(self):
        df = pd.DataFrame({"store_id": ["S1"], "gmv": [12345.0], "share": [0.25]})
        html = plotting.styled_table(df, {"gmv": "cny", "share": "pct"}, {"gmv": "GMV", "share": "份额"}).to_html()
        assert "¥12,345" in html and "25.0%" in html and "份额" in html


class TestCatalogue:
    def test_every_key_has_every_language(self):
        for key, entry in catalogue().items():
            for lang in LANGS:
                assert entry.get(lang, "").strip(), f"{key} has no {lang} text"

    def test_placeholders_agree_between_languages(self):
        for key, entry in catalogue().items():
            ph = {lang: set(re.findall(r"{(\w+)", text)) for lang, text in entry.items()}
            assert ph["en"] == ph["zh"], f"{key}: placeholders differ {ph}"

    def test_missing_key_fails(self):
        with pytest.raises(KeyError, match="not in the catalogue"):
            t("no.such.key", "en")

    def test_notebooks_use_only_known_keys(self):
        keys = set(catalogue())
        for nb in (ROOT / "notebooks").glob("*.ipynb"):
            used = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", nb.read_text()))
            assert used <= keys, f"{nb.name} uses untranslated keys {sorted(used - keys)}"
