"""DatabaseCheck: the read-only counterpart of DatabaseTuning (`databaseTuning: verify`).

A stack whose database belongs to another stack - an ephemeral `pr-<n>` or `rc-<sha>` stack on
the staging or production database - must never create, or on destroy drop, the read-only
role, its grants, pg_trgm or the indexes that the long-lived stack owns. This component only
reports whether each index of the migration file exists and is valid (`IndexCheck`), and warns
when one is not: the load test then measures a database without its performance indexes.

Outputs: index_statuses {index: valid | invalid | missing}, index_count, valid_count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.providers.index_check import IndexCheck, IndexCheckArgs
from indexes.targets import MIGRATION_FILE

__all__ = ["DatabaseCheck", "DatabaseCheckArgs"]


@dataclass
class DatabaseCheckArgs:
    """dsn: a secret libpq connection string; password_config_key: the config key of its password
    (read on refresh); migration_sql: defaults to sql/migrations/add-performance-indexes.sql."""

    dsn: pulumi.Input[str]
    schema: str = "public"
    password_config_key: str | None = "odavl-perf:databasePassword"
    migration_sql: str | None = None


class DatabaseCheck(pulumi.ComponentResource):
    index_statuses: pulumi.Output[dict[str, str]]
    index_count: pulumi.Output[int]
    valid_count: pulumi.Output[int]

    def __init__(
        self, name: str, args: DatabaseCheckArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("odavl:perf:DatabaseCheck", name, None, opts)
        migration_sql = args.migration_sql
        if migration_sql is None:
            migration_sql = Path(MIGRATION_FILE).read_text(encoding="utf-8")
        check = IndexCheck(
            f"{name}-index-check",
            IndexCheckArgs(
                dsn=args.dsn,
                migration_sql=migration_sql,
                schema=args.schema,
                password_config_key=args.password_config_key,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        check.index_statuses.apply(lambda statuses: _warn_unless_valid(statuses, check))
        self.index_statuses = check.index_statuses
        self.index_count = check.index_count
        self.valid_count = check.valid_count
        self.register_outputs(
            {
                "index_statuses": self.index_statuses,
                "index_count": self.index_count,
                "valid_count": self.valid_count,
            }
        )


def _warn_unless_valid(statuses: dict[str, str] | None, resource: pulumi.Resource) -> None:
    broken = sorted(f"{name} ({status})" for name, status in (statuses or {}).items() if status != "valid")
    if broken:
        pulumi.log.warn(
            "performance indexes not in place on the shared database (this stack only checks them; "
            f"the stack that manages the database repairs them): {', '.join(broken)}",
            resource,
        )
