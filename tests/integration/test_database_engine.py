"""DatabaseTuning through the real Pulumi engine (Automation API, inline program, file backend).

On the small seeded database: `up` creates pg_trgm, the read-only role and every index;
a second `up` changes nothing; `refresh` notices an index dropped out of band and the next
`up` rebuilds it; the state on disk holds no password; `destroy` removes what the stack
created and nothing else.
"""

from __future__ import annotations

import psycopg
import pulumi
import pytest
from pulumi import automation as auto

from indexes.migration_plan import parse_migration
from indexes.targets import MIGRATION_FILE
from tests.fixtures.engine import PULUMI_BIN

pytestmark = [pytest.mark.integration, pytest.mark.engine]

READER_PASSWORD = "reader-Secret-2"
INDEX_NAMES = parse_migration(MIGRATION_FILE.read_text(encoding="utf-8")).names


def idx_indexes(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {
            row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'idx\\_%'")
        }


def test_up_rerun_refresh_and_destroy(pulumi_engine, postgres_server, seeded_database_factory, tmp_path):
    database = seeded_database_factory(scale="small", seed=42)
    admin_password = postgres_server.password  # TCP logins need it (scram-sha-256)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX idx_unrelated ON users (display_name)")

    def program() -> None:
        from components.database import DatabaseTuning, DatabaseTuningArgs

        config = pulumi.Config("odavl-perf")
        tuning = DatabaseTuning(
            "db",
            DatabaseTuningArgs(
                host=postgres_server.host,
                port=postgres_server.port,
                database=database.name,
                admin_user=postgres_server.user,
                admin_password=config.require_secret("databasePassword"),
                readonly_role="engine_reader",
                readonly_password=config.require_secret("databaseReadonlyPassword"),
                sslmode="disable",
                management="sql",
            ),
        )
        pulumi.export("indexes", tuning.index_statuses)
        pulumi.export("indexCount", tuning.index_count)
        pulumi.export("readonlyRole", tuning.readonly_role)

    stack = auto.create_or_select_stack(
        stack_name="local",
        project_name="odavl-perf",
        program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path),
            env_vars=pulumi_engine.env,
            pulumi_command=auto.PulumiCommand(root=str(PULUMI_BIN.parent), skip_version_check=True),
            project_settings=auto.ProjectSettings(name="odavl-perf", runtime="python"),
        ),
    )
    stack.set_config("odavl-perf:databasePassword", auto.ConfigValue(admin_password, secret=True))
    stack.set_config("odavl-perf:databaseReadonlyPassword", auto.ConfigValue(READER_PASSWORD, secret=True))
    quiet = {"on_output": lambda _line: None}
    try:
        first = stack.up(**quiet)
        assert first.summary.resource_changes == {"create": 5}
        assert set(first.outputs["indexes"].value.values()) == {"created"}
        assert first.outputs["indexCount"].value == len(INDEX_NAMES)
        assert first.outputs["readonlyRole"].value == "engine_reader"
        assert idx_indexes(database.dsn) == {*INDEX_NAMES, "idx_unrelated"}

        second = stack.up(**quiet)
        assert second.summary.resource_changes == {"same": 5}

        with psycopg.connect(database.dsn, autocommit=True) as conn:
            conn.execute("DROP INDEX idx_audit_logs_action")
        stack.refresh(**quiet)
        repaired = stack.up(**quiet)
        assert repaired.summary.resource_changes == {"same": 4, "update": 1}
        assert repaired.outputs["indexes"].value["idx_audit_logs_action"] == "created"

        state = "".join(
            path.read_text(errors="replace") for path in pulumi_engine.backend_dir.rglob("*.json")
        )
        assert admin_password not in state and READER_PASSWORD not in state

        destroyed = stack.destroy(**quiet)
        assert destroyed.summary.resource_changes == {"delete": 5}
        assert idx_indexes(database.dsn) == {"idx_unrelated"}
        with psycopg.connect(database.dsn) as conn:
            assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'engine_reader'").fetchone() is None
            assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() is None
    finally:
        stack.workspace.remove_stack("local", force=True)
