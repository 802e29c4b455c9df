"""Bayesian read-out of an experiment under a normal approximation.

The effect estimate ``d̂`` with standard error ``se`` is treated as a normal likelihood;
with a flat prior the posterior of the true effect ``D`` is ``N(d̂, se²)``, with a normal
prior ``N(μ₀, τ²)`` it is the precision-weighted combination. From the posterior:

* chance to beat control ``P(D > 0)`` (``P(D < 0)`` when lower is better);
* expected loss of shipping the treatment ``E[max(0, −D)] = s φ(m/s) − m Φ(−m/s)`` —
  how much one expects to give up, in metric units, if the treatment is in fact worse —
  and of keeping the control ``E[max(0, D)]``.

With a flat prior, chance to beat control is ``1 − p/2`` for the one-sided direction of the
estimate, so it carries the same evidence as the p-value, phrased for decision makers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ..errors import ParameterError
from .stats import ArrayLike, _scalar


@dataclass(frozen=True)
class BayesianResult:
    """Posterior summary of an effect (treatment minus control)."""

    posterior_mean: ArrayLike
    posterior_sd: ArrayLike
    chance_to_beat_control: ArrayLike
    expected_loss: ArrayLike
    expected_loss_control: ArrayLike
    ci_low: ArrayLike
    ci_high: ArrayLike


def normal_posterior(effect: ArrayLike, se: ArrayLike, prior_mean: float = 0.0,
                     prior_sd: float | None = None) -> tuple[ArrayLike, ArrayLike]:
    """Posterior mean and sd of the effect; flat prior when ``prior_sd`` is None.

    Examples
    --------
    >>> normal_posterior(2.0, 1.0, prior_mean=0.0, prior_sd=1.0)
    (1.0, 0.7071067811865476)
    """
    d, s = np.asarray(effect, dtype=float), np.asarray(se, dtype=float)
    if prior_sd is None:
        return _scalar(d), _scalar(s)
    if not prior_sd > 0:
        raise ParameterError(f"prior_sd must be positive, got {prior_sd!r}")
    precision = 1.0 / s ** 2 + 1.0 / prior_sd ** 2
    mean = (d / s ** 2 + prior_mean / prior_sd ** 2) / precision
    return _scalar(mean), _scalar(np.sqrt(1.0 / precision))


def expected_shortfall(mean: ArrayLike, sd: ArrayLike) -> ArrayLike:
    """``E[max(0, −D)]`` for ``D ~ N(mean, sd²)`` (``max(0, −mean)`` when ``sd = 0``).

    Examples
    --------
    >>> round(expected_shortfall(0.0, 1.0), 6)   # sd / sqrt(2 pi)
    0.398942
    """
    m, s = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = m / s
        loss = s * sps.norm.pdf(z) - m * sps.norm.sf(z)
    return _scalar(np.where(s > 0, loss, np.maximum(0.0, -m)))


def bayesian_summary(effect: ArrayLike, se: ArrayLike, alpha: float = 0.05, prior_mean: float = 0.0,
                     prior_sd: float | None = None, higher_is_better: bool = True) -> BayesianResult:
    """Chance to beat control, expected losses and a ``1 − alpha`` credible interval.

    Examples
    --------
    >>> r = bayesian_summary(0.02, 0.01)
    >>> round(r.chance_to_beat_control, 4), round(r.expected_loss, 6)
    (0.9772, 8.5e-05)
    """
    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    m, s = normal_posterior(effect, se, prior_mean, prior_sd)
    m, s = np.asarray(m), np.asarray(s)
    sign = 1.0 if higher_is_better else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ctbc = np.where(s > 0, sps.norm.cdf(sign * m / s), np.where(sign * m > 0, 1.0, np.where(m == 0, 0.5, 0.0)))
    q = sps.norm.isf(alpha / 2)
    return BayesianResult(
        posterior_mean=_scalar(m), posterior_sd=_scalar(s), chance_to_beat_control=_scalar(ctbc),
        expected_loss=expected_shortfall(sign * m, s), expected_loss_control=expected_shortfall(-sign * m, s),
        ci_low=_scalar(m - q * s), ci_high=_scalar(m + q * s))
