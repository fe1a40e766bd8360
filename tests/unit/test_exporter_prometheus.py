"""Prometheus exporter: the contract's names, labels, units and bucket edges."""

from __future__ import annotations

from prometheus_client import generate_latest

from loadtests.suite.export_prometheus import CLS_BUCKETS, SECONDS_BUCKETS, PrometheusExporter


def value(exporter: PrometheusExporter, name: str, **labels) -> float | None:
    return exporter.registry.get_sample_value(name, labels)


def test_request_series_in_seconds_with_slo_buckets():
    e = PrometheusExporter()
    e.observe_request("GET /api/x", "insight", 200, 450.0, False, 120.0, 80.0, "INSIGHT_Q", 900, 100)
    e.observe_request("GET /api/x", "insight", 500, 30.0, True, 10.0, None, None, 50, 100)
    assert value(e, "http_reqs_total", endpoint="GET /api/x", group="insight", status="200") == 1
    assert value(e, "http_reqs_total", endpoint="GET /api/x", group="insight", status="500") == 1
    assert value(e, "http_req_failed_total", endpoint="GET /api/x", group="insight") == 1
    labels = {"endpoint": "GET /api/x", "group": "insight"}
    assert value(e, "http_req_duration_seconds_sum", **labels) == 0.48
    assert value(e, "http_req_duration_seconds_bucket", le="0.4", **labels) == 1
    assert value(e, "http_req_duration_seconds_bucket", le="0.5", **labels) == 2
    assert value(e, "time_to_first_byte_seconds_count", endpoint="GET /api/x") == 2
    assert value(e, "db_query_duration_seconds_count", endpoint="GET /api/x", query="INSIGHT_Q") == 1
    assert value(e, "successful_requests_total", endpoint="GET /api/x") == 1
    assert value(e, "failed_requests_total", endpoint="GET /api/x") == 1
    assert value(e, "data_received_bytes_total") == 950
    assert value(e, "data_sent_bytes_total") == 200
    text = generate_latest(e.registry).decode()
    edges = [line for line in text.splitlines() if line.startswith("http_req_duration_seconds_bucket")]
    assert len(edges) == len(SECONDS_BUCKETS) + 1  # plus +Inf
    assert SECONDS_BUCKETS[:5] == (0.005, 0.01, 0.025, 0.05, 0.1) and SECONDS_BUCKETS[-1] == 10


def test_checks_auth_vitals_and_users():
    e = PrometheusExporter()
    e.observe_check("GET /x", True)
    e.observe_check("GET /x", False)
    e.observe_auth_failure("POST /api/auth/login")
    e.observe_web_vital("lcp", "/dashboard", 2400.0)
    e.observe_web_vital("cls", "/dashboard", 0.12)
    e.set_users(17)
    assert value(e, "checks_total", endpoint="GET /x", result="pass") == 1
    assert value(e, "checks_total", endpoint="GET /x", result="fail") == 1
    assert value(e, "auth_failures_total", endpoint="POST /api/auth/login") == 1
    assert value(e, "web_vitals_lcp_seconds_bucket", page="/dashboard", le="2.5") == 1
    assert value(e, "web_vitals_lcp_seconds_bucket", page="/dashboard", le="2.0") == 0
    assert value(e, "web_vitals_cls_bucket", page="/dashboard", le="0.15") == 1
    assert value(e, "web_vitals_cls_bucket", page="/dashboard", le="0.1") == 0
    assert CLS_BUCKETS == (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1)
    assert value(e, "vus") == 17
    assert value(e, "influxdb_points_dropped_total") == 0
