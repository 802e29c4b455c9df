"""Re-export of the Spark backend, which lives in :mod:`workbench.engine.spark` now.

Kept so that ``from workbench.spark import open_spark`` keeps working.
"""
from __future__ import annotations

from .engine.spark import SparkBackend, SparkWorkbench, local_session, open_spark
from .engine.sql import to_spark_sql

__all__ = ["SparkBackend", "SparkWorkbench", "local_session", "open_spark", "to_spark_sql"]
