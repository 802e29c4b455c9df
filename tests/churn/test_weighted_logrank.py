"""Weighted log-rank tests (Fleming–Harrington G(p, q), Gehan–Wilcoxon, Tarone–Ware) on weighted rows.

References
----------
* R survival, ``survdiff(Surv(time, status) ~ sex, data = lung)``: observed 112 / 53, expected
  91.6 / 73.4, Chisq = 10.3 on 1 df, p = 0.001; with ``rho = 1`` (G(1, 0)): Chisq = 12.7,
  p = 4e-04 (R's printout; the lung data ship with lifelines as ``load_lung``).
* lifelines 0.30.3 ``multivariate_logrank_test(weightings=...)`` on the same raw rows, values pasted
  (digits beyond R's printout).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung, load_waltons

from workbench import DataContractError, ParameterError
from workbench.churn.survival import logrank_table, weighted_logrank_test

# lifelines 0.30.3 multivariate_logrank_test on lung (time, sex, status)
LUNG_LIFELINES = {(0, 0): 10.326741954885637, (1, 0): 12.714151401157595, (0, 1): 3.4599841660911608,
                  (1, 1): 7.664782978601045, (0.5, 2): 2.7482632338362785}
LUNG_WILCOXON, LUNG_TARONE = 12.47213533126259, 12.455543902215116
# three groups: lung with ph.ecog in {0, 1, 2}
ECOG_LIFELINES = {(0, 0): 18.012096694698254, (1, 0): 20.272546978192302, (0, 1): 7.116720434667599}


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


def test_r_survdiff_printout(lung):
    plain = weighted_logrank_test(lung["time"], lung["sex"], lung["status"], weighting="logrank")
    assert plain.observed == (112.0, 53.0)
    assert [round(v, 1) for v in plain.expected] == [91.6, 73.4]
    assert round(plain.statistic, 1) == 10.3 and round(plain.p_value, 3) == 0.001
    peto = weighted_logrank_test(lung["time"], lung["sex"], lung["status"], p=1)
    assert round(peto.statistic, 1) == 12.7 and f"{peto.p_value:.0e}" == "4e-04"
    assert peto.weighting == "fleming-harrington(1, 0)"


@pytest.mark.parametrize("pq", list(LUNG_LIFELINES))
def test_fleming_harrington_against_lifelines(lung, pq):
    res = weighted_logrank_test(lung["time"], lung["sex"], lung["status"], p=pq[0], q=pq[1])
    assert res.statistic == pytest.approx(LUNG_LIFELINES[pq], rel=1e-10)
    assert res.degrees_of_freedom == 1


def test_gehan_and_tarone_ware_and_three_groups(lung):
    assert weighted_logrank_test(lung["time"], lung["sex"], lung["status"], weighting="wilcoxon").statistic == \
        pytest.approx(LUNG_WILCOXON, rel=1e-10)
    assert weighted_logrank_test(lung["time"], lung["sex"], lung["status"], weighting="tarone-ware").statistic == \
        pytest.approx(LUNG_TARONE, rel=1e-10)
    ecog = lung[lung["ph.ecog"].isin([0, 1, 2])]
    for (p, q), want in ECOG_LIFELINES.items():
        res = weighted_logrank_test(ecog["time"], ecog["ph.ecog"], ecog["status"], p=p, q=q)
        assert res.degrees_of_freedom == 2 and res.statistic == pytest.approx(want, rel=1e-10)


def test_weighted_rows_equal_replicated_rows_and_g00_is_the_logrank_test():
    wal = load_waltons()
    counts = wal.groupby(["T", "E", "group"]).size().rename("n").reset_index()
    assert len(counts) < len(wal) / 2
    for p, q in [(0, 0), (1, 0), (0, 1), (2, 2)]:
        raw = weighted_logrank_test(wal["T"], wal["group"], wal["E"], p=p, q=q)
        grouped = weighted_logrank_test(counts["T"], counts["group"], counts["E"], counts["n"], p=p, q=q)
        assert grouped.statistic == pytest.approx(raw.statistic, rel=1e-12)
        np.testing.assert_allclose(grouped.observed, raw.observed, rtol=1e-12)
    # G(0, 0) is the unweighted test of logrank_table (lifelines), on weighted rows too
    spells = counts.rename(columns={"T": "duration_days", "E": "churned"})
    old = logrank_table(spells, "group", weights_col="n")
    new = logrank_table(spells, "group", weights_col="n", weighting="fleming-harrington", p=0, q=0)
    assert new["test_statistic"].iloc[0] == pytest.approx(old["test_statistic"].iloc[0], rel=1e-10)
    assert new["p_value"].iloc[0] == pytest.approx(old["p_value"].iloc[0], rel=1e-8)
    assert list(old.columns) == ["test_statistic", "degrees_of_freedom", "p_value", "groups"]  # unchanged
    assert new["weighting"].iloc[0] == "fleming-harrington(0, 0)"


def test_errors():
    with pytest.raises(ParameterError, match="weighting"):
        weighted_logrank_test([1, 2], ["a", "b"], [1, 1], weighting="peto-prentice")
    with pytest.raises(ParameterError, match="non-negative"):
        weighted_logrank_test([1, 2], ["a", "b"], [1, 1], p=-1)
    with pytest.raises(ParameterError, match="two groups"):
        weighted_logrank_test([1, 2], ["a", "a"], [1, 1])
    with pytest.raises(DataContractError, match="negative"):
        weighted_logrank_test([1, -2], ["a", "b"], [1, 1])
    with pytest.raises(DataContractError, match="missing group"):
        weighted_logrank_test([1, 2, 3], ["a", None, "b"], [1, 1, 1])


@pytest.mark.slow
@pytest.mark.parametrize("pq", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_false_positive_rate_under_the_null(pq):
    """A/A: the 5% test rejects 5% ± 1 point of 2,000 null simulations.

    Two groups with the same survival (exponential, mean 40 days, whole days, administrative
    censoring at day 60), 300 spells, collapsed to weighted (day, event, group) rows. Binomial sd
    0.49 points; seed 3 gives 5.1, 4.8, 5.45, 5.3%. Over 8,000 simulations G(1, 0) rejects 5.34%.
    About 4 s per weighting.
    """
    rng = np.random.default_rng(3)
    sims, n = 2000, 300
    rejected = 0
    for _ in range(sims):  # a loop over simulations; each test is vectorised over its rows
        days = np.minimum(np.ceil(rng.exponential(40.0, n)), 60.0)
        key, w = np.unique(days * 4 + (days < 60) * 2 + rng.integers(0, 2, n), return_counts=True)
        res = weighted_logrank_test(key // 4, key % 2, (key // 2) % 2, w, p=pq[0], q=pq[1])
        rejected += res.p_value < 0.05
    assert 0.04 <= rejected / sims <= 0.06
