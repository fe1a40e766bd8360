"""loadtests/report/html.py and report_html_charts.py without a browser: structure, escaping, no network."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from loadtests.analysis.compare import comparable, compare_endpoints, compare_runs
from loadtests.report.charts import Series, line_chart, nice_ticks
from loadtests.report.html import render_report

FIXTURES = Path(__file__).parents[1] / "fixtures" / "analysis"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict]]:
    collector = _Collector()
    collector.feed(html)
    return collector.tags


def test_report_is_self_contained():
    html = render_report(fixture("fail_high_p95"), baseline=fixture("pass"))
    tags = parse(html)
    assert not [attrs for tag, attrs in tags if "src" in attrs or (tag == "link")]
    hrefs = [attrs["href"] for _, attrs in tags if "href" in attrs]
    assert hrefs == []
    (csp,) = [attrs["content"] for tag, attrs in tags if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp.startswith("default-src 'none'")
    assert not re.search(r"https?://(?!127\.0\.0\.1)", html.replace("http://www.w3.org/2000/svg", ""))


def test_report_sections_and_verdict():
    html = render_report(fixture("fail_high_error_rate"))
    ids = {attrs.get("id") for _, attrs in parse(html)}
    assert {"thresholds", "measurements", "endpoints", "bottlenecks", "no-baseline", "indexes-section"} <= ids
    assert {"chart-users", "chart-rps", "chart-latency", "chart-errors", "chart-db"} <= ids
    assert '<span class="badge fail" id="verdict">FAIL</span>' in html
    assert 'data-key="api.errors"' in html and 'data-key="database.connection-pool"' in html


def test_untrusted_names_are_escaped():
    results = fixture("pass")
    results["run_id"] = "<script>alert(1)</script>"
    results["endpoints"]["GET /x?<img src=x onerror=alert(1)>"] = results["endpoints"][
        "GET /static/js/app.js"
    ]
    html = render_report(results)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_chart_breaks_lines_at_gaps_and_draws_the_slo():
    svg = line_chart(
        "db", [Series("db p95", [(0, 10.0), (5, None), (10, 30.0), (15, 20.0)], "#000")], "ms", (100, "SLO")
    )
    (path,) = re.findall(r'<path class="series" d="([^"]+)"', svg)
    assert path.count("M") == 2 and path.count("L") == 1
    assert 'class="slo"' in svg
    assert "no data" in line_chart("empty", [Series("x", [], "#000")])


def test_nice_ticks_cover_the_maximum():
    assert nice_ticks(87) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(1.1)[-1] >= 1.1


def test_comparison_with_baseline():
    current, baseline = fixture("fail_slow_database"), fixture("pass")
    assert comparable(current, baseline)
    rows = {row.label: row for row in compare_runs(current, baseline)}
    assert rows["Database query P95"].change == "worse"
    assert rows["Throughput"].change == "same"
    endpoint_rows = {row.label: row.change for row in compare_endpoints(current, baseline)}
    assert endpoint_rows["GET /api/insight/issues"] == "worse"
    assert endpoint_rows["GET /static/js/app.js"] == "same"
    baseline["profile"]["max_users"] = 1200
    assert not comparable(current, baseline)
    assert "another profile" in render_report(current, baseline=baseline)


def test_a_run_that_never_measured_anything_still_gets_a_report():
    results = {
        "schema_version": "1.0",
        "run_id": "r-empty",
        "metrics": {},
        "endpoints": {},
        "timeline": [],
        "status": "failed",
        "abort_reason": "the fleet did not start",
        "errors": [],
    }
    html = render_report(results)
    assert '<span class="badge no-data" id="verdict">NO-DATA</span>' in html
    assert "Aborted: the fleet did not start" in html
    assert html.count(">no data</text>") == 5  # every chart says so instead of drawing a line
