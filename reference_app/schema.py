"""The reference schema (sql/schema/*.sql) applied in file-name order, and table checksums."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["SCHEMA_DIR", "TABLES", "apply_schema", "schema_files", "table_checksums"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "sql" / "schema"

# Foreign-key order: parents first.
TABLES = (
    "organizations",
    "projects",
    "users",
    "sessions",
    "api_keys",
    "insight_issues",
    "autopilot_runs",
    "guardian_tests",
    "analytics_events",
    "audit_logs",
)


def schema_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.sql"))


def apply_schema(conn: psycopg.Connection) -> None:
    """Create the extensions and tables (idempotent: every statement is IF NOT EXISTS)."""
    for path in schema_files():
        conn.execute(path.read_text(encoding="utf-8"))


def table_checksums(conn: psycopg.Connection) -> dict[str, str]:
    """md5 over every row of every table, rows in id order, timestamps rendered in UTC."""
    conn.execute("SET TimeZone = 'UTC'")
    sums: dict[str, str] = {}
    for table in TABLES:
        query = sql.SQL(
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '')) FROM {} t"
        ).format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        sums[table] = row[0] if row else ""
    return sums
