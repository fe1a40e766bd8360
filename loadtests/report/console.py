"""Console and text rendering (rich): the gate's verdict table and the analysis of a run.

Colour on a terminal, plain text on export (`export_text`, the analysis report file).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loadtests.analysis.bottlenecks import CATEGORIES
from loadtests.analysis.result import Analysis
from loadtests.results.generators import health_line
from loadtests.results.metrics import format_value
from loadtests.slo import evaluate as slo
from loadtests.slo.regression import regression_line

__all__ = [
    "STATE_STYLES",
    "STATUS_STYLE",
    "export_text",
    "generators_text",
    "regression_text",
    "render",
    "render_generators",
    "render_regression",
    "render_verdict",
    "report_path",
    "verdict_table",
]

# Styles of the gate's threshold states and verdict.
STATE_STYLES = {
    "pass": "bold green",
    "warn": "bold yellow",
    "fail": "bold red",
    "no-data": "bold magenta",
    "no-baseline": "dim",
    "no-verdict": "bold cyan",  # a verdict only: the generators were saturated
}

# Styles of the analysis's measurement rows.
STATUS_STYLE = {
    "pass": "bold green",
    "fail": "bold red",
    "warn": "bold yellow",
    "info": "grey62",
    "no-data": "grey50",
}
_STATUS_MARK = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "info": "-", "no-data": "no data"}
_CATEGORY_TITLES = {category.key: category.title for category in CATEGORIES}


# --- the gate's verdict -------------------------------------------------------------------------


def _bound_text(result: slo.ThresholdResult) -> str:
    metric = result.threshold.metric
    text = f"{result.threshold.op} {format_value(result.bound, metric)}"
    if result.bound is None:
        text = f"{result.threshold.op} {result.threshold.bound.text}"
    if result.warn_bound is not None:
        text += f" (warn {format_value(result.warn_bound, metric)})"
    return text


def _baseline_text(result: slo.ThresholdResult) -> str:
    if result.baseline_value is None:
        return "-"
    delta = result.delta_pct
    change = "" if delta is None else f" ({delta:+.1f} %)"
    return format_value(result.baseline_value, result.threshold.metric) + change


def verdict_table(evaluation: slo.Evaluation, title: str = "SLO gate") -> Table:
    """One row per threshold: what, measured value, bound, baseline change, state."""
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("threshold", overflow="fold")
    table.add_column("criterion", overflow="fold")
    table.add_column("value", justify="right")
    table.add_column("bound", justify="right")
    table.add_column("baseline (change)", justify="right")
    table.add_column("state", no_wrap=True, min_width=11)
    for result in evaluation.results:
        table.add_row(
            result.threshold.selector,
            result.threshold.expression,
            format_value(result.value, result.threshold.metric),
            _bound_text(result),
            _baseline_text(result),
            Text(result.state.upper(), style=STATE_STYLES[result.state]),
        )
    return table


def render_verdict(evaluation: slo.Evaluation, console: Console, run_id: str = "") -> None:
    """Print the verdict table and the verdict line in colour."""
    console.print(verdict_table(evaluation, title=f"SLO gate {run_id}".strip()))
    for result in evaluation.results:
        if result.state != "pass" and result.detail:
            note = Text(f"  {result.state.upper()} ", style=STATE_STYLES[result.state])
            note.append(f"{result.threshold.key}: {result.detail}")
            console.print(note)
    style = STATE_STYLES.get(evaluation.verdict, "bold")
    line = Text("verdict: ", style="bold")
    line.append(evaluation.verdict.upper(), style=style)
    line.append(f"  {evaluation.reason}")
    if evaluation.baseline_run_id:
        line.append(f"  (baseline {evaluation.baseline_run_id})", style="dim")
    console.print(line)


def generators_text(results_doc: Mapping[str, Any]) -> Text | None:
    """The generator-health line of a run (None for results from before it was measured)."""
    line = health_line(results_doc)
    if line is None:
        return None
    section = results_doc.get("generators") or {}
    if section.get("saturated"):
        return Text(line, style="bold yellow" if section.get("accepted") else "bold red")
    return Text(line, style="green")


def render_generators(results_doc: Mapping[str, Any], console: Console) -> None:
    """Print the generator-health line, if the results have one."""
    text = generators_text(results_doc)
    if text is not None:
        console.print(text)


_REGRESSION_STYLES = {"regression": "bold red", "improvement": "green", "no change": "green"}


def regression_text(results_doc: Mapping[str, Any]) -> Text | None:
    """The statistical-regression line of a run (None for results without the criterion)."""
    section = results_doc.get("regression")
    line = regression_line(section)
    if line is None:
        return None
    return Text(line, style=_REGRESSION_STYLES.get(str(section["outcome"]), "dim"))


def render_regression(results_doc: Mapping[str, Any], console: Console) -> None:
    """Print the statistical-regression line, if the results have one."""
    text = regression_text(results_doc)
    if text is not None:
        console.print(text)


# --- the analysis ------------------------------------------------------------------------------


def _header(analysis: Analysis) -> Panel:
    results = analysis.results
    profile = results.get("profile") or {}
    verdict = analysis.verdict
    lines = Text()
    lines.append("Verdict: ")
    lines.append(verdict.upper(), style=STATUS_STYLE.get(verdict, "bold"))
    lines.append(
        f"\nRun {results.get('run_id')}  stack {results.get('stack', '?')}  environment "
        f"{results.get('environment', '?')}  target {results.get('target', '?')}"
        f"\nProfile {profile.get('name', '?')} (max {profile.get('max_users', '?')} users, time scale "
        f"{profile.get('time_scale', '?')})  duration {float(results.get('duration_s') or 0):.0f} s  "
        f"status {results.get('status', '?')}"
    )
    if results.get("abort_reason"):
        lines.append(f"\nAborted: {results['abort_reason']}", style="bold red")
    generators = generators_text(results)
    if generators is not None:
        lines.append("\n")
        lines.append(generators)
    regression = regression_text(results)
    if regression is not None:
        lines.append("\n")
        lines.append(regression)
    return Panel(lines, title="Load test analysis", expand=False)


def _measurements_table(analysis: Analysis) -> Table:
    table = Table(title="Measurements against the SLOs", title_justify="left")
    for column in ("Section", "Measure", "Value", "SLO", "Result"):
        table.add_column(column, justify="right" if column == "Value" else "left")
    for row in analysis.rows:
        style = STATUS_STYLE[row.status]
        table.add_row(
            row.section,
            row.label,
            Text(row.formatted_value(), style=style),
            row.limit,
            Text(_STATUS_MARK[row.status], style=style),
        )
    return table


def _bottleneck_table(analysis: Analysis) -> Table | Text:
    if not analysis.bottlenecks:
        return Text(
            "Bottlenecks: none - every endpoint meets the limits of all five categories.", style="green"
        )
    table = Table(title="Bottlenecks per endpoint", title_justify="left")
    for column in ("Category", "Endpoint", "Measured", "SLO", "Requests"):
        table.add_column(column, justify="right" if column in ("Measured", "Requests") else "left")
    for item in analysis.bottlenecks:
        limit = f"{item.limit.bound * 100:g} %" if item.unit == "%" else f"{item.limit.bound:g} ms"
        table.add_row(
            _CATEGORY_TITLES[item.category],
            item.endpoint,
            Text(format_value(item.value, item.metric), style="red"),
            f"{item.limit.operator} {limit}",
            f"{item.requests:,}",
        )
    return table


def _budgets(analysis: Analysis) -> Table | Text:
    if not analysis.budgets:
        return Text("Error budgets: no requests to measure.", style="grey62")
    table = Table(title="Error budget burn during the run", title_justify="left")
    for column in ("SLO", "Objective", "Failed", "Burn rate", "Would trigger", "Budget lasts"):
        table.add_column(column, justify="left" if column in ("SLO", "Would trigger") else "right")
    for burn in analysis.budgets:
        style = "red" if burn.alert.startswith("page") else "yellow" if burn.alert != "none" else "green"
        lasts = "-" if burn.budget_lasts_days is None else f"{burn.budget_lasts_days:,.1f} days"
        table.add_row(
            burn.slo,
            f"{burn.objective * 100:g} %",
            f"{burn.failed:,} / {burn.requests:,}",
            Text(f"{burn.burn_rate:.2f}x", style=style),
            Text(burn.alert, style=style),
            lasts,
        )
    return table


def _recommendations(analysis: Analysis) -> Group:
    parts: list[Text] = [Text("Recommendations", style="bold underline")]
    if not analysis.recommendations:
        parts.append(Text("none: no measurement calls for a change.", style="green"))
    for item in analysis.recommendations:
        parts.append(Text(f"[{item.area}] {item.title}  ({item.key})", style="bold yellow"))
        parts.extend(Text(f"  - {action}") for action in item.actions)
        parts.extend(Text(f"    evidence: {evidence}", style="grey62") for evidence in item.evidence)
    return Group(*parts)


def _indexes(analysis: Analysis) -> Group:
    parts: list[Text] = [Text("Suggested indexes", style="bold underline")]
    if not analysis.indexes:
        parts.append(Text("none: no slow endpoint's queries call for an index.", style="grey62"))
    for index in analysis.indexes:
        note = f"  (already in the migration as {index.covered_by})" if index.covered_by else ""
        parts.append(Text(index.sql + note, style="cyan" if not index.covered_by else "grey62"))
        parts.append(Text(f"    for {', '.join(index.queries)}: {index.reason}", style="grey62"))
    parts.extend(Text(f"note: {note}", style="yellow") for note in analysis.notes)
    return Group(*parts)


def _sections(analysis: Analysis) -> Iterable[object]:
    yield _header(analysis)
    yield _measurements_table(analysis)
    yield _bottleneck_table(analysis)
    yield _budgets(analysis)
    yield _recommendations(analysis)
    yield _indexes(analysis)


def render(analysis: Analysis, console: Console) -> None:
    for section in _sections(analysis):
        console.print(section)
        console.print()


def export_text(analysis: Analysis, width: int = 120) -> str:
    """The analysis as plain text (no colour codes), as written to the report file."""
    console = Console(record=True, file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    render(analysis, console)
    return console.export_text()


def report_path(directory: Path, run_id: str, now: datetime | None = None) -> Path:
    """reports/analysis/analysis-<run id>-<UTC timestamp>.txt"""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe_run = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id) or "run"
    return directory / f"analysis-{safe_run}-{stamp}.txt"
