"""Delivery of failure notifications over HTTP: Slack incoming webhooks and GitHub issues.

`send_slack` and `create_github_issue` post JSON with httpx and retry connection errors, 429
and 5xx with exponential backoff (`RetryPolicy`). The webhook URL and the token are
`SecretValue`s: they never appear in messages, exceptions or log records (httpx logs each
request URL at INFO; a redacting filter sits on its loggers while a secret is in use).
The messages themselves are built by `loadtests.report.messages`.

    LoadTestError                   loadtests.errors; the CLI prints its message, never a traceback
    └── NotifyError                 base class of every error this module raises on purpose
        ├── NotifyConfigError       a webhook, token or repository is missing or malformed
        └── DeliveryError           the receiver kept failing after every retry
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from loadtests.errors import LoadTestError
from loadtests.report.messages import IssueDraft

__all__ = [
    "DeliveryError",
    "NotifyConfigError",
    "NotifyError",
    "RetryPolicy",
    "SecretValue",
    "create_github_issue",
    "send_slack",
]


class NotifyError(LoadTestError):
    """Base class of every error this module raises on purpose."""


class NotifyConfigError(NotifyError):
    """A webhook, token or repository is missing or malformed."""


class DeliveryError(NotifyError):
    """The receiver kept failing after every retry."""


class SecretValue:
    """A secret string that prints as *** everywhere; `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts (first included) and exponential backoff: base * 2**retry, capped, in seconds."""

    attempts: int = 4
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    timeout_s: float = 10.0

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.backoff_max_s)
        return min(self.backoff_base_s * 2**retry, self.backoff_max_s)


class _RedactFilter(logging.Filter):
    """Replaces each secret by *** in the records of the logger it sits on."""

    def __init__(self, secrets: Sequence[str]):
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self._secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, ()
        return True


@contextlib.contextmanager
def _redacted_logs(*secrets: SecretValue) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    redact = _RedactFilter([s.reveal() for s in secrets])
    for logger in loggers:
        logger.addFilter(redact)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redact)


def _post(
    url: SecretValue | str,
    payload: Mapping[str, Any],
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    secrets: Sequence[SecretValue] = (),
    retry: RetryPolicy = RetryPolicy(),
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """POST `payload` as JSON, retried per `retry`; DeliveryError (naming `what`, never the URL)."""
    target = url.reveal() if isinstance(url, SecretValue) else url
    hidden = [*secrets, url] if isinstance(url, SecretValue) else list(secrets)
    owned = client is None
    client = client or httpx.Client(timeout=retry.timeout_s)
    problem = ""
    try:
        with _redacted_logs(*hidden):
            for attempt in range(retry.attempts):
                retry_after = None
                try:
                    response = client.post(target, json=payload, headers=headers)
                except httpx.TransportError as exc:
                    problem = type(exc).__name__  # its text can name the URL
                else:
                    if response.status_code < 400:
                        return response
                    problem = f"HTTP {response.status_code}"
                    if response.status_code != 429 and response.status_code < 500:
                        raise DeliveryError(f"{what} was refused: {problem} (not retried)")
                    retry_after = response.headers.get("retry-after")
                if attempt + 1 < retry.attempts:
                    sleep(retry.delay(attempt, retry_after))
    finally:
        if owned:
            client.close()
    raise DeliveryError(f"{what} failed after {retry.attempts} attempts: {problem}")


def send_slack(webhook: SecretValue, message: Mapping[str, Any], **options: Any) -> None:
    """Post a message to a Slack incoming webhook (retried; raises DeliveryError with no URL in it)."""
    if not webhook.reveal().startswith(("https://", "http://")):
        raise NotifyConfigError("the Slack webhook is not an http(s) URL")
    _post(webhook, message, what="Slack notification", **options)


def create_github_issue(
    issue: IssueDraft,
    *,
    repository: str,
    token: SecretValue,
    api_url: str = "https://api.github.com",
    **options: Any,
) -> str:
    """Open the issue through the GitHub REST API; returns its html_url."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise NotifyConfigError(f"repository {repository!r} is not of the form owner/name")
    headers = {
        "Authorization": f"Bearer {token.reveal()}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    payload = {"title": issue.title, "body": issue.body, "labels": list(issue.labels)}
    response = _post(
        f"{api_url.rstrip('/')}/repos/{repository}/issues",
        payload,
        what="GitHub issue",
        headers=headers,
        secrets=[token],
        **options,
    )
    return str(response.json().get("html_url", ""))
