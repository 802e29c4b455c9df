"""Store pages from a schedule (``stores:``) and the grouped index: HQ, stores by region and name, older runs.

One test executes a notebook (two store pages); the rest stop before papermill or write run records by hand.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.reports.test_reports import PAYLOAD, write_notebook
from workbench import ParameterError
from workbench.reports import ReportRun, load_schedule, record_run, run_schedule, write_index
from workbench.reports.run import store_details
from workbench.reports.schedule import expand_stores

AS_OF = "2025-02-01"
OPS = "私域运营看板 / Private-domain operations dashboard"
CLV = "客户价值与分层 / Customer value and tiers"


def schedule(folder: Path, text: str) -> Path:
    path = folder / "s.yml"
    path.write_text(text, encoding="utf-8")
    return path


def opts(folder: Path) -> dict:
    return dict(data_dir=folder / "data", as_of=AS_OF, out_dir=folder / "reports", notebooks_dir=folder / "notebooks",
                progress=False)


# ---------------------------------------------------------------------- schedule expansion
class TestStoresInSchedules:
    def test_all_and_list_expand_to_one_job_per_store(self, folder):
        # the tiny brand has stores S1 (Store one, East) and S2 (Store two, West)
        jobs = load_schedule(schedule(folder, "reports:\n  - name: ops_dashboard\n    langs: [zh]\n"
                                              "  - name: ops_dashboard\n    langs: [zh]\n    stores: all\n"
                                              "    parameters: {period_days: 7}\n"
                                              "  - name: churn_report\n    langs: [zh, en]\n"
                                              "    stores: [S2, S2, S9]\n"))
        assert [j.get("stores") for j in jobs] == [None, "all", ["S2", "S9"], ["S2", "S9"]]
        got = [(j["name"], j["lang"], j["parameters"], j["label"]) for j in expand_stores(jobs, folder / "data")]
        assert got == [("ops_dashboard", "zh", {}, None),
                       ("ops_dashboard", "zh", {"period_days": 7, "store_id": "S1"}, None),
                       ("ops_dashboard", "zh", {"period_days": 7, "store_id": "S2"}, None),
                       ("churn_report", "zh", {"store_id": "S2"}, None),
                       ("churn_report", "zh", {"store_id": "S9"}, None),  # refused when it runs, not here
                       ("churn_report", "en", {"store_id": "S2"}, None),
                       ("churn_report", "en", {"store_id": "S9"}, None)]

    def test_no_store_entry_reads_no_data(self, tmp_path):
        jobs = [{"name": "ops_dashboard", "lang": "zh", "parameters": {}, "label": None}]
        assert expand_stores(jobs, tmp_path / "does-not-exist") == jobs

    @pytest.mark.parametrize("entry, match", [
        ("stores: some", "'all' or a non-empty list"),
        ("stores: []", "'all' or a non-empty list"),
        ("stores: [S1, 7]", "strings.*quote them.*7"),
        ("stores: all\n    label: X", "'stores' and 'label' exclude each other"),
        ("stores: all\n    parameters: {store_id: S1}", "'stores' and the parameter store_id"),
    ])
    def test_bad_stores_option(self, tmp_path, entry, match):
        with pytest.raises(ParameterError, match=match):
            load_schedule(schedule(tmp_path, f"reports:\n  - name: ops_dashboard\n    {entry}\n"))

    def test_no_stores_table_refuses_the_batch_before_running(self, folder):
        (folder / "data" / "stores.parquet").unlink()
        write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
        path = schedule(folder, "reports:\n  - name: ops_dashboard\n    langs: [en]\n"
                                "  - name: ops_dashboard\n    langs: [zh]\n    stores: all\n")
        with pytest.raises(ParameterError, match="has no stores table"):
            run_schedule(path, **opts(folder))
        assert not (folder / "reports" / "runs.json").exists()  # not even the HQ page ran

    def test_store_pages_run_with_names_and_an_unknown_id_fails_alone(self, folder):
        write_notebook(folder / "notebooks", "ops_dashboard",
                       "from IPython.display import display, Markdown\ndisplay(Markdown(f'view **{store_id}**'))")
        path = schedule(folder, "reports:\n  - name: ops_dashboard\n    langs: [zh]\n"
                                "    stores: [S2, S999, S1]\n")
        runs = run_schedule(path, **opts(folder))
        assert [(r.label, r.status, r.store_name, r.region) for r in runs] == [
            ("store_id-S2", "ok", "Store two", "West"), ("store_id-S999", "failed", None, None),
            ("store_id-S1", "ok", "Store one", "East")]
        assert runs[1].error_type == "ParameterError" and "unknown store_id 'S999'" in runs[1].error
        assert "view <strong>S1</strong>" in Path(runs[2].html_path).read_text(encoding="utf-8")
        assert not (folder / "reports" / AS_OF / "ops_dashboard.zh.html").exists()  # no store page took the HQ name
        records = json.loads((folder / "reports" / "runs.json").read_text(encoding="utf-8"))
        assert [(r["store_name"], r["region"]) for r in records] == [("Store two", "West"), (None, None),
                                                                    ("Store one", "East")]
        page = (folder / "reports" / "index.html").read_text(encoding="utf-8")
        stores = page[page.index("<h2>门店 / Stores</h2>"):]
        # regions in order (no region last: the refused id), each store's name, its page
        assert re.findall(r"<h3>([^<]+)</h3>", stores) == ["East", "West", "未分区 / No region"]
        assert re.findall(r"<tr><td>([^<]*)</td><td>[^<]+</td><td>(.*?)</td>", stores) == [
            ("Store one", f'<a href="{AS_OF}/ops_dashboard-store_id-S1.zh.html">中文</a>'),
            ("Store two", f'<a href="{AS_OF}/ops_dashboard-store_id-S2.zh.html">中文</a>'),
            ("S999", "中文")]  # refused before running: no page to link, its status and reason instead
        assert "unknown store_id &#x27;S999&#x27;" in stores


def test_store_details(folder):
    assert store_details(folder / "data", "S2") == ("Store two", "West")
    assert store_details(folder / "data", "S9") == (None, None)
    assert store_details(folder / "data", "") == (None, None)
    pd.DataFrame({"store_id": ["S1"], "store_name": ["  "], "region": [None]}).to_parquet(
        folder / "data" / "stores.parquet")
    assert store_details(folder / "data", "S1") == (None, None)  # blank name: the index shows the id
    (folder / "data" / "stores.parquet").unlink()
    assert store_details(folder / "data", "S1") == (None, None)


# ---------------------------------------------------------------------- the grouped index
def run(name: str, lang: str, as_of: str = AS_OF, status: str = "ok", store: tuple | None = None,
        label: str | None = None, finished: str = "06:00:00") -> ReportRun:
    """A run record; ``store`` is ``(store_id, store_name, region)`` for a store page."""
    sid, store_name, region = store or (None, None, None)
    label = f"store_id-{sid}" if sid and label is None else label
    stem = f"{name}-{label}.{lang}" if label else f"{name}.{lang}"
    return ReportRun(name, lang, as_of, status=status, parameters={"store_id": sid} if sid else {},
                     html_path=f"/srv/reports/{as_of}/{stem}{'' if status == 'ok' else '.failed'}.html",
                     label=label, store_name=store_name, region=region, finished=f"{as_of}T{finished}",
                     error=None if status == "ok" else "RuntimeError: boom")


def index_of(tmp_path: Path, runs: list[ReportRun]) -> str:
    for r in runs:
        r.html_path = str(tmp_path / Path(r.html_path).relative_to("/srv/reports"))
        record_run(r, tmp_path)
    return write_index(tmp_path).read_text(encoding="utf-8")


def sections(page: str) -> dict[str, str]:
    parts = re.split(r"<h2>([^<]+)</h2>", page)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_grouped_index(tmp_path):
    east2 = ("S3", "Hangzhou #2", "East")
    east10 = ("S1", "Hangzhou #10", "East")
    north = ("S2", "Beijing #1", "North")
    page = index_of(tmp_path, [
        run("ops_dashboard", "zh", as_of="2025-01-31"),  # an earlier date
        run("clv_report", "zh"), run("clv_report", "en"),
        run("experiment_report", "zh", label="EXP_CUST"),
        run("ops_dashboard", "zh"), run("ops_dashboard", "en", status="failed"),
        run("ops_dashboard", "zh", store=north), run("ops_dashboard", "zh", store=east10),
        run("churn_report", "zh", store=east10), run("ops_dashboard", "zh", store=east2),
        run("ops_dashboard", "en", status="failed", store=north),
    ])
    got = sections(page)
    assert list(got) == ["总部 / HQ", "门店 / Stores", "更早的运行 / Earlier runs"]
    assert f"数据日期 / As of: {AS_OF}" in page
    # HQ: the ops page first, then the order the reports ran in; one row per report and label; zh | en links
    hq = got["总部 / HQ"]
    rows = re.findall(r"<tr><td>([^<]+)<div class=\"wb-note\">([^<]+)</div></td><td>(.*?)</td>", hq)
    assert [(title, links) for title, _, links in rows] == [
        (OPS, f'<a href="{AS_OF}/ops_dashboard.zh.html">中文</a> | '
              f'<a href="{AS_OF}/ops_dashboard.en.failed.html">English</a>'),
        (CLV, f'<a href="{AS_OF}/clv_report.zh.html">中文</a> | <a href="{AS_OF}/clv_report.en.html">English</a>'),
        ("任务实验报告 / Task experiment readout · EXP_CUST",
         f'<a href="{AS_OF}/experiment_report-EXP_CUST.zh.html">中文</a>')]
    assert rows[0][1].startswith("面向总部运营和店长") and " / For HQ operations and store managers" in rows[0][1]
    assert hq.count("wb-status-failed") == 1 and "RuntimeError: boom" in hq
    # stores: regions by name, stores by name with numbers in order, the ops page first in each store
    stores = got["门店 / Stores"]
    assert re.findall(r"<h3>([^<]+)</h3>", stores) == ["East", "North"]
    store_rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]+)</td><td>(.*?)</td>", stores)
    assert [(s, title.split(" / ")[0]) for s, title, _ in store_rows] == [
        ("Hangzhou #2", "私域运营看板"), ("Hangzhou #10", "私域运营看板"), ("", "好友流失与留存"),
        ("Beijing #1", "私域运营看板")]
    assert store_rows[3][2] == (f'<a href="{AS_OF}/ops_dashboard-store_id-S2.zh.html">中文</a> | '
                                f'<a href="{AS_OF}/ops_dashboard-store_id-S2.en.failed.html">English</a>')
    assert "store_id-S1" not in re.sub(r'href="[^"]+"', "", stores)  # the store's own label is not repeated
    # earlier runs: date, report, language, status
    earlier = re.findall(r"<tr><td>([^<]+)</td><td><a href=\"([^\"]+)\">([^<]+)</a></td><td>([^<]+)</td>",
                         got["更早的运行 / Earlier runs"])
    assert earlier == [("2025-01-31", "2025-01-31/ops_dashboard.zh.html", OPS, "中文")]


def test_failed_store_page_links_its_last_good_version(tmp_path):
    store = ("S1", "Store one", "East")
    page = index_of(tmp_path, [run("ops_dashboard", "zh", store=store),
                               run("ops_dashboard", "zh", store=store, status="failed", finished="07:00:00")])
    stores = sections(page)["门店 / Stores"]
    assert f'<a href="{AS_OF}/ops_dashboard-store_id-S1.zh.failed.html">中文</a>' in stores
    assert f'<a href="{AS_OF}/ops_dashboard-store_id-S1.zh.html">上一版成功的报告 / last good version</a>' in stores


def test_old_records_without_store_fields(tmp_path):
    """runs.json written before store names were recorded: loads, and the store is shown by its id."""
    old = {"name": "ops_dashboard", "lang": "zh", "as_of": AS_OF, "status": "ok", "label": "store_id-S7",
           "parameters": {"store_id": "S7", "period_days": 30}, "html_path": None,
           "href": f"{AS_OF}/ops_dashboard-store_id-S7.zh.html", "finished": f"{AS_OF}T06:00:00"}
    (tmp_path / "runs.json").write_text(json.dumps([old]), encoding="utf-8")
    assert ReportRun.from_record(old).store_name is None
    stores = sections(write_index(tmp_path).read_text(encoding="utf-8"))["门店 / Stores"]
    assert re.findall(r"<h3>([^<]+)</h3>", stores) == ["未分区 / No region"]
    assert f'<tr><td>S7</td><td>{OPS}</td><td><a href="{AS_OF}/ops_dashboard-store_id-S7.zh.html">中文</a>' in stores


def test_index_escapes_store_names_and_regions(tmp_path):
    hostile = ("S1", PAYLOAD, PAYLOAD + "<script>alert(2)</script>")
    page = index_of(tmp_path, [run("ops_dashboard", "zh", store=hostile),
                               run("ops_dashboard", "zh", store=hostile, as_of="2025-01-31")])
    assert "<img" not in page and "<script>alert" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 3  # store, region, earlier runs' title


def test_every_shipped_report_says_whom_it_is_for():
    from workbench.i18n import t

    root = Path(__file__).resolve().parents[2]
    for name in sorted(p.stem for p in (root / "notebooks").glob("*.ipynb") if not p.stem.startswith("_")):
        assert t(f"index.about.{name}", "zh").startswith("面向") and t(f"index.about.{name}", "en").startswith("For ")
