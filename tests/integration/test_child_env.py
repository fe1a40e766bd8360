"""Processes the project starts get a minimal environment: the parent's secrets stay behind.

A sentinel passphrase and cloud key are set in this (the parent) process; the Locust master and
workers, and the detached reference app, are started for real and their initial environment is
read from /proc/<pid>/environ.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from components.providers.reference_app_process import ReferenceAppProvider
from loadtests.run.config import CONFIG_ENV, USERS_ENV, RunConfig, TestUser
from loadtests.run.runner import start_fleet
from loadtests.run.shape import Stage
from services.postgres import free_port

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SENTINELS = {
    "PULUMI_CONFIG_PASSPHRASE": "sentinel-passphrase-5521",
    "AWS_SECRET_ACCESS_KEY": "sentinel-aws-key-9034",
    "ODAVL_UNRELATED_TOKEN": "sentinel-token-1178",
}


def environ_of(pid: int) -> dict[str, str]:
    """The environment `pid` was started with.

    Popen returns once exec has closed the close-on-exec pipe, which is a moment before the
    kernel has set up the new program's environment: a read in that moment finds it empty. So
    read again until it is there (a process that has exited reads empty too, and fails below).
    """
    deadline = time.monotonic() + 10
    while True:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        if raw or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert raw, f"process {pid} has no environment to read (it exited?)"
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@pytest.fixture
def parent_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)


def assert_no_sentinel(env: dict[str, str]) -> None:
    assert not set(SENTINELS) & set(env)
    assert not [value for value in SENTINELS.values() if value in "\0".join(env.values())]


def test_locust_master_and_workers_do_not_inherit_the_parent_s_secrets(
    parent_secrets: None, locust_target, tmp_path: Path
) -> None:
    config = RunConfig(
        target=locust_target.url,
        stages=(Stage(60, 1),),
        workers=2,
        locustfile=str(REPO_ROOT / "bench" / "locust_probe.py"),
        results_path=str(tmp_path / "results.json"),
        test_users=(TestUser("a@x.test", "user-pw"),),
        run_timeout_s=60,
    )
    handle = start_fleet(config)
    try:
        processes = [handle.master, *handle.workers]
        envs = [environ_of(proc.pid) for proc in processes]
    finally:
        for proc in [handle.master, *handle.workers]:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(handle.run_dir, ignore_errors=True)
    master, *workers = envs
    for env in envs:
        assert env[CONFIG_ENV] and env["PATH"]  # the environment was read, and has what it needs
        assert_no_sentinel(env)
    assert USERS_ENV not in master
    assert all(USERS_ENV in env for env in workers)


def test_the_detached_reference_app_does_not_inherit_the_parent_s_secrets(
    parent_secrets: None, postgres_server, tmp_path: Path
) -> None:
    provider = ReferenceAppProvider()
    props = {
        "port": free_port(),
        "dsn": postgres_server.dsn(),
        "log_path": str(tmp_path / "app.log"),
        "python": sys.executable,
    }
    created = provider.create(props)
    try:
        env = environ_of(int(created.outs["pid"]))
    finally:
        provider.delete(created.id, created.outs)
    assert env["STUDIOHUB_DSN"] == postgres_server.dsn() and env["PATH"]
    assert_no_sentinel(env)


def test_the_local_postgresql_server_does_not_inherit_the_parent_s_secrets(
    parent_secrets: None,
) -> None:
    from services.postgres import PostgresServer

    server = PostgresServer().start()  # a fresh cluster in a private directory of its own
    try:
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        env = environ_of(postmaster)
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)
    assert env["PATH"]
    assert_no_sentinel(env)
