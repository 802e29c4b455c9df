"""CLV, its intervals and the model checks, on CDNOW and on simulated customers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import workbench  # noqa: E402
from workbench import ParameterError  # noqa: E402
from workbench.clv import (BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter, calibration_holdout_comparison,  # noqa: E402
                           clv_interval, customer_lifetime_value, expected_vs_actual_cumulative,
                           period_transactions, plot_calibration_holdout, plot_cumulative_transactions,
                           plot_period_transactions, rfm_summary)
from workbench.clv.beta_geo import simulate_beta_geo  # noqa: E402
from workbench.clv.gamma_gamma import simulate_gamma_gamma  # noqa: E402

WEEKS_PER_MONTH = 30.4375 / 7


@pytest.fixture(scope="module")
def raw(cdnow_transactions) -> pd.DataFrame:
    return cdnow_transactions


@pytest.fixture(scope="module")
def fitted(raw):
    s = rfm_summary(raw, "customer", "date", "dollars", calibration_end="1997-09-30", observation_end="1998-06-30")
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    rep = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    return s, bg, gg


def rfm_args(s: pd.DataFrame):
    return s["frequency"], s["recency"], s["T"], s["monetary_value"]


class TestValue:
    def test_undiscounted_clv_telescopes(self, fitted):
        s, bg, gg = fitted
        clv = customer_lifetime_value(bg, gg, *rfm_args(s), horizon_months=12, discount_rate=0.0)
        direct = bg.conditional_expected_number_of_purchases_up_to_time(12 * WEEKS_PER_MONTH, s["frequency"],
                                                                        s["recency"], s["T"]) \
            * gg.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
        np.testing.assert_allclose(clv, direct, rtol=1e-10)

    def test_discounting(self, fitted):
        s, bg, gg = fitted
        one = customer_lifetime_value(bg, gg, *rfm_args(s), horizon_months=1, discount_rate=0.01)
        first_month = bg.conditional_expected_number_of_purchases_up_to_time(WEEKS_PER_MONTH, s["frequency"],
                                                                             s["recency"], s["T"])
        spend = gg.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
        np.testing.assert_allclose(one, first_month * spend / 1.01, rtol=1e-10)
        plain = customer_lifetime_value(bg, gg, *rfm_args(s), discount_rate=0.0)
        discounted = customer_lifetime_value(bg, gg, *rfm_args(s), discount_rate=0.01)
        # twelve monthly factors between 1/1.01 and 1/1.01^12
        assert np.all(discounted <= plain / 1.01 + 1e-12) and np.all(discounted >= plain / 1.01**12 - 1e-12)
        with pytest.raises(ParameterError):
            customer_lifetime_value(bg, gg, *rfm_args(s), discount_rate=-0.1)
        with pytest.raises(ParameterError):
            customer_lifetime_value(bg, gg, *rfm_args(s), horizon_months=0)

    def test_time_unit_invariance(self, raw, fitted):
        # the same customers summarised and fitted in days give the same CLV as in weeks
        s, bg, gg = fitted
        d = rfm_summary(raw, "customer", "date", "dollars", calibration_end="1997-09-30",
                        observation_end="1998-06-30", time_unit="D")
        bg_days = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
        assert bg_days.params_["alpha"] == pytest.approx(7 * bg.params_["alpha"], rel=1e-5)
        weeks = customer_lifetime_value(bg, gg, *rfm_args(s), time_unit="W")
        days = customer_lifetime_value(bg_days, gg, *rfm_args(d), time_unit="D")
        np.testing.assert_allclose(days, weeks, rtol=1e-5)

    def test_pareto_transaction_model(self, fitted):
        s, _, gg = fitted
        pn = ParetoNBDFitter().fit(s["frequency"], s["recency"], s["T"])
        clv = customer_lifetime_value(pn, gg, *rfm_args(s))
        assert np.all(np.isfinite(clv)) and np.all(clv >= 0) and len(clv) == len(s)

    def test_interval(self, fitted):
        s, bg, gg = fitted
        iv = clv_interval(bg, gg, *rfm_args(s), n_draws=100, seed=1)
        assert len(iv) == len(s) and iv.n_draws_used == 100
        np.testing.assert_allclose(iv["clv"], customer_lifetime_value(bg, gg, *rfm_args(s)), rtol=1e-12)
        assert (iv["clv_low"] <= iv["clv"] + 1e-9).all() and (iv["clv"] <= iv["clv_high"] + 1e-9).all()
        total, lo, hi = iv.total
        assert lo < total < hi and (hi - lo) / total < 0.5
        again = clv_interval(bg, gg, *rfm_args(s), n_draws=100, seed=1)
        pd.testing.assert_frame_equal(iv.table, again.table)  # seeded
        assert iv.total == again.total

    def test_interval_covers_true_value(self):
        # simulated customers: the CLV total under the true parameters lies in the 90% interval
        truth_bg, truth_gg = dict(r=0.25, alpha=4.0, a=0.8, b=2.5), dict(p=6.0, q=4.0, v=15.0)
        T = np.random.default_rng(11).integers(20 * 7, 52 * 7, 20_000) / 7
        d = simulate_beta_geo(20_000, **truth_bg, T=T, seed=11)
        d["monetary_value"] = simulate_gamma_gamma(d["frequency"], **truth_gg, seed=12)
        bg = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
        rep = d[d["frequency"] > 0]
        gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        iv = clv_interval(bg, gg, *rfm_args(d), n_draws=100, seed=13)
        true_bg, true_gg = BetaGeoFitter(), GammaGammaFitter()
        true_bg.params_ = pd.Series(truth_bg)
        true_gg.params_ = pd.Series(truth_gg)
        true_total = customer_lifetime_value(true_bg, true_gg, *rfm_args(d)).sum()
        _, lo, hi = iv.total
        assert lo <= true_total <= hi, (lo, true_total, hi)


class TestValidation:
    def test_cdnow_holdout(self, fitted):
        s, bg, _ = fitted
        table, m = calibration_holdout_comparison(bg, s)
        assert table["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
        assert table["customers"].sum() == 2357 and table["customers"].iloc[0] == 1411
        assert m["actual_total"] == 1882 and m["holdout_duration"] == 39
        # weeks 40–78: BG/NBD expects 1,653 repeat purchases (12% under); the naive x/T rate 2,930 (56% over)
        assert m["predicted_total"] == pytest.approx(1653.4, abs=0.5)
        assert m["naive_total"] == pytest.approx(2930.1, abs=0.5)
        assert m["model_mae"] < m["naive_mae"]
        # the model's per-group means increase with calibration frequency, as the actuals do
        assert table["predicted"].is_monotonic_increasing and table["actual"].is_monotonic_increasing

    def test_period_transactions(self, fitted):
        s, bg, _ = fitted
        table = period_transactions(bg, s)
        assert table["actual"].sum() == len(s) and table["expected"].sum() == pytest.approx(len(s), rel=1e-9)
        for n in range(3):  # the calibration histogram is reproduced within 12% for 0-2 repeat purchases
            assert table["expected"].iloc[n] == pytest.approx(table["actual"].iloc[n], rel=0.12)

    def test_cumulative(self, raw, fitted):
        s, bg, _ = fitted
        cum = expected_vs_actual_cumulative(bg, raw, "customer", "date", calibration_end="1997-09-30",
                                            observation_end="1998-06-30")
        # weeks 1..77 and the observation end, 545 days after the first purchase day
        assert len(cum) == 78 and cum["period"].iloc[-1] == pytest.approx(545 / 7)
        assert cum.calibration_period == pytest.approx(272 / 7)
        # at the end of the data the actual count is every repeat purchase day of the summary
        assert cum["actual"].iloc[-1] == s["frequency"].sum() + s["frequency_holdout"].sum()
        in_sample = cum.table.loc[cum["period"] == 38]
        assert float(in_sample["expected"].iloc[0]) == pytest.approx(float(in_sample["actual"].iloc[0]), rel=0.03)
        assert float(cum["expected"].iloc[-1]) == pytest.approx(float(cum["actual"].iloc[-1]), rel=0.1)
        assert cum["expected"].is_monotonic_increasing and cum["actual"].is_monotonic_increasing

    def test_cumulative_engine_matches_frame(self, tiny, fitted):
        _, bg, _ = fitted
        wb = workbench.open(tiny, as_of="2025-02-01")
        a = expected_vs_actual_cumulative(bg, wb, time_unit="D", observation_end="2025-01-06")
        orders = tiny["orders"][tiny["orders"]["customer_id"].notna()]
        b = expected_vs_actual_cumulative(bg, orders, time_unit="D", observation_end="2025-01-06")
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a["actual"].iloc[-1] == 1  # C3 bought again on Jan 6

    def test_plots(self, raw, fitted):
        s, bg, _ = fitted
        fig, axes = plt.subplots(1, 3)
        assert plot_period_transactions(bg, s, ax=axes[0]) is axes[0]
        assert len(axes[0].patches) == 16
        assert plot_calibration_holdout(bg, s, ax=axes[1]) is axes[1]
        assert len(axes[1].lines) == 3
        cum = expected_vs_actual_cumulative(bg, raw, "customer", "date", calibration_end="1997-09-30")
        assert plot_cumulative_transactions(cum, ax=axes[2]) is axes[2]
        assert len(axes[2].lines) == 3  # actual, model, calibration end
        plt.close(fig)
