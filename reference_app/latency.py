"""A deliberately slower build: every API request waits a fixed extra time before it is handled.

`STUDIOHUB_EXTRA_LATENCY_MS` (default 0: off) adds that many milliseconds to each request under
/api/, so a test can slow the app by a known amount (the statistical regression criterion's
tests, loadtests/slo/regression.py) without touching its code. Static assets, pages, /healthz and
/metrics are not slowed. The wait happens inside the observability middleware, so the app's own
metrics and Server-Timing include it, as they would a real regression.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ExtraLatencyMiddleware"]


class ExtraLatencyMiddleware:
    """ASGI middleware: `delay_ms` milliseconds of sleep before each /api/ request."""

    def __init__(self, app: ASGIApp, delay_ms: int) -> None:
        self.app = app
        self.delay_s = delay_ms / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/api/"):
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)
