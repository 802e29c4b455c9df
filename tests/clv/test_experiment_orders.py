"""CLV fits without the experiments' one-off orders recover the simulator's true parameters.

The simulator's purchases are BG/NBD (``brand.truth["bgnbd"]`` for the task holdout,
``["bgnbd_reached"]`` — rate scale α/m — for the reached customers) and Gamma-Gamma on the
gross ``amount`` (``["gamma_gamma"]``); the only orders outside the model are the extra
task-link orders of ``EXP_CUST`` / ``EXP_STORE`` (task ids of tasks with an experiment id).
Like is compared with like: each group is fitted on its own buyers, every order counted as a
purchase (``purchase_unit="order"``: the simulator's purchases are events of a continuous-time
process), Gamma-Gamma on gross amounts. The CLV convention of counting purchase *days* merges
the ~2% of repeat purchases that share a day with another; as the high-rate customers lose
most, that shifts α up by ~8% (about one standard error at 20,000 customers, five at 100,000):
:func:`test_purchase_days_merge_same_day_orders` shows the difference.
"""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench.clv.pipeline import count_model_orders, customer_value, fit_value_models, summarise_buyers
from workbench.clv.rfm import model_orders_sql, rfm_summary
from workbench.simulate import simulate_brand

N_CUSTOMERS, SEED = 20_000, 5


@pytest.fixture(scope="module")
def brand_wb(tmp_path_factory):
    out = tmp_path_factory.mktemp("clv-truth") / "data"
    brand = simulate_brand(N_CUSTOMERS, seed=SEED, out=out, n_stores=12, n_staff=48)
    return brand, workbench.open(out, as_of=brand.truth["as_of"][:10])


def _group_fit(wb, variant: str):
    """BG/NBD on the buyers of one HOLDOUT arm (the table ``clv_buyers`` must exist)."""
    wb.materialize(f"buyers_{variant}", f"""
        SELECT b.* FROM clv_buyers b JOIN assignments a ON a.unit_id = b.customer_id
        WHERE a.experiment_id = 'HOLDOUT' AND a.variant = '{variant}'""")
    bg, _ = fit_value_models(wb, table=f"buyers_{variant}")
    return bg.summary


def _covers(summary: pd.DataFrame, truth: dict, names: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """Parameters whose 95% interval misses the truth: {name: (low, truth, high)}."""
    return {p: (summary.loc[p, "lower 95% bound"], truth[k], summary.loc[p, "upper 95% bound"])
            for p, k in names.items()
            if not summary.loc[p, "lower 95% bound"] <= truth[k] <= summary.loc[p, "upper 95% bound"]}


BGNBD = {"r": "r", "alpha": "alpha", "a": "a", "b": "b"}


def test_bgnbd_and_gamma_gamma_intervals_cover_truth_with_experiment_orders_excluded(brand_wb):
    brand, wb = brand_wb
    as_of = brand.truth["as_of"][:10]
    summarise_buyers(wb, as_of, exclude_experiment_orders=True, spend="gross", purchase_unit="order")
    assert _covers(_group_fit(wb, "reached"), brand.truth["bgnbd_reached"], BGNBD) == {}
    assert _covers(_group_fit(wb, "holdout"), brand.truth["bgnbd"], BGNBD) == {}
    _, gg = fit_value_models(wb)
    assert _covers(gg.summary, brand.truth["gamma_gamma"], {"p": "p", "q": "q", "v": "gamma"}) == {}


def test_experiment_orders_bias_the_reached_customers_purchase_rate(brand_wb):
    """The defect: with the experiments' extra orders the reached group's r interval lies above the truth."""
    brand, wb = brand_wb
    summarise_buyers(wb, brand.truth["as_of"][:10], exclude_experiment_orders=False, spend="gross",
                     purchase_unit="order")
    with_extra = _group_fit(wb, "reached")
    assert with_extra.loc["r", "lower 95% bound"] > brand.truth["bgnbd_reached"]["r"]


def test_count_model_orders_counts_the_experiment_task_orders(brand_wb):
    brand, wb = brand_wb
    orders, tasks = brand.tables["orders"], brand.tables["tasks"]
    as_of = pd.Timestamp(brand.truth["as_of"])
    known = orders[orders["customer_id"].notna() & (orders["order_time"] < as_of)]
    experiment_tasks = set(tasks.loc[tasks["experiment_id"].notna(), "task_id"])
    n_experiment = int(known["task_id"].isin(experiment_tasks).sum())
    assert n_experiment > 0
    seen = count_model_orders(wb, as_of, exclude_experiment_orders=True)
    assert (seen.orders_total, seen.experiment_orders, seen.orders_excluded) == (len(known), n_experiment, n_experiment)
    assert seen.orders_used == len(known) - n_experiment
    kept = known[~known["task_id"].isin(experiment_tasks)]
    assert seen.buyers_excluded_only == len(set(known["customer_id"]) - set(kept["customer_id"]))
    included = count_model_orders(wb, as_of, exclude_experiment_orders=False)
    assert (included.orders_excluded, included.experiment_orders, included.orders_used) == (0, n_experiment, len(known))


def test_customer_value_and_rfm_summary_see_the_same_orders(brand_wb):
    brand, wb = brand_wb
    as_of = pd.Timestamp(brand.truth["as_of"])
    cv = customer_value(wb, as_of, exclude_experiment_orders=True)
    rfm = rfm_summary(wb, observation_end=as_of - pd.Timedelta(days=1), exclude_experiment_orders=True)
    buyers = cv.customers[cv.customers["frequency"].notna()]
    assert len(buyers) == len(rfm)
    assert buyers["frequency"].sum() == rfm["frequency"].sum()
    assert cv.orders_seen.exclude_experiment_orders


def test_model_orders_without_a_tasks_table_keeps_every_order(tiny):
    wb = workbench.open({k: v for k, v in tiny.items() if k != "tasks"})
    assert model_orders_sql(wb, True) == "orders"
    assert "experiment_id" in model_orders_sql(workbench.open(tiny), True)


def test_spend_must_be_net_or_gross(brand_wb):
    brand, wb = brand_wb
    with pytest.raises(workbench.errors.ParameterError, match="spend must be one of"):
        summarise_buyers(wb, brand.truth["as_of"][:10], spend="list_price")


def test_purchase_days_merge_same_day_orders(brand_wb):
    brand, wb = brand_wb
    as_of = pd.Timestamp(brand.truth["as_of"])
    orders = brand.tables["orders"]
    known = orders[orders["customer_id"].notna() & (orders["order_time"] < as_of)]
    days = known.assign(day=known["order_time"].dt.normalize()).drop_duplicates(["customer_id", "day"])
    n_buyers = known["customer_id"].nunique()
    summarise_buyers(wb, as_of, name="per_order", purchase_unit="order")
    summarise_buyers(wb, as_of, name="per_day")
    repeat_orders = wb.scalar("SELECT SUM(frequency) FROM per_order")
    repeat_days = wb.scalar("SELECT SUM(frequency) FROM per_day")
    assert (repeat_orders, repeat_days) == (len(known) - n_buyers, len(days) - n_buyers)
    assert repeat_days < repeat_orders
    with pytest.raises(workbench.errors.ParameterError, match="purchase_unit must be one of"):
        summarise_buyers(wb, as_of, purchase_unit="basket")
