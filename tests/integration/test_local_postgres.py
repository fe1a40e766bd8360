"""LocalPostgres provider on a real cluster: the role's password never reaches the server in clear."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from components.providers.local_postgres import LocalPostgresProvider
from services.postgres import PostgresServer, free_port

pytestmark = pytest.mark.integration

ROLE_PASSWORD = "Role-Plain-Secret-7731"
TEST_PASSWORD = "Seed-Plain-Secret-4410"


def test_the_role_password_is_in_neither_pg_stat_statements_nor_the_server_log() -> None:
    parent = Path(tempfile.mkdtemp(prefix="odavl-local-pg-"))
    parent.chmod(0o711)  # the server's OS user must be able to enter it
    base, port = parent / "cluster", free_port()
    # The provider reuses an existing cluster; this one logs every statement it runs.
    PostgresServer(base, port=port, settings={"log_statement": "'all'"}).start()
    props = {
        "base_dir": str(base),
        "port": port,
        "database": "app",
        "user": "app_owner",
        "password": ROLE_PASSWORD,
        "seed_scale": "small",
        "seed": 42,
        "test_password": TEST_PASSWORD,
    }
    provider = LocalPostgresProvider()
    try:
        created = provider.create(props)
        dsn = f"host=127.0.0.1 port={port} dbname=app user=app_owner password={ROLE_PASSWORD}"
        with psycopg.connect(dsn) as conn:  # the role logs in with its password over TCP
            assert conn.execute("SELECT count(*) FROM users").fetchone()[0] > 0
        server = PostgresServer(base, port=port)
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            statements = [row[0] for row in conn.execute("SELECT query FROM pg_stat_statements")]
            stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'app_owner'").fetchone()
        assert any("ROLE" in text.upper() for text in statements)  # the role statement was tracked
        assert not [text for text in statements if ROLE_PASSWORD in text or TEST_PASSWORD in text]
        assert stored[0].startswith("SCRAM-SHA-256$")
        log = server.log_file.read_text(errors="replace")
        assert "app_owner" in log  # statements were logged
        assert ROLE_PASSWORD not in log and TEST_PASSWORD not in log
        assert ROLE_PASSWORD not in repr(created.outs) and TEST_PASSWORD not in repr(created.outs)
    finally:
        provider.delete("", {"base_dir": str(base), "port": port})
        shutil.rmtree(parent, ignore_errors=True)
