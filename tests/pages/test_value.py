"""Report truth for the value-model page: the WeCom-share ladder reconciles, the industry marks are
judged on their own definition, the holdout increment is stated with a verdict its interval
supports (and covers the simulator's truth), and the interaction window reaches every number."""
from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from scipy import stats

import workbench
from tests.pages.rendered import page_text
from workbench import metrics
from workbench.attribution.buckets import value_buckets
from workbench.i18n import t
from workbench.pages import Stated, Verdict, effect_verdict
from workbench.pages import names
from workbench.pages import value as vp
from workbench.plotting import format_cny

MONTH = (pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01"))


@pytest.fixture(scope="module")
def wb(report_brand):
    folder, brand = report_brand
    return workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])


@pytest.fixture(scope="module")
def ladder(wb):
    return vp.value_ladder(wb, *MONTH, interaction_window_days=7)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------- the ladder (defect 6)
def test_ladder_buckets_add_up_to_total_and_every_step_has_the_same_month(ladder):
    total = ladder.total.value
    assert total > 0
    assert ladder.direct.value + ladder.indirect.value + ladder.not_attributed.value == pytest.approx(total, abs=1e-6)
    assert sum(r.gmv.value for r in ladder.rules) == pytest.approx(total, abs=1e-6)
    assert ladder.step("buckets").gmv.value == pytest.approx(ladder.direct.value + ladder.indirect.value, abs=1e-6)
    for step in ladder.steps:
        assert (step.gmv.start, step.gmv.end) == MONTH and (step.share.start, step.share.end) == MONTH
        assert 0 <= step.gmv.value <= total + 1e-6
        assert step.share.value == pytest.approx(step.gmv.value / total)
        assert step.gmv.definition and step.share.unit == "share"
    # the narrowing steps of the ladder really narrow (link ⊆ task view ⊆ … ⊆ total)
    keys = [s.key for s in ladder.steps]
    assert keys == ["total", "user_view", "buckets", "task_view", "link"]
    assert ladder.step("link").gmv.value <= ladder.step("task_view").gmv.value <= ladder.step("buckets").gmv.value
    assert ladder.step("link").outside_previous.value == 0   # link orders carry the task/share link by definition


def test_ladder_steps_and_overlaps_match_order_level_flags(wb, ladder):
    """Each step and each 'not in the step before' amount, recomputed order by order in pandas from the
    two package functions the page used to show separately (ops conversion views, value buckets)."""
    orders = value_buckets(wb, *MONTH, by=None)[["order_id", "amount", "bucket", "rule"]]
    flags = metrics.order_views(wb, *MONTH)[["order_id", "user_active", "task_view"]]
    o = orders.merge(flags, on="order_id", how="inner", validate="one_to_one")
    assert len(o) == len(orders)
    user, task = o["user_active"] == 1, o["task_view"] == 1
    attributed, link = o["bucket"] != "not_attributed", o["rule"] == "link"
    assert ladder.total.value == pytest.approx(o["amount"].sum())
    assert ladder.step("user_view").gmv.value == pytest.approx(o.loc[user, "amount"].sum())
    assert ladder.step("buckets").gmv.value == pytest.approx(o.loc[attributed, "amount"].sum())
    assert ladder.step("task_view").gmv.value == pytest.approx(o.loc[task, "amount"].sum())
    assert ladder.step("link").gmv.value == pytest.approx(o.loc[link, "amount"].sum())
    assert ladder.step("buckets").outside_previous.value == pytest.approx(o.loc[attributed & ~user, "amount"].sum())
    assert ladder.step("task_view").outside_previous.value == pytest.approx(o.loc[task & ~attributed, "amount"].sum())
    # and the ops pages' conversion views agree with the ladder on the same month
    conv = metrics.conversion(wb, *MONTH, grain=None).iloc[0]
    assert ladder.step("user_view").share.value == pytest.approx(conv["user_share"])
    assert ladder.step("task_view").share.value == pytest.approx(conv["task_share"])


def test_marks_are_judged_on_the_link_share_only(ladder):
    marks = vp.industry_marks(ladder)
    assert marks.link_share == ladder.step("link").share
    assert marks.grade == vp._grade(ladder.step("link").share.value)
    assert [vp._grade(x) for x in (0.0, 0.0499, 0.05, 0.0999, 0.10, 0.1499, 0.15, 0.4)] == [
        "below", "below", "pass", "pass", "good", "good", "excellent", "excellent"]
    assert marks.transfer_share.value == pytest.approx(ladder.transfer.value / ladder.total.value)
    # the sentence names the definition and the period beside the verdict, and names the wider figures
    # as not comparable
    for lang, definition in (("en", "mini-program orders through a WeCom link as a share of total GMV"),
                             ("zh", "经企微链接进入的小程序订单占总 GMV 的比例")):
        s = vp.ladder_sentences(ladder, lang)["marks"]
        assert definition in s and ladder.total.period_text() in s and marks.link_share.text() in s
        for key in ("user_view", "buckets", "task_view"):
            assert ladder.step(key).share.text() in s


def test_a_month_without_orders_is_not_judged(wb):
    empty = vp.value_ladder(wb, "2024-06-01", "2024-07-01")
    assert empty.total.value == 0 and all(s.gmv.value == 0 for s in empty.steps)
    marks = vp.industry_marks(empty)
    assert (marks.grade, marks.transfer_grade) == ("none", "none")
    assert "no orders to judge" in vp.ladder_sentences(empty, "en")["marks"]


# ---------------------------------------------------------------------- attributed vs incremental (defect 7)
def test_holdout_increment_interval_covers_the_simulators_truth(wb, report_brand):
    truth = report_brand[1].truth["holdout"]
    start, end = (pd.Timestamp(x) for x in truth["window"])
    h = vp.holdout_increment(wb, start, end, "last_12_months")
    # the estimate is the realised difference of means exactly; its 95% interval covers the expected increment
    assert h.per_customer.value == pytest.approx(truth["realised_gmv_difference"], abs=1e-6)
    assert h.per_customer.ci_low <= truth["incremental_gmv_per_reached_customer"] <= h.per_customer.ci_high
    assert h.total.ci_low <= truth["incremental_gmv_total"] <= h.total.ci_high
    assert h.n_reached.value == truth["n_reached"] and h.n_holdout.value == truth["n_holdout"]
    assert h.holdout_share.value == pytest.approx(truth["realised_share"])


def test_holdout_arms_spread_is_the_per_customer_gmv_standard_deviation(wb, report_brand):
    """The spread the power statement uses, recomputed from the brand's tables in pandas."""
    from workbench.attribution.buckets import holdout_incrementality

    tables = report_brand[1].tables
    a = tables["assignments"].query("experiment_id == 'HOLDOUT'")[["unit_id", "variant"]]
    o = tables["orders"]
    o = o[(o["order_time"] >= MONTH[0]) & (o["order_time"] < MONTH[1])].groupby("customer_id")["amount"].sum()
    gmv = a.assign(gmv=a["unit_id"].map(o).fillna(0.0))
    inc = holdout_incrementality(wb, *MONTH)
    assert inc.holdout_sd == pytest.approx(gmv.loc[gmv["variant"] == "holdout", "gmv"].std(ddof=1), rel=1e-9)
    assert inc.reached_sd == pytest.approx(gmv.loc[gmv["variant"] != "holdout", "gmv"].std(ddof=1), rel=1e-9)


def test_power_is_the_designs_power_for_the_relevant_effect_not_observed_power(wb):
    h = vp.holdout_increment(wb, *MONTH, "month")
    from workbench.attribution.buckets import holdout_incrementality

    inc = holdout_incrementality(wb, *MONTH)
    relevant = vp.RELEVANT_LIFT * inc.holdout_mean
    assert h.relevant_effect.value == pytest.approx(relevant)
    # two-sided z-test power by hand: se from the holdout's spread and both arms' sizes
    se = inc.holdout_sd * math.sqrt(1 / inc.holdout_n + 1 / inc.reached_n)
    z = stats.norm.isf(0.025)
    by_hand = stats.norm.cdf(relevant / se - z) + stats.norm.cdf(-relevant / se - z)
    assert h.power.value == pytest.approx(by_hand, rel=1e-9)
    observed = stats.norm.cdf(abs(inc.per_customer) / se - z) + stats.norm.cdf(-abs(inc.per_customer) / se - z)
    assert h.power.value != pytest.approx(observed, rel=1e-3)
    # at the minimum detectable effect the same formula gives 80%
    mde = h.minimum_detectable.value
    assert stats.norm.cdf(mde / se - z) + stats.norm.cdf(-mde / se - z) == pytest.approx(0.8, abs=1e-6)


def test_an_interval_covering_zero_is_said_to_be_not_distinguishable_from_zero(wb):
    for window, (a, b) in (("month", MONTH), ("last_12_months", (pd.Timestamp("2025-01-01"), MONTH[1]))):
        h = vp.holdout_increment(wb, a, b, window)
        assert h.per_customer.covers_zero
        assert h.verdict in (Verdict.NOT_DISTINGUISHABLE, Verdict.UNDERPOWERED)
        en, zh = vp.incremental_sentence(h, "en"), vp.incremental_sentence(h, "zh")
        assert "not distinguishable from zero" in en and "与零无法区分" in zh
        assert h.per_customer.ci_text().split(" – ")[0] in en
        if h.verdict is Verdict.UNDERPOWERED:
            assert h.power.value < 0.8 and h.power.text() in en and h.n_holdout.text() in en
        assert "added" not in en   # never "tasks added ¥x per customer" for a null result


def test_verdict_sentences_follow_the_interval():
    def fake(low: float, high: float, power: float) -> vp.HoldoutIncrement:
        s, e = MONTH
        per = Stated((low + high) / 2, "cny_per_unit", "d", s, e, low, high)
        return vp.HoldoutIncrement(
            "month", per, Stated(per.value * 100, "cny", "d", s, e, low * 100, high * 100),
            Stated(1e4, "cny", "d", s, e), Stated(0.1, "share", "d"), Stated(900, "count", "d"),
            Stated(100, "count", "d"), Stated(5.0, "cny_per_unit", "d", s, e), Stated(power, "share", "d", s, e),
            Stated(9.0, "cny_per_unit", "d", s, e),
            effect_verdict(low, high, power))

    assert "added ¥12.00 per reached customer" in vp.incremental_sentence(fake(4, 20, 0.9), "en")
    assert "less than the holdout" in vp.incremental_sentence(fake(-20, -4, 0.9), "en")
    nd = vp.incremental_sentence(fake(-2, 20, 0.9), "en")
    assert "not distinguishable from zero" in nd and "90.0%" in nd
    up = vp.incremental_sentence(fake(-2, 20, 0.3), "zh")
    assert "与零无法区分" in up and "30.0%" in up and "太小" in up


# ---------------------------------------------------------------------- the window parameter (defect 8)
def test_interaction_window_reaches_every_computation(wb, ladder):
    wide = vp.value_ladder(wb, *MONTH, interaction_window_days=14)
    rule = {r.rule: r for r in wide.rules}
    vb14 = value_buckets(wb, *MONTH, interaction_window_days=14, by=("rule",)).set_index("rule")["gmv"]
    assert rule["interaction"].gmv.value == pytest.approx(vb14["interaction"])
    assert rule["interaction"].gmv.value > {r.rule: r for r in ladder.rules}["interaction"].gmv.value
    assert wide.total.value == pytest.approx(ladder.total.value)   # the window moves orders between buckets only
    assert "14 days" in wide.step("buckets").gmv.definition
    t7, t14 = vp.task_table(wb, *MONTH, 7), vp.task_table(wb, *MONTH, 14)
    assert t14.window_days == 14
    pd.testing.assert_frame_equal(t14.rows, metrics.task_performance(wb, *MONTH, window_days=14))
    assert (t14.rows["user_gmv"] >= t7.rows["user_gmv"]).all() and (t14.rows["user_gmv"] > t7.rows["user_gmv"]).any()
    assert vp.rule_label("interaction", "zh", 14) == "导购互动后 14 天内到店购买"


@pytest.mark.parametrize("bad", [0, -7, 7.5, "x"])
def test_a_bad_window_is_a_parameter_error(wb, bad):
    from workbench.errors import ParameterError

    with pytest.raises(ParameterError, match="interaction_window_days"):
        vp.value_ladder(wb, *MONTH, interaction_window_days=bad)


def test_report_month_is_the_last_complete_month_or_the_parameter():
    from workbench.errors import ParameterError

    assert vp.report_month("2026-01-01") == MONTH
    assert vp.report_month("2026-01-20") == MONTH
    assert vp.report_month("2026-01-01", "2025-06") == (pd.Timestamp("2025-06-01"), pd.Timestamp("2025-07-01"))
    for bad in ("2025-13", "June", "2026-01"):
        with pytest.raises(ParameterError, match="month"):
            vp.report_month("2026-01-01", bad)


# ---------------------------------------------------------------------- stores, channels, journeys
def test_credited_store_value_adds_up_to_the_ladders_private_domain_value(wb, ladder):
    cv = vp.credited_value(wb, *MONTH, "store")
    per_order = value_buckets(wb, *MONTH, by=None)
    credited = per_order[(per_order["bucket"] != "not_attributed") & per_order["credited_store_id"].notna()]
    assert cv.rows["pd"].sum() == pytest.approx(credited["amount"].sum())
    assert cv.rows["pd"].sum() <= ladder.step("buckets").gmv.value + 1e-6
    assert (cv.rows["pd"] == cv.rows["direct"] + cv.rows["indirect"]).all()
    assert cv.top_k_share.value == pytest.approx(cv.rows["pd"].head(cv.top_k).sum() / cv.rows["pd"].sum())
    assert cv.leader == cv.rows["store_id"].iloc[0] and cv.leader_value.value == cv.rows["pd"].max()


def test_channel_finding_names_the_paid_code_with_the_highest_roi(wb, report_brand):
    end = pd.Timestamp(report_brand[1].truth["as_of"][:10])
    ch = vp.channel_section(wb, end)
    assert (ch.start, ch.end) == (end - pd.Timedelta(days=90), end - pd.Timedelta(days=30))
    assert ch.rows["store_id"].isna().all()
    paid = ch.rows[ch.rows["roi"].notna()]
    assert ch.best_roi.value == pytest.approx(paid["roi"].max())
    assert ch.best_code == paid.loc[paid["roi"].idxmax(), "channel_code"]


def test_mta_shares_sum_to_one_and_every_order_is_credited_or_left_out(wb, report_brand):
    mta = vp.mta_comparison(wb, *MONTH, lookback_days=30)
    assert list(mta.shares.columns) == list(vp.METHODS)
    assert mta.shares.sum().to_numpy() == pytest.approx([1.0] * len(vp.METHODS))
    o = report_brand[1].tables["orders"]
    n_orders = int(((o["order_time"] >= MONTH[0]) & (o["order_time"] < MONTH[1]) & o["customer_id"].notna()).sum())
    from workbench.attribution.journeys import journey_path_summary

    paths = journey_path_summary(wb, *MONTH, lookback_days=30).paths
    assert paths["total_conversions"].sum() + mta.unattributed.value == n_orders
    row = mta.shares.loc[mta.widest_channel]
    assert (mta.low.value, mta.high.value) == (pytest.approx(row.min()), pytest.approx(row.max()))
    assert (mta.shares.max(axis=1) - mta.shares.min(axis=1)).idxmax() == mta.widest_channel


# ---------------------------------------------------------------------- the rendered pages state these numbers
def _state_the_functions_numbers(text: str, wb, lang: str, days: int) -> None:
    ladder = vp.value_ladder(wb, *MONTH, interaction_window_days=days)
    sentences = vp.ladder_sentences(ladder, lang)
    for key in ("buckets", "marks", "overlaps"):
        assert squash(sentences[key]) in text, key
    for step in ladder.steps:
        assert step.gmv.text() in text and step.share.text() in text
    for window, (a, b) in (("month", MONTH), ("last_12_months", (pd.Timestamp("2025-01-01"), MONTH[1]))):
        h = vp.holdout_increment(wb, a, b, window, interaction_window_days=days)
        assert squash(vp.incremental_sentence(h, lang)) in text, window
    tasks = vp.task_table(wb, *MONTH, days)
    for v in tasks.rows["user_gmv"]:
        assert format_cny(v) in text
    cv = vp.credited_value(wb, *MONTH, "store", interaction_window_days=days)
    assert squash(t("value.finding_stores", lang, k=cv.top_k, share=cv.top_k_share.text(),
                    store=names.store_label(wb, cv.leader), value=cv.leader_value.text())) in text
    mta = vp.mta_comparison(wb, *MONTH, lookback_days=30)
    assert squash(t("value.mta_note", lang, period=ladder.total.period_text(), days=30,
                    unattributed=mta.unattributed.text())) in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rendered_page_states_the_functions_numbers(render, wb, lang):
    text = page_text(render("value_model_report", lang))
    _state_the_functions_numbers(text, wb, lang, 7)
    if lang == "zh":   # no raw English enum values on a Chinese page
        for raw in ("new_arrival", "promotion", "not_attributed", "underpowered", "not_distinguishable"):
            assert raw not in text


def test_rendered_page_with_a_14_day_window_labels_and_computes_14_days(render, wb):
    text = page_text(render("value_model_report", "zh", label="w14", interaction_window_days=14))
    _state_the_functions_numbers(text, wb, "zh", 14)
    assert "导购互动窗口（百丽规则，默认 7 天）：14 天" in text
    assert "导购互动后 14 天内到店购买" in text and "推送后 14 天内" in text
    assert "7 天规则" not in text and "7 天内" not in text
    t7 = vp.task_table(wb, *MONTH, 7).rows["user_gmv"]
    t14 = vp.task_table(wb, *MONTH, 14).rows["user_gmv"]
    for a, b in zip(t7, t14):
        if format_cny(a) != format_cny(b):
            assert format_cny(a) not in text   # the 7-day per-task numbers are gone
