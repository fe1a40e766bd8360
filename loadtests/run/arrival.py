"""The open model's executors as data: their settings, the iteration schedule, the split across workers.

Executors (k6's names and meanings):

    closed                  the default: a fixed number of users (the profile), each waiting for
                            its answer and thinking before its next action
    constant-arrival-rate   `rate` iterations per `time_unit_s`, for `duration_s`
    ramping-arrival-rate    from `start_rate`, each stage ramps linearly to its `target`
                            (iterations per `time_unit_s`) over its `duration_s`
    capacity                arrival-rate steps from `rate` upwards until an SLO threshold breaks,
                            then a bisection and a confirming hold (loadtests/run/capacity.py)

An iteration is one run of one task of a user. In the open model iterations start on schedule,
whether or not earlier ones have finished: each goes to an idle user of a pool
(`pre_allocated_users` at the start, grown up to `max_users`); an iteration that finds no idle
user and no room to grow is dropped and counted (`dropped_iterations`). Users do not think
between iterations.

The schedule is global: iteration k (from 0) is due when the cumulative number of iterations the
rate asks for reaches k, so 50 per second for 30 s is exactly 1,500 iterations, the first at 0 s.
Worker i of N takes iterations i, i + N, i + 2N, ..., so the workers together run the global
schedule exactly, whatever N. Users are split across workers as evenly as whole numbers allow.

Pure: importable anywhere (the runner, the Pulumi program, the tests) without Locust.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ARRIVAL_LEAD_S",
    "CLOSED",
    "EXECUTORS",
    "OPEN_EXECUTORS",
    "ArrivalSchedule",
    "Executor",
    "RateStage",
    "format_duration",
    "parse_duration",
    "share",
]

CLOSED = "closed"
CONSTANT = "constant-arrival-rate"
RAMPING = "ramping-arrival-rate"
CAPACITY = "capacity"
EXECUTORS = (CLOSED, CONSTANT, RAMPING, CAPACITY)
OPEN_EXECUTORS = (CONSTANT, RAMPING, CAPACITY)
# Between the run's start and the first iteration: the pre-allocated users are created and
# their on_start (a login) runs, so the first iterations find them idle.
ARRIVAL_LEAD_S = 2.0
# Capacity search: the most holds (confirmations, and the steps after a failed one).
MAX_CONFIRMS = 8
# Capacity search: room per step for its last iterations and its judgement (seconds).
STEP_OVERHEAD_S = 14.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a k6 duration such as '500ms', '30s', '2m', '1m30s' or '1h'. Raises ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not a duration such as 30s, 2m or 1m30s")
    rest = text.strip()
    total = 0.0
    position = 0
    while position < len(rest):
        match = _DURATION_PART.match(rest, position)
        if not match:
            raise ValueError(f"{text!r} is not a duration such as 30s, 2m or 1m30s")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return total


def format_duration(seconds: float) -> str:
    """30.0 -> '30s', 90.0 -> '1m30s', 0.5 -> '500ms' (for messages and documents)."""
    if seconds < 1 and seconds > 0:
        return f"{seconds * 1000:g}ms"
    minutes, secs = divmod(seconds, 60.0)
    if minutes and secs:
        return f"{int(minutes)}m{secs:g}s"
    return f"{int(minutes)}m" if minutes else f"{secs:g}s"


def share(total: int, index: int, count: int) -> int:
    """Worker `index`'s (0-based, of `count`) part of `total`: the remainder goes to the first ones."""
    base, remainder = divmod(total, count)
    return base + (1 if index < remainder else 0)


@dataclass(frozen=True)
class RateStage:
    """Ramp linearly to `target` iterations per time unit over `duration_s` seconds."""

    duration_s: float
    target: float

    def as_dict(self) -> dict[str, float]:
        return {"duration_s": self.duration_s, "target": self.target}


@dataclass(frozen=True)
class _Segment:
    start_s: float
    duration_s: float
    rate0: float  # iterations per second at the segment's start
    rate1: float  # ... and at its end
    before: float  # iterations due before the segment starts

    @property
    def count(self) -> float:
        return (self.rate0 + self.rate1) / 2.0 * self.duration_s

    def time_of(self, k: float) -> float:
        """Seconds from the schedule's start at which the cumulative count reaches `k`."""
        need = k - self.before
        if need <= 0:
            return self.start_s
        slope = (self.rate1 - self.rate0) / self.duration_s if self.duration_s else 0.0
        # need = rate0*x + slope/2*x^2, solved in the form that stays exact when slope -> 0.
        root = math.sqrt(max(self.rate0 * self.rate0 + 2.0 * slope * need, 0.0))
        denominator = self.rate0 + root
        x = 2.0 * need / denominator if denominator > 0 else self.duration_s
        return self.start_s + min(x, self.duration_s)


class ArrivalSchedule:
    """The due times (seconds from the schedule's start) of a piecewise-linear arrival rate."""

    def __init__(self, segments: Sequence[tuple[float, float, float]]) -> None:
        """`segments`: (duration_s, rate at start, rate at end) in iterations per second."""
        built: list[_Segment] = []
        start = 0.0
        before = 0.0
        for duration, rate0, rate1 in segments:
            segment = _Segment(start, float(duration), float(rate0), float(rate1), before)
            built.append(segment)
            start += segment.duration_s
            before += segment.count
        self._segments = tuple(built)
        self.duration_s = start
        # Guard against float noise: 50/s for 30 s is 1500 iterations, not 1500.0000001.
        self.total_iterations = max(0, math.ceil(round(before, 6)))

    @classmethod
    def constant(cls, rate_per_s: float, duration_s: float) -> ArrivalSchedule:
        return cls([(duration_s, rate_per_s, rate_per_s)])

    def time_of(self, k: int) -> float:
        """When iteration `k` (0-based, below total_iterations) is due."""
        for segment in self._segments:
            if segment.count > 0 and k < segment.before + segment.count:
                return segment.time_of(k)
        return self.duration_s

    def times(self, index: int = 0, count: int = 1) -> Iterator[float]:
        """The due times of worker `index`'s iterations (every `count`-th, from `index`), in order."""
        position = 0
        segments = self._segments
        for k in range(index, self.total_iterations, count):
            while position < len(segments) - 1 and (
                segments[position].count <= 0 or k >= segments[position].before + segments[position].count
            ):
                position += 1
            yield segments[position].time_of(k)

    def rate_at(self, t_s: float) -> float:
        """Iterations per second asked for at `t_s`."""
        for segment in self._segments:
            if t_s < segment.start_s + segment.duration_s:
                if not segment.duration_s:
                    continue
                fraction = (t_s - segment.start_s) / segment.duration_s
                return segment.rate0 + (segment.rate1 - segment.rate0) * fraction
        return 0.0


@dataclass(frozen=True)
class Executor:
    """How iterations start (see the module docstring). Rates are iterations per `time_unit_s`.

    Capacity search: `rate` is the first step's rate; each step that meets every threshold is
    followed by one `capacity_growth` times faster (at most `capacity_max_rate`); between the
    last good and the first bad rate the search bisects until they are within
    `capacity_precision` (a ratio, 0.05 = 5 %) of each other, then holds the good rate for
    `capacity_confirm_s`. Steps last `capacity_step_s`.
    """

    kind: str = CLOSED
    rate: float = 0.0
    time_unit_s: float = 1.0
    duration_s: float = 0.0
    start_rate: float = 0.0
    stages: tuple[RateStage, ...] = ()
    pre_allocated_users: int = 0
    max_users: int = 0
    capacity_max_rate: float = 0.0
    capacity_growth: float = 1.5
    capacity_precision: float = 0.05
    capacity_step_s: float = 20.0
    capacity_confirm_s: float = 60.0

    @property
    def open_model(self) -> bool:
        return self.kind in OPEN_EXECUTORS

    def per_second(self, rate: float) -> float:
        """`rate` (per time unit) in iterations per second."""
        return rate / self.time_unit_s

    def schedule(self) -> ArrivalSchedule:
        """The schedule of a constant- or ramping-arrival-rate run (not of a capacity search)."""
        if self.kind == CONSTANT:
            return ArrivalSchedule.constant(self.per_second(self.rate), self.duration_s)
        if self.kind == RAMPING:
            segments = []
            previous = self.start_rate
            for stage in self.stages:
                segments.append((stage.duration_s, self.per_second(previous), self.per_second(stage.target)))
                previous = stage.target
            return ArrivalSchedule(segments)
        raise ValueError(f"executor {self.kind!r} has no fixed schedule")

    def capacity_steps_bound(self) -> tuple[int, int]:
        """(probe steps, confirmation holds) a capacity search takes at most."""
        growth = max(self.capacity_growth, 1.000001)
        start = max(self.rate, 1e-9)
        grow = math.ceil(math.log(max(self.capacity_max_rate / start, 1.0)) / math.log(growth)) + 1
        bisect = max(
            1, math.ceil(math.log2(max((growth - 1.0) / max(self.capacity_precision, 1e-6), 1.0))) + 1
        )
        return grow + bisect, MAX_CONFIRMS

    def planned_duration_s(self) -> float:
        """Seconds of iterations: the schedule's length; for a capacity search, its longest."""
        if self.kind in (CONSTANT, RAMPING):
            return self.schedule().duration_s
        if self.kind == CAPACITY:
            probes, confirms = self.capacity_steps_bound()
            return probes * (self.capacity_step_s + STEP_OVERHEAD_S) + confirms * (
                self.capacity_confirm_s + STEP_OVERHEAD_S
            )
        return 0.0

    def planned_iterations(self) -> int | None:
        """Iterations the schedule asks for (None for the closed model and a capacity search)."""
        return self.schedule().total_iterations if self.kind in (CONSTANT, RAMPING) else None

    def problems(self, workers: int = 1) -> list[str]:
        """Every bad setting, each naming the setting, its value and the expected form."""
        if self.kind not in EXECUTORS:
            return [f"load.executor: {self.kind!r}: expected one of {', '.join(EXECUTORS)}"]
        if not self.open_model:
            return []
        problems = []

        def positive(name: str, value: float, expected: str) -> None:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value <= 0:
                problems.append(f"{name}: {value!r}: expected {expected}")

        positive("load.arrival.time_unit", self.time_unit_s, "a duration above 0 such as 1s or 1m")
        if self.kind in (CONSTANT, CAPACITY):
            positive("load.arrival.rate", self.rate, "a number of iterations per time unit above 0")
        if self.kind == CONSTANT:
            positive("load.arrival.duration", self.duration_s, "a duration above 0 such as 30s or 5m")
        if self.kind == RAMPING:
            if not isinstance(self.start_rate, int | float) or self.start_rate < 0:
                problems.append(
                    f"load.arrival.start_rate: {self.start_rate!r}: expected iterations per time unit, "
                    "0 or more"
                )
            if not self.stages:
                problems.append(
                    "load.arrival.stages: []: expected at least one stage {duration, target} for "
                    "ramping-arrival-rate"
                )
            for index, stage in enumerate(self.stages):
                if stage.duration_s < 0 or stage.target < 0:
                    problems.append(
                        f"load.arrival.stages[{index}]: {stage.as_dict()}: expected a duration and a "
                        "target of 0 or more"
                    )
            if self.stages and all(s.duration_s == 0 for s in self.stages):
                problems.append("load.arrival.stages: expected stages lasting more than 0 s in all")
        if self.kind == CAPACITY:
            if not self.capacity_max_rate > self.rate:
                problems.append(
                    f"load.capacity.max_rate: {self.capacity_max_rate!r}: expected a rate above the "
                    f"starting rate ({self.rate!r})"
                )
            if not self.capacity_growth > 1.0:
                problems.append(
                    f"load.capacity.growth: {self.capacity_growth!r}: expected a factor above 1 (1.5 = each "
                    "step 50 % faster)"
                )
            if not 0.0 < self.capacity_precision < 1.0:
                problems.append(
                    f"load.capacity.precision: {self.capacity_precision!r}: expected a ratio above 0 and "
                    "below 1 (0.05 = 5 %)"
                )
            if not self.capacity_step_s >= 5.0:
                problems.append(
                    f"load.capacity.step_duration: {self.capacity_step_s!r}: expected at least 5 s per step"
                )
            if not self.capacity_confirm_s >= self.capacity_step_s:
                problems.append(
                    f"load.capacity.confirm_duration: {self.capacity_confirm_s!r}: expected at least the "
                    f"step duration ({self.capacity_step_s!r} s)"
                )
        if (
            isinstance(self.pre_allocated_users, bool)
            or not isinstance(self.pre_allocated_users, int)
            or (self.pre_allocated_users < 0)
        ):
            problems.append(
                f"load.arrival.pre_allocated_users: {self.pre_allocated_users!r}: expected a whole "
                "number >= 0"
            )
        if (
            isinstance(self.max_users, bool)
            or not isinstance(self.max_users, int)
            or self.max_users < max(1, workers)
        ):
            problems.append(
                f"load.arrival.max_users: {self.max_users!r}: expected a whole number of at least "
                f"{max(1, workers)} (one user per worker or more)"
            )
        elif isinstance(self.pre_allocated_users, int) and self.pre_allocated_users > self.max_users:
            problems.append(
                f"load.arrival.pre_allocated_users: {self.pre_allocated_users!r}: expected at most "
                f"max_users ({self.max_users})"
            )
        return problems

    def as_dict(self) -> dict[str, Any]:
        """JSON form (SuiteConfig, the provider's inputs); `from_dict` reads it back."""
        return {
            "kind": self.kind,
            "rate": self.rate,
            "time_unit_s": self.time_unit_s,
            "duration_s": self.duration_s,
            "start_rate": self.start_rate,
            "stages": [stage.as_dict() for stage in self.stages],
            "pre_allocated_users": self.pre_allocated_users,
            "max_users": self.max_users,
            "capacity_max_rate": self.capacity_max_rate,
            "capacity_growth": self.capacity_growth,
            "capacity_precision": self.capacity_precision,
            "capacity_step_s": self.capacity_step_s,
            "capacity_confirm_s": self.capacity_confirm_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Executor:
        """The executor of `as_dict()`'s form; None or {} is the closed model."""
        if not data:
            return cls()
        known = set(cls.__dataclass_fields__)
        values = {key: value for key, value in data.items() if key in known}
        values["stages"] = tuple(
            RateStage(float(s["duration_s"]), float(s["target"])) for s in data.get("stages") or ()
        )
        for name in ("pre_allocated_users", "max_users"):
            if name in values and isinstance(values[name], float) and values[name].is_integer():
                values[name] = int(values[name])
        return cls(**values)

    def describe(self) -> str:
        """One line for logs and reports, e.g. 'constant-arrival-rate 50/1s for 30s'."""
        unit = format_duration(self.time_unit_s)
        if self.kind == CONSTANT:
            text = f"{self.kind} {self.rate:g}/{unit} for {format_duration(self.duration_s)}"
        elif self.kind == RAMPING:
            ramps = ", ".join(f"{s.target:g}/{unit} in {format_duration(s.duration_s)}" for s in self.stages)
            text = f"{self.kind} from {self.start_rate:g}/{unit}: {ramps}"
        elif self.kind == CAPACITY:
            text = (
                f"capacity search from {self.rate:g}/{unit} up to {self.capacity_max_rate:g}/{unit} "
                f"(x{self.capacity_growth:g} per {format_duration(self.capacity_step_s)} step, "
                f"{self.capacity_precision * 100:g} % precision, {format_duration(self.capacity_confirm_s)} "
                "confirmation)"
            )
        else:
            return CLOSED
        return f"{text}; users {self.pre_allocated_users} pre-allocated, at most {self.max_users}"
