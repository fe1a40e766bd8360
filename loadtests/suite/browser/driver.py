"""Headless Chromium, driven by Playwright in a process of its own, measuring web vitals per visit.

Why a separate process: Playwright's sync API runs its own greenlet dispatcher and cannot run
inside Locust's gevent-patched workers; this process imports neither gevent nor Locust and talks
to its Locust user (loadtests/suite/browser/user.py) over stdin/stdout, one JSON object per line:

    -> {"op": "visit", "url": "...", "interaction_selector": "button", "timeout_s": 30,
        "quiet_ms": 1000, "ready_selector": "img.hero"}
    <- {"ok": true, "url": "...", "status": 200, "elapsed_ms": 812.4, "settled": true,
        "headers": {"x-db-query-duration": "3.1"}, "vitals": {...}}
    <- {"ok": false, "url": "...", "error": "..."}              a failed visit; the process lives on
    -> {"op": "close"}                                           (or end of input) closes the browser

The first line the process writes is {"ready": true, "browser_version": "..."} or
{"ready": false, "error": "..."}.

Each visit opens a fresh browser context (no cache, cookies or storage from earlier visits: a
first-time visitor), loads the page with Google's web-vitals library and its glue
(loadtests/suite/browser/web_vitals.js) injected before any page script, waits until the page
has rendered (its main content, `ready_selector`, is visible; the network is idle; the page has
shown no change for `quiet_ms`), clicks the interaction target (the input that produces INP), waits at most
INP_REPORT_LIMIT_S for the library to report that interaction, hides the page, and reads the
values. A user interacting earlier would end LCP early: browsers stop reporting LCP candidates at
the user's first click or key press. A metric the browser did not report is None, and the visit's
`vitals.unreported` says why, naming the metric and the Chromium version.

The page's viewport is the browser window's real content area, sized to `viewport`. Emulating
the viewport instead (Playwright's default) breaks INP in Chromium's new headless mode, the only
headless mode of the Debian `chromium` since version 132: its windows have a toolbar, Playwright
sizes the window to the emulated viewport as if they had none, and the bottom ~90 px of the page
lie outside what the compositor draws. A click there (a button's hover and pressed look) damages
only that strip, no frame is presented, and Chromium holds the interaction's event-timing entries
back until some later frame: INP is never reported.

The library (its IIFE build, defining the global `webVitals`) is the npm package pinned in
scripts/web_vitals.env; scripts/setup.sh fetches it, verifies its integrity and extracts it into
.cache/web-vitals/.

Safety: the browser reaches only the allowed hosts. Every other request, a redirect hop to
another host included, is sent to a proxy address on loopback where nothing listens, so it fails
inside the browser (a failed visit names those requests); the implicit loopback bypass is
removed (`<-loopback>`) so that only the listed hosts are reached directly. Certificates are
verified by Chromium against its own trust store (Playwright's ignore_https_errors stays off).

Runs with the project's interpreter, by path, with the directory holding `loadtests/` on
PYTHONPATH (BrowserProcess sets it): `python loadtests/suite/browser/driver.py --serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from loadtests.errors import LoadTestError
from loadtests.run.config import WEB_VITALS_ENV

__all__ = [
    "BUNDLED_CHROMIUM",
    "CHROMIUM_ARGS",
    "DEFAULT_CHROMIUM",
    "DEFAULT_INTERACTION_SELECTOR",
    "INP_REPORT_LIMIT_S",
    "VITAL_NAMES",
    "WEB_VITALS_CACHE",
    "WEB_VITALS_ENV",
    "WEB_VITALS_PIN",
    "WEB_VITALS_SCRIPT",
    "BrowserOptions",
    "PageVitals",
    "VisitRequest",
    "VitalsBrowser",
    "chromium_launch_args",
    "parse_vitals",
    "read_pin",
    "serve",
    "unreported_messages",
    "web_vitals_library",
]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# executable_path value for the Chromium build Playwright installs itself (the Playwright
# container images carry it; `playwright install` cannot download it on machines without internet).
BUNDLED_CHROMIUM = "bundled"
# The glue between the web-vitals library and this driver.
WEB_VITALS_SCRIPT = Path(__file__).with_name("web_vitals.js")
_PROJECT_ROOT = Path(__file__).resolve().parents[3]
# The pinned web-vitals release (version, npm integrity, build) and where setup.sh extracts it.
WEB_VITALS_PIN = _PROJECT_ROOT / "scripts" / "web_vitals.env"
WEB_VITALS_CACHE = _PROJECT_ROOT / ".cache" / "web-vitals"
# Names the library file instead, for an image that carries it elsewhere (the fleet's code
# ConfigMap holds only loadtests/).
# The metrics taken from the library, by the library's names.
VITAL_NAMES = ("LCP", "CLS", "INP")
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
# How long after the click the driver waits for the library to report INP. The library handles
# event-timing entries when the page is idle (requestIdleCallback, at most 1 s), so a browser that
# reports the interaction does so well within this; one that does not gets its INP named as
# unreported instead of failing the visit on its timeout.
INP_REPORT_LIMIT_S = 5.0


class DriverError(LoadTestError):
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
    """Web vitals of one page visit (ms; CLS unitless); None where the browser reported nothing.

    `layout_shifts` counts the shifts of the session window that makes CLS; `unreported` maps
    the name of each metric left None (LCP, CLS, INP) to why the browser did not report it.
    """

    lcp_ms: float | None
    cls: float | None
    inp_ms: float | None
    lcp_element: str | None = None
    interactions: int = 0
    layout_shifts: int = 0
    navigation: dict[str, float] = field(default_factory=dict)
    unreported: dict[str, str] = field(default_factory=dict)


def _number(raw: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DriverError(f"vitals field {key!r} must be a non-negative number, got {value!r}")
    return float(value)


def _unreported(raw: Mapping[str, Any]) -> dict[str, str]:
    unreported = raw.get("unreported") or {}
    if not isinstance(unreported, Mapping):
        raise DriverError(f"vitals field 'unreported' must be an object, got {unreported!r}")
    for name, reason in unreported.items():
        if name not in VITAL_NAMES or not isinstance(reason, str) or not reason:
            raise DriverError(
                f"vitals field 'unreported' maps metric names ({', '.join(VITAL_NAMES)}) to "
                f"reasons, got {name!r}: {reason!r}"
            )
    return dict(unreported)


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
        cls=_number(raw, "cls"),
        inp_ms=_number(raw, "inp_ms"),
        lcp_element=str(element) if element is not None else None,
        interactions=int(_number(raw, "interactions") or 0),
        layout_shifts=int(_number(raw, "layout_shifts") or 0),
        navigation={k: float(v) for k, v in navigation.items() if isinstance(v, int | float)},
        unreported=_unreported(raw),
    )


def unreported_messages(
    browser_version: str, reasons: Mapping[str, str], interaction_selector: str, waited_s: float
) -> dict[str, str]:
    """Per unreported metric, a sentence naming it and the browser: the visit's `unreported`.

    `reasons` are web_vitals.js's (`"does not support ..."`); INP also names the click it waited
    for and how long.
    """
    messages = {}
    for name, reason in reasons.items():
        message = f"{name} not reported: Chromium {browser_version} {reason}"
        if name == "INP":
            message += f" (after the click on {interaction_selector!r}, waited {waited_s:g} s)"
        messages[name] = message
    return messages


def read_pin(path: Path = WEB_VITALS_PIN) -> dict[str, str]:
    """The KEY=VALUE lines of a pins file such as scripts/web_vitals.env (comments skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DriverError(f"cannot read the web-vitals pin {path}: {exc.strerror}") from None
    pins = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise DriverError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        pins[key.strip()] = value.strip()
    return pins


def web_vitals_library(pin_path: Path = WEB_VITALS_PIN, cache_dir: Path = WEB_VITALS_CACHE) -> Path:
    """The extracted IIFE build of the pinned web-vitals release; DriverError when it is missing."""
    version = read_pin(pin_path).get("WEB_VITALS_VERSION")
    if not version:
        raise DriverError(f"{pin_path} sets no WEB_VITALS_VERSION (expected e.g. WEB_VITALS_VERSION=6.2.3)")
    library = cache_dir / f"web-vitals-{version}.iife.js"
    if not library.is_file():
        raise DriverError(
            f"the web-vitals library {version} is missing ({library}): run `bash scripts/setup.sh`, "
            "which fetches it with npm and verifies its integrity"
        )
    return library


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

    def __init__(self, options: BrowserOptions, library: Path | None = None) -> None:
        self.options = options
        # None: the pinned release in .cache/web-vitals/, looked up when the browser starts.
        self.library = library
        self._playwright = None
        self._browser = None
        self._version = ""
        self._script = ""

    def start(self) -> str:
        """Launch the browser; returns its version."""
        from playwright.sync_api import Error, sync_playwright

        from_env = os.environ.get(WEB_VITALS_ENV)
        library = self.library or (Path(from_env) if from_env else web_vitals_library())
        if not library.is_file():
            raise DriverError(
                f"the web-vitals library {library} is missing: run `bash scripts/setup.sh` "
                f"(or point {WEB_VITALS_ENV} at its web-vitals.iife.js)"
            )
        # One init script, the library first: Playwright runs each init script in a function
        # scope of its own, so the library's `var webVitals` is visible only to code that follows
        # it in the same script.
        self._script = (
            library.read_text(encoding="utf-8") + "\n;\n" + WEB_VITALS_SCRIPT.read_text(encoding="utf-8")
        )
        executable = self.options.executable_path
        if executable != BUNDLED_CHROMIUM and not Path(executable).is_file():
            raise DriverError(
                f"no Chromium at {executable}: install the Debian package `chromium`, or use "
                f"{BUNDLED_CHROMIUM!r} in an image that ships Playwright's own browser"
            )
        width, height = self.options.viewport
        # New windows open at the viewport's size; visits add the window's toolbar, if it has one.
        args = chromium_launch_args(
            self.options.allowed_hosts, (f"--window-size={width},{height}", *self.options.extra_args)
        )
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=None if executable == BUNDLED_CHROMIUM else executable,
                headless=True,
                args=args,
                timeout=60_000,
            )
        except Error as exc:
            self.close()
            raise DriverError(f"Chromium did not start: {exc.message.splitlines()[0]}") from exc
        self._version = self._browser.version
        return self._version

    def visit(self, request: VisitRequest) -> dict[str, Any]:
        """Load the page, interact, and return the visit's result message."""
        from playwright.sync_api import Error, TimeoutError

        host = urlsplit(request.url).hostname or ""
        if host not in self.options.allowed_hosts:
            raise DriverError(f"host {host!r} of {request.url} is not an allowed host")
        if self._browser is None:
            raise DriverError("the browser is not running")
        timeout_ms = request.timeout_s * 1000
        # No emulated viewport: the page gets the window's real content area (see the module
        # docstring), sized by _fit_window.
        context = self._browser.new_context(no_viewport=True)
        # The blocking proxy fails requests to other hosts (redirect hops included) inside the
        # browser; noting them lets a failed visit say so instead of "proxy connection failed".
        outside: list[str] = []
        context.on("request", _note_outside_requests(self.options.allowed_hosts, outside))
        step = f"loading {request.url}"
        try:
            context.set_default_timeout(timeout_ms)
            context.add_init_script(script=self._script)
            page = context.new_page()
            step = "sizing the browser window to the viewport"
            self._fit_window(context, page, TimeoutError)
            step = f"loading {request.url}"
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
            waited_s = self._wait_for_inp(page, request, TimeoutError)
            elapsed_ms = (time.perf_counter() - started) * 1000
            # Hide the page as a user leaving it would: the library reports its final values.
            step = "reading the web vitals"
            page.evaluate(_HIDE_PAGE)
            vitals = parse_vitals(page.evaluate("() => window.__odavlVitals.collect()"))
            vitals = replace(
                vitals,
                unreported=unreported_messages(
                    self._version, vitals.unreported, request.interaction_selector, waited_s
                ),
            )
        except Error as exc:
            blocked = f"; blocked, outside the allowed hosts: {', '.join(outside[:3])}" if outside else ""
            raise DriverError(f"{step}: {exc.message.splitlines()[0]}{blocked}") from exc
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

    def _fit_window(self, context: Any, page: Any, timeout_error: type[Exception]) -> None:
        """Resize the page's window so that its content area is exactly the viewport.

        The window's frame (outer minus inner size: 0 for a frameless headless browser, the
        toolbar's height in Chromium's new headless mode) is measured, not assumed, so this holds
        for whichever Chromium is installed.
        """
        width, height = self.options.viewport
        inner_w, inner_h, outer_w, outer_h = page.evaluate(
            "() => [innerWidth, innerHeight, outerWidth, outerHeight]"
        )
        if (inner_w, inner_h) == (width, height):
            return
        session = context.new_cdp_session(page)
        try:
            window = session.send("Browser.getWindowForTarget")
            bounds = {"width": width + outer_w - inner_w, "height": height + outer_h - inner_h}
            session.send("Browser.setWindowBounds", {"windowId": window["windowId"], "bounds": bounds})
        finally:
            session.detach()
        try:
            page.wait_for_function(
                f"() => innerWidth === {width} && innerHeight === {height}",
                timeout=SETTLE_LIMIT_S * 1000,
                polling=POLL_INTERVAL_MS,
            )
        except timeout_error:
            got = page.evaluate("() => `${innerWidth}x${innerHeight}`")
            raise DriverError(
                f"Chromium {self._version} gave the page a {got} viewport, not the {width}x{height} "
                f"asked for (its window frame measured {outer_w - inner_w}x{outer_h - inner_h} px)"
            ) from None

    @staticmethod
    def _wait_for_inp(page: Any, request: VisitRequest, timeout_error: type[Exception]) -> float:
        """Wait until the library has reported INP, at most INP_REPORT_LIMIT_S; returns the wait in s.

        Not reporting it is not a failed visit: collect() then names INP among the unreported.
        """
        limit_s = min(INP_REPORT_LIMIT_S, request.timeout_s)
        started = time.perf_counter()
        try:
            page.wait_for_function(
                "() => window.__odavlVitals.reported('INP')",
                timeout=limit_s * 1000,
                polling=POLL_INTERVAL_MS,
            )
        except timeout_error:
            return limit_s
        return round(time.perf_counter() - started, 1)

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


def _note_outside_requests(allowed_hosts: Iterable[str], outside: list[str]) -> Callable[[Any], None]:
    """A Playwright "request" listener adding each http(s) request to a host not allowed."""
    allowed = frozenset(allowed_hosts)

    def note(browser_request: Any) -> None:
        parts = urlsplit(browser_request.url)
        if parts.scheme in ("http", "https") and (parts.hostname or "") not in allowed:
            origin = browser_request.redirected_from
            outside.append(
                f"{browser_request.url} (redirect from {origin.url})" if origin else browser_request.url
            )

    return note


# Headless pages stay "visible"; emulate the hidden state the way a tab switch reports it, so the
# page's own visibility handling (and the web-vitals library) see the end of the visit.
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
