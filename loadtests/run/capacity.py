"""The capacity search as a pure state machine: which arrival rate to try next, and what was found.

    search = CapacitySearch(executor)            # executor.kind == "capacity"
    while (step := search.next_step()) is not None:
        outcome = run_and_judge(step)            # the master runs the step on every worker
        search.record(step, outcome)
    search.result()                              # the results document's "capacity" section

Phases:

1. grow: from the starting rate, each step that meets every threshold is followed by one
   `capacity_growth` times faster (capped at `capacity_max_rate`); the first step that breaks a
   threshold ends the phase (its first broken threshold is "the first threshold that broke").
   A search whose first step breaks already ends there: no rate met the thresholds.
2. bisect: between the last good and the first bad rate, the midpoint is tried until the two
   are within `capacity_precision` of the good one.
3. confirm: the good rate is held for `capacity_confirm_s`. If the hold breaks a threshold, the
   short probes proved too kind, so the search goes on with holds only: it steps down by the
   growth factor until a hold meets every threshold, then bisects with holds between that rate
   and the lowest one whose hold broke, to the same precision; at most MAX_CONFIRMS holds in all.

The capacity is the highest rate whose confirming hold met every threshold; a search that ran
into `capacity_max_rate` without a break reports that rate as a lower bound.
Rates are iterations per the executor's time unit, as in its settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtests.run.arrival import MAX_CONFIRMS, Executor

__all__ = ["CapacitySearch", "CapacityStep", "StepOutcome"]


@dataclass(frozen=True)
class CapacityStep:
    """One step to run: `rate` iterations per time unit for `duration_s`."""

    index: int
    kind: str  # "probe" or "confirm"
    rate: float
    duration_s: float


@dataclass(frozen=True)
class StepOutcome:
    """How a step went: `ok` when every threshold held; `broke` the first broken threshold's
    {"key", "value", "bound", "detail"} (or {"key": None, "detail": why} for a step that failed
    without a threshold, e.g. iterations still running at its end)."""

    ok: bool
    broke: dict[str, Any] | None = None
    users: int = 0
    iterations: int = 0
    dropped: int = 0
    requests: int = 0
    p95_ms: float | None = None
    p95_intended_ms: float | None = None
    error_rate: float | None = None
    achieved_rate: float | None = None  # iterations started per time unit


@dataclass
class CapacitySearch:
    executor: Executor
    phase: str = "grow"
    good: float | None = None
    bad: float | None = None
    confirmed: float | None = None
    confirms: int = 0
    first_break: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    _next_rate: float | None = None
    _passed: list[float] = field(default_factory=list)
    _outcomes: dict[float, StepOutcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._next_rate = self.executor.rate

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def next_step(self) -> CapacityStep | None:
        """The next step to run, or None when the search is over."""
        ex = self.executor
        if self.phase == "bisect" and self.good is not None and self.bad is not None:
            if (self.bad - self.good) / self.good <= ex.capacity_precision:
                self.phase = "confirm"
            else:
                self._next_rate = _round((self.good + self.bad) / 2.0)
        if self.phase == "confirm":
            if self.good is None:
                self.phase = "done"
                return None
            return CapacityStep(len(self.steps), "confirm", self.good, ex.capacity_confirm_s)
        if self.phase == "holds":
            rate = self._next_hold()
            if rate is None:
                self.phase = "done"
                return None
            return CapacityStep(len(self.steps), "confirm", rate, ex.capacity_confirm_s)
        if self.phase == "done" or self._next_rate is None:
            return None
        return CapacityStep(len(self.steps), "probe", self._next_rate, ex.capacity_step_s)

    def record(self, step: CapacityStep, outcome: StepOutcome) -> None:
        """Take a step's outcome and move the search on."""
        ex = self.executor
        self.steps.append(
            {
                "index": step.index,
                "kind": step.kind,
                "rate": step.rate,
                "duration_s": step.duration_s,
                "ok": outcome.ok,
                "broke": outcome.broke,
                "users": outcome.users,
                "iterations": outcome.iterations,
                "dropped_iterations": outcome.dropped,
                "requests": outcome.requests,
                "achieved_rate": outcome.achieved_rate,
                "p95_ms": outcome.p95_ms,
                "p95_intended_ms": outcome.p95_intended_ms,
                "error_rate": outcome.error_rate,
            }
        )
        if not outcome.ok and self.first_break is None:
            self.first_break = {
                "rate": step.rate,
                **(outcome.broke or {"key": None, "detail": "step failed"}),
            }
        if outcome.ok:
            self._passed.append(step.rate)
            self._outcomes[step.rate] = outcome
        if step.kind == "confirm":
            self._after_confirm(step, outcome)
            return
        if self.phase == "grow":
            if outcome.ok:
                self.good = step.rate
                if step.rate >= ex.capacity_max_rate:
                    self.phase = "confirm"
                else:
                    self._next_rate = _round(min(step.rate * ex.capacity_growth, ex.capacity_max_rate))
            else:
                self.bad = step.rate
                self.phase = "bisect" if self.good is not None else "done"
            return
        # bisect
        if outcome.ok:
            self.good = step.rate
        else:
            self.bad = step.rate

    def _after_confirm(self, step: CapacityStep, outcome: StepOutcome) -> None:
        self.confirms += 1
        if outcome.ok:
            self.confirmed = max(self.confirmed or 0.0, step.rate)
        else:
            self.bad = step.rate if self.bad is None else min(self.bad, step.rate)
        if self.phase == "confirm" and outcome.ok:
            self.phase = "done"  # the probes' result holds
        elif self.confirms >= MAX_CONFIRMS:
            self.phase = "done"
        else:
            self.phase = "holds"

    def _next_hold(self) -> float | None:
        """After a failed confirmation: step down from the lowest broken hold until one holds,
        then bisect between the best hold that held and the lowest that broke."""
        ex = self.executor
        assert self.bad is not None
        if self.confirmed is None:
            rate = _round(self.bad / ex.capacity_growth)
            return rate if rate >= ex.rate / ex.capacity_growth else None
        if (self.bad - self.confirmed) / self.confirmed <= ex.capacity_precision:
            return None
        return _round((self.confirmed + self.bad) / 2.0)

    def result(self) -> dict[str, Any]:
        """The results document's "capacity" section (rates per time unit; users = the peak
        of users busy at once during the confirming hold)."""
        ex = self.executor
        rate = self.confirmed
        confirmed = rate is not None
        if rate is None and self.good is not None and (self.bad is None or self.good < self.bad):
            rate = self.good  # never confirmed: the best probe below every break, flagged as such
        hit_ceiling = self.first_break is None and rate is not None and rate >= ex.capacity_max_rate
        if rate is None and self.confirms:
            reason = (
                f"no rate met every threshold for a {ex.capacity_confirm_s:g} s hold, down to "
                f"{min(s['rate'] for s in self.steps):g} (the short steps were kinder than the holds)"
            )
        elif rate is None:
            reason = (
                "no rate met every threshold: the starting rate already broke one"
                if self.first_break
                else "the search did not get to judge a step"
            )
        elif hit_ceiling:
            reason = (
                f"every threshold held up to the search's maximum rate ({ex.capacity_max_rate:g}): the "
                "capacity is at least that"
            )
        elif confirmed:
            reason = (
                f"the highest rate that met every threshold, confirmed by a {ex.capacity_confirm_s:g} s hold"
            )
        else:
            reason = (
                "the highest rate that met every threshold in a short step; no hold confirmed it within "
                f"{MAX_CONFIRMS} holds"
            )
        outcome = self._outcomes.get(rate) if rate is not None else None
        confirm_users = [
            s["users"] for s in self.steps if s["kind"] == "confirm" and s["ok"] and s["rate"] == rate
        ]
        return {
            "rate": rate,
            "rate_per_s": None if rate is None else _round(ex.per_second(rate)),
            "time_unit_s": ex.time_unit_s,
            "users": (confirm_users[-1] if confirm_users else outcome.users if outcome else None),
            "confirmed": confirmed,
            "at_max_rate": hit_ceiling,
            "first_break": self.first_break,
            "reason": reason,
            "search": {
                "start_rate": ex.rate,
                "max_rate": ex.capacity_max_rate,
                "growth": ex.capacity_growth,
                "precision": ex.capacity_precision,
                "step_s": ex.capacity_step_s,
                "confirm_s": ex.capacity_confirm_s,
            },
            "steps": list(self.steps),
        }


def _round(rate: float) -> float:
    return round(rate, 3)
