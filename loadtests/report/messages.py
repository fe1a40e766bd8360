"""Failure notifications built from a run's results document (pure builders, no delivery).

`slack_message` (Block Kit: environment, verdict, failed thresholds, run link), `github_issue`
(title, labels and a body with metrics, investigation steps and recommendations) and
`pr_comment` (the results table). The metrics table and the recommendations come from
`loadtests.analysis.engine`, so notifications say what the analysis says. Every string taken from
the results document (abort reasons, error texts from the target, names) goes through
`loadtests.report.markup` first, so a hostile `<!channel>` or `[text](http://evil)` is shown, not obeyed.
Delivery is `loadtests.publish.notify`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadtests.analysis import engine as analysis
from loadtests.analysis.result import Analysis
from loadtests.report.markup import md_literal, slack_escape
from loadtests.results.metrics import format_value
from loadtests.slo import catalog as slo_catalog
from loadtests.slo import evaluate as slo

__all__ = [
    "ISSUE_LABELS",
    "IssueDraft",
    "failed_thresholds",
    "github_issue",
    "pr_comment",
    "slack_message",
]

ISSUE_LABELS = ("performance", "load-test", "urgent")
ISSUE_MENTIONS = ("@odavl/devops", "@odavl/backend")
_VERDICT_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "no-data": "❔"}
_STATE_ICONS = {**_VERDICT_ICONS, "no-baseline": "➖", "info": "ℹ️"}  # noqa: RUF001
_SLACK_TEXT_LIMIT = 3000
_MAX_LISTED = 10


@dataclass(frozen=True)
class IssueDraft:
    """An issue to open: its title, its markdown body and its labels."""

    title: str
    body: str
    labels: tuple[str, ...]


# --- the verdict and the analysis of the run -----------------------------------------------------


def _gate(results: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    """(verdict, threshold entries): as the SLO gate recorded them, else judged with the catalogue's lines."""
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


def _analysis(results: Mapping[str, Any]) -> Analysis | None:
    """The analysis engine's view of the run (rows, bottlenecks, recommendations), if it can judge it."""
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
            name, value = md_literal(metric, in_table=True), format_value(summary.get("p95", 0), metric)
            lines.append(f"| {name} p95 | {value} | — | ℹ️ |")  # noqa: RUF001
    return "\n".join(lines)


def _thresholds_table(results: Mapping[str, Any]) -> str:
    entries = _gate(results)[1]
    if not entries:
        return "_No SLO thresholds were judged for this run._"
    lines = ["| Threshold | Measured | State |", "|---|---|---|"]
    for entry in entries:
        value, metric = entry.get("value"), entry.get("metric")
        measured = "no data" if value is None else format_value(value, str(metric))
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
