"""Targeting features computed in the engine, and the per-unit frame of a randomised experiment.

:func:`customer_features` gives, for every customer with an open WeCom contact at a moment
``at``, the traits a targeting model may use: recency, frequency and spend over the past
year (RFM), tenure of the WeCom relationship, recent touches, whether the customer ever
bought, the acquisition channel group and the store of the guide. Everything is computed
in SQL from data strictly before ``at`` (so a model fitted on an experiment sees only what
was known at assignment); only the per-customer result becomes pandas.

:func:`targeting_frame` joins those features, taken at the experiment start, to the
experiment's units, variants and window outcomes
(:func:`workbench.experiments.experiment_frame`): the input of
:func:`workbench.targeting.fit_uplift` through
:func:`workbench.targeting.feature_matrix` with ``numeric=TARGETING_NUMERIC`` and
``categorical=TARGETING_CATEGORICAL``.

Feature definitions (``at`` excluded everywhere; days are fractional, 86,400 seconds):

``recency_days``
    days since the customer's last order before ``at``; for a customer who never bought,
    days since the first add (``tenure_days``), so the value never is missing.
``frequency_365d``, ``monetary_365d``
    number of orders and their gross ``amount`` (refunds are recorded without a time, so
    they are left out to keep the feature free of later information) in the 365 days
    before ``at``.
``tenure_days``
    days since the customer's first add in the brand (:func:`workbench.relations.first_adds`);
    0 for a unit not added before ``at``.
``touches_28d``
    touches (any type, any staff member) of the customer in the 28 days before ``at``.
``has_bought``
    1 when the customer has any order before ``at``, else 0.
``channel_group``
    channel group of the first add (``unknown`` when the code has no channel row or the
    customer was not added before ``at``).
``store_id``
    store of the guide holding the relationship (``staff_id``: the first by id among the
    guides with an open contact at ``at``); missing when that guide has no store.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._as_of import require_as_of
from ..engine import Workbench, literal, money_sum
from ..errors import DataContractError, ParameterError
from ..experiments.frame import experiment_frame, experiment_info
from ..relations import contact_intervals, first_adds, open_at_sql, staff_dims

#: Numeric features of :func:`customer_features` (never missing).
TARGETING_NUMERIC: tuple[str, ...] = (
    "recency_days", "frequency_365d", "monetary_365d", "tenure_days", "touches_28d", "has_bought",
)
#: Categorical features of :func:`customer_features` (one-hot encoded by ``feature_matrix``).
TARGETING_CATEGORICAL: tuple[str, ...] = ("channel_group", "store_id")

_DAY_SECONDS = 86400.0
_UNITS_VIEW = "__targeting_units"


def _days_sql(earlier: str, later: str) -> str:
    """Fractional days from ``earlier`` to ``later`` (SQL timestamp expressions)."""
    return f"date_diff('second', {earlier}, {later}) / {_DAY_SECONDS}"


def _features_sql(wb: Workbench, at: pd.Timestamp, customers_sql: str | None, open_only: bool) -> str:
    """Per-customer features at ``at``.

    ``open_only`` keeps the customers with an open contact (of ``customers_sql`` when given),
    else every customer of ``customers_sql`` (then required).
    """
    t = literal(at)
    guide = _guide_sql(wb, at, customers_sql)
    base = guide if open_only else f"""
        SELECT c.customer_id, g.staff_id FROM (SELECT DISTINCT customer_id FROM ({customers_sql}) c0) c
        LEFT JOIN ({guide}) g ON g.customer_id = c.customer_id"""
    orders, touches = wb.table_or_empty("orders"), wb.table_or_empty("touches")
    year, month = "INTERVAL '365 days'", "INTERVAL '28 days'"
    tenure = f"CASE WHEN fa.first_add_time <= {t} THEN {_days_sql('fa.first_add_time', t)} ELSE 0.0 END"
    return f"""
        WITH b AS ({base}),
        o AS (
            SELECT o.customer_id, MAX(o.order_time) AS last_order,
                   SUM(CASE WHEN o.order_time >= {t} - {year} THEN 1 ELSE 0 END) AS frequency,
                   {money_sum(f'CASE WHEN o.order_time >= {t} - {year} THEN o.amount ELSE 0.0 END')} AS monetary
            FROM {orders} o JOIN b ON b.customer_id = o.customer_id
            WHERE o.order_time < {t}
            GROUP BY o.customer_id
        ),
        tc AS (
            SELECT tt.customer_id, COUNT(*) AS touches FROM {touches} tt JOIN b ON b.customer_id = tt.customer_id
            WHERE tt.event_time >= {t} - {month} AND tt.event_time < {t}
            GROUP BY tt.customer_id
        )
        SELECT b.customer_id, b.staff_id, sd.store_id,
               CASE WHEN o.last_order IS NULL THEN {tenure} ELSE {_days_sql('o.last_order', t)} END AS recency_days,
               CAST(COALESCE(o.frequency, 0) AS BIGINT) AS frequency_365d,
               CAST(COALESCE(o.monetary, 0.0) AS DOUBLE) AS monetary_365d,
               {tenure} AS tenure_days,
               CAST(COALESCE(tc.touches, 0) AS BIGINT) AS touches_28d,
               CASE WHEN o.last_order IS NULL THEN 0 ELSE 1 END AS has_bought,
               CASE WHEN fa.first_add_time <= {t} THEN COALESCE(fa.channel_group, 'unknown')
                    ELSE 'unknown' END AS channel_group
        FROM b
        LEFT JOIN o ON o.customer_id = b.customer_id
        LEFT JOIN tc ON tc.customer_id = b.customer_id
        LEFT JOIN ({first_adds(wb)}) fa ON fa.customer_id = b.customer_id
        LEFT JOIN ({staff_dims(wb)}) sd ON sd.staff_id = b.staff_id
    """


def _guide_sql(wb: Workbench, at: pd.Timestamp, customers_sql: str | None) -> str:
    """Each customer with an open contact at ``at`` (of ``customers_sql`` when given) and the first guide by id."""
    keep = "" if customers_sql is None else \
        f"AND iv.customer_id IN (SELECT customer_id FROM ({customers_sql}) keep_c)"
    return f"""SELECT iv.customer_id, MIN(iv.staff_id) AS staff_id FROM ({contact_intervals(wb)}) iv
               WHERE {open_at_sql('iv', literal(at))} {keep} GROUP BY iv.customer_id"""


def open_customer_ids(wb: Workbench, at: Any = None, customers_sql: str | None = None) -> np.ndarray:
    """The ids of :func:`customer_features`' rows, in its order, without computing the features."""
    t = require_as_of(wb, at, "at")
    return wb.query(f"SELECT g.customer_id FROM ({_guide_sql(wb, t, customers_sql)}) g "
                    "ORDER BY g.customer_id")["customer_id"].to_numpy()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Plain dtypes on every engine: float days and money, integer counts and flag."""
    for c in ("recency_days", "monetary_365d", "tenure_days"):
        df[c] = df[c].astype(float)
    for c in ("frequency_365d", "touches_28d", "has_bought"):
        df[c] = df[c].astype(np.int64)
    return df


def customer_features(wb: Workbench, at: Any = None, customers_sql: str | None = None,
                      ids: bool = True) -> pd.DataFrame:
    """Targeting features of every customer with an open WeCom contact at ``at``.

    Parameters
    ----------
    wb : Workbench
        Needs ``contact_events``; reads ``orders``, ``touches``, ``channels`` and ``staff``
        when present (absent ones count as empty).
    at : date-like, optional
        The moment the features describe; only data strictly before it is used. Default
        the workbench's ``as_of``.
    customers_sql : str, optional
        SQL relation with a ``customer_id`` column restricting the customers.
    ids : bool, default True
        False: without the ``customer_id`` column (the rows in the same order). What a brand-wide
        count needs: at 20 million customers the ids alone would take hundreds of MB in pandas.

    Returns
    -------
    DataFrame
        One row per customer, ordered by ``customer_id``: ``customer_id``, ``staff_id``,
        ``store_id``, then :data:`TARGETING_NUMERIC` and ``channel_group`` (definitions in
        the module docstring).

    Examples
    --------
    >>> import workbench
    >>> ce = pd.DataFrame({"event_time": pd.to_datetime(["2025-01-01", "2025-01-02"]),
    ...                    "customer_id": ["C1", "C2"], "staff_id": ["E1", "E2"], "event_type": "add"})
    >>> orders = pd.DataFrame({"order_id": ["O1"], "customer_id": ["C1"], "amount": [80.0],
    ...                        "order_time": pd.to_datetime(["2025-01-06"]), "order_channel": "pos"})
    >>> wb = workbench.open({"contact_events": ce, "orders": orders}, as_of="2025-01-11")
    >>> customer_features(wb)[["customer_id", "recency_days", "tenure_days", "has_bought"]]
      customer_id  recency_days  tenure_days  has_bought
    0          C1           5.0         10.0           1
    1          C2           9.0          9.0           0
    """
    wb.require("contact_events")
    t = require_as_of(wb, at, "at")
    sql = _features_sql(wb, t, customers_sql, open_only=True)
    if ids:
        return _typed(wb.query(sql + " ORDER BY b.customer_id"))
    columns = ", ".join(f"f.{c}" for c in ("staff_id", "store_id", *TARGETING_NUMERIC, "channel_group"))
    return _typed(wb.query(f"SELECT {columns} FROM ({sql}) f ORDER BY f.customer_id"))


def _arms(variants: dict[str, int], control: str, treatment: str | None) -> tuple[str, float]:
    """The treatment variant and its assignment share among the two compared arms."""
    if control not in variants:
        raise ParameterError(f"control variant {control!r} is not among the variants {sorted(variants)}")
    others = [v for v in variants if v != control]
    if treatment is None:
        if len(others) != 1:
            raise ParameterError(f"the experiment has {len(variants)} variants {sorted(variants)}; name the "
                                 f"treatment variant to compare with {control!r}")
        treatment = others[0]
    if treatment not in others:
        raise ParameterError(f"treatment variant {treatment!r} is not among the variants {sorted(others)}")
    n_t, n_c = variants[treatment], variants[control]
    return treatment, n_t / (n_t + n_c)


def targeting_frame(wb: Workbench, experiment_id: str, window_days: int = 14, pre_days: int = 28, *,
                    control: str = "control", treatment: str | None = None) -> pd.DataFrame:
    """One row per randomisation unit of a randomised experiment, with its features at the start.

    :func:`experiment_units` with :func:`unit_features` of every unit (the page takes the
    features of the units it uses only: the same rows).

    Parameters
    ----------
    wb : Workbench
        Needs ``experiments``, ``assignments``, ``orders`` and ``contact_events``.
    experiment_id : str
    window_days, pre_days : int
        Outcome window and pre-period, as in :func:`workbench.experiments.experiment_frame`.
    control : str, default ``"control"``
        The control variant.
    treatment : str, optional
        The treatment variant; needed only when the experiment has more than two.

    Returns
    -------
    DataFrame
        Ordered by ``unit_id``: ``unit_id``, ``variant``, ``treated`` (1 for the treatment
        variant, 0 for control; other variants are left out), ``propensity`` (the share of
        assigned units, for store/staff experiments of assigned clusters, in the treatment
        variant: the contract records no design share, so the realised split stands for
        it), ``cluster_id`` (the store or staff member of cluster-randomised experiments,
        else None), the outcomes ``orders`` and ``gmv`` and the covariates ``pre_orders``,
        ``pre_gmv`` of ``experiment_frame``, then ``staff_id``, ``store_id`` and
        :data:`TARGETING_NUMERIC`, ``channel_group`` of :func:`customer_features` at the
        experiment start. A unit without an open contact at the start has no ``staff_id``
        or ``store_id``, tenure 0 when never added, and recency its tenure when it never
        bought.

    Examples
    --------
    The example needs a workbench opened on data (``make data`` writes the demo brand).

    >>> tf = targeting_frame(wb, "EXP_CUST")                                  # doctest: +SKIP
    >>> x = feature_matrix(tf, TARGETING_NUMERIC, TARGETING_CATEGORICAL)      # doctest: +SKIP
    >>> fit = fit_uplift(x, tf["treated"], tf["gmv"], propensity=tf["propensity"])  # doctest: +SKIP
    """
    units = experiment_units(wb, experiment_id, window_days, pre_days, control=control, treatment=treatment)
    return unit_features(wb, units, experiment_info(wb, experiment_id).start_at)


def experiment_units(wb: Workbench, experiment_id: str, window_days: int = 14, pre_days: int = 28, *,
                     control: str = "control", treatment: str | None = None) -> pd.DataFrame:
    """The columns of :func:`targeting_frame` up to ``pre_gmv``: the units, their arms and outcomes, no features.

    Ordered by ``unit_id``; parameters as :func:`targeting_frame`'s.
    """
    info = experiment_info(wb, experiment_id)
    treatment, share = _arms(info.variants, control, treatment)
    wb.require("contact_events")
    frame = experiment_frame(wb, experiment_id, window_days, pre_days)
    frame = frame[frame["variant"].isin([control, treatment])]
    if frame.empty:
        raise DataContractError("assignments", "variant", f"experiment {experiment_id!r} has no units in "
                                                          f"{control!r} or {treatment!r}")
    out = pd.DataFrame({
        "unit_id": frame["unit_id"].to_numpy(),
        "variant": frame["variant"].to_numpy(),
        "treated": (frame["variant"] == treatment).astype(np.int64).to_numpy(),
        "propensity": share,
        "cluster_id": frame["cluster_id"].to_numpy() if info.unit != "customer" else None,
        "orders": frame["orders"].astype(np.int64).to_numpy(),
        "gmv": frame["gmv"].astype(float).to_numpy(),
        "pre_orders": frame["pre_orders"].astype(np.int64).to_numpy(),
        "pre_gmv": frame["pre_gmv"].astype(float).to_numpy(),
    })
    return out.sort_values("unit_id", kind="stable").reset_index(drop=True)


def unit_features(wb: Workbench, units: pd.DataFrame, at: Any) -> pd.DataFrame:
    """``units`` (rows of :func:`experiment_units`, in their order) with their features at ``at``.

    Each unit's features are its own (:func:`customer_features`' SQL restricted to these
    units), so the features of some units are their rows of the features of all.
    """
    wb.register(_UNITS_VIEW, pd.DataFrame({"customer_id": units["unit_id"].to_numpy()}))
    feats = _typed(wb.query(_features_sql(wb, pd.Timestamp(at), f"SELECT customer_id FROM {_UNITS_VIEW}",
                                          open_only=False)))
    out = units.reset_index(drop=True).merge(feats.rename(columns={"customer_id": "unit_id"}), on="unit_id",
                                             how="left", validate="1:1")
    return out
