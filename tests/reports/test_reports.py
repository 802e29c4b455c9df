"""The report pipeline: parameters checked first, HTML without code, failures visible, good reports kept.

Papermill runs cost seconds each; this file executes four notebooks in all.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import nbformat
import pytest

from workbench import ParameterError, ReportError
from workbench.cli import main
from workbench.reports import (ReportRun, check_parameters, load_runs, load_schedule, notebook_parameters, record_run,
                               run_report, run_schedule, write_index)

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ('lang: str = "en"\nas_of: str = ""\ndata_dir: str = ""\n'
          'n: int = 3\nratio: float = 0.5\nflag: bool = False\nlabel = "x"\nstart_date: str = ""\n'
          'metrics: list[str] = ["gmv"]\nweights: list = [1, 2]\nstore_id: str | None = None\n'
          'when = dt.date(2025, 1, 1)  # not a literal: any value')


def write_notebook(folder: Path, name: str, body: str, params: str = PARAMS) -> Path:
    """A tiny report notebook: parameters cell, a markdown heading, ``body``, another heading."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("import datetime as dt"), cell,
                nbformat.v4.new_markdown_cell("## Section one"), nbformat.v4.new_code_cell(body),
                nbformat.v4.new_markdown_cell("### Part two")]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture()
def folder(tmp_path, tiny):
    (tmp_path / "notebooks").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    tiny["orders"].to_parquet(data / "orders.parquet")
    return tmp_path


def kw(folder: Path) -> dict:
    return dict(as_of="2025-02-01", data_dir=folder / "data", out_dir=folder / "reports",
                notebooks_dir=folder / "notebooks")


class TestParameters:
    def test_typed_cell(self, folder):
        params = notebook_parameters(write_notebook(folder / "notebooks", "ops_dashboard", "1"))
        assert [params[k].type for k in ("n", "ratio", "flag", "label", "metrics", "weights")] == \
            [int, float, bool, str, list, list]
        assert params["label"].default == "x" and params["metrics"].item_type is str
        assert params["store_id"].type is str and params["store_id"].nullable
        assert params["when"].type is object  # an expression default: the parser does not guess
        assert set(params) >= {"lang", "as_of", "data_dir"}

    def test_conversion_of_cli_strings(self, folder):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "1")
        got = check_parameters(path, {"n": "7", "ratio": "2", "flag": "yes", "metrics": "[gmv, orders]",
                                      "store_id": "none", "start_date": "2025-03-01", "weights": "[1, 2.5]"})
        assert got == {"n": 7, "ratio": 2.0, "flag": True, "metrics": ["gmv", "orders"], "store_id": None,
                       "start_date": "2025-03-01", "weights": [1, 2.5]}

    def test_yaml_values(self, folder):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "1")
        got = check_parameters(path, {"n": 4, "ratio": 1, "start_date": dt.date(2025, 3, 1), "store_id": "S1"})
        assert got == {"n": 4, "ratio": 1.0, "start_date": "2025-03-01", "store_id": "S1"}
        assert isinstance(got["ratio"], float)

    @pytest.mark.parametrize("given, match", [
        ({"nn": "1"}, "unknown parameter.*nn.*known: n, ratio"),
        ({"n": "seven"}, "'n' expects int"),
        ({"n": True}, "'n' expects int"),
        ({"n": 2.5}, "'n' expects int"),
        ({"flag": "maybe"}, "'flag' expects bool"),
        ({"ratio": "x"}, "'ratio' expects float"),
        ({"label": 3}, "'label' expects str.*quote it"),
        ({"start_date": "March"}, "'start_date' expects str.*YYYY-MM-DD"),
        ({"metrics": "gmv"}, r"'metrics' expects list\[str\]"),
        ({"metrics": "[1, 2]"}, r"'metrics\[\]' expects str"),
        ({"n": None}, "'n' expects int"),
    ])
    def test_bad_parameters(self, folder, given, match):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "1")
        with pytest.raises(ParameterError, match=match):
            check_parameters(path, given)

    def test_notebook_without_parameters_cell(self, folder):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "1")
        nb = nbformat.read(str(path), as_version=4)
        nb.cells[1].metadata["tags"] = []
        nbformat.write(nb, str(path))
        with pytest.raises(ReportError, match="exactly one cell tagged 'parameters'"):
            notebook_parameters(path)


class TestRunReport:
    def test_good_then_failed_run_keeps_the_good_report(self, folder, capsys):
        nbs = folder / "notebooks"
        write_notebook(nbs, "ops_dashboard", "from IPython.display import display, Markdown\n"
                                             "import matplotlib.pyplot as plt\n"
                                             "display(Markdown(f'## 核心指标 {n}\\n\\nvalue **{n * 2}**'))\n"
                                             "fig, ax = plt.subplots(); ax.plot([1, 2]); plt.show()\n"
                                             "import sys; print('operator log', file=sys.stderr)\n"
                                             "secret_code_marker = 1")
        good = run_report("ops_dashboard", {"n": "21"}, lang="zh", **kw(folder))
        assert good.ok, good.error
        # a non-default parameter and no --label: the page is labelled from it, never the default page
        assert good.label == "n-21" and good.html_path.endswith("2025-02-01/ops_dashboard-n-21.zh.html")
        assert Path(good.ipynb_path).exists()
        page = Path(good.html_path).read_text(encoding="utf-8")
        assert "value <strong>42</strong>" in page
        assert "secret_code_marker" not in page and "operator log" not in page  # no code, no stderr
        assert "jp-InputPrompt" not in page.replace(".jp-InputPrompt", "")  # no prompts
        # header: catalogue title, data as-of, for whom; parameters and version in the closing appendix
        header = page[page.index('<header class="wb-header">'):page.index("</header>")]
        assert "私域运营看板" in header and "2025-02-01" in header and "数据截至" in header
        assert "n=21" not in header and "data_dir" not in header
        appendix = page[page.index('class="wb-appendix"'):]
        assert "n=21" in appendix and "ratio=0.5" in appendix and "0.1" in appendix and "data_dir" not in appendix
        assert '<html lang="zh-CN">' in page and "<title>私域运营看板 · 2025-02-01</title>" in page
        # table of contents: every heading, each link lands on an element of the page
        toc = re.search(r'<nav[^>]*class="wb-toc".*?</nav>', page, re.S).group(0)
        targets = re.findall(r'href="#([^"]+)"', toc)
        assert [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<a [^>]*>(.*?)</a>", toc)] == \
            ["Section one", "核心指标 21", "Part two"]
        assert all(f'id="{t}"' in page for t in targets)
        # self-contained and phone-friendly
        assert 'src="data:image/png;base64,' in page
        assert not re.search(r'<(script|link|img|iframe)\b[^>]*(src|href)="(https?:)?//', page)
        assert not re.search(r'(import\(|url\()\s*["\']?(https?:)?//', page)
        assert 'name="viewport"' in page and "max-width: 1100px" in page and "overflow-x: auto" in page

        # a failing run (through the CLI): exit 1, failure page, the good page untouched
        write_notebook(nbs, "ops_dashboard", "import pandas as pd\nfrom workbench import DataContractError\n"
                                             "raise DataContractError('orders', 'amount', 'negative amount', "
                                             "rows=pd.DataFrame({'customer_id': ['CUST' + str(40 + 2)]}), n_bad=1)")
        capsys.readouterr()  # progress of the direct run above (an earlier CLI call may have set the level)
        code = main(["report", "ops_dashboard", "-p", "n", "21", "--lang", "zh", "--as-of", "2025-02-01",
                     "--data", str(folder / "data"), "--out", str(folder / "reports"), "--notebooks", str(nbs), "-q"])
        assert code == 3  # bad data, raised inside the notebook
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "negative amount" in err[0] and "Traceback" not in err[0]
        assert Path(good.html_path).read_text(encoding="utf-8") == page
        failed = folder / "reports" / "2025-02-01" / "ops_dashboard-n-21.zh.failed.html"
        text = failed.read_text(encoding="utf-8")
        assert "报告生成失败" in text and "negative amount" in text and "raise DataContractError" in text
        assert "CUST42" not in text  # offending rows stay in the operator's notebook
        kept = folder / ".workbench-failed" / "reports" / "2025-02-01" / "ops_dashboard-n-21.zh.failed.ipynb"
        assert "CUST42" in kept.read_text(encoding="utf-8")  # outside the served folder, for the operator
        assert "../.workbench-failed/reports/2025-02-01/ops_dashboard-n-21.zh.failed.ipynb" in text
        runs = load_runs(folder / "reports")
        assert [r["status"] for r in runs] == ["ok", "failed"]
        index = (folder / "reports" / "index.html").read_text(encoding="utf-8")
        assert 'href="2025-02-01/ops_dashboard-n-21.zh.failed.html"' in index
        assert 'href="2025-02-01/ops_dashboard-n-21.zh.html"' in index  # the last good version stays reachable
        assert "私域运营看板 / Private-domain operations dashboard · n-21" in index

    def test_refused_before_running(self, folder):
        with pytest.raises(ParameterError, match="unknown report 'nope'"):
            run_report("nope", **kw(folder))
        write_notebook(folder / "notebooks", "ops_dashboard", "1")
        with pytest.raises(ParameterError, match="--lang"):
            run_report("ops_dashboard", lang="fr", **kw(folder))
        with pytest.raises(ParameterError, match="lang are set with their own options"):
            run_report("ops_dashboard", {"lang": "zh"}, **kw(folder))
        with pytest.raises(ParameterError, match="--as-of"):
            run_report("ops_dashboard", **{**kw(folder), "as_of": "yesterday"})
        write_notebook(folder / "notebooks", "untitled_report", "1")
        with pytest.raises(ReportError, match="untitled_report.title"):
            run_report("untitled_report", **kw(folder))
        write_notebook(folder / "notebooks", "clv_report", "1", params="n: int = 1")
        with pytest.raises(ReportError, match="must define lang, as_of, data_dir"):
            run_report("clv_report", **kw(folder))
        assert not (folder / "reports" / "runs.json").exists()  # nothing ran, nothing recorded


def test_index_lists_latest_runs_newest_first(tmp_path):
    def run(name, as_of, finished, status="ok", lang="en"):
        path = tmp_path / as_of / f"{name}.{lang}{'' if status == 'ok' else '.failed'}.html"
        return ReportRun(name, lang, as_of, status=status, html_path=str(path), started=finished, finished=finished,
                         error=None if status == "ok" else "RuntimeError: x")

    for r in [run("clv_report", "2025-01-01", "2025-01-01T06:00:00"),
              run("ops_dashboard", "2025-01-02", "2025-01-02T06:00:00"),
              run("churn_report", "2025-01-02", "2025-01-02T06:05:00", status="failed"),
              run("ops_dashboard", "2025-01-02", "2025-01-02T07:00:00", status="failed")]:
        record_run(r, tmp_path)
    page = write_index(tmp_path).read_text(encoding="utf-8")
    # the latest date: HQ rows, the daily ops page first though the churn report ran before it
    hq = page[page.index("<h2>总部 / HQ</h2>"):page.index("<h2>更早的运行 / Earlier runs</h2>")]
    assert re.findall(r"<tr><td>([^<]+)<div", hq) == ["私域运营看板 / Private-domain operations dashboard",
                                                     "好友流失与留存 / Contact churn and retention"]
    assert 'href="2025-01-02/ops_dashboard.en.failed.html">English</a>' in hq  # the failure page ...
    assert 'href="2025-01-02/ops_dashboard.en.html"' in hq  # ... and the last good version of the dashboard
    assert hq.count('class="wb-status-failed"') == 2 and "RuntimeError: x" in hq
    # older dates: a compact list
    earlier = page[page.index("<h2>更早的运行 / Earlier runs</h2>"):]
    assert re.findall(r'<tr><td>(.*?)</td><td><a href="([^"]+)"', earlier) == \
        [("2025-01-01", "2025-01-01/clv_report.en.html")]
    assert not re.search(r'(src|href)="https?://', page)


class TestSchedules:
    def test_load_schedule(self, tmp_path):
        path = tmp_path / "s.yml"
        path.write_text("defaults:\n  langs: [en]\n  parameters: {n: 1}\nreports:\n  - name: a\n"
                        "  - name: b\n    langs: [zh, en]\n    label: X1\n    parameters: {n: 2}\n")
        assert load_schedule(path) == [
            {"name": "a", "lang": "en", "parameters": {"n": 1}, "label": None},
            {"name": "b", "lang": "zh", "parameters": {"n": 2}, "label": "X1"},
            {"name": "b", "lang": "en", "parameters": {"n": 2}, "label": "X1"}]

    @pytest.mark.parametrize("text, match", [
        ("reports: 3\n", "non-empty list"),
        ("reports:\n  - langs: [en]\n", "needs a 'name'"),
        ("reports:\n  - name: a\n    parameter: {n: 1}\n", "unknown key.*parameter"),
        ("reports:\n  - name: a\n    langs: [fr]\n", "languages"),
        ("reports: [\n", "not valid YAML"),
    ])
    def test_bad_schedules(self, tmp_path, text, match):
        path = tmp_path / "s.yml"
        path.write_text(text)
        with pytest.raises(ParameterError, match=match):
            load_schedule(path)

    @pytest.mark.parametrize("schedule, langs", [("daily.yml", {"zh", "en"}), ("daily_zh.yml", {"zh"})])
    def test_shipped_schedule_lists_existing_reports(self, schedule, langs):
        jobs = load_schedule(ROOT / "schedules" / schedule)
        names = {j["name"] for j in jobs}
        assert "ops_dashboard" in names
        assert names <= {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert {j["lang"] for j in jobs} == langs
        assert [(j["name"], j["lang"]) for j in jobs if j.get("stores") == "all"] == [("ops_dashboard", "zh")]
        for job in jobs:  # every shipped parameter fits its notebook
            check_parameters(ROOT / "notebooks" / f"{job['name']}.ipynb", job["parameters"])

    @pytest.mark.parametrize("schedule", ["demo.yml", "ingested.yml"])
    def test_demo_schedules_list_existing_reports(self, schedule):
        """make demo's schedules: every HQ report and three store pages in both languages; the ingested brand's page."""
        jobs = load_schedule(ROOT / "schedules" / schedule)
        assert {j["name"] for j in jobs} <= {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert {j["lang"] for j in jobs} == {"zh", "en"}
        if schedule == "demo.yml":
            stores = [(j["stores"], j["lang"]) for j in jobs if j.get("stores")]
            assert stores == [(["S001", "S002", "S003"], "zh"), (["S001", "S002", "S003"], "en")]
        for job in jobs:
            check_parameters(ROOT / "notebooks" / f"{job['name']}.ipynb", job["parameters"])

    def test_skips_up_to_date_reports(self, folder):
        nbs = folder / "notebooks"
        write_notebook(nbs, "ops_dashboard", "print(n)")
        sched = folder / "daily.yml"
        sched.write_text("reports:\n  - name: ops_dashboard\n    langs: [en]\n    parameters: {n: 4}\n")
        opts = dict(data_dir=folder / "data", as_of="2025-02-01", out_dir=folder / "reports", notebooks_dir=nbs,
                    progress=False, skip_up_to_date=True)
        first = run_schedule(sched, **opts)
        second = run_schedule(sched, **opts)
        assert first[0].ok and second[0].ok and len(load_runs(folder / "reports")) == 1
        sched.write_text("reports:\n  - name: ops_dashboard\n    langs: [en]\n    parameters: {n: 5}\n")
        run_schedule(sched, **opts)  # parameters changed: runs again
        assert len(load_runs(folder / "reports")) == 2
        assert json.loads((folder / "reports" / "runs.json").read_text())[-1]["parameters"] == {"n": 5}


PAYLOAD = "<img src=x onerror=alert(1)>"


class TestLabels:
    def test_auto_label_from_non_default_parameters(self):
        from workbench.reports import NotebookParameter, auto_label

        declared = {"store_id": NotebookParameter("store_id", str, ""),
                    "period_days": NotebookParameter("period_days", int, 30),
                    "metrics": NotebookParameter("metrics", list, ["gmv"])}
        assert auto_label(declared, {}) is None
        assert auto_label(declared, {"period_days": 30, "store_id": ""}) is None  # the defaults: the default page
        assert auto_label(declared, {"store_id": "S001"}) == "store_id-S001"
        assert auto_label(declared, {"store_id": "S001", "period_days": 7}) == "period_days-7_store_id-S001"
        odd = [auto_label(declared, {"store_id": v}) for v in (PAYLOAD, "../../etc", "a b", "a_b")]
        assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", x) for x in odd) and len(set(odd)) == 4
        assert auto_label(declared, {"metrics": ["gmv", "orders"]}).startswith("metrics-")

    def test_store_page_does_not_replace_the_hq_page(self, folder, tiny):
        tiny["stores"].to_parquet(folder / "data" / "stores.parquet")
        write_notebook(folder / "notebooks", "ops_dashboard",
                       "from IPython.display import display, Markdown\n"
                       "display(Markdown(f'view **{store_id or \"HQ\"}**'))")
        hq = run_report("ops_dashboard", {}, lang="zh", **kw(folder))
        store = run_report("ops_dashboard", {"store_id": "S1"}, lang="zh", **kw(folder))
        assert hq.ok and store.ok, (hq.error, store.error)
        assert Path(hq.html_path).name == "ops_dashboard.zh.html"
        assert Path(store.html_path).name == "ops_dashboard-store_id-S1.zh.html"
        assert "view <strong>HQ</strong>" in Path(hq.html_path).read_text(encoding="utf-8")
        assert "view <strong>S1</strong>" in Path(store.html_path).read_text(encoding="utf-8")
        assert (store.store_name, store.region) == ("Store one", "East") and hq.store_name is None
        index = (folder / "reports" / "index.html").read_text(encoding="utf-8")
        hq_part, stores_part = index.split("<h2>门店 / Stores</h2>")
        assert re.findall(r'<a href="2025-02-01/([^"]+)">', hq_part) == ["ops_dashboard.zh.html"]
        assert re.findall(r'<h3>([^<]+)</h3>.*?<td>([^<]+)</td><td>([^<]+)</td><td><a href="2025-02-01/([^"]+)">',
                          stores_part) == [("East", "Store one", "私域运营看板 / Private-domain operations dashboard",
                                            "ops_dashboard-store_id-S1.zh.html")]


def test_failure_page_and_index_escape_hostile_values(folder):
    """Parameters, error messages and labels reach HTML escaped, on good and failed pages alike."""
    nbs = folder / "notebooks"
    write_notebook(nbs, "ops_dashboard", "print(label)")
    good = run_report("ops_dashboard", {"label": PAYLOAD}, lang="en", **kw(folder))
    write_notebook(nbs, "ops_dashboard", f"raise RuntimeError({PAYLOAD!r} + ' in ' + label)")
    bad = run_report("ops_dashboard", {"label": PAYLOAD + "2"}, lang="en", **kw(folder))
    assert good.ok and bad.status == "failed" and PAYLOAD in bad.error
    pages = [Path(good.html_path), Path(bad.html_path), folder / "reports" / "index.html"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<img" not in text and "onerror=alert(1)&gt;" in text, page.name


def test_refused_schedule_job_does_not_shadow_the_default_page(folder, tiny):
    """A job refused before running (an unknown store) is recorded under its own label."""
    tiny["stores"].to_parquet(folder / "data" / "stores.parquet")
    write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
    sched = folder / "s.yml"
    sched.write_text("reports:\n  - name: ops_dashboard\n    langs: [en]\n"
                     "  - name: ops_dashboard\n    langs: [en]\n    parameters: {store_id: S999}\n")
    runs = run_schedule(sched, data_dir=folder / "data", as_of="2025-02-01", out_dir=folder / "reports",
                        notebooks_dir=folder / "notebooks", progress=False)
    assert [r.status for r in runs] == ["ok", "failed"] and "unknown store_id 'S999'" in runs[1].error
    assert runs[1].label == "store_id-S999" and runs[1].error_type == "ParameterError"
    index = (folder / "reports" / "index.html").read_text(encoding="utf-8")
    assert index.count('class="wb-status-ok"') == 1 and index.count('class="wb-status-failed"') == 1
