"""Unit tests for components/providers/loadtest_run.py: when a new run happens, input checks, outputs."""

from __future__ import annotations

import dill
import pytest

from components.providers import loadtest_run as provider
from loadtests import pipeline

PASSED = {"verdict": "pass", "reason": "", "thresholds": []}
BASE = {
    "run_id": "r1",
    "stack": "local",
    "environment": "local",
    "target": "http://127.0.0.1:8080",
    "profile": "staged",
    "max_users": 20,
    "time_scale": 0.02,
    "stages": [{"duration_s": 10.0, "target": 20}],
    "thresholds": ["http_req_duration: p(95)<500", "checks: rate>0.95"],
    "workers": 2,
    "think_time_min_s": 1.0,
    "baseline": "previous",
    "reports_dir": "/tmp/reports",
    "fleet": {"kind": "local"},
    "test_users": '[{"email": "a@example.test", "password": "hunter2"}]',
    "dsn": "postgresql://app:s3cret@127.0.0.1:5432/app",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"run_id": "r2"}, ["run_id"]),
        ({"target": "http://127.0.0.1:9090"}, ["target"]),
        ({"profile": "smoke"}, ["profile"]),
        ({"max_users": 40}, ["max_users"]),
        ({"time_scale": 0.05}, ["time_scale"]),
        ({"stages": [{"duration_s": 20.0, "target": 20}]}, ["stages"]),
        ({"thresholds": ["http_req_duration: p(95)<400"]}, ["thresholds"]),
        ({"run_id": "r2", "profile": "soak"}, ["run_id", "profile"]),
    ],
)
def test_new_run_when_a_trigger_changes(change: dict, expected: list[str]) -> None:
    olds = provider.run_outputs(BASE, pipeline.result_outputs({}, PASSED, 0, {}))
    diff = provider.LoadTestRunProvider().diff("id", olds, BASE | change)
    assert diff.replaces == expected
    assert diff.changes is True
    assert diff.delete_before_replace is False


@pytest.mark.parametrize(
    "change",
    [
        {"workers": 4},
        {"think_time_min_s": 2.0},
        {"baseline": "none"},
        {"test_users": "[]"},
        {"dsn": "postgresql://other"},
        {"stages": [{"duration_s": 10, "target": 20}]},  # same stage, written as ints
        {"time_scale": 0.020},
    ],
)
def test_no_new_run_for_other_inputs(change: dict) -> None:
    olds = provider.run_outputs(BASE, pipeline.result_outputs({}, PASSED, 0, {}))
    diff = provider.LoadTestRunProvider().diff("id", olds, BASE | change)
    assert diff.replaces == []
    assert diff.changes is False


def test_unknown_trigger_in_preview_means_a_new_run() -> None:
    olds = provider.run_outputs(BASE, pipeline.result_outputs({}, PASSED, 0, {}))
    diff = provider.LoadTestRunProvider().diff("id", olds, BASE | {"target": provider.UNKNOWN})
    assert diff.replaces == ["target"]


def test_check_reports_threshold_errors_with_index_and_column() -> None:
    result = provider.LoadTestRunProvider().check(
        {}, BASE | {"thresholds": ["checks: rate>0.9", "checks: rat<1"]}
    )
    (failure,) = result.failures
    assert failure.property == "thresholds"
    assert failure.reason.startswith("[1] = 'checks: rat<1': column 9: unknown aggregate 'rat'")


def test_check_refuses_empty_thresholds_unknown_fleet_and_missing_run_id() -> None:
    result = provider.LoadTestRunProvider().check(
        {}, BASE | {"thresholds": [], "fleet": {"kind": "nomad"}, "run_id": ""}
    )
    assert [f.property for f in result.failures] == ["thresholds", "fleet", "run_id"]


def test_check_accepts_unknown_values_in_preview() -> None:
    result = provider.LoadTestRunProvider().check({}, BASE | {"thresholds": provider.UNKNOWN})
    assert result.failures == []


def test_outputs_carry_no_secret_and_the_run_figures() -> None:
    judged = {
        "status": "completed",
        "abort_reason": None,
        "duration_s": 12.5,
        "started_at": "2026-11-27T01:00:00Z",
        "ended_at": "2026-11-27T01:00:12Z",
        "metrics": {
            "http_reqs": {"type": "counter", "count": 500, "rate_per_s": 40.0},
            "http_req_duration": {"type": "trend", "count": 500, "p95": 120.0, "p99": 180.0},
            "http_req_failed": {"type": "rate", "rate": 0.002},
            "vus": {"type": "gauge", "value": 0, "max": 20},
        },
        "workers": [{"id": "w1", "state": "finished"}, {"id": "w2", "state": "lost"}],
    }
    evaluation = {
        "verdict": "warn",
        "reason": "1 of 2 thresholds in their warning band",
        "baseline_run_id": "r0",
        "thresholds": [
            {
                "key": "checks: rate>0.95 warn 0.99",
                "state": "warn",
                "value": 0.97,
                "bound": 0.95,
                "detail": "x",
            }
        ],
    }
    locations = {"results_path": "/r/local/runs/r1.json", "report_path": "/r/local/runs/r1.html"}
    outs = provider.run_outputs(BASE, pipeline.result_outputs(judged, evaluation, 0, locations))
    text = repr(outs)
    assert "hunter2" not in text and "s3cret" not in text
    assert "test_users" not in outs and "dsn" not in outs
    assert outs["verdict"] == "warn" and outs["exit_code"] == 0
    assert outs["threshold_results"][0]["state"] == "warn"
    assert outs["threshold_results"][0]["value"] == 0.97
    assert outs["summary"]["text"] == "warn: 1 of 2 thresholds in their warning band"
    assert (outs["summary"]["requests"], outs["summary"]["p95_ms"], outs["summary"]["workers_lost"]) == (
        500.0,
        120.0,
        1,
    )
    assert outs["report_path"].endswith("r1.html")
    assert outs["baseline_run_id"] == "r0"


def test_provider_pickles_without_clients() -> None:
    """The engine ships the provider with dill: it must hold no client or connection."""
    restored = dill.loads(dill.dumps(provider.LoadTestRunProvider()))
    assert isinstance(restored, provider.LoadTestRunProvider)


def test_the_runner_gets_the_stacks_production_hosts_and_refuses_a_production_host_so_labelled():
    from pathlib import Path

    from loadtests.errors import ConfigError

    props = BASE | {
        "stack": "staging",
        "environment": "staging",
        "target": "https://perf.example.test",
        "allowed_hosts": ["perf.example.test"],
        "production_hosts": ["*.example.test"],
    }
    config = provider._run_config(props, Path("/tmp/reports/staging/runs/r1.json"))
    assert config.production_hosts == ("*.example.test",)
    with pytest.raises(ConfigError, match=r"'perf\.example\.test' is a production host"):
        config.validate()


def fake_local_runner(status: str):
    """A stand-in for the local fleet: the example results for the config it is given."""
    import copy
    import json
    from pathlib import Path

    example = json.loads((Path(__file__).parents[1] / "fixtures" / "results_example.json").read_text())

    def run(config, on_tick=None, cancel=None):
        for t_s in (1.0, 2.0):  # two ticks a second apart: the display takes the first only
            if on_tick:
                on_tick(
                    {
                        "t_s": t_s,
                        "stage": 2,
                        "stages": 3,
                        "users": 12,
                        "rps": 30.5,
                        "error_rate": 0.01,
                        "p95_ms": 41.6,
                        "requests": 60,
                        "failures": 1,
                        "workers": [],
                    }
                )
        doc = copy.deepcopy(example)
        doc.update(stack=config.stack, run_id=config.run_id, status=status)
        return doc

    return run


def test_a_create_runs_the_pipeline_and_outs_are_the_listed_names(monkeypatch, tmp_path) -> None:
    import json
    from pathlib import Path

    monkeypatch.setattr(provider, "run_local", fake_local_runner("completed"))
    props = BASE | {"reports_dir": str(tmp_path), "thresholds": ["http_req_duration: p(95)<5000"]}
    outs = provider.execute_run(props)

    assert list(outs) == [*provider.RUN_TRIGGERS, "stack", *provider.OUTPUT_NAMES]
    assert "hunter2" not in repr(outs) and "s3cret" not in repr(outs)
    assert outs["verdict"] == "pass" and outs["exit_code"] == 0
    assert outs["results_path"] == str(tmp_path / "local" / "runs" / "r1.json")
    stored = json.loads(Path(outs["results_path"]).read_text())
    assert [(t["key"], t["line"]) for t in stored["thresholds"]] == [("http_req_duration: p(95)<5000", 1)]
    assert Path(outs["report_path"]).read_text().startswith("<!DOCTYPE html>")


def test_a_run_that_failed_fails_the_create_after_storing_its_results(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(provider, "run_local", fake_local_runner("failed"))
    with pytest.raises(provider.LoadTestRunError, match=r"^the load test failed: .*\(partial results: "):
        provider.execute_run(BASE | {"reports_dir": str(tmp_path)})
    assert (tmp_path / "local" / "runs" / "r1.json").is_file()


def test_bad_inputs_fail_the_create_before_anything_runs(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(provider, "run_local", lambda _config, **_: pytest.fail("the run started"))
    with pytest.raises(provider.LoadTestRunError, match=r"^thresholds: \[0\] = 'checks: rat<1': column 9"):
        provider.execute_run(BASE | {"reports_dir": str(tmp_path), "thresholds": ["checks: rat<1"]})
    with pytest.raises(provider.LoadTestRunError, match=r"^the load test could not run: "):
        provider.execute_run(BASE | {"reports_dir": str(tmp_path), "test_users": "not json"})


def test_live_progress_reaches_the_engine_on_the_resource(monkeypatch, tmp_path) -> None:
    """A real gRPC Engine service on loopback stands where `pulumi up`'s engine listens."""
    from concurrent import futures

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import engine_pb2_grpc

    received = []

    class Engine(engine_pb2_grpc.EngineServicer):
        def Log(self, request, context):
            received.append((request.urn, request.message))
            return empty_pb2.Empty()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    engine_pb2_grpc.add_EngineServicer_to_server(Engine(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setattr("sys.argv", ["pulumi.dynamic", f"127.0.0.1:{port}"])
        monkeypatch.setattr(provider, "run_local", fake_local_runner("completed"))
        urn = "urn:pulumi:local::odavl-perf::odavl:perf:LoadTestRun$pulumi-python:dynamic:Resource::lt-run"
        provider.execute_run(BASE | {"reports_dir": str(tmp_path), "progress_urn": urn})
    finally:
        server.stop(0)
    assert received == [
        (urn, "stage 2/3, 12 users, 30.5 req/s, errors 1.00 %, p95 42 ms (last 5 s), 1 s"),
    ]
