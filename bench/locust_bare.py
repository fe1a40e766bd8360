"""Locustfile: a bare FastHttpUser on one path, no listeners (the overhead benchmark's baseline)."""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

PROBE_PATH = os.environ.get("PROBE_PATH", "/fast")


class BareUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def probe(self) -> None:
        self.client.get(PROBE_PATH, name=f"GET {PROBE_PATH}")
