"""Survival-based churn: contact spells, Kaplan-Meier, Cox, Weibull AFT, sBG cohorts, at-risk lists.

Models follow one idiom: a fitter class whose constructor stores configuration and whose
``fit`` returns the fitter, fitted attributes ending in ``_`` and a ``summary``
(:class:`SpellCoxFitter`, :class:`SpellWeibullAFTFitter`, :class:`ShiftedBetaGeometricFitter`);
:func:`fit_cox` and :func:`fit_weibull_aft` are one-call shortcuts that return the fitter.
"""
from .risk import at_risk_counts_by, at_risk_list, deletion_risk, mask_ids
from .sbg import ShiftedBetaGeometricFitter
from .spells import contact_spells, spell_covariates
from .survival import (
    SpellCoxFitter,
    SpellWeibullAFTFitter,
    collapse_spells,
    expected_lifetime,
    fit_cox,
    fit_weibull_aft,
    hazard_ratio_forest,
    kaplan_meier_curves,
    kaplan_meier_table,
    landmark,
    logrank_table,
    plot_survival_curves,
)

__all__ = ["contact_spells", "spell_covariates", "kaplan_meier_table", "kaplan_meier_curves", "plot_survival_curves",
           "logrank_table", "landmark", "collapse_spells", "fit_cox", "hazard_ratio_forest", "fit_weibull_aft",
           "expected_lifetime", "ShiftedBetaGeometricFitter", "SpellCoxFitter", "SpellWeibullAFTFitter",
           "at_risk_list", "at_risk_counts_by", "deletion_risk", "mask_ids"]
