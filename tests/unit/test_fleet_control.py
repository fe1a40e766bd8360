"""FleetController against the in-memory fake and KubernetesFleetApi against httpx.MockTransport."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from components.fleet.control import (
    FleetApiError,
    FleetController,
    FleetStartError,
    KubernetesFleetApi,
    job_state,
)
from components.fleet.manifests import RESULTS_MARKER, master_job, results_from_log, worker_job
from tests.support.fakes import InMemoryFleetApi
from tests.unit.observability_stacks import fleet_args

SPEC = fleet_args("staging").spec()
MASTER, WORKERS = master_job(SPEC), worker_job(SPEC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def controller(api: InMemoryFleetApi) -> tuple[FleetController, FakeClock]:
    clock = FakeClock()
    return FleetController(api, clock=clock, sleep=clock.sleep, poll_interval_s=5), clock


def finishing_after(reads: int, master_condition: str = "Complete"):
    def script(name: str, count: int) -> dict:
        if count < reads:
            return {"active": 1}
        if name.startswith("locust-master"):
            return {"conditions": [{"type": master_condition, "status": "True"}]}
        return {"succeeded": SPEC.workers}

    return script


def test_job_state_reads_conditions_and_counters():
    assert job_state(None) == "missing"
    assert job_state({"status": {}}) == "pending"
    assert job_state({"status": {"active": 2}}) == "running"
    assert job_state({"spec": {"completions": 3}, "status": {"succeeded": 3}}) == "succeeded"
    assert job_state({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "failed"
    assert (
        job_state({"status": {"conditions": [{"type": "Complete", "status": "False"}], "active": 1}})
        == "running"
    )


# A valid results document, as the master writes it (the controller reads nothing less).
RESULTS = json.loads((Path(__file__).parents[1] / "fixtures" / "results_example.json").read_text())
MASTER_LOG = f"starting\n{RESULTS_MARKER}\n{json.dumps(RESULTS)}\n"


def test_run_starts_master_then_workers_and_awaits_the_master():
    api = InMemoryFleetApi(script=finishing_after(3), logs={MASTER["metadata"]["name"]: MASTER_LOG})
    fleet, _ = controller(api)
    outcome = fleet.run(MASTER, WORKERS, timeout_s=600)
    assert outcome.state == "succeeded"
    assert outcome.results == RESULTS
    assert outcome.elapsed_s == pytest.approx(10)
    assert list(api.jobs) == [
        (SPEC.namespace, MASTER["metadata"]["name"]),
        (SPEC.namespace, WORKERS["metadata"]["name"]),
    ]
    assert api.deleted == []  # finished Jobs clean themselves up (ttlSecondsAfterFinished)


def test_failed_master_is_reported_with_its_results_and_fleet_deleted():
    # A breached SLO ends the master with a non-zero exit code; the verdict is in the results.
    api = InMemoryFleetApi(
        script=finishing_after(2, master_condition="Failed"), logs={MASTER["metadata"]["name"]: MASTER_LOG}
    )
    outcome = controller(api)[0].run(MASTER, WORKERS, timeout_s=600)
    assert (outcome.state, outcome.master) == ("failed", "failed")
    assert outcome.results == RESULTS
    assert set(api.deleted) == {MASTER["metadata"]["name"], WORKERS["metadata"]["name"]}


def test_master_without_results_says_so():
    outcome = controller(InMemoryFleetApi(script=finishing_after(1)))[0].run(MASTER, WORKERS, timeout_s=600)
    assert outcome.results is None
    assert "no results document" in outcome.reason


def test_failed_workers_end_the_wait():
    def script(name: str, count: int) -> dict:
        if name.startswith("locust-worker"):
            return {"conditions": [{"type": "Failed", "status": "True"}]}
        return {"active": 1}

    outcome = controller(InMemoryFleetApi(script=script))[0].run(MASTER, WORKERS, timeout_s=600)
    assert outcome.state == "failed" and "worker" in outcome.reason


def test_timeout_stops_the_fleet():
    api = InMemoryFleetApi(script=lambda name, count: {"active": 1})
    outcome = controller(api)[0].run(MASTER, WORKERS, timeout_s=60)
    assert outcome.state == "timed_out"
    assert outcome.elapsed_s >= 60
    assert api.jobs == {}


def test_worker_creation_failure_leaves_nothing_running():
    api = InMemoryFleetApi(fail_create={WORKERS["metadata"]["name"]})
    with pytest.raises(FleetStartError, match="worker Job"):
        controller(api)[0].start(MASTER, WORKERS)
    assert api.jobs == {}


def test_kubernetes_api_speaks_the_jobs_rest_api():
    seen: list[tuple[str, str, dict | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        assert request.headers["Authorization"] == "Bearer token-value"
        if request.method == "POST":
            return httpx.Response(201, json=body)
        if request.method == "GET" and request.url.path.endswith("/gone"):
            return httpx.Response(404, json={})
        if request.method == "GET":
            return httpx.Response(200, json={"status": {"succeeded": 1}})
        return httpx.Response(200, json={})

    api = KubernetesFleetApi(
        "https://k8s.example:6443", "token-value", client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    api.create_job("ns", MASTER)
    assert job_state(api.read_job("ns", "job")) == "succeeded"
    assert api.read_job("ns", "gone") is None
    api.delete_job("ns", "job")
    assert [(method, path) for method, path, _ in seen] == [
        ("POST", "/apis/batch/v1/namespaces/ns/jobs"),
        ("GET", "/apis/batch/v1/namespaces/ns/jobs/job"),
        ("GET", "/apis/batch/v1/namespaces/ns/jobs/gone"),
        ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/job"),
    ]
    assert seen[0][2] == MASTER
    assert seen[-1][2]["propagationPolicy"] == "Background"


def test_kubernetes_api_reads_the_log_of_the_jobs_pod():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/namespaces/ns/pods":
            assert request.url.params["labelSelector"] == "job-name=master-job"
            return httpx.Response(200, json={"items": [{"metadata": {"name": "master-job-x1"}}]})
        assert request.url.path == "/api/v1/namespaces/ns/pods/master-job-x1/log"
        assert request.url.params["container"] == "locust"
        return httpx.Response(200, text=MASTER_LOG)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = KubernetesFleetApi("https://k8s.example", "t", client=client)
    assert results_from_log(api.read_job_log("ns", "master-job")) == RESULTS


def test_kubernetes_api_errors_are_fleet_errors():
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(403, text="forbidden"))
    )
    api = KubernetesFleetApi("https://k8s.example", "t", client=client)
    with pytest.raises(FleetApiError, match="HTTP 403"):
        api.create_job("ns", MASTER)
