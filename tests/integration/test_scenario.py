"""A scenario of your own: the README's example locustfile on a 2-worker fleet.

`python -m loadtests run --locustfile examples/scenarios/projects.py` against the reference app:
the example declares one user class derived from SuiteUser and nothing else, and still gets
what the suite's journeys get: its logins with the run's secret test users, merged HDR
percentiles per endpoint, its checks, its user group, and a threshold gate
(`python -m loadtests gate`) on its own endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.exit_codes import PASS, SLO_BREACHED
from loadtests.results.document import load_document, validate_document
from loadtests.run.config import USERS_ENV

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/scenarios/projects.py"
EXAMPLE_ENDPOINT = "GET /api/projects"


def loadtests_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loadtests", *args],
        cwd=REPO_ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_readme_scenario_gets_every_metric_check_and_threshold(reference_app, tmp_path):
    app, db = reference_app
    users = [{"email": email, "password": db.test_password} for email in db.test_user_emails]
    results = tmp_path / "results.json"
    run = loadtests_cli(
        "run",
        "--target",
        app.base_url,
        "--locustfile",
        EXAMPLE,
        "--stages",
        "2:8,6:8,1:0",
        "--workers",
        "2",
        "--stop-timeout",
        "3",
        "--results",
        str(results),
        "--log-dir",
        str(tmp_path / "logs"),
        env={**os.environ, USERS_ENV: json.dumps(users)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    doc = load_document(results)
    validate_document(doc)
    assert doc["status"] == "completed", doc["abort_reason"]

    # Only the scenario's users ran: its endpoint and its logins, none of the suite's journeys.
    assert set(doc["endpoints"]) == {EXAMPLE_ENDPOINT, "POST /api/auth/login"}
    assert set(doc["groups"]) == {"projects"}
    projects = doc["endpoints"][EXAMPLE_ENDPOINT]
    assert projects["http_reqs"]["count"] > 20
    assert projects["http_req_duration"]["p95"] > 0
    assert projects["time_to_first_byte"]["count"] == projects["http_reqs"]["count"]
    assert doc["metrics"]["auth_failures"]["count"] == 0
    # Every request was checked, and each check passed (the logins used the secret list).
    assert (
        doc["metrics"]["checks"]["passes"] + doc["metrics"]["checks"]["fails"]
        == doc["metrics"]["http_reqs"]["count"]
    )
    assert doc["metrics"]["checks"]["rate"] == 1.0
    # Both workers ran the scenario, and the merged totals are theirs.
    assert [w["state"] for w in doc["workers"]] == ["finished", "finished"]
    assert sum(w["requests"] for w in doc["workers"]) == doc["metrics"]["http_reqs"]["count"]

    passing = loadtests_cli(
        "gate",
        str(results),
        "--baseline",
        "none",
        "--threshold",
        f"http_req_duration{{endpoint:{EXAMPLE_ENDPOINT}}}: p(95)<5000",
    )
    assert passing.returncode == PASS, passing.stdout + passing.stderr
    failing = loadtests_cli(
        "gate",
        str(results),
        "--baseline",
        "none",
        "--threshold",
        f"http_reqs{{endpoint:{EXAMPLE_ENDPOINT}}}: count<1",
    )
    assert failing.returncode == SLO_BREACHED, failing.stdout + failing.stderr
