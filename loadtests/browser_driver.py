"""Headless Chromium, driven by Playwright in a process of its own, measuring web vitals per visit.

Why a separate process: Playwright's sync API runs its own greenlet dispatcher and cannot run
inside Locust's gevent-patched workers; this process imports neither gevent nor Locust and talks
to its Locust user (loadtests/browser_user.py) over stdin/stdout, one JSON object per line:

    -> {"op": "visit", "url": "...", "interaction_selector": "button", "timeout_s": 30,
        "quiet_ms": 1000, "ready_selector": "img.hero"}
    <- {"ok": true, "url": "...", "status": 200, "elapsed_ms": 812.4, "settled": true,
        "headers": {"x-db-query-duration": "3.1"}, "vitals": {...}}
    <- {"ok": false, "url": "...", "error": "..."}              a failed visit; the process lives on
    -> {"op": "close"}                                           (or end of input) closes the browser

The first line the process writes is {"ready": true, "browser_version": "..."} or
{"ready": false, "error": "..."}.

Each visit opens a fresh browser context (no cache, cookies or storage from earlier visits: a
first-time visitor), loads the page with loadtests/web_vitals.js injected before any page script,
waits until the page has rendered (its main content, `ready_selector`, is visible; the network
is idle; the page has shown no change for `quiet_ms`), clicks the interaction target (the input
that produces INP and FID), waits until the browser has reported that interaction, hides the
page, and reads the values. A user interacting earlier would end LCP early: browsers stop
reporting LCP candidates at the first input.

Safety: the browser reaches only the allowed hosts. Every other request is sent to a proxy
address on loopback where nothing listens, so it fails inside the browser; the implicit loopback
bypass is removed (`<-loopback>`) so that only the listed hosts are reached directly.

Runs with the project's interpreter, by path: `python loadtests/browser_driver.py --serve`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

__all__ = [
    "BUNDLED_CHROMIUM",
    "CHROMIUM_ARGS",
    "DEFAULT_CHROMIUM",
    "DEFAULT_INTERACTION_SELECTOR",
    "WEB_VITALS_SCRIPT",
    "BrowserOptions",
    "PageVitals",
    "VisitRequest",
    "VitalsBrowser",
    "chromium_launch_args",
    "parse_vitals",
    "serve",
]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# executable_path value for the Chromium build Playwright installs itself (the Playwright
# container images carry it; `playwright install` cannot download it on machines without internet).
BUNDLED_CHROMIUM = "bundled"
WEB_VITALS_SCRIPT = Path(__file__).with_name("web_vitals.js")
# Flags for a quiet, deterministic headless browser in a container: no sandbox (containers run
# it as root without user namespaces), no GPU, and none of Chromium's own network traffic.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
# Requests to hosts that are not allowed go to this proxy on loopback (port 9, the discard
# service, which nothing serves here): they fail inside the browser and never leave the machine.
BLOCKING_PROXY = "http://127.0.0.1:9"
DEFAULT_INTERACTION_SELECTOR = "button"
# Response headers of the page's document handed back with the visit (lower-case, as HTTP/2 and
# Playwright spell them): the target's own timing of its database work.
REPORTED_HEADERS = ("x-db-query-duration", "x-db-query-name")
DEFAULT_VIEWPORT = (1280, 800)
# The page counts as rendered once it has had no network traffic for 500 ms (Playwright's
# networkidle) and has shown no change (DOM mutation, LCP candidate, layout shift) for QUIET_MS.
# A page that never settles (a ticking clock) is used as it is after SETTLE_LIMIT_S.
DEFAULT_QUIET_MS = 1000
# Waits poll the page on a timer rather than on every animation frame: polling per frame keeps
# the renderer painting 60 frames a second for nothing and multiplies a visit's CPU cost.
POLL_INTERVAL_MS = 50
SETTLE_LIMIT_S = 10.0


class DriverError(Exception):
    """A visit or the browser itself failed; the message is sent back as the visit's error."""


@dataclass(frozen=True)
class BrowserOptions:
    """How to launch the browser; `allowed_hosts` are the only hosts it may contact."""

    allowed_hosts: tuple[str, ...]
    executable_path: str = DEFAULT_CHROMIUM
    viewport: tuple[int, int] = DEFAULT_VIEWPORT
    extra_args: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, text: str) -> BrowserOptions:
        raw = json.loads(text)
        hosts = raw.get("allowed_hosts")
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            raise DriverError(f"allowed_hosts must be a non-empty list of host names, got {hosts!r}")
        return cls(
            allowed_hosts=tuple(hosts),
            executable_path=str(raw.get("executable_path", DEFAULT_CHROMIUM)),
            viewport=tuple(raw.get("viewport", DEFAULT_VIEWPORT)),
            extra_args=tuple(raw.get("extra_args", ())),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class VisitRequest:
    """One page visit: load `url`, click `interaction_selector`, read the vitals."""

    url: str
    interaction_selector: str = DEFAULT_INTERACTION_SELECTOR
    timeout_s: float = 30.0
    quiet_ms: int = DEFAULT_QUIET_MS
    # The page's main content: the user waits until it is visible before interacting.
    ready_selector: str | None = None

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> VisitRequest:
        url = message.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise DriverError(f"visit url must be an http(s) URL, got {url!r}")
        selector = message.get("interaction_selector", DEFAULT_INTERACTION_SELECTOR)
        timeout_s = message.get("timeout_s", 30.0)
        if not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 600:
            raise DriverError(f"timeout_s must be a number of seconds in (0, 600], got {timeout_s!r}")
        quiet_ms = message.get("quiet_ms", DEFAULT_QUIET_MS)
        if not isinstance(quiet_ms, int) or isinstance(quiet_ms, bool) or not 0 <= quiet_ms <= 10_000:
            raise DriverError(f"quiet_ms must be whole milliseconds in [0, 10000], got {quiet_ms!r}")
        ready = message.get("ready_selector")
        if ready is not None and (not isinstance(ready, str) or not ready.strip()):
            raise DriverError(f"ready_selector must be a CSS selector or null, got {ready!r}")
        return cls(
            url=url,
            interaction_selector=str(selector),
            timeout_s=float(timeout_s),
            quiet_ms=quiet_ms,
            ready_selector=ready,
        )


@dataclass(frozen=True)
class PageVitals:
    """Web vitals of one page visit; None where the browser reported nothing."""

    lcp_ms: float | None
    cls: float
    inp_ms: float | None
    fid_ms: float | None
    lcp_element: str | None = None
    interactions: int = 0
    layout_shifts: int = 0
    navigation: dict[str, float] = field(default_factory=dict)


def _number(raw: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DriverError(f"vitals field {key!r} must be a non-negative number, got {value!r}")
    return float(value)


def parse_vitals(raw: Any) -> PageVitals:
    """Validate what web_vitals.js `collect()` returned (or its JSON round trip)."""
    if not isinstance(raw, Mapping):
        raise DriverError(f"vitals must be an object, got {type(raw).__name__}")
    navigation = raw.get("navigation") or {}
    if not isinstance(navigation, Mapping):
        raise DriverError(f"vitals field 'navigation' must be an object, got {navigation!r}")
    element = raw.get("lcp_element")
    return PageVitals(
        lcp_ms=_number(raw, "lcp_ms"),
        cls=_number(raw, "cls", required=True) or 0.0,
        inp_ms=_number(raw, "inp_ms"),
        fid_ms=_number(raw, "fid_ms"),
        lcp_element=str(element) if element is not None else None,
        interactions=int(_number(raw, "interactions") or 0),
        layout_shifts=int(_number(raw, "layout_shifts") or 0),
        navigation={k: float(v) for k, v in navigation.items() if isinstance(v, int | float)},
    )


def chromium_launch_args(allowed_hosts: Iterable[str], extra_args: Iterable[str] = ()) -> list[str]:
    """Chromium flags: the quiet headless set plus the proxy that confines it to `allowed_hosts`."""
    bypass = ["<-loopback>"]
    for host in allowed_hosts:
        if not host or any(c in host for c in ";, []"):
            raise DriverError(f"allowed host {host!r} is not a plain host name or address")
        # Chromium's bypass rules write IPv6 addresses in brackets, as in URLs.
        bypass.append(f"[{host}]" if ":" in host else host)
    return [
        *CHROMIUM_ARGS,
        f"--proxy-server={BLOCKING_PROXY}",
        f"--proxy-bypass-list={';'.join(bypass)}",
        *extra_args,
    ]


class VitalsBrowser:
    """One headless Chromium and the visits made with it (Playwright sync API)."""

    def __init__(self, options: BrowserOptions) -> None:
        self.options = options
        self._playwright = None
        self._browser = None
        self._script = WEB_VITALS_SCRIPT.read_text(encoding="utf-8")

    def start(self) -> str:
        """Launch the browser; returns its version."""
        from playwright.sync_api import Error, sync_playwright

        executable = self.options.executable_path
        if executable != BUNDLED_CHROMIUM and not Path(executable).is_file():
            raise DriverError(
                f"no Chromium at {executable}: install the Debian package `chromium`, or use "
                f"{BUNDLED_CHROMIUM!r} in an image that ships Playwright's own browser"
            )
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=None if executable == BUNDLED_CHROMIUM else executable,
                headless=True,
                args=chromium_launch_args(self.options.allowed_hosts, self.options.extra_args),
                timeout=60_000,
            )
        except Error as exc:
            self.close()
            raise DriverError(f"Chromium did not start: {exc.message.splitlines()[0]}") from exc
        return self._browser.version

    def visit(self, request: VisitRequest) -> dict[str, Any]:
        """Load the page, interact, and return the visit's result message."""
        from playwright.sync_api import Error, TimeoutError

        host = urlsplit(request.url).hostname or ""
        if host not in self.options.allowed_hosts:
            raise DriverError(f"host {host!r} of {request.url} is not an allowed host")
        if self._browser is None:
            raise DriverError("the browser is not running")
        timeout_ms = request.timeout_s * 1000
        width, height = self.options.viewport
        context = self._browser.new_context(viewport={"width": width, "height": height})
        step = f"loading {request.url}"
        try:
            context.set_default_timeout(timeout_ms)
            context.add_init_script(script=self._script)
            page = context.new_page()
            started = time.perf_counter()
            response = page.goto(request.url, wait_until="load")
            status = response.status if response is not None else 0
            if response is None or not response.ok:
                raise DriverError(f"{request.url} answered HTTP {status}")
            headers = response.all_headers()
            reported_headers = {name: headers[name] for name in REPORTED_HEADERS if name in headers}
            if request.ready_selector:
                step = f"waiting for the main content {request.ready_selector!r} to show"
                page.locator(request.ready_selector).first.wait_for(state="visible")
            settled = self._wait_until_rendered(page, request, TimeoutError)
            step = f"clicking {request.interaction_selector!r}"
            page.locator(request.interaction_selector).first.click()
            step = "waiting for the browser to report the interaction"
            page.wait_for_function(
                "() => window.__odavlVitals.interactionCount() > 0", polling=POLL_INTERVAL_MS
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            # Hide the page as a user leaving it would; LCP candidates stop, values are final.
            step = "reading the web vitals"
            page.evaluate(_HIDE_PAGE)
            vitals = parse_vitals(page.evaluate("() => window.__odavlVitals.collect()"))
        except Error as exc:
            raise DriverError(f"{step}: {exc.message.splitlines()[0]}") from exc
        finally:
            context.close()
        return {
            "ok": True,
            "url": request.url,
            "status": status,
            "elapsed_ms": round(elapsed_ms, 3),
            "settled": settled,
            "headers": reported_headers,
            "vitals": asdict(vitals),
        }

    @staticmethod
    def _wait_until_rendered(page: Any, request: VisitRequest, timeout_error: type[Exception]) -> bool:
        """Wait for network idle and a quiet page, at most SETTLE_LIMIT_S; False if it never settled."""
        limit_ms = min(SETTLE_LIMIT_S, request.timeout_s) * 1000
        try:
            page.wait_for_load_state("networkidle", timeout=limit_ms)
            page.wait_for_function(
                f"() => window.__odavlVitals.quietForMs() >= {request.quiet_ms}",
                timeout=limit_ms,
                polling=POLL_INTERVAL_MS,
            )
        except timeout_error:
            return False
        return True

    def close(self) -> None:
        if self._browser is not None:
            try:
                self._browser.close()
            finally:
                self._browser = None
        if self._playwright is not None:
            try:
                self._playwright.stop()
            finally:
                self._playwright = None


# Headless pages stay "visible"; emulate the hidden state the way a tab switch reports it, so the
# page's own visibility handling (and web_vitals.js) see the end of the visit.
_HIDE_PAGE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def _write(stream: IO[str], message: Mapping[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def serve(browser: VitalsBrowser, commands: IO[str], replies: IO[str]) -> int:
    """Answer visit commands until `close` or end of input; returns the exit code."""
    try:
        version = browser.start()
    except DriverError as exc:
        _write(replies, {"ready": False, "error": str(exc)})
        return 1
    _write(replies, {"ready": True, "browser_version": version})
    try:
        for line in commands:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError as exc:
                _write(replies, {"ok": False, "error": f"command is not JSON: {exc}"})
                continue
            op = message.get("op") if isinstance(message, dict) else None
            if op == "close":
                break
            if op != "visit":
                _write(replies, {"ok": False, "error": f"unknown op {op!r}; expected 'visit' or 'close'"})
                continue
            url = message.get("url")
            try:
                _write(replies, browser.visit(VisitRequest.from_message(message)))
            except DriverError as exc:
                _write(replies, {"ok": False, "url": url, "error": str(exc)})
    except BrokenPipeError:
        # The Locust user is gone (its worker was killed): nobody reads the answer, just close.
        pass
    finally:
        browser.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="answer JSON-line commands on stdin")
    parser.add_argument("--options", required=True, help="BrowserOptions as JSON")
    args = parser.parse_args(argv)
    try:
        options = BrowserOptions.from_json(args.options)
    except (DriverError, json.JSONDecodeError, TypeError) as exc:
        _write(sys.stdout, {"ready": False, "error": f"bad --options: {exc}"})
        return 2
    if not args.serve:
        parser.error("nothing to do: pass --serve")
    return serve(VitalsBrowser(options), sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
