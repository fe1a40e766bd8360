"""The open model inside the Locust processes: the plan, the workers' pools, their counts.

`install_open_model(events, state)` (called by `setup_suite_listeners` for an arrival-rate
executor, loadtests/run/arrival.py) sets up everything below on one process.

Start. At the test's start the master (or a standalone Locust) fixes the schedule's start
`t0` (ARRIVAL_LEAD_S ahead) and each connected worker's place in the split (`shares`: client id
-> index, of `count`), and sends that plan to every worker (custom message "odavl_open_plan").
Locust itself spawns no users (the profile is `open_model_stages`): each worker builds a pool of
the locustfile's user classes (by weight), `pre_allocated_users` of them (its share) at once,
whose `on_start` runs before `t0`.

Iterations. A scheduler greenlet walks the worker's share of the global schedule (every N-th
iteration), sleeps until each one's intended start and hands it to an idle user of the pool:
the user runs one task (Locust's own task choice) in a greenlet of its own, then is idle
again; users do not think between iterations. With no idle user the pool grows (up to its
share of `max_users`; a new user's `on_start` runs inside that iteration), else the iteration
is dropped and counted (`dropped_iterations`). The pool and the scheduler are in
loadtests/suite/pool.py.

Latency from the intended start. The gap between an iteration's intended start and the moment
its task begins (scheduler lateness, a busy pool, a new user's login) is its lag; each request
of the iteration is recorded with `response_time + lag` as `http_req_latency_intended`, beside
its plain service time (`http_req_duration`). A journey's second request is so measured from
when it would have started had the iteration started on time, not from the iteration's start.

Counts. Workers ship their iteration counts and pool size with every report to the master
(data["odavl_open"]); the results document gets `iterations`, `dropped_iterations` and `vus`
from them, and its `executor` section (planned, started, dropped iterations, requested and
achieved rate). A capacity search is driven from the master by loadtests/suite/capacity.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import gevent
from gevent import getcurrent
from locust.env import Environment
from locust.event import Events
from locust.rpc.protocol import Message
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, WorkerRunner

from loadtests.results.document import counter_summary
from loadtests.run.arrival import ARRIVAL_LEAD_S, CAPACITY, Executor, format_duration, share
from loadtests.suite.collector import MetricsCollector
from loadtests.suite.pool import Counts, UserPool, run_schedule, user_classes_problem


class SuiteState(Protocol):
    """What the open model uses of the suite's state (loadtests/suite/listeners.py, which
    installs it: a Protocol rather than an import, so no import runs back)."""

    config: Any
    worker_label: str

    def request_stop(self, status: str, reason: str | None) -> None: ...


__all__ = ["OpenModel", "install_open_model"]

log = logging.getLogger("loadtests")

PLAN_MESSAGE = "odavl_open_plan"
LATENCY_METRIC = "http_req_latency_intended"
THRESHOLDS_NOTE = (
    "thresholds on http_req_duration judge the service time (from the request's own start); "
    f"lines on {LATENCY_METRIC} judge the latency from the iteration's intended start"
)
# After its schedule, a worker waits this long at most for its last iterations.
FINISH_WAIT_MAX_S = 30.0


class OpenModel:
    """The open model of one Locust process (worker role, master role, or both when standalone)."""

    def __init__(self, state: SuiteState, executor: Executor) -> None:
        self.state = state
        self.executor = executor
        self.environment: Environment | None = None
        self.problem: str | None = None
        # worker role
        self.pool: UserPool | None = None
        self.index: int | None = None
        self.count = 1
        self.t0: float | None = None
        self.planned_share: int | None = None
        self.step_collectors: dict[int, MetricsCollector] = {}
        self.received_plan: dict[str, Any] | None = None
        self.test_started = False
        self._greenlets: list[gevent.Greenlet] = []
        # master role: the latest counts of each worker (by client id)
        self.plan: dict[str, Any] | None = None
        self.reports: dict[str, dict[str, Any]] = {}
        self.capacity: Any = None  # loadtests.suite.capacity.CapacityController on the master

    # --- the request path (worker) ------------------------------------------------------
    def intended_ms(self, response_time: float) -> float | None:
        """The request's latency from its iteration's intended start; None outside an iteration."""
        pool = self.pool
        iteration = pool.current.get(getcurrent()) if pool is not None else None
        return None if iteration is None else response_time + iteration.lag_ms

    def step_collector(self) -> MetricsCollector | None:
        """The capacity step's collector of the iteration this greenlet runs, if any."""
        pool = self.pool
        iteration = pool.current.get(getcurrent()) if pool is not None else None
        if iteration is None or iteration.step is None:
            return None
        return self.step_collectors.get(iteration.step)

    # --- start ---------------------------------------------------------------------------
    def on_init(self, environment: Environment, **_kwargs) -> None:
        self.environment = environment
        classes = list(environment.user_classes or ())
        self.problem = user_classes_problem(classes) or (
            None if classes else "the locustfile declares no user class for the open model's pool"
        )
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner.register_message(PLAN_MESSAGE, self.on_plan_message)
            if self.executor.kind == CAPACITY:
                from loadtests.suite.capacity import STEP_MESSAGE

                runner.register_message(STEP_MESSAGE, self.on_step_message)

    def on_step_message(self, environment: Environment, msg: Message, **_kwargs) -> None:
        """A capacity step: run this worker's share in a greenlet, then answer the master."""
        from loadtests.suite.capacity import DONE_MESSAGE, run_worker_step

        def run_and_answer() -> None:
            answer = run_worker_step(self, msg.data)
            if answer is not None:
                environment.runner.send_message(DONE_MESSAGE, answer)

        self._greenlets.append(gevent.spawn(run_and_answer))

    def on_test_start(self, environment: Environment, **_kwargs) -> None:
        """Master or standalone: fix the plan and send it to the workers. Worker: start on the
        plan (its test starts with the master's first spawn message, which sets the host)."""
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            self.test_started = True
            if self.received_plan is not None:
                self.start_worker(self.received_plan, runner.client_id)
            return
        if not isinstance(runner, MasterRunner | LocalRunner) or self.plan is not None:
            return
        if self.problem:
            self.state.request_stop("failed", f"the {self.executor.kind} executor cannot run: {self.problem}")
            return
        t0 = time.time() + ARRIVAL_LEAD_S
        if isinstance(runner, MasterRunner):
            clients = [c.id for c in runner.clients.values() if c.state != STATE_MISSING]
            clients.sort(key=runner.get_worker_index)
        else:
            clients = ["local"]
        self.plan = {
            "t0": t0,
            "shares": {client: i for i, client in enumerate(clients)},
            "count": len(clients),
        }
        log.info(
            "open model: %s on %d worker(s), first iteration at +%.1f s",
            self.executor.describe(),
            len(clients),
            ARRIVAL_LEAD_S,
        )
        if isinstance(runner, MasterRunner):
            runner.send_message(PLAN_MESSAGE, self.plan)
        else:
            self.start_worker(self.plan, "local")
        if self.executor.kind == CAPACITY:
            from loadtests.suite.capacity import CapacityController

            self.capacity = CapacityController(self, runner)
            self._greenlets.append(gevent.spawn(self.capacity.run))

    def on_plan_message(self, environment: Environment, msg: Message, **_kwargs) -> None:
        self.received_plan = msg.data
        if self.test_started:
            self.start_worker(msg.data, environment.runner.client_id)

    def start_worker(self, plan: dict[str, Any], client_id: str) -> None:
        """Worker side of the plan: the pool, and (constant, ramping) the scheduler."""
        if self.pool is not None:
            return
        index = plan["shares"].get(client_id)
        if index is None:
            log.error(
                "open model: this worker (%s) is not in the run's plan; it runs no iterations", client_id
            )
            return
        self.index, self.count, self.t0 = index, int(plan["count"]), float(plan["t0"])
        ex = self.executor
        assert self.environment is not None
        self.pool = UserPool(
            self.environment,
            list(self.environment.user_classes),
            share(ex.pre_allocated_users, index, self.count),
            share(ex.max_users, index, self.count),
        )
        self.pool.prepare()
        if ex.kind != CAPACITY:
            schedule = ex.schedule()
            self.planned_share = len(range(index, schedule.total_iterations, self.count))
            self._greenlets.append(gevent.spawn(self._run_schedule, schedule))

    def _run_schedule(self, schedule) -> None:
        pool, t0 = self.pool, self.t0
        assert pool is not None and t0 is not None
        run_schedule(pool, t0, schedule.times(self.index or 0, self.count))
        wait = min(self.state.config.stop_timeout_s, FINISH_WAIT_MAX_S)
        if not pool.wait_idle(wait):
            log.warning(
                "open model: %d iteration(s) still running %s after the schedule",
                pool.busy,
                format_duration(wait),
            )
        pool.stop_users()

    # --- stop ----------------------------------------------------------------------------
    def on_test_stop(self, **_kwargs) -> None:
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        if self.pool is not None:
            self.pool.kill()

    # --- counts (worker -> master) ---------------------------------------------------------
    def own_report(self) -> dict[str, Any]:
        pool = self.pool
        return {
            "worker": self.state.worker_label,
            "counts": pool.counts.as_dict() if pool else Counts().as_dict(),
            "users": len(pool.users) if pool else 0,
            "peak_users": pool.peak_users if pool else 0,
            "planned": self.planned_share,
        }

    def on_report_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        data["odavl_open"] = self.own_report()

    def on_worker_report(self, client_id: str, data: dict, **_kwargs) -> None:
        report = data.get("odavl_open")
        if report:
            self.reports[client_id] = report

    def _all_reports(self) -> list[dict[str, Any]]:
        runner = self.environment.runner if self.environment else None
        if isinstance(runner, MasterRunner):
            return list(self.reports.values())
        return [self.own_report()]

    def users(self) -> int:
        """Users of every worker's pool now (the `vus` gauge)."""
        return sum(int(r.get("users") or 0) for r in self._all_reports())

    def totals(self) -> Counts:
        total = Counts()
        for report in self._all_reports():
            counts = report.get("counts") or {}
            total.started += int(counts.get("started", 0))
            total.completed += int(counts.get("completed", 0))
            total.dropped += int(counts.get("dropped", 0))
            total.busy_peak += int(counts.get("busy_peak", 0))
        return total

    # --- the results document (master) ----------------------------------------------------
    def amend(self, summaries: dict, duration_s: float, final: bool) -> dict:
        """The document's summaries with the open model's counters (a capacity search's final
        document takes the metrics of the rate it found, loadtests/suite/capacity.py)."""
        if final and self.capacity is not None:
            summaries = self.capacity.final_summaries(summaries)
        totals = self.totals()
        metrics = summaries["metrics"]
        metrics.setdefault("iterations", counter_summary(totals.completed, duration_s))
        metrics.setdefault("dropped_iterations", counter_summary(totals.dropped, duration_s))
        return summaries

    def sections(self) -> dict[str, Any]:
        """The document's `executor` section (and `capacity`, for a capacity search)."""
        ex = self.executor
        totals = self.totals()
        reports = self._all_reports()
        planned = ex.planned_iterations()
        duration = ex.schedule().duration_s if ex.kind != CAPACITY else None
        section: dict[str, Any] = {
            "kind": ex.kind,
            "description": ex.describe(),
            "settings": ex.as_dict(),
            "workers": len(self.plan["shares"]) if self.plan else 0,
            "planned_iterations": planned,
            "started_iterations": totals.started,
            "completed_iterations": totals.completed,
            "dropped_iterations": totals.dropped,
            "requested_rate_per_s": round(planned / duration, 3)
            if planned is not None and duration
            else None,
            "achieved_rate_per_s": round(totals.started / duration, 3) if duration else None,
            "peak_users": sum(int(r.get("peak_users") or 0) for r in reports),
            "peak_busy_users": totals.busy_peak,
            "latency_metric": LATENCY_METRIC,
            "thresholds_note": THRESHOLDS_NOTE,
        }
        out: dict[str, Any] = {"executor": section}
        if self.capacity is not None:
            out["capacity"] = self.capacity.section()
        return out


def install_open_model(events: Events, state: SuiteState) -> OpenModel:
    """Register the open model's listeners on `events` (see the module docstring)."""
    model = OpenModel(state, state.config.executor)
    events.init.add_listener(model.on_init)
    events.test_start.add_listener(model.on_test_start)
    events.test_stop.add_listener(model.on_test_stop)
    events.report_to_master.add_listener(model.on_report_to_master)
    events.worker_report.add_listener(model.on_worker_report)
    return model
