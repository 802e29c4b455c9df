"""Shifted-beta-geometric cohort retention against Fader & Hardie (2007) and simulated cohorts.

Published data ("How to project customer retention", Table 1): the share of an initial
cohort still active after 0..12 years, for a "regular" and a "high end" segment. The paper
calibrates on years 0-7 (percents turned into counts with N = 1,000) and reports
alpha = 0.704, beta = 1.182 (regular) and alpha = 0.668, beta = 3.806 (high end); years
8-12 are its holdout.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.special import betaln

from workbench import DataContractError, ParameterError
from workbench.churn import ShiftedBetaGeometricFitter

REGULAR = [100.0, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1]
HIGH_END = [100.0, 86.9, 74.3, 65.3, 59.3, 55.1, 51.7, 49.1]
# years 8-12 of Table 1, not used in the fit
REGULAR_HOLDOUT = [22.3, 20.7, 19.4, 18.3, 17.3]
HIGH_END_HOLDOUT = [46.8, 44.5, 42.7, 40.9, 39.4]
Z999 = stats.norm.ppf(0.9995)


def explicit_ll(alpha: float, beta: float, survival, n: float = 1000.0) -> float:
    """The paper's likelihood written out: lost in year t with P(T = t), survivors with S(7)."""
    s = np.asarray(survival) / 100 * n
    lost = -np.diff(s)
    t = np.arange(1, len(lost) + 1)
    log_p = betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta)
    log_s = betaln(alpha, beta + len(lost)) - betaln(alpha, beta)
    return float(lost @ log_p + s[-1] * log_s)


@pytest.mark.parametrize("series, alpha, beta, holdout, tolerance", [
    (REGULAR, 0.704, 1.182, REGULAR_HOLDOUT, 0.5),
    (HIGH_END, 0.668, 3.806, HIGH_END_HOLDOUT, 2.0),
], ids=["regular", "high_end"])
def test_published_fit_and_holdout_projection(series, alpha, beta, holdout, tolerance):
    m = ShiftedBetaGeometricFitter().fit(survival=series, n=1000)
    # as published: three decimals
    assert (round(m.params_["alpha"], 3), round(m.params_["beta"], 3)) == (alpha, beta)
    proj = m.project(12)
    assert proj["period"].tolist() == list(range(13)) and proj["survival"].iloc[0] == 1.0
    years_8_12 = proj["survival"].iloc[8:].to_numpy() * 100
    # the paper's point: two parameters fitted on 7 years project years 8-12 within a point or two
    # (regular 22.0, 20.4, 19.1, 18.0, 17.0; high end 46.0, 43.6, 41.4, 39.5, 37.8)
    np.testing.assert_allclose(years_8_12, holdout, atol=tolerance)
    assert np.all(np.diff(years_8_12) < 0) and years_8_12[0] < series[-1]
    # retention rises with tenure: the fragile customers leave first
    assert np.all(np.diff(proj["retention"].iloc[1:]) > 0)
    assert proj["retention"].iloc[1] == pytest.approx(beta / (alpha + beta), abs=2e-3)


def test_log_likelihood_and_optimum():
    m = ShiftedBetaGeometricFitter().fit(survival=HIGH_END, n=1000)
    assert m.log_likelihood_ == pytest.approx(-1611.16, abs=0.01)  # the high-end fit's published LL
    assert m.log_likelihood_ == pytest.approx(explicit_ll(*m.params_, HIGH_END), abs=1e-9)
    # an independent optimiser on the written-out likelihood lands on the same point
    best = optimize.minimize(lambda p: -explicit_ll(*np.exp(p), REGULAR), np.zeros(2), method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    reg = ShiftedBetaGeometricFitter().fit(survival=REGULAR, n=1000)
    np.testing.assert_allclose(reg.params_.to_numpy(), np.exp(best.x), rtol=1e-5)


def test_standard_errors_and_summary():
    m = ShiftedBetaGeometricFitter().fit(survival=REGULAR, n=1000)
    # observed information of the written-out likelihood by central differences
    p, h = m.params_.to_numpy(), 1e-4
    f = lambda a, b: explicit_ll(a, b, REGULAR)  # noqa: E731
    haa = (f(p[0] + h, p[1]) - 2 * f(*p) + f(p[0] - h, p[1])) / h**2
    hbb = (f(p[0], p[1] + h) - 2 * f(*p) + f(p[0], p[1] - h)) / h**2
    hab = (f(p[0] + h, p[1] + h) - f(p[0] + h, p[1] - h) - f(p[0] - h, p[1] + h) + f(p[0] - h, p[1] - h)) / (4 * h * h)
    cov = np.linalg.inv(-np.array([[haa, hab], [hab, hbb]]))
    np.testing.assert_allclose(m.standard_errors_.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-3)
    s = m.summary
    assert list(s.index) == ["alpha", "beta"] and (s["lower 95% bound"] < s["coef"]).all()


def test_closed_forms_agree():
    m = ShiftedBetaGeometricFitter().fit(survival=REGULAR, n=1000)
    t = np.arange(1, 30)
    s = m.survival_function(np.r_[0, t])
    assert s[0] == pytest.approx(1.0)
    np.testing.assert_allclose(s[1:], np.cumprod(m.retention_rate(t)), rtol=1e-12)
    np.testing.assert_allclose(m.churn_probability(t), s[:-1] - s[1:], rtol=1e-10)
    assert m.churn_probability(t).sum() + s[-1] == pytest.approx(1.0)
    # E[T] truncated at 50 periods: S(0) + S(1) + … + S(49)
    assert m.expected_lifetime(horizon=50) == pytest.approx(float(m.survival_function(np.arange(50)).sum()))


def test_equivalent_inputs_give_the_same_fit():
    base = ShiftedBetaGeometricFitter().fit(survival=REGULAR, n=1000)
    shares = ShiftedBetaGeometricFitter().fit(survival=np.array(REGULAR) / 100, n=1000)
    counts = np.array(REGULAR) * 10
    lost = ShiftedBetaGeometricFitter().fit(lost=-np.diff(counts), alive_at_end=counts[-1])
    frame = pd.DataFrame({"cohort": "2019", "period": range(8), "n_alive": counts})
    cohort = ShiftedBetaGeometricFitter().fit(cohorts=frame)
    for other in (shares, lost, cohort):
        np.testing.assert_allclose(other.params_.to_numpy(), base.params_.to_numpy(), rtol=1e-6)
        assert other.log_likelihood_ == pytest.approx(base.log_likelihood_, abs=1e-6)
    assert cohort.n_customers_ == 1000


def simulate_cohorts(alpha: float, beta: float, ages, size: int, seed: int) -> pd.DataFrame:
    """Monthly cohorts of different ages: θ ~ Beta(α, β) per customer, lifetime ~ Geometric(θ)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, age in enumerate(ages):
        lifetime = rng.geometric(rng.beta(alpha, beta, size))  # periods until churn, >= 1
        alive = [(lifetime > t).sum() for t in range(age + 1)]
        rows += [(f"2024-{i:02d}", t, a) for t, a in enumerate(alive)]
    return pd.DataFrame(rows, columns=["cohort", "period", "n_alive"])


def test_joint_fit_of_cohorts_of_different_ages_recovers_truth():
    cohorts = simulate_cohorts(0.7, 1.8, ages=range(1, 25), size=2_000, seed=5)
    m = ShiftedBetaGeometricFitter().fit(cohorts=cohorts)
    assert m.n_customers_ == 24 * 2_000
    for name, truth in (("alpha", 0.7), ("beta", 1.8)):
        assert abs(m.params_[name] - truth) < Z999 * m.standard_errors_[name], (name, m.params_[name])
    # the joint likelihood is the sum over cohorts: the young cohorts alone are far less precise
    young = ShiftedBetaGeometricFitter().fit(cohorts=cohorts[cohorts["cohort"] <= "2024-02"])
    assert young.standard_errors_["beta"] > 2 * m.standard_errors_["beta"]


class TestBadInput:
    def test_increasing_series(self):
        with pytest.raises(DataContractError, match="non-increasing"):
            ShiftedBetaGeometricFitter().fit(survival=[100, 80, 90])

    def test_cohort_frame_errors(self):
        with pytest.raises(DataContractError, match="n_alive"):
            ShiftedBetaGeometricFitter().fit(cohorts=pd.DataFrame({"cohort": ["a"], "period": [0]}))
        gap = pd.DataFrame({"cohort": "a", "period": [0, 2], "n_alive": [10, 5]})
        with pytest.raises(DataContractError, match="without gaps"):
            ShiftedBetaGeometricFitter().fit(cohorts=gap)

    def test_nothing_to_fit(self):
        with pytest.raises(ParameterError):
            ShiftedBetaGeometricFitter().fit()
        with pytest.raises(ParameterError, match="not fitted"):
            ShiftedBetaGeometricFitter().survival_function([1, 2])
