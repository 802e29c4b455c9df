"""The one-pass metrics equal the queries they replace, exactly, on the simulated report brand.

Each reference below is the SQL the metric ran before (one window, one cut, one instant per query;
the funnel over the materialised first scans and add events, the conversion over the materialised
order flags joined back by order id). Frames are compared with ``assert_frame_equal`` (values and
dtypes), so the pages state the same numbers.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench import metrics
from workbench.engine import literal, money_sum
from workbench.metrics import _CUT_COLUMN, _period, _select_cut, _window
from workbench.pages import ops
from workbench.relations import add_events, contact_intervals, first_scans, open_at_sql, order_flags_sql, store_regions

CUTS = ["brand", "store", "region", "channel_group", "channel_code"]


@pytest.fixture(scope="module")
def brand_wb(report_brand):
    """The report brand opened once for the module, with the dashboard's 30-day period before as-of."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    start, end = ops.report_window(wb, brand.truth["as_of"][:10], 30)
    return wb, start, end


def funnel_reference(wb, start, end, by, window_days):
    """The funnel as one query per window and cut over first_scans and add_events (the former SQL)."""
    s, e = _window(wb, start, end)
    w = f"INTERVAL '{int(window_days)} days'"
    col = _CUT_COLUMN[by]
    cut = f"f.{col}" if col else "'brand'"
    df = wb.query(f"""
        WITH first_scan AS (
            SELECT * FROM ({first_scans(wb)}) x WHERE scan_time >= {literal(s)} AND scan_time < {literal(e)}
        ),
        f AS (SELECT fs.*, sr.region FROM first_scan fs
              LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = fs.store_id),
        a AS (
            SELECT f.customer_id, {cut} AS cut, f.scan_time, MIN(ce.event_time) AS add_time
            FROM f LEFT JOIN ({add_events(wb)}) ce ON ce.customer_id = f.customer_id
                 AND ce.event_time >= f.scan_time AND ce.event_time < f.scan_time + {w}
            GROUP BY 1, 2, 3
        ),
        jj AS (
            SELECT a.customer_id, a.cut, a.scan_time, a.add_time, MIN(j.event_time) AS join_time
            FROM a LEFT JOIN (SELECT customer_id, event_time FROM group_events WHERE event_type = 'join') j
              ON j.customer_id = a.customer_id AND j.event_time >= a.add_time AND j.event_time < a.scan_time + {w}
            GROUP BY 1, 2, 3, 4
        ),
        kk AS (
            SELECT jj.*, MIN(k.issued_at) AS claim_time FROM jj
            LEFT JOIN (SELECT customer_id, issued_at FROM coupons WHERE issue_source = 'wecom') k
              ON k.customer_id = jj.customer_id AND k.issued_at >= jj.join_time AND k.issued_at < jj.scan_time + {w}
            GROUP BY jj.customer_id, jj.cut, jj.scan_time, jj.add_time, jj.join_time
        )
        SELECT cut, COUNT(*) AS scanned, COUNT(add_time) AS added, COUNT(join_time) AS joined,
               COUNT(claim_time) AS claimed,
               MEDIAN(date_diff('second', scan_time, add_time)) / 3600.0 AS median_hours_scan_add,
               MEDIAN(date_diff('second', add_time, join_time)) / 3600.0 AS median_hours_add_join,
               MEDIAN(date_diff('second', join_time, claim_time)) / 3600.0 AS median_hours_join_claim
        FROM kk GROUP BY cut
    """)
    df["add_rate"] = df["added"] / df["scanned"]
    df["join_rate"] = df["joined"] / df["added"].where(df["added"] > 0)
    df["claim_rate"] = df["claimed"] / df["joined"].where(df["joined"] > 0)
    df["scan_to_claim"] = df["claimed"] / df["scanned"]
    return df.rename(columns={"cut": col or "brand"}).sort_values(col or "brand").reset_index(drop=True)


def conversion_reference(wb, start, end, grain, by, variant, buyers):
    """The conversion frame over the materialised order flags (the former SQL)."""
    s, e = _window(wb, start, end)
    sel, grp = _select_cut(by)
    flag = "user_active" if variant == "active" else "user_ever"

    def distinct(name: str, sql: str) -> str:
        return f" COUNT(DISTINCT {sql}) AS {name}," if buyers else ""

    df = wb.query(f"""
        WITH o AS ({order_flags_sql(wb, s, e, dims=by in ('region', 'channel_group', 'channel_code'))})
        SELECT {_period(grain, 'order_time', s)} AS period{sel},
               COUNT(*) AS orders,{distinct('buyers', 'customer_id')}
               {money_sum('amount')} AS gmv, {money_sum('net_amount')} AS net_gmv,
               SUM({flag}) AS user_orders,{distinct('user_buyers', f'CASE WHEN {flag} = 1 THEN customer_id END')}
               {money_sum(f'CASE WHEN {flag} = 1 THEN amount ELSE 0 END')} AS user_gmv,
               SUM(task_view) AS task_orders,{distinct('task_buyers', 'CASE WHEN task_view = 1 THEN customer_id END')}
               {money_sum('CASE WHEN task_view = 1 THEN amount ELSE 0 END')} AS task_gmv
        FROM o GROUP BY 1{grp}
    """)
    df["user_share"] = df["user_gmv"] / df["gmv"].where(df["gmv"] > 0)
    df["task_share"] = df["task_gmv"] / df["gmv"].where(df["gmv"] > 0)
    df = df.sort_values(["period"] + ([_CUT_COLUMN[by]] if _CUT_COLUMN[by] else [])).reset_index(drop=True)
    df["period"] = pd.to_datetime(df["period"])
    return df


def test_funnels_in_one_pass_equal_one_query_per_window_and_cut(brand_wb):
    """Overlapping and adjacent cohort windows, every cut, two follow-ups: the same frames."""
    wb, start, end = brand_wb
    f = pd.Timedelta(days=14)
    cs, ce = start - f, end - f
    windows = [(cs, ce), (cs - (end - start), cs), (start - pd.Timedelta(days=90), ce)]
    calls = [(a, b, by) for a, b in windows for by in CUTS]
    for days in (14, 30):
        got = metrics.funnels(wb, calls, window_days=days)
        for (a, b, by), frame in zip(calls, got, strict=True):
            expected = funnel_reference(wb, a, b, by, days)
            assert len(expected) and expected["scanned"].sum() > 100
            pd.testing.assert_frame_equal(frame, expected)
            pd.testing.assert_frame_equal(metrics.funnel(wb, a, b, by=by, window_days=days), expected)


def test_a_window_without_first_scans_is_an_empty_frame_as_before(brand_wb):
    """A cohort window before the data: no rows, the former columns."""
    wb, start, end = brand_wb
    a, b = pd.Timestamp("2001-01-01"), pd.Timestamp("2001-02-01")
    for by in ("brand", "store"):
        got = metrics.funnels(wb, [(a, b, by), (start, end, by)], window_days=14)[0]
        pd.testing.assert_frame_equal(got, funnel_reference(wb, a, b, by, 14), check_dtype=False)
        assert got.empty


def test_funnels_keep_each_frame_for_the_later_call(report_brand):
    """After the pass, each call's frame is read, not computed: no further query."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    calls = [(pd.Timestamp("2025-03-01"), pd.Timestamp("2025-04-01"), "brand"),
             (pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-01"), "store")]
    queries = []
    run = wb.query
    wb.query = lambda sql: queries.append(sql) or run(sql)
    metrics.funnels(wb, calls, window_days=14)
    n = len(queries)
    assert n == 1
    for a, b, by in calls:
        metrics.funnel(wb, a, b, by=by, window_days=14)
    metrics.funnels(wb, calls, window_days=14)
    assert len(queries) == n
    wb.close()


@pytest.mark.parametrize("by", ["brand", "store", "region", "staff"])
def test_contacts_at_several_instants_equal_current_contacts(brand_wb, by):
    """The open relationships at each instant are current_contacts' ``contacts`` (its rows with some)."""
    wb, start, end = brand_wb
    instants = (start - (end - start), start, end, pd.Timestamp("2000-01-01"))
    got = metrics.contacts_at(wb, instants, by=by)
    col = _CUT_COLUMN[by] or "brand"
    for at in instants:
        cur = metrics.current_contacts(wb, at, by=by)
        cur = cur[cur["contacts"] > 0][[col, "contacts"]].reset_index(drop=True)
        mine = got[got["at"] == at][[col, "contacts"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, cur)
    assert got[got["at"] == end]["contacts"].sum() > 0


@pytest.mark.parametrize("by", ["brand", "store", "staff", "channel_group"])
@pytest.mark.parametrize("grain", ["week", "day", None])
def test_adds_and_deletes_alone_equal_acquisition_and_losses(brand_wb, by, grain):
    """Per period and cut, the adds of acquisition and the deletes of losses."""
    wb, start, end = brand_wb
    s = start - pd.Timedelta(days=60)
    keys = ["period"] + ([_CUT_COLUMN[by]] if _CUT_COLUMN[by] else [])
    got = metrics.adds_deletes(wb, s, end, grain=grain, by=by).set_index(keys)
    acq = metrics.acquisition(wb, s, end, grain=grain, by=by).set_index(keys)["adds"]
    los = metrics.losses(wb, s, end, grain=grain, by=by).set_index(keys)["deletes"]
    for column, full in (("adds", acq), ("deletes", los)):
        full = full[full > 0].sort_index()
        pd.testing.assert_series_equal(got[column][got[column] > 0].sort_index(), full)
    assert got["adds"].sum() > 100 and got["deletes"].sum() > 10


@pytest.mark.parametrize("by", ["brand", "store"])
def test_acquisition_and_losses_without_groups_are_the_same_columns(brand_wb, by):
    """``groups=False`` leaves the group columns out and changes no other value."""
    wb, start, end = brand_wb
    for metric in (metrics.acquisition, metrics.losses):
        full = metric(wb, start, end, grain=None, by=by)
        light = metric(wb, start, end, grain=None, by=by, groups=False)
        pd.testing.assert_frame_equal(light, full[light.columns.tolist()])
        assert not any(c.startswith("group_") for c in light.columns)


@pytest.mark.parametrize("variant", ["active", "ever"])
@pytest.mark.parametrize("by", ["brand", "store", "staff", "region", "channel_group"])
def test_conversion_with_flags_of_the_windows_orders_equals_the_materialised_flags(brand_wb, by, variant):
    """Flags found for the window's orders only give the frames of the materialised flags, every grain and cut."""
    wb, start, end = brand_wb
    for s, grain, buyers in ((start, None, True), (start - pd.Timedelta(days=120), "month", False),
                             (start - pd.Timedelta(days=30), "week", True)):
        got = metrics.conversion(wb, s, end, grain=grain, by=by, variant=variant, buyers=buyers)
        pd.testing.assert_frame_equal(got, conversion_reference(wb, s, end, grain, by, variant, buyers))
        assert got["orders"].sum() > 100 and got["user_orders"].sum() > 0


@pytest.mark.parametrize("store_id", [None, "S001"])
def test_headline_trend_and_funnel_state_the_former_numbers(brand_wb, store_id):
    """The pages' values from the one-pass metrics equal those from the full metrics they read before."""
    wb, start, end = brand_wb
    by = "store" if store_id else "brand"

    def row(df):
        return ops._scope_row(df, store_id)

    h = ops.headline(wb, start, end, store_id=store_id)
    ps = start - (end - start)
    for kpi, (a, b) in ((lambda k: k.current, (start, end)), (lambda k: k.previous, (ps, start))):
        acq = row(metrics.acquisition(wb, a, b, grain=None, by=by))
        los = row(metrics.losses(wb, a, b, grain=None, by=by))
        assert kpi(h.adds).value == ops._get(acq, "adds") and kpi(h.add_persons).value == ops._get(acq, "add_persons")
        assert kpi(h.new_persons).value == ops._get(acq, "new_persons")
        assert kpi(h.deletes).value == ops._get(los, "deletes")
        assert kpi(h.contacts).value == ops._get(row(metrics.current_contacts(wb, b, by=by)), "contacts") > 0
    t = ops.weekly_trend(wb, end, weeks=12, store_id=store_id)
    weeks = metrics.acquisition(wb, t.weeks["period"].min(), t.weeks["period"].max() + pd.Timedelta(days=7),
                                grain="week", by=by)
    if store_id:
        weeks = weeks[weeks["store_id"] == store_id]
    assert t.weeks["adds"].tolist() == weeks.groupby("period")["adds"].sum().reindex(t.weeks["period"],
                                                                                     fill_value=0).tolist()
    fun = ops.funnel(wb, start, end, store_id=store_id)
    ref = row(funnel_reference(wb, fun.cohort_start, fun.cohort_end, by, 14))
    assert fun.scanned.value == ref["scanned"] and fun.claimed.value == ref["claimed"]
    assert fun.add_rate.value == ref["add_rate"]


def pos_reference(wb, start, end, by):
    """POS buyers without an open contact at the end, one query per cut (the former SQL)."""
    s, e = _window(wb, start, end)
    col = _CUT_COLUMN[by]
    cut = f"b.{col}" if col else "'brand'"
    df = wb.query(f"""
        WITH b AS (
            SELECT DISTINCT o.customer_id, o.store_id, sr.region FROM orders o
            LEFT JOIN ({store_regions(wb)}) sr ON sr.store_id = o.store_id
            WHERE o.order_channel = 'pos' AND o.customer_id IS NOT NULL
              AND o.order_time >= {literal(s)} AND o.order_time < {literal(e)}
        ),
        open_now AS (
            SELECT DISTINCT customer_id FROM ({contact_intervals(wb)}) iv WHERE {open_at_sql('iv', literal(e))}
        )
        SELECT {cut} AS cut, COUNT(DISTINCT b.customer_id) AS pos_buyers,
               COUNT(DISTINCT CASE WHEN n.customer_id IS NULL THEN b.customer_id END) AS not_added
        FROM b LEFT JOIN open_now n ON n.customer_id = b.customer_id GROUP BY 1
    """)
    df["not_added_share"] = df["not_added"] / df["pos_buyers"]
    return df.rename(columns={"cut": col or "brand"}).sort_values(col or "brand").reset_index(drop=True)


@pytest.mark.parametrize("cuts", [("store", "brand"), ("brand",), ("region", "store", "brand"), ("store",)])
def test_pos_buyers_of_several_cuts_in_one_pass_equal_one_query_per_cut(report_brand, cuts):
    """Every cut's frame equals its own query; the brand's buyers are distinct across stores, not summed."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    start, end = ops.report_window(wb, brand.truth["as_of"][:10], 30)
    got = metrics.pos_buyers_not_added_by(wb, start, end, cuts)
    for by, frame in zip(cuts, got, strict=True):
        pd.testing.assert_frame_equal(frame, pos_reference(wb, start, end, by))
        assert frame["pos_buyers"].sum() > 50
    if cuts == ("store", "brand"):
        assert got[1]["pos_buyers"].iloc[0] <= got[0]["pos_buyers"].sum()
    wb.close()
