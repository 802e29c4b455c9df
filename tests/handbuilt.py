"""Hand-built brands shared by test modules: the tiny brand whose metric values are worked out by hand,
the tiny brand with an experiment, and the tiny brand with orders exercising every value-bucket rule."""
from __future__ import annotations

import pandas as pd

import workbench

T = pd.Timestamp


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value)


def tiny_brand() -> dict[str, pd.DataFrame]:
    """A hand-built brand whose metric values are worked out by hand in tests/metrics/test_metrics.py.

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


def with_experiments(tiny, unit="customer"):
    exps = pd.DataFrame({"experiment_id": ["X"], "unit": [unit], "start_at": [pd.Timestamp("2025-01-02 00:00")]})
    if unit == "customer":
        asg = pd.DataFrame({"experiment_id": "X", "unit_id": ["C1", "C2", "C3", "C4"],
                            "variant": ["control", "treatment", "control", "treatment"]})
    else:
        asg = pd.DataFrame({"experiment_id": "X", "unit_id": ["S1", "S2"], "variant": ["control", "treatment"]})
    tiny = dict(tiny, experiments=exps, assignments=asg)
    return workbench.open(tiny, as_of="2025-02-01")


def value_bucket_brand(tiny):
    """tiny brand plus orders exercising every rule."""
    orders = pd.DataFrame([
        # POS order with a WeCom coupon AND a chat 2 days before: coupon wins by default precedence
        ("P1", "C2", T("2025-01-20 12:00"), 300.0, "pos", "S1", None, None, "CW1", None),
        # POS order with a chat exactly 8 days before: outside the 7-day window
        ("P2", "C3", T("2025-01-20 12:00"), 120.0, "pos", "S2", None, None, None, None),
        # POS order with a chat 6 days 23 h before: inside
        ("P3", "C1", T("2025-01-20 12:00"), 90.0, "pos", "S1", None, None, None, None),
        ("P4", "C1", T("2025-01-21 12:00"), 40.0, "wecom_transfer", None, None, "E1", None, None),
        ("P5", "C2", T("2025-01-21 13:00"), 60.0, "proxy_order", "S1", None, "E2", None, None),
        ("P6", "C2", T("2025-01-21 20:00"), 70.0, "channels_live", None, None, None, None, None),
        ("P7", "C4", T("2025-01-22 20:00"), 25.0, "channels_live", None, None, None, None, None),
        ("P8", "C1", T("2025-01-22 10:00"), 55.0, "mini_program", "S1", "T1", "E1", None, 5.0),
        ("P9", "C4", T("2025-01-22 11:00"), 35.0, "mini_program", None, None, None, None, None),
        # POS with a non-WeCom coupon and no touch: not attributed
        ("P10", "C4", T("2025-01-27 11:00"), 15.0, "pos", "S2", None, None, "CO1", None),
    ], columns=tiny["orders"].columns)
    touches = pd.DataFrame([
        (T("2025-01-18 12:00"), "C2", "E2", "chat", None),
        (T("2025-01-12 12:00"), "C3", "E3", "chat", None),
        (T("2025-01-13 13:00"), "C1", "E1", "chat", None),
        (T("2025-01-13 12:00"), "C1", "E2", "moments", None),
        (T("2025-01-21 10:00"), "C2", "E1", "live_invite", None),
        (T("2025-01-18 10:00"), "C4", "E1", "live_invite", None),  # 4.4 days before P7: outside 3 days
    ], columns=["event_time", "customer_id", "staff_id", "touch_type", "task_id"])
    coupons = pd.DataFrame([
        ("CW1", "C2", T("2025-01-10"), "wecom", "E1", T("2025-01-20 12:00"), "P1"),
        ("CO1", "C4", T("2025-01-10"), "other", None, T("2025-01-27 11:00"), "P10"),
    ], columns=["coupon_id", "customer_id", "issued_at", "issue_source", "issued_by_staff_id", "redeemed_at",
                "redeemed_order_id"])
    return workbench.open(dict(tiny, orders=orders, touches=touches, coupons=coupons), as_of="2025-02-01")


def staffed_brand() -> dict[str, pd.DataFrame]:
    """The tiny brand with E1 named "Li Na", a departed guide E4 of S1 (C5 closed by staff_left, C6 transferred
    to E2 on 01-03), and two more S1 buyers: C4 (shared by E2) and C7 (never added)."""
    tb = tiny_brand()
    T = pd.Timestamp
    staff = pd.DataFrame({"staff_id": ["E1", "E2", "E3", "H1", "E4"], "store_id": ["S1", "S1", "S2", None, "S1"],
                          "role": ["guide", "guide", "guide", "hq", "guide"],
                          "staff_name": ["Li Na", None, None, None, None],
                          "left_at": [None, None, None, None, T("2025-01-04")]})
    extra = pd.DataFrame([
        (T("2025-01-01 09:00"), "C5", "E4", "add", "CASH1"),
        (T("2025-01-04 00:00"), "C5", "E4", "staff_left", None),
        (T("2025-01-01 09:30"), "C6", "E4", "add", "CASH1"),
        (T("2025-01-03 10:00"), "C6", "E4", "transfer", None),
        (T("2025-01-03 10:00"), "C6", "E2", "add", None),
    ], columns=tb["contact_events"].columns)
    orders = pd.concat([tb["orders"], pd.DataFrame([
        ("O8", "C4", T("2025-01-05 12:00"), 40.0, "pos", "S1", None, "E2", None, None),
        ("O9", "C7", T("2025-01-06 12:00"), 25.0, "pos", "S1", None, None, None, None),
    ], columns=tb["orders"].columns).astype(tb["orders"].dtypes.to_dict())], ignore_index=True)
    return dict(tb, staff=staff, contact_events=pd.concat([tb["contact_events"], extra], ignore_index=True),
                orders=orders, customers=pd.DataFrame({"customer_id": [f"C{i}" for i in range(1, 8)]}))
