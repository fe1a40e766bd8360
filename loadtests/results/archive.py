"""Every run's results kept, and the baseline a new run is compared with.

Runs are stored under the key `<stack>/runs/<run_id>.json` in a `ResultStore`: a local directory
(`LocalDirectoryStore`, e.g. `reports/` -> `reports/<stack>/runs/<run_id>.json`), S3
(`loadtests/publish/s3.py` implements the same protocol) or any other implementation of the
protocol. The default baseline is the previous passing run of the same stack and profile:

* same stack (the key prefix) and same profile, i.e. the same load shape: the document's
  resolved `profile.stages` (durations and user targets, which already reflect max_users and
  time_scale) are equal; the profile's name does not matter ("staged" and a "custom" stage list
  with the same stages are the same load), and percentiles at another load are not comparable;
* passing: status "completed" and verdict "pass" or "warn" (warnings do not break the gate);
* previous: the latest such run that started before the run being judged.

The statistical regression criterion (loadtests/slo/regression.py) takes the last K such runs
(`RunArchive.last_passing`, `last_passing_in`) instead of the one.

Errors::

    LoadTestError (loadtests/errors.py)
     +-- BaselineError           a run cannot be stored or a baseline cannot be found
          +-- RunNotFoundError   no stored run under that key
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from loadtests.errors import LoadTestError
from loadtests.results.files import write_atomically

__all__ = [
    "BaselineError",
    "LocalDirectoryStore",
    "ResultStore",
    "RunArchive",
    "RunNotFoundError",
    "StoredRun",
    "last_passing_in",
    "profile_identity",
    "resolve_baseline_in",
    "run_key",
]

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BaselineError(LoadTestError):
    """A run cannot be stored, or the requested baseline cannot be found."""


class RunNotFoundError(BaselineError):
    """No stored run under the requested key."""


@runtime_checkable
class ResultStore(Protocol):
    """Byte storage addressed by `/`-separated keys.

    `put` returns the stored object's location for people (a file path or an s3:// URL);
    `get` raises RunNotFoundError for a missing key; `list_keys` returns every key below a
    prefix (recursively), in any order.
    """

    def put(self, key: str, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def location(self, key: str) -> str: ...


class LocalDirectoryStore:
    """A ResultStore in a local directory; writes are atomic (a reader never sees half a file)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise BaselineError(f"store key {key!r} is not a plain relative path")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> str:
        return str(write_atomically(self._path(key), data))

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise RunNotFoundError(f"no stored run at {path}") from None

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def location(self, key: str) -> str:
        return str(self._path(key))


def _check_name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.match(value):
        raise BaselineError(
            f"{kind} {value!r} cannot name a stored run; expected 1-128 characters of letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def run_key(stack: str, run_id: str) -> str:
    """The store key of one run: `<stack>/runs/<run_id>.json`."""
    return f"{_check_name('stack', stack)}/runs/{_check_name('run id', run_id)}.json"


def profile_identity(doc: Mapping[str, Any]) -> tuple[tuple[float, int], ...]:
    """What makes two runs comparable: the load shape, as the resolved stages (seconds, users)."""
    stages = (doc.get("profile") or {}).get("stages") or []
    try:
        return tuple((round(float(s["duration_s"]), 3), int(s["target"])) for s in stages)
    except (KeyError, TypeError, ValueError):
        return ()


def _started(doc: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(doc.get("started_at")))
    except ValueError:
        return None


@dataclass(frozen=True)
class StoredRun:
    """A run as found in the store."""

    key: str
    location: str
    doc: Mapping[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.doc.get("run_id"))

    @property
    def passed(self) -> bool:
        return self.doc.get("status") == "completed" and self.doc.get("verdict") in ("pass", "warn")


class RunArchive:
    """Stores results documents and finds baselines in a ResultStore."""

    def __init__(self, store: ResultStore):
        self.store = store

    def save(self, doc: Mapping[str, Any]) -> str:
        """Store a results document under `<stack>/runs/<run_id>.json`; returns its location."""
        key = run_key(doc.get("stack"), doc.get("run_id"))  # type: ignore[arg-type]
        body = json.dumps(doc, indent=2, sort_keys=False).encode("utf-8") + b"\n"
        return self.store.put(key, body)

    def load(self, stack: str, run_id: str) -> dict[str, Any]:
        key = run_key(stack, run_id)
        data = self.store.get(key)
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BaselineError(f"stored run {self.store.location(key)} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise BaselineError(f"stored run {self.store.location(key)} is not a results document")
        return doc

    def runs(self, stack: str) -> list[StoredRun]:
        """Every readable stored run of a stack, oldest first; unreadable files are skipped."""
        found = []
        for key in self.store.list_keys(f"{_check_name('stack', stack)}/runs/"):
            if not key.endswith(".json"):
                continue
            try:
                doc = json.loads(self.store.get(key))
            except (json.JSONDecodeError, UnicodeDecodeError, RunNotFoundError):
                log.warning("skipping unreadable stored run %s", self.store.location(key))
                continue
            if isinstance(doc, dict) and _started(doc) is not None:
                found.append(StoredRun(key, self.store.location(key), doc))
        return sorted(found, key=lambda run: _started(run.doc))  # type: ignore[arg-type, return-value]

    def earlier_passing(self, doc: Mapping[str, Any]) -> list[StoredRun]:
        """Every passing run of the same stack and profile that started before `doc`, oldest first."""
        started = _started(doc)
        identity = profile_identity(doc)
        return [
            run
            for run in self.runs(str(doc.get("stack")))
            if run.passed
            and run.run_id != doc.get("run_id")
            and profile_identity(run.doc) == identity
            and (started is None or _started(run.doc) < started)  # type: ignore[operator]
        ]

    def previous_passing(self, doc: Mapping[str, Any]) -> StoredRun | None:
        """The latest passing run of the same stack and profile that started before `doc`."""
        candidates = self.earlier_passing(doc)
        return candidates[-1] if candidates else None

    def last_passing(
        self, doc: Mapping[str, Any], count: int, accept: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[StoredRun]:
        """The last `count` passing runs of the same stack and profile before `doc`, oldest first
        (fewer when the store has fewer); with `accept`, only the runs whose document it accepts
        (e.g. those that carry histograms)."""
        candidates = [run for run in self.earlier_passing(doc) if accept is None or accept(run.doc)]
        return candidates[-count:] if count > 0 else []

    def resolve_baseline(self, doc: Mapping[str, Any], mode: str) -> StoredRun | None:
        """The baseline for `doc`: mode "previous" (default rule), "none", or an explicit run id."""
        if mode == "none":
            return None
        if mode == "previous":
            return self.previous_passing(doc)
        stack = str(doc.get("stack"))
        key = run_key(stack, mode)
        try:
            return StoredRun(key, self.store.location(key), self.load(stack, mode))
        except RunNotFoundError:
            raise RunNotFoundError(
                f"baseline run {mode!r} is not stored at {self.store.location(key)}; "
                "expected 'previous', 'none' or the id of a stored run of this stack"
            ) from None


def last_passing_in(
    archives: Sequence[RunArchive],
    doc: Mapping[str, Any],
    count: int,
    accept: Callable[[Mapping[str, Any]], bool] | None = None,
) -> list[StoredRun]:
    """The last `count` passing runs before `doc` (see `RunArchive.last_passing`) from the first
    archive that has that many, else from the one that has most; an archive that cannot be read
    is skipped with a warning."""
    best: list[StoredRun] = []
    for archive in archives:
        try:
            found = archive.last_passing(doc, count, accept)
        except BaselineError:
            raise
        except Exception as exc:  # a remote store's own errors (network, permissions)
            log.warning("run store %s skipped: %s", type(archive.store).__name__, exc)
            continue
        if len(found) >= count:
            return found
        if len(found) > len(best):
            best = found
    return best


def resolve_baseline_in(
    archives: Sequence[RunArchive], doc: Mapping[str, Any], mode: str
) -> StoredRun | None:
    """The baseline from the first archive that has one (e.g. S3 first, then the local directory).

    An archive that cannot be read (a store outage) is skipped with a warning; an explicit run
    id missing from every archive raises RunNotFoundError naming each place looked at.
    """
    missing: list[str] = []
    for archive in archives:
        try:
            found = archive.resolve_baseline(doc, mode)
        except RunNotFoundError as exc:
            missing.append(str(exc))
            continue
        except BaselineError:
            raise
        except Exception as exc:  # a remote store's own errors (network, permissions)
            log.warning("baseline store %s skipped: %s", type(archive.store).__name__, exc)
            continue
        if found is not None:
            return found
    if missing and len(missing) == len(archives):
        raise RunNotFoundError("; ".join(missing))
    return None
