"""The HTML report in headless Chromium (Debian package): content shown, no console error, no request."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main
from tests.fixtures.report_browser import open_report

pytestmark = [pytest.mark.integration, pytest.mark.browser]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "analysis"


def render(tmp_path: Path, fixture: str, *extra: str) -> Path:
    output = tmp_path / f"{fixture}.html"
    assert main(["report", str(FIXTURES / f"{fixture}.json"), "-o", str(output), *extra]) == 0
    return output


def test_failing_run_with_baseline_renders_every_section(report_browser, tmp_path):
    report = render(tmp_path, "fail_slow_database", "--baseline", str(FIXTURES / "pass.json"))
    page, problems, requests = open_report(report_browser, report)
    try:
        assert page.locator("#verdict").inner_text() == "FAIL"
        for section in (
            "Verdict",
            "Over time",
            "Endpoints",
            "Bottlenecks",
            "Error budgets",
            "Recommendations",
            "Suggested indexes",
            "Compared with the baseline",
        ):
            assert page.get_by_role("heading", name=section, exact=True).is_visible()
        assert page.locator("#thresholds tbody tr").count() == 11
        assert page.locator("#budgets tbody tr").count() == 2
        assert page.locator("#thresholds td.fail").inner_text() == "FAIL"
        charts = page.locator("svg.chart")
        assert charts.count() == 5
        for index in range(5):
            chart = charts.nth(index)
            assert chart.is_visible()
            assert chart.locator("path.series").count() >= 1
            assert chart.bounding_box()["height"] > 100
        assert page.locator("#chart-latency path.series").count() == 3
        assert page.locator("#endpoints tbody tr").count() == 7
        assert page.locator("#bottlenecks").inner_text().count("GET /api/insight/issues") == 1
        keys = page.locator(".rec").evaluate_all("nodes => nodes.map(n => n.dataset.key)")
        assert keys == ["database.query-plans", "monitoring.slow-queries"]
        assert "idx_insight_issues_org_created" in page.locator("#indexes").inner_text()
        assert page.locator("#baseline-run").inner_text() == "analysis-pass"
        assert "worse" in page.locator("#comparison-endpoints").inner_text()
        assert problems == []
        assert requests == [report.as_uri()]
    finally:
        page.close()


def test_endpoint_table_sorts_when_a_header_is_clicked(report_browser, tmp_path):
    page, problems, _ = open_report(report_browser, render(tmp_path, "pass"))
    try:
        first_cell = page.locator("#endpoints tbody tr:first-child td:first-child")
        assert first_cell.inner_text() == "GET /api/analytics/timeseries"  # sorted by name on render
        page.locator("#endpoints th", has_text="P95 ms").first.click()
        assert first_cell.inner_text() == "GET /static/js/app.js"  # lowest P95 first
        page.locator("#endpoints th", has_text="P95 ms").first.click()
        assert first_cell.inner_text() == "GET /api/analytics/timeseries"  # highest P95 first
        assert problems == []
    finally:
        page.close()


def test_passing_run_without_baseline(report_browser, tmp_path):
    page, problems, requests = open_report(report_browser, render(tmp_path, "pass"))
    try:
        assert page.locator("#verdict").inner_text() == "PASS"
        assert page.locator("#no-bottlenecks").is_visible()
        assert page.locator("#no-baseline").is_visible()
        assert page.locator(".rec").count() == 0
        assert problems == []
        assert len(requests) == 1
    finally:
        page.close()
