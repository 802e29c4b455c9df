"""Hostile values in brand data and parameters never become markup or SQL.

Two suites:

- **HTML**: a simulated brand whose every free-text value (ids, names, titles, task types,
  channel codes, variants…) carries script payloads renders every report in both languages;
  headless Chromium opens each page and fails on any dialog, any element with a live ``on*``
  handler, any ``javascript:`` link or any script the template did not put there. The raw
  payload never appears unescaped in the HTML.
- **SQL**: no notebook runs SQL, and no package module formats a value into a quoted SQL
  string (``'{value}'`` in an f-string or ``.format``); values go through
  ``workbench.engine.literal``.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from workbench.contract import TABLES

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if not p.stem.startswith("_"))
PAYLOAD = "<img src=x onerror=alert(1)>\"'><svg onload=alert(2)>[x](javascript:alert(3))"
# Semantic values a report looks up by name (the holdout experiment's arms) keep their meaning.
KEEP_VARIANTS = {"holdout", "reached"}


def _enum_columns() -> set[tuple[str, str]]:
    return {(t, c.name) for t, spec in TABLES.items() for c in spec.columns if c.values}


def hostile(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Append ``PAYLOAD`` to every free-text value of every table, the same way everywhere, so
    keys still join across tables; enumerated contract columns keep their allowed values."""
    enums = _enum_columns()
    out = {}
    for name, df in tables.items():
        df = df.copy()
        for col in df.columns:
            if (name, col) in enums or not (pd.api.types.is_object_dtype(df[col]) or
                                            pd.api.types.is_string_dtype(df[col])):
                continue
            values = df[col]
            mask = values.notna() & values.map(lambda v: isinstance(v, str))
            if name in ("assignments", "tasks") and col == "variant":
                mask &= ~values.isin(KEEP_VARIANTS)
            df[col] = values.where(~mask, values.astype(object) + PAYLOAD)
        out[name] = df
    return out


@pytest.fixture(scope="module")
def hostile_brand(tmp_path_factory, report_brand):
    """The shared report brand's tables (copied) with hostile strings written into a folder of its own."""
    _, brand = report_brand
    out = tmp_path_factory.mktemp("hostile")
    data = out / "data"
    data.mkdir()
    for name, df in hostile({k: v.copy() for k, v in brand.tables.items()}).items():
        df.to_parquet(data / f"{name}.parquet", index=False)
    (data / "truth.json").write_text(json.dumps(brand.truth, default=str))
    stores = brand.tables["stores"]["store_id"]
    return out, brand, str(stores.iloc[0]) + PAYLOAD


@pytest.fixture(scope="module")
def hostile_pages(hostile_brand):
    from workbench.reports import run_report

    out, brand, store = hostile_brand
    kw = dict(as_of=brand.truth["as_of"][:10], data_dir=out / "data", out_dir=out / "reports",
              notebooks_dir=ROOT / "notebooks")
    runs = []
    for name in NOTEBOOKS:
        params = {"experiment_id": "EXP_CUST" + PAYLOAD} if name == "experiment_report" else {}
        for lang in ("zh", "en"):
            runs.append(run_report(name, params, lang=lang, **kw))
    runs.append(run_report("ops_dashboard", {"store_id": store}, lang="zh", label="store", **kw))
    runs.append(run_report("experiment_report", {"experiment_id": "EXP_STORE" + PAYLOAD}, lang="en",
                           label="store-exp", **kw))
    return runs


def test_every_report_renders_hostile_data(hostile_pages):
    failed = [(r.name, r.lang, r.error) for r in hostile_pages if not r.ok]
    assert not failed, failed


def test_no_payload_reaches_the_page_as_markup(hostile_pages):
    for run in hostile_pages:
        page = Path(run.html_path).read_text(encoding="utf-8")
        for raw in ("<img src=x onerror", "<svg onload", 'href="javascript:'):
            assert raw not in page, f"{run.name} [{run.lang}]: unescaped {raw!r}"


_LIVE_MARKUP = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.toLowerCase().startsWith('on')) bad.push(el.tagName + ' ' + a.name);
      if (/^\\s*javascript:/i.test(a.value)) bad.push(el.tagName + ' ' + a.name + '=javascript:');
    }
  }
  for (const s of document.querySelectorAll('script')) {
    if (/alert\\(/.test(s.textContent)) bad.push('script with alert');
  }
  return bad;
}"""


def test_no_dialog_and_no_live_handler_in_a_real_browser(hostile_pages, hostile_brand):
    from workbench.browser import CHROMIUM_ARGS, find_chromium

    if find_chromium() is None or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium and playwright (.ci/run installs them)")
        pytest.skip("needs Debian's chromium and the playwright package")
    from playwright.sync_api import sync_playwright

    out, _, _ = hostile_brand
    pages = [Path(r.html_path) for r in hostile_pages] + [out / "reports" / "index.html"]
    findings = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        try:
            for path in pages:
                dialogs: list[str] = []
                page = browser.new_page(viewport={"width": 390, "height": 844})
                page.on("dialog", lambda d, seen=dialogs: (seen.append(d.message), d.dismiss()))
                page.goto(path.resolve().as_uri())
                page.wait_for_load_state("load")
                page.wait_for_timeout(300)   # let image error handlers fire if any were live
                live = page.evaluate(_LIVE_MARKUP)
                if dialogs or live:
                    findings[path.name] = {"dialogs": dialogs, "live": live[:5]}
                page.close()
        finally:
            browser.close()
    assert not findings, findings


# ---------------------------------------------------------------------- SQL
def _notebook_sources() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        out[path.name] = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return out


def test_notebooks_run_no_sql():
    """Notebooks lay out what package functions return; a query in a notebook is untested glue."""
    for name, code in _notebook_sources().items():
        assert not re.search(r"\.(query|sql|scalar|execute)\s*\(", code), f"{name} runs SQL"


_SQL_WORDS = re.compile(r"\b(SELECT|WHERE|FROM|JOIN|INSERT|UPDATE|DELETE|VALUES|HAVING|LIKE)\b", re.I)


def _quoted_interpolations(tree: ast.AST) -> list[int]:
    """Line numbers of f-strings and ``.format`` calls that put a value between SQL quotes."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if not _SQL_WORDS.search(text):
                continue
            for before, part in zip(node.values, node.values[1:]):
                if (isinstance(part, ast.FormattedValue) and isinstance(before, ast.Constant)
                        and isinstance(before.value, str) and before.value.rstrip().endswith(("'", '"'))):
                    lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
              and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
            text = node.func.value.value
            if _SQL_WORDS.search(text) and re.search(r"""['"]\{[^}]*\}['"]""", text):
                lines.append(node.lineno)
    return lines


def test_no_value_is_formatted_into_quoted_sql():
    offenders = []
    for path in sorted((ROOT / "src" / "workbench").rglob("*.py")):
        for line in _quoted_interpolations(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    for name, code in _notebook_sources().items():
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        offenders += [f"notebooks/{name}:{line}" for line in _quoted_interpolations(tree)]
    assert not offenders, offenders


def test_the_sql_check_catches_the_old_notebook_line():
    old = """wb.query(f"SELECT name FROM experiments WHERE experiment_id = '{experiment_id}'")"""
    assert _quoted_interpolations(ast.parse(old)) == [1]
    assert _quoted_interpolations(ast.parse('f"SELECT 1 WHERE x = {literal(v)}"')) == []
