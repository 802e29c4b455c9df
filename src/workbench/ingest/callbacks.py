"""Decrypted WeCom callbacks → classified contact and group events in the engine.

One callback per line, JSON keyed by the XML element names or the ``<xml>…</xml>`` document
itself. :func:`load_callbacks` reads them (:mod:`workbench.ingest.lines`), refuses malformed
lines and millisecond CreateTimes, and classifies every line exactly once as *rejected*
(unknown Event/ChangeType, a required field missing), *duplicate* (a retry: same key as an
earlier accepted line), *ignored* (a known kind that makes no contract row) or *kept*. The
kept lines become three engine tables:

``__wi_cb_contact``
    ``seq, ts, ext_id, staff_id, event_type, state`` (event_type already mapped:
    ``add`` / ``delete_by_customer`` / ``delete_by_staff`` / ``transfer``).
``__wi_cb_group``
    ``seq, ts, chat_id, ext_id, event_type`` (``join`` / ``leave``), one row per changed member.
``__wi_cb_dismiss``
    ``seq, ts, chat_id``.

``__wi_daily`` receives one ``(day, name)`` row per counted line.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..engine import Backend, literal
from .lines import MILLISECONDS, first_bad, load_lines, local_time, text, whole

CONTACT = "change_external_contact"
CHAT = "change_external_chat"
CONTACT_TYPES = {
    "add_external_contact": "add",
    "add_half_external_contact": "add",
    "del_follow_user": "delete_by_customer",
    "del_external_contact": "delete_by_staff",  # or transfer, by Source
}
CONTACT_IGNORED = ("edit_external_contact", "transfer_fail", "msg_audit_approved")
CHAT_TYPES = ("create", "update", "dismiss")
UPDATE_DETAILS = ("add_member", "del_member", "change_owner", "change_name", "change_notice")
TRANSFER_SOURCE = "DELETE_BY_TRANSFER"
REJECTED_SHOWN = 50


def _in(values: Iterable[str]) -> str:
    return ", ".join(literal(v) for v in values)


_FIELDS = f"""
    SELECT seq, file, line, {text('$.Event')} AS event, {text('$.ChangeType')} AS change_type,
           {whole('$.CreateTime')} AS ts, {text('$.UserID')} AS staff_id, {text('$.ExternalUserID')} AS ext_id,
           {text('$.State')} AS state, {text('$.Source')} AS source, {text('$.ChatId')} AS chat_id,
           {text('$.UpdateDetail')} AS update_detail,
           list_filter(CASE json_type(j->'$.MemChangeList')
                WHEN 'ARRAY' THEN j->>'$.MemChangeList[*]'
                WHEN 'OBJECT' THEN CASE json_type(j->'$.MemChangeList.Item')
                    WHEN 'ARRAY' THEN j->>'$.MemChangeList.Item[*]'
                    WHEN 'VARCHAR' THEN [j->>'$.MemChangeList.Item'] END
           END, x -> NULLIF(trim(x), '') IS NOT NULL) AS members
    FROM __wi_cb_lines"""

_REASON = f"""CASE
    WHEN event IS NULL THEN 'Event missing'
    WHEN event NOT IN ({_in([CONTACT, CHAT])}) THEN 'unknown Event ' || event
    WHEN change_type IS NULL THEN 'ChangeType missing'
    WHEN ts IS NULL THEN 'CreateTime missing or not a whole number of seconds'
    WHEN event = {literal(CONTACT)} AND change_type NOT IN ({_in([*CONTACT_TYPES, *CONTACT_IGNORED])})
        THEN 'unknown ChangeType ' || change_type || ' of ' || event
    WHEN event = {literal(CONTACT)} AND staff_id IS NULL THEN 'UserID missing'
    WHEN event = {literal(CONTACT)} AND ext_id IS NULL THEN 'ExternalUserID missing'
    WHEN event = {literal(CHAT)} AND change_type NOT IN ({_in(CHAT_TYPES)})
        THEN 'unknown ChangeType ' || change_type || ' of ' || event
    WHEN event = {literal(CHAT)} AND chat_id IS NULL THEN 'ChatId missing'
    WHEN event = {literal(CHAT)} AND change_type = 'update' AND update_detail IS NULL THEN 'UpdateDetail missing'
    WHEN event = {literal(CHAT)} AND change_type = 'update' AND update_detail NOT IN ({_in(UPDATE_DETAILS)})
        THEN 'unknown UpdateDetail ' || update_detail
END"""

# What a kept line becomes; NULL for a known kind that makes no contract row (ignored).
_KIND = f"""CASE
    WHEN event = {literal(CONTACT)} AND change_type = 'del_external_contact'
         AND COALESCE(source, '') = {literal(TRANSFER_SOURCE)} THEN {literal('transfer')}
    {' '.join(f"WHEN event = {literal(CONTACT)} AND change_type = {literal(k)} THEN {literal(v)}"
              for k, v in CONTACT_TYPES.items())}
    WHEN event = {literal(CHAT)} AND change_type = 'dismiss' THEN 'dismiss'
    WHEN event = {literal(CHAT)} AND update_detail = 'add_member' AND len(members) > 0 THEN 'join'
    WHEN event = {literal(CHAT)} AND update_detail = 'del_member' AND len(members) > 0 THEN 'leave'
END"""


def load_callbacks(backend: Backend, paths: Iterable[str | Path]) -> tuple[dict[str, int], list[dict], list[dict]]:
    """Read and classify the callback files; return (counts, rejected, inputs).

    Creates the engine tables described in the module docstring. ``counts`` holds
    ``callback_lines``, ``callbacks_rejected``, ``duplicates_dropped``, ``callbacks_ignored``
    and ``out_of_order`` (:data:`workbench.ingest.COUNTS`); every line is in exactly one of
    rejected, duplicate, ignored or kept.
    """
    n_lines, inputs = load_lines(backend, "__wi_cb_lines", paths, "callbacks", allow_xml=True)
    backend.materialise("__wi_cb_fields", _FIELDS)
    first_bad(backend, "__wi_cb_fields", f"ts >= {MILLISECONDS}", "callbacks",
              "CreateTime looks like milliseconds (WeCom sends Unix seconds)")
    backend.materialise("__wi_cb_class", f"""
        WITH r AS (SELECT *, {_REASON} AS reason FROM __wi_cb_fields),
        d AS (
            SELECT *, ROW_NUMBER() OVER (
                PARTITION BY event, change_type, staff_id, COALESCE(ext_id, chat_id), ts, update_detail,
                             array_to_string(list_sort(members), chr(31))
                ORDER BY seq) > 1 AS duplicate
            FROM r WHERE reason IS NULL)
        SELECT r.*, COALESCE(k.duplicate, FALSE) AS duplicate, k.kind,
               r.ts < k.before_max AS out_of_order
        FROM r LEFT JOIN (
            SELECT seq, duplicate, kind,
                   MAX(ts) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_max
            FROM (SELECT *, {_KIND} AS kind FROM d WHERE NOT duplicate)
            UNION ALL SELECT seq, duplicate, NULL, NULL FROM d WHERE duplicate
        ) k USING (seq)""")
    cond = {"callbacks_rejected": "reason IS NOT NULL", "duplicates_dropped": "duplicate",
            "callbacks_ignored": "reason IS NULL AND NOT duplicate AND kind IS NULL",
            "out_of_order": "kind IS NOT NULL AND out_of_order"}
    counts = {"callback_lines": n_lines}
    for name, where in cond.items():
        counts[name] = int(backend.fetch(f"SELECT COUNT(*) FROM __wi_cb_class WHERE {where}")[0][0])
    daily = " UNION ALL ".join(
        f"SELECT CAST({local_time('ts')} AS DATE) AS day, {literal(name)} AS name FROM __wi_cb_class "
        f"WHERE ts IS NOT NULL AND {where}"
        for name, where in {"callback_lines": "TRUE", **cond}.items())
    backend.execute(f"INSERT INTO __wi_daily {daily}")
    rejected = [{"file": f, "line": int(n), "reason": r} for f, n, r in backend.fetch(
        f"SELECT file, line, reason FROM __wi_cb_class WHERE reason IS NOT NULL ORDER BY seq LIMIT {REJECTED_SHOWN}")]

    kept = "reason IS NULL AND NOT duplicate"
    backend.materialise("__wi_cb_contact", f"""
        SELECT seq, ts, ext_id, staff_id, kind AS event_type, state FROM __wi_cb_class
        WHERE {kept} AND event = {literal(CONTACT)} AND kind IS NOT NULL""")
    backend.materialise("__wi_cb_group", f"""
        SELECT seq, ts, chat_id, trim(m) AS ext_id, kind AS event_type
        FROM (SELECT *, unnest(members) AS m FROM __wi_cb_class WHERE {kept} AND kind IN ('join', 'leave'))""")
    backend.materialise("__wi_cb_dismiss", f"SELECT seq, ts, chat_id FROM __wi_cb_class WHERE {kept} "
                                           "AND kind = 'dismiss'")
    for t in ("__wi_cb_lines", "__wi_cb_fields"):
        backend.drop(t)
    return counts, rejected, inputs
