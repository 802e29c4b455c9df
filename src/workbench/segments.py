"""Customer segments: RFM scores, fan tiers (粉丝分层), value tiers and tier migration.

Fan tiers (seeds 001, 004), by spend and purchase frequency among buyers:

==================  ==========  ===================================================
tier code           Chinese     rule
==================  ==========  ===================================================
``die_hard``        铁杆粉      spend ≥ spend threshold and frequency ≥ frequency threshold
``loyal``           真爱粉      spend < spend threshold, frequency ≥ frequency threshold
``big_spender``     实力粉      spend ≥ spend threshold, frequency < frequency threshold
``casual``          普通粉      below both thresholds
``potential``       潜力粉      registered, no purchase yet
==================  ==========  ===================================================

Thresholds (:class:`FanTierThresholds`): by default the spend threshold is the buyers'
median spend and the frequency threshold the buyers' median purchase count, but at least
``min_frequency`` (2): with most buyers at one order the median alone would call every
buyer "high frequency", while a fan who has bought *again* is the meaningful line. Pass
explicit numbers to freeze them across dates — a migration matrix between two dates needs
the same thresholds on both.

Value tiers from predicted CLV (seed 001): top 5% ``super_vip`` (超级VIP), the next 15%
``cultivate`` (重点培养), the rest ``activate`` (重点促活); the shares are configurable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataContractError, ParameterError

FAN_TIERS = ("die_hard", "loyal", "big_spender", "casual", "potential")
FAN_TIER_ZH = {"die_hard": "铁杆粉", "loyal": "真爱粉", "big_spender": "实力粉", "casual": "普通粉",
               "potential": "潜力粉"}
VALUE_TIERS = ("super_vip", "cultivate", "activate")
VALUE_TIER_ZH = {"super_vip": "超级VIP", "cultivate": "重点培养", "activate": "重点促活"}


@dataclass(frozen=True)
class FanTierThresholds:
    """Spend and frequency cut-offs of the fan tiers (a value at the cut-off counts as high).

    Attributes
    ----------
    spend, frequency : float or None
        Explicit cut-offs; ``None`` means the buyers' median (frequency: at least
        ``min_frequency``).
    min_frequency : float
        Floor of the data-driven frequency cut-off.
    """

    spend: float | None = None
    frequency: float | None = None
    min_frequency: float = 2.0


def _require(frame: pd.DataFrame, cols: list[str], name: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataContractError(name, missing[0], f"required column is missing (found: {list(frame.columns)})")


def _check_numeric(frame: pd.DataFrame, col: str, name: str, allow_missing: bool = False) -> pd.Series:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & (frame[col].notna() | (not allow_missing))
    if bad.any():
        raise DataContractError(name, col, "missing or non-numeric values", frame[bad].head(), int(bad.sum()))
    return values


def rfm_scores(summary: pd.DataFrame, recency_col: str | None = None, frequency_col: str | None = None,
               monetary_col: str | None = None, bins: int = 5) -> pd.DataFrame:
    """Quintile (``bins``-tile) scores 1..bins, higher is better, for recency, frequency, money.

    Parameters
    ----------
    summary : DataFrame
        Either an :func:`~workbench.clv.rfm_summary` (``frequency``, ``recency``, ``T``,
        ``monetary_value``: the time since the last purchase is ``T − recency``) or any frame
        with explicit columns.
    recency_col : str, optional
        Time since the last purchase (smaller scores higher). Default ``days_since_last`` if
        present, else ``T − recency`` of an RFM summary.
    frequency_col, monetary_col : str, optional
        Defaults ``frequency`` / ``monetary_value`` for an RFM summary, else ``orders`` / ``spend``.
    bins : int
        Number of equal-size groups (ties are split in row order, so groups stay equal).

    Returns
    -------
    DataFrame
        The input plus ``r_score``, ``f_score``, ``m_score`` and ``rfm_score`` (e.g. "545").

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"days_since_last": [1, 50, 200, 3, 90], "orders": [9, 2, 1, 5, 1],
    ...                    "spend": [900.0, 80, 20, 300, 15]})
    >>> rfm_scores(df)["rfm_score"].tolist()
    ['555', '333', '112', '444', '221']
    """
    if bins < 2:
        raise ParameterError("bins must be at least 2")
    is_rfm = {"frequency", "recency", "T"} <= set(summary.columns)
    out = summary.copy()
    if recency_col is None:
        if "days_since_last" in summary.columns:
            recency_col = "days_since_last"
        elif is_rfm:
            out["time_since_last"] = out["T"] - out["recency"]
            recency_col = "time_since_last"
        else:
            raise DataContractError("rfm summary", "days_since_last", "required column is missing (or pass "
                                    "recency_col, or an rfm_summary with recency and T)")
    frequency_col = frequency_col or ("frequency" if is_rfm else "orders")
    monetary_col = monetary_col or ("monetary_value" if is_rfm else "spend")
    _require(out, [recency_col, frequency_col, monetary_col], "rfm summary")
    if out.empty:
        raise ParameterError("no rows to score")

    def score(col: str, reverse: bool) -> pd.Series:
        values = _check_numeric(out, col, "rfm summary")
        ranks = (-values if reverse else values).rank(method="first")
        return np.ceil(ranks / len(values) * bins).clip(1, bins).astype(int)

    out["r_score"] = score(recency_col, reverse=True)
    out["f_score"] = score(frequency_col, reverse=False)
    out["m_score"] = score(monetary_col, reverse=False)
    out["rfm_score"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    return out


def fan_tiers(customers: pd.DataFrame, monetary_col: str = "spend", frequency_col: str = "orders",
              registered_col: str | None = None, has_purchase_col: str | None = None,
              thresholds: FanTierThresholds | None = None) -> pd.DataFrame:
    """Assign each customer a fan tier (see the module docstring).

    Parameters
    ----------
    customers : DataFrame
        One row per customer with total spend and number of purchases over a look-back.
    monetary_col, frequency_col : str
        Spend and purchase count (orders or purchase days, not *repeat* purchases).
    registered_col : str, optional
        Registration flag or timestamp. Customers neither registered nor buyers get no tier
        (``NaN``); without the column every row counts as registered.
    has_purchase_col : str, optional
        Boolean "bought in the look-back"; default ``frequency > 0``.
    thresholds : FanTierThresholds, optional
        Cut-offs; default buyers' medians (see :class:`FanTierThresholds`).

    Returns
    -------
    DataFrame
        The input plus ``fan_tier`` (categorical code) and ``fan_tier_zh`` (Chinese name).
        :func:`fan_tier_thresholds` gives the cut-offs used (to state them, or to tier a
        later period on the same ones).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"spend": [1000, 100, 1000, 100, 0], "orders": [5, 5, 1, 1, 0]})
    >>> fan_tiers(df, thresholds=FanTierThresholds(spend=500, frequency=3))["fan_tier"].tolist()
    ['die_hard', 'loyal', 'big_spender', 'casual', 'potential']
    """
    cols = [monetary_col, frequency_col] + [c for c in (registered_col, has_purchase_col) if c]
    _require(customers, cols, "customers")
    th = thresholds or FanTierThresholds()
    out = customers.copy()
    spend = _check_numeric(out, monetary_col, "customers")
    freq = _check_numeric(out, frequency_col, "customers")
    for values, col in ((spend, monetary_col), (freq, frequency_col)):
        if (values < 0).any():
            raise DataContractError("customers", col, "negative values", out[values < 0].head(),
                                    int((values < 0).sum()))
    buyers = out[has_purchase_col].fillna(False).astype(bool) if has_purchase_col else freq > 0
    if registered_col is None:
        registered = pd.Series(True, index=out.index)
    elif pd.api.types.is_bool_dtype(out[registered_col]):
        registered = out[registered_col].fillna(False).astype(bool)
    else:  # a registration timestamp: registered when present
        registered = out[registered_col].notna()
    used = _resolve_thresholds(spend, freq, buyers, th)
    hi_s, hi_f = spend >= used.spend, freq >= used.frequency
    tier = np.select([buyers & hi_s & hi_f, buyers & ~hi_s & hi_f, buyers & hi_s & ~hi_f, buyers, registered],
                     ["die_hard", "loyal", "big_spender", "casual", "potential"], default="")
    out["fan_tier"] = pd.Categorical(np.where(tier == "", None, tier), categories=FAN_TIERS)
    out["fan_tier_zh"] = out["fan_tier"].map(FAN_TIER_ZH)
    return out


def _resolve_thresholds(spend: pd.Series, freq: pd.Series, buyers: pd.Series,
                        th: FanTierThresholds) -> FanTierThresholds:
    """The cut-offs actually applied: explicit ones as given, the others the buyers' medians."""
    spend_th = th.spend if th.spend is not None else (float(spend[buyers].median()) if buyers.any() else 0.0)
    freq_th = th.frequency if th.frequency is not None else max(
        th.min_frequency, float(freq[buyers].median()) if buyers.any() else th.min_frequency)
    return FanTierThresholds(spend_th, freq_th, th.min_frequency)


def fan_tier_thresholds(customers: pd.DataFrame, monetary_col: str = "spend", frequency_col: str = "orders",
                        has_purchase_col: str | None = None,
                        thresholds: FanTierThresholds | None = None) -> FanTierThresholds:
    """The cut-offs :func:`fan_tiers` applies to ``customers`` (same arguments), all filled in.

    Examples
    --------
    >>> import pandas as pd
    >>> fan_tier_thresholds(pd.DataFrame({"spend": [10, 20, 30, 0], "orders": [1, 3, 5, 0]}))
    FanTierThresholds(spend=20.0, frequency=3.0, min_frequency=2.0)
    """
    _require(customers, [monetary_col, frequency_col] + ([has_purchase_col] if has_purchase_col else []), "customers")
    spend = _check_numeric(customers, monetary_col, "customers")
    freq = _check_numeric(customers, frequency_col, "customers")
    buyers = customers[has_purchase_col].fillna(False).astype(bool) if has_purchase_col else freq > 0
    return _resolve_thresholds(spend, freq, buyers, thresholds or FanTierThresholds())


def value_tiers(clv: pd.Series | np.ndarray, quantiles: tuple[float, float] = (0.8, 0.95)) -> pd.Series:
    """Value tiers from CLV.

    Value tiers from CLV: top ``1 − quantiles[1]`` super_vip, the next ``quantiles[1] −
    quantiles[0]`` cultivate, the rest activate (defaults: top 5%, next 15%, rest 80%).

    A customer's tier is set by the share of customers with a strictly higher CLV, so equal
    CLVs always share a tier (the better one when a tie straddles a boundary), and a CLV of
    zero or less is always ``activate``.

    Returns
    -------
    pandas.Series
        Categorical codes (index kept when ``clv`` is a Series); :func:`value_tier_cutoffs`
        gives the lowest CLV in cultivate and in super_vip.

    Examples
    --------
    >>> import numpy as np
    >>> value_tiers(np.arange(100.0)).value_counts().to_dict()
    {'activate': 80, 'cultivate': 15, 'super_vip': 5}
    """
    lo, hi = quantiles
    if not 0 < lo < hi < 1:
        raise ParameterError(f"quantiles must satisfy 0 < low < high < 1, got {quantiles!r}")
    index = clv.index if isinstance(clv, pd.Series) else None
    values = pd.Series(np.asarray(clv, float), index=index)
    if values.isna().any():
        raise DataContractError("clv", "clv", "missing CLV values", values[values.isna()].to_frame("clv").head(),
                                int(values.isna().sum()))
    if values.empty:
        raise ParameterError("no CLV values to tier")
    share_above = (values.rank(method="min", ascending=False) - 1) / len(values)
    positive = values > 0
    eps = 1e-9  # 1 − 0.95 is 0.05000000000000004 in floating point
    tier = np.select([positive & (share_above < 1 - hi - eps), positive & (share_above < 1 - lo - eps)],
                     ["super_vip", "cultivate"], "activate")
    return pd.Series(pd.Categorical(tier, categories=VALUE_TIERS), index=values.index, name="value_tier")


def value_tier_cutoffs(clv: pd.Series | np.ndarray, tiers: pd.Series) -> tuple[float, float]:
    """The lowest CLV in ``cultivate`` and in ``super_vip`` of :func:`value_tiers` (NaN for an empty tier).

    Examples
    --------
    >>> import numpy as np
    >>> clv = np.arange(100.0)
    >>> value_tier_cutoffs(clv, value_tiers(clv))
    (80.0, 95.0)
    """
    values, codes = np.asarray(clv, float), np.asarray(tiers, object)

    def lowest(tier: str) -> float:
        inside = codes == tier
        return float(values[inside].min()) if inside.any() else float("nan")

    return lowest("cultivate"), lowest("super_vip")


def tier_migration(before: pd.Series, after: pd.Series, categories: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Tier-to-tier migration between two as-of dates: counts and row shares.

    Parameters
    ----------
    before, after : Series
        Tier labels indexed by customer id at the two dates; customers present on only one
        date appear as ``(new)`` (rows) / ``(gone)`` (columns).
    categories : tuple of str, optional
        Order of the tiers (e.g. :data:`FAN_TIERS`); default as found.

    Returns
    -------
    DataFrame
        Two-level columns: ``count`` and ``share`` (of the row, i.e. where the customers of a
        tier went).

    Examples
    --------
    >>> import pandas as pd
    >>> m = tier_migration(pd.Series(["a", "a", "b"], index=[1, 2, 3]), pd.Series(["a", "b", "b"], index=[1, 2, 3]))
    >>> int(m["count"].loc["a", "b"]), float(m["share"].loc["a", "b"])
    (1, 0.5)
    """
    for s, name in ((before, "before"), (after, "after")):
        if s.index.has_duplicates:
            dup = s[s.index.duplicated(keep=False)]
            raise DataContractError(name, "customer id (index)", "duplicate customers", dup.to_frame("tier").head(),
                                    int(s.index.duplicated().sum()))
    joined = pd.concat([before.astype(object).rename("before"), after.astype(object).rename("after")], axis=1)
    joined = joined.fillna({"before": "(new)", "after": "(gone)"})
    counts = pd.crosstab(joined["before"], joined["after"])
    if categories is not None:
        order = [c for c in (*categories, "(new)") if c in counts.index or c in categories]
        cols = [c for c in (*categories, "(gone)") if c in counts.columns or c in categories]
        counts = counts.reindex(index=order, columns=cols, fill_value=0)
    shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
    return pd.concat({"count": counts, "share": shares}, axis=1)
