"""Per-request record of database time, shared by the database layer and the middleware."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

__all__ = ["QueryTiming", "RequestTimings", "current_timings"]


@dataclass(frozen=True)
class QueryTiming:
    name: str
    duration_ms: float
    # auth lookups precede the endpoint's own query; they never name the request
    auth: bool = False


@dataclass
class RequestTimings:
    trace_id: str
    queries: list[QueryTiming] = field(default_factory=list)
    pool_wait_ms: float = 0.0

    def record(self, timing: QueryTiming) -> None:
        self.queries.append(timing)

    @property
    def db_ms(self) -> float:
        """Total database time of the request in milliseconds (auth lookups included)."""
        return sum(q.duration_ms for q in self.queries)

    @property
    def main_query(self) -> str | None:
        """The name of the endpoint's first own query (or of the auth lookup if it ran alone)."""
        for query in self.queries:
            if not query.auth:
                return query.name
        return self.queries[0].name if self.queries else None


_current: contextvars.ContextVar[RequestTimings | None] = contextvars.ContextVar(
    "studiohub_timings", default=None
)


def current_timings() -> RequestTimings | None:
    return _current.get()


def set_timings(timings: RequestTimings) -> contextvars.Token:
    return _current.set(timings)


def reset_timings(token: contextvars.Token) -> None:
    _current.reset(token)
