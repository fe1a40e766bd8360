"""A cancelled run leaves no Locust process behind, and keeps its partial results.

- SIGTERM to `python -m loadtests run` (what `kill`, a stopped CI job or a cancelled update
  sends) ends the run as Ctrl-C does: status interrupted, partial results, master and workers gone.
- SIGKILL to the process that started the fleet (a second Ctrl-C on `pulumi up` kills the
  provider): the master notices that its parent is gone, stops the test as interrupted, writes
  the partial results and quits its workers (loadtests/suite/parent_watch.py).

The waits below are deadlines for a process to be gone, not speed goals; the time each took is
printed (pytest -s).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from loadtests.results.document import load_document, validate_document

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
GONE_DEADLINE_S = 40.0


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_gone(pids: list[int]) -> float:
    """Seconds until none of `pids` runs; fails after GONE_DEADLINE_S."""
    start = time.monotonic()
    while any(alive(pid) for pid in pids):
        assert time.monotonic() - start < GONE_DEADLINE_S, f"still running: {[p for p in pids if alive(p)]}"
        time.sleep(0.2)
    return time.monotonic() - start


def wait_for(predicate, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def progress_has_requests(run_dir_hint: Path) -> bool:
    for progress in run_dir_hint.glob("odavl-loadtest-*/progress.jsonl"):
        lines = progress.read_text().splitlines()
        if lines and json.loads(lines[-1]).get("requests", 0) > 0:
            return True
    return False


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The runner's scratch directories under this test's own directory, to find its progress."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    return scratch


FAST_SCENARIO = textwrap.dedent(
    """
    from locust import constant, task

    from loadtests.suite.user_base import SuiteUser


    class FastUser(SuiteUser):
        group = "fast"
        wait_time = constant(0.05)

        @task
        def fast(self) -> None:
            with self.client.get("/fast", name="GET /fast", catch_response=True) as response:
                self.check(response, "GET /fast", response.status_code == 200, "answers 200")
    """
)


def test_sigterm_interrupts_the_cli_run_and_ends_every_process(locust_target, tmp_path, private_tmp):
    results = tmp_path / "results.json"
    scenario = tmp_path / "fast_scenario.py"
    scenario.write_text(FAST_SCENARIO)
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests",
            "run",
            "--target",
            locust_target.url,
            "--locustfile",
            str(scenario),
            "--stages",
            "1:4,120:4,1:0",
            "--workers",
            "2",
            "--stop-timeout",
            "2",
            "--results",
            str(results),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(children_of(cli.pid)) == 3, "the master and 2 workers")
        fleet = children_of(cli.pid)
        wait_for(lambda: progress_has_requests(private_tmp), "the first requests")
        cli.send_signal(signal.SIGTERM)
        code = cli.wait(timeout=GONE_DEADLINE_S)
        print(f"fleet gone {wait_gone(fleet):.1f} s after the CLI exited")
    finally:
        if cli.poll() is None:
            cli.kill()
    assert code == 2, cli.stderr.read()  # no verdict: the run did not complete
    doc = load_document(results)
    validate_document(doc)
    assert doc["status"] == "interrupted"
    assert doc["abort_reason"] == "interrupted by the operator (Ctrl-C or SIGTERM)"
    assert doc["metrics"]["http_reqs"]["count"] > 0


STARTER = textwrap.dedent(
    """
    import json, sys
    from loadtests.run.config import RunConfig
    from loadtests.run.runner import start_fleet, wait_fleet
    from loadtests.run.shape import Stage

    handle = start_fleet(RunConfig(
        target=sys.argv[1], stages=(Stage(1, 4), Stage(120, 4), Stage(1, 0)), workers=2,
        locustfile=sys.argv[2], results_path=sys.argv[3], log_dir=sys.argv[4], stop_timeout_s=2.0,
    ))
    print(json.dumps([handle.master.pid, *(w.pid for w in handle.workers)]), flush=True)
    wait_fleet(handle)
    """
)


def test_a_killed_starter_leaves_no_locust_process_and_keeps_the_partial_results(
    locust_target, tmp_path, private_tmp
):
    results = tmp_path / "results.json"
    logs = tmp_path / "logs"
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            STARTER,
            locust_target.url,
            str(REPO_ROOT / "bench" / "locust_probe.py"),
            str(results),
            str(logs),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PROBE_PATH": "/fast", "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        fleet = json.loads(starter.stdout.readline())
        wait_for(lambda: progress_has_requests(private_tmp), "the first requests")
        starter.kill()  # no chance to stop anything: the processes are on their own
        starter.wait(timeout=10)
        killed_at = time.time()
        print(f"fleet gone {wait_gone(fleet):.1f} s after the starter was killed")
    finally:
        if starter.poll() is None:
            starter.kill()
    doc = load_document(results)
    validate_document(doc)
    assert doc["status"] == "interrupted"
    assert doc["abort_reason"].startswith("the process that started the run (pid ")
    assert doc["abort_reason"].endswith(") is gone")
    assert doc["metrics"]["http_reqs"]["count"] > 0
    assert [w["state"] for w in doc["workers"]] == ["finished", "finished"]
    stopped_after = datetime.fromisoformat(doc["ended_at"]).timestamp() - killed_at
    print(f"the master stopped the test {stopped_after:.1f} s after the starter died")
