"""Design: power, MDE and sample size against statsmodels and simulation; hashed assignment."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from workbench import ParameterError
from workbench.experiments import (
    ClusteredStatistic,
    RatioStatistic,
    assign_variants,
    cluster_test,
    hash_uniform,
    minimum_detectable_effect,
    power,
    sample_size,
)


class TestSampleSize:
    @pytest.mark.parametrize("p0, delta, ratio, alpha, target, alternative", [
        (0.10, 0.01, 1.0, 0.05, 0.8, "two-sided"),
        (0.05, 0.005, 2.0, 0.05, 0.9, "two-sided"),
        (0.30, -0.02, 0.5, 0.01, 0.8, "two-sided"),
        (0.02, 0.004, 1.0, 0.05, 0.8, "larger"),
    ])
    def test_proportion_matches_statsmodels(self, p0, delta, ratio, alpha, target, alternative):
        # The pooled z test of the analysis: H0 variance at the pooled rate, H1 variance unpooled —
        # statsmodels' power_proportions_2indep (group 1 = control with nobs1, ratio = n_t / n_c).
        res = sample_size(delta, baseline=p0, ratio=ratio, alpha=alpha, power=target, alternative=alternative)
        sm_alt = "two-sided" if alternative == "two-sided" else "smaller"  # its diff is p_c − p_t
        ref = power_proportions_2indep(p0 - (p0 + delta), p0 + delta, res.n_control, ratio=ratio, alpha=alpha,
                                       alternative=sm_alt, return_results=False)
        assert ref == pytest.approx(target, abs=1e-9)
        assert res.n_treatment == pytest.approx(ratio * res.n_control, rel=1e-12)
        assert power(delta, res.n_control, baseline=p0, ratio=ratio, alpha=alpha,
                     alternative=alternative) == pytest.approx(target, abs=1e-10)

    def test_proportion_reproduces_gpower(self):
        """G*Power 3.1, z tests – proportions, difference between two independent proportions.

        p1 = 0.45, p2 = 0.55 (a 10-point effect), two-tailed α = 0.001, power 0.80, N2/N1 = 1: G*Power
        reports 852 per group (issue 19); the unpooled formula used before gave 846. Closed form
        (Fleiss, Levin & Paik, eq. 4.14 without continuity correction):
        n = (z_{1−α/2}·√(2p̄q̄) + z_{1−β}·√(p1q1 + p2q2))² / δ².
        """
        res = sample_size(0.10, baseline=0.45, alpha=0.001, power=0.8)
        assert (res.n_control_required, res.n_treatment_required) == (852, 852)
        p1, p2 = 0.45, 0.55
        p_bar = (p1 + p2) / 2
        closed = (sps.norm.isf(0.0005) * np.sqrt(2 * p_bar * (1 - p_bar))
                  + sps.norm.isf(0.2) * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / 0.1 ** 2
        assert res.n_control == pytest.approx(closed, rel=1e-9)

    def test_mean_and_ratio_metrics(self):
        res = sample_size(2.0, sd=50.0)
        ref = NormalIndPower().solve_power(effect_size=2.0 / 50.0, alpha=0.05, power=0.8)
        assert res.n_control == pytest.approx(ref, rel=1e-6)
        # a ratio metric uses its delta-method per-unit variance from a past period
        rng = np.random.default_rng(1)
        d = 1 + rng.poisson(1.0, 5000)
        stat = RatioStatistic.from_values(d * 120 + rng.normal(0, 40, 5000) * np.sqrt(d), d)
        by_stat = sample_size(0.05, statistic=stat, relative=True)
        by_sd = sample_size(0.05 * stat.mean, sd=np.sqrt(stat.variance), metric="ratio")
        assert by_stat.n_control == pytest.approx(by_sd.n_control, rel=1e-10)

    def test_mde_and_power_are_inverse(self):
        n = sample_size(0.01, baseline=0.10).n_control
        assert power(0.01, n, baseline=0.10) == pytest.approx(0.8, abs=1e-10)
        assert minimum_detectable_effect(n, baseline=0.10) == pytest.approx(0.01, rel=1e-8)
        assert minimum_detectable_effect(n, baseline=0.10, relative=True) == pytest.approx(0.10, rel=1e-8)
        assert power(0.10, n, baseline=0.10, relative=True) == pytest.approx(0.8, abs=1e-10)

    def test_cluster_design_effect(self):
        unit = sample_size(0.01, baseline=0.10)
        clus = sample_size(0.01, baseline=0.10, icc=0.01, mean_cluster_size=200)
        assert clus.design_effect == pytest.approx(2.99)
        # z part scales by the design effect; the t reference (about 440 df) adds a little
        assert clus.n_control / unit.n_control == pytest.approx(2.99, rel=0.01)
        assert clus.n_control > 2.99 * unit.n_control

    def test_cluster_power_matches_simulation(self):
        # 30 stores per arm of 100 customers, ICC 0.05: predicted vs simulated rejection rate
        icc, m, g = 0.05, 100, 30
        mde = minimum_detectable_effect(g * m, sd=1.0, icc=icc, mean_cluster_size=m)
        rng = np.random.default_rng(12)
        sims = 4000
        n = np.full((sims, g), float(m))

        def arm(effect):
            level = rng.normal(0, np.sqrt(icc), (sims, g)) + effect
            e_sum = rng.normal(0, 1, (sims, g)) * np.sqrt((1 - icc) * n)
            e_sq = (1 - icc) * rng.chisquare(n - 1) + e_sum ** 2 / n
            return ClusteredStatistic.from_cluster_sums(n, n * level + e_sum, n * level ** 2 + 2 * level * e_sum + e_sq)

        rejected = np.mean(cluster_test(arm(0.0), arm(mde)).p_value < 0.05)
        assert rejected == pytest.approx(0.8, abs=0.025)  # binomial SE 0.63 points

    def test_errors(self):
        with pytest.raises(ParameterError, match="outside"):
            sample_size(0.2, baseline=0.9)
        with pytest.raises(ParameterError, match="baseline"):
            sample_size(0.01)
        with pytest.raises(ParameterError, match="power"):
            sample_size(0.01, baseline=0.1, power=1.0)
        with pytest.raises(ParameterError, match="icc"):
            power(0.01, 1000, baseline=0.1, icc=1.5)
        with pytest.raises(ParameterError, match="cannot be detected"):
            sample_size(-0.01, baseline=0.1, alternative="larger")


class TestAssignVariants:
    def test_golden_values_and_hash_definition(self):
        ids = ["C1", "C2", "C3", "10086"]
        u = hash_uniform(ids, "EXP1", salt="s")
        for uid, value in zip(ids, u):
            digest = hashlib.sha256(f"s:EXP1:{uid}".encode()).hexdigest()
            assert value == int(digest[:16], 16) / 2 ** 64
        # fixed answers, so a change of hashing on any platform or version is caught
        assert assign_variants(["C1", "C2", "C3", "C4", "C5", "C6"], "EXP1", ["control", "treatment"]).tolist() == \
            ["control", "control", "treatment", "control", "treatment", "control"]
        assert assign_variants([42], "EXP1", ["a", "b"]).iloc[0] == assign_variants(["42"], "EXP1", ["a", "b"]).iloc[0]

    def test_balance_on_100k_units(self):
        ids = [f"cust_{i:06d}" for i in range(100_000)]
        out = assign_variants(ids, "TASK_2025_06", ["control", "script_a", "script_b"], weights=[0.5, 0.3, 0.2])
        counts = out.value_counts().reindex(["control", "script_a", "script_b"]).to_numpy()
        chi = sps.chisquare(counts, f_exp=np.array([0.5, 0.3, 0.2]) * 100_000)
        assert chi.pvalue > 0.001
        np.testing.assert_allclose(counts / 100_000, [0.5, 0.3, 0.2], atol=0.005)
        # the uniforms themselves are uniform (KS test)
        assert sps.kstest(hash_uniform(ids[:20_000], "TASK_2025_06"), "uniform").pvalue > 0.001

    def test_stable_across_calls_and_order(self):
        ids = [f"S{i}" for i in range(2000)]
        a = assign_variants(ids, "EXP9", ["control", "treatment"])
        shuffled = list(np.random.default_rng(0).permutation(ids))
        b = assign_variants(shuffled, "EXP9", ["control", "treatment"])
        pd.testing.assert_series_equal(a, b.loc[ids])
        # another experiment re-randomises independently: about half agree
        c = assign_variants(ids, "EXP10", ["control", "treatment"])
        assert 0.45 < np.mean(a.to_numpy() == c.to_numpy()) < 0.55

    def test_zero_weight_and_errors(self):
        out = assign_variants([f"u{i}" for i in range(500)], "E", ["a", "b", "c"], weights=[1, 0, 1])
        assert "b" not in set(out)
        with pytest.raises(ParameterError, match="weights"):
            assign_variants(["u"], "E", ["a", "b"], weights=[1.0])
        with pytest.raises(ParameterError, match="distinct"):
            assign_variants(["u"], "E", ["a", "a"])


class TestMultiArm:
    """k treatments against one control: Bonferroni against statsmodels, Dunnett against his table."""

    @pytest.mark.parametrize("k, share", [(2, 1.0), (3, 1.0), (4, np.sqrt(4.0))])
    def test_bonferroni_matches_statsmodels(self, k, share):
        from workbench.experiments.design import multi_arm_sample_size

        s = multi_arm_sample_size(2.0, k, sd=40.0, correction="bonferroni", control_share=share)
        # statsmodels: nobs1 is the control arm, ratio = n_treatment / n_control
        n_c = NormalIndPower().solve_power(effect_size=2.0 / 40.0, alpha=0.05 / k, power=0.8, ratio=1 / share)
        assert s.n_control_required == int(np.ceil(n_c - 1e-9))
        assert s.alpha_per_comparison == pytest.approx(0.05 / k)
        assert s.n_total_required == s.n_control_required + k * s.n_treatment_required

    def test_dunnett_critical_values_reproduce_his_table(self):
        from workbench.experiments.design import dunnett_critical_value

        # Dunnett (1955, 1964), infinite degrees of freedom, alpha = 0.05, equal arms
        for k, two_sided, one_sided in [(2, 2.21, 1.92), (3, 2.35, 2.06), (4, 2.44, 2.16), (5, 2.51, 2.23)]:
            assert dunnett_critical_value(k) == pytest.approx(two_sided, abs=0.005)
            assert dunnett_critical_value(k, alternative="larger") == pytest.approx(one_sided, abs=0.005)
        assert dunnett_critical_value(1) == pytest.approx(sps.norm.isf(0.025))

    def test_dunnett_family_error_by_simulation(self):
        from workbench.experiments.design import dunnett_critical_value

        rng = np.random.default_rng(11)
        k, draws = 3, 400_000
        control = rng.standard_normal(draws)
        z = (rng.standard_normal((draws, k)) - control[:, None]) / np.sqrt(2.0)   # ρ = ½
        fwer = np.mean(np.abs(z).max(axis=1) > dunnett_critical_value(k))
        assert fwer == pytest.approx(0.05, abs=0.0015)      # sd of the rate ≈ 0.00035

    def test_dunnett_needs_fewer_units_than_bonferroni(self):
        from workbench.experiments.design import multi_arm_sample_size

        b = multi_arm_sample_size(0.01, 3, baseline=0.10)
        d = multi_arm_sample_size(0.01, 3, baseline=0.10, correction="dunnett")
        one = sample_size(0.01, baseline=0.10)
        assert one.n_control_required < d.n_treatment_required < b.n_treatment_required
        with pytest.raises(ParameterError, match="correction"):
            multi_arm_sample_size(0.01, 3, baseline=0.10, correction="holm")
        with pytest.raises(ParameterError, match="positive integer"):
            multi_arm_sample_size(0.01, 0, baseline=0.10)
