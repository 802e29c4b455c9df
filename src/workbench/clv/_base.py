"""Input checks of the CLV fitters; the fitting machinery they share with churn lives elsewhere.

The base fitter, Newton / L-BFGS optimisation and convergence checks are in
:mod:`workbench._mle`; integer level codes and the collapse to weighted distinct rows are in
:mod:`workbench._rows`. Both are re-exported here so older imports keep working.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._mle import (  # noqa: F401
    _DECREMENT_TOL,
    _LOG_BOUND,
    SUBSAMPLE_ROWS,
    BaseFitter,
    ExactDerivativesFitter,
    central_gradient,
    hessian_from_gradient,
    hessian_from_values,
    small_cholesky_solve,
)
from .._rows import collapse, collapse_indexed, level_codes  # noqa: F401
from ..errors import DataContractError, ParameterError


# ---------------------------------------------------------------------------- input checks
def as_array(values: Any, name: str, table: str = "rfm summary") -> np.ndarray:
    """A 1-d float array; NaN or infinite values raise a :class:`DataContractError` naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise DataContractError(table, name, f"values are not numeric ({err})") from err
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise DataContractError(table, name, "non-finite (NaN or infinite) values",
                                pd.DataFrame({"row": idx, name: arr[idx]}), int(bad.sum()))
    return arr


def check_nonnegative(arr: np.ndarray, name: str, table: str = "rfm summary") -> None:
    """Raise a :class:`DataContractError` listing the first negative values of ``arr``."""
    bad = arr < 0
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise DataContractError(table, name, "negative values", pd.DataFrame({"row": idx, name: arr[idx]}),
                                int(bad.sum()))


def check_lengths(**arrays: np.ndarray) -> None:
    """All inputs must have one common, non-zero length."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ParameterError(f"inputs must have the same length, got {lengths}")
    if not any(lengths.values()):
        raise ParameterError("no rows to fit")


def check_weights(weights: Any, n: int) -> np.ndarray | None:
    """Validate optional row weights (counts of identical customers)."""
    if weights is None:
        return None
    w = as_array(weights, "weights")
    check_nonnegative(w, "weights")
    if len(w) != n:
        raise ParameterError(f"weights has {len(w)} values for {n} rows")
    if w.sum() <= 0:
        raise ParameterError("weights sum to zero")
    return w


def check_rfm(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, integer_frequency: bool = True) -> None:
    """Validate (frequency, recency, T) triples; errors name the column and show the first bad rows."""
    check_lengths(frequency=frequency, recency=recency, T=T)
    for arr, name in ((frequency, "frequency"), (recency, "recency"), (T, "T")):
        check_nonnegative(arr, name)
    checks = [
        (recency > T * (1 + 1e-12) + 1e-12, "recency", "recency larger than T"),
        ((frequency == 0) & (recency > 0), "recency", "recency > 0 with frequency 0"),
    ]
    if integer_frequency:
        checks.append((frequency != np.round(frequency), "frequency", "frequency must be a whole number"))
    for mask, col, problem in checks:
        if mask.any():
            idx = np.flatnonzero(mask)[:5]  # the table of offending rows is only built on failure
            rows = pd.DataFrame({"row": idx, "frequency": frequency[idx], "recency": recency[idx], "T": T[idx]})
            raise DataContractError("rfm summary", col, problem, rows, int(mask.sum()))



def set_rfm_data(fitter: Any, frequency: Any, recency: Any, T: Any, weights: Any = None) -> float:
    """Validate (frequency, recency, T, weights) and store them on ``fitter`` as ``_x``, ``_tx``, ``_T``.

    The data step every purchase-process fitter (BG/NBD, MBG/NBD, Pareto/NBD) takes before
    maximising its likelihood: rows collapsed to distinct values with counts as weights
    (``fitter._set_data``). Returns the weighted mean ``T`` (at least 1), the time scale the
    fitters start from.
    """
    x, tx, T_ = as_array(frequency, "frequency"), as_array(recency, "recency"), as_array(T, "T")
    check_rfm(x, tx, T_)
    w = check_weights(weights, len(x))
    cols = fitter._set_data(w, x=x, tx=tx, T=T_)
    fitter._x, fitter._tx, fitter._T = cols["x"], cols["tx"], cols["T"]
    return max(float(np.average(fitter._T, weights=fitter._w)), 1.0)
