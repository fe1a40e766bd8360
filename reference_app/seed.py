"""Load the reference schema with deterministic data through COPY.

    STUDIOHUB_TEST_PASSWORD=... python -m reference_app.seed --dsn "host=127.0.0.1 ..." \
        --scale medium --seed 42

Creates the tables when missing, then loads every table in one transaction (a failure leaves
the database as it was), resets the id sequences and runs VACUUM ANALYZE. A database that
already holds rows is refused unless `--reset` is given (then every table is truncated first).

Test users `loadtest-1@odavl.test` ... `loadtest-N@odavl.test` get the password read from the
environment variable named by `--test-password-env` (never from the command line, never
printed). The same scale, seed, anchor and test users always give identical tables
(`--checksums` prints the per-table md5).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from reference_app.schema import TABLES, apply_schema, table_checksums
from reference_app.seed_data import SCALES, LoadTestUser, generate

__all__ = [
    "SeedError",
    "SeedReport",
    "default_anchor",
    "loadtest_user_email",
    "loadtest_users",
    "seed_database",
]

DEFAULT_TEST_USERS = 50
DEFAULT_PASSWORD_ENV = "STUDIOHUB_TEST_PASSWORD"
_COPY_BUFFER_BYTES = 1 << 20


class SeedError(RuntimeError):
    """The seed could not run; the message names the cause."""


@dataclass(frozen=True)
class SeedReport:
    scale: str
    seed: int
    anchor: str
    rows: dict[str, int]
    load_seconds: float
    vacuum_seconds: float


def loadtest_user_email(index: int) -> str:
    """Email of the 1-based test user `index`."""
    return f"loadtest-{index}@odavl.test"


def loadtest_users(count: int, password: str) -> list[LoadTestUser]:
    return [LoadTestUser(loadtest_user_email(i), password) for i in range(1, count + 1)]


def default_anchor() -> datetime:
    """Midnight UTC today: the newest moment in the seeded data."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _chunks(lines: Iterator[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    size = 0
    for line in lines:
        buffer.write(line)
        size += len(line)
        if size >= _COPY_BUFFER_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer = io.StringIO()
            size = 0
    if size:
        yield buffer.getvalue().encode("utf-8")


def _skip_row_triggers(conn: psycopg.Connection) -> bool:
    """Skip per-row foreign-key triggers while loading (needs superuser; else keep them).

    The generator only emits valid references and `_verify_references` checks every foreign
    key in bulk before commit, which is far cheaper than one trigger call per row.
    """
    try:
        with conn.transaction():
            conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


_FOREIGN_KEYS = """
SELECT c.conname, child.relname, child_col.attname, parent.relname, parent_col.attname
FROM pg_constraint c
JOIN pg_class child ON child.oid = c.conrelid
JOIN pg_class parent ON parent.oid = c.confrelid
JOIN pg_attribute child_col ON child_col.attrelid = c.conrelid AND child_col.attnum = c.conkey[1]
JOIN pg_attribute parent_col ON parent_col.attrelid = c.confrelid AND parent_col.attnum = c.confkey[1]
WHERE c.contype = 'f' AND child.relname = ANY(%s)
ORDER BY c.conname
"""


def _verify_references(conn: psycopg.Connection) -> None:
    """Every foreign key holds, checked with one anti-join per constraint."""
    for name, child, column, parent, parent_column in conn.execute(_FOREIGN_KEYS, [list(TABLES)]).fetchall():
        query = sql.SQL(
            "SELECT count(*) FROM {child} c WHERE c.{col} IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{pcol} = c.{col})"
        ).format(
            child=sql.Identifier(child),
            col=sql.Identifier(column),
            parent=sql.Identifier(parent),
            pcol=sql.Identifier(parent_column),
        )
        row = conn.execute(query).fetchone()
        if row and row[0]:
            raise SeedError(
                f"foreign key {name}: {row[0]} rows of {child}.{column} reference no {parent} row"
            )


def seed_database(
    dsn: str,
    *,
    scale: str,
    seed: int,
    anchor: datetime | None = None,
    users: list[LoadTestUser] | None = None,
    reset: bool = False,
    vacuum: bool = True,
) -> SeedReport:
    """Create the schema if needed and load it; see the module docstring."""
    if scale not in SCALES:
        raise SeedError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    anchor = anchor or default_anchor()
    if anchor.tzinfo is None:
        raise SeedError(f"anchor {anchor.isoformat()} must carry a time zone (e.g. +00:00)")
    dataset = generate(SCALES[scale], seed, anchor, users or [])
    rows: dict[str, int] = {}
    started = time.perf_counter()
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            apply_schema(conn)
            triggers_skipped = _skip_row_triggers(conn)
            existing = conn.execute("SELECT EXISTS (SELECT 1 FROM organizations)").fetchone()
            if existing and existing[0]:
                if not reset:
                    raise SeedError("the database already holds data; pass --reset to truncate and reload it")
                conn.execute(
                    sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                        sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)
                    )
                )
            for table, columns, lines in dataset.tables():
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
                )
                with conn.cursor() as cur:
                    with cur.copy(statement) as copy:
                        for chunk in _chunks(lines):
                            copy.write(chunk)
                    rows[table] = cur.rowcount
                conn.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({}, 'id'), coalesce(max(id), 0) + 1, false)"
                        " FROM {}"
                    ).format(sql.Literal(table), sql.Identifier(table))
                )
            if triggers_skipped:
                conn.execute("SET session_replication_role = DEFAULT")
                _verify_references(conn)
        load_seconds = time.perf_counter() - started
        vacuum_started = time.perf_counter()
        if vacuum:
            with psycopg.connect(dsn, autocommit=True) as conn:
                for table in TABLES:
                    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    except psycopg.OperationalError as exc:
        raise SeedError(f"cannot reach the database: {exc}".strip()) from exc
    return SeedReport(
        scale=scale,
        seed=seed,
        anchor=anchor.isoformat(),
        rows=rows,
        load_seconds=round(load_seconds, 2),
        vacuum_seconds=round(time.perf_counter() - vacuum_started, 2),
    )


def _parse_anchor(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--anchor {text!r} is not an ISO-8601 date or time"
            " (e.g. 2026-11-01 or 2026-11-01T00:00:00+00:00)"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_app.seed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--dsn", default=os.environ.get("STUDIOHUB_DSN"), help="libpq DSN (env STUDIOHUB_DSN)"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--anchor", type=_parse_anchor, help="newest time in the data (default: today 00:00 UTC)"
    )
    parser.add_argument("--test-users", type=_non_negative, default=DEFAULT_TEST_USERS)
    parser.add_argument(
        "--test-password-env",
        default=DEFAULT_PASSWORD_ENV,
        help="environment variable holding the test users' password",
    )
    parser.add_argument("--reset", action="store_true", help="truncate and reload a database that holds data")
    parser.add_argument("--no-vacuum", action="store_true", help="skip VACUUM ANALYZE after loading")
    parser.add_argument(
        "--checksums", action="store_true", help="print per-table md5 checksums after loading"
    )
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("--dsn is required (or set STUDIOHUB_DSN)")
    password = os.environ.get(args.test_password_env, "")
    if args.test_users and not password:
        print(
            f"error: --test-users {args.test_users} needs a password in the environment variable "
            f"{args.test_password_env} (or pass --test-users 0)",
            file=sys.stderr,
        )
        return 2
    try:
        report = seed_database(
            args.dsn,
            scale=args.scale,
            seed=args.seed,
            anchor=args.anchor,
            users=loadtest_users(args.test_users, password),
            reset=args.reset,
            vacuum=not args.no_vacuum,
        )
        output = dict(report.__dict__)
        if args.checksums:
            with psycopg.connect(args.dsn) as conn:
                output["checksums"] = table_checksums(conn)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
