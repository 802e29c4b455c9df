"""The report pipeline: parameterised notebooks → papermill → HTML without code.

``run_report`` checks the parameters against the notebook's typed ``parameters`` cell
*before* anything runs (papermill alone only warns), executes the notebook with papermill
into ``reports/<as_of>/<name>.<lang>.ipynb`` and renders ``reports/<as_of>/<name>.<lang>.html``
with the nbconvert template in ``workbench/templates/report`` (JupyterLab's look, no input
cells, no prompts, a header with title, parameters, data as-of, generation time and package
version, a table of contents, figures embedded, no request leaving the file).

Output is written to a temporary file and moved into place, so a failed run never
overwrites a good report: it renders ``<name>.<lang>.failed.html`` instead (the error and
the failing cell, no data). The executed notebook of a failed run may hold offending data
rows (a data-contract error lists them), so it is kept *outside* the published folder, in
``<parent of out_dir>/.workbench-failed/<out_dir name>/<as_of>/`` (folders 0700, files
0600; ``WORKBENCH_FAILED_DIR`` moves it); the failure page names that path relative to the
reports folder. Every run is appended to ``reports/runs.json`` and listed in
``reports/index.html``. ``run_schedule`` runs a YAML list of reports and carries on past
failures.

A run with non-default parameters and no ``label`` gets one derived from those parameters
(``-p store_id S001`` → ``store_id-S001``), so a store page never replaces the HQ page.
Parameter values are checked before anything runs (a ``store_id`` or ``experiment_id``
that is not in the data, a period that is not positive): see :data:`VALUE_CHECKS`.

A run stopped by SIGTERM or SIGINT (the CLI turns both into :class:`Interrupted`) removes
its temporary folder and is recorded as ``interrupted``; temporary folders left by a run
that was killed outright (``kill -9``) are removed by the next run on that date.

Every report notebook declares the standard parameters ``lang``, ``as_of`` and
``data_dir``; they are set by ``run_report``'s own arguments, never through ``parameters``.

Examples
--------
The example runs a report notebook on the demo data (``make data``), so doctests skip it.

>>> from workbench.reports import run_report
>>> run = run_report("ops_dashboard", {"period_days": 7}, lang="zh",
...                  data_dir="data/demo")                           # doctest: +SKIP
>>> run.status, run.html_path                                      # doctest: +SKIP
('ok', 'reports/2026-01-01/ops_dashboard.zh.html')

Modules
-------
``parameters`` (the typed ``parameters`` cell, coercion, value checks, labels), ``run``
(:func:`run_report`, the kernel, temporary folders, failed notebooks), ``html`` (rendering,
headings, template, failure page), ``index`` (:class:`ReportRun`, ``runs.json``,
``index.html``), ``schedule`` (:func:`run_schedule`, loading YAML), ``files`` (atomic writes)
and ``browser`` (the headless-Chromium check of rendered pages).
"""
from __future__ import annotations

# Names outside __all__ below are re-exported for callers of the pre-split module (``workbench.reports.X``).
from .html import TEMPLATE_NAME, TEMPLATES, error_summary, failure_page, render_html, report_css  # noqa: F401
from .index import ReportRun, load_runs, record_run, write_index
from .parameters import (  # noqa: F401
    _NO_DEFAULT,
    STANDARD_PARAMETERS,
    VALUE_CHECKS,
    NotebookParameter,
    auto_label,
    check_parameter_values,
    check_parameters,
    coerce_parameter,
    notebook_parameters,
)
from .run import (  # noqa: F401
    KERNEL_NAME,
    _quiet_kernel_manager,
    _temporary_folder,
    clean_outputs,
    default_as_of,
    ensure_kernel,
    failed_notebook_path,
    remove_stale_temporaries,
    run_report,
)
from .schedule import load_schedule, run_schedule

__all__ = ["run_report", "run_schedule", "check_parameters", "coerce_parameter", "notebook_parameters",
           "NotebookParameter", "ReportRun", "write_index", "record_run", "load_runs", "load_schedule",
           "ensure_kernel", "render_html", "failure_page", "default_as_of", "clean_outputs", "error_summary",
           "auto_label", "check_parameter_values", "VALUE_CHECKS", "failed_notebook_path", "remove_stale_temporaries"]
