"""Customer lifetime value: RFM summaries, BG/NBD, Pareto/NBD, Gamma-Gamma, BG/BB and CLV."""
from .beta_geo import BetaGeoFitter
from .beta_geo_beta_binom import BetaGeoBetaBinomFitter
from .gamma_gamma import GammaGammaFitter
from .pareto_nbd import ParetoNBDFitter
from .rfm import collapse_rfm, rfm_summary

__all__ = ["BetaGeoFitter", "ParetoNBDFitter", "GammaGammaFitter", "BetaGeoBetaBinomFitter", "rfm_summary",
           "collapse_rfm"]
