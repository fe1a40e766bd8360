"""Acceptance: browser users in a real Locust run against the reference app, judged by the SLO gate.

The reference app's dashboard (GET /dashboard) paints its hero image at once; its slow variant
(`?variant=slow&delay_ms=N`) inserts the hero N ms late. A distributed Locust run (master + one
worker, loadtests.run.runner) with one browser user visits one of them; the web vitals travel from
the worker's browser to the master's merged results document, and loadtests.slo.evaluate evaluates the
specification's web-vital thresholds on it: the slow variant fails on LCP, the normal page
passes.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtests.results.document import validate_document
from loadtests.run.config import PrometheusExport, RunConfig
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from loadtests.slo import evaluate as slo
from loadtests.slo.catalog import DEFAULT_THRESHOLDS, threshold_lines
from services.reference_app import ReferenceApp

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SLOW_DELAY_MS = 3500
# The stack's default web-vital thresholds: LCP p95 < 2500 ms, CLS < 0.1, INP < 200 ms.
VITAL_THRESHOLDS = tuple(
    threshold_lines(tuple(t for t in DEFAULT_THRESHOLDS if t.metric.startswith("web_vitals_")))
)

LOCUSTFILE = """
from locust import constant, events

from loadtests.suite.browser.user import DashboardBrowserUser
from loadtests.run.config import SuiteConfig
from loadtests.suite.listeners import setup_suite_listeners
from loadtests.suite.locust_shape import ProfileShape

CONFIG = SuiteConfig.from_env()
STATE = setup_suite_listeners(events, CONFIG)


class DashboardVisitor(DashboardBrowserUser):
    abstract = False
    pages = ({page!r},)
    wait_time = constant(0.2)


class Shape(ProfileShape):
    abstract = False
    stages = CONFIG.stages
    drain_s = CONFIG.stop_timeout_s + ProfileShape.drain_s
"""


@pytest.fixture(scope="module")
def reference_app(seeded_database_factory):
    database = seeded_database_factory(scale="small", seed=42)
    with ReferenceApp(database.dsn) as app:
        yield app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WorkerScraper:
    """Scrapes the worker's Prometheus exporter at every progress tick of the run."""

    def __init__(self) -> None:
        self.port = free_port()
        self.last_text = ""

    def __call__(self, _progress: dict) -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=1) as response:
                self.last_text = response.read().decode()
        except OSError:
            pass  # not serving yet, or already gone: the last good scrape is kept

    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        for family in text_string_to_metric_families(self.last_text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None


def run_browser_users(
    app: ReferenceApp, page: str, tmp_path: Path, scraper: WorkerScraper | None = None, hold_s: float = 12
) -> dict:
    locustfile = tmp_path / "browser_locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(page=page), encoding="utf-8")
    prometheus = PrometheusExport()
    if scraper is not None:
        prometheus = PrometheusExport(enabled=True, master_port=free_port(), worker_ports=(scraper.port,))
    config = RunConfig(
        target=app.base_url,
        stages=(Stage(1, 1), Stage(hold_s, 1), Stage(1, 0)),
        workers=1,
        locustfile=str(locustfile),
        results_path=str(tmp_path / "results.json"),
        run_id="browser-vitals",
        # Longer than a slow visit (delay + settling): a visit in progress at the end completes.
        stop_timeout_s=12.0,
        run_timeout_s=180,
        prometheus=prometheus,
    )
    doc = run_local(config, on_tick=scraper)
    validate_document(doc)
    return doc


def gate(doc: dict) -> slo.Evaluation:
    return slo.evaluate(doc, slo.parse_thresholds(VITAL_THRESHOLDS))


def states(evaluation: slo.Evaluation) -> dict[str, str]:
    return {result.threshold.metric: result.state for result in evaluation.results}


def test_the_gate_checks_every_web_vital():
    assert {t.metric for t in slo.parse_thresholds(VITAL_THRESHOLDS)} == {
        "web_vitals_lcp",
        "web_vitals_cls",
        "web_vitals_inp",
    }


def test_the_normal_dashboard_passes_the_web_vital_thresholds(reference_app, tmp_path):
    scraper = WorkerScraper()
    doc = run_browser_users(reference_app, "/dashboard", tmp_path, scraper)
    assert doc["status"] == "completed", doc["abort_reason"]
    metrics = doc["metrics"]
    for name in ("web_vitals_lcp", "web_vitals_cls", "web_vitals_inp"):
        assert metrics[name]["count"] >= 2, f"{name} was not measured in every visit"
    assert metrics["web_vitals_cls"]["unit"] == ""
    assert metrics["web_vitals_lcp"]["p95"] < 2500
    # The same samples appear under the page's endpoint and the dashboard group.
    page = doc["endpoints"]["GET /dashboard"]
    assert page["web_vitals_lcp"]["count"] == metrics["web_vitals_lcp"]["count"]
    assert doc["groups"]["dashboard"]["web_vitals_inp"]["count"] == metrics["web_vitals_inp"]["count"]
    assert metrics["checks"]["fails"] == 0
    # The worker exports the same vitals as Prometheus histograms labelled by page.
    page_label = {"page": "GET /dashboard"}
    lcp_count = scraper.sample("web_vitals_lcp_seconds_count", page_label)
    assert lcp_count is not None and lcp_count >= 1, scraper.last_text[:2000]
    assert scraper.sample("web_vitals_cls_count", page_label) == lcp_count
    assert scraper.sample("web_vitals_inp_seconds_count", page_label) == lcp_count

    evaluation = gate(doc)
    assert evaluation.verdict == "pass", [r.to_dict() for r in evaluation.results]


def test_the_slow_dashboard_breaks_lcp_and_the_gate_fails(reference_app, tmp_path):
    # Long enough for more than one slow visit after the browser has started.
    doc = run_browser_users(
        reference_app, f"/dashboard?variant=slow&delay_ms={SLOW_DELAY_MS}", tmp_path, hold_s=20
    )
    assert doc["status"] == "completed", doc["abort_reason"]
    lcp = doc["metrics"]["web_vitals_lcp"]
    assert lcp["count"] >= 1
    # The hero painted after the delay is the LCP of every visit.
    assert lcp["min"] >= SLOW_DELAY_MS
    assert doc["metrics"]["checks"]["fails"] == 0

    evaluation = gate(doc)
    assert evaluation.verdict == "fail"
    assert states(evaluation)["web_vitals_lcp"] == "fail"
    lcp_result = next(r for r in evaluation.results if r.threshold.metric == "web_vitals_lcp")
    assert lcp_result.value == pytest.approx(lcp["p95"])
    assert lcp_result.bound == 2500
