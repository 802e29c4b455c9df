"""Spells collapsed in the engine give the survival results of the replicated spells.

``spell_counts`` turns millions of customer–staff spells into a few thousand rows with a
``weight``; every consumer (Kaplan–Meier, log-rank, cohorts, Cox) must then reproduce the
result on the raw spells with durations rounded up to whole days — exactly, not roughly.
The at-risk scoring in the engine must equal the pandas scoring of the same model.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.churn import (at_risk_counts_by, at_risk_list, fit_cox, kaplan_meier_curves, kaplan_meier_table,
                             landmark, logrank_table)
from workbench.churn.cohorts import cohort_retention
from workbench.churn.risk import (at_risk_by, baseline_by_day, export_at_risk, partial_hazard_sql,
                                  relationship_risk)
from workbench.churn.spells import spell_columns, spell_counts, spell_covariates
from workbench.errors import ParameterError

COVARIATES = ["channel_group", "group_member", "bought_by_landmark", "uses_retention_tool"]


@pytest.fixture(scope="module")
def brand(large_brand):
    """The session's large simulated brand (tests/conftest.py) opened as of its truth date, with its spells."""
    b = large_brand
    at = b.truth["as_of"]
    wb = workbench.open(b.tables, as_of=at)
    raw = spell_covariates(wb, at)
    # whole days as spell_counts counts them: up for events and the censoring at as-of, down for spells
    # censored earlier by a transfer or a departure (not seen alive at the next whole day)
    early = raw["end_reason"].isin(["transferred", "staff_left"])
    daily = raw.assign(duration_days=np.where(early, np.floor(raw["duration_days"]), np.ceil(raw["duration_days"])))
    return wb, at, raw, daily


class TestSpellCounts:
    def test_weights_add_up_to_the_spells(self, brand):
        wb, at, raw, _ = brand
        rows = spell_counts(wb, at, by=["channel_group", "cohort"])
        assert rows["weight"].sum() == len(raw)
        assert len(rows) < len(raw) / 2
        per = rows.groupby("channel_group")["weight"].sum()
        assert per.to_dict() == raw.groupby("channel_group").size().to_dict()
        assert rows.loc[~rows["churned"], "weight"].sum() == (~raw["churned"]).sum()
        cohorts = pd.to_datetime(raw["start"]).dt.strftime("%Y-%m")
        assert rows.groupby("cohort")["weight"].sum().to_dict() == cohorts.value_counts().sort_index().to_dict()

    def test_kaplan_meier_equals_the_daily_spells(self, brand):
        wb, at, _, daily = brand
        rows = spell_counts(wb, at, by=["channel_group"])
        ours = kaplan_meier_table(rows, "channel_group", weights_col="weight").set_index("channel_group")
        ref = kaplan_meier_table(daily, "channel_group").set_index("channel_group")
        pd.testing.assert_frame_equal(ours, ref, check_dtype=False, rtol=1e-12)
        c1 = kaplan_meier_curves(rows, "channel_group", max_days=200, weights_col="weight")
        c0 = kaplan_meier_curves(daily, "channel_group", max_days=200)
        pd.testing.assert_frame_equal(c1, c0, check_dtype=False, rtol=1e-12)

    def test_daily_grain_is_close_to_exact_durations(self, brand):
        # the only difference to exact durations is the order of events and censoring within a day
        wb, at, raw, _ = brand
        ours = kaplan_meier_table(spell_counts(wb, at), weights_col="weight").iloc[0]
        exact = kaplan_meier_table(raw).iloc[0]
        tol = 2e-3
        for col in ("s7", "s30", "s90", "s180"):
            assert abs(ours[col] - exact[col]) < tol
        # The whole-day curve is the exact one moved by at most ``tol``, so its median (the first day it reaches
        # 0.5) lies between the days the exact curve reaches 0.5 + tol and 0.5 - tol; where the curve is flat
        # near 0.5 that window is wider than a day.
        from lifelines import KaplanMeierFitter

        curve = KaplanMeierFitter().fit(raw["duration_days"], raw["churned"]).survival_function_.iloc[:, 0]
        earliest, latest = curve[curve <= 0.5 + tol].index[0], curve[curve <= 0.5 - tol].index[0]
        assert np.floor(earliest) <= ours["median_days"] <= np.ceil(latest)
        assert earliest <= exact["median_days"] <= latest

    def test_logrank_equals_the_daily_spells(self, brand):
        wb, at, _, daily = brand
        rows = spell_counts(wb, at, by=["channel_group"])
        ours = logrank_table(rows, "channel_group", weights_col="weight").iloc[0]
        ref = logrank_table(daily, "channel_group").iloc[0]
        assert ours["test_statistic"] == pytest.approx(ref["test_statistic"], rel=1e-10)
        assert ours["degrees_of_freedom"] == ref["degrees_of_freedom"]

    def test_cohorts_equal_exact_durations(self, brand):
        # periods end on whole days, so rounding durations up to days changes no count
        wb, at, raw, _ = brand
        rows = spell_counts(wb, at, by=["cohort"])
        ours = cohort_retention(rows, at, start_col="cohort", weights_col="weight")
        pd.testing.assert_frame_equal(ours, cohort_retention(raw, at))

    def test_landmark_cox_equals_the_raw_daily_fit(self, brand):
        wb, at, _, daily = brand
        cats = ["channel_group", "group_member", "bought_by_landmark", "uses_retention_tool"]
        rows = landmark(spell_counts(wb, at, by=[*cats, "early_chats"]), 14)
        ours = fit_cox(rows, categorical=cats, numeric=["early_chats"], weights_col="weight", duration_resolution=1.0,
                       check_ph=False)
        ref = fit_cox(landmark(daily, 14), categorical=cats, numeric=["early_chats"], duration_resolution=1.0,
                      check_ph=False)
        assert ours.n_spells == ref.n_spells == (daily["duration_days"] > 14).sum()
        np.testing.assert_allclose(ours.hazard_ratios["coef"], ref.hazard_ratios["coef"], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(ours.hazard_ratios["se"], ref.hazard_ratios["se"], rtol=1e-7)

    def test_weighted_fit_checks_proportional_hazards_on_drawn_spells(self, brand):
        wb, at, _, _ = brand
        rows = spell_counts(wb, at, by=["channel_group"])
        res = fit_cox(rows, categorical=["channel_group"], weights_col="weight")
        assert res.ph_test is not None and res.ph_test["p"].between(0, 1).all()

    def test_unknown_column_is_named(self, brand):
        wb, at, _, _ = brand
        with pytest.raises(ParameterError, match="'favourite_colour'.*channel_group"):
            spell_counts(wb, at, by=["favourite_colour"])
        with pytest.raises(ParameterError, match="duration_resolution"):
            spell_counts(wb, at, duration_resolution=0)
        assert "cohort" in spell_columns(wb, at)

    def test_a_new_as_of_rebuilds_the_spell_table(self, brand):
        wb, at, raw, _ = brand
        earlier = pd.Timestamp(at) - pd.Timedelta(days=60)
        n_earlier = spell_counts(wb, earlier)["weight"].sum()
        assert n_earlier == len(spell_covariates(wb, earlier)) < len(raw)
        assert spell_counts(wb, at)["weight"].sum() == len(raw)


@pytest.fixture(scope="module")
def reference(brand):
    """The per-relationship pandas path: raw spells, the same model, at_risk_list."""
    wb, at, raw, daily = brand
    cox = fit_cox(daily, categorical=COVARIATES, check_ph=False, duration_resolution=1.0)
    values = wb.query(f"""SELECT customer_id, SUM(amount - COALESCE(refunded_amount, 0)) AS value FROM orders
                          WHERE customer_id IS NOT NULL AND order_time >= TIMESTAMP
                          '{pd.Timestamp(at) - pd.Timedelta(days=365)}' AND order_time < TIMESTAMP
                          '{pd.Timestamp(at)}' GROUP BY customer_id""")
    open_now = (raw[raw["end_reason"] == "censored"].assign(age_days=lambda d: d["duration_days"])
                .merge(values, on="customer_id", how="left").fillna({"value": 0.0}))
    return cox, at_risk_list(cox, open_now, "value", horizon_days=30, id_cols=())


class TestRelationshipRisk:
    def test_engine_scores_equal_the_pandas_scores(self, brand, reference):
        wb, at, _, _ = brand
        cox_ref, ref = reference
        ranked, cox = relationship_risk(wb, at, horizon_days=30, value="gmv")
        np.testing.assert_allclose(cox.hazard_ratios["coef"], cox_ref.hazard_ratios["coef"], rtol=1e-9, atol=1e-12)
        assert len(ranked) == len(ref) and ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
        both = ranked.merge(ref, on=["customer_id", "staff_id"], suffixes=("", "_ref"))
        assert len(both) == len(ref)
        np.testing.assert_allclose(both["risk"], both["risk_ref"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(both["value_at_risk"], both["value_at_risk_ref"], rtol=1e-9, atol=1e-9)
        assert ranked["value_at_risk"].is_monotonic_decreasing and ranked["risk"].between(0, 1).all()

    def test_counts_by_store_equal_the_ranked_list(self, brand, reference):
        wb, at, _, _ = brand
        _, ref = reference
        ours = at_risk_by(wb, at, "store_id", horizon_days=30, risk_threshold=0.05, value="gmv").set_index("store_id")
        expected = at_risk_counts_by(ref, "store_id", risk_threshold=0.05).set_index("store_id").loc[ours.index]
        assert ours["open_relationships"].tolist() == expected["open_relationships"].tolist()
        assert ours["at_risk"].tolist() == expected["at_risk"].tolist()
        np.testing.assert_allclose(ours["expected_deletions"], expected["expected_deletions"], rtol=1e-9)
        np.testing.assert_allclose(ours["value_at_risk"], expected["value_at_risk"], rtol=1e-9)

    def test_clv_value_and_top(self, brand):
        wb, at, _, _ = brand
        top, _ = relationship_risk(wb, at, value="clv", top=25)
        assert len(top) == 25 and (top["value"] >= 0).all() and top["value"].gt(0).any()
        with pytest.raises(ParameterError, match="value"):
            relationship_risk(wb, at, value="margin")
        with pytest.raises(ParameterError, match="at_risk_by groups by"):
            at_risk_by(wb, at, by="customer_id")

    def test_export_writes_the_ranked_list(self, brand, tmp_path):
        wb, at, _, _ = brand
        path = export_at_risk(wb, at, tmp_path / "at_risk.csv", top=10, value="gmv")
        df = pd.read_csv(path)
        assert len(df) == 10 and df["value_at_risk"].is_monotonic_decreasing


def test_negative_weights_are_named():
    from workbench.errors import DataContractError

    rows = pd.DataFrame({"duration_days": [3.0, 5.0], "churned": [True, False], "weight": [4, -1]})
    with pytest.raises(DataContractError, match="weight.*negative"):
        kaplan_meier_table(rows, weights_col="weight")
    with pytest.raises(DataContractError, match="weight.*negative"):
        fit_cox(rows, weights_col="weight", check_ph=False)


def test_negative_covariates_are_data_not_errors():
    # only durations, entry times and weights must be non-negative; a centred covariate is not
    rng = np.random.default_rng(4)
    x = rng.normal(size=500)
    rows = pd.DataFrame({"duration_days": np.ceil(rng.exponential(30 / np.exp(0.5 * x))), "churned": True, "x": x})
    res = fit_cox(rows, numeric=["x"], check_ph=False)
    assert 0.3 < res.hazard_ratios["coef"].iloc[0] < 0.7


class TestPartialHazardSql:
    def test_matches_the_design_matrix_including_missing_levels(self):
        rng = np.random.default_rng(1)
        n = 4000
        frame = pd.DataFrame({"channel": rng.choice(["ads", "store", "mall", None], n, p=[0.3, 0.4, 0.2, 0.1]),
                              "member": rng.integers(0, 2, n), "chats": rng.poisson(2, n)})
        lp = 0.5 * (frame["channel"] == "ads") - 0.4 * frame["member"] - 0.1 * frame["chats"]
        frame["duration_days"] = np.ceil(rng.exponential(50 / np.exp(lp)))
        frame["churned"] = rng.random(n) < 0.8
        cox = fit_cox(frame, categorical=["channel", "member"], numeric=["chats"], check_ph=False)
        con = duckdb.connect()
        con.register("f", frame)
        ours = con.execute(f"SELECT {partial_hazard_sql(cox)} FROM f").fetchnumpy()
        from workbench.churn.survival import design_matrix

        X, _ = design_matrix(frame, ["channel", "member"], ["chats"], cox.reference_)
        expected = cox.model.predict_partial_hazard(X.reindex(columns=cox.covariates, fill_value=0.0))
        np.testing.assert_allclose(next(iter(ours.values())), np.asarray(expected).ravel(), rtol=1e-12)

    def test_baseline_needs_whole_days(self):
        frame = pd.DataFrame({"duration_days": [1.5, 2.25, 3.0, 4.5], "churned": [1, 1, 0, 1], "g": list("abab")})
        cox = fit_cox(frame, categorical=["g"], check_ph=False)
        with pytest.raises(ParameterError, match="whole days"):
            baseline_by_day(cox, 10)
        daily = fit_cox(frame, categorical=["g"], check_ph=False, duration_resolution=1.0)
        base = baseline_by_day(daily, 6)
        assert base["day"].tolist() == list(range(7)) and base["h0"].is_monotonic_increasing and base["h0"].iloc[0] == 0
