"""Contract tables built from the simulated arrays."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .customers import _Customers
from .draws import _Clock, _frame, _nullable, NEVER
from .params import TOUCH_TYPES
from .relationships import _Relationships, _Spells
from .touches import _TouchLog
from .world import _World


def _contact_events(clock: _Clock, world: _World, cust: _Customers, sp: _Spells) -> pd.DataFrame:
    ended = sp.end != NEVER
    t = np.concatenate([sp.start, sp.end[ended]])
    c = np.concatenate([sp.cust, sp.cust[ended]])
    s = np.concatenate([sp.staff, sp.staff[ended]])
    kind = np.concatenate([np.zeros(len(sp.start), np.int64), np.where(sp.by_staff[ended], 2, 1)])
    code = np.concatenate([sp.code, np.full(int(ended.sum()), -1)])
    o = np.lexsort((kind, s, c, t))  # time order; an add sorts before a same-second delete
    return _frame({
        "event_time": clock.dt(t[o]),
        "customer_id": cust.ids[c[o]],
        "staff_id": world.staff_ids[s[o]],
        "event_type": np.array(["add", "delete_by_customer", "delete_by_staff"], dtype=object)[kind[o]],
        "channel_code": _nullable(world.code_ids)[code[o]],
    })


def _group_events(clock: _Clock, world: _World, cust: _Customers, rel: _Relationships) -> pd.DataFrame:
    left = rel.mem_leave != NEVER
    t = np.concatenate([rel.mem_join, rel.mem_leave[left]])
    c = np.concatenate([rel.mem_cust, rel.mem_cust[left]])
    g = np.concatenate([rel.mem_group, rel.mem_group[left]])
    kind = np.concatenate([np.zeros(len(rel.mem_join), np.int64), np.ones(int(left.sum()), np.int64)])
    o = np.lexsort((kind, g, c, t))
    return _frame({
        "event_time": clock.dt(t[o]),
        "customer_id": cust.ids[c[o]],
        "group_id": world.group_ids[g[o]],
        "event_type": np.array(["join", "leave"], dtype=object)[kind[o]],
    })


def _scans(clock: _Clock, world: _World, cust: _Customers, rel: _Relationships) -> pd.DataFrame:
    o = np.lexsort((rel.scan_cust, rel.scan_t))
    return _frame({
        "event_time": clock.dt(rel.scan_t[o]),
        "customer_id": cust.ids[rel.scan_cust[o]],
        "channel_code": world.code_ids[rel.scan_code[o]],
        "store_id": _nullable(world.store_ids)[rel.scan_store[o]],
    })


def _touches(clock: _Clock, world: _World, cust: _Customers, log: _TouchLog, task_ids: np.ndarray) -> pd.DataFrame:
    t, c, s, kind, task = log.arrays()
    log.parts.clear()  # the arrays above are the only copy from here on
    o = np.lexsort((c, t))
    # build column by column, dropping each integer array once used: the largest table stays lean
    cols = {"event_time": clock.dt(t[o])}
    del t
    cols["customer_id"] = cust.ids[c[o]]
    del c
    cols["staff_id"] = _nullable(world.staff_ids)[s[o]]
    del s
    cols["touch_type"] = np.array(TOUCH_TYPES, dtype=object)[kind[o]]
    cols["task_id"] = _nullable(task_ids)[task[o]]
    return _frame(cols)
