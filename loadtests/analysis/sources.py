"""The inputs of the index suggestions: which SQL an endpoint runs, which statements the database
finds slow, and which indexes the project's migration already creates.

The reference app keeps every statement as a named constant (`reference_app.queries`,
`ALL_QUERIES`) and names each request's main query in `X-Db-Query-Name`. Its routes
(`reference_app.api.api_routes()`) say which handler serves an endpoint, and a handler's source
says which `queries.NAME` constants it runs: that gives the exact endpoint -> queries mapping,
with path parameters matched whatever their spelling (`{issue_id}` in the app, `:id` in the
load-test suite). An endpoint no route serves falls back to the queries whose names contain
every word of its path (`GET /api/insight/issues` -> `INSIGHT_ISSUES_*`).

With a database DSN, `pg_stat_statements` adds the statements the database itself found slow
(`pg_stat_statements_queries`; `statements_from_env` for the analyze command's `--dsn-env`).
The migration's indexes and the query each one serves are read from the project's files with
their one parser each (`indexes.migration_plan.parse_migration`, `indexes.targets`).
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from indexes.migration_plan import IndexDefinition, MigrationError, parse_migration
from indexes.suggestions import NamedQuery, QuerySource
from indexes.targets import (
    INDEX_TARGETS_FILE,
    MIGRATION_FILE,
    TargetFileError,
    indexes_by_query,
    parse_index_targets,
)
from loadtests.analysis.errors import AnalysisError, StatementsUnavailable
from loadtests.analysis.model import Limit, default_limits, limit_for

__all__ = [
    "INDEX_TARGETS_FILE",
    "MIGRATION_FILE",
    "endpoint_key",
    "endpoint_query_source",
    "path_words",
    "pg_stat_statements_queries",
    "project_index_targets",
    "project_migration_indexes",
    "reference_app_query_source",
    "route_queries",
    "statements_from_env",
]

_QUERY_REFERENCE = re.compile(r"\bqueries\.([A-Z][A-Z0-9_]*)\b")
_PARAMETER = re.compile(r"^(\{[^}]*\}|:[A-Za-z_]\w*|<[^>]*>)$")


def endpoint_key(endpoint: str) -> str:
    """`METHOD /path` with every path parameter written `{}`: `GET /a/{id}` == `GET /a/:id`."""
    method, _, path = endpoint.partition(" ")
    if not path:
        method, path = "GET", endpoint
    parts = ["{}" if _PARAMETER.match(part) else part for part in path.split("?", 1)[0].split("/")]
    return f"{method.upper()} {'/'.join(parts)}"


def route_queries(routes: Iterable[Any]) -> dict[str, list[str]]:
    """Endpoint key -> names of the `queries.*` constants its handler's source refers to."""
    mapping: dict[str, list[str]] = {}
    for route in routes:
        handler = getattr(route, "endpoint", None)
        path = getattr(route, "path", None)
        if handler is None or path is None:
            continue
        try:
            source = inspect.getsource(handler)
        except (OSError, TypeError):
            continue
        names = list(dict.fromkeys(_QUERY_REFERENCE.findall(source)))
        for method in sorted(set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"}):
            mapping[endpoint_key(f"{method} {path}")] = names
    return mapping


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def path_words(endpoint: str) -> list[str]:
    """Stemmed words of an endpoint's path, without `api`, parameters and numbers."""
    path = endpoint.split(" ", 1)[-1].split("?", 1)[0]
    words = []
    for part in path.strip("/").split("/"):
        if not part or part == "api" or part.startswith(("{", ":", "<")) or part.isdigit():
            continue
        words.extend(_stem(word) for word in part.replace("-", "_").split("_") if word)
    return words


def endpoint_query_source(
    statements: Mapping[str, str], explicit: Mapping[str, Sequence[str]] | None = None
) -> QuerySource:
    """A QuerySource over named statements; `explicit` maps endpoint keys (or names) to query names."""
    name_words = {name: {_stem(word) for word in name.split("_")} for name in statements}
    by_key = {endpoint_key(endpoint): names for endpoint, names in (explicit or {}).items()}

    def source(endpoint: str) -> list[NamedQuery]:
        key = endpoint_key(endpoint)
        if key in by_key:
            names = [name for name in by_key[key] if name in statements]
        else:
            words = path_words(endpoint)
            names = [name for name, have in name_words.items() if words and set(words) <= have]
            if not names and words:
                names = [name for name, have in name_words.items() if words[0] in have]
        return [NamedQuery(name, statements[name]) for name in names]

    return source


def reference_app_query_source() -> QuerySource | None:
    """The reference app's queries by endpoint, or None when the reference app is not importable."""
    try:
        from reference_app import queries
    except ImportError:
        return None
    statements = getattr(queries, "ALL_QUERIES", None)
    if not isinstance(statements, Mapping):
        return None
    try:
        from reference_app.api import api_routes

        explicit = route_queries(api_routes())
    except Exception:  # an app without importable routes: fall back to the names
        explicit = None
    return endpoint_query_source(statements, explicit)


def project_migration_indexes() -> list[IndexDefinition]:
    """The indexes of the project's performance-index migration; none when the file is absent or
    does not parse (the migration's own checks report that; the analysis still runs)."""
    try:
        return list(parse_migration(MIGRATION_FILE.read_text(encoding="utf-8")).indexes)
    except (OSError, MigrationError):
        return []


def project_index_targets() -> dict[str, tuple[str, ...]]:
    """Which migration index serves which reference-app query (sql/verify/index_targets.sql); empty
    when the file is absent or malformed (tests/unit/test_index_targets.py checks it)."""
    try:
        return indexes_by_query(parse_index_targets(INDEX_TARGETS_FILE.read_text(encoding="utf-8")))
    except (OSError, TargetFileError):
        return {}


_STATEMENTS_SQL = """
SELECT queryid::text, query, calls, mean_exec_time
FROM pg_stat_statements
WHERE mean_exec_time >= %(min_mean_ms)s
  AND query ~* '^\\s*(select|update|delete|with)\\s'
  AND query !~* 'pg_stat_statements|pg_catalog|information_schema'
ORDER BY total_exec_time DESC
LIMIT %(limit)s
"""


def pg_stat_statements_queries(dsn: str, min_mean_ms: float, limit: int = 20) -> list[NamedQuery]:
    """The slowest statements (mean at least `min_mean_ms`) recorded by pg_stat_statements.

    Raises StatementsUnavailable when the view does not exist or is not loaded. Connection
    problems raise psycopg's OperationalError; the caller words them without the DSN.
    """
    import psycopg  # imported here so the analysis runs without a database driver when no DSN is given

    with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as connection:
        if connection.execute("SELECT to_regclass('pg_stat_statements')").fetchone()[0] is None:
            raise StatementsUnavailable(
                "the pg_stat_statements view does not exist (CREATE EXTENSION pg_stat_statements)"
            )
        connection.execute("SET statement_timeout = '15s'")
        try:
            rows = connection.execute(
                _STATEMENTS_SQL, {"min_mean_ms": min_mean_ms, "limit": limit}
            ).fetchall()
        except psycopg.errors.ObjectNotInPrerequisiteState as error:
            raise StatementsUnavailable(
                "pg_stat_statements is not loaded (add it to shared_preload_libraries)"
            ) from error
    return [
        NamedQuery(f"pg_stat_statements:{queryid}", query, "pg_stat_statements", float(mean), int(calls))
        for queryid, query, calls, mean in rows
    ]


def statements_from_env(dsn_env: str | None, limits: Sequence[Limit], notes: list[str]) -> list[NamedQuery]:
    """pg_stat_statements' statements slower than the database P95 limit, from the DSN in the
    environment variable `dsn_env` (None: no database, no statements).

    Raises AnalysisError when the variable is not set. A database that cannot be asked gives no
    statements and a note saying why, worded without the DSN; so does a successful query (how many).
    """
    if not dsn_env:
        return []
    dsn = os.environ.get(dsn_env)
    if not dsn:
        raise AnalysisError(f"--dsn-env {dsn_env}: the environment variable is not set")
    db_limit = limit_for(limits, "db_query_duration", "p95") or limit_for(
        default_limits(), "db_query_duration", "p95"
    )
    bound = db_limit.bound if db_limit else 100.0
    try:
        statements = pg_stat_statements_queries(dsn, bound)
    except StatementsUnavailable as error:
        notes.append(f"pg_stat_statements not used: {error}")
        return []
    except Exception as error:  # psycopg errors: word them without the DSN
        notes.append(f"pg_stat_statements not used: cannot query the database ({type(error).__name__})")
        return []
    notes.append(f"pg_stat_statements: {len(statements)} statement(s) slower than {bound:g} ms")
    return statements
