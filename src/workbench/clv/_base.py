"""Input checks of the CLV fitters and the fitter classes the per-customer models share.

:class:`RowsFitter` holds what every model on per-customer rows does the same way (the
weighted likelihood of the collapsed rows, the per-customer log-likelihood at the fitted
parameters); :class:`RfmFitter` adds the fit on (frequency, recency, T) that BG/NBD,
MBG/NBD and Pareto/NBD share. The base fitter, Newton / L-BFGS optimisation and convergence
checks are in :mod:`workbench._mle`; integer level codes and the collapse to weighted
distinct rows are in :mod:`workbench._rows`. Both are re-exported here so older imports keep
working.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

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


def broadcast_rows(*values: Any) -> list[np.ndarray]:
    """Float arrays of one common shape: the per-customer inputs of a prediction.

    Examples
    --------
    >>> [a.tolist() for a in broadcast_rows(2, [0.0, 1.0])]
    [[2.0, 2.0], [0.0, 1.0]]
    """
    return list(np.broadcast_arrays(*(np.asarray(v, float) for v in values)))


# ---------------------------------------------------------------------------- shared fitters
Fitted = TypeVar("Fitted", bound="RfmFitter")


class RowsFitter(BaseFitter):
    """A fitter whose log-likelihood is a sum over weighted per-customer rows.

    Subclasses implement ``_log_likelihood(params, *columns)`` (per-row log-likelihood, a
    static method) and name in ``_columns`` the attributes that hold the collapsed data
    columns, in the order ``_log_likelihood`` takes them.
    """

    _columns: tuple[str, ...] = ("_x", "_tx", "_T")

    @staticmethod
    def _log_likelihood(params: np.ndarray, *columns: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _negative_ll(self, params: np.ndarray) -> float:
        ll = self._log_likelihood(params, *(getattr(self, name) for name in self._columns))
        return -float(np.sum(self._w * ll))

    def _rows_log_likelihood(self, *columns: Any) -> np.ndarray:
        """Per-row log-likelihood at the fitted parameters, in the shape of the broadcast columns."""
        self._check_fitted()
        cols = broadcast_rows(*columns)
        return self._log_likelihood(self.params_.to_numpy(), *(c.ravel() for c in cols)).reshape(cols[0].shape)


class RfmFitter(RowsFitter):
    """A purchase-process model fitted on (frequency, recency, T): BG/NBD, MBG/NBD, Pareto/NBD.

    Subclasses give ``_param_names``, ``_log_likelihood(params, x, tx, T)`` and
    ``_default_start(scale)``; a model with precomputed likelihood terms overrides
    ``_prepare_terms``.
    """

    def fit(self: Fitted, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> Fitted:
        """Maximum-likelihood fit; returns ``self``.

        Identical (frequency, recency, T) rows are collapsed into weights, so millions of
        customers cost a few thousand likelihood terms.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases per customer (whole numbers).
        recency : array-like
            Time from the first to the last purchase (0 without repeat purchases).
        T : array-like
            Time from the first purchase to the end of the data.
        weights : array-like, optional
            Number of customers each row stands for (rows already collapsed, e.g. by
            :func:`~workbench.clv.collapse_rfm`).
        initial_params : dict or sequence, optional
            Starting parameters in the order of ``_param_names``; by default a start scaled
            to the data's mean ``T``.

        Returns
        -------
        self
            The fitted model: ``params_``, ``standard_errors_``, ``log_likelihood_``, ``summary``.

        Raises
        ------
        DataContractError
            NaN, negative, fractional frequency, recency > T or recency > 0 with frequency 0.
        ConvergenceError
            When the likelihood has no interior maximum (e.g. nobody bought twice).
        """
        scale = set_rfm_data(self, frequency, recency, T, weights)
        self._prepare_terms()
        default = self._default_start(scale) if initial_params is None else ()
        self._optimise(self._initial(initial_params, default))
        return self

    def _prepare_terms(self) -> None:
        """Precompute per-level likelihood terms after the data are set (none by default)."""

    def _default_start(self, scale: float) -> Sequence[float]:  # pragma: no cover - abstract
        """Starting parameters when none are given; ``scale`` is the weighted mean T (at least 1)."""
        raise NotImplementedError

    def log_likelihood_rows(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters.

        Parameters
        ----------
        frequency, recency, T : array-like
            Customers' histories, broadcast against each other.

        Returns
        -------
        ndarray
            log L of each customer's (frequency, recency, T), in the broadcast shape.
        """
        return self._rows_log_likelihood(frequency, recency, T)
