"""The ``workbench`` command: simulate, validate, report, run, index.

Exit codes (for cron and Airflow):

====  ============================================================
0     success
1     a report failed (its failure page is rendered and indexed)
2     bad arguments or report parameters (nothing was run)
3     bad input data (the data contract was violated)
4     an unexpected error (a bug: run again with --debug)
====  ============================================================

Errors print one line to stderr; ``--debug`` adds the traceback.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from .errors import DataContractError, ParameterError, ReportError

EXIT_OK, EXIT_REPORT_FAILED, EXIT_BAD_ARGS, EXIT_BAD_DATA, EXIT_BUG = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 as well; keep its message on one line
        self.print_usage(sys.stderr)
        print(f"workbench: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_ARGS)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description="WeCom private-domain research workbench",
                epilog="exit codes: 0 ok, 1 report failed, 2 bad arguments, 3 bad input data, 4 unexpected error",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("simulate", help="write a simulated brand (all contract tables + truth.json)")
    s.add_argument("--customers", type=int, default=100_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--stores", type=int, default=60)
    s.add_argument("--staff", type=int, default=300)
    s.add_argument("--months", type=int, default=12)
    s.add_argument("--start", default="2025-01-01")
    s.add_argument("--format", choices=["parquet", "csv"], default="parquet")

    v = sub.add_parser("validate", help="check every table in a data directory against the contract")
    v.add_argument("--data", default="data/demo")
    v.add_argument("--as-of", default=None)

    r = sub.add_parser("report", help="run one report notebook and render HTML")
    r.add_argument("name")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[])
    r.add_argument("--lang", default="zh", choices=["zh", "en"])
    r.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the day after the data ends)")
    r.add_argument("--data", default="data/demo")
    r.add_argument("--out", default="reports")
    r.add_argument("--notebooks", default="notebooks")
    r.add_argument("--label", default=None, help="suffix for several runs of one report on a date")

    b = sub.add_parser("run", help="run a schedule of reports; continues past failures")
    b.add_argument("schedule")
    b.add_argument("--as-of", default=None)
    b.add_argument("--data", default="data/demo")
    b.add_argument("--out", default="reports")
    b.add_argument("--notebooks", default="notebooks")
    b.add_argument("--skip-up-to-date", action="store_true",
                   help="do not re-run reports whose notebook, data and parameters are unchanged since their last success")

    a = sub.add_parser("at-risk", help="export the ranked list of relationships at risk of deletion (CSV, for operations)")
    a.add_argument("--data", default="data/demo")
    a.add_argument("--as-of", default=None)
    a.add_argument("--out", required=True, help="CSV path; it holds customer ids: keep it inside operations")
    a.add_argument("--horizon-days", type=float, default=30.0)
    a.add_argument("--top", type=int, default=None)

    i = sub.add_parser("index", help="rebuild reports/index.html")
    i.add_argument("--out", default="reports")
    return p


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_brand

    out = Path(args.out)
    brand = simulate_brand(n_customers=args.customers, seed=args.seed, out=out, n_stores=args.stores,
                           n_staff=args.staff, months=args.months, start=args.start, fmt=args.format, progress=True)
    counts = ", ".join(f"{k} {v:,}" for k, v in brand.truth["counts"].items() if k in ("customers", "orders",
                                                                                     "contact_events", "touches"))
    print(f"wrote {len(brand.tables)} tables and truth.json to {out} ({counts})")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from .engine import open_workbench

    wb = open_workbench(args.data, as_of=args.as_of)
    for table, n in wb.validate_all().items():
        print(f"ok  {table:<16} {n:>12,} rows")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from .reports import run_report

    params = dict(args.parameter)
    run = run_report(args.name, params, lang=args.lang, as_of=args.as_of, data_dir=args.data, out_dir=args.out,
                     notebooks_dir=args.notebooks, label=args.label)
    if run.ok:
        print(f"ok      {run.name} [{run.lang}] -> {run.html_path}")
        return EXIT_OK
    print(f"FAILED  {run.name} [{run.lang}]: {run.error} (see {run.html_path})", file=sys.stderr)
    return EXIT_REPORT_FAILED


def _run(args: argparse.Namespace) -> int:
    from .reports import run_schedule

    runs = run_schedule(args.schedule, data_dir=args.data, as_of=args.as_of, out_dir=args.out,
                        notebooks_dir=args.notebooks, skip_up_to_date=args.skip_up_to_date)
    failed = [r for r in runs if not r.ok]
    for r in runs:
        stream = sys.stdout if r.ok else sys.stderr
        detail = r.html_path if r.ok else f"{r.error}"
        print(f"{'ok    ' if r.ok else 'FAILED'}  {r.name} [{r.lang}] {detail}", file=stream)
    print(f"{len(runs) - len(failed)} ok, {len(failed)} failed; index: {Path(args.out).resolve() / 'index.html'}")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"simulate": _simulate, "validate": _validate, "report": _report, "run": _run, "index": _index,
               "at-risk": _at_risk}
    try:
        return handler[args.command](args)
    except ParameterError as err:
        print(f"workbench: bad parameter: {err}", file=sys.stderr)
        code = EXIT_BAD_ARGS
    except DataContractError as err:
        print(f"workbench: bad input data: {err}", file=sys.stderr)
        code = EXIT_BAD_DATA
    except ReportError as err:
        print(f"workbench: report error: {err}", file=sys.stderr)
        code = EXIT_REPORT_FAILED
    except Exception as err:  # never die silently: one clear line, the traceback with --debug
        print(f"workbench: unexpected error: {type(err).__name__}: {err}", file=sys.stderr)
        code = EXIT_BUG
    if args.debug:
        traceback.print_exc()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
