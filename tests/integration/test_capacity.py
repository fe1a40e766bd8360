"""Acceptance: the capacity search finds a rate-limited target's known limit within 10 %.

The target (tests/integration/stalling_http.py) serves at most 80 requests per second (a token
bucket) and answers the rest 429 at once. The search starts at 20 per second, grows by half
each 10 s step while `http_req_failed: rate<0.01` holds, bisects between the last good and the
first bad rate to 5 %, and confirms the result with a hold; on two workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.results.document import load_document
from loadtests.results.open_model import open_model_summary
from loadtests.run.arrival import Executor
from loadtests.run.config import RunConfig
from loadtests.run.runner import run_local
from loadtests.slo import evaluate as slo
from tests.integration.stalling_http import RateLimitedServer

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT_PER_S = 80.0
THRESHOLD = "http_req_failed: rate<0.01"


@pytest.fixture(scope="module")
def capacity_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("capacity")
    with RateLimitedServer(LIMIT_PER_S) as target, pytest.MonkeyPatch.context() as env:
        env.setenv("PROBE_PATH", "/")
        env.setenv("PROBE_WAIT_MAX_S", "0")
        config = RunConfig(
            target=target.url,
            workers=2,
            locustfile=str(REPO_ROOT / "bench" / "locust_probe.py"),
            results_path=str(tmp_path / "capacity.json"),
            run_id="capacity",
            stop_timeout_s=5.0,
            executor=Executor(
                kind="capacity",
                rate=20,
                pre_allocated_users=10,
                max_users=100,
                capacity_max_rate=400,
                capacity_growth=1.5,
                capacity_precision=0.05,
                capacity_step_s=10.0,
                capacity_confirm_s=10.0,
            ),
            thresholds=(THRESHOLD,),
            run_timeout_s=600,
        )
        doc = run_local(config)
    assert doc["status"] == "completed", doc["abort_reason"]
    assert load_document(config.results_path) == doc  # written, and valid against the schema
    return doc


def test_the_found_capacity_is_the_known_limit(capacity_run):
    capacity = capacity_run["capacity"]
    assert capacity["confirmed"] is True, capacity["reason"]
    assert capacity["rate"] == pytest.approx(LIMIT_PER_S, rel=0.10)
    assert capacity["rate_per_s"] == capacity["rate"]  # time unit 1 s
    assert capacity["users"] >= 1
    first = capacity["first_break"]
    assert first["key"] == THRESHOLD
    assert first["rate"] > LIMIT_PER_S and first["value"] >= 0.01


def test_the_steps_grow_then_bisect_then_confirm(capacity_run):
    steps = capacity_run["capacity"]["steps"]
    kinds = [s["kind"] for s in steps]
    assert kinds[-1] == "confirm" and kinds.count("confirm") == 1
    rates = [s["rate"] for s in steps]
    assert rates[:4] == [20, 30, 45, 67.5]
    # Every step at or below the limit held; every one clearly above it broke.
    for step in steps:
        if step["rate"] <= LIMIT_PER_S * 0.98:
            assert step["ok"], step
        if step["rate"] >= LIMIT_PER_S * 1.03:
            assert not step["ok"], step
        assert step["achieved_rate"] == pytest.approx(step["rate"], rel=0.02)
        assert step["dropped_iterations"] == 0


def test_the_document_judges_the_rate_found(capacity_run):
    # The run's metrics are the confirming hold's: the gate passes at the capacity found.
    evaluation = slo.evaluate(capacity_run, slo.parse_thresholds([THRESHOLD]))
    assert evaluation.verdict == "pass"
    summary = open_model_summary(capacity_run)
    assert summary["executor"] == "capacity"
    assert summary["capacity"]["rate"] == capacity_run["capacity"]["rate"]
    assert summary["capacity"]["first_break"]["key"] == THRESHOLD
