"""The persisted derived layer: the relations every report rebuilds, built once per data snapshot.

:func:`~workbench.derived_layer.build_layer` writes the heavy derived relations of a data folder (contact and group
intervals, first adds, the customer–staff spells and their covariates, the CLV buyer summary)
as Parquet files with a ``manifest.json``; a workbench opened on the folder
(:func:`~workbench.engine.open_workbench`, ``layer="auto"``) reads them instead of rebuilding
them when the layer is *current*: same package version, same engine, same as-of date and the
same source files (paths, sizes, modification times). Reading is transparent:
:meth:`Workbench.derived <workbench.engine.Workbench.derived>` loads the file when the layer
holds the relation with equal parameters, so every caller gets the rows it would have built.

Layout: ``<layer>/manifest.json`` names the version folder ``<layer>/v-<stamp>/`` holding the
files. A build writes a new version folder and then replaces the manifest (an atomic rename),
so a reader never sees half a layer, and a workbench still reading the previous version keeps
its files until the build after next.

Building the layer (which relations, full or incremental) is
:mod:`workbench.derived_layer`'s work: it composes the analyses' relations, which sit above the
engine.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .reading import table_sources

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
#: the folder name of the default layer inside a data folder (never a contract table name)
LAYER_DIR = ".layer"


# ---------------------------------------------------------------------- the manifest
def encode_params(params: tuple) -> list[str]:
    """Parameters of a derived relation as text, for the manifest and for comparing.

    >>> encode_params((pd.Timestamp("2025-03-01"), 14.0, False, "net"))
    ['timestamp:2025-03-01T00:00:00', 'float:14.0', 'bool:False', 'str:net']
    """
    out = []
    for p in params:
        if isinstance(p, pd.Timestamp):
            out.append(f"timestamp:{p.isoformat()}")
        elif isinstance(p, bool):
            out.append(f"bool:{p}")
        elif isinstance(p, float):
            out.append(f"float:{p!r}")
        else:
            out.append(f"{type(p).__name__}:{p}")
    return out


def snapshot(sources: Mapping[str, Any]) -> dict[str, list[list[Any]]]:
    r"""A cheap fingerprint of source files: per table, its files' paths, sizes and modification times.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "orders.csv").write_text("order_id\n")
    >>> [entry[1] for entry in snapshot({"orders": d / "orders.csv"})["orders"]]
    [9]
    """
    out: dict[str, list[list[Any]]] = {}
    for table, source in sorted(sources.items()):
        if not _is_local(source):  # a DataFrame or a catalogue table: nothing to fingerprint
            out[table] = []
            continue
        path = Path(source)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        entries = []
        for f in files:
            st = f.stat()
            entries.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
        out[table] = entries
    return out


def _is_local(source: Any) -> bool:
    """Whether a table's source is a local file or folder (which a snapshot can fingerprint)."""
    return isinstance(source, (str, Path)) and Path(source).exists()


@dataclass(frozen=True)
class Layer:
    """A layer on disk as read from its manifest (what a workbench reads relations from)."""

    folder: Path
    manifest: dict[str, Any]

    def relation_path(self, name: str, params: tuple) -> Path | None:
        """The Parquet of relation ``name`` if the layer holds it built with ``params``, else None."""
        entry = self.manifest.get("relations", {}).get(name)
        if entry is None or entry["params"] != encode_params(params):
            return None
        return self.folder / entry["file"]


def default_layer_dir(data_dir: str | Path) -> Path:
    """Where a data folder's layer lives by default: ``<data_dir>/.layer``.

    Table discovery reads only contract table names, so this folder is never taken for a table.

    >>> default_layer_dir("data/demo").as_posix()
    'data/demo/.layer'
    """
    return Path(data_dir) / LAYER_DIR


def _read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _package_version() -> str:
    from .. import __version__

    return str(__version__)


def _staleness(manifest: dict[str, Any] | None, sources: Mapping[str, Any], as_of: pd.Timestamp,
               dialect: str) -> str:
    """Why a layer cannot be read for these sources and as-of date ('' when it can)."""
    if manifest is None:
        return "absent"
    if manifest.get("format") != FORMAT_VERSION:
        return f"stale: layer format {manifest.get('format')}, this package writes {FORMAT_VERSION}"
    if manifest.get("package_version") != _package_version():
        return f"stale: built by workbench {manifest.get('package_version')}, this is {_package_version()}"
    if manifest.get("engine") != dialect:
        return f"stale: built on {manifest.get('engine')}, read on {dialect}"
    if manifest.get("as_of") != as_of.isoformat():
        return f"stale: built as of {manifest.get('as_of')[:10]}, wanted {as_of.date()}"
    elsewhere = sorted(t for t, source in sources.items() if not _is_local(source))
    if elsewhere:  # a layer is read only for files whose snapshot says they are the same
        return f"stale: {', '.join(elsewhere)} not read from local files"
    old, now = manifest.get("sources", {}), snapshot(sources)
    if sorted(old) != sorted(now):
        return f"stale: tables were {', '.join(sorted(old))}, now {', '.join(sorted(now))}"
    changed = [t for t in now if [e[:3] for e in old[t]] != now[t]]
    if changed:
        return f"stale: source files changed ({', '.join(changed)})"
    return ""


def current_layer(data_dir: str | Path, as_of: pd.Timestamp | None, dialect: str,
                  layer: str | Path | None = None) -> Layer | None:
    """The layer of ``data_dir`` (or at ``layer``) if it is current for this as-of date and engine, else None."""
    if as_of is None:
        return None
    root = Path(layer) if layer is not None else default_layer_dir(data_dir)
    manifest = _read_manifest(root)
    if _staleness(manifest, table_sources(data_dir), as_of, dialect):
        return None
    return Layer(root / manifest["folder"], manifest)


def _publish(root: Path, manifest: dict[str, Any]) -> None:
    """Point the layer at the new version (an atomic rename) and remove all but it and the previous one."""
    previous = _read_manifest(root)
    tmp = root / f".{MANIFEST}.{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, root / MANIFEST)
    keep = {manifest["folder"], (previous or {}).get("folder")}
    for child in root.iterdir():
        if child.is_dir() and child.name.startswith("v-") and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)



__all__ = ["FORMAT_VERSION", "LAYER_DIR", "MANIFEST", "Layer", "current_layer", "default_layer_dir",
           "encode_params", "snapshot"]
