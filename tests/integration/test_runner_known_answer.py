"""Known-answer test: a 2-worker run against a server with a known latency distribution.

bench/locust_target_server.py fixes each request's delay and status by its arrival number:
p95 = 1500 ms, p99 = 3000 ms, 5 % answered with 500. The merged statistics must find p95 and
p99 within 1 % of those values, count exactly the requests and errors the server saw, and agree
within 1 % with the exact percentiles of every raw sample the workers measured.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from bench.locust_target_server import PROBE_P95_MS, PROBE_P99_MS, probe_plan
from loadtests.results.document import load_document
from loadtests.run.config import RunConfig
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from tests.fixtures.metrics_servers import running_locust_target

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def exact_percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the definition HDR histograms approximate)."""
    rank = max(1, math.ceil(pct * len(sorted_values) / 100 - 1e-9))
    return sorted_values[rank - 1]


@pytest.fixture(scope="module")
def known_answer_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("known-answer")
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    with running_locust_target() as locust_target, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PROBE_RAW_DIR", str(raw_dir))
        monkeypatch.setenv("PROBE_PATH", "/probe")
        return _run(locust_target, tmp_path, raw_dir)


def _run(locust_target, tmp_path, raw_dir):
    config = RunConfig(
        target=locust_target.url,
        stages=(Stage(1, 20), Stage(12, 20), Stage(1, 0)),
        workers=2,
        locustfile=str(REPO_ROOT / "bench" / "locust_probe.py"),
        results_path=str(tmp_path / "results.json"),
        run_id="known-answer",
        stop_timeout_s=5.0,  # longer than the slowest answer: every request sent is completed
        run_timeout_s=180,
    )
    ticks: list[dict] = []
    doc = run_local(config, on_tick=ticks.append)
    raw = sorted(float(v) for f in raw_dir.glob("raw-*.txt") for v in f.read_text().split())
    return doc, raw, locust_target.stats(), ticks, config


def test_percentiles_and_error_rate_match_the_known_distribution(known_answer_run):
    doc, _raw, served, _ticks, _config = known_answer_run
    assert doc["status"] == "completed", doc["abort_reason"]
    duration = doc["metrics"]["http_req_duration"]
    assert duration["p95"] == pytest.approx(PROBE_P95_MS, rel=0.01)
    assert duration["p99"] == pytest.approx(PROBE_P99_MS, rel=0.01)
    # Every request the server answered was measured, and the injected errors exactly.
    requests = doc["metrics"]["http_reqs"]["count"]
    failed = doc["metrics"]["http_req_failed"]
    assert requests == served["probe"]
    assert failed["passes"] == served["probe_errors"]
    expected_errors = sum(1 for n in range(served["probe"]) if probe_plan(n)[1] == 500)
    assert failed["passes"] == expected_errors
    assert failed["rate"] == expected_errors / served["probe"]
    assert doc["metrics"]["error_rate"] == failed
    assert doc["metrics"]["checks"]["fails"] == expected_errors


def test_merged_percentiles_agree_with_exact_raw_samples(known_answer_run):
    doc, raw, _served, _ticks, _config = known_answer_run
    duration = doc["metrics"]["http_req_duration"]
    assert duration["count"] == len(raw) > 500
    for key, pct in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
        assert duration[key] == pytest.approx(exact_percentile(raw, pct), rel=0.01), key
    assert duration["max"] == pytest.approx(raw[-1], rel=0.01)
    assert duration["min"] == pytest.approx(raw[0], rel=0.01)
    assert duration["avg"] == pytest.approx(sum(raw) / len(raw), abs=0.001)


def test_document_totals_workers_and_timeline(known_answer_run):
    doc, _raw, _served, ticks, config = known_answer_run
    assert load_document(config.results_path) == doc  # written, and valid against the schema
    workers = doc["workers"]
    assert sorted(w["id"] for w in workers) == ["worker-1", "worker-2"]
    assert all(w["state"] == "finished" and w["requests"] > 0 for w in workers)
    assert sum(w["requests"] for w in workers) == doc["metrics"]["http_reqs"]["count"]
    assert sum(w["failures"] for w in workers) == doc["metrics"]["http_req_failed"]["passes"]
    endpoint = doc["endpoints"]["GET /probe"]
    assert endpoint["http_reqs"]["count"] == doc["metrics"]["http_reqs"]["count"]
    assert doc["groups"]["probe"]["http_req_duration"] == doc["metrics"]["http_req_duration"]
    assert doc["metrics"]["vus"]["max"] == 20
    timeline = doc["timeline"]
    assert len(timeline) >= 3
    assert sum(round(e["rps"] * 5) for e in timeline[1:-1]) <= doc["metrics"]["http_reqs"]["count"]
    assert all(
        b["t_s"] - a["t_s"] == pytest.approx(5.0, abs=0.01) for a, b in itertools.pairwise(timeline[1:])
    )
    assert {e["stage"] for e in timeline} >= {2}
    assert ticks and max(t["users"] for t in ticks) == 20
