r"""Scheduled batches: loading the YAML list of reports and running it past failures.

A schedule file holds ``reports:``, a list of entries ``{name, langs, parameters, label,
stores}``, and optionally ``defaults: {langs: [...], parameters: {...}}``.

Store pages: an entry with ``stores: all`` (every store of the data's ``stores`` table, in
store-id order) or ``stores: [S001, S002]`` (YAML strings) stands for one job per store and
language, with the parameter ``store_id: <id>``. Its label is the one :func:`auto_label`
gives (``store_id-S001``), so a store page never overwrites the HQ page; ``stores`` cannot
be combined with ``label`` or a ``store_id`` parameter. The entries expand when the batch
starts (the data folder is known then), from one small query of the ``stores`` table: a
data folder without that table refuses the whole batch (:class:`ParameterError`, nothing
runs); a listed id that is not in it is recorded as a failed run (``ParameterError``) like
any refused job, and the other stores run.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "s.yml"
>>> _ = p.write_text("reports:\n  - name: ops_dashboard\n    langs: [zh]\n    stores: [S001, S002]\n")
>>> load_schedule(p)[0]["stores"]
['S001', 'S002']
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, ReportError
from ..i18n import LANGS
from .html import error_summary
from .index import ReportRun, load_runs, record_run
from .parameters import STANDARD_PARAMETERS, auto_label, check_parameters, notebook_parameters
from .run import check_as_of, default_as_of, inputs_fingerprint, now_iso, run_report, stop_kernels

log = logging.getLogger(__name__)


_ENTRY_KEYS = {"name", "langs", "lang", "parameters", "label", "stores"}


def load_schedule(path: str | Path) -> list[dict[str, Any]]:
    r"""Read a schedule file into jobs ``{name, lang, parameters, label}``.

    The file holds ``reports:``, a list of ``{name, langs, parameters, label, stores}``, and
    optionally ``defaults: {langs: [zh, en], parameters: {...}}``. Unknown keys, languages
    and malformed entries raise :class:`ParameterError` before anything runs. A job of an
    entry with ``stores`` also holds ``stores`` (``"all"`` or a list of store ids); it is
    expanded into one job per store by :func:`expand_stores` once the data are known.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.yml"
    >>> _ = p.write_text("reports:\n  - name: ops_dashboard\n    parameters: {period_days: 7}\n")
    >>> [(j["name"], j["lang"]) for j in load_schedule(p)]
    [('ops_dashboard', 'zh'), ('ops_dashboard', 'en')]
    """
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParameterError(f"schedule not found: {path}") from None
    except yaml.YAMLError as err:
        raise ParameterError(f"schedule {path} is not valid YAML: {err}") from None
    if not isinstance(spec, dict):
        raise ParameterError(f"schedule {path}: expected a mapping with a 'reports' list")
    entries = spec.get("reports")
    if not isinstance(entries, list) or not entries:
        raise ParameterError(f"schedule {path}: expected a non-empty list under 'reports'")
    defaults = spec.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ParameterError(f"schedule {path}: 'defaults' must be a mapping")
    jobs = []
    for i, e in enumerate(entries, start=1):
        if not isinstance(e, dict) or not e.get("name"):
            raise ParameterError(f"schedule {path}: entry {i} needs a 'name'")
        unknown = sorted(set(e) - _ENTRY_KEYS)
        if unknown:
            raise ParameterError(f"schedule {path}: entry {i} ({e['name']}) has unknown key(s) {', '.join(unknown)}; "
                                 f"allowed: {', '.join(sorted(_ENTRY_KEYS))}")
        langs = e.get("langs", e.get("lang", defaults.get("langs", ["zh", "en"])))
        langs = langs if isinstance(langs, list) else [langs]
        bad = [lang for lang in langs if lang not in LANGS]
        if bad or not langs:
            raise ParameterError(f"schedule {path}: entry {i} ({e['name']}): languages must be among "
                                 f"{', '.join(LANGS)}, got {langs}")
        params = e.get("parameters") or {}
        if not isinstance(params, dict):
            raise ParameterError(f"schedule {path}: entry {i} ({e['name']}): 'parameters' must be a mapping")
        merged = {**(defaults.get("parameters") or {}), **params}
        stores = _stores_option(e, merged, f"schedule {path}: entry {i} ({e['name']})")
        for lang in langs:
            job = {"name": str(e["name"]), "lang": lang, "parameters": dict(merged), "label": e.get("label")}
            if stores is not None:
                job["stores"] = stores
            jobs.append(job)
    return jobs


def _stores_option(entry: dict[str, Any], parameters: dict[str, Any], where: str) -> str | list[str] | None:
    """The entry's ``stores``: ``"all"``, a list of distinct store ids (order kept), or None."""
    if "stores" not in entry:
        return None
    value = entry["stores"]
    if value != "all" and not (isinstance(value, list) and value):
        raise ParameterError(f"{where}: 'stores' must be 'all' or a non-empty list of store ids, got {value!r}")
    if isinstance(value, list):
        odd = [v for v in value if not isinstance(v, str) or not v.strip()]
        if odd:  # YAML reads 007 as 7: converting would name another store
            raise ParameterError(f"{where}: store ids must be strings (quote them in YAML), got {odd[0]!r}")
        value = list(dict.fromkeys(value))
    if entry.get("label") is not None:
        raise ParameterError(f"{where}: 'stores' and 'label' exclude each other (each store page is labelled "
                             "store_id-<id>)")
    if "store_id" in parameters:
        raise ParameterError(f"{where}: 'stores' and the parameter store_id exclude each other")
    return value


def expand_stores(jobs: list[dict[str, Any]], data_dir: str | Path) -> list[dict[str, Any]]:
    """Replace each job holding ``stores`` by one job per store (parameter ``store_id``).

    The data are read only when some job holds ``stores``: one query of the ``stores``
    table. ``stores: all`` takes every store id in order; a list is kept as written (an id
    not in the data is refused by :func:`run_report`, recorded as a failed run). Raises
    :class:`ParameterError` when the data folder has no ``stores`` table.

    Examples
    --------
    >>> expand_stores([{"name": "ops_dashboard", "lang": "zh", "parameters": {}, "label": None}], "data/demo")
    [{'name': 'ops_dashboard', 'lang': 'zh', 'parameters': {}, 'label': None}]
    """
    if not any("stores" in job for job in jobs):
        return jobs
    known = _store_ids(data_dir)
    out = []
    for job in jobs:
        if "stores" not in job:
            out.append(job)
            continue
        ids = known if job["stores"] == "all" else job["stores"]
        for store_id in ids:
            one = {k: v for k, v in job.items() if k != "stores"}
            out.append({**one, "parameters": {**job["parameters"], "store_id": store_id}, "label": None})
    return out


def _store_ids(data_dir: str | Path) -> list[str]:
    """Every ``store_id`` of the data's ``stores`` table, sorted; :class:`ParameterError` without one."""
    from ..engine import open_workbench

    try:
        wb = open_workbench(data_dir, tables=["stores"], validate=False)
    except Exception as err:  # noqa: BLE001 - no data folder, unreadable file: the batch cannot start
        raise ParameterError(f"schedule lists store pages but the stores of {data_dir} cannot be read: "
                             f"{type(err).__name__}: {err}") from None
    try:
        if not wb.has_table("stores"):
            raise ParameterError(f"schedule lists store pages ('stores:') but {data_dir} has no stores table")
        ids = wb.query("SELECT DISTINCT store_id FROM stores WHERE store_id IS NOT NULL ORDER BY store_id")
    finally:
        wb.close()
    return [str(v) for v in ids["store_id"]]


def _up_to_date(job: dict[str, Any], as_of: str, data_dir: str | Path, out_dir: str | Path,
                notebooks_dir: str | Path) -> ReportRun | None:
    """The last successful run of ``job`` if nothing it depends on changed since."""
    from .. import __version__

    nb_path = Path(notebooks_dir) / f"{job['name']}.ipynb"
    try:
        wanted = check_parameters(nb_path, job["parameters"])
        label = job.get("label")
        label = auto_label(notebook_parameters(nb_path), wanted) if label is None else label
    except (ParameterError, ReportError):
        return None
    for r in reversed(load_runs(out_dir)):
        if (r["name"], r["lang"], r["as_of"], r.get("label")) != (job["name"], job["lang"], as_of, label):
            continue
        if r["status"] != "ok" or not r.get("html_path") or not Path(r["html_path"]).exists():
            return None
        if r.get("version", __version__) != __version__:
            return None
        params = {k: v for k, v in (r.get("parameters") or {}).items() if k not in STANDARD_PARAMETERS}
        if params != wanted:
            return None
        if not nb_path.exists() or r.get("inputs") != inputs_fingerprint(nb_path, Path(data_dir)):
            return None
        return ReportRun.from_record(r)
    return None


def _label_of_refused(job: dict[str, Any], notebooks_dir: Path) -> str | None:
    """The label a refused job would have run under, so its failure never shadows the default page."""
    if job.get("label") is not None:
        return job["label"]
    nb_path = notebooks_dir / f"{job['name']}.ipynb"
    try:
        declared = notebook_parameters(nb_path)
    except (ParameterError, ReportError, OSError):
        declared = {}
    try:
        values = check_parameters(nb_path, job["parameters"]) if declared else dict(job["parameters"])
    except ParameterError:  # a value of the wrong type: label from what was written
        values = dict(job["parameters"])
    return auto_label(declared, values)


# ---------------------------------------------------------------------- parallel batches under a memory budget
#: budget kept for this process (papermill, rendering, small queries) before kernels get theirs
PARENT_RESERVE = 512 * 2**20
#: the least budget one concurrent kernel gets (half for its DuckDB, half for its pandas frames and Python);
#: a report reading the derived layer of a 1M-customer brand peaks well under it
KERNEL_FLOOR = 2 * 2**30


def parse_size(value: str | int) -> int:
    """Bytes in a size written as DuckDB reads it (``8GB`` = 8·10⁹, ``8GiB`` or ``8G`` = 8·2³⁰).

    A percentage (``50%``) is of the machine's physical memory; an int is bytes. The engine's one
    parser, :func:`workbench.engine.sizes.parse_size`.

    Examples
    --------
    >>> parse_size("8GB"), parse_size("1.5GiB"), parse_size("512 MB"), parse_size(1024)
    (8000000000, 1610612736, 512000000, 1024)
    """
    from ..engine.sizes import parse_size as engine_parse_size  # here: the engine loads DuckDB, --help stays fast

    return engine_parse_size(value)


def default_budget() -> int:
    """The engine's default memory limit in bytes: ``WORKBENCH_MEMORY_LIMIT``, else half the physical memory.

    One rule for a batch and a single workbench (:func:`workbench.engine.duckdb.default_memory_limit`).
    """
    from ..engine.duckdb import default_memory_limit

    return parse_size(default_memory_limit())


def _mb(n_bytes: int) -> str:
    return f"{n_bytes // 2**20}MB"


@dataclass(frozen=True)
class BatchPlan:
    """How a batch runs: ``workers`` kernels at a time, each kernel's DuckDB limited to ``kernel_memory_limit``.

    ``budget`` is the memory (bytes) the whole process tree should stay under; ``reason``
    is the log line that says how the numbers follow from it. ``kernel_threads`` is each
    kernel's share of the cores, for its BLAS and OpenMP pools (:func:`kernel_environment`).
    """

    workers: int
    budget: int
    kernel_memory_limit: str
    build_memory_limit: str
    reason: str
    kernel_threads: int = 1
    #: a kernel's DuckDB limit when it runs alone (the budget's one-kernel share): a report that ran out of
    #: memory beside others runs again with it (:func:`run_schedule`); None when the batch runs one at a time
    alone_memory_limit: str | None = None


def plan_batch(workers: int | None, memory_limit: str | int | None, n_jobs: int) -> BatchPlan:
    """Workers and per-kernel memory for a batch of ``n_jobs`` reports.

    ``workers`` (None: one per core) is capped by the jobs and by the budget
    (``memory_limit``, default :func:`default_budget`): after :data:`PARENT_RESERVE` for
    this process, each concurrent kernel needs at least :data:`KERNEL_FLOOR`. The kernels
    share what is left equally; half of a kernel's share is its DuckDB's limit, the other
    half is for its pandas frames (the engine's own split). A layer build runs alone
    before the kernels and gets three quarters of what is left (it is SQL, few frames).

    Examples
    --------
    >>> plan = plan_batch(4, "8GiB", n_jobs=12)
    >>> plan.workers, plan.kernel_memory_limit, plan.alone_memory_limit   # alone: after running out beside others
    (3, '1280MB', '3840MB')
    >>> plan_batch(4, "3GiB", n_jobs=12).workers   # the budget allows one kernel at the floor
    1
    """
    if workers is not None and workers < 1:
        raise ParameterError(f"workers must be positive, got {workers}")
    requested = workers or os.cpu_count() or 1
    budget = parse_size(memory_limit) if memory_limit is not None else default_budget()
    usable = max(budget - PARENT_RESERVE, 0)
    allowed = max(1, usable // KERNEL_FLOOR)
    n = max(1, min(requested, allowed, n_jobs))
    share = max(usable // n, 2 * 256 * 2**20)  # never below 256MB for DuckDB, even on a budget too small
    reason = (f"{n} worker(s) at a time (asked {requested}, {n_jobs} report(s); a {_mb(budget)} budget allows "
              f"{allowed} at {_mb(KERNEL_FLOOR)} each); each kernel's DuckDB: {_mb(share // 2)}")
    if usable < KERNEL_FLOOR:
        reason += f" (the budget is below one kernel's floor of {_mb(KERNEL_FLOOR + PARENT_RESERVE)})"
    alone = _mb(max(usable, 2 * 256 * 2**20) // 2)
    return BatchPlan(workers=n, budget=budget, kernel_memory_limit=_mb(share // 2),
                     build_memory_limit=_mb(max(usable * 3 // 4, 256 * 2**20)), reason=reason,
                     kernel_threads=max(1, (os.cpu_count() or 1) // n),
                     alone_memory_limit=alone if alone != _mb(share // 2) else None)


#: thread pools of numerical libraries in a kernel (BLAS threads spin while they wait: oversubscribed, they
#: take the cores the other kernels need)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def kernel_environment(plan: BatchPlan) -> Iterator[None]:
    """The kernels' environment while the batch runs (they inherit it; restored afterwards).

    ``WORKBENCH_MEMORY_LIMIT`` is the plan's per-kernel limit, which each kernel's DuckDB
    honours; the BLAS and OpenMP pools get the kernel's share of the cores unless the
    operator set them.
    """
    wanted = {"WORKBENCH_MEMORY_LIMIT": plan.kernel_memory_limit}
    wanted.update({v: str(plan.kernel_threads) for v in THREAD_VARIABLES if not os.environ.get(v)})
    before = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare_layer(data_dir: str | Path, as_of: str, plan: BatchPlan | None = None) -> Any:
    """Build or reuse the derived layer of ``data_dir`` as of ``as_of``; log one line saying which and why.

    Returns the layer build, or None when it could not be built: the reports then compute
    their relations themselves (and a data problem is reported by each of them).
    """
    from ..derived_layer import build_layer

    options = {"memory_limit": plan.build_memory_limit} if plan is not None else {}
    try:
        build = build_layer(data_dir, as_of=as_of, **options)
    except Exception as err:  # noqa: BLE001 - the batch still runs; each report states the problem itself
        log.warning("layer not built (%s: %s); each report computes its relations", type(err).__name__, err)
        return None
    rows = sum(build.relations.values())
    log.info("layer %s: %d relations, %s rows in %.1f s (%s) -> %s", build.mode, len(build.relations),
             f"{rows:,}", build.seconds, build.reason, build.path)
    return build


def run_schedule(path: str | Path, data_dir: str | Path = "data/demo", as_of: str | None = None,
                 out_dir: str | Path = "reports", notebooks_dir: str | Path = "notebooks",
                 progress: bool = True, skip_up_to_date: bool = False,
                 timeout: float | None = None, workers: int | None = 1,
                 memory_limit: str | int | None = None, layer: bool = False) -> list[ReportRun]:
    """Run every report of a schedule file, ``workers`` at a time; one failure does not stop the batch.

    All reports use the same ``as_of`` (default: the day after the data ends). A report
    that cannot even start (unknown name, bad parameter) is recorded as failed like one
    that raised. With ``skip_up_to_date``, a report whose last successful run used the
    same date, parameters and package version, and whose notebook and data have not
    changed since, is not run again. ``progress`` logs one line per report. Entries with
    ``stores`` run once per store (see the module's description); a data folder without a
    ``stores`` table then raises :class:`ParameterError` before anything runs.

    Parallel runs: reports run in kernels of their own; this process only waits on them
    (one thread each) and alone writes ``runs.json`` and the index, in schedule order.
    ``workers`` (None: one per core) is capped by what ``memory_limit`` allows (see
    :func:`plan_batch`), and every kernel's DuckDB gets its share of the budget through
    ``WORKBENCH_MEMORY_LIMIT`` (its BLAS pools its share of the cores: :func:`kernel_environment`).
    A SIGTERM or SIGINT (``KeyboardInterrupt``) ends every running kernel, records those runs
    as ``interrupted``, starts nothing more and is re-raised. With ``layer``, the derived layer is built or reused first
    (:func:`prepare_layer`), so every kernel reads it instead of rebuilding relations.

    A report whose engine ran out of its share of memory beside other kernels
    (``EngineOutOfMemoryError``) is run once more after every other report has finished,
    alone, with the budget's one-kernel share (:attr:`BatchPlan.alone_memory_limit`); the
    batch stays within the budget, and only a report that fails alone too is recorded failed.
    """
    jobs = expand_stores(load_schedule(path), data_dir)
    as_of = check_as_of(default_as_of(data_dir) if as_of is None else as_of)
    plan = plan_batch(workers, memory_limit, len(jobs))
    if layer:
        prepare_layer(data_dir, as_of, plan)
    if progress:
        log.info("%s", plan.reason)
    where = {"data_dir": Path(data_dir).resolve(), "out_dir": Path(out_dir).resolve(),
             "notebooks_dir": Path(notebooks_dir).resolve()}  # absolute: threads share one working directory
    with kernel_environment(plan):
        return _run_jobs(jobs, as_of, where, plan, progress, skip_up_to_date, timeout)


#: the error type of a report whose engine ran out of its memory limit (``EngineOutOfMemoryError``)
OUT_OF_MEMORY = "EngineOutOfMemoryError"


def _run_jobs(jobs: list[dict[str, Any]], as_of: str, where: dict[str, Path], plan: BatchPlan, progress: bool,
              skip_up_to_date: bool, timeout: float | None) -> list[ReportRun]:
    """Run ``jobs`` in a pool of ``plan.workers`` threads; record finished runs in schedule order.

    Reports that ran out of memory beside others wait until the pool is idle and then run one at a
    time with :attr:`BatchPlan.alone_memory_limit` (kernels read ``WORKBENCH_MEMORY_LIMIT`` when they start).
    A report's later language starts only once its first language has ended, and a store page once its report's
    first store page has ended (:func:`waits_for`), so it reads what that kernel kept beside the layer
    instead of computing it beside it; a free worker takes the next job in :func:`run_order` that may start.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    stop = threading.Event()
    done: dict[int, tuple[ReportRun, bool]] = {}  # index -> (run, whether to record it)
    recorded = [0]  # how many leading jobs are recorded
    again: list[int] = []  # ran out of memory beside others: to run again alone, once each
    first: dict[int, tuple[ReportRun, bool]] = {}  # their first runs, recorded if the batch is stopped
    pool = ThreadPoolExecutor(max_workers=plan.workers, thread_name_prefix="report")
    waiting = run_order(jobs)  # not started yet
    after = waits_for(jobs)  # job -> the jobs it waits for
    pending: dict[Any, int] = {}  # running (or about to): future -> job

    def submit(i: int) -> Any:
        return pool.submit(_one_job, i, len(jobs), jobs[i], as_of, where, progress, skip_up_to_date, timeout, stop)

    def may_start(i: int) -> bool:
        return all(j in done or j in first for j in after.get(i, ()))

    def fill() -> None:
        while len(pending) < plan.workers and (ready := next((i for i in waiting if may_start(i)), None)) is not None:
            waiting.remove(ready)
            pending[submit(ready)] = ready

    try:
        while pending or again or waiting:
            fill()
            if not pending and not again:  # cannot happen: a job waits only for one that has started
                raise RuntimeError(f"jobs {waiting} wait for jobs that never start")
            if not pending:  # the pool is idle: the next out-of-memory report alone, with the whole budget
                i = again.pop(0)
                os.environ["WORKBENCH_MEMORY_LIMIT"] = str(plan.alone_memory_limit)  # restored by kernel_environment
                pending[submit(i)] = i
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                i, (run, record) = pending.pop(future), future.result()
                if (plan.alone_memory_limit and run.error_type == OUT_OF_MEMORY and i not in first
                        and not stop.is_set()):
                    log.info("%s ran out of memory beside other reports; it runs again alone, with %s for its "
                             "DuckDB, when the others have finished", run.stem, plan.alone_memory_limit)
                    first[i] = (run, record)
                    again.append(i)
                    continue
                done[i] = (run, record)
            _record_in_order(done, recorded, where["out_dir"])
    except BaseException:  # SIGTERM/SIGINT in this thread: end the kernels, keep what finished, re-raise
        stop.set()
        for future in pending:
            future.cancel()
        waiting.clear()
        stop_kernels()
        running = [f for f in pending if not f.cancelled()]
        finished, late = wait(running, timeout=_STOP_WAIT_S)
        if late:  # a kernel that ignored SIGTERM: its thread must still end, or the process cannot exit
            stop_kernels(signal.SIGKILL)
            finished |= wait(late, timeout=_STOP_WAIT_S)[0]
        for future in finished:
            with contextlib.suppress(Exception):
                done[pending[future]] = future.result()
        for i in again:  # never run alone: their out-of-memory failure stands
            done[i] = first[i]
        _record_in_order(done, recorded, where["out_dir"], stopping=True)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [done[i][0] for i in range(len(jobs))]


def _report_key(job: dict[str, Any]) -> str:
    return json.dumps([job["name"], job.get("label"), job.get("parameters", {})], sort_keys=True, default=str)


def waits_for(jobs: list[dict[str, Any]]) -> dict[int, tuple[int, ...]]:
    """The jobs each job waits for: what they compute, it reads (:mod:`workbench.engine.memo`).

    A report in a later language waits for the report's first language. A store page waits for
    the first store page of its report (same name, label and other parameters): that one computes
    every store's brand-wide tables, which the others read.

    >>> jobs = [{"name": n, "lang": lang, "parameters": {}} for n in "ab" for lang in ("zh", "en")]
    >>> waits_for(jobs)
    {1: (0,), 3: (2,)}
    >>> stores = [{"name": "ops", "lang": lang, "parameters": {"store_id": s}} for s in ("S1", "S2") for lang in "ab"]
    >>> waits_for(stores)
    {1: (0,), 2: (0,), 3: (2, 0)}
    """
    firsts: dict[str, int] = {}
    families: dict[str, int] = {}
    out: dict[int, tuple[int, ...]] = {}
    for i, job in enumerate(jobs):
        key = _report_key(job)
        wait = [firsts[key]] if key in firsts else []
        firsts.setdefault(key, i)
        if job.get("parameters", {}).get("store_id"):
            rest = {k: v for k, v in job["parameters"].items() if k != "store_id"}
            family = _report_key({**job, "parameters": rest})
            if families.setdefault(family, i) not in (i, *wait):
                wait.append(families[family])
        if wait:
            out[i] = tuple(wait)
    return out


def run_order(jobs: list[dict[str, Any]]) -> list[int]:
    """The order jobs start in: a report's second language one place after the next report's first.

    A report's two languages compute the same numbers. Started side by side, both compute them;
    started apart, the second reads what the first kept beside the layer
    (:mod:`workbench.engine.memo`). Each page keeps its place in the schedule otherwise (a long
    report listed early still starts early, so the batch does not end on it): the job of report
    ``k`` (in order of first appearance) in language ``r`` (in order of first appearance) starts
    at position ``k + r``, the first language first. Runs are still recorded in schedule order.

    >>> jobs = [{"name": n, "lang": lang, "parameters": {}} for n in "abc" for lang in ("zh", "en")]
    >>> [f"{jobs[i]['name']}.{jobs[i]['lang']}" for i in run_order(jobs)]
    ['a.zh', 'b.zh', 'a.en', 'c.zh', 'b.en', 'c.en']
    """
    langs: dict[str, int] = {}
    reports: dict[str, int] = {}
    keys = []
    for job in jobs:
        langs.setdefault(job["lang"], len(langs))
        keys.append((reports.setdefault(_report_key(job), len(reports)), langs[job["lang"]]))
    return sorted(range(len(jobs)), key=lambda i: (keys[i][0] + keys[i][1], keys[i][1], i))


#: seconds a stopping batch waits for a kernel's thread to notice the kernel is gone (nbclient checks each second)
_STOP_WAIT_S = 30.0


def _record_in_order(done: dict[int, tuple[ReportRun, bool]], recorded: list[int], out_dir: Path,
                     stopping: bool = False) -> None:
    """Record the finished runs that follow the recorded ones; when ``stopping``, every finished run.

    ``recorded[0]`` is the index of the first job not yet recorded; it moves past each run as
    soon as that run is written, so a signal between two writes never records one twice.
    """
    last = max(done, default=-1)
    while recorded[0] in done or (stopping and recorded[0] <= last):
        if recorded[0] in done:
            run, record = done[recorded[0]]
            if record:
                record_run(run, out_dir)
        recorded[0] += 1


def _one_job(i: int, n: int, job: dict[str, Any], as_of: str, where: dict[str, Path], progress: bool,
             skip_up_to_date: bool, timeout: float | None, stop: threading.Event) -> tuple[ReportRun, bool]:
    """One job in a worker thread: ``(run, record it?)``; never raises (a refused job is a failed run)."""
    data_dir, out_dir, notebooks_dir = where["data_dir"], where["out_dir"], where["notebooks_dir"]
    done = _up_to_date(job, as_of, data_dir, out_dir, notebooks_dir) if skip_up_to_date else None
    if done is not None:
        if progress:
            log.info("[%d/%d] %s up to date", i + 1, n, done.stem)
        return done, False
    if progress:
        log.info("[%d/%d] %s [%s]", i + 1, n, job["name"] + (f"-{job['label']}" if job.get("label") else ""),
                 job["lang"])
    try:
        run = run_report(job["name"], job["parameters"], lang=job["lang"], as_of=as_of, data_dir=data_dir,
                         out_dir=out_dir, notebooks_dir=notebooks_dir, label=job.get("label"), timeout=timeout,
                         record=False, stop=stop)
    except Exception as err:  # noqa: BLE001 - the batch goes on; the failure is recorded and shown
        from .. import __version__

        run = ReportRun(job["name"], job["lang"], as_of, status="failed", error=error_summary(err),
                        parameters=job["parameters"], started=now_iso(), finished=now_iso(),
                        label=_label_of_refused(job, notebooks_dir), version=__version__,
                        error_type=type(err).__name__)
        log.info("%s not run: %s", run.stem, run.error)
    return run, True
