"""At-risk lists: who is likely to delete their guide soon, ranked by risk × value.

The risk of a relationship of age ``t`` days is the model's probability of a deletion in
the next ``horizon_days`` given survival so far, 1 − S(t + h | x) / S(t | x), from a Cox
fit (:func:`workbench.churn.survival.fit_cox`). Lists carry masked ids only; reports show
counts by store.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataContractError
from ..masking import mask_key, mask_tokens
from .survival import CoxResult, design_matrix


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
    """P(deleted within ``horizon_days`` | open at age ``age_col``) for each relationship."""
    missing = [c for c in [age_col, *cox.categorical, *cox.numeric] if c not in relationships.columns]
    if missing:
        raise DataContractError("relationships", missing[0], "required column is missing")
    X, cols = design_matrix(relationships, cox.categorical, cox.numeric, cox.reference)
    X = X.reindex(columns=cox.covariates, fill_value=0.0)
    partial = cox.model.predict_partial_hazard(X).to_numpy().ravel()
    base = cox.model.baseline_cumulative_hazard_
    times, h0 = base.index.to_numpy(float), base.iloc[:, 0].to_numpy(float)

    def cumulative(t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(times, t, side="right") - 1
        return np.where(idx >= 0, h0[np.clip(idx, 0, None)], 0.0)

    age = relationships[age_col].to_numpy(float)
    # beyond the last observed time the baseline is flat: risk there is a lower bound
    return 1 - np.exp(-(cumulative(age + horizon_days) - cumulative(age)) * partial)


def at_risk_list(cox: CoxResult, relationships: pd.DataFrame, value_col: str, age_col: str = "age_days",
                 horizon_days: float = 30.0, id_cols: tuple[str, ...] = ("customer_id", "staff_id"),
                 salt: str | None = None) -> pd.DataFrame:
    """Open relationships ranked by deletion risk × value, with masked ids.

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
    """Counts per ``by`` of relationships above ``risk_threshold`` and the value they hold."""
    if by not in at_risk.columns:
        raise DataContractError("at_risk", by, "grouping column is missing")
    df = at_risk.assign(high=at_risk["risk"] >= risk_threshold)
    out = df.groupby(by, dropna=False).agg(open_relationships=("risk", "size"), at_risk=("high", "sum"),
                                           expected_deletions=("risk", "sum"),
                                           value_at_risk=("value_at_risk", "sum")).reset_index()
    return out.sort_values("value_at_risk", ascending=False).reset_index(drop=True)
