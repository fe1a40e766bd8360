"""LocalTarget: what the local stack tests against, started on this machine.

A PostgreSQL server (Debian binaries) on loopback with the reference schema and deterministic
seed data, and the reference Studio Hub API serving it on the target's loopback port. Both
keep running after `pulumi up` and are stopped and removed by `pulumi destroy`. Either part can
be left out: without `manage_database` the app uses the configured database; without
`start_app` only the database is managed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.providers.local_postgres import LocalPostgres, LocalPostgresArgs
from components.providers.reference_app_process import ReferenceAppProcess, ReferenceAppProcessArgs

__all__ = ["LocalTarget", "LocalTargetArgs"]


@dataclass
class LocalTargetArgs:
    """Inputs of LocalTarget.

    state_dir: directory for the app's log (per stack, ignored by git).
    database_dir: directory for the PostgreSQL cluster (one the `postgres` OS user can enter).
    database_port, database_name, database_user, database_password (secret): the database.
    seed_scale: small | medium | large. test_password (secret): the seeded test users' password.
    app_port: loopback port of the reference app (the target's port).
    external_dsn (secret): the database to serve when the stack does not manage one.
    """

    state_dir: str
    database_dir: str
    database_port: int
    database_name: str
    database_user: str
    database_password: pulumi.Input[str]
    seed_scale: str
    test_password: pulumi.Input[str]
    app_port: int
    manage_database: bool = True
    start_app: bool = True
    external_dsn: pulumi.Input[str] | None = None


def _dsn(host: str, port: int, database: str, user: str, password: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(host=host, port=str(port), dbname=database, user=user, password=password)


class LocalTarget(pulumi.ComponentResource):
    dsn: pulumi.Output[str]
    database_host: pulumi.Output[str]
    database_port: pulumi.Output[int]
    url: pulumi.Output[str | None]

    def __init__(self, name: str, args: LocalTargetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("odavl:perf:LocalTarget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        state = Path(args.state_dir).resolve()

        if args.manage_database:
            database = LocalPostgres(
                f"{name}-postgres",
                LocalPostgresArgs(
                    base_dir=args.database_dir,
                    port=args.database_port,
                    database=args.database_name,
                    user=args.database_user,
                    password=args.database_password,
                    seed_scale=args.seed_scale,
                    test_password=args.test_password,
                ),
                child,
            )
            self.database_host = database.host
            self.database_port = database.port
            self.dsn = pulumi.Output.secret(
                pulumi.Output.all(
                    database.host, database.port, database.database, database.user, args.database_password
                ).apply(lambda a: _dsn(*a))
            )
        else:
            self.database_host = pulumi.Output.from_input("")
            self.database_port = pulumi.Output.from_input(0)
            self.dsn = pulumi.Output.secret(args.external_dsn or "")

        self.url = pulumi.Output.from_input(None)
        if args.start_app:
            app = ReferenceAppProcess(
                f"{name}-reference-app",
                ReferenceAppProcessArgs(
                    port=args.app_port,
                    dsn=self.dsn,
                    log_path=str(state / "reference-app.log"),
                    python=sys.executable,
                ),
                child,
            )
            self.url = app.url

        self.register_outputs(
            {"database_host": self.database_host, "database_port": self.database_port, "url": self.url}
        )
