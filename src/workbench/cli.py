"""The ``workbench`` command: simulate, validate, build, reports, report, run, index, at-risk, audience, ingest.

Examples::

    workbench simulate --customers 100000 --seed 7 --out data/demo
    workbench validate --data data/demo
    workbench build --data data/demo                    # the derived layer the reports read (incremental)
    workbench reports                                   # the reports and their typed parameters
    workbench report ops_dashboard -p period_days 7 --lang zh --data data/demo
    workbench report ops_dashboard -p store_id S001     # labelled store_id-S001: never the HQ page
    workbench run schedules/daily.yml --data data/demo --memory-limit 8GB   # layer first, kernels in parallel
    workbench index
    workbench audience --data data/demo --experiment EXP_CUST   # who gets the next task (masked CSV)
    workbench ingest wecom --events callbacks/ --snapshot snapshots.jsonl --tables brand/ --out data/brand
    workbench ingest openscrm --url mysql+pymysql://reader@host/scrm --out data/brand

Exit codes (for cron and Airflow):

====  ============================================================
0     success
1     a report failed for a reason other than data or parameters
      (its failure page is rendered and indexed)
2     bad arguments or report parameters, an unknown report (nothing was run)
3     bad input data (the data contract was violated, or a file or database of an
      ingest cannot be read), before or inside a notebook
4     an unexpected error (a bug: run again with --debug)
130   interrupted by SIGINT (Ctrl-C); 143 stopped by SIGTERM
====  ============================================================

``run`` returns the most serious code of its reports (3 over 2 over 1). A run stopped by
SIGTERM or SIGINT removes its temporary files and is recorded as ``interrupted`` in
``runs.json`` and the index.

Errors print one line to stderr (a data-contract error adds its first offending rows);
``--debug`` adds the traceback. Progress is logged to stderr; results go to stdout.

Nothing heavy is imported until a command runs, so every ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REPORT_FAILED, EXIT_BAD_ARGS, EXIT_BAD_DATA, EXIT_BUG = 0, 1, 2, 3, 4
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
EPILOG = ("exit codes: 0 ok, 1 a report failed, 2 bad arguments or parameters, 3 bad input data,\n"
          "            4 unexpected error (rerun with --debug), 130 SIGINT, 143 SIGTERM")


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: unwinds like Ctrl-C, so temporaries are removed and the run recorded."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's layout and show each option's default (when it has a real one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS, []) or action.required:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 as well; keep its message on one line
        self.print_usage(sys.stderr)
        print(f"workbench: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_ARGS)


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value
    return parse


def _report_names(notebooks: str | Path) -> list[str]:
    """Report notebooks in ``notebooks`` (names only: cheap enough for ``--help``)."""
    folder = Path(notebooks)
    return sorted(p.stem for p in folder.glob("*.ipynb") if not p.stem.startswith("_")) if folder.is_dir() else []


def _parser() -> argparse.ArgumentParser:
    # --debug / --quiet are accepted before or after the subcommand
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="log warnings and errors only")
    p = _Parser(prog="workbench", description="WeCom private-domain research workbench", epilog=EPILOG,
                parents=[common], formatter_class=_Formatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def add(name: str, help_: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=epilog, parents=[common],
                              formatter_class=_Formatter)

    as_of_help = ("YYYY-MM-DD, exclusive end of the data used (default: the day after the data ends). "
                  "For a backfill, rows at or after it are left out and counted; see --strict")
    strict_help = ("refuse data with rows at or after --as-of instead of leaving them out "
                   "(sets WORKBENCH_STRICT_AS_OF=1 for the report kernels)")

    s = add("simulate", "write a simulated brand (all contract tables + truth.json)")
    s.add_argument("--customers", type=_positive(int), default=100_000, help="customers registering in the window")
    s.add_argument("--seed", type=int, default=0, help="random seed (everything is deterministic for a seed)")
    s.add_argument("--out", required=True, help="output directory (refused if it holds data the simulator did "
                                                "not write, unless --force)")
    s.add_argument("--force", action="store_true", help="write into --out even if it holds other data "
                                                        "(its contract tables are replaced)")
    s.add_argument("--stores", type=_positive(int), default=60, help="stores")
    s.add_argument("--staff", type=_positive(int), default=300, help="active store guides")
    s.add_argument("--months", type=_positive(int), default=12, help="length of the simulated history")
    s.add_argument("--start", default="2025-01-01", help="first day of the simulated history")
    s.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="file format")
    s.add_argument("--chunk-customers", type=_positive(int), default=None, metavar="N",
                   help="simulate N customers at a time, writing each table as a folder of Parquet parts: "
                        "memory stays at one chunk's (1M customers ~3.5 GB) for any --customers")
    s.add_argument("--raw", action="store_true",
                   help="also write <out>/raw/: what the brand's servers would have logged (WeCom callbacks with "
                        "retries, delays and lost lines; batch/get_by_user snapshots; behaviour statistics; bills; "
                        "mass-send results; the brand's own tables; an OpenSCRM database dump), with the defects "
                        "injected and the ingest report a correct ingest must give in truth.json['raw']")
    s.add_argument("--raw-snapshot-days", type=_positive(int), default=1, metavar="N",
                   help="days between the raw export's API snapshots (daily snapshots of a 100k brand are ~2.5 GB)")

    v = add("validate", "check every table in a data directory against the contract")
    v.add_argument("--data", default="data/demo", help="data directory")
    v.add_argument("--as-of", default=None, help="YYYY-MM-DD: events on or after it are an error (strict)")

    ls = add("reports", "list the reports and their typed parameters with defaults")
    ls.add_argument("--notebooks", default="notebooks", help="folder of report notebooks")

    names = _report_names("notebooks")
    report_epilog = (f"reports: {', '.join(names)} (parameters: workbench reports)\n\n" if names else "") + EPILOG
    r = add("report", "run one report notebook and render HTML", epilog=report_epilog)
    r.add_argument("name", help="notebook name in --notebooks, e.g. ops_dashboard")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                   help="a notebook parameter (repeatable); lists as YAML: -p metrics '[gmv, orders]'")
    r.add_argument("--lang", default="zh", choices=["zh", "en"], help="report language")
    r.add_argument("--as-of", default=None, help=as_of_help)
    r.add_argument("--strict", action="store_true", help=strict_help)
    r.add_argument("--data", default="data/demo", help="data directory")
    r.add_argument("--out", default="reports", help="reports folder (the published one)")
    r.add_argument("--notebooks", default="notebooks", help="folder of report notebooks")
    r.add_argument("--label", default=None,
                   help="suffix of the page's file name; default: derived from the parameters that differ "
                        "from the notebook's defaults (-p store_id S001 gives store_id-S001)")
    r.add_argument("--timeout", type=_positive(float), default=None, help="seconds any one cell may run")

    b = add("run", "run a schedule of reports; continues past failures")
    b.add_argument("schedule", help="YAML file, e.g. schedules/daily.yml")
    b.add_argument("--as-of", default=None, help=as_of_help)
    b.add_argument("--strict", action="store_true", help=strict_help)
    b.add_argument("--data", default="data/demo", help="data directory")
    b.add_argument("--out", default="reports", help="reports folder (the published one)")
    b.add_argument("--notebooks", default="notebooks", help="folder of report notebooks")
    b.add_argument("--timeout", type=_positive(float), default=None, help="seconds any one cell may run")
    b.add_argument("--skip-up-to-date", action="store_true",
                   help="do not re-run reports whose notebook, data and parameters are unchanged "
                        "since their last success")
    b.add_argument("--workers", type=_positive(int), default=None, metavar="N",
                   help="reports run at a time, each in its own kernel (default: one per core), capped by "
                        "--memory-limit at 2 GiB per kernel")
    b.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="memory for the whole batch, e.g. 8GB (default: WORKBENCH_MEMORY_LIMIT, else half the "
                        "machine); each kernel's DuckDB gets half of its equal share")
    b.add_argument("--no-layer", action="store_true",
                   help="do not build or reuse the derived layer first (each report computes its relations)")

    d = add("build", "build the derived layer the reports read (or say it is current); incremental by day")
    d.add_argument("--data", default="data/demo", help="data directory")
    d.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the day after the data ends)")
    d.add_argument("--layer", default=None, metavar="DIR",
                   help="where the layer goes (default: the layer folder of the data, where reports look)")
    d.add_argument("--full", action="store_true", help="rebuild everything, even when an incremental build would do")
    d.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="memory for the build, e.g. 8GB (default: WORKBENCH_MEMORY_LIMIT, else half the machine); "
                        "DuckDB gets three quarters of it after 512 MiB for the process, as in `run`")

    a = add("at-risk", "export the ranked list of relationships at risk of deletion (CSV, for operations)")
    a.add_argument("--data", default="data/demo", help="data directory")
    a.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the day after the data ends)")
    a.add_argument("--out", default=None,
                   help="CSV path; it holds real customer ids (written with mode 0600). Default: "
                        "<parent of --data>/exports/at_risk_<as-of>.csv, beside the data, never in the repository")
    a.add_argument("--horizon-days", type=_positive(float), default=30.0, help="risk horizon")
    a.add_argument("--top", type=_positive(int), default=None, help="keep the N highest values at risk")

    u = add("audience", "export the recommended audience of the next task (CSV by store and guide, masked ids)")
    u.add_argument("--data", default="data/demo", help="data directory")
    u.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the day after the data ends)")
    u.add_argument("--experiment", default="", help="the randomised experiment to learn from (default: the latest "
                                                     "customer-randomised one with two arms)")
    u.add_argument("--outcome", default="gmv", choices=("gmv", "orders"), help="what the task should increase")
    u.add_argument("--top-share", type=float, default=0.3, help="share of the open customers to target (0-1)")
    u.add_argument("--method", default="dr", choices=("dr", "t", "x"), help="the meta-learner (as the report's)")
    u.add_argument("--folds", type=_positive(int), default=5, help="cross-fitting folds (as the report's n_folds)")
    u.add_argument("--raw-ids", action="store_true",
                   help="real customer ids instead of keyed tokens (the operations export; mode 0600)")
    u.add_argument("--out", default=None, help="CSV path (default: <parent of --data>/exports/"
                                                "targeting_<experiment>_<as-of>.csv, never in the repository)")

    i = add("index", "rebuild reports/index.html from reports/runs.json")
    i.add_argument("--out", default="reports", help="reports folder")
    _ingest_parser(add("ingest", "turn a brand's WeCom or SCRM data into contract tables plus an ingest report"),
                   common)
    return p


def _ingest_parser(g: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``workbench ingest wecom|openscrm``: each writes the contract tables and the ingest report into --out."""
    sources = g.add_subparsers(dest="source", required=True, parser_class=_Parser, metavar="SOURCE")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sources.add_parser(name, help=help_, description=help_, epilog=EPILOG, parents=[common],
                                  formatter_class=_Formatter)

    w = add("wecom", "decrypted WeCom callbacks and API snapshots -> contract tables + ingest report")
    w.add_argument("--events", action="append", required=True, metavar="PATH",
                   help="callback file or folder (repeatable): one decrypted callback per line, JSON or <xml>")
    w.add_argument("--snapshot", action="append", default=[], metavar="PATH",
                   help="JSON Lines of wrapped API responses (fetched_at, api, response; repeatable); "
                        "the earliest fetched_at is the go-live snapshot")
    w.add_argument("--behavior", action="append", default=None, metavar="PATH",
                   help="get_user_behavior_data responses, one userid per line -> staff_daily")
    w.add_argument("--bills", action="append", default=None, metavar="PATH",
                   help="externalpay/get_bill_list responses -> orders (wecom_transfer)")
    w.add_argument("--mass-sends", action="append", default=None, metavar="PATH",
                   help="get_groupmsg_send_result responses -> mass_sends")
    w.add_argument("--tables", default=None, metavar="DIR",
                   help="the brand's own contract tables (staff, customers, identity_links, orders ...): "
                        "copied through and used for staff.left_at and identity resolution")
    w.add_argument("--out", required=True, metavar="DIR", help="output folder for the contract tables and report")

    o = add("openscrm", "an OpenSCRM MySQL database -> contract tables + ingest report")
    o.add_argument("--url", required=True, help="SQLAlchemy URL of the OpenSCRM database (read-only user)")
    o.add_argument("--tables", default=None, metavar="DIR", help="the brand's own contract tables, copied through")
    o.add_argument("--out", required=True, metavar="DIR", help="output folder for the contract tables and report")


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_brand

    out = Path(args.out)
    if args.raw and args.chunk_customers:
        from .errors import ParameterError

        raise ParameterError("--raw writes the exports from the whole brand in memory; leave out --chunk-customers")
    brand = simulate_brand(n_customers=args.customers, seed=args.seed, out=out, n_stores=args.stores,
                           n_staff=args.staff, months=args.months, start=args.start, fmt=args.format, progress=True,
                           chunk_customers=args.chunk_customers, force=args.force)
    counts = ", ".join(f"{k} {v:,}" for k, v in brand.truth["counts"].items() if k in ("customers", "orders",
                                                                                     "contact_events", "touches"))
    chunks = f" in {brand.truth['chunks']['n_chunks']} chunks" if "chunks" in brand.truth else ""
    n_tables = len([k for k in brand.truth["counts"] if k != "contacts_added"])
    print(f"wrote {n_tables} tables and truth.json to {out}{chunks} ({counts})")
    if args.raw:
        raw = _write_raw(brand, out, args.seed, args.raw_snapshot_days)
        print(f"wrote the raw exports to {out / 'raw'} ({raw['expected_report']['callback_lines']:,} callback lines, "
              f"{raw['snapshots']:,} snapshots); ingest them with: workbench ingest wecom --events "
              f"{out / 'raw' / 'callbacks.jsonl'} --snapshot {out / 'raw' / 'snapshots.jsonl'} --behavior "
              f"{out / 'raw' / 'behavior.jsonl'} --bills {out / 'raw' / 'bills.jsonl'} --mass-sends "
              f"{out / 'raw' / 'mass_sends.jsonl'} --tables {out / 'raw' / 'tables'} --out DIR")
    return EXIT_OK


def _write_raw(brand: Any, out: Path, seed: int, snapshot_days: int) -> dict[str, Any]:
    """Raw WeCom exports and an OpenSCRM dump of ``brand`` under ``out/raw``; the truth gains ``raw``."""
    import json

    from .simulate.raw import RawRates, write_raw_exports
    from .simulate.scrm import openscrm_tables, write_openscrm_dump

    raw = write_raw_exports(brand.tables, brand.truth, out / "raw", seed=seed,
                            rates=RawRates(snapshot_every_days=snapshot_days))
    write_openscrm_dump(openscrm_tables(brand.tables, seed=seed), out / "raw" / "openscrm.sql")
    brand.truth["raw"] = raw
    (out / "truth.json").write_text(json.dumps(brand.truth, indent=2, ensure_ascii=False, default=str) + "\n",
                                    encoding="utf-8")
    return raw


def _validate(args: argparse.Namespace) -> int:
    """Validate each table on its own, so one bad table does not hide the state of the others."""
    from .engine import open_workbench, quote
    from .errors import DataContractError

    # validating against an as-of date is a check that nothing lies at or after it: strict
    wb = open_workbench(args.data, as_of=args.as_of, strict=args.as_of is not None)
    try:
        if not hasattr(wb, "validate"):
            for table, n in wb.validate_all().items():
                print(f"ok      {table:<16} {n:>12,} rows")
            return EXIT_OK
        bad = 0
        for table in wb.tables:
            try:
                wb.validate(table)
                n = int(wb.query(f"SELECT COUNT(*) AS n FROM {quote(table)}")["n"].iloc[0])
                print(f"ok      {table:<16} {n:>12,} rows")
            except DataContractError as err:
                bad += 1
                print(f"ERROR   {table:<16} {err}", file=sys.stderr)
        if not bad:  # what the reading rules changed, absent tables, merged duplicates, rows left out
            for line in wb.validate_all().notes():
                print(line)
    finally:
        wb.close()
    if bad:
        print(f"workbench: bad input data: {bad} of {len(wb.tables)} tables break the contract", file=sys.stderr)
        return EXIT_BAD_DATA
    return EXIT_OK


def _reports(args: argparse.Namespace) -> int:
    """Each report with its title and the typed parameters of its ``parameters`` cell."""
    from .i18n import has_key, t
    from .reports.parameters import _NO_DEFAULT, STANDARD_PARAMETERS, notebook_parameters

    names = _report_names(args.notebooks)
    if not names:
        print(f"no report notebooks in {args.notebooks}", file=sys.stderr)
        return EXIT_BAD_ARGS
    for name in names:
        title = t(f"{name}.title", "en") if has_key(f"{name}.title") else ""
        print(f"{name:<22} {title}")
        for param in notebook_parameters(Path(args.notebooks) / f"{name}.ipynb").values():
            if param.name in STANDARD_PARAMETERS:
                continue
            typ = param.type.__name__ + (f"[{param.item_type.__name__}]" if param.item_type else "") + \
                (" | None" if param.nullable else "")
            default = "(an expression)" if param.default is _NO_DEFAULT else repr(param.default)
            print(f"    -p {param.name:<24} {typ:<12} default {default}")
    print("every report also takes --lang, --as-of and --data")
    return EXIT_OK


def run_exit_code(run: Any) -> int:
    """The exit code of one report run: 0 ok, 3 bad data, 2 bad parameters, 1 any other failure."""
    if run.ok:
        return EXIT_OK
    if getattr(run, "error_type", None) == "DataContractError":
        return EXIT_BAD_DATA
    if getattr(run, "error_type", None) == "ParameterError":
        return EXIT_BAD_ARGS
    return EXIT_REPORT_FAILED


def _strict(args: argparse.Namespace) -> None:
    """``--strict``: report kernels inherit the environment, so the engine sees it there too."""
    if getattr(args, "strict", False):
        os.environ["WORKBENCH_STRICT_AS_OF"] = "1"


def _report(args: argparse.Namespace) -> int:
    from .errors import ParameterError
    from .reports import run_report

    _strict(args)
    names = [k for k, _ in args.parameter]
    repeated = sorted({k for k in names if names.count(k) > 1})
    if repeated:
        raise ParameterError(f"parameter(s) given twice: {', '.join(repeated)}")
    run = run_report(args.name, dict(args.parameter), lang=args.lang, as_of=args.as_of, data_dir=args.data,
                     out_dir=args.out, notebooks_dir=args.notebooks, label=args.label, timeout=args.timeout)
    if run.ok:
        print(f"ok      {run.stem} -> {run.html_path}")
        return EXIT_OK
    print(f"workbench: report failed: {run.stem}: {run.error} (see {run.html_path})", file=sys.stderr)
    return run_exit_code(run)


def _run(args: argparse.Namespace) -> int:
    from .reports import run_schedule

    _strict(args)
    runs = run_schedule(args.schedule, data_dir=args.data, as_of=args.as_of, out_dir=args.out,
                        notebooks_dir=args.notebooks, skip_up_to_date=args.skip_up_to_date, timeout=args.timeout,
                        workers=args.workers, memory_limit=args.memory_limit, layer=not args.no_layer)
    failed = [r for r in runs if not r.ok]
    for r in runs:
        if r.ok:
            print(f"ok      {r.stem:<40} {r.html_path}")
        else:
            print(f"FAILED  {r.stem:<40} {r.error}" + (f" (see {r.html_path})" if r.html_path else ""))
    print(f"{len(runs) - len(failed)} ok, {len(failed)} failed; index: {Path(args.out) / 'index.html'}")
    return max((run_exit_code(r) for r in failed), default=EXIT_OK)


def _build(args: argparse.Namespace) -> int:
    """Build (or reuse) the derived layer; one line: mode, relations, rows, seconds and why."""
    from .derived_layer import build_layer
    from .reports.run import check_as_of

    options = {}
    if args.memory_limit:
        from .reports.schedule import plan_batch

        options["memory_limit"] = plan_batch(1, args.memory_limit, 1).build_memory_limit
    as_of = check_as_of(args.as_of) if args.as_of else None
    build = build_layer(args.data, as_of=as_of, out=args.layer, full=args.full, **options)
    rows = sum(build.relations.values())
    print(f"{build.mode:<12} {len(build.relations)} relations, {rows:,} rows in {build.seconds:.1f} s as of "
          f"{build.as_of} ({build.reason}) -> {build.path}")
    return EXIT_OK


def default_export_path(data_dir: str | Path, as_of: str) -> Path:
    """``<parent of data_dir>/exports/at_risk_<as_of>.csv``: beside the data, outside any checkout.

    Examples
    --------
    >>> default_export_path("/srv/brand/data", "2026-01-01").as_posix()
    '/srv/brand/exports/at_risk_2026-01-01.csv'
    """
    return Path(data_dir).resolve().parent / "exports" / f"at_risk_{as_of}.csv"


def _at_risk(args: argparse.Namespace) -> int:
    from .churn.risk import export_at_risk
    from .engine import open_workbench
    from .reports import default_as_of

    as_of = args.as_of or default_as_of(args.data)
    out = Path(args.out) if args.out else default_export_path(args.data, as_of)
    wb = open_workbench(args.data, as_of=as_of)
    try:
        path = export_at_risk(wb, as_of, out, horizon_days=args.horizon_days, top=args.top)
    finally:
        wb.close()
    os.chmod(path, 0o600)  # real customer ids: for the operations team, not for whoever shares the machine
    print(f"wrote {path}")
    return EXIT_OK


def _audience(args: argparse.Namespace) -> int:
    """Learn the targeting policy from the experiment and write its audience; a page with nothing to target exits 2."""
    from .engine import open_workbench
    from .pages.targeting import targeting_page
    from .reports import default_as_of
    from .targeting.audience import export_audience

    as_of = args.as_of or default_as_of(args.data)
    wb = open_workbench(args.data, as_of=as_of)
    try:
        page = targeting_page(wb, args.experiment or None, outcome=args.outcome, top_share=args.top_share,
                              method=args.method, n_folds=args.folds)
        path = export_audience(wb, page, args.out, top_share=args.top_share, masked=not args.raw_ids,
                               data_dir=args.data)
    finally:
        wb.close()
    print(f"wrote {path}")
    return EXIT_OK


def _index(args: argparse.Namespace) -> int:
    from .reports import write_index

    print(write_index(args.out))
    return EXIT_OK


def _ingest(args: argparse.Namespace) -> int:
    """Run one ingest; print what each rule changed and where the tables went."""
    if args.source == "wecom":
        from .ingest.wecom import ingest_wecom

        report = ingest_wecom(args.events, args.out, snapshots=args.snapshot, behavior=args.behavior,
                              bills=args.bills, mass_sends=args.mass_sends, tables=args.tables)
    else:
        from .ingest.openscrm import ingest_openscrm

        report = ingest_openscrm(args.url, args.out, tables=args.tables)
    for line in report.notes():
        print(line)
    for row in report.rejected[:5]:
        print(f"rejected {row['file']}, line {row['line']}: {row['reason']}")
    tables = ", ".join(f"{t} {n:,}" for t, n in report.tables.items())
    print(f"wrote {len(report.tables)} tables to {args.out} ({tables}) and the ingest report; "
          f"check them with: workbench validate --data {args.out}")
    return EXIT_OK


HANDLERS = {"simulate": _simulate, "validate": _validate, "reports": _reports, "report": _report, "run": _run,
            "build": _build, "index": _index, "at-risk": _at_risk, "audience": _audience, "ingest": _ingest}


class _StderrHandler(logging.StreamHandler):
    """Logging handler writing to the current ``sys.stderr``.

    Writes to ``sys.stderr`` as it is when a record is emitted (it may be replaced after
    ``main`` returns, by a test's capture or a wrapper; the old stream may be closed).
    """

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it; always follow sys.stderr
        pass


def _configure_logging(quiet: bool) -> None:
    """Progress lines from the package go to stderr; papermill's own chatter stays quiet."""
    logger = logging.getLogger("workbench")
    if not any(getattr(h, "_workbench_cli", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        handler._workbench_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    logging.getLogger("papermill").setLevel(logging.WARNING)


def _raise_interrupted(signum: int, frame: Any) -> None:
    # one signal is enough: a second SIGTERM during the clean-up must not cut it short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Interrupted(signum)


def _handle_signals() -> None:
    """SIGTERM (Airflow, Kubernetes, systemd) and SIGINT unwind the run instead of killing it mid-write."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``workbench`` command; returns the exit code (see the module docstring)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed by argparse
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_ARGS
    debug, quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    _configure_logging(quiet)
    is_main_thread = threading.current_thread() is threading.main_thread()  # signals: main thread only
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)} if is_main_thread else {}
    try:
        if is_main_thread and args.command in ("report", "run"):
            _handle_signals()
        return HANDLERS[args.command](args)
    except KeyboardInterrupt as stop:
        signum = getattr(stop, "signum", signal.SIGINT)
        print(f"workbench: interrupted by {signal.Signals(signum).name}; temporary files removed"
              + ("; the run is recorded as interrupted" if args.command in ("report", "run") else ""),
              file=sys.stderr)
        return EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
    except BrokenPipeError:  # `workbench reports | head`: the reader left early, nothing went wrong here
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (so the interpreter's final flush stays quiet)
        return EXIT_OK
    except Exception as err:  # never die silently: one clear line, the traceback with --debug
        code, what = _classify(err)
        hint = " (rerun with --debug for the traceback)" if code == EXIT_BUG and not debug else ""
        print(f"workbench: {what}: {err}{hint}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _classify(err: Exception) -> tuple[int, str]:
    """Exit code and label of an error that reached the top."""
    from .errors import DataContractError, ParameterError, ReportError, SourceUnavailableError

    if isinstance(err, ParameterError):
        return EXIT_BAD_ARGS, "bad parameter"
    if isinstance(err, DataContractError):
        return EXIT_BAD_DATA, "bad input data"
    if isinstance(err, SourceUnavailableError):
        return EXIT_BAD_DATA, "input unavailable"
    if isinstance(err, ReportError):
        return EXIT_REPORT_FAILED, "report error"
    return EXIT_BUG, f"unexpected error: {type(err).__name__}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
