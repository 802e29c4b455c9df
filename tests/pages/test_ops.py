"""What the operations dashboard states, checked against its own arithmetic, an independent
pandas count on the simulated brand's tables, the simulator's true funnel rates, and the
rendered pages (HQ and store view, zh and en)."""
from __future__ import annotations

import math
import re

import pandas as pd
import pytest

import workbench
from tests.pages.rendered import page_text
from workbench import ParameterError
from workbench.pages import guides, ops
from workbench.pages import store as store_page

PERIOD_DAYS = 30
STORE = "S001"


@pytest.fixture(scope="module")
def brand_wb(report_brand):
    folder, brand = report_brand
    as_of = brand.truth["as_of"][:10]
    wb = workbench.open(folder / "data", as_of=as_of)
    start, end = ops.report_window(wb, as_of, PERIOD_DAYS)
    return wb, brand, start, end


def adds_by_store(brand, start, end) -> pd.Series:
    """Add events per store of the guide added, counted in pandas straight from the tables."""
    ev = brand.tables["contact_events"]
    ev = ev[(ev["event_type"] == "add") & (ev["event_time"] >= start) & (ev["event_time"] < end)]
    ev = ev.merge(brand.tables["staff"][["staff_id", "store_id"]], on="staff_id", how="left")
    return ev.groupby(ev["store_id"].fillna("(none)")).size()


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------- (a) arithmetic
@pytest.mark.parametrize("store_id", [None, STORE])
def test_net_adds_is_adds_minus_deletes_in_person_times(brand_wb, store_id):
    wb, _, start, end = brand_wb
    h = ops.headline(wb, start, end, store_id=store_id)
    for kpi in (h.adds, h.deletes, h.net_adds):
        assert kpi.current.unit == "person_times"
    assert h.add_persons.current.unit == "persons"
    moved = h.moved_or_left
    assert h.net_adds.current.value == h.adds.current.value - h.deletes.current.value - moved.current.value
    assert h.net_adds.previous.value == h.adds.previous.value - h.deletes.previous.value - moved.previous.value
    # adds open relationships; deletes, transfers and departures close them: net adds is the change in open ones
    assert h.contacts.current.value - h.contacts.previous.value == h.net_adds.current.value
    # deletes as a rate: per 1,000 contacts (mean of the first and last day) per month, as the store page's KPI
    exposure = (h.contacts.previous.value + h.contacts.current.value) / 2
    days = (end - start) / pd.Timedelta(days=1)
    assert h.delete_rate.current.unit == "per_1000"
    assert h.delete_rate.current.value == pytest.approx(1000 * h.deletes.current.value / exposure
                                                        * ops.DAYS_PER_MONTH / days, rel=1e-12)
    if store_id:
        kpi = store_page.store_kpis(wb, store_id, start, end).kpis["deletes_per_1000"]
        assert kpi.current.value == pytest.approx(h.delete_rate.current.value, rel=1e-12)
    # a person can add two guides: persons never exceed person-times
    assert h.add_persons.current.value <= h.adds.current.value
    sentence = h.finding("en")
    moved_term = f" − {moved.current.text()}" if moved.current.value else ""
    assert f"{h.adds.current.text()} − {h.deletes.current.text()}{moved_term} = {h.net_adds.current.text()}" in sentence


def test_share_changes_are_percentage_points(brand_wb):
    wb, _, start, end = brand_wb
    h = ops.headline(wb, start, end)
    ch = h.user_share.change
    assert ch.unit == "pp"
    assert ch.value == pytest.approx(h.user_share.current.value - h.user_share.previous.value)
    assert ch.text().endswith(" pp")
    assert h.gmv.change.unit == "relative"
    assert h.net_adds.change.unit == "person_times"   # a difference changes by an amount, not a ratio


@pytest.mark.parametrize("store_id", [None, STORE])
def test_channel_rows_sum_to_headline_adds(brand_wb, store_id):
    wb, brand, start, end = brand_wb
    h = ops.headline(wb, start, end, store_id=store_id)
    ch = ops.channels(wb, start, end, store_id=store_id)
    assert ch.total_adds.value == h.adds.current.value
    assert ch.groups["adds"].sum() == h.adds.current.value == ch.codes["adds"].sum()
    counted = adds_by_store(brand, start, end)
    expected = counted.get(store_id, 0) if store_id else counted.sum()
    assert h.adds.current.value == expected


def test_store_view_sums_to_store_totals_never_the_brands(brand_wb):
    """Every store's channel adds by code are the brand's adds by code minus the other stores'
    (and minus adds to guides with no store)."""
    wb, brand, start, end = brand_wb
    brand_codes = ops.channels(wb, start, end).codes.set_index("channel_code")["adds"]
    stores = brand.tables["stores"]["store_id"].tolist()
    per_store = {s: ops.channels(wb, start, end, store_id=s).codes.set_index("channel_code")["adds"] for s in stores}
    no_store = adds_by_store(brand, start, end).get("(none)", 0)
    total = sum(v.sum() for v in per_store.values())
    assert total + no_store == brand_codes.sum()
    if no_store == 0:
        summed = pd.concat(per_store.values(), axis=1).fillna(0).sum(axis=1)
        pd.testing.assert_series_equal(summed.sort_index().astype("int64"),
                                       brand_codes.sort_index().astype("int64"), check_names=False)
    store = ops.channels(wb, start, end, store_id=STORE)
    brand_view = ops.channels(wb, start, end)
    assert store.total_adds.value < brand_view.total_adds.value
    assert store.top_adds.value <= store.total_adds.value
    # each section of the store view is the store's own row
    conv = ops.conversion(wb, start, end, store_id=STORE)
    orders = brand.tables["orders"]
    mine = orders[(orders["store_id"] == STORE) & (orders["order_time"] >= start) & (orders["order_time"] < end)]
    assert conv.gmv.value == pytest.approx(mine["amount"].sum())
    assert set(conv.stores["store_id"]) == {STORE}
    todo = ops.todo(wb, start, end, store_id=STORE)
    pos = mine[mine["order_channel"] == "pos"]
    assert todo.pos_buyers.value == pos["customer_id"].nunique()
    assert set(ops.retention(wb, start, end, store_id=STORE).stores["store_id"]) == {STORE}
    assert set(ops.funnel(wb, start, end, store_id=STORE).stores["store_id"]) == {STORE}


def test_weekly_trend_is_one_unit_and_complete_weeks(brand_wb):
    wb, _, _, end = brand_wb
    tr = ops.weekly_trend(wb, end, weeks=8)
    assert len(tr.weeks) == 8 and (tr.weeks["period"].dt.weekday == 0).all()
    assert tr.weeks["period"].max() + pd.Timedelta(days=7) <= end
    assert (tr.weeks["net_adds"] == tr.weeks["adds"] - tr.weeks["deletes"]).all()
    assert {tr.avg_adds.unit, tr.avg_deletes.unit, tr.avg_net.unit} == {"person_times"}


def test_unknown_store_and_bad_period_are_parameter_errors(brand_wb):
    wb, _, start, end = brand_wb
    with pytest.raises(ParameterError, match="store_id"):
        ops.headline(wb, start, end, store_id="S999")
    with pytest.raises(ParameterError, match="period_days"):
        ops.report_window(wb, "2026-01-01", -5)


# ---------------------------------------------------------------------- (b) funnel vs truth
def test_funnel_cohorts_are_complete(brand_wb):
    """Scans of the last ``follow_up_days`` (right-censored: no time yet to join or claim) are left out."""
    wb, brand, start, end = brand_wb
    f = ops.funnel(wb, start, end)
    assert f.cohort_end + pd.Timedelta(days=f.follow_up_days) <= end
    assert f.cohort_end - f.cohort_start == end - start
    # the cohort is every customer whose first scan fell in the window, counted here from the tables
    scans = brand.tables["scans"].sort_values(["event_time", "channel_code"])
    first = scans.groupby("customer_id")["event_time"].min()
    assert f.scanned.value == ((first >= f.cohort_start) & (first < f.cohort_end)).sum()
    for ch in (f.add_change, f.join_change, f.claim_change):
        assert ch.unit == "pp" and ch.ci_low <= ch.value <= ch.ci_high


def test_funnel_rates_on_complete_cohorts_cover_the_true_rates(brand_wb):
    """Ten months of complete cohorts: each step rate lies within 3 binomial standard errors
    (plus 1 pp for steps beyond the 14-day follow-up: a lognormal tail of well under 1%)."""
    wb, brand, _, end = brand_wb
    truth = brand.truth["funnel"]
    f = ops.funnel(wb, end - pd.Timedelta(days=300), end)
    for rate, n, key in ((f.add_rate, f.scanned, "add_prob"), (f.join_rate, f.added, "join_prob"),
                         (f.claim_rate, f.joined, "claim_prob")):
        p = truth[key]
        tol = 3 * math.sqrt(p * (1 - p) / n.value) + 0.01
        assert abs(rate.value - p) < tol, (key, rate.value, p, tol)
        assert rate.ci_low < rate.value < rate.ci_high


# ---------------------------------------------------------------------- (c) rendered pages
def stated_on_page(text: str, wb, start, end, store_id, lang) -> None:
    h = ops.headline(wb, start, end, store_id=store_id)
    for sentence in (h.finding(lang), ops.channels(wb, start, end, store_id).finding(lang),
                     ops.funnel(wb, start, end, store_id).finding(lang),
                     ops.funnel(wb, start, end, store_id).steps_text(lang),
                     ops.weekly_trend(wb, end, 12, store_id).finding(lang),
                     ops.retention(wb, start, end, store_id).finding(lang),
                     ops.conversion(wb, start, end, store_id).finding(lang),
                     guides.guide_leaderboard(wb, start, end, store_id=store_id).finding(lang)):
        assert squash(sentence) in text, sentence
    if store_id:   # a store page opens with its own to-do and its KPIs against region and brand
        todo = store_page.store_todo(wb, store_id, horizon_days=30, key=b"any key: counts do not depend on it")
        assert squash(todo.finding(lang)) in text
        assert text.index(squash(todo.finding(lang))) < text.index(squash(h.finding(lang)))
        for cell in store_page.store_kpis(wb, store_id, start, end).table(lang).iloc[:, 1:].to_numpy().ravel():
            assert squash(str(cell)) in text, cell
    else:
        assert squash(ops.todo(wb, start, end, store_id).finding(lang)) in text
    # the net-adds card shows the net, in person-times, and the share card a change in pp
    from workbench.i18n import t
    assert f"{t('ops.kpi_net_adds', lang)} {h.net_adds.current.text()} {h.net_adds.change_text()}" in text
    assert f"{t('ops.kpi_delete_rate', lang)} {h.delete_rate.current.text()} {h.delete_rate.change_text()}" in text
    assert f"{t('ops.kpi_user_share', lang)} {h.user_share.current.text()} {h.user_share.change.text()}" in text
    if lang == "zh":   # channel groups and verdicts in words, never raw English enum values
        for raw in ("offline_store", "online_mall", "wechat_ecosystem", "not_distinguishable", "unknown"):
            assert raw not in text, raw


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hq_page_states_the_functions_numbers(render, brand_wb, lang):
    wb, _, start, end = brand_wb
    run = render("ops_dashboard", lang)
    assert run.ok, run.error
    stated_on_page(page_text(run.html_path), wb, start, end, None, lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_store_page_states_the_stores_numbers_never_the_brands_channels(render, brand_wb, lang):
    wb, _, start, end = brand_wb
    run = render("ops_dashboard", lang, label=STORE, store_id=STORE)
    assert run.ok, run.error
    text = page_text(run.html_path)
    stated_on_page(text, wb, start, end, STORE, lang)
    brand_chan = ops.channels(wb, start, end)
    assert squash(brand_chan.finding(lang)) not in text
    store_chan = ops.channels(wb, start, end, store_id=STORE)
    # the brand's channel figures (top group's adds, total adds) appear nowhere in the channel section
    from workbench.i18n import t
    section = text.split(t("ops.h_channels", lang) + " ¶", 1)[1].split(t("ops.h_retention", lang) + " ¶", 1)[0]
    for figure in (brand_chan.top_adds.text(), brand_chan.total_adds.text()):
        if figure not in {store_chan.total_adds.text(), *map(str, store_chan.groups[["adds", "add_persons",
                                                                                   "new_persons"]].values.ravel())}:
            assert re.search(rf"(?<![\d,]){re.escape(figure)}(?![\d,])", section) is None, figure
