"""Start and await a Kubernetes Locust fleet: what LoadTestRun calls for the k8s fleet.

``FleetController`` creates the master Job, then the worker Job (deleting the master again
if the workers cannot be created, so a failed start leaves nothing running), polls both Jobs
until the master finishes, a Job fails or the deadline passes, and stops the fleet on a
timeout. When the master ends it reads the results document the master printed to its log
(``FleetOutcome.results``, the same document ``loadtests.run.runner.run_local`` returns).
It talks to Kubernetes through the small ``FleetApi`` interface, which ``KubernetesFleetApi``
implements over the Kubernetes REST API with httpx (API server URL, bearer token, CA bundle;
``in_cluster()`` reads the pod's service account, ``from_kubeconfig()`` a kubeconfig context).
Its errors are defined in ``components/fleet/errors.py`` and re-exported here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from components.fleet.errors import FleetApiError, FleetError, FleetStartError
from components.fleet.kubeconfig import credentials_from_kubeconfig, ssl_context
from components.fleet.manifests import results_from_log

__all__ = [
    "FleetApi",
    "FleetApiError",
    "FleetController",
    "FleetError",
    "FleetOutcome",
    "FleetStartError",
    "KubernetesFleetApi",
    "job_state",
]

JobState = Literal["pending", "running", "succeeded", "failed", "missing"]


class FleetApi(Protocol):
    """The Job operations the controller needs."""

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> None: ...

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def delete_job(self, namespace: str, name: str) -> None: ...

    def read_job_log(self, namespace: str, name: str) -> str:
        """The log of the Job's (first) pod; empty when there is none."""
        ...


def job_state(job: dict[str, Any] | None) -> JobState:
    """Interpret a Job object's status (conditions first, then pod counters)."""
    if job is None:
        return "missing"
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if condition.get("status") == "True" and condition.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    completions = (job.get("spec") or {}).get("completions") or 1
    if status.get("succeeded", 0) >= completions:
        return "succeeded"
    if status.get("active", 0) or status.get("ready", 0):
        return "running"
    return "pending"


@dataclass(frozen=True)
class FleetOutcome:
    """How the fleet ended: ``state`` is the master's, unless the workers failed first."""

    state: Literal["succeeded", "failed", "timed_out"]
    master: JobState
    workers: JobState
    elapsed_s: float
    reason: str = ""
    results: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class FleetController:
    """Start, await and stop one run's master and worker Jobs."""

    api: FleetApi
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval_s: float = 2.0

    def start(self, master_job: dict[str, Any], worker_job: dict[str, Any]) -> None:
        namespace = master_job["metadata"]["namespace"]
        try:
            self.api.create_job(namespace, master_job)
        except FleetError as error:
            raise FleetStartError(f"master Job {master_job['metadata']['name']}: {error}") from error
        try:
            self.api.create_job(namespace, worker_job)
        except FleetError as error:
            self.api.delete_job(namespace, master_job["metadata"]["name"])
            raise FleetStartError(f"worker Job {worker_job['metadata']['name']}: {error}") from error

    def stop(self, master_job: dict[str, Any], worker_job: dict[str, Any]) -> None:
        for job in (worker_job, master_job):
            self.api.delete_job(job["metadata"]["namespace"], job["metadata"]["name"])

    def wait(self, master_job: dict[str, Any], worker_job: dict[str, Any], timeout_s: float) -> FleetOutcome:
        namespace = master_job["metadata"]["namespace"]
        started = self.clock()
        while True:
            master = job_state(self.api.read_job(namespace, master_job["metadata"]["name"]))
            workers = job_state(self.api.read_job(namespace, worker_job["metadata"]["name"]))
            elapsed = self.clock() - started
            if master in ("succeeded", "failed"):
                # A breached SLO also ends the master with a non-zero code: read the results
                # whichever way it ended.
                log = self.api.read_job_log(namespace, master_job["metadata"]["name"])
                results = results_from_log(log)
                reason = "" if results is not None else "the master printed no results document"
                return FleetOutcome(master, master, workers, elapsed, reason, results)
            if workers == "failed" or master == "missing":
                reason = "worker Job failed" if workers == "failed" else "master Job disappeared"
                return FleetOutcome("failed", master, workers, elapsed, reason)
            if elapsed >= timeout_s:
                return FleetOutcome(
                    "timed_out", master, workers, elapsed, f"no result within {timeout_s:g} s"
                )
            self.sleep(self.poll_interval_s)

    def run(self, master_job: dict[str, Any], worker_job: dict[str, Any], timeout_s: float) -> FleetOutcome:
        """Start the fleet and await it; a fleet that overruns ``timeout_s`` is deleted."""
        self.start(master_job, worker_job)
        outcome = self.wait(master_job, worker_job, timeout_s)
        if outcome.state != "succeeded":
            self.stop(master_job, worker_job)
        return outcome


class KubernetesFleetApi:
    """``FleetApi`` over the Kubernetes REST API (batch/v1 Jobs)."""

    SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")

    def __init__(
        self, server: str, token: str | None, client: httpx.Client | None = None, ca_file: str | None = None
    ):
        self._server = server.rstrip("/")
        self._client = client or httpx.Client(verify=ca_file or True, timeout=30.0)
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_kubeconfig(cls, path: Path | None = None, context: str = "") -> KubernetesFleetApi:
        """Use a kubeconfig context (``$KUBECONFIG`` or ~/.kube/config when ``path`` is None)."""
        path = path or Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")))
        credentials = credentials_from_kubeconfig(path, context)
        client = httpx.Client(verify=ssl_context(credentials), timeout=30.0)
        return cls(credentials.server, credentials.token, client=client)

    @classmethod
    def in_cluster(cls) -> KubernetesFleetApi:
        """Use the service account of the pod this runs in (CI runners on the cluster)."""
        token = (cls.SERVICE_ACCOUNT / "token").read_text().strip()
        return cls("https://kubernetes.default.svc", token, ca_file=str(cls.SERVICE_ACCOUNT / "ca.crt"))

    def _jobs_url(self, namespace: str, name: str = "") -> str:
        url = f"{self._server}/apis/batch/v1/namespaces/{namespace}/jobs"
        return f"{url}/{name}" if name else url

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> None:
        response = self._client.post(self._jobs_url(namespace), json=manifest, headers=self._headers)
        if response.status_code not in (200, 201, 202):
            raise FleetApiError(f"create Job: HTTP {response.status_code} {response.text[:200]}")

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        response = self._client.get(self._jobs_url(namespace, name), headers=self._headers)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FleetApiError(f"read Job {name}: HTTP {response.status_code}")
        return response.json()

    def delete_job(self, namespace: str, name: str) -> None:
        response = self._client.request(
            "DELETE",
            self._jobs_url(namespace, name),
            json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            headers=self._headers,
        )
        if response.status_code not in (200, 202, 404):
            raise FleetApiError(f"delete Job {name}: HTTP {response.status_code}")

    def read_job_log(self, namespace: str, name: str) -> str:
        pods_url = f"{self._server}/api/v1/namespaces/{namespace}/pods"
        response = self._client.get(
            pods_url, params={"labelSelector": f"job-name={name}"}, headers=self._headers
        )
        if response.status_code != 200:
            raise FleetApiError(f"list pods of Job {name}: HTTP {response.status_code}")
        pods = response.json().get("items") or []
        if not pods:
            return ""
        pod = pods[0]["metadata"]["name"]
        response = self._client.get(
            f"{pods_url}/{pod}/log", params={"container": "locust"}, headers=self._headers
        )
        if response.status_code != 200:
            raise FleetApiError(f"log of pod {pod}: HTTP {response.status_code}")
        return response.text
