"""CR2 (Bell–McCaffrey) cluster-robust variance with Satterthwaite degrees of freedom.

The closed form in :mod:`workbench.experiments.cluster` is checked against the general matrix
definition (Pustejovsky & Tipton 2018, the formula R clubSandwich implements for an OLS fit):
``V = M (Σ_g X_g' A_g e_g e_g' A_g X_g) M`` with ``M = (X'X)⁻¹``, ``A_g = (I − H_gg)^{-1/2}``,
and ``ν = (Σ_g p_g'p_g)² / Σ_g Σ_h (p_g'p_h)²`` with ``p_g = (I − H)_g' A_g X_g M c`` under
the working model ``Var(y) = σ² Φ``: ``Φ = I`` (clubSandwich's default for OLS) or the
random-effects model ``Φ = I + λ J_g`` with ``λ = ICC / (1 − ICC)`` (Imbens & Kolesár 2016).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from workbench.experiments import ClusteredStatistic, cluster_test
from workbench.experiments.cluster import cr2_satterthwaite_dof


def cr2_by_matrices(y: np.ndarray, treated: np.ndarray, cluster: np.ndarray, lam: float = 0.0) -> tuple[float, float]:
    """Variance of the treatment coefficient and its Satterthwaite dof, from the matrix definition."""
    x = np.column_stack([np.ones_like(y), treated.astype(float)])
    m = np.linalg.inv(x.T @ x)
    h = x @ m @ x.T
    e = y - h @ y
    i_h = np.eye(len(y)) - h
    c = np.array([0.0, 1.0])
    meat = np.zeros((2, 2))
    ps = []
    for g in np.unique(cluster):
        idx = np.flatnonzero(cluster == g)
        a_g = np.real(linalg.sqrtm(np.linalg.inv(np.eye(len(idx)) - h[np.ix_(idx, idx)])))
        u = x[idx].T @ a_g @ e[idx]
        meat += np.outer(u, u)
        ps.append(i_h[idx].T @ a_g @ x[idx] @ m @ c)
    v = float(c @ m @ meat @ m @ c)
    p = np.array(ps)
    phi = np.eye(len(y)) + lam * (cluster[:, None] == cluster[None, :])
    gram = p @ phi @ p.T
    return v, float(np.trace(gram) ** 2 / np.sum(gram ** 2))


def arms(y: np.ndarray, treated: np.ndarray, cluster: np.ndarray) -> tuple[ClusteredStatistic, ClusteredStatistic]:
    return (ClusteredStatistic.from_values(y[~treated], cluster[~treated]),
            ClusteredStatistic.from_values(y[treated], cluster[treated]))


class TestCR2AgainstMatrixFormula:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_variance_and_dof_equal_the_matrix_definition(self, seed):
        rng = np.random.default_rng(seed)
        sizes = rng.integers(1, 9, 9)              # unequal clusters, some of one unit
        cluster = np.repeat(np.arange(9), sizes)
        treated = np.isin(cluster, rng.permutation(9)[:4])
        y = rng.gamma(0.7, 3.0, len(cluster)) + rng.normal(0, 1, 9)[cluster]
        c, t = arms(y, treated, cluster)
        res = cluster_test(c, t)
        assert res.method == "cluster_cr2"
        v_ref, dof_identity = cr2_by_matrices(y, treated, cluster)
        assert float(res.se) ** 2 == pytest.approx(v_ref, rel=1e-10)
        assert float(cr2_satterthwaite_dof(c, t, 0.0)) == pytest.approx(dof_identity, rel=1e-10)
        for icc in (0.05, 0.3, float(res.icc)):
            lam = max(icc, 0.0) / (1 - max(icc, 0.0))
            assert float(cr2_satterthwaite_dof(c, t, icc)) == pytest.approx(
                cr2_by_matrices(y, treated, cluster, lam)[1], rel=1e-9), icc
        lam = max(float(res.icc), 0.0) / (1 - max(float(res.icc), 0.0))
        assert float(res.dof) == pytest.approx(cr2_by_matrices(y, treated, cluster, lam)[1], rel=1e-9)

    def test_equal_cluster_sizes_reduce_to_g_over_g_minus_one_and_g_minus_two_dof(self):
        rng = np.random.default_rng(3)
        cluster = np.repeat(np.arange(8), 5)
        treated = cluster >= 4
        y = rng.normal(size=40)
        c, t = arms(y, treated, cluster)
        res = cluster_test(c, t)
        assert float(res.dof) == pytest.approx(6.0, rel=1e-12)
        assert float(res.se) ** 2 == pytest.approx(float(c.mean_variance_robust() + t.mean_variance_robust()),
                                                  rel=1e-12)

    def test_hand_worked_case(self):
        # control clusters {1, 2} (sizes 1 and 2) and {3}; treatment {4, 6} and {5}.
        # Control: N = 4, ȳ = 2.5... laid out per cluster: sums 3 (n=2), 3 (n=1)… see below.
        y = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 5.0])
        cluster = np.array([0, 0, 1, 2, 2, 3])
        treated = cluster >= 2
        # control: s = (3, 3), n = (2, 1), N = 3, ȳ = 2; r = (−1, 1); V = (1/(1−2/3) + 1/(1−1/3)) / 9 = 4.5/9
        # treatment: s = (10, 5), n = (2, 1), N = 3, ȳ = 5; r = (0, 0); V = 0
        res = cluster_test(*arms(y, treated, cluster))
        assert float(res.se) ** 2 == pytest.approx(0.5)
        assert float(res.effect) == pytest.approx(3.0)


@pytest.mark.slow
class TestClusterAA:
    def test_rerandomised_store_aa_rejects_at_nominal_rate(self, tmp_path):
        """A/A on the simulator's store experiment: its 60 stores (49–538 customers each) re-randomised
        30/30, 10,000 times on each of two brands, GMV per customer over the 14-day window.

        CR2 with Satterthwaite dof rejects about 5% at α = 0.05 (the G/(G−1) variance with
        G − 2 dof: 5.0% and 5.5%). A binomial 99.9% band around 5% over 20,000 tests is ±0.51 pp.
        """
        import workbench
        from workbench.experiments.frame import experiment_frame
        from workbench.simulate import simulate_brand

        rejections, total = 0, 0
        for seed in (11, 12):
            simulate_brand(30_000, seed=seed, out=tmp_path / str(seed))
            frame = experiment_frame(workbench.open(tmp_path / str(seed)), "EXP_STORE")
            per_store = frame.assign(gmv2=frame["gmv"] ** 2).groupby("cluster_id").agg(
                n=("gmv", "size"), s=("gmv", "sum"), q=("gmv2", "sum"))
            n, s, q = (per_store[c].to_numpy(float) for c in ("n", "s", "q"))
            assert len(n) == 60
            perm = np.argsort(np.random.default_rng(seed).random((10_000, 60)), axis=1)
            ctl, trt = perm[:, :30], perm[:, 30:]
            res = cluster_test(ClusteredStatistic.from_cluster_sums(n[ctl], s[ctl], q[ctl]),
                               ClusteredStatistic.from_cluster_sums(n[trt], s[trt], q[trt]))
            assert res.method == "cluster_cr2"
            rejections += int(np.sum(res.p_value < 0.05))
            total += len(res.p_value)
        rate = rejections / total
        band = 3.3 * np.sqrt(0.05 * 0.95 / total)
        assert abs(rate - 0.05) <= band, rate
