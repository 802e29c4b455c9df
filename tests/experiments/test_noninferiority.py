"""One-sided and non-inferiority tests, the ship rule, and adjusted intervals.

Reference values come from Spotify's confidence 4.1.0 (``spotify_confidence.ZTest.difference``
with ``non_inferiority_margins`` and ``multiple_difference`` with ``correction_method``), run
once in a throw-away environment on the inputs written in each test; Spotify's z test uses the
unpooled standard error and a relative margin on the control mean, as ours does.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from workbench import ParameterError
from workbench.experiments.multiple import adjust_pvalues, adjusted_intervals, interval_alpha
from workbench.experiments.noninferiority import (
    margin_null,
    non_inferiority_test,
    one_sided,
    ship_decision,
)
from workbench.experiments.stats import ProportionStatistic, SampleMeanStatistic


class TestSpotifyNonInferiority:
    def test_binary_increase_preferred(self):
        # ZTest(success=[500, 490], total=[1000, 1000]).difference("control", "test",
        #       non_inferiority_margins=(0.05, "increase"))
        r = non_inferiority_test(ProportionStatistic(1000, 500), ProportionStatistic(1000, 490), 0.05,
                                 preference="increase")
        assert r.effect == pytest.approx(-0.01, abs=1e-12)
        assert r.null_value == pytest.approx(-0.025, abs=1e-12)
        assert r.ci_low == pytest.approx(-0.046776367041, abs=1e-9) and r.ci_high == np.inf
        assert r.p_value == pytest.approx(0.251146104675, abs=1e-9)
        assert not r.rejected

    def test_binary_decrease_preferred(self):
        r = non_inferiority_test(ProportionStatistic(1000, 500), ProportionStatistic(1000, 490), 0.05,
                                 preference="decrease")
        assert r.null_value == pytest.approx(0.025, abs=1e-12)
        assert r.ci_low == -np.inf and r.ci_high == pytest.approx(0.026776367041, abs=1e-9)
        assert r.p_value == pytest.approx(0.058744090037, abs=1e-9)

    def test_continuous_increase_preferred(self):
        # ZTest(s=[5000, 5150], ss=[30000, 31500], n=[1000, 1000]), margin (0.02, "increase"):
        # Spotify's z reference, i.e. infinite degrees of freedom
        c, t = SampleMeanStatistic(1000, 5000.0, 30000.0), SampleMeanStatistic(1000, 5150.0, 31500.0)
        se = np.sqrt(c.mean_variance + t.mean_variance)
        null = margin_null(c.mean, 0.02)
        r = one_sided(t.mean - c.mean, se, np.inf, "greater", null)
        assert null == pytest.approx(-0.1, abs=1e-12)
        assert r.ci_low == pytest.approx(-0.014382424227, abs=1e-9)
        assert r.p_value == pytest.approx(0.006182277828, abs=1e-9) and r.rejected
        two = one_sided(t.mean - c.mean, se, np.inf, "two-sided")
        assert (two.ci_low, two.ci_high) == pytest.approx((-0.045873739703, 0.345873739703), abs=1e-9)
        assert two.p_value == pytest.approx(0.133371256965, abs=1e-9)

    def test_bonferroni_intervals_three_arms(self):
        # multiple_difference(level="control", correction_method="bonferroni"), success [500, 530, 470, 560] / 1000
        c = ProportionStatistic(1000, 500)
        arms = [ProportionStatistic(1000, s) for s in (530, 470, 560)]
        effect = np.array([float(a.mean - c.mean) for a in arms])
        se = np.array([np.sqrt(float(a.mean_variance + c.mean_variance)) for a in arms])
        lo, hi = adjusted_intervals(effect, se, np.inf, 0.05, 3, "bonferroni")
        np.testing.assert_allclose(lo, [-0.023482816078, -0.083482816078, 0.006662044100], atol=1e-9)
        np.testing.assert_allclose(hi, [0.083482816078, 0.023482816078, 0.113337955900], atol=1e-9)
        p = one_sided(effect, se, np.inf, "two-sided").p_value
        np.testing.assert_allclose(p, [0.179320583152, 0.179320583152, 0.007081357212], atol=1e-9)
        np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.537961749455, 0.537961749455, 0.021244071636],
                                   atol=1e-9)
        np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.358641166303, 0.358641166303, 0.021244071636],
                                   atol=1e-9)
        np.testing.assert_allclose(adjust_pvalues(p, "sidak"), [0.447260344466, 0.447260344466, 0.021093989875],
                                   atol=1e-9)


class TestOneSided:
    def test_interval_and_p_agree(self):
        rng = np.random.default_rng(3)
        d, s = rng.normal(0, 1, 500), rng.uniform(0.2, 1, 500)
        for alt in ("greater", "less", "two-sided"):
            r = one_sided(d, s, 30.0, alt, null=0.3)
            excludes = (r.ci_low > 0.3) | (r.ci_high < 0.3)
            np.testing.assert_array_equal(r.p_value < 0.05, excludes)

    def test_matches_scipy_one_sample_t(self):
        x = np.array([0.3, 1.2, -0.4, 2.2, 0.9, 1.4, 0.1])
        res = sps.ttest_1samp(x, 0.2, alternative="greater")
        r = one_sided(x.mean(), x.std(ddof=1) / np.sqrt(x.size), x.size - 1, "greater", 0.2)
        assert r.p_value == pytest.approx(res.pvalue, abs=1e-12)

    def test_bad_arguments(self):
        with pytest.raises(ParameterError, match="alternative"):
            one_sided(1.0, 1.0, alternative="larger")
        with pytest.raises(ParameterError, match="margin"):
            margin_null(1.0, -0.1)
        with pytest.raises(ParameterError, match="preference"):
            margin_null(1.0, 0.1, preference="up")


class TestShipRule:
    def test_rule(self):
        assert ship_decision({"gmv": True, "orders": False}, {"deletes": True}).ship
        assert not ship_decision({"gmv": False}, {"deletes": True}).ship
        d = ship_decision({"gmv": True}, {"deletes": False, "unsubscribes": True})
        assert not d.ship and d.guardrails_failed == ("deletes",) and d.guardrails_ok == ("unsubscribes",)
        assert ship_decision({}, {"deletes": True}).ship


class TestAdjustedIntervals:
    def test_sidak_interval_agrees_with_sidak_p(self):
        rng = np.random.default_rng(8)
        d, s = rng.normal(0, 2.5, 400), np.ones(400)
        lo, hi = adjusted_intervals(d, s, np.inf, 0.05, 5, "sidak")
        p = adjust_pvalues(one_sided(d, s, np.inf, "two-sided").p_value, "sidak")  # m = 400 here
        p5 = 1 - (1 - one_sided(d, s, np.inf, "two-sided").p_value) ** 5
        np.testing.assert_array_equal((lo > 0) | (hi < 0), p5 < 0.05)
        assert np.all(p >= p5)

    def test_levels(self):
        assert interval_alpha(0.05, 4, "holm") == 0.0125
        assert interval_alpha(0.05, 4, None) == 0.05
        assert interval_alpha(0.05, 4, "bh", rejections=2) == 0.025


@pytest.mark.slow
def test_non_inferiority_false_positive_rate_at_the_margin():
    """A/A at the boundary: true effect exactly −NIM; 'non-inferior' must be declared ≈ 5% of the time."""
    rng = np.random.default_rng(2024)
    sims, n = 4000, 2000
    p_c, margin = 0.30, 0.02                        # absolute margin: the treatment is truly 2 points worse
    c = ProportionStatistic(np.full(sims, n), rng.binomial(n, p_c, sims))
    t = ProportionStatistic(np.full(sims, n), rng.binomial(n, p_c - margin, sims))
    r = non_inferiority_test(c, t, margin, relative=False)
    rate = float(np.mean(r.rejected))
    # binomial sd of the rate over 4000 runs ≈ 0.0034: 4–6% is ±3 sd
    assert 0.04 <= rate <= 0.06, rate
    mean_c, mean_t = 50.0, 50.0 - 0.5
    x_c = rng.normal(mean_c, 10.0, (sims, 200))
    x_t = rng.normal(mean_t, 10.0, (sims, 200))
    sc = SampleMeanStatistic(np.full(sims, 200), x_c.sum(1), (x_c ** 2).sum(1))
    st = SampleMeanStatistic(np.full(sims, 200), x_t.sum(1), (x_t ** 2).sum(1))
    r = non_inferiority_test(sc, st, 0.5, relative=False)     # Welch t at the margin boundary
    assert 0.04 <= float(np.mean(r.rejected)) <= 0.06


def _frame(seed: int = 5, n: int = 3000, arms: tuple[str, ...] = ("control", "a", "b", "c")):
    import pandas as pd

    rng = np.random.default_rng(seed)
    variant = np.repeat(arms, n)
    lift = np.repeat(np.arange(len(arms)) * 0.5, n)
    return pd.DataFrame({"variant": variant, "gmv": rng.normal(20.0 + lift, 8.0),
                         "deleted": rng.binomial(1, 0.05, variant.size)})


class TestAnalyzeOptions:
    def test_one_sided_welch_matches_scipy(self):
        from workbench.experiments import analyze

        df = _frame(arms=("control", "a"))
        row = analyze(df, "variant", ["gmv"], "control", alternative="greater").table.iloc[0]
        ref = sps.ttest_ind(df.loc[df.variant == "a", "gmv"], df.loc[df.variant == "control", "gmv"],
                            equal_var=False, alternative="greater")
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert row["ci_high"] == np.inf and row["ci_low"] < row["abs_effect"]
        assert np.isnan(row["fieller_rel_ci_low"])

    def test_one_sided_proportion_is_the_wald_test(self):
        from statsmodels.stats.proportion import test_proportions_2indep

        from workbench.experiments import analyze

        df = _frame(arms=("control", "a"))
        row = analyze(df, "variant", ["deleted"], "control", alternative={"deleted": "less"}).table.iloc[0]
        c, t = df.loc[df.variant == "control", "deleted"], df.loc[df.variant == "a", "deleted"]
        ref = test_proportions_2indep(t.sum(), t.size, c.sum(), c.size, method="wald", alternative="smaller",
                                      correction=False)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)

    def test_guardrails_and_ship_decision(self):
        from workbench.experiments import analyze

        df = _frame()
        res = analyze(df, "variant", ["gmv", "deleted"], "control", guardrails=["deleted"],
                      margins={"deleted": 0.2}, preferences={"deleted": "decrease"})
        t = res.table
        g = t[t.metric == "deleted"]
        assert g["guardrail"].all() and (g["margin"] == 0.2).all()
        np.testing.assert_allclose(g["null_value"], 0.2 * g["control_mean"], rtol=1e-12)
        ref = one_sided(g["abs_effect"].to_numpy(), g["se"].to_numpy(), np.inf, "less", g["null_value"].to_numpy())
        np.testing.assert_allclose(g["ni_p_value"], ref.p_value, rtol=1e-12)
        assert (t[t.metric == "gmv"]["guardrail"] == False).all()  # noqa: E712
        decisions = res.ship_decisions(["gmv"])
        assert set(decisions) == {"a", "b", "c"}
        for v, d in decisions.items():
            ok = bool(g.loc[g.variant == v, "non_inferior"].iloc[0])
            assert d.ship == (("gmv" in d.superior) and ok)

    def test_adjusted_intervals_in_the_table(self):
        from workbench.experiments import analyze

        df = _frame()
        t = analyze(df, "variant", ["gmv"], "control", correction="bonferroni").table
        lo, hi = adjusted_intervals(t["abs_effect"], t["se"], t["dof"], 0.05, 3, "bonferroni")
        np.testing.assert_allclose(t["adjusted_ci_low"], lo, rtol=1e-12)
        np.testing.assert_allclose(t["adjusted_ci_high"], hi, rtol=1e-12)
        # the Bonferroni interval excludes zero exactly when the Bonferroni-adjusted p is below alpha
        np.testing.assert_array_equal((t["adjusted_ci_low"] > 0) | (t["adjusted_ci_high"] < 0), t["significant"])
        t0 = analyze(df, "variant", ["gmv"], "control", correction=None).table
        np.testing.assert_allclose(t0["adjusted_ci_low"], t0["ci_low"], rtol=1e-12)

    def test_option_errors(self):
        from workbench.experiments import AnalysisOptions, analyze

        with pytest.raises(ParameterError, match="need a non-inferiority margin"):
            AnalysisOptions(guardrails=("deleted",))
        with pytest.raises(ParameterError, match="sequential"):
            AnalysisOptions(sequential=True, alternative="greater")
        with pytest.raises(ParameterError, match="alternative"):
            AnalysisOptions(alternative="larger")
        with pytest.raises(ParameterError, match="not analysed"):
            analyze(_frame(), "variant", ["gmv"], "control", guardrails=["deleted"], margins={"deleted": 0.1})
        with pytest.raises(ParameterError, match="margin of"):
            AnalysisOptions(margins={"deleted": -0.1})
