"""`python -m loadtests SUBCOMMAND ...`: one dispatcher, one module per subcommand.

    run       start a local run (loadtests/cli/run.py)
    gate      judge a results file against the SLO thresholds (loadtests/cli/gate.py)
    analyze   bottlenecks, error budgets and recommendations (loadtests/cli/analyze.py)
    report    the self-contained HTML report (loadtests/cli/report.py)
    notify    Slack, GitHub issue, pull-request comment (loadtests/cli/notify.py)
    upload    the report files to S3 (loadtests/cli/upload.py)

Each module's `add_parser(subparsers)` adds its subcommand and sets `handler`, its run function
(`args -> exit code`), as a parser default. A LoadTestError (a user mistake or a run that cannot
proceed) prints its message, not a traceback, and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loadtests import exit_codes
from loadtests.cli import analyze, gate, notify, report, run, upload
from loadtests.errors import LoadTestError

SUBCOMMAND_MODULES = (run, gate, analyze, report, notify, upload)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests", description="odavl-perf load tests")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return exit_codes.COULD_NOT_RUN
    try:
        return int(handler(args))
    except LoadTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.COULD_NOT_RUN


if __name__ == "__main__":  # tests import main() and build_parser() from this module
    sys.exit(main())
