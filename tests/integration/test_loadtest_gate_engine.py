"""Integration with the real Pulumi engine: LoadTestRun's verdict as stack outputs, and the gate.

A small Pulumi program (written to a temporary directory) builds one `LoadTestRun` from stack
config and calls `enforce_slo_gate`. The target is a loopback HTTP server serving the static
assets the suite's static-asset users fetch. Checked, in order:

1. a passing run: `pulumi up` exits 0 and the outputs carry verdict "pass" and the report path;
2. a new run id and an impossible threshold: `pulumi preview --diff` shows the run being
   replaced because of `run_id` and `thresholds`;
3. that run: `pulumi up` exits non-zero with the gate's message, yet `pulumi stack output`
   shows verdict "fail", exit code 99, the passing run as baseline, and the report exists;
4. with nothing changed, a preview only warns and `pulumi up` fails again (no new run);
5. the test user's password appears nowhere in the state (secret input, never an output).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.engine import ROOT, Engine
from tests.integration.loopback_http import serve

pytestmark = [pytest.mark.integration, pytest.mark.engine]

PASSWORD = "hunter2-never-in-state"
PROGRAM = """
import json

import pulumi

from components.loadtest import LoadTestRun, LoadTestRunArgs, enforce_slo_gate

config = pulumi.Config()
run = LoadTestRun(
    "loadtest",
    LoadTestRunArgs(
        run_id=config.require("runId"),
        stack=pulumi.get_stack(),
        target=config.require("target"),
        allowed_hosts=("127.0.0.1",),
        thresholds=json.loads(config.require("thresholds")),
        max_users=2,
        stages=({"duration_s": 6, "target": 2},),
        workers=1,
        think_time_min_s=0.05,
        think_time_max_s=0.2,
        user_weights={"static_assets": 1},
        reports_dir=config.require("reportsDir"),
        enforce=True,
        test_users=config.require_secret("testUsers"),
    ),
)
for name in ("verdict", "exit_code", "threshold_results", "summary", "baseline_run_id", "report_path"):
    pulumi.export(name, getattr(run, name))
enforce_slo_gate(run)
"""


@pytest.fixture
def asset_server() -> Iterator[str]:
    with serve(200) as url:
        yield url


@pytest.fixture
def program(tmp_path: Path, pulumi_engine: Engine) -> Iterator[tuple[Path, Engine]]:
    directory = tmp_path / "program"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(
        "name: loadtest-gate\nruntime:\n  name: python\n  options:\n"
        f"    toolchain: pip\n    virtualenv: {ROOT / '.venv'}\n"
    )
    (directory / "__main__.py").write_text(PROGRAM)
    env = dict(pulumi_engine.env)
    env["PYTHONPATH"] = str(ROOT)  # the program and the dynamic provider import the project
    engine = Engine(env=env, backend_dir=pulumi_engine.backend_dir)
    engine.run("stack", "init", "gate", cwd=directory)
    try:
        yield directory, engine
    finally:
        engine.run("stack", "rm", "--yes", "--force", "gate", cwd=directory, check=False, timeout=120)


def outputs(engine: Engine, directory: Path) -> dict:
    return json.loads(engine.run("stack", "output", "--json", cwd=directory).stdout)


def test_verdict_outputs_replace_on_change_and_enforced_gate(
    program: tuple[Path, Engine], asset_server: str, tmp_path: Path
) -> None:
    directory, engine = program
    reports = tmp_path / "reports"
    users = json.dumps([{"email": "load@example.test", "password": PASSWORD}])
    for key, value in (("runId", "r1"), ("target", asset_server), ("reportsDir", str(reports))):
        engine.run("config", "set", key, value, cwd=directory)
    engine.run(
        "config",
        "set",
        "thresholds",
        json.dumps(["http_req_failed: rate<0.01", "checks: rate>0.95"]),
        cwd=directory,
    )
    engine.run("config", "set", "--secret", "testUsers", users, cwd=directory)

    first = engine.run("up", "--yes", "--skip-preview", cwd=directory, timeout=300)
    assert first.returncode == 0
    passed = outputs(engine, directory)
    assert passed["verdict"] == "pass", passed
    assert passed["exit_code"] == 0
    assert Path(passed["report_path"]).is_file()

    engine.run("config", "set", "runId", "r2", cwd=directory)
    engine.run("config", "set", "thresholds", json.dumps(["http_req_duration: p(95)<0.001"]), cwd=directory)
    preview = engine.run("preview", "--diff", cwd=directory)
    assert "loadtest-run" in preview.stdout
    assert "replace" in preview.stdout
    assert "run_id" in preview.stdout and "thresholds" in preview.stdout

    second = engine.run("up", "--yes", "--skip-preview", cwd=directory, timeout=300, check=False)
    assert second.returncode != 0
    assert "SLO gate failed" in second.stdout + second.stderr
    failed = outputs(engine, directory)
    assert failed["verdict"] == "fail", failed
    assert failed["exit_code"] == 99
    assert failed["baseline_run_id"] == "r1"
    assert failed["threshold_results"][0]["state"] == "fail"
    assert Path(failed["report_path"]).is_file()
    stored = json.loads((reports / "gate" / "runs" / "r2.json").read_text())
    assert stored["verdict"] == "fail"

    # Unchanged inputs: no new run; a preview warns, and `up` stays red until the SLO is met.
    quiet_preview = engine.run("preview", cwd=directory)
    assert "SLO gate failed" in quiet_preview.stdout + quiet_preview.stderr
    again = engine.run("up", "--yes", "--skip-preview", cwd=directory, timeout=300, check=False)
    assert again.returncode != 0
    assert outputs(engine, directory)["verdict"] == "fail"
    rerun = json.loads((reports / "gate" / "runs" / "r2.json").read_text())
    assert rerun["started_at"] == stored["started_at"]  # the same run, not a new one

    state = engine.run("stack", "export", cwd=directory).stdout
    assert PASSWORD not in state
