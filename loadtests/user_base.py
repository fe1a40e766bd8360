"""Base classes of the suite's Locust users: timed HTTP session, checks, login.

Imported only inside Locust processes (it imports Locust, which patches the process with gevent).
"""

from __future__ import annotations

import json
import random
import time

from locust import FastHttpUser
from locust.contrib.fasthttp import FastHttpSession

from loadtests.config import TestUser
from loadtests.listeners import suite_state

__all__ = ["SuiteUser", "TimedSession", "items", "parse_json"]


class TimedSession(FastHttpSession):
    """FastHttpSession that also notes time to first byte and an estimate of bytes sent.

    geventhttpclient returns from `_send_request_safe_mode` once the status line and headers
    are read; the body is read afterwards. The time to that return is the time to first byte.
    Bytes sent: request line, headers and body (the framing a proxy would count, give or take).
    """

    def _send_request_safe_mode(self, method: str, url: str, **kwargs):
        start = time.perf_counter()
        response = super()._send_request_safe_mode(method, url, **kwargs)
        # No first byte came from a connection that failed (status 0): no time to first byte.
        response.ttfb_ms = (time.perf_counter() - start) * 1000.0 if response.status_code else None
        headers = kwargs.get("headers") or {}
        payload = kwargs.get("payload") or b""
        response.bytes_sent = (
            len(method)
            + len(url)
            + 11
            + sum(map(len, headers))
            + sum(map(len, headers.values()))
            + 4 * len(headers)
            + len(payload)
        )
        return response


def items(body: object) -> list:
    """List payloads come as a JSON list or as {"items"|"<plural>": [...]}."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                return value
    return []


class SuiteUser(FastHttpUser):
    """Common behaviour: group context, checks, login against `login_path`.

    Subclasses set `group`, `wait_time` and (for logins) `test_users`.
    """

    abstract = True
    group = ""
    test_users: tuple[TestUser, ...] = ()
    login_path = "/api/auth/login"
    logout_path = "/api/auth/logout"
    login_endpoint = "POST /api/auth/login"
    logout_endpoint = "POST /api/auth/logout"

    def __init__(self, environment) -> None:
        super().__init__(environment)
        # Same session, plus time to first byte; swapping the class keeps FastHttpUser's set-up.
        self.client.__class__ = TimedSession
        self._context = {"group": self.group}
        self.token: str | None = None
        self.state = suite_state(environment)

    def context(self) -> dict:
        return self._context

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def check(self, response, endpoint: str, ok: bool, what: str) -> bool:
        """Record a check; a failed one fails the request with `what` as the reason."""
        passed = ok and response.status_code < 400
        self.state.record_check(endpoint, self.group, passed)
        if not passed:
            response.failure(f"check failed: {what} (status {response.status_code})")
        return passed

    def get_json(self, path: str, endpoint: str, what: str) -> object | None:
        with self.client.get(path, name=endpoint, headers=self.headers(), catch_response=True) as response:
            body = parse_json(response)
            ok = response.status_code == 200 and body is not None
            return body if self.check(response, endpoint, ok, what) else None

    def login(self) -> bool:
        if not self.test_users:
            return False
        account = random.choice(self.test_users)
        with self.client.post(
            self.login_path,
            name=self.login_endpoint,
            json={"email": account.email, "password": account.password},
            catch_response=True,
        ) as response:
            body = parse_json(response)
            token = body.get("token") if isinstance(body, dict) else None
            ok = response.status_code == 200 and isinstance(token, str) and bool(token)
            if not ok:
                self.state.record_auth_failure(self.login_endpoint, self.group)
            if self.check(response, self.login_endpoint, ok, "login returns a token"):
                self.token = token
                return True
        self.token = None
        return False

    def logout(self) -> None:
        if not self.token:
            return
        with self.client.post(
            self.logout_path, name=self.logout_endpoint, headers=self.headers(), catch_response=True
        ) as r:
            self.check(r, self.logout_endpoint, r.status_code in (200, 204), "logout accepted")
        self.token = None


def parse_json(response) -> object | None:
    try:
        return json.loads(response.content) if response.content else None
    except (ValueError, TypeError):
        return None
