"""Journey paths summed in the engine equal the journeys' own touchpoints joined in pandas.

:func:`~workbench.attribution.journeys.journey_path_summary` builds each path without numbering
the steps, and a non-converting journey reads its customer's touchpoints directly: on a
simulated brand (every look-back and cap) the paths must be exactly those of
:func:`~workbench.attribution.journeys.journeys`, and the non-converting journeys exactly the
customers with a touchpoint in the last look-back and no order.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench.attribution.journeys import journey_path_summary, journeys
from workbench.engine import literal

T = pd.Timestamp
SEP = " > "


def _paths_in_pandas(steps: pd.DataFrame) -> pd.DataFrame:
    steps = steps.sort_values(["journey_id", "step"])
    j = steps.groupby("journey_id").agg(converted=("converted", "max"), value=("value", "max"),
                                        path=("channel", SEP.join))
    j["conv_value"] = j["value"].where(j["converted"] == 1, 0.0)
    return (j.groupby("path").agg(total_conversions=("converted", "sum"), value=("conv_value", "sum"),
                                  total_null=("converted", lambda c: int((1 - c).sum())))
            .sort_values("total_conversions", ascending=False, kind="stable"))


@pytest.fixture(scope="module")
def sim(report_brand):
    """The simulated report brand at its as-of date."""
    folder, brand = report_brand
    return workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])


@pytest.mark.parametrize(("lookback", "cap"), [(30, 20), (7, 3), (60, 1)])
def test_paths_are_the_journeys_touchpoints_in_order(sim, lookback, cap):
    """Each path, its conversions, value and non-conversions, as joined from the journeys' rows."""
    s, e = T("2025-12-01"), T("2026-01-01")
    summary = journey_path_summary(sim, s, e, sep=SEP, lookback_days=lookback, max_touches=cap)
    want = _paths_in_pandas(journeys(sim, s, e, lookback_days=lookback, max_touches=cap))
    got = summary.paths.set_index("path")
    assert len(got) == len(want) > 10 and got.index.is_unique
    got = got.loc[want.index]
    assert got["total_conversions"].tolist() == want["total_conversions"].tolist()
    assert got["total_null"].tolist() == want["total_null"].tolist()
    assert got["total_conversion_value"].to_numpy() == pytest.approx(want["value"].to_numpy(), rel=1e-12)
    assert max(p.count(SEP) + 1 for p in got.index) <= cap


def test_non_converting_journeys_are_the_touched_customers_without_an_order(sim):
    """A customer with a touch or an add in the last 30 days before the end and no order in the window."""
    s, e = T("2025-12-01"), T("2026-01-01")
    steps = journeys(sim, s, e, lookback_days=30)
    null_ids = set(steps.loc[steps["converted"] == 0, "journey_id"])
    since, s_, e_ = literal(e - pd.Timedelta(days=30)), literal(s), literal(e)
    recent = sim.query(f"""SELECT customer_id FROM touches WHERE event_time >= {since} AND event_time < {e_}
                           UNION SELECT customer_id FROM contact_events WHERE event_type = 'add'
                             AND event_time >= {since} AND event_time < {e_}""")
    buyers = sim.query(f"SELECT DISTINCT customer_id FROM orders WHERE order_time >= {s_} AND order_time < {e_} "
                       f"AND customer_id IS NOT NULL")
    want = {f"null:{c}" for c in set(recent["customer_id"].dropna()) - set(buyers["customer_id"])}
    assert len(want) > 100 and null_ids == want


def test_ties_in_time_keep_the_channel_order(tiny):
    """Touches at the same instant: the path lists them by channel; the cap keeps the latest by (time, channel)."""
    at = T("2025-01-05 09:00")
    touches = pd.DataFrame([(at, "C4", "E1", ch, None) for ch in ("task_push", "chat", "moments")]
                           + [(at - pd.Timedelta(hours=1), "C4", "E1", "mass_send", None)],
                           columns=["event_time", "customer_id", "staff_id", "touch_type", "task_id"])
    wb = workbench.open(dict(tiny, touches=touches), as_of="2025-02-01")
    for cap, path in ((5, "mass_send > chat > moments > task_push"), (2, "chat > moments")):
        got = journey_path_summary(wb, "2025-01-05", "2025-01-06", lookback_days=1, max_touches=cap,
                                   include_adds=False).paths
        assert got.loc[got["total_conversions"] > 0, "path"].tolist() == [path]


@pytest.mark.parametrize("parts", [2, 5])
def test_paths_summed_in_customer_parts_are_the_paths_of_all_customers(sim, parts):
    """Past the engine's memory limit the journeys are summarised in customer-hash parts: a journey is one
    customer's, so the paths, their counts and their exact values are those of one pass, in the same order."""
    as_of = sim.as_of
    start = as_of - pd.Timedelta(days=30)
    whole = journey_path_summary(sim, start, as_of, parts=1)
    split = journey_path_summary(sim, start, as_of, parts=parts)
    assert len(whole.paths) > 20 and whole.paths["total_null"].sum() > 0
    pd.testing.assert_frame_equal(split.paths, whole.paths, check_dtype=False)
    assert split.paths["total_conversion_value"].tolist() == whole.paths["total_conversion_value"].tolist()
    assert (split.unattributed_conversions, split.unattributed_value) == \
        (whole.unattributed_conversions, whole.unattributed_value)


def test_the_parts_follow_the_memory_limit():
    """One part while the window's touchpoints fit the limit, more when they do not."""
    from workbench.attribution import journeys as jr

    touches = pd.DataFrame({"touch_id": [f"T{i}" for i in range(1000)],
                            "customer_id": [f"C{i % 50}" for i in range(1000)], "staff_id": "E1", "touch_type": "chat",
                            "event_time": pd.Timestamp("2025-01-10") + pd.to_timedelta(range(1000), unit="min")})
    orders = pd.DataFrame({"order_id": ["O1"], "customer_id": ["C1"], "order_time": [pd.Timestamp("2025-01-20")],
                           "amount": [10.0]})
    wb = workbench.open({"touches": touches, "orders": orders}, memory_limit="100MB")
    s, e = pd.Timestamp("2025-01-15"), pd.Timestamp("2025-02-01")
    limit = wb.backend.memory_limit_bytes()
    assert jr.path_parts(wb, s, e) == 1 and 1000 * jr._PATH_BYTES_PER_TOUCHPOINT < limit
    old = jr._PATH_BYTES_PER_TOUCHPOINT
    try:
        jr._PATH_BYTES_PER_TOUCHPOINT = limit // 300   # 1000 touchpoints need four parts
        assert jr.path_parts(wb, s, e) == 4
    finally:
        jr._PATH_BYTES_PER_TOUCHPOINT = old
