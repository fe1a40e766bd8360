"""EXPLAIN verification: on a medium-seeded, ANALYZEd database with every planner method
enabled, each index's target query (sql/verify/index_targets.sql, the reference app's own
SQL) is planned with that index. Also runs the specification's verification queries.
"""

from __future__ import annotations

import psycopg
import pytest
from pglast import split

from components.providers.index_migration_runner import PsycopgIndexDatabase, apply_migration
from indexes.migration_plan import parse_migration
from indexes.targets import (
    INDEX_TARGETS_FILE,
    MIGRATION_FILE,
    index_names_in_plan,
    load_index_targets,
)

pytestmark = pytest.mark.integration

MIGRATION = parse_migration(MIGRATION_FILE.read_text(encoding="utf-8"))
TARGETS = load_index_targets()
VERIFICATION_FILE = INDEX_TARGETS_FILE.with_name("verification_queries.sql")

# Indexes the planner rightly skips at the medium scale, and why. Each stays checked: the
# test asserts the reason still holds (the table is that small) and that the index is
# usable once a sequential scan is ruled out.
SMALL_TABLE_EXCEPTIONS = {
    "idx_organizations_slug": "60 organisations fit in one 8 kB page: reading it beats any index",
}


@pytest.fixture(scope="module")
def tuned_medium_dsn(seeded_database_factory) -> str:
    dsn = seeded_database_factory(scale="medium", seed=42).dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with PsycopgIndexDatabase(dsn) as db:
        apply_migration(db, MIGRATION)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return dsn


def explain(conn: psycopg.Connection, target) -> dict:
    params = conn.cursor(row_factory=psycopg.rows.dict_row).execute(target.params_sql).fetchone()
    assert params is not None, f"{target.index}: the params query found no row"
    return conn.execute("EXPLAIN (FORMAT JSON) " + target.sql, params).fetchone()[0]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.index)
def test_target_query_uses_its_index(tuned_medium_dsn, target):
    with psycopg.connect(tuned_medium_dsn) as conn:
        settings = conn.execute(
            "SELECT name FROM pg_settings WHERE name LIKE 'enable\\_%%' AND setting <> boot_val"
        ).fetchall()
        assert settings == [], "no planner method may be switched from its default"
        plan = explain(conn, target)
        used = index_names_in_plan(plan)
        if target.index not in SMALL_TABLE_EXCEPTIONS:
            assert target.index in used, f"{target.index} not used; plan uses {sorted(used)}: {plan}"
            return
        table = MIGRATION.index(target.index).table
        pages = conn.execute("SELECT relpages FROM pg_class WHERE relname = %s", (table,)).fetchone()[0]
        assert pages <= 1, f"{table} grew to {pages} pages: {target.index} should now be chosen"
        assert plan[0]["Plan"]["Node Type"] == "Seq Scan"
        conn.execute("SET enable_seqscan = off")
        assert target.index in index_names_in_plan(explain(conn, target))


def test_the_specification_s_verification_queries(tuned_medium_dsn):
    statements = list(split(VERIFICATION_FILE.read_text(encoding="utf-8")))
    assert len(statements) == 4
    with psycopg.connect(tuned_medium_dsn) as conn:
        created, analyze, invalid, usage = (conn.execute(s).fetchall() for s in statements)
    assert sorted(row[2] for row in created) == sorted(MIGRATION.names)
    assert any("idx_insight_issues_org_created" in line for (line,) in analyze)
    assert invalid == []
    assert len(usage) == len(MIGRATION.indexes)
