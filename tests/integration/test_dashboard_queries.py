"""Every dashboard panel query and every alert rule returns data after a real load test.

A short distributed Locust run (master + 2 workers, the real suite including headless-Chromium
users for the web vitals) drives the reference app on loopback; a real Prometheus (Debian
package) scrapes the exporters of all three Locust processes every second. Each query of the
committed dashboard JSON, with Grafana's variables substituted the way Grafana sends them, and
each alert rule's measurement is then evaluated over the run through Prometheus's HTTP API and
must return samples. Half of the test accounts carry a wrong password so that the failure
series (failed requests, auth failures, failed checks) exist as they would in a run that hits
errors.
"""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

import pytest

from dashboards.alerts import ALERT_RULES
from dashboards.promql import expand, metric_names
from loadtests.run.config import PrometheusExport, RunConfig, TestUser
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from services.reference_app import ReferenceApp

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "load-testing.json"
RUN_SECONDS = 20.0  # long enough for the browser users to finish page visits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dashboard_queries() -> list[tuple[str, str]]:
    document = json.loads(DASHBOARD.read_text())
    return [
        (f"{panel['title']} [{target['refId']}]", target["expr"])
        for panel in document["panels"]
        for target in panel.get("targets", [])
    ]


@pytest.fixture(scope="module")
def scraped_run(seeded_database_factory, prometheus_server, tmp_path_factory):
    """Run the suite once with Prometheus scraping it; yield (prometheus, start, end)."""
    database = seeded_database_factory(scale="small", seed=42)
    app = ReferenceApp(database.dsn)
    app.start()
    try:
        app.wait_ready()
        ports = [_free_port() for _ in range(3)]
        prometheus_server.set_targets([f"127.0.0.1:{port}" for port in ports])
        users = tuple(TestUser(email, database.test_password) for email in database.test_user_emails[:2])
        wrong = tuple(TestUser(email, "not-the-password") for email in database.test_user_emails[2:4])
        config = RunConfig(
            target=app.base_url,
            stages=(Stage(duration_s=RUN_SECONDS, target=12),),
            workers=2,
            browser_share=0.25,  # web vitals come only from browser users
            think_time_min_s=0.05,
            think_time_max_s=0.2,
            test_users=users + wrong,
            results_path=str(tmp_path_factory.mktemp("run") / "results.json"),
            run_id="dashboard-queries",
            environment=prometheus_server.environment,
            prometheus=PrometheusExport(
                enabled=True,
                host="127.0.0.1",
                master_port=ports[0],
                worker_ports=tuple(ports[1:]),
                linger_s=3.0,
            ),
            run_timeout_s=120.0,
        )
        started = time.time()
        document = run_local(config)
        ended = time.time()
        assert document["status"] == "completed", document.get("abort_reason")
        assert document["metrics"]["http_reqs"]["count"] > 0
        yield prometheus_server, started, ended
    finally:
        app.stop()


def evaluate(prometheus, expr: str, start: float, end: float) -> list[dict]:
    """Range-evaluate ``expr`` over the run (1 s steps): the samples a dashboard would plot."""
    data = prometheus.api(
        "query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1s"}
    )
    return [
        series
        for series in data["result"]
        if any(math.isfinite(float(value)) for _, value in series.get("values", []))
    ]


def test_every_exported_series_the_queries_read_exists(scraped_run):
    prometheus, start, end = scraped_run
    names = set()
    for _, expr in dashboard_queries():
        names |= metric_names(expr)
    for rule in ALERT_RULES:
        names |= metric_names(rule.measurement)
    missing = [
        name
        for name in sorted(names)
        if not prometheus.api("series", {"match[]": name, "start": f"{start:.3f}", "end": f"{end:.3f}"})
    ]
    assert missing == [], f"metrics no exporter emitted during the run: {missing}"


@pytest.mark.parametrize("title,expr", dashboard_queries(), ids=[t for t, _ in dashboard_queries()])
def test_dashboard_query_returns_data(scraped_run, title, expr):
    prometheus, start, end = scraped_run
    expanded = expand(expr, {"environment": prometheus.environment})
    assert evaluate(prometheus, expanded, start, end), f"{title}: no data for {expanded}"


@pytest.mark.parametrize("rule", ALERT_RULES, ids=[rule.name for rule in ALERT_RULES])
def test_alert_measurement_returns_data(scraped_run, rule):
    prometheus, start, end = scraped_run
    series = evaluate(prometheus, rule.measurement, start, end)
    assert series, f"{rule.name}: no data for {rule.measurement}"
    assert {s["metric"].get("environment") for s in series} == {prometheus.environment}
