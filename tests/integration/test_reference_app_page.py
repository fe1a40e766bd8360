"""The dashboard page in headless Chromium: where its LCP and CLS come from in each variant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.postgres import PostgresServer
from services.reference_app import ReferenceApp
from tests.tools import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DELAY_MS = 1200

# LCP entries carry the element's URL; layout shifts without recent input add up to CLS.
VITALS_JS = """() => new Promise(resolve => {
  let lcp = null, cls = 0;
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) lcp = {start: e.startTime, url: e.url};
  }).observe({type: 'largest-contentful-paint', buffered: true});
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) cls += e.value;
  }).observe({type: 'layout-shift', buffered: true});
  setTimeout(() => resolve({lcp, cls}), 200);
})"""


@pytest.fixture(scope="module")
def page_app(postgres_server: PostgresServer) -> Iterator[ReferenceApp]:
    with ReferenceApp(postgres_server.dsn(), env={"STUDIOHUB_POOL_MIN_SIZE": "1"}) as app:
        yield app


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = require_tool("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()


def _vitals(browser: Any, url: str) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function(
            "document.querySelector('img.hero') && document.querySelector('img.hero').complete", timeout=15000
        )
        page.wait_for_timeout(300)  # let the paint of the image be reported
        return page.evaluate(VITALS_JS)
    finally:
        page.close()


def test_standard_page_paints_the_hero_without_shifts(page_app: ReferenceApp, browser: Any) -> None:
    vitals = _vitals(browser, f"{page_app.base_url}/dashboard")
    assert "/static/img/hero.png" in vitals["lcp"]["url"]
    assert vitals["cls"] < 0.01


def test_slow_variant_delays_lcp_by_at_least_the_delay(page_app: ReferenceApp, browser: Any) -> None:
    vitals = _vitals(browser, f"{page_app.base_url}/dashboard?variant=slow&delay_ms={DELAY_MS}")
    assert vitals["lcp"]["url"].endswith("hero.png?late=1")
    assert vitals["lcp"]["start"] >= DELAY_MS  # inserted by a timer started after DOMContentLoaded
    assert vitals["cls"] < 0.1


def test_unstable_variant_also_shifts_the_layout(page_app: ReferenceApp, browser: Any) -> None:
    vitals = _vitals(browser, f"{page_app.base_url}/dashboard?variant=unstable&delay_ms={DELAY_MS}")
    assert vitals["lcp"]["start"] >= DELAY_MS
    assert vitals["cls"] > 0.1  # "needs improvement" or worse by the Web Vitals bands
