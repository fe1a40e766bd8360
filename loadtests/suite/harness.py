"""The suite's machinery for a scenario of your own (`--locustfile`, `odavl-perf:loadLocustfile`).

The runner starts Locust with two locustfiles, this one first (`locust -f harness.py,yours.py`).
This one registers every listener of the suite on Locust's events (HDR recording and the
worker-to-master merge, checks, TTFB, auth failures, the Prometheus and InfluxDB exporters, the
live threshold check, the results document) and plays the configured load profile. Yours only
declares user classes derived from `loadtests.suite.user_base.SuiteUser`; their requests and
`self.check(...)` calls feed the same metrics and thresholds as the specification's journeys:

    from locust import between, task

    from loadtests.suite.user_base import SuiteUser


    class HealthUser(SuiteUser):
        group = "health"
        wait_time = between(0.5, 1.5)

        @task
        def health(self) -> None:
            with self.client.get("/health", name="GET /health", catch_response=True) as response:
                self.check(response, "GET /health", response.status_code == 200, "health answers 200")

Do not import this module from yours: Locust loads it as a locustfile, and a second import
would register every listener twice.
"""

from __future__ import annotations

from locust import events

from loadtests.run.config import SuiteConfig
from loadtests.suite.listeners import setup_suite_listeners
from loadtests.suite.locust_shape import ProfileShape

CONFIG = SuiteConfig.from_env()
STATE = setup_suite_listeners(events, CONFIG)


class ScenarioShape(ProfileShape):
    """The configured profile (loadtests/run/shape.py), as for the suite's own journeys."""

    abstract = False
    stages = CONFIG.stages
    drain_s = CONFIG.stop_timeout_s + ProfileShape.drain_s
