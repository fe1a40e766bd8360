"""Loopback HTTP targets with a known behaviour, for the open-model tests.

`StallingServer(period_s=10, stall_s=2)`: every `period_s` seconds of wall time (from the
server's start) it stalls for `stall_s`: a request that arrives inside a stall is answered when
the stall ends, any other at once. Each request's arrival and answer time is recorded
(`served`), so the truth is known: the latency each request saw from its arrival, which for an
open-model client on schedule is the latency from its intended start.

`RateLimitedServer(rate_per_s)`: a token bucket of `rate_per_s` tokens per second (a burst of
`burst` tokens); a request that finds a token is answered 200 at once, any other 429. Its known
capacity is `rate_per_s` requests per second.

Both answer every GET with a short body over HTTP/1.1 keep-alive connections, one thread per
connection, on a free 127.0.0.1 port, until `close()` (or the `with` block's end).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RateLimitedServer", "Served", "StallingServer"]


@dataclass(frozen=True)
class Served:
    """One request: when it arrived and when its answer was sent (epoch seconds), its status."""

    arrived: float
    answered: float
    status: int

    @property
    def latency_ms(self) -> float:
        return (self.answered - self.arrived) * 1000.0


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # new users connect all at once during a stall


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per user
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (40 ms on Linux) and every answer looks slow.
    disable_nagle_algorithm = True
    server: Any

    def do_GET(self) -> None:
        arrived = time.time()
        status = self.server.owner.answer_at(arrived)
        body = b"ok" if status == 200 else b"slow down"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.server.owner.record(Served(arrived, time.time(), status))

    def log_message(self, *_args: object) -> None:  # keep the test output quiet
        pass


class _Target:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.served: list[Served] = []
        self.started = time.time()
        self._http = _Http(("127.0.0.1", 0), _Handler)
        self._http.owner = self
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1})
        self._thread.daemon = True
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def answer_at(self, arrived: float) -> int:
        raise NotImplementedError

    def record(self, served: Served) -> None:
        with self.lock:
            self.served.append(served)

    def between(self, start: float, end: float) -> list[Served]:
        """The requests that arrived in [start, end)."""
        with self.lock:
            return [s for s in self.served if start <= s.arrived < end]

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class StallingServer(_Target):
    def __init__(self, period_s: float = 10.0, stall_s: float = 2.0) -> None:
        self.period_s = period_s
        self.stall_s = stall_s
        super().__init__()

    def stall_end(self, t: float) -> float | None:
        """The end of the stall `t` falls in, or None outside every stall."""
        phase = (t - self.started) % self.period_s
        return t - phase + self.stall_s if phase < self.stall_s else None

    def answer_at(self, arrived: float) -> int:
        end = self.stall_end(arrived)
        if end is not None:
            time.sleep(max(0.0, end - time.time()))
        return 200


class RateLimitedServer(_Target):
    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s * 0.05)
        self._tokens = self.burst
        self._refilled = time.monotonic()
        self._bucket = threading.Lock()
        super().__init__()

    def answer_at(self, arrived: float) -> int:
        with self._bucket:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_per_s)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 200
        return 429
