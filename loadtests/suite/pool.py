"""One worker's user pool and iteration scheduler for the open model (loadtests/suite/arrival.py).

`UserPool` holds the locustfile's users (by Locust's class weights): `pre_allocated` of them at
once, grown up to `max_users` while iterations need them. `dispatch(intended)` hands an
iteration due at `intended` (epoch s) to an idle user, which runs one task (Locust's own task
choice) in a greenlet of its own and is idle again afterwards (no think time between
iterations); with no idle user and no room to grow it drops the iteration and counts it.
`current` maps each running iteration greenlet to its `Iteration` (its lag from the intended
start, its capacity step): the request listener reads it to record the latency from the
intended start. `run_schedule` sleeps until each due time and dispatches.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent import GreenletExit, getcurrent
from gevent.pool import Group
from locust.env import Environment
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser
from locust.user.task import DefaultTaskSet, TaskSet

__all__ = ["Counts", "Iteration", "UserPool", "run_schedule", "user_classes_problem"]

log = logging.getLogger("loadtests")

ON_STOP_WAIT_S = 5.0


@dataclass
class Iteration:
    """The iteration a greenlet runs: its lag (ms) and, in a capacity search, its step."""

    lag_ms: float
    step: int | None


@dataclass
class Counts:
    """Iterations of one worker (or of one capacity step on it)."""

    started: int = 0
    completed: int = 0
    dropped: int = 0
    busy_peak: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "started": self.started,
            "completed": self.completed,
            "dropped": self.dropped,
            "busy_peak": self.busy_peak,
        }


@dataclass
class _PoolUser:
    user: Any
    taskset: DefaultTaskSet
    started: bool = False


def user_classes_problem(classes: Iterable[type]) -> str | None:
    """Why these user classes cannot run in the open model (None when they can): an
    iteration is one task, so a task that is a nested TaskSet (which never returns) is refused."""
    names = []
    for cls in classes:
        if any(isinstance(task, type) and issubclass(task, TaskSet) for task in getattr(cls, "tasks", ())):
            names.append(cls.__name__)
    if names:
        return (
            f"user class(es) {', '.join(names)} have TaskSet tasks; an arrival-rate executor runs one "
            "@task method per iteration: expected tasks that are methods of the User class"
        )
    return None


class UserPool:
    """One worker's users: `pre_allocated` at once, grown up to `max_users` while iterations need them."""

    def __init__(
        self,
        environment: Environment,
        classes: list[type],
        pre_allocated: int,
        max_users: int,
    ) -> None:
        self.environment = environment
        self.classes = classes
        for cls in classes:  # as Locust does before it spawns users: the run's --host
            if environment.host:
                cls.host = environment.host
        # Locust's own weights pick each new user's class (equal when none is above 0).
        weights = [max(int(getattr(cls, "weight", 1) or 0), 0) for cls in classes]
        self.weights = weights if any(weights) else [1] * len(classes)
        self.pre_allocated = pre_allocated
        self.max_users = max_users
        self.users: list[_PoolUser] = []
        self.idle: list[_PoolUser] = []
        self.busy = 0
        self.peak_users = 0
        self.counts = Counts()
        self.step_counts: dict[int, Counts] = {}
        # The iteration each running iteration greenlet serves (read on the request path).
        self.current: dict[Any, Iteration] = {}
        self.group = Group()
        self.stopping = False

    def prepare(self) -> None:
        """Create the pre-allocated users and run their on_start now (before the schedule starts)."""
        for _ in range(self.pre_allocated):
            pool_user = self._new_user()
            if pool_user is not None:
                self.group.spawn(self._start_idle, pool_user)

    def _new_user(self) -> _PoolUser | None:
        if len(self.users) >= self.max_users:
            return None
        cls = random.choices(self.classes, weights=self.weights)[0]
        user = cls(self.environment)
        pool_user = _PoolUser(user, DefaultTaskSet(user))
        user._taskset_instance = pool_user.taskset  # User.wait() inside a task goes through it
        self.users.append(pool_user)
        self.peak_users = max(self.peak_users, len(self.users))
        return pool_user

    def _start_idle(self, pool_user: _PoolUser) -> None:
        if self._start_user(pool_user):
            self.idle.append(pool_user)

    def _start_user(self, pool_user: _PoolUser) -> bool:
        """Run the user's on_start; a user whose on_start fails leaves the pool (as in Locust)."""
        pool_user.started = True
        user = pool_user.user
        user._state = "running"
        try:
            user.on_start()
            return True
        except (StopUser, GreenletExit):
            self._retire(pool_user)
            return False
        except Exception as exc:
            log.error("on_start of %s failed: %s", type(user).__name__, exc)
            self.environment.events.user_error.fire(user_instance=user, exception=exc, tb=exc.__traceback__)
            self._retire(pool_user)
            return False

    def _retire(self, pool_user: _PoolUser) -> None:
        if pool_user in self.users:
            self.users.remove(pool_user)

    def dispatch(self, intended: float, step: int | None = None) -> bool:
        """Start an iteration due at `intended` (epoch s); False when it is dropped."""
        step_counts = self.step_counts.get(step) if step is not None else None
        if self.stopping:
            return False
        pool_user = self.idle.pop() if self.idle else self._new_user()
        if pool_user is None:
            self.counts.dropped += 1
            if step_counts is not None:
                step_counts.dropped += 1
            return False
        self.busy += 1
        self.counts.started += 1
        self.counts.busy_peak = max(self.counts.busy_peak, self.busy)
        if step_counts is not None:
            step_counts.started += 1
            step_counts.busy_peak = max(step_counts.busy_peak, self.busy)
        self.group.spawn(self._iterate, pool_user, intended, step)
        return True

    def _iterate(self, pool_user: _PoolUser, intended: float, step: int | None) -> None:
        me = getcurrent()
        iteration = Iteration(max(0.0, (time.time() - intended) * 1000.0), step)
        self.current[me] = iteration
        keep = True
        user = pool_user.user
        try:
            if not pool_user.started and not self._start_user(pool_user):
                keep = False
                return
            # The lag counts up to the task's start: scheduler lateness and a new user's on_start.
            iteration.lag_ms = max(0.0, (time.time() - intended) * 1000.0)
            user._state = "running"
            taskset = pool_user.taskset
            taskset.execute_task(taskset.get_next_task())
        except (RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet):
            pass
        except StopUser:
            keep = False
            self._retire(pool_user)
            self._on_stop(user)
        except GreenletExit:
            keep = False
            raise
        except Exception as exc:
            self.environment.events.user_error.fire(user_instance=user, exception=exc, tb=exc.__traceback__)
            if self.environment.catch_exceptions:
                log.error("%s in a task of %s: %s", type(exc).__name__, type(user).__name__, exc)
            else:
                raise
        finally:
            del self.current[me]
            self.busy -= 1
            self.counts.completed += 1
            step_counts = self.step_counts.get(step) if step is not None else None
            if step_counts is not None:
                step_counts.completed += 1
            if keep and not self.stopping:
                user._state = "waiting"
                self.idle.append(pool_user)

    def in_flight(self, step: int | None = None) -> int:
        if step is None:
            return self.busy
        counts = self.step_counts.get(step)
        return 0 if counts is None else counts.started - counts.completed

    def wait_idle(self, timeout_s: float, step: int | None = None) -> bool:
        """Wait until no iteration (of `step`) runs, at most `timeout_s`; True when none does."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight(step) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return not self.in_flight(step)

    def stop_users(self) -> None:
        """Run every idle user's on_stop (bounded), then stop taking iterations."""
        self.stopping = True
        idle, self.idle = self.idle, []
        stoppers = Group()
        for pool_user in idle:
            stoppers.spawn(self._on_stop, pool_user.user)
        stoppers.join(timeout=ON_STOP_WAIT_S)
        stoppers.kill(block=False)

    def _on_stop(self, user: Any) -> None:
        try:
            user._state = "stopping"
            user.on_stop()
        except (StopUser, GreenletExit):
            pass
        except Exception as exc:
            log.error("on_stop of %s failed: %s", type(user).__name__, exc)

    def kill(self) -> None:
        self.stopping = True
        self.group.kill(block=False)


def run_schedule(pool: UserPool, t0: float, offsets: Iterable[float], step: int | None = None) -> None:
    """Hand each due iteration (t0 + offset, epoch s) to the pool when it is due.

    Late (a busy process): the due ones start at once, their lag measured from when they were
    due; nothing is skipped for being late, only for want of a user.
    """
    for offset in offsets:
        due = t0 + offset
        delay = due - time.time()
        if delay > 0:
            gevent.sleep(delay)
        if pool.stopping:
            return
        pool.dispatch(due, step)
