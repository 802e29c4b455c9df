"""Schoenfeld residuals for lifelines' proportional-hazards test, in linear time and with the same numbers.

lifelines (0.30) builds the residual matrix of a Cox model with one ``np.append`` per row, which
copies every row appended so far: on the 20,000 spells of the churn report's PH check that is most
of the check's time. :func:`schoenfeld_within_strata` is the same recursion, operation for
operation (the risk and tie sums are added in the same order, so every float is the same), keeping
the rows in a list that is stacked once. :func:`with_linear_residuals` installs it on a fitted
``CoxPHFitter``; ``proportional_hazard_test`` then reads it through the model's usual methods.
"""
from __future__ import annotations

import types
from typing import Any

import numpy as np
import pandas as pd


def schoenfeld_within_strata(self: Any, X: pd.DataFrame, T: pd.Series, E: pd.Series, weights: pd.Series,
                             entries: None) -> np.ndarray:
    """Schoenfeld residuals of one stratum (Efron ties): lifelines' method without its quadratic append.

    Rows sorted by duration; a row's residual is its covariates minus the weighted mean of its
    event time's risk set (zero for a censored row). Bound to a fitted model by
    :func:`with_linear_residuals`.
    """
    X, E, T, weights = X.values, E.values, T.values, weights.values
    n, d = X.shape
    if not np.any(E):   # a stratum without deaths: nothing to compare
        return np.zeros((n, d))
    risk_phi, tie_phi = 0, 0
    risk_phi_x, tie_phi_x = np.zeros((1, d)), np.zeros((1, d))
    tie_count = 0
    scores = weights * np.exp(np.dot(X, self.params_))
    diff_against: list[tuple[np.ndarray, Any]] = []
    rows: list[np.ndarray] = []
    # backwards through the rows: the risk set of a time is every row from it to the end
    for i in range(n - 1, -1, -1):
        ti, ei, xi = T[i], E[i], X[i:i + 1]
        phi_i = scores[i:i + 1]
        phi_x_i = phi_i * xi
        risk_phi = risk_phi + phi_i
        risk_phi_x = risk_phi_x + phi_x_i
        diff_against.append((xi, ei))
        if ei:
            tie_phi = tie_phi + phi_i
            tie_phi_x = tie_phi_x + phi_x_i
            tie_count += 1
        if i > 0 and T[i - 1] == ti:     # more rows tied at this time
            continue
        if tie_count == 0:
            rows.extend(np.zeros((1, d)) for _ in diff_against)
            diff_against = []
            continue
        weighted_mean = np.zeros((1, d))
        for l in range(tie_count):   # noqa: E741  (Efron's index, as in lifelines)
            numer = risk_phi_x - l * tie_phi_x / tie_count
            denom = risk_phi - l * tie_phi / tie_count
            weighted_mean += numer / (denom * tie_count)
        rows.extend(e * (x - weighted_mean) for x, e in diff_against)
        tie_count, tie_phi, tie_phi_x = 0, 0, np.zeros((1, d))
        diff_against = []
    residuals = np.concatenate(rows, axis=0) if rows else np.empty((0, d))
    return residuals[::-1]


def with_linear_residuals(cph: Any) -> Any:
    """``cph`` (a fitted lifelines ``CoxPHFitter``) computing its Schoenfeld residuals in linear time; returns it."""
    model = getattr(cph, "_model", cph)   # CoxPHFitter fits a SemiParametricPHFitter and forwards to it
    model._compute_schoenfeld_within_strata = types.MethodType(schoenfeld_within_strata, model)
    return cph
