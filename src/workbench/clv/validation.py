"""Calibration / holdout validation of a transaction model, with a naive baseline beside it."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def calibration_holdout_comparison(model: Any, summary: pd.DataFrame, max_frequency: int = 7) -> tuple[pd.DataFrame,
                                                                                                      dict[str, float]]:
    """Predicted vs actual holdout purchases by calibration frequency.

    ``summary`` is an :func:`~workbench.clv.rfm_summary` with a calibration end (it has
    ``frequency_holdout`` and ``duration_holdout``). The naive baseline assumes each
    customer keeps buying at their calibration rate, x / T.

    Returns
    -------
    (DataFrame, dict)
        Per calibration frequency (capped at ``max_frequency``+): customers, mean actual,
        mean predicted, mean naive; and aggregate numbers: totals, MAE per customer of the
        model and of the baseline, and the relative error of the total.
    """
    t = float(summary["duration_holdout"].iloc[0])
    pred = model.conditional_expected_number_of_purchases_up_to_time(t, summary["frequency"].to_numpy(),
                                                                     summary["recency"].to_numpy(),
                                                                     summary["T"].to_numpy())
    naive = summary["frequency"].to_numpy() / np.maximum(summary["T"].to_numpy(), 1e-9) * t
    actual = summary["frequency_holdout"].to_numpy()
    bucket = np.minimum(summary["frequency"].to_numpy(), max_frequency).astype(int)
    table = pd.DataFrame({"frequency": bucket, "actual": actual, "predicted": pred, "naive": naive}) \
        .groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                  predicted=("predicted", "mean"), naive=("naive", "mean")).reset_index()
    table["frequency"] = table["frequency"].astype(str).where(table["frequency"] < max_frequency, f"{max_frequency}+")
    metrics = {
        "actual_total": float(actual.sum()), "predicted_total": float(pred.sum()), "naive_total": float(naive.sum()),
        "model_mae": float(np.mean(np.abs(pred - actual))), "naive_mae": float(np.mean(np.abs(naive - actual))),
        "model_total_error": float(pred.sum() / actual.sum() - 1) if actual.sum() else float("nan"),
        "naive_total_error": float(naive.sum() / actual.sum() - 1) if actual.sum() else float("nan"),
        "holdout_duration": t,
    }
    return table, metrics


def cumulative_repeat_transactions(model: Any, transactions: pd.DataFrame, customer_col: str, time_col: str,
                                   time_unit: str = "W", periods: int | None = None) -> pd.DataFrame:
    """Actual vs expected cumulative repeat transactions by period since the first cohort date.

    Expected: Σ over customers of E[X(t − first_i)] (unconditional, from each customer's
    first purchase). Returns ``period``, ``actual``, ``expected``.
    """
    from .rfm import UNITS

    unit = UNITS[time_unit]
    days = transactions[[customer_col, time_col]].copy()
    days["day"] = pd.to_datetime(days[time_col]).dt.normalize()
    days = days.drop_duplicates([customer_col, "day"])
    first = days.groupby(customer_col)["day"].transform("min")
    start = days["day"].min()
    days["age"] = (days["day"] - start).dt.days / unit
    repeat = days[days["day"] > first]
    end = float(days["age"].max()) if periods is None else float(periods)
    grid = np.arange(1, int(np.floor(end)) + 1, dtype=float)
    actual = np.searchsorted(np.sort(repeat["age"].to_numpy()), grid, side="right")
    births = (days.groupby(customer_col)["day"].min() - start).dt.days.to_numpy() / unit
    counts = pd.Series(births).value_counts()
    expected = np.array([float(np.sum(counts.to_numpy() * model.expected_number_of_purchases_up_to_time(
        np.clip(g - counts.index.to_numpy(), 0, None)))) for g in grid])
    return pd.DataFrame({"period": grid, "actual": actual, "expected": expected})


def period_transactions(model: Any, summary: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Customers by number of repeat purchases in calibration: actual vs the model's expectation.

    The expected number of customers with n repeat purchases is Σ_i P(X(T_i) = n) over the
    customers, each at their own age T_i (BG/NBD's ``probability_of_n_purchases_up_to_time``).
    The last row pools ``max_frequency`` and more.
    """
    T_counts = summary["T"].round(6).value_counts()
    expected = np.zeros(max_frequency + 1)
    for T, count in T_counts.items():
        probs = np.array([model.probability_of_n_purchases_up_to_time(float(T), n) for n in range(max_frequency)])
        expected[:max_frequency] += count * probs
        expected[max_frequency] += count * max(0.0, 1 - probs.sum())
    actual = np.bincount(np.minimum(summary["frequency"].to_numpy().astype(int), max_frequency),
                         minlength=max_frequency + 1)
    labels = [str(n) for n in range(max_frequency)] + [f"{max_frequency}+"]
    return pd.DataFrame({"frequency": labels, "actual": actual, "expected": expected})
