"""The open model outside the Locust processes: stack keys, the provider's inputs, the recorded
metrics and their gate, the results document's sections, the outputs and the reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from components.loadtest import LoadTestRunArgs
from components.providers import loadtest_run as provider
from components.settings import SettingsError, parse_settings, project_defaults
from components.wiring import fleet_suite_config
from loadtests.cli.run import config_from_args
from loadtests.report.html import render_report
from loadtests.report.open_model import html_section, summary_rows
from loadtests.results.document import validate_document
from loadtests.results.metrics import METRICS
from loadtests.results.open_model import open_model_summary
from loadtests.run.arrival import Executor, RateStage
from loadtests.run.config import SuiteConfig
from loadtests.slo import evaluate as slo
from loadtests.suite.collector import MetricsCollector, RequestSlot
from tests.support.fakes import DictConfigSource

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRETS = frozenset({"testUsers", "databasePassword", "databaseReadonlyPassword"})
VALID = {
    "testUsers": json.dumps([{"email": "loadtest-1@odavl.test", "password": "hunter2-secret"}]),
    "databasePassword": "db-secret-value",
    "databaseReadonlyPassword": "ro-secret-value",
    # The browser users run in the closed model only.
    "loadBrowserSharePercent": 0,
    "sloThresholds": ["http_req_duration: p(95)<500", "http_req_failed: rate<0.01"],
}


def settings(**overrides):
    return parse_settings(DictConfigSource("local", {**VALID, **overrides}, SECRETS), project_defaults())


def problems(**overrides) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings(**overrides)
    return caught.value.problems


# --- stack settings ----------------------------------------------------------------------


def test_the_default_executor_is_the_closed_model() -> None:
    assert settings().load.executor == Executor()


def test_a_constant_arrival_rate_from_the_stack_keys() -> None:
    load = settings(
        loadExecutor="constant-arrival-rate",
        loadArrivalRate=50,
        loadArrivalTimeUnit="1s",
        loadArrivalDuration="30s",
        loadPreAllocatedUsers=20,
        loadMaxArrivalUsers=100,
    ).load
    assert load.executor == Executor(
        kind="constant-arrival-rate", rate=50, duration_s=30, pre_allocated_users=20, max_users=100
    )


def test_a_ramping_arrival_rate_from_the_stack_keys() -> None:
    executor = settings(
        loadExecutor="ramping-arrival-rate",
        loadArrivalStartRate=5,
        loadArrivalTimeUnit="1m",
        loadArrivalStages=[{"duration": "1m", "target": 600}, {"duration": "30s", "target": 0}],
    ).load.executor
    assert executor.start_rate == 5 and executor.time_unit_s == 60
    assert executor.stages == (RateStage(60, 600), RateStage(30, 0))


def test_a_capacity_search_from_the_stack_keys() -> None:
    executor = settings(
        loadExecutor="capacity",
        loadArrivalRate=10,
        loadCapacityMaxRate=400,
        loadCapacityGrowth="2",
        loadCapacityPrecisionPercent=10,
        loadCapacityStepDuration="15s",
        loadCapacityConfirmDuration="45s",
    ).load.executor
    assert (executor.kind, executor.rate, executor.capacity_max_rate) == ("capacity", 10, 400)
    assert executor.capacity_growth == 2 and executor.capacity_precision == pytest.approx(0.1)
    assert (executor.capacity_step_s, executor.capacity_confirm_s) == (15, 45)


def test_bad_executor_keys_are_named_with_value_and_expected_form() -> None:
    found = "\n".join(
        problems(
            loadExecutor="constant-arrival-rate",
            loadArrivalRate=0,
            loadArrivalDuration="soon",
            loadPreAllocatedUsers=50,
            loadMaxArrivalUsers=1,
            loadWorkers=2,
            loadBrowserSharePercent=2,
        )
    )
    assert "odavl-perf:loadArrivalRate = 0: expected iterations per time unit, 1 or more" in found
    assert (
        "odavl-perf:loadArrivalDuration = 'soon': expected a duration such as 1s, 30s, 2m or 1m30s" in found
    )
    assert "odavl-perf:loadPreAllocatedUsers = 50: expected at most loadMaxArrivalUsers (1)" in found
    assert "odavl-perf:loadMaxArrivalUsers = 1: expected at least loadWorkers (2)" in found
    assert (
        "odavl-perf:loadBrowserSharePercent = 2: expected 0 with loadExecutor constant-arrival-rate" in found
    )
    assert "odavl-perf:loadExecutor = 'open': expected one of closed" in "\n".join(
        problems(loadExecutor="open")
    )
    ramp = "\n".join(
        problems(loadExecutor="ramping-arrival-rate", loadArrivalStages=[{"duration": "x", "target": 1}, 5])
    )
    assert "loadArrivalStages[0].duration = 'x'" in ramp and "loadArrivalStages[1] = 5" in ramp
    capacity = "\n".join(problems(loadExecutor="capacity", loadArrivalRate=100, loadCapacityMaxRate=50))
    assert "odavl-perf:loadCapacityMaxRate = 50: expected a rate above loadArrivalRate (100)" in capacity


def test_open_model_thresholds_need_an_arrival_rate_executor() -> None:
    lines = ["dropped_iterations: count<1", "http_req_latency_intended: p(99)<1000"]
    found = problems(sloThresholds=lines)
    assert any("sloThresholds[0]" in p and "while loadExecutor is closed" in p for p in found)
    assert any("sloThresholds[1]" in p for p in found)
    assert settings(sloThresholds=lines, loadExecutor="constant-arrival-rate").slo.thresholds == tuple(lines)


def test_the_kubernetes_fleet_gets_the_executor_and_the_lines() -> None:
    s = settings(loadExecutor="capacity", loadArrivalRate=10, loadCapacityMaxRate=100)
    suite = SuiteConfig.from_json(fleet_suite_config(s))
    assert suite.executor == s.load.executor
    assert suite.thresholds == s.slo.thresholds
    assert suite.profile == "capacity" and [stage.target for stage in suite.stages] == [0]


# --- the provider ------------------------------------------------------------------------

BASE = {
    "run_id": "r1",
    "stack": "local",
    "environment": "local",
    "target": "http://127.0.0.1:8080",
    "profile": "staged",
    "max_users": 20,
    "time_scale": 0.02,
    "stages": [],
    "thresholds": ["http_req_failed: rate<0.01"],
    "reports_dir": "/tmp/reports",
    "fleet": {"kind": "local"},
}
OPEN = Executor(kind="constant-arrival-rate", rate=50, duration_s=30, pre_allocated_users=5, max_users=50)


def test_the_executor_is_a_run_trigger_and_old_state_means_closed() -> None:
    assert "executor" in provider.RUN_TRIGGERS
    old = {key: value for key, value in BASE.items() if key != "executor"}
    assert provider.run_triggers(old, BASE | {"executor": {}}) == []
    assert provider.run_triggers(old, BASE | {"executor": OPEN.as_dict()}) == ["executor"]
    changed = OPEN.as_dict() | {"rate": 60}
    assert provider.run_triggers(BASE | {"executor": OPEN.as_dict()}, BASE | {"executor": changed}) == [
        "executor"
    ]


def test_the_runner_gets_the_executor_and_a_capacity_search_the_lines() -> None:
    capacity = Executor(kind="capacity", rate=10, capacity_max_rate=100, max_users=10)
    config = provider._run_config(BASE | {"executor": capacity.as_dict()}, Path("/tmp/r.json"))
    assert config.executor == capacity
    assert config.thresholds == ("http_req_failed: rate<0.01",)
    closed = provider._run_config(BASE | {"executor": {}}, Path("/tmp/r.json"))
    assert closed.executor == Executor() and closed.thresholds == ()


def test_the_component_passes_the_executor_only_for_the_open_model() -> None:
    s = settings(loadExecutor="constant-arrival-rate", loadArrivalRate=5, loadArrivalDuration="10s")
    args = LoadTestRunArgs.from_settings(s)
    assert Executor.from_dict(args.executor) == s.load.executor
    assert LoadTestRunArgs.from_settings(settings()).executor == {}


def parse_run(*words: str):
    from loadtests.__main__ import build_parser

    return config_from_args(build_parser().parse_args(["run", "--target", "http://127.0.0.1:8080", *words]))


def test_the_cli_builds_the_executor() -> None:
    config = parse_run(
        *("--executor", "constant-arrival-rate", "--rate", "50", "--duration", "30s"),
        *("--pre-allocated-users", "20", "--max-users", "100"),
    )
    assert config.executor == Executor(
        kind="constant-arrival-rate", rate=50, duration_s=30, pre_allocated_users=20, max_users=100
    )
    config.validate()
    ramp = parse_run("--executor", "ramping-arrival-rate", "--rate-stages", "30s:50,1m:50,30s:0")
    assert ramp.executor.stages == (RateStage(30, 50), RateStage(60, 50), RateStage(30, 0))
    capacity = parse_run(
        *("--executor", "capacity", "--rate", "10", "--capacity-max-rate", "200"),
        *("--threshold", "http_req_failed: rate<0.01"),
    )
    assert capacity.thresholds == ("http_req_failed: rate<0.01",)
    capacity.validate()


# --- recording, the gate, the document ------------------------------------------------------


def test_the_intended_latency_is_recorded_merged_and_summarised() -> None:
    worker = MetricsCollector()
    worker.record_request("GET /", "probe", 2.0, False, now=100.0, intended_ms=1502.0)
    worker.record_request("GET /", "probe", 3.0, False, now=100.0, intended_ms=3.0)
    worker.record_request("GET /", "probe", 4.0, False, now=100.0)  # outside an iteration
    master = MetricsCollector()
    master.merge_delta(json.loads(json.dumps(worker.take_delta())))
    metrics = master.summaries(10.0)["metrics"]
    assert metrics["http_req_duration"]["count"] == 3
    intended = metrics["http_req_latency_intended"]
    assert intended["count"] == 2 and intended["max"] == pytest.approx(1502.0, rel=0.001)
    assert "http_req_latency_intended" not in MetricsCollector().summaries(1.0)["metrics"]


def test_a_slot_from_a_worker_without_the_intended_histogram_still_merges() -> None:
    slot = RequestSlot()
    slot.duration.record(5.0)
    slot.requests = 1
    payload = slot.encode()
    del payload["intended"]
    assert RequestSlot.decode(payload).intended.count == 0


def test_dropped_iterations_are_a_gateable_counter() -> None:
    assert METRICS["dropped_iterations"] == ("counter", "")
    assert METRICS["http_req_latency_intended"] == ("trend", "ms")
    (threshold,) = slo.parse_thresholds(["dropped_iterations: count<1"])
    doc = {
        "status": "completed",
        "metrics": {"dropped_iterations": {"type": "counter", "count": 0, "rate_per_s": 0}},
    }
    assert slo.evaluate(doc, [threshold]).verdict == "pass"
    doc["metrics"]["dropped_iterations"]["count"] = 3
    assert slo.evaluate(doc, [threshold]).results[0].state == "fail"


def open_model_doc() -> dict:
    doc = copy.deepcopy(json.loads((REPO_ROOT / "tests" / "fixtures" / "results_example.json").read_text()))
    doc["metrics"]["http_req_latency_intended"] = doc["metrics"]["http_req_duration"] | {
        "p95": 1500.0,
        "p99": 1900.0,
    }
    doc["metrics"]["dropped_iterations"] = {"type": "counter", "count": 0, "rate_per_s": 0.0}
    doc["executor"] = {
        "kind": "capacity",
        "description": OPEN.describe(),
        "settings": OPEN.as_dict(),
        "workers": 2,
        "planned_iterations": None,
        "started_iterations": 1500,
        "completed_iterations": 1500,
        "dropped_iterations": 0,
        "requested_rate_per_s": None,
        "achieved_rate_per_s": None,
        "peak_users": 40,
        "peak_busy_users": 12,
        "latency_metric": "http_req_latency_intended",
        "thresholds_note": "...",
    }
    doc["capacity"] = {
        "rate": 80.156,
        "rate_per_s": 80.156,
        "time_unit_s": 1.0,
        "users": 3,
        "confirmed": True,
        "at_max_rate": False,
        "first_break": {
            "rate": 101.25,
            "key": "http_req_failed: rate<0.01",
            "value": 0.2,
            "bound": 0.01,
            "detail": "http_req_failed: rate<0.01: rate = 0.2, expected < 0.01",
        },
        "reason": "the highest rate that met every threshold, confirmed by a 10 s hold",
        "search": {},
        "steps": [
            {
                "index": 0,
                "kind": "probe",
                "rate": 20,
                "duration_s": 10,
                "ok": True,
                "broke": None,
                "users": 2,
                "achieved_rate": 20.0,
                "p95_ms": 2.0,
                "p95_intended_ms": 2.5,
            },
            {
                "index": 1,
                "kind": "probe",
                "rate": 101.25,
                "duration_s": 10,
                "ok": False,
                "broke": {"key": "http_req_failed: rate<0.01", "detail": "rate = 0.2"},
            },
        ],
    }
    doc["thresholds"] = [{"key": "http_req_latency_intended: p(99)<2000"}]
    return doc


def test_the_document_sections_are_in_the_schema_and_old_documents_stay_valid() -> None:
    validate_document(open_model_doc())
    validate_document(json.loads((REPO_ROOT / "tests" / "fixtures" / "results_example.json").read_text()))


def test_the_outputs_and_the_reports_show_both_latencies_and_the_capacity() -> None:
    doc = open_model_doc()
    summary = open_model_summary(doc)
    assert summary["intended_p95_ms"] == 1500.0 and summary["service_p95_ms"] is not None
    assert "judge http_req_latency_intended" in summary["thresholds_use"]
    assert summary["capacity"]["rate"] == 80.156 and summary["capacity"]["users"] == 3
    assert summary["capacity"]["first_break"]["key"] == "http_req_failed: rate<0.01"
    assert open_model_summary({"metrics": {}}) is None
    labels = dict(summary_rows(doc))
    assert labels["Capacity"].startswith("80.2 per 1 s")
    section = html_section(doc)
    assert 'id="open-model-section"' in section and 'id="capacity-steps"' in section
    assert "http_req_latency_intended" in section and "rate = 0.2" in section
    assert html_section({"metrics": {}}) == ""
    page = render_report(doc, slo.parse_thresholds(["http_req_failed: rate<0.01"]))
    assert 'id="open-model-section"' in page
