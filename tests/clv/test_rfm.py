"""RFM summaries: CDNOW reference numbers, the engine path against the frame path, edge cases."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import DataContractError, ParameterError
from workbench.clv import collapse_rfm, rfm_summary


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions):
    raw = cdnow_transactions
    return raw, rfm_summary(raw, "customer", "date", "dollars", calibration_end="1997-09-30",
                            observation_end="1998-06-30")


class TestCdnow:
    def test_customers_and_periods(self, cdnow):
        raw, s = cdnow
        assert raw["customer"].nunique() == 2357 and len(s) == 2357  # everyone's first purchase is in Q1 1997
        assert s["T"].max() == pytest.approx(272 / 7)  # 1997-01-01 .. 1997-09-30
        assert s["T"].min() == pytest.approx((pd.Timestamp("1997-09-30") - pd.Timestamp("1997-03-25")).days / 7)
        assert (s["duration_holdout"] == 39).all()  # 273 days = 39 weeks

    def test_known_customer(self, cdnow):
        # customer 00004: 1997-01-01 $29.33, 01-18 $29.73, 08-02 $14.96 | holdout 12-12 $26.48
        c = cdnow[1].set_index("customer").loc["00004"]
        assert c["frequency"] == 2 and c["recency"] == pytest.approx(213 / 7) and c["T"] == pytest.approx(272 / 7)
        assert c["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)  # repeat purchases only
        assert c["frequency_holdout"] == 1 and c["monetary_value_holdout"] == pytest.approx(26.48)

    def test_totals(self, cdnow):
        _, s = cdnow
        assert (s["frequency"] == 0).sum() == 1411
        assert s["frequency_holdout"].sum() == 1882
        assert ((s["frequency"] == 0) == (s["monetary_value"] == 0)).all()
        assert ((s["frequency"] == 0) <= (s["recency"] == 0)).all() and (s["recency"] <= s["T"] + 1e-12).all()

    def test_collapse(self, cdnow):
        _, s = cdnow
        c = collapse_rfm(s)
        assert list(c.columns) == ["frequency", "recency", "T", "weight"]
        assert c["weight"].sum() == len(s) and len(c) < len(s) / 2
        assert not c.duplicated(["frequency", "recency", "T"]).any()


class TestConventions:
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "c"],
        "order_time": pd.to_datetime(["2025-01-01 09:00", "2025-01-01 18:00", "2025-01-15 00:00", "2025-02-05 00:00",
                                      "2025-01-08 00:00", "2025-02-10 00:00"]),
        "amount": [10.0, 5.0, 30.0, 7.0, 5.0, 99.0]})

    def test_same_day_is_one_purchase_and_units(self):
        s = rfm_summary(self.tx, value_col="amount", observation_end="2025-01-29", time_unit="D").set_index(
            "customer_id")
        assert list(s.index) == ["a", "b"]  # c buys after the end
        assert s.loc["a", "frequency"] == 1 and s.loc["a", "recency"] == 14 and s.loc["a", "T"] == 28
        assert s.loc["a", "monetary_value"] == 30.0  # the first day's 10 + 5 is not a repeat purchase
        weeks = rfm_summary(self.tx, observation_end="2025-01-29").set_index("customer_id")
        months = rfm_summary(self.tx, observation_end="2025-01-29", time_unit="M").set_index("customer_id")
        assert weeks.loc["a", "T"] == pytest.approx(4.0) and months.loc["a", "T"] == pytest.approx(28 / 30.4375)
        assert "monetary_value" not in weeks.columns  # no value column, no monetary columns

    def test_holdout_and_late_starters(self):
        s = rfm_summary(self.tx, value_col="amount", calibration_end="2025-01-20",
                        observation_end="2025-02-10").set_index("customer_id")
        assert list(s.index) == ["a", "b"]  # c first buys after the calibration end: excluded
        assert s.loc["a", "frequency"] == 1 and s.loc["a", "frequency_holdout"] == 1
        assert s.loc["a", "monetary_value_holdout"] == 7.0 and s.loc["b", "frequency_holdout"] == 0
        assert s.loc["a", "duration_holdout"] == pytest.approx(3.0)

    def test_bad_input(self):
        with pytest.raises(DataContractError, match="order_time"):
            rfm_summary(pd.DataFrame({"customer_id": ["a"], "order_time": ["not a date"]}))
        with pytest.raises(DataContractError, match="amount"):
            rfm_summary(self.tx.drop(columns="amount"), value_col="amount")
        with pytest.raises(DataContractError, match="amount"):
            rfm_summary(self.tx.assign(amount=[1.0, np.nan, 1, 1, 1, 1]), value_col="amount")
        with pytest.raises(ParameterError, match="after observation_end"):
            rfm_summary(self.tx, calibration_end="2025-03-01", observation_end="2025-02-01")
        with pytest.raises(ParameterError, match="time_unit"):
            rfm_summary(self.tx, time_unit="Y")
        with pytest.raises(ParameterError, match="no transactions"):
            rfm_summary(self.tx.iloc[:0])


class SpyWorkbench:
    """Records the SQL a function sends to a workbench."""

    def __init__(self, wb):
        self.wb, self.sql = wb, []

    def query(self, sql):
        self.sql.append(sql)
        return self.wb.query(sql)


class TestEngine:
    def test_engine_matches_frame(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        spy = SpyWorkbench(wb)
        a = rfm_summary(spy, calibration_end="2025-01-04", observation_end="2025-01-10")
        assert len(spy.sql) == 1 and "orders" in spy.sql[0]  # one query; only the summary comes back
        orders = tiny["orders"].assign(net=lambda o: o.amount - o.refunded_amount.fillna(0))
        b = rfm_summary(orders, "customer_id", "order_time", "net", calibration_end="2025-01-04",
                        observation_end="2025-01-10")
        pd.testing.assert_frame_equal(a.drop(columns="first_day"), b.drop(columns="first_day"), check_dtype=False)
        c3 = a.set_index("customer_id").loc["C3"]
        # C3: 80 on Jan 4, 70 − 20 refunded on Jan 6 (holdout)
        assert c3["frequency"] == 0 and c3["frequency_holdout"] == 1 and c3["monetary_value_holdout"] == 50.0

    def test_engine_default_end_is_last_order(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        s = rfm_summary(wb).set_index("customer_id")
        # last order 2025-01-06; C1 first bought on Jan 2 (three orders, one day)
        assert s.loc["C1", "frequency"] == 0 and s.loc["C1", "T"] == pytest.approx(4 / 7)


class TestOneAggregate:
    """Without a holdout, DuckDB summarises the orders in one aggregate by customer.

    The rows equal the portable SQL's (orders to purchase days, days to customers) bit for bit when the values
    are summed exactly.
    """

    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "a", "b", "b", "b", "c", "d", "d", None],
        "order_time": pd.to_datetime(["2025-01-01 09:00", "2025-01-01 18:00", "2025-01-15 00:00", "2025-01-15 10:00",
                                      "2025-02-05 00:00", "2025-01-08 00:00", "2025-01-09 00:00", "2025-01-20 00:00",
                                      "2025-02-10 00:00", "2025-01-03 00:00", "2025-01-03 00:00", "2025-01-05 00:00"]),
        "amount": [10.1, 5.2, 30.3, 0.1, 7.0, 5.0, 0.7, 0.2, 99.0, 1.1, 2.2, 3.0]})

    @staticmethod
    def summary(tx, dialect, per_order=False):
        """The summary of frame ``tx`` by the SQL DuckDB gets (``"duckdb"``) or the portable SQL (``"spark"``)."""
        from workbench.clv.rfm import customer_days_sql

        end = pd.Timestamp("2025-02-05")
        sql = customer_days_sql("tx", "customer_id", "order_time", "amount", end, end, False, per_order=per_order,
                                exact=True, dialect=dialect)
        con = duckdb.connect()
        con.register("tx", tx)
        out = con.sql(f"SELECT * FROM ({sql}) s ORDER BY customer_id").df()
        con.close()
        return out

    @pytest.mark.parametrize("per_order", [False, True])
    def test_equals_day_collapse(self, per_order):
        """Purchase days or orders: the one aggregate equals the two-level SQL exactly."""
        one, two = self.summary(self.tx, "duckdb", per_order), self.summary(self.tx, "spark", per_order)
        pd.testing.assert_frame_equal(one, two, check_dtype=False, check_exact=True)

    def test_known_rows(self):
        """Frequency, recency, age and the exact mean of the repeat days, counted by hand."""
        s = self.summary(self.tx, "duckdb").set_index("customer_id")
        assert list(s.index) == ["a", "b", "d"]  # c buys after the end; the order without a customer is left out
        # a: days Jan 1 (10.1 + 5.2), Jan 15 (30.3 + 0.1), Feb 5 (7.0): two repeat days
        assert s.loc["a", "frequency"] == 2 and s.loc["a", "recency_days"] == 35 and s.loc["a", "age_days"] == 35
        assert s.loc["a", "monetary_value"] == (30.4 + 7.0) / 2  # exact decimals: no 0.1 + 0.2 drift
        assert s.loc["b", "frequency"] == 2 and s.loc["b", "monetary_value"] == 0.45
        # d: two orders on its only day
        assert s.loc["d", "frequency"] == 0 and s.loc["d", "monetary_value"] == 0

    def test_first_day_with_several_orders(self):
        """Two orders on the first day (at the same time) and one later: the first day's value is their sum."""
        tx = pd.DataFrame({"customer_id": ["x", "x", "x"], "order_time": pd.to_datetime(
            ["2025-01-02 08:00", "2025-01-02 08:00", "2025-01-04 00:00"]), "amount": [1.25, 2.5, 4.0]})
        one = self.summary(tx, "duckdb")
        pd.testing.assert_frame_equal(one, self.summary(tx, "spark"), check_dtype=False, check_exact=True)
        assert one["frequency"].tolist() == [1] and one["monetary_value"].tolist() == [4.0]
