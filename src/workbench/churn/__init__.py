"""Survival-based churn: contact spells, Kaplan-Meier, Cox, Weibull AFT, sBG cohorts, at-risk lists.

Models follow one idiom: a fitter class whose constructor stores configuration and whose
``fit`` returns the fitter, fitted attributes ending in ``_`` and a ``summary``
(:class:`SpellCoxFitter` (strata with separate baselines), :class:`SpellWeibullAFTFitter`,
:class:`ShiftedBetaGeometricFitter` and :class:`MultiCohortSBGFitter` (DERL and retention
elasticity, Fader & Hardie 2010)); :func:`weighted_logrank_test` gives Fleming–Harrington,
Gehan and Tarone–Ware tests on weighted rows;
:func:`fit_cox` and :func:`fit_weibull_aft` are one-call shortcuts that return the fitter.
"""
from .risk import at_risk_counts_by, at_risk_list, deletion_risk, mask_ids
from .sbg import MultiCohortSBGFitter, ShiftedBetaGeometricFitter
from .sbg import derl as sbg_derl
from .sbg import retention_elasticity as sbg_retention_elasticity
from .spells import contact_spells, spell_covariates
from .survival import (
    SpellCoxFitter,
    SpellWeibullAFTFitter,
    WeightedLogrank,
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
    weighted_logrank_test,
)

__all__ = [
    # contact spells (customer–staff relationships)
    "contact_spells", "spell_covariates",
    # survival curves and tests
    "kaplan_meier_table", "kaplan_meier_curves", "plot_survival_curves", "logrank_table", "landmark",
    "collapse_spells", "WeightedLogrank", "weighted_logrank_test",
    # survival models
    "SpellCoxFitter", "fit_cox", "hazard_ratio_forest", "SpellWeibullAFTFitter", "fit_weibull_aft",
    "expected_lifetime",
    # cohort retention (shifted beta-geometric)
    "ShiftedBetaGeometricFitter", "MultiCohortSBGFitter", "sbg_derl", "sbg_retention_elasticity",
    # at-risk lists
    "at_risk_list", "at_risk_counts_by", "deletion_risk", "mask_ids",
]
