"""Dynamic providers' pure parts: diff decisions, password handling, pickled state."""

from __future__ import annotations

import dill
import pytest
from pulumi.dynamic import Config, ConfigureRequest

from components.providers.index_migration import IndexMigrationProvider
from components.providers.pg_connection import UNKNOWN, connection_target
from components.providers.postgres_readonly_role import ReadonlyRoleProvider, password_fingerprint
from indexes.migration_plan import parse_migration
from indexes.targets import MIGRATION_FILE

DSN = "host=127.0.0.1 port=5432 dbname=studiohub user=owner password=s3cret sslmode=prefer"
SQL = MIGRATION_FILE.read_text(encoding="utf-8")


def olds() -> dict:
    return {
        "target": connection_target(DSN),
        "schema": "public",
        "migration_checksum": parse_migration(SQL).checksum,
        "owned_indexes": ["idx_users_email"],
    }


def test_connection_target_drops_the_password():
    target = connection_target(DSN)
    assert "s3cret" not in target
    assert target == "host=127.0.0.1 port=5432 dbname=studiohub user=owner sslmode=prefer"


def test_same_file_and_target_is_no_change():
    diff = IndexMigrationProvider().diff("id", olds(), {"dsn": DSN, "migration_sql": SQL, "schema": "public"})
    assert diff.changes is False
    assert diff.replaces == []


def test_a_changed_file_is_an_in_place_update():
    changed = SQL + "\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_extra ON users (display_name);\n"
    diff = IndexMigrationProvider().diff("id", olds(), {"dsn": DSN, "migration_sql": changed})
    assert diff.changes is True
    assert diff.replaces == []


def test_a_new_password_alone_is_no_change():
    news = {"dsn": DSN.replace("s3cret", "rotated"), "migration_sql": SQL}
    assert IndexMigrationProvider().diff("id", olds(), news).changes is False


@pytest.mark.parametrize(
    ("news", "replaced"),
    [
        ({"dsn": DSN.replace("5432", "5433"), "migration_sql": SQL}, ["dsn"]),
        ({"dsn": DSN.replace("studiohub", "other"), "migration_sql": SQL}, ["dsn"]),
        ({"dsn": DSN, "migration_sql": SQL, "schema": "app"}, ["schema"]),
        ({"dsn": UNKNOWN, "migration_sql": SQL}, ["dsn"]),
    ],
)
def test_another_database_or_schema_is_a_replacement(news, replaced):
    diff = IndexMigrationProvider().diff("id", olds(), news)
    assert diff.changes is True
    assert diff.replaces == replaced


def test_the_delete_password_comes_from_the_stack_config_and_is_never_pickled():
    provider = IndexMigrationProvider("odavl-perf:databasePassword")
    pickled = dill.dumps(provider)
    provider.configure(ConfigureRequest(Config({"odavl-perf:databasePassword": "s3cret"}, "odavl-perf")))
    assert "password=s3cret" in provider.conninfo_for(connection_target(DSN))
    assert b"s3cret" not in pickled
    fresh = dill.loads(pickled)
    assert fresh.conninfo_for("host=h dbname=d") == "host=h dbname=d"


def test_without_a_configured_password_libpq_sources_are_left_to_libpq():
    provider = IndexMigrationProvider("odavl-perf:databasePassword")
    provider.configure(ConfigureRequest(Config({}, "odavl-perf")))
    assert provider.conninfo_for("host=h dbname=d") == "host=h dbname=d"


def test_readonly_role_password_change_is_an_update_detected_by_fingerprint():
    old = {
        "target": connection_target(DSN),
        "role": "grafana_reader",
        "schema": "public",
        "password_salt": "salt",
        "password_fingerprint": password_fingerprint("salt", "first"),
    }
    provider = ReadonlyRoleProvider()
    same = provider.diff("id", old, {"dsn": DSN, "role": "grafana_reader", "password": "first"})
    assert same.changes is False
    rotated = provider.diff("id", old, {"dsn": DSN, "role": "grafana_reader", "password": "second"})
    assert rotated.changes is True
    assert rotated.replaces == []
    renamed = provider.diff("id", old, {"dsn": DSN, "role": "other", "password": "first"})
    assert renamed.replaces == ["role"]


def test_an_index_found_missing_or_invalid_by_refresh_is_a_change():
    for status in ("missing", "invalid"):
        refreshed = {**olds(), "index_statuses": {"idx_users_email": status, "idx_users_org": "created"}}
        diff = IndexMigrationProvider().diff("id", refreshed, {"dsn": DSN, "migration_sql": SQL})
        assert diff.changes is True
        assert diff.replaces == []
    healthy = {**olds(), "index_statuses": {"idx_users_email": "already_valid", "idx_users_org": "rebuilt"}}
    assert IndexMigrationProvider().diff("id", healthy, {"dsn": DSN, "migration_sql": SQL}).changes is False


def test_check_rejects_an_unsafe_migration_before_any_connection():
    provider = IndexMigrationProvider()
    unsafe = "SET lock_timeout = '5s';\nSET statement_timeout = '1min';\nCREATE INDEX idx_x ON users (email);"
    result = provider.check({}, {"dsn": DSN, "migration_sql": unsafe})
    assert [(f.property, f.reason) for f in result.failures] == [
        ("migration_sql", "idx_x: CREATE INDEX must be CONCURRENTLY")
    ]
    assert provider.check({}, {"dsn": DSN, "migration_sql": SQL}).failures == []
    assert provider.check({}, {"dsn": DSN, "migration_sql": UNKNOWN}).failures == []
