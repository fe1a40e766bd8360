"""`python -m loadtests SUBCOMMAND ...`: one dispatcher, one module per subcommand.

Each module listed in SUBCOMMAND_MODULES exposes `add_parser(subparsers)`, which adds its
subcommand and sets `handler=<function(args) -> int exit code>` as a parser default. A module
that is not present is skipped, so subcommands plug in without editing this file.
A LoadTestError (a user mistake or a run that cannot proceed) prints its message, not a
traceback, and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from loadtests.errors import LoadTestError

SUBCOMMAND_MODULES = (
    "loadtests.cli_run",  # run
    "loadtests.verdict_cli",  # gate
    "loadtests.analysis",  # analyze
    "loadtests.report_html",  # report
)
USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests", description="odavl-perf load tests")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that subcommand is not part of this checkout
            raise
        try:
            module.add_parser(subparsers)
        except argparse.ArgumentError:
            continue  # its subcommand is already registered by an earlier module
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return USAGE_ERROR
    try:
        return int(handler(args))
    except LoadTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
