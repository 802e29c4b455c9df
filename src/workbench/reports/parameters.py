"""A report notebook's parameters.

A report notebook's parameters: the typed ``parameters`` cell, coercion of given values,
value checks against the data, and labels derived from non-default values.
"""
from __future__ import annotations

import ast
import contextlib
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import DataContractError, ParameterError, ReportError

log = logging.getLogger(__name__)


STANDARD_PARAMETERS = ("lang", "as_of", "data_dir")

_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict,
                           "List": list, "Dict": dict, "Any": object, "object": object}
_TRUE, _FALSE = ("true", "yes", "y", "1", "on"), ("false", "no", "n", "0", "off")
_NULL = ("", "none", "null", "~")
_NO_DEFAULT = object()  # a default the parser cannot evaluate (an expression, not a literal)


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
    r"""Parse the cell tagged ``parameters`` of a notebook.

    ``name: type = value`` gives the type explicitly (``int``, ``float``, ``bool``, ``str``,
    ``list``, ``list[int]``, ``dict``, ``T | None``); in a plain ``name = value`` the
    default's type is the parameter's type. The cell is parsed, never executed.

    Examples
    --------
    >>> import nbformat, tempfile, pathlib
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("n: int = 3\nratio = 0.5", metadata={"tags": ["parameters"]})]
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
        from ..engine import literal, open_workbench, quote

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


_GUARDRAIL_METRICS = ("gmv", "orders", "converted", "aov", "retained")


def _guardrails(name: str, value: Any, values: _Values) -> None:
    bad = [m for m in (value or []) if m not in _GUARDRAIL_METRICS]
    if bad:
        raise ParameterError(f"parameter {name!r} lists {', '.join(map(repr, bad))}; guardrails are among "
                             f"{', '.join(_GUARDRAIL_METRICS)}")


def _margins(name: str, value: Any, values: _Values) -> None:
    ok = isinstance(value, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
                                         for v in value.values())
    if value is not None and not ok:
        raise ParameterError(f"parameter {name!r} must map metrics to margins in [0, 1) (a share of the control "
                             f"mean), got {value!r}")


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
    "guardrails": _guardrails,
    "margins": _margins,
    "outcome": _one_of("gmv", "orders"),
    "method": _one_of("dr", "t", "x"),
    "top_share": _between(0, 1),
    "holdout_share": _between(0, 1),
    "n_folds": _at_least(2),
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
