"""Slack and GitHub-issue delivery over real HTTP to a local server: retries, outage, no secret leaks."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loadtests.publish import notify
from loadtests.report import messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "fixtures" / "results_example.json"
HOOK_PATH = "/services/T0DEMO/B0DEMO/hush-hush-webhook-token"
TOKEN = "ghs_very-secret-installation-token"
FAST = notify.RetryPolicy(attempts=3, backoff_base_s=0.01, timeout_s=5)


@dataclass
class Receiver:
    """A loopback HTTP server answering POSTs with scripted status codes and recording them."""

    statuses: list[int] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            status = state.statuses.pop(0) if state.statuses else 200
            payload = json.dumps({"html_url": "https://github.example/o/r/issues/1"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:  # keep the test output quiet
            return

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.server.shutdown()
        state.server.server_close()
        thread.join(timeout=10)


def _results() -> dict:
    return json.loads(EXAMPLE.read_text())


def test_slack_is_delivered_after_transient_failures_and_logs_hide_the_webhook(receiver, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.statuses = [503, 502, 200]
    webhook = notify.SecretValue(receiver.url + HOOK_PATH)
    notify.send_slack(webhook, messages.slack_message(_results(), run_url="https://ci.example/1"), retry=FAST)
    assert len(receiver.requests) == 3 and receiver.requests[-1]["path"] == HOOK_PATH
    assert receiver.requests[-1]["json"]["blocks"][0]["type"] == "header"
    assert any(
        "HTTP Request" in record.getMessage() for record in caplog.records
    )  # httpx did log each request
    assert "hush-hush" not in caplog.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_outage_raises_an_error_that_never_shows_the_webhook(caplog):
    caplog.set_level(logging.DEBUG)
    webhook = notify.SecretValue(f"http://127.0.0.1:{_free_port()}{HOOK_PATH}")  # nothing listens there
    with pytest.raises(notify.DeliveryError) as caught:
        notify.send_slack(webhook, {"text": "x"}, retry=FAST)
    assert "failed after 3 attempts: ConnectError" in str(caught.value)
    printed = "".join(traceback.format_exception(caught.value))
    assert "hush-hush" not in printed and "hush-hush" not in caplog.text


def test_github_issue_is_created_with_labels_and_the_token_stays_hidden(receiver, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.statuses = [500, 201]
    issue = messages.github_issue(_results(), run_url="https://ci.example/1")
    url = notify.create_github_issue(
        issue,
        repository="odavl/studio-hub",
        token=notify.SecretValue(TOKEN),
        api_url=receiver.url,
        retry=FAST,
    )
    assert url == "https://github.example/o/r/issues/1"
    request = receiver.requests[-1]
    assert request["path"] == "/repos/odavl/studio-hub/issues"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["json"]["labels"] == ["performance", "load-test", "urgent"]
    assert request["json"]["title"].startswith("🚨 Load Test Failure - ")
    assert "## Investigation steps" in request["json"]["body"]
    assert TOKEN not in caplog.text


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests", "notify", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_sends_slack_and_reports_refusal_without_printing_the_webhook(receiver):
    env = {"SLACK_WEBHOOK_URL": receiver.url + HOOK_PATH}
    sent = _cli("slack", "--results", str(EXAMPLE), "--run-url", "https://ci.example/1", env=env)
    assert sent.returncode == 0, sent.stderr
    assert receiver.requests[-1]["json"]["blocks"][1]["fields"][0]["text"] == "*Environment*\nlocal"
    receiver.statuses = [403]
    refused = _cli("slack", "--results", str(EXAMPLE), env=env)
    assert refused.returncode == 2 and "HTTP 403" in refused.stderr
    assert "hush-hush" not in sent.stdout + sent.stderr + refused.stdout + refused.stderr
    missing = _cli("slack", "--results", str(EXAMPLE), env={"SLACK_WEBHOOK_URL": ""})
    assert missing.returncode == 2 and "SLACK_WEBHOOK_URL is not set" in missing.stderr
