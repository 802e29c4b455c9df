"""A numeric feature matrix from a per-unit frame (no engine work).

:func:`feature_matrix` turns the columns of :func:`workbench.experiments.experiment_frame`
(``pre_orders``, ``pre_gmv``) and of :func:`workbench.experiments.frame.experiment_segments`
(``channel_group``, ``store_id``, ``buyer_type``), or any per-unit frame, into the float
matrix the learners take: numeric columns as they are (missing values are refused, not
filled), categorical ones one-hot encoded with rare levels pooled. The features computed in
the engine at assignment (RFM over the past year, tenure of the WeCom relationship, recent
touches, whether the customer ever bought, acquisition channel group, the guide's store) come
from :func:`workbench.targeting.targeting_frame`; pass ``numeric=TARGETING_NUMERIC`` and
``categorical=TARGETING_CATEGORICAL`` (:mod:`workbench.targeting.frame`) to use them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataContractError

NUMERIC = ("pre_orders", "pre_gmv")
CATEGORICAL = ("channel_group", "store_id", "buyer_type")


def feature_matrix(frame: pd.DataFrame, numeric: Sequence[str] | None = None,
                   categorical: Sequence[str] | None = None, min_share: float = 0.01,
                   table: str = "frame") -> pd.DataFrame:
    """Float features: numeric columns plus one-hot categorical levels (levels rarer than ``min_share`` pooled).

    Defaults are the experiment-frame columns present in ``frame``.

    Examples
    --------
    >>> f = pd.DataFrame({"pre_gmv": [0.0, 10.0, 5.0], "buyer_type": ["new", "repeat", "repeat"]})
    >>> feature_matrix(f).columns.tolist()
    ['pre_gmv', 'buyer_type=new', 'buyer_type=repeat']
    """
    numeric = [c for c in NUMERIC if c in frame] if numeric is None else list(numeric)
    categorical = [c for c in CATEGORICAL if c in frame] if categorical is None else list(categorical)
    missing = [c for c in [*numeric, *categorical] if c not in frame]
    if missing:
        raise DataContractError(table, missing[0],
                                f"feature column missing (have {', '.join(map(str, frame.columns))})")
    parts = []
    for c in numeric:
        v = pd.to_numeric(frame[c], errors="coerce").astype(float)
        if v.isna().any():
            raise DataContractError(table, c, "numeric feature is missing or not a number",
                                    rows=frame.loc[v.isna()].head(5), n_bad=int(v.isna().sum()))
        parts.append(v.rename(c))
    for c in categorical:
        v = frame[c].astype("string").fillna("(missing)")
        share = v.value_counts(normalize=True)
        v = v.where(v.isin(share.index[share >= min_share]), "(other)")
        parts.append(pd.get_dummies(v, prefix=c, prefix_sep="=", dtype=float))
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)
    return out.astype(np.float64)
