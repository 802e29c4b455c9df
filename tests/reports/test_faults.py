"""Faults around a report run: signals, kill -9 leftovers, failed notebooks kept private, quiet stderr.

The signal tests start the real ``workbench`` command in a subprocess and send it a real
signal while its notebook runs; every wait is bounded. Four notebooks are executed here.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from workbench.reports import remove_stale_temporaries, run_report
from workbench.reports.run import _quiet_kernel_manager, _temporary_folder

AS_OF = "2025-02-01"
PARAMS = 'lang: str = "en"\nas_of: str = ""\ndata_dir: str = ""\nn: int = 3'
#: the notebook says it is running (a file in its working folder), then waits to be stopped
SLOW = ("import pathlib, time\npathlib.Path('started').write_text('yes')\n"
        "for _ in range(300):\n    time.sleep(0.1)")
WAIT_S = 90  # upper bound for a kernel to start on a busy machine; normal runs take a few seconds


def write_notebook(folder: Path, name: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(PARAMS)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def cli(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli", "report", "ops_dashboard", "--lang", "en", "--as-of", AS_OF,
            "--data", str(folder / "data"), "--out", str(folder / "reports"),
            "--notebooks", str(folder / "notebooks"), *extra]


def start_slow_run(folder: Path) -> subprocess.Popen:
    """The CLI running a notebook that waits; returns once the notebook has started."""
    write_notebook(folder / "notebooks", "ops_dashboard", SLOW)
    proc = subprocess.Popen(cli(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = folder / "notebooks" / "started"
    deadline = time.monotonic() + WAIT_S
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the notebook did not start (exit {proc.returncode}): {err[-2000:]}")
        time.sleep(0.1)
    return proc


def temporaries(folder: Path) -> list[Path]:
    return list((folder / "reports" / AS_OF).glob(".tmp-*"))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_cleans_up_and_records_an_interrupted_run(folder, sig, code):
    proc = start_slow_run(folder)
    assert len(temporaries(folder)) == 1  # the run's private working folder exists while it runs
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{sig.name} did not stop the run")
    assert proc.returncode == code, err
    assert f"interrupted by {sig.name}" in err and "Traceback" not in err
    assert temporaries(folder) == []
    runs = json.loads((folder / "reports" / "runs.json").read_text(encoding="utf-8"))
    assert [(r["name"], r["status"]) for r in runs] == [("ops_dashboard", "interrupted")]
    index = (folder / "reports" / "index.html").read_text(encoding="utf-8")
    assert "已中断 / interrupted" in index
    assert not list((folder / "reports" / AS_OF).glob("*.html"))  # no page, good or failed, was written


def test_kill_9_leftovers_are_removed_by_the_next_run(folder):
    proc = start_slow_run(folder)
    proc.kill()  # SIGKILL: no handler runs, the working folder stays behind
    proc.communicate(timeout=WAIT_S)
    assert len(temporaries(folder)) == 1
    write_notebook(folder / "notebooks", "ops_dashboard", "print(n)")
    run = run_report("ops_dashboard", {}, lang="en", as_of=AS_OF, data_dir=folder / "data",
                     out_dir=folder / "reports", notebooks_dir=folder / "notebooks")
    assert run.ok, run.error
    assert temporaries(folder) == []


def test_a_live_runs_folder_is_not_removed(tmp_path):
    """Two batches may overlap: only folders whose owner is gone are removed."""
    with _temporary_folder(tmp_path) as live:
        assert remove_stale_temporaries(tmp_path) == [] and live.is_dir()
    assert not live.exists()  # removed by its owner on the way out
    old = tmp_path / ".tmp-older-version"  # no lock file (older version): removed once it is an hour old
    old.mkdir()
    assert remove_stale_temporaries(tmp_path) == []
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temporaries(tmp_path) == [old] and not old.exists()


def test_failed_run_leaves_no_customer_id_in_the_served_folder(folder):
    """A data-contract error lists offending rows; they may reach only the private notebook."""
    body = ("import pandas as pd\nfrom workbench import DataContractError\n"
            "rows = pd.DataFrame({'customer_id': ['CUSTSECRET' + str(7 * 6)], 'order_id': ['ORD' + '9' * 5]})\n"
            "raise DataContractError('orders', 'amount', 'value below 0', rows=rows, n_bad=1)")
    write_notebook(folder / "notebooks", "ops_dashboard", body)
    run = run_report("ops_dashboard", {}, lang="en", as_of=AS_OF, data_dir=folder / "data",
                     out_dir=folder / "reports", notebooks_dir=folder / "notebooks")
    assert run.status == "failed" and run.bad_data and run.error_type == "DataContractError"
    served = [p for p in (folder / "reports").rglob("*") if p.is_file()]
    assert served and not [p for p in served if b"CUSTSECRET42" in p.read_bytes() or b"ORD99999" in p.read_bytes()]
    kept = Path(run.ipynb_path)
    assert kept == folder / ".workbench-failed" / "reports" / AS_OF / "ops_dashboard.en.failed.ipynb"
    assert b"CUSTSECRET42" in kept.read_bytes()  # the operator's evidence is complete
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    for private in (kept.parent, kept.parent.parent, folder / ".workbench-failed"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, private
    page = Path(run.html_path).read_text(encoding="utf-8")
    assert f"../.workbench-failed/reports/{AS_OF}/ops_dashboard.en.failed.ipynb" in page


def test_no_kernel_interrupt_at_shutdown():
    """jupyter_client sends SIGINT before every shutdown; ipykernel then logs 'KeyboardInterrupt
    caught in kernel' on successful runs. The pipeline's kernel manager skips that interrupt only."""
    km = _quiet_kernel_manager()()
    km.shutting_down = True
    assert asyncio.run(km._async_interrupt_kernel()) is None  # nothing sent
    km.shutting_down = False
    with pytest.raises(RuntimeError, match="No kernel is running"):  # a real interrupt still goes through
        asyncio.run(km._async_interrupt_kernel())


def test_successful_cli_run_is_quiet_on_stderr(folder):
    """A cron log gets progress lines only: no kernel chatter, no progress bar, with CI=1."""
    write_notebook(folder / "notebooks", "ops_dashboard",
                   "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)):\n    pass\nprint(n)")
    env = {**os.environ, "CI": "1"}
    done = subprocess.run(cli(folder), capture_output=True, text=True, env=env, timeout=WAIT_S * 2)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(" INFO    " in line for line in lines), done.stderr
    sim = subprocess.run([sys.executable, "-m", "workbench.cli", "simulate", "--customers", "200", "--stores", "2",
                          "--staff", "4", "--months", "2", "--out", str(folder / "sim")],
                         capture_output=True, text=True, env=env, timeout=WAIT_S * 2)
    assert sim.returncode == 0 and sim.stderr == "", sim.stderr  # no tqdm bar into a redirected stderr


def test_interrupted_run_is_shown_in_the_index(tmp_path):
    from workbench.reports import ReportRun, record_run

    record_run(ReportRun("clv_report", "zh", AS_OF, status="interrupted", error="interrupted by a signal",
                         finished=f"{AS_OF}T06:00:00"), tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "已中断 / interrupted" in page and pd.Timestamp(AS_OF).strftime("%Y-%m-%d") in page
