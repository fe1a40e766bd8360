"""Failure notifications built from a run's results document, and their HTTP delivery.

Builders (pure): `slack_message` (Block Kit: environment, verdict, failed thresholds, run link),
`github_issue` (title, labels and a body with metrics, investigation steps and recommendations)
and `pr_comment` (the results table). The metrics table and the recommendations come from
`loadtests.analysis`, so notifications say what the analysis says. Every string taken from
the results document (abort reasons, error texts from the target, names) goes through
`loadtests.markup` first, so a hostile `<!channel>` or `[text](http://evil)` is shown, not obeyed.

Delivery (`send_slack`, `create_github_issue`) posts JSON with httpx and retries connection
errors, 429 and 5xx with exponential backoff. The webhook URL and the token are `SecretValue`s:
they never appear in messages, exceptions or log records (httpx logs each request URL at INFO;
a redacting filter sits on its loggers while a secret is in use).

    NotifyError                 base class; the CLI prints its message, never a traceback
    ├── NotifyConfigError       a webhook, token or repository is missing or malformed
    └── DeliveryError           the receiver kept failing after every retry
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadtests.markup import md_literal, slack_escape

__all__ = [
    "DeliveryError",
    "IssueDraft",
    "NotifyConfigError",
    "NotifyError",
    "RetryPolicy",
    "SecretValue",
    "create_github_issue",
    "failed_thresholds",
    "github_issue",
    "load_results",
    "pr_comment",
    "send_slack",
    "slack_message",
]

ISSUE_LABELS = ("performance", "load-test", "urgent")
ISSUE_MENTIONS = ("@odavl/devops", "@odavl/backend")
_VERDICT_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "no-data": "❔"}
_STATE_ICONS = {**_VERDICT_ICONS, "no-baseline": "➖", "info": "ℹ️"}  # noqa: RUF001
_SLACK_TEXT_LIMIT = 3000
_MAX_LISTED = 10


class NotifyError(Exception):
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


@dataclass(frozen=True)
class IssueDraft:
    title: str
    body: str
    labels: tuple[str, ...]


# --- reading the results -----------------------------------------------------------------------


def load_results(path: Path | None, environment: str | None = None) -> dict[str, Any]:
    """The results document, or a stand-in saying the run wrote none (the run itself failed)."""
    if path is not None and str(path) and path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NotifyConfigError(f"cannot read the results file {path}: {exc}") from None
    return {
        "environment": environment or "unknown",
        "status": "failed",
        "verdict": None,
        "abort_reason": "the run wrote no results document",
        "metrics": {},
    }


def _gate(results: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    """(verdict, threshold entries): as the SLO gate recorded them, else judged with the catalogue's lines."""
    from loadtests import slo, slo_catalog

    recorded = [t for t in results.get("thresholds") or [] if isinstance(t, Mapping)]
    if recorded or not results.get("metrics"):
        verdict = results.get("verdict") or ("fail" if results.get("status") != "completed" else "no-data")
        return str(verdict), recorded
    evaluation = slo.evaluate(results, slo.parse_thresholds(slo_catalog.threshold_lines()))
    return evaluation.verdict, evaluation.to_dict()["thresholds"]


def failed_thresholds(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The failed (then no-data) threshold entries of the run."""
    entries = _gate(results)[1]
    return [t for t in entries if t.get("state") == "fail"] + [
        t for t in entries if t.get("state") == "no-data"
    ]


def _verdict(results: Mapping[str, Any]) -> str:
    return _gate(results)[0]


def _threshold_line(entry: Mapping[str, Any], escape: Callable[[object], str]) -> str:
    detail = entry.get("detail") or entry.get("state", "")
    return f"{escape(entry.get('key') or entry.get('metric', '?'))} — {escape(detail)}"


def _analysis(results: Mapping[str, Any]) -> Any | None:
    """The analysis engine's view of the run (rows, bottlenecks, recommendations), if it can judge it."""
    from loadtests import analysis, slo

    recorded = [t["key"] for t in results.get("thresholds") or [] if isinstance(t, Mapping) and t.get("key")]
    try:
        thresholds = slo.parse_thresholds(recorded) if recorded else None
        return analysis.analyze(results, thresholds)
    except Exception:
        # A notification must still go out for a document the analysis cannot judge.
        return None


def _run_name(results: Mapping[str, Any], escape: Callable[[object], str]) -> str:
    return f"{escape(results.get('stack', '?'))} / run {escape(results.get('run_id', '?'))}"


# --- builders ----------------------------------------------------------------------------------


def _clip(text: str, limit: int = _SLACK_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(results: Mapping[str, Any], *, run_url: str | None = None) -> dict[str, Any]:
    """A Slack Block Kit message: environment, verdict, failed thresholds and the run link."""
    raw_environment = str(results.get("environment", "unknown"))
    environment = slack_escape(raw_environment)  # mrkdwn fields; the header is plain_text
    verdict = slack_escape(_verdict(results))
    icon = _VERDICT_ICONS.get(verdict, "🚨")
    run_name = _run_name(results, slack_escape)
    failed = failed_thresholds(results)
    listed = "\n".join(f"• {_threshold_line(t, slack_escape)}" for t in failed[:_MAX_LISTED])
    if len(failed) > _MAX_LISTED:
        listed += f"\n• … and {len(failed) - _MAX_LISTED} more"
    if not failed:
        reason = results.get("abort_reason") or "no threshold failed; the run itself did not complete"
        listed = f"• {slack_escape(reason)}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _clip(f"{icon} Load test {_verdict(results)}: {raw_environment}", 150),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Environment*\n{environment}"},
                {"type": "mrkdwn", "text": f"*Verdict*\n{icon} {verdict}"},
                {"type": "mrkdwn", "text": f"*Run*\n{run_name}"},
                {"type": "mrkdwn", "text": f"*Status*\n{slack_escape(results.get('status', 'unknown'))}"},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*Failed thresholds*\n{listed}")}},
    ]
    if run_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open the run"}, "url": run_url}
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Next: check the Grafana load-test dashboard and the issue opened for this run.",
                }
            ],
        }
    )
    return {"text": f"{icon} Load test {verdict} on {environment} ({run_name})", "blocks": blocks}


def _metrics_table(results: Mapping[str, Any]) -> str:
    found = _analysis(results)
    lines = ["| Metric | Value | SLO | State |", "|---|---|---|---|"]
    if found is not None:
        for row in found.rows:
            if row.value is None and row.status == "no-data" and not row.limit:
                continue
            state = _STATE_ICONS.get(row.status, row.status)
            lines.append(
                f"| {row.section} · {row.label} | {row.formatted_value()} | {row.limit or '—'} | {state} |"
            )
        return "\n".join(lines)
    for metric, summary in sorted((results.get("metrics") or {}).items()):
        if isinstance(summary, Mapping) and summary.get("type") == "trend":
            name, unit = md_literal(metric, in_table=True), md_literal(summary.get("unit", ""), in_table=True)
            lines.append(f"| {name} p95 | {summary.get('p95', 0):,.1f} {unit} | — | ℹ️ |")  # noqa: RUF001
    return "\n".join(lines)


def _format_value(value: float, metric: Any) -> str:
    from loadtests import slo, verdict_cli

    return verdict_cli.format_value(value, metric) if metric in slo.METRICS else f"{value:.4g}"


def _thresholds_table(results: Mapping[str, Any]) -> str:
    entries = _gate(results)[1]
    if not entries:
        return "_No SLO thresholds were judged for this run._"
    lines = ["| Threshold | Measured | State |", "|---|---|---|"]
    for entry in entries:
        value, metric = entry.get("value"), entry.get("metric")
        measured = "no data" if value is None else _format_value(value, metric)
        state = str(entry.get("state", "?"))
        name = md_literal(entry.get("key", entry.get("metric", "?")), in_table=True)
        shown = f"{_STATE_ICONS.get(state, '')} {md_literal(state, in_table=True)}"
        lines.append(f"| {name} | {measured} | {shown} |")
    return "\n".join(lines)


def _investigation_steps(failed: Sequence[Mapping[str, Any]]) -> list[str]:
    metrics = {str(t.get("metric", "")) for t in failed}
    steps = [
        "Open the run's artifacts (results.json, summary.html, analysis); compare with the last passing run."
    ]
    if metrics & {"http_req_duration", "api_response_time", "time_to_first_byte"}:
        steps.append(
            "Grafana load-test dashboard: P95 and requests by endpoint — which endpoints rose first?"
        )
    if "db_query_duration" in metrics or not metrics:
        steps.append(
            "PostgreSQL: top statements by mean time in `pg_stat_statements`, `EXPLAIN (ANALYZE, BUFFERS)` "
            "them, and check that every index from sql/migrations is valid (`pg_index.indisvalid`)."
        )
    if metrics & {"http_req_failed", "checks"} or not metrics:
        steps.append(
            "Errors: failed requests by endpoint, and the application logs in Loki for the run's window."
        )
    if any(m.startswith("web_vitals") for m in metrics):
        steps.append(
            "Web vitals: compare LCP/INP/CLS per page with the previous release's bundle and asset sizes."
        )
    steps.append("Recent changes: deployments and migrations merged since the last passing run.")
    return steps


def _recommendations(results: Mapping[str, Any]) -> list[str]:
    found = _analysis(results)
    if found is None or not found.recommendations:
        return ["Re-run on demand after the fix (`workflow_dispatch` of the load-test workflow) to confirm."]
    lines = []
    for item in found.recommendations[:_MAX_LISTED]:
        lines.append(f"**{item.title}**")
        lines.extend(f"  - {md_literal(action)}" for action in item.actions)  # endpoints, error texts
    return lines


def _error_line(entry: Mapping[str, Any]) -> str:
    endpoint, error = md_literal(entry.get("endpoint")), md_literal(entry.get("error"))
    return f"- {endpoint}: {error} (x{md_literal(entry.get('count'))})"


def github_issue(
    results: Mapping[str, Any], *, run_url: str | None = None, labels: Sequence[str] = ISSUE_LABELS
) -> IssueDraft:
    """The issue opened for a failed run: metrics, failed thresholds, investigation steps, recommendations."""
    ended = str(results.get("ended_at") or "")[:10] or datetime.now(UTC).strftime("%Y-%m-%d")
    failed = failed_thresholds(results)
    profile = results.get("profile") or {}
    errors = sorted(
        (e for e in results.get("errors") or [] if isinstance(e, Mapping)),
        key=lambda e: -int(e.get("count", 0)),
    )
    sections = [
        f"**Environment:** {md_literal(results.get('environment', 'unknown'))} · "
        f"**Run:** {_run_name(results, md_literal)} · **Verdict:** {md_literal(_verdict(results))} · "
        f"**Status:** {md_literal(results.get('status', 'unknown'))}",
        f"**Target:** {md_literal(results.get('target', '?'))} · "
        f"**Profile:** {md_literal(profile.get('name', '?'))}, "
        f"{md_literal(profile.get('max_users', '?'))} users",
    ]
    if run_url:
        sections.append(f"**Workflow run:** {run_url}")
    if results.get("abort_reason"):
        sections.append(f"**Aborted:** {md_literal(results['abort_reason'])}")
    sections += ["## Metrics", _metrics_table(results), "## Failed thresholds"]
    sections.append("\n".join(f"- {_threshold_line(t, md_literal)}" for t in failed) or "- none recorded")
    if errors:
        sections += [
            "## Top errors",
            "\n".join(_error_line(e) for e in errors[:5]),
        ]
    sections += [
        "## Investigation steps",
        "\n".join(f"{i}. {s}" for i, s in enumerate(_investigation_steps(failed), 1)),
    ]
    sections += ["## Recommendations", "\n".join(_recommendations(results))]
    sections.append("cc " + " ".join(ISSUE_MENTIONS))
    return IssueDraft(f"🚨 Load Test Failure - {ended}", "\n\n".join(sections), tuple(labels))


def pr_comment(results: Mapping[str, Any], *, run_url: str | None = None) -> str:
    """The results table posted on the pull request."""
    verdict = _verdict(results)
    environment = md_literal(results.get("environment", "unknown"))
    head = f"### {_VERDICT_ICONS.get(verdict, '🚨')} Load test {md_literal(verdict)} — {environment}"
    parts = [head, _run_name(results, md_literal) + (f" · [workflow run]({run_url})" if run_url else "")]
    parts += [
        _thresholds_table(results),
        "<details><summary>All metrics</summary>\n",
        _metrics_table(results),
        "</details>",
    ]
    return "\n\n".join(parts) + "\n"


# --- delivery ----------------------------------------------------------------------------------


class _RedactFilter(logging.Filter):
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


# --- command line ------------------------------------------------------------------------------


def _secret_from_env(name: str) -> SecretValue:
    import os

    value = os.environ.get(name, "")
    if not value:
        raise NotifyConfigError(
            f"{name} is not set; expected it in the environment (from the secrets context)"
        )
    return SecretValue(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.notify", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("slack", "post the failure to Slack (webhook from SLACK_WEBHOOK_URL)"),
        ("github-issue", "open a GitHub issue (token from GITHUB_TOKEN)"),
        ("pr-comment", "print the pull-request comment (markdown) to stdout"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--results", type=Path, default=None, help="results.json (missing: the run wrote none)"
        )
        command.add_argument(
            "--environment", default=None, help="environment named when there are no results"
        )
        command.add_argument("--run-url", default=None, help="link to the workflow run")
        if name == "github-issue":
            command.add_argument("--repository", required=True, help="owner/name")
            command.add_argument("--label", action="append", default=None, help="issue label (repeatable)")
            command.add_argument("--api-url", default="https://api.github.com")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results, args.environment)
        if args.command == "pr-comment":
            sys.stdout.write(pr_comment(results, run_url=args.run_url))
        elif args.command == "slack":
            send_slack(_secret_from_env("SLACK_WEBHOOK_URL"), slack_message(results, run_url=args.run_url))
            print("Slack notification sent")
        else:
            issue = github_issue(results, run_url=args.run_url, labels=args.label or ISSUE_LABELS)
            url = create_github_issue(
                issue,
                repository=args.repository,
                token=_secret_from_env("GITHUB_TOKEN"),
                api_url=args.api_url,
            )
            print(f"opened {url}")
    except NotifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
