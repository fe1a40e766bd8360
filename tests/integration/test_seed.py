"""The seeder against real PostgreSQL: determinism, refusal to overwrite, realistic skew."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from components.providers.role_password import password_clause
from reference_app.schema import TABLES, table_checksums
from reference_app.seed import SeedError, loadtest_users, seed_database
from reference_app.seed_data import SCALES
from services.postgres import PostgresServer

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
USERS = loadtest_users(3, "fixed-password-for-checksums")


def _fresh(postgres_server: PostgresServer, name: str) -> str:
    postgres_server.drop_database(name)
    return postgres_server.create_database(name)


def _checksums(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return table_checksums(conn)


def test_same_seed_gives_identical_tables_and_another_seed_differs(postgres_server: PostgresServer) -> None:
    first = _fresh(postgres_server, "determinism_a")
    second = _fresh(postgres_server, "determinism_b")
    other = _fresh(postgres_server, "determinism_c")
    for dsn, seed in ((first, 42), (second, 42), (other, 43)):
        seed_database(dsn, scale="small", seed=seed, anchor=ANCHOR, users=USERS, vacuum=False)
    sums_first, sums_second, sums_other = _checksums(first), _checksums(second), _checksums(other)
    assert set(sums_first) == set(TABLES)
    assert sums_first == sums_second
    assert all(
        sums_first[t] != sums_other[t] for t in ("insight_issues", "autopilot_runs", "analytics_events")
    )


def test_row_counts_follow_the_scale(seeded_database_factory: Callable[..., Any]) -> None:
    db = seeded_database_factory(scale="small", seed=42)
    scale = SCALES["small"]
    with psycopg.connect(db.dsn) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        next_id = conn.execute("SELECT nextval(pg_get_serial_sequence('insight_issues', 'id'))").fetchone()[0]
    assert counts["insight_issues"] == scale.insight_issues
    assert counts["users"] == scale.users + len(db.test_user_emails)
    assert counts["analytics_events"] == scale.analytics_events
    assert next_id == scale.insight_issues + 1  # sequences continue after the seeded ids


def test_data_is_skewed_like_a_real_tenant_base(seeded_database_factory: Callable[..., Any]) -> None:
    db = seeded_database_factory(scale="small", seed=42)
    with psycopg.connect(db.dsn) as conn:
        per_org = [
            r[0]
            for r in conn.execute(
                "SELECT count(*) FROM insight_issues GROUP BY org_id ORDER BY 1 DESC"
            ).fetchall()
        ]
        resolved, deleted, total = conn.execute(
            "SELECT count(*) FILTER (WHERE resolved_at IS NOT NULL),"
            " count(*) FILTER (WHERE deleted_at IS NOT NULL),"
            " count(*) FROM insight_issues"
        ).fetchone()
        recent_open, old_open = conn.execute(
            "SELECT avg((resolved_at IS NULL)::int) FILTER (WHERE created_at > %(a)s - interval '7 days'),"
            " avg((resolved_at IS NULL)::int) FILTER (WHERE created_at < %(a)s - interval '180 days')"
            " FROM insight_issues",
            {"a": db.anchor},
        ).fetchone()
        rare, common = (
            conn.execute("SELECT count(*) FROM insight_issues WHERE file_path ILIKE %s", [p]).fetchone()[0]
            for p in ("%legacy_importer%", "%.ts%")
        )
    assert per_org[0] > 3 * per_org[-1]  # a few large organisations
    assert per_org[0] / total > 0.25
    assert resolved / total > 0.6  # most issues resolved
    assert 0 < deleted / total < 0.1  # some soft-deleted
    assert recent_open > 2 * old_open  # recent issues are more often still open
    assert 0 < rare < common / 10  # substring searches range from rare to common


def test_a_database_with_data_is_refused_unless_reset(postgres_server: PostgresServer) -> None:
    dsn = _fresh(postgres_server, "reseed")
    seed_database(dsn, scale="small", seed=1, anchor=ANCHOR, users=USERS, vacuum=False)
    with pytest.raises(SeedError, match="--reset"):
        seed_database(dsn, scale="small", seed=2, anchor=ANCHOR, users=USERS, vacuum=False)
    seed_database(dsn, scale="small", seed=42, anchor=ANCHOR, users=USERS, reset=True, vacuum=False)
    reference = _fresh(postgres_server, "reseed_reference")
    seed_database(reference, scale="small", seed=42, anchor=ANCHOR, users=USERS, vacuum=False)
    assert _checksums(dsn) == _checksums(reference)


def test_cli_needs_the_password_in_the_environment(postgres_server: PostgresServer) -> None:
    dsn = _fresh(postgres_server, "cli_seed")
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "SEED_TEST_PASSWORD"}
    argv = [
        sys.executable,
        "-m",
        "reference_app.seed",
        "--dsn",
        dsn,
        "--scale",
        "small",
        "--test-users",
        "2",
        "--test-password-env",
        "SEED_TEST_PASSWORD",
        "--anchor",
        "2026-11-01",
        "--no-vacuum",
    ]
    refused = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "SEED_TEST_PASSWORD" in refused.stderr
    secret = "cli-secret-value"
    done = subprocess.run(
        [*argv, "--checksums"],
        cwd=root,
        env={**env, "SEED_TEST_PASSWORD": secret},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"insight_issues": 8000' in done.stdout and secret not in done.stdout + done.stderr
    bad = subprocess.run(
        [*argv[:-1], "--scale", "huge"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "huge" in bad.stderr


def test_a_role_without_superuser_rights_can_seed(postgres_server: PostgresServer) -> None:
    """No pg_stat_statements and no trigger bypass: the load keeps per-row foreign-key checks."""
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS plain_owner_db")
        conn.execute("DROP ROLE IF EXISTS plain_owner")
        conn.execute(
            sql.SQL("CREATE ROLE plain_owner LOGIN ") + password_clause(conn, "plain_owner", "plain-owner-pw")
        )
        conn.execute("CREATE DATABASE plain_owner_db OWNER plain_owner")
    dsn = make_conninfo(postgres_server.dsn("plain_owner_db"), user="plain_owner", password="plain-owner-pw")
    seed_database(dsn, scale="small", seed=42, anchor=ANCHOR, users=USERS, vacuum=False)
    reference = _fresh(postgres_server, "superuser_reference")
    seed_database(reference, scale="small", seed=42, anchor=ANCHOR, users=USERS, vacuum=False)
    assert _checksums(dsn) == _checksums(reference)
