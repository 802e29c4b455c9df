"""At-risk lists from an in-memory relationships frame: now in :mod:`workbench.churn.risk`.

:func:`~workbench.churn.risk.at_risk_list`, :func:`~workbench.churn.risk.at_risk_counts_by`,
:func:`~workbench.churn.risk.deletion_risk` and :func:`~workbench.churn.risk.mask_ids` live
beside the engine functions that answer the same questions at brand scale; this module
re-exports them so older imports keep working.
"""
from .risk import at_risk_counts_by, at_risk_list, deletion_risk, mask_ids

__all__ = ["at_risk_counts_by", "at_risk_list", "deletion_risk", "mask_ids"]
