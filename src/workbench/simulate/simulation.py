"""simulate_brand: runs the processes in order, in memory or chunk by chunk."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .customers import build_customers
from .draws import NEVER, Clock, make_frame, nullable, seq_ids, uniform_secs
from .experiments import Experiments, experiments_truth, merge_stats, simulate_experiments
from .habits import mass_sends_table, staff_daily_table, staff_day_counts
from .identity import identity_links_table
from .orders import assign_channels, bgnbd_orders, draw_amounts, redeem_coupons
from .params import ORDER_CHANNEL_CODE, ORDER_CHANNELS, SimulationParams, validate_params
from .relationships import build_relationships
from .staffing import add_staffing, habit_rng
from .tables import contact_events_table, group_events_table, scans_table, touches_table
from .touches import CouponLog, TouchLog, background_touches, hq_tasks
from .truth import build_truth, truth_stats
from .world import World, build_world
from .writer import (
    Brand,
    check_format,
    check_simulation_target,
    contract_tables,
    mark_simulated,
    remove_table,
    write_parquet,
)


def simulate_brand(n_customers: int = 100_000, seed: int = 0, out: str | Path | None = None, n_stores: int = 60,
                   n_staff: int = 300, start: str = "2025-01-01", months: int = 12, fmt: str = "parquet",
                   params: SimulationParams | None = None, progress: bool = False,
                   chunk_customers: int | None = None, force: bool = False) -> Brand:
    """Simulate a brand's contract tables and their ground truth.

    Parameters
    ----------
    n_customers : int, default 100,000
        Customers registering inside the window (at least 100).
    seed : int, default 0
        Everything is deterministic for a seed.
    out : path, optional
        When given, write ``<out>/<table>.<fmt>`` for every contract table and
        ``<out>/truth.json``.
    n_stores : int, default 60
        Stores (at least 2: the store experiment needs both arms).
    n_staff : int, default 300
        Active store guides (at least one per store), spread over stores by store size; a
        few former guides (``left_at`` before the window) and ten HQ staff are added.
    start : str, default "2025-01-01"
        First day of the window (Asia/Shanghai local time).
    months : int, default 12
        Window length (at least 2); ``as_of = start + months`` ends the data, exclusive.
    fmt : {"parquet", "csv"}
        File format when writing.
    params : SimulationParams, optional
        True parameters; defaults documented on :class:`SimulationParams`.
    progress : bool, default False
        Show a progress bar (over chunks when chunked; quiet when stderr is not a terminal).
    chunk_customers : int, optional
        Simulate at most this many customers at a time and write each chunk as it is done,
        so memory stays at about one chunk's peak (1M customers ≈ 3.5 GB) whatever
        ``n_customers`` is. Needs ``out`` and Parquet. The chunks share one world: stores,
        staff, channels, groups, the store-level funnel and chat rates, the HQ task
        calendar, the experiments with their store arms and store probabilities. Customer,
        member, order and coupon ids are numbered across chunks, so keys are unique.
        Dimension tables (stores, staff, channels, groups, tasks, experiments) are written
        once as ``<out>/<table>.parquet``, and so is ``staff_daily`` (built from the chunks'
        summed per-guide, per-day counts); per-customer tables as folders of parts
        ``<out>/<table>/part-00000.parquet`` …, which :func:`workbench.open` reads as one
        table. ``truth.json`` is one truth: the same parameters, counts summed, realised
        means weighted over chunks. The data differ from the unchunked brand of the same
        seed (other random streams), not in distribution. ``None`` (default): one chunk, in
        memory, exactly as before.
    force : bool, default False
        Write into ``out`` even when it holds data the simulator did not write (a real
        brand's export); without it that is refused before anything is simulated.

    Returns
    -------
    Brand
        ``tables`` (dict of DataFrames keyed by contract table) and ``truth``. When chunked,
        ``tables`` holds only the dimension tables (the rest is on disk).

    Examples
    --------
    >>> brand = simulate_brand(2_000, seed=1, n_stores=8, n_staff=24)
    >>> sorted(brand.tables)[:3]
    ['assignments', 'channels', 'contact_events']
    >>> brand.truth["bgnbd"]["r"], brand.truth["gamma_gamma"]["gamma"]
    (0.25, 150.0)
    """
    p = SimulationParams() if params is None else params
    validate_params(p)
    check_format(fmt)
    clock = _check_arguments(n_customers, seed, n_stores, n_staff, start, months)
    if out is not None:  # before minutes of simulation, not after
        check_simulation_target(out, force)
    if chunk_customers is not None:
        return _simulate_chunked(n_customers, seed, out, n_stores, n_staff, clock, fmt, p, progress,
                                 chunk_customers)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    step = _progress(progress, 7)
    world = add_staffing(build_world(rngs[0], clock, n_stores, n_staff, p), seed, clock, p)
    hrngs = [habit_rng(seed, 1, 0, j) for j in range(_HABIT_STREAMS)]
    tables, stats, exp = _simulate_part(rngs, (None, None, None), clock, world, p, n_customers, step, hrngs)
    tables["staff_daily"] = staff_daily_table(seed, clock, world, stats)
    order = [k for k in contract_tables() if k in tables]
    tables = {k: tables[k] for k in order + [k for k in tables if k not in order]}
    truth = build_truth(p, seed, clock, world, stats, exp.truth, {k: int(len(v)) for k, v in tables.items()})
    step(None)
    brand = Brand(tables, truth)
    if out is not None:
        brand.write(out, fmt, force=True)  # checked above
    return brand


#: Tables written once by a chunked simulation (the brand's world, its tasks and experiments).
_DIMENSIONS = ("stores", "staff", "channels", "groups", "tasks", "experiments")
#: Generators of the WeCom-habit draws per part: four for the spells (staffing), one for mass sends.
_HABIT_STREAMS = 5


def _simulate_part(rngs: list[np.random.Generator], brngs: tuple, clock: Clock, world: World,
                   p: SimulationParams, n: int, step: Callable[[str | None], None],
                   hrngs: list[np.random.Generator], first_customer: int = 0, first_order: int = 0,
                   first_coupon: int = 0,
                   id_width: int = 7) -> tuple[dict[str, pd.DataFrame], dict[str, Any], Experiments]:
    """Every table of ``n`` customers in ``world`` but ``staff_daily``: (tables, additive statistics, experiments).

    ``brngs`` are the generators of the brand-level draws (store probabilities, task calendar,
    store arms); ``None`` draws them from the process's own generator, as an unchunked brand does.
    ``hrngs`` are this part's generators of the WeCom-habit draws (new streams, so the others
    keep theirs). ``staff_daily`` is built by the caller from the summed per-day counts.
    """
    cust = build_customers(rngs[1], clock, world, n, p, first=first_customer, id_width=id_width)
    step("relationships")
    rel = build_relationships(rngs[2], clock, world, cust, p, brand_rng=brngs[0], habit_rngs=hrngs[:4])
    step("touches")
    log, coupons = TouchLog(), CouponLog()
    background_touches(rngs[3], clock, world, rel, p, log)
    unsent: list[tuple] = []
    task_rows = hq_tasks(rngs[4], clock, cust, rel, p, log, coupons, brand_rng=brngs[1], world=world, unsent=unsent)
    step("orders")
    o_cust, o_t, amount = bgnbd_orders(rngs[5], clock, cust, p)
    channel, store, task, share = assign_channels(rngs[5], world, cust, rel, log, o_cust, o_t, p)
    step("experiments")
    exp = simulate_experiments(rngs[6], clock, world, cust, rel, p, len(task_rows), log, brand_rng=brngs[2])
    x_cust, x_t, x_task, x_share = exp.extra
    task_rows += exp.task_rows
    o_cust = np.concatenate([o_cust, x_cust])
    o_t = np.concatenate([o_t, x_t])
    amount = np.concatenate([amount, draw_amounts(rngs[6], cust.nu[x_cust], p)])
    channel = np.concatenate([channel, np.full(len(x_cust), ORDER_CHANNEL_CODE["mini_program"], np.int8)])
    store = np.concatenate([store, cust.home[x_cust]])
    task = np.concatenate([task, x_task])
    share = np.concatenate([share, x_share])
    order = np.lexsort((o_cust, o_t))
    o_cust, o_t, amount, channel, store, task, share = (
        a[order] for a in (o_cust, o_t, amount, channel, store, task, share))
    share = world.successor_at(share, o_t)  # a departed guide's orders count for the heir

    step("coupons and refunds")
    rng = rngs[7]
    coupons.add(rel.hook_cust, rel.hook_t, rel.hook_staff, "wecom")
    other = np.flatnonzero(rng.random(cust.n) < p.other_coupon_share)
    coupons.add(other, cust.birth[other] + uniform_secs(rng, (clock.span - cust.birth[other]).astype(float)), -1,
                "other")
    c_cust, c_t, c_staff, c_source = coupons.arrays()
    c_order = np.lexsort((c_cust, c_t))
    c_cust, c_t, c_staff, c_source = c_cust[c_order], c_t[c_order], c_staff[c_order], c_source[c_order]
    c_staff = world.successor_at(c_staff, c_t)
    order_coupon, coupon_order = redeem_coupons(rng, o_cust, o_t, channel, c_cust, c_t, p)
    refunded = rng.random(len(o_cust)) < p.refund_share
    fraction = np.where(rng.random(len(o_cust)) < p.full_refund_share, 1.0, rng.uniform(0.1, 0.9, len(o_cust)))
    refund = np.where(refunded, np.minimum(np.round(amount * fraction, 2), amount), np.nan)

    step("tables")
    links, n_two_openids = identity_links_table(rng, cust, rel.ever_added)
    order_ids = seq_ids("O", len(o_cust), 9, first=first_order + 1)
    coupon_ids = seq_ids("CP", len(c_cust), 8, first=first_coupon + 1)
    task_ids = np.array([r[0] for r in task_rows], dtype=object)
    task_created = np.array([r[1] for r in task_rows], dtype=np.int64)
    mass_sends, ms_stats = mass_sends_table(hrngs[4], clock, world, cust, rel, p, log, unsent, task_ids, task_created)
    tables: dict[str, pd.DataFrame] = {
        "customers": cust.frame,
        "identity_links": links,
        **{k: world.tables[k] for k in ("stores", "staff", "channels")},
        "contact_events": contact_events_table(clock, world, cust, rel),
        "groups": world.tables["groups"],
        "group_events": group_events_table(clock, world, cust, rel),
        "scans": scans_table(clock, world, cust, rel),
        "touches": touches_table(clock, world, cust, log, task_ids),
        "tasks": make_frame({
            "task_id": task_ids,
            "created_at": clock.dt(task_created),
            "task_type": np.array([r[2] for r in task_rows], dtype=object),
            "title": np.array([r[3] for r in task_rows], dtype=object),
            "experiment_id": np.array([r[4] for r in task_rows], dtype=object),
            "variant": np.array([r[5] for r in task_rows], dtype=object),
            "delivery": np.array([r[6] for r in task_rows], dtype=object),
        }),
        "orders": make_frame({
            "order_id": order_ids,
            "customer_id": cust.ids[o_cust],
            "order_time": clock.dt(o_t),
            "amount": amount,
            "order_channel": np.array(ORDER_CHANNELS, dtype=object)[channel],
            "store_id": nullable(world.store_ids)[store],
            "task_id": nullable(task_ids)[task],
            "share_staff_id": nullable(world.staff_ids)[share],
            "coupon_id": nullable(coupon_ids)[order_coupon],
            "refunded_amount": refund,
        }),
        "coupons": make_frame({
            "coupon_id": coupon_ids,
            "customer_id": cust.ids[c_cust],
            "issued_at": clock.dt(c_t),
            "issue_source": np.array(["wecom", "other"], dtype=object)[c_source],
            "issued_by_staff_id": nullable(world.staff_ids)[c_staff],
            "redeemed_at": clock.dt(np.where(coupon_order >= 0, o_t[np.maximum(coupon_order, 0)], NEVER)),
            "redeemed_order_id": nullable(order_ids)[coupon_order],
        }),
        "experiments": make_frame({
            "experiment_id": np.array([r[0] for r in exp.rows], dtype=object),
            "unit": np.array([r[1] for r in exp.rows], dtype=object),
            "start_at": clock.dt(np.array([r[2] for r in exp.rows], dtype=np.int64)),
            "end_at": clock.dt(np.array([r[3] for r in exp.rows], dtype=np.int64)),
            "name": np.array([r[4] for r in exp.rows], dtype=object),
            "primary_metric": np.array([r[5] for r in exp.rows], dtype=object),
        }),
        "assignments": make_frame({
            "experiment_id": np.concatenate([np.full(len(u), e, dtype=object) for e, u, _, _ in exp.assignments]),
            "unit_id": np.concatenate([u for _, u, _, _ in exp.assignments]),
            "variant": np.concatenate([v for _, _, v, _ in exp.assignments]),
            "assigned_at": clock.dt(np.concatenate([t for _, _, _, t in exp.assignments]).astype(np.int64)),
        }),
        "mass_sends": mass_sends,
    }
    stats = truth_stats(p, clock, cust, rel, exp, o_cust, amount, tables, n_two_openids)
    stats |= ms_stats | staff_day_counts(clock, world, cust, rel)
    stats |= {f"staffing_{k}": v for k, v in rel.staffing.items()}
    return tables, stats, exp


def _simulate_chunked(n_customers: int, seed: int, out: str | Path | None, n_stores: int, n_staff: int,
                      clock: Clock, fmt: str, p: SimulationParams, progress: bool, chunk_customers: Any) -> Brand:
    """Simulate and write ``n_customers`` in chunks of at most ``chunk_customers`` sharing one world."""
    if isinstance(chunk_customers, bool) or not isinstance(chunk_customers, (int, np.integer)) \
            or chunk_customers < 100:
        raise ParameterError(f"chunk_customers must be an integer of at least 100, got {chunk_customers!r}")
    if out is None:
        raise ParameterError("chunk_customers needs out: chunks are written to disk as they are made")
    if fmt != "parquet":
        raise ParameterError("chunk_customers writes folders of Parquet parts; fmt must be 'parquet'")
    import gc

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mark_simulated(out)
    n_chunks = -(-n_customers // chunk_customers)
    sizes = np.full(n_chunks, n_customers // n_chunks, dtype=np.int64)
    sizes[: n_customers % n_chunks] += 1  # balanced: no tiny last chunk
    world = add_staffing(build_world(np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[0]), clock, n_stores,
                                     n_staff, p), seed, clock, p)
    id_width = max(7, len(str(n_customers)))
    for name in contract_tables():  # stale files of an earlier brand in `out` would shadow or mix in
        remove_table(out, name)

    totals: dict[str, Any] = {}
    counts: dict[str, int] = {}
    exp_stats: dict[str, Any] | None = None
    dims: dict[str, pd.DataFrame] = {}
    first_customer = first_order = first_coupon = 0
    bar = _chunk_bar(progress, n_chunks)
    try:
        for i, n in enumerate(int(x) for x in sizes):
            rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed, spawn_key=(2_000 + i,)).spawn(8)]
            # brand-level draws: fresh generators of one brand seed in every chunk, hence identical draws
            brngs = tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed, spawn_key=(1_000,)).spawn(3))
            hrngs = [habit_rng(seed, 1, i + 1, j) for j in range(_HABIT_STREAMS)]
            tables, stats, exp = _simulate_part(rngs, brngs, clock, world, p, n, lambda label: None, hrngs,
                                                first_customer, first_order, first_coupon, id_width)
            if i == 0:
                dims = {k: tables[k] for k in _DIMENSIONS}
                for k, frame in dims.items():
                    write_parquet(frame, out / f"{k}.parquet")
            elif not tables["tasks"].equals(dims["tasks"]):  # the shared calendar is the chunks' contract
                raise AssertionError("chunks drew different task calendars")
            a = tables["assignments"]
            if i > 0:  # store-level assignments belong to the world: written with the first chunk only
                tables["assignments"] = a[a["experiment_id"] != "EXP_STORE"].reset_index(drop=True)
            for k, frame in tables.items():
                if k in _DIMENSIONS:
                    counts[k] = len(frame)
                    continue
                folder = out / k
                folder.mkdir(exist_ok=True)
                write_parquet(frame, folder / f"part-{i:05d}.parquet")
                counts[k] = counts.get(k, 0) + len(frame)
            first_customer += n
            first_order += len(tables["orders"])
            first_coupon += len(tables["coupons"])
            for k, v in stats.items():  # sums; the store-level arrays are the same in every chunk, add_* add up
                same = isinstance(v, np.ndarray) and k in totals and not k.startswith("add_")
                totals[k] = v if same else totals.get(k, 0) + v
            exp_stats = merge_stats(exp_stats, exp.stats)
            del tables, stats, exp, a
            gc.collect()
            bar.update(1)
    finally:
        bar.close()
    assert exp_stats is not None
    daily = staff_daily_table(seed, clock, world, totals)  # one table from the chunks' summed day counts
    write_parquet(daily, out / "staff_daily.parquet")
    counts["staff_daily"] = len(daily)
    counts = {k: counts[k] for k in contract_tables() if k in counts}
    truth = build_truth(p, seed, clock, world, totals, experiments_truth(clock, world, p, exp_stats), counts)
    truth["chunks"] = {"n_chunks": int(n_chunks), "chunk_customers": int(chunk_customers),
                       "customers_per_chunk": [int(x) for x in sizes]}
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Brand(dims, truth)


def _chunk_bar(enabled: bool, total: int) -> Any:
    """Tqdm over chunks; silent unless asked for and stderr is a terminal outside CI."""
    import os
    import sys

    from tqdm.auto import tqdm

    quiet = not enabled or bool(os.environ.get("CI")) or not sys.stderr.isatty()
    return tqdm(total=total, desc="simulate", unit="chunk", disable=quiet)


def _check_arguments(n_customers: Any, seed: Any, n_stores: Any, n_staff: Any, start: Any, months: Any) -> Clock:
    for name, v in (("n_customers", n_customers), ("seed", seed), ("n_stores", n_stores), ("n_staff", n_staff),
                    ("months", months)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ParameterError(f"{name} must be an integer, got {v!r}")
    if n_customers < 100:
        raise ParameterError(f"n_customers must be at least 100, got {n_customers}")
    if seed < 0:
        raise ParameterError(f"seed must be non-negative, got {seed}")
    if n_stores < 2:
        raise ParameterError(f"n_stores must be at least 2 (the store experiment needs two arms), got {n_stores}")
    if n_staff < n_stores:
        raise ParameterError(f"n_staff must be at least n_stores (one guide per store), got {n_staff} < {n_stores}")
    if months < 2:
        raise ParameterError(f"months must be at least 2, got {months}")
    try:
        t0 = pd.Timestamp(start)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"start must be a date such as '2025-01-01', got {start!r}") from e
    if t0.tzinfo is not None:  # contract times are naive Asia/Shanghai local time
        t0 = t0.tz_convert("Asia/Shanghai").tz_localize(None)
    return Clock(t0.as_unit("ns"), int(months))


def _progress(enabled: bool, total: int) -> Callable[[str | None], None]:
    """A progress bar over simulation steps.

    A tqdm bar over simulation steps; silent when stderr is not a terminal or under CI
    (a bar redrawn into a cron log or a CI log is noise).
    """
    import os
    import sys

    if not enabled or os.environ.get("CI") or not sys.stderr.isatty():
        return lambda label: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="simulate", unit="step")

    def step(label: str | None) -> None:
        bar.update(1)
        if label is None:
            bar.close()
        else:
            bar.set_postfix_str(label)

    return step
