"""Cluster-randomised designs (tasks randomised by store): variance, ICC, calibration.

The simulation draws each store's sufficient statistics from their exact sampling
distribution: y = mu + b_g + e_i with b_g ~ N(0, ICC), e_i ~ N(0, 1 - ICC), so
s_g = n_g (mu + b_g) + sum(e), sum(e) ~ N(0, n_g (1 - ICC)) and the within-store sum of
squares ~ (1 - ICC) chi2(n_g - 1) independently. 60 stores (30 per arm) of 50-200
customers, ICC 0.05: design effect about 1 + 124 x 0.05 = 7.2.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from workbench.experiments import (
    ClusteredRatioStatistic,
    ClusteredStatistic,
    RatioStatistic,
    cluster_test,
    design_effect,
    icc_anova,
    welch_ttest,
)

N_SIMS = 10_000


def simulate_stores(rng, sims, stores=60, lo=50, hi=200, icc=0.05, effect=0.0, mu=1.0):
    """Per-store (n, sum, sum_squares), control stores in the first half of axis 1."""
    n = rng.integers(lo, hi + 1, (sims, stores)).astype(float)
    treated = np.arange(stores) >= stores // 2
    level = mu + rng.normal(0, np.sqrt(icc), (sims, stores)) + effect * treated
    e_sum = rng.normal(0, 1, (sims, stores)) * np.sqrt((1 - icc) * n)
    e_sq = (1 - icc) * rng.chisquare(n - 1) + e_sum ** 2 / n
    s = n * level + e_sum
    q = n * level ** 2 + 2 * level * e_sum + e_sq
    half = stores // 2
    c = ClusteredStatistic.from_cluster_sums(n[:, :half], s[:, :half], q[:, :half])
    t = ClusteredStatistic.from_cluster_sums(n[:, half:], s[:, half:], q[:, half:])
    return c, t


def unit_frame(rng, stores=12, icc=0.2):
    sizes = rng.integers(5, 40, stores)
    store = np.repeat(np.arange(stores), sizes)
    variant = np.where(store % 2 == 0, "control", "treatment")
    y = rng.normal(0, np.sqrt(icc), stores)[store] + rng.normal(0, np.sqrt(1 - icc), store.size) + 0.3 * (
        variant == "treatment")
    return pd.DataFrame({"store": store, "variant": variant, "y": y})


class TestClusteredStatistic:
    def test_from_values_equals_cluster_sums_and_adds(self):
        df = unit_frame(np.random.default_rng(1))
        c = df[df.variant == "control"]
        s = ClusteredStatistic.from_values(c["y"], c["store"])
        g = c.groupby("store")["y"]
        direct = ClusteredStatistic.from_cluster_sums(g.size().to_numpy(), g.sum().to_numpy(),
                                                      g.apply(lambda x: (x ** 2).sum()).to_numpy())
        for f in ("n_clusters", "n", "sum", "sum_squares", "cluster_sum_squares", "cluster_sum_squares_over_n"):
            assert getattr(s, f) == pytest.approx(getattr(direct, f), rel=1e-12)
        half = c["store"] < 6
        parts = ClusteredStatistic.from_values(c.loc[half, "y"], c.loc[half, "store"]) + \
            ClusteredStatistic.from_values(c.loc[~half, "y"], c.loc[~half, "store"])
        assert parts.mean_variance == pytest.approx(s.mean_variance, rel=1e-10)
        assert s.unit_statistic.mean == pytest.approx(c["y"].mean(), rel=1e-12)

    def test_robust_variance_is_the_cluster_delta_method(self):
        df = unit_frame(np.random.default_rng(2))
        s = ClusteredStatistic.from_values(df["y"], df["store"])
        ratio = s.as_ratio_statistic()
        assert isinstance(ratio, RatioStatistic)
        assert ratio.mean == pytest.approx(s.mean, rel=1e-12)
        assert ratio.mean_variance == pytest.approx(s.mean_variance, rel=1e-9)


class TestClusterRobustVariance:
    def test_matches_statsmodels_ols_cluster_cr0(self):
        df = unit_frame(np.random.default_rng(3))
        X = sm.add_constant((df["variant"] == "treatment").astype(float).to_numpy())
        fit = sm.OLS(df["y"].to_numpy(), X).fit(cov_type="cluster",
                                                 cov_kwds={"groups": df["store"].to_numpy(), "use_correction": False})
        c, t = (ClusteredStatistic.from_values(df.loc[df.variant == v, "y"], df.loc[df.variant == v, "store"])
                for v in ("control", "treatment"))
        res = cluster_test(c, t, small_sample=False)
        assert res.effect == pytest.approx(fit.params[1], abs=1e-10)
        assert res.se == pytest.approx(fit.bse[1], abs=1e-8)
        assert res.p_value == pytest.approx(fit.pvalues[1], abs=1e-8)

    def test_ratio_metric_uses_cluster_totals(self):
        rng = np.random.default_rng(4)
        store = np.repeat(np.arange(10), 30)
        orders = 1 + rng.poisson(1.0, store.size)
        gmv = orders * (50 + rng.normal(0, 10, 10)[store]) + rng.normal(0, 5, store.size)
        s = ClusteredRatioStatistic.from_values(gmv, orders, store)
        tot = pd.DataFrame({"g": store, "m": gmv, "d": orders}).groupby("g").sum()
        direct = RatioStatistic.from_values(tot["m"], tot["d"])  # clusters as units
        assert s.mean == pytest.approx(gmv.sum() / orders.sum(), rel=1e-12)
        assert s.mean_variance == pytest.approx(direct.mean_variance, rel=1e-9)


class TestIntraclassCorrelation:
    def test_anova_estimator_by_hand(self):
        df = unit_frame(np.random.default_rng(5))
        c = df[df.variant == "control"]
        s = ClusteredStatistic.from_values(c["y"], c["store"])
        g = c.groupby("store")["y"]
        n_g, means = g.size(), g.mean()
        N, G = len(c), len(n_g)
        msb = (n_g * (means - c["y"].mean()) ** 2).sum() / (G - 1)
        msw = ((c["y"] - g.transform("mean")) ** 2).sum() / (N - G)
        n0 = (N - (n_g ** 2).sum() / N) / (G - 1)
        assert icc_anova(s) == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw), rel=1e-9)

    def test_recovers_simulated_icc_and_design_effect(self):
        c, t = simulate_stores(np.random.default_rng(6), 2000)
        icc = icc_anova(c, t)
        # mean of 2,000 estimates; sd of one estimate is about 0.013
        assert np.mean(icc) == pytest.approx(0.05, abs=0.002)
        assert design_effect(0.05, 125.0) == pytest.approx(7.2)


class TestClusterDesignAA:
    def test_naive_over_rejects_cluster_analysis_calibrated(self):
        c, t = simulate_stores(np.random.default_rng(7), N_SIMS)
        naive = welch_ttest(c.unit_statistic, t.unit_statistic)
        robust = cluster_test(c, t)
        fpr_naive, fpr_cluster = np.mean(naive.p_value < 0.05), np.mean(robust.p_value < 0.05)
        assert fpr_naive > 0.08, fpr_naive  # about 0.48: seven-fold variance inflation ignored
        assert 0.04 <= fpr_cluster <= 0.06, fpr_cluster
        # CR2 Satterthwaite dof: at most G_c + G_t − 2, less with unequal store sizes
        assert np.all(robust.dof <= 58 + 1e-9) and np.all(robust.dof > 30)
        assert np.mean(robust.design_effect) == pytest.approx(7.2, abs=0.2)

    def test_coverage_of_known_effect(self):
        c, t = simulate_stores(np.random.default_rng(8), N_SIMS, effect=0.1)
        res = cluster_test(c, t)
        assert 0.94 <= np.mean((res.ci_low <= 0.1) & (0.1 <= res.ci_high)) <= 0.96
