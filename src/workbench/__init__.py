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

from importlib.metadata import PackageNotFoundError, version as _version

from .engine import Workbench, open_workbench as open  # noqa: A001  (workbench.open is the entry point)
from .errors import ConvergenceError, DataContractError, ParameterError, ReportError, WorkbenchError
from .identity import resolve_identities
from . import metrics  # noqa: E402  (the metric system is part of the top-level API)

try:
    __version__ = _version("workbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

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
