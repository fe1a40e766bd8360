"""A scenario locustfile whose users saturate their worker's CPU (tests/integration/test_generator_health.py).

Each user burns BURN_S of CPU in a tight loop that never yields to the gevent loop, then sends one
request to the target's fast endpoint, with no think time: a handful of such users keep one
worker process at a full core and its event loop far behind, as an overloaded generator is.
Loaded after loadtests/suite/harness.py (`RunConfig(scenario=...)`), like any scenario.
"""

from __future__ import annotations

import time

from locust import constant, task

from loadtests.suite.user_base import SuiteUser

BURN_S = 0.05


class CpuBoundUser(SuiteUser):
    group = "cpu_bound"
    wait_time = constant(0)

    @task
    def burn_then_request(self) -> None:
        deadline = time.perf_counter() + BURN_S
        while time.perf_counter() < deadline:
            pass
        with self.client.get("/fast", name="GET /fast", catch_response=True) as response:
            self.check(response, "GET /fast", response.status_code == 200, "fast answers 200")
