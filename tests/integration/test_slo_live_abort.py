"""Integration: the live SLO check ends a real Locust run early and the results say why.

A loopback HTTP server answers every request with 500; the local fleet (a Locust master and one
worker, started by loadtests.run.runner) loads it through the LoadTestRun provider's `execute_run`,
with an abortOnFail threshold on the failure rate. The run must stop long before its profile
ends, be recorded as aborted with the threshold in its reason, and be judged as failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.providers.loadtest_run import execute_run
from loadtests import exit_codes
from tests.integration.loopback_http import serve

pytestmark = pytest.mark.integration

PROFILE_S = 120.0
ABORT_LINE = "http_req_failed: rate<0.05 abortOnFail delayAbortEval=2s"


@pytest.fixture
def failing_server() -> Iterator[str]:
    with serve(500) as url:
        yield url


def test_abort_on_fail_ends_the_run_early_and_records_why(failing_server: str, tmp_path: Path) -> None:
    props = {
        "run_id": "abort-1",
        "stack": "itest",
        "environment": "local",
        "target": failing_server,
        "allowed_hosts": ["127.0.0.1"],
        "profile": "staged",
        "max_users": 2,
        "time_scale": 1.0,
        "stages": [{"duration_s": 1.0, "target": 2}, {"duration_s": PROFILE_S, "target": 2}],
        "workers": 1,
        "think_time_min_s": 0.05,
        "think_time_max_s": 0.1,
        "user_weights": {"static_assets": 1},
        "thresholds": [ABORT_LINE, "http_req_duration: p(95)<5000"],
        "baseline": "previous",
        "reports_dir": str(tmp_path / "reports"),
        "fleet": {"kind": "local"},
        "max_duration_s": PROFILE_S + 60,
        "test_users": "[]",
    }
    outs = execute_run(props)

    assert outs["verdict"] == "fail"
    assert outs["exit_code"] == exit_codes.SLO_BREACHED
    summary = outs["summary"]
    assert summary["status"] == "aborted"
    assert (
        f"abortOnFail threshold 'http_req_failed: {ABORT_LINE.split(': ', 1)[1]}'" in summary["abort_reason"]
    )
    assert summary["duration_s"] < PROFILE_S  # stopped by the gate, not by the profile's end
    states = {item["key"]: item["state"] for item in outs["threshold_results"]}
    assert states[ABORT_LINE] == "fail"

    stored = json.loads(Path(outs["results_path"]).read_text())
    assert outs["results_path"] == str(tmp_path / "reports" / "itest" / "runs" / "abort-1.json")
    assert stored["status"] == "aborted"
    assert stored["abort_reason"] == summary["abort_reason"]
    assert stored["verdict"] == "fail"
    assert stored["metrics"]["http_req_failed"]["rate"] > 0.05
    assert Path(outs["report_path"]).read_text().startswith("<!DOCTYPE html>")
