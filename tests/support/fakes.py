"""In-memory implementations of the interfaces production code talks through.

Each fake implements one Protocol of a production module and nothing more:

- `DictConfigSource`: `components.settings.ConfigSource` (stack config from a dict);
- `InMemoryFleetApi`: `components.fleet.control.FleetApi` (Jobs and pods in dicts, status scripted);
- `InMemoryResultStore`: `loadtests.results.archive.ResultStore` (stored runs in a dict);
- `MemoryLineWriter`: `loadtests.suite.export_influx.LineWriter` (line protocol kept in a list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.fleet.control import JobPod
from components.fleet.errors import FleetApiError
from loadtests.results.archive import RunNotFoundError

__all__ = ["DictConfigSource", "InMemoryFleetApi", "InMemoryResultStore", "MemoryLineWriter"]


class DictConfigSource:
    """Stack config from a dict; `secrets` names the keys stored as secure values."""

    def __init__(self, stack: str, values: Mapping[str, Any], secrets: frozenset[str] = frozenset()):
        self.stack = stack
        self._values = dict(values)
        self._secrets = secrets

    def raw(self, key: str) -> Any | None:
        return self._values.get(key)

    def is_secret(self, key: str) -> bool:
        return key in self._secrets

    def secret(self, key: str) -> str:
        return f"<secret {key}>"

    def set_keys(self) -> list[str]:
        return sorted(self._values)


@dataclass
class InMemoryFleetApi:
    """Jobs live in a dict; `script(name, read_count)` returns a Job's status on each read.

    `pods` holds each Job's pods (by Job name), `pod_script(name, list_count)` replaces them on
    each list; deleting a Job deletes its pods unless the Job is in `stuck_pods`.
    `read_errors` makes that many of the next reads fail, as an unreachable API server does.
    """

    script: Callable[[str, int], dict[str, Any]] | None = None
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    fail_create: set[str] = field(default_factory=set)
    logs: dict[str, str] = field(default_factory=dict)
    pods: dict[str, list[JobPod]] = field(default_factory=dict)
    pod_script: Callable[[str, int], list[JobPod]] | None = None
    pod_lists: dict[str, int] = field(default_factory=dict)
    stuck_pods: set[str] = field(default_factory=set)
    read_errors: int = 0

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        if name in self.fail_create:
            raise FleetApiError(f"create {name}: 403 Forbidden")
        if (namespace, name) in self.jobs:
            raise FleetApiError(f"create {name}: 409 AlreadyExists")
        self.jobs[(namespace, name)] = {**manifest, "status": {}}

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.read_errors > 0:
            self.read_errors -= 1
            raise FleetApiError(f"read Job {namespace}/{name}: the Kubernetes API server is unreachable")
        job = self.jobs.get((namespace, name))
        if job is None:
            return None
        self.reads[name] = self.reads.get(name, 0) + 1
        if self.script is not None:
            job["status"] = self.script(name, self.reads[name])
        return job

    def delete_job(self, namespace: str, name: str) -> None:
        self.jobs.pop((namespace, name), None)
        self.deleted.append(name)
        if name not in self.stuck_pods:
            self.pods.pop(name, None)
        else:
            self.pods[name] = [pod._replace(deleted=True) for pod in self.pods.get(name, [])]

    def list_job_pods(self, namespace: str, job_name: str) -> list[JobPod]:
        self.pod_lists[job_name] = self.pod_lists.get(job_name, 0) + 1
        if self.pod_script is not None and (namespace, job_name) in self.jobs:
            self.pods[job_name] = self.pod_script(job_name, self.pod_lists[job_name])
        return list(self.pods.get(job_name, []))

    def read_job_log(self, namespace: str, name: str, tail_lines: int | None = None) -> str:
        log = self.logs.get(name, "")
        return "\n".join(log.splitlines()[-tail_lines:]) if tail_lines else log


class InMemoryResultStore:
    """Stored objects in a dict, located as memory://<key>."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> str:
        self.objects[key] = bytes(data)
        return self.location(key)

    def get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise RunNotFoundError(f"no stored object {self.location(key)}") from None

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def location(self, key: str) -> str:
        return f"memory://{key}"


class MemoryLineWriter:
    """Keeps the written lines; with `fail`, refuses every write as an unreachable server would."""

    def __init__(self, fail: bool = False) -> None:
        self.lines: list[str] = []
        self.fail = fail

    def write(self, lines: list[str]) -> None:
        if self.fail:
            raise OSError("write refused (test writer)")
        self.lines.extend(lines)
