"""Survival statistics of spells against lifelines, simulated ground truth and the telecom data.

The simulations draw spells from a Weibull proportional-hazards model with known log hazard
ratios, so the Cox estimates, Kaplan-Meier medians and restricted mean lifetimes have a
known target; the comparisons with lifelines fit the very same rows.
"""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from lifelines import CoxPHFitter, KaplanMeierFitter, WeibullAFTFitter  # noqa: E402
from lifelines.statistics import multivariate_logrank_test  # noqa: E402
from scipy import special, stats  # noqa: E402

from workbench import DataContractError  # noqa: E402
from workbench.churn import (SpellWeibullAFTFitter, at_risk_counts_by, at_risk_list, collapse_spells,  # noqa: E402
                             deletion_risk, expected_lifetime, fit_cox, fit_weibull_aft, hazard_ratio_forest,
                             kaplan_meier_curves, kaplan_meier_table, landmark, logrank_table, mask_ids,
                             plot_survival_curves)
from workbench.churn.cox import CollapsedCoxFitter  # noqa: E402

SHAPE, SCALE = 0.8, 400.0
LOG_HR = {"channel=b": 0.5, "channel=c": 1.0, "tool=1": -0.3}
Z999 = stats.norm.ppf(0.9995)  # 99.9% two-sided: a fixed seed should not sit on a 5% coin flip


def weibull_ph(n: int, seed: int, whole_days: bool = True, effects: bool = True, censor: tuple = (30, 365)):
    """Spells with S(t | x) = exp(-(t / SCALE)^SHAPE · exp(x·β)), uniform censoring."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2])
    tool = rng.integers(0, 2, n)
    eta = (LOG_HR["channel=b"] * (channel == "b") + LOG_HR["channel=c"] * (channel == "c")
           + LOG_HR["tool=1"] * tool) if effects else np.zeros(n)
    t = SCALE * (rng.exponential(1.0, n) / np.exp(eta)) ** (1 / SHAPE)
    c = rng.uniform(*censor, n)
    duration = np.minimum(t, c)
    return pd.DataFrame({"customer_id": [f"C{i:06d}" for i in rng.integers(0, n // 2, n)], "channel": channel,
                         "tool": tool, "duration_days": np.ceil(duration) if whole_days else duration,
                         "churned": t <= c})


def one_hot(d: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"channel=b": (d["channel"] == "b").astype(float),
                         "channel=c": (d["channel"] == "c").astype(float),
                         "tool=1": d["tool"].astype(float), "T": d["duration_days"],
                         "E": d["churned"].astype(int)}, index=d.index)


def lifelines_cox(frame: pd.DataFrame, **kw) -> CoxPHFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(frame, "T", "E", fit_options={"precision": 1e-10}, **kw)


REF = {"channel": "a", "tool": 0}


@pytest.fixture(scope="module")
def ph20k() -> pd.DataFrame:
    return weibull_ph(20_000, seed=11)


@pytest.fixture(scope="module")
def collapsed_fit(ph20k):
    return fit_cox(ph20k, categorical=["channel", "tool"], reference=REF, check_ph=False)


class TestCoxCollapsed:
    def test_equals_lifelines_on_raw_rows(self, ph20k, collapsed_fit):
        ref = lifelines_cox(one_hot(ph20k))
        assert collapsed_fit.collapsed and isinstance(collapsed_fit.model, CollapsedCoxFitter)
        # whole days: 20,000 spells share a few hundred durations, so Efron's tie correction matters
        assert collapsed_fit.n_rows_fitted < len(ph20k) / 4
        hr = collapsed_fit.hazard_ratios.set_index("covariate")
        np.testing.assert_allclose(hr["coef"], ref.params_.reindex(hr.index), atol=1e-6)
        np.testing.assert_allclose(hr["se"], ref.standard_errors_.reindex(hr.index), rtol=1e-5)
        np.testing.assert_allclose(hr["p"], ref.summary["p"].reindex(hr.index), rtol=1e-4, atol=1e-300)
        assert collapsed_fit.model.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-9)

    def test_lifelines_weights_on_tied_rows_would_not_be_exact(self, ph20k, collapsed_fit):
        # why the collapsed fit has its own Efron likelihood: lifelines' weights_col applies the
        # tie correction per collapsed row, not per replicated spell
        rows = one_hot(ph20k).groupby(["channel=b", "channel=c", "tool=1", "T", "E"], as_index=False).size()
        weighted = lifelines_cox(rows, weights_col="size", robust=False)
        gap = np.abs(weighted.params_.to_numpy() - collapsed_fit.hazard_ratios["coef"].to_numpy()).max()
        assert gap > 1e-4

    def test_hazard_ratios_cover_truth(self, collapsed_fit):
        hr = collapsed_fit.hazard_ratios.set_index("covariate")
        for name, truth in LOG_HR.items():
            z = (hr.loc[name, "coef"] - truth) / hr.loc[name, "se"]
            assert abs(z) < Z999, (name, hr.loc[name, "coef"], truth)
            assert hr.loc[name, "hr_low"] < hr.loc[name, "hr"] < hr.loc[name, "hr_high"]
        assert hr.loc["channel=c", "hr"] == pytest.approx(np.exp(hr.loc["channel=c", "coef"]))

    def test_raw_path_returns_lifelines_and_agrees(self, ph20k, collapsed_fit):
        raw = fit_cox(ph20k, categorical=["channel", "tool"], reference=REF, collapse=False, check_ph=False)
        assert not raw.collapsed and isinstance(raw.model, CoxPHFitter) and raw.n_rows_fitted == len(ph20k)
        np.testing.assert_allclose(raw.hazard_ratios["coef"], collapsed_fit.hazard_ratios["coef"], atol=1e-5)

    def test_cluster_robust_matches_lifelines(self, ph20k):
        d = ph20k.iloc[:6_000]
        res = fit_cox(d, categorical=["channel", "tool"], reference=REF, cluster_col="customer_id", check_ph=False)
        assert not res.collapsed and isinstance(res.model, CoxPHFitter)
        ref = lifelines_cox(one_hot(d).assign(customer_id=d["customer_id"]), cluster_col="customer_id", robust=True)
        hr = res.hazard_ratios.set_index("covariate")
        np.testing.assert_allclose(hr["coef"], ref.params_.reindex(hr.index), atol=1e-5)
        np.testing.assert_allclose(hr["se"], ref.standard_errors_.reindex(hr.index), rtol=1e-4)

    def test_ph_check_reports_every_covariate(self, ph20k):
        res = fit_cox(ph20k.iloc[:8_000], categorical=["channel", "tool"], reference=REF)
        ph = res.ph_test.set_index("covariate")
        assert set(ph.index) == set(LOG_HR)
        # the simulation is proportional by construction: no covariate should fail at 0.1%
        assert (ph["p"] > 0.001).all()

    def test_forest_plot(self, collapsed_fit):
        ax = hazard_ratio_forest(collapsed_fit.hazard_ratios, title="HR")
        assert ax.get_xscale() == "log" and len(ax.get_yticklabels()) == len(LOG_HR)


class TestKaplanMeier:
    def test_median_and_survival_match_weibull_theory(self):
        d = weibull_ph(20_000, seed=7, whole_days=False, effects=False, censor=(30, 2000))
        row = kaplan_meier_table(d).iloc[0]
        median = SCALE * np.log(2) ** (1 / SHAPE)  # 253.0 days
        assert row["median_low"] <= median <= row["median_high"]
        for t in (30, 90, 180):
            truth = np.exp(-(t / SCALE) ** SHAPE)
            half_width = (row[f"s{t}_high"] - row[f"s{t}_low"]) / 2
            assert abs(row[f"s{t}"] - truth) < Z999 / 1.96 * half_width, (t, row[f"s{t}"], truth)

    def test_table_matches_lifelines(self, ph20k):
        table = kaplan_meier_table(ph20k, group_col="channel").set_index("channel")
        assert list(table.index) == ["a", "b", "c"]
        for key, g in ph20k.groupby("channel"):
            km = KaplanMeierFitter().fit(g["duration_days"], g["churned"])
            assert table.loc[key, "spells"] == len(g) and table.loc[key, "events"] == g["churned"].sum()
            assert table.loc[key, "median_days"] == km.median_survival_time_
            for t in (7, 30, 90, 180):
                assert table.loc[key, f"s{t}"] == pytest.approx(float(km.survival_function_at_times(t).iloc[0]))
                ci = km.confidence_interval_survival_function_.loc[:t].iloc[-1]
                assert (table.loc[key, f"s{t}_low"], table.loc[key, f"s{t}_high"]) == pytest.approx(tuple(ci))

    def test_collapsed_rows_with_weights_give_the_same_table(self, ph20k):
        rows = collapse_spells(ph20k, ["channel"])
        assert rows["weight"].sum() == len(ph20k) and len(rows) < len(ph20k) / 5
        raw = kaplan_meier_table(ph20k, group_col="channel")
        weighted = kaplan_meier_table(rows, group_col="channel", weights_col="weight")
        pd.testing.assert_frame_equal(raw.astype({"spells": float}), weighted.astype({"spells": float}),
                                      check_exact=False, rtol=1e-9)

    def test_curves_and_plot(self, ph20k):
        curves = kaplan_meier_curves(ph20k, group_col="tool", max_days=180)
        assert set(curves.columns) >= {"group", "day", "survival", "ci_low", "ci_high"}
        assert curves["day"].max() <= 180 and set(curves["group"]) == {0, 1}
        for _, g in curves.groupby("group"):
            assert g["survival"].is_monotonic_decreasing and (g["ci_low"] <= g["survival"]).all()
        ax = plot_survival_curves(curves)
        assert len(ax.get_lines()) == 2

    def test_logrank_matches_lifelines(self, ph20k):
        ours = logrank_table(ph20k, "channel").iloc[0]
        ref = multivariate_logrank_test(ph20k["duration_days"], ph20k["channel"], ph20k["churned"])
        assert ours["test_statistic"] == pytest.approx(ref.test_statistic)
        assert ours["degrees_of_freedom"] == 2 and ours["p_value"] < 1e-10


class TestLandmark:
    def test_drops_spells_ended_before_the_landmark_and_shifts_time(self):
        d = pd.DataFrame({"duration_days": [3.0, 13.9, 14.0, 14.5, 40.0, 20.0],
                          "churned": [True, False, True, True, False, True], "entry_days": [0, 0, 0, 0, 20.0, 5.0]})
        lm = landmark(d, 14, entry_col="entry_days")
        # 3 and 13.9 ended (or left observation) before day 14; 14.0 ended at the landmark itself
        assert lm["duration_days"].tolist() == pytest.approx([0.5, 26.0, 6.0])
        assert lm["churned"].tolist() == [True, False, True]
        assert lm["entry_days"].tolist() == pytest.approx([0.0, 6.0, 0.0])

    def test_landmark_removes_immortal_time_bias(self):
        # "chatted in the first 14 days" cannot happen to spells that ended on day 3; counting
        # them as non-chatters fakes a protective effect. The landmark fit recovers HR = 1.
        rng = np.random.default_rng(3)
        n = 20_000
        t = rng.exponential(200.0, n)
        chat_day = rng.exponential(10.0, n)
        chatted = (chat_day < np.minimum(t, 14)).astype(int)
        d = pd.DataFrame({"duration_days": np.minimum(t, 365.0), "churned": t < 365.0, "chatted": chatted})
        naive = fit_cox(d, numeric=["chatted"], check_ph=False).hazard_ratios.iloc[0]
        fair = fit_cox(landmark(d, 14), numeric=["chatted"], check_ph=False).hazard_ratios.iloc[0]
        assert naive["hr_high"] < 0.95
        assert abs(fair["coef"]) < Z999 * fair["se"]


@pytest.fixture(scope="module")
def ph_exact() -> pd.DataFrame:
    # exact (fractional-day) times: rounding up to whole days is interval censoring, which a
    # plain Weibull likelihood reads as exact times and answers with a shape biased upwards
    return weibull_ph(20_000, seed=13, whole_days=False)


class TestWeibullAFT:
    def test_returns_the_fitter_and_recovers_shape(self, ph_exact):
        m = fit_weibull_aft(ph_exact, categorical=["channel", "tool"], reference=REF)
        assert isinstance(m, SpellWeibullAFTFitter) and isinstance(m.model_, WeibullAFTFitter)
        rho = np.exp(m.params_.loc[("rho_", "Intercept")])
        rho_se = rho * m.standard_errors_.loc[("rho_", "Intercept")]
        assert abs(rho - SHAPE) < Z999 * rho_se
        # Weibull PH with log-HR b is Weibull AFT with coefficient -b / shape
        coef = m.params_.loc["lambda_"]
        for name, truth in LOG_HR.items():
            assert abs(coef[name] + truth / SHAPE) < Z999 * m.standard_errors_.loc[("lambda_", name)]

    def test_restricted_mean_lifetime(self, ph_exact):
        m = fit_weibull_aft(ph_exact, categorical=["channel", "tool"], reference=REF)
        x = pd.DataFrame({c: [0.0, 0.0] for c in m.design_columns_})
        x.loc[1, "channel=c"] = 1.0
        horizon = 730.0
        life = expected_lifetime(m, x, horizon_days=horizon)
        # closed form for a Weibull: ∫0^h exp(-(t/λ)^ρ) dt = λ Γ(1 + 1/ρ) P(1/ρ, (h/λ)^ρ)
        rho = np.exp(m.params_.loc[("rho_", "Intercept")])
        lam = np.exp(m.params_.loc[("lambda_", "Intercept")] + x["channel=c"] * m.params_.loc[("lambda_", "channel=c")])
        exact = lam * special.gamma(1 + 1 / rho) * special.gammainc(1 / rho, (horizon / lam) ** rho)
        np.testing.assert_allclose(life, exact, rtol=2e-3)
        # and the truth for channel a, tool 0: λ = SCALE, ρ = SHAPE
        truth = SCALE * special.gamma(1 + 1 / SHAPE) * special.gammainc(1 / SHAPE, (horizon / SCALE) ** SHAPE)
        assert life[0] == pytest.approx(truth, rel=0.05) and life[1] < life[0] < horizon


class TestAtRisk:
    def test_risk_is_the_models_conditional_probability(self, ph20k, collapsed_fit):
        rel = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"], "channel": ["a", "b", "c", "a"],
                            "tool": [0, 1, 0, 1], "age_days": [10.0, 50.0, 100.0, 200.0], "store_id": "S1",
                            "value": [100.0, 50.0, 10.0, 0.0]})
        risk = deletion_risk(collapsed_fit, rel, horizon_days=30)
        # the same probability from lifelines fitted on the raw rows: 1 - S(t + h) / S(t)
        ref = lifelines_cox(one_hot(ph20k))
        x = one_hot(rel.assign(duration_days=0.0, churned=False)).drop(columns=["T", "E"])
        h0 = ref.baseline_cumulative_hazard_.iloc[:, 0]
        at = lambda t: h0[h0.index <= t].iloc[-1]  # noqa: E731  (step function)
        partial = ref.predict_partial_hazard(x).to_numpy()
        expected = [1 - np.exp(-(at(a + 30) - at(a)) * p) for a, p in zip(rel["age_days"], partial)]
        np.testing.assert_allclose(risk, expected, rtol=1e-5)

        ranked = at_risk_list(collapsed_fit, rel, "value", horizon_days=30, salt="s3cret")
        assert "customer_id" not in ranked.columns and ranked["rank"].tolist() == [1, 2, 3, 4]
        assert ranked["value_at_risk"].is_monotonic_decreasing
        np.testing.assert_allclose(ranked["value_at_risk"], ranked["risk"] * ranked["value"])
        assert set(ranked["customer_token"]) == set(mask_ids(rel["customer_id"], "s3cret"))
        counts = at_risk_counts_by(ranked, "store_id", risk_threshold=0.0)
        assert counts["open_relationships"].iloc[0] == 4 and counts["at_risk"].iloc[0] == 4
        assert counts["expected_deletions"].iloc[0] == pytest.approx(risk.sum())

    def test_mask_ids_are_stable_keyed_and_hide_the_id(self):
        ids = pd.Series(["wmABC123", "wmABC123", "wmXYZ"])
        a, b = mask_ids(ids, "one"), mask_ids(ids, "two")
        assert a.iloc[0] == a.iloc[1] != a.iloc[2] and a.iloc[0] != b.iloc[0]
        # 20 hex digits (80-bit keyed tokens; workbench.churn.risk.mask_ids documents the format)
        assert a.str.match(r"^C-[0-9a-f]{20}$").all() and not a.str.contains("ABC").any()


@pytest.fixture(scope="module")
def telecom(shared_datasets) -> pd.DataFrame:
    raw = pd.read_csv(shared_datasets / "telecom_churn.csv")
    assert len(raw) == 3333 and set(raw["churn"].astype(str)) == {"T", "F"}
    return pd.DataFrame({"duration_days": raw["accountlength"].astype(float), "churned": raw["churn"].eq("T"),
                         "intl_plan": raw["intlplan"].astype(str), "vmail_plan": raw["vmailplan"].astype(str)})


class TestTelecom:
    """3,333 subscribers: account length in days, churn T/F (real, public data)."""

    def test_kaplan_meier_median(self, telecom):
        row = kaplan_meier_table(telecom).iloc[0]
        km = KaplanMeierFitter().fit(telecom["duration_days"], telecom["churned"])
        assert row["events"] == 483 and row["median_days"] == km.median_survival_time_ == 201.0
        assert (row["median_low"], row["median_high"]) == (188.0, 224.0)
        by_plan = kaplan_meier_table(telecom, group_col="intl_plan").set_index("intl_plan")
        assert by_plan.loc["yes", "median_days"] == 136.0 < by_plan.loc["no", "median_days"] == 212.0

    def test_cox_with_plans(self, telecom):
        res = fit_cox(telecom, categorical=["intl_plan", "vmail_plan"],
                      reference={"intl_plan": "no", "vmail_plan": "no"})
        X = pd.DataFrame({"intl_plan=yes": telecom["intl_plan"].eq("yes").astype(float),
                          "vmail_plan=yes": telecom["vmail_plan"].eq("yes").astype(float),
                          "T": telecom["duration_days"], "E": telecom["churned"].astype(int)})
        ref = lifelines_cox(X)
        hr = res.hazard_ratios.set_index("covariate")
        np.testing.assert_allclose(hr["coef"], ref.params_.reindex(hr.index), atol=1e-6)
        np.testing.assert_allclose(hr["se"], ref.standard_errors_.reindex(hr.index), rtol=1e-5)
        # international-plan subscribers churn 3.6 times as fast; voice-mail subscribers half as fast
        assert hr.loc["intl_plan=yes", "hr"] == pytest.approx(3.564, abs=1e-3)
        assert hr.loc["vmail_plan=yes", "hr"] == pytest.approx(0.5205, abs=1e-4)
        assert (res.ph_test["p"] > 0.01).all()


class TestBadInput:
    def test_missing_columns_and_negative_durations(self):
        with pytest.raises(DataContractError, match="channel"):
            fit_cox(pd.DataFrame({"duration_days": [1.0], "churned": [True]}), categorical=["channel"])
        bad = pd.DataFrame({"duration_days": [5.0, -2.0], "churned": [True, True]})
        with pytest.raises(DataContractError, match="negative"):
            landmark(bad, 14)
