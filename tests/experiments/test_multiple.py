"""Holm and Benjamini-Hochberg against statsmodels.multipletests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from workbench import ParameterError
from workbench.experiments import adjust_frame, adjust_pvalues, benjamini_hochberg, holm


@pytest.fixture()
def pvals():
    rng = np.random.default_rng(4)
    p = np.r_[rng.uniform(0, 1, 30), rng.uniform(0, 0.01, 10), [0.02, 0.02, 0.02, 1.0, 0.0]]
    return rng.permutation(p)


class TestHolm:
    def test_matches_statsmodels(self, pvals):
        np.testing.assert_allclose(holm(pvals), multipletests(pvals, method="holm")[1], rtol=0, atol=1e-8)

    def test_nan_ignored(self):
        p = np.array([0.01, np.nan, 0.04, 0.03])
        out = holm(p)
        assert np.isnan(out[1])
        np.testing.assert_allclose(out[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="holm")[1], atol=1e-12)


class TestBenjaminiHochberg:
    def test_matches_statsmodels(self, pvals):
        np.testing.assert_allclose(benjamini_hochberg(pvals), multipletests(pvals, method="fdr_bh")[1],
                                   rtol=0, atol=1e-8)
        np.testing.assert_allclose(adjust_pvalues(pvals, "fdr_bh"), multipletests(pvals, method="fdr_bh")[1],
                                   atol=1e-8)

    def test_fdr_controlled_in_simulation(self):
        rng = np.random.default_rng(5)
        # 1,000 families of 20 tests, 15 nulls (uniform p) and 5 strong effects
        null = rng.uniform(size=(1000, 15))
        alt = 2 * sps.norm.sf(np.abs(rng.normal(3.5, 1, size=(1000, 5))))
        fdp = []
        for row in np.hstack([null, alt]):
            reject = benjamini_hochberg(row) < 0.05
            fdp.append(reject[:15].sum() / max(reject.sum(), 1))
        # BH controls FDR at (15/20) * 5% = 3.75%
        assert np.mean(fdp) <= 0.05


class TestAdjustFrame:
    def test_scopes(self):
        df = pd.DataFrame({"metric": ["a", "a", "b", "b"], "p_value": [0.01, 0.04, 0.02, 0.03]})
        per_metric = adjust_frame(df, "holm", "metric")["p_value_adjusted"].to_numpy()
        np.testing.assert_allclose(per_metric, [0.02, 0.04, 0.04, 0.04])
        everything = adjust_frame(df, "holm", "all")["p_value_adjusted"].to_numpy()
        np.testing.assert_allclose(everything, multipletests(df["p_value"], method="holm")[1])

    def test_errors(self):
        df = pd.DataFrame({"metric": ["a"], "p_value": [0.5]})
        with pytest.raises(ParameterError, match="correction_scope"):
            adjust_frame(df, "holm", "segment")
        with pytest.raises(ParameterError, match="unknown correction"):
            adjust_pvalues([0.1], "tukey")
        with pytest.raises(ParameterError, match="0, 1"):
            holm([1.2])
