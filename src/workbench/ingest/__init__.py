"""Real brand data into the contract: WeCom callbacks and API snapshots, SCRM databases.

``workbench ingest wecom`` and ``workbench ingest openscrm`` write the contract tables as
Parquet plus an :class:`IngestReport` that counts what every rule changed.

Modules
-------
report
    :class:`IngestReport` and :data:`COUNTS`, the named rules.
wecom
    :func:`ingest_wecom`: callbacks (:mod:`.callbacks`) and API snapshots (:mod:`.snapshots`),
    reconciled (:mod:`.repair`), group events (:mod:`.groups`); line reading in :mod:`.lines`.
"""
from __future__ import annotations

from .report import COUNTS, IngestReport
from .wecom import ingest_wecom

__all__ = ["COUNTS", "IngestReport", "ingest_wecom"]
