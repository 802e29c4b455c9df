"""Theme, CJK glyphs, number formats and tables (the catalogue itself is tested in test_i18n.py)."""
from __future__ import annotations

import io
import logging
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.i18n import catalogue  # noqa: E402


class TestTheme:
    def test_theme_settings(self):
        plotting.set_theme()
        fonts = len(matplotlib.font_manager.fontManager.ttflist)
        plotting.set_theme()  # idempotent: the font is registered once per process
        assert len(matplotlib.font_manager.fontManager.ttflist) == fonts
        rc = matplotlib.rcParams
        assert rc["axes.unicode_minus"] is False
        assert rc["font.sans-serif"][0] == plotting.CJK_FONT_NAME and "DejaVu Sans" in rc["font.sans-serif"]
        to_hex = matplotlib.colors.to_hex
        assert [to_hex(c) for c in rc["axes.prop_cycle"].by_key()["color"][:3]] == \
            [to_hex(c) for c in plotting.PALETTE[:3]]

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
        assert plotting.format_p(0.0321) == "p = 0.032" and plotting.format_p(0.0) == "p < 0.0001"
        assert plotting.format_p(float("nan")) == "–"
        assert plotting.format_cny(-1234.4) == "-¥1,234" and plotting.format_cny(None) == "–"
        assert plotting.format_int(pd.NA) == "–" and plotting.format_pct(0.5, digits=0) == "50%"

    def test_styled_table_formats_and_headers(self):
        df = pd.DataFrame({"store_id": ["S1"], "gmv": [12345.0], "share": [0.25]})
        html = plotting.styled_table(df, {"gmv": "cny", "share": "pct"}, {"gmv": "GMV", "share": "份额"}).to_html()
        assert "¥12,345" in html and "25.0%" in html and "份额" in html
