"""The load-testing dashboard: 8 rows, 23 panels, built with grafana-foundation-sdk.

Row and panel titles follow the specification's dashboard; queries use the metric names
the Locust exporters emit (seconds and bytes, histograms with SLO-aligned buckets).
Latencies are shown in milliseconds, as the specification's thresholds are written.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import heatmap, piechart, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

__all__ = ["DASHBOARD_UID", "PROMETHEUS_DATASOURCE_UID", "build_dashboard", "dashboard_json"]

DASHBOARD_UID = "load-testing"
PROMETHEUS_DATASOURCE_UID = "prometheus"
_DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_DATASOURCE_UID)

# Label filters: every request metric carries endpoint; web vitals carry page instead.
_ENV = 'environment=~"$environment"'
_REQ = f'{_ENV}, endpoint=~"$endpoint"'
_RI = "$__rate_interval"


def _quantile(q: float, metric: str, selector: str, by: str = "", scale: str = " * 1000") -> str:
    """PromQL for a histogram quantile, merged over every worker's exporter."""
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{_RI}]))){scale}"


def _query(expr: str, ref_id: str, legend: str = "", fmt: str | None = None) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref_id).datasource(_DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    if fmt == "table":
        query = query.format(prometheus_model.PromQueryFormat.TABLE).instant()
    elif fmt == "heatmap":
        query = query.format(prometheus_model.PromQueryFormat.HEATMAP)
    return query


def _steps(*pairs: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_model.Threshold(value=value, color=color) for value, color in pairs])
    )


def _stat(title: str, expr: str, unit: str, steps: dash.ThresholdsConfig, legend: str = "") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(_DATASOURCE)
        .with_target(_query(expr, "A", legend))
        .unit(unit)
        .thresholds(steps)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(5)
        .span(6)
    )


def _graph(
    title: str,
    queries: list[tuple[str, str]],
    unit: str,
    critical: float | None = None,
    span: int = 12,
) -> timeseries.Panel:
    """A time series with one target per (expr, legend) and an optional critical line."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(_DATASOURCE)
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "mean", "max"])
        )
        .height(8)
        .span(span)
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, chr(ord("A") + index), legend))
    if critical is not None:
        panel = panel.thresholds(_steps((None, "green"), (critical, "red"))).thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    return panel


def _overview() -> list[cogbuilder.Builder[Any]]:
    return [
        _stat(
            "Total Requests",
            f"sum(http_reqs_total{{{_REQ}}})",
            "short",
            _steps((None, "blue"), (10_000, "green"), (100_000, "yellow")),
        ),
        _stat(
            "Error Rate",
            f"100 * (sum(http_req_failed_total{{{_REQ}}}) or vector(0)) / sum(http_reqs_total{{{_REQ}}})",
            "percent",
            _steps((None, "green"), (1, "yellow"), (5, "red")),
        ),
        _stat(
            "P95 Response Time",
            _quantile(0.95, "http_req_duration_seconds", _REQ),
            "ms",
            _steps((None, "green"), (500, "yellow"), (1000, "red")),
        ),
        _stat(
            "Requests/Second",
            f"sum(rate(http_reqs_total{{{_REQ}}}[{_RI}]))",
            "reqps",
            _steps((None, "blue"), (100, "green"), (1000, "yellow")),
        ),
    ]


def _response_time_distribution() -> list[cogbuilder.Builder[Any]]:
    duration = "http_req_duration_seconds"
    percentiles = _graph(
        "Response Time Percentiles",
        [
            (_quantile(0.50, duration, _REQ), "P50"),
            (_quantile(0.95, duration, _REQ), "P95"),
            (_quantile(0.99, duration, _REQ), "P99"),
            # The histogram keeps no exact maximum: the upper edge of the highest used bucket.
            (_quantile(1.0, duration, _REQ), "Max (bucket edge)"),
        ],
        "ms",
        critical=500,
        span=16,
    )
    buckets = (
        heatmap.Panel()
        .title("Response Time Heatmap")
        .datasource(_DATASOURCE)
        .with_target(
            _query(
                f"sum by (le) (increase({duration}_bucket{{{_REQ}}}[{_RI}]))",
                "A",
                "{{le}}",
                fmt="heatmap",
            )
        )
        .calculate(False)
        .height(8)
        .span(8)
    )
    return [percentiles, buckets]


def _graphs(*specs: tuple[str, list[tuple[str, str]], str, float | None, int]) -> list[timeseries.Panel]:
    """Time series panels from (title, [(expr, legend)], unit, critical line, width) rows."""
    return [_graph(title, queries, unit, critical, span) for title, queries, unit, critical, span in specs]


def _endpoint_performance() -> list[cogbuilder.Builder[Any]]:
    by_endpoint = "{{endpoint}}"
    return _graphs(
        (
            "Endpoint Response Times (P95)",
            [(_quantile(0.95, "http_req_duration_seconds", _REQ, by="endpoint"), by_endpoint)],
            "ms",
            500,
            8,
        ),
        (
            "Requests by Endpoint",
            [(f"sum by (endpoint) (rate(http_reqs_total{{{_REQ}}}[{_RI}]))", by_endpoint)],
            "reqps",
            None,
            8,
        ),
        (
            "Time to First Byte (P95)",
            [(_quantile(0.95, "time_to_first_byte_seconds", _REQ, by="endpoint"), by_endpoint)],
            "ms",
            200,
            8,
        ),
    )


def _database_performance() -> list[cogbuilder.Builder[Any]]:
    db = "db_query_duration_seconds"
    return _graphs(
        (
            "Database Query Duration (P95)",
            [(_quantile(0.95, db, _REQ), "P95"), (_quantile(0.99, db, _REQ), "P99")],
            "ms",
            100,
            8,
        ),
        (
            "Database Queries by Type",
            [(f"sum by (query) (rate({db}_count{{{_REQ}}}[{_RI}]))", "{{query}}")],
            "ops",
            None,
            8,
        ),
        (
            "Database Query Duration by Type (P95)",
            [(_quantile(0.95, db, _REQ, by="query"), "{{query}}")],
            "ms",
            100,
            8,
        ),
    )


# (panel title, histogram, unit, critical line): P95 per page of each web vital.
WEB_VITALS = (
    ("LCP (Largest Contentful Paint)", "web_vitals_lcp_seconds", "ms", 2500),
    ("CLS (Cumulative Layout Shift)", "web_vitals_cls", "none", 0.1),
    ("INP (Interaction to Next Paint)", "web_vitals_inp_seconds", "ms", 200),
    ("FID (First Input Delay)", "web_vitals_fid_seconds", "ms", 100),
)


def _web_vitals() -> list[cogbuilder.Builder[Any]]:
    return _graphs(
        *(
            (
                title,
                [
                    (
                        _quantile(0.95, metric, _ENV, by="page", scale=" * 1000" if unit == "ms" else ""),
                        "{{page}}",
                    )
                ],
                unit,
                critical,
                6,
            )
            for title, metric, unit, critical in WEB_VITALS
        )
    )


def _error_analysis() -> list[cogbuilder.Builder[Any]]:
    failed_rate = f"sum(rate(http_req_failed_total{{{_REQ}}}[{_RI}]))"
    checks = f"sum(rate(checks_total{{{_REQ}}}[{_RI}]))"
    failed_by_endpoint = (
        table.Panel()
        .title("Failed Requests by Endpoint")
        .datasource(_DATASOURCE)
        .with_target(
            _query(
                f"topk(10, sum by (endpoint) (http_req_failed_total{{{_REQ}}}))",
                "A",
                "{{endpoint}}",
                fmt="table",
            )
        )
        .height(8)
        .span(8)
    )
    return [
        _graph(
            "Error Rate Over Time",
            [
                (
                    f"100 * ({failed_rate} or vector(0)) / sum(rate(http_reqs_total{{{_REQ}}}[{_RI}]))",
                    "error rate",
                )
            ],
            "percent",
            critical=1,
            span=8,
        ),
        failed_by_endpoint,
        _graph(
            "Check Pass Rate",
            [(f'100 * sum(rate(checks_total{{{_REQ}, result="pass"}}[{_RI}])) / {checks}', "checks")],
            "percent",
            critical=95,
            span=8,
        ),
    ]


def _virtual_users_and_throughput() -> list[cogbuilder.Builder[Any]]:
    return [
        _graph("Active Virtual Users", [(f"sum(vus{{{_ENV}}})", "virtual users")], "short"),
        _graph(
            "Data Transferred",
            [
                (f"sum(rate(data_received_bytes_total{{{_ENV}}}[{_RI}]))", "received"),
                (f"sum(rate(data_sent_bytes_total{{{_ENV}}}[{_RI}]))", "sent"),
            ],
            "Bps",
        ),
    ]


def _success_vs_failure() -> list[cogbuilder.Builder[Any]]:
    pie = (
        piechart.Panel()
        .title("Request Success vs Failure")
        .datasource(_DATASOURCE)
        .with_target(_query(f"sum(successful_requests_total{{{_REQ}}})", "A", "successful"))
        .with_target(_query(f"sum(failed_requests_total{{{_REQ}}}) or vector(0)", "B", "failed"))
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(8)
        .span(12)
    )
    auth = (
        _stat(
            "Authentication Failures",
            f"sum(auth_failures_total{{{_REQ}}}) or vector(0)",
            "short",
            _steps((None, "green"), (10, "yellow"), (100, "red")),
        )
        .height(8)
        .span(12)
    )
    return [pie, auth]


ROWS: tuple[tuple[str, Any], ...] = (
    ("Overview", _overview),
    ("Response Time Distribution", _response_time_distribution),
    ("Endpoint Performance", _endpoint_performance),
    ("Database Performance", _database_performance),
    ("Web Vitals", _web_vitals),
    ("Error Analysis", _error_analysis),
    ("Virtual Users & Throughput", _virtual_users_and_throughput),
    ("Success vs Failure", _success_vs_failure),
)


def _variables() -> list[cogbuilder.Builder[dashboard_model.VariableModel]]:
    environment = (
        dash.CustomVariable("environment")
        .label("Environment")
        .values("staging,production")
        .current(dashboard_model.VariableOption(selected=True, text="staging", value="staging"))
    )
    endpoint = (
        dash.QueryVariable("endpoint")
        .label("Endpoint")
        .datasource(_DATASOURCE)
        .query('label_values(http_reqs_total{environment=~"$environment"}, endpoint)')
        .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard_model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )
    return [environment, endpoint]


def build_dashboard() -> dashboard_model.Dashboard:
    """The load-testing dashboard model (uid ``load-testing``, 5 s refresh)."""
    builder = (
        dash.Dashboard("Load Testing")
        .uid(DASHBOARD_UID)
        .description("Real-time view of a load test: latency, throughput, errors, database, web vitals.")
        .tags(["load-testing", "odavl-perf"])
        .refresh("5s")
        .time("now-30m", "now")
        .timezone("browser")
        .timepicker(dash.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"]))
        .variables(_variables())
    )
    for title, panels in ROWS:
        builder = builder.with_row(dash.Row(title))
        for panel in panels():
            builder = builder.with_panel(panel)
    model = builder.build()
    for index, panel in enumerate(model.panels or [], start=1):
        panel.id_val = index
    return model


def dashboard_json() -> str:
    """The dashboard as the JSON document Grafana imports (stable key order, trailing newline)."""
    document = json.loads(json.dumps(build_dashboard(), cls=JSONEncoder))
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
