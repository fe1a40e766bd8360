"""A worker's user pool and scheduler (loadtests/suite/pool.py), in-process with Locust's own
Environment: iterations go to idle users, the pool grows to its limit, then drops and counts."""

from __future__ import annotations

import time

import gevent
from gevent import getcurrent
from locust import TaskSet, User, constant, task
from locust.env import Environment

from loadtests.suite.pool import UserPool, run_schedule, user_classes_problem

LAGS: list[float] = []


class SleepyUser(User):
    wait_time = constant(5)  # never used between iterations: the open model does not think
    pool: UserPool | None = None
    started = 0

    def on_start(self) -> None:
        type(self).started += 1

    @task
    def work(self) -> None:
        pool = type(self).pool
        assert pool is not None
        LAGS.append(pool.current[getcurrent()].lag_ms)
        gevent.sleep(0.05)


def make_pool(pre_allocated: int, max_users: int) -> UserPool:
    pool = UserPool(Environment(user_classes=[SleepyUser]), [SleepyUser], pre_allocated, max_users)
    SleepyUser.pool = pool
    SleepyUser.started = 0
    LAGS.clear()
    return pool


def test_iterations_go_to_idle_users_and_the_pool_grows_then_drops() -> None:
    pool = make_pool(pre_allocated=1, max_users=2)
    pool.prepare()
    gevent.sleep(0.01)  # the pre-allocated user's on_start
    assert len(pool.idle) == 1 and SleepyUser.started == 1
    now = time.time()
    assert pool.dispatch(now)  # the idle user
    assert pool.dispatch(now)  # a new user: room to grow
    assert not pool.dispatch(now)  # both busy, no room: dropped
    assert pool.counts.started == 2 and pool.counts.dropped == 1 and pool.counts.busy_peak == 2
    assert pool.wait_idle(2.0)
    assert pool.counts.completed == 2 and len(pool.idle) == 2 and SleepyUser.started == 2
    # Idle again: no think time between iterations.
    assert pool.dispatch(time.time())
    assert pool.wait_idle(2.0)


def test_the_lag_from_the_intended_start_is_measured_when_the_task_begins() -> None:
    pool = make_pool(pre_allocated=1, max_users=1)
    pool.prepare()
    gevent.sleep(0.01)
    pool.dispatch(time.time() - 0.2)  # due 200 ms ago
    pool.wait_idle(2.0)
    assert LAGS and 200 <= LAGS[0] < 400
    assert not pool.current  # no iteration left registered


def test_the_scheduler_starts_each_iteration_when_it_is_due() -> None:
    pool = make_pool(pre_allocated=3, max_users=3)
    pool.prepare()
    gevent.sleep(0.01)
    t0 = time.time() + 0.05
    run_schedule(pool, t0, [0.0, 0.02, 0.04])
    assert time.time() >= t0 + 0.04
    pool.wait_idle(2.0)
    assert pool.counts.started == 3 and pool.counts.dropped == 0
    assert max(LAGS) < 50


def test_a_stopped_pool_takes_no_iterations() -> None:
    pool = make_pool(pre_allocated=1, max_users=1)
    pool.prepare()
    gevent.sleep(0.01)
    pool.stop_users()
    assert not pool.dispatch(time.time())
    assert pool.counts.started == 0


class NestedTasks(TaskSet):
    @task
    def nothing(self) -> None:
        pass


class NestedUser(User):
    tasks = [NestedTasks]


def test_a_taskset_task_is_refused_with_the_class_named() -> None:
    problem = user_classes_problem([SleepyUser, NestedUser])
    assert problem is not None and "NestedUser" in problem and "SleepyUser" not in problem
    assert user_classes_problem([SleepyUser]) is None
