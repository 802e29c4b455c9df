"""A metric asked twice on one workbench runs its SQL once, and still answers as if computed afresh."""
from __future__ import annotations

import pandas as pd

import workbench
from tests.handbuilt import tiny_brand
from workbench import metrics


def test_the_second_call_reads_the_first_result_and_gets_its_own_copy():
    """Same arguments (defaults spelt out or not): one query; a caller changing its frame changes no other's."""
    wb = workbench.open(tiny_brand(), as_of="2025-02-01")
    queries = []
    run = wb.query
    wb.query = lambda sql: queries.append(sql) or run(sql)
    first = metrics.current_contacts(wb, "2025-01-05")
    n = len(queries)
    second = metrics.current_contacts(wb, "2025-01-05", by="store")   # the default, spelt out: the same call
    third = metrics.current_contacts(wb, "2025-01-05")
    assert n >= 1 and len(queries) == n
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first, third)
    third["contacts"] = -1
    assert (metrics.current_contacts(wb, "2025-01-05")["contacts"] >= 0).all()
    wb.close()


def test_a_new_table_computes_again():
    """Attaching another source for a table the metric reads is new data: the frame is computed again."""
    tiny = tiny_brand()
    wb = workbench.open(tiny, as_of="2025-02-01")
    before = metrics.conversion(wb, "2025-01-01", "2025-01-08", grain=None)
    orders = tiny["orders"].copy()
    orders["amount"] = orders["amount"] * 2
    wb.register("orders", orders)
    after = metrics.conversion(wb, "2025-01-01", "2025-01-08", grain=None)
    assert after["gmv"].iloc[0] == 2 * before["gmv"].iloc[0]
    wb.close()
