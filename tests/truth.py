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
