"""Group-sequential designs.

Boundaries against published tables and rpact's own test values, power and expected sample size
against rpact, and the type I error of the test by simulation.
"""
from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ParameterError
from workbench.experiments.frequentist import welch_ttest
from workbench.experiments.group_sequential import (
    classical_design,
    compare_with_confidence_sequence,
    design_power,
    drift_for_power,
    group_sequential_frame,
    group_sequential_test,
    obrien_fleming_spending,
    pocock_spending,
    spending_design,
)
from workbench.experiments.stats import SampleMeanStatistic

# Jennison & Turnbull (2000), Group Sequential Methods with Applications to Clinical Trials:
# Table 2.1 (Pocock constants C_P(K, 0.05)) and Table 2.3 (O'Brien & Fleming constants C_B(K, 0.05)),
# two-sided alpha = 0.05, equally spaced looks; printed to 3 decimals.
POCOCK_TABLE = {2: 2.178, 3: 2.289, 4: 2.361, 5: 2.413, 10: 2.555}
OBF_TABLE = {2: 1.977, 3: 2.004, 4: 2.024, 5: 2.040, 10: 2.087}


@pytest.mark.parametrize("k", sorted(POCOCK_TABLE))
def test_classical_pocock_and_obrien_fleming_reproduce_jennison_turnbull(k):
    pocock = classical_design(k, 0.05, sided=2, delta=0.5)
    assert np.allclose(pocock.critical_values, POCOCK_TABLE[k], atol=1e-3)
    obf = classical_design(k, 0.05, sided=2, delta=0.0)
    assert obf.critical_values[-1] == pytest.approx(OBF_TABLE[k], abs=1e-3)
    # O'Brien-Fleming: c_k = C_B sqrt(K / k)
    assert np.allclose(obf.critical_values, OBF_TABLE[k] * np.sqrt(k / np.arange(1, k + 1)), atol=1e-3 * np.sqrt(k))
    assert obf.alpha_spent[-1] == pytest.approx(0.05, abs=1e-9)


def test_classical_designs_reproduce_rpact():
    # rpact tests/testthat/test-f_design_group_sequential.R: getDesignInverseNormal() defaults
    # (typeOfDesign "OF", kMax 3, one-sided alpha 0.025) and x8b (Wang-Tsiatis deltaWT 0.24, sided 2).
    of = classical_design(3, 0.025, sided=1, delta=0.0)
    assert np.allclose(of.critical_values, [3.4710914, 2.4544323, 2.0040356], atol=1e-6)
    assert np.allclose(of.alpha_spent[:2], [0.00025917372, 0.0071600594], atol=1e-9)
    wt = classical_design([0.3, 0.8, 1.0], 0.025, sided=2, delta=0.24)
    assert np.allclose(wt.critical_values, [3.2029374, 2.4819703, 2.3420706], atol=1e-6)
    assert np.allclose(wt.alpha_spent[:2], [0.0013603353, 0.013978861], atol=1e-9)
    assert np.allclose(wt.nominal_levels, [0.00068016766 * 2, 0.0065329078 * 2, 0.0095885436 * 2], atol=1e-9)


def test_spending_designs_reproduce_rpact():
    # rpact test-f_design_group_sequential.R, x7a (asOF, alpha 0.13, one-sided, non-binding futility:
    # the efficacy bounds are the pure spending bounds) and x6b (asP, information rates 0.4, 0.7).
    obf = spending_design([0.4, 0.75, 1.0], alpha=0.13, sided=1, spending="obrien_fleming")
    assert np.allclose(obf.critical_values, [2.1280732, 1.4368565, 1.2468994], atol=1e-6)
    assert np.allclose(obf.alpha_spent, [0.016665509, 0.080406163, 0.13], atol=1e-8)
    obf4 = spending_design([0.4, 0.75, 0.85, 1.0], alpha=0.13, sided=1)
    assert np.allclose(obf4.critical_values, [2.1280732, 1.4368565, 1.422873, 1.2970881], atol=1e-6)
    pocock = spending_design([0.4, 0.7], alpha=0.025, sided=1, spending="pocock")
    assert np.allclose(pocock.critical_values, [2.223875, 2.3050796], atol=1e-6)
    assert np.allclose(pocock.alpha_spent, [0.013078429, 0.0197432], atol=1e-8)
    assert np.allclose(pocock.nominal_levels, [0.013078429, 0.010581057], atol=1e-8)


def test_two_sided_spending_spends_exactly_alpha_and_looks_like_its_family():
    obf = spending_design(5, 0.05, sided=2, spending="obrien_fleming")
    assert np.allclose(obf.alpha_spent, obrien_fleming_spending(np.arange(1, 6) / 5, 0.05), atol=1e-12)
    assert obf.alpha_spent[-1] == pytest.approx(0.05)
    # The O'Brien-Fleming-type bounds fall steeply and end near the classical C_B(5) = 2.040; the Pocock-type
    # bounds are nearly flat near the classical C_P(5) = 2.413 (Jennison & Turnbull, section 7.2).
    assert np.all(np.diff(obf.critical_values) < 0) and obf.critical_values[0] > 4.3
    assert obf.critical_values[-1] == pytest.approx(2.0635, abs=1e-3)
    pocock = spending_design(5, 0.05, sided=2, spending="pocock")
    assert np.allclose(pocock.alpha_spent, pocock_spending(np.arange(1, 6) / 5, 0.05), atol=1e-12)
    assert max(pocock.critical_values) - min(pocock.critical_values) < 0.06
    assert np.allclose(pocock.critical_values, 2.413, atol=0.03)


def test_power_and_expected_sample_size_reproduce_rpact():
    # rpact test-f_design_group_sequential.R, getDesignInverseNormal x1 / getDesignCharacteristics y1:
    # kMax 3, information rates 0.2, 0.4, 1, one-sided alpha 0.03, beta 0.14, asHSD gammaA = 0.
    d = spending_design([0.2, 0.4, 1.0], alpha=0.03, sided=1, spending="hsd", gamma=0.0)
    assert np.allclose(d.critical_values, [2.5121443, 2.4228747, 2.0280392], atol=1e-6)
    shift = drift_for_power(d, 0.86) ** 2
    assert shift == pytest.approx(9.4594101, abs=1e-5)
    p = design_power(d, np.sqrt(shift))
    assert np.allclose(np.cumsum(p.rejection_by_look), [0.12783451, 0.34055165, 0.86], atol=1e-6)
    n_fixed = 8.7681899  # (z_0.97 + z_0.86)^2
    assert shift / n_fixed == pytest.approx(1.0788327, abs=1e-6)  # inflation factor
    assert p.expected_fraction * shift / n_fixed == pytest.approx(0.83081135, abs=1e-6)  # averageSampleNumber1
    null = design_power(d, 0.0)
    assert null.power == pytest.approx(0.03, abs=1e-9)
    assert null.expected_fraction * shift / n_fixed == pytest.approx(1.0697705, abs=1e-6)  # averageSampleNumber0


def test_the_test_stops_at_the_first_crossing():
    d = spending_design(3, 0.05)
    r = group_sequential_test(np.array([[0.5, 1.0, 2.1], [4.0, 0.0, 0.0], [-1.0, -3.2, -1.0], [1.0, 1.0, 1.0]]), d)
    assert r.stopped_at.tolist() == [3, 1, 2, 0]
    assert r.reject.tolist() == [True, True, True, False]
    one = group_sequential_test([1.0], d)
    assert (one.stopped_at, one.reject) == (0, False)
    with pytest.raises(ParameterError, match="plans 3"):
        group_sequential_test([1.0, 1.0, 1.0, 1.0], d)


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="increase strictly"):
        spending_design([0.5, 0.4, 1.0])
    with pytest.raises(ParameterError, match="sided"):
        spending_design(3, sided=3)
    with pytest.raises(ParameterError, match="spending"):
        spending_design(3, spending="linear")
    with pytest.raises(ParameterError, match="alpha"):
        classical_design(3, alpha=1.5)


def test_comparison_with_the_confidence_sequence():
    d = spending_design(5, 0.05)
    cmp = compare_with_confidence_sequence(d, 10_000, 0.06, 1.0)
    t = cmp.table
    assert t["n"].tolist() == [2000.0, 4000.0, 6000.0, 8000.0, 10000.0]
    # The confidence sequence is valid at every unit, so at 5 looks it spends well under alpha and has
    # less power; it is wider than the spending bound everywhere but at the first look, where the
    # O'Brien-Fleming-type bound is the stricter one.
    assert cmp.cs_alpha_at_looks < 0.05
    assert cmp.gs_power > cmp.cs_power
    assert (t["cs_critical"].iloc[1:] > t["gs_critical"].iloc[1:]).all()
    assert t["gs_critical"].iloc[0] > t["cs_critical"].iloc[0]
    assert np.allclose(t["gs_threshold"], t["gs_critical"] * 2.0 / np.sqrt(t["n"]))
    assert 0 < cmp.gs_expected_n < 10_000 and 0 < cmp.cs_expected_n <= 10_000


def test_frame_tests_each_day_at_the_observed_information_fractions():
    import pandas as pd

    rng = np.random.default_rng(2)
    rows = []
    for variant, lift in (("c", 0.0), ("t", 0.15)):
        x = rng.normal(1.0 + lift, 1.0, 4000)
        for day, n in enumerate((600, 1500, 2400, 4000), start=1):  # unequal, unplanned looks
            rows.append({"day": day, "variant": variant, "n": n, "sum": x[:n].sum(), "sum_squares": (x[:n] ** 2).sum()})
    out = group_sequential_frame(pd.DataFrame(rows), "c", planned_n=8000)
    assert out["information_fraction"].tolist() == [0.15, 0.375, 0.6, 1.0]
    expected = spending_design([0.15, 0.375, 0.6, 1.0], 0.05)
    assert np.allclose(out["critical_value"], expected.critical_values)
    last = [r for r in rows if r["day"] == 4]
    welch = welch_ttest(*(SampleMeanStatistic(r["n"], r["sum"], r["sum_squares"]) for r in last))
    assert out["z"].iloc[-1] == pytest.approx(welch.effect / welch.se)
    assert (out["crossed"] == (out["z"].abs() >= out["critical_value"])).all()
    assert out["reject"].iloc[-1] and out["reject"].is_monotonic_increasing
    with pytest.raises(Exception, match="planned_n"):
        group_sequential_frame(pd.DataFrame(rows), "c", planned_n=4000)


def _simulated_z(rng, sims, looks, per_look, effect):
    """Cumulative Welch z per look from exponential outcomes (skewed), two arms of ``per_look`` units a look."""
    c = rng.exponential(1.0, size=(sims, looks, per_look))
    t = rng.exponential(1.0, size=(sims, looks, per_look)) + effect
    def cum(x):
        return SampleMeanStatistic(np.cumsum(np.full((sims, looks), per_look), axis=1),
                                   np.cumsum(x.sum(axis=2), axis=1), np.cumsum((x * x).sum(axis=2), axis=1))
    r = welch_ttest(cum(c), cum(t))
    return np.asarray(r.effect) / np.asarray(r.se)


@pytest.mark.slow
def test_aa_type_one_error_with_five_looks_is_alpha():
    """A/A: 4,000 simulated experiments, 5 equally spaced looks of 200 units per arm each."""
    rng = np.random.default_rng(20261207)
    z = _simulated_z(rng, 4000, 5, 200, 0.0)
    for design in (spending_design(5, 0.05), spending_design(5, 0.05, spending="pocock"),
                   classical_design(5, 0.05, delta=0.0)):
        rate = float(group_sequential_test(z, design).reject.mean())
        assert 0.04 <= rate <= 0.06, (design.kind, rate)
    # Acting on the naive fixed-horizon test at every look is far above 5% (about 14% for 5 looks).
    naive = float((np.abs(z) >= 1.959964).any(axis=1).mean())
    assert naive > 0.10


@pytest.mark.slow
def test_simulated_power_and_stopping_match_the_recursion():
    rng = np.random.default_rng(7)
    d = spending_design(5, 0.05)
    effect = 0.1  # se at the last look = sqrt(2 / 1000) for unit-variance outcomes: drift = 0.1 / 0.04472
    z = _simulated_z(rng, 4000, 5, 200, effect)
    res = group_sequential_test(z, d)
    theory = design_power(d, effect / np.sqrt(2.0 / 1000))
    tolerance = 4 * np.sqrt(theory.power * (1 - theory.power) / 4000)  # 4 Monte Carlo standard errors
    assert float(res.reject.mean()) == pytest.approx(theory.power, abs=tolerance)
    stops = np.bincount(res.stopped_at, minlength=6)[1:] / 4000
    assert np.allclose(stops, theory.rejection_by_look, atol=0.025)
