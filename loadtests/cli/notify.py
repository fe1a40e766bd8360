"""`python -m loadtests notify slack|github-issue|pr-comment`: tell people about a run.

`slack` posts the failure to Slack (webhook from SLACK_WEBHOOK_URL), `github-issue` opens an
issue (token from GITHUB_TOKEN), `pr-comment` prints the pull-request comment (markdown) to
stdout. `--results` is the run's results document; when the run wrote none (a missing or empty
path), the message says so instead. Errors (a missing secret, a refused delivery, an invalid
results file) are LoadTestErrors: the dispatcher prints them and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from loadtests import exit_codes
from loadtests.publish.notify import NotifyConfigError, SecretValue, create_github_issue, send_slack
from loadtests.report.messages import ISSUE_LABELS, github_issue, pr_comment, slack_message
from loadtests.results.document import load_document

__all__ = ["add_parser", "results_or_stand_in", "run_notify"]

_CHANNELS = (
    ("slack", "post the failure to Slack (webhook from SLACK_WEBHOOK_URL)"),
    ("github-issue", "open a GitHub issue (token from GITHUB_TOKEN)"),
    ("pr-comment", "print the pull-request comment (markdown) to stdout"),
)


def results_or_stand_in(path: Path | None, environment: str | None = None) -> dict[str, Any]:
    """The results document, or a stand-in saying the run wrote none (the run itself failed)."""
    # The workflow passes an empty --results when no results.json was found; Path("") is ".".
    if path is not None and str(path) and path.is_file():
        return load_document(path)
    return {
        "environment": environment or "unknown",
        "status": "failed",
        "verdict": None,
        "abort_reason": "the run wrote no results document",
        "metrics": {},
    }


def _secret_from_env(name: str) -> SecretValue:
    value = os.environ.get(name, "")
    if not value:
        raise NotifyConfigError(
            f"{name} is not set; expected it in the environment (from the secrets context)"
        )
    return SecretValue(value)


def add_parser(subparsers: Any) -> None:
    """Register `notify` and its channels on the `python -m loadtests` parser."""
    parser = subparsers.add_parser(
        "notify",
        help="post a run's failure to Slack, open a GitHub issue, or print the PR comment",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    channels = parser.add_subparsers(dest="channel", metavar="CHANNEL", required=True)
    for name, help_text in _CHANNELS:
        channel = channels.add_parser(name, help=help_text)
        channel.add_argument(
            "--results", type=Path, default=None, help="results.json (missing: the run wrote none)"
        )
        channel.add_argument(
            "--environment", default=None, help="environment named when there are no results"
        )
        channel.add_argument("--run-url", default=None, help="link to the workflow run")
        if name == "github-issue":
            channel.add_argument("--repository", required=True, help="owner/name")
            channel.add_argument("--label", action="append", default=None, help="issue label (repeatable)")
            channel.add_argument("--api-url", default="https://api.github.com")
    parser.set_defaults(handler=run_notify)


def run_notify(args: argparse.Namespace) -> int:
    """The `notify` subcommand; returns the process exit code (errors raise LoadTestError)."""
    results = results_or_stand_in(args.results, args.environment)
    if args.channel == "pr-comment":
        sys.stdout.write(pr_comment(results, run_url=args.run_url))
    elif args.channel == "slack":
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
    return exit_codes.PASS
