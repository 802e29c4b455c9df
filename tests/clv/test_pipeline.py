"""The engine CLV pipeline (per-customer work in SQL, fits on collapsed rows) equals the array path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.clv import BetaGeoFitter, GammaGammaFitter, clv_interval, customer_lifetime_value, rfm_summary
from workbench.clv.pipeline import (
    VALUE_TABLE,
    buyer_rows,
    customer_value,
    fit_value_models,
    summarise_buyers,
    total_value_interval,
    value_customers,
)
from workbench.errors import ParameterError


@pytest.fixture(scope="module")
def brand(large_brand):
    """The session's large simulated brand (tests/conftest.py)."""
    return large_brand


@pytest.fixture(scope="module")
def reference(brand):
    """The array path: rfm_summary → fits on per-customer rows → customer_lifetime_value."""
    wb = workbench.open(brand.tables)
    as_of = brand.as_of
    s = rfm_summary(wb, observation_end=as_of - pd.Timedelta(days=1))
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    s["clv"] = customer_lifetime_value(bg, gg, s["frequency"], s["recency"], s["T"], s["monetary_value"])
    s["p_alive"] = bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    s["e90"] = bg.conditional_expected_number_of_purchases_up_to_time(90 / 7, s["frequency"], s["recency"], s["T"])
    return s, bg, gg


class TestEnginePipeline:
    """Each step of the engine pipeline against the array path on the large simulated brand."""

    def test_fits_equal_per_customer_fits(self, brand, reference):
        """Fits on collapsed buyer rows equal the per-customer fits within 1e-4 standard errors."""
        _, bg_ref, gg_ref = reference
        wb = workbench.open(brand.tables)
        n = summarise_buyers(wb, brand.as_of)
        rows = buyer_rows(wb)
        assert rows["weight"].sum() == n == len(reference[0])
        assert len(rows) < n  # collapsing pays
        bg, gg = fit_value_models(wb, rows=rows)
        # the same values with counts as weights: the same likelihood, so the same optimum, up to the Newton
        # decrement at which both stop (1e-10: a distance of about 1e-5 standard errors); Gamma-Gamma's likelihood
        # is flat in v, so compare in standard errors rather than relative digits
        for fit, ref in ((bg, bg_ref), (gg, gg_ref)):
            gap = (fit.params_ - ref.params_).abs() / ref.standard_errors_
            assert (gap < 1e-4).all(), gap

    def test_clv_equals_array_path(self, brand, reference):
        """The engine CLV table equals customer_lifetime_value on per-customer arrays."""
        s, bg, gg = reference
        wb = workbench.open(brand.tables)
        summarise_buyers(wb, brand.as_of)
        value_customers(wb, bg, gg)
        got = wb.query(f"SELECT customer_id, p_alive, expected_purchases_90d, clv FROM {VALUE_TABLE}")
        m = s.merge(got, on="customer_id", suffixes=("_ref", ""))
        assert len(m) == len(s)
        np.testing.assert_allclose(m["clv"], m["clv_ref"], rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(m["p_alive"], m["p_alive_ref"], rtol=1e-12)
        np.testing.assert_allclose(m["expected_purchases_90d"], m["e90"], rtol=1e-10)

    def test_total_interval_equals_per_customer_bootstrap(self, brand, reference):
        """The bootstrap total on collapsed rows equals the per-customer bootstrap with the same seed."""
        s, bg, gg = reference
        wb = workbench.open(brand.tables)
        summarise_buyers(wb, brand.as_of)
        got = total_value_interval(bg, gg, buyer_rows(wb), n_draws=50, seed=4)
        want = clv_interval(bg, gg, s["frequency"], s["recency"], s["T"], s["monetary_value"], n_draws=50,
                            seed=4).total
        np.testing.assert_allclose(got, want, rtol=1e-9)

    def test_customer_value_frame(self, brand, reference):
        """customer_value: total, interval order, tier shares and non-buyers."""
        s = reference[0]
        cv = customer_value(workbench.open(brand.tables), brand.as_of, interval_draws=20)
        c = cv.customers
        buyers = c[c["frequency"].notna()]
        # customer_value refits on collapsed rows: its parameters equal the per-customer fit's within 1e-4
        # standard errors (test_fits_equal_per_customer_fits), so the total agrees to about 1e-6, not to 1e-10
        np.testing.assert_allclose(buyers["clv"].sum(), s["clv"].sum(), rtol=1e-6)
        assert cv.total_interval[1] < cv.total_interval[0] < cv.total_interval[2]
        share = buyers["value_tier"].value_counts(normalize=True)
        assert share["super_vip"] == pytest.approx(0.05, abs=0.002)
        assert share["cultivate"] == pytest.approx(0.15, abs=0.002)
        assert (c.loc[c["frequency"].isna(), "value_tier"] == "activate").all()
        assert (c.loc[c["frequency"].isna(), "clv"] == 0).all()

    def test_infinite_mean_spend_is_an_error(self, brand, reference):
        """Gamma-Gamma q <= 1 is refused before any work."""
        _, bg, gg = reference
        bad = GammaGammaFitter()
        bad.params_ = pd.Series([gg.params_["p"], 0.9, gg.params_["v"]], index=["p", "q", "v"])
        wb = workbench.open(brand.tables)
        summarise_buyers(wb, brand.as_of)
        with pytest.raises(ParameterError, match="mean spend is infinite"):
            value_customers(wb, bg, bad)

    def test_no_orders(self, brand):
        """No orders before as_of is a parameter error."""
        with pytest.raises(ParameterError, match="no orders before"):
            customer_value(workbench.open(brand.tables), "2020-01-01")


class TestCollapsedSummary:
    """rfm_summary(collapsed=True) gives the fits and holdout checks of the per-customer summary."""

    def test_collapsed_rows_give_the_same_fit_and_checks(self, brand):
        """Weighted distinct rows: the same fit, calibration-holdout table and period counts."""
        from workbench.clv import calibration_holdout_comparison, period_transactions

        wb = workbench.open(brand.tables)
        end = brand.as_of - pd.Timedelta(days=1)
        cal_end = end - pd.Timedelta(weeks=13)
        full = rfm_summary(wb, calibration_end=cal_end, observation_end=end)
        rows = rfm_summary(wb, calibration_end=cal_end, observation_end=end, collapsed=True)
        assert list(rows.columns) == ["frequency", "recency", "T", "frequency_holdout", "duration_holdout", "weight"]
        assert rows["weight"].sum() == len(full) and len(rows) < len(full)
        model = BetaGeoFitter().fit(full["frequency"], full["recency"], full["T"])
        weighted = BetaGeoFitter().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["weight"])
        np.testing.assert_allclose(weighted.params_, model.params_, rtol=1e-7)
        table, fit = calibration_holdout_comparison(model, full)
        table_w, fit_w = calibration_holdout_comparison(model, rows)
        pd.testing.assert_frame_equal(table, table_w, check_dtype=False, rtol=1e-10)
        assert fit_w == pytest.approx(fit, rel=1e-10)
        pd.testing.assert_frame_equal(period_transactions(model, full), period_transactions(model, rows),
                                      check_dtype=False, rtol=1e-10)

    def test_frame_input(self):
        """A transaction frame is collapsed by DuckDB to weighted rows."""
        tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "order_time": pd.to_datetime(
            ["2025-01-01", "2025-01-15", "2025-01-08", "2025-01-08"])})
        rows = rfm_summary(tx, observation_end="2025-01-29", collapsed=True)
        assert rows.to_dict("records") == [{"frequency": 0.0, "recency": 0.0, "T": 3.0, "weight": 2.0},
                                           {"frequency": 1.0, "recency": 2.0, "T": 4.0, "weight": 1.0}]


@pytest.mark.parametrize("exclude, spend, unit",
                         [(True, "net", "day"), (False, "gross", "day"), (False, "net", "order")])
def test_one_aggregate_equals_day_collapse(brand, exclude, spend, unit):
    """The buyer table's one aggregate by customer (DuckDB) equals the portable two-level SQL bit for bit.

    The brand has refunds, experiment-task orders and customers with several orders on one day (some on their
    first day), so every branch of the first day's value is taken.
    """
    from workbench.clv.pipeline import SPEND_VALUES
    from workbench.clv.rfm import customer_days_sql, model_orders_sql

    wb = workbench.open(brand.tables)
    end = (brand.as_of - pd.Timedelta(days=1)).normalize()
    got = {}
    for dialect in ("duckdb", "spark"):
        sql = customer_days_sql(model_orders_sql(wb, exclude), "customer_id", "order_time", SPEND_VALUES[spend], end,
                                end, False, per_order=unit == "order", exact=True, dialect=dialect)
        got[dialect] = wb.query(f"SELECT * FROM ({sql}) s ORDER BY customer_id")
    assert len(got["duckdb"]) > 20_000
    pd.testing.assert_frame_equal(got["duckdb"], got["spark"], check_dtype=False, check_exact=True)
    summarise_buyers(wb, brand.as_of, exclude_experiment_orders=exclude, spend=spend, purchase_unit=unit)
    table = wb.query("SELECT * FROM clv_buyers ORDER BY customer_id")
    np.testing.assert_array_equal(table["monetary_value"], got["spark"]["monetary_value"].astype(float))


def test_portable_summary_past_the_memory_limit(brand, monkeypatch):
    """When the one aggregate's lists would not fit in memory even in parts, the two-level SQL gives the same table."""
    import workbench.clv.pipeline as pipeline

    wb = workbench.open(brand.tables)
    assert pipeline._summary_plan(wb, "orders") == ("duckdb", 1)
    summarise_buyers(wb, brand.as_of, name="fits")
    monkeypatch.setattr(pipeline, "_LIST_BYTES_PER_ORDER", 10**15)
    assert pipeline._summary_plan(wb, "orders") == ("portable", 1)
    summarise_buyers(wb, brand.as_of, name="spills")
    one, two = (wb.query(f"SELECT * FROM {t} ORDER BY customer_id") for t in ("fits", "spills"))
    pd.testing.assert_frame_equal(one, two, check_dtype=False, check_exact=True)


def _parts_of(wb, pipeline, monkeypatch, parts: int) -> None:
    """Make the plan split the one aggregate in ``parts`` parts: the lists' bytes per order set to fit that."""
    orders = int(wb.scalar("SELECT COUNT(*) FROM orders"))
    per_order = int(wb.backend.memory_limit_bytes() * (parts - 0.5)) // orders
    monkeypatch.setattr(pipeline, "_LIST_BYTES_PER_ORDER", per_order)
    assert pipeline._summary_plan(wb, "orders") == ("duckdb", parts)


def test_summary_in_customer_hash_parts(brand, monkeypatch):
    """The one aggregate run on 3 customer-hash parts, one after the other, gives the one aggregate's table bit for bit.

    Each part holds about a third of the buyers; asked again on the same workbench the table is kept, not
    appended to; with other options it is built again.
    """
    import workbench.clv.pipeline as pipeline

    wb = workbench.open(brand.tables)
    n = summarise_buyers(wb, brand.as_of, name="whole")
    _parts_of(wb, pipeline, monkeypatch, 3)
    assert summarise_buyers(wb, brand.as_of, name="parts") == n > 20_000
    sizes = wb.query("SELECT hash(customer_id) % 3 AS part, COUNT(*) AS n FROM parts GROUP BY 1 ORDER BY 1")["n"]
    assert len(sizes) == 3 and (abs(sizes / n - 1 / 3) < 0.02).all()  # a hash splits 20,000+ buyers evenly
    one, two = (wb.query(f"SELECT * FROM {t} ORDER BY customer_id") for t in ("whole", "parts"))
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert summarise_buyers(wb, brand.as_of, name="parts") == n  # kept: no part appended twice
    gross = summarise_buyers(wb, brand.as_of, name="parts", spend="gross")  # other options: built again
    assert gross == n and wb.scalar("SELECT COUNT(DISTINCT customer_id) FROM parts") == n


def test_parts_fall_back_to_the_two_level_sql_when_a_part_runs_out_of_memory(brand, monkeypatch):
    """A part past the memory limit (the estimate too small) rebuilds the whole table with the SQL that spills."""
    import workbench.clv.pipeline as pipeline
    from workbench.errors import EngineOutOfMemoryError

    wb = workbench.open(brand.tables)
    summarise_buyers(wb, brand.as_of, name="whole")
    _parts_of(wb, pipeline, monkeypatch, 2)
    real = wb.backend.execute

    def execute(statement: str) -> None:
        if statement.startswith("INSERT"):
            raise EngineOutOfMemoryError("DuckDB ran out of memory")
        real(statement)

    monkeypatch.setattr(wb.backend, "execute", execute)
    summarise_buyers(wb, brand.as_of, name="parts")
    one, two = (wb.query(f"SELECT * FROM {t} ORDER BY customer_id") for t in ("whole", "parts"))
    pd.testing.assert_frame_equal(one, two, check_dtype=False, check_exact=True)
