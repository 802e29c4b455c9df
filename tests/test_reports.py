"""The report pipeline and CLI: parameters checked first, failures visible, good reports never overwritten."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from workbench import ParameterError
from workbench.cli import main
from workbench.reports import check_parameters, notebook_parameters, run_report

ROOT = Path(__file__).resolve().parents[1]


def write_notebook(folder: Path, name: str, body: str, params: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params or 'lang: str = "en"\nas_of: str = ""\ndata_dir: str = ""\n'
                                     'n: int = 3\nratio: float = 0.5\nflag: bool = False\nlabel = "x"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("## Section one"), nbformat.v4.new_code_cell(body),
                nbformat.v4.new_markdown_cell("### Part two")]
    nb.metadata["kernelspec"] = {"name": "workbench", "display_name": "workbench", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture()
def folder(tmp_path, tiny):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    tiny["orders"].to_parquet(data / "orders.parquet")
    return tmp_path


class TestParameters:
    def test_typed_cell(self, folder):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
        params = notebook_parameters(path)
        assert params["n"].type is int and params["ratio"].type is float and params["flag"].type is bool
        assert params["label"].type is str and params["label"].default == "x"

    def test_conversion_of_cli_strings(self, folder):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
        assert check_parameters(path, {"n": "7", "ratio": "2", "flag": "yes"}) == {"n": 7, "ratio": 2.0, "flag": True}

    @pytest.mark.parametrize("given, match", [({"nn": "1"}, "unknown parameter"), ({"n": "seven"}, "expects int"),
                                              ({"flag": "maybe"}, "expects bool"), ({"ratio": "x"}, "expects float")])
    def test_bad_parameters(self, folder, given, match):
        path = write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
        with pytest.raises(ParameterError, match=match):
            check_parameters(path, given)


class TestRunReport:
    def test_good_then_failed_run_keeps_the_good_report(self, folder):
        nbs = folder / "notebooks"
        write_notebook(nbs, "ops_dashboard", "from IPython.display import display, Markdown\n"
                                              "display(Markdown(f'value **{n * 2}**'))\nsecret_code_marker = 1")
        kw = dict(as_of="2025-02-01", data_dir=folder / "data", out_dir=folder / "reports", notebooks_dir=nbs)
        good = run_report("ops_dashboard", {"n": 21}, lang="en", **kw)
        assert good.ok, good.error
        page = Path(good.html_path).read_text()
        assert "value <strong>42</strong>" in page
        assert "secret_code_marker" not in page  # no input code
        assert "Private-domain operations dashboard" in page and "2025-02-01" in page  # header
        assert 'href="#section-one"' in page.lower() or "Contents" in page  # table of contents
        assert not re.search(r'(src|href)="https?://', page)  # self-contained
        write_notebook(nbs, "ops_dashboard", "raise ValueError('boom from the notebook')")
        bad = run_report("ops_dashboard", {"n": 1}, lang="en", **kw)
        assert bad.status == "failed" and "boom from the notebook" in bad.error
        assert Path(good.html_path).read_text() == page  # untouched
        failed = Path(bad.html_path)
        assert failed.name == "ops_dashboard.en.failed.html" and "boom from the notebook" in failed.read_text()
        runs = json.loads((folder / "reports" / "runs.json").read_text())
        assert [r["status"] for r in runs] == ["ok", "failed"]
        index = (folder / "reports" / "index.html").read_text()
        assert "ops_dashboard.en.failed.html" in index

    def test_unknown_report_and_language(self, folder):
        kw = dict(as_of="2025-02-01", data_dir=folder / "data", out_dir=folder / "reports",
                  notebooks_dir=folder / "notebooks")
        with pytest.raises(ParameterError, match="unknown report"):
            run_report("nope", **kw)
        write_notebook(folder / "notebooks", "ops_dashboard", "1")
        with pytest.raises(ParameterError, match="--lang"):
            run_report("ops_dashboard", lang="fr", **kw)
        with pytest.raises(ParameterError, match="set with its own option"):
            run_report("ops_dashboard", {"lang": "zh"}, **kw)


class TestCli:
    def test_exit_codes(self, folder, capsys):
        nbs = folder / "notebooks"
        write_notebook(nbs, "ops_dashboard", "print(n)")
        base = ["--data", str(folder / "data"), "--out", str(folder / "reports"), "--notebooks", str(nbs),
                "--as-of", "2025-02-01"]
        assert main(["report", "ops_dashboard", "-p", "n", "abc", *base]) == 2
        assert "expects int" in capsys.readouterr().err
        assert main(["report", "ops_dashboard", "-p", "bogus", "1", *base]) == 2
        assert main(["validate", "--data", str(folder / "data"), "--as-of", "2025-01-03"]) == 3
        assert "order_time" in capsys.readouterr().err
        assert main(["validate", "--data", str(folder / "missing")]) == 2

    def test_schedule_continues_past_failures(self, folder, capsys):
        nbs = folder / "notebooks"
        write_notebook(nbs, "ops_dashboard", "print(n)")
        write_notebook(nbs, "clv_report", "raise RuntimeError('x')")
        sched = folder / "daily.yml"
        sched.write_text("reports:\n  - name: clv_report\n    langs: [en]\n  - name: ops_dashboard\n    langs: [en]\n"
                         "  - name: missing_report\n    langs: [en]\n")
        code = main(["run", str(sched), "--data", str(folder / "data"), "--out", str(folder / "reports"),
                     "--notebooks", str(nbs), "--as-of", "2025-02-01"])
        assert code == 1
        out = capsys.readouterr()
        assert "1 ok, 2 failed" in out.out
        runs = json.loads((folder / "reports" / "runs.json").read_text())
        assert {r["name"]: r["status"] for r in runs} == {"clv_report": "failed", "ops_dashboard": "ok",
                                                          "missing_report": "failed"}

    def test_bad_schedule(self, folder):
        sched = folder / "bad.yml"
        sched.write_text("reports: 3\n")
        assert main(["run", str(sched), "--data", str(folder / "data"), "--as-of", "2025-02-01"]) == 2


def test_shipped_schedule_lists_existing_reports():
    from workbench.reports import load_schedule

    jobs = load_schedule(ROOT / "schedules" / "daily.yml")
    names = {j["name"] for j in jobs}
    assert names <= {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert {j["lang"] for j in jobs} == {"zh", "en"}


def test_schedule_skips_up_to_date_reports(folder):
    from workbench.reports import load_runs, run_schedule

    nbs = folder / "notebooks"
    write_notebook(nbs, "ops_dashboard", "print(n)")
    sched = folder / "daily.yml"
    sched.write_text("reports:\n  - name: ops_dashboard\n    langs: [en]\n    parameters: {n: 4}\n")
    kw = dict(data_dir=folder / "data", as_of="2025-02-01", out_dir=folder / "reports", notebooks_dir=nbs,
              progress=False, skip_up_to_date=True)
    first = run_schedule(sched, **kw)
    second = run_schedule(sched, **kw)
    assert first[0].ok and second[0].ok and len(load_runs(folder / "reports")) == 1
    sched.write_text("reports:\n  - name: ops_dashboard\n    langs: [en]\n    parameters: {n: 5}\n")
    run_schedule(sched, **kw)  # parameters changed: runs again
    assert len(load_runs(folder / "reports")) == 2
