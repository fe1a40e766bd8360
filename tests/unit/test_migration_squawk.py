"""The migrations pass squawk (PyPI squawk-cli), and squawk does catch an unsafe migration."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SQUAWK = Path(sys.executable).parent / "squawk"


def squawk(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = SQUAWK if SQUAWK.exists() else shutil.which("squawk")
    if binary is None:
        pytest.fail("squawk is not installed: pip install squawk-cli (see requirements.txt)")
    return subprocess.run(
        [str(binary), "--config", str(ROOT / ".squawk.toml"), *map(str, paths)],
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
