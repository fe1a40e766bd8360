"""`python -m loadtests analyze RESULTS.json`: what a run measured, where it is slow, what to do.

Pure analysis (`analyze`) over a results document, then rendering to the console (colour),
a timestamped text report under reports/analysis/, and optionally JSON. The thresholds are
the configured SLO lines (`--threshold`, or a stack's `odavl-perf:sloThresholds`), else the
defaults from `loadtests.slo_catalog`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from loadtests import slo
from loadtests.analysis_bottlenecks import detect_bottlenecks
from loadtests.analysis_budget import budget_burns
from loadtests.analysis_model import (
    AnalysisError,
    Limit,
    default_limits,
    default_thresholds,
    limit_for,
    limits_of,
    load_results,
    summary_rows,
)
from loadtests.analysis_queries import reference_app_query_source
from loadtests.analysis_recommend import recommend
from loadtests.analysis_result import Analysis
from loadtests.analysis_text import export_text, render, report_path
from loadtests.errors import LoadTestError
from loadtests.index_suggestions import (
    ExistingIndex,
    NamedQuery,
    QuerySource,
    SqlParseError,
    StatementsUnavailable,
    index_targets,
    migration_indexes,
    pg_stat_statements_queries,
    suggest_indexes,
    suggestions_for_sql,
)
from loadtests.threshold_options import add_threshold_options, thresholds_for

__all__ = [
    "Analysis",
    "add_parser",
    "add_threshold_options",
    "analyze",
    "run_analyze",
    "thresholds_from_args",
]

# Endpoints in these categories are "slow": their queries are the candidates for indexes.
_SLOW_CATEGORIES = ("slow_database", "high_p95", "high_p99")
MIGRATION_FILE = Path(__file__).resolve().parents[1] / "sql" / "migrations" / "add-performance-indexes.sql"
INDEX_TARGETS_FILE = Path(__file__).resolve().parents[1] / "sql" / "verify" / "index_targets.sql"
EXIT_OK = 0
EXIT_USAGE = 2


def analyze(
    results: Mapping[str, Any],
    thresholds: Sequence[slo.Threshold] | None = None,
    query_source: QuerySource | None = None,
    statements: Iterable[NamedQuery] = (),
    existing_indexes: Sequence[ExistingIndex] = (),
    notes: Iterable[str] = (),
    baseline: Mapping[str, Any] | None = None,
    index_targets_by_query: Mapping[str, Sequence[str]] | None = None,
) -> Analysis:
    """Judge `results` against `thresholds` (default: the catalog's), find bottlenecks, recommend,
    suggest indexes.

    `baseline` is an earlier run's results document, for baseline-relative thresholds.
    `query_source` maps an endpoint name to the SQL it runs; `statements` are extra slow
    statements (from pg_stat_statements). Both feed the index suggestions, which are checked
    against `existing_indexes` (the migration's) and `index_targets_by_query` (which index was
    built for which query, sql/verify/index_targets.sql).
    """
    thresholds = tuple(thresholds) if thresholds is not None else default_thresholds()
    limits = limits_of(thresholds)
    evaluation = slo.evaluate(results, thresholds, baseline)
    rows = summary_rows(results, evaluation)
    bottlenecks = detect_bottlenecks(results, limits)
    queries: list[NamedQuery] = []
    if query_source is not None:
        slow_endpoints = dict.fromkeys(
            item.endpoint for item in bottlenecks if item.category in _SLOW_CATEGORIES
        )
        for endpoint in slow_endpoints:
            queries.extend(query_source(endpoint))
    analysis_notes = list(notes)
    queries.extend(_parsable_statements(statements, analysis_notes))
    indexes = suggest_indexes(queries, existing_indexes, index_targets_by_query)
    recommendations = recommend(results, bottlenecks, limits, indexes)
    return Analysis(
        dict(results),
        rows,
        evaluation,
        bottlenecks,
        recommendations,
        indexes,
        budget_burns(results),
        analysis_notes,
    )


def _parsable_statements(statements: Iterable[NamedQuery], notes: list[str]) -> list[NamedQuery]:
    """The database's statements PostgreSQL's parser accepts; each one it rejects becomes a note.

    pg_stat_statements may hold statements cut off at track_activity_query_size: those are not
    this project's to fix, so they are reported and left out. The reference app's own queries
    are not filtered: a parse error there is a bug and raises SqlParseError.
    """
    parsable = []
    for statement in statements:
        try:
            suggestions_for_sql(statement.sql, statement.name)
        except SqlParseError as error:
            notes.append(f"index suggestions left out {error}")
            continue
        parsable.append(statement)
    return parsable


def add_parser(subparsers: Any) -> None:
    """Register `analyze` on the `python -m loadtests` parser (`report` lives in loadtests/report_html.py)."""
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


def _statements(dsn_env: str | None, limits: Sequence[Limit], notes: list[str]) -> list[NamedQuery]:
    """pg_stat_statements' slow statements when `--dsn-env` names a DSN; notes say why not otherwise."""
    import os

    if not dsn_env:
        return []
    dsn = os.environ.get(dsn_env)
    if not dsn:
        raise AnalysisError(f"--dsn-env {dsn_env}: the environment variable is not set")
    db_limit = limit_for(limits, "db_query_duration", "p95") or limit_for(
        default_limits(), "db_query_duration", "p95"
    )
    try:
        statements = pg_stat_statements_queries(dsn, db_limit.bound if db_limit else 100.0)
    except StatementsUnavailable as error:
        notes.append(f"pg_stat_statements not used: {error}")
        return []
    except Exception as error:  # psycopg errors: word them without the DSN
        notes.append(f"pg_stat_statements not used: cannot query the database ({type(error).__name__})")
        return []
    bound = db_limit.bound if db_limit else 100.0
    notes.append(f"pg_stat_statements: {len(statements)} statement(s) slower than {bound:g} ms")
    return statements


def project_migration_indexes() -> list[ExistingIndex]:
    """The indexes of the project's performance-index migration, if the file is present."""
    try:
        return migration_indexes(MIGRATION_FILE.read_text(encoding="utf-8"))
    except OSError:
        return []


def project_index_targets() -> dict[str, tuple[str, ...]]:
    """Which migration index serves which reference-app query (sql/verify/index_targets.sql)."""
    try:
        return index_targets(INDEX_TARGETS_FILE.read_text(encoding="utf-8"))
    except OSError:
        return {}


def thresholds_from_args(args: argparse.Namespace, results: Mapping[str, Any]) -> tuple[slo.Threshold, ...]:
    """The thresholds the gate would use: `--threshold`, `--thresholds-file`, `--stack-file`, the
    lines the results record, else the catalog's defaults (see loadtests/verdict_cli.py)."""
    for option in ("threshold", "thresholds_file", "stack_file"):
        if not hasattr(args, option):
            setattr(args, option, None)
    try:
        return thresholds_for(args, results)
    except (LoadTestError, slo.SloError) as error:
        raise AnalysisError(str(error)) from None


def run_analyze(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    try:
        results = load_results(args.results)
        thresholds = thresholds_from_args(args, results)
        notes: list[str] = []
        statements = _statements(args.dsn_env, limits_of(thresholds), notes)
        analysis = analyze(
            results,
            thresholds,
            reference_app_query_source(),
            statements,
            project_migration_indexes(),
            notes,
            index_targets_by_query=project_index_targets(),
        )
    except AnalysisError as error:
        console.print(f"[bold red]error:[/] {error}")
        return EXIT_USAGE
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
        return EXIT_USAGE
    return EXIT_OK
