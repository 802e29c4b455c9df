"""Masked customer ids: keyed tokens that cannot be reversed without the brand's secret.

A token is ``prefix + HMAC-SHA256(key, id)`` truncated to :data:`TOKEN_HEX_DIGITS` hex digits.
Customer ids come from a small, guessable space (``C00012345``, phone numbers, ``wm…``
external ids), so an unkeyed hash of them is reversed by hashing every candidate id: the
earlier ``sha256("workbench:" + id)[:10]`` tokens of the 5,000 demo customers were all recovered
in 3 seconds. With a 256-bit secret key that attack has nothing to enumerate.

Where the key comes from, first match wins:

1. an explicit ``key`` argument (tests, or a caller holding the key in its own vault);
2. the environment variable ``WORKBENCH_MASK_KEY`` (at least 32 characters, e.g.
   ``python -c "import secrets; print(secrets.token_hex(32))"``); use it when tokens must agree
   across machines, or when several people export lists that must be joinable;
3. a per-brand key file, generated on first use (32 random bytes from :mod:`secrets`), stored
   with mode 0600 in a 0700 folder of the workbench cache directory (``WORKBENCH_CACHE_DIR``,
   default ``~/.cache/workbench``): ``mask-keys/<hash of the brand's data directory>.key``
   (:func:`key_path`). Calls without a data directory share one per-user ``default.key``.

The key lives outside the data directory so that a copied or published data folder, or a
masked export, never carries it; a brand's data moved to another path gets a new key (and new
tokens) unless ``WORKBENCH_MASK_KEY`` is set.

Rotation: a new key changes every token. Delete the key file (a new one is generated on the
next use) or set a new ``WORKBENCH_MASK_KEY``; lists exported before can then no longer be
joined with lists exported after — keep the old key (offline) if a join across the rotation
is needed. Losing the key file (a cleared cache) is a rotation too.

Token length: with ``n`` distinct ids and ``b`` output bits the chance of any two ids sharing a
token is about ``1 - exp(-n(n-1) / 2^(b+1))`` (:func:`collision_probability`). At 20M ids, 40
bits (the old 10 hex digits) make collisions certain (≈ 182 colliding pairs expected),
64 bits give 1.1e-5 and the 80 bits used here 1.7e-10.
"""
from __future__ import annotations

import hashlib
import math
import os
import secrets
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ParameterError

TOKEN_HEX_DIGITS = 20  # 80 bits: collision chance 1.7e-10 at 20M ids (module docstring)
KEY_BYTES = 32
MIN_ENV_KEY_CHARS = 32
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


def collision_probability(n_ids: int, bits: int) -> float:
    """Birthday bound: the chance that two of ``n_ids`` distinct ids share a ``bits``-bit token.

    Examples
    --------
    >>> round(collision_probability(20_000_000, 80), 12)
    1.65e-10
    """
    pairs = n_ids * (n_ids - 1) / 2
    return -math.expm1(-pairs / 2.0**bits)


def cache_dir() -> Path:
    """The workbench cache directory: ``WORKBENCH_CACHE_DIR`` or ``~/.cache/workbench``."""
    base = os.environ.get("WORKBENCH_CACHE_DIR", "").strip()
    return Path(base) if base else Path.home() / ".cache" / "workbench"


def key_path(data_dir: str | Path | None = None) -> Path:
    """Where the generated masking key of the brand whose data is in ``data_dir`` is kept.

    The name hashes the resolved data directory, so the file says nothing about the brand.

    Examples
    --------
    >>> key_path("/data/brand").name.endswith(".key")
    True
    """
    if data_dir is None:
        name = "default"
    else:
        name = hashlib.sha256(str(Path(data_dir).expanduser().resolve()).encode()).hexdigest()[:32]
    return cache_dir() / "mask-keys" / f"{name}.key"


def mask_key(data_dir: str | Path | None = None) -> bytes:
    """The secret masking key: ``WORKBENCH_MASK_KEY``, else the brand's key file (made on first use)."""
    if os.environ.get("WORKBENCH_MASK_SALT"):
        warnings.warn("WORKBENCH_MASK_SALT is no longer read: masks use a keyed hash; set WORKBENCH_MASK_KEY "
                      "(at least 32 random characters) or let the workbench keep a per-brand key file",
                      FutureWarning, stacklevel=3)
    configured = os.environ.get("WORKBENCH_MASK_KEY", "").strip()
    if configured:
        if len(configured) < MIN_ENV_KEY_CHARS:
            raise ParameterError(f"WORKBENCH_MASK_KEY has {len(configured)} characters; a masking key needs at least "
                                 f"{MIN_ENV_KEY_CHARS} random ones (python -c \"import secrets; "
                                 f"print(secrets.token_hex(32))\")")
        return configured.encode()
    path = key_path(data_dir)
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    """Write a new random key file atomically.

    Write 32 random bytes to ``path`` with mode 0600, atomically: two runs starting at once
    must end up with the same key, so the file is published with a hard link that fails if
    another process got there first (never a rename, which would replace its key).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-key-")  # mkstemp creates mode 0600
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another run made the key first: use theirs
    finally:
        os.unlink(tmp)


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ParameterError(f"masking key file {path} is readable by others (mode {mode:04o}); "
                             f"run chmod 600 on it")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ParameterError(f"masking key file {path} holds {len(key)} bytes, not {KEY_BYTES}: it is damaged; "
                             f"delete it to rotate the key (every token changes)")
    return key


def mask_tokens(ids: pd.Series, key: bytes, prefix: str = "C-") -> pd.Series:
    """``prefix`` + the first :data:`TOKEN_HEX_DIGITS` hex digits of HMAC-SHA256(``key``, ``str(id)``).

    Missing ids stay missing; each distinct id is hashed once.

    Examples
    --------
    >>> import hmac
    >>> t = mask_tokens(pd.Series(["C1", None, "C1"]), b"k" * 32)
    >>> t.iloc[0] == t.iloc[2] == "C-" + hmac.new(b"k" * 32, b"C1", "sha256").hexdigest()[:20]
    True
    >>> t.iloc[1] is None
    True
    """
    if not isinstance(key, bytes) or not key:
        raise ParameterError("a masking key must be non-empty bytes")
    inner, outer = _hmac_pads(key)

    def token(value: object) -> str:
        # RFC 2104 with the padded key states hashed once: 2× faster than hmac.new per id
        h = inner.copy()
        h.update(str(value).encode())
        o = outer.copy()
        o.update(h.digest())
        return prefix + o.hexdigest()[:TOKEN_HEX_DIGITS]

    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series([None] * len(ids), index=ids.index, dtype=object, name=ids.name)
    tokens = pd.Index([token(v) for v in uniques], dtype=object)
    out = pd.Series(tokens.take(codes), index=ids.index, dtype=object, name=ids.name)
    out[codes < 0] = None
    return out


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """The SHA-256 states after the inner and outer padded key blocks (RFC 2104)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key)))
