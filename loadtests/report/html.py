"""One self-contained HTML report of a run (`python -m loadtests report`, loadtests/cli/report.py).

Everything is inline (CSS, a few lines of script for sorting, SVG charts) and the page's
Content-Security-Policy forbids every network request, so the file opens the same from an
artifact store, an e-mail or a laptop without a connection. Sections: verdict (the SLO
gate's thresholds and the measurements), the load generators' health (CPU and event-loop lag
per worker; a saturated run has no verdict), charts over time, endpoints, bottlenecks and
recommendations, index suggestions, and the comparison with a baseline run and, statistically,
with the last K passing runs (the results' `regression` section, loadtests/slo/regression.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from loadtests.analysis.bottlenecks import CATEGORIES
from loadtests.analysis.compare import ComparisonRow, comparable, compare_endpoints, compare_runs
from loadtests.analysis.engine import analyze
from loadtests.analysis.model import default_thresholds, limit_for, limits_of
from loadtests.analysis.sources import (
    project_index_targets,
    project_migration_indexes,
    reference_app_query_source,
)
from loadtests.report.charts import Series, line_chart
from loadtests.report.open_model import html_section as open_model_section
from loadtests.results.generators import health_line
from loadtests.results.metrics import format_value, summary_value
from loadtests.slo import evaluate as slo

__all__ = ["render_report"]

_CATEGORY_TITLES = {category.key: category.title for category in CATEGORIES}

_CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --warn:#9a6700; --muted:#6e7781; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; }
header { padding: 18px 28px; border-bottom: 1px solid var(--line); background: #f6f8fa; }
main { padding: 8px 28px 40px; max-width: 1240px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 28px 0 10px; }
.meta { color: var(--muted); }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.warn { background: var(--warn); } .badge.no-data, .badge.none { background: var(--muted); }
.badge.no-verdict { background: #8250df; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.sortable { cursor: pointer; } th.sortable::after { content: " \\2195"; color: var(--muted); }
.pass { color: var(--pass); } .fail { color: var(--fail); font-weight: 600; } .warn { color: var(--warn); }
.info, .no-data, .same, .muted { color: var(--muted); } .better { color: var(--pass); }
.worse { color: var(--fail); font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
svg.chart { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
svg .grid { stroke: #eaeef2; } svg .axis { stroke: #8c959f; }
svg .series { stroke-width: 1.8; } svg .slo { stroke: var(--fail); stroke-dasharray: 5 4; }
svg text { font-size: 11px; fill: #57606a; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: #1f2328; }
svg .slo-label { fill: var(--fail); }
.rec { border-left: 4px solid var(--warn); padding: 4px 12px; margin: 10px 0; background: #fff8c5; }
.rec h3 { font-size: 15px; margin: 2px 0; } .rec .area { text-transform: uppercase; font-size: 11px; }
.evidence { color: #57606a; font-size: 13px; } code, pre { font: 12px ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 8px; border-radius: 6px; overflow-x: auto; }
"""

# Sorts a table by the clicked column (numbers numerically); no other behaviour.
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.dataset.order !== "asc";
      th.dataset.order = ascending ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value || a.cells[column].textContent;
        var y = b.cells[column].dataset.value || b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _cell(text: str, css: str = "", value: float | None = None) -> str:
    classes = f' class="{css}"' if css else ""
    data = f' data-value="{value}"' if value is not None else ""
    return f"<td{classes}{data}>{escape(text)}</td>"


def _header(results: Mapping[str, Any], verdict: str) -> str:
    profile = results.get("profile") or {}
    stages = ", ".join(
        f"{s.get('target')} users/{s.get('duration_s'):g}s" for s in profile.get("stages") or ()
    )
    abort = results.get("abort_reason")
    return (
        "<header>"
        f'<h1>Load test report <span class="badge {escape(verdict)}" id="verdict">'
        f"{escape(verdict.upper())}</span></h1>"
        f'<div class="meta">Run <b>{escape(str(results.get("run_id")))}</b> &middot; stack '
        f"{escape(str(results.get('stack', '?')))} ({escape(str(results.get('environment', '?')))}) &middot; "
        f"target {escape(str(results.get('target', '?')))}<br>"
        f"{escape(str(results.get('started_at', '?')))} &rarr; {escape(str(results.get('ended_at', '?')))} "
        f"({float(results.get('duration_s') or 0):.0f} s) &middot; "
        f"status {escape(str(results.get('status')))}"
        f" &middot; profile {escape(str(profile.get('name', '?')))}: {escape(stages)}</div>"
        + (f'<div class="fail">Aborted: {escape(str(abort))}</div>' if abort else "")
        + "</header>"
    )


def _thresholds_table(evaluation: slo.Evaluation) -> str:
    rows = []
    for outcome in evaluation.results:
        metric = outcome.threshold.metric
        rows.append(
            "<tr>"
            + _cell(outcome.threshold.selector)
            + _cell(outcome.threshold.expression)
            + _cell(format_value(outcome.value, metric), "num")
            + _cell(format_value(outcome.bound, metric), "num")
            + _cell(format_value(outcome.baseline_value, metric), "num")
            + _cell(outcome.state.upper(), outcome.state if outcome.state != "no-baseline" else "info")
            + "</tr>"
        )
    return (
        '<table id="thresholds"><thead><tr><th>Metric</th><th>Threshold</th><th>Measured</th><th>Bound</th>'
        f"<th>Baseline</th><th>Result</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="meta">{escape(evaluation.reason)}</p>'
    )


def _generators(results: Mapping[str, Any]) -> str:
    """One line on the generators' health and, per worker, its CPU and event-loop lag."""
    section = results.get("generators")
    if not isinstance(section, Mapping):
        return '<p class="muted" id="generators-line">Generator health was not measured in this run.</p>'
    line = health_line(results) or ""
    css = ("warn" if section.get("accepted") else "fail") if section.get("saturated") else "pass"
    processes = [*(section.get("workers") or ()), *([section["master"]] if section.get("master") else [])]
    rows = []
    for worker in processes:
        saturated = bool(worker.get("saturated"))
        health = ("SATURATED: " if saturated else "") + str(worker.get("reason"))
        rows.append(
            "<tr>"
            + _cell(f"{worker.get('id')} ({worker.get('role')})")
            + _cell(_pct(worker.get("cpu_busy_fraction")), "num", worker.get("cpu_busy_fraction"))
            + _cell(_pct(worker.get("cpu_mean")), "num", worker.get("cpu_mean"))
            + _cell(_pct(worker.get("cpu_max")), "num", worker.get("cpu_max"))
            + _cell(_pct(worker.get("cpu_wait_mean")), "num", worker.get("cpu_wait_mean"))
            + _cell(_ms(worker.get("lag_p99_ms")), "num", worker.get("lag_p99_ms"))
            + _cell(_ms(worker.get("lag_max_ms")), "num", worker.get("lag_max_ms"))
            + _cell(health, "fail" if saturated else "")
            + "</tr>"
        )
    return (
        f'<p class="{css}" id="generators-line">{escape(line)}</p>'
        '<table id="generators"><thead><tr><th>Process</th><th>Busy &gt; 90 % (share of run)</th>'
        "<th>CPU mean</th><th>CPU max</th><th>Waiting for a CPU</th><th>Loop lag P99 ms</th>"
        "<th>Loop lag max ms</th>"
        f"<th>Health</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _measurements_table(analysis: Any) -> str:
    rows = "".join(
        "<tr>"
        + _cell(row.section)
        + _cell(row.label)
        + _cell(row.formatted_value(), f"num {row.status}")
        + _cell(row.limit)
        + _cell(row.status.upper() if row.status in ("pass", "fail", "warn") else "-", row.status)
        + "</tr>"
        for row in analysis.rows
    )
    return (
        '<table id="measurements"><thead><tr><th>Section</th><th>Measure</th><th>Value</th><th>SLO</th>'
        f"<th>Result</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _charts(results: Mapping[str, Any], limits: Sequence[Any]) -> str:
    timeline = results.get("timeline") or []

    def points(key: str, scale: float = 1.0) -> list[tuple[float, float | None]]:
        return [
            (float(p["t_s"]), None if p.get(key) is None else float(p[key]) * scale)
            for p in timeline
            if isinstance(p, Mapping) and "t_s" in p
        ]

    def slo_line(metric: str, stat: str, scale: float = 1.0, unit: str = "ms") -> tuple[float, str] | None:
        limit = limit_for(limits, metric, stat)
        if limit is None:
            return None
        return limit.bound * scale, f"SLO {stat} {limit.operator} {limit.bound * scale:g}{unit}"

    charts = [
        line_chart("Active users", [Series("users", points("users"), "#0969da")], chart_id="chart-users"),
        line_chart("Requests per second", [Series("req/s", points("rps"), "#8250df")], chart_id="chart-rps"),
        line_chart(
            "Response time (ms)",
            [
                Series("p50", points("p50_ms"), "#1a7f37"),
                Series("p95", points("p95_ms"), "#bf8700"),
                Series("p99", points("p99_ms"), "#cf222e"),
            ],
            "ms",
            slo_line("http_req_duration", "p95"),
            chart_id="chart-latency",
        ),
        line_chart(
            "Error rate (%)",
            [Series("errors", points("error_rate", 100.0), "#cf222e")],
            "%",
            slo_line("http_req_failed", "rate", 100.0, "%"),
            chart_id="chart-errors",
        ),
        line_chart(
            "Database query P95 (ms)",
            [Series("db p95", points("db_p95_ms"), "#6639ba")],
            "ms",
            slo_line("db_query_duration", "p95"),
            chart_id="chart-db",
        ),
    ]
    return f'<div class="charts">{"".join(charts)}</div>'


def _endpoints_table(results: Mapping[str, Any], analysis: Any) -> str:
    breaking = {(item.endpoint, item.metric, item.stat) for item in analysis.bottlenecks}
    rows = []
    for endpoint in sorted(results.get("endpoints") or {}):
        requests = summary_value(results, "http_reqs", "count", endpoint=endpoint) or summary_value(
            results, "http_req_duration", "count", endpoint=endpoint
        )

        def measured(metric: str, stat: str, as_pct: bool = False, endpoint: str = endpoint) -> str:
            value = summary_value(results, metric, stat, endpoint=endpoint)
            css = "num fail" if (endpoint, metric, stat) in breaking else "num"
            return _cell(_pct(value) if as_pct else _ms(value), css, value)

        rows.append(
            "<tr>"
            + _cell(endpoint)
            + _cell(f"{int(requests or 0):,}", "num", requests or 0)
            + measured("http_req_failed", "rate", True)
            + measured("http_req_duration", "p50")
            + measured("http_req_duration", "p95")
            + measured("http_req_duration", "p99")
            + measured("db_query_duration", "p95")
            + measured("time_to_first_byte", "p95")
            + "</tr>"
        )
    return (
        '<table id="endpoints" class="sortable"><thead><tr><th>Endpoint</th><th>Requests</th><th>Errors</th>'
        "<th>P50 ms</th><th>P95 ms</th><th>P99 ms</th><th>DB P95 ms</th><th>TTFB P95 ms</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _bottlenecks(analysis: Any) -> str:
    if not analysis.bottlenecks:
        return '<p class="pass" id="no-bottlenecks">No bottlenecks: every endpoint meets all five limits.</p>'
    rows = "".join(
        "<tr>"
        + _cell(_CATEGORY_TITLES[item.category])
        + _cell(item.endpoint)
        + _cell(format_value(item.value, item.metric), "num fail")
        + _cell(item.limit.source)
        + "</tr>"
        for item in analysis.bottlenecks
    )
    return (
        '<table id="bottlenecks"><thead><tr><th>Category</th><th>Endpoint</th><th>Measured</th>'
        f"<th>SLO</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _budgets(analysis: Any) -> str:
    if not analysis.budgets:
        return '<p class="muted">No requests to measure the error budgets with.</p>'
    rows = []
    for burn in analysis.budgets:
        css = "fail" if burn.alert.startswith("page") else "warn" if burn.alert != "none" else "pass"
        lasts = "-" if burn.budget_lasts_days is None else f"{burn.budget_lasts_days:,.1f} days"
        rows.append(
            "<tr>"
            + _cell(burn.slo)
            + _cell(f"{burn.objective * 100:g} %", "num")
            + _cell(f"{burn.failed:,} / {burn.requests:,}", "num")
            + _cell(f"{burn.burn_rate:.2f}x", f"num {css}", burn.burn_rate)
            + _cell(burn.alert, css)
            + _cell(lasts, "num")
            + "</tr>"
        )
    return (
        '<table id="budgets"><thead><tr><th>SLO</th><th>Objective</th><th>Failed</th><th>Burn rate</th>'
        "<th>Would trigger</th><th>30-day budget lasts</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _recommendations(analysis: Any) -> str:
    if not analysis.recommendations:
        return '<p class="muted">No recommendations: no measurement calls for a change.</p>'
    blocks = []
    for item in analysis.recommendations:
        actions = "".join(f"<li>{escape(action)}</li>" for action in item.actions)
        evidence = "".join(f"<li>{escape(line)}</li>" for line in item.evidence)
        blocks.append(
            f'<div class="rec" data-key="{escape(item.key)}"><span class="area">{escape(item.area)}</span>'
            f"<h3>{escape(item.title)}</h3><ul>{actions}</ul>"
            f'<div class="evidence">Evidence:<ul>{evidence}</ul></div></div>'
        )
    return "".join(blocks)


def _indexes(analysis: Any) -> str:
    if not analysis.indexes:
        return '<p class="muted">No index suggestions.</p>'
    lines = []
    for index in analysis.indexes:
        note = f" -- already in the migration as {index.covered_by}" if index.covered_by else ""
        lines.append(f"-- {index.reason} ({', '.join(index.queries)}){note}\n{index.sql}")
    notes = "".join(f'<p class="warn">{escape(note)}</p>' for note in analysis.notes)
    return f'<pre id="indexes">{escape(chr(10).join(lines))}</pre>{notes}'


def _comparison_rows(rows: Sequence[ComparisonRow], css_id: str, first: str) -> str:
    body = []
    for row in rows:
        percent = row.unit == "%"

        def show(value: float | None, percent: bool = percent, unit: str = row.unit) -> str:
            if value is None:
                return "-"
            return _pct(value) if percent else f"{value:,.1f} {unit}"

        delta = row.delta_pct
        body.append(
            "<tr>"
            + _cell(row.label)
            + _cell(show(row.baseline), "num")
            + _cell(show(row.current), "num")
            + _cell("-" if delta is None else f"{delta:+.1f} %", f"num {row.change}")
            + _cell(row.change, row.change)
            + "</tr>"
        )
    return (
        f'<table id="{css_id}"><thead><tr><th>{first}</th><th>Baseline</th><th>This run</th><th>Change</th>'
        f"<th></th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _comparison(results: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    if baseline is None:
        return '<p class="muted" id="no-baseline">No baseline run: nothing to compare with.</p>'
    warning = (
        ""
        if comparable(results, baseline)
        else '<p class="warn">The baseline ran another profile: differences may reflect the load.</p>'
    )
    return (
        f'<p>Baseline run <b id="baseline-run">{escape(str(baseline.get("run_id")))}</b> '
        f"({escape(str(baseline.get('started_at', '?')))}).</p>{warning}"
        + _comparison_rows(compare_runs(results, baseline), "comparison", "Measure")
        + _comparison_rows(compare_endpoints(results, baseline), "comparison-endpoints", "Endpoint P95")
    )


_REGRESSION_CSS = {"regression": "fail", "improvement": "pass", "no change": "pass", "inconclusive": "muted"}


def _signed_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def _regression(results: Mapping[str, Any]) -> str:
    """The statistical regression criterion: outcome, then per percentile the difference with
    its bootstrap interval and the p-value against the earlier runs."""
    section = results.get("regression")
    if not isinstance(section, Mapping):
        return '<p class="muted" id="regression-line">No statistical comparison with earlier runs.</p>'
    outcome = str(section.get("outcome"))
    gated = " (fails the gate)" if section.get("gated") else ""
    rows = []
    for item in section.get("percentiles") or ():
        interval = item.get("interval_pct")
        p_value = item.get("p_value")
        state = str(item.get("outcome"))
        rows.append(
            "<tr>"
            + _cell(f"P{item.get('percentile'):g}")
            + _cell(_ms(item.get("baseline_ms")), "num", item.get("baseline_ms"))
            + _cell(_ms(item.get("current_ms")), "num", item.get("current_ms"))
            + _cell(_signed_pct(item.get("difference_pct")), "num", item.get("difference_pct"))
            + _cell("-" if not interval else f"{interval[0]:+.1f} to {interval[1]:+.1f} %", "num")
            + _cell("-" if p_value is None else f"{p_value:.3g}", "num", p_value)
            + _cell(state, _REGRESSION_CSS.get(state, ""))
            + "</tr>"
        )
    table = (
        '<table id="regression"><thead><tr><th>Percentile</th><th>Earlier runs ms</th><th>This run ms</th>'
        "<th>Difference</th><th>95 % interval</th><th>p (run to run)</th><th>Outcome</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else ""
    )
    runs = ", ".join(str(run_id) for run_id in section.get("baseline_run_ids") or ()) or "none"
    note = (
        f"Compared with {section.get('runs_compared', 0)} of {section.get('runs_required')} earlier "
        f"passing runs ({runs}); effect floor {section.get('min_effect_pct')} %."
    )
    mann_whitney, slower = section.get("mann_whitney_p"), section.get("probability_slower")
    if mann_whitney is not None and slower is not None:
        note += (
            f" Mann-Whitney U over the whole distribution: p = {mann_whitney:.3g}; a request of this "
            f"run is slower than one of theirs with probability {slower:.2f}."
        )
    return (
        f'<p class="{_REGRESSION_CSS.get(outcome, "")}" id="regression-line">'
        f"<b>{escape(outcome.upper() + gated)}</b>: {escape(str(section.get('reason')))}</p>"
        f'{table}<p class="muted" id="regression-runs">{escape(note)}</p>'
    )


def render_report(
    results: Mapping[str, Any],
    thresholds: Sequence[slo.Threshold] | None = None,
    baseline: Mapping[str, Any] | None = None,
    analysis: Any = None,
) -> str:
    """The report as one HTML document (a string).

    Without a prepared `analysis`, the run is analysed here with the reference app's queries and
    the migration's indexes for the index suggestions.
    """
    thresholds = tuple(thresholds) if thresholds is not None else default_thresholds()
    if analysis is None:
        analysis = analyze(
            results,
            thresholds,
            reference_app_query_source(),
            existing_indexes=project_migration_indexes(),
            baseline=baseline,
            index_targets_by_query=project_index_targets(),
        )
    evaluation = analysis.evaluation
    verdict = analysis.verdict
    limits = limits_of(thresholds)
    title = f"Load test {results.get('run_id')} - {verdict.upper()}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + _header(results, verdict)
        + "<main>"
        + '<section id="verdict-section"><h2>Verdict</h2>'
        + _thresholds_table(evaluation)
        + _measurements_table(analysis)
        + "</section>"
        + f'<section id="generators-section"><h2>Load generators</h2>{_generators(results)}</section>'
        + open_model_section(results)
        + f'<section id="charts-section"><h2>Over time</h2>{_charts(results, limits)}</section>'
        + f'<section id="endpoints-section"><h2>Endpoints</h2>{_endpoints_table(results, analysis)}</section>'
        + f'<section id="bottlenecks-section"><h2>Bottlenecks</h2>{_bottlenecks(analysis)}</section>'
        + f'<section id="budgets-section"><h2>Error budgets</h2>{_budgets(analysis)}</section>'
        + '<section id="recommendations-section"><h2>Recommendations</h2>'
        + f"{_recommendations(analysis)}</section>"
        + f'<section id="indexes-section"><h2>Suggested indexes</h2>{_indexes(analysis)}</section>'
        + '<section id="baseline-section"><h2>Compared with the baseline</h2>'
        + _comparison(results, baseline)
        + "<h3>Statistical comparison with earlier runs</h3>"
        + _regression(results)
        + "</section></main>"
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
