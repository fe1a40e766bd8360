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
from grafana_foundation_sdk.builders import heatmap, piechart, table
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.panels import (
    DATASOURCE,
    ENV,
    PROMETHEUS_DATASOURCE_UID,
    RATE,
    REQ,
    graph,
    graphs,
    quantile,
    query,
    stat_panel,
    thresholds,
)

__all__ = ["DASHBOARD_UID", "PROMETHEUS_DATASOURCE_UID", "build_dashboard", "dashboard_json"]

DASHBOARD_UID = "load-testing"


def _overview() -> list[cogbuilder.Builder[Any]]:
    return [
        stat_panel(
            "Total Requests",
            f"sum(http_reqs_total{{{REQ}}})",
            "short",
            thresholds((None, "blue"), (10_000, "green"), (100_000, "yellow")),
        ),
        stat_panel(
            "Error Rate",
            f"100 * (sum(http_req_failed_total{{{REQ}}}) or vector(0)) / sum(http_reqs_total{{{REQ}}})",
            "percent",
            thresholds((None, "green"), (1, "yellow"), (5, "red")),
        ),
        stat_panel(
            "P95 Response Time",
            quantile(0.95, "http_req_duration_seconds", REQ),
            "ms",
            thresholds((None, "green"), (500, "yellow"), (1000, "red")),
        ),
        stat_panel(
            "Requests/Second",
            f"sum(rate(http_reqs_total{{{REQ}}}[{RATE}]))",
            "reqps",
            thresholds((None, "blue"), (100, "green"), (1000, "yellow")),
        ),
    ]


def _response_time_distribution() -> list[cogbuilder.Builder[Any]]:
    duration = "http_req_duration_seconds"
    percentiles = graph(
        "Response Time Percentiles",
        [
            (quantile(0.50, duration, REQ), "P50"),
            (quantile(0.95, duration, REQ), "P95"),
            (quantile(0.99, duration, REQ), "P99"),
            # The histogram keeps no exact maximum: the upper edge of the highest used bucket.
            (quantile(1.0, duration, REQ), "Max (bucket edge)"),
        ],
        "ms",
        critical=500,
        span=16,
    )
    buckets = (
        heatmap.Panel()
        .title("Response Time Heatmap")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"sum by (le) (increase({duration}_bucket{{{REQ}}}[{RATE}]))",
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


def _endpoint_performance() -> list[cogbuilder.Builder[Any]]:
    by_endpoint = "{{endpoint}}"
    return graphs(
        (
            "Endpoint Response Times (P95)",
            [(quantile(0.95, "http_req_duration_seconds", REQ, by="endpoint"), by_endpoint)],
            "ms",
            500,
            8,
        ),
        (
            "Requests by Endpoint",
            [(f"sum by (endpoint) (rate(http_reqs_total{{{REQ}}}[{RATE}]))", by_endpoint)],
            "reqps",
            None,
            8,
        ),
        (
            "Time to First Byte (P95)",
            [(quantile(0.95, "time_to_first_byte_seconds", REQ, by="endpoint"), by_endpoint)],
            "ms",
            200,
            8,
        ),
    )


def _database_performance() -> list[cogbuilder.Builder[Any]]:
    db = "db_query_duration_seconds"
    return graphs(
        (
            "Database Query Duration (P95)",
            [(quantile(0.95, db, REQ), "P95"), (quantile(0.99, db, REQ), "P99")],
            "ms",
            100,
            8,
        ),
        (
            "Database Queries by Type",
            [(f"sum by (query) (rate({db}_count{{{REQ}}}[{RATE}]))", "{{query}}")],
            "ops",
            None,
            8,
        ),
        (
            "Database Query Duration by Type (P95)",
            [(quantile(0.95, db, REQ, by="query"), "{{query}}")],
            "ms",
            100,
            8,
        ),
    )


# (panel title, histogram, unit, critical line): P95 per page of each web vital. The
# specification's three graphs, with INP as the interaction vital (the Core Web Vital since 2024).
WEB_VITALS = (
    ("LCP (Largest Contentful Paint)", "web_vitals_lcp_seconds", "ms", 2500),
    ("CLS (Cumulative Layout Shift)", "web_vitals_cls", "none", 0.1),
    ("INP (Interaction to Next Paint)", "web_vitals_inp_seconds", "ms", 200),
)


def _web_vitals() -> list[cogbuilder.Builder[Any]]:
    return graphs(
        *(
            (
                title,
                [
                    (
                        quantile(0.95, metric, ENV, by="page", scale=" * 1000" if unit == "ms" else ""),
                        "{{page}}",
                    )
                ],
                unit,
                critical,
                8,
            )
            for title, metric, unit, critical in WEB_VITALS
        )
    )


def _error_analysis() -> list[cogbuilder.Builder[Any]]:
    failed_rate = f"sum(rate(http_req_failed_total{{{REQ}}}[{RATE}]))"
    checks = f"sum(rate(checks_total{{{REQ}}}[{RATE}]))"
    failed_by_endpoint = (
        table.Panel()
        .title("Failed Requests by Endpoint")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"topk(10, sum by (endpoint) (http_req_failed_total{{{REQ}}}))",
                "A",
                "{{endpoint}}",
                fmt="table",
            )
        )
        .height(8)
        .span(8)
    )
    return [
        graph(
            "Error Rate Over Time",
            [
                (
                    f"100 * ({failed_rate} or vector(0)) / sum(rate(http_reqs_total{{{REQ}}}[{RATE}]))",
                    "error rate",
                )
            ],
            "percent",
            critical=1,
            span=8,
        ),
        failed_by_endpoint,
        graph(
            "Check Pass Rate",
            [(f'100 * sum(rate(checks_total{{{REQ}, result="pass"}}[{RATE}])) / {checks}', "checks")],
            "percent",
            critical=95,
            span=8,
        ),
    ]


def _virtual_users_and_throughput() -> list[cogbuilder.Builder[Any]]:
    return [
        graph("Active Virtual Users", [(f"sum(vus{{{ENV}}})", "virtual users")], "short"),
        graph(
            "Data Transferred",
            [
                (f"sum(rate(data_received_bytes_total{{{ENV}}}[{RATE}]))", "received"),
                (f"sum(rate(data_sent_bytes_total{{{ENV}}}[{RATE}]))", "sent"),
            ],
            "Bps",
        ),
    ]


def _success_vs_failure() -> list[cogbuilder.Builder[Any]]:
    pie = (
        piechart.Panel()
        .title("Request Success vs Failure")
        .datasource(DATASOURCE)
        .with_target(query(f"sum(successful_requests_total{{{REQ}}})", "A", "successful"))
        .with_target(query(f"sum(failed_requests_total{{{REQ}}}) or vector(0)", "B", "failed"))
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(8)
        .span(12)
    )
    auth = (
        stat_panel(
            "Authentication Failures",
            f"sum(auth_failures_total{{{REQ}}}) or vector(0)",
            "short",
            thresholds((None, "green"), (10, "yellow"), (100, "red")),
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
        .datasource(DATASOURCE)
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
