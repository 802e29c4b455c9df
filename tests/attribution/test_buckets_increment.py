"""The holdout increment from per-customer sums equals the one from every assigned customer joined to every order.

:func:`~workbench.attribution.buckets.holdout_incrementality` sums each customer's GMV once and joins the
sums to the assigned customers; the reference below is the query it replaced (one LEFT JOIN of every
assignment to every order of the window, a zero per customer without orders). Every number of the
result must be the same, to the last bit: on the simulated brand's year and month, and on hand-built
assignments with customers without orders, orders of no one assigned and an arm without orders.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.attribution.buckets import Incrementality, holdout_incrementality
from workbench.engine import literal, money_product_sum
from workbench.experiments.frequentist import welch_ttest
from workbench.experiments.stats import SampleMeanStatistic

T = pd.Timestamp


def _reference(wb: workbench.Workbench, start: str, end: str, experiment_id: str = "HOLDOUT",
               holdout_variant: str = "holdout") -> Incrementality:
    """The increment as computed before: every assignment LEFT JOIN every order of the window."""
    s, e = literal(T(start)), literal(T(end))
    df = wb.query(f"""
        WITH g AS (
            SELECT a.unit_id, a.variant, COALESCE(SUM(CAST(o.amount AS DECIMAL(38, 10))), 0) AS gmv
            FROM assignments a LEFT JOIN orders o ON o.customer_id = a.unit_id
                 AND o.order_time >= {s} AND o.order_time < {e}
            WHERE a.experiment_id = {literal(experiment_id)}
            GROUP BY a.unit_id, a.variant)
        SELECT CASE WHEN variant = {literal(holdout_variant)} THEN 'holdout' ELSE 'reached' END AS arm,
               COUNT(*) AS n, CAST(SUM(gmv) AS DOUBLE) AS s, {money_product_sum('gmv', 'gmv')} AS ss
        FROM g GROUP BY 1""").set_index("arm")
    reached, holdout = (SampleMeanStatistic(int(df.at[arm, "n"]), float(df.at[arm, "s"]), float(df.at[arm, "ss"]))
                        for arm in ("reached", "holdout"))
    test = welch_ttest(holdout, reached, 0.05)
    n_r = int(reached.n)
    return Incrementality(n_r, int(holdout.n), float(reached.mean), float(holdout.mean), float(test.effect),
                          float(test.ci_low), float(test.ci_high), float(test.p_value), float(test.effect) * n_r,
                          float(test.ci_low) * n_r, float(test.ci_high) * n_r,
                          float(np.sqrt(reached.variance)), float(np.sqrt(holdout.variance)))


def _same(got: Incrementality, want: Incrementality) -> None:
    assert repr(got) == repr(want)      # every field, NaN included


@pytest.mark.parametrize(("start", "end"), [("2025-01-01", "2026-01-01"), ("2025-12-01", "2026-01-01"),
                                            ("2025-06-15", "2025-06-16")])
def test_simulated_holdout(report_brand, start, end):
    """The simulated brand's HOLDOUT: a year, a month and a day."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    got = holdout_incrementality(wb, start, end)
    assert got.reached_n > 1000 and got.holdout_n > 100
    _same(got, _reference(wb, start, end))


def test_repeated_and_odd_assignments():
    """Customers without orders, orders outside the window, of no one and of no one assigned, an empty arm."""
    orders = pd.DataFrame({"order_id": [f"O{i}" for i in range(8)],
                           "customer_id": ["C1", "C1", "C2", "C3", "C4", None, "C9", "C5"],
                           "order_time": [T("2025-03-01"), T("2025-03-02"), T("2025-03-03"), T("2025-03-04"),
                                          T("2025-05-01"), T("2025-03-05"), T("2025-03-06"), T("2025-03-07")],
                           "order_channel": "pos", "amount": [10.25, 20.5, 7.0, 3.3, 99.0, 50.0, 12.0, 0.1]})
    exps = pd.DataFrame({"experiment_id": ["HOLDOUT"], "unit": ["customer"], "start_at": [T("2025-01-01")]})
    asg = pd.DataFrame({"experiment_id": "HOLDOUT",
                        "unit_id": ["C1", "C2", "C3", "C4", "C5", "C6", "C7"],
                        "variant": ["reached", "holdout", "reached", "reached", "holdout", "holdout", "reached"]})
    wb = workbench.open({"orders": orders, "experiments": exps, "assignments": asg}, as_of="2025-06-01")
    for start, end in (("2025-03-01", "2025-04-01"), ("2025-01-01", "2025-06-01"), ("2025-04-01", "2025-04-20")):
        _same(holdout_incrementality(wb, start, end), _reference(wb, start, end))
