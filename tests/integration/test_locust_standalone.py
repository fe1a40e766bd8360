"""A standalone Locust (no master, no workers) with the suite's listeners writes results too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.results.document import load_document
from loadtests.run.config import CONFIG_ENV, SuiteConfig
from loadtests.run.shape import Stage

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_standalone_locust_writes_a_valid_results_document(locust_target, tmp_path):
    suite = SuiteConfig(
        target=locust_target.url,
        run_id="standalone",
        stages=(Stage(1, 5), Stage(6, 5), Stage(1, 0)),
        stop_timeout_s=4.0,
        results_path=str(tmp_path / "results.json"),
    )
    (tmp_path / "suite.json").write_text(suite.to_json())
    env = {**os.environ, CONFIG_ENV: str(tmp_path / "suite.json"), "PYTHONPATH": str(REPO_ROOT)}
    env["PROBE_PATH"] = "/probe"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "bench/locust_probe.py",
            "--headless",
            "--host",
            locust_target.url,
            "--exit-code-on-error",
            "0",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    doc = load_document(tmp_path / "results.json")
    served = locust_target.stats()
    assert doc["status"] == "completed"
    # The one process is the generator: its own CPU and event-loop lag, over the 8 s profile.
    [generator] = doc["generators"]["workers"]
    assert (generator["id"], generator["role"], generator["saturated"]) == ("local", "local", False)
    assert generator["cpu_samples"] >= 6 and generator["lag_samples"] >= 60
    assert doc["generators"]["master"] is None
    requests = doc["metrics"]["http_reqs"]["count"]
    failures = doc["metrics"]["http_req_failed"]["passes"]
    # A standalone Locust cancels the requests still in flight when its users stop (at most
    # one per user), so the server may have answered up to 5 more than were measured.
    assert served["probe"] - 5 <= requests <= served["probe"]
    assert served["probe_errors"] - 5 <= failures <= served["probe_errors"]
    assert doc["workers"] == [
        {"id": "local", "state": "finished", "requests": requests, "failures": failures}
    ]
    assert doc["timeline"] and doc["metrics"]["vus"]["max"] == 5
