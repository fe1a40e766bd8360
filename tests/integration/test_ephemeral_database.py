"""An ephemeral stack on the database its base stack tuned: the real project, engine and PostgreSQL.

The base stack (a long-lived stack on a database it does not start itself, like staging) creates
pg_trgm, the read-only role with its grants and the performance indexes. `python -m ops.ephemeral
run` then creates `pr-<n>` from the base's configuration, updates it (policy pack included),
destroys and removes it. Afterwards every one of those objects is still there and unchanged:
same OIDs, same password verifier, same privileges, indexes valid. The ephemeral update only
reported the indexes (`databaseTuning: verify`).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from indexes.migration_plan import parse_migration
from indexes.targets import MIGRATION_FILE
from services.postgres import free_port
from tests.fixtures.engine import copy_project

pytestmark = [pytest.mark.integration, pytest.mark.engine]

ROOT = Path(__file__).resolve().parents[2]
INDEX_NAMES = parse_migration(MIGRATION_FILE.read_text(encoding="utf-8")).names
BASE = "shared"
EPHEMERAL = "pr-77"


def shared_objects(dsn: str, role: str) -> dict[str, Any]:
    """Everything the base stack owns in the database, as the catalogs show it (superuser DSN)."""
    with psycopg.connect(dsn) as conn:

        def rows(query: str, *params: Any) -> list[tuple]:
            return conn.execute(query, params).fetchall()

        return {
            "role": rows(
                "SELECT oid, rolcanlogin, rolsuper, rolcreaterole, md5(rolpassword) FROM pg_authid "
                "WHERE rolname = %s",
                role,
            ),
            "database_acl": rows("SELECT datacl::text FROM pg_database WHERE datname = current_database()"),
            "schema_acl": rows("SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'"),
            "table_grants": rows(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = %s ORDER BY 1, 2",
                role,
            ),
            "default_privileges": rows("SELECT defaclacl::text FROM pg_default_acl ORDER BY 1"),
            "extension": rows("SELECT oid, extversion FROM pg_extension WHERE extname = 'pg_trgm'"),
            "indexes": rows(
                "SELECT c.relname, c.oid, i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY(%s) ORDER BY 1",
                list(INDEX_NAMES),
            ),
        }


def test_an_ephemeral_stack_leaves_the_base_stacks_database_objects_alone(
    pulumi_engine, postgres_server, seeded_database_factory, tmp_path
):
    database = seeded_database_factory(scale="small", seed=42)
    role = f"shared_ro_{secrets.token_hex(4)}"  # roles are cluster-wide: one of this test's own
    project = copy_project(tmp_path / "odavl-perf")
    env = {**pulumi_engine.env, "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}"}
    (tmp_path / "backend").mkdir()

    def pulumi(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=project,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert not check or result.returncode == 0, (
            f"pulumi {args[0]}:\n{result.stdout[-4000:]}{result.stderr}"
        )
        return result

    def ephemeral(*args: str) -> subprocess.CompletedProcess[str]:
        """`python -m ops.ephemeral` on the project copy, as the load-test workflow runs it."""
        command = [sys.executable, "-m", "ops.ephemeral", "--work-dir", str(project), *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)

    pulumi("stack", "init", BASE)
    plain = {
        # A long-lived stack on a database it does not start itself, infrastructure only.
        "databaseManageLocalServer": "false",
        "targetStartReferenceApp": "false",
        "targetBaseUrl": f"http://127.0.0.1:{free_port()}",
        "loadEnabled": "false",
        "databaseHost": postgres_server.host,
        "databasePort": str(postgres_server.port),
        "databaseName": database.name,
        "databaseUser": postgres_server.user,
        "databaseSslMode": "disable",
        "databaseManagement": "sql",
        "databaseReadonlyRole": role,
    }
    for key, value in plain.items():
        pulumi("config", "set", f"odavl-perf:{key}", value, "--stack", BASE)
    users = json.dumps([{"email": database.test_user_emails[0], "password": database.test_password}])
    for key, value in (
        ("databasePassword", postgres_server.password),
        ("databaseReadonlyPassword", "reader-" + secrets.token_hex(8)),
        ("testUsers", users),
    ):
        pulumi("config", "set", "--secret", f"odavl-perf:{key}", "--stack", BASE, stdin=value)
    outputs = tmp_path / "ephemeral-outputs.json"
    try:
        pulumi("up", "--yes", "--stack", BASE)
        before = shared_objects(database.dsn, role)
        assert before["role"] and before["extension"] and before["table_grants"]
        assert [(name, valid) for name, _oid, valid in before["indexes"]] == [
            (name, True) for name in sorted(INDEX_NAMES)
        ]

        run = ephemeral("run", "--base", BASE, "--name", EPHEMERAL, "--outputs-file", str(outputs))
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        assert "odavl-perf:databaseTuning=verify" in run.stdout
        assert "odavl-perf-policies" in run.stdout  # the update ran with the policy pack

        # The ephemeral update reported the indexes and owned nothing ...
        written = json.loads(outputs.read_text())
        assert written["databaseTuning"] == "verify"
        assert written["indexes"] == dict.fromkeys(INDEX_NAMES, "valid")
        assert written["indexCount"] == len(INDEX_NAMES)
        # ... so its teardown left every object of the base stack exactly as it was.
        assert shared_objects(database.dsn, role) == before
        assert EPHEMERAL not in pulumi("stack", "ls", "--json").stdout
    finally:
        ephemeral("destroy", "--name", EPHEMERAL)
        pulumi("destroy", "--yes", "--stack", BASE, check=False)
        pulumi("stack", "rm", "--yes", "--stack", BASE, check=False)
    with psycopg.connect(database.dsn) as conn:  # the base stack's own destroy does remove them
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
