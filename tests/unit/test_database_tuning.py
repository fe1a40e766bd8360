"""components/database.py DatabaseTuning under Pulumi mocks, both management modes."""

from __future__ import annotations

import base64

import dill
import pulumi
import pytest

from components.database import DatabaseTuning, DatabaseTuningArgs, build_dsn
from components.providers.index_migration import IndexMigrationProvider
from components.providers.postgres_extension import PostgresExtensionProvider
from components.providers.postgres_readonly_role import ReadonlyRoleProvider
from tests.unit.pulumi_capture import capture, is_secret, reveal

DYNAMIC = "pulumi-python:dynamic:Resource"
ADMIN_PASSWORD = "admin-s3cret"
READONLY_PASSWORD = "grafana-s3cret"


def tuning_args(management: str = "sql") -> DatabaseTuningArgs:
    return DatabaseTuningArgs(
        host="127.0.0.1",
        port=5432,
        database="studiohub",
        admin_user="studiohub",
        admin_password=pulumi.Output.secret(ADMIN_PASSWORD),
        readonly_role="grafana_reader",
        readonly_password=pulumi.Output.secret(READONLY_PASSWORD),
        management=management,
    )


def build(management: str):
    def make() -> DatabaseTuning:
        return DatabaseTuning("db", tuning_args(management))

    return capture(make, stack="local" if management == "sql" else "staging")


def by_name(resources):
    return {r.name: r for r in resources}


def test_sql_mode_uses_the_dynamic_providers_with_secret_inputs():
    resources, urns = build("sql")
    named = by_name(resources)
    assert {"db-pg-trgm", "db-readonly-role", "db-index-migration"} <= set(named)
    providers = {
        name: type(dill.loads(base64.b64decode(reveal(named[name].inputs["__provider"]))))
        for name in ("db-pg-trgm", "db-readonly-role", "db-index-migration")
    }
    assert providers == {
        "db-pg-trgm": PostgresExtensionProvider,
        "db-readonly-role": ReadonlyRoleProvider,
        "db-index-migration": IndexMigrationProvider,
    }
    for name in providers:
        assert named[name].typ == DYNAMIC
        assert is_secret(named[name].inputs["dsn"])
        assert ADMIN_PASSWORD in reveal(named[name].inputs["dsn"])
        # the pickled provider carries no secret
        assert ADMIN_PASSWORD.encode() not in base64.b64decode(reveal(named[name].inputs["__provider"]))
        assert "::odavl:perf:DatabaseTuning$" in urns[name]
    role = named["db-readonly-role"].inputs
    assert is_secret(role["password"])
    assert reveal(role["role"]) == "grafana_reader"
    migration = named["db-index-migration"].inputs
    assert (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_org_created" in migration["migration_sql"]
    )
    assert not any(r.typ.startswith("postgresql:") for r in resources)


def test_provider_mode_uses_pulumi_postgresql_with_select_only_grants():
    resources, urns = build("provider")
    types = [r.typ for r in resources]
    assert types.count("pulumi:providers:postgresql") == 1
    assert types.count("postgresql:index/extension:Extension") == 1
    assert types.count("postgresql:index/role:Role") == 1
    grants = [r.inputs for r in resources if r.typ == "postgresql:index/grant:Grant"]
    assert sorted(tuple(g["privileges"]) for g in grants) == [("CONNECT",), ("SELECT",), ("USAGE",)]
    default_type = "postgresql:index/defaultPrivileges:DefaultPrivileges"
    defaults = [r.inputs for r in resources if r.typ == default_type]
    assert [d["privileges"] for d in defaults] == [["SELECT"]]
    named = by_name(resources)
    assert named["db-pg-trgm"].inputs["name"] == "pg_trgm"
    role = named["db-readonly-role"].inputs
    assert role["login"] is True
    assert role["superuser"] is False
    assert is_secret(role["password"])
    assert is_secret(named["db-postgresql"].inputs["password"])
    assert named["db-index-migration"].typ == DYNAMIC
    for name in set(named) - {"db"}:
        assert "::odavl:perf:DatabaseTuning$" in urns[name], name


def test_outputs_expose_statuses_count_and_role_name():
    captured = {}

    def make() -> DatabaseTuning:
        component = DatabaseTuning("db", tuning_args())
        component.readonly_role.apply(lambda value: captured.setdefault("role", value))
        return component

    capture(make, stack="local")
    assert captured["role"] == "grafana_reader"


def test_an_unknown_management_mode_is_a_clear_error():
    with pytest.raises(pulumi.RunError, match="management is 'terraform'; expected one of sql, provider"):
        build("terraform")


def test_an_unsafe_migration_fails_the_program_with_the_reason():
    def make() -> DatabaseTuning:
        args = tuning_args()
        args.migration_sql = "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"
        return DatabaseTuning("db", args)

    with pytest.raises(
        pulumi.RunError, match="index migration: i: set statement_timeout before the first index"
    ):
        capture(make, stack="local")


def test_build_dsn_quotes_values():
    dsn = build_dsn("127.0.0.1", 5432, "studio hub", "owner", "p'w d", "prefer")
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(dsn) == {
        "host": "127.0.0.1",
        "port": "5432",
        "dbname": "studio hub",
        "user": "owner",
        "password": "p'w d",
        "sslmode": "prefer",
    }
