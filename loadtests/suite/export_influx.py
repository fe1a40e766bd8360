"""InfluxDB v1 export: one line-protocol point per request, batched, never blocking the load.

The suite hands over its requests in batches (`record_batch`, from loadtests/suite/request_log.py):
their lines are formatted then and go into a bounded deque; when the deque is full the points
are dropped and counted, so a slow or absent InfluxDB never slows the generator. A background
greenlet (`flush_forever`) takes the suite's log (`before_flush`), then posts up to `batch_size`
points per write through a `LineWriter` (`HttpLineWriter` for a real server, over one
kept-alive connection). `observe_request` queues one request on its own (same line).

Points (tags: endpoint, group, status, worker, run_id):
    http_reqs       one per request: duration_ms, ttfb_ms, db_ms (when known), failed (0|1),
                    bytes_received, bytes_sent
    checks          passed, failed: counts per flush interval (tags: endpoint, group, worker, run_id)
    auth_failures   count: per flush interval                 (tags: endpoint, group, worker, run_id)
    vus             value, once a second                      (master; tags: worker, run_id)
Checks and auth failures are counted per interval rather than sent one point each: they come
with every request, and their sums are all a dashboard needs.
"""

from __future__ import annotations

import http.client
import logging
import operator
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Protocol

from loadtests.suite.request_log import EndpointRequests, RequestBatch

__all__ = ["HttpLineWriter", "InfluxLineSink", "LineWriter", "escape_tag"]

log = logging.getLogger(__name__)


class LineWriter(Protocol):
    """Where the sink's batches go."""

    def write(self, lines: list[str]) -> None:
        """Write line-protocol lines; raise OSError on failure."""


class HttpLineWriter:
    """POST /write?db=...&precision=ns to an InfluxDB v1 HTTP API.

    One connection is kept alive across writes (a new connection, and the name lookup before
    it, for every batch cost more CPU than formatting the batch). A write on a kept connection
    that the server has closed meanwhile is sent once more on a new one: InfluxDB keeps one
    point per series and timestamp, so a batch written twice is still written once.
    """

    def __init__(self, url: str, database: str, timeout_s: float = 5.0) -> None:
        query = urllib.parse.urlencode({"db": database, "precision": "ns"})
        self.endpoint = f"{url.rstrip('/')}/write?{query}"
        parts = urllib.parse.urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL {url!r}: expected http(s)://host[:port]")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = f"{parts.path}?{parts.query}"
        self.timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout_s)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)

    def write(self, lines: list[str]) -> None:
        body = ("\n".join(lines) + "\n").encode("utf-8")
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connection or self._connect()
            try:
                connection.request("POST", self._path, body=body, headers={"Content-Type": "text/plain"})
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._connection = None
                if reused and attempt == 1:
                    continue  # the server closed the idle connection: once more on a new one
                raise OSError(f"InfluxDB unreachable: {exc}") from None
            if response.will_close:
                connection.close()
                self._connection = None
            else:
                self._connection = connection
            if response.status >= 300:
                raise OSError(f"InfluxDB refused a batch: HTTP {response.status} {answer[:200]!r}")
            return

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# http_reqs fields after the tags. Times are written to the microsecond (%.3f of milliseconds,
# the resolution of the HDR histograms): the shortest exact form (%r) of a measured time has 17
# digits and costs twice as much to format, on every request.
_REQUEST_LINE = "%sduration_ms=%.3f,failed=%di,bytes_received=%di,bytes_sent=%di %d"
_REQUEST_LINE_DB = "%sduration_ms=%.3f,failed=%di,db_ms=%.3f,bytes_received=%di,bytes_sent=%di %d"
_REQUEST_LINE_TTFB = "%sduration_ms=%.3f,failed=%di,ttfb_ms=%.3f,bytes_received=%di,bytes_sent=%di %d"
_REQUEST_LINE_TTFB_DB = (
    "%sduration_ms=%.3f,failed=%di,ttfb_ms=%.3f,db_ms=%.3f,bytes_received=%di,bytes_sent=%di %d"
)
# (ttfb known, db known) -> template
_REQUEST_LINES = {
    (False, False): _REQUEST_LINE,
    (False, True): _REQUEST_LINE_DB,
    (True, False): _REQUEST_LINE_TTFB,
    (True, True): _REQUEST_LINE_TTFB_DB,
}


def escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ") or "-"


class InfluxLineSink:
    """Bounded queue of points plus their formatting and batched writing."""

    def __init__(
        self,
        writer: LineWriter,
        *,
        run_id: str,
        worker: str,
        queue_size: int = 50_000,
        batch_size: int = 5000,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.writer = writer
        self.queue: deque[tuple | str] = deque()
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.dropped = 0
        self.written = 0
        self.on_drop = on_drop
        self._common = f"run_id={escape_tag(run_id)},worker={escape_tag(worker)}"
        self._last_ns = 0
        self._prefixes: dict[tuple, str] = {}
        self._request_prefixes: dict[tuple[str, str, int], str] = {}
        self._checks: dict[tuple[str, str], list[int]] = {}
        self._auth: dict[tuple[str, str], int] = {}
        # The last timestamp given to each (endpoint, group)'s request points (record_batch).
        self._group_last_ns: dict[tuple[str, str], int] = {}
        # Called before each flush: the suite takes its request log there.
        self.before_flush: Callable[[], None] | None = None

    def _timestamp(self) -> int:
        # Points with equal tags and timestamp overwrite each other in InfluxDB: keep them unique.
        now = time.time_ns()
        if now <= self._last_ns:
            now = self._last_ns + 1
        self._last_ns = now
        return now

    def offer(self, point: tuple) -> None:
        """Queue one point (measurement, tags..., fields...) or drop and count it."""
        if len(self.queue) >= self.queue_size:
            self._drop(1)
            return
        self.queue.append(point)

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self.on_drop is not None:
            self.on_drop(n)

    # --- the request path --------------------------------------------------------------
    def observe_request(
        self,
        endpoint: str,
        group: str,
        status: int,
        duration_ms: float,
        failed: bool,
        ttfb_ms: float | None,
        db_ms: float | None,
        db_query: str | None,
        bytes_received: int,
        bytes_sent: int,
    ) -> None:
        # `offer` and `_timestamp` inlined: this runs once per request.
        queue = self.queue
        if len(queue) >= self.queue_size:
            self._drop(1)
            return
        now = time.time_ns()
        if now <= self._last_ns:
            now = self._last_ns + 1
        self._last_ns = now
        queue.append(
            (
                "r",
                now,
                endpoint,
                group,
                status,
                duration_ms,
                failed,
                ttfb_ms,
                db_ms,
                bytes_received,
                bytes_sent,
            )
        )

    def record_batch(self, batch: RequestBatch) -> None:
        """A `RequestLog` batch: one http_reqs point per request, as `observe_request` of each
        would queue it, formatted here (C-level iteration where the fields are uniform), and
        the checks counted for the next `queue_counters`."""
        for requests in batch.requests:
            free = self.queue_size - len(self.queue)
            if free <= 0:
                self._drop(requests.count)
                continue
            lines = self._request_lines(requests)
            if len(lines) > free:
                self._drop(len(lines) - free)
                lines = lines[:free]
            self.queue.extend(lines)
        if batch.checks:
            for (endpoint, group, passed), n in batch.check_counts().items():
                counts = self._checks.get((endpoint, group))
                if counts is None:
                    counts = self._checks[(endpoint, group)] = [0, 0]
                counts[0 if passed else 1] += n

    def _request_lines(self, requests: EndpointRequests) -> list[str]:
        endpoint, group = requests.endpoint, requests.group
        stamps = self._unique_stamps((endpoint, group), requests.ended_ns)
        prefixes = {}
        for status in set(requests.statuses):
            prefixes[status] = self._request_prefixes.get((endpoint, group, status)) or self._request_prefix(
                endpoint, group, status
            )
        prefix_of = map(prefixes.__getitem__, requests.statuses)
        failed = map(int, requests.failed)
        duration, ttfb, db = requests.duration_ms, requests.ttfb_ms, requests.db_ms
        received, sent = requests.bytes_received, requests.bytes_sent
        if None not in ttfb:  # the common cases: one template, formatted C-level
            if db.count(None) == requests.count:
                rows = zip(prefix_of, duration, failed, ttfb, received, sent, stamps, strict=True)
                return list(map(_REQUEST_LINE_TTFB.__mod__, rows))
            if None not in db:
                rows = zip(prefix_of, duration, failed, ttfb, db, received, sent, stamps, strict=True)
                return list(map(_REQUEST_LINE_TTFB_DB.__mod__, rows))
        lines = []
        for row in zip(prefix_of, duration, failed, ttfb, db, received, sent, stamps, strict=True):
            has_ttfb, has_db = row[3] is not None, row[4] is not None
            fields = row[:3] + row[3 : 3 + has_ttfb] + row[4 : 4 + has_db] + row[5:]  # the known ones
            lines.append(_REQUEST_LINES[has_ttfb, has_db] % fields)
        return lines

    def _unique_stamps(self, key: tuple[str, str], stamps: tuple[int, ...]) -> tuple[int, ...] | list[int]:
        """The points' timestamps, each after the one before in its series (equal ones would
        overwrite each other in InfluxDB)."""
        last = self._group_last_ns.get(key, 0)
        if stamps[0] > last and all(map(operator.lt, stamps, stamps[1:])):
            self._group_last_ns[key] = stamps[-1]
            return stamps
        unique = []
        for ts in stamps:
            if ts <= last:
                ts = last + 1
            unique.append(ts)
            last = ts
        self._group_last_ns[key] = last
        return unique

    def _request_prefix(self, endpoint: str, group: str, status: int) -> str:
        prefix = self._tags("http_reqs", endpoint, group, status)
        self._request_prefixes[(endpoint, group, status)] = prefix
        return prefix

    def observe_check(self, endpoint: str, group: str, passed: bool) -> None:
        counts = self._checks.get((endpoint, group))
        if counts is None:
            counts = self._checks[(endpoint, group)] = [0, 0]
        counts[0 if passed else 1] += 1

    def observe_auth_failure(self, endpoint: str, group: str) -> None:
        self._auth[(endpoint, group)] = self._auth.get((endpoint, group), 0) + 1

    def queue_counters(self) -> None:
        """Turn the check and auth-failure counts since the last call into points."""
        checks, self._checks = self._checks, {}
        auth, self._auth = self._auth, {}
        for (endpoint, group), (passed, failed) in checks.items():
            self.offer(("c", self._timestamp(), endpoint, group, passed, failed))
        for (endpoint, group), count in auth.items():
            self.offer(("a", self._timestamp(), endpoint, group, count))

    def observe_users(self, users: int) -> None:
        self.offer(("u", self._timestamp(), users))

    # --- formatting and writing ----------------------------------------------------------
    def _tags(self, measurement: str, endpoint: str, group: str, status: int | None = None) -> str:
        key = (measurement, endpoint, group, status)
        prefix = self._prefixes.get(key)
        if prefix is None:
            status_tag = f",status={status}" if status is not None else ""
            tags = f"endpoint={escape_tag(endpoint)},group={escape_tag(group)}{status_tag},{self._common}"
            prefix = self._prefixes[key] = f"{measurement},{tags} "
        return prefix

    def format(self, point: tuple | str) -> str:
        if point.__class__ is str:  # a request line record_batch formatted already
            return point
        kind, ts = point[0], point[1]
        if kind == "r":
            # One %-template per combination of the optional fields: this runs once per request,
            # and one % with %r and %d costs about half of an f-string with float() and int().
            _, _, endpoint, group, status, duration, failed, ttfb, db, received, sent = point
            prefix = self._request_prefixes.get((endpoint, group, status)) or self._request_prefix(
                endpoint, group, status
            )
            if ttfb is None:
                if db is None:
                    return _REQUEST_LINE % (prefix, duration, failed, received, sent, ts)
                return _REQUEST_LINE_DB % (prefix, duration, failed, db, received, sent, ts)
            if db is None:
                return _REQUEST_LINE_TTFB % (prefix, duration, failed, ttfb, received, sent, ts)
            return _REQUEST_LINE_TTFB_DB % (prefix, duration, failed, ttfb, db, received, sent, ts)
        if kind == "c":
            _, _, endpoint, group, passed, failed = point
            return f"{self._tags('checks', endpoint, group)}passed={passed}i,failed={failed}i {ts}"
        if kind == "a":
            _, _, endpoint, group, count = point
            return f"{self._tags('auth_failures', endpoint, group)}count={count}i {ts}"
        _, _, users = point
        return f"vus,{self._common} value={int(users)}i {ts}"

    def flush_once(self) -> int:
        """Write one batch; returns the number of points written (0 when empty or on error)."""
        queue = self.queue
        if not queue:
            return 0
        take = queue.popleft
        batch = [take() for _ in range(min(len(queue), self.batch_size))]
        try:
            self.writer.write(list(map(self.format, batch)))
        except OSError as exc:
            log.warning("InfluxDB export dropped %d points: %s", len(batch), exc)
            self._drop(len(batch))
            return 0
        self.written += len(batch)
        return len(batch)

    def flush_all(self, deadline_s: float = 10.0) -> None:
        """Write everything queued, giving up (and counting the rest as dropped) at the deadline."""
        if self.before_flush is not None:
            self.before_flush()
        self.queue_counters()
        end = time.monotonic() + deadline_s
        while self.queue and time.monotonic() < end:
            if not self.flush_once() and self.queue:
                break
        if self.queue:
            self._drop(len(self.queue))
            self.queue.clear()

    def flush_forever(self, interval_s: float, sleep: Callable[[float], None]) -> None:
        """Flusher loop for a background greenlet: write full batches at once, the rest each interval."""
        while True:
            if self.before_flush is not None:
                self.before_flush()
            while len(self.queue) >= self.batch_size:
                if not self.flush_once():
                    break
                sleep(0)
            self.queue_counters()
            self.flush_once()
            sleep(interval_s)
