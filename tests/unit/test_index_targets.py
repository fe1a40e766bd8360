"""sql/verify/index_targets.sql: one target per index, the app's own SQL, plan reading."""

from __future__ import annotations

import re

import pytest
from pglast import ast, parse_sql

from indexes.migration_plan import parse_migration
from indexes.targets import (
    MIGRATION_FILE,
    TargetFileError,
    index_names_in_plan,
    load_index_targets,
    parse_index_targets,
    same_sql,
)
from reference_app import queries

TARGETS = load_index_targets()


def test_every_index_has_exactly_one_target_in_migration_order():
    migration = parse_migration(MIGRATION_FILE.read_text(encoding="utf-8"))
    assert [t.index for t in TARGETS] == list(migration.names)


@pytest.mark.parametrize("target", [t for t in TARGETS if t.query_name], ids=lambda t: t.index)
def test_target_sql_is_the_reference_app_s_sql(target):
    assert same_sql(target.sql, getattr(queries, target.query_name))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.index)
def test_params_query_provides_every_placeholder(target):
    placeholders = set(re.findall(r"%\((\w+)\)s", target.sql))
    statement = parse_sql(target.params_sql)[0].stmt
    assert isinstance(statement, ast.SelectStmt)
    columns = set()
    for res in statement.targetList:
        if res.name:
            columns.add(res.name)
        elif isinstance(res.val, ast.ColumnRef):
            columns.add(res.val.fields[-1].sval)
    assert placeholders <= columns, placeholders - columns


def test_referential_action_targets_name_their_foreign_key():
    actions = [t for t in TARGETS if t.referential_action]
    assert len(actions) == 4
    for target in actions:
        assert "ON DELETE" in target.referential_action
        assert target.sql.startswith(("UPDATE ONLY", "DELETE FROM ONLY"))


def test_malformed_blocks_are_reported_by_index_name():
    with pytest.raises(TargetFileError, match="idx_x"):
        parse_index_targets("-- index: idx_x\n-- params: SELECT 1 AS a\nSELECT 1;\n")
    with pytest.raises(TargetFileError, match="no SQL"):
        parse_index_targets("-- index: idx_x\n-- query: Q\n-- params: SELECT 1 AS a\n")


PLAN = [
    {
        "Plan": {
            "Node Type": "Limit",
            "Plans": [
                {
                    "Node Type": "Nested Loop",
                    "Plans": [
                        {"Node Type": "Index Scan", "Index Name": "idx_sessions_token"},
                        {"Node Type": "Index Only Scan", "Index Name": "users_pkey"},
                    ],
                },
                {
                    "Node Type": "Bitmap Heap Scan",
                    "Subplan Name": "InitPlan 1",
                    "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "idx_x"}],
                },
                {"Node Type": "Seq Scan", "Relation Name": "organizations"},
            ],
        }
    }
]


def test_index_names_are_found_at_any_depth():
    assert index_names_in_plan(PLAN) == {"idx_sessions_token", "users_pkey", "idx_x"}
    assert index_names_in_plan([{"Plan": {"Node Type": "Seq Scan"}}]) == set()
