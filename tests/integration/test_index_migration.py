"""The index migration against real PostgreSQL: reruns, faults, concurrent writes, destroy.

Each test gets its own clone of the small seeded database (tests/fixtures/postgres.py),
with pg_trgm created as the DatabaseTuning component does.
"""

from __future__ import annotations

import json
import threading

import psycopg
import pytest
from psycopg import sql
from pulumi.dynamic import Config, ConfigureRequest

from components.providers.index_migration import IndexMigrationProvider
from components.providers.index_migration_runner import (
    MigrationFailedError,
    PsycopgIndexDatabase,
    RetryPolicy,
    apply_migration,
)
from components.providers.postgres_extension import PostgresExtensionProvider
from components.providers.postgres_readonly_role import ReadonlyRoleProvider
from indexes.migration_plan import parse_migration
from indexes.targets import MIGRATION_FILE, index_names_in_plan

pytestmark = pytest.mark.integration

MIGRATION_SQL = MIGRATION_FILE.read_text(encoding="utf-8")
MIGRATION = parse_migration(MIGRATION_SQL)
FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.0)
POLL_LIMIT = 600  # x 0.05 s: bound on waiting for another backend to reach a state
APP_NAME = "odavl-perf index migration"


@pytest.fixture
def dsn(seeded_database_factory) -> str:
    database = seeded_database_factory(scale="small", seed=42)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    return database.dsn


def migrate(dsn: str, **kwargs):
    kwargs.setdefault("retry", FAST_RETRY)
    with PsycopgIndexDatabase(dsn) as db:
        return apply_migration(db, MIGRATION, **kwargs)


def index_state(dsn: str) -> dict[str, tuple[int, bool]]:
    """name -> (oid, valid) of every index whose name starts with idx_."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.oid, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname LIKE 'idx\\_%'"
        ).fetchall()
    return {name: (oid, valid) for name, oid, valid in rows}


def wait_for_backend(conn: psycopg.Connection, condition: str, *params: object) -> int:
    for _ in range(POLL_LIMIT):
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND " + condition,
            (APP_NAME, *params),
        ).fetchone()
        if row:
            return int(row[0])
        threading.Event().wait(0.05)
    raise AssertionError(f"no migration backend with {condition}")


def test_create_outputs_statuses_without_secrets_and_a_rerun_changes_nothing(dsn):
    provider = IndexMigrationProvider()
    created = provider.create({"dsn": dsn, "migration_sql": MIGRATION_SQL, "schema": "public"})
    outs = created.outs
    assert set(outs["index_statuses"].values()) == {"created"}
    assert outs["index_count"] == len(MIGRATION.indexes) >= 30
    assert sorted(outs["owned_indexes"]) == sorted(MIGRATION.names)
    assert all(seconds > 0 for seconds in outs["build_seconds"].values())
    assert "dsn" not in outs
    assert "password" not in repr(outs)
    before = index_state(dsn)
    assert all(valid for _oid, valid in before.values())

    assert provider.diff(created.id, outs, {"dsn": dsn, "migration_sql": MIGRATION_SQL}).changes is False
    rerun = migrate(dsn)
    assert set(rerun.statuses.values()) == {"already_valid"}
    assert not rerun.changed
    assert index_state(dsn) == before


def test_a_cancelled_build_leaves_an_invalid_index_that_the_next_run_rebuilds(dsn):
    first = MIGRATION.indexes[0]
    blocker = psycopg.connect(dsn)  # an open write transaction makes the build wait mid-way
    blocker.execute("UPDATE insight_issues SET updated_at = updated_at WHERE id = 1")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            migrate(dsn, lock_timeout="60s")
        except BaseException as exc:
            failure.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as admin:
            pid = wait_for_backend(admin, "wait_event_type = 'Lock' AND query LIKE %s", f"%{first.name}%")
            assert admin.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone()[0]
        runner.join(timeout=120)
    finally:
        blocker.rollback()
        blocker.close()
    assert not runner.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], MigrationFailedError)
    assert first.name in str(failure[0])
    assert index_state(dsn)[first.name][1] is False  # left INVALID, as PostgreSQL does

    repaired = migrate(dsn)
    assert repaired.statuses[first.name] == "rebuilt"
    assert all(valid for _oid, valid in index_state(dsn).values())
    assert len(index_state(dsn)) == len(MIGRATION.indexes)


def test_lock_timeouts_are_retried_and_the_build_completes_once_the_lock_is_free(dsn):
    blocker = psycopg.connect(dsn)
    blocker.execute("UPDATE insight_issues SET updated_at = updated_at WHERE id = 1")
    waits: list[float] = []

    def release_then_wait(seconds: float) -> None:
        waits.append(seconds)
        blocker.rollback()

    try:
        report = migrate(dsn, lock_timeout="300ms", sleep=release_then_wait)
    finally:
        blocker.close()
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.attempts) == ("created", 2)
    assert waits == [0.0]
    assert all(valid for _oid, valid in index_state(dsn).values())


def test_a_concurrent_writer_sees_no_error_and_loses_no_row(dsn):
    stop = threading.Event()
    errors: list[str] = []
    inserted: list[int] = []
    updated: dict[int, str] = {}

    def writer() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '30s'")
            project = conn.execute("SELECT id, org_id FROM projects ORDER BY id LIMIT 1").fetchone()
            for i in range(100_000):
                if stop.is_set() and i >= 200:
                    return
                try:
                    row = conn.execute(
                        "INSERT INTO insight_issues (org_id, project_id, detector, severity, status, title,"
                        " message, file_path, line_number) VALUES (%s, %s, 'quality/complexity', 'low',"
                        " 'open', %s, 'm', %s, 1) RETURNING id",
                        (project[1], project[0], f"writer-{i}", f"src/writer/{i}.py"),
                    ).fetchone()
                    inserted.append(row[0])
                    conn.execute(
                        "INSERT INTO audit_logs (org_id, action, target_type) VALUES (%s, 'writer', 'test')",
                        (project[1],),
                    )
                    if i % 2:
                        target = inserted[i // 2]
                        conn.execute(
                            "UPDATE insight_issues SET status = 'resolved', resolved_at = now(), title = %s"
                            " WHERE id = %s",
                            (f"updated-{i}", target),
                        )
                        updated[target] = f"updated-{i}"
                except psycopg.Error as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        report = migrate(dsn)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert errors == []
    assert set(report.statuses.values()) == {"created"}
    with psycopg.connect(dsn) as conn:
        rows = dict(
            conn.execute("SELECT id, title FROM insight_issues WHERE id = ANY(%s)", (inserted,)).fetchall()
        )
        assert len(rows) == len(inserted) >= 200
        assert all(rows[row_id] == title for row_id, title in updated.items())
        audit = conn.execute("SELECT count(*) FROM audit_logs WHERE action = 'writer'").fetchone()[0]
        assert audit == len(inserted)
        # Every heap row, including the writer's, is in every new B-tree index.
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        btrees = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
            "WHERE c.relname LIKE 'idx\\_%' AND a.amname = 'btree'"
        ).fetchall()
        assert len(btrees) == len(MIGRATION.indexes) - 1  # all but the trigram GIN index
        for (name,) in btrees:
            conn.execute("SELECT bt_index_check(%s::regclass, true)", (name,))
    # The trigram GIN index holds every writer row too: a count that must go through it equals
    # the count of a sequential scan (and both equal the rows written).
    search = "SELECT count(*) FROM insight_issues WHERE file_path ILIKE '%src/writer/%'"
    by_index, index_plan = count_with_plan(
        dsn, search, {"enable_seqscan": "off", "enable_indexscan": "off", "enable_bitmapscan": "on"}
    )
    assert "idx_insight_issues_file_path" in index_names_in_plan(index_plan), index_plan
    by_seqscan, seq_plan = count_with_plan(
        dsn, search, {"enable_seqscan": "on", "enable_indexscan": "off", "enable_bitmapscan": "off"}
    )
    assert index_names_in_plan(seq_plan) == set(), seq_plan
    assert "Seq Scan" in json.dumps(seq_plan)
    assert by_index == by_seqscan == len(inserted)


def count_with_plan(dsn: str, query: str, planner: dict[str, str]) -> tuple[int, list]:
    """`query`'s count and its EXPLAIN (FORMAT JSON) plan under the given planner settings."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, value in planner.items():
            conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()[0]
        count = conn.execute(query).fetchone()[0]
    return count, plan


def test_destroy_drops_exactly_the_indexes_the_stack_created(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX idx_users_email ON users (email)")  # existed before the stack
        conn.execute("CREATE INDEX idx_unrelated ON users (display_name)")
    provider = IndexMigrationProvider()
    created = provider.create({"dsn": dsn, "migration_sql": MIGRATION_SQL})
    assert created.outs["index_statuses"]["idx_users_email"] == "already_valid"
    assert "idx_users_email" not in created.outs["owned_indexes"]
    assert len(created.outs["owned_indexes"]) == len(MIGRATION.indexes) - 1

    provider.delete(created.id, created.outs)  # only outputs: no DSN, no password
    assert set(index_state(dsn)) == {"idx_users_email", "idx_unrelated"}


def test_update_builds_new_indexes_and_drops_owned_ones_removed_from_the_file(dsn):
    provider = IndexMigrationProvider()
    created = provider.create({"dsn": dsn, "migration_sql": MIGRATION_SQL})
    without_last = MIGRATION_SQL.replace(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_org\n    ON api_keys (org_id);", ""
    )
    extended = (
        without_last + "\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_name ON users (display_name);\n"
    )
    news = {"dsn": dsn, "migration_sql": extended}
    assert provider.diff(created.id, created.outs, news).changes is True
    updated = provider.update(created.id, created.outs, news).outs
    assert updated["index_statuses"]["idx_users_name"] == "created"
    assert "idx_api_keys_org" not in updated["owned_indexes"]
    assert "idx_users_name" in updated["owned_indexes"]
    state = index_state(dsn)
    assert "idx_api_keys_org" not in state and "idx_users_name" in state


def test_drifted_indexes_and_reindex_leftovers_are_repaired(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX idx_sessions_token ON sessions (user_id)")  # wrong column
        conn.execute("CREATE INDEX idx_users_email_ccnew ON users (email)")
        conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_users_email_ccnew'::regclass"
        )
    report = migrate(dsn)
    assert report.statuses["idx_sessions_token"] == "rebuilt"
    assert report.leftovers_dropped == ["idx_users_email_ccnew"]
    with psycopg.connect(dsn) as conn:
        definition = conn.execute("SELECT pg_get_indexdef('idx_sessions_token'::regclass)").fetchone()[0]
    assert definition.endswith("(token_hash)")
    assert "idx_users_email_ccnew" not in index_state(dsn)


ADMIN = "tuning_admin"


def administrator_dsn(superuser_dsn: str, database: str) -> str:
    """Hand the database and its tables to a non-superuser CREATEROLE role, as on a managed server."""
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ADMIN,)).fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'admin-pw'").format(sql.Identifier(ADMIN))
            )
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(ADMIN))
        )
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        for (table,) in tables:
            conn.execute(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), sql.Identifier(ADMIN))
            )
    return psycopg.conninfo.make_conninfo(superuser_dsn, user=ADMIN, password="admin-pw")


def test_extension_role_and_indexes_as_a_createrole_administrator(seeded_database_factory):
    database = seeded_database_factory(scale="small", seed=42)
    dsn = administrator_dsn(database.dsn, database.name)
    config = ConfigureRequest(Config({"odavl-perf:databasePassword": "admin-pw"}, "odavl-perf"))
    extension = PostgresExtensionProvider("odavl-perf:databasePassword")
    extension.configure(config)
    ext = extension.create({"dsn": dsn, "name": "pg_trgm", "schema": "public"})
    assert ext.outs["created"] is True and ext.outs["version"]
    again = extension.create({"dsn": dsn, "name": "pg_trgm", "schema": "public"})
    assert again.outs["created"] is False  # existed: not ours to drop

    roles = ReadonlyRoleProvider("odavl-perf:databasePassword")
    roles.configure(config)
    password = "reader-Pa55"
    role = roles.create({"dsn": dsn, "role": "grafana_reader", "password": password, "schema": "public"})
    assert role.outs["created"] is True
    assert password not in repr(role.outs)
    migration = IndexMigrationProvider("odavl-perf:databasePassword")
    migration.configure(config)
    applied = migration.create({"dsn": dsn, "migration_sql": MIGRATION_SQL})
    assert set(applied.outs["index_statuses"].values()) == {"created"}

    reader_dsn = psycopg.conninfo.make_conninfo(dsn, user="grafana_reader", password=password)
    with psycopg.connect(reader_dsn, autocommit=True) as reader:
        assert reader.execute("SELECT count(*) FROM insight_issues").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("INSERT INTO audit_logs (org_id, action, target_type) VALUES (1, 'x', 'y')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("CREATE TABLE sneaky (id int)")
    with psycopg.connect(database.dsn, autocommit=True) as superuser:
        stored = superuser.execute(
            "SELECT rolpassword, rolsuper, rolcreaterole, rolcreatedb FROM pg_authid WHERE rolname = %s",
            ("grafana_reader",),
        ).fetchone()
        assert stored[0].startswith("SCRAM-SHA-256$") and password not in stored[0]
        assert stored[1:] == (False, False, False)
        privileges = superuser.execute(
            "SELECT DISTINCT privilege_type FROM information_schema.role_table_grants WHERE grantee = %s",
            ("grafana_reader",),
        ).fetchall()
        assert privileges == [("SELECT",)]
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE later_table (id int)")
    with psycopg.connect(reader_dsn) as reader:  # default privileges cover tables created later
        assert reader.execute("SELECT count(*) FROM later_table").fetchone()[0] == 0

    # Destroy order: dependents first, each from its outputs alone.
    migration.delete(applied.id, applied.outs)
    roles.delete(role.id, role.outs)
    extension.delete(ext.id, ext.outs)
    with psycopg.connect(database.dsn) as superuser:
        assert superuser.execute("SELECT 1 FROM pg_roles WHERE rolname = 'grafana_reader'").fetchone() is None
        assert superuser.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() is None
    assert index_state(database.dsn) == {}


def test_refresh_notices_an_index_dropped_out_of_band_and_the_update_rebuilds_it(dsn):
    provider = IndexMigrationProvider()
    created = provider.create({"dsn": dsn, "migration_sql": MIGRATION_SQL})
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_audit_logs_action")
        conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_users_org'::regclass")
    refreshed = provider.read(created.id, created.outs).outs
    assert refreshed["index_statuses"]["idx_audit_logs_action"] == "missing"
    assert refreshed["index_statuses"]["idx_users_org"] == "invalid"
    news = {"dsn": dsn, "migration_sql": MIGRATION_SQL}
    assert provider.diff(created.id, refreshed, news).changes is True
    repaired = provider.update(created.id, refreshed, news).outs
    assert repaired["index_statuses"]["idx_audit_logs_action"] == "created"
    assert repaired["index_statuses"]["idx_users_org"] == "rebuilt"
    assert all(valid for _oid, valid in index_state(dsn).values())
    assert provider.diff(created.id, repaired, news).changes is False
