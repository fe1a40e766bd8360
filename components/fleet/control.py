"""Start and await a Kubernetes Locust fleet: what LoadTestRun calls for the k8s fleet.

``FleetController`` creates the master Job, then the worker Job (deleting the master again
if the workers cannot be created, so a failed start leaves nothing running), polls both Jobs
and the worker pods until the master finishes, a Job fails or the deadline passes, and on any
end but success deletes the fleet and waits (bounded) until its Jobs and pods are gone. When
the master ends it reads the results document the master printed to its log
(``FleetOutcome.results``, the same document ``loadtests.run.runner.run_local`` returns), and
``FleetOutcome.workers_lost`` names the worker pods deleted or failed during the run.

It talks to Kubernetes through the small ``FleetApi`` interface: ``KubernetesFleetApi``
(components/fleet/kube_client.py) implements it over the official Kubernetes client, and
tests/support/fakes.py in memory. Its errors are defined in ``components/fleet/errors.py`` and
re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from components.fleet.errors import FleetApiError, FleetError, FleetStartError
from components.fleet.manifests import results_from_log

__all__ = [
    "FleetApi",
    "FleetApiError",
    "FleetController",
    "FleetError",
    "FleetOutcome",
    "FleetStartError",
    "JobPod",
    "job_state",
]

JobState = Literal["pending", "running", "succeeded", "failed", "missing"]


class JobPod(NamedTuple):
    """One pod of a Job, as the controller needs it."""

    name: str
    phase: str
    """Pending, Running, Succeeded, Failed or Unknown."""
    deleted: bool
    """Being deleted (its deletionTimestamp is set)."""


class FleetApi(Protocol):
    """The Job and pod operations the controller needs."""

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> None: ...

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job object as a plain dict (as the API serves it); None when there is none."""
        ...

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job, its pods after it (background propagation); a missing Job is no error."""
        ...

    def list_job_pods(self, namespace: str, job_name: str) -> list[JobPod]:
        """The Job's pods (also those of a Job being deleted, until they are gone)."""
        ...

    def read_job_log(self, namespace: str, name: str, tail_lines: int | None = None) -> str:
        """The log of the pod of the Job that ran (succeeded, else failed, else the newest), its
        ``locust`` container (its last ``tail_lines`` lines when given); empty when there is none."""
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

    state: Literal["succeeded", "failed", "timed_out", "cancelled"]
    master: JobState
    workers: JobState
    elapsed_s: float
    reason: str = ""
    results: dict[str, Any] | None = field(default=None, repr=False)
    workers_lost: tuple[str, ...] = ()
    """Worker pods deleted or failed while the run was awaited."""
    left_behind: tuple[str, ...] = ()
    """Jobs and pods still there ``stop_timeout_s`` after the fleet was deleted."""


@dataclass
class _LostWorkers:
    """Worker pods seen during the run that were deleted or failed (a lost load generator)."""

    phases: dict[str, str] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)

    def update(self, pods: list[JobPod]) -> None:
        current = {pod.name for pod in pods}
        for pod in pods:
            if pod.deleted or pod.phase == "Failed":
                self.lost.add(pod.name)
        for name, phase in self.phases.items():
            if name not in current and phase != "Succeeded":  # gone before it finished: deleted
                self.lost.add(name)
        self.phases = {pod.name: pod.phase for pod in pods}


# Enough lines to hold the newest progress line between Locust's own log lines.
PROGRESS_TAIL = 50


def latest_progress(log: str) -> dict | None:
    """The newest progress line of a master's log (a JSON object with "t_s" and "stage")."""
    for line in reversed(log.splitlines()):
        if line.startswith("{") and '"t_s"' in line:
            try:
                progress = json.loads(line)
            except ValueError:
                continue
            if isinstance(progress, dict) and "stage" in progress:
                return progress
    return None


def _joined(*reasons: str) -> str:
    return "; ".join(reason for reason in reasons if reason)


@dataclass
class FleetController:
    """Start, await and stop one run's master and worker Jobs."""

    api: FleetApi
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval_s: float = 2.0
    api_outage_s: float = 60.0
    """How long the Kubernetes API may fail without a break (an API server restarting) before
    the controller gives up awaiting the run."""
    stop_timeout_s: float = 90.0
    """How long ``stop`` waits for the Jobs and their pods to be gone (the pods' 30 s grace
    period, and the garbage collector's delay)."""
    progress_interval_s: float = 10.0
    """How often ``on_tick`` gets the master's latest progress line (a read of its log's tail)."""
    wind_down_s: float = 30.0
    """After a cancel or the deadline, how long the master may take to write the partial
    results once its workers are gone."""

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

    def stop(self, master_job: dict[str, Any], worker_job: dict[str, Any]) -> list[str]:
        """Delete both Jobs and wait until they and their pods are gone, ``stop_timeout_s`` at most.

        Returns what is still there then ("Job <name>", "pod <name>"); empty when all is gone.
        """
        jobs = [(job["metadata"]["namespace"], job["metadata"]["name"]) for job in (worker_job, master_job)]
        for namespace, name in jobs:
            self.api.delete_job(namespace, name)
        deadline = self.clock() + self.stop_timeout_s
        while True:
            left = self._still_there(jobs)
            now = self.clock()
            if not left or now >= deadline:
                return left
            self.sleep(min(self.poll_interval_s, deadline - now))

    def _still_there(self, jobs: list[tuple[str, str]]) -> list[str]:
        left: list[str] = []
        for namespace, name in jobs:
            if self.api.read_job(namespace, name) is not None:
                left.append(f"Job {name}")
            left.extend(f"pod {pod.name}" for pod in self.api.list_job_pods(namespace, name))
        return left

    def wait(
        self,
        master_job: dict[str, Any],
        worker_job: dict[str, Any],
        timeout_s: float,
        cancel: threading.Event | None = None,
        on_tick: Callable[[dict], None] | None = None,
    ) -> FleetOutcome:
        """Await the master's end, a failed Job, ``timeout_s`` or ``cancel``.

        ``on_tick`` receives the master's progress (the lines the local runner reads from its
        progress file; on Kubernetes the master prints them to its log) every
        ``progress_interval_s``.

        It polls (two Job reads and one pod list every ``poll_interval_s``) rather than watching:
        a watch only shortens the reaction to the master's end, which polling already bounds to
        ``poll_interval_s``, while it would need one watch per Job (a field selector names one
        object), restarting on every dropped or expired stream (410 Gone) and a resourceVersion
        to resume from. A poll needs none of that and goes on unchanged across an API server
        restart, which ``api_outage_s`` tolerates.
        """
        namespace = master_job["metadata"]["namespace"]
        master_name, worker_name = master_job["metadata"]["name"], worker_job["metadata"]["name"]
        started = self.clock()
        master: JobState = "pending"
        workers: JobState = "pending"
        lost = _LostWorkers()
        failing_since: float | None = None
        next_progress = started
        while True:
            try:
                master = job_state(self.api.read_job(namespace, master_name))
                workers = job_state(self.api.read_job(namespace, worker_name))
                lost.update(self.api.list_job_pods(namespace, worker_name))
                failing_since = None
            except FleetApiError as error:
                now = self.clock()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since >= self.api_outage_s:
                    raise FleetApiError(
                        f"the Kubernetes API kept failing for {now - failing_since:.0f} s while the "
                        f"fleet ran: {error}"
                    ) from error
            elapsed = self.clock() - started
            lost_pods = tuple(sorted(lost.lost))
            lost_reason = f"worker pods lost during the run: {', '.join(lost_pods)}" if lost_pods else ""
            if failing_since is None and master in ("succeeded", "failed"):
                # A breached SLO also ends the master with a non-zero code: read the results
                # whichever way it ended.
                try:
                    results = results_from_log(self.api.read_job_log(namespace, master_name))
                    no_results = "" if results is not None else "the master printed no results document"
                except FleetApiError as error:
                    results, no_results = None, f"the master's log could not be read: {error}"
                reason = _joined(no_results, lost_reason)
                return FleetOutcome(master, master, workers, elapsed, reason, results, lost_pods)
            if failing_since is None and (workers == "failed" or master == "missing"):
                reason = "worker Job failed" if workers == "failed" else "master Job disappeared"
                reason = _joined(reason, lost_reason)
                return FleetOutcome("failed", master, workers, elapsed, reason, None, lost_pods)
            if elapsed >= timeout_s:
                reason = _joined(f"no result within {timeout_s:g} s", lost_reason)
                return FleetOutcome("timed_out", master, workers, elapsed, reason, None, lost_pods)
            if on_tick is not None and failing_since is None and self.clock() >= next_progress:
                next_progress = self.clock() + self.progress_interval_s
                self._report_progress(namespace, master_name, on_tick)
            if cancel is not None and cancel.is_set():
                reason = _joined("cancelled by the operator", lost_reason)
                return FleetOutcome("cancelled", master, workers, elapsed, reason, None, lost_pods)
            self.sleep(self.poll_interval_s)

    def _report_progress(self, namespace: str, master_name: str, on_tick: Callable[[dict], None]) -> None:
        try:
            progress = latest_progress(
                self.api.read_job_log(namespace, master_name, tail_lines=PROGRESS_TAIL)
            )
        except FleetApiError:
            return  # progress is a courtesy: the next poll tries again
        if progress is not None:
            on_tick(progress)

    def wind_down(
        self, master_job: dict[str, Any], worker_job: dict[str, Any], outcome: FleetOutcome
    ) -> FleetOutcome:
        """End a run early but keep what it measured: delete the workers' Job, so the master sees
        its last worker quit, stops the test as interrupted and prints the partial results;
        await that for ``wind_down_s``. The outcome keeps its state and gains the results."""
        self.api.delete_job(worker_job["metadata"]["namespace"], worker_job["metadata"]["name"])
        ended = self.wait(master_job, worker_job, self.wind_down_s)
        if ended.results is None:
            return dataclasses.replace(outcome, reason=_joined(outcome.reason, ended.reason))
        return dataclasses.replace(outcome, results=ended.results, master=ended.master)

    def run(
        self,
        master_job: dict[str, Any],
        worker_job: dict[str, Any],
        timeout_s: float,
        cancel: threading.Event | None = None,
        on_tick: Callable[[dict], None] | None = None,
    ) -> FleetOutcome:
        """Start the fleet and await it; a fleet that fails or overruns ``timeout_s`` is deleted.

        A set ``cancel`` or the deadline ends the run through ``wind_down``: partial results.
        """
        if cancel is not None and cancel.is_set():
            raise FleetStartError("the update was cancelled before the fleet started")
        self.start(master_job, worker_job)
        try:
            outcome = self.wait(master_job, worker_job, timeout_s, cancel, on_tick)
            if outcome.state in ("cancelled", "timed_out"):
                outcome = self.wind_down(master_job, worker_job, outcome)
        except BaseException:
            # The run could not be followed to its end (the API failed for too long, the update
            # was cancelled): the fleet must not go on loading the target unobserved.
            self._delete_quietly(master_job, worker_job)
            raise
        if outcome.state == "succeeded":
            return outcome  # finished Jobs delete themselves (ttlSecondsAfterFinished)
        try:
            left = self.stop(master_job, worker_job)
        except FleetError as error:
            not_deleted = f"the fleet could not be deleted: {error}"
            return dataclasses.replace(outcome, reason=_joined(outcome.reason, not_deleted))
        if left:
            still = f"still there {self.stop_timeout_s:g} s after deletion: {', '.join(left)}"
            reason = _joined(outcome.reason, still)
            return dataclasses.replace(outcome, reason=reason, left_behind=tuple(left))
        return outcome

    def _delete_quietly(self, master_job: dict[str, Any], worker_job: dict[str, Any]) -> None:
        for job in (worker_job, master_job):
            # The error being raised already says why the API cannot be reached.
            with contextlib.suppress(FleetError):
                self.api.delete_job(job["metadata"]["namespace"], job["metadata"]["name"])
