"""The `cluster` stack through the real Pulumi engine on the real local cluster: `pulumi up` (with
the policy pack, as scripts/up.sh runs it) creates the fleet's standing objects through the
pulumi-kubernetes provider, runs the staged test on master and worker pods of the cluster, and
exports its verdict; `pulumi destroy` leaves nothing in the cluster.

A throwaway copy of the project on its own namespace and free loopback ports, so it never
touches a developer's own `cluster` stack. The tests run in file order (up, then destroy).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from services.postgres import free_port
from tests.fixtures.engine import Engine
from tests.integration.cluster import CONTEXT, UP_TIMEOUT_SECONDS, cluster_kubeconfig
from tests.integration.kube_fleet import fleet_image

__all__ = ["cluster_kubeconfig"]  # the fixture, used by name below

pytestmark = [pytest.mark.integration, pytest.mark.engine, pytest.mark.timeout(UP_TIMEOUT_SECONDS + 1800)]

STACK = "cluster"
NAMESPACE = "odavl-perf-engine"


@pytest.fixture(scope="module")
def cluster_stack(pulumi_engine: Engine, tmp_path_factory: pytest.TempPathFactory, cluster_kubeconfig: Path):
    from tests.fixtures.engine import copy_project

    fleet_image()  # built and imported under Pulumi.cluster.yaml's fixed name, as up.sh does
    project = copy_project(tmp_path_factory.mktemp("engine-cluster") / "odavl-perf")
    engine = pulumi_engine
    engine.run("stack", "init", STACK, cwd=project)
    app_port, db_port = free_port(), free_port()
    settings = {
        "targetBaseUrl": f"http://127.0.0.1:{app_port}",
        "databasePort": str(db_port),
        "kubernetesNamespace": NAMESPACE,
        "kubernetesKubeconfig": str(cluster_kubeconfig),
        "loadRunId": "engine-cluster-1",
    }
    for key, value in settings.items():
        engine.run("config", "set", f"odavl-perf:{key}", value, "--stack", STACK, cwd=project)
    api = config.new_client_from_config(config_file=str(cluster_kubeconfig), context=CONTEXT)
    yield {"project": project, "engine": engine, "api": api}
    engine.run("destroy", "--yes", "--stack", STACK, cwd=project, check=False)
    engine.run("stack", "rm", "--yes", "--stack", STACK, cwd=project, check=False)
    api.close()


def outputs(stack: dict) -> dict:
    result = stack["engine"].run("stack", "output", "--json", "--stack", STACK, cwd=stack["project"])
    return json.loads(result.stdout)


def test_up_runs_the_staged_test_on_pods_of_the_cluster_and_exports_its_verdict(cluster_stack: dict) -> None:
    project = cluster_stack["project"]
    up = cluster_stack["engine"].run(
        "up", "--yes", "--stack", STACK, "--policy-pack", str(project / "policies"), cwd=project, check=False
    )
    out = outputs(cluster_stack)
    # A verdict from the thresholds. (Whether the latencies pass depends on what else this
    # two-core machine runs meanwhile, the cluster's own components included; the local stack's
    # tests judge the target's speed. Here the point is the run on the cluster.)
    assert out.get("verdict") in ("pass", "warn", "fail"), up.stdout[-4000:] + up.stderr[-2000:]
    if up.returncode != 0:
        assert out["verdict"] == "fail" and "SLO gate failed" in up.stdout, up.stdout[-4000:]
    assert {t["state"] for t in out["thresholds"]} <= {"pass", "warn", "fail"}
    assert out["summary"]["workers"] == 2
    assert out["summary"]["workers_lost"] == 0
    assert "load-test-run creating" in up.stdout and "stage " in up.stdout  # live progress rows
    results = json.loads(Path(out["resultsPath"]).read_text())
    assert results["status"] == "completed"
    assert results["metrics"]["http_reqs"]["count"] > 0

    # The run's Jobs ran on the cluster: a master and two workers, pods on the node's network.
    batch, core = client.BatchV1Api(cluster_stack["api"]), client.CoreV1Api(cluster_stack["api"])
    jobs = {job.metadata.name: job for job in batch.list_namespaced_job(NAMESPACE).items}
    assert {name.split("-")[1] for name in jobs} == {"master", "worker"}
    assert sorted(job.status.succeeded for job in jobs.values()) == [1, 2]
    pods = core.list_namespaced_pod(NAMESPACE).items
    assert len(pods) == 3
    assert all(pod.spec.host_network and pod.spec.node_name for pod in pods)
    assert {pod.spec.containers[0].image for pod in pods} == {"localhost/odavl-perf/fleet:local"}


def test_destroy_leaves_nothing_in_the_cluster(cluster_stack: dict) -> None:
    engine, project = cluster_stack["engine"], cluster_stack["project"]
    engine.run("destroy", "--yes", "--stack", STACK, cwd=project)
    core = client.CoreV1Api(cluster_stack["api"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            core.read_namespace(NAMESPACE)
        except ApiException as error:
            assert error.status == 404
            break
        time.sleep(1)
    else:
        raise AssertionError(f"namespace {NAMESPACE} still there 120 s after destroy")
    assert core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=odavl-perf").items == []
