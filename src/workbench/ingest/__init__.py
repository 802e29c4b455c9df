"""Real brand data into the contract: WeCom callbacks and API snapshots, SCRM databases.

``workbench ingest wecom`` and ``workbench ingest openscrm`` write the contract tables as
Parquet plus an :class:`IngestReport` that counts what every rule changed.
"""
from __future__ import annotations

from .report import COUNTS, IngestReport

__all__ = ["COUNTS", "IngestReport"]
