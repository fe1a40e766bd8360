"""MetricsCollector: recording, shipping deltas, merging and the results-document summaries."""

from __future__ import annotations

import json

import pytest

from loadtests.suite.collector import MAX_ERRORS_PER_ENDPOINT, OTHER_ERRORS, MetricsCollector

T0 = 1_800_000_000.0


def worker(seed: int) -> MetricsCollector:
    c = MetricsCollector()
    for i in range(100):
        failed = i % 10 == seed
        c.record_request(
            "GET /api/insight/issues",
            "insight",
            duration_ms=10.0 + i,
            failed=failed,
            now=T0 + i * 0.1,
            ttfb_ms=5.0,
            db_ms=2.0 + seed,
            bytes_received=100,
            bytes_sent=50,
        )
        c.record_check("GET /api/insight/issues", "insight", not failed)
    c.record_request("GET /static/js/app.js", "static_assets", duration_ms=3.0, failed=False, now=T0)
    c.record_auth_failure("POST /api/auth/login", "authentication")
    return c


def test_master_merge_of_worker_deltas_sums_everything():
    master = MetricsCollector()
    for seed in (1, 2):
        delta = worker(seed).take_delta()
        master.merge_delta(json.loads(json.dumps(delta)))  # deltas travel as JSON/msgpack
    s = master.summaries(duration_s=10.0, vus=(0, 7))
    m = s["metrics"]
    assert m["http_reqs"] == {"type": "counter", "count": 202, "rate_per_s": 20.2}
    assert m["http_req_failed"] == {"type": "rate", "passes": 20, "fails": 182, "rate": 20 / 202}
    assert m["error_rate"] == m["http_req_failed"]
    assert m["checks"]["passes"] == 180 and m["checks"]["fails"] == 20
    assert m["successful_requests"]["count"] == 182
    assert m["failed_requests"]["count"] == 20
    assert m["auth_failures"]["count"] == 2
    assert m["data_received"]["count"] == 200 * 100
    assert m["data_sent"]["count"] == 200 * 50
    assert m["http_req_duration"]["count"] == 202
    assert m["api_response_time"]["count"] == 200  # /static/ is not an API endpoint
    assert m["db_query_duration"]["count"] == 200
    assert m["db_query_duration"]["max"] == pytest.approx(4.0, rel=0.001)
    assert m["vus"] == {"type": "gauge", "value": 0, "max": 7}
    assert set(s["endpoints"]) == {"GET /api/insight/issues", "GET /static/js/app.js", "POST /api/auth/login"}
    assert s["groups"]["insight"]["http_reqs"]["count"] == 200
    assert s["groups"]["static_assets"]["http_req_duration"]["p99"] == pytest.approx(3.0, rel=0.001)
    assert "db_query_duration" not in s["groups"]["static_assets"]
    assert master.totals() == (202, 20)


def test_take_delta_empties_the_worker():
    c = worker(1)
    first = c.take_delta()
    assert first["slots"]
    assert c.take_delta() == {"slots": [], "trends": [], "errors": {}}
    assert c.totals() == (0, 0)


def test_timeline_buckets_are_five_seconds_of_wall_clock():
    c = MetricsCollector()
    for t in (0.0, 4.9, 5.0, 12.0):
        c.record_request("GET /x", "g", duration_ms=1.0, failed=t > 10, now=T0 + t)
    c.record_request("GET /y", "g", duration_ms=9.0, failed=False, now=T0 + 1.0)
    master = MetricsCollector()
    master.merge_delta(c.take_delta())
    buckets = {i - int(T0) // 5: (b.requests, b.failures) for i, b in master.timeline.items()}
    assert buckets == {0: (3, 0), 1: (1, 0), 2: (1, 1)}
    assert master.timeline[int(T0) // 5].duration.max() == pytest.approx(9.0, rel=0.001)
    c.record_request("GET /x", "g", duration_ms=1.0, failed=False, now=T0)
    c.fold_pending()  # a collector on its own folds its samples the same way
    buckets = {i - int(T0) // 5: (b.requests, b.failures) for i, b in c.timeline.items()}
    assert buckets == {0: (1, 0)}


def test_errors_are_counted_and_capped_per_endpoint():
    c = MetricsCollector()
    for i in range(MAX_ERRORS_PER_ENDPOINT + 5):
        c.record_error("GET /x", f"error {i}")
    c.record_error("GET /x", "error 0")
    errors = c.errors["GET /x"]
    assert len(errors) == MAX_ERRORS_PER_ENDPOINT + 1
    assert errors["error 0"] == 2
    assert errors[OTHER_ERRORS] == 5
    listed = c.summaries(1.0)["errors"]
    assert listed[0] == {"endpoint": "GET /x", "error": OTHER_ERRORS, "count": 5}


def test_web_vitals_are_trends_with_their_units():
    c = MetricsCollector()
    c.record_trend("web_vitals_lcp", "/dashboard", "browser", 1200.0)
    c.record_trend("web_vitals_cls", "/dashboard", "browser", 0.05)
    m = c.summaries(1.0)["metrics"]
    assert m["web_vitals_lcp"]["unit"] == "ms" and m["web_vitals_lcp"]["p95"] == pytest.approx(
        1200, rel=0.001
    )
    assert m["web_vitals_cls"]["unit"] == "" and m["web_vitals_cls"]["p95"] == pytest.approx(0.05, rel=0.001)
    with pytest.raises(ValueError, match="unknown trend metric 'lcp'"):
        c.record_trend("lcp", "/", "g", 1.0)
