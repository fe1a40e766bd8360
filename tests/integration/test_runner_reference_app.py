"""The suite's seven user groups against the reference app, on a 2-worker local fleet.

One clean run: the merged totals equal the sum of the workers' and the number of requests the
app itself counted (its studiohub_http_requests_total). One run where a worker is killed
mid-run: the run still completes on the other worker and the results say which was lost.
"""

from __future__ import annotations

import os
import signal
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtests.results.document import validate_document
from loadtests.results.metrics import USER_GROUPS
from loadtests.run.config import RunConfig, TestUser
from loadtests.run.runner import run_local, start_fleet, wait_fleet
from loadtests.run.shape import Stage

pytestmark = pytest.mark.integration

NOT_LOAD = ("/healthz", "/metrics")


def app_request_count(base_url: str) -> int:
    """Requests the app answered, by its own counter, leaving out health checks and scrapes."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "studiohub_http_requests_total" and sample.labels["route"] not in NOT_LOAD:
                total += sample.value
    return int(total)


def fleet_config(app, db, tmp_path, hold_s: float) -> RunConfig:
    users = tuple(TestUser(email, db.test_password) for email in db.test_user_emails)
    return RunConfig(
        target=app.base_url,
        stages=(Stage(2, 14), Stage(hold_s, 14), Stage(1, 0)),
        workers=2,
        user_weights=dict.fromkeys(USER_GROUPS, 1),
        think_time_min_s=0.2,
        think_time_max_s=0.6,
        test_users=users,
        results_path=str(tmp_path / "results.json"),
        run_id="reference-app",
        stop_timeout_s=3.0,
        run_timeout_s=240,
        log_dir=str(tmp_path / "logs"),
    )


def test_two_workers_merged_totals_match_workers_and_app(reference_app, tmp_path):
    app, db = reference_app
    doc = run_local(fleet_config(app, db, tmp_path, hold_s=8))
    validate_document(doc)
    assert doc["status"] == "completed", doc["abort_reason"]
    requests = doc["metrics"]["http_reqs"]["count"]
    failures = doc["metrics"]["http_req_failed"]["passes"]
    assert requests > 50
    assert [w["state"] for w in doc["workers"]] == ["finished", "finished"]
    assert sum(w["requests"] for w in doc["workers"]) == requests
    assert sum(w["failures"] for w in doc["workers"]) == failures
    assert all(w["requests"] > 0 for w in doc["workers"])
    assert requests == app_request_count(app.base_url)
    # Every group ran, logins worked, and the checks held.
    assert set(doc["groups"]) == set(USER_GROUPS)
    assert doc["metrics"]["auth_failures"]["count"] == 0
    assert failures == 0, doc["errors"]
    assert doc["metrics"]["checks"]["rate"] == 1.0
    assert doc["metrics"]["db_query_duration"]["count"] > 0
    assert doc["metrics"]["api_response_time"]["count"] < requests  # static assets are not API calls
    assert sum(e["http_reqs"]["count"] for e in doc["endpoints"].values()) == requests


def test_killed_worker_is_reported_and_the_run_completes(reference_app, tmp_path):
    app, db = reference_app
    handle = start_fleet(fleet_config(app, db, tmp_path, hold_s=12))
    victim = handle.workers[1]
    seen: list[dict] = []

    def on_tick(progress: dict) -> None:
        seen.append(progress)
        if progress["t_s"] >= 6 and progress["requests"] > 0 and victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)

    doc = wait_fleet(handle, on_tick)
    assert victim.returncode == -signal.SIGKILL
    assert doc["status"] == "completed", doc["abort_reason"]
    states = {w["id"]: w["state"] for w in doc["workers"]}
    assert states == {"worker-1": "finished", "worker-2": "lost"}
    assert sum(w["requests"] for w in doc["workers"]) == doc["metrics"]["http_reqs"]["count"]
    assert any("worker-2 exited with code -9" in e for e in seen[-1]["events"])
    assert any(w["state"] == "lost" for p in seen for w in p["workers"])
    # The survivor kept working after the loss: requests kept arriving.
    after_loss = [p["requests"] for p in seen if any(w["state"] == "lost" for w in p["workers"])]
    assert after_loss[-1] > after_loss[0]
