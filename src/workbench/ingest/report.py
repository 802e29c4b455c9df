"""What an ingest changed: counts by rule, rejected lines, a per-day table; written beside the data.

Every rule the ingest applies to real WeCom or SCRM data is counted here under a fixed name
(:data:`COUNTS`), so a data team can see what was repaired and a test can compare the counts
with the defects a simulator injected. :meth:`IngestReport.write` puts the report next to the
contract tables it describes (``ingest_report.json`` and ``ingest_daily.csv``), where the
``data_quality`` report finds it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPORT_FILE = "ingest_report.json"
DAILY_FILE = "ingest_daily.csv"

#: Every count an ingest may report, with its exact definition. A source reports the ones that
#: apply to it (an SCRM database has no callback lines); an absent name means "not applicable".
COUNTS: dict[str, str] = {
    "callback_lines": "non-empty lines read from the callback files",
    "callbacks_rejected": "lines refused and listed under 'rejected' (unknown ChangeType or Event, a required "
                          "field missing); malformed lines stop the ingest with an error instead",
    "callbacks_ignored": "callbacks of a known kind that make no contract row (edit_external_contact, "
                         "transfer_fail, msg_audit_approved; group create, change_owner, change_name, "
                         "change_notice, and add_member/del_member updates without MemChangeList, which name no "
                         "member); a group dismiss is not ignored: it closes every open membership",
    "duplicates_dropped": "callback lines whose key (Event, ChangeType, UserID, ExternalUserID or ChatId, "
                          "CreateTime, and for group updates the changed members) equals an earlier line's: "
                          "WeCom's retries",
    "out_of_order": "kept callbacks that arrived after a callback with a later CreateTime (CreateTime below the "
                    "running maximum of the lines before them); the ingest orders events by CreateTime",
    "second_closes": "contact closes whose previous event of the same customer–member pair is a close (the "
                     "customer deleted the member, later the member deleted the one-way contact); kept, the first "
                     "close ends the relationship",
    "repeated_opens": "adds of a pair that was already open (add_half_external_contact then add_external_contact, "
                      "a re-sync); kept, ignored while open",
    "transfers": "relationships moved to another member (del_external_contact with Source=DELETE_BY_TRANSFER, or "
                 "an SCRM transfer record): written as event_type 'transfer', not churn",
    "staff_left_closes": "relationships still open when their member left (staff.left_at) and absent from the next "
                         "snapshot: closed at left_at as event_type 'staff_left', not churn",
    "go_live_seeds": "adds seeded from the first (go-live) snapshot at follow_user.createtime for relationships "
                     "that were open when logging started (origin 'snapshot')",
    "repaired_adds": "relationships present in a snapshot that the callbacks had not opened (a lost add): an add at "
                     "follow_user.createtime (origin 'repair')",
    "repaired_closes": "relationships the callbacks had open that are absent from a later snapshot (a lost delete) "
                       "and whose member had not left: a close at the midpoint between the pair's last known event "
                       "(or the previous snapshot, if later) and that snapshot (origin 'repair'); its direction from "
                       "the member's negative_feedback_cnt that day when behaviour data is given, else "
                       "delete_by_customer",
    "orphan_deletes_dropped": "closes of a pair with no earlier add after seeding and repair (added before logging "
                              "began, no snapshot lists it): left out of contact_events",
    "ids_unresolved": "distinct external_userids that the identity links do not tie to a customer (kept as the "
                      "customer id)",
    "group_joins": "group joins written (callback add_member items and snapshot member_list diffs)",
    "group_leaves": "group leaves written (callback del_member items, group dismissals, snapshot diffs)",
    "group_orphan_leaves_dropped": "group leaves of a customer with no earlier join of that group (joined before "
                                   "logging began, no groupchat/get snapshot lists them): left out of group_events",
    "behavior_rows": "staff-day rows of get_user_behavior_data written to staff_daily",
    "mass_send_rows": "mass-send results written to mass_sends",
    "orders_in": "orders written (brand orders plus WeCom payment bills)",
    "orders_from_bills": "orders made from 对外收款 bills (total_fee fen / 100)",
    "orders_linked": "orders whose customer_id is a known customer",
    "scrm_relationships": "live relationship rows read from the SCRM",
    "scrm_history_rows": "relationship history rows read from the SCRM",
}


@dataclass
class IngestReport:
    """What one ingest read, wrote and changed.

    Attributes
    ----------
    source : str
        ``"wecom"`` (callbacks and API snapshots) or ``"openscrm"``.
    counts : dict
        Count name (:data:`COUNTS`) → value, only the names that apply to the source.
    rejected : list of dict
        The first rejected lines or rows: ``file``, ``line`` (1-based) and ``reason``.
    daily : pandas.DataFrame
        One row per day (column ``day``, a date) with per-day counts (the names of :data:`COUNTS`
        that have a day, plus ``adds``, ``deletes_by_customer``, ``deletes_by_staff``).
    inputs : list of dict
        The files or database read: ``path`` (or URL without password), ``kind``, ``rows``.
    tables : dict
        Rows written per contract table.

    Examples
    --------
    >>> r = IngestReport("wecom", counts={"callback_lines": 12, "duplicates_dropped": 2})
    >>> r.notes()[0]
    'callback_lines: 12 — non-empty lines read from the callback files'
    """

    source: str
    counts: dict[str, int] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    daily: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"day": pd.Series(dtype="datetime64[ns]")}))
    inputs: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counts) - set(COUNTS))
        if unknown:
            raise ValueError(f"unknown ingest count(s): {', '.join(unknown)}; known: {', '.join(COUNTS)}")

    def notes(self) -> list[str]:
        """One plain sentence per count, in :data:`COUNTS` order."""
        return [f"{k}: {self.counts[k]:,} — {COUNTS[k]}" for k in COUNTS if k in self.counts]

    def write(self, folder: str | Path) -> Path:
        """Write ``ingest_report.json`` and ``ingest_daily.csv`` into ``folder``; return the JSON path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        body = {"source": self.source, "counts": {k: int(v) for k, v in self.counts.items()},
                "definitions": {k: COUNTS[k] for k in self.counts}, "rejected": self.rejected,
                "inputs": self.inputs, "tables": {k: int(v) for k, v in self.tables.items()}}
        path = folder / REPORT_FILE
        path.write_text(json.dumps(body, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        daily = self.daily.copy()
        if "day" in daily:
            daily["day"] = pd.to_datetime(daily["day"]).dt.strftime("%Y-%m-%d")
        daily.to_csv(folder / DAILY_FILE, index=False)
        return path

    @classmethod
    def read(cls, folder: str | Path) -> IngestReport | None:
        """The report written into ``folder`` by an ingest, or None when there is none."""
        folder = Path(folder)
        path = folder / REPORT_FILE
        if not path.is_file():
            return None
        body = json.loads(path.read_text(encoding="utf-8"))
        daily_path = folder / DAILY_FILE
        daily = pd.read_csv(daily_path, parse_dates=["day"]) if daily_path.is_file() else None
        return cls(body["source"], counts=body.get("counts", {}), rejected=body.get("rejected", []),
                   daily=daily if daily is not None else cls.__dataclass_fields__["daily"].default_factory(),
                   inputs=body.get("inputs", []), tables=body.get("tables", {}))
