"""PostgresServer: a throwaway cluster on loopback that can be stopped and started again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from services.postgres import PostgresError, PostgresServer

pytestmark = pytest.mark.integration


def test_start_stop_start_keeps_data_and_cleanup_removes_the_directory() -> None:
    server = PostgresServer()
    base = server.base_dir
    try:
        server.start()
        dsn = server.create_database("keep")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (7)")
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            listen = conn.execute("SHOW listen_addresses").fetchone()[0]
        assert "pg_stat_statements" in preload and listen == "127.0.0.1"
        server.stop()
        assert not server.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
        server.start()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT x FROM t").fetchone()[0] == 7
        server.drop_database("keep")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
    finally:
        server.cleanup()
    assert not base.exists()


def test_cli_start_dsn_stop_on_a_given_directory() -> None:
    root = Path(__file__).resolve().parents[2]
    parent = Path(tempfile.mkdtemp(prefix="odavl-pg-cli-"))
    parent.chmod(0o711)  # the server's OS user must be able to enter it
    base = parent / "cluster"
    run = [sys.executable, "-m", "services.postgres"]
    try:
        started = subprocess.run(
            [*run, "start", "--dir", str(base), "--create-db", "app"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        with psycopg.connect(info["dsn"].replace("dbname=postgres", "dbname=app")) as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        dsn = subprocess.run(
            [*run, "dsn", "--dir", str(base), "--dbname", "app"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert f"port={info['port']}" in dsn.stdout and "dbname=app" in dsn.stdout
    finally:
        subprocess.run([*run, "stop", "--dir", str(base)], cwd=root, capture_output=True, timeout=60)
        PostgresServer(base).cleanup()
    assert not PostgresServer(base).is_running()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to the postgres OS user")
def test_a_directory_the_server_user_cannot_enter_gets_a_clear_error() -> None:
    parent = Path(tempfile.mkdtemp(prefix="odavl-pg-closed-"))  # mode 0700, owned by root
    try:
        with pytest.raises(PostgresError, match="cannot enter"):
            PostgresServer(parent / "cluster").start()
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_a_tcp_connection_without_a_password_is_refused() -> None:
    with PostgresServer() as server:
        with psycopg.connect(server.dsn()) as conn:  # the DSN's password file
            assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
        bare = f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres passfile=/dev/null"
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(bare, connect_timeout=5)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(bare + " password=guess", connect_timeout=5)
        assert server.password not in server.dsn()
        assert os.stat(server.passfile).st_mode & 0o077 == 0


def test_a_symlink_placed_at_the_cluster_path_is_not_followed() -> None:
    parent = Path(tempfile.mkdtemp(prefix="odavl-pg-link-"))
    parent.chmod(0o711)
    victim = Path(tempfile.mkdtemp(prefix="odavl-pg-victim-"))
    victim.chmod(0o755)
    before = victim.stat()
    base = parent / "cluster"
    base.symlink_to(victim)
    try:
        with pytest.raises(PostgresError, match="symbolic link"):
            PostgresServer(base).start()
        after = victim.stat()
        assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
        assert list(victim.iterdir()) == []
    finally:
        PostgresServer(victim).stop()
        shutil.rmtree(parent, ignore_errors=True)
        shutil.rmtree(victim, ignore_errors=True)
