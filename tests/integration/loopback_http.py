"""A tiny HTTP target on 127.0.0.1 for the SLO gate's integration tests.

`serve(status)` answers every GET and POST with `status` and a short body (200: a healthy
static-asset host; 500: a broken deployment), on a free loopback port, until the block ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _handler(status: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"/* asset */" if status < 400 else b'{"error": "down"}'
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if status < 400 else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, *_args: object) -> None:  # keep the test output quiet
            pass

    return Handler


@contextmanager
def serve(status: int) -> Iterator[str]:
    """The base URL of a loopback server answering `status`; stopped when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(status))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
