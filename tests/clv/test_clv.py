"""CLV models against published fits, the simulator's truth and their own invariants."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import DataContractError
from workbench.clv import (BetaGeoBetaBinomFitter, BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter, collapse_rfm,
                           rfm_summary)
from workbench.clv.validation import calibration_holdout_comparison
from workbench.clv.value import clv_interval, customer_lifetime_value
from workbench.simulate import simulate_brand


def sig3(x: float) -> float:
    return float(f"{x:.3g}")


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions):
    raw = cdnow_transactions
    summary = rfm_summary(raw, "customer", "date", "dollars", calibration_end="1997-09-30",
                          observation_end="1998-06-30")
    return raw, summary


class TestRfmSummary:
    def test_cdnow_shape(self, cdnow):
        _, s = cdnow
        assert len(s) == 2357
        assert s["T"].max() == pytest.approx(272 / 7)
        assert (s["duration_holdout"] == 39).all()

    def test_engine_matches_frame(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        a = rfm_summary(wb, observation_end="2025-01-10")
        orders = tiny["orders"].assign(net=lambda o: o.amount - o.refunded_amount.fillna(0))
        b = rfm_summary(orders, "customer_id", "order_time", "net", observation_end="2025-01-10")
        pd.testing.assert_frame_equal(a.drop(columns="first_day"), b.drop(columns="first_day"), check_dtype=False)
        c1 = a.set_index("customer_id").loc["C1"]
        # C1 buys on Jan 2 only (three orders, one day): no repeat purchase
        assert c1.frequency == 0 and c1["T"] == pytest.approx(8 / 7)

    def test_collapse(self, cdnow):
        _, s = cdnow
        c = collapse_rfm(s)
        assert c["weight"].sum() == len(s) and len(c) < len(s)

    def test_bad_input(self):
        tx = pd.DataFrame({"customer_id": ["a"], "order_time": ["not a date"], "amount": [1.0]})
        with pytest.raises(DataContractError, match="order_time"):
            rfm_summary(tx)


class TestBetaGeo:
    def test_published_cdnow_fit(self, cdnow):
        _, s = cdnow
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        expected = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
        for k, v in expected.items():
            assert sig3(bg.params_[k]) == sig3(v), k
        assert bg.log_likelihood_ == pytest.approx(-9582.43, abs=0.05)
        assert bg.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86) == pytest.approx(1.226,
                                                                                                               abs=5e-4)

    def test_holdout_comparison(self, cdnow):
        _, s = cdnow
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        table, m = calibration_holdout_comparison(bg, s)
        assert m["actual_total"] == 1882
        assert m["predicted_total"] == pytest.approx(1653.4, abs=0.5)
        assert m["model_mae"] < m["naive_mae"]
        assert len(table) == 8

    def test_weighted_equals_raw(self, cdnow):
        _, s = cdnow
        raw = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        c = collapse_rfm(s)
        weighted = BetaGeoFitter().fit(c["frequency"], c["recency"], c["T"], weights=c["weight"])
        # both fits see the same unique rows; only the optimiser path differs
        np.testing.assert_allclose(weighted.params_, raw.params_, rtol=2e-5)
        assert weighted.log_likelihood_ == pytest.approx(raw.log_likelihood_, abs=1e-6)

    def test_high_frequency_is_stable(self, cdnow):
        _, s = cdnow
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        x = np.array([500.0, 500.0, 1000.0, 0.0])
        tx = np.array([38.85, 1.0, 38.5, 0.0])
        T = np.array([38.86, 38.86, 38.86, 38.86])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            p = bg.conditional_probability_alive(x, tx, T)
            e = bg.conditional_expected_number_of_purchases_up_to_time(10, x, tx, T)
            ll = bg.log_likelihood_rows(x, tx, T)
        assert np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(e)) and np.all(np.isfinite(ll))
        assert p[0] > 0.99 and p[1] < 1e-6  # bought often and recently vs long silent

    def test_probability_of_n_purchases_sums_to_one(self, cdnow):
        _, s = cdnow
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        total = sum(bg.probability_of_n_purchases_up_to_time(39, n) for n in range(200))
        assert total == pytest.approx(1.0, abs=1e-6)
        mean = sum(n * bg.probability_of_n_purchases_up_to_time(39, n) for n in range(400))
        assert mean == pytest.approx(float(bg.expected_number_of_purchases_up_to_time(39)), rel=1e-4)

    def test_bad_input(self):
        with pytest.raises(DataContractError, match="recency larger than T"):
            BetaGeoFitter().fit([1, 2], [5.0, 50.0], [10.0, 20.0])
        with pytest.raises(DataContractError, match="recency > 0 with frequency 0"):
            BetaGeoFitter().fit([0], [5.0], [10.0])
        with pytest.raises(DataContractError, match="non-finite"):
            BetaGeoFitter().fit([0, np.nan], [0, 1], [3, 4])


class TestParetoNBD:
    def test_published_cdnow_fit(self, cdnow):
        _, s = cdnow
        m = ParetoNBDFitter().fit(s["frequency"], s["recency"], s["T"])
        for k, v in {"r": 0.5532, "alpha": 10.5763, "s": 0.6062, "beta": 11.6715}.items():
            assert sig3(m.params_[k]) == sig3(v), k
        assert m.log_likelihood_ == pytest.approx(-9594.98, abs=0.05)

    def test_high_frequency_is_stable(self, cdnow):
        _, s = cdnow
        m = ParetoNBDFitter().fit(s["frequency"], s["recency"], s["T"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            p = m.conditional_probability_alive([500.0, 500.0], [38.0, 2.0], [38.86, 38.86])
            ll = m._log_likelihood(m.params_.to_numpy(), np.array([500.0]), np.array([38.0]), np.array([38.86]))
        assert np.all((p >= 0) & (p <= 1)) and np.isfinite(ll).all()


class TestGammaGamma:
    def test_published_cdnow_fit(self, cdnow):
        _, s = cdnow
        rep = s[s["frequency"] > 0]
        gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        for k, v in {"p": 6.2488, "q": 3.7446, "v": 15.4477}.items():
            assert sig3(gg.params_[k]) == sig3(v), k

    def test_zero_frequency_rejected(self):
        with pytest.raises(DataContractError, match="repeat buyers"):
            GammaGammaFitter().fit([0, 1], [10.0, 20.0])


class TestBetaGeoBetaBinom:
    def test_published_donations_fit(self, shared_datasets):
        d = pd.read_csv(shared_datasets / "donations.csv")
        m = BetaGeoBetaBinomFitter().fit(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
        for k, v in {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}.items():
            assert sig3(m.params_[k]) == sig3(v), k
        e = m.conditional_expected_number_of_purchases_up_to_time(5, [6], [6], [6])
        assert 0 < e[0] < 5


class TestValue:
    def test_clv_discounting_and_interval(self, cdnow):
        _, s = cdnow
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        rep = s[s["frequency"] > 0]
        gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        args = (s["frequency"], s["recency"], s["T"], s["monetary_value"])
        undiscounted = customer_lifetime_value(bg, gg, *args, horizon_months=12, discount_rate=0.0)
        expected = bg.conditional_expected_number_of_purchases_up_to_time(
            12 * 30.4375 / 7, s["frequency"], s["recency"], s["T"]) * gg.conditional_expected_average_profit(
            s["frequency"], s["monetary_value"])
        np.testing.assert_allclose(undiscounted, expected, rtol=1e-10)
        discounted = customer_lifetime_value(bg, gg, *args, horizon_months=12, discount_rate=0.01)
        assert np.all(discounted < undiscounted + 1e-12)
        iv = clv_interval(bg, gg, *args, n_draws=100)
        assert (iv["clv_low"] <= iv["clv"] + 1e-9).all() and (iv["clv"] <= iv["clv_high"] + 1e-9).all()
        total, lo, hi = iv.total
        assert lo < total < hi


class TestSimulatorRecovery:
    @pytest.mark.slow
    def test_bgnbd_and_gamma_gamma_cover_truth(self):
        brand = simulate_brand(30_000, seed=21)
        t = brand.truth
        wb = workbench.open(brand.tables, as_of=t["as_of"])
        wb.register("holdout_customers", brand.tables["assignments"].query(
            "experiment_id == 'HOLDOUT' and variant == 'holdout'")[["unit_id"]])
        # experiment orders are outside BG/NBD: leave them out, and fit on the holdout group
        orders = brand.tables["orders"]
        orders = orders[~orders["task_id"].fillna("").str.startswith("TX")]
        end = (pd.Timestamp(t["as_of"]) - pd.Timedelta(days=1)).date()
        s = rfm_summary(orders.assign(v=orders["amount"]), "customer_id", "order_time", "v", observation_end=end)
        s_all = s.copy()
        hold = set(brand.tables["assignments"].query("variant == 'holdout'")["unit_id"])
        s = s[s["customer_id"].isin(hold)]
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        summ = bg.summary
        for k in ("r", "alpha", "a", "b"):
            lo, hi = summ.loc[k, "lower 95% bound"], summ.loc[k, "upper 95% bound"]
            assert lo <= t["bgnbd"][k] <= hi, (k, lo, hi)
        rep = s_all[s_all["frequency"] > 0]
        gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        for k, key in (("p", "p"), ("q", "q"), ("v", "gamma")):
            lo, hi = gg.summary.loc[k, "lower 95% bound"], gg.summary.loc[k, "upper 95% bound"]
            assert lo <= t["gamma_gamma"][key] <= hi, (k, lo, hi)


def test_period_transactions_cdnow(cdnow):
    from workbench.clv.validation import period_transactions

    _, s = cdnow
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    table = period_transactions(bg, s)
    assert table["actual"].sum() == len(s)
    assert table["expected"].sum() == pytest.approx(len(s), rel=1e-6)
    # the published BG/NBD fit reproduces the calibration histogram closely (within 12% per bucket 0-2)
    for n in range(3):
        assert table["expected"].iloc[n] == pytest.approx(table["actual"].iloc[n], rel=0.12)
