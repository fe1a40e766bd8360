"""Stop a run whose starter is gone: the runner (the CLI, or the LoadTestRun provider) that
started the Locust master and workers died without stopping them (a second Ctrl-C, a killed
`pulumi up`). Every process it started watches for that by its parent process id: the runner
passes its own pid (PARENT_PID_ENV), and once `os.getppid()` differs the orphan reacts.

- The master (or a standalone Locust) stops the test as "interrupted", naming the reason, so
  the partial results are written and its workers are told to quit; before the test has
  started it just quits.
- A worker gives its master WORKER_GRACE_S to stop it (with its last samples merged), then
  quits on its own, so no worker outlives a master that is gone too.

Kubernetes pods get no PARENT_PID_ENV: their Jobs are bounded by activeDeadlineSeconds and
deleted by the fleet controller.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import gevent

from loadtests.run.config import PARENT_PID_ENV

__all__ = ["CHECK_INTERVAL_S", "WORKER_GRACE_S", "parent_pid", "watch_parent"]

log = logging.getLogger("loadtests.suite.parent_watch")

CHECK_INTERVAL_S = 1.0
WORKER_GRACE_S = 6.0


def parent_pid(environ: Mapping[str, str] = os.environ) -> int | None:
    """The starter's pid from the environment; None when not started by the runner."""
    value = environ.get(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None


def watch_parent(
    expected_pid: int,
    on_orphaned: Callable[[str], None],
    *,
    grace_s: float = 0.0,
    getppid: Callable[[], int] = os.getppid,
    sleep: Callable[[float], None] = gevent.sleep,
) -> None:
    """Poll the parent pid; once it is not `expected_pid`, wait `grace_s` and call
    `on_orphaned(reason)` once. Meant to run in its own greenlet for the process's lifetime."""
    while getppid() == expected_pid:
        sleep(CHECK_INTERVAL_S)
    reason = f"the process that started the run (pid {expected_pid}) is gone"
    log.warning("%s; stopping", reason)
    if grace_s > 0:
        sleep(grace_s)
    on_orphaned(reason)
