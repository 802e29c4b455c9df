"""The ``workbench`` command: exit codes, one-line errors, schedules that carry on past failures.

Two notebooks are executed in this file (the schedule test); the rest stops before papermill.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from workbench.cli import main


def write_notebook(folder: Path, name: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('lang: str = "en"\nas_of: str = ""\ndata_dir: str = ""\nn: int = 3')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


@pytest.fixture()
def folder(folder):
    """The tiny brand's working folder with a one-cell ops_dashboard notebook."""
    write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
    return folder


def report_args(folder: Path, *extra: str) -> list[str]:
    return ["report", "ops_dashboard", *extra, "--data", str(folder / "data"), "--out", str(folder / "reports"),
            "--notebooks", str(folder / "notebooks"), "--as-of", "2025-02-01"]


class TestExitCodes:
    @pytest.mark.parametrize("extra, message", [
        (["-p", "n", "abc"], "'n' expects int"),
        (["-p", "bogus", "1"], "unknown parameter(s) bogus"),
        (["-p", "n", "1", "-p", "n", "2"], "given twice"),
        (["-p", "lang", "zh"], "--lang"),
        (["--lang", "fr"], "invalid choice"),
        (["--timeout", "-1"], "must be positive"),
    ])
    def test_bad_parameters_exit_2_before_running(self, folder, capsys, extra, message):
        assert main(report_args(folder, *extra)) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (folder / "reports").exists()  # nothing ran

    def test_unknown_report_exit_2(self, folder, capsys):
        args = report_args(folder)
        args[1] = "no_such_report"
        assert main(args) == 2
        assert "unknown report 'no_such_report'; available: ops_dashboard" in capsys.readouterr().err.replace(
            f" in {folder / 'notebooks'}", "")

    def test_validate(self, folder, capsys):
        assert main(["validate", "--data", str(folder / "data")]) == 0
        out = capsys.readouterr().out
        assert "ok      orders" in out and "ok      contact_events" in out
        # events on/after as-of are data from the future: exit 3, the table and column named
        assert main(["validate", "--data", str(folder / "data"), "--as-of", "2025-01-03"]) == 3
        captured = capsys.readouterr()
        assert "order_time" in captured.err and "ok      stores" in captured.out
        assert main(["validate", "--data", str(folder / "missing")]) == 2
        assert "data directory not found" in capsys.readouterr().err

    def test_debug_shows_the_traceback(self, folder, capsys):
        assert main(["validate", "--data", str(folder / "missing"), "--debug"]) == 2
        assert "Traceback" in capsys.readouterr().err

    def test_help_documents_exit_codes(self, capsys):
        assert main(["--help"]) == 0
        out = capsys.readouterr().out
        assert "exit codes: 0 ok, 1 a report failed, 2 bad arguments" in out and "3 bad input data" in out
        for command in ("simulate", "validate", "report", "run", "index"):
            assert command in out

    def test_no_command_exit_2(self, capsys):
        assert main([]) == 2
        assert "required" in capsys.readouterr().err


def test_simulate_passes_options(monkeypatch, tmp_path, capsys):
    import workbench.simulate as sim

    seen = {}

    class Brand:
        tables = {"orders": None}
        truth = {"counts": {"customers": 10, "orders": 20}}

    def fake(**kwargs):
        seen.update(kwargs)
        return Brand()

    monkeypatch.setattr(sim, "simulate_brand", fake)
    assert main(["simulate", "--customers", "10", "--seed", "3", "--out", str(tmp_path), "--stores", "2",
                 "--staff", "5", "--months", "3"]) == 0
    assert {k: seen[k] for k in ("n_customers", "seed", "n_stores", "n_staff", "months", "progress")} == \
        {"n_customers": 10, "seed": 3, "n_stores": 2, "n_staff": 5, "months": 3, "progress": True}
    assert Path(seen["out"]) == tmp_path and "customers 10" in capsys.readouterr().out
    assert main(["simulate", "--customers", "0", "--out", str(tmp_path)]) == 2


class TestRun:
    def test_schedule_continues_past_failures(self, folder, capsys):
        nbs = folder / "notebooks"
        write_notebook(nbs, "clv_report", "raise RuntimeError('boom in the clv notebook')")
        sched = folder / "daily.yml"
        sched.write_text("reports:\n  - name: clv_report\n    langs: [en]\n  - name: ops_dashboard\n    langs: [en]\n"
                         "    parameters: {n: 4}\n  - name: missing_report\n    langs: [en]\n"
                         "  - name: ops_dashboard\n    label: bad\n    langs: [en]\n    parameters: {n: four}\n")
        code = main(["run", str(sched), "--data", str(folder / "data"), "--out", str(folder / "reports"),
                     "--notebooks", str(nbs), "--as-of", "2025-02-01"])
        assert code == 2  # the most serious failure: an unknown report and a bad parameter (over 1, a crash)
        out = capsys.readouterr().out
        assert "1 ok, 3 failed" in out and "boom in the clv notebook" in out and "ops_dashboard-n-4.en" in out
        runs = json.loads((folder / "reports" / "runs.json").read_text())
        assert [(r["name"], r["status"]) for r in runs] == [
            ("clv_report", "failed"), ("ops_dashboard", "ok"), ("missing_report", "failed"), ("ops_dashboard", "failed")]
        assert "expects int" in runs[3]["error"]
        assert runs[3]["label"] == "bad"  # a refused job keeps its label ...
        assert runs[2]["label"] is None and runs[1]["label"] == "n-4"  # ... or the one its parameters give
        assert (folder / "reports" / "2025-02-01" / "clv_report.en.failed.html").exists()
        index = (folder / "reports" / "index.html").read_text(encoding="utf-8")
        assert "clv_report.en.failed.html" in index and "ops_dashboard-n-4.en.html" in index
        assert main(["index", "--out", str(folder / "reports")]) == 0  # rebuilt from runs.json alone

    @pytest.mark.parametrize("text", ["reports: 3\n", "reports:\n  - name: a\n    parameter: {n: 1}\n"])
    def test_bad_schedule_exit_2(self, folder, text, capsys):
        sched = folder / "bad.yml"
        sched.write_text(text)
        assert main(["run", str(sched), "--data", str(folder / "data"), "--as-of", "2025-02-01"]) == 2
        assert "schedule" in capsys.readouterr().err

    def test_missing_schedule_exit_2(self, folder, capsys):
        assert main(["run", str(folder / "nope.yml"), "--as-of", "2025-02-01"]) == 2
        assert "schedule not found" in capsys.readouterr().err


PARAMS_WITH_IDS = ('lang: str = "en"\nas_of: str = ""\ndata_dir: str = ""\nperiod_days: int = 30\n'
                   'store_id: str = ""\nexperiment_id: str = "EXP1"')


class TestParameterValues:
    """Values are checked against the data before a kernel starts (exit 2, the parameter named)."""

    @pytest.mark.parametrize("extra, message", [
        (["-p", "store_id", "S999"], "unknown store_id 'S999': not in the stores table of data; known: S1, S2"),
        (["-p", "period_days", "-5"], "parameter 'period_days' must be positive, got -5"),
        (["-p", "period_days", "0"], "parameter 'period_days' must be positive, got 0"),
        (["-p", "experiment_id", "EXP_NOPE"], "unknown experiment_id 'EXP_NOPE'"),
        (["-p", "store_id", "<img src=x onerror=alert(1)>"], "unknown store_id '<img src=x onerror=alert(1)>'"),
    ])
    def test_bad_values_exit_2_before_running(self, folder, capsys, extra, message):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell(PARAMS_WITH_IDS)
        cell.metadata["tags"] = ["parameters"]
        nb.cells = [cell, nbformat.v4.new_code_cell("raise RuntimeError('must not run')")]
        nbformat.write(nb, str(folder / "notebooks" / "ops_dashboard.ipynb"))
        import pandas as pd

        pd.DataFrame({"experiment_id": ["EXP1"], "unit": ["customer"],
                      "start_at": [pd.Timestamp("2025-01-01")]}).to_parquet(folder / "data" / "experiments.parquet")
        assert main(report_args(folder, *extra)) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (folder / "reports").exists()  # nothing ran, nothing recorded


@pytest.mark.parametrize("statuses, code", [
    (["ok"], 0), (["ok", "RuntimeError"], 1), (["ParameterError", "RuntimeError"], 2),
    (["RuntimeError", "DataContractError", "ParameterError"], 3),
])
def test_run_exits_with_its_most_serious_failure(statuses, code):
    from workbench.cli import run_exit_code
    from workbench.reports import ReportRun

    runs = [ReportRun("r", "en", "2025-02-01", status="ok" if s == "ok" else "failed",
                      error_type=None if s == "ok" else s) for s in statuses]
    assert max(run_exit_code(r) for r in runs) == code


def test_strict_is_passed_to_the_report_kernels(folder, capsys, monkeypatch):
    # setenv records the variable's absence, so teardown removes what --strict set in this process
    monkeypatch.setenv("WORKBENCH_STRICT_AS_OF", "0")
    write_notebook(folder / "notebooks", "ops_dashboard",
                   "import os\nassert os.environ.get('WORKBENCH_STRICT_AS_OF') == '1', 'not strict'")
    assert main(report_args(folder, "--strict")) == 0, capsys.readouterr().err


class TestHelp:
    def test_help_imports_no_analysis_stack(self):
        """--help answers at once: the package's heavy dependencies are not imported for it."""
        import subprocess
        import sys

        code = ("import sys\nfrom workbench.cli import main\n"
                "for argv in (['--help'], ['report', '--help'], ['run', '--help'], ['simulate', '--help']):\n"
                "    assert main(argv) == 0\n"
                "heavy = sorted(m for m in ('pandas', 'duckdb', 'numpy', 'scipy', 'nbformat', 'papermill') "
                "if m in sys.modules)\n"
                "print('HEAVY', heavy)")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "HEAVY []" in done.stdout
        assert "(default: data/demo)" in done.stdout and "--strict" in done.stdout
        assert "reports: churn_report, clv_report" in done.stdout or "workbench reports" in done.stdout

    def test_reports_lists_typed_parameters_with_defaults(self, capsys):
        root = Path(__file__).resolve().parents[2]
        assert main(["reports", "--notebooks", str(root / "notebooks")]) == 0
        out = capsys.readouterr().out
        assert "ops_dashboard" in out and "Private-domain operations dashboard" in out
        assert "-p period_days" in out and "int" in out and "default 30" in out
        assert "-p store_id" in out and "-p experiment_id" in out
        assert "-p lang" not in out  # standard parameters have their own options


class TestSimulateRefusesForeignData:
    def test_refused_without_force(self, tmp_path, capsys):
        real = tmp_path / "brand"
        real.mkdir()
        (real / "orders.csv").write_text("order_id,customer_id\nO1,C1\nO2,C2\n", encoding="utf-8")
        before = (real / "orders.csv").read_bytes()
        assert main(["simulate", "--customers", "200", "--stores", "2", "--staff", "4", "--months", "2",
                     "--out", str(real)]) == 2
        err = capsys.readouterr().err
        assert "holds data the simulator did not write (orders.csv)" in err and "--force" in err
        assert (real / "orders.csv").read_bytes() == before and sorted(p.name for p in real.iterdir()) == ["orders.csv"]

    def test_own_output_rewritten_and_force_overrides(self, tmp_path, capsys):
        args = ["simulate", "--customers", "200", "--stores", "2", "--staff", "4", "--months", "2", "--format", "csv"]
        sim = tmp_path / "sim"
        assert main([*args, "--out", str(sim)]) == 0
        assert (sim / ".workbench-simulated").exists()
        assert main([*args, "--out", str(sim), "--seed", "1"]) == 0  # its own folder: no --force needed
        real = tmp_path / "brand"
        real.mkdir()
        (real / "orders.csv").write_text("order_id\nO1\n", encoding="utf-8")
        assert main([*args, "--out", str(real), "--force"]) == 0
        assert len((real / "orders.csv").read_text().splitlines()) > 2


def test_at_risk_default_path_is_beside_the_data_and_ignored_by_git():
    from workbench.cli import default_export_path

    root = Path(__file__).resolve().parents[2]
    path = default_export_path(root / "data" / "demo", "2026-01-01")
    assert path == root / "data" / "exports" / "at_risk_2026-01-01.csv"
    ignored = (root / ".gitignore").read_text(encoding="utf-8").split()
    assert {"data/", "/data/"} & set(ignored)  # the demo's exports never reach a commit


def test_at_risk_export_defaults_beside_the_data_with_private_mode(folder, monkeypatch, capsys):
    import stat

    import workbench.churn.risk as risk

    def fake_export(wb, as_of, path, horizon_days=30.0, top=None):  # the ranking itself is tested with churn
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("rank,customer_id\n1,C1\n", encoding="utf-8")
        return path

    monkeypatch.setattr(risk, "export_at_risk", fake_export)
    assert main(["at-risk", "--data", str(folder / "data"), "--as-of", "2025-02-01"]) == 0
    path = folder / "exports" / "at_risk_2025-02-01.csv"
    assert f"wrote {path}" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # real customer ids


class TestBuild:
    """``workbench build``: one line per build (full, then reused, then full again with --full), exit codes."""

    def test_build_reuse_and_full(self, folder, capsys):
        args = ["build", "--data", str(folder / "data"), "--as-of", "2025-02-01"]
        assert main(args) == 0
        first = capsys.readouterr().out.strip().splitlines()
        assert len(first) == 1 and first[0].startswith("full ") and "as of 2025-02-01" in first[0]
        assert main(args) == 0
        assert capsys.readouterr().out.startswith("reused ")
        assert main([*args, "--full"]) == 0
        assert capsys.readouterr().out.startswith("full ")
        assert (folder / "data" / ".layer" / "manifest.json").exists()

    def test_build_exit_codes(self, folder, capsys):
        assert main(["build", "--data", str(folder / "data"), "--as-of", "2025-13-01"]) == 2
        assert main(["build", "--data", str(folder / "data"), "--memory-limit", "lots"]) == 2
        assert "memory size 'lots'" in capsys.readouterr().err
        import pandas as pd

        orders = pd.read_parquet(folder / "data" / "orders.parquet")
        orders.loc[0, "amount"] = -5.0  # the contract refuses a negative amount
        orders.to_parquet(folder / "data" / "orders.parquet")
        assert main(["build", "--data", str(folder / "data"), "--as-of", "2025-02-01"]) == 3
        err = capsys.readouterr().err
        assert "bad input data" in err and "amount" in err and "Traceback" not in err

    def test_run_builds_or_reuses_the_layer_first(self, folder, capsys):
        sched = folder / "one.yml"
        sched.write_text("reports:\n  - name: ops_dashboard\n    langs: [en]\n")
        args = ["run", str(sched), "--data", str(folder / "data"), "--out", str(folder / "reports"),
                "--notebooks", str(folder / "notebooks"), "--as-of", "2025-02-01", "--workers", "1"]
        assert main(args) == 0
        assert "layer full:" in capsys.readouterr().err
        assert main(args) == 0
        assert "layer reused:" in capsys.readouterr().err
        assert main([*args, "--no-layer"]) == 0
        assert "layer" not in capsys.readouterr().err.replace("derived layer", "")

    def test_build_help_imports_no_analysis_stack(self):
        import subprocess
        import sys

        code = ("import sys\nfrom workbench.cli import main\n"
                "assert main(['build', '--help']) == 0\n"
                "print('HEAVY', sorted(m for m in ('pandas', 'duckdb', 'numpy', 'papermill') if m in sys.modules))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "HEAVY []" in done.stdout and "--full" in done.stdout and "--layer DIR" in done.stdout
