"""The HTML dashboard page (GET /dashboard), with deliberately slow and unstable variants.

`/dashboard` renders the hero image (the Largest Contentful Paint element) in the initial
HTML. The variants exist to check that web-vitals measurement and thresholds catch a
regression (N = `delay_ms`, default STUDIOHUB_SLOW_DASHBOARD_DELAY_MS):

- `?variant=slow&delay_ms=N`: the script inserts the hero after N ms into space reserved for
  it: LCP moves later by about N ms while CLS stays near 0.
- `?variant=unstable&delay_ms=N`: the same late hero without reserved space, plus a tall
  banner inserted above the content: LCP moves later and CLS lands well above 0.1.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from reference_app.params import enum_param, int_param, parse_query
from reference_app.static_assets import ASSETS

__all__ = ["page_routes", "render_dashboard"]

_TREND = [12, 18, 15, 22, 30, 27, 35, 41, 38, 45, 52, 49, 57, 61]


def _asset_url(path: str) -> str:
    # the ETag doubles as a version, so a changed asset gets a new URL
    return f"/static/{path}?v={ASSETS[path].etag.strip(chr(34))[:12]}"


def render_dashboard(variant: str, delay_ms: int) -> str:
    slot_class = "hero-slot" if variant == "slow" else "hero-slot-unreserved"
    hero = (
        f'<div id="hero-slot" class="{slot_class}"></div>'
        if variant in ("slow", "unstable")
        else f'<img class="hero" src="{_asset_url("img/hero.png")}" width="960" height="360" '
        'alt="Studio Hub overview" elementtiming="hero" fetchpriority="high">'
    )
    cards = "".join(
        f'<div class="card"><h2>{html.escape(title)}</h2>'
        f'<div class="value" data-metric="{key}">&ndash;</div></div>'
        for title, key in (
            ("Active projects", "active_projects"),
            ("Members", "members"),
            ("Open issues (30 days)", "open_issues_30d_by_severity"),
            ("Autopilot runs (7 days)", "autopilot_runs_7d"),
            ("Guardian failures (7 days)", "guardian_failures_7d"),
        )
    )
    rows = "".join(
        f"<tr><td>{name}</td><td>{status}</td><td>{when}</td></tr>"
        for name, status, when in (
            ("web-frontend", "succeeded", "5 minutes ago"),
            ("billing-service", "failed", "1 hour ago"),
            ("auth-gateway", "succeeded", "3 hours ago"),
        )
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ODAVL Studio Hub - Dashboard</title>
<link rel="stylesheet" href="{_asset_url("css/app.css")}">
<script defer src="{_asset_url("js/vendor.js")}"></script>
<script defer src="{_asset_url("js/app.js")}"></script>
</head>
<body data-variant="{variant}" data-delay-ms="{delay_ms}">
<header><img src="{_asset_url("img/logo.svg")}" width="32" height="32" alt="ODAVL">
<strong>Studio Hub</strong></header>
<main>
{hero}
<section class="cards">{cards}</section>
<section><h2>Issue trend</h2>
<canvas id="trend" data-points="{_TREND}"></canvas></section>
<section><h2>Recent autopilot runs</h2><table>
<thead><tr><th>Project</th><th>Status</th><th>When</th></tr></thead>
<tbody>{rows}</tbody></table></section>
</main>
</body>
</html>
"""


async def dashboard(request: Request) -> Response:
    params = parse_query(
        request.query_params.multi_items(),
        {
            "variant": enum_param(("standard", "slow", "unstable"), "standard"),
            "delay_ms": int_param(0, 10000),
        },
    )
    delay_ms = params["delay_ms"]
    if delay_ms is None:
        delay_ms = request.app.state.config.slow_dashboard_delay_ms
    return HTMLResponse(render_dashboard(params["variant"], delay_ms), headers={"Cache-Control": "no-cache"})


async def root(request: Request) -> Response:
    return RedirectResponse("/dashboard", status_code=307)


def page_routes() -> list[Route]:
    return [Route("/dashboard", dashboard), Route("/", root)]
