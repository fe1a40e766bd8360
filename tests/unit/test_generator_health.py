"""Generator health: the samplers' aggregation, the results section, and the gate's "no verdict".

loadtests/results/generators.py (aggregation and saturation rules), loadtests/suite/health.py
(the sampler, on fake clocks), the `generators` section in the results document and its schema,
the SLO gate (`evaluate`/`judge`, exit code 3, `python -m loadtests gate`), the pipeline and the
Pulumi side (settings key, provider inputs, outputs, the update's failure message).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from components.loadtest import ACCEPT_SATURATED_KEY, LoadTestRunArgs, gate_failure
from components.providers import loadtest_run as provider
from loadtests import exit_codes, pipeline
from loadtests.cli import gate as gate_cli
from loadtests.report.console import generators_text
from loadtests.report.html import render_report
from loadtests.results.document import validate_document
from loadtests.results.generators import (
    BUSY_FRACTION_LIMIT,
    LAG_P99_LIMIT_MS,
    FleetHealth,
    ProcessHealth,
    generators_output,
    generators_saturated,
    health_line,
)
from loadtests.run.config import RunConfig
from loadtests.run.shape import Stage
from loadtests.slo import evaluate as slo
from loadtests.slo.spec import parse_thresholds
from loadtests.suite.health import CPU_INTERVAL_S, LAG_INTERVAL_S, HealthSampler, run_queue_wait_s

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO_ROOT / "tests" / "fixtures" / "results_example.json").read_text())
PASSING = parse_thresholds(["http_req_duration: p(95)<100000", "checks: rate>0.5"])
FAILING = parse_thresholds(["http_req_duration: p(95)<0.001"])
T0 = 1_800_000_000.0


def cpu(*shares: float, start: float = T0, interval: float = 1.0) -> list[list[float]]:
    """CPU samples of `interval` seconds each, back to back from `start`."""
    return [[start + (i + 1) * interval, interval, share] for i, share in enumerate(shares)]


def lags(*values_ms: float, start: float = T0) -> list[list[float]]:
    return [[start + (i + 1) * 0.1, value] for i, value in enumerate(values_ms)]


def section(busy_share: float = 0.0, lag_ms: float = 1.0, samples: int = 100) -> dict[str, Any]:
    """A generators section: worker-1 healthy, worker-2 above 90 % CPU for `busy_share` of
    `samples` seconds with every lag sample at `lag_ms`; the master idle."""
    fleet = FleetHealth()
    fleet.add("worker-1", "worker", {"cpu": cpu(*[0.2] * samples), "lag_ms": lags(*[0.5] * samples)})
    busy = round(samples * busy_share)
    shares = [0.99] * busy + [0.3] * (samples - busy)
    fleet.add("worker-2", "worker", {"cpu": cpu(*shares), "lag_ms": lags(*[lag_ms] * samples)})
    fleet.add("master", "master", {"cpu": cpu(0.01, 0.01), "lag_ms": lags(0.2)})
    return fleet.section()


def doc_with(generators: dict[str, Any] | None, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    if generators is not None:
        doc["generators"] = generators
    doc.update(changes)
    validate_document(doc)
    return doc


SATURATED = section(busy_share=0.5)


# --- aggregation --------------------------------------------------------------------------------


def test_busy_fraction_is_time_weighted_and_the_limit_is_exclusive() -> None:
    health = ProcessHealth("worker-1", "worker")
    # 9 s at 20 %, then one 1 s sample at 95 %: exactly 10 % of the time busy -> not saturated.
    health.add({"cpu": [*cpu(*[0.2] * 9), [T0 + 10, 1.0, 0.95]]})
    assert health.busy_fraction == pytest.approx(BUSY_FRACTION_LIMIT)
    assert health.summary()["saturated"] is False
    # A blocked loop's single 2 s sample at 100 % weighs 2 s: 3 of 12 s busy.
    health.add({"cpu": [[T0 + 12, 2.0, 1.0]]})
    summary = health.summary()
    assert summary["cpu_busy_fraction"] == pytest.approx(3 / 12, abs=1e-4)
    assert summary["cpu_mean"] == pytest.approx((9 * 0.2 + 0.95 + 2.0) / 12, abs=1e-4)
    assert summary["cpu_max"] == 1.0 and summary["cpu_samples"] == 11
    assert summary["saturated"] is True
    assert summary["reason"].startswith("above 90 % CPU for 25 % of the run (limit 10 %")


def test_waiting_for_a_cpu_counts_as_busy() -> None:
    # Half a core, and the other half waiting for one (a shared host): the loop never idled.
    starved = ProcessHealth("w", "worker")
    starved.add({"cpu": [[T0 + i, 1.0, 0.48, 0.5] for i in range(1, 11)]})
    summary = starved.summary()
    assert (summary["cpu_mean"], summary["cpu_wait_mean"]) == (0.48, 0.5)
    assert summary["cpu_busy_fraction"] == 1.0 and summary["saturated"] is True
    assert summary["reason"] == (
        "above 90 % CPU for 100 % of the run (limit 10 %; mean 48 % plus 50 % waiting for a CPU)"
    )
    # A light process that waits a little for a CPU when it wakes is not busy.
    light = ProcessHealth("w", "worker")
    light.add({"cpu": [[T0 + i, 1.0, 0.05, 0.02] for i in range(1, 11)]})
    assert light.summary()["cpu_busy_fraction"] == 0.0


def test_lag_p99_above_the_bound_saturates_below_it_does_not() -> None:
    # Lags are held in an HDR histogram (0.1 % precision), so the bound is tested just below it.
    below = ProcessHealth("w", "worker")
    below.add({"lag_ms": lags(*[1.0] * 98, 99.5, 99.5)})
    assert below.summary()["lag_p99_ms"] == pytest.approx(99.5, rel=1e-3)
    assert below.summary()["lag_p99_ms"] < LAG_P99_LIMIT_MS
    assert below.summary()["saturated"] is False
    above = ProcessHealth("w", "worker")
    above.add({"lag_ms": lags(*[1.0] * 395, 250.0, 250.0, 250.0, 250.0, 400.0)})  # 5 late of 400
    summary = above.summary()
    assert summary["lag_p99_ms"] == pytest.approx(250.0, rel=1e-3)
    assert summary["lag_max_ms"] == pytest.approx(400.0, rel=1e-3)
    assert summary["saturated"] is True
    assert summary["reason"] == "event-loop lag p99 250 ms (limit 100 ms; 5 wake-ups that late)"


def test_one_or_two_stalls_in_a_short_run_are_not_saturation() -> None:
    # 160 samples (16 s): p99 is the second-highest, so two stalls put it above the bound.
    short = ProcessHealth("w", "worker")
    short.add({"lag_ms": lags(*[2.0] * 158, 111.0, 130.0)})
    summary = short.summary()
    assert summary["lag_p99_ms"] > LAG_P99_LIMIT_MS
    assert summary["saturated"] is False and summary["reason"] == "healthy"
    short.add({"lag_ms": lags(*[140.0] * 3)})  # five late wake-ups: the loop was behind
    assert short.summary()["saturated"] is True


def test_only_samples_within_the_run_window_count() -> None:
    health = ProcessHealth("w", "worker")
    # Busy seconds after the profile's end (the drain, no users) and lag before its start.
    samples = {"cpu": cpu(0.1, 0.1, 0.1, 1.0, 1.0), "lag_ms": [[T0 - 5, 900.0], [T0 + 1, 1.0]]}
    health.add(samples, since=T0, until=T0 + 3)
    assert health.cpu_samples == 3 and health.busy_s == 0.0
    assert health.lag.count == 1 and health.summary()["saturated"] is False


def test_the_section_lists_generators_and_the_master_which_does_not_decide() -> None:
    fleet = FleetHealth()
    fleet.add("worker-2", "worker", {"cpu": cpu(0.1), "lag_ms": lags(1.0)})
    fleet.add("worker-1", "worker", None)
    fleet.add("master", "master", {"cpu": cpu(1.0, 1.0), "lag_ms": lags(500.0)})
    out = fleet.section()
    assert [w["id"] for w in out["workers"]] == ["worker-1", "worker-2"]
    assert out["workers"][0]["reason"] == "no samples"
    assert out["master"]["saturated"] is True  # reported ...
    assert out["saturated"] is False  # ... but a master sends no request
    assert out["reason"].startswith("every generator stayed at or below 90 % CPU")
    limits = {"cpu_busy": 0.9, "busy_fraction": 0.1, "lag_p99_ms": 100.0, "late_wakeups_min": 5}
    assert out["limits"] == limits
    with pytest.raises(ValueError, match="unknown generator role 'boss'"):
        fleet.add("x", "boss", None)


def test_a_saturated_worker_saturates_the_run_and_is_named() -> None:
    assert SATURATED["saturated"] is True
    assert SATURATED["reason"].startswith("worker-2 above 90 % CPU for 50 % of the run")
    assert [w["saturated"] for w in SATURATED["workers"]] == [False, True]
    lagging = "worker-2 event-loop lag p99 150 ms (limit 100 ms; 100 wake-ups that late)"
    assert section(lag_ms=150.0)["reason"] == lagging
    assert FleetHealth().section()["reason"] == "no generator reported health samples"


# --- the sampler --------------------------------------------------------------------------------


class FakeClocks:
    """Monotonic, CPU and wall clocks; `sleep` advances the monotonic and wall clocks."""

    def __init__(self) -> None:
        self.now = 100.0
        self.cpu = 5.0
        self.wait = 2.0
        self.wall = T0
        self.late = 0.0  # seconds each sleep overruns
        self.cpu_share = 0.5  # CPU seconds per wall second while sleeping
        self.wait_share = 0.25  # seconds waiting for a CPU per wall second

    def sleep(self, seconds: float) -> None:
        step = seconds + self.late
        self.now += step
        self.wall += step
        self.cpu += step * self.cpu_share
        self.wait += step * self.wait_share

    def sampler(self, **clocks: Any) -> HealthSampler:
        options: dict[str, Any] = {
            "clock": lambda: self.now,
            "cpu_clock": lambda: self.cpu,
            "wait_clock": lambda: self.wait,
            "wall_clock": lambda: self.wall,
            "sleep": self.sleep,
        }
        return HealthSampler(**(options | clocks))


def test_the_sampler_records_lag_per_tick_and_cpu_about_once_a_second() -> None:
    clocks = FakeClocks()
    sampler = clocks.sampler()
    sampler.mark()  # as start() does, without a greenlet
    ticks = round(CPU_INTERVAL_S / LAG_INTERVAL_S)
    for _ in range(ticks - 1):
        sampler.tick()
    assert sampler.cpu == [] and len(sampler.lag_ms) == ticks - 1
    clocks.late = 0.03
    sampler.tick()
    taken = sampler.take()
    assert taken["lag_ms"][-1] == [pytest.approx(clocks.wall, abs=1e-3), pytest.approx(30.0)]
    assert all(late == pytest.approx(0.0, abs=1e-6) for _, late in taken["lag_ms"][:-1])
    [(ended_at, interval, share, waiting)] = taken["cpu"]
    assert ended_at == pytest.approx(clocks.wall, abs=1e-3)
    assert interval == pytest.approx(CPU_INTERVAL_S + 0.03)
    assert (share, waiting) == (pytest.approx(0.5), pytest.approx(0.25))
    assert sampler.take() == {"cpu": [], "lag_ms": []}  # taken samples are forgotten


def test_stop_keeps_the_last_partial_cpu_sample() -> None:
    clocks = FakeClocks()
    sampler = clocks.sampler(wait_clock=lambda: None)  # no scheduler statistics: no waiting share
    sampler.mark()
    sampler._greenlet = SimpleNamespace(kill=lambda block: None)
    clocks.now += 0.4
    clocks.cpu += 0.4  # a full core for the last 0.4 s
    sampler.stop()
    [(_, interval, share)] = sampler.take()["cpu"]
    assert (interval, share) == (pytest.approx(0.4), pytest.approx(1.0))
    sampler.stop()  # stopping twice is harmless


def test_the_run_queue_wait_comes_from_schedstat(tmp_path: Path) -> None:
    stat = tmp_path / "schedstat"
    stat.write_text("1200000000 345000000 77\n")
    assert run_queue_wait_s(str(stat)) == pytest.approx(0.345)
    assert run_queue_wait_s(str(tmp_path / "missing")) is None
    stat.write_text("garbage\n")
    assert run_queue_wait_s(str(stat)) is None


def test_the_locust_default_arguments_are_parsed_once(monkeypatch) -> None:
    from locust import argument_parser

    from loadtests.suite.locust_fixes import cache_default_args

    calls: list[int] = []
    monkeypatch.setattr(argument_parser, "default_args_dict", lambda: calls.append(1) or {"host": None})
    cache_default_args()
    cache_default_args()  # idempotent: not a cache of the cache
    for _ in range(60):  # as a worker tests each option of one spawn message
        assert "host" in argument_parser.default_args_dict()
    assert calls == [1]


# --- the results document -----------------------------------------------------------------------


def test_the_section_is_valid_and_optional() -> None:
    validate_document(doc_with(SATURATED))
    validate_document(doc_with(None))  # documents from before generator health stay valid
    assert generators_saturated(doc_with(SATURATED)) and not generators_saturated(doc_with(None))
    broken = copy.deepcopy(SATURATED)
    broken["workers"][0]["cpu_busy_fraction"] = 1.5
    with pytest.raises(Exception, match="generators/workers/0/cpu_busy_fraction"):
        validate_document(doc_with(None) | {"generators": broken})


# --- the gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("thresholds", [PASSING, FAILING], ids=["would-pass", "would-fail"])
def test_a_saturated_run_gets_no_verdict_whatever_its_thresholds(thresholds) -> None:
    doc = doc_with(SATURATED)
    evaluation, code = slo.judge(doc, thresholds, None)
    assert evaluation.verdict == "no-verdict" and code == exit_codes.NO_VERDICT == 3
    assert not evaluation.passed
    alone = "pass" if thresholds is PASSING else "fail"
    assert evaluation.reason.startswith("generator saturated (worker-2 above 90 % CPU")
    assert evaluation.reason.endswith(f"the thresholds alone give {alone}")
    assert evaluation.results  # each threshold's own state is still reported
    assert evaluation.to_dict()["generators"] == {
        "saturated": True,
        "accepted": False,
        "reason": SATURATED["reason"],
    }


def test_accepting_saturation_judges_the_thresholds_and_is_recorded() -> None:
    doc = doc_with(SATURATED)
    evaluation, code = slo.judge(doc, PASSING, None, accept_saturated=True)
    assert (evaluation.verdict, code) == ("pass", exit_codes.PASS)
    assert "generators saturated, judged anyway as accepted" in evaluation.reason
    judged = slo.apply_evaluation(doc, evaluation)
    assert judged["generators"]["accepted"] is True and "accepted" not in doc["generators"]
    validate_document(judged)
    # Judged again with no explicit choice, the recorded acceptance holds; an explicit False wins.
    assert slo.evaluate(judged, PASSING).verdict == "pass"
    assert slo.evaluate(judged, PASSING, accept_saturated=False).verdict == "no-verdict"


def test_healthy_and_unmeasured_runs_are_judged_as_before() -> None:
    healthy = slo.evaluate(doc_with(section()), PASSING)
    assert healthy.verdict == "pass" and healthy.generators["saturated"] is False
    old = slo.evaluate(doc_with(None), FAILING)
    assert old.verdict == "fail" and old.generators is None
    assert "generators" not in slo.apply_evaluation(doc_with(None), old)


def test_exit_codes_of_saturated_runs_by_status() -> None:
    aborted = doc_with(SATURATED, status="aborted", abort_reason="abortOnFail threshold 'x' failed")
    assert slo.judge(aborted, PASSING, None)[1] == exit_codes.NO_VERDICT
    interrupted = doc_with(SATURATED, status="interrupted", abort_reason="Ctrl-C")
    assert slo.judge(interrupted, PASSING, None)[1] == exit_codes.COULD_NOT_RUN
    # Without a gate (`python -m loadtests run`), the status decides unless saturated.
    assert pipeline.status_exit_code(doc_with(SATURATED)) == exit_codes.NO_VERDICT
    assert pipeline.status_exit_code(doc_with(SATURATED), accept_saturated_generators=True) == 0
    assert pipeline.status_exit_code(doc_with(section())) == exit_codes.PASS
    assert pipeline.status_exit_code(interrupted) == exit_codes.COULD_NOT_RUN


def gate(tmp_path: Path, doc: dict, *extra: str) -> tuple[int, str]:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    parser = argparse.ArgumentParser()
    gate_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["gate", str(path), "--store", str(tmp_path / "reports"), "--baseline", "none", *extra]
    )
    out = io.StringIO()
    code = args.handler(args, Console(file=out, width=250, force_terminal=False, color_system=None))
    return code, out.getvalue()


def test_the_gate_command_gives_no_verdict_unless_told_to_accept(tmp_path: Path) -> None:
    threshold = ("--threshold", "checks: rate>0.5")
    code, out = gate(tmp_path, doc_with(SATURATED), *threshold)
    assert code == exit_codes.NO_VERDICT
    assert "verdict: NO-VERDICT  generator saturated (worker-2 above 90 % CPU" in out
    assert "generators SATURATED: worker-2 above 90 % CPU" in out
    code, out = gate(tmp_path, doc_with(SATURATED), *threshold, "--accept-saturated-generators", "--write")
    assert code == exit_codes.PASS and "generators SATURATED (accepted: judged anyway)" in out
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["verdict"] == "pass" and written["generators"]["accepted"] is True
    # The written file's acceptance holds for a later gate, unless refused explicitly.
    path = tmp_path / "results.json"
    parser = argparse.ArgumentParser()
    gate_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    for extra, expected in (
        ((), exit_codes.PASS),
        (("--no-accept-saturated-generators",), exit_codes.NO_VERDICT),
    ):
        args = parser.parse_args(["gate", str(path), "--baseline", "none", *threshold, *extra])
        console = Console(file=io.StringIO(), width=200, color_system=None)
        assert args.handler(args, console) == expected


def test_the_console_line_of_a_healthy_run_names_the_busiest_worker() -> None:
    line = health_line(doc_with(section(busy_share=0.05)))
    assert line == (
        "generators healthy (2): busiest worker-2 CPU mean 33 %, above 90 % for 5 % of the run; "
        "loop lag p99 1.0 ms"
    )
    assert generators_text(doc_with(None)) is None and health_line(doc_with(None)) is None


# --- pipeline, report, Pulumi -------------------------------------------------------------------


def test_the_pipeline_withholds_the_verdict_and_outputs_the_generators(tmp_path: Path) -> None:
    def fleet(config: RunConfig) -> dict:
        doc = doc_with(SATURATED, run_id=config.run_id, stack=config.stack)
        doc["profile"]["stages"] = [stage.as_dict() for stage in config.resolved_stages()]
        return doc

    reports = str(tmp_path / "reports")
    config = RunConfig(
        target="http://127.0.0.1:8080",
        stages=(Stage(3.0, 1),),
        results_path=str(pipeline.results_location(reports, "local", "r1")),
        run_id="r1",
    )
    request = pipeline.PipelineRequest(config, PASSING, reports_dir=reports, html_report=True)
    result = pipeline.run_pipeline(request, fleet_runner=fleet)
    assert result.exit_code == exit_codes.NO_VERDICT and result.doc["verdict"] == "no-verdict"
    outputs = result.outputs()
    assert outputs["verdict"] == "no-verdict"
    assert outputs["summary"]["text"].startswith("no-verdict: generator saturated (worker-2")
    assert outputs["generators"] == {
        "saturated": True,
        "accepted": False,
        "reason": SATURATED["reason"],
        "workers": [
            {
                key: w[key]
                for key in (
                    "id",
                    "cpu_busy_fraction",
                    "cpu_mean",
                    "cpu_wait_mean",
                    "lag_p99_ms",
                    "lag_max_ms",
                    "saturated",
                )
            }
            for w in SATURATED["workers"]
        ],
    }
    html = Path(result.report_path).read_text()
    assert 'id="generators-section"' in html and "SATURATED: above 90 % CPU" in html
    assert '<span class="badge no-verdict" id="verdict">NO-VERDICT</span>' in html
    accepted = pipeline.run_pipeline(
        pipeline.PipelineRequest(config, PASSING, reports_dir=reports, accept_saturated_generators=True),
        fleet_runner=fleet,
    )
    assert (accepted.exit_code, accepted.outputs()["generators"]["accepted"]) == (exit_codes.PASS, True)


def test_the_report_says_when_generator_health_was_not_measured() -> None:
    assert "Generator health was not measured in this run." in render_report(doc_with(None), PASSING)


def test_the_stack_setting_reaches_the_pipeline_and_the_outputs_carry_the_generators(tmp_path: Path) -> None:
    from components.settings import parse_settings, project_defaults
    from tests.support.fakes import DictConfigSource

    secrets = frozenset({"testUsers", "databasePassword", "databaseReadonlyPassword"})
    values = {
        "testUsers": json.dumps([{"email": "loadtest-1@odavl.test", "password": "hunter2-secret"}]),
        "databasePassword": "db-secret-value",
        "databaseReadonlyPassword": "ro-secret-value",
    }
    default = parse_settings(DictConfigSource("local", values, secrets), project_defaults())
    assert default.slo.accept_saturated_generators is False
    accepting = parse_settings(
        DictConfigSource("local", {**values, "sloAcceptSaturatedGenerators": "true"}, secrets),
        project_defaults(),
    )
    assert accepting.slo.accept_saturated_generators is True
    with pytest.raises(Exception, match="sloAcceptSaturatedGenerators = 'maybe': expected true or false"):
        parse_settings(
            DictConfigSource("local", {**values, "sloAcceptSaturatedGenerators": "maybe"}, secrets),
            project_defaults(),
        )

    args = LoadTestRunArgs(
        run_id="r1",
        stack="local",
        target="http://127.0.0.1:8080",
        thresholds=("checks: rate>0.5",),
        accept_saturated_generators=True,
    )
    props = {**args.provider_inputs(), "reports_dir": str(tmp_path)}
    assert props["accept_saturated_generators"] is True
    request = provider.pipeline_request(props, PASSING)
    assert request.accept_saturated_generators is True
    assert (
        provider.pipeline_request(
            {**props, "accept_saturated_generators": None}, PASSING
        ).accept_saturated_generators
        is False
    )
    assert "accept_saturated_generators" not in provider.RUN_TRIGGERS  # it applies to the next run
    outs = provider.run_outputs(props, {"generators": generators_output(doc_with(SATURATED))})
    assert outs["generators"]["saturated"] is True


def test_an_enforced_gate_fails_the_update_with_a_clear_message_for_no_verdict() -> None:
    summary = {"text": "no-verdict: generator saturated (worker-1 above 90 % CPU for 87 % of the run)"}
    message = gate_failure("no-verdict", summary, "reports/local/runs/r1.html")
    assert message.startswith("SLO gate gave no verdict: the load generators were saturated")
    assert "worker-1 above 90 % CPU" in message and ACCEPT_SATURATED_KEY in message
    assert message.endswith("report: reports/local/runs/r1.html")
    assert ACCEPT_SATURATED_KEY == "odavl-perf:sloAcceptSaturatedGenerators"
    assert gate_failure("fail", {"text": "fail: 1 of 2 thresholds failed"}, "r.html").startswith(
        "SLO gate failed"
    )
    assert gate_failure("pass", None, None) is None


def test_the_run_and_gate_commands_take_the_acceptance_flag() -> None:
    from loadtests.__main__ import build_parser

    parser = build_parser()
    run = ["run", "--target", "http://127.0.0.1:8080"]
    assert parser.parse_args(run).accept_saturated_generators is False
    assert parser.parse_args([*run, "--accept-saturated-generators"]).accept_saturated_generators is True
    assert parser.parse_args(["gate", "r.json"]).accept_saturated_generators is None  # as recorded
    assert (
        parser.parse_args(["gate", "r.json", "--no-accept-saturated-generators"]).accept_saturated_generators
        is False
    )
