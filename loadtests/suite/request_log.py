"""The request path's one write: a row per finished request and per check, recorded in batches.

Every request used to pass through the collector and each exporter on its own, a dozen Python
calls and dictionary lookups per request. Now the request listener appends one tuple to a
`RequestLog` and nothing else; `take()` hands the rows over as a `RequestBatch`, grouped once
by (endpoint, group) with C-level sorting, and the collector and the exporters each consume it
with C-level counting (`Counter`, `map`, `sum`) instead of per-request Python code. The log is
taken when it holds `limit` rows and whenever something reads the figures (a report to the
master, a scrape, an InfluxDB flush, the progress tick, the end), so nothing a reader sees lags.

Rows are appended in recording order and each group keeps that order (the sort is stable), so
a histogram's exact sum and the InfluxDB timestamps come out as one-by-one recording gave them.

    request row  (endpoint, group, status, duration_ms, failed, ttfb_ms, db_ms, db_query,
                  bytes_received, bytes_sent, ended_ns, intended_ms)
    check row    (endpoint, group, passed, at_ns)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import compress, groupby
from operator import is_not, itemgetter

__all__ = ["DEFAULT_LIMIT", "EndpointRequests", "RequestBatch", "RequestLog", "not_none"]

# Rows held before the log is taken on its own (about 1 MB; a take costs about 1 ms).
DEFAULT_LIMIT = 4096

_BY_ENDPOINT_GROUP = itemgetter(0, 1)
_not_none = partial(is_not, None)


def not_none(values: tuple) -> list:
    """The values that are not None, in order (C-level)."""
    return list(filter(_not_none, values))


@dataclass(frozen=True, slots=True)
class EndpointRequests:
    """The requests of one (endpoint, group) in a batch, as columns in recording order."""

    endpoint: str
    group: str
    statuses: tuple[int, ...]
    duration_ms: tuple[float, ...]
    failed: tuple[bool, ...]
    ttfb_ms: tuple[float | None, ...]
    db_ms: tuple[float | None, ...]
    db_queries: tuple[str | None, ...]
    bytes_received: tuple[int, ...]
    bytes_sent: tuple[int, ...]
    ended_ns: tuple[int, ...]
    intended_ms: tuple[float | None, ...]

    @property
    def count(self) -> int:
        return len(self.duration_ms)

    def select(self, keep: list[bool]) -> EndpointRequests:
        """The rows where `keep` is true (C-level, order kept)."""
        columns = [tuple(compress(column, keep)) for column in self._columns()]
        return EndpointRequests(self.endpoint, self.group, *columns)

    def _columns(self) -> tuple[tuple, ...]:
        return (
            self.statuses, self.duration_ms, self.failed, self.ttfb_ms, self.db_ms, self.db_queries,
            self.bytes_received, self.bytes_sent, self.ended_ns, self.intended_ms,
        )  # fmt: skip

    @property
    def failures(self) -> int:
        return sum(self.failed)

    def by_status(self) -> Counter:
        return Counter(self.statuses)


@dataclass(frozen=True, slots=True)
class RequestBatch:
    """What a `RequestLog.take()` hands over: requests grouped by (endpoint, group), and checks."""

    requests: tuple[EndpointRequests, ...]
    checks: tuple[tuple[str, str, bool, int], ...]  # check rows, in recording order

    def check_counts(self) -> Counter:
        """(endpoint, group, passed) -> checks."""
        return Counter(map(itemgetter(0, 1, 2), self.checks))

    def __bool__(self) -> bool:
        return bool(self.requests or self.checks)


def _group(rows: list[tuple]) -> Iterator[EndpointRequests]:
    rows.sort(key=_BY_ENDPOINT_GROUP)  # stable: each group keeps its recording order
    for (endpoint, group), same in groupby(rows, key=_BY_ENDPOINT_GROUP):
        columns = tuple(zip(*same, strict=True))
        yield EndpointRequests(endpoint, group, *columns[2:])


class RequestLog:
    """The rows recorded since the last `take()`; `full` says when to take them unasked (the
    request path checks its lists' lengths against `limit` itself: a property costs a call)."""

    __slots__ = ("checks", "limit", "rows")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"a request log's limit must be at least 1, got {limit}")
        self.limit = limit
        self.rows: list[tuple] = []
        self.checks: list[tuple[str, str, bool, int]] = []

    @property
    def full(self) -> bool:
        return len(self.rows) + len(self.checks) >= self.limit

    def take(self) -> RequestBatch:
        rows, self.rows = self.rows, []
        checks, self.checks = self.checks, []
        return RequestBatch(tuple(_group(rows)) if rows else (), tuple(checks))
