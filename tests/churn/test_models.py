"""Churn models: sBG against the published fits, Cox collapsed vs raw rows, truth recovery."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.truth import assert_cox_covers_truth
from workbench import ParameterError
from workbench.churn import (
    ShiftedBetaGeometricFitter,
    at_risk_counts_by,
    at_risk_list,
    expected_lifetime,
    fit_cox,
    fit_weibull_aft,
    kaplan_meier_table,
    landmark,
    logrank_table,
    mask_ids,
    spell_covariates,
)


def sig3(x):
    return float(f"{x:.3g}")


class TestShiftedBetaGeometric:
    @pytest.mark.parametrize("series, alpha, beta", [
        ([100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], 0.704, 1.182),
        ([100, 86.9, 74.3, 65.3, 59.3, 55.1, 51.7, 49.1], 0.668, 3.806),
    ])
    def test_published_fits_and_projection(self, series, alpha, beta):
        m = ShiftedBetaGeometricFitter().fit(survival=series, n=1000)
        assert (sig3(m.params_["alpha"]), sig3(m.params_["beta"])) == (sig3(alpha), sig3(beta))
        assert m.params_["alpha"] == pytest.approx(alpha, abs=5e-4) and m.params_["beta"] == pytest.approx(beta, abs=5e-4)
        proj = m.project(12)
        assert proj["survival"].iloc[:8].to_numpy() * 100 == pytest.approx(series, abs=2.5)  # the fit, not a copy
        # years 8-12 continue the curve: decreasing, above zero, retention rising with tenure
        years_8_12 = proj["survival"].iloc[8:].to_numpy()
        assert np.all(np.diff(years_8_12) < 0) and years_8_12[-1] > 0 and years_8_12[0] < series[-1] / 100
        assert np.all(np.diff(proj["retention"].iloc[1:]) > 0)

    def test_several_cohorts(self):
        rows = [("2025-01", p, n) for p, n in enumerate([1000, 631, 468, 382])] + \
               [("2025-02", p, n) for p, n in enumerate([800, 505, 374])]
        m = ShiftedBetaGeometricFitter().fit(cohorts=pd.DataFrame(rows, columns=["cohort", "period", "n_alive"]))
        assert 0.3 < m.params_["alpha"] < 2 and m.n_customers_ == 1800

    def test_bad_series(self):
        with pytest.raises(workbench.DataContractError, match="non-increasing"):
            ShiftedBetaGeometricFitter().fit(survival=[100, 80, 90])


def weibull_ph(n, seed=0, shape=0.8, scale=400.0, beta_group=0.5, beta_b=-0.3, censor=365.0, whole_days=True):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    b = rng.integers(0, 2, n)
    eta = np.where(g == "b", beta_group, np.where(g == "c", 2 * beta_group, 0.0)) + beta_b * b
    t = scale * (rng.exponential(1.0, n) / np.exp(eta)) ** (1 / shape)
    c = rng.uniform(30, censor, n)
    # whole days, as spells in reports are often rounded: many ties, the hard case for collapsing
    duration = np.minimum(t, c)
    return pd.DataFrame({"group": g, "tool": b, "duration_days": np.ceil(duration) if whole_days else duration,
                         "churned": t <= c, "customer_id": rng.integers(0, n // 2, n)})


class TestCox:
    def test_collapsed_equals_raw_rows(self):
        d = weibull_ph(20_000, seed=1)
        collapsed = fit_cox(d, categorical=["group", "tool"], collapse=True, check_ph=False)
        raw = fit_cox(d, categorical=["group", "tool"], collapse=False, check_ph=False)
        assert collapsed.n_rows_fitted < raw.n_rows_fitted / 3
        np.testing.assert_allclose(collapsed.hazard_ratios["coef"], raw.hazard_ratios["coef"], atol=1e-6)
        np.testing.assert_allclose(collapsed.hazard_ratios["se"], raw.hazard_ratios["se"], rtol=1e-5)

    def test_hazard_ratios_cover_truth_and_ph_check(self):
        d = weibull_ph(20_000, seed=2)
        res = fit_cox(d, categorical=["group", "tool"], reference={"group": "a", "tool": 0})
        hr = res.hazard_ratios.set_index("covariate")
        for name, truth in (("group=b", 0.5), ("group=c", 1.0), ("tool=1", -0.3)):
            lo, hi = np.log(hr.loc[name, "hr_low"]), np.log(hr.loc[name, "hr_high"])
            assert lo <= truth <= hi, (name, lo, hi)
        assert res.ph_test is not None and set(res.ph_test["covariate"]) >= {"group=b", "tool=1"}

    def test_cluster_robust_errors_for_recurrent_spells(self):
        d = weibull_ph(5_000, seed=3)
        res = fit_cox(d, categorical=["group"], cluster_col="customer_id", check_ph=False)
        assert not res.collapsed and (res.hazard_ratios["se"] > 0).all()

    def test_no_events(self):
        d = weibull_ph(100).assign(churned=False)
        with pytest.raises(ParameterError, match="at least one event"):
            fit_cox(d, categorical=["group"])


class TestKaplanMeier:
    def test_median_matches_theory(self):
        d = weibull_ph(20_000, seed=7, beta_group=0.0, beta_b=0.0, censor=2000, whole_days=False)
        table = kaplan_meier_table(d)
        theory = 400 * np.log(2) ** (1 / 0.8)
        assert table["median_low"].iloc[0] <= theory <= table["median_high"].iloc[0]
        assert 0 < table["s180"].iloc[0] < 1 and table["s7_low"].iloc[0] <= table["s7"].iloc[0]

    def test_groups_and_logrank(self):
        d = weibull_ph(5_000, seed=5)
        assert len(kaplan_meier_table(d, group_col="group")) == 3
        assert logrank_table(d, "group")["p_value"].iloc[0] < 1e-6

    def test_landmark(self):
        d = pd.DataFrame({"duration_days": [5.0, 20.0, 14.0], "churned": [True, True, False]})
        lm = landmark(d, 14)
        assert lm["duration_days"].tolist() == [6.0]


class TestTelecom:
    def test_matches_lifelines_directly(self, shared_datasets):
        from lifelines import KaplanMeierFitter

        raw = pd.read_csv(shared_datasets / "telecom_churn.csv")
        assert len(raw) == 3333
        d = pd.DataFrame({"duration_days": raw["accountlength"].astype(float),
                          "churned": raw["churn"].astype(str).str.upper().str.startswith("T")})
        ours = kaplan_meier_table(d)
        km = KaplanMeierFitter().fit(d["duration_days"], d["churned"])
        assert ours["median_days"].iloc[0] == km.median_survival_time_
        plan = [c for c in raw.columns if "intl" in c.lower() and "plan" in c.lower()][0]
        d["plan"] = raw[plan].astype(str)
        res = fit_cox(d, categorical=["plan"], check_ph=False)
        assert res.hazard_ratios["hr"].iloc[0] > 1  # international-plan subscribers churn faster


@pytest.fixture(scope="module")
def spells(large_brand):
    """The truth and the spell covariates of the session's large simulated brand (tests/conftest.py)."""
    b = large_brand
    wb = workbench.open(b.tables, as_of=b.truth["as_of"])
    return b.truth, spell_covariates(wb, b.truth["as_of"])


class TestSimulatorTruth:
    def test_cox_hazard_ratios_cover_truth(self, spells):
        truth, s = spells
        assert_cox_covers_truth(s, truth)

    def test_at_risk_list_is_masked_and_ranked(self, spells):
        truth, s = spells
        res = fit_cox(s, categorical=["channel_group"], check_ph=False)
        open_now = s[~s["churned"]].assign(age_days=lambda d: d["duration_days"], value=100.0)
        lst = at_risk_list(res, open_now, "value", horizon_days=30)
        assert "customer_id" not in lst.columns and lst["customer_token"].str.startswith("C-").all()
        assert lst["value_at_risk"].is_monotonic_decreasing and lst["risk"].between(0, 1).all()
        counts = at_risk_counts_by(lst, "store_id")
        assert counts["open_relationships"].sum() == len(open_now)
        assert mask_ids(pd.Series(["C1"])).iloc[0] == mask_ids(pd.Series(["C1"])).iloc[0]

    def test_weibull_aft_lifetime(self, spells):
        _, s = spells
        m = fit_weibull_aft(s.sample(5000, random_state=0), categorical=["channel_group"])
        life = expected_lifetime(m, pd.DataFrame({c: [0.0] for c in m.design_columns_}), horizon_days=1825)
        assert 100 < life[0] < 1825
