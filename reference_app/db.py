"""Pooled PostgreSQL access that times every query and maps outages to 503.

Connections come from a psycopg_pool.AsyncConnectionPool (autocommit, dict rows, UTC,
statement timeout). Each checkout is checked so that connections broken by a database
restart are replaced instead of failing a request. A request that gets no connection answers
503 (ServiceUnavailable): after `pool_timeout_s` when the pool is merely busy, after
`outage_timeout_s` (< 1 s) when the database is down. The pool keeps reconnecting in the
background, so the service recovers on its own when the database returns.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from reference_app.config import AppConfig
from reference_app.errors import QueryTimeout, ServiceUnavailable
from reference_app.queries import ALL_QUERIES
from reference_app.timing import QueryTiming, current_timings

__all__ = ["Database", "Session"]

Params = dict[str, Any] | None

# The first wait for a pooled connection, after which the database state is looked at.
_FIRST_WAIT_S = 0.2
_RECONNECT_TIMEOUT_S = 5.0

_NAME_BY_SQL = {sql: name for name, sql in ALL_QUERIES.items()}


class Session:
    """Runs named queries on one connection (a transaction when opened by `transaction()`)."""

    def __init__(self, conn: psycopg.AsyncConnection, observe: Any) -> None:
        self._conn = conn
        self._observe = observe

    async def _run(self, sql: str, params: Params, auth: bool) -> psycopg.AsyncCursor:
        name = _NAME_BY_SQL.get(sql)
        if name is None:
            raise ValueError("queries must come from reference_app.queries")
        started = time.perf_counter()
        try:
            cur = self._conn.cursor()
            await cur.execute(sql, params)
            return cur
        except psycopg.errors.QueryCanceled as exc:
            self._observe.db_error("QueryCanceled")
            raise QueryTimeout(f"the query {name} ran past the statement timeout") from exc
        except psycopg.OperationalError as exc:
            self._observe.db_error(type(exc).__name__)
            raise ServiceUnavailable("the database is unavailable; retry shortly") from exc
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            timings = current_timings()
            if timings is not None:
                timings.record(QueryTiming(name, elapsed_ms, auth))
            self._observe.db_query(name, elapsed_ms / 1000)

    async def fetch_all(self, sql: str, params: Params = None, *, auth: bool = False) -> list[dict]:
        cur = await self._run(sql, params, auth)
        return await cur.fetchall() if cur.description else []

    async def fetch_one(self, sql: str, params: Params = None, *, auth: bool = False) -> dict | None:
        cur = await self._run(sql, params, auth)
        return await cur.fetchone() if cur.description else None

    async def execute(self, sql: str, params: Params = None, *, auth: bool = False) -> int:
        cur = await self._run(sql, params, auth)
        return cur.rowcount


class _NullObserver:
    def db_query(self, name: str, seconds: float) -> None:
        pass

    def db_error(self, kind: str) -> None:
        pass


class Database:
    def __init__(self, config: AppConfig, observer: Any = None) -> None:
        self._config = config
        self._database_down = False
        self._observe = observer or _NullObserver()
        self.pool = AsyncConnectionPool(
            config.dsn,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            max_idle=config.pool_max_idle_s,
            timeout=config.pool_timeout_s,
            # Give up a failing reconnection after a few backed-off attempts (1 s, 2 s): the next
            # request then starts a fresh attempt at once, so recovery after a long outage does
            # not wait out an ever-growing backoff.
            reconnect_timeout=_RECONNECT_TIMEOUT_S,
            open=False,
            name="studiohub",
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": 2,
                "options": f"-c TimeZone=UTC -c statement_timeout={config.statement_timeout_ms}",
                "application_name": "studiohub-reference-app",
            },
        )

    async def open(self) -> None:
        # wait=False: the service starts (and reports not-ready) even while the database is down
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=2)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A connection for single statements (autocommit)."""
        async with self._connection() as conn:
            yield Session(conn, self._observe)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """A connection inside one transaction: commits on success, rolls back on error."""
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    yield Session(conn, self._observe)
            except psycopg.OperationalError as exc:
                self._observe.db_error(type(exc).__name__)
                raise ServiceUnavailable("the database is unavailable; retry shortly") from exc

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        started = time.perf_counter()
        conn = await self._acquire(started)
        timings = current_timings()
        if timings is not None:
            timings.pool_wait_ms += (time.perf_counter() - started) * 1000
        try:
            yield conn
        except psycopg.OperationalError as exc:
            self._database_down = True
            self._observe.db_error(type(exc).__name__)
            raise ServiceUnavailable("the database is unavailable; retry shortly") from exc
        except QueryTimeout:
            raise  # a slow statement: the database itself is up
        except ServiceUnavailable:
            self._database_down = True
            raise
        else:
            self._database_down = False
        finally:
            await self.pool.putconn(conn)

    def _wait_limit(self) -> float:
        return self._config.outage_timeout_s if self._database_down else self._config.pool_timeout_s

    async def _acquire(self, started: float) -> psycopg.AsyncConnection:
        """A connection from the pool, or ServiceUnavailable.

        Under load a request may queue for up to `pool_timeout_s`. While the database is down
        it gives up after `outage_timeout_s` (under one second) instead. The database counts
        as down when the pool's connection attempts fail during a short first wait, or when a
        statement failed with a connection error and no request has succeeded since. Only
        two waits, so a queued request keeps its place in the pool's queue.
        """
        errors_before = self.pool.get_stats().get("connections_errors", 0)
        try:
            return await self.pool.getconn(timeout=min(_FIRST_WAIT_S, self._wait_limit()))
        except PoolTimeout:
            if self.pool.get_stats().get("connections_errors", 0) > errors_before:
                self._database_down = True
        remaining = self._wait_limit() - (time.perf_counter() - started)
        if remaining > 0:
            try:
                return await self.pool.getconn(timeout=remaining)
            except PoolTimeout:
                pass
        self._observe.db_error("DatabaseDown" if self._database_down else "PoolTimeout")
        if self._database_down:
            raise ServiceUnavailable("the database is unavailable; retry shortly")
        raise ServiceUnavailable(
            f"no free database connection within {self._config.pool_timeout_s:g} s; retry shortly"
        )

    async def fetch_all(self, sql: str, params: Params = None, *, auth: bool = False) -> list[dict]:
        async with self.session() as s:
            return await s.fetch_all(sql, params, auth=auth)

    async def fetch_one(self, sql: str, params: Params = None, *, auth: bool = False) -> dict | None:
        async with self.session() as s:
            return await s.fetch_one(sql, params, auth=auth)

    async def execute(self, sql: str, params: Params = None, *, auth: bool = False) -> int:
        async with self.session() as s:
            return await s.execute(sql, params, auth=auth)

    def stats(self) -> dict[str, int]:
        return self.pool.get_stats()
