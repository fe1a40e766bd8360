"""`python -m loadtests analyze RESULTS.json`: what a run measured, where it is slow, what to do.

The analysis (`loadtests.analysis.engine.analyze`) of a results document, rendered to the
console (colour), to a timestamped text report under reports/analysis/, and optionally to JSON.
The thresholds are those the gate would use (`--threshold`, `--thresholds-file`, `--stack-file`,
the lines the results record, else the catalogue's defaults: loadtests/cli/options.py).
`--dsn-env VAR` adds the statements pg_stat_statements finds slow to the index suggestions.

Exit codes (loadtests/exit_codes.py): 0 when the analysis was shown and written, 2 when it could
not be made (the results, a threshold or the DSN variable is wrong) or a report file could not
be written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from loadtests import exit_codes
from loadtests.analysis.engine import analyze
from loadtests.analysis.model import limits_of
from loadtests.analysis.sources import (
    project_index_targets,
    project_migration_indexes,
    reference_app_query_source,
    statements_from_env,
)
from loadtests.cli.options import add_threshold_options, thresholds_for
from loadtests.errors import LoadTestError
from loadtests.report.console import export_text, render, report_path
from loadtests.results.document import load_document

__all__ = ["add_parser", "run_analyze"]


def add_parser(subparsers: Any) -> None:
    """Register `analyze` on the `python -m loadtests` parser."""
    parser = subparsers.add_parser(
        "analyze",
        help="analyse a results file: SLO table, bottlenecks, recommendations, index suggestions",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("results", type=Path, help="results JSON written by a run")
    add_threshold_options(parser)
    parser.add_argument(
        "--dsn-env",
        metavar="VAR",
        help="name of the environment variable holding a PostgreSQL DSN; its pg_stat_statements feed the "
        "index suggestions (the DSN itself never goes on the command line)",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("reports/analysis"), help="text report directory"
    )
    parser.add_argument("--no-export", action="store_true", help="do not write the text report")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the analysis as JSON")
    parser.set_defaults(handler=run_analyze)


def run_analyze(args: argparse.Namespace, console: Console | None = None) -> int:
    """The `analyze` subcommand; returns the process exit code."""
    console = console or Console()
    try:
        results = load_document(args.results)
        thresholds = thresholds_for(args, results)
        notes: list[str] = []
        statements = statements_from_env(args.dsn_env, limits_of(thresholds), notes)
        analysis = analyze(
            results,
            thresholds,
            reference_app_query_source(),
            statements,
            project_migration_indexes(),
            notes,
            index_targets_by_query=project_index_targets(),
        )
    except LoadTestError as error:
        console.print(f"[bold red]error:[/] {error}")
        return exit_codes.COULD_NOT_RUN
    render(analysis, console)
    try:
        if not args.no_export:
            path = report_path(args.output_dir, str(results.get("run_id", "run")))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(export_text(analysis), encoding="utf-8")
            console.print(f"Text report: {path}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(analysis.to_json(), indent=2) + "\n", encoding="utf-8")
            console.print(f"JSON analysis: {args.json}")
    except OSError as error:
        console.print(f"[bold red]error:[/] cannot write the report: {error.strerror} ({error.filename})")
        return exit_codes.COULD_NOT_RUN
    return exit_codes.PASS
