"""Callback contact events + snapshots → the ``contact_events`` rows, with every rule counted.

The rules (names of :data:`workbench.ingest.COUNTS`), applied snapshot by snapshot in time
order, in the engine:

- **go_live_seeds**: a relationship listed by the first snapshot of which the events so far
  say nothing gets an ``add`` at ``follow_user.createtime`` (origin ``snapshot``).
- **repaired_adds**: a listed relationship that the events leave closed (or, after go-live,
  unknown) gets an ``add`` at ``createtime`` (origin ``repair``) when ``createtime`` is later
  than its last event; an earlier ``createtime`` is the relationship already closed, still
  listed because ``get`` lags after a delete.
- **staff_left_closes**: a relationship the events leave open, absent from the snapshot,
  whose member left at or before it, is closed at ``left_at`` as ``staff_left``.
- **repaired_closes**: any other relationship the events leave open and the snapshot does
  not list is closed at the midpoint between its last event (or the previous snapshot, if
  later) and this snapshot. Its direction: per member and day, ``negative_feedback_cnt``
  minus that day's callback ``delete_by_customer`` closes are ``delete_by_customer`` (in
  customer-id order), the rest ``delete_by_staff``; without behaviour data for the member
  that day, ``delete_by_customer``.
- **orphan_deletes_dropped**: closes of a pair with no add at or before them are left out.
- **second_closes**, **repeated_opens**: kept and counted.

"The events leave open" means: the pair's last event at or before the snapshot (by time,
then arrival) is an ``add``.
"""
from __future__ import annotations

from ..engine import Backend, literal
from .lines import local_time

CLOSES = ("delete_by_customer", "delete_by_staff", "transfer", "staff_left", "repair_close")
_LAST_ORD = 2**62  # inserted closes sort after callbacks of the same second, inserted adds before them


def reconcile(backend: Backend, snapshot_times: list[int]) -> None:
    """Build ``__wi_ev`` (ts, ext_id, staff_id, event_type, state, origin, ord) from callbacks and snapshots.

    Needs ``__wi_cb_contact``, ``__wi_snap_pairs`` and ``__wi_left`` (staff_id, left_ts). Repaired
    closes keep the placeholder type ``repair_close`` until :func:`finish` gives their direction.
    """
    backend.materialise("__wi_ev", "SELECT ts, ext_id, staff_id, event_type, state, 'callback' AS origin, "
                                   "seq AS ord FROM __wi_cb_contact")
    previous = None
    for k, t in enumerate(snapshot_times):  # a loop over snapshots: each one's repairs change the next's state
        seed = "'snapshot'" if k == 0 else "'repair'"
        lo = f"GREATEST(s.last_ts, {previous})" if previous is not None else "s.last_ts"
        backend.execute(f"""
            INSERT INTO __wi_ev
            WITH s AS (
                SELECT ext_id, staff_id, event_type AS last_type, ts AS last_ts FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY ext_id, staff_id ORDER BY ts DESC, ord DESC) AS r
                    FROM __wi_ev WHERE ts <= {t}) WHERE r = 1),
            p AS (SELECT * FROM __wi_snap_pairs WHERE fetched_at = {t})
            SELECT p.createtime, p.ext_id, p.staff_id, 'add', p.state,
                   CASE WHEN s.ext_id IS NULL THEN {seed} ELSE 'repair' END, -1
            FROM p LEFT JOIN s USING (ext_id, staff_id)
            WHERE s.ext_id IS NULL OR (s.last_type <> 'add' AND p.createtime > s.last_ts)
            UNION ALL
            SELECT CASE WHEN l.left_ts <= {t} THEN GREATEST(l.left_ts, s.last_ts)
                        ELSE {lo} + ({t} - {lo}) // 2 END,
                   s.ext_id, s.staff_id,
                   CASE WHEN l.left_ts <= {t} THEN 'staff_left' ELSE 'repair_close' END, NULL, 'repair', {_LAST_ORD}
            FROM s LEFT JOIN __wi_left l USING (staff_id)
            WHERE s.last_type = 'add' AND NOT EXISTS (
                SELECT 1 FROM p WHERE p.ext_id = s.ext_id AND p.staff_id = s.staff_id)""")
        previous = t


def finish(backend: Backend, has_behavior: bool) -> dict[str, int]:
    """``__wi_contact``: the contract rows of ``__wi_ev`` (ids resolved through ``__wi_ids``); the counts.

    Drops orphan closes, gives repaired closes their direction, marks second closes and
    repeated opens, and attaches ``add_way`` / ``initiator`` from the snapshot listing of the
    pair whose ``createtime`` is nearest the add.
    """
    closes = ", ".join(literal(c) for c in CLOSES)
    first_add = "MIN(CASE WHEN event_type = 'add' THEN ts END) OVER (PARTITION BY customer_id, staff_id)"
    backend.materialise("__wi_ev_ids", f"""
        SELECT *, event_type IN ({closes}) AND ({first_add} IS NULL OR ts < {first_add}) AS orphan
        FROM (SELECT e.*, COALESCE(i.customer_id, e.ext_id) AS customer_id
              FROM __wi_ev e LEFT JOIN __wi_ids i USING (ext_id))""")
    feedback = ("LEFT JOIN __wi_staff_daily d ON d.staff_id = r.staff_id AND CAST(d.stat_date AS DATE) = r.day"
                if has_behavior else "LEFT JOIN (SELECT NULL::VARCHAR AS staff_id, NULL::DOUBLE AS "
                                     "negative_feedback_cnt) d ON FALSE")
    backend.materialise("__wi_ev_dir", f"""
        WITH kept AS (SELECT *, CAST({local_time('ts')} AS DATE) AS day FROM __wi_ev_ids WHERE NOT orphan),
        cb AS (SELECT staff_id, day, COUNT(*) AS n FROM kept
               WHERE origin = 'callback' AND event_type = 'delete_by_customer' GROUP BY ALL),
        r AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY staff_id, day ORDER BY customer_id, ext_id) AS rank
              FROM kept WHERE event_type = 'repair_close'),
        directed AS (
            SELECT r.* REPLACE (CASE WHEN d.staff_id IS NULL
                                          OR r.rank <= d.negative_feedback_cnt - COALESCE(cb.n, 0)
                                     THEN 'delete_by_customer' ELSE 'delete_by_staff' END AS event_type)
            FROM r {feedback} LEFT JOIN cb ON cb.staff_id = r.staff_id AND cb.day = r.day)
        SELECT * EXCLUDE (rank) FROM directed
        UNION ALL BY NAME SELECT * FROM kept WHERE event_type <> 'repair_close'""")
    backend.materialise("__wi_contact_seq", """
        SELECT *, LAG(event_type) OVER (PARTITION BY customer_id, staff_id ORDER BY ts, ord) AS previous
        FROM __wi_ev_dir""")
    backend.materialise("__wi_contact", f"""
        WITH ways AS (
            SELECT e.ts, e.ext_id, e.staff_id, arg_min(p.add_way, abs(p.createtime - e.ts)) AS add_way,
                   arg_min(p.oper_userid, abs(p.createtime - e.ts)) AS oper_userid
            FROM (SELECT DISTINCT ts, ext_id, staff_id FROM __wi_ev_dir WHERE event_type = 'add') e
            JOIN __wi_snap_pairs p USING (ext_id, staff_id) GROUP BY ALL)
        SELECT {local_time('c.ts')} AS event_time, c.customer_id, c.staff_id, c.event_type, c.state AS channel_code,
               w.add_way, CASE WHEN w.oper_userid IS NULL THEN NULL WHEN w.oper_userid = c.ext_id THEN 'customer'
                               WHEN w.oper_userid = c.staff_id THEN 'staff' ELSE 'admin' END AS initiator,
               c.origin
        FROM __wi_contact_seq c
        LEFT JOIN ways w ON c.event_type = 'add' AND w.ts = c.ts AND w.ext_id = c.ext_id AND w.staff_id = c.staff_id
        ORDER BY c.ts, c.ord""")
    close_types = "event_type IN ('delete_by_customer', 'delete_by_staff', 'transfer', 'staff_left')"
    rules = {
        "second_closes": f"{close_types} AND previous IN ({closes})",
        "repeated_opens": "event_type = 'add' AND previous = 'add'",
        "transfers": "event_type = 'transfer'",
        "staff_left_closes": "event_type = 'staff_left'",
        "go_live_seeds": "origin = 'snapshot'",
        "repaired_adds": "origin = 'repair' AND event_type = 'add'",
        "repaired_closes": "origin = 'repair' AND event_type IN ('delete_by_customer', 'delete_by_staff')",
        "adds": "event_type = 'add'",
        "deletes_by_customer": "event_type = 'delete_by_customer'",
        "deletes_by_staff": "event_type = 'delete_by_staff'",
    }
    counts = {}
    for name, where in rules.items():
        counts[name] = int(backend.fetch(f"SELECT COUNT(*) FROM __wi_contact_seq WHERE {where}")[0][0])
        backend.execute(f"INSERT INTO __wi_daily SELECT CAST({local_time('ts')} AS DATE), {literal(name)} "
                        f"FROM __wi_contact_seq WHERE {where}")
    counts["orphan_deletes_dropped"] = int(backend.fetch("SELECT COUNT(*) FROM __wi_ev_ids WHERE orphan")[0][0])
    backend.execute(f"INSERT INTO __wi_daily SELECT CAST({local_time('ts')} AS DATE), 'orphan_deletes_dropped' "
                    "FROM __wi_ev_ids WHERE orphan")
    for t in ("__wi_ev_ids", "__wi_ev_dir", "__wi_contact_seq"):
        backend.drop(t)
    return counts
