"""The load-testing dashboard: the specification's rows, panels, variables and valid PromQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards import __main__ as generator
from dashboards.load_testing import dashboard_json
from dashboards.promql import PromQLError, expand, metric_names, parse
from tests.unit.observability_stacks import EXPORTED_SERIES

ROOT = Path(__file__).resolve().parents[2]

SPEC_ROWS = [
    "Overview",
    "Response Time Distribution",
    "Endpoint Performance",
    "Database Performance",
    "Web Vitals",
    "Error Analysis",
    "Virtual Users & Throughput",
    "Success vs Failure",
]
SPEC_PANELS = {
    "Overview": ["Total Requests", "Error Rate", "P95 Response Time", "Requests/Second"],
    "Endpoint Performance": ["Endpoint Response Times (P95)", "Requests by Endpoint"],
    "Database Performance": ["Database Query Duration (P95)", "Database Queries by Type"],
    "Web Vitals": [
        "LCP (Largest Contentful Paint)",
        "CLS (Cumulative Layout Shift)",
        "INP (Interaction to Next Paint)",
    ],
    "Error Analysis": ["Error Rate Over Time", "Failed Requests by Endpoint"],
    "Virtual Users & Throughput": ["Active Virtual Users", "Data Transferred"],
    "Success vs Failure": ["Request Success vs Failure", "Authentication Failures"],
}


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads((ROOT / "dashboards" / "load-testing.json").read_text())


def rows_with_panels(document: dict) -> dict[str, list[dict]]:
    """Panels grouped under the row that precedes them (uncollapsed rows)."""
    grouped: dict[str, list[dict]] = {}
    current = None
    for panel in document["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            grouped[current] = []
        else:
            assert current is not None, f"panel {panel['title']!r} sits above the first row"
            grouped[current].append(panel)
    return grouped


def all_queries(document: dict) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in document["panels"]
        for target in panel.get("targets", [])
    ]


def test_committed_json_matches_the_builder(committed):
    assert committed == json.loads(dashboard_json())
    assert generator.stale_files() == [], "run `python -m dashboards build`"


def test_stale_file_is_detected(tmp_path):
    target = tmp_path / "dashboard.json"
    target.write_text("{}")
    assert generator.stale_files({target: dashboard_json}) == [target]
    generator.build({target: dashboard_json})
    assert generator.stale_files({target: dashboard_json}) == []


def test_eight_rows_in_specification_order(committed):
    assert list(rows_with_panels(committed)) == SPEC_ROWS


def test_at_least_twenty_panels_with_the_specification_titles(committed):
    grouped = rows_with_panels(committed)
    assert sum(len(panels) for panels in grouped.values()) >= 20
    for row, titles in SPEC_PANELS.items():
        present = [panel["title"] for panel in grouped[row]]
        assert set(titles) <= set(present), f"row {row!r} lacks {set(titles) - set(present)}"
    assert len(grouped["Overview"]) == 4
    assert all(panel["type"] == "stat" for panel in grouped["Overview"])


def test_overview_thresholds_follow_the_specification(committed):
    overview = {panel["title"]: panel for panel in rows_with_panels(committed)["Overview"]}

    def steps(title):
        return [
            (step["value"], step["color"])
            for step in overview[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        ]

    assert steps("Total Requests") == [(None, "blue"), (10000, "green"), (100000, "yellow")]
    assert steps("Error Rate") == [(None, "green"), (1, "yellow"), (5, "red")]
    assert steps("P95 Response Time") == [(None, "green"), (500, "yellow"), (1000, "red")]
    assert steps("Requests/Second") == [(None, "blue"), (100, "green"), (1000, "yellow")]
    assert overview["P95 Response Time"]["fieldConfig"]["defaults"]["unit"] == "ms"
    assert overview["Requests/Second"]["fieldConfig"]["defaults"]["unit"] == "reqps"


def test_variables_and_refresh(committed):
    variables = {variable["name"]: variable for variable in committed["templating"]["list"]}
    assert set(variables) == {"environment", "endpoint"}
    assert variables["environment"]["query"] == "staging,production"
    endpoint = variables["endpoint"]
    assert endpoint["multi"] is True and endpoint["includeAll"] is True
    assert committed["refresh"] == "5s"
    assert committed["uid"] == "load-testing"


def test_every_query_parses_and_reads_only_exported_metrics(committed):
    queries = all_queries(committed)
    assert len(queries) >= 25
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{title}: query reads no metric"
        assert names <= EXPORTED_SERIES, f"{title}: unknown metrics {names - EXPORTED_SERIES}"


def test_request_queries_follow_the_variables(committed):
    for title, expr in all_queries(committed):
        assert 'environment=~"$environment"' in expr, title


def test_every_target_has_a_ref_id_and_the_prometheus_datasource(committed):
    for panel in committed["panels"]:
        for target in panel.get("targets", []):
            assert target["refId"], panel["title"]
            assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}


def test_expand_substitutes_grafana_macros():
    assert expand('rate(x{e=~"$endpoint"}[$__rate_interval])') == 'rate(x{e=~".*"}[1m])'
    assert expand("rate(x[${__rate_interval}])", {"__rate_interval": "30s"}) == "rate(x[30s])"


def test_unknown_variable_and_invalid_promql_are_reported():
    with pytest.raises(PromQLError, match=r"\$typo"):
        parse("sum(rate(x[$typo]))")
    with pytest.raises(PromQLError, match="invalid PromQL"):
        parse("sum(rate(x[5m])")


def test_committed_json_round_trips_through_the_sdk_model(committed):
    model = dashboard_model.Dashboard.from_json(committed)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == committed
