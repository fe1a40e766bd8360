"""Loopback HTTP(S) servers that record every request they receive, for the suite's safety tests.

    with RecordingServer({("POST", "/api/auth/login"): Reply(200, body=b'{"token": "t"}')}) as app:
        ...                          # app.url == "http://127.0.0.1:<port>"
    app.requests                     # [Received("POST", "/api/auth/login", b'{"email": ...}'), ...]

Each (method, path) in `routes` is answered with its `Reply`, anything else with 404; every
request is recorded first, whatever the answer. With `tls` (a server-side ssl.SSLContext) the
server speaks HTTPS: the handshake runs in the request's own thread, and a failed one is counted
in `tls_failures` (it never becomes a request).
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "RecordingServer", "Reply"]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: RecordingServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.owner.tls
        if tls is not None:
            try:
                request.settimeout(10)
                request = tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                with self.owner.lock:
                    self.owner.tls_failures += 1
                return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with owner.lock:
            owner.requests.append(Received(self.command, self.path, body))
        reply = owner.routes.get((self.command, self.path.split("?", 1)[0]), Reply(404, body=b"not found"))
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *_args: object) -> None:  # keep the test output quiet
        pass


class RecordingServer:
    """A loopback server answering `routes` and recording every request; see the module docstring."""

    def __init__(self, routes: dict[tuple[str, str], Reply] | None = None, tls: ssl.SSLContext | None = None):
        self.routes = dict(routes or {})
        self.tls = tls
        self.requests: list[Received] = []
        self.tls_failures = 0
        self.lock = threading.Lock()
        self._httpd = _Server(self)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
