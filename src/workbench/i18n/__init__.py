"""One message catalogue for every report: ``t(key, lang, **values)``.

All report text — titles, headings, axis labels, legends, table headers and narrative
sentences — lives in the YAML files beside this module as ``key: {en: ..., zh: ...}``:
``messages.yml`` for the shared text (pipeline, index, channel groups, touch types) and one
file per report family (``ops.yml``, ``experiment.yml``, ``value.yml``, ``churn.yml``,
``clv.yml``). A key defined in two files is an error. Notebooks never hold display strings of
their own, so a report is complete in both languages or a test fails.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGS = ("en", "zh")
_CATALOGUE_DIR = Path(__file__).parent
_current = {"lang": "en"}


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The message catalogue, ``{key: {"en": ..., "zh": ...}}``."""
    merged: dict[str, dict[str, str]] = {}
    where: dict[str, str] = {}
    for path in sorted(_CATALOGUE_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for k, v in data.items():
            key = str(k)
            if key in merged:
                raise ValueError(f"message key {key!r} is defined in both {where[key]} and {path.name}")
            merged[key] = {str(lang): str(text) for lang, text in v.items()}
            where[key] = path.name
    return merged


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is one of ``LANGS``; raise ``ValueError`` otherwise."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    return lang


def set_lang(lang: str) -> str:
    """Set the language ``t`` uses when none is given (a notebook calls this once); return it."""
    _current["lang"] = check_lang(lang)
    return lang


def get_lang() -> str:
    """The language ``t`` uses when none is given (``en`` until :func:`set_lang`)."""
    return _current["lang"]


def has_key(key: str) -> bool:
    """Whether ``key`` is in the catalogue (for optional text; ``t`` itself is strict)."""
    return key in catalogue()


def t(key: str, lang: str | None = None, **values: Any) -> str:
    """Translate ``key`` into ``lang`` and fill ``{placeholders}`` from ``values``.

    Raises ``KeyError`` for a key or language missing from the catalogue, so an
    untranslated string can never reach a report silently.

    Examples
    --------
    >>> t("ops_dashboard.title", "zh")
    '私域运营看板'
    >>> t("report.failed_title", "en")
    'Report failed'
    """
    lang = check_lang(get_lang() if lang is None else lang)
    entry = catalogue().get(key)
    if entry is None:
        raise KeyError(f"message key {key!r} is not in the catalogue (src/workbench/i18n/*.yml)")
    if lang not in entry:
        raise KeyError(f"message key {key!r} has no {lang!r} text")
    return entry[lang].format(**values) if values else entry[lang]


def labels(keys: dict[str, str], lang: str | None = None) -> dict[str, str]:
    """Translate a mapping of column name → message key (for table headers)."""
    return {col: t(key, lang) for col, key in keys.items()}
