"""FleetController against the in-memory FleetApi (the real client: tests/unit/test_fleet_kube_client.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.fleet.control import (
    FleetApiError,
    FleetController,
    FleetStartError,
    JobPod,
    job_state,
)
from components.fleet.manifests import RESULTS_MARKER, master_job, worker_job
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


WORKER_NAME = WORKERS["metadata"]["name"]
LOGS = {MASTER["metadata"]["name"]: MASTER_LOG}


def running(*names: str) -> list[JobPod]:
    return [JobPod(name, "Running", False) for name in names]


def test_worker_pods_deleted_or_failed_during_the_run_are_reported():
    def pods(name: str, count: int) -> list[JobPod]:
        if count == 1:
            return running("w-0", "w-1", "w-2")
        # w-0 vanished (deleted), w-1 failed, w-2 is being deleted; w-3 is new.
        return [JobPod("w-1", "Failed", False), JobPod("w-2", "Running", True), *running("w-3")]

    api = InMemoryFleetApi(script=finishing_after(3), logs=LOGS, pod_script=pods)
    outcome = controller(api)[0].run(MASTER, WORKERS, timeout_s=600)
    assert outcome.state == "succeeded" and outcome.results == RESULTS
    assert outcome.workers_lost == ("w-0", "w-1", "w-2")
    assert "worker pods lost during the run: w-0, w-1, w-2" in outcome.reason


def test_finished_workers_are_not_lost():
    def pods(name: str, count: int) -> list[JobPod]:
        return [JobPod("w-0", "Succeeded", False)] if count == 1 else []

    api = InMemoryFleetApi(script=finishing_after(3), logs=LOGS, pod_script=pods)
    assert controller(api)[0].run(MASTER, WORKERS, timeout_s=600).workers_lost == ()


def test_stop_waits_until_jobs_and_pods_are_gone_and_names_what_stayed():
    api = InMemoryFleetApi(script=lambda name, count: {"active": 1}, stuck_pods={WORKER_NAME})
    api.pods[WORKER_NAME] = running("w-0")
    fleet, clock = controller(api)
    outcome = fleet.run(MASTER, WORKERS, timeout_s=60)
    assert outcome.state == "timed_out"
    assert api.jobs == {}
    assert outcome.left_behind == ("pod w-0",)
    assert "still there 90 s after deletion: pod w-0" in outcome.reason
    # The deadline, the master's wind-down, the wait for deletion: each bounded, then it gives up.
    assert clock.now == pytest.approx(60 + fleet.wind_down_s + fleet.stop_timeout_s)


def test_a_short_api_outage_is_ridden_out():
    # Reads 3-6 fail (an API server restarting for 20 s), then the run ends normally.
    api = InMemoryFleetApi(script=finishing_after(3), logs=LOGS)
    fleet, _ = controller(api)
    fleet.start(MASTER, WORKERS)
    api.read_errors = 4
    outcome = fleet.wait(MASTER, WORKERS, timeout_s=600)
    assert outcome.state == "succeeded" and outcome.results == RESULTS


def test_a_long_api_outage_gives_up_and_deletes_the_fleet():
    api = InMemoryFleetApi(script=lambda name, count: {"active": 1}, read_errors=10_000)
    fleet, clock = controller(api)
    with pytest.raises(FleetApiError, match=r"kept failing for 60 s while the fleet ran: read Job"):
        fleet.run(MASTER, WORKERS, timeout_s=600)
    assert clock.now == pytest.approx(fleet.api_outage_s)
    assert set(api.deleted) == {MASTER["metadata"]["name"], WORKER_NAME}
    assert api.jobs == {}


def test_an_unreadable_master_log_is_the_reason():
    class LogFails(InMemoryFleetApi):
        def read_job_log(self, namespace: str, name: str) -> str:
            raise FleetApiError(f"read the log of pod {namespace}/{name}-x: HTTP 500")

    outcome = controller(LogFails(script=finishing_after(1, "Failed")))[0].run(MASTER, WORKERS, timeout_s=600)
    assert outcome.state == "failed" and outcome.results is None
    assert "the master's log could not be read: read the log of pod" in outcome.reason


INTERRUPTED = {**RESULTS, "status": "interrupted", "abort_reason": None}
INTERRUPTED_LOG = f"starting\n{RESULTS_MARKER}\n{json.dumps(INTERRUPTED)}\n"


def master_ends_when_its_workers_go(api: InMemoryFleetApi, after_read=None):
    """Locust's master stops the test and quits when its last worker quits."""

    def script(name: str, count: int) -> dict:
        if after_read is not None:
            after_read(name, count)
        if name.startswith("locust-master") and WORKER_NAME in api.deleted:
            return {"conditions": [{"type": "Complete", "status": "True"}]}
        return {"active": 1}

    return script


def test_a_cancel_stops_the_workers_first_and_keeps_the_partial_results():
    import threading

    cancel = threading.Event()
    api = InMemoryFleetApi(logs={MASTER["metadata"]["name"]: INTERRUPTED_LOG})
    api.script = master_ends_when_its_workers_go(api, lambda name, count: count == 3 and cancel.set())
    fleet, clock = controller(api)
    outcome = fleet.run(MASTER, WORKERS, timeout_s=600, cancel=cancel)
    assert outcome.state == "cancelled"
    assert outcome.results == INTERRUPTED
    assert "cancelled by the operator" in outcome.reason
    assert api.deleted[0] == WORKER_NAME  # the master is left to write what it measured
    assert api.jobs == {}  # and then everything is gone
    assert clock.now < 60


def test_a_run_past_its_deadline_is_wound_down_with_partial_results():
    api = InMemoryFleetApi(logs={MASTER["metadata"]["name"]: INTERRUPTED_LOG})
    api.script = master_ends_when_its_workers_go(api)
    fleet, clock = controller(api)
    outcome = fleet.run(MASTER, WORKERS, timeout_s=60)
    assert outcome.state == "timed_out"
    assert outcome.results == INTERRUPTED
    assert "no result within 60 s" in outcome.reason
    assert api.jobs == {}
    assert clock.now == pytest.approx(60)  # the master ended at the first read after its workers went


def test_a_master_that_prints_nothing_after_the_wind_down_is_named():
    api = InMemoryFleetApi(script=lambda name, count: {"active": 1})
    fleet, _ = controller(api)
    outcome = fleet.run(MASTER, WORKERS, timeout_s=60)
    assert outcome.state == "timed_out" and outcome.results is None
    assert "no result within 60 s; no result within 30 s" in outcome.reason
    assert api.jobs == {}


def test_a_cancel_before_the_start_creates_nothing():
    import threading

    cancel = threading.Event()
    cancel.set()
    api = InMemoryFleetApi()
    fleet, _ = controller(api)
    with pytest.raises(FleetStartError, match="cancelled before the fleet started"):
        fleet.run(MASTER, WORKERS, timeout_s=600, cancel=cancel)
    assert api.jobs == {} and api.deleted == []


def test_the_masters_progress_lines_reach_on_tick_every_interval():
    from components.fleet.control import latest_progress

    line = {
        "t_s": 12.0,
        "users": 30,
        "rps": 41.5,
        "p95_ms": 18.0,
        "requests": 500,
        "failures": 0,
        "error_rate": 0.0,
        "stage": 2,
        "stages": 7,
        "workers": [],
    }
    log = f"[locust] Starting\n{json.dumps({**line, 't_s': 2.0})}\n[locust] Ramping\n{json.dumps(line)}\n"
    assert latest_progress(log) == line
    assert latest_progress("[locust] Starting\n{not json\n") is None
    assert latest_progress('{"t_s": 1}\n') is None  # not a progress line

    api = InMemoryFleetApi(script=finishing_after(9), logs={MASTER["metadata"]["name"]: log})
    fleet, _ = controller(api)
    fleet.start(MASTER, WORKERS)
    ticks: list[dict] = []
    fleet.wait(MASTER, WORKERS, timeout_s=600, on_tick=ticks.append)
    # Polls every 5 s for 40 s, progress every 10 s: at 0, 10, 20, 30 s.
    assert ticks == [line] * 4
