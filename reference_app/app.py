"""The Starlette application: routes, error handlers, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reference_app import queries
from reference_app.api import api_routes
from reference_app.config import AppConfig
from reference_app.db import Database
from reference_app.errors import ApiError
from reference_app.latency import ExtraLatencyMiddleware
from reference_app.observability import Metrics, ObservabilityMiddleware
from reference_app.pages import page_routes
from reference_app.params import parse_query
from reference_app.responses import api_error_response, json_response
from reference_app.static_assets import static_routes

__all__ = ["create_app"]


async def healthz(request: Request) -> Response:
    """Readiness: 200 when a database round trip succeeds, else 503 (within the pool timeout)."""
    parse_query(request.query_params.multi_items(), {})
    db: Database = request.app.state.db
    try:
        await db.fetch_one(queries.HEALTH_CHECK)
    except ApiError as exc:
        return json_response({"status": "unavailable", "database": "down", "reason": exc.message}, 503)
    return json_response({"status": "ok", "database": "up", "pool": db.stats()})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {
        404: f"no route for {request.url.path[:200]}",
        405: f"{request.method} is not allowed here",
    }.get(exc.status_code, str(exc.detail))
    return json_response(
        {"error": {"code": code, "message": message}}, exc.status_code, dict(exc.headers or {})
    )


async def server_error(request: Request, exc: Exception) -> Response:
    return json_response({"error": {"code": "internal_error", "message": "internal server error"}}, 500)


def create_app(config: AppConfig) -> Starlette:
    db_holder: dict[str, Database] = {}
    app_metrics = Metrics(pool_stats=lambda: db_holder["db"].stats() if "db" in db_holder else {})
    database = Database(config, observer=app_metrics)
    db_holder["db"] = database

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.open()
        try:
            yield
        finally:
            await database.close()

    routes = [
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        *api_routes(),
        *page_routes(),
        *static_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ObservabilityMiddleware, metrics=app_metrics),
            # Inside the observability middleware: the app's own timings include the extra wait.
            *(
                [Middleware(ExtraLatencyMiddleware, delay_ms=config.extra_latency_ms)]
                if config.extra_latency_ms
                else []
            ),
        ],
        exception_handlers={ApiError: api_error_response, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.db = database
    app.state.metrics = app_metrics
    return app
