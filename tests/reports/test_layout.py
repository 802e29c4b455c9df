"""Phone-first page layout (issue #17): table HTML and CSS, downloads, figure renderings, the header.

The browser side (what Chromium measures at 390 px) is in test_browser_layout.py.
"""
from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.errors import ParameterError  # noqa: E402
from workbench.masking import mask_tokens  # noqa: E402
from workbench.reports.html import failure_page, render_html, report_css  # noqa: E402

FRAME = pd.DataFrame({"门店": ["S1 旗舰店", "S2"], "gmv": [1234.5, -20.0], "share": [0.25, 0.5]})


def _links(html: str) -> dict[str, tuple[str, bytes]]:
    """``ext -> (download file name, decoded bytes)`` of the download links in ``html``."""
    out = {}
    for name, mime, data in re.findall(r'download="([^"]*)" href="data:([^;]+)[^,]*,([^"]+)"', html):
        out[name.rsplit(".", 1)[1]] = (name, base64.b64decode(data))
        assert mime in ("text/csv", plotting.XLSX_MIME)
    return out


class TestTableHtml:
    def test_alignment_rules_beat_the_stylers_table_rule(self):
        html = plotting.styled_table(FRAME, {"gmv": "cny", "share": "pct"}).to_html()
        uid = re.search(r'<table id="(T_[^"]+)"', html).group(1)
        # the table-wide rule carries no alignment; the per-class rule (id + class + element) does
        td_rule = re.search(rf"#{uid} td \{{([^}}]*)\}}", html).group(1)
        assert "text-align" not in td_rule
        assert re.search(rf"#{uid} td\.wb-text \{{[^}}]*text-align: left", html)
        assert re.search(rf"#{uid} td\.wb-num \{{[^}}]*text-align: right", html)
        # cells carry the classes: the label column is text, the two number columns are numbers
        assert 'class="data row0 col0 wb-text"' in html and 'class="data row1 col0 wb-text"' in html
        assert 'class="data row0 col1 wb-num"' in html and 'class="data row1 col2 wb-num"' in html
        assert re.search(rf"#{uid} th\.col_heading\.col1 \{{\s*text-align: right", html)
        assert not re.search(rf"#{uid} th\.col_heading\.col0 \{{", html)

    def test_page_css_has_alignment_sticky_column_and_scroll_cue(self):
        css = report_css()
        assert re.search(r"table\.wb-table td\.wb-text[^{]*\{[^}]*text-align: left", css)
        assert re.search(r"table\.wb-table td\.wb-num[^{]*\{[^}]*text-align: right", css)
        sticky = re.search(r"table\.wb-table tr > :first-child \{([^}]*)\}", css).group(1)
        assert "position: sticky" in sticky and "left: 0" in sticky and "background: #fff" in sticky
        scroll = re.search(r"\.wb-scroll \{([^}]*)\}", css).group(1)
        assert "overflow-x: auto" in scroll and scroll.count("gradient") == 4
        assert re.search(r":lang\(zh\) \.wb-scroll-hint::after \{ content:", css)
        assert re.search(r"@media \(max-width: 760px\) \{ \.wb-figure \.wb-fig-wide \{ display: none; \}", css)

    def test_table_sits_in_a_scroll_box_with_a_width_dependent_hint(self):
        html = plotting.styled_table(FRAME, {"gmv": "cny"}).to_html()
        assert html.startswith('<div class="wb-table-box" id="wb-box-')
        assert '<div class="wb-scroll"><style' in html and html.endswith("</table>\n</div></div>")
        box = re.search(r'id="(wb-box-[^"]+)"', html).group(1)
        need = int(re.search(rf"@media \(min-width: (\d+)px\) \{{ #{box} \.wb-scroll-hint", html).group(1))
        # widest cell or header in em (CJK 1, others 0.6), 14 px an em, 16 px padding, 40 px of page:
        # "S1 旗舰店" 3 × 0.6 + 3 = 4.8 em; "¥1,234" 3.6 em; share unformatted "0.250000" 4.8 em
        assert need == int((4.8 * 14 + 16) + (3.6 * 14 + 16) + (4.8 * 14 + 16)) + 40 == 272
        # the Styler's own rendering goes through the same box (what a notebook's display shows)
        assert plotting.styled_table(FRAME)._repr_html_().startswith('<div class="wb-table-box"')

    def test_no_downloads_unless_asked(self):
        assert "wb-download" not in plotting.styled_table(FRAME).to_html()


class TestDownloads:
    def test_csv_and_xlsx_decode_to_the_table(self):
        html = plotting.styled_table(FRAME, {"gmv": "cny"}, {"gmv": "GMV（元）"}, export="门店 GMV").to_html()
        links = _links(html)
        assert set(links) == {"csv", "xlsx"} and links["csv"][0] == "门店 GMV.csv"
        raw = links["csv"][1]
        assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese headers as UTF-8
        expected = FRAME.rename(columns={"gmv": "GMV（元）"})
        pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig"), expected)
        pd.testing.assert_frame_equal(pd.read_excel(io.BytesIO(links["xlsx"][1]), engine="openpyxl"), expected)
        # numbers go out as numbers, not as the page's formatted text
        assert b"1234.5" in raw and "¥" not in raw.decode("utf-8-sig")

    def test_raw_id_columns_are_refused(self):
        for col in ("customer_id", "external_userid", "unionid", "openid", "phone", "phone_number", "Phone_hash"):
            frame = pd.DataFrame({col: ["C000123", None], "n": [1, 2]})
            with pytest.raises(ParameterError, match=rf"column '{col}' holds raw customer ids \(first: row 0\)"):
                plotting.styled_table(frame, export="x")
            with pytest.raises(ParameterError):
                plotting.table_downloads(frame, "x")
        # a masked column (and missing values) passes
        masked = pd.DataFrame({"customer_id": mask_tokens(pd.Series(["C1", None, "C2"]), b"k" * 32), "n": [1, 2, 3]})
        assert set(_links(plotting.table_downloads(masked, "list"))) == {"csv", "xlsx"}
        # one raw id among tokens is enough to refuse, and its row is named
        mixed = masked.copy()
        mixed.loc[2, "customer_id"] = "C2"
        with pytest.raises(ParameterError, match=r"first: row 2\)"):
            plotting.table_downloads(mixed, "list")
        # without export the page shows the table as before (masking of what is shown is the notebook's job)
        plotting.styled_table(pd.DataFrame({"customer_id": ["C1"]}))

    def test_file_names_and_values_are_escaped(self):
        payload = '<img src=x onerror=alert(1)>"/../x'
        frame = pd.DataFrame({"name<b>": [payload, "=HYPERLINK(\"http://x\")", "-1+2", "@SUM(A1)"], "n": [1, 2, 3, 4]})
        html = plotting.styled_table(frame, export=payload).to_html()
        assert "<img" not in html and "onerror=alert(1)>" not in html
        names = re.findall(r'download="([^"]*)"', html)
        assert names == ["_img src=x onerror=alert(1)_.._x.csv", "_img src=x onerror=alert(1)_.._x.xlsx"]
        amp = plotting.table_downloads(frame.head(1), "A&B's \"Q\" 门店")
        assert re.findall(r'download="([^"]*)"', amp)[0] == "A&amp;B&#x27;s _Q_ 门店.csv"
        # spreadsheet formulas from data are neutralised in both files; other text is kept as is
        csv = pd.read_csv(io.BytesIO(_links(html)["csv"][1]), encoding="utf-8-sig")
        assert csv["name<b>"].tolist() == [payload, "'=HYPERLINK(\"http://x\")", "'-1+2", "'@SUM(A1)"]
        xlsx = pd.read_excel(io.BytesIO(_links(html)["xlsx"][1]), engine="openpyxl")
        assert xlsx["name<b>"].tolist() == csv["name<b>"].tolist()

    def test_row_limit(self):
        big = pd.DataFrame({"n": range(plotting.MAX_EXPORT_ROWS + 1)})
        with pytest.raises(ParameterError, match="at most 10,000 rows"):
            plotting.table_downloads(big, "big")


class TestFigures:
    def setup_method(self):
        plotting.set_theme()

    def teardown_method(self):
        plt.close("all")

    @staticmethod
    def _imgs(html: str) -> list[dict[str, float]]:
        return [{"font_pt": float(f), "width_pt": float(w), "kind": k}
                for k, f, w in re.findall(r'<img class="wb-fig-(\w+)" src="data:image/png;base64,[^"]+" alt="" '
                                          r'data-wb-font-pt="([\d.]+)" data-wb-width-pt="([\d.]+)">', html)]

    def test_wide_figure_gets_a_phone_rendering_readable_at_390_px(self):
        fig, ax = plt.subplots(figsize=(8, 4.2))
        ax.plot(range(10), label="新增好友 adds")
        ax.set_title("每周新增与删除好友（人次，完整周）— a long title that must wrap on a phone")
        ax.set_xlabel("周")
        ax.text(1, 1, "small", fontsize=7)
        ax.legend()
        imgs = self._imgs(plotting.figure_html(fig))
        assert [i["kind"] for i in imgs] == ["wide", "narrow"]
        wide, narrow = imgs
        # drawn 8 in: shown 360 px wide on a phone, its 7 pt note would be 7 × 360 / ~576 ≈ 4.4 px
        assert wide["font_pt"] == 7.0 and wide["width_pt"] > 450  # the tight box trims a little white
        assert wide["font_pt"] * plotting.PHONE_WIDTH_PX / wide["width_pt"] < 5.6
        # the phone rendering lifts small text to NARROW_MIN_PT and is narrow enough to show it at ≥ 11.5 px
        assert narrow["font_pt"] == plotting.NARROW_MIN_PT
        assert narrow["font_pt"] * plotting.PHONE_WIDTH_PX / narrow["width_pt"] >= plotting.PHONE_TEXT_PX
        # and the figure itself is left as it was
        assert tuple(fig.get_size_inches()) == (8, 4.2) and ax.texts[0].get_fontsize() == 7
        assert ax.get_title().startswith("每周新增与删除好友（人次，完整周）— a long") and "\n" not in ax.get_title()

    def test_side_by_side_panels_are_stacked_for_phones_and_restored(self):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for a in axes:
            a.bar(["a", "b", "c"], [3, 1, 2])
            a.set_title("面板")
        specs = [a.get_subplotspec() for a in axes]
        data, width_px, _ = plotting.narrow_png(fig, 100)
        height_px = int.from_bytes(data[20:24], "big")
        assert height_px > 1.5 * width_px  # two panels on top of each other, not side by side
        assert [a.get_subplotspec() for a in axes] == specs and tuple(fig.get_size_inches()) == (10, 4)

    def test_a_narrow_figure_is_rendered_once(self):
        fig, ax = plt.subplots(figsize=(3.5, 3))
        ax.plot([1, 2])
        assert [i["kind"] for i in self._imgs(plotting.figure_html(fig))] == ["one"]

    def test_ranking_bars(self):
        frame = pd.DataFrame({"store": ["上海静安旗舰店（南京西路一号）", "B", "C", "D"], "gmv": [5.0, 9.0, None, 1.0]})
        ax = plotting.ranking_bars(frame, "store", "gmv", fmt="cny", top=2, title="GMV")
        assert [t.get_text() for t in ax.get_yticklabels()] == ["上海静安旗舰店（南京西路一…", "B"]  # 14 characters
        assert [t.get_text() for t in ax.texts] == ["¥5", "¥9"]
        assert [round(p.get_width(), 6) for p in ax.patches] == [5.0, 9.0] and ax.get_title() == "GMV"


class TestHeader:
    def _page(self, tmp_path, parameters, lang="zh"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("## 核心指标\n\ntext")]
        path = tmp_path / "nb.ipynb"
        nbformat.write(nb, str(path))
        return render_html(path, "ops_dashboard", lang, "2026-01-01", parameters)

    def test_parameters_leave_the_header_for_the_appendix(self, tmp_path):
        page = self._page(tmp_path, {"store_id": "", "period_days": 30})
        header = page[page.index('<header class="wb-header">'):page.index("</header>")]
        assert "store_id" not in header and "period_days" not in header and "参数" not in header
        assert "数据截至" in header and "2026-01-01" in header and "总部视角：全部门店" in header
        start = page.index('class="wb-appendix"')
        appendix = page[start:page.index("</section>", start)]
        assert "运行信息" in appendix and "<code>store_id=''</code>" in appendix
        assert "<code>period_days=30</code>" in appendix and "生成时间" in appendix and "workbench 版本" in appendix
        assert page.index("核心指标") < start < page.index('class="wb-footer"')

    def test_store_view_and_escaping(self, tmp_path):
        page = self._page(tmp_path, {"store_id": "<b>S1</b>"}, lang="en")
        header = page[page.index('<header class="wb-header">'):page.index("</header>")]
        assert "Store view: &lt;b&gt;S1&lt;/b&gt;" in header and "<b>S1" not in page
        assert "Run details" in page

    def test_failure_page_keeps_parameters_out_of_the_header(self):
        page = failure_page("ops_dashboard", "en", "2026-01-01", {"store_id": "S1"}, ValueError("boom"))
        header = page[page.index('<header class="wb-header">'):page.index("</header>")]
        assert "store_id" not in header
        assert page.index("<code>store_id=S1</code>") > page.index('class="wb-appendix"')
