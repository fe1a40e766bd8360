"""Prometheus metrics, JSON-line logs with a trace id, and the request middleware.

The middleware (pure ASGI) gives every request a trace id (from a W3C `traceparent`,
else `X-Request-Id`, else a new one), collects the database time the request spent, and
adds to the response: `X-Trace-Id`, `X-Db-Query-Duration` (ms, total database time),
`X-Db-Query-Name` (the request's main query, see reference_app.queries) and `Server-Timing`
(`db` per query, `pool` wait, `app` total). It then records the route histograms and
writes one JSON access line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_app.timing import RequestTimings, reset_timings, set_timings

__all__ = ["JsonFormatter", "Metrics", "ObservabilityMiddleware", "configure_logging"]

# Bucket edges on the SLO thresholds (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 2.5, 4, 5, 10)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("studiohub.access")
error_log = logging.getLogger("studiohub.error")


class Metrics:
    """The service's own metrics, in a registry of their own (prefix studiohub_)."""

    def __init__(self, pool_stats: Any = None) -> None:
        self.registry = CollectorRegistry()
        self.http_duration = Histogram(
            "studiohub_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route", "method", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "studiohub_http_requests",
            "HTTP requests answered, by route template.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "studiohub_http_requests_in_progress", "HTTP requests being served.", registry=self.registry
        )
        self.db_duration = Histogram(
            "studiohub_db_query_duration_seconds",
            "Time to run one SQL statement, by query name (reference_app.queries).",
            ["query"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.db_errors = Counter(
            "studiohub_db_errors",
            "Database errors that made a request fail, by kind.",
            ["kind"],
            registry=self.registry,
        )
        if pool_stats is not None:
            for key, help_text in (
                ("pool_size", "Connections in the pool (in use or idle)."),
                ("pool_available", "Idle connections ready for use."),
                ("requests_waiting", "Requests waiting for a connection."),
            ):
                gauge = Gauge(f"studiohub_db_{key}", help_text, registry=self.registry)
                gauge.set_function(lambda key=key: float(pool_stats().get(key, 0)))

    def db_query(self, name: str, seconds: float) -> None:
        self.db_duration.labels(name).observe(seconds)

    def db_error(self, kind: str) -> None:
        self.db_errors.labels(kind).inc()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and any `fields` extra."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (uvicorn's included) to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def trace_id_from_headers(headers: dict[bytes, bytes]) -> str:
    parent = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
    match = _TRACEPARENT.match(parent)
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    request_id = headers.get(b"x-request-id", b"").decode("latin-1").strip()
    if _REQUEST_ID.match(request_id):
        return request_id
    return uuid.uuid4().hex


def _server_timing(timings: RequestTimings, total_ms: float) -> str:
    parts = [f'db;dur={q.duration_ms:.3f};desc="{q.name}"' for q in timings.queries]
    if timings.queries:
        parts.append(f"pool;dur={timings.pool_wait_ms:.3f}")
    parts.append(f"app;dur={total_ms:.3f}")
    return ", ".join(parts)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        timings = RequestTimings(trace_id=trace_id_from_headers(headers))
        token = set_timings(timings)
        started = time.perf_counter()
        status = 500
        self.metrics.in_progress.inc()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = MutableHeaders(scope=message)
                out["X-Trace-Id"] = timings.trace_id
                total_ms = (time.perf_counter() - started) * 1000
                if timings.queries:
                    out["X-Db-Query-Duration"] = f"{timings.db_ms:.3f}"
                    out["X-Db-Query-Name"] = timings.main_query or ""
                out["Server-Timing"] = _server_timing(timings, total_ms)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            error_log.exception("unhandled error", extra={"fields": {"trace_id": timings.trace_id}})
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.in_progress.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.http_duration.labels(template, method, str(status)).observe(elapsed)
            self.metrics.http_requests.labels(template, method, str(status)).inc()
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "trace_id": timings.trace_id,
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "db_ms": round(timings.db_ms, 3),
                        "db_query": timings.main_query,
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                },
            )
            reset_timings(token)
