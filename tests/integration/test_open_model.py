"""Acceptance: the open model measures a stalling target truthfully, the closed model does not.

The target (tests/integration/stalling_http.py) stalls every answer for 2 s once every 10 s and
records each request's arrival and answer. A 30 s constant-arrival-rate run at 50 iterations
per second on two workers must find, from each iteration's intended start, the p95 and p99 the
target measured (within 5 %), start the requested 1,500 iterations at the requested rate
(within 2 %, counted by the suite and by the target), and drop none. A closed-model run of about
the same throughput on the same target (three users, as a closed-model test at this rate would
have) hardly sees the stalls: its users wait them out instead of sending, so only one request
per user and stall is slow, and its p95 and p99 stay far below the truth (coordinated omission).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests.results.document import load_document
from loadtests.run.arrival import Executor
from loadtests.run.config import RunConfig
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from loadtests.slo import evaluate as slo
from tests.integration.stalling_http import StallingServer

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = str(REPO_ROOT / "bench" / "locust_probe.py")
RATE = 50
DURATION_S = 30


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct * len(ordered) / 100 - 1e-9)) - 1]


def _run(target: StallingServer, tmp_path: Path, name: str, **settings) -> tuple[dict, list]:
    before = len(target.served)
    config = RunConfig(
        target=target.url,
        workers=2,
        locustfile=PROBE,
        results_path=str(tmp_path / f"{name}.json"),
        run_id=name,
        stop_timeout_s=5.0,
        run_timeout_s=180,
        **settings,
    )
    doc = run_local(config)
    assert doc["status"] == "completed", doc["abort_reason"]
    assert load_document(config.results_path) == doc  # written, and valid against the schema
    return doc, target.served[before:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("open-model")
    with StallingServer(period_s=10.0, stall_s=2.0) as target, pytest.MonkeyPatch.context() as env:
        env.setenv("PROBE_PATH", "/")
        env.setenv("PROBE_WAIT_MAX_S", "0")
        executor = Executor(
            kind="constant-arrival-rate",
            rate=RATE,
            duration_s=DURATION_S,
            pre_allocated_users=20,
            max_users=200,
        )
        open_run = _run(target, tmp_path, "open", executor=executor)
        # About the same throughput in the closed model: 3 users thinking 0-0.1 s.
        env.setenv("PROBE_WAIT_MAX_S", "0.1")
        closed_run = _run(
            target, tmp_path, "closed", stages=(Stage(0.5, 3), Stage(DURATION_S, 3), Stage(0.5, 0))
        )
    return open_run, closed_run


def test_percentiles_from_the_intended_start_match_the_truth(runs):
    (doc, served), _closed = runs
    truth = [s.latency_ms for s in served]
    assert len(truth) == RATE * DURATION_S
    measured = doc["metrics"]["http_req_latency_intended"]
    assert measured["count"] == len(truth)
    for key, pct in (("p95", 95), ("p99", 99)):
        assert measured[key] == pytest.approx(nearest_rank(truth, pct), rel=0.05), key
    # The stalls are in the truth: a fifth of the requests wait up to 2 s.
    assert nearest_rank(truth, 95) > 1000 and nearest_rank(truth, 99) > 1500
    # The service time is recorded alongside, per request.
    assert doc["metrics"]["http_req_duration"]["count"] == len(truth)


def test_the_requested_rate_is_achieved_and_nothing_is_dropped(runs):
    (doc, served), _closed = runs
    executor = doc["executor"]
    assert executor["kind"] == "constant-arrival-rate"
    assert executor["planned_iterations"] == executor["started_iterations"] == RATE * DURATION_S
    assert executor["dropped_iterations"] == 0
    assert executor["achieved_rate_per_s"] == pytest.approx(RATE, rel=0.02)
    # The target's own count: arrivals spread over the schedule at the requested rate.
    arrivals = sorted(s.arrived for s in served)
    span = arrivals[-1] - arrivals[0] + 1.0 / RATE
    assert len(arrivals) / span == pytest.approx(RATE, rel=0.02)
    assert doc["metrics"]["iterations"]["count"] == RATE * DURATION_S
    assert doc["metrics"]["dropped_iterations"]["count"] == 0
    assert {w["id"] for w in doc["workers"]} == {"worker-1", "worker-2"}
    # The split is exact: each worker started half of the iterations.
    assert [w["requests"] for w in doc["workers"]] == [RATE * DURATION_S // 2] * 2


def test_dropped_iterations_and_the_intended_latency_are_gateable(runs):
    (doc, _served), _closed = runs
    thresholds = slo.parse_thresholds(
        [
            "dropped_iterations: count<1",
            "http_req_latency_intended: p(99)<1000",
            "http_req_duration: p(50)<500",
        ]
    )
    evaluation = slo.evaluate(doc, thresholds)
    assert [r.state for r in evaluation.results] == ["pass", "fail", "pass"]


def test_the_closed_model_shows_the_gap(runs):
    (open_doc, served), (closed_doc, _closed_served) = runs
    truth_p95 = nearest_rank([s.latency_ms for s in served], 95)
    truth_p99 = nearest_rank([s.latency_ms for s in served], 99)
    closed = closed_doc["metrics"]["http_req_duration"]
    assert "http_req_latency_intended" not in closed_doc["metrics"]
    assert "executor" not in closed_doc
    # Comparable throughput, but the stalls reach few of its samples.
    assert closed["count"] > 0.6 * RATE * DURATION_S
    assert closed["p95"] < 0.1 * truth_p95
    assert closed["p99"] < 0.2 * truth_p99
    # ... while the stalls are there: each of its users waited one out (the maximum shows it).
    assert closed["max"] > 1000
    assert open_doc["metrics"]["http_req_latency_intended"]["p99"] > 5 * closed["p99"]
