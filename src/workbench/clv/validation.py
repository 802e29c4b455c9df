"""Checks of fitted CLV models against a holdout and a naive baseline.

Model checks: calibration / holdout comparison with a naive baseline, the calibration
histogram of repeat purchases, and actual vs expected cumulative repeat transactions,
with small matplotlib helpers that draw them on a given axes and return it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..engine import literal, quote, to_timestamp
from ..errors import DataContractError, ParameterError
from .rfm import UNITS, is_workbench, model_orders_sql


def calibration_holdout_comparison(model: Any, summary: pd.DataFrame,
                                   max_frequency: int = 7) -> tuple[pd.DataFrame, dict[str, float]]:
    """Predicted vs actual holdout purchases by calibration frequency, beside a naive baseline.

    Parameters
    ----------
    model : fitted BetaGeoFitter or ParetoNBDFitter
    summary : DataFrame
        An :func:`~workbench.clv.rfm_summary` with a calibration end (it has
        ``frequency_holdout`` and ``duration_holdout``), per customer or collapsed (a
        ``weight`` column counts the customers of each row).
    max_frequency : int
        Calibration frequencies from this value up are pooled into one row ("7+").

    Returns
    -------
    (DataFrame, dict)
        Per calibration frequency: ``customers``, mean ``actual``, mean ``predicted`` and mean
        ``naive`` holdout purchases. The naive baseline assumes every customer keeps buying
        at their calibration rate x/T. The dict holds ``actual_total``,
        ``predicted_total``, ``naive_total``, ``model_mae`` and ``naive_mae`` (per customer),
        ``model_total_error`` and ``naive_total_error`` (relative error of the total) and
        ``holdout_duration``.
    """
    missing = [c for c in ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")
               if c not in summary.columns]
    if missing:
        raise DataContractError("rfm summary", missing[0], "required column is missing; call rfm_summary with a "
                                "calibration_end")
    t = float(summary["duration_holdout"].iloc[0])
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = _weights(summary)
    pred = model.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
    naive = x / np.maximum(T, 1e-9) * t
    actual = summary["frequency_holdout"].to_numpy(float)
    bucket = np.minimum(x, max_frequency).astype(int)
    table = pd.DataFrame({"frequency": bucket, "customers": w, "actual": actual * w, "predicted": pred * w,
                          "naive": naive * w}).groupby("frequency").sum().reset_index()
    for col in ("actual", "predicted", "naive"):
        table[col] = table[col] / table["customers"]
    table["frequency"] = [str(f) if f < max_frequency else f"{max_frequency}+" for f in table["frequency"]]
    total, n = float(np.sum(w * actual)), float(np.sum(w))
    pred_total, naive_total = float(np.sum(w * pred)), float(np.sum(w * naive))
    metrics = {
        "actual_total": total, "predicted_total": pred_total, "naive_total": naive_total,
        "model_mae": float(np.sum(w * np.abs(pred - actual)) / n),
        "naive_mae": float(np.sum(w * np.abs(naive - actual)) / n),
        "model_total_error": pred_total / total - 1 if total else float("nan"),
        "naive_total_error": naive_total / total - 1 if total else float("nan"),
        "holdout_duration": t,
    }
    return table, metrics


def _weights(summary: pd.DataFrame) -> np.ndarray:
    """Customers per row: the ``weight`` column of a collapsed summary, else one each."""
    if "weight" not in summary.columns:
        return np.ones(len(summary))
    return summary["weight"].to_numpy(float)


def period_transactions(model: Any, summary: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Customers by number of repeat purchases in calibration: actual vs the model's expectation.

    The expected number of customers with n repeat purchases is Σ_i P(X(T_i) = n), each
    customer at their own age T_i. The last row pools ``max_frequency`` and more. A
    ``weight`` column (a collapsed summary) counts the customers of each row.
    """
    w = _weights(summary)
    T_counts = pd.Series(w).groupby(summary["T"].round(9).to_numpy()).sum()
    ages, counts = T_counts.index.to_numpy(float), T_counts.to_numpy(float)
    probs = np.array([np.asarray(model.probability_of_n_purchases_up_to_time(ages, n), float) * np.ones_like(ages)
                      for n in range(max_frequency)])
    expected = np.r_[probs @ counts, counts @ np.clip(1 - probs.sum(axis=0), 0.0, None)]
    actual = np.bincount(np.minimum(summary["frequency"].to_numpy().astype(int), max_frequency), weights=w,
                         minlength=max_frequency + 1)
    labels = [str(n) for n in range(max_frequency)] + [f"{max_frequency}+"]
    return pd.DataFrame({"frequency": labels, "actual": actual, "expected": expected})


def _cumulative_sql(source: str, customer_col: str, time_col: str, obs: pd.Timestamp) -> str:
    c, t = quote(customer_col), quote(time_col)
    return f"""
        WITH days AS (
            SELECT {c} AS customer_id, CAST({t} AS DATE) AS d
            FROM {source}
            WHERE {c} IS NOT NULL AND CAST({t} AS DATE) <= CAST({literal(obs.normalize())} AS DATE)
            GROUP BY 1, 2
        ),
        firsts AS (SELECT customer_id, MIN(d) AS first_day FROM days GROUP BY 1)
        SELECT 'birth' AS kind, first_day AS d, COUNT(*) AS n FROM firsts GROUP BY first_day
        UNION ALL
        SELECT 'repeat' AS kind, days.d, COUNT(*) AS n
        FROM days JOIN firsts ON firsts.customer_id = days.customer_id
        WHERE days.d > firsts.first_day
        GROUP BY days.d
    """


@dataclass(frozen=True)
class CumulativeTransactions:
    """Actual vs expected cumulative repeat transactions (:func:`expected_vs_actual_cumulative`).

    Attributes
    ----------
    table : DataFrame
        ``period``, cumulative ``actual`` and ``expected`` repeat transactions.
    calibration_period : float or None
        Where calibration ends, in periods since the first purchase day.
    """

    table: pd.DataFrame
    calibration_period: float | None = None

    def __getitem__(self, key: Any) -> Any:
        return self.table[key]

    def __len__(self) -> int:
        return len(self.table)


def expected_vs_actual_cumulative(model: Any, transactions: Any, customer_col: str = "customer_id",
                                  time_col: str = "order_time", time_unit: str = "W",
                                  calibration_end: Any = None, observation_end: Any = None,
                                  periods: int | None = None,
                                  exclude_experiment_orders: bool = False) -> CumulativeTransactions:
    """Actual vs expected cumulative repeat transactions, by period since the first purchase day.

    Purchases are one per customer per day, as in :func:`~workbench.clv.rfm_summary`.
    Expected: Σ over customers of E[X(t − b_i)] (the unconditional expectation from each
    customer's first purchase b_i). Only two small aggregates leave the engine: first
    purchases per day and repeat purchases per day.

    Parameters
    ----------
    transactions : DataFrame or Workbench
        Transactions (``customer_col``, ``time_col``), or a workbench whose contract
        ``orders`` are used.
    calibration_end : date-like, optional
        Marks the end of calibration (``calibration_period`` of the result, in periods).
    observation_end : date-like, optional
        The last day counted (inclusive); default: the last transaction.
    periods : int, optional
        Number of periods on the grid (default: up to the last transaction).
    exclude_experiment_orders : bool, default False
        For a workbench: leave out experiment-task orders, as the model being checked did
        (:func:`~workbench.clv.rfm.model_orders_sql`).

    Returns
    -------
    CumulativeTransactions
        ``table``: ``period`` (1, 2, …, and the observation end when it falls within a
        period), cumulative ``actual`` and ``expected`` repeat transactions;
        ``calibration_period``: where calibration ends on that axis (``None`` without
        ``calibration_end``). Indexing the result indexes its table.
    """
    if time_unit not in UNITS:
        raise ParameterError(f"time_unit must be one of {', '.join(UNITS)}, not {time_unit!r}")
    unit = UNITS[time_unit]
    if is_workbench(transactions):
        obs = to_timestamp(observation_end, "observation_end") if observation_end is not None else \
            pd.Timestamp(transactions.query("SELECT MAX(order_time) AS m FROM orders").iloc[0, 0])
        source = model_orders_sql(transactions, exclude_experiment_orders)
        agg = transactions.query(_cumulative_sql(source, "customer_id", "order_time", obs))
    else:
        missing = [col for col in (customer_col, time_col) if col not in transactions.columns]
        if missing:
            raise DataContractError("transactions", missing[0], "required column is missing")
        frame = transactions[[customer_col, time_col]]
        obs = to_timestamp(observation_end, "observation_end") if observation_end is not None else \
            pd.Timestamp(frame[time_col].max())
        con = duckdb.connect()
        con.register("transactions_input", frame)
        agg = con.sql(_cumulative_sql("transactions_input", customer_col, time_col, obs)).df()
        con.close()
    if agg.empty:
        raise ParameterError("there are no transactions to compare")
    agg["d"] = pd.to_datetime(agg["d"])
    start = agg["d"].min()
    agg["age"] = (agg["d"] - start).dt.days.to_numpy() / unit
    births, repeats = agg[agg["kind"] == "birth"], agg[agg["kind"] == "repeat"].sort_values("age")
    end = (obs.normalize() - start).days / unit if periods is None else float(periods)
    grid = np.arange(1, int(np.floor(end)) + 1, dtype=float)
    if periods is None and end > (grid[-1] if len(grid) else 0) + 1e-9:
        grid = np.r_[grid, end]  # close on the observation end itself
    cum_repeats = np.r_[0, np.cumsum(repeats["n"].to_numpy(float))]
    actual = cum_repeats[np.searchsorted(repeats["age"].to_numpy(), grid, side="right")]
    ages = np.clip(grid[:, None] - births["age"].to_numpy()[None, :], 0.0, None)
    expected = np.asarray(model.expected_number_of_purchases_up_to_time(ages), float) @ births["n"].to_numpy(float)
    out = pd.DataFrame({"period": grid, "actual": actual, "expected": expected})
    calibration = None if calibration_end is None else \
        (to_timestamp(calibration_end, "calibration_end").normalize() - start).days / unit
    return CumulativeTransactions(out, calibration)


#: the name used by earlier notebooks
def cumulative_repeat_transactions(model: Any, transactions: Any, customer_col: str = "customer_id",
                                   time_col: str = "order_time", time_unit: str = "W",
                                   periods: int | None = None) -> pd.DataFrame:
    """The table of :func:`expected_vs_actual_cumulative` (without a calibration marker)."""
    return expected_vs_actual_cumulative(model, transactions, customer_col, time_col, time_unit,
                                         periods=periods).table


# ------------------------------------------------------------------------------ plots
def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_period_transactions(model: Any, summary: pd.DataFrame, max_frequency: int = 7, ax: Any = None) -> Any:
    """Bars of customers by calibration repeat purchases: actual vs model. Returns ``ax``."""
    ax = _axes(ax)
    table = period_transactions(model, summary, max_frequency)
    pos = np.arange(len(table))
    ax.bar(pos - 0.2, table["actual"], width=0.4, label="actual")
    ax.bar(pos + 0.2, table["expected"], width=0.4, label="model")
    ax.set_xticks(pos)
    ax.set_xticklabels(table["frequency"])
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("customers")
    ax.legend()
    return ax


def plot_calibration_holdout(model: Any, summary: pd.DataFrame, max_frequency: int = 7, ax: Any = None) -> Any:
    """Mean holdout purchases by calibration frequency: actual, model and naive. Returns ``ax``."""
    ax = _axes(ax)
    table, metrics = calibration_holdout_comparison(model, summary, max_frequency)
    ax.plot(table["frequency"], table["actual"], marker="o", label="actual")
    ax.plot(table["frequency"], table["predicted"], marker="o", label="model")
    ax.plot(table["frequency"], table["naive"], linestyle=":", label="naive (x/T)")
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel(f"mean purchases in the {metrics['holdout_duration']:g}-period holdout")
    ax.legend()
    return ax


def plot_cumulative_transactions(cumulative: CumulativeTransactions | pd.DataFrame, ax: Any = None) -> Any:
    """Lines of an :func:`expected_vs_actual_cumulative` result; a dotted line at calibration end."""
    ax = _axes(ax)
    calibration = getattr(cumulative, "calibration_period", None)
    ax.plot(cumulative["period"], cumulative["actual"], label="actual")
    ax.plot(cumulative["period"], cumulative["expected"], linestyle="--", label="model")
    if calibration is not None:
        ax.axvline(calibration, color="grey", linestyle=":")
    ax.set_xlabel("period since the first purchase day")
    ax.set_ylabel("cumulative repeat transactions")
    ax.legend()
    return ax
