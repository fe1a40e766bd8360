"""Analysis and HTML report of a real run: the suite's user groups against the reference app.

The run is short and its timings depend on the machine, so the thresholds here are extreme on
purpose (nothing meets 1 microsecond, everything meets 10 minutes): what is checked is that the
analysis reads a real results document, names the suite's endpoints, maps them to the app's SQL
and that the report of real data renders in Chromium.
"""

from __future__ import annotations

import json

import pytest

from loadtests.__main__ import main
from loadtests.analysis.engine import analyze
from loadtests.analysis.sources import project_migration_indexes, reference_app_query_source
from loadtests.results.metrics import USER_GROUPS
from loadtests.run.config import RunConfig, TestUser
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from loadtests.slo.spec import parse_thresholds
from services.reference_app import ReferenceApp
from tests.fixtures.report_browser import open_report

pytestmark = pytest.mark.integration

# Limits no run on any machine breaks (10 minutes; every request may fail).
GENEROUS = [
    "http_req_duration: p(95)<600000, p(99)<600000",
    "http_req_failed: rate<=1",
    "time_to_first_byte: p(95)<600000",
    "db_query_duration: p(95)<600000",
]


@pytest.fixture(scope="module")
def real_results(seeded_database_factory, tmp_path_factory):
    db = seeded_database_factory(scale="small", seed=42)
    work = tmp_path_factory.mktemp("analysis-run")
    app = ReferenceApp(db.dsn, log_path=work / "app.log")
    app.start()
    try:
        config = RunConfig(
            target=app.base_url,
            stages=(Stage(2, 10), Stage(8, 10), Stage(1, 0)),
            workers=1,
            user_weights={group: 0 if group == "static_assets" else 1 for group in USER_GROUPS},
            think_time_min_s=0.1,
            think_time_max_s=0.3,
            test_users=tuple(TestUser(email, db.test_password) for email in db.test_user_emails),
            results_path=str(work / "results.json"),
            run_id="analysis-real-run",
            stop_timeout_s=3.0,
            run_timeout_s=180,
            log_dir=str(work / "logs"),
        )
        document = run_local(config)
    finally:
        app.stop()
    assert document["status"] == "completed", document["abort_reason"]
    return work / "results.json", document


def test_every_api_endpoint_of_a_real_run_is_a_slow_database_bottleneck_at_one_microsecond(real_results):
    _, document = real_results
    thresholds = parse_thresholds([*GENEROUS[:3], "db_query_duration: p(95)<0.001"])
    source, existing = reference_app_query_source(), project_migration_indexes()
    analysis = analyze(document, thresholds, source, existing_indexes=existing)
    with_db = {
        name
        for name, metrics in document["endpoints"].items()
        if (metrics.get("db_query_duration") or {}).get("count", 0) > 0
    }
    assert "GET /api/insight/issues" in with_db
    assert {(b.category, b.endpoint) for b in analysis.bottlenecks} == {("slow_database", e) for e in with_db}
    assert {r.key for r in analysis.recommendations} == {"database.query-plans", "monitoring.slow-queries"}
    recent = [index for index in analysis.indexes if "INSIGHT_ISSUES_RECENT_BY_ORG" in index.queries]
    assert [index.covered_by for index in recent] == ["idx_insight_issues_org_created"]


def test_generous_thresholds_find_nothing(real_results):
    _, document = real_results
    analysis = analyze(document, parse_thresholds(GENEROUS))
    assert analysis.bottlenecks == [] and analysis.recommendations == []


@pytest.mark.browser
def test_cli_and_html_report_of_a_real_run(real_results, tmp_path, report_browser):
    path, _ = real_results
    out = tmp_path / "analysis.json"
    assert main(["analyze", str(path), "--output-dir", str(tmp_path / "txt"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["run_id"] == "analysis-real-run"
    assert len(list((tmp_path / "txt").glob("analysis-analysis-real-run-*.txt"))) == 1
    html = tmp_path / "summary.html"
    assert main(["report", str(path), "-o", str(html)]) == 0
    page, problems, requests = open_report(report_browser, html)
    assert page.locator("#endpoints tbody tr").count() == len(json.loads(path.read_text())["endpoints"])
    assert page.locator("#chart-rps path.series").count() == 1
    assert problems == [] and requests == [html.as_uri()]
