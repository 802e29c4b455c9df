"""Hillstrom e-mail test (Womens E-Mail vs No E-Mail): Qini coefficient and uplift@30% of T- and DR-learner scores.

Split: 30% of the 42,693 customers held out by :func:`holdout_mask` on the row number; models fitted on the other 70%
(3 folds, the gradient-boosted trees below, one thread); scores of the held-out customers evaluated there.

Reference (peer): scikit-uplift 0.5.1 in a separate environment, on the same split and features —
``TwoModels(method="vanilla")`` with the same regressor for both arms (a T-learner fitted once on the whole 70%,
where ours averages three fold models), and ``qini_auc_score`` / ``uplift_at_k(strategy="overall", k=0.3)`` applied
to our own held-out scores. scikit-uplift accepts binary outcomes only, so spend has no peer number.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from workbench.targeting import evaluate_uplift, feature_matrix, fit_uplift, holdout_mask, policy_values

# scikit-uplift's metrics on our held-out scores (must agree to rounding: same definitions)
SKLIFT_ON_OURS = {"t": {"qini": 0.04950536438938494, "u30": 0.06920780402038479},
                  "dr": {"qini": 0.04417321948716572, "u30": 0.06905263375475004}}
# scikit-uplift's own T-learner on the same split (learners differ in fold averaging: tolerance 0.02 / 0.01)
# (its predict_proba fed by the same regressor's predictions: P(visit | x) by least squares, as ours)
SKLIFT_TWO_MODELS = {"qini": 0.04301698046701365, "u30": 0.06383074223691192}


def _estimator() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=50, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=100,
                                         early_stopping=False, random_state=0)


@pytest.fixture(scope="module")
def hillstrom(shared_datasets):
    d = pd.read_csv(shared_datasets / "hillstrom.csv")
    d = d[d["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    x = feature_matrix(d, numeric=["recency", "history", "mens", "womens", "newbie"],
                       categorical=["zip_code", "channel"])
    return d, x.to_numpy(), (d["segment"] == "Womens E-Mail").to_numpy(int), holdout_mask(np.arange(len(d)), 0.3)


@pytest.fixture(scope="module")
def results(hillstrom):
    d, x, t, h = hillstrom
    out = {}
    with threadpool_limits(1):   # OpenMP threads of the trees contend on a shared machine
        for outcome in ("visit", "spend"):
            y = d[outcome].to_numpy(float)
            for method in ("t", "dr"):
                fit = fit_uplift(x[~h], t[~h], y[~h], method=method, estimator=_estimator(), n_folds=3)
                score = fit.predict(x[h])
                mu0, mu1 = fit.predict_outcomes(x[h])
                out[outcome, method] = (score, evaluate_uplift(score, t[h], y[h], ks=(0.3,), n_boot=200),
                                        policy_values(score, t[h], y[h], mu0, mu1, shares=(0.3,)))
    return out


@pytest.mark.slow
def test_split_and_arms(hillstrom):
    d, x, t, h = hillstrom
    assert len(d) == 42_693 and t.sum() == 21_387
    assert 0.29 < h.mean() < 0.31
    assert x.shape[1] == 11


@pytest.mark.slow
@pytest.mark.parametrize("method", ["t", "dr"])
def test_visit_matches_scikit_uplift(results, method):
    _, ev, pv = results["visit", method]
    print(method, ev.table.to_string(), pv.table.to_string(), pv.gains.to_string(), sep="\n")
    ref = SKLIFT_ON_OURS[method]
    # same scores, same definitions: equal up to floating point (tree fits are deterministic, one thread)
    assert ev.qini_coefficient == pytest.approx(ref["qini"], abs=1e-6)
    assert ev.uplift_at_k[0.3] == pytest.approx(ref["u30"], abs=1e-6)
    # another learner implementation on the same split: within a third of the Qini's bootstrap SE (~0.015)
    assert ev.qini_coefficient == pytest.approx(SKLIFT_TWO_MODELS["qini"], abs=0.01)
    assert ev.uplift_at_k[0.3] == pytest.approx(SKLIFT_TWO_MODELS["u30"], abs=0.01)
    # the e-mail lifts visits (4.5 points overall); targeting the top 30% beats random targeting
    assert ev.table.iloc[0]["ci_low"] > 0
    assert pv.gains.iloc[0]["ci_low"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["t", "dr"])
def test_spend(results, method):
    _, ev, pv = results["spend", method]
    print(method, ev.table.to_string(), pv.table.to_string(), pv.gains.to_string(), sep="\n")
    # spend is rare and heavy-tailed: no targeting signal distinguishable from noise on 12,800 held-out customers
    row = ev.table.iloc[0]
    assert row["ci_low"] < 0 < row["ci_high"]
    dr = pv.table.query("estimator == 'dr'").set_index("policy")["value"]
    assert dr["treat all"] > dr["treat none"]
