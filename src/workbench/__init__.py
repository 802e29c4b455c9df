"""workbench: research and experimentation for WeCom private-domain retail.

Contract tables in, DataFrames out::

    import workbench
    wb = workbench.open("data/demo", as_of="2026-01-01")
    workbench.metrics.acquisition(wb, "2025-12-01", "2026-01-01", grain="week", by="store")

Modules: :mod:`workbench.contract` (tables and columns), :mod:`workbench.engine`
(validated SQL views), :mod:`workbench.identity`, :mod:`workbench.metrics` (the metric
system), :mod:`workbench.simulate` (demo brand with ground truth) and the analysis
families (``experiments``, ``clv``, ``segments``, ``churn``, ``attribution``).
"""
from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any

try:
    __version__ = _version("workbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

# The public names are imported on first use (PEP 562), not here: the ``workbench``
# command imports this package for every ``--help``, and pandas, DuckDB and SciPy take
# seconds to load. ``import workbench; workbench.open(...)`` works exactly as before.
_LAZY = {
    "Workbench": ("engine", "Workbench"),
    "open": ("engine", "open_workbench"),
    "resolve_identities": ("identity", "resolve_identities"),
    "ConvergenceError": ("errors", "ConvergenceError"),
    "DataContractError": ("errors", "DataContractError"),
    "ParameterError": ("errors", "ParameterError"),
    "ReportError": ("errors", "ReportError"),
    "WorkbenchError": ("errors", "WorkbenchError"),
}
_LAZY_MODULES = ("metrics",)  # the metric system is part of the top-level API


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(import_module(f".{module}", __name__), attr)
    elif name in _LAZY_MODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))


__all__ = [
    "metrics",
    "Workbench",
    "open",
    "resolve_identities",
    "DataContractError",
    "ParameterError",
    "ConvergenceError",
    "ReportError",
    "WorkbenchError",
    "__version__",
]
