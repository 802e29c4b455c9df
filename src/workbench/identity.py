"""Identity resolution: one customer per connected component of identifiers.

A brand sees the same person under many identifiers (phone hash, WeChat unionid and
openid, WeCom external_userid, membership id, ERP id). ``identity_links`` records pairs
seen together; a customer is a connected component of that graph.

Components are found in the engine by min-label propagation with pointer jumping: every
identifier starts labelled by itself, takes the smallest label among its neighbours, then
jumps to its label's label. Each round is one SQL statement, so the work stays in the
engine; rounds grow with the logarithm of the longest chain, not the number of links. The
statements go through the workbench's backend (:mod:`workbench.engine.backend`), so the
same resolution runs on DuckDB and on Spark.
"""
from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

from .contract import ID_TYPES
from .engine import Backend, DuckDBBackend, literal
from .errors import DataContractError

# Which identifier anchors a customer's id: stable, brand-owned ids first, so that a new
# WeChat openid joining an existing member never renames the member.
ANCHOR_PRIORITY = ("member_id", "erp_id", "unionid", "phone_hash", "external_userid", "openid")
_MAX_ROUNDS = 64


def resolve_identities(identity_links: Any, prefix: str = "C") -> pd.DataFrame:
    """Resolve identifier pairs into customers.

    Parameters
    ----------
    identity_links : DataFrame or Workbench
        Contract table ``identity_links`` (id_type, id_value, linked_type, linked_value),
        or a :class:`~workbench.Workbench` holding it.
    prefix : str, default "C"
        Prefix of the generated customer ids.

    Returns
    -------
    DataFrame
        One row per identifier: ``id_type``, ``id_value``, ``customer_id``,
        ``anchor_type``, ``anchor_value`` and ``component_size``. The customer id is a hash
        of the component's anchor (its highest-priority, then smallest identifier), so it
        is deterministic and survives when later links join two customers: the merged
        customer keeps the id of the better anchor.

    Examples
    --------
    >>> import pandas as pd
    >>> links = pd.DataFrame({"id_type": ["phone_hash", "unionid"], "id_value": ["p1", "u1"],
    ...                       "linked_type": ["unionid", "openid"], "linked_value": ["u1", "o1"]})
    >>> resolve_identities(links)["customer_id"].nunique()
    1
    """
    if hasattr(identity_links, "query") and hasattr(identity_links, "backend"):
        wb = identity_links
        wb.require("identity_links")
        wb.validate("identity_links")
        engine: Backend = wb.backend
        source = "identity_links"
    else:
        engine = DuckDBBackend()  # a frame alone: an engine of its own, closed when done
        engine.load("identity_links_input", _check_frame(identity_links), table="identity_links")
        source = "identity_links_input"
    try:
        out = _components(engine, source)
    finally:
        if source == "identity_links_input":
            engine.close()
    anchors = out["label"].drop_duplicates()
    ids = {lab: prefix + hashlib.sha1(lab.split(":", 1)[1].encode()).hexdigest()[:12] for lab in anchors}
    out["customer_id"] = out["label"].map(ids)
    parts = out["label"].str.split(":", n=2, expand=True)
    out["anchor_type"], out["anchor_value"] = parts[1], parts[2]
    return out[["id_type", "id_value", "customer_id", "anchor_type", "anchor_value", "component_size"]]


def _components(engine: Backend, source: str) -> pd.DataFrame:
    """Every identifier of ``source`` with its component's label and size, in label order.

    A node is written ``<anchor priority>:<id_type>:<id_value>``, so the smallest label of a
    component is its anchor.
    """
    priority = " ".join(f"WHEN {literal(t)} THEN {i}" for i, t in enumerate(ANCHOR_PRIORITY))
    node = "CAST(CASE {t} " + priority + " ELSE 9 END AS VARCHAR) || ':' || {t} || ':' || {v}"
    a = node.format(t="id_type", v="id_value")
    b = node.format(t="linked_type", v="linked_value")
    engine.materialise("__id_edges", f"""
        SELECT DISTINCT src, dst FROM (
            SELECT {a} AS src, {b} AS dst FROM {source}
            UNION ALL SELECT {b} AS src, {a} AS dst FROM {source}
        ) e WHERE src <> dst""")
    engine.materialise("__id_labels", f"""
        SELECT node, node AS label FROM (
            SELECT {a} AS node FROM {source} UNION SELECT {b} AS node FROM {source}) n""")
    for _ in range(_MAX_ROUNDS):
        engine.materialise("__id_next", """
            WITH hop AS (
                SELECT l.node, LEAST(l.label, COALESCE(MIN(n.label), l.label)) AS label
                FROM __id_labels l
                LEFT JOIN __id_edges e ON e.src = l.node
                LEFT JOIN __id_labels n ON n.node = e.dst
                GROUP BY l.node, l.label
            )
            SELECT h.node, LEAST(h.label, j.label) AS label
            FROM hop h JOIN hop j ON j.node = h.label""")
        changed = engine.fetch(
            "SELECT COUNT(*) FROM __id_next x JOIN __id_labels l ON x.node = l.node WHERE x.label <> l.label")[0][0]
        engine.materialise("__id_labels", "SELECT * FROM __id_next")
        if changed == 0:
            break
    else:  # pragma: no cover - would need a chain of more than 2**64 identifiers
        raise RuntimeError("identity resolution did not converge")

    out = engine.frame(
        """SELECT split_part(node, ':', 2) AS id_type,
                  substr(node, length(split_part(node, ':', 1)) + length(split_part(node, ':', 2)) + 3) AS id_value,
                  label,
                  COUNT(*) OVER (PARTITION BY label) AS component_size
           FROM __id_labels ORDER BY label, node""")
    for t in ("__id_edges", "__id_labels", "__id_next"):
        engine.drop(t)
    return out


def _check_frame(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["id_type", "id_value", "linked_type", "linked_value"]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataContractError("identity_links", missing[0], "required column is missing")
    frame = frame[cols].astype("string")
    for c in cols:
        bad = frame[c].isna()
        if bad.any():
            raise DataContractError("identity_links", c, "null value in a required column", frame[bad], int(bad.sum()))
    for c in ("id_type", "linked_type"):
        bad = ~frame[c].isin(ID_TYPES)
        if bad.any():
            raise DataContractError("identity_links", c, f"unknown value (allowed: {', '.join(ID_TYPES)})",
                                    frame[bad], int(bad.sum()))
    return frame.astype(object)
