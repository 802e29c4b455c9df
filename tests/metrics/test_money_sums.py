"""Money the pages state is summed exactly: a total does not depend on the order rows are added in.

A DOUBLE sum does: ten amounts whose exact total is ¥2,103.50 add up to 2103.5 in one order and to
2103.4999999999995 in another, and the page then says ¥2,104 or ¥2,103 (a CI run saw this on the ops page,
with the engine's threads choosing the order). Every engine sum of yuan that reaches a page goes through
``engine.money_sum`` (decimal addition, order-free); these tests feed the same orders in two row orders to
the functions behind the pages and require the same yuan to the last bit.
"""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench import metrics
from workbench.attribution.channels import channel_roi
from workbench.attribution.journeys import journey_path_summary
from workbench.engine import money_sum
from workbench.pages.guides import guide_leaderboard
from workbench.plotting import format_cny

#: Exact total 2103.5 (a rounding boundary for whole yuan); in DOUBLE the sum depends on the order.
AMOUNTS = [0.1, 0.2, 0.3] * 3 + [2101.7]
TOTAL = 2103.5


def _double_and_exact(values: list[float]) -> tuple[float, float]:
    con = duckdb.connect()
    con.execute("SET threads = 1")  # one thread adds the rows in the frame's order
    con.register("amounts", pd.DataFrame({"amount": values}))
    return con.execute(f"SELECT SUM(amount), {money_sum('amount')} FROM amounts").fetchone()


def test_a_double_sum_depends_on_the_order_and_money_sum_does_not():
    """The premise (DOUBLE addition is not associative, at a whole-yuan boundary) and the remedy."""
    forward, exact_forward = _double_and_exact(AMOUNTS)
    backward, exact_backward = _double_and_exact(AMOUNTS[::-1])
    assert forward != backward  # the premise: DOUBLE addition is not associative
    assert {format_cny(forward), format_cny(backward)} == {"¥2,104", "¥2,103"}
    assert exact_forward == exact_backward == TOTAL
    assert format_cny(exact_forward) == "¥2,104"


def _brand(reverse: bool) -> workbench.Workbench:
    """The tiny brand with C1's ten task-link orders of ``AMOUNTS`` (after a push of T1), in one row order."""
    tiny = tiny_brand()
    n = len(AMOUNTS)
    orders = pd.DataFrame({
        "order_id": [f"M{i}" for i in range(n)], "customer_id": "C1",
        "order_time": pd.date_range("2025-01-03 10:00", periods=n, freq="h"), "amount": AMOUNTS,
        "order_channel": "mini_program", "store_id": "S1", "task_id": "T1", "share_staff_id": "E1",
        "coupon_id": None, "refunded_amount": None})
    orders = orders.iloc[::-1].reset_index(drop=True) if reverse else orders
    touches = pd.DataFrame({"event_time": [pd.Timestamp("2025-01-02 20:00")], "customer_id": ["C1"],
                            "staff_id": ["E1"], "touch_type": ["task_push"], "task_id": ["T1"]})
    return workbench.open(dict(tiny, orders=orders.astype({"refunded_amount": float}), touches=touches),
                          as_of="2025-02-01")


@pytest.fixture(scope="module")
def brands():
    """The brand with its orders in the written order and reversed."""
    a, b = _brand(reverse=False), _brand(reverse=True)
    yield a, b
    a.close()
    b.close()


def _money(wb: workbench.Workbench) -> dict[str, float]:
    conv = metrics.conversion(wb, "2025-01-01", "2025-02-01", grain=None, by="store").set_index("store_id")
    task = metrics.task_performance(wb, "2025-01-01", "2025-02-01").set_index("task_id")
    roi = channel_roi(wb, "2025-01-01", "2025-01-08").set_index("channel_code")
    board = guide_leaderboard(wb, "2025-01-01", "2025-02-01").rows.set_index("staff_id")
    paths = journey_path_summary(wb, "2025-01-01", "2025-02-01")
    return {"store gmv": conv.loc["S1", "gmv"], "store user gmv": conv.loc["S1", "user_gmv"],
            "store task gmv": conv.loc["S1", "task_gmv"], "task user gmv": task.loc["T1", "user_gmv"],
            "task gmv": task.loc["T1", "task_gmv"], "channel gmv": roi.loc["CASH1", "gmv"],
            "guide user gmv": board.loc["E1", "user_gmv"], "guide task gmv": board.loc["E1", "task_gmv"],
            "journey paths' value": paths.paths["total_conversion_value"].sum(),
            "journeys' unattributed value": paths.unattributed_value}


def test_page_money_is_the_same_in_either_row_order(brands):
    """Store, task, channel, guide and journey money: identical in both orders, and the exact total."""
    forward, backward = (_money(wb) for wb in brands)
    assert forward == backward  # bit for bit, every total
    # each is the exact total of C1's orders (all ten fall in every window and view above)
    journeys = forward.pop("journey paths' value") + forward.pop("journeys' unattributed value")
    assert all(v == TOTAL for v in forward.values()), forward
    assert journeys == pytest.approx(TOTAL, abs=1e-9)  # every order, credited to a path or not
