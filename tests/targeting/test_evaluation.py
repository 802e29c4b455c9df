"""Qini / uplift curves, uplift@k and off-policy values: hand-computed rows, scikit-uplift's values, A/A rates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ParameterError
from workbench.targeting import evaluate_uplift, policy_values, qini_curve, uplift_curve, within_fold_ranks

# 20 units with tied scores; reference values from scikit-uplift 0.5.1 (sklift.metrics: qini_curve, uplift_curve,
# qini_auc_score, uplift_auc_score, uplift_at_k(strategy="overall")), computed once in a separate environment.
Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0])
T = np.array([1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0])
S = np.array([.9, .8, .8, .7, .65, .6, .6, .6, .5, .45, .4, .35, .3, .3, .2, .15, .1, .05, .0, -.1])
SKLIFT_N = [0, 1, 3, 4, 5, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20]
SKLIFT_QINI = [0, 1, -1, -1, 0.5, 1.33333333, 1.75, 2.5, 1.6, 1.2, 1.33333333, 2, 2.42857143, 1.625, 2,
               1.66666667, 2]
SKLIFT_UPLIFT = [0, 1, -1.5, -1.33333333, 0.83333333, 2.13333333, 3.15, 4.16666667, 2.93333333, 2.05714286,
                 2.33333333, 3.33333333, 4.31746032, 3.06944444, 4, 3.16666667, 4]


def test_curves_match_scikit_uplift_with_ties():
    q, u = qini_curve(S, T, Y), uplift_curve(S, T, Y)
    assert q.n.tolist() == SKLIFT_N and u.n.tolist() == SKLIFT_N
    np.testing.assert_allclose(q.value, SKLIFT_QINI, atol=1e-8)
    np.testing.assert_allclose(u.value, SKLIFT_UPLIFT, atol=1e-8)


def test_coefficients_and_uplift_at_k_match_scikit_uplift():
    ev = evaluate_uplift(S, T, Y, ks=(0.3, 0.5), n_boot=50)
    assert ev.qini_coefficient == pytest.approx(0.04820483749055182, abs=1e-12)   # qini_auc_score
    assert ev.auuc == pytest.approx(0.00561391223155924, abs=1e-12)                # uplift_auc_score
    assert ev.uplift_at_k[0.3] == pytest.approx(1 / 3, abs=1e-12)                  # uplift_at_k(k=0.3)
    assert ev.uplift_at_k[0.5] == pytest.approx(0.41666666666666663, abs=1e-12)    # uplift_at_k(k=0.5)
    assert ev.table["statistic"].tolist() == ["qini_coefficient", "auuc", "uplift_at_30%", "uplift_at_50%"]


def test_perfect_and_reversed_rankings():
    t = np.array([1, 1, 0, 0, 1, 0])
    y = np.array([1, 0, 0, 1, 1, 0])
    perfect = y * t - y * (1 - t)                 # treated responders first, control responders last
    assert evaluate_uplift(perfect, t, y, n_boot=20).qini_coefficient == pytest.approx(1.0)
    assert evaluate_uplift(-perfect, t, y, n_boot=20).qini_coefficient < 0


def test_policy_values_by_hand():
    # score 4 > 3 > 2 > 1, propensity 1/2, arm means mu1 = mu0 = 1.5. Top 50% treats units 1 and 2.
    # IPW: (3/0.5 + 0 + 0 + 2/0.5) / 4 = 2.5; DR: (1.5 + 1.5/0.5, 1.5, 1.5, 1.5 + 0.5/0.5) -> 10 / 4 = 2.5.
    # Treat all, IPW: (6 + 0) / 4 = 1.5; treat none: (2 + 4) / 4 = 1.5.
    pv = policy_values([4, 3, 2, 1], [1, 0, 1, 0], [3, 1, 0, 2], propensity=0.5, shares=(0.5,))
    v = pv.table.set_index(["policy", "estimator"])["value"]
    assert v["top 50%", "ipw"] == pytest.approx(2.5)
    assert v["top 50%", "dr"] == pytest.approx(2.5)
    assert v["treat all", "ipw"] == pytest.approx(1.5)
    assert v["treat none", "ipw"] == pytest.approx(1.5)
    assert v["random 50%", "dr"] == pytest.approx(1.5)
    assert pv.gains["gain"].iloc[0] == pytest.approx(1.0)


def test_clusters_of_duplicates_give_the_unit_level_errors():
    rng = np.random.default_rng(3)
    n = 400
    s, t = rng.normal(size=n), rng.integers(0, 2, n)
    y = t * (s > 0) + rng.normal(size=n)
    one = policy_values(s, t, y, shares=(0.3,))
    pairs = np.r_[np.arange(n), np.arange(n)]
    two = policy_values(np.r_[s, s], np.r_[t, t], np.r_[y, y], shares=(0.3,), clusters=pairs)
    # each unit twice, clustered by unit: same means, and the cluster-robust SE equals the unit-level one exactly
    np.testing.assert_allclose(two.table["value"], one.table["value"], rtol=1e-10)
    np.testing.assert_allclose(two.table["se"], one.table["se"], rtol=1e-10)
    a = evaluate_uplift(s, t, y, ks=(0.3,), n_boot=400, seed=1)
    b = evaluate_uplift(np.r_[s, s], np.r_[t, t], np.r_[y, y], ks=(0.3,), n_boot=400, seed=1,
                        clusters=np.r_[np.arange(n), np.arange(n)])
    assert b.qini_coefficient == pytest.approx(a.qini_coefficient, rel=1e-9)
    # resampling clusters of two copies spreads like resampling the units (bootstrap noise: 400 replicates)
    np.testing.assert_allclose(b.table["se"], a.table["se"], rtol=0.2)


def test_within_fold_ranks_keep_ties_and_order():
    r = within_fold_ranks([3.0, 3.0, 1.0, 10.0, 0.0], [0, 0, 0, 1, 1])
    assert r.tolist() == [pytest.approx(5 / 6), pytest.approx(5 / 6), pytest.approx(1 / 3), 1.0, 0.5]


def test_bad_input_is_refused():
    with pytest.raises(ParameterError, match="both arms"):
        evaluate_uplift([1, 2], [1, 1], [0, 1])
    with pytest.raises(ParameterError, match="length"):
        policy_values([1, 2, 3], [1, 0], [0, 1])
    with pytest.raises(ParameterError, match="strictly between"):
        evaluate_uplift([1, 2, 3, 4], [1, 0, 1, 0], [0, 1, 1, 0], ks=(1.5,))
    with pytest.raises(ParameterError, match="finite"):
        evaluate_uplift([1, np.nan], [1, 0], [0, 1])


def _null_experiment(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A randomised experiment with a constant effect (+5 points on a 20–30% baseline): nothing to target."""
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.2 + 0.1 * (x > 0) + 0.05 * t).astype(float)
    return x, t, y


@pytest.mark.slow
def test_aa_qini_interval_covers_zero_without_heterogeneity():
    """400 null experiments of 1,000 units, scores fixed beforehand (a model that never saw these units).

    The 95% interval of the Qini coefficient must cover 0 in at least 94% of them (binomial SD at 95%: 1.1 points).
    """
    rng = np.random.default_rng(20)
    covered = []
    for i in range(400):
        x, t, y = _null_experiment(rng, 1000)
        score = x * rng.normal() + rng.normal(size=len(x))    # a score that ranks by baseline, not by effect
        row = evaluate_uplift(score, t, y, ks=(0.3,), n_boot=200, seed=i).table.iloc[0]
        covered.append(row["ci_low"] <= 0 <= row["ci_high"])
    assert np.mean(covered) >= 0.94


@pytest.mark.slow
def test_aa_policy_gain_false_positive_rate():
    """2,000 null experiments: the DR gain of top-30% over random targeting is 'significant' in 4–6% of them."""
    rng = np.random.default_rng(21)
    rejected = []
    for _ in range(2000):
        x, t, y = _null_experiment(rng, 1000)
        g = policy_values(x + rng.normal(size=len(x)), t, y, shares=(0.3,)).gains.iloc[0]
        rejected.append(g["ci_low"] > 0 or g["ci_high"] < 0)
    assert 0.04 <= np.mean(rejected) <= 0.06


def test_frame_types():
    ev = evaluate_uplift(S, T, Y, n_boot=20)
    assert isinstance(ev.table, pd.DataFrame) and ev.n == 20
    with pytest.raises(AttributeError):
        ev.n = 3   # frozen
