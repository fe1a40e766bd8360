"""Exporters against real servers: Prometheus scrapes every process, InfluxDB receives points.

One 2-worker run against the probe target exports to both; afterwards every series is
queried and must agree with the run's own results document.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from loadtests.run.config import InfluxExport, PrometheusExport, RunConfig, TestUser
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from services.prometheus import PrometheusServer
from tests.fixtures.metrics_servers import running_locust_target

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def prometheus_server():
    """A Prometheus of this module's own: the session's keeps series of earlier tests' runs,
    which `max_over_time` would add to this run's totals."""
    server = PrometheusServer(targets=[], scrape_interval_s=1.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def exported_run(prometheus_server, _influxdb_session, tmp_path_factory):
    influx = _influxdb_session
    influx.reset()
    tmp_path = tmp_path_factory.mktemp("exporters")
    master_port, *worker_ports = free_ports(3)
    prometheus_server.set_targets([f"127.0.0.1:{p}" for p in (master_port, *worker_ports)])
    with running_locust_target() as target, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PROBE_PATH", "/probe")
        monkeypatch.setenv("PROBE_LOGIN", "1")
        config = RunConfig(
            target=target.url,
            stages=(Stage(1, 12), Stage(8, 12), Stage(1, 0)),
            workers=2,
            locustfile=str(REPO_ROOT / "bench" / "locust_probe.py"),
            results_path=str(tmp_path / "results.json"),
            run_id="exporters",
            stop_timeout_s=4.0,
            test_users=(TestUser("nobody@example.test", "wrong"),),
            prometheus=PrometheusExport(
                enabled=True, master_port=master_port, worker_ports=tuple(worker_ports), linger_s=3.0
            ),
            influxdb=InfluxExport(
                enabled=True, url=influx.url, database=influx.database, flush_interval_s=0.5
            ),
            run_timeout_s=180,
        )
        doc = run_local(config)
    assert doc["status"] == "completed", doc["abort_reason"]
    return doc, prometheus_server, influx


def final(prom, series: str) -> float:
    """The last value each series reached during the run, summed (targets are gone by now)."""
    value = prom.query_value(f"sum(max_over_time({series}[10m]))")
    assert value is not None, f"{series} is not in Prometheus"
    return value


def test_prometheus_has_every_series_and_agrees_with_the_results(exported_run):
    doc, prom, _influx = exported_run
    m = doc["metrics"]
    probe = doc["endpoints"]["GET /probe"]
    assert final(prom, "http_reqs_total") == m["http_reqs"]["count"]
    assert final(prom, "http_req_failed_total") == m["http_req_failed"]["passes"]
    assert final(prom, "http_req_duration_seconds_count") == m["http_req_duration"]["count"]
    assert final(prom, 'http_req_duration_seconds_bucket{le="+Inf"}') == m["http_req_duration"]["count"]
    assert final(prom, "time_to_first_byte_seconds_count") == m["time_to_first_byte"]["count"]
    assert final(prom, "db_query_duration_seconds_count") == m["db_query_duration"]["count"]
    assert final(prom, 'checks_total{result="pass"}') == m["checks"]["passes"]
    assert final(prom, 'checks_total{result="fail"}') == m["checks"]["fails"]
    assert final(prom, "successful_requests_total") == m["successful_requests"]["count"]
    assert final(prom, "failed_requests_total") == m["failed_requests"]["count"]
    assert final(prom, "auth_failures_total") == m["auth_failures"]["count"] == 12
    assert final(prom, "data_received_bytes_total") == m["data_received"]["count"]
    assert final(prom, "data_sent_bytes_total") == m["data_sent"]["count"]
    assert final(prom, "vus") == m["vus"]["max"] == 12
    assert final(prom, "influxdb_points_dropped_total") == 0
    # Status labels and the SLO-aligned buckets: 500s are the probe's injected errors.
    assert final(prom, 'http_reqs_total{status="500"}') == probe["http_req_failed"]["passes"]
    under_half_second = final(prom, 'http_req_duration_seconds_bucket{endpoint="GET /probe",le="0.5"}')
    assert under_half_second / probe["http_req_duration"]["count"] == pytest.approx(0.90, abs=0.03)
    environments = prom.query("count by (environment) (max_over_time(http_reqs_total[10m]))")
    assert [r["metric"]["environment"] for r in environments] == ["local"]


def test_influxdb_has_every_point_and_agrees_with_the_results(exported_run):
    doc, _prom, influx = exported_run
    m = doc["metrics"]
    assert influx.scalar("SELECT count(duration_ms) FROM http_reqs") == m["http_reqs"]["count"]
    assert influx.scalar("SELECT sum(failed) FROM http_reqs") == m["http_req_failed"]["passes"]
    assert influx.scalar("SELECT count(ttfb_ms) FROM http_reqs") == m["time_to_first_byte"]["count"]
    assert influx.scalar("SELECT count(db_ms) FROM http_reqs") == m["db_query_duration"]["count"]
    assert influx.scalar("SELECT sum(bytes_received) FROM http_reqs") == m["data_received"]["count"]
    assert influx.scalar("SELECT sum(bytes_sent) FROM http_reqs") == m["data_sent"]["count"]
    assert influx.scalar("SELECT sum(passed) FROM checks") == m["checks"]["passes"]
    assert influx.scalar("SELECT sum(failed) FROM checks") == m["checks"]["fails"]
    assert influx.scalar("SELECT sum(count) FROM auth_failures") == m["auth_failures"]["count"]
    assert influx.scalar("SELECT max(value) FROM vus") == m["vus"]["max"]
    # Influx keeps every sample: its exact percentiles check the merged HDR figures.
    probe = doc["endpoints"]["GET /probe"]["http_req_duration"]
    where = "WHERE endpoint = 'GET /probe'"
    for key, pct in (("p50", 50), ("p95", 95), ("p99", 99)):
        exact = influx.scalar(f"SELECT percentile(duration_ms, {pct}) FROM http_reqs {where}")
        assert probe[key] == pytest.approx(exact, rel=0.01), key
    workers = influx.query("SHOW TAG VALUES FROM http_reqs WITH KEY = worker")
    assert sorted(v[1] for v in workers[0]["values"]) == ["worker-1", "worker-2"]
