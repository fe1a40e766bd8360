"""Locustfile: one user class on one endpoint, with every hook of the suite.

The suite's listeners (HDR recording, worker-to-master merge, checks, Prometheus and InfluxDB
exporters) and its timed session, driving bench/locust_target_server.py. Used by the
known-answer test (path /probe) and by the overhead benchmark (path /fast, no think time).
Settings: the run's config file (ODAVL_LOADTEST_CONFIG), plus PROBE_PATH and PROBE_WAIT_MAX_S.
"""

from __future__ import annotations

import os

from locust import between, events, task

from loadtests.config import SuiteConfig
from loadtests.listeners import setup_suite_listeners
from loadtests.locust_shape import ProfileShape
from loadtests.user_base import SuiteUser

CONFIG = SuiteConfig.from_env()
STATE = setup_suite_listeners(events, CONFIG)
PROBE_PATH = os.environ.get("PROBE_PATH", "/probe")
ENDPOINT = f"GET {PROBE_PATH}"


class ProbeUser(SuiteUser):
    group = "probe"
    wait_time = between(0.0, float(os.environ.get("PROBE_WAIT_MAX_S", "0.05")))

    @task
    def probe(self) -> None:
        with self.client.get(PROBE_PATH, name=ENDPOINT, catch_response=True) as response:
            self.check(response, ENDPOINT, response.status_code == 200, "probe answers 200")


class ProbeShape(ProfileShape):
    abstract = False
    stages = CONFIG.stages
    drain_s = CONFIG.stop_timeout_s + ProfileShape.drain_s
