"""Unit tests for loadtests/results/archive.py: run storage and the choice of baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.errors import LoadTestError
from loadtests.results import archive as baseline
from tests.support.fakes import InMemoryResultStore


def stages_of(profile: str, max_users: int, time_scale: float) -> list[dict]:
    """Resolved stages as the runner records them: the load shape depends on all three."""
    ramp = {"staged": 120.0, "smoke": 30.0}.get(profile, 60.0)
    return [
        {"duration_s": ramp * time_scale, "target": max_users},
        {"duration_s": 300 * time_scale, "target": max_users},
    ]


def run_doc(
    run_id: str,
    started: str,
    *,
    verdict: str | None = "pass",
    status: str = "completed",
    stack: str = "local",
    profile: str = "staged",
    max_users: int = 20,
    time_scale: float = 0.02,
) -> dict:
    return {
        "schema_version": "1.0",
        "run_id": run_id,
        "stack": stack,
        "status": status,
        "verdict": verdict,
        "started_at": f"2026-11-{started}Z",
        "profile": {
            "name": profile,
            "max_users": max_users,
            "time_scale": time_scale,
            "stages": stages_of(profile, max_users, time_scale),
        },
        "metrics": {},
    }


@pytest.fixture(params=["memory", "directory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> baseline.ResultStore:
    if request.param == "memory":
        return InMemoryResultStore()
    return baseline.LocalDirectoryStore(tmp_path / "reports")


def test_stores_implement_the_protocol(store: baseline.ResultStore) -> None:
    assert isinstance(store, baseline.ResultStore)


def test_save_and_load_round_trip(store: baseline.ResultStore) -> None:
    archive = baseline.RunArchive(store)
    doc = run_doc("r1", "20T10:00:00")
    location = archive.save(doc)
    assert location.endswith("local/runs/r1.json")
    assert archive.load("local", "r1") == doc


def test_local_directory_layout(tmp_path: Path) -> None:
    archive = baseline.RunArchive(baseline.LocalDirectoryStore(tmp_path / "reports"))
    archive.save(run_doc("r1", "20T10:00:00"))
    path = tmp_path / "reports" / "local" / "runs" / "r1.json"
    assert json.loads(path.read_text())["run_id"] == "r1"
    assert [p.name for p in path.parent.iterdir()] == ["r1.json"]  # no temp files left behind
    assert path.stat().st_mode & 0o777 == 0o644


def test_previous_passing_run_of_same_stack_and_profile(store: baseline.ResultStore) -> None:
    archive = baseline.RunArchive(store)
    for doc in (
        run_doc("old-pass", "20T10:00:00"),
        run_doc("warned", "21T10:00:00", verdict="warn"),
        run_doc("failed", "22T10:00:00", verdict="fail"),
        run_doc("aborted", "22T11:00:00", verdict="fail", status="aborted"),
        run_doc("other-profile", "22T12:00:00", profile="smoke"),
        run_doc("other-users", "22T12:30:00", max_users=200),
        run_doc("other-scale", "22T12:40:00", time_scale=0.05),
        run_doc("other-stack", "22T13:00:00", stack="staging"),
        run_doc("later", "25T10:00:00"),
    ):
        archive.save(doc)
    current = run_doc("now", "23T10:00:00", verdict=None)
    found = archive.previous_passing(current)
    assert found is not None and found.run_id == "warned"
    assert archive.resolve_baseline(current, "previous").run_id == "warned"  # type: ignore[union-attr]


def test_no_previous_run_means_no_baseline(store: baseline.ResultStore) -> None:
    archive = baseline.RunArchive(store)
    archive.save(run_doc("failed", "20T10:00:00", verdict="fail"))
    assert archive.previous_passing(run_doc("now", "23T10:00:00")) is None


def test_a_run_is_never_its_own_baseline(store: baseline.ResultStore) -> None:
    archive = baseline.RunArchive(store)
    doc = run_doc("same", "20T10:00:00")
    archive.save(doc)
    assert archive.previous_passing(doc) is None


def test_explicit_and_none_modes(store: baseline.ResultStore) -> None:
    archive = baseline.RunArchive(store)
    archive.save(run_doc("pinned", "10T10:00:00", verdict="fail"))
    current = run_doc("now", "23T10:00:00")
    assert archive.resolve_baseline(current, "none") is None
    pinned = archive.resolve_baseline(current, "pinned")
    assert pinned is not None and pinned.doc["run_id"] == "pinned"
    with pytest.raises(
        baseline.RunNotFoundError, match=r"baseline run .missing. is not stored at .*missing\.json"
    ):
        archive.resolve_baseline(current, "missing")


def test_unreadable_stored_runs_are_skipped(tmp_path: Path) -> None:
    store = baseline.LocalDirectoryStore(tmp_path)
    archive = baseline.RunArchive(store)
    archive.save(run_doc("good", "20T10:00:00"))
    (tmp_path / "local" / "runs" / "broken.json").write_text("{not json")
    assert [run.run_id for run in archive.runs("local")] == ["good"]
    with pytest.raises(baseline.BaselineError, match=r"broken\.json is not JSON"):
        archive.load("local", "broken")


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "", "with space", ".hidden"])
def test_unsafe_run_ids_are_refused(run_id: str) -> None:
    archive = baseline.RunArchive(InMemoryResultStore())
    with pytest.raises(baseline.BaselineError, match="cannot name a stored run") as caught:
        archive.save(run_doc(run_id, "20T10:00:00"))
    assert isinstance(caught.value, LoadTestError)


def test_missing_key_raises_run_not_found(store: baseline.ResultStore) -> None:
    with pytest.raises(baseline.RunNotFoundError):
        store.get("local/runs/none.json")
    assert store.list_keys("nothing/") == []


def test_same_stages_under_another_profile_name_are_comparable(store: baseline.ResultStore) -> None:
    archive = baseline.RunArchive(store)
    named = run_doc("named", "20T10:00:00")
    custom = run_doc("custom", "21T10:00:00", verdict=None)
    custom["profile"] = dict(custom["profile"], name="custom")
    archive.save(named)
    found = archive.previous_passing(custom)
    assert found is not None and found.run_id == "named"
    assert baseline.profile_identity(custom) == ((2.4, 20), (6.0, 20))


class BrokenStore(InMemoryResultStore):
    """A remote store during an outage."""

    def list_keys(self, prefix: str) -> list[str]:
        raise ConnectionError("endpoint unreachable")

    def get(self, key: str) -> bytes:
        raise ConnectionError("endpoint unreachable")


def test_resolve_in_several_archives_prefers_the_first_that_has_a_baseline() -> None:
    remote, local = (
        baseline.RunArchive(InMemoryResultStore()),
        baseline.RunArchive(InMemoryResultStore()),
    )
    current = run_doc("now", "23T10:00:00")
    local.save(run_doc("local-only", "21T10:00:00"))
    assert baseline.resolve_baseline_in([remote, local], current, "previous").run_id == "local-only"  # type: ignore[union-attr]
    remote.save(run_doc("shared", "20T10:00:00"))
    assert baseline.resolve_baseline_in([remote, local], current, "previous").run_id == "shared"  # type: ignore[union-attr]
    assert baseline.resolve_baseline_in([remote, local], current, "local-only").run_id == "local-only"  # type: ignore[union-attr]
    with pytest.raises(
        baseline.RunNotFoundError, match=r"memory://local/runs/gone\.json.*memory://local/runs/gone\.json"
    ):
        baseline.resolve_baseline_in([remote, local], current, "gone")


def test_an_unreachable_store_is_skipped() -> None:
    local = baseline.RunArchive(InMemoryResultStore())
    local.save(run_doc("kept", "21T10:00:00"))
    broken = baseline.RunArchive(BrokenStore())
    found = baseline.resolve_baseline_in([broken, local], run_doc("now", "23T10:00:00"), "previous")
    assert found is not None and found.run_id == "kept"
