"""A Locust fleet on the real local cluster (scripts/cluster.sh), for the tests that run one.

`fleet_image()` builds the project's fleet image (scripts/fleet_image.sh, cached) and imports it
under the `cluster` stack's fixed name. `standing_fleet(...)` creates what LoadGeneratorFleet
creates before a run (namespace, service account, suite and code ConfigMaps, test-user
Secret) with the official client, from the same pure functions of components/fleet/manifests.py,
and returns the run's master and worker Job manifests; `delete_namespace` removes it all.
Pods share the node's network and target the reference app on 127.0.0.1, as on the stack.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from components.fleet import manifests
from components.fleet.manifests import FleetSpec
from loadtests.run.arrival import Executor
from loadtests.run.config import SuiteConfig, open_model_stages
from loadtests.run.shape import Stage

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET_IMAGE = "localhost/odavl-perf/fleet:local"  # Pulumi.cluster.yaml's kubernetesFleetImage


def fleet_image() -> str:
    """Build the fleet image (cached per content) and import it as FLEET_IMAGE."""
    script = ["bash", str(REPO_ROOT / "scripts" / "fleet_image.sh")]
    build = subprocess.run([*script, "build"], capture_output=True, text=True, timeout=1800, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # The archive of the image just built (its tag is its content's: read it from the build).
    tag = build.stdout.strip().splitlines()[-1].rsplit(":", 1)[1]
    archive = REPO_ROOT / ".state" / "images" / f"fleet-{tag}.tar"
    load = subprocess.run(
        [
            "bash",
            str(REPO_ROOT / "scripts" / "cluster.sh"),
            "load-image",
            str(archive),
            FLEET_IMAGE,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-3000:]
    return FLEET_IMAGE


@dataclass(frozen=True)
class StandingFleet:
    namespace: str
    run_id: str
    spec: FleetSpec
    master_job: dict
    worker_job: dict


def _wait_for_default_service_account(core: client.CoreV1Api, namespace: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(namespace, field_selector="metadata.name=default").items:
            return
        time.sleep(0.5)
    raise AssertionError(f"namespace {namespace}: no default service account after 60 s")


def standing_fleet(
    api: client.ApiClient,
    image: str,
    target_url: str,
    test_users: list[dict[str, str]],
    stages: tuple[Stage, ...],
    workers: int = 2,
    executor: Executor | None = None,
) -> StandingFleet:
    """Create a fresh namespace holding a fleet's standing objects; returns its Jobs (not started)."""
    run_id = f"fault-{uuid.uuid4().hex[:6]}"
    namespace = f"odavl-{run_id}"
    port = int(target_url.rsplit(":", 1)[1])
    names = manifests.resource_names_for(run_id)
    spec = FleetSpec(
        namespace=namespace,
        run_id=run_id,
        workers=workers,
        image=image,
        target_url=target_url,
        target_cidrs=("127.0.0.1/32",),
        target_ports=(port,),
        users_secret=names["users"],
        host_network=True,
        active_deadline_seconds=600,
        ttl_seconds_after_finished=120,
    )
    suite = SuiteConfig(
        target=target_url,
        run_id=run_id,
        stack="cluster-faults",
        environment="local",
        profile=executor.kind if executor else "custom",
        stages=open_model_stages(executor) if executor else stages,
        executor=executor or Executor(),
        think_time_min_s=0.1,
        think_time_max_s=0.4,
        allowed_hosts=("127.0.0.1",),
    )
    code, code_items = manifests.code_configmap_data(manifests.loadtests_code_files(REPO_ROOT))
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    _wait_for_default_service_account(core, namespace)

    def meta(name: str) -> client.V1ObjectMeta:
        return client.V1ObjectMeta(name=name, namespace=namespace, labels=manifests.fleet_labels(spec))

    core.create_namespaced_service_account(
        namespace,
        client.V1ServiceAccount(
            metadata=meta(names["service_account"]), automount_service_account_token=False
        ),
    )
    config_data = {manifests.SUITE_CONFIG_KEY: manifests.suite_config_for_kubernetes(suite.to_json(), spec)}
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=meta(names["config"]), data=config_data)
    )
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=meta(names["code"]), data=code))
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=meta(names["users"]), string_data={manifests.USERS_KEY: json.dumps(test_users)}
        ),
    )
    return StandingFleet(
        namespace=namespace,
        run_id=run_id,
        spec=spec,
        master_job=manifests.master_job(spec, code_items),
        worker_job=manifests.worker_job(spec, code_items),
    )


def delete_namespace(api: client.ApiClient, namespace: str) -> None:
    client.CoreV1Api(api).delete_namespace(namespace, propagation_policy="Background")


def job_pods(api: client.ApiClient, namespace: str, job_name: str) -> list[client.V1Pod]:
    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"job-name={job_name}").items


def wait_for_running_pods(api: client.ApiClient, namespace: str, job_name: str, count: int) -> list[str]:
    """Names of the Job's pods once `count` of them run (120 s at most)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [
            pod.metadata.name for pod in job_pods(api, namespace, job_name) if pod.status.phase == "Running"
        ]
        if len(running) >= count:
            return running
        time.sleep(1)
    raise AssertionError(f"Job {namespace}/{job_name}: fewer than {count} running pods after 120 s")
