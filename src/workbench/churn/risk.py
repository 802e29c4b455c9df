"""The churn-risk pipeline from contract tables: model, open relationships, value, risk.

:func:`relationship_risk_sql` fits the Cox model on customer–staff spells collapsed in the
engine, then scores every open relationship's deletion risk over a horizon *in the engine*
and weighs it by the customer's expected value (CLV from :mod:`workbench.clv`, or trailing
12-month GMV when CLV cannot be fitted). Only the model's coefficients and a baseline
table of one row per day of age go in; no per-relationship frame is built in Python, so a
brand with 15 million open relationships is scored like one with fifteen thousand.

* :func:`at_risk_by` — counts and value at risk per store (or any spell column): what
  reports show.
* :func:`relationship_risk` — the ranked relationships as a DataFrame, with raw ids.
* :func:`export_at_risk` — the ranked list as CSV for operations, with real customer ids,
  since guides must act on it.

For a relationships frame already in memory (a hand-built frame, a test, a small brand)
:func:`at_risk_list`, :func:`at_risk_counts_by` and :func:`deletion_risk` answer the same
questions in pandas, with the same model and the same baseline step function
(:func:`baseline_cumulative_hazard`); at brand scale use the engine functions above.

``as_of`` defaults to the workbench's own ``as_of`` (``None`` → ``wb.as_of``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._as_of import require_as_of
from ..engine import Workbench, literal, money_sum, quote
from ..errors import DataContractError, ParameterError
from ..masking import mask_key, mask_tokens
from .spells import spell_columns, spell_counts, spell_table
from .survival import CoxResult, design_matrix, fit_cox

COVARIATES = ["channel_group", "group_member", "bought_by_landmark", "uses_retention_tool"]
_BASELINE = "__wb_risk_baseline"


def model_covariates(wb: Workbench, as_of: Any = None, landmark_days: float = 14.0) -> list[str]:
    """The risk model's covariates: those of :data:`COVARIATES` the spells have (the spells' ``by`` for its fit)."""
    available = spell_columns(wb, as_of, landmark_days)
    return [c for c in COVARIATES if c in available]


def partial_hazard_sql(cox: CoxResult) -> str:
    """The Cox model's partial hazard as an SQL expression over the spell columns.

    The design matrix of :func:`~workbench.churn.survival.design_matrix` written as CASE
    expressions (a missing value is the level ``"missing"``), scaled so that it equals the
    model's own ``predict_partial_hazard``, which pairs with its baseline hazard.
    """
    params = cox.model.params_
    zero = pd.DataFrame(np.zeros((1, len(cox.covariates))), columns=cox.covariates)
    scale = float(np.asarray(cox.model.predict_partial_hazard(zero)).ravel()[0])
    terms = []
    for name in cox.covariates:
        coef = float(params[name])
        column, _, level = name.partition("=")
        if column in cox.categorical:
            match = next(v for v in cox.levels[column] if str(v) == level)
            match = match.item() if isinstance(match, np.generic) else match
            test = f"{quote(column)} IS NULL" if match == "missing" else f"{quote(column)} = {literal(match)}"
            terms.append(f"CASE WHEN {test} THEN {coef!r} ELSE 0.0 END")
        else:
            terms.append(f"{coef!r} * CAST({quote(name)} AS DOUBLE)")
    return f"{scale!r} * EXP({' + '.join(terms) or '0.0'})"


def baseline_cumulative_hazard(cox: CoxResult, ages: np.ndarray) -> np.ndarray:
    """The Cox model's baseline cumulative hazard H0 at ``ages`` (days): a right-continuous step function.

    Zero before the first event time; beyond the last observed time the baseline is flat, so a
    risk computed there is a lower bound.
    """
    base = cox.model.baseline_cumulative_hazard_
    times, h0 = base.index.to_numpy(float), base.iloc[:, 0].to_numpy(float)
    idx = np.searchsorted(times, ages, side="right") - 1
    return np.where(idx >= 0, h0[np.clip(idx, 0, None)], 0.0)


def baseline_by_day(cox: CoxResult, last_day: int) -> pd.DataFrame:
    """The baseline cumulative hazard at whole days 0..``last_day``: ``day``, ``h0``.

    Fitted on whole-day durations the baseline only steps at whole days, so H0 at any age
    equals H0 at its floor: an equi-join on ``FLOOR(age)`` reads it exactly.
    """
    times = cox.model.baseline_cumulative_hazard_.index.to_numpy(float)
    if len(times) and not np.allclose(times, np.round(times)):
        raise ParameterError("baseline_by_day needs a Cox model fitted on whole days (duration_resolution=1.0)")
    days = np.arange(int(last_day) + 1, dtype=np.int64)
    return pd.DataFrame({"day": days, "h0": baseline_cumulative_hazard(cox, days)})


def _value_sql(wb: Workbench, at: pd.Timestamp, value: str) -> str:
    if value not in ("clv", "gmv"):
        raise ParameterError(f"value must be 'clv' or 'gmv', not {value!r}")
    if value == "clv":
        try:
            from ..clv.pipeline import VALUE_TABLE, value_buyers

            # the per-customer value stays in the engine; fitted as the CLV report does by default,
            # without the experiments' one-off orders, so both pages state the same customer value
            value_buyers(wb, at, exclude_experiment_orders=True)
            return f"SELECT customer_id, clv AS value FROM {VALUE_TABLE}"
        except Exception:  # too few buyers to fit: fall back to trailing GMV
            pass
    return f"""SELECT customer_id, {money_sum('amount - COALESCE(refunded_amount, 0)')} AS value FROM orders
               WHERE customer_id IS NOT NULL AND order_time >= {literal(at - pd.Timedelta(days=365))}
                 AND order_time < {literal(at)} GROUP BY customer_id"""


def relationship_risk_sql(wb: Workbench, as_of: Any = None, horizon_days: float = 30.0, value: str = "clv",
                          landmark_days: float = 14.0, rows: pd.DataFrame | None = None) -> tuple[str, CoxResult]:
    """SQL of the open relationships with ``risk`` and ``value_at_risk``, and the fitted Cox model.

    Columns: ``customer_id``, ``staff_id``, ``store_id``, ``channel_group``, ``age_days``,
    ``risk`` = P(deleted within ``horizon_days`` | open at its age) = 1 − S(age + h | x) /
    S(age | x), ``value`` (``"clv"``: expected 12-month value; ``"gmv"``: trailing 12
    months) and ``value_at_risk`` = risk × value. ``rows``: the spells the model is fitted on,
    ``spell_counts(wb, as_of, by=model_covariates(wb, as_of, landmark_days), landmark_days=landmark_days)``,
    when the caller has collapsed them already (:func:`~workbench.churn.spells.spell_counts_sets`).
    """
    if not horizon_days > 0:
        raise ParameterError(f"horizon_days must be positive, got {horizon_days!r}")
    at = require_as_of(wb, as_of)
    covariates = model_covariates(wb, at, landmark_days)
    if rows is None:
        rows = spell_counts(wb, at, by=covariates, landmark_days=landmark_days)
    cox = fit_cox(rows, categorical=covariates, check_ph=False, duration_resolution=1.0, weights_col="weight")
    spells = spell_table(wb, at, landmark_days)
    oldest = float(rows.loc[~rows["churned"].astype(bool), "duration_days"].max()) if len(rows) else 0.0
    wb.register(_BASELINE, baseline_by_day(cox, int(np.ceil(np.nan_to_num(oldest) + horizon_days)) + 1))
    h = float(horizon_days)
    values = _value_sql(wb, at, value)
    sql = f"""
        WITH open_now AS (
            SELECT customer_id, staff_id, store_id, channel_group, duration_days AS age_days,
                   {partial_hazard_sql(cox)} AS partial_hazard
            FROM ({spells}) s WHERE end_reason = 'censored'
        ), scored AS (
            SELECT o.customer_id, o.staff_id, o.store_id, o.channel_group, o.age_days,
                   1 - EXP(-(b1.h0 - b0.h0) * o.partial_hazard) AS risk, COALESCE(v.value, 0.0) AS value
            FROM open_now o
            JOIN {_BASELINE} b0 ON b0.day = CAST(FLOOR(o.age_days) AS BIGINT)
            JOIN {_BASELINE} b1 ON b1.day = CAST(FLOOR(o.age_days + {h!r}) AS BIGINT)
            LEFT JOIN ({values}) v ON v.customer_id = o.customer_id
        )
        SELECT *, risk * value AS value_at_risk FROM scored"""
    return sql, cox


def relationship_risk(wb: Workbench, as_of: Any = None, horizon_days: float = 30.0, value: str = "clv",
                      landmark_days: float = 14.0, top: int | None = None) -> tuple[pd.DataFrame, CoxResult]:
    """Open relationships ranked by ``value_at_risk`` (``rank`` 1 first), and the fitted Cox model.

    The frame carries raw ``customer_id``: it is for operations (:func:`export_at_risk`),
    never for reports. ``top`` keeps the first rows (ranked in the engine). See
    :func:`relationship_risk_sql` for the columns.

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> ranked, cox = relationship_risk(wb, "2026-01-01", horizon_days=30, top=1000)   # doctest: +SKIP
    """
    sql, cox = relationship_risk_sql(wb, as_of, horizon_days, value, landmark_days)
    limit = f" LIMIT {int(top)}" if top else ""
    ranked = wb.query(f"SELECT * FROM ({sql}) r ORDER BY value_at_risk DESC, risk DESC, customer_id, staff_id{limit}")
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked, cox


def at_risk_by(wb: Workbench, as_of: Any = None, by: str = "store_id", horizon_days: float = 30.0,
               risk_threshold: float = 0.1, value: str = "clv", landmark_days: float = 14.0,
               rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Relationships at risk and the value they hold, per ``by``.

    Per ``by`` (a spell column such as ``store_id`` or ``channel_group``): ``open_relationships``,
    ``at_risk`` (risk ≥ ``risk_threshold``), ``expected_deletions`` (sum of risks) and
    ``value_at_risk``, sorted by value at risk — computed in the engine.

    The same numbers as :func:`at_risk_counts_by` on
    :func:`relationship_risk`'s frame, without building it. ``rows``: the model's collapsed
    spells when the caller has them (see :func:`relationship_risk_sql`).

    Examples
    --------
    The examples need a workbench opened on data (``make data`` writes the demo brand), so doctests skip them.

    >>> by_store = at_risk_by(wb, "2026-01-01", "store_id", horizon_days=30)           # doctest: +SKIP
    >>> by_store[["store_id", "open_relationships", "expected_deletions"]].head()      # doctest: +SKIP
    """
    if by not in ("store_id", "staff_id", "channel_group"):
        raise ParameterError(f"at_risk_by groups by store_id, staff_id or channel_group, not {by!r}")
    sql, _ = relationship_risk_sql(wb, as_of, horizon_days, value, landmark_days, rows)
    # risks and values summed as decimals: the stated totals do not depend on the threads' order
    return wb.query(f"""
        SELECT {quote(by)}, COUNT(*) AS open_relationships,
               SUM(CASE WHEN risk >= {float(risk_threshold)!r} THEN 1 ELSE 0 END) AS at_risk,
               {money_sum('risk')} AS expected_deletions, {money_sum('value_at_risk')} AS value_at_risk
        FROM ({sql}) r GROUP BY {quote(by)} ORDER BY value_at_risk DESC, {quote(by)}""")


def export_at_risk(wb: Workbench, as_of: Any, path: str | Path, horizon_days: float = 30.0, top: int | None = None,
                   value: str = "clv") -> Path:
    """Write the ranked at-risk list (customer id, staff, store, risk, value) to CSV for operations."""
    ranked, _ = relationship_risk(wb, as_of, horizon_days, value, top=top)
    cols = ["rank", "customer_id", "staff_id", "store_id", "channel_group", "age_days", "risk", "value",
            "value_at_risk"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ranked[cols].to_csv(path, index=False, float_format="%.6g")
    return path


# ------------------------------------------------------------ in-memory frames (pandas)
def mask_ids(ids: pd.Series, key: str | bytes | None = None, prefix: str = "C-",
             data_dir: str | Path | None = None) -> pd.Series:
    """Keyed tokens in place of raw ids: the same id and key give the same token; missing stays missing.

    A token is ``prefix`` + 20 hex digits (80 bits) of HMAC-SHA256(key, id): without the key it
    cannot be recomputed from a guessed id, and two brands' tokens of the same id differ.

    Parameters
    ----------
    ids : pandas.Series
        Raw ids (any type; masked as ``str(id)``).
    key : str or bytes, optional
        The secret. By default ``WORKBENCH_MASK_KEY``, else the brand's own key, generated on
        first use and kept with mode 0600 in the workbench cache directory (see
        :mod:`workbench.masking` for where, and for rotation: a new key changes every token).
    prefix : str
        Put before every token.
    data_dir : str or Path, optional
        The brand's data directory, which selects its key file. Without it (and without a key)
        one per-user key is used for every brand.

    Examples
    --------
    >>> t = mask_ids(pd.Series(["C1", "C2", "C1"]), key="k" * 32)
    >>> t.iloc[0] == t.iloc[2] != t.iloc[1], len(t.iloc[0])
    (True, 22)
    """
    secret = mask_key(data_dir) if key is None else (key.encode() if isinstance(key, str) else key)
    return mask_tokens(ids, secret, prefix)


def deletion_risk(cox: CoxResult, relationships: pd.DataFrame, age_col: str = "age_days",
                  horizon_days: float = 30.0) -> np.ndarray:
    """P(deleted within ``horizon_days`` | open at age ``age_col``) for each relationship, in pandas.

    1 − S(t + h | x) / S(t | x) = 1 − exp(−[H0(t + h) − H0(t)]·exp(xβ)); the engine computes
    the same in :func:`relationship_risk_sql`.
    """
    missing = [c for c in [age_col, *cox.categorical, *cox.numeric] if c not in relationships.columns]
    if missing:
        raise DataContractError("relationships", missing[0], "required column is missing")
    X, cols = design_matrix(relationships, cox.categorical, cox.numeric, cox.reference_)
    X = X.reindex(columns=cox.covariates, fill_value=0.0)
    partial = cox.model.predict_partial_hazard(X).to_numpy().ravel()
    age = relationships[age_col].to_numpy(float)
    gained = baseline_cumulative_hazard(cox, age + horizon_days) - baseline_cumulative_hazard(cox, age)
    return 1 - np.exp(-gained * partial)


def at_risk_list(cox: CoxResult, relationships: pd.DataFrame, value_col: str, age_col: str = "age_days",
                 horizon_days: float = 30.0, id_cols: tuple[str, ...] = ("customer_id", "staff_id"),
                 salt: str | None = None) -> pd.DataFrame:
    """Open relationships of an in-memory frame ranked by deletion risk × value, with masked ids.

    The pandas counterpart of :func:`relationship_risk` (which scores every open relationship
    of a workbench in the engine and keeps raw ids for operations).

    Returns the relationships with ``risk`` (within ``horizon_days``), ``value_at_risk`` =
    risk × ``value_col``, ``rank``; raw id columns are replaced by masked tokens
    (``customer_token``, ``staff_id`` kept — staff ids are not customer data).
    """
    if value_col not in relationships.columns:
        raise DataContractError("relationships", value_col, "value column is missing")
    out = relationships.copy()
    out["risk"] = deletion_risk(cox, out, age_col, horizon_days)
    out["value_at_risk"] = out["risk"] * out[value_col].fillna(0.0)
    out = out.sort_values("value_at_risk", ascending=False).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    if "customer_id" in out.columns and "customer_id" in id_cols:
        out.insert(0, "customer_token", mask_ids(out.pop("customer_id"), salt))
    return out


def at_risk_counts_by(at_risk: pd.DataFrame, by: str = "store_id", risk_threshold: float = 0.1) -> pd.DataFrame:
    """Counts per ``by`` of relationships above ``risk_threshold`` and the value they hold.

    The pandas counterpart of :func:`at_risk_by`, on an :func:`at_risk_list` frame.
    """
    if by not in at_risk.columns:
        raise DataContractError("at_risk", by, "grouping column is missing")
    df = at_risk.assign(high=at_risk["risk"] >= risk_threshold)
    out = df.groupby(by, dropna=False).agg(open_relationships=("risk", "size"), at_risk=("high", "sum"),
                                           expected_deletions=("risk", "sum"),
                                           value_at_risk=("value_at_risk", "sum")).reset_index()
    return out.sort_values("value_at_risk", ascending=False).reset_index(drop=True)
