"""Uplift models and targeting policies from randomised experiments.

:func:`fit_uplift` gives cross-fitted conditional treatment effects (T-, X-, DR-learner over
scikit-learn regressors); :func:`evaluate_uplift` the Qini coefficient, AUUC and uplift@k
with bootstrap CIs; :func:`policy_values` the off-policy value of treating the top k% (IPW
and doubly robust) beside treat-all, treat-none and random targeting.
:func:`customer_features` and :func:`targeting_frame` compute the features in the engine (RFM,
tenure, recent touches, acquisition channel, store) and the per-unit frame of an experiment.
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
from .frame import TARGETING_CATEGORICAL, TARGETING_NUMERIC, customer_features, targeting_frame
from .learners import FoldModel, UpliftFit, fit_uplift, fold_ids, holdout_mask, score_chunks, train_sample

__all__ = [
    "TARGETING_CATEGORICAL", "TARGETING_NUMERIC", "Curve", "FoldModel", "PolicyEvaluation", "UpliftEvaluation",
    "UpliftFit", "customer_features", "evaluate_uplift", "feature_matrix", "fit_uplift", "fold_ids", "holdout_mask",
    "policy_values", "qini_curve", "score_chunks", "targeting_frame", "train_sample", "uplift_curve",
    "within_fold_ranks",
]
