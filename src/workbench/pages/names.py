"""Names, not codes: what a page shows for a store (its name and region) instead of its id.

Store managers and HQ read store names; codes stay in the data and the exports' id columns.
"""
from __future__ import annotations

import pandas as pd

from ..engine import Workbench, literal

__all__ = ["store_label", "with_names", "with_store_names"]


def store_label(wb: Workbench, store_id: str | None) -> str | None:
    """The store's name for a page (``"Nanjing #3 · East"``: name and region), the id without a ``stores`` table.

    None for the HQ view. Store managers read names, not codes.
    """
    if not store_id:
        return None
    if not wb.has_table("stores"):
        return str(store_id)
    row = wb.query(f"SELECT store_name, region FROM stores WHERE store_id = {literal(str(store_id))}")
    if not len(row):
        return str(store_id)
    name, region = row.iloc[0]["store_name"], row.iloc[0]["region"]
    name = str(name) if isinstance(name, str) and name.strip() else str(store_id)
    return f"{name} · {region}" if isinstance(region, str) and region.strip() else name


def with_store_names(wb: Workbench, frame: pd.DataFrame, missing: str) -> pd.DataFrame:
    """``frame`` with its ``store_id`` column replaced by the store's name and a ``region`` column after it.

    Store managers and HQ read names, not codes: the name comes from ``stores.store_name`` (the id
    when the brand has no stores table or no name for it); rows without a store get ``missing``
    (e.g. "online / brand-level"). The frame's order is kept.

    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"stores": pd.DataFrame({"store_id": ["S1"], "store_name": ["南京三店"],
    ...                                               "region": ["华东"]})})
    >>> with_store_names(wb, pd.DataFrame({"store_id": ["S1", None], "gmv": [5.0, 1.0]}), "(none)")
      store_id region  gmv
    0     南京三店     华东  5.0
    1   (none)   None  1.0
    """
    out = frame.copy()
    ids = out["store_id"]
    if wb.has_table("stores"):
        stores = wb.frame("stores").set_index("store_id")
        names = ids.map(stores["store_name"].where(stores["store_name"].notna(), None))
        regions = ids.map(stores["region"]) if "region" in stores else pd.Series(None, index=out.index)
    else:
        names, regions = ids, pd.Series(None, index=out.index)
    out["store_id"] = names.where(names.notna(), ids).astype(object).where(ids.notna(), missing)
    out.insert(out.columns.get_loc("store_id") + 1, "region", regions.astype(object).where(regions.notna(), None))
    return out


_NAMES = {"store_id": ("stores", "store_name"), "staff_id": ("staff", "staff_name"), "task_id": ("tasks", "title"),
          "channel_code": ("channels", "channel_name"), "experiment_id": ("experiments", "name")}


def with_names(wb: Workbench, frame: pd.DataFrame, column: str, missing: str = "–") -> pd.DataFrame:
    """``frame`` with the ids in ``column`` (staff, task, channel code, experiment) replaced by their names.

    Guide names come from ``staff.staff_name``, task titles from ``tasks.title``, channel-code names
    from ``channels.channel_name``, experiment names from ``experiments.name``; an id without a name
    (or without the table) stays as it is, and a missing id reads ``missing``.

    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"staff": pd.DataFrame({"staff_id": ["E1", "E2"], "role": ["guide", "guide"],
    ...                                              "staff_name": ["王丽", None]})})
    >>> with_names(wb, pd.DataFrame({"staff_id": ["E1", "E2", None]}), "staff_id")["staff_id"].tolist()
    ['王丽', 'E2', '–']
    """
    out = frame.copy()
    out[column] = names_of(wb, out[column], column, missing)
    return out


def names_of(wb: Workbench, ids: pd.Series, column: str, missing: str = "–") -> pd.Series:
    """The names of ``ids`` (store, staff, task, channel-code or experiment ids, by ``column``).

    The name from the dimension table (see :func:`with_names`); an id without a name keeps its id, a
    missing id reads ``missing``.

    >>> import workbench, pandas as pd
    >>> wb = workbench.open({"stores": pd.DataFrame({"store_id": ["S1"], "store_name": ["南京三店"]})})
    >>> names_of(wb, pd.Series(["S1", "S9", None]), "store_id").tolist()
    ['南京三店', 'S9', '–']
    """
    table, name_column = _NAMES[column]
    names = ids
    if wb.has_table(table):
        ref = wb.frame(table)
        if name_column in ref:
            lookup = ref.set_index(column)[name_column]
            names = ids.map(lookup.where(lookup.notna() & (lookup.astype(str).str.strip() != ""), None))
            names = names.where(names.notna(), ids)
    return names.astype(object).where(ids.notna(), missing)
