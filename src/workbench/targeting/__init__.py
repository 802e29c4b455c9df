"""Uplift models and targeting policies from randomised experiments.

:func:`fit_uplift` gives cross-fitted conditional treatment effects (T-, X-, DR-learner over
scikit-learn regressors); :func:`evaluate_uplift` the Qini coefficient, AUUC and uplift@k
with bootstrap CIs; :func:`policy_values` the off-policy value of treating the top k% (IPW
and doubly robust) beside treat-all, treat-none and random targeting.
"""
from __future__ import annotations

from .evaluation import (
    Curve,
    PolicyEvaluation,
    UpliftEvaluation,
    evaluate_uplift,
    policy_values,
    qini_curve,
    uplift_curve,
    within_fold_ranks,
)
from .features import feature_matrix
from .learners import FoldModel, UpliftFit, fit_uplift, fold_ids, holdout_mask, score_chunks

__all__ = [
    "Curve", "FoldModel", "PolicyEvaluation", "UpliftEvaluation", "UpliftFit", "evaluate_uplift", "feature_matrix",
    "fit_uplift", "fold_ids", "holdout_mask", "policy_values", "qini_curve", "score_chunks", "uplift_curve",
    "within_fold_ranks",
]
