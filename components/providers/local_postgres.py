"""Dynamic provider: a PostgreSQL server on loopback with the reference schema and seed data.

The local stack's database. `create` starts a cluster from the Debian server binaries
(services/postgres.py) in a directory the stack owns, creates the application role and
database, loads the reference schema and the deterministic seed (reference_app/seed.py) with
the test users' password, and reports the row counts. The server keeps running after
`pulumi up` (pg_ctl detaches it) so the reference app, the index migration and the load test
can use it; `delete` stops it and removes its directory.

- diff: another directory, port, database, role or seed is a replacement; a server that is no
  longer running (after a reboot, say) is an update that starts it again on the same data.
- Secrets: the role's password and the test users' password are secret inputs, never outputs;
  the role's password reaches the server only as a SCRAM verifier. TCP connections need a
  password; the superuser's is in the cluster directory's password file (services/postgres.py).
  `delete` only stops the server and removes the directory, so it needs no password.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

__all__ = ["LocalPostgres", "LocalPostgresArgs", "LocalPostgresProvider"]

_REPLACE_ON = ("base_dir", "port", "database", "user", "seed_scale", "seed")


def _server(base_dir: str, port: int):
    from services.postgres import PostgresServer

    return PostgresServer(base_dir, port=port, settings={"max_connections": "200"})


def _provision(props: dict[str, Any]) -> dict[str, Any]:
    """Start the server, create role and database, load schema and seed. Idempotent."""
    import psycopg
    from psycopg import sql

    from components.providers.role_password import password_clause
    from reference_app.seed import DEFAULT_TEST_USERS, loadtest_users, seed_database

    server = _server(props["base_dir"], int(props["port"])).start()
    admin_dsn = server.dsn("postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [props["user"]]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        # Only a client-side verifier reaches the server, never the password (logs, pg_stat_statements).
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN CREATEROLE ").format(sql.Identifier(props["user"]))
            + password_clause(conn, props["user"], props["password"])
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [props["database"]]).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(props["database"]), sql.Identifier(props["user"])
                )
            )
    db_dsn = server.dsn(props["database"])
    with psycopg.connect(db_dsn) as conn:
        seeded = (
            conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_name = 'insight_issues'"
            ).fetchone()
            and conn.execute("SELECT EXISTS (SELECT 1 FROM insight_issues)").fetchone()[0]
        )
    rows: dict[str, int] = {}
    if not seeded:
        users = loadtest_users(DEFAULT_TEST_USERS, props["test_password"])
        report = seed_database(db_dsn, scale=props["seed_scale"], seed=int(props["seed"]), users=users)
        rows = dict(report.rows)
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        # The application role owns what it reads and writes; the index migration builds as it.
        for (table,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            conn.execute(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                    sql.Identifier(table), sql.Identifier(props["user"])
                )
            )
        if not rows:
            for table, count in conn.execute(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY relname"
            ).fetchall():
                rows[table] = int(count)
    return {
        "base_dir": props["base_dir"],
        "host": server.host,
        "port": int(server.port),
        "database": props["database"],
        "user": props["user"],
        "seed_scale": props["seed_scale"],
        "seed": int(props["seed"]),
        "rows": rows,
    }


def _running(base_dir: str, port: int) -> bool:
    return _server(base_dir, port).is_running()


class LocalPostgresProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = _provision(props)
        return CreateResult(id_=f"{outs['host']}:{outs['port']}/{outs['database']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if str(olds.get(key)) != str(news.get(key))]
        stopped = not replaces and not _running(olds["base_dir"], int(olds["port"]))
        return DiffResult(
            changes=bool(replaces) or stopped,
            replaces=replaces,
            stables=["host"],
            delete_before_replace=True,  # the same port and directory are reused
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_provision(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        base_dir = Path(props["base_dir"])
        if (base_dir / "data").exists():
            _server(str(base_dir), int(props["port"])).stop(mode="immediate")
        shutil.rmtree(base_dir, ignore_errors=True)


@dataclass
class LocalPostgresArgs:
    base_dir: pulumi.Input[str]
    """Directory that holds the cluster (data dir, socket, log); removed on delete."""
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Input[str]
    """The application role's password (a secret)."""
    seed_scale: pulumi.Input[str]
    test_password: pulumi.Input[str]
    """Password given to the seeded test users (a secret)."""
    seed: pulumi.Input[int] = 42


class LocalPostgres(pulumi.dynamic.Resource):
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    user: pulumi.Output[str]
    rows: pulumi.Output[dict]

    def __init__(self, name: str, args: LocalPostgresArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "base_dir": args.base_dir,
            "port": args.port,
            "database": args.database,
            "user": args.user,
            "password": pulumi.Output.secret(args.password),
            "seed_scale": args.seed_scale,
            "seed": args.seed,
            "test_password": pulumi.Output.secret(args.test_password),
            "host": None,
            "rows": None,
        }
        super().__init__(LocalPostgresProvider(), name, props, opts)
