"""Value buckets for one month: ``value_buckets`` in the engine vs the same rules in pandas.

Opens a brand directory (e.g. one written by ``workbench simulate``; each table a
``<table>.parquet`` file or a folder of Parquet files) and measures the private-domain
value model (README, "What a page states, and how it is checked": "Value model") for one calendar month:

1. **workbench**: ``value_buckets(wb, month_start, month_end)`` with its defaults — every
   order of the month tested against link, transfer, coupon, interaction (the 7-day rule),
   proxy and live, first match wins, totals by bucket and rule. Wall time of the call and
   the phase's peak RSS (DuckDB runs in-process, so its memory is included).
2. **pandas peer** (``--peer``): what a data scientist would otherwise write. It reads only
   what it needs straight from the Parquet files with ``pandas.read_parquet`` and filters:
   the month's orders, the WeCom coupons those orders redeemed, and the touches in
   ``[month_start - window, month_end)`` of the types the rules use; it then finds "the most
   recent qualifying touch before the order" with ``pandas.merge_asof`` and applies the
   rules in the same precedence with ``numpy.select``. Timed including its reads, and the
   compute after reading separately.

Each phase runs in its own fresh (spawned) process, so each peak RSS belongs to that phase
alone. The bucket totals of both sides are printed side by side with the largest relative
GMV difference; order counts per bucket and rule must agree exactly. ``--check-orders``
also compares every order's rule and the staff member the 7-day rule credits (after the
timings: it adds one row per order to the memory, not to the measured time).

    python benchmarks/bench_value_buckets.py --data /path/to/brand
    python benchmarks/bench_value_buckets.py --data /path/to/brand --month 2025-12 --peer
    /usr/bin/time -v python benchmarks/bench_value_buckets.py --data /path/to/brand --peer --memory-limit 8GB
"""
from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.attribution.buckets import DEFAULT_PRECEDENCE, INTERACTION_TYPES, RULES

KEYS = ["bucket", "rule"]
ORDER_COLUMNS = ["order_id", "customer_id", "order_time", "amount", "order_channel", "task_id", "share_staff_id",
                 "coupon_id", "refunded_amount"]


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def parse_month(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Period(month, freq="M").start_time
    return start, start + pd.offsets.MonthBegin(1)


def default_month(data: Path) -> str:
    """Last complete calendar month of the data.

    The last calendar month that ends by the day after the data ends (the usual as-of date):
    December when the data runs to 31 December, November when it stops on 15 December.
    """
    from workbench import open as open_workbench

    wb = open_workbench(data, validate=False)
    as_of = wb.data_end().normalize() + pd.Timedelta(days=1)
    wb.con.close()
    return str(as_of.to_period("M") - 1)


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one phase in a fresh process: its ru_maxrss is then that phase's peak, not the benchmark's."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# ---------------------------------------------------------------------- workbench
def workbench_phase(data: Path, start: pd.Timestamp, end: pd.Timestamp, memory_limit: str | None,
                    interaction_days: int, live_days: int, check_orders: bool) -> dict[str, Any]:
    from workbench import open as open_workbench
    from workbench.attribution.buckets import value_buckets

    t0 = time.perf_counter()
    wb = open_workbench(data, validate=False, memory_limit=memory_limit)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    totals = value_buckets(wb, start, end, interaction_window_days=interaction_days, live_window_days=live_days)
    seconds = time.perf_counter() - t0
    out = {"totals": totals[KEYS + ["orders", "gmv", "net_gmv"]], "total_gmv": float(totals["gmv"].fillna(0).sum()),
           "open_seconds": t_open, "seconds": seconds, "rss_gb": peak_rss_gb()}
    if check_orders:  # after the timing and the RSS reading: one row per order is not part of the measurement
        rows = value_buckets(wb, start, end, interaction_window_days=interaction_days, live_window_days=live_days,
                             by=None)
        rows["staff"] = rows["credited_staff_id"].where(rows["rule"].eq("interaction"))
        out["rules"] = rows.set_index("order_id")[["rule", "staff"]]
    return out


# ---------------------------------------------------------------------- pandas peer
def table_path(data: Path, name: str) -> Path:
    """``<name>.parquet`` or a folder ``<name>/`` of Parquet files (read_parquet takes either)."""
    single = data / f"{name}.parquet"
    return single if single.exists() else data / name


def read_inputs(data: Path, start: pd.Timestamp, end: pd.Timestamp,
                window_days: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The month's orders, the WeCom coupons they redeemed, and the touches the rules can use."""
    orders = pd.read_parquet(table_path(data, "orders"), columns=ORDER_COLUMNS,
                             filters=[("order_time", ">=", start), ("order_time", "<", end)])
    coupon_ids = orders["coupon_id"].dropna().unique().tolist()
    # the rule joins on the order's coupon_id, so read exactly those coupons (none: an empty frame)
    coupons = pd.read_parquet(table_path(data, "coupons"), columns=["coupon_id", "issued_by_staff_id"],
                              filters=[("coupon_id", "in", coupon_ids or [""]), ("issue_source", "==", "wecom")])
    # live_invite is one of INTERACTION_TYPES, so one filtered read serves the 7-day rule and the live rule
    touches = pd.read_parquet(table_path(data, "touches"),
                              columns=["event_time", "customer_id", "staff_id", "touch_type"],
                              filters=[("event_time", ">=", start - pd.Timedelta(days=window_days)),
                                       ("event_time", "<", end), ("touch_type", "in", list(INTERACTION_TYPES))])
    return orders, coupons, touches


def last_touch_before(orders: pd.DataFrame, touches: pd.DataFrame, days: int) -> pd.Series:
    """Staff of each order's 7-day-rule touch, in pandas.

    Per order (same index), the staff of the customer's most recent touch strictly before it,
    at most ``days`` earlier; NaN where there is none. Ties at one timestamp go to the smallest
    staff_id, as in the engine's ``ORDER BY event_time DESC, staff_id``.
    """
    # an order without a customer matches no touch (as a SQL join on NULL); ``row`` leads the result back
    known = orders["customer_id"].notna().to_numpy()
    left = (orders.loc[known, ["order_time", "customer_id"]].assign(row=np.flatnonzero(known))
            .sort_values("order_time", kind="stable"))
    # merge_asof takes the last right row at or before the key: among equal times, the smallest staff_id last
    right = touches[["event_time", "customer_id", "staff_id"]].sort_values(["event_time", "staff_id"],
                                                                           ascending=[True, False])
    matched = pd.merge_asof(left, right, left_on="order_time", right_on="event_time", by="customer_id",
                            direction="backward", allow_exact_matches=False,  # strictly before the order
                            tolerance=pd.Timedelta(days=days))  # inclusive: event_time >= order_time - days
    staff = pd.Series(np.nan, index=orders.index, dtype=object)
    found = matched["event_time"].notna().to_numpy()
    staff.iloc[matched.loc[found, "row"].to_numpy()] = matched.loc[found, "staff_id"].fillna("").to_numpy()
    return staff


def classify(orders: pd.DataFrame, coupons: pd.DataFrame, touches: pd.DataFrame, interaction_days: int,
             live_days: int) -> tuple[pd.Series, pd.Series]:
    """Rule and 7-day-rule staff of every order, in pandas.

    The rule of every order (the first of ``DEFAULT_PRECEDENCE`` that matches, else ``none``) and,
    per POS order, the staff member of the 7-day rule's touch (NaN without one).
    """
    channel = orders["order_channel"]
    pos, live = channel.eq("pos"), channel.eq("channels_live")
    interaction = pd.Series(np.nan, index=orders.index, dtype=object)
    # the read kept only interaction types: the 7-day rule just needs a staff member on the touch
    staff_touches = touches[touches["staff_id"].notna()]
    interaction[pos] = last_touch_before(orders[pos], staff_touches, interaction_days)
    invite = pd.Series(np.nan, index=orders.index, dtype=object)
    # any live invitation counts, with or without a staff member on it ("" marks a match without staff)
    invite[live] = last_touch_before(orders[live], touches[touches["touch_type"].eq("live_invite")], live_days)
    matches = {
        "link": channel.eq("mini_program") & (orders["task_id"].notna() | orders["share_staff_id"].notna()),
        "transfer": channel.eq("wecom_transfer"),
        "coupon": pos & orders["coupon_id"].isin(coupons["coupon_id"]),
        "interaction": pos & interaction.notna(),
        "proxy": channel.eq("proxy_order"),
        "live": live & invite.notna(),
    }
    rule = np.select([matches[r].to_numpy() for r in DEFAULT_PRECEDENCE], list(DEFAULT_PRECEDENCE), default="none")
    return pd.Series(rule, index=orders.index, name="rule"), interaction


def bucket_totals(orders: pd.DataFrame, rule: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"rule": rule, "bucket": rule.map(RULES).fillna("not_attributed"),
                          "amount": orders["amount"],
                          "net": orders["amount"] - orders["refunded_amount"].fillna(0)})
    return (frame.groupby(KEYS).agg(orders=("amount", "size"), gmv=("amount", "sum"), net_gmv=("net", "sum"))
            .reset_index())


def peer_phase(data: Path, start: pd.Timestamp, end: pd.Timestamp, interaction_days: int, live_days: int,
               check_orders: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    orders, coupons, touches = read_inputs(data, start, end, max(interaction_days, live_days))
    t_read = time.perf_counter() - t0
    rss_read = peak_rss_gb()
    t0 = time.perf_counter()
    rule, interaction_staff = classify(orders, coupons, touches, interaction_days, live_days)
    totals = bucket_totals(orders, rule)
    t_compute = time.perf_counter() - t0
    out = {"totals": totals, "read_seconds": t_read, "compute_seconds": t_compute, "rss_read_gb": rss_read,
           "rss_gb": peak_rss_gb(), "rows": {"orders": len(orders), "coupons": len(coupons), "touches": len(touches)}}
    if check_orders:
        staff = interaction_staff.where(rule.eq("interaction"))
        out["rules"] = pd.DataFrame({"rule": rule.to_numpy(), "staff": staff.to_numpy()}, index=orders["order_id"])
    return out


# ---------------------------------------------------------------------- comparison
def compare(ours: pd.DataFrame, peer: pd.DataFrame) -> tuple[pd.DataFrame, float, bool]:
    """Side-by-side totals, the largest relative GMV/net GMV difference, and whether counts agree."""
    both = ours.merge(peer, on=KEYS, how="outer", suffixes=("_wb", "_pd")).fillna(0).sort_values(KEYS)
    rel = 0.0
    for col in ("gmv", "net_gmv"):
        a, b = both[f"{col}_wb"].to_numpy(float), both[f"{col}_pd"].to_numpy(float)
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = max(rel, float(np.max(np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1), 0.0))))
    counts_agree = bool((both["orders_wb"].astype(int) == both["orders_pd"].astype(int)).all())
    return both, rel, counts_agree


def compare_orders(ours: pd.DataFrame, peer: pd.DataFrame) -> None:
    """Every order's rule, and the staff member the 7-day rule credits (ties at one timestamp)."""
    joined = ours.join(peer, how="outer", lsuffix="_wb", rsuffix="_pd")
    rule_differs = joined["rule_wb"].ne(joined["rule_pd"])
    staff_differs = ~rule_differs & joined["staff_wb"].fillna("").ne(joined["staff_pd"].fillna(""))
    print(f"per-order check: {len(joined):,} orders, {int(rule_differs.sum()):,} with a different rule, "
          f"{int(staff_differs.sum()):,} interaction orders credited to a different staff member")
    if rule_differs.any():
        print(joined[rule_differs].groupby(["rule_wb", "rule_pd"], dropna=False).size().rename("orders").to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="brand directory of contract tables (Parquet)")
    parser.add_argument("--month", default=None, help="YYYY-MM (default: the last full month before the data ends)")
    parser.add_argument("--memory-limit", default=None,
                        help="DuckDB memory limit (default: the engine's, half the machine)")
    parser.add_argument("--peer", action="store_true", help="also run the pandas implementation and compare")
    parser.add_argument("--interaction-window-days", type=int, default=7)
    parser.add_argument("--live-window-days", type=int, default=3)
    parser.add_argument("--check-orders", action="store_true",
                        help="also compare every order's rule and 7-day-rule staff")
    args = parser.parse_args()

    month = args.month or default_month(args.data)
    start, end = parse_month(month)
    iw, lw = args.interaction_window_days, args.live_window_days
    print(f"value buckets for {month} ([{start.date()}, {end.date()})), interaction window {iw} d, live window {lw} d",
          flush=True)

    wb = in_child(workbench_phase, args.data, start, end, args.memory_limit, iw, lw, args.check_orders)
    n_orders = int(wb["totals"]["orders"].sum())
    print(f"workbench: value_buckets {wb['seconds']:.2f} s (open {wb['open_seconds']:.2f} s) over {n_orders:,} "
          f"orders, total GMV {wb['total_gmv']:,.2f}; peak RSS {wb['rss_gb']:.2f} GB")
    print(wb["totals"].to_string(index=False, float_format=lambda v: f"{v:,.2f}"), flush=True)
    summary = f"summary {month}: {n_orders:,} orders; workbench {wb['seconds']:.2f} s, peak RSS {wb['rss_gb']:.2f} GB"
    if args.peer:
        peer = in_child(peer_phase, args.data, start, end, iw, lw, args.check_orders)
        t_peer = peer["read_seconds"] + peer["compute_seconds"]
        rows = ", ".join(f"{v:,} {k}" for k, v in peer["rows"].items())
        print(f"pandas: read {peer['read_seconds']:.2f} s ({rows}; peak RSS after reading {peer['rss_read_gb']:.2f} GB)"
              f" + compute {peer['compute_seconds']:.2f} s = {t_peer:.2f} s; peak RSS {peer['rss_gb']:.2f} GB")
        both, rel, counts_agree = compare(wb["totals"], peer["totals"])
        print(both.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
        print(f"order counts per bucket and rule {'agree exactly' if counts_agree else 'DIFFER'}; "
              f"largest relative GMV/net GMV difference {rel:.1e}")
        if args.check_orders:
            compare_orders(wb["rules"], peer["rules"])
        summary += (f"; pandas {t_peer:.2f} s (read {peer['read_seconds']:.2f} + compute "
                    f"{peer['compute_seconds']:.2f}), peak RSS {peer['rss_gb']:.2f} GB; pandas/workbench "
                    f"{t_peer / wb['seconds']:.1f}x; counts {'agree' if counts_agree else 'DIFFER'}, "
                    f"max GMV rel diff {rel:.1e}")
    print(summary)


if __name__ == "__main__":
    main()
