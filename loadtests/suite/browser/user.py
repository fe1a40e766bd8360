"""Locust users that load pages in headless Chromium and record their web vitals.

A small share of the virtual users are `BrowserUser`s. Each owns one browser, run by
loadtests/suite/browser/driver.py in a child process (Playwright cannot run inside gevent), and on
every task visits a page of the target: load, wait until rendered, click the page's interaction
target, read LCP, CLS and INP (Google's web-vitals library in the page). Per visit it records,
through the suite's listener state (`loadtests.suite.listeners.suite_state(environment)`):

- the vitals: `record_web_vital("lcp" | "cls" | "inp", page, group, value)` (ms; CLS
  unitless), page = the endpoint name "GET <path>", group = the user's group ("dashboard"). They
  land in the worker's collector as web_vitals_* trends (merged on the master with every other
  worker's) and in the web_vitals_*{page} Prometheus histograms;
- a check (passed = the page loaded, rendered and answered the interaction);
- the page's document request, as Locust's request event (request_type "BROWSER", name = the
  endpoint): its duration and time to first byte as the browser timed them, the target's
  X-Db-Query-Duration header, the bytes transferred; a failed visit is a failed request with its
  error. The context carries {"group", "browser": True, "vitals"}.

A vital the browser did not report is not recorded; the user logs a warning naming it and the
Chromium version, once per metric.

Chromium comes from the Debian package (`/usr/bin/chromium`, or $ODAVL_CHROMIUM).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urljoin, urlsplit

import gevent
from gevent import subprocess
from locust import User, between, task
from requests.structures import CaseInsensitiveDict

from loadtests.errors import ConfigError, LoadTestError
from loadtests.suite.browser.driver import (
    DEFAULT_CHROMIUM,
    DEFAULT_INTERACTION_SELECTOR,
    DEFAULT_QUIET_MS,
    BrowserOptions,
    DriverError,
    PageVitals,
    parse_vitals,
)
from loadtests.suite.listeners import suite_state

__all__ = [
    "CHROMIUM_ENV",
    "REQUEST_TYPE",
    "VITAL_METRICS",
    "BrowserError",
    "BrowserProcess",
    "BrowserUser",
    "DashboardBrowserUser",
    "DocumentResponse",
    "VisitOutcome",
    "VitalsRecorder",
    "browser_weight",
    "page_endpoint",
    "record_visit",
    "vital_samples",
]

CHROMIUM_ENV = "ODAVL_CHROMIUM"
DRIVER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "driver.py")
# The directory holding the loadtests package: the driver runs by path, so only its own
# directory is on its sys.path, and it imports loadtests.errors.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
REQUEST_TYPE = "BROWSER"
# (vital name as the suite records it, PageVitals attribute); metric = "web_vitals_" + name.
VITAL_METRICS = (
    ("lcp", "lcp_ms"),
    ("cls", "cls"),
    ("inp", "inp_ms"),
)
BROWSER_START_TIMEOUT_S = 90.0
BROWSER_CLOSE_TIMEOUT_S = 20.0
# Time the driver may need beyond the visit's own timeout (context set-up and tear-down).
VISIT_MARGIN_S = 15.0
LOG = logging.getLogger(__name__)


class BrowserError(LoadTestError):
    """The browser process could not start, stopped answering, or a visit failed."""


def _driver_env() -> dict[str, str]:
    """The environment of the driver process: this process's own, with PACKAGE_ROOT first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


class VitalsRecorder(Protocol):
    """Where a browser user records: loadtests.suite.listeners.SuiteState has this shape."""

    def record_web_vital(self, name: str, page: str, group: str, value: float) -> None: ...

    def record_check(self, endpoint: str, group: str, passed: bool) -> None: ...


def page_endpoint(path: str) -> str:
    """The endpoint name of a page: "GET /dashboard", "GET /dashboard?variant=slow"."""
    if not path.startswith("/"):
        raise ConfigError(f"browser page {path!r} must be a path starting with '/'")
    return f"GET {path}"


def vital_samples(vitals: PageVitals) -> list[tuple[str, float]]:
    """(name, value) for every vital the browser reported for a visit."""
    samples = []
    for name, attribute in VITAL_METRICS:
        value = getattr(vitals, attribute)
        if value is not None:
            samples.append((name, float(value)))
    return samples


class DocumentResponse:
    """The page's document response in the shape the suite's request listener reads."""

    __slots__ = ("bytes_sent", "headers", "status_code", "ttfb_ms")

    def __init__(self, status_code: int, ttfb_ms: float | None, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.ttfb_ms = ttfb_ms
        self.headers = CaseInsensitiveDict(headers)
        self.bytes_sent = 0


class VisitOutcome:
    """A finished visit as the driver reported it: vitals on success, an error otherwise."""

    __slots__ = ("document_ms", "elapsed_ms", "error", "headers", "status", "transfer_bytes", "url", "vitals")

    def __init__(self, reply: Mapping[str, Any]) -> None:
        self.url = str(reply.get("url") or "")
        self.error: str | None = None
        self.vitals: PageVitals | None = None
        self.elapsed_ms = 0.0
        self.document_ms: float | None = None
        self.status = int(reply.get("status") or 0)
        self.transfer_bytes = 0
        headers = reply.get("headers")
        self.headers: dict[str, str] = dict(headers) if isinstance(headers, Mapping) else {}
        if not reply.get("ok"):
            self.error = str(reply.get("error") or "the browser reported a failed visit without a reason")
            return
        try:
            self.vitals = parse_vitals(reply.get("vitals"))
        except DriverError as exc:
            self.error = f"unreadable vitals: {exc}"
            return
        self.elapsed_ms = float(reply.get("elapsed_ms") or 0.0)
        self.document_ms = self.vitals.navigation.get("document_ms")
        self.transfer_bytes = int(self.vitals.navigation.get("transfer_bytes", 0))

    def response(self) -> DocumentResponse | None:
        if self.vitals is None:
            return None
        return DocumentResponse(self.status, self.vitals.navigation.get("ttfb_ms"), self.headers)


def record_visit(recorder: VitalsRecorder, endpoint: str, group: str, outcome: VisitOutcome) -> list[str]:
    """Record a visit's vitals and its check; returns the names of the vitals recorded."""
    recorded = []
    if outcome.vitals is not None:
        for name, value in vital_samples(outcome.vitals):
            recorder.record_web_vital(name, endpoint, group, value)
            recorded.append(name)
    recorder.record_check(endpoint, group, outcome.error is None)
    return recorded


def browser_weight(share: float, other_weights: Iterable[int]) -> int:
    """Locust weight that makes browser users `share` (0-1) of all users; 0 turns them off.

    With the other user classes' weights summing to W, weight b gives b / (b + W) = share.
    Any share above 0 gives at least weight 1.
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        raise ConfigError(f"load.browser_share: {share!r} must be a number from 0 up to (not including) 1")
    total = sum(other_weights)
    if share == 0:
        return 0
    if total <= 0:
        raise ConfigError("load.browser_share: the other user groups have no weight to share with")
    return max(1, round(share * total / (1 - share)))


class BrowserProcess:
    """The browser driver child process, spoken to from a greenlet without blocking the others.

    The child runs in a session of its own, so closing it also ends the Playwright driver and
    the Chromium processes it started.
    """

    def __init__(
        self, options: BrowserOptions, python: str = sys.executable, driver: str = DRIVER_SCRIPT
    ) -> None:
        self.options = options
        self.python = python
        self.driver = driver
        self.browser_version: str | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = BROWSER_START_TIMEOUT_S) -> str:
        """Start the child and wait for its browser; returns the browser version."""
        self._proc = subprocess.Popen(
            [self.python, self.driver, "--serve", "--options", self.options.to_json()],
            env=_driver_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        reply = self._read(timeout_s, "start")
        if not reply.get("ready"):
            self.kill()
            raise BrowserError(f"the browser did not start: {reply.get('error', reply)}")
        self.browser_version = str(reply.get("browser_version"))
        return self.browser_version

    def visit(
        self,
        url: str,
        interaction_selector: str = DEFAULT_INTERACTION_SELECTOR,
        timeout_s: float = 30.0,
        quiet_ms: int = DEFAULT_QUIET_MS,
        ready_selector: str | None = None,
    ) -> VisitOutcome:
        """One visit; a failed page is an outcome with `error`, a dead browser raises."""
        command = {
            "op": "visit",
            "url": url,
            "interaction_selector": interaction_selector,
            "timeout_s": timeout_s,
            "quiet_ms": quiet_ms,
            "ready_selector": ready_selector,
        }
        self._send(command)
        return VisitOutcome(self._read(timeout_s + VISIT_MARGIN_S, f"visit of {url}"))

    def close(self, timeout_s: float = BROWSER_CLOSE_TIMEOUT_S) -> None:
        """Ask the child to close its browser; kill its session if it does not in time."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                    proc.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=timeout_s)
        finally:
            self.kill()

    def kill(self) -> None:
        """End the child's whole session (driver, Playwright, Chromium) and reap the child."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=BROWSER_CLOSE_TIMEOUT_S)

    def _send(self, command: Mapping[str, Any]) -> None:
        proc = self._require()
        try:
            proc.stdin.write(json.dumps(command) + "\n")
            proc.stdin.flush()
        except OSError as exc:
            self.kill()
            raise BrowserError(f"the browser process stopped: {exc}") from exc

    def _read(self, timeout_s: float, what: str) -> dict[str, Any]:
        proc = self._require()
        try:
            with gevent.Timeout(timeout_s):
                line = proc.stdout.readline()
        except gevent.Timeout:
            self.kill()
            raise BrowserError(f"the browser gave no answer to the {what} within {timeout_s:g} s") from None
        if not line:
            try:
                code = proc.wait(timeout=BROWSER_CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                code = None
            self.kill()
            raise BrowserError(f"the browser process ended during the {what} (exit code {code})")
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            self.kill()
            raise BrowserError(f"the browser process wrote a line that is not JSON: {line[:200]!r}") from None
        if not isinstance(reply, dict):
            self.kill()
            raise BrowserError(f"the browser process wrote {reply!r}, expected an object")
        return reply

    def _require(self) -> subprocess.Popen:
        if self._proc is None:
            raise BrowserError("the browser process is not running")
        return self._proc


class BrowserUser(User):
    """A virtual user in headless Chromium; subclasses set weight/fixed_count and pages.

    Class attributes configure it: `pages` (paths visited in turn), `group` (user group of its
    metrics), `interaction_selector` (what it clicks), `ready_selector` (the page's main content,
    visible before the user interacts), `visit_timeout_s`, `quiet_ms` (how long the page must
    show no change before the user interacts), `allowed_hosts` (None = the target's
    host only), `chromium` (None = $ODAVL_CHROMIUM or /usr/bin/chromium).
    """

    abstract = True
    wait_time = between(1, 6)
    pages: ClassVar[tuple[str, ...]] = ("/dashboard",)
    group: ClassVar[str] = "dashboard"
    interaction_selector: ClassVar[str] = DEFAULT_INTERACTION_SELECTOR
    ready_selector: ClassVar[str | None] = None
    visit_timeout_s: ClassVar[float] = 30.0
    quiet_ms: ClassVar[int] = DEFAULT_QUIET_MS
    allowed_hosts: ClassVar[tuple[str, ...] | None] = None
    chromium: ClassVar[str | None] = None
    driver_script: ClassVar[str] = DRIVER_SCRIPT

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._browser: BrowserProcess | None = None
        self._next_page = 0
        self._recorder: VitalsRecorder | None = None
        # Vitals already warned about as unreported: one warning per metric, not one per visit.
        self._warned_unreported: set[str] = set()

    def on_start(self) -> None:
        if not self.host:
            raise BrowserError("a browser user needs the target URL (Locust host) to be set")
        try:
            self._recorder = suite_state(self.environment)
        except KeyError:
            raise BrowserError(
                "the suite's listeners are not set up on this Locust environment "
                "(loadtests.suite.listeners.setup_suite_listeners): web vitals would be lost"
            ) from None
        for path in self.pages:
            page_endpoint(path)
        host = urlsplit(self.host).hostname or ""
        options = BrowserOptions(
            allowed_hosts=tuple(self.allowed_hosts or (host,)),
            executable_path=self.chromium or os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM),
        )
        self._browser = BrowserProcess(options, driver=self.driver_script)
        self._browser.start()

    def on_stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None

    @task
    def visit_page(self) -> None:
        path = self.pages[self._next_page % len(self.pages)]
        self._next_page += 1
        self.visit(path)

    def visit(self, path: str) -> VisitOutcome:
        """Visit one page of the target and record everything about it."""
        if self._browser is None or self._recorder is None:
            raise BrowserError("the browser user has not started")
        endpoint = page_endpoint(path)
        started = time.time()
        try:
            if not self._browser.running:
                # The browser died during an earlier visit: start a fresh one.
                self._browser.start()
            outcome = self._browser.visit(
                urljoin(self.host, path),
                self.interaction_selector,
                self.visit_timeout_s,
                self.quiet_ms,
                self.ready_selector,
            )
        except BrowserError as exc:
            outcome = VisitOutcome({"ok": False, "url": path, "error": str(exc)})
        record_visit(self._recorder, endpoint, self.group, outcome)
        if outcome.vitals is not None:
            for name, message in outcome.vitals.unreported.items():
                if name not in self._warned_unreported:
                    self._warned_unreported.add(name)
                    LOG.warning("%s %s: %s", REQUEST_TYPE, endpoint, message)
        if outcome.error is None:
            response_time = outcome.document_ms if outcome.document_ms is not None else outcome.elapsed_ms
        else:
            response_time = (time.time() - started) * 1000
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=endpoint,
            response_time=response_time,
            response_length=outcome.transfer_bytes,
            response=outcome.response(),
            exception=BrowserError(outcome.error) if outcome.error else None,
            context={
                "group": self.group,
                "browser": True,
                "vitals": dict(vital_samples(outcome.vitals)) if outcome.vitals else {},
            },
            url=outcome.url or path,
            start_time=started,
        )
        return outcome


class DashboardBrowserUser(BrowserUser):
    """The reference app's dashboard page (GET /dashboard) as a first-time visitor sees it.

    Its main content is the hero image (the LCP element); the user waits for it, then clicks the
    first summary card (the page has no button of its own).
    """

    abstract = True
    pages = ("/dashboard",)
    group = "dashboard"
    ready_selector = "img.hero"
    interaction_selector = ".cards .card"
