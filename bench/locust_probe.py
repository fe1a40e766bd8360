"""Locustfile: one user class on one endpoint, with every hook of the suite.

The suite's listeners (HDR recording, worker-to-master merge, checks, Prometheus and InfluxDB
exporters), driving bench/locust_target_server.py. Used by the known-answer and exporter
tests (path /probe) and by the overhead benchmarks (path /fast).
Settings: the run's config file (ODAVL_LOADTEST_CONFIG), and
  PROBE_PATH        path to load (default /probe)
  PROBE_WAIT_MAX_S  think time drawn from 0..this (default 0.05; 0 = none)
  PROBE_LOGIN       "1": each user first tries to log in at /login (the target answers 404,
                    so every attempt is an auth failure: exercises that metric)
  PROBE_RAW_DIR     a directory: each process also writes every raw response time (ms) there,
                    one per line, for comparisons with exact percentiles
"""

from __future__ import annotations

import os
from pathlib import Path

from locust import between, constant, events, task

from loadtests.run.config import SuiteConfig, load_test_users
from loadtests.suite.listeners import setup_suite_listeners
from loadtests.suite.locust_shape import ProfileShape
from loadtests.suite.user_base import SuiteUser

CONFIG = SuiteConfig.from_env()
STATE = setup_suite_listeners(events, CONFIG)
PROBE_PATH = os.environ.get("PROBE_PATH", "/probe")
ENDPOINT = f"GET {PROBE_PATH}"
WAIT_MAX_S = float(os.environ.get("PROBE_WAIT_MAX_S", "0.05"))
RAW_DIR = os.environ.get("PROBE_RAW_DIR")
RAW_SAMPLES: list[float] = []


class ProbeUser(SuiteUser):
    group = "probe"
    wait_time = between(0.0, WAIT_MAX_S) if WAIT_MAX_S > 0 else constant(0)
    test_users = load_test_users()
    login_path = "/login"
    login_endpoint = "POST /login"

    def on_start(self) -> None:
        if os.environ.get("PROBE_LOGIN") == "1":
            self.login()

    @task
    def probe(self) -> None:
        with self.client.get(PROBE_PATH, name=ENDPOINT, catch_response=True) as response:
            self.check(response, ENDPOINT, response.status_code == 200, "probe answers 200")


class ProbeShape(ProfileShape):
    abstract = False
    stages = CONFIG.stages
    drain_s = CONFIG.stop_timeout_s + ProfileShape.drain_s


if RAW_DIR:

    @events.request.add_listener
    def keep_raw_sample(name: str, response_time: float, **_kwargs) -> None:
        if name == ENDPOINT:
            RAW_SAMPLES.append(response_time)

    @events.quitting.add_listener
    def write_raw_samples(**_kwargs) -> None:
        if RAW_SAMPLES:
            path = Path(RAW_DIR) / f"raw-{os.getpid()}.txt"
            path.write_text("\n".join(repr(v) for v in RAW_SAMPLES) + "\n", encoding="utf-8")
