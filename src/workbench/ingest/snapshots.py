"""WeCom API responses → engine tables: relationship and group snapshots, behaviour, bills, mass sends.

Each input is JSON Lines of wrapped API responses (:mod:`workbench.ingest.lines` reads them).

Snapshots (``{"fetched_at": unix_s, "api": ..., "response": {...}}``; pages of one snapshot
share ``fetched_at``; the earliest is the go-live snapshot):

``__wi_snap_pairs``
    ``fetched_at, ext_id, staff_id, createtime, add_way, oper_userid, state``: one row per
    relationship listed by ``externalcontact/batch/get_by_user`` (``follow_info``) or
    ``externalcontact/get`` (``follow_user``).
``__wi_snap_chats`` / ``__wi_snap_members``
    ``groupchat/get``: ``fetched_at, chat_id, owner, create_time`` and
    ``fetched_at, chat_id, ext_id, join_time`` (external members, ``type`` 2, only).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..engine import Backend, literal
from .lines import MILLISECONDS, first_bad, load_lines, local_time, text, whole, whole_sql

BATCH = "externalcontact/batch/get_by_user"
GET = "externalcontact/get"
GROUP = "groupchat/get"
APIS = (BATCH, GET, GROUP)
MASS_SEND_STATUS = {0: "not_sent", 1: "sent", 2: "not_friend", 3: "already_received"}


def _follow(alias: str) -> str:
    """SQL columns of one follow_user / follow_info JSON element ``alias``."""
    def f(key: str) -> str:
        return f"NULLIF(trim({alias}->>{literal('$.' + key)}), '')"
    return (f"{f('userid')} AS staff_id, {whole_sql(f('createtime'))} AS createtime, "
            f"{f('add_way')} AS add_way, {f('oper_userid')} AS oper_userid, {f('state')} AS state")


def load_snapshots(backend: Backend, paths: Iterable[str | Path]) -> tuple[list[int], list[dict]]:
    """Read snapshot files; return (the distinct fetched_at values in order, inputs).

    A line without a whole ``fetched_at`` (or one in milliseconds), with an unknown ``api`` or
    a listed relationship without userid, external_userid or createtime stops the ingest with
    an error naming the file and line.
    """
    _, inputs = load_lines(backend, "__wi_snap_lines", paths, "snapshots")
    backend.materialise("__wi_snap", f"SELECT seq, file, line, {whole('$.fetched_at')} AS fetched_at, "
                                     f"{text('$.api')} AS api, j->'$.response' AS r FROM __wi_snap_lines")
    first_bad(backend, "__wi_snap", "fetched_at IS NULL", "snapshots",
              "fetched_at (Unix seconds of the API call) is missing or not a whole number")
    first_bad(backend, "__wi_snap", f"fetched_at >= {MILLISECONDS}", "snapshots",
              "fetched_at looks like milliseconds (expected Unix seconds)")
    first_bad(backend, "__wi_snap", f"api IS NULL OR api NOT IN ({', '.join(map(literal, APIS))})", "snapshots",
              f"api missing or not one of {', '.join(APIS)}")
    backend.materialise("__wi_snap_pairs_raw", f"""
        SELECT seq, file, line, fetched_at, NULLIF(trim(e->>'$.external_contact.external_userid'), '') AS ext_id,
               {_follow("(e->'$.follow_info')")}
        FROM (SELECT *, unnest(json_extract(r, '$.external_contact_list[*]')) AS e FROM __wi_snap
              WHERE api = {literal(BATCH)})
        UNION ALL
        SELECT seq, file, line, fetched_at, NULLIF(trim(r->>'$.external_contact.external_userid'), '') AS ext_id,
               {_follow('e')}
        FROM (SELECT *, unnest(json_extract(r, '$.follow_user[*]')) AS e FROM __wi_snap WHERE api = {literal(GET)})""")
    first_bad(backend, "__wi_snap_pairs_raw", "ext_id IS NULL OR staff_id IS NULL OR createtime IS NULL", "snapshots",
              "a listed relationship without external_userid, userid or createtime")
    backend.materialise("__wi_snap_pairs", """
        SELECT fetched_at, ext_id, staff_id, arg_max(createtime, seq) AS createtime, arg_max(add_way, seq) AS add_way,
               arg_max(oper_userid, seq) AS oper_userid, arg_max(state, seq) AS state
        FROM __wi_snap_pairs_raw GROUP BY ALL""")
    backend.materialise("__wi_snap_chats", f"""
        SELECT fetched_at, NULLIF(trim(r->>'$.group_chat.chat_id'), '') AS chat_id,
               NULLIF(trim(r->>'$.group_chat.owner'), '') AS owner,
               {whole_sql("r->>'$.group_chat.create_time'")} AS create_time, seq, file, line,
               json_extract(r, '$.group_chat.member_list[*]') AS members
        FROM __wi_snap WHERE api = {literal(GROUP)}""")
    first_bad(backend, "__wi_snap_chats", "chat_id IS NULL", "snapshots", "groupchat/get without group_chat.chat_id")
    backend.materialise("__wi_snap_members", f"""
        SELECT DISTINCT fetched_at, chat_id, NULLIF(trim(m->>'$.userid'), '') AS ext_id,
               {whole_sql("m->>'$.join_time'")} AS join_time
        FROM (SELECT *, unnest(members) AS m FROM __wi_snap_chats)
        WHERE TRY_CAST(m->>'$.type' AS INTEGER) = 2""")
    times = [int(r[0]) for r in backend.fetch(
        "SELECT DISTINCT fetched_at FROM __wi_snap WHERE api <> " + literal(GROUP) + " ORDER BY 1")]
    for t in ("__wi_snap_lines", "__wi_snap_pairs_raw"):
        backend.drop(t)
    return times, inputs


def load_behavior(backend: Backend, paths: Iterable[str | Path]) -> list[dict]:
    """``get_user_behavior_data`` lines → ``__wi_staff_daily`` (contract ``staff_daily`` columns).

    A request for several userids is one aggregate series that cannot be split per member:
    refused, naming the line. A day fetched twice keeps the later line (a re-fetch corrects
    the zeros WeCom reports early in the morning).
    """
    _, inputs = load_lines(backend, "__wi_bh_lines", paths, "behavior")
    first_bad(backend, "__wi_bh_lines",
              "COALESCE(json_array_length(j->'$.userid'), CASE WHEN j->>'$.userid' IS NULL THEN 0 ELSE 1 END) <> 1",
              "behavior", "the request must name exactly one userid: several userids (or a department) give one "
                          "aggregate series that cannot be split per member")

    def n(key: str) -> str:
        return f"TRY_CAST(b->>'$.{key}' AS DOUBLE)"

    backend.materialise("__wi_bh", f"""
        SELECT seq, file, line, COALESCE(j->>'$.userid[0]', j->>'$.userid') AS staff_id,
               {whole_sql("b->>'$.stat_time'")} AS stat_time, {n('new_apply_cnt')} AS new_apply_cnt,
               {n('new_contact_cnt')} AS new_contact_cnt, {n('chat_cnt')} AS chat_cnt,
               {n('message_cnt')} AS message_cnt, {n('negative_feedback_cnt')} AS negative_feedback_cnt,
               {n('reply_percentage')} AS reply_percentage, {n('avg_reply_time')} AS avg_reply_time
        FROM (SELECT *, unnest(json_extract(j, '$.response.behavior_data[*]')) AS b FROM __wi_bh_lines)""")
    first_bad(backend, "__wi_bh", "stat_time IS NULL", "behavior", "behavior_data item without stat_time")
    backend.materialise("__wi_staff_daily", f"""
        SELECT CAST(CAST({local_time('stat_time')} AS DATE) AS TIMESTAMP) AS stat_date, staff_id,
               COALESCE(arg_max(new_apply_cnt, seq), 0) AS new_apply_cnt,
               COALESCE(arg_max(new_contact_cnt, seq), 0) AS new_contact_cnt,
               COALESCE(arg_max(chat_cnt, seq), 0) AS chat_cnt, COALESCE(arg_max(message_cnt, seq), 0) AS message_cnt,
               COALESCE(arg_max(negative_feedback_cnt, seq), 0) AS negative_feedback_cnt,
               arg_max(reply_percentage, seq) AS reply_percentage, arg_max(avg_reply_time, seq) AS avg_reply_time
        FROM __wi_bh GROUP BY 1, 2""")
    for t in ("__wi_bh_lines", "__wi_bh"):
        backend.drop(t)
    return inputs


def load_bills(backend: Backend, paths: Iterable[str | Path]) -> list[dict]:
    """``externalpay/get_bill_list`` responses → ``__wi_bills`` (order columns; ``ext_id`` unresolved)."""
    _, inputs = load_lines(backend, "__wi_bill_lines", paths, "bills")
    backend.materialise("__wi_bills_raw", f"""
        SELECT seq, file, line, NULLIF(trim(b->>'$.transaction_id'), '') AS order_id,
               NULLIF(trim(b->>'$.external_userid'), '') AS ext_id, {whole_sql("b->>'$.pay_time'")} AS pay_time,
               {whole_sql("b->>'$.total_fee'")} AS total_fee,
               {whole_sql("b->>'$.total_refund_fee'")} AS total_refund_fee,
               NULLIF(trim(b->>'$.payee_userid'), '') AS share_staff_id
        FROM (SELECT *, unnest(json_extract(COALESCE(j->'$.response', j), '$.bill_list[*]')) AS b
              FROM __wi_bill_lines)""")
    first_bad(backend, "__wi_bills_raw", "order_id IS NULL OR pay_time IS NULL OR total_fee IS NULL", "bills",
              "a bill without transaction_id, pay_time or total_fee")
    first_bad(backend, "__wi_bills_raw", "total_fee < 0 OR COALESCE(total_refund_fee, 0) < 0", "bills",
              "a negative total_fee or total_refund_fee")
    backend.materialise("__wi_bills", f"""
        SELECT order_id, arg_max(ext_id, seq) AS ext_id, arg_max({local_time('pay_time')}, seq) AS order_time,
               arg_max(total_fee, seq) / 100.0 AS amount, arg_max(total_refund_fee, seq) / 100.0 AS refunded_amount,
               arg_max(share_staff_id, seq) AS share_staff_id
        FROM __wi_bills_raw GROUP BY order_id""")
    for t in ("__wi_bill_lines", "__wi_bills_raw"):
        backend.drop(t)
    return inputs


def load_mass_sends(backend: Backend, paths: Iterable[str | Path]) -> list[dict]:
    """``get_groupmsg_send_result`` lines → ``__wi_mass`` (``ext_id`` unresolved; group-chat sends left out)."""
    _, inputs = load_lines(backend, "__wi_ms_lines", paths, "mass_sends")
    status = " ".join(f"WHEN {k} THEN {literal(v)}" for k, v in MASS_SEND_STATUS.items())
    backend.materialise("__wi_ms_raw", f"""
        SELECT seq, file, line, {text('$.msgid')} AS task_id, {whole('$.create_time')} AS create_time,
               COALESCE(NULLIF(trim(s->>'$.userid'), ''), {text('$.userid')}) AS staff_id,
               NULLIF(trim(s->>'$.external_userid'), '') AS ext_id,
               {whole_sql("s->>'$.status'")} AS code, {whole_sql("s->>'$.send_time'")} AS send_time
        FROM (SELECT *, unnest(json_extract(j, '$.response.send_list[*]')) AS s FROM __wi_ms_lines)""")
    first_bad(backend, "__wi_ms_raw", "task_id IS NULL OR create_time IS NULL", "mass_sends",
              "a line without msgid or create_time")
    first_bad(backend, "__wi_ms_raw", "ext_id IS NOT NULL AND (staff_id IS NULL OR code NOT IN (0, 1, 2, 3) "
                                      "OR code IS NULL)", "mass_sends",
              "a send_list item without userid or with a status other than 0, 1, 2, 3")
    backend.materialise("__wi_mass", f"""
        SELECT seq, task_id, staff_id, ext_id, {local_time('create_time')} AS created_at,
               CASE code {status} END AS status,
               CASE WHEN send_time > 0 THEN {local_time('send_time')} END AS send_time
        FROM __wi_ms_raw WHERE ext_id IS NOT NULL""")
    for t in ("__wi_ms_lines", "__wi_ms_raw"):
        backend.drop(t)
    return inputs
