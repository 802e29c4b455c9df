"""Sample-ratio mismatch: chi-square goodness of fit against scipy."""
from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats as sps

from workbench import DataContractError, ParameterError
from workbench.experiments import srm_test


class TestSRM:
    def test_matches_scipy_chisquare(self):
        r = srm_test({"control": 10_000, "a": 4_950, "b": 5_210}, {"control": 0.5, "a": 0.25, "b": 0.25})
        ref = sps.chisquare([10_000, 4_950, 5_210], f_exp=[10_080, 5_040, 5_040])
        assert r.chi2 == pytest.approx(ref.statistic, rel=1e-12)
        assert r.p_value == pytest.approx(ref.pvalue, abs=1e-12)
        assert r.dof == 2 and not r.flagged

    def test_flags_a_broken_split(self):
        r = srm_test(pd.Series({"control": 10_000, "treatment": 10_600}))
        assert r.p_value < 0.001 and r.flagged
        assert "SAMPLE RATIO MISMATCH" in str(r)

    def test_missing_variant_is_a_mismatch(self):
        r = srm_test({"control": 1000}, {"control": 0.5, "treatment": 0.5})
        assert r.flagged and r.observed["treatment"] == 0

    def test_errors(self):
        with pytest.raises(DataContractError, match="no expected weight"):
            srm_test({"control": 100, "rogue": 5}, {"control": 1.0, "treatment": 1.0})
        with pytest.raises(ParameterError, match="non-negative"):
            srm_test({"a": 1, "b": 2}, {"a": -1.0, "b": 1.0})
        with pytest.raises(DataContractError, match="integer"):
            srm_test({"a": 1.5, "b": 2})
