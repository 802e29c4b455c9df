"""What the CLV page states: the functions behind it, and the rendered page (zh and en) against
them and against the simulator's truth."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.pages.rendered import page_text
from workbench.clv.customer_table import HIGH_VALUE_TIERS, value_figures
from workbench.clv.pipeline import customer_value
from workbench.i18n import t
from workbench.pages import clv as page


@pytest.fixture(scope="module")
def report_value(report_brand):
    """The CLV fit exactly as the report's defaults run it (12 months, 1%, 100 draws, experiment orders out)."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    cv = customer_value(wb, brand.truth["as_of"][:10], horizon_months=12, discount_rate=0.01, interval_draws=100,
                        exclude_experiment_orders=True)
    return brand, cv, page.clv_statements(cv, value_figures(wb, cv.fan_thresholds, 0.5))


@pytest.fixture(scope="module")
def report_figures(report_brand):
    """The aggregates of the report's customer table (the same fit as ``report_value``, on its own workbench)."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    cv = customer_value(wb, brand.truth["as_of"][:10], interval_draws=100, exclude_experiment_orders=True,
                        frame=False)
    return value_figures(wb, cv.fan_thresholds, 0.5)


def _statements(wb, cv, threshold=0.5):
    return page.clv_statements(cv, value_figures(wb, cv.fan_thresholds, threshold))


@pytest.fixture()
def fresh_wb(report_brand):
    folder, brand = report_brand
    return workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])


def test_expected_active_counts_repeat_buyers_only(report_value):
    _, cv, s = report_value
    buyers = cv.customers[cv.customers["frequency"].notna()]
    once = buyers["frequency"] == 0
    assert s.one_time_buyers.value + s.repeat_buyers.value == s.buyers.value == len(buyers)
    # BG/NBD gives every one-time buyer P(alive) = 1: the model's assumption, not evidence
    assert np.allclose(buyers.loc[once, "p_alive"], 1.0)
    assert s.expected_active_repeat_buyers.value == pytest.approx(buyers.loc[~once, "p_alive"].sum())
    # the old headline added the one-time buyers in as certainly active
    old_headline = buyers["p_alive"].sum()
    assert old_headline - s.expected_active_repeat_buyers.value == pytest.approx(s.one_time_buyers.value)
    assert s.expected_active_repeat_buyers.value < s.repeat_buyers.value
    assert s.one_time_expected_purchases_90d.value == pytest.approx(buyers.loc[once, "expected_purchases_90d"].sum())
    assert s.one_time_expected_purchases_90d.end - s.one_time_expected_purchases_90d.start == pd.Timedelta(days=90)


def test_one_time_buyers_are_never_counted_at_risk(report_value, report_figures):
    _, cv, s = report_value
    cust = cv.customers
    high = cust["value_tier"].isin(HIGH_VALUE_TIERS)
    # by P(alive) alone every high-value one-time buyer would be safe; the page counts repeat buyers only
    assert ((cust["frequency"] == 0) & high).sum() > 0
    assert s.high_value_repeat_buyers.value == (high & (cust["frequency"] > 0)).sum()
    by_store = report_figures.at_risk_by_store
    assert by_store["at_risk"].sum() == s.high_value_at_risk.value
    assert by_store["high_value"].sum() == s.high_value_repeat_buyers.value
    assert by_store["value_at_risk"].sum() == pytest.approx(s.value_at_risk.value)


def test_alive_matrix_has_no_estimate_for_zero_repeats(report_value):
    _, cv, _ = report_value
    m = page.alive_matrix(cv.transaction_model, 26, max_frequency=5, n_recency=4)
    assert m.loc[0].isna().all()
    assert m.loc[1:].notna().all().all() and ((m.loc[1:] > 0) & (m.loc[1:] < 1)).all().all()


def test_orders_sentence_says_what_the_model_saw(report_value, fresh_wb):
    brand, cv, s = report_value
    tasks, orders = brand.tables["tasks"], brand.tables["orders"]
    experiment = orders["task_id"].isin(tasks.loc[tasks["experiment_id"].notna(), "task_id"]) & \
        orders["customer_id"].notna()
    assert s.orders_excluded.value == experiment.sum() > 0
    assert s.orders_used.value == orders["customer_id"].notna().sum() - experiment.sum()
    en = page.orders_sentence(s, "en")
    assert f"fitted on {s.orders_used.text()} orders" in en and f"{s.orders_excluded.text()} orders" in en
    included = _statements(fresh_wb, customer_value(fresh_wb, brand.truth["as_of"][:10]))
    assert not included.exclude_experiment_orders and included.experiment_orders.value == s.orders_excluded.value
    assert "including" in page.orders_sentence(included, "en")


def test_stated_bgnbd_intervals_cover_the_simulators_truth(report_value):
    """All buyers mix the reached group (rate scale α/m) and the holdout (α): r, a and b are shared,
    so their intervals must cover the truth; α's interval must reach the range between the two."""
    brand, _, s = report_value
    held, reached = brand.truth["bgnbd"], brand.truth["bgnbd_reached"]
    for name in ("r", "a", "b"):
        est = s.parameter("bgnbd", name)
        assert est.ci_low <= held[name] <= est.ci_high, (name, est)
    alpha = s.parameter("bgnbd", "alpha")
    assert alpha.ci_low <= held["alpha"] and alpha.ci_high >= reached["alpha"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_clv_page_states_the_functions_numbers(render, report_value, lang):
    _, cv, s = report_value
    text = page_text(render("clv_report", lang))
    assert page.orders_sentence(s, lang) in text
    assert page.one_time_sentence(s, lang).replace("**", "") in text
    assert page.alive_sentence(s, lang) in text
    assert page.at_risk_sentence(s, lang) in text
    assert f"{t('clv.kpi_alive', lang)} {s.expected_active_repeat_buyers.text()}" in text
    assert f"{t('clv.kpi_one_time', lang)} {s.one_time_buyers.text()}" in text
    assert f"{t('clv.kpi_total', lang, months=12)} {s.total_value.text()} 90%: {s.total_value.ci_text()}" in text
    buyers = cv.customers[cv.customers["frequency"].notna()]
    old_headline = f"{buyers['p_alive'].sum():,.0f}"
    assert f"{t('clv.kpi_alive', lang)} {old_headline}" not in text
    for p in s.parameters:
        assert p.estimate.ci_text() in text
    if lang == "zh":
        assert not re.search(r"super_vip|die_hard|gamma_gamma|bgnbd", text)


def test_gross_spend_page_states_gamma_gamma_intervals_that_cover_truth(render, report_brand):
    """The simulator's Gamma-Gamma truth describes the gross ``amount``; with ``spend_basis=gross`` (and
    experiment orders out, the default) the page's intervals cover it, and the page says the basis."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    cv = customer_value(wb, brand.truth["as_of"][:10], interval_draws=100, exclude_experiment_orders=True,
                        spend="gross")
    s = _statements(wb, cv)
    truth = brand.truth["gamma_gamma"]
    for name, key in (("p", "p"), ("q", "q"), ("v", "gamma")):
        est = s.parameter("gamma_gamma", name)
        assert est.ci_low <= truth[key] <= est.ci_high, (name, est, truth[key])
    text = page_text(render("clv_report", "en", label="gross", spend_basis="gross"))
    assert t("clv.spend_gross", "en") in text
    for name in ("p", "q", "v"):
        assert s.parameter("gamma_gamma", name).ci_text() in text
    assert f"{t('clv.kpi_total', 'en', months=12)} {s.total_value.text()}" in text


def test_super_vip_statements_add_up(report_value, report_figures):
    _, cv, s = report_value
    vip = page.super_vip_statements(cv, report_figures)
    buyers = cv.customers[cv.customers["frequency"].notna()]
    assert vip.super_vips.value == (buyers["value_tier"] == "super_vip").sum()
    assert vip.share_of_buyers.value == pytest.approx(vip.super_vips.value / len(buyers))
    assert vip.share_of_value.value == pytest.approx(buyers.loc[buyers["value_tier"] == "super_vip", "clv"].sum()
                                                     / cv.customers["clv"].sum())
    assert vip.potential_fans.value == (cv.customers["fan_tier"] == "potential").sum()


def test_holdout_check_counts_the_holdout_purchase_days_by_hand(report_brand, fresh_wb):
    folder, brand = report_brand
    as_of = pd.Timestamp(brand.truth["as_of"][:10])
    check = page.holdout_check(fresh_wb, as_of, 13, exclude_experiment_orders=True)
    orders, tasks = brand.tables["orders"], brand.tables["tasks"]
    experiment = orders["task_id"].isin(tasks.loc[tasks["experiment_id"].notna(), "task_id"])
    o = orders[orders["customer_id"].notna() & ~experiment & (orders["order_time"] < as_of)]
    days = o.assign(day=o["order_time"].dt.normalize())[["customer_id", "day"]].drop_duplicates()
    cal_end = as_of - pd.Timedelta(weeks=13) - pd.Timedelta(days=1)
    first = days.groupby("customer_id")["day"].transform("min")
    assert check.actual.value == ((first <= cal_end) & (days["day"] > cal_end)).sum()
    assert check.actual.start == cal_end + pd.Timedelta(days=1) and check.actual.end == as_of
    assert check.total_error.value == pytest.approx(check.predicted.value / check.actual.value - 1)
    assert page.holdout_sentence(check, 13, "en").startswith(
        f"Over the 13-week holdout the model predicted {check.predicted.text()} repeat purchases against "
        f"{check.actual.text()} actual")


def test_page_with_experiment_orders_included_says_so(render, report_brand):
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    s = _statements(wb, customer_value(wb, brand.truth["as_of"][:10], interval_draws=100))
    assert not s.exclude_experiment_orders and s.orders_excluded.value == 0 < s.experiment_orders.value
    text = page_text(render("clv_report", "zh", label="with-experiments", exclude_experiment_orders=False))
    assert page.orders_sentence(s, "zh").replace("`", "") in text
    assert f"{t('clv.kpi_alive', 'zh')} {s.expected_active_repeat_buyers.text()}" in text


# ---------------------------------------------------------------- covariate effects (acquisition channel, region)
@pytest.fixture(scope="module")
def covariates(report_value, report_brand):
    """The page's covariate model on the report brand, and the workbench it ran on."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    _, cv, _ = report_value
    return wb, cv, page.covariate_effects(wb, cv)


def test_covariate_rows_count_buyers_by_channel_group_and_region_by_hand(covariates, report_brand):
    """Buyers per first-add channel group and per main-store region, counted in pandas from the brand's tables."""
    _, brand = report_brand
    wb, cv, _ = covariates
    as_of = pd.Timestamp(brand.truth["as_of"][:10])
    tables = brand.tables
    buyers = cv.customers.loc[cv.customers["frequency"].notna(), "customer_id"]
    adds = tables["contact_events"]
    adds = adds[(adds["event_type"] == "add") & adds["customer_id"].notna() & (adds["event_time"] < as_of)]
    first = adds.sort_values(["customer_id", "event_time", "staff_id"]).drop_duplicates("customer_id")
    group = first.merge(tables["channels"], on="channel_code", how="left").set_index("customer_id")["channel_group"]
    o = tables["orders"]
    o = o[o["customer_id"].notna() & o["store_id"].notna() & (o["order_time"] < as_of)]
    n = o.groupby(["customer_id", "store_id"]).size().rename("n").reset_index()
    main = n.sort_values(["customer_id", "n", "store_id"], ascending=[True, False, True]).drop_duplicates("customer_id")
    region = main.merge(tables["stores"], on="store_id", how="left").set_index("customer_id")["region"]
    by_hand = pd.DataFrame({"channel_group": group.reindex(buyers).fillna("unknown").to_numpy(),
                            "region": region.reindex(buyers).fillna("unknown").to_numpy()})
    rows = wb.query(page.covariate_rows_sql(wb, page.COVARIATE_BUYERS_TABLE, as_of, 0))
    assert rows["weight"].sum() == len(buyers)
    for c in page.CLV_COVARIATES:
        counted = rows.groupby(c)["weight"].sum().sort_index()
        expected = by_hand[c].value_counts().sort_index()
        assert counted.to_dict() == expected.to_dict(), c


def test_covariate_effects_are_the_fitters_and_sentences_follow_holm(covariates):
    """The page's multipliers are exp(γ) of the fitter on the same rows; words only for Holm-clear levels."""
    from workbench.clv.covariates import ParetoNBDCovariatesFitter

    wb, cv, ce = covariates
    assert ce.buyers == int(cv.customers["frequency"].notna().sum())
    rows = wb.query(page.covariate_rows_sql(wb, page.COVARIATE_BUYERS_TABLE, cv.as_of, page.COVARIATE_MIN_BUYERS))
    cov = rows[list(ce.references)].astype(str)
    m = ParetoNBDCovariatesFitter().fit(rows["frequency"], rows["recency_days"] / 7, rows["age_days"] / 7, cov, cov,
                                        weights=rows["weight"], reference=ce.references)
    assert ce.log_likelihood == pytest.approx(m.log_likelihood_, rel=1e-12)
    for f in ce.findings:
        assert f.purchase.value == pytest.approx(np.exp(m.params_[f"purchase: {f.covariate}={f.level}"]), rel=1e-9)
        assert f.dropout.value == pytest.approx(np.exp(m.params_[f"dropout: {f.covariate}={f.level}"]), rel=1e-9)
        assert f.purchase.ci_low < f.purchase.value < f.purchase.ci_high
    worded = [f for f in ce.findings if f.level not in page.UNSTATED_LEVELS]
    ps = sorted(p for f in worded for p in (f.p_purchase, f.p_dropout))
    bound = next((0.05 / (len(ps) - i) for i, p in enumerate(ps) if p > 0.05 / (len(ps) - i)), 1.0)
    for f in worded:  # Holm: clear exactly when a p-value lies below the first bound that failed
        assert f.clear == (min(f.p_purchase, f.p_dropout) < bound and min(f.p_purchase, f.p_dropout) <= 0.05)
    sentences = page.covariate_sentences(ce, "en")
    assert len(sentences) == max(1, sum(f.clear for f in worded))
    assert not any("unknown" in s.lower() for s in sentences if s != t("clv.cov_none", "en"))
    assert ce.lr_statistic > 0 and ce.df == len(m.params_) - 4


def test_holm_steps_down():
    """Holm's step-down: thresholds 0.05/3, 0.05/2, 0.05/1, stopping at the first failure."""
    assert page.holm({"a": 0.01, "b": 0.02, "c": 0.5}, 0.05) == {"a": True, "b": True, "c": False}
    assert page.holm({"a": 0.02, "b": 0.02}, 0.05) == {"a": True, "b": True}
    assert page.holm({"a": 0.03, "b": 0.04}, 0.05) == {"a": False, "b": False}


def test_covariate_sentence_words_and_escapes_levels(covariates):
    """A clear level is worded with its multipliers and intervals; a level from the data is escaped."""
    _, _, ce = covariates
    f = ce.findings[0]
    odd = page.CovariateFinding("region", "**<b>x</b>", "East", 500, f.purchase, f.dropout, 1e-6, 1e-6, True)
    forced = page.CovariateEffects((odd,), {"region": "East"}, ce.table, ce.buyers, ce.log_likelihood,
                                   ce.lr_statistic, ce.df, ce.p_value, ce.as_of)
    (en,) = page.covariate_sentences(forced, "en")
    assert en.startswith(f"Customers whose main store is in **\\*\\*&lt;b&gt;x&lt;/b&gt;** buy {f.purchase.text()}× "
                         f"as often (95%: {f.purchase.ci_text()})")
    intro = page.covariate_intro(ce, "en")
    assert f"fitted on {ce.buyers:,} buyers" in intro and "(Offline store; East)" in intro  # the report brand's
    (zh,) = page.covariate_sentences(forced, "zh")
    assert f"{f.dropout.text()} 倍（95%：{f.dropout.ci_text()}）" in zh


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_clv_page_states_the_covariate_effects(render, covariates, lang):
    """The rendered page carries the sentences, every worded interval and the appendix's LR test."""
    _, _, ce = covariates
    text = page_text(render("clv_report", lang))
    assert t("clv.h_covariates", lang) in text and t("clv.h_cov_appendix", lang) in text
    assert page.covariate_intro(ce, lang) in text
    for sentence in page.covariate_sentences(ce, lang):
        assert sentence.replace("**", "") in text
    for f in ce.findings:
        if f.level not in page.UNSTATED_LEVELS:
            assert f.purchase.ci_text() in text and f.dropout.ci_text() in text
    assert f"χ² = {ce.lr_statistic:,.1f}" in text or f"χ² = {ce.lr_statistic:.1f}" in text
