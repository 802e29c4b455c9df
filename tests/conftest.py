"""Shared fixtures: the hand-built tiny brand and the reference datasets beside the checkout."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True, scope="session")
def _private_caches(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Validation markers of the test run go to a temporary folder, not the user's cache."""
    import os

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
