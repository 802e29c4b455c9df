"""Shared fixtures: the hand-built tiny brand, the simulated brands, the engines and the reference datasets.

Markers (declared in pyproject.toml): ``spark`` is added to every test that starts Spark (the ``spark``
parametrisation of ``engine`` and users of ``spark_session``), ``shared`` to every test that reads
``../shared/datasets``; ``slow`` is set by hand. ``pytest -m "not slow and not spark"`` is the fast loop.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def _one_thread_per_worker() -> None:
    """Keep each test worker's BLAS and OpenMP pools to one thread.

    Workers run side by side, one per core; the report kernels a worker starts inherit the limit through the
    environment, as ``workbench run`` gives each kernel its share. Oversubscribed OpenMP pools wait on each
    other: small tree fits then take many times longer.
    """
    from threadpoolctl import threadpool_limits

    from workbench.reports.schedule import THREAD_VARIABLES

    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so that the limit below reaches it)

    threadpool_limits(1)


_one_thread_per_worker()


@pytest.fixture(autouse=True, scope="session")
def _private_caches(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Validation markers of the test run go to a temporary folder, not the user's cache."""
    os.environ["WORKBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("workbench-cache"))


@pytest.fixture(scope="session")
def report_brand(tmp_path_factory: pytest.TempPathFactory):
    """A small simulated brand (4,000 customers, 12 stores) for rendering reports: ``(folder, Brand)``.

    Session-scoped (per test worker): tests must not modify it.
    """
    from workbench.simulate import simulate_brand

    out = tmp_path_factory.mktemp("report-brand")
    brand = simulate_brand(4_000, seed=5, out=out / "data", n_stores=12, n_staff=48)
    return out, brand


@pytest.fixture(scope="session")
def large_brand():
    """The one large simulated brand of the truth-recovery tests: 30,000 customers, seed 21, default world.

    In memory (``brand.tables``, ``brand.truth``); session-scoped (per test worker): tests must not modify
    its tables (copy before changing, or register a changed table on their own workbench).
    """
    from workbench.simulate import simulate_brand

    return simulate_brand(30_000, seed=21)


@pytest.fixture(scope="session")
def render(report_brand):
    """``render(name, lang="en", label=None, **params)`` runs a report notebook on ``report_brand``
    (as of the brand's truth date) once per worker and returns the ``ReportRun``; repeated calls
    with the same arguments reuse the run. Read the executed notebook from ``run.ipynb_path``
    and the page from ``run.html_path``."""
    from workbench.reports import run_report

    out, brand = report_brand
    cache: dict = {}

    def _render(name: str, lang: str = "en", label: str | None = None, **params):
        key = (name, lang, label, tuple(sorted((k, repr(v)) for k, v in params.items())))
        if key not in cache:
            cache[key] = run_report(name, params, lang=lang, as_of=brand.truth["as_of"][:10], data_dir=out / "data",
                                    out_dir=out / "reports", notebooks_dir=ROOT / "notebooks", label=label)
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets``; tests using it skip when the reference data is absent."""
    if not SHARED.is_dir():
        pytest.skip("needs ../shared/datasets (reference data beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def cdnow_transactions(shared_datasets: Path) -> pd.DataFrame:
    """CDNOW_sample.txt: one row per purchase (customer, sample, date, cds, dollars), dates parsed.

    Session-scoped: tests must not modify it.
    """
    raw = pd.read_csv(shared_datasets / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["customer", "sample", "date", "cds", "dollars"], dtype={"customer": str})
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw


@pytest.fixture()
def tiny() -> dict[str, pd.DataFrame]:
    """A fresh copy of the hand-built tiny brand (tests.handbuilt.tiny_brand)."""
    from tests.handbuilt import tiny_brand

    return tiny_brand()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the fixtures they use: ``shared`` (reference datasets) and ``spark`` (a Spark session)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "shared_datasets" in names:
            item.add_marker(pytest.mark.shared)
        if "spark_session" in names:
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def spark_session():
    """One local SparkSession per test worker.

    Skipped when Java is absent or WORKBENCH_SKIP_SPARK=1, except on CI (``CI`` set), where a missing
    Java fails the test instead: Spark is part of the project's test dependencies.
    """
    if os.environ.get("WORKBENCH_SKIP_SPARK") == "1":
        pytest.skip("WORKBENCH_SKIP_SPARK=1")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI"):
            pytest.fail("Spark needs Java, which is absent (CI is set, so this fails rather than skips)")
        pytest.skip("Spark needs Java, which is absent on this machine")
    from workbench.engine.spark import local_session

    return local_session("workbench-tests")


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest):
    """``engine(tables, as_of=None)`` opens a Workbench on DuckDB or on Spark (local mode).

    Engine-level tests that check results on given data take this fixture and so run on both engines.
    """
    if request.param == "duckdb":
        import workbench

        return workbench.open
    spark = request.getfixturevalue("spark_session")
    from workbench.engine.spark import open_spark

    def _open(tables, as_of=None, **kwargs):
        return open_spark(tables, as_of=as_of, spark=spark, **kwargs)

    return _open
