"""Notification builders from a results document, and the retry policy (httpx MockTransport)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import httpx
import pytest

from loadtests.cli import notify as notify_cli
from loadtests.publish import notify
from loadtests.report import messages
from loadtests.slo import catalog as slo_catalog
from loadtests.slo import evaluate as slo

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "results_example.json"


@pytest.fixture
def results() -> dict:
    return json.loads(EXAMPLE.read_text())


@pytest.fixture
def gated(results) -> dict:
    """The example run as the SLO gate leaves it: thresholds and verdict recorded."""
    evaluation = slo.evaluate(results, slo.parse_thresholds(slo_catalog.threshold_lines()))
    return slo.apply_evaluation(copy.deepcopy(results), evaluation)


def _texts(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_slack_message_names_environment_verdict_failed_thresholds_and_run_link(gated):
    message = messages.slack_message(gated, run_url="https://ci.example/runs/9")
    types = [block["type"] for block in message["blocks"]]
    assert types == ["header", "section", "section", "actions", "context"]
    fields = " ".join(field["text"] for field in message["blocks"][1]["fields"])
    assert "*Environment*\nlocal" in fields and f"*Verdict*\n❌ {gated['verdict']}" in fields
    failed = message["blocks"][2]["text"]["text"]
    assert "http_req_failed: rate&lt;0.01" in failed and "expected &lt; 0.01" in failed  # mrkdwn shows <
    assert "http_req_duration: p(95)<500" not in failed  # passed thresholds are not listed
    assert message["blocks"][3]["elements"][0]["url"] == "https://ci.example/runs/9"
    assert message["text"].startswith("❌ Load test fail on local")


def test_slack_message_respects_block_kit_limits(gated):
    gated["thresholds"] = [
        {
            "key": f"http_req_duration{{endpoint:GET /api/{i}}}: p(95)<500",
            "state": "fail",
            "detail": "x" * 400,
        }
        for i in range(40)
    ]
    message = messages.slack_message(gated)
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert len(message["blocks"][2]["text"]["text"]) <= 3000
    assert message["blocks"][2]["text"]["text"].endswith("…")
    assert "actions" not in [block["type"] for block in message["blocks"]]


def test_without_results_the_message_says_the_run_wrote_none():
    message = messages.slack_message(notify_cli.results_or_stand_in(None, environment="production"))
    assert "production" in message["blocks"][0]["text"]["text"]
    assert "wrote no results" in message["blocks"][2]["text"]["text"]


def test_ungated_results_are_judged_with_the_catalogue(results):
    assert "verdict" not in results
    failed = [entry["key"] for entry in messages.failed_thresholds(results)]
    assert failed[0] == "http_req_failed: rate<0.01"


def test_issue_has_title_labels_metrics_steps_and_recommendations(gated):
    issue = messages.github_issue(gated, run_url="https://ci.example/runs/9")
    assert issue.title == "🚨 Load Test Failure - 2026-09-21"
    assert issue.labels == ("performance", "load-test", "urgent")
    body = issue.body
    for heading in ("## Metrics", "## Failed thresholds", "## Investigation steps", "## Recommendations"):
        assert heading in body
    assert "| Response time · P95 | 87.2 ms | < 500 ms | ✅ |" in body
    assert "| Errors · Error rate | 1.75 % | < 1 % | ❌ |" in body
    assert "- GET /api/insight/issues: `HTTPError('500 Server Error')` (x4)" in body
    assert "Loki" in body  # an error-rate failure points at the logs
    assert "**Failing requests: fix the top errors**" in body  # from the analysis engine
    assert body.rstrip().endswith("cc @odavl/devops @odavl/backend")
    assert "https://ci.example/runs/9" in body


def test_pr_comment_is_a_results_table(gated):
    comment = messages.pr_comment(gated)
    assert comment.startswith("### ❌ Load test fail — local")
    assert "| `http_req_failed: rate<0.01` | 1.75 % | ❌ fail |" in comment
    assert "| `http_req_duration: p(95)<500` | 87.2 ms | ✅ pass |" in comment


def test_secret_value_never_prints():
    secret = notify.SecretValue("https://hooks.slack.com/services/T0/B0/sekrit")
    assert "sekrit" not in repr(secret) and "sekrit" not in str(secret) and "sekrit" not in f"{secret}"


def _scripted(statuses: list[int], seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses.pop(0)
        headers = {"retry-after": "7"} if status == 429 else {}
        return httpx.Response(status, headers=headers, text="ok" if status < 400 else "busy")

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_transient_failures_are_retried_with_growing_backoff():
    seen: list[httpx.Request] = []
    delays: list[float] = []
    client = _scripted([503, 429, 500, 200], seen)
    webhook = notify.SecretValue("https://hooks.example/services/T0/B0/sekrit")
    policy = notify.RetryPolicy(attempts=4, backoff_base_s=0.5)
    notify.send_slack(webhook, {"text": "hi"}, client=client, retry=policy, sleep=delays.append)
    assert len(seen) == 4 and json.loads(seen[-1].content) == {"text": "hi"}
    assert delays == [0.5, 7.0, 2.0]  # 0.5 * 2**0, Retry-After, 0.5 * 2**2


def test_client_errors_are_not_retried_and_give_up_without_the_url():
    seen: list[httpx.Request] = []
    webhook = notify.SecretValue("https://hooks.example/services/T0/B0/sekrit")
    with pytest.raises(notify.DeliveryError) as caught:
        notify.send_slack(webhook, {"text": "hi"}, client=_scripted([404], seen), sleep=lambda _: None)
    assert len(seen) == 1 and "HTTP 404" in str(caught.value) and "sekrit" not in str(caught.value)


HOSTILE = (
    "<!channel> [click me](http://evil.example) ](http://evil) <img src=x onerror=alert(1)> "
    "@odavl/all `x` | &"
)


def _hostile(gated: dict) -> dict:
    """The example run with attacker-chosen text wherever a target or a document can put it."""
    doc = copy.deepcopy(gated)
    doc["abort_reason"] = HOSTILE
    doc["environment"] = "staging <!here>"
    doc["stack"] = "pr-1](http://evil)"
    doc["errors"] = [{"endpoint": "GET /api/x", "error": HOSTILE, "count": 9}]
    doc["thresholds"] = [
        {
            "key": "http_req_failed: rate<0.01 | <!channel>",
            "metric": "http_req_failed",
            "state": "fail",
            "detail": HOSTILE,
            "value": 0.5,
        }
    ]
    doc["verdict"] = "fail"
    return doc


def test_slack_mrkdwn_shows_hostile_result_strings_instead_of_obeying_them(gated):
    message = messages.slack_message(_hostile(gated))
    mrkdwn = [message["text"]]
    for block in message["blocks"]:
        mrkdwn += [f["text"] for f in block.get("fields", []) if f["type"] == "mrkdwn"]
        if block.get("text", {}).get("type") == "mrkdwn":
            mrkdwn.append(block["text"]["text"])
        mrkdwn += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    text = "\n".join(mrkdwn)
    assert "<" not in text and ">" not in text  # no <!channel>, <!here> or <url|label> control sequence
    assert "&lt;!channel&gt;" in text and "&lt;!here&gt;" in text and "&amp;" in text


def _render(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


def _outside_code(html: str) -> str:
    import re

    return re.sub(r"<code>.*?</code>", "", html, flags=re.S)


@pytest.mark.parametrize("build", ["issue", "comment"])
def test_github_markdown_shows_hostile_result_strings_literally(gated, build):
    doc = _hostile(gated)
    markdown = messages.github_issue(doc).body if build == "issue" else messages.pr_comment(doc)
    html = _render(markdown)
    assert "evil" not in "".join(re.findall(r"<a [^>]*>", html))  # no link to the attacker
    assert "<img" not in html  # raw HTML was not passed through
    outside = _outside_code(html)
    assert "@odavl/all" not in outside and "evil" not in outside  # mentions and URLs only as code
    assert "<!channel>" not in html and "&lt;!channel&gt;" in html  # shown, as typed
    tables = re.findall(r"<table>(.*?)</table>", html, flags=re.S)
    assert tables
    for table in tables:  # a pipe in a threshold key did not add a cell to its row
        columns = table.count("<th>")
        assert all(
            row.count("<td>") == columns for row in re.findall(r"<tr>\s*<td>.*?</tr>", table, flags=re.S)
        )
