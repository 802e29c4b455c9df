"""Contract tables built from the simulated arrays."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .customers import Customers
from .draws import NEVER, Clock, make_frame, nullable
from .params import TOUCH_TYPES
from .relationships import Relationships
from .staffing import ADD_WAY_INITIATOR, ADD_WAYS, DEL_STAFF, EVENT_TYPES
from .touches import TouchLog
from .world import World


def contact_events_table(clock: Clock, world: World, cust: Customers, rel: Relationships) -> pd.DataFrame:
    """The ``contact_events`` table: an add per spell, its close, and the members' second closes.

    ``add_way``/``initiator`` describe adds only; ``origin`` is NULL (simulated data has no
    ingest path).
    """
    sp = rel.spells
    ended = sp.end != NEVER
    n_add, n_end, n_second = len(sp.start), int(ended.sum()), len(rel.second_t)
    t = np.concatenate([sp.start, sp.end[ended], rel.second_t])
    c = np.concatenate([sp.cust, sp.cust[ended], rel.second_cust])
    s = np.concatenate([sp.staff, sp.staff[ended], rel.second_staff])
    kind = np.concatenate([np.zeros(n_add, np.int64), sp.close[ended].astype(np.int64),
                           np.full(n_second, DEL_STAFF, np.int64)])
    code = np.concatenate([sp.code, np.full(n_end + n_second, -1)])
    way = np.concatenate([sp.add_way.astype(np.int64), np.full(n_end + n_second, -1)])
    o = np.lexsort((kind, s, c, t))  # time order; an add sorts before a same-second close
    return make_frame({
        "event_time": clock.dt(t[o]),
        "customer_id": cust.ids[c[o]],
        "staff_id": world.staff_ids[s[o]],
        "event_type": np.array(EVENT_TYPES, dtype=object)[kind[o]],
        "channel_code": nullable(world.code_ids)[code[o]],
        "add_way": nullable(np.array(ADD_WAYS, dtype=object))[way[o]],
        "initiator": nullable(np.array(ADD_WAY_INITIATOR, dtype=object))[way[o]],
        "origin": np.full(len(o), None, dtype=object),
    })


def group_events_table(clock: Clock, world: World, cust: Customers, rel: Relationships) -> pd.DataFrame:
    """The ``group_events`` table: a join per membership and a leave per ended one."""
    left = rel.mem_leave != NEVER
    t = np.concatenate([rel.mem_join, rel.mem_leave[left]])
    c = np.concatenate([rel.mem_cust, rel.mem_cust[left]])
    g = np.concatenate([rel.mem_group, rel.mem_group[left]])
    kind = np.concatenate([np.zeros(len(rel.mem_join), np.int64), np.ones(int(left.sum()), np.int64)])
    o = np.lexsort((kind, g, c, t))
    return make_frame({
        "event_time": clock.dt(t[o]),
        "customer_id": cust.ids[c[o]],
        "group_id": world.group_ids[g[o]],
        "event_type": np.array(["join", "leave"], dtype=object)[kind[o]],
    })


def scans_table(clock: Clock, world: World, cust: Customers, rel: Relationships) -> pd.DataFrame:
    """The ``scans`` table, in time order."""
    o = np.lexsort((rel.scan_cust, rel.scan_t))
    return make_frame({
        "event_time": clock.dt(rel.scan_t[o]),
        "customer_id": cust.ids[rel.scan_cust[o]],
        "channel_code": world.code_ids[rel.scan_code[o]],
        "store_id": nullable(world.store_ids)[rel.scan_store[o]],
    })


def touches_table(clock: Clock, world: World, cust: Customers, log: TouchLog, task_ids: np.ndarray) -> pd.DataFrame:
    """The ``touches`` table from the touch log (the log is emptied)."""
    t, c, s, kind, task = log.arrays()
    log.parts.clear()  # the arrays above are the only copy from here on
    o = np.lexsort((c, t))
    # build column by column, dropping each integer array once used: the largest table stays lean
    cols = {"event_time": clock.dt(t[o])}
    del t
    cols["customer_id"] = cust.ids[c[o]]
    del c
    cols["staff_id"] = nullable(world.staff_ids)[s[o]]
    del s
    cols["touch_type"] = np.array(TOUCH_TYPES, dtype=object)[kind[o]]
    cols["task_id"] = nullable(task_ids)[task[o]]
    return make_frame(cols)
