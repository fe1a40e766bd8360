from __future__ import annotations

import json
import logging

from reference_app.config import AppConfig, ConfigError
from reference_app.observability import JsonFormatter, _server_timing, trace_id_from_headers
from reference_app.timing import QueryTiming, RequestTimings


def test_trace_id_comes_from_traceparent_then_request_id_then_is_new() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_from_headers({b"traceparent": f"00-{trace}-00f067aa0ba902b7-01".encode()}) == trace
    zero = "00-" + "0" * 32 + "-00f067aa0ba902b7-01"
    assert trace_id_from_headers({b"traceparent": zero.encode(), b"x-request-id": b"req-1"}) == "req-1"
    fresh = trace_id_from_headers({b"x-request-id": b"bad id with spaces"})
    assert len(fresh) == 32 and int(fresh, 16) >= 0
    assert fresh != trace_id_from_headers({})


def test_request_timings_name_the_first_own_query() -> None:
    timings = RequestTimings("t")
    timings.record(QueryTiming("AUTH_SESSION_BY_TOKEN", 1.5, auth=True))
    assert timings.main_query == "AUTH_SESSION_BY_TOKEN"
    timings.record(QueryTiming("INSIGHT_ISSUES_RECENT_BY_ORG", 2.25))
    timings.record(QueryTiming("AUDIT_LOG_INSERT", 1.0))
    assert timings.main_query == "INSIGHT_ISSUES_RECENT_BY_ORG"
    assert timings.db_ms == 4.75
    header = _server_timing(timings, 9.0)
    assert header.startswith('db;dur=1.500;desc="AUTH_SESSION_BY_TOKEN", db;dur=2.250;')
    assert header.endswith("app;dur=9.000")


def test_json_formatter_writes_one_object_with_fields() -> None:
    record = logging.LogRecord("studiohub.access", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"trace_id": "abc", "status": 200}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "request" and entry["trace_id"] == "abc" and entry["level"] == "info"


def test_config_reports_every_problem_at_once() -> None:
    try:
        AppConfig.from_env({"STUDIOHUB_POOL_MAX_SIZE": "many", "STUDIOHUB_OUTAGE_TIMEOUT_S": "3"})
    except ConfigError as exc:
        message = str(exc)
    else:
        raise AssertionError("invalid configuration accepted")
    assert "STUDIOHUB_DSN" in message and "STUDIOHUB_POOL_MAX_SIZE='many'" in message
    assert "STUDIOHUB_OUTAGE_TIMEOUT_S='3'" in message
    config = AppConfig.from_env({"STUDIOHUB_DSN": "host=127.0.0.1", "STUDIOHUB_POOL_MIN_SIZE": "1"})
    assert config.pool_min_size == 1 and config.pool_max_size == 20 and config.outage_timeout_s < 1
