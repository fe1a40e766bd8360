"""The capacity search inside a Locust run: the master picks each step's rate, the workers run it.

The master (or a standalone Locust) drives `loadtests.run.capacity.CapacitySearch`: for each step
it sends every worker the step's rate, start time and duration (custom message
"odavl_capacity_step"); each worker runs its share of that constant-rate schedule
(loadtests/suite/arrival.py), records the step's requests into a collector of their own (tagged
by the iteration, so a slow answer counts in the step that scheduled it), waits for the step's
last iterations (STEP_FINISH_WAIT_S at most) and sends the step's delta and counts back
("odavl_capacity_done"). Once every worker has answered, the master judges the step with the
run's SLO threshold lines (SuiteConfig.thresholds, loadtests/slo/evaluate.py) on the merged
step statistics.

A step breaks when a threshold fails on it, when an iteration was dropped (the pool's users were
all busy: the generator, not the target, was the limit; raise the maximum users), when
iterations were still running STEP_FINISH_WAIT_S after its end, or when a worker did not answer.
No data for a threshold (an endpoint the step did not reach) does not break it.

When the search is done the master ends the profile there (its one stage was as long as the
longest search), so the run drains and completes as at any profile's end. The final document's metrics are
those of the rate found (its confirming hold; loadtests/run/capacity.py says which step when
there was none), and its `capacity` section holds the result and every step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event
from locust.rpc.protocol import Message
from locust.runners import STATE_MISSING, MasterRunner

from loadtests.results.document import counter_summary
from loadtests.run.arrival import ArrivalSchedule
from loadtests.run.capacity import CapacitySearch, CapacityStep, StepOutcome
from loadtests.run.shape import Stage
from loadtests.slo.evaluate import evaluate
from loadtests.slo.spec import ThresholdSpecError, parse_thresholds
from loadtests.suite.collector import MetricsCollector
from loadtests.suite.pool import Counts, run_schedule

# The process's loadtests.suite.arrival.OpenModel: that module drives this one, so its class is
# named here, not imported (no import runs back).
OpenModel = Any

__all__ = ["DONE_MESSAGE", "STEP_MESSAGE", "CapacityController", "run_worker_step"]

log = logging.getLogger("loadtests")

STEP_MESSAGE = "odavl_capacity_step"
DONE_MESSAGE = "odavl_capacity_done"
# A step starts this long after the master sends it, so every worker starts it together.
STEP_START_LEAD_S = 0.5
# A worker waits this long at most after a step for the step's last iterations.
STEP_FINISH_WAIT_S = 10.0
# ... and the master this much longer for the workers' answers.
ANSWER_WAIT_S = 3.0


def run_worker_step(model: OpenModel, data: dict[str, Any]) -> dict[str, Any] | None:
    """Worker side of one step: run its share, then the answer for the master (None: no pool)."""
    pool = model.pool
    if pool is None:
        return None
    step = int(data["step"])
    start_at, duration = float(data["start_at"]), float(data["duration_s"])
    collector = model.step_collectors[step] = MetricsCollector()
    counts = pool.step_counts[step] = Counts()
    schedule = ArrivalSchedule.constant(float(data["rate_per_s"]), duration)
    run_schedule(pool, start_at, schedule.times(model.index or 0, model.count), step=step)
    pool.wait_idle(max(0.0, start_at + duration + STEP_FINISH_WAIT_S - time.time()), step)
    unfinished = pool.in_flight(step)
    model.step_collectors.pop(step, None)
    pool.step_counts.pop(step, None)
    return {
        "step": step,
        "worker": model.state.worker_label,
        "delta": collector.take_delta(),
        "counts": counts.as_dict(),
        "unfinished": unfinished,
    }


@dataclass
class _StepAnswers:
    expected: set[str]
    collector: MetricsCollector = field(default_factory=MetricsCollector)
    answered: set[str] = field(default_factory=set)
    started: int = 0
    completed: int = 0
    dropped: int = 0
    busy_peak: int = 0
    unfinished: int = 0
    done: Event = field(default_factory=Event)

    def add(self, client_id: str, answer: dict[str, Any]) -> None:
        self.collector.merge_delta(answer["delta"])
        counts = answer["counts"]
        self.started += int(counts["started"])
        self.completed += int(counts["completed"])
        self.dropped += int(counts["dropped"])
        self.busy_peak += int(counts["busy_peak"])
        self.unfinished += int(answer.get("unfinished") or 0)
        self.answered.add(client_id)
        if self.expected <= self.answered:
            self.done.set()


class CapacityController:
    """The master's side of the search (see the module docstring)."""

    def __init__(self, model: OpenModel, runner: Any) -> None:
        self.model = model
        self.runner = runner
        self.search = CapacitySearch(model.executor)
        self.answers: dict[int, _StepAnswers] = {}
        self.step_summaries: dict[int, dict] = {}
        self.result: dict[str, Any] | None = None
        self.problem: str | None = None
        try:
            self.thresholds = parse_thresholds(
                model.state.config.thresholds, source="the capacity thresholds"
            )
        except ThresholdSpecError as exc:
            self.thresholds = ()
            self.problem = str(exc)
        if not self.thresholds and self.problem is None:
            self.problem = "no SLO threshold lines to judge the steps with"
        if isinstance(runner, MasterRunner):
            runner.register_message(DONE_MESSAGE, self.on_done_message)

    # --- messages ------------------------------------------------------------------------
    def on_done_message(self, environment: Any, msg: Message, **_kwargs) -> None:
        self.on_answer(msg.node_id, msg.data)

    def on_answer(self, client_id: str, answer: dict[str, Any] | None) -> None:
        if not answer:
            return
        answers = self.answers.get(int(answer["step"]))
        if answers is not None:
            answers.add(client_id, answer)

    def _send_step(self, payload: dict[str, Any]) -> None:
        if isinstance(self.runner, MasterRunner):
            self.runner.send_message(STEP_MESSAGE, payload)
        else:  # standalone: this process is the only worker
            gevent.spawn(lambda: self.on_answer("local", run_worker_step(self.model, payload)))

    # --- the search ----------------------------------------------------------------------
    def run(self) -> None:
        state = self.model.state
        if self.problem:
            state.request_stop("failed", f"the capacity search cannot run: {self.problem}")
            return
        plan = self.model.plan or {}
        gevent.sleep(max(0.0, float(plan.get("t0", time.time())) - time.time()))
        while state.status == "running":
            step = self.search.next_step()
            if step is None:
                break
            outcome = self._run_step(step, plan)
            self.search.record(step, outcome)
            verdict = "met every threshold" if outcome.ok else f"broke: {(outcome.broke or {}).get('detail')}"
            log.info(
                "capacity step %d (%s) at %g per %g s: %s",
                step.index,
                step.kind,
                step.rate,
                self.model.executor.time_unit_s,
                verdict,
            )
        self.result = self.search.result()
        log.info("capacity: %s (%s)", self.result["rate"], self.result["reason"])
        if state.status == "running":
            self._end_profile_now()

    def _end_profile_now(self) -> None:
        """End the profile here (its one stage was the longest search): the shape drains and
        ends the run as at any profile's end, so it completes with the workers leaving normally."""
        state = self.model.state
        shape = self.model.environment.shape_class if self.model.environment else None
        if shape is None or state.started_at is None:
            state.request_stop("completed", None)
            return
        shape.stages = (Stage(round(shape.get_run_time(), 3), 0),)
        state.stages = (Stage(round(time.time() - state.started_at, 3), 0),)

    def _run_step(self, step: CapacityStep, plan: dict[str, Any]) -> StepOutcome:
        expected = set(plan.get("shares") or {})
        if isinstance(self.runner, MasterRunner):
            expected = {
                cid
                for cid in expected
                if (c := self.runner.clients.get(cid)) is not None and c.state != STATE_MISSING
            }
        answers = self.answers[step.index] = _StepAnswers(expected)
        start_at = time.time() + STEP_START_LEAD_S
        self._send_step(
            {
                "step": step.index,
                "rate_per_s": self.model.executor.per_second(step.rate),
                "start_at": start_at,
                "duration_s": step.duration_s,
            }
        )
        answers.done.wait(
            timeout=max(0.0, start_at + step.duration_s + STEP_FINISH_WAIT_S + ANSWER_WAIT_S - time.time())
        )
        return self._judge(step, answers)

    def _judge(self, step: CapacityStep, answers: _StepAnswers) -> StepOutcome:
        duration = step.duration_s
        summaries = answers.collector.summaries(duration, vus=(answers.busy_peak, answers.busy_peak))
        metrics = summaries["metrics"]
        metrics["iterations"] = counter_summary(answers.completed, duration)
        metrics["dropped_iterations"] = counter_summary(answers.dropped, duration)
        self.step_summaries[step.index] = summaries
        doc = {"status": "completed", "duration_s": duration, **summaries}
        failed = [r for r in evaluate(doc, self.thresholds).results if r.state == "fail"]
        missing = sorted(answers.expected - answers.answered)
        requests = int((metrics.get("http_reqs") or {}).get("count") or 0)
        broke: dict[str, Any] | None = None
        if missing:
            broke = {"key": None, "detail": f"no answer from worker(s) {', '.join(missing)}"}
        elif failed:
            first = failed[0]
            broke = {
                "key": first.threshold.key,
                "value": first.value,
                "bound": first.bound,
                "detail": f"{first.threshold.key}: {first.detail}",
            }
        elif answers.dropped:
            broke = {
                "key": "dropped_iterations",
                "value": answers.dropped,
                "bound": 0,
                "detail": f"{answers.dropped} iteration(s) dropped: every user of the pool was busy "
                f"(at most {self.model.executor.max_users}); the generator, not the target, was the limit",
            }
        elif answers.unfinished:
            broke = {
                "key": None,
                "detail": f"{answers.unfinished} iteration(s) still running "
                f"{STEP_FINISH_WAIT_S:g} s after the step",
            }
        elif requests == 0:
            broke = {"key": None, "detail": "no request completed in the step"}
        duration_value = _value(metrics, "http_req_duration", "p95")
        return StepOutcome(
            ok=broke is None,
            broke=broke,
            users=answers.busy_peak,
            iterations=answers.started,
            dropped=answers.dropped,
            requests=requests,
            p95_ms=duration_value,
            p95_intended_ms=_value(metrics, "http_req_latency_intended", "p95"),
            error_rate=_value(metrics, "http_req_failed", "rate"),
            achieved_rate=round(answers.started / duration * self.model.executor.time_unit_s, 3)
            if duration
            else None,
        )

    # --- the results document ----------------------------------------------------------
    def section(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result
        partial = self.search.result()
        partial["reason"] = f"the run ended before the search did; so far: {partial['reason']}"
        return partial

    def final_summaries(self, whole_run: dict) -> dict:
        """The metrics of the rate found (its confirming hold, else its probe), else of the first
        step; the whole run's when no step was judged. Errors stay the whole run's."""
        result = self.section()
        steps = result["steps"]
        chosen = None
        for kind in ("confirm", "probe"):
            matches = [s for s in steps if s["kind"] == kind and s["ok"] and s["rate"] == result["rate"]]
            if matches:
                chosen = matches[-1]["index"]
                break
        if chosen is None and steps:
            chosen = steps[0]["index"]
        if chosen is None or chosen not in self.step_summaries:
            return whole_run
        summaries = dict(self.step_summaries[chosen])
        summaries["errors"] = whole_run["errors"]
        return summaries


def _value(metrics: dict, metric: str, key: str) -> float | None:
    summary = metrics.get(metric)
    return summary.get(key) if isinstance(summary, dict) and summary.get("type") else None
