"""Locustfile: a bare FastHttpUser on one path, no listeners (the overhead benchmark's baseline).

BARE_CHECK=1 makes it check each response's status inside `catch_response`, as the suite's
users do, still without any of the suite's listeners or exporters.
"""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

PROBE_PATH = os.environ.get("PROBE_PATH", "/fast")
NAME = f"GET {PROBE_PATH}"


class BareUser(FastHttpUser):
    wait_time = constant(0)

    if os.environ.get("BARE_CHECK") == "1":

        @task
        def probe(self) -> None:
            with self.client.get(PROBE_PATH, name=NAME, catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"status {response.status_code}")

    else:

        @task
        def probe(self) -> None:
            self.client.get(PROBE_PATH, name=NAME)
