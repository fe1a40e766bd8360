"""loadtests/suite/parent_watch.py with a fake clock and parent pid."""

from __future__ import annotations

from loadtests.run.config import PARENT_PID_ENV
from loadtests.suite.parent_watch import CHECK_INTERVAL_S, parent_pid, watch_parent


def test_the_starter_pid_comes_from_the_environment_only() -> None:
    assert parent_pid({PARENT_PID_ENV: "4242"}) == 4242
    assert parent_pid({}) is None
    assert parent_pid({PARENT_PID_ENV: "not-a-pid"}) is None


def test_an_orphan_reacts_once_after_its_grace() -> None:
    parents = iter([100, 100, 100, 1])  # reparented to init on the fourth look
    slept: list[float] = []
    reasons: list[str] = []
    watch_parent(100, reasons.append, grace_s=6.0, getppid=lambda: next(parents), sleep=slept.append)
    assert reasons == ["the process that started the run (pid 100) is gone"]
    assert slept == [CHECK_INTERVAL_S] * 3 + [6.0]


def test_a_process_whose_parent_is_already_gone_reacts_at_once() -> None:
    reasons: list[str] = []
    slept: list[float] = []
    watch_parent(100, reasons.append, getppid=lambda: 1, sleep=slept.append)
    assert len(reasons) == 1 and slept == []
