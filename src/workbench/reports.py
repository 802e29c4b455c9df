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
>>> from workbench.reports import run_report
>>> run = run_report("ops_dashboard", {"period_days": 7}, lang="zh",
...                  data_dir="data/demo")                           # doctest: +SKIP
>>> run.status, run.html_path                                      # doctest: +SKIP
('ok', 'reports/2026-01-01/ops_dashboard.zh.html')
"""
from __future__ import annotations

import ast
import contextlib
import datetime as dt
import html
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import DataContractError, ParameterError, ReportError
from .i18n import LANGS, has_key, t

log = logging.getLogger(__name__)

KERNEL_NAME = "workbench"
STANDARD_PARAMETERS = ("lang", "as_of", "data_dir")
TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE_NAME = "report"
_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict,
                           "List": list, "Dict": dict, "Any": object, "object": object}
_TRUE, _FALSE = ("true", "yes", "y", "1", "on"), ("false", "no", "n", "0", "off")
_NULL = ("", "none", "null", "~")
_NO_DEFAULT = object()  # a default the parser cannot evaluate (an expression, not a literal)


# ---------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell.

    ``type`` is ``int``, ``float``, ``bool``, ``str``, ``list``, ``dict`` or ``object``
    (anything YAML can express); ``nullable`` is true for ``T | None`` / ``Optional[T]``;
    ``item_type`` is the element type of ``list[T]``.
    """

    name: str
    type: type
    default: Any
    nullable: bool = False
    item_type: type | None = None


def _parse_annotation(node: ast.expr) -> tuple[type, bool, type | None]:
    """``(type, nullable, item_type)`` of an annotation; unknown annotations accept anything."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation: "int"
        try:
            return _parse_annotation(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return object, False, None
    if isinstance(node, ast.Constant) and node.value is None:
        return type(None), True, None
    if isinstance(node, ast.Name):
        return _TYPES.get(node.id, object), False, None
    if isinstance(node, ast.Attribute):  # typing.List, typing.Any
        return _TYPES.get(node.attr, object), False, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # int | None
        members = [_parse_annotation(node.left), _parse_annotation(node.right)]
        nullable = any(m[0] is type(None) or m[1] for m in members)
        real = [m for m in members if m[0] is not type(None)]
        if len(real) == 1:
            return real[0][0], nullable, real[0][2]
        return object, nullable, None
    if isinstance(node, ast.Subscript):
        base = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if base == "Optional":
            typ, _, item = _parse_annotation(node.slice)
            return typ, True, item
        if base in ("list", "List"):
            item, _, _ = _parse_annotation(node.slice)
            return list, False, None if item in (object, type(None)) else item
        if base in ("dict", "Dict"):
            return dict, False, None
    return object, False, None


def _parameters_cell(path: Path) -> str:
    # plain JSON, not nbformat.read: schema validation costs ~0.5 s a notebook, and listing
    # the reports (`workbench reports`) reads them all; papermill validates before running
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if "parameters" in (c.get("metadata") or {}).get("tags", [])]
    except Exception as err:  # a notebook that is not valid JSON is the author's bug, reported by name
        raise ReportError(f"{path.name}: not a readable notebook ({type(err).__name__}: {err})") from None
    if len(cells) != 1:
        raise ReportError(f"{path.name}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    source = cells[0].get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_parameters(path: str | Path) -> dict[str, NotebookParameter]:
    """Parse the cell tagged ``parameters`` of a notebook.

    ``name: type = value`` gives the type explicitly (``int``, ``float``, ``bool``, ``str``,
    ``list``, ``list[int]``, ``dict``, ``T | None``); in a plain ``name = value`` the
    default's type is the parameter's type. The cell is parsed, never executed.

    Examples
    --------
    >>> import nbformat, tempfile, pathlib
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("n: int = 3\\nratio = 0.5", metadata={"tags": ["parameters"]})]
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.ipynb"; nbformat.write(nb, str(p))
    >>> {k: v.type.__name__ for k, v in notebook_parameters(p).items()}
    {'n': 'int', 'ratio': 'float'}
    """
    path = Path(path)
    source = _parameters_cell(path)
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ReportError(f"{path.name}: the parameters cell is not valid Python: {err}") from None
    out: dict[str, NotebookParameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            default = _literal(node.value) if node.value is not None else _NO_DEFAULT
            typ, nullable, item = _parse_annotation(node.annotation)
            if typ is type(None):
                typ = object
            if typ is float and isinstance(default, int) and not isinstance(default, bool):
                default = float(default)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, default = node.targets[0].id, _literal(node.value)
            nullable, item = default is None, None
            typ = object if default is None or default is _NO_DEFAULT else type(default)
        else:
            continue
        out[name] = NotebookParameter(name, typ, default, nullable, item)
    return out


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NO_DEFAULT


def _is_date_name(name: str) -> bool:
    return name == "as_of" or "date" in name.lower()


def coerce_parameter(param: NotebookParameter, value: Any) -> Any:
    """Convert a CLI string (or a YAML value) to the parameter's type.

    Strings from the command line are converted (``"7"`` → 7, ``"yes"`` → True, a YAML
    list ``"[gmv, orders]"`` → list); values from a schedule file must already have the
    type (an int is accepted for a float). ``str`` parameters named ``*date*`` or
    ``as_of`` must hold ``YYYY-MM-DD`` (or be empty). Raises :class:`ParameterError`.
    """
    typ = param.type

    def bad(detail: str = "") -> ParameterError:
        want = typ.__name__ + (f"[{param.item_type.__name__}]" if param.item_type else "") + \
            (" or None" if param.nullable else "")
        return ParameterError(f"parameter {param.name!r} expects {want}, got {value!r}{detail}")

    if value is None or (param.nullable and isinstance(value, str) and value.strip().lower() in _NULL):
        if param.nullable or typ is object:
            return None
        raise bad()
    if typ is object:
        return _yaml_value(value) if isinstance(value, str) else value
    if typ is str:
        if isinstance(value, dt.datetime):
            value = value.isoformat(sep=" ")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        if not isinstance(value, str):
            raise bad(" (quote it in YAML)")
        if _is_date_name(param.name) and value.strip():
            try:
                dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                raise bad(" (a date YYYY-MM-DD)") from None
        return value
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise bad()
    if typ is int:
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise bad() from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad()
    if typ is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad() from None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad()
    if typ in (list, dict):
        if isinstance(value, str):
            value = _yaml_value(value)
        if typ is list and isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, typ):
            raise bad()
        if typ is list and param.item_type is not None:
            item = NotebookParameter(f"{param.name}[]", param.item_type, None)
            return [coerce_parameter(item, v) for v in value]
        return value
    raise bad()


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def check_parameters(path: str | Path, given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against the notebook's parameters cell; return typed values.

    Raises :class:`ParameterError` naming the unknown parameter(s) or the one whose value
    does not fit, before anything is executed.
    """
    declared = notebook_parameters(path)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = [k for k in declared if k not in STANDARD_PARAMETERS]
        raise ParameterError(f"{Path(path).stem}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(known) or 'none'}")
    return {k: coerce_parameter(declared[k], v) for k, v in given.items()}


# ---------------------------------------------------------------------- parameter values
class _Values:
    """What a value check may consult: the data, opened lazily once and without validation."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._wb: Any = None

    def ids(self, table: str, column: str, value: str) -> tuple[bool, list[str]]:
        """Whether ``value`` occurs in ``table.column``, and a few known values for the message.

        ``(True, [])`` when the table is absent: the notebook then reports the missing
        table itself, as a data-contract error.
        """
        from .engine import literal, open_workbench, quote

        if self._wb is None:
            try:
                self._wb = open_workbench(self.data_dir, validate=False)
            except DataContractError:  # no data at all: the notebook says so
                return True, []
        if table not in getattr(self._wb, "tables", [table]):
            return True, []
        col, tab = quote(column), quote(table)
        try:
            hit = self._wb.query(f"SELECT COUNT(*) AS n FROM {tab} WHERE {col} = {literal(value)}")["n"].iloc[0]
            if hit:
                return True, []
            known = self._wb.query(f"SELECT DISTINCT {col} AS v FROM {tab} WHERE {col} IS NOT NULL "
                                   "ORDER BY 1 LIMIT 6")
        except Exception as err:  # noqa: BLE001 - a table that cannot be read is the notebook's data error to report
            log.debug("cannot check %s.%s: %s", table, column, err)
            return True, []
        return False, [str(v) for v in known["v"]]

    def close(self) -> None:
        if self._wb is not None:
            with contextlib.suppress(Exception):
                self._wb.close()


def _known_id(table: str, column: str):
    def check(name: str, value: Any, values: _Values) -> None:
        if value is None or str(value).strip() == "":  # empty means "all" (the HQ view, the default experiment)
            return
        found, known = values.ids(table, column, str(value))
        if not found:
            more = f"; known: {', '.join(known[:5])}{' …' if len(known) > 5 else ''}" if known else ""
            raise ParameterError(f"unknown {name} {str(value)!r}: not in the {table} table of "
                                 f"{values.data_dir.name}{more}")
    return check


def _at_least(low: float, inclusive: bool = True):
    def check(name: str, value: Any, values: _Values) -> None:
        if value is not None and (value < low if inclusive else value <= low):
            word = "positive" if (low, inclusive) in ((1, True), (0, False)) else f"at least {low}"
            if (low, inclusive) == (0, True):
                word = "zero or more"
            raise ParameterError(f"parameter {name!r} must be {word}, got {value!r}")
    return check


def _between(low: float, high: float):
    def check(name: str, value: Any, values: _Values) -> None:
        if value is not None and not low < value < high:
            raise ParameterError(f"parameter {name!r} must lie strictly between {low} and {high}, got {value!r}")
    return check


def _rate(name: str, value: Any, values: _Values) -> None:
    if value is not None and not 0 <= value < 1:
        raise ParameterError(f"parameter {name!r} must be a rate in [0, 1), got {value!r}")


def _one_of(*allowed: str):
    def check(name: str, value: Any, values: _Values) -> None:
        if value is not None and value not in allowed:
            raise ParameterError(f"parameter {name!r} must be one of {', '.join(allowed)}, got {value!r}")
    return check


def _month(name: str, value: Any, values: _Values) -> None:
    if value and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(value).strip()):
        raise ParameterError(f"parameter {name!r} must be a month YYYY-MM (or empty), got {value!r}")


#: Value checks by parameter name, applied to the values given to a run (after their type
#: is checked, before the notebook runs). A name not listed here is checked by type only.
VALUE_CHECKS: dict[str, Any] = {
    "store_id": _known_id("stores", "store_id"),
    "experiment_id": _known_id("experiments", "experiment_id"),
    **{name: _at_least(1) for name in ("period_days", "horizon_days", "horizon_months", "landmark_days",
                                       "cohort_months", "holdout_weeks", "window_days", "interaction_window_days",
                                       "top_stores", "top_n")},
    "pre_days": _at_least(0),
    "discount_rate": _rate,
    "alpha": _between(0, 1),
    "high_risk": _between(0, 1),
    "at_risk_threshold": _between(0, 1),
    "month": _month,
    "spend_basis": _one_of("net", "gross"),
    "correction": _one_of("holm", "bh", "bonferroni"),
}


def check_parameter_values(typed: dict[str, Any], data_dir: str | Path) -> None:
    """Apply :data:`VALUE_CHECKS` to the given (typed) values; raise :class:`ParameterError`.

    Ids are looked up in the data with one small query each (the data are not validated
    here: the notebook does that).

    Examples
    --------
    >>> check_parameter_values({"period_days": -5}, "data/demo")
    Traceback (most recent call last):
    ...
    workbench.errors.ParameterError: parameter 'period_days' must be positive, got -5
    """
    values = _Values(Path(data_dir))
    try:
        for name, value in typed.items():
            check = VALUE_CHECKS.get(name)
            if check is not None:
                check(name, value, values)
    finally:
        values.close()


_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def auto_label(declared: dict[str, NotebookParameter], typed: dict[str, Any]) -> str | None:
    """A file-name-safe label from the parameters that differ from the notebook's defaults.

    ``None`` when every given value is the default (the run *is* the default page).
    Characters outside ``[A-Za-z0-9_.-]`` become ``_``; when that (or shortening) changed a
    value, a short hash of the exact value is appended so two different values never share
    a label.

    Examples
    --------
    >>> p = {"store_id": NotebookParameter("store_id", str, ""),
    ...      "period_days": NotebookParameter("period_days", int, 30)}
    >>> auto_label(p, {"store_id": "S001", "period_days": 30})
    'store_id-S001'
    >>> auto_label(p, {"store_id": "门店 1"})
    'store_id-1-ce1da3'
    """
    import hashlib

    parts = []
    for name in sorted(typed):
        value = typed[name]
        param = declared.get(name)
        if param is not None and param.default is not _NO_DEFAULT and value == param.default \
                and type(value) is type(param.default):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        safe = _LABEL_UNSAFE.sub("_", text).strip("._") or "_"
        if safe != text or len(safe) > 40:
            safe = f"{safe[:40]}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"
        parts.append(f"{name}-{safe}")
    return "_".join(parts) or None


# ---------------------------------------------------------------------- kernel
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
            _atomic_write(target, json.dumps(spec, indent=1))
            return KERNEL_NAME
        except (OSError, ValueError) as err:
            log.debug("cannot write kernelspec under %s: %s", root, err)
    raise ReportError(f"cannot install the '{KERNEL_NAME}' kernelspec under {' or '.join(map(str, candidates))}")


# ---------------------------------------------------------------------- runs
@dataclass
class ReportRun:
    """The outcome of one report run (one line of ``runs.json``).

    ``status`` is ``ok``, ``failed`` or ``interrupted`` (stopped by SIGTERM/SIGINT); for a
    failed run ``html_path`` is the failure page, ``error`` the one-line reason and
    ``error_type`` the exception's name (``DataContractError`` for bad data, raised in the
    notebook or before it). ``parameters`` are the values given (typed), not the
    notebook's defaults; ``label`` is the one given or derived from non-default parameters;
    ``started`` / ``finished`` are ISO timestamps; ``inputs`` fingerprints the notebook and
    the data files (see ``skip_up_to_date``). ``ipynb_path`` of a failed run is the executed
    notebook kept outside the published folder.
    """

    name: str
    lang: str
    as_of: str
    status: str = "running"
    parameters: dict[str, Any] = field(default_factory=dict)
    html_path: str | None = None
    ipynb_path: str | None = None
    error: str | None = None
    started: str = ""
    finished: str = ""
    label: str | None = None
    version: str = ""
    inputs: str = ""
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def bad_data(self) -> bool:
        """The run failed because the input data break the contract."""
        return self.error_type == "DataContractError"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.label}.{self.lang}" if self.label else f"{self.name}.{self.lang}"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReportRun:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})


def default_as_of(data_dir: str | Path) -> str:
    """The day after the latest event in the data (the natural as-of date)."""
    import pandas as pd

    from .engine import open_workbench

    wb = open_workbench(data_dir, validate=False)
    try:
        end = wb.data_end()
    finally:
        wb.close()
    if end is None or pd.isna(end):
        return dt.date.today().isoformat()
    return (pd.Timestamp(end).normalize() + pd.Timedelta(days=1)).date().isoformat()


def run_report(name: str, parameters: dict[str, Any] | None = None, lang: str = "en", as_of: str | None = None,
               data_dir: str | Path = "data/demo", out_dir: str | Path = "reports",
               notebooks_dir: str | Path = "notebooks", record: bool = True, label: str | None = None,
               timeout: float | None = None) -> ReportRun:
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

    Returns
    -------
    ReportRun
        ``status`` ``ok``, or ``failed`` with a failure page; the previous good report of
        the same name, language and date is left untouched.

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
    as_of = _check_date(default_as_of(data_dir) if as_of is None else as_of)

    from . import __version__

    run = ReportRun(name, lang, as_of, parameters=typed, started=_now(), label=label, version=__version__,
                    inputs=_fingerprint(nb_path, data_dir))
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
                page = render_html(executed, name, lang, as_of, shown)
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
                _record_failure(run, err, executed, out_dir, shown)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM turned into Interrupted by the CLI: tmp is gone already
        run.status, run.error, run.finished = "interrupted", "interrupted by a signal", _now()
        log.info("%s interrupted after %.1f s", run.stem, time.perf_counter() - clock)
        if record:
            record_run(run, out_dir)
        raise
    run.finished = _now()
    # callers report failures themselves (the CLI in one line on stderr): progress only here
    log.info("%s %s in %.1f s%s", run.stem, run.status, time.perf_counter() - clock,
             f": {run.error}" if run.error else "")
    if record:
        record_run(run, out_dir)
    return run


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
    _atomic_write(out / f"{run.stem}.failed.html",
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
_TMP_LOCK = ".owner.lock"


@contextlib.contextmanager
def _temporary_folder(out: Path) -> Iterator[Path]:
    """A private temporary folder in ``out``, locked by this process while it lives.

    The lock (``fcntl.flock``) dies with the process, so :func:`remove_stale_temporaries`
    can tell a folder of a killed run from one of a run still going in another batch.
    The folder is removed on success, failure and interruption alike.
    """
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=_TMP_PREFIX))
    lock = open(tmp / _TMP_LOCK, "w")
    try:
        with contextlib.suppress(ImportError, OSError):
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
    for tmp in Path(out).glob(f"{_TMP_PREFIX}*"):
        if not tmp.is_dir():
            continue
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


def _execute(nb_path: Path, executed: Path, parameters: dict[str, Any], timeout: float | None) -> None:
    import papermill as pm

    kernel = ensure_kernel()
    pm.execute_notebook(str(nb_path), str(executed), parameters=parameters, kernel_name=kernel,
                        cwd=str(nb_path.parent.resolve()), progress_bar=False, log_output=False,
                        report_mode=True, execution_timeout=timeout, language="python",
                        kernel_manager_class=_quiet_kernel_manager())


@lru_cache(maxsize=1)
def _quiet_kernel_manager() -> type:
    """jupyter_client's kernel manager without the SIGINT it sends before every shutdown.

    jupyter_client interrupts the kernel before asking it to shut down; ipykernel then logs
    ``KeyboardInterrupt caught in kernel`` to the inherited stderr, at ERROR level, on runs
    that succeeded (noise in every cron log). A finished notebook has nothing to interrupt.
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if getattr(self, "shutting_down", False):
                return
            await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def _fingerprint(nb_path: Path, data_dir: Path) -> str:
    """Notebook content plus the name, size and modification time of every data file."""
    import hashlib

    h = hashlib.sha1(nb_path.read_bytes())
    files = sorted(p for p in data_dir.rglob("*") if p.is_file()) if data_dir.is_dir() else []
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(data_dir).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _check_date(value: Any) -> str:
    try:
        return dt.date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        raise ParameterError(f"--as-of must be a date YYYY-MM-DD, not {value!r}") from None


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def error_summary(err: BaseException) -> str:
    """``ExceptionName: first line of the message`` — no data rows, no traceback.

    A :class:`~workbench.errors.DataContractError` lists offending rows after its first
    line; those stay in the operator's executed notebook and never reach a page.
    """
    ename = getattr(err, "ename", None) or type(err).__name__
    evalue = getattr(err, "evalue", None)
    evalue = str(err) if evalue is None else str(evalue)
    first = evalue.strip().splitlines()[0] if evalue.strip() else ""
    return f"{ename}: {first}"[:500] if first else ename


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and move it into place: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; reports are served to readers
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the existing file's, else 0666 less the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# ---------------------------------------------------------------------- HTML
@lru_cache(maxsize=1)
def report_css() -> str:
    """The workbench stylesheet shared by reports, failure pages and the index."""
    return (TEMPLATES / TEMPLATE_NAME / "static" / "workbench.css").read_text(encoding="utf-8")


_HEADING = re.compile(r"<h([23])\b[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.S)


def _headings(nb: Any) -> list[dict[str, Any]]:
    """Level-2 and level-3 headings of markdown cells and markdown/HTML outputs, in order.

    Markdown goes through nbconvert's own renderer, so the ids are the ones the page gets.
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    chunks: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            chunks.append(markdown2html_mistune(cell.source))
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "text/markdown" in data:
                    chunks.append(markdown2html_mistune(_text(data["text/markdown"])))
                elif "text/html" in data:
                    chunks.append(_text(data["text/html"]))
    toc = []
    for chunk in chunks:
        for level, ident, inner in _HEADING.findall(chunk):
            inner = re.sub(r"<a[^>]*class=\"anchor-link\"[^>]*>.*?</a>", "", inner, flags=re.S)
            text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
            if text:
                toc.append({"level": int(level), "id": html.unescape(ident), "text": text})
    return toc


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _html_lang(lang: str) -> str:
    return "zh-CN" if lang == "zh" else "en"


def render_html(executed: str | Path, name: str, lang: str, as_of: str, parameters: dict[str, Any]) -> str:
    """Render an executed notebook to one self-contained HTML page with no code.

    Uses the ``report`` template (extends JupyterLab's): header (title from the catalogue,
    ``parameters``, data as-of, generation time, package version), a table of contents of
    the level-2/3 headings, figures inline as base64, and no script or stylesheet fetched
    from anywhere. Output streams written to stderr (warnings, logs) are dropped: they are
    for the operator, who has the executed notebook.
    """
    import nbformat
    from nbconvert import HTMLExporter

    from . import __version__

    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    title = t(f"{name}.title", lang)
    nb.metadata["title"] = f"{title} · {as_of}"
    exporter = HTMLExporter(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_output_stdin = True
    exporter.embed_images = True  # markdown images too: the page is one file
    exporter.language_code = lang
    labels = {k: t(f"report.{k}", lang) for k in ("data_as_of", "generated", "version", "parameters", "contents")}
    resources = {"workbench": {
        "title": title, "as_of": as_of, "generated": f"{dt.datetime.now():%Y-%m-%d %H:%M}",
        "version": __version__, "parameters": {str(k): _show(v) for k, v in parameters.items()},
        "labels": labels, "toc": _headings(nb), "css": report_css(), "footer": t("report.no_pii", lang),
    }}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    # nbconvert knows ISO 639-1 codes only; browsers pick CJK glyph forms from the region
    return re.sub(r'<html lang="[^"]*">', f'<html lang="{_html_lang(lang)}">', body, count=1)


def _show(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "''" if value == "" else str(value)


def _page(title: str, lang: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="{_html_lang(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{report_css()}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def failure_page(name: str, lang: str, as_of: str, parameters: dict[str, Any], err: BaseException,
                 executed: Path | None = None, notebook_shown_as: str | None = None) -> str:
    """A visible page for a failed run: which report, the error's first line and the failing cell.

    It holds no outputs of the notebook, so no customer data; the full traceback is in
    the executed notebook, kept outside the published folder: ``notebook_shown_as`` is its
    path relative to the reports folder, shown for the operator. Every value is escaped.
    """
    from . import __version__

    cell = _failing_cell(executed)
    title = t(f"{name}.title", lang) if has_key(f"{name}.title") else name
    params = " ".join(f"<code>{html.escape(str(k))}={html.escape(_show(v))}</code>" for k, v in parameters.items())
    body = (f'<header class="wb-header"><h1>{html.escape(title)}</h1><div class="wb-meta">'
            f'<span>{t("report.data_as_of", lang)}: <strong>{html.escape(as_of)}</strong></span>'
            f'<span>{t("report.generated", lang)}: {dt.datetime.now():%Y-%m-%d %H:%M}</span>'
            f'<span>{t("report.version", lang)}: {html.escape(__version__)}</span>'
            f'<span>{t("report.parameters", lang)}: {params or "–"}</span></div></header>'
            f'<div class="wb-callout wb-danger">{t("report.failed_title", lang)}</div>'
            f'<p>{t("report.failed_body", lang)}</p>'
            f'<h2>{t("report.failed_error", lang)}</h2><pre>{html.escape(error_summary(err))}</pre>')
    if cell:
        body += f'<h2>{t("report.failed_cell", lang)}</h2><pre>{html.escape(cell)}</pre>'
    if notebook_shown_as:
        body += f'<p class="wb-note">{html.escape(t("report.failed_notebook", lang, path=notebook_shown_as))}</p>'
    return _page(f"{title} · {t('report.failed_title', lang)}", lang, body)


def _failing_cell(executed: Path | None) -> str:
    """Source of the first code cell with an error output ('' when unknown)."""
    if executed is None or not Path(executed).exists():
        return ""
    import nbformat

    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:  # a half-written notebook: the error line is enough
        return ""
    for c in nb.cells:
        if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            return c.source
    return ""


# ---------------------------------------------------------------------- runs.json and the index
@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Serialise writers of ``runs.json`` (two scheduled batches may overlap)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".runs.lock", "a+") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: single-writer use only
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record_run(run: ReportRun, out_dir: str | Path = "reports") -> None:
    """Append ``run`` to ``runs.json`` and rebuild ``index.html``."""
    out = Path(out_dir)
    entry = asdict(run)
    entry["href"] = _href(run.html_path, out)
    with _locked(out):
        runs = load_runs(out)
        runs.append(entry)
        _atomic_write(out / "runs.json", json.dumps(runs, indent=1, ensure_ascii=False, default=str))
        write_index(out)


def _href(path: str | None, out: Path) -> str | None:
    if not path:
        return None
    return Path(os.path.relpath(Path(path).resolve(), out.resolve())).as_posix()


def load_runs(out_dir: str | Path = "reports") -> list[dict[str, Any]]:
    """Every recorded run, oldest first (``runs.json``; empty when there is none)."""
    path = Path(out_dir) / "runs.json"
    if not path.exists():
        return []
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ReportError(f"{path} is not valid JSON ({err}); move it aside to start a new record") from None
    if not isinstance(runs, list):
        raise ReportError(f"{path} should hold a list of runs")
    return runs


def _title_both(name: str) -> str:
    key = f"{name}.title"
    return f"{t(key, 'zh')} / {t(key, 'en')}" if has_key(key) else name


def write_index(out_dir: str | Path = "reports") -> Path:
    """Rebuild ``index.html``: the latest run of each (date, report, language), newest first.

    A failed run links its failure page and, when an earlier run of the same report
    succeeded, that good report too. The page is bilingual (zh / en).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(out)
    latest: dict[tuple, dict] = {}
    last_good: dict[tuple, dict] = {}
    for r in runs:  # oldest first: later runs replace earlier ones
        key = (r["as_of"], r["name"], r.get("label"), r["lang"])
        latest[key] = r
        if r.get("status") == "ok":
            last_good[key] = r
    rows = sorted(latest.items(), key=lambda kv: (kv[1]["as_of"], kv[1].get("finished", "")), reverse=True)

    def both(key: str) -> str:
        return f"{t(key, 'zh')} / {t(key, 'en')}"

    trs = []
    for key, r in rows:
        href = r.get("href") or _href(r.get("html_path"), out)
        title = html.escape(_title_both(r["name"]) + (f" · {r['label']}" if r.get("label") else ""))
        link = f'<a href="{html.escape(href)}">{title}</a>' if href else title
        ok = r.get("status") == "ok"
        interrupted = r.get("status") == "interrupted"
        extra = ""
        if not ok:
            extra = f'<div class="wb-note">{html.escape((r.get("error") or "")[:200])}</div>'
            good = last_good.get(key)
            good_href = good and (good.get("href") or _href(good.get("html_path"), out))
            if good_href:
                extra += (f'<div class="wb-note"><a href="{html.escape(good_href)}">{both("index.last_good")}</a> '
                          f'({html.escape(good.get("finished", "").replace("T", " "))})</div>')
        status = (f'<span class="wb-status-ok">{both("index.ok")}</span>' if ok
                  else f'<span class="wb-status-failed">{both("index.interrupted")}</span>' if interrupted
                  else f'<span class="wb-status-failed">{both("index.failed")}</span>')
        trs.append(f'<tr><td>{html.escape(r["as_of"])}</td><td>{link}{extra}</td><td>{html.escape(r["lang"])}</td>'
                   f'<td>{status}</td><td>{html.escape(r.get("finished", "").replace("T", " "))}</td></tr>')
    if trs:
        table = (f'<div class="wb-scroll"><table class="wb-table"><thead><tr><th>{both("index.date")}</th>'
                 f'<th>{both("index.report")}</th><th>{both("index.lang")}</th><th>{both("index.status")}</th>'
                 f'<th>{both("index.generated")}</th></tr></thead><tbody>{"".join(trs)}</tbody></table></div>')
    else:
        table = f"<p>{both('index.empty')}</p>"
    body = f'<header class="wb-header"><h1>{both("index.title")}</h1></header>{table}'
    _atomic_write(out / "index.html", _page(both("index.title"), "zh", body))
    return out / "index.html"


# ---------------------------------------------------------------------- schedules
_ENTRY_KEYS = {"name", "langs", "lang", "parameters", "label"}


def load_schedule(path: str | Path) -> list[dict[str, Any]]:
    """Read a schedule file into jobs ``{name, lang, parameters, label}``.

    The file holds ``reports:``, a list of ``{name, langs, parameters, label}``, and
    optionally ``defaults: {langs: [zh, en], parameters: {...}}``. Unknown keys, languages
    and malformed entries raise :class:`ParameterError` before anything runs.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.yml"
    >>> _ = p.write_text("reports:\\n  - name: ops_dashboard\\n    parameters: {period_days: 7}\\n")
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
        for lang in langs:
            jobs.append({"name": str(e["name"]), "lang": lang, "parameters": dict(merged), "label": e.get("label")})
    return jobs


def _up_to_date(job: dict[str, Any], as_of: str, data_dir: str | Path, out_dir: str | Path,
                notebooks_dir: str | Path) -> ReportRun | None:
    """The last successful run of ``job`` if nothing it depends on changed since."""
    from . import __version__

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
        if not nb_path.exists() or r.get("inputs") != _fingerprint(nb_path, Path(data_dir)):
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
    changed since, is not run again. ``progress`` logs one line per report.
    """
    jobs = load_schedule(path)
    as_of = _check_date(default_as_of(data_dir) if as_of is None else as_of)
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
            from . import __version__

            run = ReportRun(job["name"], job["lang"], as_of, status="failed", error=error_summary(err),
                            parameters=job["parameters"], started=_now(), finished=_now(),
                            label=_label_of_refused(job, Path(notebooks_dir)), version=__version__,
                            error_type=type(err).__name__)
            log.info("%s not run: %s", run.stem, run.error)
            record_run(run, out_dir)
        runs.append(run)
    return runs


def clean_outputs(notebook: str | Path) -> None:
    """Strip outputs and execution counts from a notebook (notebooks are committed clean)."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nbformat.write(nb, str(notebook))


__all__ = ["run_report", "run_schedule", "check_parameters", "coerce_parameter", "notebook_parameters",
           "NotebookParameter", "ReportRun", "write_index", "record_run", "load_runs", "load_schedule",
           "ensure_kernel", "render_html", "failure_page", "default_as_of", "clean_outputs", "error_summary",
           "auto_label", "check_parameter_values", "VALUE_CHECKS", "failed_notebook_path", "remove_stale_temporaries"]
