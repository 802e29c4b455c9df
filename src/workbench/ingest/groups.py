"""Group callbacks and ``groupchat/get`` snapshots → ``group_events`` and ``groups`` rows in the engine.

- ``add_member`` items are joins, ``del_member`` items leaves (the callback lists external
  ids only, so internal members cannot be told apart or dropped here);
- a ``dismiss`` is a leave, at its CreateTime, of every member open in that group then;
- the first ``groupchat/get`` of a group seeds a join at ``join_time`` for each external member
  (``type`` 2) of which the callbacks say nothing up to that snapshot (later snapshots are
  not diffed yet);
- a leave with no earlier join of the pair (a member who joined before logging began) is
  left out: ``group_events`` refuses it.
"""
from __future__ import annotations

from ..engine import Backend, literal
from .lines import local_time


def build_group_events(backend: Backend) -> dict[str, int]:
    """``__wi_group`` (ts, ord, chat_id, ext_id, event_type); counts joins, leaves and orphan leaves dropped.

    Needs ``__wi_cb_group``, ``__wi_cb_dismiss``, ``__wi_snap_members``.
    """
    backend.materialise("__wi_gev", """
        SELECT ts, seq AS ord, chat_id, ext_id, event_type FROM __wi_cb_group
        UNION ALL
        SELECT m.join_time, -1, m.chat_id, m.ext_id, 'join'
        FROM __wi_snap_members m
        JOIN (SELECT chat_id, MIN(fetched_at) AS first FROM __wi_snap_members GROUP BY 1) f
          ON f.chat_id = m.chat_id AND f.first = m.fetched_at
        WHERE m.join_time IS NOT NULL AND m.ext_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM __wi_cb_group c
            WHERE c.chat_id = m.chat_id AND c.ext_id = m.ext_id AND c.ts <= m.fetched_at)""")
    backend.execute("""
        INSERT INTO __wi_gev
        SELECT ts, ord, chat_id, ext_id, 'leave' FROM (
            SELECT d.ts, d.seq AS ord, d.chat_id, e.ext_id, e.event_type,
                   ROW_NUMBER() OVER (PARTITION BY d.seq, e.ext_id ORDER BY e.ts DESC, e.ord DESC) AS r
            FROM __wi_cb_dismiss d JOIN __wi_gev e ON e.chat_id = d.chat_id AND e.ts <= d.ts)
        WHERE r = 1 AND event_type = 'join'""")
    first_join = "MIN(CASE WHEN event_type = 'join' THEN ts END) OVER (PARTITION BY customer_id, chat_id)"
    backend.materialise("__wi_group_flagged", f"""
        SELECT *, event_type = 'leave' AND ({first_join} IS NULL OR ts < {first_join}) AS orphan
        FROM (SELECT g.*, COALESCE(i.customer_id, g.ext_id) AS customer_id
              FROM __wi_gev g LEFT JOIN __wi_ids i USING (ext_id))""")
    backend.materialise("__wi_group", "SELECT * EXCLUDE (orphan) FROM __wi_group_flagged WHERE NOT orphan")
    counts = {"group_orphan_leaves_dropped":
              int(backend.fetch("SELECT COUNT(*) FROM __wi_group_flagged WHERE orphan")[0][0])}
    backend.drop("__wi_group_flagged")
    for name, kind in (("group_joins", "join"), ("group_leaves", "leave")):
        counts[name] = int(backend.fetch(f"SELECT COUNT(*) FROM __wi_group WHERE event_type = {literal(kind)}")[0][0])
        backend.execute(f"INSERT INTO __wi_daily SELECT CAST({local_time('ts')} AS DATE), {literal(name)} "
                        f"FROM __wi_group WHERE event_type = {literal(kind)}")
    backend.drop("__wi_gev")
    return counts


def group_events_sql() -> str:
    """SELECT of the contract ``group_events`` rows from ``__wi_group``."""
    return (f"SELECT {local_time('ts')} AS event_time, customer_id, chat_id AS group_id, event_type "
            "FROM __wi_group ORDER BY ts, ord, customer_id")  # one callback can list several members


def groups_sql(brand_groups: bool) -> str:
    """SELECT of the contract ``groups`` rows: the brand's, then snapshot groups, then any other group seen."""
    brand = "SELECT group_id, store_id, owner_staff_id, created_at FROM groups" if brand_groups else \
        "SELECT NULL::VARCHAR AS group_id, NULL::VARCHAR AS store_id, NULL::VARCHAR AS owner_staff_id, " \
        "NULL::TIMESTAMP AS created_at WHERE FALSE"
    return f"""
        WITH b AS ({brand}),
        s AS (SELECT chat_id AS group_id, NULL::VARCHAR AS store_id, arg_max(owner, fetched_at) AS owner_staff_id,
                     {local_time('arg_max(create_time, fetched_at)')} AS created_at
              FROM __wi_snap_chats WHERE chat_id NOT IN (SELECT group_id FROM b) GROUP BY chat_id),
        seen AS (SELECT DISTINCT chat_id AS group_id FROM __wi_group
                 UNION SELECT DISTINCT chat_id FROM __wi_cb_dismiss)
        SELECT * FROM b UNION ALL SELECT * FROM s
        UNION ALL SELECT group_id, NULL, NULL, NULL FROM seen
        WHERE group_id NOT IN (SELECT group_id FROM b) AND group_id NOT IN (SELECT group_id FROM s)"""
