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


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value)


def tiny_brand() -> dict[str, pd.DataFrame]:
    """A hand-built brand whose metric values are worked out by hand in test_metrics.py.

    C1: add E1, delete next morning, re-add the same afternoon (T / T+1 / T+1).
    C2: adds two guides of store S1 (two adds, one person), joins group G1, claims a coupon.
    C3: added by E3 at store S2, deleted by staff two days later.
    C4: never added; joins then leaves G1.
    """
    stores = pd.DataFrame({"store_id": ["S1", "S2"], "store_name": ["Store one", "Store two"],
                           "region": ["East", "West"], "uses_retention_tool": [True, False]})
    staff = pd.DataFrame({"staff_id": ["E1", "E2", "E3", "H1"], "store_id": ["S1", "S1", "S2", None],
                          "role": ["guide", "guide", "guide", "hq"]})
    channels = pd.DataFrame({"channel_code": ["CASH1", "ADS", "MP"],
                             "channel_group": ["offline_store", "ads", "online_mall"],
                             "store_id": ["S1", None, None], "cost": [None, 5.0, None]})
    contact_events = pd.DataFrame([
        ("2025-01-01 10:00", "C1", "E1", "add", "CASH1"),
        ("2025-01-02 09:00", "C1", "E1", "delete_by_customer", None),
        ("2025-01-02 15:00", "C1", "E1", "add", "CASH1"),
        ("2025-01-01 11:00", "C2", "E1", "add", "CASH1"),
        ("2025-01-01 12:00", "C2", "E2", "add", "CASH1"),
        ("2025-01-03 10:00", "C3", "E3", "add", "ADS"),
        ("2025-01-05 10:00", "C3", "E3", "delete_by_staff", None),
    ], columns=["event_time", "customer_id", "staff_id", "event_type", "channel_code"])
    contact_events["event_time"] = pd.to_datetime(contact_events["event_time"])
    groups = pd.DataFrame({"group_id": ["G1"], "store_id": ["S1"], "owner_staff_id": ["E1"]})
    group_events = pd.DataFrame([
        ("2025-01-01 13:00", "C2", "G1", "join"),
        ("2025-01-04 10:00", "C4", "G1", "join"),
        ("2025-01-06 10:00", "C4", "G1", "leave"),
    ], columns=["event_time", "customer_id", "group_id", "event_type"])
    group_events["event_time"] = pd.to_datetime(group_events["event_time"])
    scans = pd.DataFrame([
        ("2025-01-01 09:50", "C1", "CASH1", "S1"),
        ("2025-01-01 10:55", "C2", "CASH1", "S1"),
        ("2025-01-02 23:00", "C3", "ADS", "S2"),
        ("2025-01-03 12:00", "C4", "CASH1", "S1"),
    ], columns=["event_time", "customer_id", "channel_code", "store_id"])
    scans["event_time"] = pd.to_datetime(scans["event_time"])
    orders = pd.DataFrame([
        ("O1", "C1", "2025-01-02 12:00", 100.0, "pos", "S1", None, None, None, None),
        ("O2", "C1", "2025-01-02 16:00", 50.0, "mini_program", "S1", "T1", "E1", None, None),
        ("O3", "C2", "2025-01-01 11:30", 200.0, "pos", "S1", None, None, None, None),
        ("O4", "C3", "2025-01-04 10:00", 80.0, "pos", "S2", None, None, None, None),
        ("O5", "C3", "2025-01-06 10:00", 70.0, "pos", "S2", None, None, None, 20.0),
        ("O6", "C4", "2025-01-05 10:00", 30.0, "ecommerce", None, None, None, None, None),
        ("O7", "C1", "2025-01-02 09:00", 10.0, "pos", "S1", None, None, None, None),
    ], columns=["order_id", "customer_id", "order_time", "amount", "order_channel", "store_id", "task_id",
                "share_staff_id", "coupon_id", "refunded_amount"])
    orders["order_time"] = pd.to_datetime(orders["order_time"])
    tasks = pd.DataFrame({"task_id": ["T1"], "created_at": [ts("2025-01-02 08:00")], "task_type": ["promotion"]})
    coupons = pd.DataFrame([
        ("CP1", "C2", "2025-01-01 14:00", "wecom"),
        ("CP2", "C1", "2025-01-01 10:30", "wecom"),
    ], columns=["coupon_id", "customer_id", "issued_at", "issue_source"])
    coupons["issued_at"] = pd.to_datetime(coupons["issued_at"])
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"]})
    return {"stores": stores, "staff": staff, "channels": channels, "contact_events": contact_events,
            "groups": groups, "group_events": group_events, "scans": scans, "orders": orders, "tasks": tasks,
            "coupons": coupons, "customers": customers}


@pytest.fixture()
def tiny() -> dict[str, pd.DataFrame]:
    return tiny_brand()
