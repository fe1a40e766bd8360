"""Measured endpoint baselines (loadtests/results/endpoint_baselines.py): taken from a results document,
kept in docs/endpoint_baselines.json, rendered into docs/SLO_BASELINES.md section 5."""

from __future__ import annotations

import copy
import json
import re

import pytest

from loadtests.results.endpoint_baselines import (
    EndpointBaselineError,
    baselines_from_results,
    check_baselines,
    read_baselines,
)
from loadtests.slo import catalog as slo_catalog
from tests.fixtures.endpoint_results import results_with_endpoints
from tools.slo_doc import BASELINES_PATH, DOC_PATH, main, render

SLO_ENDPOINTS = [e.endpoint for e in slo_catalog.ENDPOINT_SLOS]


def endpoint_rows(text: str) -> dict[str, list[str]]:
    """Section 5's table: endpoint -> its other cells."""
    section = text.split("## 5. Endpoint SLOs", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_baselines_are_the_endpoints_merged_percentiles() -> None:
    doc = results_with_endpoints({"GET /api/guardian/tests/by-url": 90.0})
    data = baselines_from_results(doc, SLO_ENDPOINTS, "test conditions")
    assert list(data["endpoints"]) == SLO_ENDPOINTS
    section = doc["endpoints"]["GET /api/guardian/tests/by-url"]
    requests, failed = section["http_req_duration"]["count"], section["http_req_failed"]["passes"]
    row = data["endpoints"]["GET /api/guardian/tests/by-url"]
    assert row == {"requests": requests, "failed": failed, "p50_ms": 30.0, "p95_ms": 90.0, "p99_ms": 126.0}
    assert data["run"] == {
        "run_id": doc["run_id"],
        "started_at": doc["started_at"],
        "duration_s": doc["duration_s"],
        "profile": doc["profile"]["name"],
        "peak_users": max(stage["target"] for stage in doc["profile"]["stages"]),
        "stages": doc["profile"]["stages"],
        "workers": len(doc["workers"]),
        "target": doc["target"],
        "conditions": "test conditions",
    }
    assert check_baselines(data, "measured") is data


def test_an_endpoint_without_requests_is_refused_by_name() -> None:
    doc = results_with_endpoints()
    del doc["endpoints"]["POST /api/autopilot/runs"]
    doc["endpoints"]["GET /api/insight/issues/search"]["http_req_duration"]["count"] = 0
    with pytest.raises(EndpointBaselineError) as caught:
        baselines_from_results(doc, SLO_ENDPOINTS)
    message = str(caught.value)
    assert "POST /api/autopilot/runs: no requests in this run" in message
    assert "GET /api/insight/issues/search: no requests in this run" in message


def test_a_failing_endpoint_or_an_aborted_run_is_refused() -> None:
    doc = results_with_endpoints()
    doc["endpoints"]["GET /api/autopilot/runs"]["http_req_duration"]["count"] = 3000
    doc["endpoints"]["GET /api/autopilot/runs"]["http_req_failed"] = {
        "type": "rate",
        "passes": 40,
        "fails": 2960,
        "rate": 40 / 3000,
    }
    expected = r"GET /api/autopilot/runs: 40 of 3000 requests failed; expected"
    with pytest.raises(EndpointBaselineError, match=expected):
        baselines_from_results(doc, SLO_ENDPOINTS)
    aborted = {**results_with_endpoints(), "status": "aborted", "abort_reason": "http_req_failed breached"}
    with pytest.raises(EndpointBaselineError, match=r"status 'aborted' \(http_req_failed breached\)"):
        baselines_from_results(aborted, SLO_ENDPOINTS)


def test_a_malformed_baseline_file_names_the_field() -> None:
    data = baselines_from_results(results_with_endpoints(), SLO_ENDPOINTS)
    broken = copy.deepcopy(data)
    broken["endpoints"]["GET /api/insight/issues"]["p95_ms"] = "fast"
    del broken["run"]["started_at"]
    with pytest.raises(EndpointBaselineError) as caught:
        check_baselines(broken, "baselines.json")
    message = str(caught.value)
    assert "run.started_at: missing" in message
    assert (
        "endpoints['GET /api/insight/issues']" in message and "expected p50_ms, p95_ms and p99_ms" in message
    )


def test_from_results_writes_the_file_and_the_document(tmp_path) -> None:
    results = tmp_path / "results.json"
    run = results_with_endpoints({"GET /api/autopilot/runs/:id": 42.0})
    results.write_text(json.dumps(run))
    baselines, doc = tmp_path / "baselines.json", tmp_path / "SLO.md"
    argv = ["--from-results", str(results), "--conditions", "a test run", "--baselines", str(baselines)]
    assert main([*argv, "--output", str(doc)]) == 0
    assert read_baselines(baselines)["endpoints"]["GET /api/autopilot/runs/:id"]["p95_ms"] == 42.0
    text = doc.read_text()
    assert endpoint_rows(text)["GET /api/autopilot/runs/:id"] == [
        "Autopilot",
        str(run["endpoints"]["GET /api/autopilot/runs/:id"]["http_req_duration"]["count"]),
        "14 ms",
        "42 ms",
        "58.8 ms",
        "150 ms",
    ]
    assert f"Measured in run `{run['run_id']}` on {run['started_at'][:10]}" in text and "a test run" in text
    assert main(["--check", "--baselines", str(baselines), "--output", str(doc)]) == 0


def test_from_results_refuses_a_run_missing_an_endpoint(tmp_path, capsys) -> None:
    doc = results_with_endpoints()
    del doc["endpoints"]["GET /api/guardian/tests/by-status"]
    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc))
    baselines = tmp_path / "baselines.json"
    argv = ["--from-results", str(results), "--baselines", str(baselines), "--output", str(tmp_path / "d.md")]
    assert main(argv) == 2
    assert "GET /api/guardian/tests/by-status: no requests in this run" in capsys.readouterr().err
    assert not baselines.exists()


def test_committed_baselines_cover_every_slo_endpoint() -> None:
    data = read_baselines(BASELINES_PATH)
    assert list(data["endpoints"]) == SLO_ENDPOINTS
    assert data["run"]["peak_users"] > 0 and data["run"]["duration_s"] > 0


def test_committed_document_shows_the_committed_baselines() -> None:
    data = read_baselines(BASELINES_PATH)
    text = DOC_PATH.read_text(encoding="utf-8")
    rows = endpoint_rows(text)
    for slo in slo_catalog.ENDPOINT_SLOS:
        measured = data["endpoints"][slo.endpoint]
        assert rows[slo.endpoint] == [
            slo.service,
            str(measured["requests"]),
            *(f"{measured[key]:g} ms" for key in ("p50_ms", "p95_ms", "p99_ms")),
            f"{slo.target_p95_ms:g} ms",
        ], slo.endpoint
    run = data["run"]
    assert f"Measured in run `{run['run_id']}` on {run['started_at'][:10]}" in text
    assert f"profile `{run['profile']}`" in text and f"{run['peak_users']} users at the peak" in text
    assert f"{run['duration_s']:g} s, {run['workers']} Locust workers" in text


def test_document_without_a_measured_run_says_so() -> None:
    text = render(baselines={})
    assert "No measured run yet" in text
    assert set(endpoint_rows(text)) == set(SLO_ENDPOINTS)
    assert all(row[2] == "not measured" for row in endpoint_rows(text).values())
