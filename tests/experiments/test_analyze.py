"""The analyze entry points: per-unit frames, sufficient statistics (DuckDB), segments,
validation errors, the Hillstrom e-mail test and the simulated brand's experiments."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from workbench import DataContractError, ParameterError
from workbench.experiments import (
    RESULT_COLUMNS,
    AnalysisOptions,
    ClusteredStatistic,
    ExperimentResult,
    SampleMeanStatistic,
    SRMResult,
    analyze,
    analyze_statistics,
    capping_thresholds,
    cluster_test,
    segment_breakdown,
    sufficient_statistics,
    welch_ttest,
    winsorize,
)

METRICS = ["converted", "gmv", {"aov": ("gmv", "orders")}]


def task_test_frame(seed=0, n=3000, variants=("control", "script_a", "script_b"), lift=(0.0, 0.02, 0.0)):
    """Customers of a three-arm WeCom task test: orders, GMV, conversion, pre-period GMV."""
    rng = np.random.default_rng(seed)
    variant = np.array(variants)[rng.integers(0, len(variants), n)]
    lifts = dict(zip(variants, lift))
    p = 0.10 + np.vectorize(lifts.get)(variant)
    pre = rng.gamma(1.0, 80.0, n) * (rng.random(n) < 0.4)
    orders = rng.binomial(3, p) * (1 + (pre > 100))
    gmv = orders * rng.gamma(4.0, 30.0, n) + 0.2 * pre * (orders > 0)
    return pd.DataFrame({"unit_id": [f"C{i:05d}" for i in range(n)], "variant": variant, "orders": orders,
                         "gmv": gmv, "converted": (orders > 0).astype(int), "pre_gmv": pre,
                         "store": rng.integers(0, 40, n)})


class TestAnalyzeFrame:
    def test_columns_methods_and_values(self):
        df = task_test_frame()
        result = analyze(df, "variant", METRICS, control="control", covariates={"gmv": "pre_gmv"}, unit_col="unit_id")
        res = result.table
        assert list(res.columns) == RESULT_COLUMNS
        assert len(res) == 3 * 2
        assert dict(zip(res.metric, res.method)) == {"converted": "z_proportion", "gmv": "cuped", "aov": "delta_ratio"}
        c, a = df[df.variant == "control"], df[df.variant == "script_a"]
        row = res.set_index(["metric", "variant"]).loc[("converted", "script_a")]
        assert row["abs_effect"] == pytest.approx(a.converted.mean() - c.converted.mean(), abs=1e-12)
        assert row["p_value"] == pytest.approx(proportions_ztest([a.converted.sum(), c.converted.sum()],
                                                                  [len(a), len(c)])[1], abs=1e-10)
        aov = res.set_index(["metric", "variant"]).loc[("aov", "script_a")]
        assert aov["mean"] == pytest.approx(a.gmv.sum() / a.orders.sum(), rel=1e-12)
        assert aov["control_n"] == len(c) and aov["n"] == len(a)
        assert isinstance(result.srm, SRMResult) and not result.srm.flagged
        assert result.caps == {} and not res.attrs  # side results are fields, never DataFrame.attrs

    def test_welch_matches_scipy_through_analyze(self):
        df = task_test_frame(seed=1)
        res = analyze(df, "variant", ["gmv"], control="control", correction=None).table
        for v in ("script_a", "script_b"):
            ref = sps.ttest_ind(df.loc[df.variant == v, "gmv"], df.loc[df.variant == "control", "gmv"],
                                equal_var=False)
            assert res.set_index("variant").loc[v, "p_value"] == pytest.approx(ref.pvalue, abs=1e-8)

    def test_holm_within_metric_and_all(self):
        df = task_test_frame(seed=2)
        per_metric = analyze(df, "variant", ["gmv", "orders"], "control", correction="holm").table
        for _, g in per_metric.groupby("metric"):
            np.testing.assert_allclose(g.p_value_adjusted, multipletests(g.p_value, method="holm")[1], atol=1e-12)
        everything = analyze(df, "variant", ["gmv", "orders"], "control", correction="bh",
                             correction_scope="all").table
        np.testing.assert_allclose(everything.p_value_adjusted, multipletests(everything.p_value, method="fdr_bh")[1],
                                   atol=1e-12)
        assert (everything.significant == (everything.p_value_adjusted < 0.05)).all()

    def test_sequential_is_wider_and_more_conservative(self):
        df = task_test_frame(seed=3)
        fixed = analyze(df, "variant", ["gmv"], "control", correction=None).table
        seq = analyze(df, "variant", ["gmv"], "control", correction=None, sequential=True).table
        assert (seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low).all()
        assert (seq.p_value >= fixed.p_value).all()
        assert seq.method.str.endswith("+always_valid").all()

    def test_capping_equals_analysis_of_winsorised_frame(self):
        df = task_test_frame(seed=4)
        capped = analyze(df, "variant", ["gmv", "converted"], "control", cap_quantile=0.95)
        manual = analyze(winsorize(df, ["gmv"], upper=0.95), "variant", ["gmv", "converted"], "control")
        pd.testing.assert_frame_equal(capped.table, manual.table)
        assert capped.caps["gmv"][1] == pytest.approx(df.gmv.quantile(0.95))
        assert "converted" not in capped.caps  # 0/1 columns are never capped
        assert capped.caps == capping_thresholds(df, ["gmv"], upper=0.95)

    def test_cluster_design(self):
        df = task_test_frame(seed=5)
        df["variant"] = np.where(df.store % 2 == 0, "control", "script_a")  # randomised by store
        result = analyze(df, "variant", ["gmv", ("gmv", "orders")], "control", cluster_col="store")
        res = result.table
        gmv = res.set_index("metric").loc["gmv"]
        assert gmv["method"] == "cluster_cr2" and gmv["n_clusters"] == 20 and gmv["control_n_clusters"] == 20
        assert 30 < gmv["dof"] <= 38 + 1e-9   # CR2 Satterthwaite: G − 2 at most, less for unequal stores
        c = df[df.variant == "control"]
        t = df[df.variant == "script_a"]
        direct = cluster_test(ClusteredStatistic.from_values(c.gmv, c.store),
                              ClusteredStatistic.from_values(t.gmv, t.store))
        assert gmv["p_value"] == pytest.approx(direct.p_value, abs=1e-12)
        assert gmv["icc"] == pytest.approx(direct.icc, abs=1e-12)
        assert gmv["design_effect"] == pytest.approx(1 + (len(df) / 40 - 1) * direct.icc, rel=1e-12)
        assert res.set_index("metric").loc["gmv/orders", "method"] == "cluster_delta_ratio"
        assert result.srm.unit == "clusters" and result.srm.observed == {"control": 20, "script_a": 20}


class TestOptions:
    def test_keyword_arguments_build_the_options(self):
        df = task_test_frame(seed=10)
        opts = AnalysisOptions(alpha=0.1, correction="bh", cap_quantile=0.99)
        by_options = analyze(df, "variant", ["gmv"], "control", options=opts)
        by_keywords = analyze(df, "variant", ["gmv"], "control", alpha=0.1, correction="bh", cap_quantile=0.99)
        assert isinstance(by_options, ExperimentResult) and by_options.options == by_keywords.options == opts
        pd.testing.assert_frame_equal(by_options.table, by_keywords.table)
        # keywords replace single fields of given options
        assert analyze(df, "variant", ["gmv"], "control", options=opts, alpha=0.05).options.alpha == 0.05

    def test_bad_options(self):
        with pytest.raises(ParameterError, match="alpha"):
            AnalysisOptions(alpha=1.5)
        with pytest.raises(ParameterError, match="unknown correction"):
            AnalysisOptions(correction="sidak")
        with pytest.raises(TypeError, match="alhpa"):
            analyze(task_test_frame(), "variant", ["gmv"], "control", alhpa=0.1)


class TestAnalyzeStatistics:
    def test_duckdb_group_by_equals_per_unit_path(self):
        df = task_test_frame(seed=6)
        con = duckdb.connect()
        con.register("units", df)
        # one GROUP BY, column names as the engine's experiment_statistics writes them
        sums = con.execute("""
            SELECT variant, COUNT(*) AS n,
                   SUM(gmv) AS gmv_sum, SUM(gmv * gmv) AS gmv_sum_squares,
                   SUM(orders) AS orders_sum, SUM(orders * orders) AS orders_sum_squares,
                   SUM(converted) AS converted_sum, SUM(converted * converted) AS converted_sum_squares,
                   SUM(pre_gmv) AS pre_gmv_sum, SUM(pre_gmv * pre_gmv) AS pre_gmv_sum_squares,
                   SUM(gmv * orders) AS gmv_orders_sum, SUM(gmv * pre_gmv) AS gmv_pre_gmv_sum
            FROM units GROUP BY variant ORDER BY variant""").df()
        from_sums = analyze_statistics(sums, "control", metrics=METRICS, covariates={"gmv": "pre_gmv"}).table
        from_units = analyze(df, "variant", METRICS, "control", covariates={"gmv": "pre_gmv"}).table
        num = [c for c in RESULT_COLUMNS if c not in ("metric", "variant", "method", "significant")]
        np.testing.assert_allclose(from_sums[num].to_numpy(float), from_units[num].to_numpy(float), rtol=1e-9)
        assert (from_sums.method == from_units.method).all()  # converted detected as a proportion from its sums

    def test_relative_effect_undefined_against_zero_control(self):
        from workbench.experiments import ProportionStatistic

        stats = {"control": {"redeemed": ProportionStatistic(500, 0)},
                 "coupon": {"redeemed": ProportionStatistic(500, 12)}}
        row = analyze_statistics(stats, "control").table.iloc[0]
        assert row["abs_effect"] == pytest.approx(0.024)
        assert np.isnan(row["rel_effect"]) and np.isnan(row["rel_ci_low"])

    def test_impossible_sums_of_squares_are_refused(self):
        """Σx² < (Σx)²/n has no real data behind it (Cauchy–Schwarz; issue 19).

        Control gmv: n = 1000, Σ = 50,000 so (Σ)²/n = 2,500,000; Σx² = 2,000,000 is impossible. The
        old code clamped that variance to 0 and reported a confident effect.
        """
        from workbench.experiments import RatioStatistic

        good = SampleMeanStatistic(1000, 55_000.0, 5_600_000.0)
        stats = {"control": {"gmv": SampleMeanStatistic(1000, 50_000.0, 2_000_000.0)}, "script_a": {"gmv": good}}
        with pytest.raises(DataContractError, match=r"'control', metric 'gmv': sum_squares is smaller than sum"):
            analyze_statistics(stats, "control")
        with pytest.raises(ParameterError, match="control arm: sum_squares"):
            welch_ttest(stats["control"]["gmv"], good)
        # a ratio metric's denominator (orders) in the treatment arm: Σd = 300, (Σd)²/n = 90, Σd² = 80
        ok_ratio = RatioStatistic(1000, 50_000.0, 5_000_000.0, 300.0, 400.0, 20_000.0)
        bad_ratio = RatioStatistic(1000, 50_000.0, 5_000_000.0, 300.0, 80.0, 20_000.0)
        with pytest.raises(DataContractError, match=r"'script_a', metric 'aov': d_sum_squares"):
            analyze_statistics({"control": {"aov": ok_ratio}, "script_a": {"aov": bad_ratio}}, "control")

    def test_round_off_in_sums_of_squares_is_tolerated(self):
        # A constant arm whose Σx² an engine computed a hair under (Σx)²/n (relative 1e-12 < 1e-9).
        const = SampleMeanStatistic(1000, 50_000.0, 2_500_000.0 * (1 - 1e-12))
        res = welch_ttest(const, SampleMeanStatistic(1000, 55_000.0, 5_600_000.0))
        assert np.isfinite(res.p_value)

    def test_dict_of_statistics_and_cluster_frames(self):
        stats = {"control": {"gmv": SampleMeanStatistic(1000, 50_000.0, 5_000_000.0)},
                 "treatment": {"gmv": SampleMeanStatistic(1000, 55_000.0, 5_600_000.0)}}
        res = analyze_statistics(stats, "control", expected_weights={"control": 1, "treatment": 1}).table
        direct = welch_ttest(stats["control"]["gmv"], stats["treatment"]["gmv"])
        assert res.loc[0, "p_value"] == pytest.approx(direct.p_value, abs=1e-15)
        df = task_test_frame(seed=7)
        df["variant"] = np.where(df.store < 20, "control", "script_a")
        per_cluster = sufficient_statistics(df, "variant", ["gmv"], cluster_col="store")
        assert len(per_cluster) == 40
        a = analyze_statistics(per_cluster, "control", metrics=["gmv"], cluster_col="store")
        b = analyze(df, "variant", ["gmv"], "control", cluster_col="store")
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a.srm == b.srm


class TestSegmentBreakdown:
    def test_per_segment_results_and_correction_across_segments(self):
        df = task_test_frame(seed=8)
        df["region"] = np.where(df.store < 20, "east", "west")
        breakdown = segment_breakdown(df, "region", "variant", ["gmv", "converted"], "control")
        out = breakdown.table
        assert list(out.columns) == ["segment"] + RESULT_COLUMNS and len(out) == 2 * 2 * 2
        east = analyze(df[df.region == "east"], "variant", ["gmv", "converted"], "control", correction=None).table
        got = out[out.segment == "east"].reset_index(drop=True)
        np.testing.assert_allclose(got.p_value, east.p_value, atol=1e-15)
        for _, g in out.groupby("metric"):  # one family per metric across segments and variants
            np.testing.assert_allclose(g.p_value_adjusted, multipletests(g.p_value, method="holm")[1], atol=1e-12)
        assert set(breakdown.srm) == {"east", "west"} and breakdown.skipped == {}

    def test_skip_segments_that_cannot_be_analysed(self):
        df = task_test_frame(seed=9)
        df["region"] = "north"
        df.loc[df.index[:60], "region"] = "tiny"
        df.loc[df.region == "tiny", ["gmv"]] = 0.0  # constant within the segment
        with pytest.raises(DataContractError, match="zero variance"):
            segment_breakdown(df, "region", "variant", ["gmv"], "control")
        out = segment_breakdown(df, "region", "variant", ["gmv"], "control", on_error="skip")
        assert set(out.table.segment) == {"north"} and "tiny" in out.skipped and set(out.srm) == {"north"}


class TestValidationErrors:
    def test_unknown_control(self):
        with pytest.raises(ParameterError, match="unknown control variant 'holdout'"):
            analyze(task_test_frame(), "variant", ["gmv"], control="holdout")

    def test_variant_with_zero_units(self):
        df = task_test_frame()
        with pytest.raises(DataContractError, match=r"\['script_c'\] have 0 units"):
            analyze(df, "variant", ["gmv"], "control",
                    expected_weights={"control": 1, "script_a": 1, "script_b": 1, "script_c": 1})
        df["variant"] = pd.Categorical(df["variant"], categories=["control", "script_a", "script_b", "script_d"])
        with pytest.raises(DataContractError, match="script_d"):
            analyze(df, "variant", ["gmv"], "control")
        stats = {"control": {"gmv": SampleMeanStatistic(100, 50.0, 80.0)}, "t": {"gmv": SampleMeanStatistic(0, 0, 0)}}
        with pytest.raises(DataContractError, match="'t' has 0 units"):
            analyze_statistics(stats, "control")

    def test_zero_variance_in_both_arms(self):
        df = task_test_frame()
        df["flat"] = 5.0
        with pytest.raises(DataContractError, match="column 'flat'.*zero variance") as err:
            analyze(df, "variant", ["flat"], "control")
        assert err.value.rows is not None and len(err.value.rows)
        stats = {"c": {"m": SampleMeanStatistic(10, 10.0, 10.0)}, "t": {"m": SampleMeanStatistic(10, 20.0, 40.0)}}
        with pytest.raises(DataContractError, match="zero variance"):
            analyze_statistics(stats, "c")

    def test_nan_metric_values(self):
        df = task_test_frame()
        df.loc[[5, 17], "gmv"] = np.nan
        with pytest.raises(DataContractError, match="column 'gmv'.*missing") as err:
            analyze(df, "variant", ["gmv"], "control")
        assert err.value.n_bad == 2 and list(err.value.rows.index) == [5, 17]

    def test_duplicated_unit_ids(self):
        df = task_test_frame()
        df.loc[10, "unit_id"] = df.loc[3, "unit_id"]
        with pytest.raises(DataContractError, match="column 'unit_id'.*duplicated") as err:
            analyze(df, "variant", ["gmv"], "control", unit_col="unit_id")
        assert set(err.value.rows["unit_id"]) == {"C00003"}

    def test_cluster_in_two_variants(self):
        df = task_test_frame()  # customers randomised individually: every store has several variants
        with pytest.raises(DataContractError, match="column 'store'.*more than one variant") as err:
            analyze(df, "variant", ["gmv"], "control", cluster_col="store")
        assert err.value.n_bad == 40

    def test_other_bad_inputs(self):
        df = task_test_frame()
        with pytest.raises(DataContractError, match="column 'revenue'.*missing"):
            analyze(df, "variant", ["revenue"], "control")
        with pytest.raises(ParameterError, match="covariate given for unknown metric"):
            analyze(df, "variant", ["gmv"], "control", covariates={"orders": "pre_gmv"})
        with pytest.raises(ParameterError, match="correction_scope"):
            analyze(df, "variant", ["gmv"], "control", correction_scope="segment")
        with pytest.raises(DataContractError, match="numeric"):
            analyze(df, "variant", ["unit_id"], "control")
        df["gmv_orders"] = df["gmv"] * 2  # its sum column would collide with the gmv x orders cross sum
        with pytest.raises(ParameterError, match="clash"):
            analyze(df, "variant", ["gmv_orders", ("gmv", "orders")], "control")


@pytest.fixture(scope="module")
def hillstrom(shared_datasets):
    df = pd.read_csv(shared_datasets / "hillstrom.csv")
    assert {"segment", "visit", "conversion", "spend", "history"} <= set(df.columns)
    assert set(df.segment) == {"Mens E-Mail", "Womens E-Mail", "No E-Mail"}
    return df


class TestHillstrom:
    def test_email_lifts(self, hillstrom):
        result = analyze(hillstrom, "segment", ["visit", "conversion", "spend"], control="No E-Mail")
        res = result.table.set_index(["metric", "variant"])
        row = res.loc[("visit", "Womens E-Mail")]
        g = hillstrom.groupby("segment")["visit"].mean()
        assert row["abs_effect"] == pytest.approx(g["Womens E-Mail"] - g["No E-Mail"], abs=1e-12)
        assert row["abs_effect"] > 0 and row["p_value_adjusted"] < 1e-10 and row["ci_low"] > 0
        assert row["abs_effect"] == pytest.approx(0.0452, abs=5e-4)  # 15.1% vs 10.6% visited
        assert res.loc[("visit", "Mens E-Mail"), "rel_effect"] > row["rel_effect"] > 0.3
        assert not result.srm.flagged

    def test_cuped_with_history_narrows_spend_interval(self, hillstrom):
        plain = analyze(hillstrom, "segment", ["spend"], control="No E-Mail").table.set_index("variant")
        cuped = analyze(hillstrom, "segment", ["spend"], control="No E-Mail",
                        covariates={"spend": "history"}).table.set_index("variant")
        for v in ("Mens E-Mail", "Womens E-Mail"):
            assert cuped.loc[v, "ci_high"] - cuped.loc[v, "ci_low"] < plain.loc[v, "ci_high"] - plain.loc[v, "ci_low"]
            assert cuped.loc[v, "variance_reduction"] > 0
            assert cuped.loc[v, "abs_effect"] == pytest.approx(plain.loc[v, "abs_effect"], abs=0.01)


@pytest.fixture(scope="module")
def brand():
    import workbench
    from workbench.simulate import simulate_brand

    sim = simulate_brand(20_000, seed=3)
    return workbench.open(sim.tables), sim.truth["experiments"]


class TestEngineFrames:
    """The engine's experiment_frame / experiment_statistics feed these functions unchanged."""

    def test_frame_and_statistics_paths_agree(self, brand):
        from workbench.experiments import experiment_frame, experiment_statistics

        wb, truth = brand
        days = truth["EXP_CUST"]["window_days"]
        metrics = ["gmv", "orders", "converted", {"aov": ("gmv", "orders")}]
        frame = experiment_frame(wb, "EXP_CUST", window_days=days)
        a = analyze(frame, "variant", metrics, "control", covariates={"gmv": "pre_gmv"}, unit_col="unit_id").table
        b = analyze_statistics(experiment_statistics(wb, "EXP_CUST", window_days=days), "control", metrics=metrics,
                               covariates={"gmv": "pre_gmv"}).table
        num = [c for c in RESULT_COLUMNS if c not in ("metric", "variant", "method", "significant")]
        np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), rtol=1e-9)

    def test_simulated_lifts_within_intervals(self, brand):
        from workbench.experiments import experiment_frame

        wb, truth = brand
        for exp, cluster in (("EXP_CUST", None), ("EXP_STORE", "cluster_id")):
            frame = experiment_frame(wb, exp, window_days=truth[exp]["window_days"])
            res = analyze(frame, "variant", ["gmv", "orders"], "control", cluster_col=cluster).table.set_index("metric")
            # one draw per experiment: each 95% interval covers its true lift (seeded, deterministic)
            for metric, key in (("gmv", "gmv_per_unit"), ("orders", "orders_per_unit")):
                lift = truth[exp]["true_abs_lift"][key]
                assert res.loc[metric, "ci_low"] <= lift <= res.loc[metric, "ci_high"], (exp, metric)
            if cluster:
                assert res.loc["gmv", "method"] == "cluster_cr2" and res.loc["gmv", "design_effect"] > 1
