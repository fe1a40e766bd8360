"""`python -m loadtests report RESULTS.json -o summary.html`: write one self-contained HTML report.

The thresholds are those the gate would use (`--threshold LINE`, `--stack-file FILE`, else the
lines the results record, else the catalogue defaults); `--baseline FILE.json` adds the comparison
with that run. The page itself is `loadtests.report.html.render_report`. Exit 0 when the report
was written, 2 when the results could not be read or the file could not be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from loadtests import exit_codes
from loadtests.cli.options import thresholds_for
from loadtests.errors import LoadTestError
from loadtests.report.html import render_report
from loadtests.results.document import load_document

__all__ = ["add_parser", "run_report"]


def add_parser(subparsers: Any) -> None:
    """Register `report` on the `python -m loadtests` parser."""
    parser = subparsers.add_parser(
        "report",
        help="write the self-contained HTML report of a results file",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("results", type=Path, help="results JSON written by a run")
    parser.add_argument("-o", "--output", type=Path, required=True, help="HTML file to write")
    parser.add_argument("--baseline", type=Path, help="results JSON of the baseline run to compare with")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--threshold", action="append", metavar="LINE", help="an SLO threshold line (repeatable)"
    )
    source.add_argument("--stack-file", type=Path, help="read the thresholds from this Pulumi.<stack>.yaml")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    """The `report` subcommand; returns the process exit code."""
    try:
        results = load_document(args.results)
        baseline = load_document(args.baseline) if args.baseline else None
        html = render_report(results, thresholds_for(args, results), baseline)
    except LoadTestError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_codes.COULD_NOT_RUN
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(html, encoding="utf-8")
    except OSError as error:
        print(f"error: cannot write {args.output}: {error.strerror}", file=sys.stderr)
        return exit_codes.COULD_NOT_RUN
    print(f"HTML report: {args.output}")
    return exit_codes.PASS
