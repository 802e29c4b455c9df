"""The CLV customer table's SQL tiers and aggregates equal the pandas rules on the per-customer frame.

:mod:`workbench.clv.customer_table` computes in the engine what the CLV page states; here every
figure is computed again in pandas, by the package's pandas rules
(:func:`~workbench.segments.value_tiers`, :func:`~workbench.segments.fan_tier_thresholds`,
:func:`~workbench.clv.pipeline.value_concentration`) or by hand, on the same customers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.clv import customer_table as ct
from workbench.clv.pipeline import customer_value, value_concentration
from workbench.errors import DataContractError
from workbench.segments import FanTierThresholds, fan_tier_thresholds, fan_tiers, value_tiers


@pytest.fixture(scope="module")
def valued(report_brand):
    """The report brand valued with the frame (the pandas reference) and the engine's figures."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    cv = customer_value(wb, brand.truth["as_of"][:10], exclude_experiment_orders=True)
    return wb, cv, ct.value_figures(wb, cv.fan_thresholds, 0.5)


@pytest.mark.parametrize("n", [1, 2, 3, 9, 10, 19, 20, 21, 99, 100, 101, 257, 1000, 4001])
def test_tier_ranks_cut_where_value_tiers_cuts(n):
    """Distinct values: the number of super-VIPs and cultivates equals value_tiers' on n values."""
    tiers = value_tiers(np.arange(n, 0, -1, dtype=float)).value_counts()
    vip, cultivate = ct.tier_ranks(n)
    assert vip == tiers.get("super_vip", 0) and cultivate - vip == tiers.get("cultivate", 0)


def test_the_frame_s_tiers_are_the_pandas_rules(valued):
    """Value tiers by value_tiers on the buyers' CLV (ties included); fan tiers by fan_tiers on spend and orders."""
    _, cv, _ = valued
    cust = cv.customers
    buyers = cust["frequency"].notna()
    want = pd.Series("activate", index=cust.index, dtype=object)
    want[buyers] = value_tiers(cust.loc[buyers, "clv"]).astype(object)
    assert (cust["value_tier"] == want).all() and (want == "super_vip").sum() > 0
    th = fan_tier_thresholds(cust[["spend", "orders"]])
    assert th == cv.fan_thresholds
    fans = fan_tiers(cust[["spend", "orders"]], thresholds=th)
    pd.testing.assert_series_equal(cust["fan_tier"], fans["fan_tier"])
    pd.testing.assert_series_equal(cust["fan_tier_zh"], fans["fan_tier_zh"])


def test_figures_equal_pandas_on_the_frame(valued):
    """Counts exactly; sums and shares to 1e-9 (exact decimals in the engine, floats in pandas)."""
    _, cv, f = valued
    cust = cv.customers
    b = cust[cust["frequency"].notna()]
    repeat, once = b[b["frequency"] > 0], b[b["frequency"] == 0]
    assert (f.buyers, f.repeat_buyers, f.one_time_buyers) == (len(b), len(repeat), len(once))
    assert f.expected_active_repeat == pytest.approx(repeat["p_alive"].sum(), rel=1e-9)
    assert f.one_time_purchases_90d == pytest.approx(once["expected_purchases_90d"].sum(), rel=1e-9)
    assert f.total_clv == pytest.approx(b["clv"].sum(), rel=1e-9)
    assert f.median_clv == b["clv"].median()
    top = np.sort(b["clv"].to_numpy())[::-1]
    assert f.top_percentile_share == pytest.approx(top[: max(1, len(top) // 100)].sum() / top.sum(), rel=1e-9)
    want = value_concentration(b["clv"])
    pd.testing.assert_frame_equal(f.deciles, want, check_dtype=False, rtol=1e-9)
    high = cust["value_tier"].isin(ct.HIGH_VALUE_TIERS) & (cust["frequency"] > 0)
    risky = high & (cust["p_alive"] < 0.5)
    assert (f.high_value_repeat, f.high_value_at_risk) == (high.sum(), risky.sum()) and risky.sum() > 0
    assert f.value_at_risk == pytest.approx(cust.loc[risky, "clv"].sum(), rel=1e-9)
    assert f.potential_fans == (cust["fan_tier"] == "potential").sum() > 0
    vt = cust.groupby("value_tier").agg(n=("clv", "size"), value=("clv", "sum"), spend=("spend", "sum"))
    got = f.value_tiers.set_index("value_tier")
    assert got["n"].to_dict() == vt["n"].to_dict()
    assert np.allclose(got.loc[vt.index, ["value", "spend"]], vt[["value", "spend"]], rtol=1e-9)
    assert got["share"].sum() == pytest.approx(1.0)
    ft = cust.groupby("fan_tier", observed=False).agg(n=("clv", "size"), value=("clv", "sum"))
    assert f.fan_tiers.set_index("fan_tier")["n"].to_dict() == ft["n"].to_dict()
    h = cust[high].assign(risk=risky[high], v=np.where(risky[high], cust.loc[high, "clv"], 0.0),
                          store_id=cust.loc[high, "store_id"].fillna("–"))
    by = h.groupby("store_id").agg(high_value=("clv", "size"), at_risk=("risk", "sum"), value_at_risk=("v", "sum"))
    by = by.reset_index().sort_values(["at_risk", "store_id"], ascending=[False, True]).reset_index(drop=True)
    pd.testing.assert_frame_equal(f.at_risk_by_store[["store_id", "high_value", "at_risk"]],
                                  by[["store_id", "high_value", "at_risk"]], check_dtype=False)
    assert np.allclose(f.at_risk_by_store["value_at_risk"], by["value_at_risk"], rtol=1e-9)


def test_histogram_counts_the_positive_values_as_numpy_bins_them(valued):
    """The engine's log10 bins: numpy's edges and counts."""
    _, cv, f = valued
    b = cv.customers[cv.customers["frequency"].notna()]
    logs = np.log10(b.loc[b["clv"] > 0, "clv"])
    counts, edges = np.histogram(logs, bins=ct.HISTOGRAM_BINS)
    assert f.histogram["customers"].sum() == len(logs)
    assert np.allclose(f.histogram["low"], edges[:-1]) and np.allclose(f.histogram["high"], edges[1:])
    # a value on a bin edge may fall on either side of it in the last bit
    assert np.abs(f.histogram["customers"].to_numpy() - counts).sum() <= 2


def test_ties_share_a_tier_in_the_engine():
    """Equal CLVs straddling the super-VIP cut go to the better tier, as value_tiers puts them."""
    clv = [10.0] * 3 + [5.0] * 4 + [1.0] * 13 + [0.0] * 2
    wb = workbench.open({"t": pd.DataFrame({"customer_id": [f"C{i:02d}" for i in range(len(clv))], "clv": clv,
                                            "spend": 1.0, "orders": 1, "frequency": 1.0})})
    got = wb.query(f"SELECT customer_id, {ct.value_tier_sql(wb, 't')} AS tier FROM t ORDER BY customer_id")
    assert got["tier"].tolist() == value_tiers(np.array(clv)).astype(str).tolist()


def test_a_negative_net_spend_cannot_reach_the_tiers(report_brand):
    """fan_tiers refuses negative spend; the data contract already refuses the refunds that would make one."""
    folder, brand = report_brand
    as_of = brand.truth["as_of"][:10]
    orders = brand.tables["orders"].copy()
    first = orders.index[orders["customer_id"].notna()][-1]
    orders.loc[first, "refunded_amount"] = orders.loc[first, "amount"] + 1_000_000
    with pytest.raises(DataContractError, match="refund larger than the order amount"):
        customer_value(workbench.open({**brand.tables, "orders": orders}, as_of=as_of), as_of)


def test_thresholds_without_a_buyer_in_the_look_back():
    """No buyer in the look-back: spend cut 0 and the frequency floor, as fan_tier_thresholds."""
    wb = workbench.open({"t": pd.DataFrame({"spend": [0.0, 0.0], "orders": [0, 0]})})
    assert ct.fan_thresholds(wb, "t") == FanTierThresholds(0.0, 2.0, 2.0)


def test_the_table_built_in_customer_hash_parts_is_the_table(valued):
    """Past the engine's memory the table is built part after part: the same rows."""
    wb, cv, _ = valued
    from workbench.clv.pipeline import VALUE_TABLE, main_stores

    whole = wb.query(f"SELECT * FROM {ct.CUSTOMER_TABLE} ORDER BY customer_id")
    th = ct.keep_customer_table(wb, cv.as_of, VALUE_TABLE, main_stores(wb, cv.as_of), name="clv_parts", parts=3)
    assert th == cv.fan_thresholds
    pd.testing.assert_frame_equal(wb.query("SELECT * FROM clv_parts ORDER BY customer_id"), whole)
    assert ct._table_parts(wb) == 1   # 4,000 customers fit any engine
