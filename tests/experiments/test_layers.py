"""The experiments package's layering: no import cycles (also through imports inside functions),
one place that picks the test, and no side results in ``DataFrame.attrs``."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import workbench.experiments as experiments
from workbench.experiments.method import TESTS
from workbench.experiments import (
    ClusteredRatioStatistic,
    ClusteredStatistic,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    choose_test,
    cluster_test,
    cuped_test,
    proportion_ztest,
    ratio_test,
    statistic_type,
    welch_ttest,
)

PACKAGE = Path(experiments.__file__).parent


def _imports(path: Path) -> set[str]:
    """Sibling modules a module imports anywhere (module level or inside a function)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out - {"__init__"}


def test_no_import_cycles():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == 1:
            raise AssertionError(f"import cycle: {' -> '.join(path + [module])}")
        if state.get(module) == 2 or module not in graph:
            return
        state[module] = 1
        for dep in sorted(graph[module]):
            visit(dep, path + [module])
        state[module] = 2

    for module in sorted(graph):
        visit(module, [])
    assert "frequentist" not in graph["cluster"] and "cluster" not in graph["frequentist"]


def test_no_dataframe_attrs():
    files = list(PACKAGE.glob("*.py")) + [PACKAGE.parent / "pages" / "experiment.py"]
    hits = [f"{p.name}:{i}" for p in files for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"\.attrs\b", line) and not line.lstrip().startswith(("#", "Side results"))]
    assert hits == []


@pytest.mark.parametrize("ratio, clustered, covariate, binary, kind, test", [
    (False, False, False, False, SampleMeanStatistic, welch_ttest),
    (False, False, False, True, ProportionStatistic, proportion_ztest),
    (True, False, False, False, RatioStatistic, ratio_test),
    (False, False, True, False, RegressionAdjustedStatistic, cuped_test),
    (False, True, False, True, ClusteredStatistic, cluster_test),
    (True, True, False, False, ClusteredRatioStatistic, cluster_test),
])
def test_one_place_picks_the_test(ratio, clustered, covariate, binary, kind, test):
    assert statistic_type(ratio=ratio, clustered=clustered, covariate=covariate, binary=binary) is kind
    assert TESTS[kind] is test
    stat = ProportionStatistic(10, 3)
    assert choose_test(stat, stat) is proportion_ztest
