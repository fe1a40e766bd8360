"""Waiting for the cluster parts' background build (tests/fixtures/cluster_parts.py), and the
cluster tests running after all the others (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import pytest_collection_modifyitems
from tests.fixtures.cluster_parts import wait_for_cluster_parts


def build_dir(tmp_path: Path, pid: int | None) -> Path:
    if pid is not None:
        (tmp_path / "cluster-parts.pid").write_text(f"{pid}\n")
    (tmp_path / "cluster-parts.log").write_text("==> step one\nerror: the fleet image failed\n")
    return tmp_path / "cluster-parts.status"


def test_a_finished_build_returns_at_once(tmp_path: Path) -> None:
    status = build_dir(tmp_path, None)
    status.write_text("0\n")
    wait_for_cluster_parts(status, timeout_s=1, poll_s=0.01)


def test_a_failed_build_raises_with_its_exit_code_and_log(tmp_path: Path) -> None:
    status = build_dir(tmp_path, None)
    status.write_text("1\n")
    with pytest.raises(RuntimeError, match=r"(?s)failed \(exit 1.*the fleet image failed"):
        wait_for_cluster_parts(status, timeout_s=1, poll_s=0.01)


def test_it_waits_while_the_build_runs(tmp_path: Path) -> None:
    status = build_dir(tmp_path, os.getpid())  # a live process stands for the build
    threading.Timer(0.3, lambda: status.write_text("0\n")).start()
    started = time.monotonic()
    wait_for_cluster_parts(status, timeout_s=30, poll_s=0.05)
    assert time.monotonic() - started >= 0.25


def test_a_build_gone_without_a_status_raises(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    status = build_dir(tmp_path, gone.pid)
    with pytest.raises(RuntimeError, match="stopped without a status"):
        wait_for_cluster_parts(status, timeout_s=5, poll_s=0.01)


def test_a_build_past_the_limit_raises(tmp_path: Path) -> None:
    status = build_dir(tmp_path, os.getpid())
    with pytest.raises(RuntimeError, match="still runs after"):
        wait_for_cluster_parts(status, timeout_s=0.1, poll_s=0.02)


def test_the_tests_that_need_the_parts_run_last_in_their_order() -> None:
    items = [
        SimpleNamespace(name="a", fixturenames=["tmp_path"]),
        SimpleNamespace(name="cluster1", fixturenames=["cluster_kubeconfig", "cluster_parts"]),
        SimpleNamespace(name="b", fixturenames=[]),
        SimpleNamespace(name="cluster2", fixturenames=["cluster_parts"]),
        SimpleNamespace(name="c", fixturenames=["pulumi_engine"]),
    ]
    pytest_collection_modifyitems(None, items)
    assert [item.name for item in items] == ["a", "b", "c", "cluster1", "cluster2"]


def test_the_parts_script_parses_and_refuses_an_unknown_command() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "cluster_parts.sh"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    result = subprocess.run(["bash", str(script), "everything"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "usage: bash scripts/cluster_parts.sh plugin|background" in result.stderr
