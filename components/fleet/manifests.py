"""Kubernetes manifests of the Locust fleet (pure: dictionaries in, dictionaries out).

The fleet is one master Job, one worker Job running N pods in parallel, and ConfigMaps
carrying the suite configuration and (optionally) the ``loadtests/`` code; its Services and
NetworkPolicies are in ``components/fleet/network.py``. Pods run as a non-root user on a
read-only root filesystem, and the Jobs delete themselves (``ttlSecondsAfterFinished``) and
cannot outlive ``activeDeadlineSeconds``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.observability_values import (
    FLEET_APP_LABEL,
    FLEET_METRICS_PORT,
    METRICS_PORT_NAME,
)
from loadtests.results.document import ResultsError, parse_document

__all__ = [
    "CONFIGMAP_LIMIT_BYTES",
    "ContainerResources",
    "FleetSpec",
    "code_configmap_data",
    "fleet_labels",
    "loadtests_code_files",
    "master_command",
    "master_job",
    "resource_names",
    "resource_names_for",
    "results_from_log",
    "run_slug",
    "suite_config_for_kubernetes",
    "worker_job",
    "worker_metrics_ports",
]

CONFIGMAP_LIMIT_BYTES = 1_000_000  # etcd's 1 MiB object limit, minus room for metadata
CODE_DIR = "/opt/odavl"
SCENARIO_HARNESS = "loadtests/suite/harness.py"
CONFIG_DIR = "/etc/odavl"
SUITE_CONFIG_KEY = "suite.json"
RESULTS_PATH = "/tmp/odavl/results.json"
# The master prints the results document after this line, so the fleet controller can read
# it from the pod log once the Job ends (the pod's filesystem is gone by then).
RESULTS_MARKER = "----- odavl-perf results document -----"
PROGRESS_PATH = "/dev/stdout"
USERS_KEY = "users.json"
RUN_AS_USER = 10001  # the fleet image's own user (images/fleet/Containerfile)


@dataclass(frozen=True)
class ContainerResources:
    """Requests and limits of one container (Kubernetes quantities)."""

    cpu_request: str = "500m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class FleetSpec:
    """Everything the manifests depend on; see ``LoadGeneratorFleetArgs`` for field meanings."""

    namespace: str
    run_id: str
    workers: int
    image: str
    target_url: str
    target_cidrs: tuple[str, ...]
    target_ports: tuple[int, ...]
    target_namespace: str | None = None
    monitoring_namespace: str | None = None
    influxdb_export: bool = False
    code_from_configmap: bool = True
    users_secret: str | None = None
    locustfile: str = "loadtests/suite/locustfile.py"
    # A scenario of the user's own (relative path, shipped with the code): run after the harness.
    scenario: str | None = None
    master_port: int = 5557
    metrics_port: int = FLEET_METRICS_PORT
    active_deadline_seconds: int = 3600
    ttl_seconds_after_finished: int = 600
    master_resources: ContainerResources = field(default_factory=ContainerResources)
    worker_resources: ContainerResources = field(default_factory=ContainerResources)
    extra_args: tuple[str, ...] = ()
    # Pods on the node's network (a single-node cluster whose target is on the node's loopback):
    # workers reach the master at 127.0.0.1 and every pod binds a metrics port of its own.
    host_network: bool = False


def run_slug(text: str, limit: int = 40) -> str:
    """``text`` as a DNS-1123 label fragment of at most ``limit`` characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "run"


def resource_names(spec: FleetSpec) -> dict[str, str]:
    """DNS-1123 names of the fleet's objects for this run (at most 63 characters)."""
    return resource_names_for(spec.run_id)


def resource_names_for(run_id: str) -> dict[str, str]:
    """``resource_names`` from the run id alone."""
    run = run_slug(run_id, 40)
    return {
        "master": f"locust-master-{run}",
        "worker": f"locust-worker-{run}",
        "code": f"locust-code-{run}",
        "config": f"locust-config-{run}",
        "egress": f"locust-egress-{run}",
        "ingress": f"locust-ingress-{run}",
        "users": f"locust-users-{run}",
        "service_account": "locust-fleet",
    }


def fleet_labels(spec: FleetSpec, component: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": FLEET_APP_LABEL,
        "app.kubernetes.io/instance": run_slug(spec.run_id, 63),
        "app.kubernetes.io/part-of": "odavl-perf",
    }
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def loadtests_code_files(root: Path, scenario: str | None = None) -> dict[str, str]:
    """The suite's files (``loadtests/**/*.py``, schemas, scripts), and the scenario locustfile
    when there is one, keyed by path relative to ``root``."""
    files = {}
    for path in sorted((root / "loadtests").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".js") and "__pycache__" not in path.parts:
            files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    if scenario:
        files[scenario] = (root / scenario).read_text(encoding="utf-8")
    return files


def locustfile_argument(spec: FleetSpec) -> str:
    """Locust's ``-f`` in the pods: the suite, or the harness then the scenario (see
    loadtests/suite/harness.py)."""
    if spec.scenario:
        return f"{CODE_DIR}/{SCENARIO_HARNESS},{CODE_DIR}/{spec.scenario}"
    return f"{CODE_DIR}/{spec.locustfile}"


def code_configmap_data(files: Mapping[str, str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """ConfigMap ``data`` (flat keys) and the volume ``items`` mapping keys back to paths.

    Raises ValueError when the code does not fit in one ConfigMap.
    """
    data = {path.replace("/", "__"): content for path, content in files.items()}
    size = sum(len(key) + len(value.encode()) for key, value in data.items())
    if size > CONFIGMAP_LIMIT_BYTES:
        raise ValueError(
            f"loadtests code is {size} bytes, more than a ConfigMap holds ({CONFIGMAP_LIMIT_BYTES}); "
            "set code_from_configmap=False and bake the code into the pinned image"
        )
    items = [{"key": key, "path": path} for key, path in zip(data, files, strict=True)]
    return data, items


def suite_config_for_kubernetes(suite_config_json: str, spec: FleetSpec) -> str:
    """The suite configuration with the pod-side settings the fleet depends on: results on
    the pod's scratch volume, and every exporter on the metrics port of its own pod."""
    config = json.loads(suite_config_json)
    config["results_path"] = RESULTS_PATH
    # The master's progress lines go to its log, where the fleet controller reads the newest.
    config["progress_path"] = PROGRESS_PATH
    config["prometheus"] = {
        **config.get("prometheus", {}),
        "enabled": True,
        "host": "127.0.0.1" if spec.host_network else "0.0.0.0",
        "master_port": spec.metrics_port,
        # Each pod has its own IP, so all workers share one port number (worker-0 ... worker-N);
        # pods on the node's network share its ports, so each takes the next one.
        "worker_ports": worker_metrics_ports(spec),
    }
    return json.dumps(config, indent=2, sort_keys=True)


def worker_metrics_ports(spec: FleetSpec) -> list[int]:
    """The metrics port of worker-0 ... worker-N (JOB_COMPLETION_INDEX picks one)."""
    if spec.host_network:
        return [spec.metrics_port + 1 + index for index in range(spec.workers + 1)]
    return [spec.metrics_port] * (spec.workers + 1)


def results_from_log(log: str) -> dict[str, Any] | None:
    """The results document the master printed after ``RESULTS_MARKER``; None when it printed
    none or what follows the marker is not a valid results document."""
    _, marker, tail = log.rpartition(RESULTS_MARKER)
    if not marker:
        return None
    try:
        return parse_document(tail.strip(), "the results document in the master's log")
    except ResultsError:
        return None


def master_command(results_path: str = RESULTS_PATH) -> list[str]:
    """Run Locust with the given args, keep its exit code, then print the results document."""
    script = (
        f'mkdir -p {results_path.rsplit("/", 1)[0]}; locust "$@"; code=$?; '
        f'echo "{RESULTS_MARKER}"; cat {results_path}; exit $code'
    )
    return ["/bin/sh", "-c", script, "locust"]


def _container(spec: FleetSpec, component: str, args: list[str]) -> dict[str, Any]:
    # Indexed Jobs number their pods; the suite names workers "worker-<index>".
    worker_id = "master" if component == "master" else "worker-$(JOB_COMPLETION_INDEX)"
    env = [
        {"name": "PYTHONPATH", "value": CODE_DIR},
        {"name": "HOME", "value": "/tmp"},
        {"name": "ODAVL_LOADTEST_CONFIG", "value": f"{CONFIG_DIR}/{SUITE_CONFIG_KEY}"},
    ]
    if component != "master":
        env.append(
            {
                "name": "JOB_COMPLETION_INDEX",
                "valueFrom": {
                    "fieldRef": {
                        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                    }
                },
            }
        )
    env.append({"name": "ODAVL_LOADTEST_WORKER_ID", "value": worker_id})
    if spec.users_secret:
        env.append(
            {
                "name": "ODAVL_LOADTEST_USERS",
                "valueFrom": {"secretKeyRef": {"name": spec.users_secret, "key": USERS_KEY}},
            }
        )
    ports = [{"name": METRICS_PORT_NAME, "containerPort": spec.metrics_port, "protocol": "TCP"}]
    if component == "master":
        ports.append({"name": "master", "containerPort": spec.master_port, "protocol": "TCP"})
    elif spec.host_network:
        # A declared port of a host-network pod is a host port: N workers declaring the same
        # one could not share the node. Each binds worker_metrics_ports()[index] instead.
        ports = []
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
    ]
    if spec.code_from_configmap:
        mounts.append({"name": "code", "mountPath": CODE_DIR, "readOnly": True})
    resources = spec.master_resources if component == "master" else spec.worker_resources
    command = master_command() if component == "master" else ["locust"]
    return {
        "name": "locust",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "args": args,
        "workingDir": CODE_DIR,
        "env": env,
        "ports": ports,
        "resources": resources.as_dict(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _pod_template(
    spec: FleetSpec, component: str, args: list[str], code_items: list[dict[str, str]]
) -> dict[str, Any]:
    names = resource_names(spec)
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "config", "configMap": {"name": names["config"]}},
    ]
    if spec.code_from_configmap:
        volumes.append({"name": "code", "configMap": {"name": names["code"], "items": code_items}})
    return {
        "metadata": {"labels": fleet_labels(spec, component)},
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": names["service_account"],
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_USER,
                "fsGroup": RUN_AS_USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [_container(spec, component, args)],
            "volumes": volumes,
            **({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"} if spec.host_network else {}),
        },
    }


def _job(spec: FleetSpec, component: str, parallel: int, args: list[str], items: list[dict]) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": resource_names(spec)[component],
            "namespace": spec.namespace,
            "labels": fleet_labels(spec, component),
        },
        "spec": {
            "parallelism": parallel,
            "completions": parallel,
            "completionMode": "Indexed",
            # A lost load generator is reported by the master, not silently replaced mid-run;
            # the other workers go on: one failed index does not fail (and stop) the whole Job
            # until every worker has failed.
            **(
                {"backoffLimitPerIndex": 0, "maxFailedIndexes": parallel - 1}
                if component == "worker"
                else {"backoffLimit": 0}
            ),
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": _pod_template(spec, component, args, items),
        },
    }


def master_job(spec: FleetSpec, code_items: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The Locust master: waits for every worker, drives the shape, writes the results."""
    args = [
        "-f",
        locustfile_argument(spec),
        "--master",
        "--headless",
        "--only-summary",  # the log holds progress lines and the results, not a table every 2 s
        "--master-bind-port",
        str(spec.master_port),
        "--expect-workers",
        str(spec.workers),
        "--expect-workers-max-wait",
        "300",
        "--host",
        spec.target_url,
        # A failed request is the thresholds' business: the master's exit code (and so its
        # Job's state) says whether the run itself worked, as in the local runner.
        "--exit-code-on-error",
        "0",
        *spec.extra_args,
    ]
    return _job(spec, "master", 1, args, code_items or [])


def worker_job(spec: FleetSpec, code_items: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """N workers in parallel, each connecting to the master Service."""
    args = [
        "-f",
        locustfile_argument(spec),
        "--worker",
        "--master-host",
        "127.0.0.1" if spec.host_network else resource_names(spec)["master"],
        "--master-port",
        str(spec.master_port),
        *spec.extra_args,
    ]
    return _job(spec, "worker", spec.workers, args, code_items or [])
