"""What a run measured, where it is slow, what to do: `analyze` over a results document.

Pure: the SLO table, bottlenecks, recommendations, index suggestions and error budgets of one
run, judged against the configured SLO thresholds or the catalogue's defaults
(`loadtests.slo.catalog`). The inputs the index suggestions need from outside the document
(the reference app's queries, pg_stat_statements, the migration's indexes) are read by
loadtests/analysis/sources.py; the `analyze` command is loadtests/cli/analyze.py and the
console rendering loadtests/report/console.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from indexes.migration_plan import IndexDefinition
from indexes.suggestions import NamedQuery, QuerySource, SqlParseError, suggest_indexes, suggestions_for_sql
from loadtests.analysis.bottlenecks import detect_bottlenecks
from loadtests.analysis.budget import budget_burns
from loadtests.analysis.model import default_thresholds, limits_of, summary_rows
from loadtests.analysis.recommend import recommend
from loadtests.analysis.result import Analysis
from loadtests.slo.evaluate import Threshold, evaluate

__all__ = ["Analysis", "analyze"]

# Endpoints in these categories are "slow": their queries are the candidates for indexes.
_SLOW_CATEGORIES = ("slow_database", "high_p95", "high_p99")


def analyze(
    results: Mapping[str, Any],
    thresholds: Sequence[Threshold] | None = None,
    query_source: QuerySource | None = None,
    statements: Iterable[NamedQuery] = (),
    existing_indexes: Sequence[IndexDefinition] = (),
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
    evaluation = evaluate(results, thresholds, baseline)
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
