"""Sample-ratio mismatch (SRM): whether the assignment counts are what the design said.

A chi-square goodness-of-fit test of the observed counts per variant against the planned
weights. A mismatch (conventionally ``p < 0.001``) means the assignment or the logging is
broken — e.g. a task that failed to push to some guides — and the effect estimates cannot
be trusted, whatever their p-values say.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import DataContractError, ParameterError

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SRMResult:
    """Chi-square goodness of fit of the assignment counts."""

    chi2: float
    dof: int
    p_value: float
    observed: dict[str, int]
    expected: dict[str, float]
    threshold: float = SRM_THRESHOLD
    unit: str = "units"
    flagged: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flagged", bool(self.p_value < self.threshold))

    def __str__(self) -> str:
        status = "SAMPLE RATIO MISMATCH" if self.flagged else "no sample ratio mismatch"
        obs = ", ".join(f"{k}: {v:,}" for k, v in self.observed.items())
        return f"{status} (chi2={self.chi2:.2f}, df={self.dof}, p={self.p_value:.3g}; {self.unit}: {obs})"


def _counts(counts: Any) -> dict[str, int]:
    if isinstance(counts, pd.Series):
        counts = counts.to_dict()
    if not isinstance(counts, Mapping):
        raise ParameterError("counts must be a mapping or Series of variant -> number of units")
    out = {}
    for k, v in counts.items():
        if not np.isfinite(v) or v < 0 or float(v) != int(v):
            raise DataContractError("assignments", "variant", f"count of variant {k!r} is not a non-negative "
                                    f"integer: {v!r}")
        out[str(k)] = int(v)
    return out


def srm_test(counts: Mapping[str, int] | pd.Series, expected_weights: Mapping[str, float] | None = None,
             threshold: float = SRM_THRESHOLD, unit: str = "units") -> SRMResult:
    """Chi-square test of observed assignment counts against expected weights.

    Parameters
    ----------
    counts : mapping or Series
        Number of units (or clusters) per variant.
    expected_weights : mapping, optional
        Planned share per variant (normalised to sum to 1); default equal shares. A
        variant with positive weight and zero units is a mismatch, not an error.
    threshold : float
        ``flagged`` is true when ``p_value < threshold`` (default 0.001).

    Examples
    --------
    >>> r = srm_test({"control": 5000, "treatment": 5210})
    >>> round(r.p_value, 4), r.flagged
    (0.0377, False)
    """
    obs = _counts(counts)
    if expected_weights is None:
        weights = {k: 1.0 for k in obs}
    else:
        weights = {str(k): float(v) for k, v in dict(expected_weights).items()}
        if any((not np.isfinite(w)) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ParameterError(f"expected_weights must be non-negative with a positive sum: {expected_weights}")
        unknown = sorted(k for k in obs if obs[k] > 0 and weights.get(k, 0.0) == 0.0)
        if unknown:
            raise DataContractError("assignments", "variant", f"variants {unknown} have units but no expected weight "
                                    f"(expected weights for {sorted(weights)})")
        for k in weights:
            obs.setdefault(k, 0)
    keys = [k for k in weights if weights[k] > 0]
    if len(keys) < 2:
        raise ParameterError("an SRM test needs at least two variants with positive weight")
    total = sum(obs[k] for k in keys)
    if total == 0:
        raise DataContractError("assignments", "variant", "no units assigned to any variant")
    w = np.array([weights[k] for k in keys]) / sum(weights[k] for k in keys)
    o = np.array([obs[k] for k in keys], dtype=float)
    e = w * total
    chi2 = float(((o - e) ** 2 / e).sum())
    dof = len(keys) - 1
    return SRMResult(chi2=chi2, dof=dof, p_value=float(sps.chi2.sf(chi2, dof)),
                     observed={k: obs[k] for k in keys}, expected=dict(zip(keys, e.tolist(), strict=False)),
                     threshold=threshold, unit=unit)
