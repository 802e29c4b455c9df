"""The ``workbench`` command: simulate, validate, report, run, index, at-risk.

Examples::

    workbench simulate --customers 100000 --seed 7 --out data/demo
    workbench validate --data data/demo
    workbench report ops_dashboard -p period_days 7 --lang zh --data data/demo
    workbench run schedules/daily.yml --data data/demo
    workbench index

Exit codes (for cron and Airflow):

====  ============================================================
0     success
1     a report failed (its failure page is rendered and indexed)
2     bad arguments or report parameters (nothing was run)
3     bad input data (the data contract was violated)
4     an unexpected error (a bug: run again with --debug)
====  ============================================================

Errors print one line to stderr (a data-contract error adds its first offending rows);
``--debug`` adds the traceback. Progress is logged to stderr; results go to stdout.
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from .errors import DataContractError, ParameterError, ReportError

EXIT_OK, EXIT_REPORT_FAILED, EXIT_BAD_ARGS, EXIT_BAD_DATA, EXIT_BUG = 0, 1, 2, 3, 4
EPILOG = ("exit codes: 0 ok, 1 a report failed, 2 bad arguments or parameters, 3 bad input data,\n"
          "            4 unexpected error (rerun with --debug)")


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


def _parser() -> argparse.ArgumentParser:
    # --debug / --quiet are accepted before or after the subcommand
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="log warnings and errors only")
    p = _Parser(prog="workbench", description="WeCom private-domain research workbench", epilog=EPILOG,
                parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=EPILOG, parents=[common],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    s = add("simulate", "write a simulated brand (all contract tables + truth.json)")
    s.add_argument("--customers", type=_positive(int), default=100_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--stores", type=_positive(int), default=60)
    s.add_argument("--staff", type=_positive(int), default=300)
    s.add_argument("--months", type=_positive(int), default=12)
    s.add_argument("--start", default="2025-01-01", help="first day of the simulated history")
    s.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    s.add_argument("--chunk-customers", type=_positive(int), default=None, metavar="N",
                   help="simulate N customers at a time, writing each table as a folder of Parquet parts: "
                        "memory stays at one chunk's (1M customers ~3.5 GB) for any --customers")

    v = add("validate", "check every table in a data directory against the contract")
    v.add_argument("--data", default="data/demo")
    v.add_argument("--as-of", default=None, help="YYYY-MM-DD: events on or after it are an error")

    r = add("report", "run one report notebook and render HTML")
    r.add_argument("name", help="notebook name in --notebooks, e.g. ops_dashboard")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                   help="a notebook parameter (repeatable); lists as YAML: -p metrics '[gmv, orders]'")
    r.add_argument("--lang", default="zh", choices=["zh", "en"])
    r.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the day after the data ends)")
    r.add_argument("--data", default="data/demo")
    r.add_argument("--out", default="reports")
    r.add_argument("--notebooks", default="notebooks")
    r.add_argument("--label", default=None, help="suffix for several runs of one report on a date")
    r.add_argument("--timeout", type=_positive(float), default=None, help="seconds any one cell may run")

    b = add("run", "run a schedule of reports; continues past failures")
    b.add_argument("schedule", help="YAML file, e.g. schedules/daily.yml")
    b.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the day after the data ends)")
    b.add_argument("--data", default="data/demo")
    b.add_argument("--out", default="reports")
    b.add_argument("--notebooks", default="notebooks")
    b.add_argument("--timeout", type=_positive(float), default=None, help="seconds any one cell may run")
    b.add_argument("--skip-up-to-date", action="store_true",
                   help="do not re-run reports whose notebook, data and parameters are unchanged since their last success")

    a = add("at-risk", "export the ranked list of relationships at risk of deletion (CSV, for operations)")
    a.add_argument("--data", default="data/demo")
    a.add_argument("--as-of", default=None)
    a.add_argument("--out", required=True, help="CSV path; it holds customer ids: keep it inside operations")
    a.add_argument("--horizon-days", type=_positive(float), default=30.0)
    a.add_argument("--top", type=_positive(int), default=None)

    i = add("index", "rebuild reports/index.html from reports/runs.json")
    i.add_argument("--out", default="reports")
    return p


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_brand

    out = Path(args.out)
    brand = simulate_brand(n_customers=args.customers, seed=args.seed, out=out, n_stores=args.stores,
                           n_staff=args.staff, months=args.months, start=args.start, fmt=args.format, progress=True,
                           chunk_customers=args.chunk_customers)
    counts = ", ".join(f"{k} {v:,}" for k, v in brand.truth["counts"].items() if k in ("customers", "orders",
                                                                                     "contact_events", "touches"))
    chunks = f" in {brand.truth['chunks']['n_chunks']} chunks" if "chunks" in brand.truth else ""
    n_tables = len([k for k in brand.truth["counts"] if k != "contacts_added"])
    print(f"wrote {n_tables} tables and truth.json to {out}{chunks} ({counts})")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    """Validate each table on its own, so one bad table does not hide the state of the others."""
    from .engine import open_workbench

    wb = open_workbench(args.data, as_of=args.as_of)
    try:
        if not hasattr(wb, "validate"):
            for table, n in wb.validate_all().items():
                print(f"ok      {table:<16} {n:>12,} rows")
            return EXIT_OK
        bad = 0
        for table in wb.tables:
            try:
                wb.validate(table)
                n = int(wb.query(f'SELECT COUNT(*) AS n FROM "{table}"')["n"].iloc[0])
                print(f"ok      {table:<16} {n:>12,} rows")
            except DataContractError as err:
                bad += 1
                print(f"ERROR   {table:<16} {err}", file=sys.stderr)
    finally:
        wb.close()
    if bad:
        print(f"workbench: bad input data: {bad} of {len(wb.tables)} tables break the contract", file=sys.stderr)
        return EXIT_BAD_DATA
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from .reports import run_report

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
    return EXIT_REPORT_FAILED


def _run(args: argparse.Namespace) -> int:
    from .reports import run_schedule

    runs = run_schedule(args.schedule, data_dir=args.data, as_of=args.as_of, out_dir=args.out,
                        notebooks_dir=args.notebooks, skip_up_to_date=args.skip_up_to_date, timeout=args.timeout)
    failed = [r for r in runs if not r.ok]
    for r in runs:
        if r.ok:
            print(f"ok      {r.stem:<40} {r.html_path}")
        else:
            print(f"FAILED  {r.stem:<40} {r.error}" + (f" (see {r.html_path})" if r.html_path else ""))
    print(f"{len(runs) - len(failed)} ok, {len(failed)} failed; index: {Path(args.out) / 'index.html'}")
    return EXIT_REPORT_FAILED if failed else EXIT_OK


def _at_risk(args: argparse.Namespace) -> int:
    from .churn.risk import export_at_risk
    from .engine import open_workbench
    from .reports import default_as_of

    as_of = args.as_of or default_as_of(args.data)
    wb = open_workbench(args.data, as_of=as_of)
    path = export_at_risk(wb, as_of, args.out, horizon_days=args.horizon_days, top=args.top)
    print(f"wrote {path}")
    return EXIT_OK


def _index(args: argparse.Namespace) -> int:
    from .reports import write_index

    print(write_index(args.out))
    return EXIT_OK


HANDLERS = {"simulate": _simulate, "validate": _validate, "report": _report, "run": _run, "index": _index,
            "at-risk": _at_risk}


def _configure_logging(quiet: bool) -> None:
    """Progress lines from the package go to stderr; papermill's own chatter stays quiet."""
    logger = logging.getLogger("workbench")
    if not any(getattr(h, "_workbench_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        handler._workbench_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    logging.getLogger("papermill").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``workbench`` command; returns the exit code (see the module docstring)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed by argparse
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_ARGS
    debug, quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    _configure_logging(quiet)
    try:
        return HANDLERS[args.command](args)
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # never die silently: one clear line, the traceback with --debug
        code, what = _classify(err)
        hint = " (rerun with --debug for the traceback)" if code == EXIT_BUG and not debug else ""
        print(f"workbench: {what}: {err}{hint}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return code


def _classify(err: Exception) -> tuple[int, str]:
    """Exit code and label of an error that reached the top."""
    if isinstance(err, ParameterError):
        return EXIT_BAD_ARGS, "bad parameter"
    if isinstance(err, DataContractError):
        return EXIT_BAD_DATA, "bad input data"
    if isinstance(err, ReportError):
        return EXIT_REPORT_FAILED, "report error"
    return EXIT_BUG, f"unexpected error: {type(err).__name__}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
