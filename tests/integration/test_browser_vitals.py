"""Real headless Chromium (Debian `chromium`) measuring web vitals of pages served on loopback.

The pages are built to produce known vitals: a late, large element (LCP after a slow data
request), a banner that pushes content down (CLS), a click handler that blocks the main thread
(INP), an interaction target at the bottom edge of the viewport. A second server on another
loopback address checks that the browser reaches only the allowed hosts. The metric code is
Google's web-vitals library that scripts/setup.sh puts into .cache/web-vitals/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtests.suite.browser.driver import (
    INP_REPORT_LIMIT_S,
    BrowserOptions,
    VisitRequest,
    VitalsBrowser,
    web_vitals_library,
)
from loadtests.suite.browser.user import BrowserError, BrowserProcess

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DATA_DELAY_S = 1.5
HANDLER_BUSY_MS = 150

STEADY_PAGE = """<!doctype html><html><head><title>steady</title></head><body>
<h1 id="title">Overview</h1><p>Numbers for today.</p>
<button id="refresh">Refresh</button></body></html>"""

# Renders its main content only after /data answers (DATA_DELAY_S later); a banner inserted
# above the text shifts it down; the button's handler keeps the main thread busy.
LATE_PAGE = f"""<!doctype html><html><head><title>late</title></head><body style="margin:0">
<div id="banner-slot"></div>
<p id="intro">Intro text that the banner will push down the page. Intro text that moves.</p>
<main id="content"></main>
<button id="refresh">Refresh</button>
<script>
fetch("/data").then(r => r.text()).then(text => {{
  const banner = document.createElement("div");
  banner.style.height = "250px";
  banner.textContent = "banner";
  document.getElementById("banner-slot").appendChild(banner);
  const hero = document.createElement("p");
  hero.id = "hero";
  hero.style.fontSize = "48px";
  hero.textContent = text.repeat(12);
  document.getElementById("content").appendChild(hero);
}});
document.getElementById("refresh").addEventListener("click", () => {{
  const start = performance.now();
  while (performance.now() - start < {HANDLER_BUSY_MS}) {{}}
}});
</script></body></html>"""


# The button sits on the bottom edge of the viewport, where a click only repaints the last few
# pixels of the page. (With an emulated viewport taller than the window's real content area,
# Chromium's new headless mode never presented that repaint and never reported the INP.)
BOTTOM_BUTTON_PAGE = """<!doctype html><html><head><title>bottom</title></head><body>
<h1>Overview</h1><p>Numbers for today.</p>
<button id="refresh" style="position:fixed;bottom:0;left:0">Refresh</button>
<script>
document.getElementById("refresh").addEventListener("click", () => {
  const start = performance.now();
  while (performance.now() - start < 100) {}
});
</script></body></html>"""

TIMER_DELAY_MS = 4000

# Inserts its hero TIMER_DELAY_MS after load with no network traffic in between, like the
# reference app's slow dashboard: only waiting for the hero tells when the page has rendered.
TIMER_PAGE = f"""<!doctype html><html><head><title>timer</title></head><body>
<h1>Overview</h1><main id="slot"></main><button id="refresh">Refresh</button>
<script>
setTimeout(() => {{
  const hero = document.createElement("p");
  hero.id = "hero";
  hero.style.fontSize = "48px";
  hero.textContent = "The main content of the page. ".repeat(12);
  document.getElementById("slot").appendChild(hero);
}}, {TIMER_DELAY_MS});
</script></body></html>"""


def shifting_page(*shift_times_ms: int) -> str:
    """A page that pushes its text down by 100 px at each of the given times (ms after load).

    Each shift moves the same block by the same distance inside a large viewport, so every shift
    has the same layout-shift value; the last inserted block is #shift-N.
    """
    inserts = "".join(
        f"setTimeout(() => {{ const b = document.createElement('div'); b.id = 'shift-{i}';"
        f" b.style.height = '100px'; document.getElementById('top').appendChild(b); }}, {t});"
        for i, t in enumerate(shift_times_ms, start=1)
    )
    return f"""<!doctype html><html><head><title>shifts</title></head><body style="margin:0">
<div id="top"></div><p style="height:200px;margin:0">Text that is pushed down by the blocks.</p>
<button id="refresh">Refresh</button>
<script>window.addEventListener("load", () => {{ {inserts} }});</script></body></html>"""


class PageServer:
    """A loopback HTTP server with fixed pages; counts the requests per path."""

    def __init__(self, address: str, pages: dict[str, str]) -> None:
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                if path == "/data":
                    time.sleep(DATA_DELAY_S)
                    body, kind = b"Sales up twelve percent. ", "text/plain"
                elif path in pages:
                    body, kind = pages[path].encode(), "text/html"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((address, 0), Handler)
        self.address = address
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.port}{path}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def outside_server() -> Iterator[PageServer]:
    """A server on 127.0.0.2: loopback, but not an allowed host of the browser."""
    with PageServer("127.0.0.2", {"/pixel": "<p>pixel</p>"}) as server:
        yield server


@pytest.fixture(scope="module")
def page_server(outside_server: PageServer) -> Iterator[PageServer]:
    guarded = f"""<!doctype html><html><body><h1>Guarded</h1>
    <img src="{outside_server.url("/pixel")}" alt="outside"><button>Go</button></body></html>"""
    pages = {
        "/steady": STEADY_PAGE,
        "/late": LATE_PAGE,
        "/bottom-button": BOTTOM_BUTTON_PAGE,
        "/timer": TIMER_PAGE,
        "/guarded": guarded,
        "/one-shift": shifting_page(300),
        "/shifts-in-one-window": shifting_page(300, 600),
        "/shifts-in-two-windows": shifting_page(300, 1800),
    }
    with PageServer("127.0.0.1", pages) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserProcess]:
    process = BrowserProcess(BrowserOptions(allowed_hosts=("127.0.0.1",)))
    process.start()
    yield process
    process.close()


def test_a_steady_page_paints_early_without_layout_shift(browser, page_server):
    outcome = browser.visit(page_server.url("/steady"), "#refresh", timeout_s=30)
    assert outcome.error is None, outcome.error
    vitals = outcome.vitals
    assert vitals.lcp_ms is not None and vitals.lcp_ms < DATA_DELAY_S * 1000
    assert vitals.cls == 0.0
    assert vitals.interactions == 1
    # A quick click, under the 16 ms event-timing threshold, still has an INP value.
    assert vitals.inp_ms is not None
    assert vitals.unreported == {}


def test_late_content_shifts_and_a_busy_handler_show_in_lcp_cls_and_inp(browser, page_server):
    outcome = browser.visit(page_server.url("/late"), "#refresh", timeout_s=30)
    assert outcome.error is None, outcome.error
    vitals = outcome.vitals
    # The hero paragraph rendered after the slow data request is the largest paint.
    assert vitals.lcp_element == "p#hero"
    assert vitals.lcp_ms >= DATA_DELAY_S * 1000
    assert vitals.layout_shifts >= 1 and vitals.cls > 0.0
    # The interaction lasts at least as long as its handler blocked the main thread.
    assert vitals.unreported == {}
    assert vitals.inp_ms >= HANDLER_BUSY_MS


def test_a_click_on_the_bottom_edge_of_the_viewport_is_reported_as_inp(browser, page_server):
    outcome = browser.visit(page_server.url("/bottom-button"), "#refresh", timeout_s=30)
    assert outcome.error is None, outcome.error
    assert outcome.vitals.unreported == {}
    assert outcome.vitals.inp_ms >= 100


def test_the_user_waits_for_the_main_content_before_interacting(browser, page_server):
    waited = browser.visit(page_server.url("/timer"), "#refresh", timeout_s=30, ready_selector="#hero")
    assert waited.error is None, waited.error
    assert waited.vitals.lcp_element == "p#hero"
    assert waited.vitals.lcp_ms >= TIMER_DELAY_MS
    # Without it the page looks settled before the timer fires: the click comes first, and the
    # browser stops reporting LCP candidates at the user's first click.
    hasty = browser.visit(page_server.url("/timer"), "#refresh", timeout_s=30)
    assert hasty.error is None, hasty.error
    assert hasty.vitals.lcp_ms < TIMER_DELAY_MS
    assert hasty.vitals.lcp_element != "p#hero"


def test_cls_is_the_largest_session_window_of_shifts(browser, page_server):
    def cls(path: str, last_block: str) -> float:
        outcome = browser.visit(page_server.url(path), "#refresh", timeout_s=30, ready_selector=last_block)
        assert outcome.error is None, outcome.error
        return outcome.vitals.cls

    single = cls("/one-shift", "#shift-1")
    assert single > 0
    # Shifts 300 ms apart share a session window: their values add up.
    assert cls("/shifts-in-one-window", "#shift-2") == pytest.approx(2 * single, rel=0.05)
    # 1.5 s apart they open a new window (the gap limit is 1 s): CLS is the largest window.
    assert cls("/shifts-in-two-windows", "#shift-2") == pytest.approx(single, rel=0.05)


def test_a_missing_page_or_interaction_target_is_a_failed_visit(browser, page_server):
    missing = browser.visit(page_server.url("/nope"), "#refresh", timeout_s=10)
    assert missing.vitals is None and "HTTP 404" in missing.error
    no_button = browser.visit(page_server.url("/steady"), "#does-not-exist", timeout_s=3)
    assert no_button.vitals is None and no_button.error
    never_ready = browser.visit(page_server.url("/steady"), "#refresh", timeout_s=3, ready_selector="#hero")
    assert never_ready.vitals is None and "#hero" in never_ready.error
    # The browser survives failed visits.
    assert browser.visit(page_server.url("/steady"), "#refresh", timeout_s=30).error is None


def test_the_browser_reaches_only_allowed_hosts(page_server, outside_server):
    outside_server.hits.clear()
    confined = BrowserProcess(BrowserOptions(allowed_hosts=("127.0.0.1",)))
    confined.start()
    try:
        assert confined.visit(page_server.url("/guarded"), "button", timeout_s=30).error is None
    finally:
        confined.close()
    assert outside_server.hits.get("/pixel", 0) == 0

    # Control: with the second address allowed, the same page does load the image.
    opened = BrowserProcess(BrowserOptions(allowed_hosts=("127.0.0.1", "127.0.0.2")))
    opened.start()
    try:
        assert opened.visit(page_server.url("/guarded"), "button", timeout_s=30).error is None
    finally:
        opened.close()
    assert outside_server.hits.get("/pixel", 0) >= 1


def test_a_url_on_a_host_that_is_not_allowed_is_refused(browser, outside_server):
    outcome = browser.visit(outside_server.url("/pixel"), "button", timeout_s=10)
    assert "not an allowed host" in outcome.error


def test_a_browser_without_event_timing_names_inp_and_its_version(tmp_path, page_server):
    # A Chromium without Event Timing, emulated by removing the interface before the real
    # library runs: the visit still succeeds, and INP is named as unreported, with the reason and
    # the browser's version, after the bounded wait rather than the visit's timeout.
    library = tmp_path / "web-vitals-without-event-timing.js"
    library.write_text(
        "delete window.PerformanceEventTiming;\n" + web_vitals_library().read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    browser = VitalsBrowser(BrowserOptions(allowed_hosts=("127.0.0.1",)), library=library)
    version = browser.start()
    try:
        reply = browser.visit(VisitRequest(page_server.url("/steady"), "#refresh", timeout_s=30))
    finally:
        browser.close()
    vitals = reply["vitals"]
    assert reply["ok"] is True
    assert vitals["inp_ms"] is None and vitals["lcp_ms"] is not None and vitals["cls"] == 0.0
    assert list(vitals["unreported"]) == ["INP"]
    message = vitals["unreported"]["INP"]
    assert message.startswith(f"INP not reported: Chromium {version} does not support Event Timing")
    assert f"waited {INP_REPORT_LIMIT_S:g} s" in message


def test_a_missing_chromium_is_reported_by_path():
    process = BrowserProcess(
        BrowserOptions(allowed_hosts=("127.0.0.1",), executable_path="/nonexistent/chromium")
    )
    with pytest.raises(BrowserError, match="no Chromium at /nonexistent/chromium"):
        process.start()
    assert not process.running
