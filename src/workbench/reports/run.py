"""Running one report: the kernel, :func:`run_report`, temporary folders, failed notebooks."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ParameterError, ReportError
from ..i18n import LANGS, has_key
from .files import atomic_write
from .html import error_summary, failure_page, render_html
from .index import ReportRun, record_run
from .parameters import (
    _NO_DEFAULT,
    STANDARD_PARAMETERS,
    NotebookParameter,
    auto_label,
    check_parameter_values,
    check_parameters,
    notebook_parameters,
)

log = logging.getLogger(__name__)


KERNEL_NAME = "workbench"


def ensure_kernel() -> str:
    """Make a kernelspec named ``workbench`` for this interpreter and return its name.

    The spec goes into ``sys.prefix`` (the project's virtual environment), so a fresh clone
    or a CI runner needs no ``jupyter kernelspec install``; when that directory is not
    writable it goes into the user's Jupyter data directory instead.
    """
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=ERROR"],  # kernel chatter is not the operator's business
            "display_name": "workbench (project)", "language": "python", "metadata": {"debugger": True}}
    from jupyter_core.paths import jupyter_data_dir

    candidates = [Path(sys.prefix) / "share" / "jupyter", Path(jupyter_data_dir())]
    for root in candidates:
        target = root / "kernels" / KERNEL_NAME / "kernel.json"
        try:
            if target.exists() and json.loads(target.read_text()).get("argv") == spec["argv"]:
                return KERNEL_NAME
            atomic_write(target, json.dumps(spec, indent=1))
            return KERNEL_NAME
        except (OSError, ValueError) as err:
            log.debug("cannot write kernelspec under %s: %s", root, err)
    raise ReportError(f"cannot install the '{KERNEL_NAME}' kernelspec under {' or '.join(map(str, candidates))}")


def default_as_of(data_dir: str | Path) -> str:
    """The day after the latest event in the data (the natural as-of date), as ``YYYY-MM-DD``.

    :func:`workbench.derived_layer.default_as_of` as text: the layer and the reports use one rule.
    """
    from ..derived_layer import default_as_of as day_after_data

    return day_after_data(data_dir).date().isoformat()


def run_report(name: str, parameters: dict[str, Any] | None = None, lang: str = "en", as_of: str | None = None,
               data_dir: str | Path = "data/demo", out_dir: str | Path = "reports",
               notebooks_dir: str | Path = "notebooks", record: bool = True, label: str | None = None,
               timeout: float | None = None, stop: threading.Event | None = None) -> ReportRun:
    """Execute ``<notebooks_dir>/<name>.ipynb`` with papermill and render it to HTML.

    Parameters
    ----------
    name : str
        Report name: the notebook's file stem and the catalogue key ``<name>.title``.
    parameters : dict, optional
        Values for the notebook's ``parameters`` cell; CLI strings are converted to the
        declared types. ``lang``, ``as_of`` and ``data_dir`` are set by the arguments below.
    lang : {"en", "zh"}
    as_of : str, optional
        ``YYYY-MM-DD``; default: the day after the data ends.
    data_dir, out_dir, notebooks_dir : path
        Contract tables; where ``<as_of>/`` folders, ``runs.json`` and ``index.html`` go;
        where the report notebooks live.
    record : bool, default True
        Append the run to ``runs.json`` and rebuild ``index.html``.
    label : str, optional
        Distinguishes several runs of one report on one date (e.g. one per experiment):
        the files become ``<name>-<label>.<lang>.html``. Default: derived from the
        parameters that differ from the notebook's defaults (:func:`auto_label`), so a
        parameterised run never replaces another run's page; none for a default run.
    timeout : float, optional
        Seconds any one cell may run before the run fails (no limit by default).
    stop : threading.Event, optional
        Set by a batch that is being stopped (it also ends the kernels, see
        :func:`stop_kernels`): a run that then fails is ``interrupted``, not ``failed``, its
        temporary folder is removed, no failure page is written and it is returned rather
        than raised (worker threads receive no signals).

    Returns
    -------
    ReportRun
        ``status`` ``ok``, or ``failed`` with a failure page; the previous good report of
        the same name, language and date is left untouched. ``interrupted`` only with ``stop``.

    Raises
    ------
    ParameterError
        Unknown report, language, date, label or parameter, a value of the wrong type or
        one refused by :data:`VALUE_CHECKS` (an id not in the data, a period that is not
        positive); nothing was run.
    KeyboardInterrupt
        Re-raised after the run is recorded as ``interrupted`` (SIGINT, or SIGTERM as the
        CLI's ``Interrupted``); the temporary folder is removed first.
    ReportError
        The notebook is not a valid report (no ``parameters`` cell, a standard parameter
        missing, no title in the catalogue).
    """
    nb_path = Path(notebooks_dir) / f"{name}.ipynb"
    typed, declared, label = _prepare(name, nb_path, parameters, lang, label)
    data_dir = Path(data_dir)
    check_parameter_values(typed, data_dir)  # before the data's end date is computed: a bad value fails fast
    as_of = check_as_of(default_as_of(data_dir) if as_of is None else as_of)

    from .. import __version__

    store_name, region = store_details(data_dir, typed.get("store_id"))
    run = ReportRun(name, lang, as_of, parameters=typed, started=now_iso(), label=label, version=__version__,
                    inputs=inputs_fingerprint(nb_path, data_dir), store_name=store_name, region=region)
    out = Path(out_dir) / as_of
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    shown = {k: p.default for k, p in declared.items() if k not in STANDARD_PARAMETERS and p.default is not _NO_DEFAULT}
    shown.update(typed)
    log.info("running %s as of %s", run.stem, as_of)
    clock = time.perf_counter()
    try:
        with _temporary_folder(out) as tmp:
            executed = tmp / f"{run.stem}.ipynb"
            try:
                _execute(nb_path, executed, {**typed, "lang": lang, "as_of": as_of,
                                             "data_dir": str(data_dir.resolve())}, timeout)
                page = render_html(executed, name, lang, as_of, shown, store=(store_name, region))
                tmp_html = tmp / f"{run.stem}.html"
                tmp_html.write_text(page, encoding="utf-8")
                # the notebook first, the page last: a reader never sees a page without its notebook
                os.replace(executed, out / f"{run.stem}.ipynb")
                os.replace(tmp_html, out / f"{run.stem}.html")
                for stale in (out / f"{run.stem}.failed.html", out / f"{run.stem}.failed.ipynb",
                              failed_notebook_path(out_dir, as_of, run.stem)):
                    stale.unlink(missing_ok=True)
                run.status, run.html_path = "ok", str(out / f"{run.stem}.html")
                run.ipynb_path = str(out / f"{run.stem}.ipynb")
            except Exception as err:  # record it, show a failure page, keep the last good report
                if stop is not None and stop.is_set():  # its kernel was ended by a stopping batch
                    raise _Stopped from err
                _record_failure(run, err, executed, out_dir, shown)
    except (KeyboardInterrupt, _Stopped) as stopped:  # SIGINT, SIGTERM (the CLI's Interrupted): tmp is gone
        run.status, run.error, run.finished = "interrupted", "interrupted by a signal", now_iso()
        log.info("%s interrupted after %.1f s", run.stem, time.perf_counter() - clock)
        if record:
            record_run(run, out_dir)
        if isinstance(stopped, _Stopped):
            return run
        raise
    run.finished = now_iso()
    # callers report failures themselves (the CLI in one line on stderr): progress only here
    log.info("%s %s in %.1f s%s", run.stem, run.status, time.perf_counter() - clock,
             f": {run.error}" if run.error else "")
    if record:
        record_run(run, out_dir)
    return run


def store_details(data_dir: str | Path, store_id: Any) -> tuple[str | None, str | None]:
    """``(store_name, region)`` of a store from the data's ``stores`` table, for the index.

    ``(None, None)`` for the HQ view (no ``store_id``), without a ``stores`` table or for an
    id not in it; a missing name or region is None. One small query (no validation).

    Examples
    --------
    >>> store_details("data/demo", None)
    (None, None)
    """
    if store_id is None or str(store_id).strip() == "":
        return None, None
    from ..engine import literal, open_workbench

    try:
        wb = open_workbench(data_dir, tables=["stores"], validate=False)
    except Exception as err:  # noqa: BLE001 - the page itself reports unreadable data; the index shows the id
        log.debug("no store details for %s: %s", store_id, err)
        return None, None
    try:
        if not wb.has_table("stores"):
            return None, None
        row = wb.query(f"SELECT * FROM stores WHERE store_id = {literal(str(store_id))} LIMIT 1")
    except Exception as err:  # noqa: BLE001 - as above
        log.debug("no store details for %s: %s", store_id, err)
        return None, None
    finally:
        wb.close()
    if not len(row):
        return None, None

    def text(column: str) -> str | None:
        value = row.iloc[0].get(column)
        return value.strip() if isinstance(value, str) and value.strip() else None

    return text("store_name"), text("region")


def _prepare(name: str, nb_path: Path, parameters: dict[str, Any] | None, lang: str,
             label: str | None) -> tuple[dict[str, Any], dict[str, NotebookParameter], str | None]:
    """Checks that need no data: report, language, label, parameter names and types.

    Returns the typed values, the declared parameters and the label (given, or derived
    from non-default parameters by :func:`auto_label`).
    """
    notebooks_dir = nb_path.parent
    if not nb_path.exists():
        known = sorted(p.stem for p in Path(notebooks_dir).glob("*.ipynb") if not p.stem.startswith("_"))
        raise ParameterError(f"unknown report {name!r} in {notebooks_dir}; available: {', '.join(known) or 'none'}")
    if lang not in LANGS:
        raise ParameterError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if label is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", str(label)):
        raise ParameterError(f"label {label!r} may hold only letters, digits, '_', '.' and '-'")
    given = dict(parameters or {})
    reserved = sorted(set(given) & set(STANDARD_PARAMETERS))
    if reserved:
        raise ParameterError(f"parameter(s) {', '.join(reserved)} are set with their own options "
                             "(--lang, --as-of, --data)")
    typed = check_parameters(nb_path, given)
    declared = notebook_parameters(nb_path)
    missing = [p for p in STANDARD_PARAMETERS if p not in declared]
    if missing:
        raise ReportError(f"{nb_path.name}: the parameters cell must define {', '.join(missing)}")
    if not has_key(f"{name}.title"):
        raise ReportError(f"report {name!r} has no title: add '{name}.title: {{en: ..., zh: ...}}' to the "
                          "message catalogue (workbench/i18n/*.yml)")
    return typed, declared, label if label is not None else auto_label(declared, typed)


def _record_failure(run: ReportRun, err: BaseException, executed: Path, out_dir: str | Path,
                    shown: dict[str, Any]) -> None:
    """Failure page beside the reports; the executed notebook (it may hold data rows) outside them."""
    out = Path(out_dir) / run.as_of
    run.status, run.error = "failed", error_summary(err)
    run.error_type = getattr(err, "ename", None) or type(err).__name__
    kept = None
    if executed.exists():  # the operator's evidence: outputs up to the failing cell
        kept = failed_notebook_path(out_dir, run.as_of, run.stem)
        _private_dir(kept.parent, top=_failed_top(out_dir))
        os.chmod(executed, 0o600)
        shutil.move(str(executed), str(kept))
        run.ipynb_path = str(kept)
    (out / f"{run.stem}.failed.ipynb").unlink(missing_ok=True)  # left beside the pages by an older version
    shown_path = Path(os.path.relpath(kept.resolve(), Path(out_dir).resolve())).as_posix() if kept else None
    atomic_write(out / f"{run.stem}.failed.html",
                  failure_page(run.name, run.lang, run.as_of, shown, err, kept, notebook_shown_as=shown_path))
    run.html_path = str(out / f"{run.stem}.failed.html")


# ---------------------------------------------------------------------- failed notebooks, temporaries
def _failed_top(out_dir: str | Path) -> Path:
    """The private folder failed notebooks go under (made 0700 with everything below it)."""
    env = os.environ.get("WORKBENCH_FAILED_DIR")
    return Path(env) if env else Path(out_dir).resolve().parent / ".workbench-failed"


def _failed_root(out_dir: str | Path) -> Path:
    if os.environ.get("WORKBENCH_FAILED_DIR"):
        return _failed_top(out_dir)
    return _failed_top(out_dir) / Path(out_dir).resolve().name


def failed_notebook_path(out_dir: str | Path, as_of: str, stem: str) -> Path:
    """Where the executed notebook of a failed run is kept: outside the published folder.

    ``<parent of out_dir>/.workbench-failed/<out_dir name>/<as_of>/<stem>.failed.ipynb``
    (or under ``$WORKBENCH_FAILED_DIR/<as_of>/``); folders are 0700 and files 0600,
    because a data-contract error's offending rows (customer ids, orders) are in it.

    Examples
    --------
    The result depends on ``$WORKBENCH_FAILED_DIR`` and on how the path resolves, so doctests skip it.

    >>> failed_notebook_path("/srv/reports", "2026-01-01", "ops_dashboard.zh").as_posix()  # doctest: +SKIP
    '/srv/.workbench-failed/reports/2026-01-01/ops_dashboard.zh.failed.ipynb'
    """
    return _failed_root(out_dir) / as_of / f"{stem}.failed.ipynb"


def _private_dir(path: Path, top: Path) -> None:
    """Create ``path`` and give it and every folder up to ``top`` (inclusive) mode 0700."""
    path.mkdir(parents=True, exist_ok=True)
    for folder in [path, *path.parents]:
        folder.chmod(0o700)
        if folder == top or top not in folder.parents:
            break


_TMP_PREFIX = ".tmp-"
_STAGING_PREFIX = ".new-"
_TMP_LOCK = ".owner.lock"


@contextlib.contextmanager
def _temporary_folder(out: Path) -> Iterator[Path]:
    """A private temporary folder in ``out``, locked by this process while it lives.

    The lock (``fcntl.flock``) dies with the process, so :func:`remove_stale_temporaries`
    can tell a folder of a killed run from one of a run still going in another batch.
    The folder is removed on success, failure and interruption alike.
    """
    # made under another prefix and renamed once locked: a batch's other runs, cleaning up (remove_stale_temporaries),
    # never see the folder between its creation and its lock and take it for a killed run's
    staging = Path(tempfile.mkdtemp(dir=out, prefix=_STAGING_PREFIX))
    lock = open(staging / _TMP_LOCK, "w")
    tmp = staging
    try:
        with contextlib.suppress(ImportError, OSError):
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp = staging.with_name(_TMP_PREFIX + staging.name[len(_STAGING_PREFIX):])
        staging.rename(tmp)
        yield tmp
    finally:
        lock.close()
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(out: str | Path, unlocked_age_s: float = 3600.0) -> list[Path]:
    """Remove ``.tmp-*`` folders in ``out`` whose run is gone (killed with ``kill -9``, a crash).

    A folder whose lock file can be locked has no living owner. A folder without a lock
    file (made by an older version, or killed within its first instant) is removed when it
    is older than ``unlocked_age_s``. Returns the folders removed.
    """
    removed = []
    for tmp in [*Path(out).glob(f"{_TMP_PREFIX}*"), *Path(out).glob(f"{_STAGING_PREFIX}*")]:
        if not tmp.is_dir():
            continue
        if tmp.name.startswith(_STAGING_PREFIX) and time.time() - tmp.stat().st_mtime < unlocked_age_s:
            continue  # being locked and renamed, or killed in that instant (removed once old)
        lock_path = tmp / _TMP_LOCK
        try:
            if lock_path.exists():
                with open(lock_path, "a") as fh:
                    import fcntl

                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while the owner lives
            elif time.time() - tmp.stat().st_mtime < unlocked_age_s:
                continue
        except (BlockingIOError, PermissionError):
            continue
        except (ImportError, OSError):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
        log.info("removed %s, left by an interrupted run", tmp.name)
    return removed


class _Stopped(Exception):
    """A run's kernel was ended because its batch is stopping (raised inside :func:`run_report` only)."""


#: pid of the kernel each thread is running (a batch runs reports in threads; see :func:`stop_kernels`)
_KERNELS: dict[int, int] = {}
_KERNELS_LOCK = threading.Lock()


def stop_kernels(sig: int = signal.SIGTERM) -> list[int]:
    """Send ``sig`` to every report kernel this process is running; returns their pids.

    Kernels run in their own session (jupyter_client starts them so), so a signal to the
    batch does not reach them: a stopping batch ends them here, and the threads waiting on
    them see a dead kernel within about a second.
    """
    with _KERNELS_LOCK:
        pids = list(_KERNELS.values())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return pids


def _execute(nb_path: Path, executed: Path, parameters: dict[str, Any], timeout: float | None) -> None:
    import papermill as pm

    kernel = ensure_kernel()
    # The kernel starts in the notebooks' folder through nbclient's resources, not papermill's ``cwd``:
    # papermill would chdir the whole process, which races when a batch runs reports in threads.
    folder = {"metadata": {"path": str(nb_path.parent.resolve())}}
    try:
        pm.execute_notebook(str(nb_path.resolve()), str(executed.resolve()), parameters=parameters,
                            kernel_name=kernel, progress_bar=False, log_output=False, report_mode=True,
                            execution_timeout=timeout, language="python", resources=folder,
                            kernel_manager_class=_quiet_kernel_manager())
    finally:
        with _KERNELS_LOCK:
            _KERNELS.pop(threading.get_ident(), None)


@lru_cache(maxsize=1)
def _quiet_kernel_manager() -> type:
    """jupyter_client's kernel manager without the SIGINT it sends before every shutdown.

    jupyter_client interrupts the kernel before asking it to shut down; ipykernel then logs
    ``KeyboardInterrupt caught in kernel`` to the inherited stderr, at ERROR level, on runs
    that succeeded (noise in every cron log). A finished notebook has nothing to interrupt.
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None)
            if pid:  # known to stop_kernels while this thread runs it
                with _KERNELS_LOCK:
                    _KERNELS[threading.get_ident()] = int(pid)

        async def _async_interrupt_kernel(self) -> None:
            if getattr(self, "shutting_down", False):
                return
            await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


#: the derived layer's folder inside a data folder (engine.layer.LAYER_DIR; not imported: it pulls in pandas)
_LAYER_DIR = ".layer"


def inputs_fingerprint(nb_path: Path, data_dir: Path) -> str:
    """Notebook content plus the name, size and modification time of every data file.

    The derived layer inside the data folder is left out: it follows from the data files, and
    rebuilding it must not make every report look changed.
    """
    import hashlib

    h = hashlib.sha1(nb_path.read_bytes())
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.relative_to(data_dir).parts[0] != _LAYER_DIR) \
        if data_dir.is_dir() else []
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(data_dir).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def check_as_of(value: Any) -> str:
    """``value`` as an ISO date ``YYYY-MM-DD`` (a timestamp keeps its date); :class:`ParameterError` otherwise."""
    try:
        return dt.date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        raise ParameterError(f"--as-of must be a date YYYY-MM-DD, not {value!r}") from None


def now_iso() -> str:
    """Local time to the second, as ``runs.json`` records ``started`` and ``finished``."""
    return dt.datetime.now().isoformat(timespec="seconds")


def clean_outputs(notebook: str | Path) -> None:
    """Strip outputs and execution counts from a notebook (notebooks are committed clean)."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nbformat.write(nb, str(notebook))
