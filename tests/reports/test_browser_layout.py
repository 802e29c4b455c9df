"""The browser check's layout rules (issue #17) in headless Chromium at 390 px: a deliberately bad
page fails each rule, the same content laid out by the workbench helpers passes."""
from __future__ import annotations

import importlib.util
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.reports.browser import MIN_CHART_TEXT_PX, check_pages, find_chromium  # noqa: E402
from workbench.reports.html import html_page  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    if find_chromium() is None or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium and playwright (.ci/run installs them)")
        pytest.skip("needs Debian's chromium and the playwright package")


WIDE = pd.DataFrame({
    "门店": [f"上海{i}号旗舰店" for i in range(6)],
    **{f"指标{k}": [123456.0 * (i + 1) for i in range(6)] for k in range(8)},
})


def _figure_html() -> str:
    plotting.set_theme()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(range(12), label="新增好友")
    ax.set_title("每周新增与删除好友（人次）")
    ax.set_xlabel("周")
    ax.legend()
    out = plotting.figure_html(fig)
    plt.close(fig)
    return out


def test_a_bad_page_fails_each_rule_and_a_good_page_passes(tmp_path):
    fig = _figure_html()
    wide_img = fig[fig.index("<img"):fig.index(">", fig.index("<img")) + 1].replace("wb-fig-wide", "raw")
    bad = html_page("bad", "zh", (
        # (a) the 8-inch rendering alone: its smallest text (11 pt of ~600 pt) lands under 11 px at 360 px
        f"<h2>趋势</h2><div>{wide_img}</div>"
        # (a') an inline SVG whose text the browser shrinks: 14 px text in a 1000-unit box shown 360 px wide
        '<svg viewBox="0 0 1000 200" style="width:100%"><text x="10" y="50" font-size="14">tiny</text></svg>'
        # (b) a label column squeezed to one character per line
        '<h2>门店</h2><table><tr><td style="width:1px;padding:0">旗舰店名称</td>'
        '<td>说明</td></tr></table>'
        # (c) a wide table in a scrolling box with no cue (no shadow, no hint); pandas' own HTML at
        # that, so its label column also shrinks to one character per line (the screenshot)
        '<h2>渠道</h2><div style="overflow-x:auto">' + WIDE.to_html(index=False) + "</div>"
    ))
    good = html_page("good", "zh", (
        f"<h2>趋势</h2>{fig}<h2>门店</h2>"
        + plotting.styled_table(WIDE, {f"指标{k}": "cny" for k in range(8)}, export="门店").to_html()
    ))
    (tmp_path / "pages").mkdir()
    paths = [tmp_path / "pages" / "bad.html", tmp_path / "pages" / "good.html"]
    paths[0].write_text(bad, encoding="utf-8")
    paths[1].write_text(good, encoding="utf-8")
    bad_check, good_check = check_pages(paths, tmp_path / "screens")

    assert not bad_check.ok
    assert len(bad_check.small_charts) == 2, bad_check.small_charts
    assert bad_check.small_charts[0].startswith('figure 1 under "趋势"')
    assert bad_check.small_charts[1].startswith("svg 2")
    assert bad_check.smallest_chart_text_px < 6  # 14 × 360 / 1000 ≈ 5 px
    squeezed = bad_check.one_char_cells
    assert len(squeezed) == 7 and squeezed[0].startswith('"旗舰店名称" under "门店"')
    assert [c.split(":")[0] for c in squeezed[1:]] == [f'"上海{i}号旗舰店" under "渠道"' for i in range(6)]
    assert len(bad_check.unscrolled_tables) == 1
    assert bad_check.unscrolled_tables[0].startswith('table 2 under "渠道"')
    assert "scrolls with no cue" in bad_check.unscrolled_tables[0]
    assert len(bad_check.problems()) == 2 + 7 + 1
    assert bad_check.scroll_width <= bad_check.viewport_width  # the older rules alone let this page through

    assert good_check.ok, good_check.problems()
    assert MIN_CHART_TEXT_PX <= good_check.smallest_chart_text_px < 20
    assert good_check.unmeasured_images == 0
    assert all(p.exists() for p in (tmp_path / "screens").glob("pages_*.png"))


def test_a_table_overflowing_the_page_has_no_scroll_box(tmp_path):
    page = tmp_path / "p" / "plain.html"
    page.parent.mkdir()
    page.write_text(html_page("plain", "en", "<h2>Raw</h2>" + WIDE.to_html(index=False)), encoding="utf-8")
    (check,) = check_pages([page])
    assert check.unscrolled_tables and "no scroll box" in check.unscrolled_tables[0]
    assert check.scroll_width > check.viewport_width and not check.ok


def test_desktop_shows_the_wide_rendering(tmp_path):
    page = tmp_path / "p" / "fig.html"
    page.parent.mkdir()
    page.write_text(html_page("fig", "en", _figure_html()), encoding="utf-8")
    (phone,) = check_pages([page], width=390)
    (desktop,) = check_pages([page], width=1280)
    assert phone.ok and desktop.ok
    # the desktop rendering is the 8-inch one at its natural size: 11 pt at 110 dpi ≈ 16.8 px
    assert desktop.smallest_chart_text_px > phone.smallest_chart_text_px
    assert desktop.smallest_chart_text_px == pytest.approx(11 * 110 / 72, abs=0.5)
