"""The reference app's deliberately slower build: STUDIOHUB_EXTRA_LATENCY_MS (reference_app/latency.py)."""

from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from reference_app.config import AppConfig, ConfigError
from reference_app.latency import ExtraLatencyMiddleware


def test_the_setting_defaults_to_off_and_is_range_checked() -> None:
    assert AppConfig.from_env({"STUDIOHUB_DSN": "dbname=x"}).extra_latency_ms == 0
    config = AppConfig.from_env({"STUDIOHUB_DSN": "dbname=x", "STUDIOHUB_EXTRA_LATENCY_MS": "250"})
    assert config.extra_latency_ms == 250
    with pytest.raises(ConfigError, match="STUDIOHUB_EXTRA_LATENCY_MS='-1' must be from 0 to 10000"):
        AppConfig.from_env({"STUDIOHUB_DSN": "dbname=x", "STUDIOHUB_EXTRA_LATENCY_MS": "-1"})


def _elapsed_ms(client: TestClient, path: str) -> float:
    started = time.perf_counter()
    assert client.get(path).status_code == 200
    return (time.perf_counter() - started) * 1000


def test_api_requests_wait_the_extra_time_and_others_do_not() -> None:
    async def ok(_request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/api/projects", ok), Route("/static/app.css", ok)],
        middleware=[Middleware(ExtraLatencyMiddleware, delay_ms=200)],
    )
    with TestClient(app) as client:
        assert _elapsed_ms(client, "/api/projects") >= 200
        assert _elapsed_ms(client, "/static/app.css") < 150
