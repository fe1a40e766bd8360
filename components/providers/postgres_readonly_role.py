"""Dynamic provider: a read-only login role (SELECT grants only), e.g. for Grafana.

Stands in for `pulumi_postgresql.Role` + `Grant` where that provider plugin is not
available (the local stack). The role gets LOGIN and nothing else, CONNECT on the
database, USAGE on the schema, SELECT on its tables and, through default privileges, on
tables created there later.

The password is a secret input. It reaches the server only as a SCRAM-SHA-256 verifier
computed by libpq on the client, so the plain password never appears in a statement
(server logs, pg_stat_statements). The outputs keep a salted SHA-256 fingerprint of it,
to notice a change; `ReadonlyRole` marks that output secret as well.

A role that existed before is adopted (password and grants set) but not dropped on delete.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CreateResult, DiffResult, UpdateResult

from components.providers.pg_connection import (
    PasswordFromConfig,
    connection_target,
    database_name,
    is_unknown,
    replaced_properties,
)
from components.providers.role_password import password_clause

__all__ = ["ReadonlyRole", "ReadonlyRoleArgs", "ReadonlyRoleProvider", "password_fingerprint"]


_GRANTS = (
    "GRANT CONNECT ON DATABASE {db} TO {role}",
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
)
_REVOKES = (
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE SELECT ON TABLES FROM {role}",
    "REVOKE SELECT ON ALL TABLES IN SCHEMA {schema} FROM {role}",
    "REVOKE USAGE ON SCHEMA {schema} FROM {role}",
    "REVOKE CONNECT ON DATABASE {db} FROM {role}",
)


def password_fingerprint(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


def _connect(conninfo: str):
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)


def _apply_role(conn, role: str, password: str, schema: str, database: str, create: bool) -> None:
    options = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS ")
    verb = sql.SQL("CREATE ROLE") if create else sql.SQL("ALTER ROLE")
    ident = sql.Identifier(role)
    conn.execute(sql.SQL("{} {} ").format(verb, ident) + options + password_clause(conn, role, password))
    for statement in _GRANTS:
        conn.execute(
            sql.SQL(statement).format(db=sql.Identifier(database), schema=sql.Identifier(schema), role=ident)
        )


class ReadonlyRoleProvider(PasswordFromConfig):
    def create(self, props: dict[str, Any]) -> CreateResult:
        role, schema = props["role"], props.get("schema") or "public"
        database = database_name(props["dsn"])
        with _connect(props["dsn"]) as conn:
            existed = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            _apply_role(conn, role, props["password"], schema, database, create=existed is None)
        salt = secrets.token_hex(16)
        target = connection_target(props["dsn"])
        outs = {
            "target": target,
            "role": role,
            "schema": schema,
            "database": database,
            "created": existed is None,
            "password_salt": salt,
            "password_fingerprint": password_fingerprint(salt, props["password"]),
        }
        return CreateResult(id_=f"{target} role={role}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced_properties(olds, news, identity=("role",))
        password = news.get("password")
        password_changed = is_unknown(password) or password_fingerprint(
            olds.get("password_salt", ""), password
        ) != olds.get("password_fingerprint")
        return DiffResult(
            changes=bool(replaces) or password_changed, replaces=replaces, delete_before_replace=True
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with _connect(news["dsn"]) as conn:
            _apply_role(conn, olds["role"], news["password"], olds["schema"], olds["database"], create=False)
        salt = secrets.token_hex(16)
        outs = dict(olds)
        outs["password_salt"] = salt
        outs["password_fingerprint"] = password_fingerprint(salt, news["password"])
        return UpdateResult(outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("created"):
            return
        # Revoke exactly what create granted (DROP OWNED BY would need membership in the
        # role, which a CREATEROLE administrator does not have), then drop the role.
        with _connect(self.conninfo_for(props["target"])) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (props["role"],)).fetchone()
            if not exists:
                return
            names = {
                "db": sql.Identifier(props["database"]),
                "schema": sql.Identifier(props["schema"]),
                "role": sql.Identifier(props["role"]),
            }
            for statement in _REVOKES:
                conn.execute(sql.SQL(statement).format(**names))
            conn.execute(sql.SQL("DROP ROLE {role}").format(**names))


@dataclass
class ReadonlyRoleArgs:
    """dsn and password are secrets; password_config_key names the config key of the DSN's password."""

    dsn: pulumi.Input[str]
    role: pulumi.Input[str]
    password: pulumi.Input[str]
    schema: pulumi.Input[str] = "public"
    password_config_key: str | None = None


class ReadonlyRole(pulumi.dynamic.Resource):
    role: pulumi.Output[str]
    created: pulumi.Output[bool]

    def __init__(self, name: str, args: ReadonlyRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {
            "dsn": pulumi.Output.secret(args.dsn),
            "role": args.role,
            "password": pulumi.Output.secret(args.password),
            "schema": args.schema,
            "target": None,
            "database": None,
            "created": None,
            "password_salt": None,
            "password_fingerprint": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["password_fingerprint"])
        )
        super().__init__(ReadonlyRoleProvider(args.password_config_key), name, props, opts)
