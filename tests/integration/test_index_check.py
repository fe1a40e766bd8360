"""components/providers/index_check.py on a real PostgreSQL: each index of the migration file is
reported valid, invalid or missing, and neither the check, a refresh nor a delete changes a thing."""

from __future__ import annotations

import psycopg
import pytest

from components.providers.index_check import IndexCheckProvider
from indexes.migration_plan import parse_migration
from indexes.targets import MIGRATION_FILE

pytestmark = pytest.mark.integration

MIGRATION_SQL = MIGRATION_FILE.read_text(encoding="utf-8")
NAMES = parse_migration(MIGRATION_SQL).names
VALID, INVALID = "idx_insight_issues_org_created", "idx_insight_issues_severity"


def catalog(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT c.relname, c.oid, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1"
        ).fetchall()


def test_statuses_are_reported_and_nothing_is_changed(seeded_database_factory):
    database = seeded_database_factory(scale="small", seed=42)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX {VALID} ON insight_issues (org_id)")
        conn.execute(f"CREATE INDEX {INVALID} ON insight_issues (severity)")
        # What a failed CREATE INDEX CONCURRENTLY leaves behind: an index marked invalid.
        conn.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{INVALID}'::regclass")
    before = catalog(database.dsn)

    provider = IndexCheckProvider()
    created = provider.create({"dsn": database.dsn, "migration_sql": MIGRATION_SQL, "schema": "public"})
    statuses = created.outs["index_statuses"]
    assert statuses[VALID] == "valid" and statuses[INVALID] == "invalid"
    assert {status for name, status in statuses.items() if name not in (VALID, INVALID)} == {"missing"}
    assert set(statuses) == set(NAMES) and created.outs["valid_count"] == 1
    assert "dsn" not in created.outs and "password" not in created.outs["target"]

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {VALID}")
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["index_statuses"][VALID] == "missing" and refreshed.outs["valid_count"] == 0

    provider.delete(created.id, refreshed.outs)
    assert catalog(database.dsn) == [row for row in before if row[0] != VALID]
