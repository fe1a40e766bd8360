"""LoadTestRun on the Kubernetes fleet: the Jobs are started and awaited, the master's results read."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from components.fleet.manifests import RESULTS_MARKER, master_job, worker_job
from components.providers.loadtest_run import LoadTestRunError, _run_fleet
from tests.support.fakes import InMemoryFleetApi
from tests.unit.observability_stacks import fleet_args

SPEC = fleet_args("staging").spec()
MASTER, WORKERS = master_job(SPEC), worker_job(SPEC)
RESULTS = json.loads((Path(__file__).parents[1] / "fixtures" / "results_example.json").read_text())
CONFIG = SimpleNamespace(run_timeout_s=600)


def finished(master_condition: str):
    def script(name: str, _count: int) -> dict:
        if name == MASTER["metadata"]["name"]:
            return {"conditions": [{"type": master_condition, "status": "True"}]}
        return {"succeeded": SPEC.workers}

    return script


def fleet(api: InMemoryFleetApi) -> tuple[dict, object]:
    return {"kind": "kubernetes", "master_job": MASTER, "worker_job": WORKERS}, lambda _fleet: api


def test_kubernetes_fleet_returns_the_masters_results_document() -> None:
    log = f"{RESULTS_MARKER}\n{json.dumps(RESULTS)}\n"
    api = InMemoryFleetApi(script=finished("Complete"), logs={MASTER["metadata"]["name"]: log})
    spec, factory = fleet(api)
    assert _run_fleet(CONFIG, spec, api_factory=factory) == RESULTS
    assert {name for _, name in api.jobs} == {MASTER["metadata"]["name"], WORKERS["metadata"]["name"]}


def test_a_failed_fleet_without_results_is_a_run_that_could_not_run() -> None:
    api = InMemoryFleetApi(script=finished("Failed"), logs={MASTER["metadata"]["name"]: "crashed\n"})
    spec, factory = fleet(api)
    with pytest.raises(LoadTestRunError, match="ended failed without results"):
        _run_fleet(CONFIG, spec, api_factory=factory)
    assert set(api.deleted) == {MASTER["metadata"]["name"], WORKERS["metadata"]["name"]}


def test_a_fleet_without_job_manifests_is_refused() -> None:
    with pytest.raises(LoadTestRunError, match="no master/worker Job manifests"):
        _run_fleet(CONFIG, {"kind": "kubernetes"}, api_factory=lambda _f: None)


def test_an_unusable_kubeconfig_is_a_fleet_that_could_not_run(tmp_path, monkeypatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    spec = {"kind": "kubernetes", "master_job": MASTER, "worker_job": WORKERS}
    with pytest.raises(
        LoadTestRunError, match=r"the Kubernetes fleet could not run: kubeconfig .*no context given"
    ):
        _run_fleet(CONFIG, spec)
