"""Early ends of a run: a live check aborts it, Ctrl-C interrupts it; partial results are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.results.document import load_document, validate_document
from loadtests.run.config import RunConfig
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def probe_config(target, tmp_path, **extra) -> RunConfig:
    return RunConfig(
        target=target.url,
        stages=(Stage(1, 6), Stage(60, 6), Stage(1, 0)),  # long: only an early stop ends it in time
        workers=1,
        locustfile=str(REPO_ROOT / "bench" / "locust_probe.py"),
        results_path=str(tmp_path / "results.json"),
        stop_timeout_s=4.0,
        run_timeout_s=120,
        **extra,
    )


def test_live_check_aborts_with_its_reason(locust_target, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_PATH", "/fast")
    snapshots: list[dict] = []

    def live_check(snapshot: dict) -> str | None:
        snapshots.append(snapshot)
        requests = snapshot["metrics"].get("http_reqs", {}).get("count", 0)
        return "http_reqs: count>=50 reached (test abort)" if requests >= 50 else None

    doc = run_local(probe_config(locust_target, tmp_path, live_check=live_check, live_check_interval_s=1.0))
    assert doc["status"] == "aborted"
    assert doc["abort_reason"] == "http_reqs: count>=50 reached (test abort)"
    assert doc["duration_s"] < 40
    assert doc["metrics"]["http_reqs"]["count"] >= 50
    assert load_document(tmp_path / "results.json") == doc
    assert snapshots and all(s["status"] == "running" for s in snapshots)
    validate_document(snapshots[-1])  # snapshots are results documents too


def test_ctrl_c_interrupts_and_keeps_partial_results(locust_target, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_PATH", "/fast")

    pressed: list[bool] = []

    def on_tick(progress: dict) -> None:
        if progress["requests"] >= 50 and not pressed:
            pressed.append(True)
            raise KeyboardInterrupt  # as Ctrl-C arrives in the runner's loop

    doc = run_local(probe_config(locust_target, tmp_path), on_tick=on_tick)
    assert doc["status"] == "interrupted"
    assert "Ctrl-C" in doc["abort_reason"]
    assert doc["metrics"]["http_reqs"]["count"] >= 50
    assert doc["workers"] == [
        {
            "id": "worker-1",
            "state": "finished",
            "requests": doc["metrics"]["http_reqs"]["count"],
            "failures": doc["metrics"]["http_req_failed"]["passes"],
        }
    ]
    assert load_document(tmp_path / "results.json") == doc


def test_a_cancel_from_another_thread_interrupts_the_run_and_stops_every_process(
    locust_target, tmp_path, monkeypatch
):
    """What the engine's cancel request does in the provider: set an event on a gRPC thread."""
    import contextlib
    import threading

    import psutil

    monkeypatch.setenv("PROBE_PATH", "/fast")
    cancel = threading.Event()
    children: list[int] = []

    def on_tick(progress: dict) -> None:
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "locust_probe.py" in " ".join(child.cmdline()):
                    children.append(child.pid)
        if progress["requests"] >= 50 and not cancel.is_set():
            threading.Thread(target=cancel.set).start()

    doc = run_local(probe_config(locust_target, tmp_path), on_tick=on_tick, cancel=cancel)
    assert doc["status"] == "interrupted"
    assert doc["abort_reason"] == "interrupted by the operator (cancelled)"
    assert doc["metrics"]["http_reqs"]["count"] >= 50
    assert doc["duration_s"] < 40  # the profile alone plays 192 s
    assert children, "no Locust process was seen while the run went"
    assert not [pid for pid in set(children) if psutil.pid_exists(pid)], "a Locust process outlived the run"
    assert load_document(tmp_path / "results.json") == doc
