"""Reports rendered from the derived layer state exactly what reports rendered without it.

A small simulated brand (4,000 customers) renders the ops, churn, CLV, value-model and one experiment
report in English twice with the same batch: first with no layer, then after ``build_layer`` (the batch
reuses it, and every kernel's workbench reads it). Every page's text must be the same, number for number;
only the generation time may differ. Ten notebooks run in this file, two at a time.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import workbench
from tests.pages.rendered import page_text
from workbench.derived_layer import build_layer, layer_status
from workbench.engine.layer import default_layer_dir
from workbench.reports import run_schedule

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = """defaults:
  langs: [en]
reports:
  - name: ops_dashboard
    parameters: {period_days: 30}
  - name: churn_report
    parameters: {horizon_days: 30}
  - name: clv_report
    parameters: {horizon_months: 12, discount_rate: 0.01}
  - name: value_model_report
    parameters: {interaction_window_days: 7}
  - name: experiment_report
    label: EXP_CUST
    parameters: {experiment_id: EXP_CUST}
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """``(without, with_layer, build)``: the runs of the schedule before and after the layer, and the build."""
    from workbench.simulate import simulate_brand

    root = tmp_path_factory.mktemp("layer-reports")
    brand = simulate_brand(4_000, seed=11, out=root / "data", n_stores=12, n_staff=48)
    as_of = brand.truth["as_of"][:10]
    schedule = root / "schedule.yml"
    schedule.write_text(SCHEDULE, encoding="utf-8")

    def batch(out: str, layer: bool) -> list:
        return run_schedule(schedule, data_dir=root / "data", as_of=as_of, out_dir=root / out,
                            notebooks_dir=ROOT / "notebooks", workers=2, memory_limit="8GiB", layer=layer)

    assert not default_layer_dir(root / "data").exists()
    without = batch("without", layer=False)
    build = build_layer(root / "data", as_of=as_of)
    assert layer_status(root / "data", as_of) == "current"
    with_layer = batch("with-layer", layer=True)  # the batch finds the layer current and reuses it
    assert layer_status(root / "data", as_of) == "current"
    wb = workbench.open(str(root / "data"), as_of=as_of)  # as every notebook opens the data
    assert wb.layer is not None  # so the second batch's kernels read the layer
    wb.close()
    return without, with_layer, build


def stated(run) -> str:
    """What a page says, without the generation time and the folder it was written to."""
    text = page_text(run)
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<time>", text)
    return text.replace("with-layer", "<out>").replace("without", "<out>")


def test_the_layer_holds_what_the_reports_read(pages):
    _, _, build = pages
    assert build.mode == "full"
    assert {"__wb_contact_intervals", "__wb_first_adds"} <= set(build.relations)
    assert all(n > 0 for n in build.relations.values())


@pytest.mark.parametrize("i, report", list(enumerate(
    ["ops_dashboard", "churn_report", "clv_report", "value_model_report", "experiment_report-EXP_CUST"])))
def test_report_from_the_layer_states_the_same_numbers(pages, i, report):
    without, with_layer, _ = pages
    a, b = without[i], with_layer[i]
    assert a.stem == b.stem == f"{report}.en"
    assert a.ok and b.ok, (a.error, b.error)
    text_a, text_b = stated(a), stated(b)
    numbers = re.findall(r"\d[\d,]*(?:\.\d+)?%?", text_a)
    assert len(numbers) > 20  # a page full of numbers, not an empty one
    assert text_a == text_b  # word for word: money is summed exactly, so not even a yuan may differ
