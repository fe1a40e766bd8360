"""The local cluster of scripts/cluster.sh runs a Job end to end: a host-network pod of a locally
imported image is scheduled, run by the kubelet and containerd (which needs the service-account
token and kube-root-ca.crt of the controller manager), completes, and its log is read through
the API server (which reaches the kubelet on the node IP)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.integration.cluster import CONTEXT, PAUSE_IMAGE, UP_TIMEOUT_SECONDS, cluster_kubeconfig

__all__ = ["cluster_kubeconfig"]  # the fixture, used by name below

pytestmark = [pytest.mark.integration, pytest.mark.timeout(UP_TIMEOUT_SECONDS + 300)]


@pytest.fixture
def namespace(cluster_kubeconfig: Path) -> Iterator[tuple[client.ApiClient, str]]:
    api = config.new_client_from_config(config_file=str(cluster_kubeconfig), context=CONTEXT)
    name = f"odavl-test-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield api, name
    finally:
        core.delete_namespace(name)
        api.close()


def _wait_for_service_account(core: client.CoreV1Api, namespace: str) -> None:
    # The controller manager creates `default` in every new namespace; pods are refused before.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(namespace, field_selector="metadata.name=default").items:
            return
        time.sleep(0.5)
    raise AssertionError(f"no default service account in {namespace} after 60s")


def test_a_host_network_job_completes_and_its_log_is_readable(
    namespace: tuple[client.ApiClient, str],
) -> None:
    api, ns = namespace
    core = client.CoreV1Api(api)
    batch = client.BatchV1Api(api)
    _wait_for_service_account(core, ns)
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="version"),
        spec=client.V1JobSpec(
            backoff_limit=0,
            ttl_seconds_after_finished=600,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    host_network=True,
                    restart_policy="Never",
                    containers=[
                        client.V1Container(
                            name="version",
                            image=PAUSE_IMAGE,
                            image_pull_policy="Never",
                            command=["/pause", "-v"],
                        )
                    ],
                )
            ),
        ),
    )
    batch.create_namespaced_job(ns, job)

    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:
        status = batch.read_namespaced_job_status("version", ns).status
        if status.succeeded or status.failed:
            break
        time.sleep(1)
    assert status is not None and status.succeeded == 1, f"the Job did not succeed in 180s: {status}"

    pods = core.list_namespaced_pod(ns, label_selector="job-name=version").items
    assert len(pods) == 1
    assert pods[0].spec.host_network is True
    log = core.read_namespaced_pod_log(pods[0].metadata.name, ns)
    assert log.strip() == f"odavl-pause {PAUSE_IMAGE.rsplit(':', 1)[1]}"
