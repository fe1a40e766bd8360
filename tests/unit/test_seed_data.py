from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

from reference_app.passwords import verify_password
from reference_app.seed_data import SCALES, LoadTestUser, Scale, generate

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
TINY = Scale(4, 10, 20, 30, 5, 600, 100, 100, 300, 100)


def _dump(seed: int, scale: Scale = TINY, users: list[LoadTestUser] | None = None) -> dict[str, list[str]]:
    dataset = generate(scale, seed, ANCHOR, users or [])
    return {table: list(lines) for table, _columns, lines in dataset.tables()}


def test_same_inputs_give_identical_lines() -> None:
    assert _dump(42) == _dump(42)
    assert _dump(42)["insight_issues"] != _dump(43)["insight_issues"]


def test_every_line_has_one_field_per_column_and_ids_in_order() -> None:
    dataset = generate(TINY, 7, ANCHOR, [])
    for _table, columns, lines in dataset.tables():
        rows = [line.rstrip("\n").split("\t") for line in lines]
        assert all(len(row) == len(columns) for row in rows)
        assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))


def test_row_counts_match_the_scale() -> None:
    counts = {table: len(lines) for table, lines in _dump(1).items()}
    assert counts["insight_issues"] == TINY.insight_issues and counts["organizations"] == TINY.organizations
    assert counts["users"] == TINY.users


def test_large_scale_has_a_million_issues() -> None:
    assert SCALES["large"].insight_issues >= 1_000_000


def test_test_users_get_the_given_password_and_the_anchor_bounds_the_data() -> None:
    users = [LoadTestUser("loadtest-1@odavl.test", "s3cret"), LoadTestUser("loadtest-2@odavl.test", "s3cret")]
    dump = _dump(5, users=users)
    rows = [line.split("\t") for line in dump["users"]]
    test_rows = [row for row in rows if row[2].endswith("@odavl.test")]
    assert [row[2] for row in test_rows] == ["loadtest-1@odavl.test", "loadtest-2@odavl.test"]
    assert all(verify_password("s3cret", row[4]) for row in test_rows)
    assert not any(verify_password("s3cret", row[4]) for row in rows if row not in test_rows)
    newest = max(line.split("\t")[10] for line in islice(dump["insight_issues"], None))
    assert newest <= "2026-11-01 00:00:00+00"
