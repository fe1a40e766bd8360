"""Dynamic provider: one PostgreSQL extension (CREATE EXTENSION IF NOT EXISTS).

Stands in for `pulumi_postgresql.Extension` where that provider plugin is not available
(the local stack). It remembers whether it created the extension: delete drops only an
extension it created, and leaves it (with a warning) while other objects still use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CreateResult, DiffResult

from components.providers.pg_connection import PasswordFromConfig, connection_target, replaced_properties

__all__ = ["PostgresExtension", "PostgresExtensionArgs", "PostgresExtensionProvider"]

log = logging.getLogger(__name__)


def _connect(conninfo: str):
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)


class PostgresExtensionProvider(PasswordFromConfig):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name, schema = props["name"], props.get("schema") or "public"
        with _connect(props["dsn"]) as conn:
            existed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (name,)).fetchone()
            conn.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(
                    sql.Identifier(name), sql.Identifier(schema)
                )
            )
            query = "SELECT extversion FROM pg_extension WHERE extname = %s"
            version = conn.execute(query, (name,)).fetchone()
        target = connection_target(props["dsn"])
        outs = {
            "target": target,
            "name": name,
            "schema": schema,
            "version": version[0] if version else None,
            "created": existed is None,
        }
        return CreateResult(id_=f"{target} extension={name}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced_properties(olds, news, identity=("name",))
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("created"):
            return
        with _connect(self.conninfo_for(props["target"])) as conn:
            try:
                conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {}").format(sql.Identifier(props["name"])))
            except psycopg.errors.DependentObjectsStillExist as exc:
                log.warning("extension %s kept: other objects still use it (%s)", props["name"], exc)


@dataclass
class PostgresExtensionArgs:
    """dsn: a secret libpq connection string; password_config_key: config key of its password."""

    dsn: pulumi.Input[str]
    name: pulumi.Input[str]
    schema: pulumi.Input[str] = "public"
    password_config_key: str | None = None


class PostgresExtension(pulumi.dynamic.Resource):
    name: pulumi.Output[str]
    version: pulumi.Output[str]
    created: pulumi.Output[bool]

    def __init__(
        self, name: str, args: PostgresExtensionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            "dsn": pulumi.Output.secret(args.dsn),
            "name": args.name,
            "schema": args.schema,
            "target": None,
            "version": None,
            "created": None,
        }
        super().__init__(PostgresExtensionProvider(args.password_config_key), name, props, opts)
