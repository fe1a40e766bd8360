"""The open model in the reports: an arrival-rate run's iterations, both latencies, the capacity.

`html_section(results)` is the HTML report's "Open model" section ("" for a closed-model run);
`render_open_model(results, console)` prints the same figures after `python -m loadtests run`
and the gate. Both say which latency the thresholds judge (loadtests/results/open_model.py):
http_req_duration is the service time, http_req_latency_intended the latency from the
iteration's intended start.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtests.results.open_model import INTENDED_METRIC, SERVICE_METRIC, open_model_summary

__all__ = ["html_section", "render_open_model", "summary_rows"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_rows(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the open model's figures; [] for a closed-model run."""
    summary = open_model_summary(results)
    if summary is None:
        return []
    rows = [
        ("Executor", str(summary["description"] or summary["executor"])),
        ("Iterations planned", _num(summary["planned_iterations"])),
        ("Iterations started", _num(summary["started_iterations"])),
        ("Iterations dropped (no idle user)", _num(summary["dropped_iterations"])),
        ("Requested rate", f"{_num(summary['requested_rate_per_s'])} /s"),
        ("Achieved rate", f"{_num(summary['achieved_rate_per_s'])} /s"),
        ("Peak users", _num(summary["peak_users"])),
        (
            f"P95 / P99 service time ({SERVICE_METRIC})",
            f"{_ms(summary['service_p95_ms'])} / {_ms(summary['service_p99_ms'])}",
        ),
        (
            f"P95 / P99 from the intended start ({INTENDED_METRIC})",
            f"{_ms(summary['intended_p95_ms'])} / {_ms(summary['intended_p99_ms'])}",
        ),
        ("Thresholds", str(summary["thresholds_use"])),
    ]
    capacity = summary.get("capacity")
    if capacity is not None:
        unit = capacity.get("time_unit_s") or 1.0
        found = capacity.get("rate")
        rows.append(
            (
                "Capacity",
                "none found"
                if found is None
                else f"{_num(found)} per {unit:g} s ({_num(capacity.get('rate_per_s'))} /s), "
                f"{_num(capacity.get('users'))} users busy at once"
                + ("" if capacity.get("confirmed") else " (not confirmed)"),
            )
        )
        first = capacity.get("first_break")
        rows.append(
            (
                "First threshold that broke",
                "none"
                if not first
                else f"{first.get('detail') or first.get('key')} "
                f"(at {_num(first.get('rate'))} per {unit:g} s)",
            )
        )
        rows.append(("Capacity search", str(capacity.get("reason"))))
    return rows


def _steps_table(results: Mapping[str, Any]) -> str:
    steps = (results.get("capacity") or {}).get("steps") or []
    if not steps:
        return ""
    body = []
    for step in steps:
        broke = step.get("broke") or {}
        body.append(
            "<tr>"
            f'<td class="num">{step.get("index")}</td><td>{escape(str(step.get("kind")))}</td>'
            f'<td class="num">{escape(_num(step.get("rate")))}</td>'
            f'<td class="num">{escape(_num(step.get("achieved_rate")))}</td>'
            f'<td class="num">{escape(_num(step.get("users")))}</td>'
            f'<td class="num">{escape(_ms(step.get("p95_ms")))}</td>'
            f'<td class="num">{escape(_ms(step.get("p95_intended_ms")))}</td>'
            f'<td class="{"pass" if step.get("ok") else "fail"}">'
            f"{'met every threshold' if step.get('ok') else escape(str(broke.get('detail') or 'broke'))}</td>"
            "</tr>"
        )
    return (
        '<table id="capacity-steps"><thead><tr><th>Step</th><th>Kind</th><th>Rate</th><th>Achieved</th>'
        "<th>Busy users</th><th>P95 service</th><th>P95 intended</th><th>Result</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def html_section(results: Mapping[str, Any]) -> str:
    """The report's "Open model" section; "" for a closed-model run."""
    rows = summary_rows(results)
    if not rows:
        return ""
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in rows)
    note = (
        f'<p class="meta">{escape(SERVICE_METRIC)} is each request\'s service time, from its own start; '
        f"{escape(INTENDED_METRIC)} is its latency from when its iteration was scheduled to start, so "
        "the waits of iterations that started late (coordinated omission) are in it.</p>"
    )
    return (
        '<section id="open-model-section"><h2>Open model</h2>'
        f'<table id="open-model">{cells}</table>{note}{_steps_table(results)}</section>'
    )


def render_open_model(results: Mapping[str, Any], console: Console) -> None:
    """Print the open model's figures (nothing for a closed-model run)."""
    rows = summary_rows(results)
    if not rows:
        return
    table = Table(title="open model", show_header=False)
    table.add_column("measure")
    table.add_column("value")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
