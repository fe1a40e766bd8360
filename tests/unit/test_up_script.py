"""scripts/up.sh, run by bash in a copy of the project whose set-up and Pulumi CLI are stand-ins
that record what they were asked: every stack but local is updated through the policy pack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_ENV = """
export PATH="$ROOT/fakebin:$PATH"
"""
FAKE_PULUMI = """#!/usr/bin/env bash
echo "pulumi $*" >> "$(dirname "$0")/../calls.log"
"""


def run_up(tmp_path: Path, *args: str) -> list[str]:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "up.sh", tmp_path / "scripts" / "up.sh")
    (tmp_path / "scripts" / "setup.sh").write_text('echo "setup $*" >> calls.log\n')
    (tmp_path / "scripts" / "env.sh").write_text(FAKE_ENV)
    (tmp_path / "fakebin").mkdir()
    pulumi = tmp_path / "fakebin" / "pulumi"
    pulumi.write_text(FAKE_PULUMI)
    pulumi.chmod(0o755)
    (tmp_path / "policies").mkdir()
    subprocess.run(["bash", str(tmp_path / "scripts" / "up.sh"), *args], check=True, timeout=60)
    return (tmp_path / "calls.log").read_text().splitlines()


@pytest.mark.parametrize("stack", ["staging", "production", "pr-42"])
def test_cluster_and_ephemeral_stacks_are_updated_through_the_policy_pack(tmp_path: Path, stack: str) -> None:
    calls = run_up(tmp_path, stack, "--diff")
    assert calls[0] == "setup "  # the whole set-up: the cluster stacks need the kubernetes plugin
    assert calls[-1] == f"pulumi up --yes --stack {stack} --policy-pack {tmp_path / 'policies'} --diff"


def test_the_local_stack_sets_up_only_what_it_needs_and_runs_without_the_pack(tmp_path: Path) -> None:
    calls = run_up(tmp_path)
    assert calls[0] == "setup --local"
    assert calls[-1] == "pulumi up --yes --stack local"
