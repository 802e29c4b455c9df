"""WeCom relationships as intervals: re-exported from :mod:`workbench.relations`.

The interval builders and their rules now live with the other named relations in
:mod:`workbench.relations`; this module keeps the old import path working.
"""
from __future__ import annotations

from .relations import contact_intervals_sql, group_intervals_sql, open_at_sql

__all__ = ["contact_intervals_sql", "group_intervals_sql", "open_at_sql"]
