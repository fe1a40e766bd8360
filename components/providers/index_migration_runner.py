"""Applies the performance-index migration to PostgreSQL, one statement at a time.

The runner talks to the database through the small `IndexDatabase` interface;
`PsycopgIndexDatabase` is the real one (an autocommit psycopg connection, because
CREATE/DROP INDEX CONCURRENTLY refuse to run inside a transaction block). For every index,
in file order and one build at a time, it reads `pg_index`/`pg_get_indexdef()` and then
creates the index, keeps it, or rebuilds it (DROP INDEX CONCURRENTLY, then create) when it
is invalid or its definition drifted. A build cancelled by `lock_timeout` leaves an
invalid index behind; the runner waits (exponential backoff), drops it and tries again.
Before the indexes it drops the `_ccnew`/`_ccold` leftovers of interrupted concurrent
reindexes of the managed indexes. Other failures stop the run with `MigrationFailedError`;
whatever they leave behind (an invalid index) is repaired by the next run.

Errors: `migration_plan.MigrationError` and below, plus
    MigrationError
    ├── DatabaseStatementError   a statement failed (carries the SQLSTATE)
    │   └── LockTimeoutError     lock_timeout or a deadlock cancelled it (retried)
    └── MigrationFailedError     an index could not be built; names index and cause
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import psycopg

from indexes.migration_plan import (
    Action,
    ExistingIndex,
    IndexDefinition,
    Migration,
    MigrationError,
    check_server_version,
    leftover_names,
    plan_index,
)

__all__ = [
    "DatabaseStatementError",
    "IndexDatabase",
    "IndexOutcome",
    "LockTimeoutError",
    "MigrationFailedError",
    "MigrationReport",
    "PsycopgIndexDatabase",
    "RetryPolicy",
    "apply_migration",
    "drop_indexes",
    "quote_ident",
]

log = logging.getLogger(__name__)

STATUS_CREATED = "created"
STATUS_ALREADY_VALID = "already_valid"
STATUS_REBUILT = "rebuilt"

# lock_not_available (lock_timeout) and deadlock_detected: both leave an invalid index
# that the retry drops and builds again.
_RETRYABLE_SQLSTATES = frozenset({"55P03", "40P01"})


class DatabaseStatementError(MigrationError):
    """A statement failed on the server."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class LockTimeoutError(DatabaseStatementError):
    """lock_timeout expired (or a deadlock was detected) while the statement waited."""


class MigrationFailedError(MigrationError):
    """An index could not be created or rebuilt; the message names it and says why."""


class IndexDatabase(Protocol):
    """The little the runner needs from PostgreSQL."""

    def server_version_num(self) -> int: ...

    def set_setting(self, name: str, value: str) -> None: ...

    def find_index(self, schema: str, name: str) -> ExistingIndex | None: ...

    def index_names(self, schema: str) -> list[str]: ...

    def execute(self, statement: str) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try a statement that hit lock_timeout, and how long to wait between tries.

    Delays grow from initial_backoff_s by `multiplier` up to max_backoff_s (seconds).
    """

    max_attempts: int = 5
    initial_backoff_s: float = 2.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be >= 0 seconds and the multiplier >= 1")

    def delays(self) -> Iterator[float]:
        """The waits before attempts 2..max_attempts."""
        delay = self.initial_backoff_s
        for _ in range(self.max_attempts - 1):
            yield min(delay, self.max_backoff_s)
            delay *= self.multiplier


@dataclass(frozen=True)
class IndexOutcome:
    """What the run did to one index. build_seconds: wall time of drop + create (0 if kept)."""

    name: str
    table: str
    status: str  # created | already_valid | rebuilt
    build_seconds: float
    attempts: int
    reason: str


@dataclass
class MigrationReport:
    server_version_num: int
    outcomes: list[IndexOutcome] = field(default_factory=list)
    leftovers_dropped: list[str] = field(default_factory=list)

    @property
    def statuses(self) -> dict[str, str]:
        return {outcome.name: outcome.status for outcome in self.outcomes}

    @property
    def build_seconds(self) -> dict[str, float]:
        return {outcome.name: round(outcome.build_seconds, 3) for outcome in self.outcomes}

    @property
    def changed(self) -> bool:
        """True when the run executed any DDL."""
        return bool(self.leftovers_dropped) or any(
            outcome.status != STATUS_ALREADY_VALID for outcome in self.outcomes
        )


def quote_ident(identifier: str) -> str:
    """Double-quote an SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def drop_statement(schema: str, name: str) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS {quote_ident(schema)}.{quote_ident(name)}"


def _with_retries(
    what: str, action: Callable[[], None], retry: RetryPolicy, sleep: Callable[[float], None]
) -> int:
    """Run action, retrying lock timeouts; returns the number of attempts made."""
    delays = retry.delays()
    attempt = 1
    while True:
        try:
            action()
            return attempt
        except LockTimeoutError as exc:
            delay = next(delays, None)
            if delay is None:
                raise MigrationFailedError(
                    f"{what}: gave up after {attempt} attempts, each cancelled by lock_timeout "
                    f"({exc}); a long-running transaction holds a conflicting lock"
                ) from exc
            log.warning("%s: %s; retrying in %.1f s (attempt %d)", what, exc, delay, attempt + 1)
            sleep(delay)
            attempt += 1


def apply_migration(
    db: IndexDatabase,
    migration: Migration,
    *,
    schema: str = "public",
    retry: RetryPolicy | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> MigrationReport:
    """Bring every index of the migration to its defined, valid state; see the module docstring.

    lock_timeout / statement_timeout override the file's SET values (e.g. in tests).
    """
    retry = retry or RetryPolicy()
    version = db.server_version_num()
    check_server_version(version)
    db.set_setting("lock_timeout", lock_timeout or migration.lock_timeout or "0")
    db.set_setting("statement_timeout", statement_timeout or migration.statement_timeout or "0")
    report = MigrationReport(server_version_num=version)
    for leftover in leftover_names(db.index_names(schema), migration.names):
        what = f"drop leftover index {schema}.{leftover}"
        statement = drop_statement(schema, leftover)
        _with_retries(what, lambda s=statement: db.execute(s), retry, sleep)
        log.info("%s: done", what)
        report.leftovers_dropped.append(leftover)
    for index in migration.indexes:
        report.outcomes.append(_apply_index(db, index, schema, retry, sleep, clock))
    return report


def _apply_index(
    db: IndexDatabase,
    index: IndexDefinition,
    schema: str,
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> IndexOutcome:
    first_plan = plan_index(index, db.find_index(index.schema, index.name), schema)
    if first_plan.action is Action.KEEP:
        return IndexOutcome(index.name, index.table, STATUS_ALREADY_VALID, 0.0, 0, first_plan.reason)
    status = STATUS_CREATED if first_plan.action is Action.CREATE else STATUS_REBUILT
    log.info("%s: %s (%s)", index.name, first_plan.action, first_plan.reason)
    started = clock()

    def build() -> None:
        # Re-read before every attempt: a cancelled attempt leaves an invalid index behind.
        plan = plan_index(index, db.find_index(index.schema, index.name), schema)
        if plan.action is Action.REBUILD:
            db.execute(drop_statement(index.schema, index.name))
        if plan.action is not Action.KEEP:
            db.execute(index.create_sql)

    try:
        attempts = _with_retries(f"index {index.name}", build, retry, sleep)
    except DatabaseStatementError as exc:
        raise MigrationFailedError(
            f"index {index.name} on {index.schema}.{index.table}: {exc} (SQLSTATE {exc.sqlstate}); "
            "any invalid index left behind is rebuilt by the next run"
        ) from exc
    elapsed = clock() - started
    after = db.find_index(index.schema, index.name)
    final = plan_index(index, after, schema)
    if final.action is not Action.KEEP:
        raise MigrationFailedError(f"index {index.name}: still {final.reason} after the build")
    return IndexOutcome(index.name, index.table, status, elapsed, attempts, first_plan.reason)


def drop_indexes(
    db: IndexDatabase,
    schema: str,
    names: Sequence[str],
    *,
    retry: RetryPolicy | None = None,
    lock_timeout: str = "5s",
    statement_timeout: str = "0",
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """DROP INDEX CONCURRENTLY each of names that exists; returns the names dropped."""
    retry = retry or RetryPolicy()
    db.set_setting("lock_timeout", lock_timeout)
    db.set_setting("statement_timeout", statement_timeout)
    present = set(db.index_names(schema))
    dropped = []
    for name in names:
        if name not in present:
            continue
        statement = drop_statement(schema, name)
        _with_retries(f"drop index {schema}.{name}", lambda s=statement: db.execute(s), retry, sleep)
        dropped.append(name)
    return dropped


_FIND_INDEX_SQL = """
SELECT c.relname, n.nspname, t.relname, pg_get_indexdef(c.oid),
       i.indisvalid AND i.indisready AND i.indislive
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""

_INDEX_NAMES_SQL = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('i', 'I')
"""


class PsycopgIndexDatabase:
    """`IndexDatabase` over one autocommit psycopg connection; use as a context manager."""

    def __init__(self, conninfo: str, *, connect_timeout_s: int = 10) -> None:
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._conn = None

    def __enter__(self) -> PsycopgIndexDatabase:
        try:
            self._conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self._connect_timeout_s,
                application_name="odavl-perf index migration",
            )
        except psycopg.OperationalError as exc:
            raise DatabaseStatementError(f"cannot connect to the database: {exc}", None) from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, statement: str, params: tuple[object, ...] | None = None) -> list[tuple]:
        assert self._conn is not None, "use PsycopgIndexDatabase as a context manager"
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(statement, params, prepare=False)
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            sqlstate = getattr(exc, "sqlstate", None)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if sqlstate in _RETRYABLE_SQLSTATES:
                raise LockTimeoutError(message, sqlstate) from exc
            raise DatabaseStatementError(message, sqlstate) from exc

    def server_version_num(self) -> int:
        return int(self._run("SHOW server_version_num")[0][0])

    def set_setting(self, name: str, value: str) -> None:
        self._run("SELECT set_config(%s, %s, false)", (name, value))

    def find_index(self, schema: str, name: str) -> ExistingIndex | None:
        rows = self._run(_FIND_INDEX_SQL, (schema, name))
        if not rows:
            return None
        index_name, index_schema, table, definition, valid = rows[0]
        return ExistingIndex(index_name, index_schema, table, definition, bool(valid))

    def index_names(self, schema: str) -> list[str]:
        return [row[0] for row in self._run(_INDEX_NAMES_SQL, (schema,))]

    def execute(self, statement: str) -> None:
        self._run(statement)
