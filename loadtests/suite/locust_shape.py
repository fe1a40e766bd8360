"""The Locust `LoadTestShape` that plays a profile from loadtests/run/shape.py.

Kept apart from shape.py because importing Locust monkey-patches the process with gevent; the
profile data must stay importable anywhere (the runner, the Pulumi program).

Each tick (Locust asks once a second) returns the linearly interpolated user count and a spawn
rate that reaches it within half a tick, so the ramp follows the stage line rather than
Locust's fixed spawn rate. After the last stage the shape holds 0 users for `drain_s` seconds
(users finish their current request and the workers' last reports reach the master) and then
ends the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from locust import LoadTestShape

from loadtests.run.shape import Stage, total_duration, users_at

__all__ = ["ProfileShape"]

WORKER_REPORT_INTERVAL_S = 3.0


class ProfileShape(LoadTestShape):
    """Plays `stages`, then drains for `drain_s` (class attributes the locustfile sets from its config).

    Abstract: Locust runs the first concrete shape class it finds in a locustfile, so a
    locustfile declares its own subclass with `abstract = False`.
    """

    abstract = True
    stages: Sequence[Stage] = ()
    drain_s: float = 2 * WORKER_REPORT_INTERVAL_S + 1

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        state = users_at(self.stages, elapsed)
        if state is None:
            if elapsed < total_duration(self.stages) + self.drain_s:
                return 0, 1000.0
            return None
        users, slope, _stage = state
        return users, max(1.0, 2.0 * abs(slope), float(users) if slope == 0 else 0.0)
