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

import logging
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, ReportError
from ..i18n import LANGS
from .html import error_summary
from .index import ReportRun, load_runs, record_run
from .parameters import STANDARD_PARAMETERS, auto_label, check_parameters, notebook_parameters
from .run import check_as_of, default_as_of, inputs_fingerprint, now_iso, run_report

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


def run_schedule(path: str | Path, data_dir: str | Path = "data/demo", as_of: str | None = None,
                 out_dir: str | Path = "reports", notebooks_dir: str | Path = "notebooks",
                 progress: bool = True, skip_up_to_date: bool = False,
                 timeout: float | None = None) -> list[ReportRun]:
    """Run every report of a schedule file; one failure does not stop the batch.

    All reports use the same ``as_of`` (default: the day after the data ends). A report
    that cannot even start (unknown name, bad parameter) is recorded as failed like one
    that raised. With ``skip_up_to_date``, a report whose last successful run used the
    same date, parameters and package version, and whose notebook and data have not
    changed since, is not run again. ``progress`` logs one line per report. Entries with
    ``stores`` run once per store (see the module's description); a data folder without a
    ``stores`` table then raises :class:`ParameterError` before anything runs.
    """
    jobs = expand_stores(load_schedule(path), data_dir)
    as_of = check_as_of(default_as_of(data_dir) if as_of is None else as_of)
    runs = []
    for i, job in enumerate(jobs, start=1):
        done = _up_to_date(job, as_of, data_dir, out_dir, notebooks_dir) if skip_up_to_date else None
        if done is not None:
            if progress:
                log.info("[%d/%d] %s up to date", i, len(jobs), done.stem)
            runs.append(done)
            continue
        if progress:
            log.info("[%d/%d] %s [%s]", i, len(jobs), job["name"] + (f"-{job['label']}" if job.get("label") else ""),
                     job["lang"])
        try:
            run = run_report(job["name"], job["parameters"], lang=job["lang"], as_of=as_of, data_dir=data_dir,
                             out_dir=out_dir, notebooks_dir=notebooks_dir, label=job.get("label"), timeout=timeout)
        except Exception as err:  # noqa: BLE001 - the batch goes on; the failure is recorded and shown
            from .. import __version__

            run = ReportRun(job["name"], job["lang"], as_of, status="failed", error=error_summary(err),
                            parameters=job["parameters"], started=now_iso(), finished=now_iso(),
                            label=_label_of_refused(job, Path(notebooks_dir)), version=__version__,
                            error_type=type(err).__name__)
            log.info("%s not run: %s", run.stem, run.error)
            record_run(run, out_dir)
        runs.append(run)
    return runs
