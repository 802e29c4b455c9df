"""Customer lifetime value: RFM summaries, BG/NBD, Pareto/NBD, Gamma-Gamma, BG/BB, CLV and checks.

One public function per question:

* What did each customer buy (frequency, recency, age ``T``, mean repeat spend)?
  :func:`rfm_summary` (a transaction frame or a workbench; ``collapsed=True`` gives the distinct
  rows with counts that the fitters take; :func:`collapse_rfm` does that for a summary frame).
* How often will a customer buy, and are they still a customer? The transaction models
  :class:`BetaGeoFitter`, :class:`ModifiedBetaGeoFitter`, :class:`ParetoNBDFitter`,
  :class:`BetaGeoBetaBinomFitter` (discrete opportunities) and, with customer traits,
  :class:`BetaGeoCovariatesFitter` / :class:`ParetoNBDCovariatesFitter`.
* How much per purchase? :class:`GammaGammaFitter`.
* What is a customer worth over the next months? :func:`customer_lifetime_value` on
  per-customer arrays, any transaction model; for a whole brand in the engine (BG/NBD, every
  buyer, tiers) :func:`workbench.clv.pipeline.customer_value`, which keeps every customer's row in
  the engine; :func:`workbench.clv.customer_table.value_figures` reads the page's aggregates there.
* How sure is that? :func:`clv_interval` for each customer and the total (arrays);
  :func:`workbench.clv.pipeline.total_value_interval` for the total on the engine's collapsed
  rows. Both run the same parameter draws (:func:`workbench.clv.value.draw_values`), so with
  one seed their totals agree.
* Does the model fit? :func:`calibration_holdout_comparison`, :func:`period_transactions`,
  :func:`expected_vs_actual_cumulative` and their plots.

Typical use::

    s = rfm_summary(wb, calibration_end="2025-09-30", observation_end="2025-12-31")
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    rep = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    clv = customer_lifetime_value(bg, gg, s["frequency"], s["recency"], s["T"], s["monetary_value"])
"""
from .beta_geo import BetaGeoFitter
from .beta_geo_beta_binom import BetaGeoBetaBinomFitter
from .covariates import (
    BetaGeoCovariatesFitter,
    CovariateEffect,
    ParetoNBDCovariatesFitter,
    design_matrix,
    simulate_pareto_nbd_covariates,
)
from .gamma_gamma import GammaGammaFitter
from .modified_beta_geo import ModifiedBetaGeoFitter
from .pareto_nbd import ParetoNBDFitter
from .rfm import collapse_rfm, rfm_summary
from .validation import (
    calibration_holdout_comparison,
    expected_vs_actual_cumulative,
    period_transactions,
    plot_calibration_holdout,
    plot_cumulative_transactions,
    plot_period_transactions,
)
from .value import clv_interval, customer_lifetime_value

__all__ = ["BetaGeoFitter", "ModifiedBetaGeoFitter", "ParetoNBDFitter", "GammaGammaFitter", "BetaGeoBetaBinomFitter",
           "BetaGeoCovariatesFitter", "ParetoNBDCovariatesFitter", "CovariateEffect", "design_matrix",
           "simulate_pareto_nbd_covariates", "rfm_summary",
           "collapse_rfm", "customer_lifetime_value", "clv_interval", "calibration_holdout_comparison",
           "period_transactions", "expected_vs_actual_cumulative", "plot_period_transactions",
           "plot_calibration_holdout", "plot_cumulative_transactions"]
