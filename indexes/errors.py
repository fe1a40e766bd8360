"""Errors of the index logic; each names the file, line or statement and the expected form.

IndexesError
 +-- MigrationError            the index migration (indexes/migration_plan.py)
 |    +-- MigrationParseError     the migration file holds something the runner refuses to apply
 |    +-- UnsupportedServerError  concurrent index builds are unsafe on this server version
 |    +-- (components/providers/index_migration_runner.py: DatabaseStatementError,
 |         LockTimeoutError, MigrationFailedError)
 +-- TargetFileError           sql/verify/index_targets.sql is malformed (also a ValueError)
 +-- SqlParseError             a statement does not parse (also a ValueError)
"""

from __future__ import annotations

__all__ = ["IndexesError"]


class IndexesError(Exception):
    """Base class of every error the index logic raises on purpose."""
