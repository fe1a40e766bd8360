"""The migrations pass squawk (PyPI squawk-cli), and squawk does catch an unsafe migration."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


def squawk(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_tool("squawk")), "--config", str(ROOT / ".squawk.toml"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_the_migrations_are_squawk_clean():
    migrations = sorted((ROOT / "sql" / "migrations").glob("*.sql"))
    assert migrations
    result = squawk(*migrations)
    assert result.returncode == 0, result.stdout + result.stderr


def test_squawk_flags_a_blocking_index_build(tmp_path):
    unsafe = tmp_path / "unsafe.sql"
    unsafe.write_text("CREATE INDEX idx_x ON insight_issues (org_id);\n", encoding="utf-8")
    result = squawk(unsafe)
    assert result.returncode == 1
    for rule in ("require-concurrent-index-creation", "prefer-robust-stmts", "require-lock-timeout"):
        assert rule in result.stdout
