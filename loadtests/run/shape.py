"""Load profiles as data, and the Locust shape that plays them with linear ramps.

The specification's staged profile (peak 1200 users) is:

    ramp to 100 in 2 min, hold 5, spike to 500 in 2, hold 5, stress to 1200 in 2, hold 5,
    ramp down to 0 in 5

Its headline says "31 minutes", but the stages it lists add up to 26; the stages are played
as listed.

Profiles are stored in the specification's own terms (seconds, users at a 1200-user peak) and
scaled by `max_users / 1200` (users; a stage that has users keeps at least one) and by
`time_scale` (durations; 1.0 = as specified). Each stage ramps linearly from the previous
stage's target to its own over its duration; a stage whose target equals the previous one holds.
Stage numbers are 1-based; 0 means "after the last stage".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.errors import ConfigError

__all__ = [
    "PROFILES",
    "SPEC_PEAK_USERS",
    "Stage",
    "profile_stages",
    "scale_stages",
    "total_duration",
    "users_at",
]

SPEC_PEAK_USERS = 1200


@dataclass(frozen=True)
class Stage:
    """One stage: reach `target` users (linearly) over `duration_s` seconds."""

    duration_s: float
    target: int

    def as_dict(self) -> dict:
        return {"duration_s": self.duration_s, "target": self.target}


PROFILES: dict[str, tuple[Stage, ...]] = {
    "staged": (
        Stage(120, 100),
        Stage(300, 100),
        Stage(120, 500),
        Stage(300, 500),
        Stage(120, 1200),
        Stage(300, 1200),
        Stage(300, 0),
    ),
    # A few users for a couple of minutes: does everything answer?
    "smoke": (Stage(30, 12), Stage(60, 12), Stage(30, 0)),
    # Moderate load held for four hours: leaks, pool exhaustion, slow degradation.
    "soak": (Stage(300, 480), Stage(14_400, 480), Stage(300, 0)),
    # Baseline, a sudden jump to the peak, hold, and back: recovery after a burst.
    "spike": (
        Stage(60, 120),
        Stage(120, 120),
        Stage(30, 1200),
        Stage(180, 1200),
        Stage(30, 120),
        Stage(120, 120),
        Stage(60, 0),
    ),
}


def scale_stages(stages: Sequence[Stage], max_users: int, time_scale: float) -> tuple[Stage, ...]:
    """Scale specification-sized stages to `max_users` at the peak and `time_scale` in time."""
    if max_users < 0:
        raise ConfigError(f"load.max_users: {max_users!r} must be a whole number >= 0")
    if not (time_scale > 0 and math.isfinite(time_scale)):
        raise ConfigError(f"load.time_scale: {time_scale!r} must be a number > 0 (1.0 = as specified)")
    factor = max_users / SPEC_PEAK_USERS
    out = []
    for stage in stages:
        users = round(stage.target * factor)
        if stage.target > 0 and max_users > 0:
            users = max(1, users)
        out.append(Stage(round(stage.duration_s * time_scale, 3), users))
    return tuple(out)


def profile_stages(
    name: str,
    max_users: int,
    time_scale: float,
    override: Sequence[Stage] | None = None,
) -> tuple[Stage, ...]:
    """The stages to run: `override` as given (already absolute), or the named profile scaled."""
    if override:
        for i, stage in enumerate(override):
            if stage.duration_s < 0 or stage.target < 0:
                raise ConfigError(f"load.stages[{i}]: {stage!r} needs duration_s >= 0 and target >= 0")
        return tuple(override)
    if name not in PROFILES:
        raise ConfigError(f"load.profile: {name!r} is not one of {', '.join(sorted(PROFILES))}")
    return scale_stages(PROFILES[name], max_users, time_scale)


def total_duration(stages: Sequence[Stage]) -> float:
    return sum(stage.duration_s for stage in stages)


def users_at(stages: Sequence[Stage], elapsed_s: float) -> tuple[int, float, int] | None:
    """(users, ramp slope in users/s, 1-based stage number) at `elapsed_s`; None after the end."""
    start = 0.0
    previous = 0
    for number, stage in enumerate(stages, start=1):
        end = start + stage.duration_s
        if elapsed_s < end:
            fraction = (elapsed_s - start) / stage.duration_s if stage.duration_s else 1.0
            users = previous + (stage.target - previous) * fraction
            slope = (stage.target - previous) / stage.duration_s if stage.duration_s else 0.0
            return round(users), slope, number
        start = end
        previous = stage.target
    return None


def stage_at(stages: Sequence[Stage], elapsed_s: float) -> int:
    """1-based stage number at `elapsed_s`, 0 before the start or after the last stage."""
    if elapsed_s < 0:
        return 0
    state = users_at(stages, elapsed_s)
    return 0 if state is None else state[2]
