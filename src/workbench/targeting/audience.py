"""Scoring the customers open now with a fitted uplift model, and the audience export for execution.

:class:`TargetingModel` keeps a cross-fitted :class:`~workbench.targeting.learners.UpliftFit`
with the feature layout it was trained on, so customers described later (by
:func:`workbench.targeting.frame.customer_features` at another date) are encoded the same way:
a categorical level the training frame pooled or never saw counts as ``(other)``, and the
one-hot columns follow the training order. Scores are the mean of the fold models' effects
(:func:`~workbench.targeting.learners.score_chunks`), computed one chunk of customers at a time.

:func:`score_audience` ranks every customer with an open contact at a date by predicted uplift
and keeps the top share; :func:`export_audience` writes that audience as a CSV for the stores
and guides who will carry out the next task: masked customer tokens by default (keyed, see
:mod:`workbench.masking`), raw ids only with ``masked=False`` (the operations export). The
default file lies beside the brand's data (``<parent of data>/exports/``), never in a checkout.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError
from .features import feature_matrix
from .learners import UpliftFit, score_chunks

OTHER, MISSING = "(other)", "(missing)"
EXPORT_COLUMNS = ("store_id", "store_name", "staff_id", "staff_name", "rank", "customer_token", "predicted_uplift")


@dataclass(frozen=True)
class TargetingModel:
    """A fitted uplift model with the feature layout it was trained on.

    Attributes
    ----------
    fit : UpliftFit
        The cross-fitted models (their mean scores new customers).
    columns : tuple of str
        The feature matrix's columns, in order.
    numeric, categorical : tuple of str
        The frame columns the features come from.
    levels : tuple of (str, tuple of str)
        Per categorical column, the levels that have a column of their own.
    outcome : str
        What the model's uplift is in (``gmv``: CNY per customer over the experiment's window).
    window_days : int
        The outcome window of the experiment it learned from.
    """

    fit: UpliftFit
    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    levels: tuple[tuple[str, tuple[str, ...]], ...]
    outcome: str = "gmv"
    window_days: int = 14

    @classmethod
    def layout(cls, frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
               min_share: float = 0.01) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The training feature matrix of ``frame`` and the layout fields of a model fitted on it.

        Examples
        --------
        >>> f = pd.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["a", "b", "b"]})
        >>> x, lay = TargetingModel.layout(f, ["x"], ["g"])
        >>> x.columns.tolist(), lay["levels"]
        (['x', 'g=a', 'g=b'], (('g', ('a', 'b')),))
        """
        x = feature_matrix(frame, list(numeric), list(categorical), min_share=min_share)
        cols = tuple(map(str, x.columns))
        levels = tuple((c, tuple(col[len(c) + 1:] for col in cols if col.startswith(c + "="))) for c in categorical)
        return x, {"columns": cols, "numeric": tuple(numeric), "categorical": tuple(categorical), "levels": levels}

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Features of new rows in the training layout (unseen or pooled levels count as ``(other)``).

        Examples
        --------
        >>> from sklearn.linear_model import LinearRegression
        >>> from workbench.targeting import fit_uplift
        >>> f = pd.DataFrame({"x": np.arange(40.0), "g": ["a", "b"] * 20})
        >>> x, lay = TargetingModel.layout(f, ["x"], ["g"])
        >>> fit = fit_uplift(x, np.arange(40) % 3 == 0, np.arange(40.0), "t", LinearRegression(), n_folds=2)
        >>> TargetingModel(fit, **lay).matrix(pd.DataFrame({"x": [5.0], "g": ["z"]})).tolist()
        [[5.0, 0.0, 0.0]]
        """
        missing = [c for c in (*self.numeric, *self.categorical) if c not in frame]
        if missing:
            raise DataContractError("customer_features", missing[0], "feature column missing")
        kept = dict(self.levels)
        out = frame[list(self.numeric)].copy()
        for c in self.categorical:
            v = frame[c].astype("string").fillna(MISSING)
            out[c] = v.where(v.isin(kept[c]), OTHER)
        x = feature_matrix(out, list(self.numeric), list(self.categorical), min_share=0.0, table="customer_features")
        return x.reindex(columns=list(self.columns), fill_value=0.0).to_numpy(float)

    def score(self, frame: pd.DataFrame, chunk_size: int = 1_000_000) -> np.ndarray:
        """Predicted uplift of every row of ``frame`` (mean of the fold models), ``chunk_size`` rows at a time."""
        return score_chunks(self.fit, self._chunks(frame, int(chunk_size)))

    def _chunks(self, frame: pd.DataFrame, size: int) -> Iterable[np.ndarray]:
        for start in range(0, len(frame), size):
            yield self.matrix(frame.iloc[start:start + size])


def _model(page_or_model: Any) -> TargetingModel:
    model = getattr(page_or_model, "model", page_or_model)
    if getattr(page_or_model, "recommends", True) is False:
        raise ParameterError("the targeting page found nothing to target (no audience is recommended); "
                             "pass its model explicitly to export the ranking anyway")
    if not isinstance(model, TargetingModel):
        raise ParameterError("export_audience needs a targeting page or a TargetingModel")
    return model


def rank_audience(model: TargetingModel, features: pd.DataFrame, top_share: float = 0.3,
                  chunk_size: int = 1_000_000) -> pd.DataFrame:
    """The top ``top_share`` of the customers in ``features`` by predicted uplift (see :func:`score_audience`).

    Features without ``customer_id`` must be in customer id order (``customer_features(ids=False)``):
    the same customers are ranked the same, and the result has no ``customer_id``.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from workbench.targeting import fit_uplift
    >>> f = pd.DataFrame({"x": np.arange(40.0)})
    >>> x, lay = TargetingModel.layout(f, ["x"], [])
    >>> t = np.arange(40) % 2
    >>> fit = fit_uplift(x, t, t * np.arange(40.0), "t", LinearRegression(), n_folds=2)
    >>> feats = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "staff_id": "E1", "store_id": "S1",
    ...                       "x": [1.0, 30.0, 20.0, 5.0]})
    >>> rank_audience(TargetingModel(fit, **lay), feats, 0.5)[["rank", "customer_id"]].values.tolist()
    [[1, 'b'], [2, 'c']]
    """
    if not 0 < top_share < 1:
        raise ParameterError(f"top_share must lie strictly between 0 and 1 (got {top_share})")
    score = model.score(features, chunk_size) if len(features) else np.zeros(0, np.float32)
    ranked = pd.DataFrame({"staff_id": features["staff_id"].to_numpy(), "store_id": features["store_id"].to_numpy(),
                           "predicted_uplift": score.astype(float)})
    if "customer_id" in features:
        ranked.insert(0, "customer_id", features["customer_id"].to_numpy())
        ranked = ranked.sort_values(["predicted_uplift", "customer_id"], ascending=[False, True], kind="stable")
    else:   # rows in customer id order (customer_features(ids=False)): ties by position are ties by id
        ranked = ranked.iloc[np.lexsort((np.arange(len(ranked)), -ranked["predicted_uplift"].to_numpy()))]
    ranked = ranked.head(int(len(ranked) * top_share)).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


#: Engine memory one open customer's features take at most while computed (measured: the 20M brand's 10 million
#: open customers did not fit 2.7 GiB in one statement); beyond the limit they are computed in customer-hash parts.
_FEATURE_BYTES_PER_CUSTOMER = 1_000


def open_customers(wb: Any, at: Any) -> int:
    """The number of customers with an open contact at ``at``: the rows of ``customer_features(wb, at)``."""
    from ..engine.sql import literal
    from ..relations import contact_intervals, open_at_sql

    return int(wb.scalar(f"SELECT COUNT(DISTINCT iv.customer_id) FROM ({contact_intervals(wb)}) iv "
                         f"WHERE {open_at_sql('iv', literal(pd.Timestamp(at)))}"))


def feature_parts(wb: Any, at: Any) -> int:
    """In how many customer-hash parts the open customers' features fit the engine's memory limit (DuckDB).

    One part without a limit or on another engine.
    """
    limit = wb.backend.memory_limit_bytes()
    if limit is None or wb.dialect != "duckdb":
        return 1
    return max(1, -(-open_customers(wb, at) * _FEATURE_BYTES_PER_CUSTOMER // int(limit)))


def audience_rows(wb: Any, model: TargetingModel, at: Any, top_share: float = 0.3,
                  parts: int | None = None) -> tuple[int, pd.DataFrame]:
    """The customers open at ``at`` and the audience's rows without ids, part by part of the customers.

    The audience is :func:`score_audience`'s (the top ``floor(top_share · n)`` by predicted uplift,
    ties by customer id): each customer-hash part's features are scored and only the scores and
    guides are kept; the ids of the customers tied at the cut are read at the end. Returns the
    number of open customers and ``rank`` (ties in no particular order), ``staff_id``,
    ``store_id``, ``predicted_uplift``: what :func:`audience_by` counts.
    """
    from ..engine.sql import customer_part_sql
    from ..relations import contact_intervals
    from .frame import customer_features, open_customer_ids

    parts = feature_parts(wb, at) if parts is None else int(parts)
    kept, tied_ids = [], []
    for i in range(parts):
        where = None if parts == 1 else (f"SELECT DISTINCT customer_id FROM ({contact_intervals(wb)}) cp "
                                         f"WHERE {customer_part_sql(parts, i)}")
        feats = customer_features(wb, at=at, customers_sql=where, ids=False)
        score = model.score(feats) if len(feats) else np.zeros(0, np.float32)
        kept.append(pd.DataFrame({"staff_id": pd.Categorical(feats["staff_id"]),
                                  "store_id": pd.Categorical(feats["store_id"]), "score": score, "part": i,
                                  "pos": np.arange(len(feats))}))
        del feats
    rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=["score"])
    n, k = len(rows), int(len(rows) * top_share)
    if k == 0:
        return n, pd.DataFrame({"rank": [], "staff_id": [], "store_id": [], "predicted_uplift": []})
    cut = np.partition(rows["score"].to_numpy(), n - k)[n - k]   # the k-th highest score
    take = (rows["score"] > cut).to_numpy()
    tied = np.flatnonzero((rows["score"] == cut).to_numpy())
    need = k - int(take.sum())
    if need >= len(tied):
        take[tied] = True
    else:   # the tied customers with the smallest ids are in, as when every customer is ranked at once
        for i in np.unique(rows["part"].to_numpy()[tied]):
            at_i = tied[rows["part"].to_numpy()[tied] == i]
            where = None if parts == 1 else (f"SELECT DISTINCT customer_id FROM ({contact_intervals(wb)}) cp "
                                             f"WHERE {customer_part_sql(parts, i)}")
            ids = open_customer_ids(wb, at=at, customers_sql=where)
            tied_ids.append(pd.DataFrame({"row": at_i, "customer_id": ids[rows["pos"].to_numpy()[at_i]]}))
        first = pd.concat(tied_ids).sort_values("customer_id", kind="stable")["row"].to_numpy()[:need]
        take[first] = True
    out = rows[take].sort_values("score", ascending=False, kind="stable")
    ids = {c: out[c].astype(object).to_numpy() for c in ("staff_id", "store_id")}
    return n, pd.DataFrame({"rank": np.arange(1, len(out) + 1),
                            **{c: np.where(pd.isna(v), None, v) for c, v in ids.items()},   # missing as None
                            "predicted_uplift": out["score"].astype(float).to_numpy()})


def score_audience(wb: Any, model: TargetingModel, top_share: float = 0.3, at: Any = None,
                   chunk_size: int = 1_000_000) -> pd.DataFrame:
    """The top ``top_share`` of customers with an open contact at ``at``, by predicted uplift.

    Features come from :func:`workbench.targeting.frame.customer_features` at ``at`` (default
    the workbench's as-of). The audience is the first ``floor(top_share · n)`` customers by
    predicted uplift (ties by customer id).

    Returns
    -------
    DataFrame
        ``rank`` (1 = highest predicted uplift in the brand), ``customer_id``, ``staff_id``,
        ``store_id``, ``predicted_uplift`` (in the model's outcome per customer over its window).
    """
    from .frame import customer_features

    return rank_audience(model, customer_features(wb, at=at), top_share, chunk_size)


def audience_by(wb: Any, audience: pd.DataFrame, by: str, missing: str = "–") -> pd.DataFrame:
    """Audience size and mean predicted uplift per store (``by="store_id"``) or guide (``"staff_id"``), with names.

    Returns ``store_id``, ``store_name`` (and ``staff_id``, ``staff_name`` for guides), ``customers``,
    ``predicted_uplift`` (mean), largest first. Ids stay for the export; a page shows the names.
    """
    if by not in ("store_id", "staff_id"):
        raise ParameterError(f"by must be store_id or staff_id, not {by!r}")
    keys = ["store_id"] if by == "store_id" else ["store_id", "staff_id"]
    g = (audience.groupby(keys, dropna=False, sort=False)
         .agg(customers=("rank", "size"), predicted_uplift=("predicted_uplift", "mean")).reset_index())
    g = with_display_names(wb, g, missing)
    return g.sort_values(["customers", *keys], ascending=[False] + [True] * len(keys), kind="stable",
                         na_position="last").reset_index(drop=True)


def with_display_names(wb: Any, frame: pd.DataFrame, missing: str = "–") -> pd.DataFrame:
    """``frame`` with ``store_name`` after ``store_id`` and ``staff_name`` after ``staff_id`` (when present).

    Names as :func:`workbench.pages.names.names_of` gives them: an id without a name keeps its id, a
    missing id reads ``missing``. The ids stay (the export needs them).

    Examples
    --------
    >>> import workbench
    >>> wb = workbench.open({"stores": pd.DataFrame({"store_id": ["S1"], "store_name": ["南京三店"]})})
    >>> with_display_names(wb, pd.DataFrame({"store_id": ["S1", "S9", None]}))["store_name"].tolist()
    ['南京三店', 'S9', '–']
    """
    from ..pages.names import names_of

    out = frame.copy()
    for id_col, name_col in (("store_id", "store_name"), ("staff_id", "staff_name")):
        if id_col in out:
            out.insert(out.columns.get_loc(id_col) + 1, name_col, names_of(wb, out[id_col], id_col, missing))
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def default_export_path(data_dir: str | Path, experiment_id: str, as_of: Any) -> Path:
    """``<parent of data_dir>/exports/targeting_<experiment>_<as-of>.csv``: beside the data, outside any checkout.

    Characters of the experiment id that do not belong in a file name become ``_``.

    Examples
    --------
    >>> default_export_path("/srv/brand/data", "EXP_CUST", "2026-01-01").as_posix()
    '/srv/brand/exports/targeting_EXP_CUST_2026-01-01.csv'
    >>> default_export_path("/srv/brand/data", "../x y", "2026-01-01").name
    'targeting_.._x_y_2026-01-01.csv'
    """
    name = _UNSAFE.sub("_", str(experiment_id)).strip("/") or "experiment"
    return Path(data_dir).resolve().parent / "exports" / f"targeting_{name}_{pd.Timestamp(as_of):%Y-%m-%d}.csv"


def export_audience(wb: Any, page_or_model: Any, path: str | Path | None = None, top_share: float = 0.3,
                    masked: bool = True, data_dir: str | Path | None = None, key: str | bytes | None = None,
                    at: Any = None) -> Path:
    """Write the recommended audience as a CSV for execution, grouped by store and guide.

    Parameters
    ----------
    wb : Workbench
        The brand's data, opened as of the day the audience is for.
    page_or_model : TargetingPage or TargetingModel
        A page that recommends an audience (a page that found nothing to target is refused), or a model.
    path : str or Path, optional
        Where to write; default :func:`default_export_path` beside ``data_dir`` (then required).
    top_share : float, default 0.3
        Share of the customers open at ``at`` in the audience.
    masked : bool, default True
        Customer tokens (``customer_token``, keyed: ``key``, else ``WORKBENCH_MASK_KEY``, else the
        brand's key file selected by ``data_dir``). ``False`` writes raw ids in ``customer_id``:
        the operations export, written with mode 0600.
    at : date-like, optional
        The day the audience is for (default the workbench's as-of).

    Returns
    -------
    Path
        The file: one row per customer, sorted by store, guide and ``rank`` (1 = the guide's
        customer with the highest predicted uplift): ``store_id``, ``store_name``, ``staff_id``,
        ``staff_name``, ``rank``, ``customer_token`` (or ``customer_id``), ``predicted_uplift``.
    """
    from ..engine import to_timestamp
    from ..masking import mask_key, mask_tokens

    model = _model(page_or_model)
    if path is None:
        if data_dir is None:
            raise ParameterError("export_audience needs a path or the brand's data_dir (the file goes beside it)")
        when = at if at is not None else getattr(wb, "as_of", None)
        if when is None:
            raise ParameterError("export_audience needs at= when the workbench was opened without as_of")
        experiment = getattr(page_or_model, "experiment_id", "model")
        path = default_export_path(data_dir, experiment, to_timestamp(when, "at"))
    aud = score_audience(wb, model, top_share, at=at)
    out = with_display_names(wb, aud, "")
    out = out.sort_values(["store_id", "staff_id", "rank"], kind="stable", na_position="last")
    out["rank"] = out.groupby(["store_id", "staff_id"], dropna=False, sort=False).cumcount() + 1
    id_col = "customer_token" if masked else "customer_id"
    if masked:
        secret = mask_key(data_dir) if key is None else (key.encode() if isinstance(key, str) else key)
        out["customer_token"] = mask_tokens(out.pop("customer_id"), secret)
    cols = [c if c != "customer_token" else id_col for c in EXPORT_COLUMNS]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out[cols].to_csv(path, index=False, float_format="%.6g")
    if not masked:
        os.chmod(path, 0o600)   # real customer ids: for the operations team, not for whoever shares the machine
    return path

