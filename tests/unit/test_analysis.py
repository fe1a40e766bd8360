"""loadtests/analysis (engine, model, bottlenecks, recommend, sources), `analyze` and its console text."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from indexes.suggestions import NamedQuery
from loadtests.__main__ import main
from loadtests.analysis.engine import analyze
from loadtests.analysis.recommend import is_static_endpoint
from loadtests.analysis.sources import (
    endpoint_key,
    endpoint_query_source,
    path_words,
    project_migration_indexes,
    reference_app_query_source,
    route_queries,
)
from loadtests.results.document import ResultsError, load_document, validate_document
from loadtests.slo.catalog import threshold_lines
from loadtests.slo.spec import ThresholdSpecError, parse_thresholds
from reference_app.queries import ALL_QUERIES

FIXTURES = Path(__file__).parents[1] / "fixtures" / "analysis"

# fixture -> (expected bottlenecks, expected recommendation keys)
EXPECTED: dict[str, tuple[set[tuple[str, str]], set[str]]] = {
    "pass": (set(), set()),
    "fail_high_p95": (
        {("high_p95", "GET /api/autopilot/runs")},
        {"api.read-path", "monitoring.latency-alerts"},
    ),
    "fail_high_p99": (
        {("high_p99", "GET /api/guardian/tests")},
        {"api.tail-latency", "monitoring.latency-alerts"},
    ),
    "fail_high_error_rate": (
        {("high_error_rate", "POST /api/auth/login")},
        {"api.errors", "database.connection-pool", "monitoring.error-alerts"},
    ),
    "fail_slow_database": (
        {("slow_database", "GET /api/insight/issues")},
        {"database.query-plans", "monitoring.slow-queries"},
    ),
    "fail_slow_ttfb": (
        {("slow_ttfb", "GET /static/js/app.js")},
        {"cdn.static-assets", "monitoring.latency-alerts"},
    ),
}


def fixture(name: str) -> dict:
    return load_document(FIXTURES / f"{name}.json")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_a_valid_results_document(name):
    validate_document(fixture(name))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_reports_exactly_the_expected_bottlenecks_and_recommendations(name):
    expected_bottlenecks, expected_recommendations = EXPECTED[name]
    analysis = analyze(fixture(name))
    assert {(item.category, item.endpoint) for item in analysis.bottlenecks} == expected_bottlenecks
    assert {item.key for item in analysis.recommendations} == expected_recommendations


@pytest.mark.parametrize("name", sorted(name for name in EXPECTED if name != "pass"))
def test_every_recommendation_cites_the_measurement_that_triggered_it(name):
    analysis = analyze(fixture(name))
    (bottleneck,) = analysis.bottlenecks
    for recommendation in analysis.recommendations:
        assert recommendation.area in ("database", "api", "cdn", "monitoring")
        assert any(
            bottleneck.endpoint in line and bottleneck.metric in line for line in recommendation.evidence
        )


def test_bottleneck_carries_value_and_configured_limit():
    (item,) = analyze(fixture("fail_slow_database")).bottlenecks
    assert item.value == 185.0
    assert item.limit.bound == 100.0
    assert item.requests == 3000
    assert "185.0 ms" in item.evidence and "< 100 ms" in item.evidence


def test_configured_thresholds_move_the_bottleneck_limits():
    thresholds = parse_thresholds(["http_req_duration: p(95)<200"])
    found = {(item.category, item.endpoint) for item in analyze(fixture("pass"), thresholds).bottlenecks}
    # every API endpoint of the passing run has a P95 between 200 and 300 ms; static assets do not
    assert ("high_p95", "GET /api/insight/issues") in found
    assert ("high_p95", "GET /static/js/app.js") not in found
    assert {category for category, _ in found} == {"high_p95"}


def test_endpoint_threshold_applies_to_that_endpoint_only():
    thresholds = parse_thresholds(
        [*threshold_lines(), "http_req_duration{endpoint:GET /api/insight/issues}: p(95)<200"]
    )
    found = {(item.category, item.endpoint) for item in analyze(fixture("pass"), thresholds).bottlenecks}
    assert found == {("high_p95", "GET /api/insight/issues")}


def test_rows_are_coloured_by_the_slo_evaluation():
    rows = {(row.section, row.label): row for row in analyze(fixture("fail_slow_database")).rows}
    assert rows[("Database", "Query P99")].status == "fail"
    assert rows[("Database", "Query P95")].status == "pass"
    assert rows[("Response time", "Max")].status == "info"
    assert rows[("Errors", "Success rate")].value == pytest.approx(1 - 13 / 12900)
    passing = analyze(fixture("pass"))
    assert {row.status for row in passing.rows} <= {"pass", "info", "no-data"}
    assert passing.verdict == "pass"


def test_warning_band_shows_as_warn():
    thresholds = parse_thresholds(["http_req_duration: p(95)<500 warn 200"])
    rows = {(row.section, row.label): row for row in analyze(fixture("pass"), thresholds).rows}
    assert rows[("Response time", "P95")].status == "warn"


def test_run_wide_lcp_over_its_slo_recommends_cdn_page_work():
    results = fixture("pass")
    results["metrics"]["web_vitals_lcp"]["p95"] = 3400.0
    analysis = analyze(results)
    assert [item.key for item in analysis.recommendations] == ["cdn.page-rendering"]
    assert "3,400 ms" in analysis.recommendations[0].evidence[0]


def test_results_without_endpoints_are_judged_as_a_whole():
    results = fixture("fail_slow_database")
    results["endpoints"] = {}
    results["metrics"]["db_query_duration"]["p95"] = 130.0
    found = {(item.category, item.endpoint) for item in analyze(results).bottlenecks}
    assert found == {("slow_database", "(all endpoints)")}


def test_slow_database_endpoint_gets_index_suggestions_from_its_queries():
    source = reference_app_query_source()
    assert source is not None
    existing = project_migration_indexes()
    analysis = analyze(fixture("fail_slow_database"), query_source=source, existing_indexes=existing)
    # the app serves GET /api/insight/issues with INSIGHT_ISSUES_RECENT_BY_ORG only
    assert [(index.name, index.queries) for index in analysis.indexes] == [
        ("idx_insight_issues_org_id_created_at", ("INSIGHT_ISSUES_RECENT_BY_ORG",))
    ]
    assert analysis.indexes[0].covered_by == "idx_insight_issues_org_created"
    (plans,) = [item for item in analysis.recommendations if item.key == "database.query-plans"]
    assert any("idx_insight_issues_org_created" in action for action in plans.actions)
    without_migration = analyze(fixture("fail_slow_database"), query_source=source)
    (plans,) = [item for item in without_migration.recommendations if item.key == "database.query-plans"]
    assert any(
        "Create the suggested indexes: idx_insight_issues_org_id_created_at" in a for a in plans.actions
    )


def test_an_unparsable_database_statement_becomes_a_note_and_the_rest_still_counts():
    statements = [
        # pg_stat_statements cuts long statements off at track_activity_query_size
        NamedQuery("pg_stat_statements:1", "SELECT id FROM runs WHERE org_id = $1 AND", "pg_stat_statements"),
        NamedQuery("pg_stat_statements:2", "SELECT id FROM runs WHERE org_id = $1", "pg_stat_statements"),
    ]
    analysis = analyze(fixture("pass"), statements=statements)
    assert [index.queries for index in analysis.indexes] == [("pg_stat_statements:2",)]
    assert [note for note in analysis.notes if "pg_stat_statements:1" in note] == [
        "index suggestions left out query pg_stat_statements:1: PostgreSQL cannot parse it: "
        "syntax error at end of input"
    ]


def test_route_mapping_follows_the_reference_apps_handlers():
    source = reference_app_query_source()
    assert [q.name for q in source("GET /api/insight/issues/:id")] == ["INSIGHT_ISSUE_DETAIL"]
    assert [q.name for q in source("GET /api/autopilot/runs/{run_id}")] == ["AUTOPILOT_RUN_STATUS"]
    assert "AUTH_USER_BY_EMAIL" in [q.name for q in source("POST /api/auth/login")]
    assert source("GET /static/js/app.js") == []


def test_route_queries_reads_handler_sources():
    def handler():
        return (queries.A_QUERY, queries.B_QUERY, queries.A_QUERY)  # noqa: F821

    class Route:
        path, endpoint, methods = "/x/{item_id}", handler, {"GET", "HEAD"}

    assert route_queries([Route()]) == {"GET /x/{}": ["A_QUERY", "B_QUERY"]}
    assert endpoint_key("GET /x/:id") == endpoint_key("GET /x/{item_id}") == "GET /x/{}"


def test_passing_run_suggests_no_indexes():
    assert analyze(fixture("pass"), query_source=endpoint_query_source(ALL_QUERIES)).indexes == []


def test_path_words_and_query_matching():
    assert path_words("GET /api/insight/issues/{id}") == ["insight", "issue"]
    source = endpoint_query_source(ALL_QUERIES)
    names = {query.name for query in source("GET /api/autopilot/runs")}
    assert names and all(name.startswith("AUTOPILOT_RUN") for name in names)
    explicit = endpoint_query_source(ALL_QUERIES, {"GET /x": ["HEALTH_CHECK", "NOT_A_QUERY"]})
    assert [query.name for query in explicit("GET /x")] == ["HEALTH_CHECK"]


def test_static_endpoint_detection():
    assert is_static_endpoint("GET /static/js/app.js")
    assert is_static_endpoint("GET /assets/logo.svg?v=3")
    assert not is_static_endpoint("GET /api/insight/issues")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON (line 1"),
        ("[1, 2]", "holds a JSON list"),
        ('{"schema_version": "1.0"}', "lacks run_id, metrics, endpoints"),
        ('{"schema_version": "2.0", "run_id": "r", "metrics": {}, "endpoints": {}}', 'expected "1.x"'),
    ],
)
def test_bad_results_files_are_named_with_the_problem(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultsError, match=re.escape(message)):
        load_document(path)


def test_unreadable_threshold_line_names_line_and_form():
    with pytest.raises(ThresholdSpecError) as caught:
        parse_thresholds(["http_req_duration: p(95)<500", "latency p95 under 500"], "--threshold")
    assert "--threshold line 2" in str(caught.value)


def test_cli_reads_thresholds_from_a_stack_file(tmp_path):
    stack = tmp_path / "Pulumi.test.yaml"
    stack.write_text("config:\n  odavl-perf:sloThresholds:\n    - 'db_query_duration: p(95)<30'\n")
    out = tmp_path / "analysis.json"
    code = main(
        [
            "analyze",
            str(FIXTURES / "pass.json"),
            "--no-export",
            "--stack-file",
            str(stack),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    exported = json.loads(out.read_text())
    assert {item["category"] for item in exported["bottlenecks"]} == {"slow_database"}
    # the five endpoints whose DB P95 is 30 ms or more (login: 12 ms; the static asset has no queries)
    assert len(exported["bottlenecks"]) == 5


def test_cli_reports_a_bad_stack_file_without_a_traceback(tmp_path, capsys):
    stack = tmp_path / "Pulumi.test.yaml"
    stack.write_text("config:\n  odavl-perf:sloThresholds:\n    - 'latency under 500'\n")
    code = main(["analyze", str(FIXTURES / "pass.json"), "--no-export", "--stack-file", str(stack)])
    output = " ".join(capsys.readouterr().out.split())
    assert code == 2
    assert "sloThresholds line 1" in output and "Traceback" not in output


def test_cli_writes_a_timestamped_text_report_and_json(tmp_path, capsys):
    out = tmp_path / "analysis"
    code = main(
        [
            "analyze",
            str(FIXTURES / "fail_high_error_rate.json"),
            "--output-dir",
            str(out),
            "--json",
            str(tmp_path / "analysis.json"),
        ]
    )
    assert code == 0
    (report,) = out.iterdir()
    assert re.fullmatch(r"analysis-analysis-fail-high-error-rate-\d{8}T\d{6}Z\.txt", report.name)
    text = report.read_text()
    assert "High error rate" in text and "POST /api/auth/login" in text
    assert "\x1b[" not in text  # plain text, no colour codes
    exported = json.loads((tmp_path / "analysis.json").read_text())
    assert [item["category"] for item in exported["bottlenecks"]] == ["high_error_rate"]
    assert exported["verdict"] == "fail"


def test_cli_reports_a_missing_file_without_a_traceback(tmp_path, capsys):
    code = main(["analyze", str(tmp_path / "missing.json"), "--no-export"])
    output = " ".join(capsys.readouterr().out.split())
    assert code == 2
    assert "does not exist" in output and "Traceback" not in output


def test_cli_threshold_option_overrides_defaults(tmp_path):
    out = tmp_path / "analysis.json"
    code = main(
        [
            *("analyze", str(FIXTURES / "pass.json"), "--no-export", "--json", str(out)),
            *("--threshold", "http_req_duration: p(95)<100"),
        ]
    )
    assert code == 0
    exported = json.loads(out.read_text())
    # the six API endpoints break 100 ms; the static asset (P95 30 ms) does not
    assert len(exported["bottlenecks"]) == 6
    assert {item["limit"] for item in exported["bottlenecks"]} == {"http_req_duration: p(95)<100"}


def test_cli_dsn_env_must_be_set(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ODAVL_TEST_DSN", raising=False)
    code = main(["analyze", str(FIXTURES / "pass.json"), "--no-export", "--dsn-env", "ODAVL_TEST_DSN"])
    assert code == 2
    assert "ODAVL_TEST_DSN" in capsys.readouterr().out


def test_analysis_does_not_modify_the_results_document():
    results = fixture("fail_slow_ttfb")
    before = copy.deepcopy(results)
    analyze(results)
    assert results == before


def test_console_colours_pass_green_and_fail_red():
    import io

    from rich.console import Console

    from loadtests.report.console import render

    buffer = io.StringIO()
    render(
        analyze(fixture("fail_slow_database")),
        Console(file=buffer, force_terminal=True, color_system="standard", width=200),
    )
    output = buffer.getvalue()
    assert "\x1b[1;31mFAIL" in output  # Query P99 breaks its SLO
    assert "\x1b[1;32mPASS" in output
    assert re.search(r"\x1b\[1;31m *259.0 ms", output)  # the failing value itself is red
