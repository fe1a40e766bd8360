"""Dynamic provider: the performance-index migration as one Pulumi resource.

A thin shell over `migration_plan` (pure) and `index_migration_runner` (I/O).

- create/update: apply the migration (see `index_migration_runner`); outputs per index its
  status (created / already_valid / rebuilt) and build time, and the indexes the stack
  owns: the ones it created or rebuilt. An update also drops (concurrently) owned indexes
  that were removed from the migration file.
- diff: a changed migration file is an update; another server, database or schema is a
  replacement. A rerun with the same file changes nothing.
- read (pulumi refresh): marks indexes that went missing or invalid since the last run
  (status "missing" / "invalid"); the next diff then reports a change and the update
  repairs them.
- delete: DROP INDEX CONCURRENTLY for the owned indexes only; indexes that existed before
  the stack (status already_valid on its first run) stay.

Secrets: the DSN is a secret input and never part of the outputs. The outputs keep the
password-free connection target; `delete`, which only sees outputs, takes the password
from the stack configuration key named by `password_config_key` (read in `configure`), or
else from libpq's own sources (PGPASSWORD, ~/.pgpass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from components.providers.index_migration_runner import (
    STATUS_ALREADY_VALID,
    PsycopgIndexDatabase,
    RetryPolicy,
    apply_migration,
    drop_indexes,
)
from components.providers.pg_connection import (
    PasswordFromConfig,
    connection_target,
    is_unknown,
    replaced_properties,
)
from indexes.migration_plan import Migration, MigrationError, parse_migration

__all__ = ["IndexMigration", "IndexMigrationArgs", "IndexMigrationProvider"]


STATUS_MISSING = "missing"
STATUS_INVALID = "invalid"
_NEEDS_REPAIR = frozenset({STATUS_MISSING, STATUS_INVALID})


def _retry_policy(props: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=int(props.get("retry_max_attempts") or 5),
        initial_backoff_s=float(props.get("retry_initial_backoff_s") or 2.0),
    )


class IndexMigrationProvider(PasswordFromConfig):
    """See the module docstring. Holds no secret when pickled: the password is read in configure."""

    def _apply(self, props: dict[str, Any]) -> tuple[Migration, dict[str, Any]]:
        schema = props.get("schema") or "public"
        migration = parse_migration(props["migration_sql"], schema)
        with PsycopgIndexDatabase(props["dsn"]) as db:
            report = apply_migration(
                db,
                migration,
                schema=schema,
                retry=_retry_policy(props),
                lock_timeout=props.get("lock_timeout") or None,
                statement_timeout=props.get("statement_timeout") or None,
            )
        outs = {
            "target": connection_target(props["dsn"]),
            "schema": schema,
            "migration_checksum": migration.checksum,
            "index_statuses": report.statuses,
            "build_seconds": report.build_seconds,
            "index_count": len(report.outcomes),
            "leftovers_dropped": report.leftovers_dropped,
            "server_version_num": report.server_version_num,
        }
        return migration, outs

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Reject an unsafe or malformed migration before anything touches the database."""
        failures = []
        sql = news.get("migration_sql")
        if isinstance(sql, str) and not is_unknown(sql):
            try:
                parse_migration(sql, news.get("schema") or "public")
            except MigrationError as exc:
                failures.append(CheckFailure("migration_sql", str(exc)))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        _migration, outs = self._apply(props)
        outs["owned_indexes"] = sorted(
            name for name, status in outs["index_statuses"].items() if status != STATUS_ALREADY_VALID
        )
        return CreateResult(id_=f"{outs['target']} schema={outs['schema']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced_properties(olds, news)
        sql = news.get("migration_sql")
        changed_file = is_unknown(sql) or parse_migration(sql).checksum != olds.get("migration_checksum")
        statuses = (olds.get("index_statuses") or {}).values()
        needs_repair = any(status in _NEEDS_REPAIR for status in statuses)
        changes = bool(replaces) or changed_file or needs_repair
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        migration, outs = self._apply(news)
        previously_owned = set(olds.get("owned_indexes") or ())
        removed = sorted(previously_owned - set(migration.names))
        if removed:
            with PsycopgIndexDatabase(news["dsn"]) as db:
                drop_indexes(db, outs["schema"], removed, retry=_retry_policy(news))
        statuses = outs["index_statuses"]
        newly_owned = {name for name, status in statuses.items() if status != STATUS_ALREADY_VALID}
        outs["owned_indexes"] = sorted((previously_owned - set(removed)) | newly_owned)
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        statuses = dict(props.get("index_statuses") or {})
        if not statuses or not props.get("target"):
            return ReadResult(id_, props)
        schema = props.get("schema") or "public"
        with PsycopgIndexDatabase(self.conninfo_for(props["target"])) as db:
            for name, status in statuses.items():
                found = db.find_index(schema, name)
                if found is None:
                    statuses[name] = STATUS_MISSING
                elif not found.valid:
                    statuses[name] = STATUS_INVALID
                elif status in _NEEDS_REPAIR:
                    statuses[name] = STATUS_ALREADY_VALID  # repaired by someone else meanwhile
        return ReadResult(id_, {**props, "index_statuses": statuses})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        owned = list(props.get("owned_indexes") or ())
        if not owned:
            return
        with PsycopgIndexDatabase(self.conninfo_for(props["target"])) as db:
            drop_indexes(db, props.get("schema") or "public", owned)


@dataclass
class IndexMigrationArgs:
    """Inputs of `IndexMigration`.

    dsn: libpq connection string of a role that may create indexes (a secret).
    migration_sql: the migration file's text.
    password_config_key: stack config key holding the DSN's password, used on delete.
    lock_timeout / statement_timeout: override the file's SET values (e.g. "5s").
    """

    dsn: pulumi.Input[str]
    migration_sql: pulumi.Input[str]
    schema: pulumi.Input[str] = "public"
    password_config_key: str | None = None
    lock_timeout: pulumi.Input[str] | None = None
    statement_timeout: pulumi.Input[str] | None = None
    retry_max_attempts: pulumi.Input[int] = 5
    retry_initial_backoff_s: pulumi.Input[float] = 2.0


class IndexMigration(pulumi.dynamic.Resource):
    """The performance-index migration applied to one database."""

    target: pulumi.Output[str]
    index_statuses: pulumi.Output[dict[str, str]]
    build_seconds: pulumi.Output[dict[str, float]]
    index_count: pulumi.Output[int]
    owned_indexes: pulumi.Output[list[str]]
    leftovers_dropped: pulumi.Output[list[str]]
    migration_checksum: pulumi.Output[str]

    def __init__(
        self, name: str, args: IndexMigrationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            "dsn": pulumi.Output.secret(args.dsn),
            "migration_sql": args.migration_sql,
            "schema": args.schema,
            "lock_timeout": args.lock_timeout,
            "statement_timeout": args.statement_timeout,
            "retry_max_attempts": args.retry_max_attempts,
            "retry_initial_backoff_s": args.retry_initial_backoff_s,
            "target": None,
            "index_statuses": None,
            "build_seconds": None,
            "index_count": None,
            "owned_indexes": None,
            "leftovers_dropped": None,
            "migration_checksum": None,
        }
        super().__init__(IndexMigrationProvider(args.password_config_key), name, props, opts)
