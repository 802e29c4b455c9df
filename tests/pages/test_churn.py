"""What the churn page states: the functions behind it, and the rendered page (zh and en) against
them, the dates ("last month" is the last complete month before as-of) and the simulator's truth."""
from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.pages.rendered import page_text
from workbench.i18n import t
from workbench.pages import Verdict
from workbench.pages import churn as page


@pytest.fixture(scope="module")
def brand_wb(report_brand):
    folder, brand = report_brand
    return brand, workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])


def _deletes_in(brand, start: str, end: str, kind: str) -> int:
    """Hand count from the contact_events table: deletes of one kind in [start, end) that ended a relationship.

    A close right after a close of the same pair (the guide deleting a customer who had already deleted the
    guide) ends nothing: it is a second close (contract rule 13)."""
    ev = brand.tables["contact_events"].sort_values(["customer_id", "staff_id", "event_time"], kind="stable")
    previous = ev.groupby(["customer_id", "staff_id"])["event_type"].shift()
    ends = previous.isna() | (previous == "add")
    when = (ev["event_time"] >= pd.Timestamp(start)) & (ev["event_time"] < pd.Timestamp(end))
    return int((when & ends & (ev["event_type"] == kind)).sum())


@pytest.mark.parametrize("as_of", ["2026-01-01", "2026-01-15"])
def test_last_month_is_the_last_complete_month_before_as_of(brand_wb, as_of):
    brand, wb = brand_wb
    losses = page.monthly_losses(wb, as_of, months=12)
    assert losses.month_label() == "2025-12"
    assert (losses.deletes_by_customer.start, losses.deletes_by_customer.end) == \
        (pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01"))
    assert losses.deletes_by_customer.value == _deletes_in(brand, "2025-12-01", "2026-01-01", "delete_by_customer")
    assert losses.deletes_by_staff.value == _deletes_in(brand, "2025-12-01", "2026-01-01", "delete_by_staff")
    assert losses.deletes.value == losses.deletes_by_customer.value + losses.deletes_by_staff.value
    # the chart's rows: complete months only, ending with the stated month, values identical
    chart = losses.monthly
    assert len(chart) == 12 and chart["period"].iloc[-1] == pd.Timestamp("2025-12-01")
    assert chart["period"].iloc[0] == pd.Timestamp("2025-01-01")
    assert chart["deletes_by_customer"].iloc[-1] == losses.deletes_by_customer.value
    assert chart["group_leaves"].iloc[-1] == losses.group_leaves.value


def test_last_month_on_the_last_day_of_a_month_is_the_month_before(brand_wb):
    brand, wb = brand_wb
    losses = page.monthly_losses(wb, "2025-12-31", months=3)
    assert losses.month_label() == "2025-11"
    assert losses.deletes_by_customer.value == _deletes_in(brand, "2025-11-01", "2025-12-01", "delete_by_customer")
    assert list(losses.monthly["period"].dt.strftime("%Y-%m")) == ["2025-09", "2025-10", "2025-11"]


def test_recent_cohorts_are_complete_months():
    cohorts = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
    assert page.recent_cohorts(cohorts, "2026-01-01", 3) == ["2025-10", "2025-11", "2025-12"]
    assert page.recent_cohorts(cohorts + ["2026-01"], "2026-01-20", 2) == ["2025-11", "2025-12"]


def _fake_cox(rows):
    return SimpleNamespace(hazard_ratios=pd.DataFrame(rows, columns=["covariate", "hr", "hr_low", "hr_high"]))


def test_hazard_sentences_are_chosen_from_the_interval():
    ratios = page.hazard_ratios(_fake_cox([("x_low", 0.85, 0.80, 0.90), ("x_null", 0.97, 0.85, 1.10),
                                           ("x_high", 1.20, 1.10, 1.31)]), 14)
    assert [ratios[k].verdict for k in ("x_low", "x_null", "x_high")] == \
        [Verdict.NEGATIVE, Verdict.NOT_DISTINGUISHABLE, Verdict.POSITIVE]
    assert page.hazard_sentence(ratios["x_low"], "X", "en").startswith("X: lower risk of deletion, -15.0%")
    assert "not distinguishable from no effect (-3.0%, 95% interval -15.0% to +10.0%)" in \
        page.hazard_sentence(ratios["x_null"], "X", "en")
    assert "与无影响无法区分" in page.hazard_sentence(ratios["x_null"], "X", "zh")
    assert page.hazard_sentence(ratios["x_high"], "X", "en").startswith("X: higher risk of deletion, +20.0%")


def test_channel_difference_sentence_follows_the_p_value():
    differ = page.group_difference(pd.DataFrame({"test_statistic": [20.0], "degrees_of_freedom": [4],
                                                 "p_value": [0.0005]}))
    same = page.group_difference(pd.DataFrame({"test_statistic": [3.0], "degrees_of_freedom": [4],
                                               "p_value": [0.56]}))
    assert differ.differs and not same.differs
    assert "too large to be chance" in page.group_difference_sentence(differ, "en")
    assert "not distinguishable" in page.group_difference_sentence(same, "en")


def _truth_hr(truth: dict, covariate: str) -> float:
    """True hazard ratio of a Cox covariate; group membership and purchase are not in the
    simulator's hazard, so their true ratio is 1."""
    churn = truth["churn"]
    if covariate == "early_chats":
        return churn["hr_per_early_chat"]
    if covariate.startswith("uses_retention_tool"):
        return churn["hr_retention_tool"]
    if covariate.startswith("channel_group="):
        return churn["hr_channel_group"][covariate.split("=", 1)[1]]
    return 1.0


def test_stated_hazard_ratio_intervals_cover_the_simulators_truth(brand_wb):
    brand, wb = brand_wb
    _, ratios = page.fit_deletion_cox(wb, brand.truth["as_of"][:10], brand.truth["churn"]["landmark_days"])
    assert {"early_chats", "uses_retention_tool=1", "channel_group=ads"} <= set(ratios)
    missed = {k: (r.hazard_ratio.ci_low, _truth_hr(brand.truth, k), r.hazard_ratio.ci_high)
              for k, r in ratios.items()
              if not r.hazard_ratio.ci_low <= _truth_hr(brand.truth, k) <= r.hazard_ratio.ci_high}
    assert missed == {}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_churn_page_states_the_functions_numbers_for_the_right_month(render, brand_wb, lang):
    brand, wb = brand_wb
    text = page_text(render("churn_report", lang))
    as_of = brand.truth["as_of"][:10]
    losses = page.monthly_losses(wb, as_of, months=12)
    # (b) "last month" is December for as-of 2026-01-01, and the callout states December's numbers
    assert page.losses_sentence(losses, lang) in text
    assert ("Last month (2025-12)" if lang == "en" else "上个月（2025-12）") in text
    november = losses.monthly.iloc[-2]
    assert november["deletes_by_customer"] != losses.deletes_by_customer.value  # the old page's number differs
    assert t("churn.kpi_deletes", lang, month="2025-12") in text
    # (a) the hazard-ratio sentences are the functions' sentences
    _, ratios = page.fit_deletion_cox(wb, as_of, 14)
    chat = page.hazard_sentence(ratios["early_chats"], t("churn.cov_early_chats", lang, days=14), lang)
    assert chat in text
    tool = page.hazard_sentence(ratios["uses_retention_tool=1"], t("churn.cov_tool", lang), lang)
    assert tool in text
    # no raw English verdict or enum values on the Chinese page
    if lang == "zh":
        assert not re.search(r"not_distinguishable|delete_by_customer|offline_store", text)


def test_survival_kpis_state_the_kaplan_meier_numbers(brand_wb):
    from workbench.churn import kaplan_meier_table
    from workbench.churn.spells import spell_counts

    brand, wb = brand_wb
    as_of = brand.truth["as_of"][:10]
    spells = spell_counts(wb, as_of, by=["channel_group"], landmark_days=14)
    km = kaplan_meier_table(spells, weights_col="weight").iloc[0]
    kpis = page.survival_kpis(spells, km, as_of)
    assert kpis.open_relationships.value == spells["open_weight"].sum()
    assert kpis.still_connected_90d.ci_low < kpis.still_connected_90d.value < kpis.still_connected_90d.ci_high
    expected = t("churn.days", "en", n=f"{km['median_days']:,.0f}") if math.isfinite(km["median_days"]) else None
    if expected:
        assert page.median_text(kpis, "en") == expected


def test_channel_extremes_pick_the_longest_and_shortest_lasting_groups():
    table = pd.DataFrame({"channel_label": ["A", "B", "C"], "s90": [0.7, 0.8, 0.6]})
    ext = page.channel_extremes(table)
    assert (ext.best, ext.best_s90.value, ext.worst, ext.worst_s90.value) == ("B", 0.8, "C", 0.6)
    assert page.channel_extremes(table.iloc[:1]) is None


def test_cohort_sentence_says_whether_the_cohorts_differ():
    def km(new, new_ci, old, old_ci):
        return pd.DataFrame({"cohort": ["2025-06", "2025-11"], "s30": [old, new],
                             "s30_low": [old - old_ci, new - new_ci], "s30_high": [old + old_ci, new + new_ci]})

    close = page.cohort_comparison(km(0.855, 0.03, 0.886, 0.03), "2026-01-01")
    # difference −3.1 pp, standard error hypot(0.03, 0.03)/1.96 = 0.0216 → interval −7.3 … +1.1 pp
    assert close.difference.value == pytest.approx(-0.031)
    assert close.difference.ci_low == pytest.approx(-0.031 - 1.96 * math.hypot(0.03, 0.03) / 1.96)
    assert close.verdict == Verdict.NOT_DISTINGUISHABLE
    assert "not distinguishable" in page.cohort_sentence(close, "en")
    apart = page.cohort_comparison(km(0.80, 0.01, 0.90, 0.01), "2026-01-01")
    assert apart.verdict == Verdict.NEGATIVE and "keeps fewer (-10.0 pp" in page.cohort_sentence(apart, "en")
    # a cohort without 30 days of follow-up before as-of is not compared
    assert page.cohort_comparison(km(0.8, 0.01, 0.9, 0.01), "2025-12-15") is None


def test_value_at_risk_uses_the_clv_reports_customer_value(brand_wb):
    """The churn page weighs relationships by the same expected value the CLV page states
    (experiment orders left out of the fit, as the CLV report does by default)."""
    from workbench.churn.risk import _value_sql
    from workbench.clv.pipeline import customer_value

    brand, wb = brand_wb
    as_of = pd.Timestamp(brand.truth["as_of"][:10])
    churn_value = wb.query(f"SELECT SUM(value) AS v, COUNT(*) AS n FROM ({_value_sql(wb, as_of, 'clv')}) x").iloc[0]
    cv = customer_value(wb, as_of, exclude_experiment_orders=True)
    buyers = cv.customers[cv.customers["frequency"].notna()]
    assert churn_value["n"] == len(buyers)
    assert churn_value["v"] == pytest.approx(buyers["clv"].sum(), rel=1e-9)


# ---------------------------------------------------------------- DERL sentence and weighted tests (issue 19)
def test_residual_lifetime_states_the_sbg_derl():
    """Regular cohort of Fader & Hardie (2007) read as monthly: the sentence states the DERL of a
    relationship that has lasted 6 months and of a new one, discounted at 10% a year."""
    from workbench.churn import ShiftedBetaGeometricFitter
    from workbench.churn.sbg import derl

    sbg = ShiftedBetaGeometricFitter().fit(survival=[100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], n=1000)
    r = page.residual_lifetime(sbg)
    monthly = 1.1 ** (1 / 12) - 1
    a, b = float(sbg.params_["alpha"]), float(sbg.params_["beta"])
    assert r.stayed.value == pytest.approx(float(derl(a, b, monthly, 6)), rel=1e-12)
    assert r.new.value == pytest.approx(float(derl(a, b, monthly, 0)), rel=1e-12)
    assert r.stayed.value > r.new.value  # the sorting effect
    assert list(r.table["months_stayed"]) == list(range(13)) and r.table["derl_months"].is_monotonic_increasing
    en = page.residual_lifetime_sentence(r, "en")
    assert en.startswith(f"A relationship that has lasted 6 months is expected to stay connected {r.stayed.text()} "
                         f"more months, against {r.new.text()} months")
    assert "10% a year" in en
    assert f"已持续 6 个月的好友关系，预计还将保持 {r.stayed.text()} 个月" in page.residual_lifetime_sentence(r, "zh")


def test_weighted_logrank_rows_start_with_the_plain_test():
    from workbench.churn import logrank_table

    rng = np.random.default_rng(2)
    spells = pd.DataFrame({"duration_days": np.ceil(rng.exponential(30, 600)), "churned": rng.random(600) < 0.7,
                           "group": rng.choice(["a", "b", "c"], 600)})
    rows = page.weighted_logrank_rows(spells, "group", weights_col=None)
    assert rows["weighting"].tolist() == [f"fleming-harrington({p}, {q})" for p, q in page.FH_WEIGHTS]
    plain = logrank_table(spells, "group")
    assert rows["test_statistic"].iloc[0] == pytest.approx(plain["test_statistic"].iloc[0], rel=1e-10)
    assert (rows["degrees_of_freedom"] == 2).all()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_churn_page_states_derl_and_the_weighted_tests_in_the_details(render, brand_wb, lang):
    """The page's DERL sentence is the function's, from the report's own sBG fit; the weighted
    log-rank tests appear only in the statistical details at the end."""
    from workbench.churn import ShiftedBetaGeometricFitter
    from workbench.churn.cohorts import cohort_retention
    from workbench.churn.spells import spell_counts

    brand, wb = brand_wb
    as_of = brand.truth["as_of"][:10]
    by_cohort = spell_counts(wb, as_of, by=["cohort"], landmark_days=14)
    sbg = ShiftedBetaGeometricFitter().fit(cohorts=cohort_retention(by_cohort, as_of, start_col="cohort",
                                                                     weights_col="weight"))
    text = page_text(render("churn_report", lang))
    assert page.residual_lifetime_sentence(page.residual_lifetime(sbg), lang) in text
    details = text.index(t("churn.h_details", lang))
    assert text.index(t("churn.wlogrank_note", lang)) > details
    assert text.index(t("churn.derl_note", lang, discount="10%")) > details
    assert text.count("G(1, 0)") >= 2  # the note and the table row
