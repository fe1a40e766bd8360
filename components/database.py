"""DatabaseTuning: pg_trgm, a read-only role for Grafana, and the performance-index migration.

management "provider" (staging, production): `pulumi_postgresql` Extension, Role and Grants
through an explicit postgresql Provider. management "sql" (the local stack, where the
pulumi-postgresql plugin is not available): the dynamic providers of
`components/providers/` do the same over psycopg. Either way the indexes come from the
`IndexMigration` dynamic resource (pulumi-postgresql has no Index resource), which waits
for the extension: the trigram index needs pg_trgm.

Registered for `databaseTuning: manage` only: a stack on a database it does not own (an
ephemeral stack on the staging database) uses the read-only `DatabaseCheck` instead.

Outputs: index_statuses {index: created | already_valid | rebuilt}, index_build_seconds,
index_count, owned_indexes, readonly_role (its name). Passwords stay secrets throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
from psycopg.conninfo import make_conninfo

from components.providers.index_migration import IndexMigration, IndexMigrationArgs
from components.providers.postgres_extension import PostgresExtension, PostgresExtensionArgs
from components.providers.postgres_readonly_role import ReadonlyRole, ReadonlyRoleArgs
from indexes.migration_plan import MigrationError, parse_migration
from indexes.targets import MIGRATION_FILE

__all__ = ["MANAGEMENT_MODES", "DatabaseTuning", "DatabaseTuningArgs", "build_dsn"]

MANAGEMENT_MODES = ("sql", "provider")


def build_dsn(host: str, port: int, dbname: str, user: str, password: str, sslmode: str) -> str:
    """A libpq connection string, every value quoted as libpq expects."""
    return make_conninfo(
        host=host, port=str(port), dbname=dbname, user=user, password=password or None, sslmode=sslmode
    )


@dataclass
class DatabaseTuningArgs:
    """Inputs of DatabaseTuning.

    host, port, database, admin_user, admin_password (secret), sslmode: the role that owns
    the tables and may create indexes, extensions and roles.
    management: "sql" (dynamic providers over psycopg) or "provider" (pulumi_postgresql).
    readonly_role / readonly_password (secret): the login role Grafana reads with.
    password_config_key: stack config key of admin_password; the dynamic providers read it
    on delete, where only non-secret outputs are available.
    migration_sql: the migration file's text (defaults to sql/migrations/add-performance-indexes.sql).
    """

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    admin_user: pulumi.Input[str]
    admin_password: pulumi.Input[str]
    readonly_role: pulumi.Input[str]
    readonly_password: pulumi.Input[str]
    sslmode: pulumi.Input[str] = "prefer"
    management: str = "sql"
    schema: str = "public"
    password_config_key: str | None = "odavl-perf:databasePassword"
    migration_sql: str | None = None
    lock_timeout: str | None = None
    statement_timeout: str | None = None


class DatabaseTuning(pulumi.ComponentResource):
    index_statuses: pulumi.Output[dict[str, str]]
    index_build_seconds: pulumi.Output[dict[str, float]]
    index_count: pulumi.Output[int]
    owned_indexes: pulumi.Output[list[str]]
    readonly_role: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseTuningArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("odavl:perf:DatabaseTuning", name, None, opts)
        if args.management not in MANAGEMENT_MODES:
            raise pulumi.RunError(
                f"DatabaseTuningArgs.management is {args.management!r}; "
                f"expected one of {', '.join(MANAGEMENT_MODES)}"
            )
        child = pulumi.ResourceOptions(parent=self)
        dsn = pulumi.Output.secret(
            pulumi.Output.all(
                args.host, args.port, args.database, args.admin_user, args.admin_password, args.sslmode
            ).apply(lambda values: build_dsn(*values))
        )

        if args.management == "provider":
            extension, role_name = self._with_pulumi_postgresql(name, args)
        else:
            extension, role_name = self._with_dynamic_providers(name, args, dsn)

        migration_sql = args.migration_sql
        if migration_sql is None:
            migration_sql = Path(MIGRATION_FILE).read_text(encoding="utf-8")
        try:  # fail the preview, not the update, on an unsafe or malformed migration
            parse_migration(migration_sql, args.schema)
        except MigrationError as exc:
            raise pulumi.RunError(f"index migration: {exc}") from exc
        migration = IndexMigration(
            f"{name}-index-migration",
            IndexMigrationArgs(
                dsn=dsn,
                migration_sql=migration_sql,
                schema=args.schema,
                password_config_key=args.password_config_key,
                lock_timeout=args.lock_timeout,
                statement_timeout=args.statement_timeout,
            ),
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[extension])),
        )

        self.index_statuses = migration.index_statuses
        self.index_build_seconds = migration.build_seconds
        self.index_count = migration.index_count
        self.owned_indexes = migration.owned_indexes
        self.readonly_role = role_name
        self.register_outputs(
            {
                "index_statuses": self.index_statuses,
                "index_build_seconds": self.index_build_seconds,
                "index_count": self.index_count,
                "owned_indexes": self.owned_indexes,
                "readonly_role": self.readonly_role,
            }
        )

    def _with_dynamic_providers(
        self, name: str, args: DatabaseTuningArgs, dsn: pulumi.Output[str]
    ) -> tuple[pulumi.Resource, pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        extension = PostgresExtension(
            f"{name}-pg-trgm",
            PostgresExtensionArgs(
                dsn=dsn, name="pg_trgm", schema=args.schema, password_config_key=args.password_config_key
            ),
            child,
        )
        role = ReadonlyRole(
            f"{name}-readonly-role",
            ReadonlyRoleArgs(
                dsn=dsn,
                role=args.readonly_role,
                password=args.readonly_password,
                schema=args.schema,
                password_config_key=args.password_config_key,
            ),
            child,
        )
        return extension, role.role

    def _with_pulumi_postgresql(
        self, name: str, args: DatabaseTuningArgs
    ) -> tuple[pulumi.Resource, pulumi.Output[str]]:
        import pulumi_postgresql as postgresql

        provider = postgresql.Provider(
            f"{name}-postgresql",
            host=args.host,
            port=args.port,
            database=args.database,
            username=args.admin_user,
            password=pulumi.Output.secret(args.admin_password),
            sslmode=args.sslmode,
            superuser=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        extension = postgresql.Extension(
            f"{name}-pg-trgm", name="pg_trgm", database=args.database, schema=args.schema, opts=child
        )
        role = postgresql.Role(
            f"{name}-readonly-role",
            name=args.readonly_role,
            login=True,
            password=pulumi.Output.secret(args.readonly_password),
            superuser=False,
            create_database=False,
            create_role=False,
            inherit=False,
            replication=False,
            bypass_row_level_security=False,
            opts=child,
        )
        grants = [
            ("connect", "database", None, ["CONNECT"]),
            ("schema-usage", "schema", args.schema, ["USAGE"]),
            ("tables-select", "table", args.schema, ["SELECT"]),
        ]
        for role_suffix, object_type, schema, privileges in grants:
            postgresql.Grant(
                f"{name}-grant-{role_suffix}",
                database=args.database,
                role=role.name,
                object_type=object_type,
                schema=schema,
                objects=[] if object_type == "table" else None,
                privileges=privileges,
                opts=child,
            )
        postgresql.DefaultPrivileges(
            f"{name}-default-select",
            database=args.database,
            role=role.name,
            owner=args.admin_user,
            schema=args.schema,
            object_type="table",
            privileges=["SELECT"],
            opts=child,
        )
        return extension, role.name
