"""Runs on the real local cluster (scripts/cluster.sh): the faults, each a test (a worker pod
deleted mid-run, the master pod deleted, the API server unreachable at the start, the run past
its deadline, a cancel: the engine's first Ctrl-C), and an open-model run split across pods.
The fleet is the project's own image, its Jobs come from components/fleet/manifests.py, and the
controller and the provider's fleet runner are the code `pulumi up` runs; the target is the
reference app on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from components.fleet.control import FleetController
from components.fleet.kube_client import KubernetesFleetApi
from components.providers.loadtest_run import LoadTestRunError, _run_fleet
from loadtests.run.arrival import Executor
from loadtests.run.config import RunConfig
from loadtests.run.shape import Stage
from loadtests.slo.evaluate import evaluate
from loadtests.slo.spec import parse_thresholds
from services.postgres import free_port
from tests.integration.cluster import CONTEXT, UP_TIMEOUT_SECONDS, cluster_kubeconfig
from tests.integration.kube_fleet import (
    StandingFleet,
    delete_namespace,
    fleet_image,
    job_pods,
    standing_fleet,
    wait_for_running_pods,
)

__all__ = ["cluster_kubeconfig"]  # the fixture, used by name below

pytestmark = [pytest.mark.integration, pytest.mark.timeout(UP_TIMEOUT_SECONDS + 1800)]

# About 40 s of steady load: long enough for a fault in the middle, short enough for CI.
STEADY = (Stage(2, 4), Stage(36, 4), Stage(1, 0))


@pytest.fixture(scope="module")
def kube(cluster_kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cluster_kubeconfig), context=CONTEXT)
    yield api
    api.close()


@pytest.fixture(scope="module")
def image(cluster_kubeconfig: Path) -> str:
    return fleet_image()


@pytest.fixture
def fleet(kube, image, reference_app) -> Iterator[Callable[[], StandingFleet]]:
    app, db = reference_app
    users = [{"email": email, "password": db.test_password} for email in db.test_user_emails]
    made: list[StandingFleet] = []

    def make(executor: Executor | None = None) -> StandingFleet:
        made.append(standing_fleet(kube, image, app.base_url, users, STEADY, executor=executor))
        return made[-1]

    yield make
    for standing in made:
        delete_namespace(kube, standing.namespace)


def controller(kubeconfig: Path) -> FleetController:
    return FleetController(KubernetesFleetApi(kubeconfig, CONTEXT), poll_interval_s=1.0)


def left_in(kube: client.ApiClient, standing: StandingFleet) -> list[str]:
    jobs = client.BatchV1Api(kube).list_namespaced_job(standing.namespace).items
    pods = client.CoreV1Api(kube).list_namespaced_pod(standing.namespace).items
    return [f"Job {job.metadata.name}" for job in jobs] + [f"pod {pod.metadata.name}" for pod in pods]


def test_a_worker_pod_deleted_mid_run_is_lost_and_the_run_completes_on_the_other(
    kube, fleet, cluster_kubeconfig
):
    standing = fleet()
    ctl = controller(cluster_kubeconfig)
    ctl.start(standing.master_job, standing.worker_job)
    worker_job = standing.worker_job["metadata"]["name"]
    victim = sorted(wait_for_running_pods(kube, standing.namespace, worker_job, 2))[0]
    time.sleep(10)  # mid-run
    client.CoreV1Api(kube).delete_namespaced_pod(victim, standing.namespace, grace_period_seconds=0)

    outcome = ctl.wait(standing.master_job, standing.worker_job, timeout_s=300)
    assert outcome.state == "succeeded", outcome.reason
    assert outcome.workers_lost == (victim,)
    doc = outcome.results
    assert doc is not None and doc["status"] == "completed", doc and doc.get("abort_reason")
    assert sorted(worker["state"] for worker in doc["workers"]) == ["finished", "lost"]
    survivor = next(worker for worker in doc["workers"] if worker["state"] == "finished")
    assert survivor["requests"] > 0
    # The verdict is over what the survivor measured (the lost worker's last samples are gone).
    thresholds = parse_thresholds(["http_req_failed: rate<0.05", "checks: rate>0.95"])
    assert evaluate(doc, thresholds).verdict == "pass"


def test_the_master_pod_deleted_fails_the_run_clearly_cleans_up_and_a_rerun_succeeds(
    kube, fleet, cluster_kubeconfig, reference_app
):
    standing = fleet()
    fleet_props = {
        "kind": "kubernetes",
        "master_job": standing.master_job,
        "worker_job": standing.worker_job,
        "kubeconfig": str(cluster_kubeconfig),
        "context": CONTEXT,
    }
    config = RunConfig(target=reference_app[0].base_url, run_timeout_s=300)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _run_fleet(config, fleet_props)
        except LoadTestRunError as error:
            failure.append(error)

    runner = threading.Thread(target=run)
    runner.start()
    master_job = standing.master_job["metadata"]["name"]
    master = wait_for_running_pods(kube, standing.namespace, master_job, 1)[0]
    wait_for_running_pods(kube, standing.namespace, standing.worker_job["metadata"]["name"], 2)
    time.sleep(5)
    client.CoreV1Api(kube).delete_namespaced_pod(master, standing.namespace, grace_period_seconds=0)
    runner.join(timeout=240)
    assert not runner.is_alive()
    assert failure, "the run did not fail"
    message = str(failure[0])
    print(message)
    assert "the Kubernetes fleet ended failed without results" in message
    assert left_in(kube, standing) == []  # the controller deleted both Jobs and waited for them

    rerun = controller(cluster_kubeconfig).run(standing.master_job, standing.worker_job, timeout_s=300)
    assert rerun.state == "succeeded", rerun.reason
    assert rerun.results["status"] == "completed"


def test_an_unreachable_api_server_at_the_start_is_a_clear_error_and_creates_nothing(
    kube, fleet, cluster_kubeconfig, tmp_path
):
    standing = fleet()
    document = yaml.safe_load(cluster_kubeconfig.read_text())
    closed = f"https://127.0.0.1:{free_port()}"
    for cluster in document["clusters"]:
        cluster["cluster"]["server"] = closed
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(yaml.safe_dump(document))
    unreachable.chmod(0o600)
    fleet_props = {
        "kind": "kubernetes",
        "master_job": standing.master_job,
        "worker_job": standing.worker_job,
        "kubeconfig": str(unreachable),
        "context": CONTEXT,
    }
    started = time.monotonic()
    with pytest.raises(LoadTestRunError) as raised:
        _run_fleet(RunConfig(target="http://127.0.0.1:9", run_timeout_s=300), fleet_props)
    took = time.monotonic() - started
    message = str(raised.value)
    print(f"{message} (after {took:.1f} s)")
    assert f"the Kubernetes API server at {closed} is unreachable" in message
    assert "BEGIN" not in message and "client-key" not in message  # no credentials
    assert left_in(kube, standing) == []


def test_a_run_past_its_deadline_is_stopped_with_its_partial_results(kube, fleet, cluster_kubeconfig):
    standing = fleet()
    outcome = controller(cluster_kubeconfig).run(standing.master_job, standing.worker_job, timeout_s=25)
    assert outcome.state == "timed_out"
    assert "no result within 25 s" in outcome.reason
    doc = outcome.results
    assert doc is not None and doc["status"] == "interrupted", outcome.reason
    assert doc["metrics"]["http_reqs"]["count"] > 0
    assert left_in(kube, standing) == []


def test_a_cancel_stops_the_fleet_keeps_partial_results_and_leaves_no_job(kube, fleet, cluster_kubeconfig):
    standing = fleet()
    cancel = threading.Event()
    ctl = controller(cluster_kubeconfig)
    worker_job = standing.worker_job["metadata"]["name"]
    pressed: list[float] = []
    load_stopped: list[float] = []

    def press_when_running() -> None:
        wait_for_running_pods(kube, standing.namespace, worker_job, 2)
        time.sleep(10)
        pressed.append(time.monotonic())
        cancel.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and job_pods(kube, standing.namespace, worker_job):
            time.sleep(0.25)
        load_stopped.append(time.monotonic())  # no worker pod left: no load

    presser = threading.Thread(target=press_when_running)
    presser.start()
    outcome = ctl.run(standing.master_job, standing.worker_job, timeout_s=300, cancel=cancel)
    presser.join()
    gone_after = time.monotonic() - pressed[0]
    load_after = load_stopped[0] - pressed[0]
    print(f"after the cancel: workers gone in {load_after:.1f} s, the whole fleet in {gone_after:.1f} s")
    assert outcome.state == "cancelled"
    assert outcome.results is not None and outcome.results["status"] == "interrupted", outcome.reason
    assert outcome.results["metrics"]["http_reqs"]["count"] > 0
    assert job_pods(kube, standing.namespace, worker_job) == []
    assert left_in(kube, standing) == []
    assert load_after < 10  # the bound for stopping the load
    assert gone_after < 30


def test_a_constant_arrival_rate_run_is_split_across_the_worker_pods_and_exact_in_total(
    fleet, cluster_kubeconfig
):
    executor = Executor(
        kind="constant-arrival-rate", rate=10, duration_s=20, pre_allocated_users=4, max_users=20
    )
    standing = fleet(executor)
    outcome = controller(cluster_kubeconfig).run(standing.master_job, standing.worker_job, timeout_s=300)
    assert outcome.state == "succeeded", outcome.reason
    doc = outcome.results
    assert doc["status"] == "completed"
    print({key: doc["metrics"].get(key) for key in ("iterations", "dropped_iterations")})
    assert doc["metrics"]["iterations"]["count"] == 200  # 10/s for 20 s, from two pods
    assert doc["metrics"].get("dropped_iterations", {}).get("count", 0) == 0
    assert doc["metrics"]["http_req_latency_intended"]["count"] > 0
    assert sorted(worker["requests"] > 0 for worker in doc["workers"]) == [True, True]
