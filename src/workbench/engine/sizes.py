"""Memory sizes as DuckDB writes them: one parser for the engine, the batch planner and the CLI.

``8GB`` is 8·10⁹ bytes, ``8GiB`` (or ``8G``) 8·2³⁰, ``50%`` half the machine's physical memory;
DuckDB's own display of its limit (``4.6 GiB``, ``953.6 MiB``, ``16383.9 PiB`` when unlimited)
reads back the same way.
"""
from __future__ import annotations

import os
import re

from ..errors import ParameterError

#: bytes per unit: decimal ``KB``…``PB``, binary ``KiB``…``PiB`` and the one-letter binary ``K``…``P``
UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
         "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}
#: a machine without ``sysconf`` is assumed this small
FALLBACK_PHYSICAL_MEMORY = 8 * 2**30


def physical_memory() -> int:
    """The machine's physical memory in bytes (:data:`FALLBACK_PHYSICAL_MEMORY` when the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return FALLBACK_PHYSICAL_MEMORY


def parse_size(value: str | int) -> int:
    """Bytes in a size written as DuckDB reads it (``8GB`` = 8·10⁹, ``8GiB`` or ``8G`` = 8·2³⁰).

    A percentage (``50%``) is of the machine's physical memory; an int is bytes.

    Parameters
    ----------
    value : str or int
        A number and a unit (spaces and case do not matter), a percentage, or bytes as an int.

    Returns
    -------
    int
        The size in bytes.

    Raises
    ------
    ParameterError
        When ``value`` is not a number with a known unit.

    Examples
    --------
    >>> parse_size("8GB"), parse_size("1.5GiB"), parse_size("512 MB"), parse_size(1024)
    (8000000000, 1610612736, 512000000, 1024)
    >>> parse_size("4.6 GiB")  # how DuckDB shows a 5GB limit
    4939212390
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower().replace(" ", "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z%]+)", text)
    if match and match.group(2) == "%":
        return int(float(match.group(1)) / 100 * physical_memory())
    if not match or match.group(2) not in UNITS:
        raise ParameterError(f"memory size {value!r}: expected a number and a unit, e.g. 8GB, 6GiB, 512MB")
    return int(float(match.group(1)) * UNITS[match.group(2)])
