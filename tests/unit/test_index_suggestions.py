"""indexes/suggestions.py: indexes derived from SQL with PostgreSQL's own parser."""

from __future__ import annotations

import re

import pytest

from indexes.migration_plan import IndexDefinition, parse_migration
from indexes.suggestions import NamedQuery, SqlParseError, suggest_indexes, suggestions_for_sql
from indexes.targets import INDEX_TARGETS_FILE, MIGRATION_FILE, indexes_by_query, parse_index_targets
from reference_app.queries import ALL_QUERIES


def migration_index(definition: str) -> IndexDefinition:
    """The index `definition` (`name ON table (columns)`) as the migration's parser reads it."""
    header = "SET lock_timeout = '5s';\nSET statement_timeout = '10min';\n"
    (index,) = parse_migration(f"{header}CREATE INDEX CONCURRENTLY IF NOT EXISTS {definition};").indexes
    return index


def sqls(sql: str) -> list[str]:
    return [suggestion.sql for suggestion in suggestions_for_sql(sql)]


def test_equality_then_sort_with_partial_predicate():
    assert sqls(
        "SELECT id FROM insight_issues WHERE org_id = %(org)s AND deleted_at IS NULL "
        "ORDER BY created_at DESC LIMIT 50"
    ) == [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_org_id_created_at "
        "ON insight_issues (org_id, created_at DESC) WHERE deleted_at IS NULL;"
    ]


def test_range_column_follows_equality_when_nothing_is_sorted():
    (suggestion,) = suggestions_for_sql(
        "SELECT count(*) FROM events WHERE org_id = $1 AND ts >= $2 AND ts < $3"
    )
    assert suggestion.columns == ("org_id", "ts")
    assert "range on ts" in suggestion.reason


def test_substring_search_gets_a_trigram_gin_index_and_prefix_search_a_btree():
    gin = suggestions_for_sql("SELECT id FROM files WHERE path ILIKE '%report%'")
    assert [(s.method, s.sql) for s in gin] == [
        (
            "gin",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_files_path_trgm "
            "ON files USING gin (path gin_trgm_ops);",
        )
    ]
    prefix = suggestions_for_sql("SELECT id FROM files WHERE path LIKE 'src/%'")
    assert [(s.method, s.columns) for s in prefix] == [("btree", ("path",))]


def test_primary_key_lookup_needs_no_index():
    assert sqls("SELECT * FROM runs WHERE id = $1 AND org_id = $2") == []


def test_join_key_on_the_joined_table():
    found = {s.columns: s.table for s in suggestions_for_sql(
        "SELECT r.id FROM projects p JOIN runs r ON r.project_id = p.id WHERE p.org_id = $1"
    )}  # fmt: skip
    assert found == {("org_id",): "projects", ("project_id",): "runs"}


def test_or_predicates_and_writes_without_filters_suggest_nothing():
    assert sqls("SELECT id FROM t WHERE a = 1 OR b = 2") == []
    assert sqls("INSERT INTO t (a) VALUES (1)") == []


def test_unparsable_sql_raises_naming_the_query_and_the_token():
    with pytest.raises(SqlParseError, match=r'query BROKEN: PostgreSQL cannot parse it: .*"AND"') as raised:
        suggestions_for_sql("SELECT id FROM t WHERE a = %(a)s AND AND b = 1", "BROKEN")
    assert raised.value.query_name == "BROKEN"


def test_update_and_delete_filters_are_indexed():
    assert [
        s.columns for s in suggestions_for_sql("UPDATE sessions SET revoked_at = now() WHERE user_id = $1")
    ] == [("user_id",)]


def test_psycopg_placeholders_are_understood():
    (suggestion,) = suggestions_for_sql("SELECT * FROM t WHERE a = %(a)s AND b = %s ORDER BY c")
    assert suggestion.columns == ("a", "b", "c")


def test_suggestions_merge_across_queries():
    merged = suggest_indexes(
        [
            NamedQuery("first", "SELECT * FROM t WHERE a = $1 ORDER BY c DESC"),
            NamedQuery("second", "SELECT id FROM t WHERE a = $2 ORDER BY c DESC LIMIT 5"),
        ]
    )
    assert [(s.name, s.queries) for s in merged] == [("idx_t_a_c", ("first", "second"))]


def test_existing_index_with_the_same_access_path_covers_a_suggestion():
    existing = [migration_index("idx_t_a_created ON t (a, c)")]
    (covered,) = suggest_indexes(
        [NamedQuery("q", "SELECT * FROM t WHERE a = $1 AND b = $2 ORDER BY c")], existing
    )
    assert covered.covered_by == "idx_t_a_created"
    (fresh,) = suggest_indexes([NamedQuery("q", "SELECT * FROM t WHERE b = $1 ORDER BY c")], existing)
    assert fresh.covered_by is None


@pytest.mark.parametrize("name", sorted(ALL_QUERIES))
def test_every_reference_query_parses(name):
    sql = ALL_QUERIES[name]
    # raises SqlParseError when the statement (psycopg placeholders rewritten) does not parse
    suggestions = suggestions_for_sql(sql, name)
    # ... and would raise for this very query broken: a parse error is never swallowed
    with pytest.raises(SqlParseError, match=name):
        suggestions_for_sql("SELEC " + sql, name)
    # and what comes back is derived from this statement: its name, its tables, its columns
    for suggestion in suggestions:
        assert suggestion.queries == (name,)
        assert re.search(rf"\b{suggestion.table}\b", sql), (suggestion.table, sql)
        for column in suggestion.columns:
            assert re.search(rf"\b{column.split()[0]}\b", sql), (column, sql)


def test_the_migration_covers_the_reference_apps_list_queries():
    existing = parse_migration(MIGRATION_FILE.read_text()).indexes
    assert len(existing) >= 30
    suggestions = suggest_indexes([NamedQuery(n, q) for n, q in ALL_QUERIES.items()], existing)
    covered = {s.covered_by for s in suggestions if s.covered_by}
    assert {
        "idx_insight_issues_org_created",
        "idx_insight_issues_file_path",
        "idx_autopilot_runs_project_status",
    } <= covered


def test_index_targets_parse_the_verification_file_headers():
    text = (
        "-- index: idx_a\n-- query: Q_ONE\n-- params: SELECT 1 AS a\nSELECT 1;\n\n"
        "-- index: idx_b\n-- query: Q_ONE\n-- params: SELECT 1 AS a\nSELECT 2;\n"
    )
    assert indexes_by_query(parse_index_targets(text)) == {"Q_ONE": ("idx_a", "idx_b")}


def test_target_index_covers_its_query_even_with_another_shape():
    existing = [migration_index("idx_sessions_token ON sessions (token_hash)")]
    query = NamedQuery("BY_TOKEN", "SELECT * FROM sessions WHERE token_hash = $1 AND expires_at > now()")
    (by_shape,) = suggest_indexes([query], existing)
    assert by_shape.covered_by is None  # (token_hash, expires_at) is not the index's shape
    (by_target,) = suggest_indexes([query], existing, {"BY_TOKEN": ["idx_sessions_token"]})
    assert by_target.covered_by == "idx_sessions_token"


def test_derived_suggestions_agree_with_the_verification_files_query_to_index_map():
    targets = indexes_by_query(parse_index_targets(INDEX_TARGETS_FILE.read_text()))
    existing = parse_migration(MIGRATION_FILE.read_text()).indexes
    assert len(targets) >= 25
    for query, indexes in targets.items():
        covered = {
            s.covered_by for s in suggest_indexes([NamedQuery(query, ALL_QUERIES[query])], existing, targets)
        }
        assert set(indexes) <= covered, query
        # the suggestions derived from the SQL alone name the same indexes, but for the
        # equality-plus-range lookups whose index leaves the range (expiry) to a filter
        by_shape = {s.covered_by for s in suggest_indexes([NamedQuery(query, ALL_QUERIES[query])], existing)}
        if query not in {"AUTH_SESSION_BY_TOKEN", "AUTH_API_KEY_BY_HASH"}:
            assert set(indexes) <= by_shape, query
