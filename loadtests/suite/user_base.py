"""Base class of the suite's Locust users: group context, checks, login.

Time to first byte and bytes sent come from the HTTP client's own measurements (see
loadtests.suite.listeners); the users add nothing to the request path but their checks.

Safety: the allow-list (target.allowed_hosts) is checked on the base URL only, so the client
follows no redirect at all (`max_redirects = 0`): a 3xx answer, which could point anywhere and
would have a 307/308 re-send a login's credentials there, is a failed check naming the refused
Location. TLS certificates are verified (`insecure = False`) against the system's CAs plus the
run's CA bundle (loadtests/run/target_tls.py).

Imported only inside Locust processes (it imports Locust, which patches the process with gevent).
"""

from __future__ import annotations

import functools
import json
import random

import gevent.ssl
from locust import FastHttpUser

from loadtests.run.config import TestUser, load_test_users
from loadtests.run.target_tls import verified_context
from loadtests.suite.listeners import suite_state

__all__ = ["SuiteUser", "items", "parse_json"]


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

    Subclasses set `group` and `wait_time`, and may set `test_users` (default: the run's list).
    """

    abstract = True
    # Read by FastHttpUser when it builds the client: no redirect is followed, certificates are
    # verified (Locust's defaults are 30 redirects and no verification).
    max_redirects = 0
    insecure = False
    group = ""
    test_users: tuple[TestUser, ...] = ()
    login_path = "/api/auth/login"
    logout_path = "/api/auth/logout"
    login_endpoint = "POST /api/auth/login"
    logout_endpoint = "POST /api/auth/logout"

    def __init__(self, environment) -> None:
        self.state = suite_state(environment)
        # Per instance, so a subclass (a scenario of your own) cannot turn redirects or
        # unverified TLS back on by a class attribute.
        self.max_redirects = 0
        self.insecure = False
        # Set before FastHttpUser builds the client from it. The factory ignores the `cafile`
        # geventhttpclient offers (certifi's bundle): the users trust what the runner's TLS
        # check trusted, the system store and the run's CA bundle, so both judge a target alike.
        self.ssl_context_factory = functools.partial(_client_tls_context, self.state.config.ca_bundle_pem)
        super().__init__(environment)
        self._context = {"group": self.group}
        self.token: str | None = None

    def context(self) -> dict:
        return self._context

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def check(self, response, endpoint: str, ok: bool, what: str) -> bool:
        """Record a check; a failed one fails the request with `what` as the reason."""
        passed = ok and response.status_code < 400
        self.state.record_check(endpoint, self.group, passed)
        if not passed:
            response.failure(
                f"check failed: {what} (status {response.status_code}"
                f"{_refused_redirect(response)}{_connection_error(response)})"
            )
        return passed

    def get_json(self, path: str, endpoint: str, what: str) -> object | None:
        with self.client.get(path, name=endpoint, headers=self.headers(), catch_response=True) as response:
            body = parse_json(response)
            ok = response.status_code == 200 and body is not None
            return body if self.check(response, endpoint, ok, what) else None

    def post_json(
        self, path: str, endpoint: str, payload: dict, what: str, status: int = 201
    ) -> object | None:
        """POST a JSON body; the check wants `status` (201 Created by default) and a JSON answer."""
        with self.client.post(
            path, name=endpoint, json=payload, headers=self.headers(), catch_response=True
        ) as response:
            body = parse_json(response)
            ok = response.status_code == status and body is not None
            return body if self.check(response, endpoint, ok, what) else None

    def login(self) -> bool:
        """Log in with a random test account: the class's `test_users`, else the run's secret
        list (so a scenario of your own logs in without touching the secret)."""
        accounts = self.test_users or _run_test_users()
        if not accounts:
            return False
        account = random.choice(accounts)
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


@functools.cache
def _run_test_users() -> tuple[TestUser, ...]:
    return load_test_users()


def _client_tls_context(ca_pem: str, **_offered_by_geventhttpclient: object) -> gevent.ssl.SSLContext:
    return verified_context(ca_pem, gevent.ssl.create_default_context)


def _refused_redirect(response) -> str:
    """Why a 3xx answer stays unanswered (appended to the check's reason); "" for other statuses."""
    if not 300 <= response.status_code < 400:
        return ""
    headers = response.headers
    location = headers.get("Location") if headers is not None else None
    return (
        f", redirect to {location or '(no Location)'} not followed: the suite follows no redirects,"
        " so requests and credentials stay on the allowed target"
    )


def _connection_error(response) -> str:
    """Why no answer came (status 0: refused connection, TLS verification, timeout); "" else."""
    error = getattr(response, "error", None) if response.status_code == 0 else None
    return f": {error}" if error else ""


def parse_json(response) -> object | None:
    try:
        return json.loads(response.content) if response.content else None
    except (ValueError, TypeError):
        return None
