"""A loopback HTTPS server answering the few Kubernetes API requests the fleet's client makes.

    with FakeKubeApiServer(tls_context, token="t0ken") as api:   # api.url == "https://127.0.0.1:<port>"
        ...                                                      # point a kubeconfig at api.url
    api.requests                                                 # [Seen("POST", "/apis/batch/...", ...)]

It keeps Jobs (create, read, delete), pods (`api.pods`, listed by their `job-name` label) and
pod logs (`api.logs`) in dicts, and answers as the real API server does: JSON objects, a
`Status` object for errors (404 NotFound, 409 AlreadyExists), 401 when the bearer token is not
`token`, and 403 for the methods listed in `forbidden`. Every request is recorded first, with
its Authorization header, so a test can check what the client sent. Not a Kubernetes: nothing
runs, and a Job's status is whatever the test puts there.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeKubeApiServer", "Seen"]

_JOBS = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/]+))?$")
_PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+)/log)?$")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str
    body: bytes


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A Kubernetes ``Status`` object, the body of every error answer."""
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: FakeKubeApiServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(10)
            request = self.owner.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server; every answer has a length

    def _send(self, code: int, document: dict[str, Any] | str) -> None:
        text = document if isinstance(document, str) else json.dumps(document)
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(document, str) else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        seen = Seen(self.command, url.path, parse_qs(url.query), self.headers.get("Authorization", ""), body)
        with owner.lock:
            owner.requests.append(seen)
            code, document = owner.answer(seen)
        self._send(code, document)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *_args: object) -> None:  # keep the test output quiet
        pass


class FakeKubeApiServer:
    """See the module docstring."""

    def __init__(self, tls: ssl.SSLContext, token: str) -> None:
        self.tls = tls
        self.token = token
        self.forbidden: set[str] = set()
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._httpd = _Server(self)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeKubeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def answer(self, seen: Seen) -> tuple[int, dict[str, Any] | str]:
        scheme, _, token = seen.authorization.partition(" ")
        if scheme.lower() != "bearer" or token != self.token:  # the scheme is case-insensitive
            return 401, status(401, "Unauthorized", "Unauthorized")
        if seen.method in self.forbidden:
            jobs = _JOBS.match(seen.path)
            named = f' "{jobs["name"]}"' if jobs and jobs["name"] else ""
            verb = {"POST": "create", "GET": "get", "DELETE": "delete"}[seen.method]
            return 403, status(
                403, "Forbidden",
                f'jobs.batch{named} is forbidden: User "fleet" cannot {verb} resource "jobs" '
                f'in API group "batch" in the namespace "{jobs["ns"] if jobs else ""}"',
            )  # fmt: skip
        if jobs := _JOBS.match(seen.path):
            return self._jobs(seen, jobs["ns"], jobs["name"])
        if pods := _PODS.match(seen.path):
            return self._pods(seen, pods["ns"], pods["name"])
        return 404, status(404, "NotFound", "the server could not find the requested resource")

    def _jobs(self, seen: Seen, namespace: str, name: str | None) -> tuple[int, dict[str, Any] | str]:
        if seen.method == "POST" and name is None:
            job = json.loads(seen.body)
            key = (namespace, job["metadata"]["name"])
            if key in self.jobs:
                return 409, status(409, "AlreadyExists", f'jobs.batch "{key[1]}" already exists')
            job = {**job, "metadata": {**job["metadata"], "namespace": namespace, "uid": "0000-1"}}
            self.jobs[key] = {**job, "status": job.get("status") or {}}
            return 201, self.jobs[key]
        missing = status(404, "NotFound", f'jobs.batch "{name}" not found')
        if seen.method == "GET" and name:
            return (200, self.jobs[(namespace, name)]) if (namespace, name) in self.jobs else (404, missing)
        if seen.method == "DELETE" and name:
            if self.jobs.pop((namespace, name), None) is None:
                return 404, missing
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        return 405, status(405, "MethodNotAllowed", f"{seen.method} {seen.path} is not served here")

    def _pods(self, seen: Seen, namespace: str, pod: str | None) -> tuple[int, dict[str, Any] | str]:
        if pod is not None:
            if (namespace, pod) not in self.logs:
                return 404, status(404, "NotFound", f'pods "{pod}" not found')
            return 200, self.logs[(namespace, pod)]
        selector = seen.query.get("labelSelector", [""])[0]
        label, _, value = selector.partition("=")
        items = [
            item
            for item in self.pods.get(namespace, [])
            if item.get("metadata", {}).get("labels", {}).get(label) == value
        ]
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
