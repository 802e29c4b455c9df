"""Customer segments: RFM scores, fan tiers (粉丝分层), value tiers and tier migration.

Fan tiers (seeds 001, 004), by spend and purchase frequency among buyers:

==============  ==========  ===================================================
tier code       Chinese     rule
==============  ==========  ===================================================
``die_hard``    铁杆粉      spend ≥ spend threshold and frequency ≥ frequency threshold
``loyal``       真爱粉      spend < spend threshold, frequency ≥ frequency threshold
``big_spender`` 实力粉      spend ≥ spend threshold, frequency < frequency threshold
``casual``      普通粉      below both thresholds
``potential``   潜力粉      registered, no purchase yet
==============  ==========  ===================================================

By default the spend threshold is the buyers' median total spend over the look-back and
the frequency threshold the buyers' median purchase count, but at least 2 (a "high
frequency" fan has bought again; with most buyers at one order the median alone would put
every buyer above it); pass explicit numbers to freeze them across dates (a migration matrix
between two dates needs the same thresholds).

Value tiers from predicted CLV: top 5% ``super_vip`` (超级VIP), next 15% ``cultivate``
(重点培养), the rest ``activate`` (重点促活).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataContractError, ParameterError

FAN_TIERS = ("die_hard", "loyal", "big_spender", "casual", "potential")
FAN_TIER_ZH = {"die_hard": "铁杆粉", "loyal": "真爱粉", "big_spender": "实力粉", "casual": "普通粉", "potential": "潜力粉"}
VALUE_TIERS = ("super_vip", "cultivate", "activate")
VALUE_TIER_ZH = {"super_vip": "超级VIP", "cultivate": "重点培养", "activate": "重点促活"}


@dataclass(frozen=True)
class FanTierThresholds:
    """Spend and frequency cut-offs; ``None`` means the buyers' median."""

    spend: float | None = None
    frequency: float | None = None


def _require(frame: pd.DataFrame, cols: list[str], name: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataContractError(name, missing[0], f"required column is missing (found: {list(frame.columns)})")


def rfm_scores(summary: pd.DataFrame, recency_col: str = "days_since_last", frequency_col: str = "orders",
               monetary_col: str = "spend", bins: int = 5) -> pd.DataFrame:
    """Quintile scores 1..``bins`` (higher is better) for recency, frequency and monetary value.

    Recency scores are reversed (fewer days since the last purchase scores higher). Ties are
    ranked first-come so every bin has equal size. Adds ``r_score``, ``f_score``,
    ``m_score`` and ``rfm_score`` (e.g. "545").
    """
    _require(summary, [recency_col, frequency_col, monetary_col], "rfm summary")
    out = summary.copy()

    def score(values: pd.Series, reverse: bool) -> pd.Series:
        ranks = (-values if reverse else values).rank(method="first")
        return (np.ceil(ranks / len(values) * bins)).clip(1, bins).astype(int)

    out["r_score"] = score(out[recency_col], reverse=True)
    out["f_score"] = score(out[frequency_col], reverse=False)
    out["m_score"] = score(out[monetary_col], reverse=False)
    out["rfm_score"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    return out


def fan_tiers(customers: pd.DataFrame, spend_col: str = "spend", frequency_col: str = "orders",
              thresholds: FanTierThresholds | None = None) -> pd.DataFrame:
    """Assign each customer a fan tier (see module docstring).

    Parameters
    ----------
    customers : DataFrame
        One row per registered customer with total ``spend`` and purchase count ``orders``
        over the look-back (0 for registered customers who never bought).

    Returns
    -------
    DataFrame
        The input plus ``fan_tier`` (code), ``fan_tier_zh``; ``attrs["thresholds"]`` holds the
        thresholds used.
    """
    _require(customers, [spend_col, frequency_col], "customers")
    th = thresholds or FanTierThresholds()
    out = customers.copy()
    buyers = out[frequency_col] > 0
    if (out.loc[buyers, spend_col] < 0).any():
        raise DataContractError("customers", spend_col, "negative spend", out[buyers & (out[spend_col] < 0)].head())
    spend_th = th.spend if th.spend is not None else float(out.loc[buyers, spend_col].median()) if buyers.any() else 0.0
    freq_th = th.frequency if th.frequency is not None else max(2.0, float(out.loc[buyers, frequency_col].median())) \
        if buyers.any() else 2.0
    hi_s = out[spend_col] >= spend_th
    hi_f = out[frequency_col] >= freq_th
    tier = np.select([~buyers, hi_s & hi_f, ~hi_s & hi_f, hi_s & ~hi_f], ["potential", "die_hard", "loyal",
                                                                          "big_spender"], "casual")
    out["fan_tier"] = pd.Categorical(tier, categories=FAN_TIERS)
    out["fan_tier_zh"] = out["fan_tier"].map(FAN_TIER_ZH)
    out.attrs["thresholds"] = FanTierThresholds(spend_th, freq_th)
    return out


def value_tiers(clv: pd.Series | np.ndarray, shares: tuple[float, float] = (0.05, 0.15)) -> pd.Categorical:
    """Value tiers from CLV: top ``shares[0]`` super_vip, next ``shares[1]`` cultivate, rest activate."""
    if not (0 < shares[0] and 0 <= shares[1] and sum(shares) < 1):
        raise ParameterError("shares must be positive and add up to less than 1")
    values = pd.Series(np.asarray(clv, float))
    if values.isna().any():
        raise DataContractError("clv", "clv", "missing CLV values", values[values.isna()].to_frame().head())
    rank = values.rank(method="first", ascending=False) / len(values)
    tier = np.select([rank <= shares[0], rank <= shares[0] + shares[1]], ["super_vip", "cultivate"], "activate")
    return pd.Categorical(tier, categories=VALUE_TIERS)


def tier_migration(before: pd.Series, after: pd.Series, categories: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Tier-to-tier migration between two dates: counts and row shares.

    ``before`` and ``after`` are tier labels indexed by customer id; customers present on
    only one date appear as ``(new)`` / ``(gone)``. Returns a frame with a two-level column
    index: ``count`` and ``share`` (of the row).
    """
    joined = pd.concat([before.rename("before"), after.rename("after")], axis=1)
    joined = joined.astype(object).fillna({"before": "(new)", "after": "(gone)"})
    counts = pd.crosstab(joined["before"], joined["after"])
    if categories is not None:
        order = [c for c in (*categories, "(new)") if c in counts.index]
        cols = [c for c in (*categories, "(gone)") if c in counts.columns]
        counts = counts.reindex(index=order, columns=cols, fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    return pd.concat({"count": counts, "share": shares}, axis=1)
