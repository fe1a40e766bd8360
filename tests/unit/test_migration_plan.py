"""indexes/migration_plan.py: parsing, normal forms, per-index decisions."""

from __future__ import annotations

import pytest

from indexes.migration_plan import (
    Action,
    ExistingIndex,
    MigrationParseError,
    UnsupportedServerError,
    check_server_version,
    leftover_names,
    normalise_index_definition,
    parse_migration,
    plan_index,
)
from indexes.targets import MIGRATION_FILE

CIC = "CREATE INDEX CONCURRENTLY IF NOT EXISTS"
HEADER = "SET lock_timeout = '5s';\nSET statement_timeout = '10min';\n"

SPEC_NAMED = {
    "idx_insight_issues_org_created": "(org_id, created_at DESC) WHERE deleted_at IS NULL",
    "idx_insight_issues_severity": "(severity, created_at DESC) WHERE resolved_at IS NULL",
    "idx_insight_issues_project": "(project_id, status, created_at DESC)",
    "idx_insight_issues_detector": "(detector, created_at DESC) WHERE resolved_at IS NULL",
    "idx_insight_issues_file_path": "USING gin (file_path gin_trgm_ops)",
}

# Indexes per table as the specification counts them (plus the foreign-key indexes).
SPEC_COUNTS = {
    "insight_issues": 5 + 1,
    "autopilot_runs": 4,
    "guardian_tests": 4,
    "sessions": 2,
    "users": 2,
    "api_keys": 2 + 2,
    "organizations": 1,
    "projects": 1,
    "analytics_events": 2 + 1,
    "audit_logs": 3,
}


@pytest.fixture(scope="module")
def migration():
    return parse_migration(MIGRATION_FILE.read_text(encoding="utf-8"))


def test_the_migration_has_at_least_30_concurrent_robust_indexes(migration):
    assert len(migration.indexes) >= 30
    assert len(set(migration.names)) == len(migration.names)
    for index in migration.indexes:
        assert index.create_sql.startswith(f"{CIC} {index.name}"), index.name
    assert migration.lock_timeout == "30s"
    assert migration.statement_timeout == "30min"


def test_the_migration_defines_the_specification_s_named_indexes(migration):
    for name, shape in SPEC_NAMED.items():
        wanted = normalise_index_definition(f"CREATE INDEX {name} ON insight_issues {shape}")
        assert migration.index(name).normal_form == wanted


def test_the_migration_covers_every_specification_category(migration):
    per_table: dict[str, int] = {}
    for index in migration.indexes:
        per_table[index.table] = per_table.get(index.table, 0) + 1
    assert per_table == SPEC_COUNTS


@pytest.mark.parametrize(
    ("ours", "server"),
    [
        (
            f"{CIC} i ON t (org_id, created_at DESC) WHERE deleted_at IS NULL",
            "CREATE INDEX i ON public.t USING btree (org_id, created_at DESC) WHERE (deleted_at IS NULL)",
        ),
        (
            f"{CIC} i ON t USING gin (file_path gin_trgm_ops)",
            "CREATE INDEX i ON public.t USING gin (file_path public.gin_trgm_ops)",
        ),
        (
            f"{CIC} i ON t (org_id, created_at DESC) WHERE active",
            "CREATE INDEX i ON public.t USING btree (org_id, created_at DESC) WHERE active",
        ),
        (
            f"{CIC} i ON t (s ASC, d DESC NULLS FIRST) WHERE s IN ('a', 'b')",
            "CREATE INDEX i ON public.t USING btree (s, d DESC) "
            "WHERE (s = ANY (ARRAY['a'::text, 'b'::text]))",
        ),
        (
            f"{CIC} i ON t (lower(email)) WHERE status = 'x'",
            "CREATE INDEX i ON public.t USING btree (lower((email)::text)) "
            "WHERE ((status)::text = 'x'::text)",
        ),
    ],
)
def test_server_printed_definitions_compare_equal(ours, server):
    assert normalise_index_definition(ours) == normalise_index_definition(server)


@pytest.mark.parametrize(
    "drifted",
    [
        "CREATE INDEX i ON public.t USING btree (created_at DESC, org_id) WHERE (deleted_at IS NULL)",
        "CREATE INDEX i ON public.t USING btree (org_id, created_at) WHERE (deleted_at IS NULL)",
        "CREATE INDEX i ON public.t USING btree (org_id, created_at DESC)",
        "CREATE INDEX i ON public.t USING hash (org_id)",
        "CREATE INDEX i ON public.other USING btree (org_id, created_at DESC) WHERE (deleted_at IS NULL)",
        "CREATE INDEX i ON audit.t USING btree (org_id, created_at DESC) WHERE (deleted_at IS NULL)",
        "CREATE INDEX i ON public.t USING btree (org_id, created_at DESC) WHERE (resolved_at IS NULL)",
    ],
)
def test_drifted_definitions_differ(drifted):
    wanted = f"{CIC} i ON t (org_id, created_at DESC) WHERE deleted_at IS NULL"
    assert normalise_index_definition(wanted) != normalise_index_definition(drifted)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (HEADER + "CREATE INDEX i ON t (a);", "CONCURRENTLY"),
        (HEADER + "CREATE INDEX CONCURRENTLY i ON t (a);", "IF NOT EXISTS"),
        (HEADER + "CREATE INDEX CONCURRENTLY ON t (a);", "explicit name"),
        (HEADER + "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", "UNIQUE"),
        (HEADER + "DROP TABLE t;", "only SET and CREATE INDEX"),
        (HEADER + "CREATE EXTENSION IF NOT EXISTS pg_trgm;", "only SET and CREATE INDEX"),
        (
            f"SET lock_timeout = '5s';\n{CIC} i ON t (a);",
            "statement_timeout",
        ),
        (f"{CIC} i ON t (a);", "lock_timeout and statement_timeout"),
        ("SET LOCAL lock_timeout = '5s';", "SET LOCAL"),
        (HEADER, "defines no index"),
        (HEADER + f"{CIC} i ON t (a);\n" * 2, "more than once: i"),
        (HEADER + "CREATE INDEX CONCURENTLY i ON t (a);", "not valid SQL"),
    ],
)
def test_unsafe_or_malformed_migrations_are_refused(sql, message):
    with pytest.raises(MigrationParseError, match=message):
        parse_migration(sql)


def test_statements_keep_their_text_without_leading_comments():
    migration = parse_migration(HEADER + f"-- why\n-- more\n{CIC} i ON t (a);")
    assert migration.indexes[0].create_sql == f"{CIC} i ON t (a)"
    assert migration.indexes[0].schema == "public"
    assert parse_migration(HEADER + f"{CIC} i ON t (b);").checksum != (migration.checksum)


def _existing(definition: str, valid: bool = True) -> ExistingIndex:
    return ExistingIndex("i", "public", "t", definition, valid)


def test_plan_index_decides_create_keep_rebuild():
    wanted = parse_migration(HEADER + f"{CIC} i ON t (a DESC);").indexes[0]
    same = "CREATE INDEX i ON public.t USING btree (a DESC)"
    assert plan_index(wanted, None, "public").action is Action.CREATE
    assert plan_index(wanted, _existing(same), "public").action is Action.KEEP
    invalid = plan_index(wanted, _existing(same, valid=False), "public")
    assert invalid.action is Action.REBUILD
    assert "invalid" in invalid.reason
    drifted = plan_index(wanted, _existing("CREATE INDEX i ON public.t USING btree (a)"), "public")
    assert drifted.action is Action.REBUILD
    assert "drifted" in drifted.reason


@pytest.mark.parametrize("version", [140000, 140001, 140002, 140003])
def test_postgresql_14_0_to_14_3_is_refused(version):
    with pytest.raises(UnsupportedServerError, match=r"PostgreSQL 14\.\d"):
        check_server_version(version)


@pytest.mark.parametrize("version", [130015, 140004, 140019, 150010, 170002])
def test_other_versions_are_accepted(version):
    check_server_version(version)


def test_leftovers_are_found_for_managed_indexes_only():
    names = [
        "idx_a",
        "idx_a_ccnew",
        "idx_a_ccnew1",
        "idx_a_ccold",
        "idx_b_ccold2",
        "other_ccnew",
        "idx_ccnewish",
    ]
    assert leftover_names(names, ["idx_a", "idx_b"]) == [
        "idx_a_ccnew",
        "idx_a_ccnew1",
        "idx_a_ccold",
        "idx_b_ccold2",
    ]
