"""Checks shared by the tests that recover the simulator's ground truth."""
from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.churn import fit_cox, landmark


def assert_cox_covers_truth(spells: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Fit the simulator's churn model on ``spells`` (at its landmark) and assert each 95% CI covers the truth.

    ``spells`` are :func:`workbench.churn.spell_covariates` rows; returns the hazard-ratio table.
    """
    lm = landmark(spells, truth["churn"]["landmark_days"])
    res = fit_cox(lm, categorical=["channel_group", "uses_retention_tool"], numeric=["early_chats"],
                  reference={"channel_group": "offline_store", "uses_retention_tool": 0}, check_ph=False)
    hr = res.hazard_ratios.set_index("covariate")
    checks = {f"channel_group={g}": v for g, v in truth["churn"]["log_hr_channel_group"].items()
              if g != "offline_store"}
    checks["early_chats"] = truth["churn"]["log_hr_per_early_chat"]
    checks["uses_retention_tool=1"] = truth["churn"]["log_hr_retention_tool"]
    for name, value in checks.items():
        lo, hi = np.log(hr.loc[name, "hr_low"]), np.log(hr.loc[name, "hr_high"])
        assert lo <= value <= hi, (name, value, lo, hi)
    return hr


def exp_cust_segments(frame: pd.DataFrame, truth: dict) -> np.ndarray:
    """EXP_CUST segment name of each row of a targeting frame, by the rule in ``truth``'s EXP_CUST entry.

    ``frame`` needs ``has_bought``, ``channel_group`` and ``tenure_days`` at the start (as
    :func:`workbench.targeting.targeting_frame` gives them); ``truth`` is the whole truth.json or its
    ``experiments`` part.
    """
    e = truth.get("experiments", truth)["EXP_CUST"]
    store = frame["channel_group"].to_numpy() == "offline_store"
    new = frame["tenure_days"].to_numpy() < e["new_relationship_days"]
    return np.where(frame["has_bought"].to_numpy() == 0, "no_purchase",
                    np.where(~store, "buyer_other_channel",
                             np.where(new, "buyer_store_new", "buyer_store_established")))


def exp_cust_true_lift(frame, truth: dict, metric: str = "gmv_per_unit") -> np.ndarray:
    """Each EXP_CUST unit's true lift, in the row order of ``frame``.

    ``metric`` is a key of ``true_abs_lift``: ``gmv_per_unit`` (net of refunds), ``orders_per_unit`` or
    ``gross_gmv_per_unit``.
    ``frame`` is a targeting frame of EXP_CUST, or a workbench (its targeting frame is built, ordered by unit).
    The true value of any policy ``pi`` (0/1 or a probability per unit) over these units, against treating
    nobody, is ``(exp_cust_true_lift(...) * pi).mean()``.
    """
    if not isinstance(frame, pd.DataFrame):
        from workbench.targeting import targeting_frame

        e = truth.get("experiments", truth)["EXP_CUST"]
        frame = targeting_frame(frame, "EXP_CUST", window_days=e["window_days"])
    segments = truth.get("experiments", truth)["EXP_CUST"]["segments"]
    lift = {name: s["true_abs_lift"][metric] for name, s in segments.items()}
    return pd.Series(exp_cust_segments(frame, truth)).map(lift).to_numpy(dtype=float)
