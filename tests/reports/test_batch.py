"""Parallel batches: the same pages as a serial run, every run recorded once in schedule order, failures
contained, workers and kernel memory following the budget, SIGTERM ending every kernel.

The notebooks here are small (the tiny brand, a few cells); about twenty kernels start in this file.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.pages.rendered import page_text
from workbench.cli import main
from workbench.errors import ParameterError
from workbench.reports import run_schedule
from workbench.reports.schedule import KERNEL_FLOOR, PARENT_RESERVE, parse_size, plan_batch

AS_OF = "2025-02-01"
PARAMS = 'lang: str = "en"\nas_of: str = ""\ndata_dir: str = ""\nn: int = 3'
WAIT_S = 90  # upper bound for kernels to start on a busy machine; normal runs take a few seconds
#: a page that states numbers computed from the data (so a mix-up between runs would show)
STATES = ("import pathlib\nimport pandas as pd\n"
          "orders = pd.read_parquet(pathlib.Path(data_dir) / 'orders.parquet')\n"
          "print(f'report {n} in {lang}: {len(orders) * n} orders x n, GMV {orders[\"amount\"].sum() * n:.2f}')")


def write_notebook(folder: Path, name: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(PARAMS)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


def write_schedule(folder: Path, text: str) -> Path:
    path = folder / "batch.yml"
    path.write_text(text, encoding="utf-8")
    return path


def batch(folder: Path, schedule: Path, out: str, workers: int, memory_limit: str = "64GiB", **kw):
    return run_schedule(schedule, data_dir=folder / "data", as_of=AS_OF, out_dir=folder / out,
                        notebooks_dir=folder / "notebooks", workers=workers, memory_limit=memory_limit, **kw)


def recorded(folder: Path, out: str) -> list[tuple[str, str | None, str, str]]:
    runs = json.loads((folder / out / "runs.json").read_text(encoding="utf-8"))
    return [(r["name"], r.get("label"), r["lang"], r["status"]) for r in runs]


def without_clock(text: str) -> str:
    """Page text without the generation time (the only thing two runs may differ in)."""
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<time>", text)


SIX_JOBS = ("reports:\n  - name: clv_report\n  - name: ops_dashboard\n    parameters: {n: 2}\n"
            "  - name: ops_dashboard\n    parameters: {n: 5}\n")


def test_parallel_run_gives_the_serial_pages_and_records_each_run_once(folder, tiny):
    nbs = folder / "notebooks"
    write_notebook(nbs, "clv_report", "raise RuntimeError('boom in the clv notebook')")
    write_notebook(nbs, "ops_dashboard", STATES)
    schedule = write_schedule(folder, SIX_JOBS)
    serial = batch(folder, schedule, "serial", workers=1)
    parallel = batch(folder, schedule, "parallel", workers=2)
    expected = [("clv_report", None, "zh", "failed"), ("clv_report", None, "en", "failed"),
                ("ops_dashboard", "n-2", "zh", "ok"), ("ops_dashboard", "n-2", "en", "ok"),
                ("ops_dashboard", "n-5", "zh", "ok"), ("ops_dashboard", "n-5", "en", "ok")]
    # every run once, in schedule order, in runs.json and in what run_schedule returns; the failing report
    # (first in the schedule, so running beside the others) stopped none of them
    assert recorded(folder, "serial") == recorded(folder, "parallel") == expected
    assert [(r.name, r.label, r.lang, r.status) for r in parallel] == expected
    for s, p in zip(serial, parallel, strict=True):
        assert Path(p.html_path).name == Path(s.html_path).name
        assert without_clock(page_text(p.html_path)).replace("parallel", "<out>") == \
            without_clock(page_text(s.html_path)).replace("serial", "<out>")
    text = page_text(parallel[5])
    assert f"report 5 in en: {len(tiny['orders']) * 5} orders x n, GMV {tiny['orders']['amount'].sum() * 5:.2f}" in text
    assert "boom in the clv notebook" in page_text(parallel[0].html_path)
    index = (folder / "parallel" / "index.html").read_text(encoding="utf-8")
    assert "ops_dashboard-n-5.en.html" in index and "clv_report.en.failed.html" in index
    again = batch(folder, schedule, "parallel", workers=2, skip_up_to_date=True)  # nothing changed: nothing runs
    assert [r.html_path for r in again[2:]] == [r.html_path for r in parallel[2:]]
    assert len(recorded(folder, "parallel")) == 6 + 2  # only the two failed runs ran (and were recorded) again


def test_a_reports_second_language_starts_after_the_next_reports_first(folder):
    """zh and en of one report never start side by side (the en kernel then reads what the zh one kept beside
    the layer instead of computing it beside it), and each report keeps its place otherwise; runs.json keeps
    the schedule's order."""
    nbs = folder / "notebooks"
    write_notebook(nbs, "ops_dashboard", "import pathlib\n"
                   "with open(pathlib.Path(data_dir).parent / 'started.txt', 'a') as f:\n"
                   "    f.write(f'{n}.{lang} ')")
    schedule = write_schedule(folder, "reports:\n" + "".join(
        f"  - name: ops_dashboard\n    parameters: {{n: {n}}}\n" for n in (2, 5, 7)))
    batch(folder, schedule, "ordered", workers=1)
    assert (folder / "started.txt").read_text().split() == ["2.zh", "5.zh", "2.en", "7.zh", "5.en", "7.en"]
    assert recorded(folder, "ordered") == [("ops_dashboard", f"n-{n}", lang, "ok") for n in (2, 5, 7)
                                           for lang in ("zh", "en")]


def test_a_reports_second_language_waits_for_its_first_to_end(folder):
    """With two workers a free worker takes the next job that may start: report 2's en (its zh has ended)
    before report 1's en, which starts only after report 1's zh has ended."""
    nbs = folder / "notebooks"
    write_notebook(nbs, "ops_dashboard", "import pathlib, time\n"
                   "log = pathlib.Path(data_dir).parent / 'events.txt'\n"
                   "with open(log, 'a') as f:\n    f.write(f'start-{n}.{lang} ')\n"
                   "for _ in range(600 if (n, lang) == (1, 'zh') else 0):  # report 1's zh ends after 2's en starts\n"
                   "    if 'start-2.en' in log.read_text():\n        break\n    time.sleep(0.1)\n"
                   "with open(log, 'a') as f:\n    f.write(f'end-{n}.{lang} ')")
    schedule = write_schedule(folder, "reports:\n" + "".join(
        f"  - name: ops_dashboard\n    parameters: {{n: {n}}}\n" for n in (1, 2)))
    runs = batch(folder, schedule, "waiting", workers=2)
    assert [r.status for r in runs] == ["ok"] * 4
    events = (folder / "events.txt").read_text().split()
    assert events.index("end-1.zh") < events.index("start-1.en")
    assert events.index("end-2.zh") < events.index("start-2.en") < events.index("end-1.zh")


def test_store_pages_wait_for_the_first_store_page(folder):
    """The first store page computes every store's tables; with two workers the other store pages start only
    once it has ended, instead of computing them beside it."""
    nbs = folder / "notebooks"
    write_notebook(nbs, "ops_dashboard", "import pathlib, time\n"
                   "log = pathlib.Path(data_dir).parent / 'stores.txt'\n"
                   "with open(log, 'a') as f:\n    f.write(f'start-{store_id} ')\n"
                   "time.sleep(3 if store_id == 'S1' else 0)\n"
                   "with open(log, 'a') as f:\n    f.write(f'end-{store_id} ')")
    nb = nbformat.read(str(nbs / "ops_dashboard.ipynb"), as_version=4)
    nb.cells[0].source += '\nstore_id: str = ""'
    nbformat.write(nb, str(nbs / "ops_dashboard.ipynb"))
    schedule = write_schedule(folder, "reports:\n  - name: ops_dashboard\n    langs: [zh]\n"
                                      "    stores: all\n")
    runs = batch(folder, schedule, "stores", workers=2)
    assert [r.status for r in runs] == ["ok"] * 2, [r.error for r in runs]   # the tiny brand's S1 and S2
    assert (folder / "stores.txt").read_text().split() == ["start-S1", "end-S1", "start-S2", "end-S2"]


def test_kernels_run_at_once_with_their_share_of_the_budget(folder, monkeypatch):
    """Two reports that each wait for the other to start can only both finish if they run together; each
    kernel sees the DuckDB limit the plan gives it, and the parent's environment is restored afterwards."""
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "5GB")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "")  # unset: the batch gives each kernel its share of the cores
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # set by the operator: kept
    body = ("import os, pathlib, time\nhere = pathlib.Path('.')\n(here / f'started-{n}').write_text('yes')\n"
            "for _ in range(900):\n    if len(list(here.glob('started-*'))) >= 2:\n        break\n"
            "    time.sleep(0.1)\nelse:\n    raise RuntimeError('ran alone')\n"
            "print('limit', os.environ['WORKBENCH_MEMORY_LIMIT'])\n"
            "print('threads', os.environ['OPENBLAS_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])")
    write_notebook(folder / "notebooks", "ops_dashboard", body)
    schedule = write_schedule(folder, "reports:\n  - name: ops_dashboard\n    langs: [en]\n    parameters: {n: 1}\n"
                                      "  - name: ops_dashboard\n    langs: [en]\n    parameters: {n: 2}\n")
    runs = batch(folder, schedule, "reports", workers=2, memory_limit="8GiB")
    assert [r.status for r in runs] == ["ok", "ok"], [r.error for r in runs]
    share = (8 * 2**30 - PARENT_RESERVE) // 2
    for run in runs:
        assert f"limit {share // 2 // 2**20}MB" in page_text(run)  # 1920MB: half of (8 GiB - 512 MiB) / 2
        assert f"threads {max(1, (os.cpu_count() or 1) // 2)} 3" in page_text(run)
    assert os.environ["WORKBENCH_MEMORY_LIMIT"] == "5GB" and os.environ["OPENBLAS_NUM_THREADS"] == ""


def test_a_report_out_of_memory_beside_others_runs_again_alone_with_the_whole_budget(folder):
    """A kernel whose engine runs out of its share beside another kernel runs once more after the others,
    alone, with the budget's one-kernel share; a report that runs out alone too is recorded failed, once."""
    body = ("import os, pathlib\nfrom workbench.errors import EngineOutOfMemoryError\n"
            "limit = os.environ['WORKBENCH_MEMORY_LIMIT']\n"
            "with open(pathlib.Path(data_dir).parent / 'tries.txt', 'a') as f:\n    f.write(f'{n}:{limit} ')\n"
            "if n == 3 or (n == 1 and limit != '3840MB'):\n"
            "    raise EngineOutOfMemoryError(f'DuckDB ran out of memory at {limit}')\n"
            "print('limit', limit)")
    write_notebook(folder / "notebooks", "ops_dashboard", body)
    schedule = write_schedule(folder, "reports:\n" + "".join(
        f"  - name: ops_dashboard\n    langs: [en]\n    parameters: {{n: {n}}}\n" for n in (1, 2, 3)))
    runs = batch(folder, schedule, "reports", workers=2, memory_limit="8GiB")
    assert [r.status for r in runs] == ["ok", "ok", "failed"], [r.error for r in runs]
    assert "limit 3840MB" in page_text(runs[0]) and "limit 1920MB" in page_text(runs[1])
    assert runs[2].error_type == "EngineOutOfMemoryError" and "3840MB" in runs[2].error
    tries = (folder / "tries.txt").read_text().split()
    assert sorted(tries) == ["1:1920MB", "1:3840MB", "2:1920MB", "3:1920MB", "3:3840MB"]
    assert set(tries[-2:]) == {"1:3840MB", "3:3840MB"}   # the second tries after every first one
    # n = 3 is the notebook's default: no label
    assert recorded(folder, "reports") == [("ops_dashboard", "n-1", "en", "ok"), ("ops_dashboard", "n-2", "en", "ok"),
                                           ("ops_dashboard", None, "en", "failed")]
    assert not (folder / "reports" / AS_OF / "ops_dashboard-n-1.en.failed.html").exists()
    assert plan_batch(1, "8GiB", n_jobs=3).alone_memory_limit is None   # one at a time already: no second try


@pytest.mark.parametrize("workers, budget, jobs, expected, duckdb_mb", [
    (2, "8GiB", 12, 2, 1920),     # cores first: 2 kernels of 3.75 GiB
    (8, "8GiB", 12, 3, 1280),     # the budget: (8 GiB - 512 MiB) / 2 GiB = 3 kernels
    (8, "24GB", 12, 8, 1398),     # a large budget: the requested 8
    (8, "24GB", 2, 2, 5594),      # never more kernels than reports
    (4, "2GiB", 12, 1, 768),      # below one kernel's floor: one kernel with what there is
    (4, "512MiB", 12, 1, 256),    # nothing left after the parent's reserve: DuckDB's 256 MB minimum
])
def test_worker_count_follows_the_memory_budget(workers, budget, jobs, expected, duckdb_mb):
    plan = plan_batch(workers, budget, jobs)
    assert plan.workers == expected and plan.kernel_memory_limit == f"{duckdb_mb}MB"
    # what the kernels may use stays within the budget whenever the budget allows one kernel at the floor
    if parse_size(budget) >= PARENT_RESERVE + KERNEL_FLOOR:
        assert plan.workers * 2 * duckdb_mb * 2**20 + PARENT_RESERVE <= parse_size(budget)


def test_budget_defaults_and_sizes(monkeypatch):
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "6GiB")
    assert plan_batch(None, None, 10).budget == 6 * 2**30
    assert plan_batch(None, None, 10).workers == min(os.cpu_count() or 1, 2)
    assert parse_size("8GB") == 8 * 10**9 and parse_size("8G") == parse_size("8GiB") == 8 * 2**30
    for bad in ("lots", "8", "8XB", ""):
        with pytest.raises(ParameterError, match="memory size"):
            parse_size(bad)
    with pytest.raises(ParameterError, match="workers must be positive"):
        plan_batch(0, "8GB", 3)


def test_cli_refuses_a_bad_budget_before_running(folder, capsys):
    write_notebook(folder / "notebooks", "ops_dashboard", "raise RuntimeError('must not run')")
    schedule = write_schedule(folder, "reports:\n  - name: ops_dashboard\n")
    args = ["run", str(schedule), "--data", str(folder / "data"), "--out", str(folder / "reports"),
            "--notebooks", str(folder / "notebooks"), "--as-of", AS_OF, "--no-layer"]
    assert main([*args, "--memory-limit", "lots"]) == 2
    assert main([*args, "--workers", "0"]) == 2
    assert "memory size 'lots'" in capsys.readouterr().err
    assert not (folder / "reports").exists()


def test_sigterm_stops_every_kernel_and_records_the_running_reports(folder):
    """Three slow reports, two at a time: SIGTERM ends both kernels, records both runs as interrupted
    (in schedule order), never starts the third, leaves no temporary folder and exits 143."""
    body = ("import os, pathlib, time\npathlib.Path(f'pid-{n}').write_text(str(os.getpid()))\n"
            "for _ in range(600):\n    time.sleep(0.1)")
    nbs = folder / "notebooks"
    write_notebook(nbs, "ops_dashboard", body)
    schedule = write_schedule(folder, "reports:\n" + "".join(
        f"  - name: ops_dashboard\n    langs: [en]\n    parameters: {{n: {n}}}\n" for n in (1, 2, 3)))
    cmd = [sys.executable, "-m", "workbench.cli", "run", str(schedule), "--data", str(folder / "data"),
           "--out", str(folder / "reports"), "--notebooks", str(nbs), "--as-of", AS_OF, "--no-layer",
           "--workers", "2", "--memory-limit", "64GiB"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WAIT_S
    while len(list(nbs.glob("pid-*"))) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the reports did not start (exit {proc.returncode}): {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    kernels = [int(p.read_text()) for p in nbs.glob("pid-*")]
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("SIGTERM did not stop the batch")
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    assert recorded(folder, "reports") == [("ops_dashboard", "n-1", "en", "interrupted"),
                                           ("ops_dashboard", "n-2", "en", "interrupted")]
    assert not (nbs / "pid-3").exists()  # the third report never started
    assert list((folder / "reports" / AS_OF).glob(".tmp-*")) == []
    assert not list((folder / "reports" / AS_OF).glob("*.html"))  # no page, good or failed
    for pid in kernels:  # no kernel outlives the batch
        deadline = time.monotonic() + WAIT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), f"kernel {pid} still runs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())
