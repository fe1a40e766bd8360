"""The ephemeral-stack lifecycle on the real Pulumi engine (file backend, passphrase secrets):
nothing is left behind - no stack, no state, no stack file, no resource - after success, after an
injected failure mid-update, after SIGTERM, and after `cleanup` of leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pulumi import automation as auto

from ops.ephemeral import EphemeralSpec, EphemeralStacks
from tests.fixtures.engine import PULUMI_BIN
from tests.integration import ephemeral_probe

pytestmark = [pytest.mark.integration, pytest.mark.engine]

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Probe:
    work_dir: Path
    backend: Path
    markers: Path
    env: dict[str, str]

    def workspace(self) -> auto.LocalWorkspace:
        settings = auto.ProjectSettings(
            name=ephemeral_probe.PROJECT,
            runtime="python",
            backend=auto.ProjectBackend(f"file://{self.backend}"),
        )
        return auto.LocalWorkspace(
            work_dir=str(self.work_dir),
            program=ephemeral_probe.program,
            env_vars=self.env,
            project_settings=settings,
            pulumi_command=auto.PulumiCommand(root=str(PULUMI_BIN.parent)),
        )

    def stacks(self, logs: list[str] | None = None) -> EphemeralStacks:
        return EphemeralStacks(self.workspace(), log=(logs.append if logs is not None else lambda _: None))

    def leftovers(self, name: str) -> list[str]:
        """Every trace of stack `name`: listed stacks, backend files, stack files, marker files."""
        found = [s.name for s in self.workspace().list_stacks() if s.name.split("/")[-1] == name]
        # Files only: the file backend keeps its (empty) per-stack history and backup folders.
        found += [
            str(p)
            for p in self.backend.rglob("*")
            if p.is_file() and name in str(p.relative_to(self.backend))
        ]
        found += [str(p) for p in self.work_dir.glob(f"Pulumi.{name}.yaml")]
        found += [p.name for p in self.markers.iterdir() if p.name.startswith("marker")]
        return found


@pytest.fixture
def probe(pulumi_engine, tmp_path: Path) -> Probe:
    work_dir, backend, markers = tmp_path / "project", tmp_path / "backend", tmp_path / "markers"
    for directory in (work_dir, backend, markers):
        directory.mkdir()
    env = {
        "PATH": pulumi_engine.env["PATH"],
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": "ephemeral-test-passphrase",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PYTHONPATH": str(ROOT),  # the dynamic provider unpickles MarkerProvider from tests/
    }
    probe = Probe(work_dir, backend, markers, env)
    base = auto.Stack.create("staging", probe.workspace())
    base.set_all_config(
        {
            "probe:dir": auto.ConfigValue(str(markers)),
            "probe:token": auto.ConfigValue("base-token-0123456789", secret=True),
        }
    )
    return probe


def test_run_copies_the_config_reads_outputs_and_leaves_nothing(probe, tmp_path):
    outputs_file = tmp_path / "outputs.json"
    spec = EphemeralSpec("pr-7", "staging", config={"probe:label": "from-pr"})
    result = probe.stacks().run(spec, outputs_file=outputs_file)

    assert result.exit_code == 0, result.update_error or result.teardown_error
    assert result.outputs["label"] == "from-pr"
    assert result.outputs["token_length"] == len(
        "base-token-0123456789"
    )  # the secret was re-encrypted and read
    assert result.outputs["token"] == "[secret]"
    assert result.outputs["markers"] == ["marker-a", "marker-b"]
    assert "base-token" not in outputs_file.read_text()
    assert probe.leftovers("pr-7") == []
    assert [s.name for s in probe.workspace().list_stacks()] == ["staging"]


def test_secret_override_is_set_without_appearing_in_logs(probe):
    logs: list[str] = []
    stacks = probe.stacks(logs)
    spec = EphemeralSpec("rc-0a1b2c3d4e5f", "staging", secrets={"probe:token": "override-secret-xyz"})
    stack = stacks.create(spec)
    try:
        assert stack.get_config("probe:token").value == "override-secret-xyz"
        assert stack.get_config("probe:token").secret
        stack_file = (probe.work_dir / "Pulumi.rc-0a1b2c3d4e5f.yaml").read_text()
        assert "override-secret-xyz" not in stack_file and "secure:" in stack_file
        assert stack.get_config("probe:dir").value == str(probe.markers)
    finally:
        stacks.teardown("rc-0a1b2c3d4e5f")
    assert not any("override-secret-xyz" in line for line in logs)
    assert probe.leftovers("rc-0a1b2c3d4e5f") == []


def test_injected_failure_mid_update_still_destroys_and_removes(probe):
    spec = EphemeralSpec("pr-8", "staging", config={"probe:mode": "fail"})
    result = probe.stacks().run(spec)

    assert result.exit_code == 1
    assert "injected failure while creating marker-b" in result.update_error
    assert result.teardown_error is None
    assert probe.leftovers("pr-8") == []  # marker-a was created, then destroyed


def test_sigterm_during_the_update_tears_everything_down(probe, tmp_path):
    script = (
        "import sys; from pathlib import Path; "
        "from tests.integration.test_ephemeral import run_probe_in_child; "
        "sys.exit(run_probe_in_child(*sys.argv[1:]))"
    )
    child_env = {**os.environ, **probe.env}
    args = [str(probe.work_dir), str(probe.backend), str(probe.markers), "pr-9"]
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=child_env)
    try:
        started = probe.markers / "started"
        for _ in range(1200):  # up to 120 s for the update to reach the slow resource
            if started.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists(), f"the update never reached the slow resource (exit {process.poll()})"
        process.send_signal(signal.SIGTERM)
        (probe.markers / "release").write_text("1")
        code = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert code == 128 + signal.SIGTERM
    for marker in ("started", "release"):
        (probe.markers / marker).unlink()
    assert probe.leftovers("pr-9") == []


def run_probe_in_child(work_dir: str, backend: str, markers: str, name: str) -> int:
    """Entry point of the SIGTERM test's child process: a run whose second resource is slow."""
    probe = Probe(Path(work_dir), Path(backend), Path(markers), dict(os.environ))
    result = probe.stacks(logs=None).run(EphemeralSpec(name, "staging", config={"probe:mode": "slow"}))
    return result.exit_code


def test_cleanup_removes_only_ephemeral_stacks_older_than_the_ttl(probe):
    stacks = probe.stacks()
    now = datetime.now(UTC)
    with_resources = stacks.create(EphemeralSpec("pr-10", "staging"), now=now - timedelta(hours=30))
    stacks.up(with_resources)  # a leftover of a killed run, resources and all
    stacks.create(EphemeralSpec("rc-1234567", "staging"), now=now - timedelta(hours=2))
    assert sorted(p.name for p in probe.markers.iterdir()) == ["marker-a", "marker-b"]

    assert stacks.cleanup(timedelta(hours=24), now=now) == ["pr-10"]
    assert probe.leftovers("pr-10") == []
    assert sorted(s.name for s in probe.workspace().list_stacks()) == ["rc-1234567", "staging"]

    assert stacks.cleanup(timedelta(hours=1), now=now) == ["rc-1234567"]
    assert [s.name for s in probe.workspace().list_stacks()] == ["staging"]
    assert probe.leftovers("rc-1234567") == []
