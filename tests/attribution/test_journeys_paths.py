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
