"""`python -m ops.ephemeral` on a project directory, as the load-test workflow runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.engine]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-secret-value-0123456789"


@pytest.fixture
def project(pulumi_engine, tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    work_dir, markers, backend = tmp_path / "project", tmp_path / "markers", tmp_path / "backend"
    for directory in (work_dir, markers, backend):
        directory.mkdir()
    (work_dir / "Pulumi.yaml").write_text(
        "name: ephemeral-probe\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {ROOT / '.venv'}\n"
    )
    (work_dir / "__main__.py").write_text(
        "from tests.integration.ephemeral_probe import program\n\nprogram()\n"
    )
    env = {
        **pulumi_engine.env,
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": "ephemeral-cli-passphrase",
        "PYTHONPATH": str(ROOT),
    }
    for args in (
        ["stack", "init", "staging"],
        ["config", "set", "--stack", "staging", "probe:dir", str(markers)],
        ["config", "set", "--stack", "staging", "--secret", "probe:token", "base-token"],
    ):
        subprocess.run(["pulumi", *args, "--non-interactive"], cwd=work_dir, env=env, check=True, timeout=120)
    return work_dir, env, backend


def _ephemeral(work_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.ephemeral", "--work-dir", str(work_dir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_cli_run_then_nothing_is_left_and_the_secret_is_never_printed(project, tmp_path):
    work_dir, env, backend = project
    outputs = tmp_path / "outputs.json"
    result = _ephemeral(
        work_dir,
        {**env, "PROBE_TOKEN": SECRET},
        "run",
        "--base",
        "staging",
        "--pr",
        "5",
        "--config",
        "probe:label=cli",
        "--secret-from-env",
        "probe:token=PROBE_TOKEN",
        "--outputs-file",
        str(outputs),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads(outputs.read_text())
    assert (
        written["label"] == "cli"
        and written["token_length"] == len(SECRET)
        and written["token"] == "[secret]"
    )
    assert SECRET not in result.stdout + result.stderr + outputs.read_text()
    assert not (work_dir / "Pulumi.pr-5.yaml").exists()
    assert [p for p in backend.rglob("*") if p.is_file() and "pr-5" in str(p)] == []

    stacks = subprocess.run(
        ["pulumi", "stack", "ls", "--json"],
        cwd=work_dir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert [s["name"] for s in json.loads(stacks.stdout)] == ["staging"]


def test_cli_refuses_to_destroy_a_long_lived_stack_and_cleanup_keeps_it(project):
    work_dir, env, _ = project
    refused = _ephemeral(work_dir, env, "destroy", "--name", "staging")
    assert refused.returncode == 2 and "refusing to destroy" in refused.stderr
    cleaned = _ephemeral(work_dir, env, "cleanup", "--ttl", "0s")
    assert cleaned.returncode == 0 and "removed 0 ephemeral stack(s)" in cleaned.stdout
    assert (work_dir / "Pulumi.staging.yaml").exists()
