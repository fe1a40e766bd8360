"""components/providers/index_migration_runner.py against an in-memory IndexDatabase.

The fake behaves like PostgreSQL where it matters: CREATE INDEX ... IF NOT EXISTS skips a
name that exists (valid or not), a build cancelled by lock_timeout leaves an INVALID index
behind, and pg_get_indexdef prints the definition in the server's own style.
"""

from __future__ import annotations

import re

import pytest

from components.providers.index_migration_runner import (
    LockTimeoutError,
    MigrationFailedError,
    RetryPolicy,
    apply_migration,
    drop_indexes,
)
from indexes.migration_plan import ExistingIndex, UnsupportedServerError, parse_migration

MIGRATION = parse_migration(
    "SET lock_timeout = '5s';\nSET statement_timeout = '10min';\n"
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON t (org_id, created_at DESC) WHERE deleted_at IS NULL;\n"
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_b ON t USING gin (path gin_trgm_ops);\n"
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_c ON u (email);\n"
)
SERVER_STYLE = {
    "idx_a": "CREATE INDEX idx_a ON public.t USING btree (org_id, created_at DESC) "
    "WHERE (deleted_at IS NULL)",
    "idx_b": "CREATE INDEX idx_b ON public.t USING gin (path gin_trgm_ops)",
    "idx_c": "CREATE INDEX idx_c ON public.u USING btree (email)",
}
NO_WAIT = RetryPolicy(max_attempts=3, initial_backoff_s=2.0, multiplier=3.0)


class FakeIndexDatabase:
    """In-memory IndexDatabase; `lock_timeouts[name] = n` makes the next n builds of name time out."""

    def __init__(self, version: int = 150010) -> None:
        self.version = version
        self.indexes: dict[str, ExistingIndex] = {}
        self.settings: dict[str, str] = {}
        self.statements: list[str] = []
        self.lock_timeouts: dict[str, int] = {}

    def add(self, name: str, definition: str, valid: bool = True, table: str = "t") -> None:
        self.indexes[name] = ExistingIndex(name, "public", table, definition, valid)

    def server_version_num(self) -> int:
        return self.version

    def set_setting(self, name: str, value: str) -> None:
        self.settings[name] = value

    def find_index(self, schema: str, name: str) -> ExistingIndex | None:
        return self.indexes.get(name)

    def index_names(self, schema: str) -> list[str]:
        return list(self.indexes)

    def execute(self, statement: str) -> None:
        self.statements.append(statement)
        drop = re.match(r'DROP INDEX CONCURRENTLY IF EXISTS "public"\."(\w+)"', statement)
        if drop:
            self.indexes.pop(drop.group(1), None)
            return
        create = re.match(r"CREATE INDEX CONCURRENTLY IF NOT EXISTS (\w+) ON (\w+)", statement)
        assert create, statement
        name, table = create.groups()
        if name in self.indexes:
            return  # IF NOT EXISTS: silently skipped, even when invalid
        if self.lock_timeouts.get(name, 0) > 0:
            self.lock_timeouts[name] -= 1
            self.add(name, SERVER_STYLE[name], valid=False, table=table)
            raise LockTimeoutError("canceling statement due to lock timeout", "55P03")
        self.add(name, SERVER_STYLE[name], table=table)

    @property
    def ddl(self) -> list[str]:
        return [s for s in self.statements if s.startswith(("CREATE", "DROP"))]


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def run(db: FakeIndexDatabase, **kwargs):
    kwargs.setdefault("retry", NO_WAIT)
    kwargs.setdefault("sleep", Recorder())
    return apply_migration(db, MIGRATION, **kwargs)


def test_first_run_creates_every_index_in_file_order_with_the_file_s_timeouts():
    db = FakeIndexDatabase()
    report = run(db)
    assert report.statuses == {"idx_a": "created", "idx_b": "created", "idx_c": "created"}
    assert [s.split()[6] for s in db.ddl] == ["idx_a", "idx_b", "idx_c"]
    assert db.settings == {"lock_timeout": "5s", "statement_timeout": "10min"}
    assert report.changed
    assert set(report.build_seconds) == {"idx_a", "idx_b", "idx_c"}


def test_a_second_run_executes_no_ddl_and_reports_already_valid():
    db = FakeIndexDatabase()
    run(db)
    before = len(db.ddl)
    report = run(db)
    assert len(db.ddl) == before
    assert set(report.statuses.values()) == {"already_valid"}
    assert not report.changed


def test_an_invalid_index_is_dropped_concurrently_and_built_again():
    db = FakeIndexDatabase()
    db.add("idx_b", SERVER_STYLE["idx_b"], valid=False)
    report = run(db)
    assert report.statuses["idx_b"] == "rebuilt"
    assert db.indexes["idx_b"].valid
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_b"' in db.ddl


def test_a_drifted_index_is_rebuilt_to_the_file_s_definition():
    db = FakeIndexDatabase()
    db.add("idx_a", "CREATE INDEX idx_a ON public.t USING btree (org_id)")
    report = run(db)
    assert report.statuses["idx_a"] == "rebuilt"
    assert "drifted" in report.outcomes[0].reason
    assert db.indexes["idx_a"].definition == SERVER_STYLE["idx_a"]


def test_lock_timeouts_are_retried_with_exponential_backoff_after_removing_the_invalid_index():
    db = FakeIndexDatabase()
    db.lock_timeouts["idx_a"] = 2
    sleeps = Recorder()
    report = run(db, sleep=sleeps)
    assert sleeps.sleeps == [2.0, 6.0]
    assert report.statuses["idx_a"] == "created"
    assert report.outcomes[0].attempts == 3
    assert db.ddl.count('DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_a"') == 2
    assert db.indexes["idx_a"].valid


def test_giving_up_names_the_index_and_leaves_a_state_the_next_run_repairs():
    db = FakeIndexDatabase()
    db.lock_timeouts["idx_a"] = 3
    with pytest.raises(MigrationFailedError, match="idx_a: gave up after 3 attempts"):
        run(db)
    assert not db.indexes["idx_a"].valid
    report = run(db)
    assert report.statuses["idx_a"] == "rebuilt"
    assert db.indexes["idx_a"].valid


def test_leftovers_of_interrupted_reindexes_are_swept_before_the_indexes():
    db = FakeIndexDatabase()
    db.add("idx_a_ccnew", "CREATE INDEX idx_a_ccnew ON public.t USING btree (org_id)", valid=False)
    db.add("someone_else_ccnew", "CREATE INDEX someone_else_ccnew ON public.t USING btree (x)", valid=False)
    report = run(db)
    assert report.leftovers_dropped == ["idx_a_ccnew"]
    assert "someone_else_ccnew" in db.indexes
    assert db.ddl[0] == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_a_ccnew"'


def test_postgresql_14_2_is_refused_before_any_statement():
    db = FakeIndexDatabase(version=140002)
    with pytest.raises(UnsupportedServerError):
        run(db)
    assert db.statements == []


def test_timeouts_can_be_overridden():
    db = FakeIndexDatabase()
    run(db, lock_timeout="200ms", statement_timeout="1min")
    assert db.settings == {"lock_timeout": "200ms", "statement_timeout": "1min"}


def test_drop_indexes_drops_only_the_named_indexes_that_exist():
    db = FakeIndexDatabase()
    run(db)
    db.add("unrelated", "CREATE INDEX unrelated ON public.t USING btree (x)")
    assert drop_indexes(db, "public", ["idx_a", "idx_c", "missing"]) == ["idx_a", "idx_c"]
    assert set(db.indexes) == {"idx_b", "unrelated"}


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"initial_backoff_s": -1.0}, {"multiplier": 0.5}])
def test_retry_policy_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_retry_delays_are_capped():
    policy = RetryPolicy(max_attempts=6, initial_backoff_s=10, multiplier=3, max_backoff_s=60)
    assert list(policy.delays()) == [10, 30, 60, 60, 60]
