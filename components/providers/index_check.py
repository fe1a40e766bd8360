"""Dynamic provider: a read-only check of the performance indexes on a database this stack does
not own (`databaseTuning: verify`, e.g. an ephemeral stack on the staging database).

- create: looks up every index of the migration file and reports its status - `valid`,
  `invalid` (a failed concurrent build) or `missing`. It runs no DDL and takes no locks beyond
  a catalog read.
- read (pulumi refresh): looks again.
- diff: another server, database or schema, or another migration file, is a replacement (a
  new check); nothing else changes.
- delete: nothing. The stack owns no database object, so destroying it leaves the indexes,
  pg_trgm and the read-only role to the stack that manages them.

Secrets: the DSN is a secret input and never part of the outputs, which keep the password-free
connection target; `read`, which only sees outputs, takes the password from the stack
configuration key named by `password_config_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult

from components.providers.index_migration_runner import PsycopgIndexDatabase
from components.providers.pg_connection import (
    PasswordFromConfig,
    connection_target,
    is_unknown,
    replaced_properties,
)
from indexes.migration_plan import parse_migration

__all__ = [
    "STATUS_INVALID",
    "STATUS_MISSING",
    "STATUS_VALID",
    "IndexCheck",
    "IndexCheckArgs",
    "check_indexes",
]

STATUS_VALID = "valid"
STATUS_INVALID = "invalid"
STATUS_MISSING = "missing"


def check_indexes(db: PsycopgIndexDatabase, schema: str, names: tuple[str, ...]) -> dict[str, str]:
    """{index: valid | invalid | missing} for each of `names` in `schema` (catalog reads only)."""
    statuses = {}
    for name in names:
        found = db.find_index(schema, name)
        if found is None:
            statuses[name] = STATUS_MISSING
        else:
            statuses[name] = STATUS_VALID if found.valid else STATUS_INVALID
    return statuses


class IndexCheckProvider(PasswordFromConfig):
    """See the module docstring. Holds no secret when pickled: the password is read in configure."""

    def _check(self, conninfo: str, migration_sql: str, schema: str) -> dict[str, Any]:
        migration = parse_migration(migration_sql, schema)
        with PsycopgIndexDatabase(conninfo) as db:
            statuses = check_indexes(db, schema, migration.names)
        return {
            "target": connection_target(conninfo),
            "schema": schema,
            "migration_sql": migration_sql,
            "migration_checksum": migration.checksum,
            "index_statuses": statuses,
            "index_count": len(statuses),
            "valid_count": sum(status == STATUS_VALID for status in statuses.values()),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._check(props["dsn"], props["migration_sql"], props.get("schema") or "public")
        return CreateResult(id_=f"{outs['target']} schema={outs['schema']} check", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced_properties(olds, news)
        sql = news.get("migration_sql")
        if is_unknown(sql) or parse_migration(sql).checksum != olds.get("migration_checksum"):
            replaces.append("migration_sql")
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not props.get("target") or not props.get("migration_sql"):
            return ReadResult(id_, props)
        outs = self._check(
            self.conninfo_for(props["target"]), props["migration_sql"], props.get("schema") or "public"
        )
        return ReadResult(id_, {**props, **outs})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: a check owns no database object."""


@dataclass
class IndexCheckArgs:
    """dsn: libpq connection string (a secret; any role that can read the catalog will do).
    migration_sql: the migration file's text, naming the indexes to look for.
    password_config_key: stack config key holding the DSN's password, used on refresh."""

    dsn: pulumi.Input[str]
    migration_sql: pulumi.Input[str]
    schema: pulumi.Input[str] = "public"
    password_config_key: str | None = None


class IndexCheck(pulumi.dynamic.Resource):
    """The performance indexes of one database, looked at and reported, never changed."""

    target: pulumi.Output[str]
    index_statuses: pulumi.Output[dict[str, str]]
    index_count: pulumi.Output[int]
    valid_count: pulumi.Output[int]

    def __init__(self, name: str, args: IndexCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {
            "dsn": pulumi.Output.secret(args.dsn),
            "migration_sql": args.migration_sql,
            "schema": args.schema,
            "target": None,
            "migration_checksum": None,
            "index_statuses": None,
            "index_count": None,
            "valid_count": None,
        }
        super().__init__(IndexCheckProvider(args.password_config_key), name, props, opts)
