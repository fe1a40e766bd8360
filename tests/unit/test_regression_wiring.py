"""The regression criterion wired in: the archive's last K passing runs, the pipeline's output and
gate, the provider's outs, the stack settings, `python -m loadtests gate` and the reports."""

from __future__ import annotations

import argparse
import copy
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from components.providers.loadtest_run import OUTPUT_NAMES, regression_policy, run_outputs
from components.settings import SettingsError, parse_settings, project_defaults
from loadtests import exit_codes, pipeline
from loadtests.cli import gate as gate_cli
from loadtests.report.console import regression_text
from loadtests.report.html import render_report
from loadtests.results.archive import LocalDirectoryStore, RunArchive
from loadtests.results.distributions import histograms_section
from loadtests.results.document import validate_document
from loadtests.results.histogram import TrendHistogram
from loadtests.run.config import RunConfig
from loadtests.run.shape import Stage
from loadtests.slo.regression import RegressionPolicy
from loadtests.slo.spec import parse_thresholds
from tests.support.fakes import DictConfigSource

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO_ROOT / "tests" / "fixtures" / "results_example.json").read_text())
STAGES = (Stage(3.0, 1), Stage(6.0, 1), Stage(3.0, 0))
THRESHOLD_LINE = "http_req_duration: p(95)<5000"
THRESHOLDS = parse_thresholds([THRESHOLD_LINE])
POLICY = RegressionPolicy(runs=3)


def histograms(seed: int, factor: float = 1.0, n: int = 1500) -> dict:
    rng = np.random.default_rng(seed)
    hist = TrendHistogram()
    for value in rng.lognormal(np.log(20), 0.5, n) * factor:
        hist.record(float(value))
    return histograms_section({"http_req_duration": hist}, {"GET /api/projects": {"http_req_duration": hist}})


class HistogramFleet:
    """A fleet runner returning the example results with the histograms of `factor` x the build."""

    def __init__(self, seed: int, factor: float = 1.0, started_at: str | None = None) -> None:
        self.seed, self.factor, self.started_at = seed, factor, started_at

    def __call__(self, config: RunConfig) -> Mapping[str, Any]:
        doc = copy.deepcopy(EXAMPLE)
        doc.update(stack=config.stack, run_id=config.run_id, status="completed")
        if self.started_at:
            doc["started_at"] = self.started_at
        doc["profile"]["stages"] = [stage.as_dict() for stage in config.resolved_stages()]
        doc["histograms"] = histograms(self.seed, self.factor)
        Path(config.results_path).write_text(json.dumps(doc))
        return doc


def request(tmp_path: Path, run_id: str, **changes: Any) -> pipeline.PipelineRequest:
    reports = str(tmp_path / "reports")
    config = RunConfig(
        target="http://127.0.0.1:8080",
        stages=STAGES,
        results_path=str(pipeline.results_location(reports, "local", run_id)),
        run_id=run_id,
        stack="local",
    )
    options: dict[str, Any] = {"thresholds": THRESHOLDS, "reports_dir": reports, "regression": POLICY}
    return pipeline.PipelineRequest(config, **(options | changes))


def three_earlier_runs(tmp_path: Path) -> None:
    for index in range(3):
        started = f"2020-01-0{index + 1}T00:00:00.000000Z"
        fleet = HistogramFleet(seed=index, started_at=started)
        result = pipeline.run_pipeline(request(tmp_path, f"r{index}"), fleet_runner=fleet)
        assert result.outputs()["regression"]["outcome"] == "inconclusive"
        assert f"{index} earlier passing run(s)" in result.outputs()["regression"]["reason"]


def test_the_pipeline_reports_no_change_then_a_regression(tmp_path: Path) -> None:
    three_earlier_runs(tmp_path)
    same_build = HistogramFleet(seed=10, started_at="2020-01-05T00:00:00.000000Z")
    same = pipeline.run_pipeline(request(tmp_path, "same"), fleet_runner=same_build)
    regression = same.outputs()["regression"]
    assert regression["outcome"] == "no change", regression["reason"]
    assert regression["baseline_run_ids"] == ["r0", "r1", "r2"]
    assert same.outputs()["verdict"] == "pass"

    slow = pipeline.run_pipeline(request(tmp_path, "slow"), fleet_runner=HistogramFleet(11, factor=1.5))
    outputs = slow.outputs()
    assert outputs["regression"]["outcome"] == "regression"
    assert outputs["regression"]["p95_interval_pct"][0] > 0 and not outputs["regression"]["gated"]
    # Report only (the default): the verdict and exit code are the thresholds' alone.
    assert outputs["verdict"] == "pass" and slow.exit_code == exit_codes.PASS
    stored = json.loads(Path(slow.results_path).read_text())
    validate_document(stored)
    assert stored["regression"]["outcome"] == "regression"
    # The last three passing runs before it: "same" is one of them now.
    assert stored["regression"]["baseline_run_ids"] == ["r1", "r2", "same"]


def test_with_the_gate_a_regression_fails_the_verdict(tmp_path: Path) -> None:
    three_earlier_runs(tmp_path)
    gated = RegressionPolicy(runs=3, gate=True)
    same = pipeline.run_pipeline(request(tmp_path, "same", regression=gated), fleet_runner=HistogramFleet(10))
    assert same.outputs()["verdict"] == "pass" and same.exit_code == exit_codes.PASS
    slow = pipeline.run_pipeline(
        request(tmp_path, "slow", regression=gated), fleet_runner=HistogramFleet(11, factor=1.5)
    )
    outputs = slow.outputs()
    assert outputs["verdict"] == "fail" and slow.exit_code == exit_codes.SLO_BREACHED
    assert outputs["regression"]["gated"] is True
    assert outputs["summary"]["text"].startswith("fail: statistical regression (regression: p95")
    stored = RunArchive(LocalDirectoryStore(tmp_path / "reports")).load("local", "slow")
    assert stored["verdict"] == "fail"  # so it is no baseline for the next runs


def test_without_a_baseline_or_archive_there_is_no_comparison(tmp_path: Path) -> None:
    three_earlier_runs(tmp_path)
    none = pipeline.run_pipeline(
        request(tmp_path, "n", baseline="none"), fleet_runner=HistogramFleet(12, factor=2.0)
    )
    assert none.outputs()["regression"]["outcome"] == "inconclusive"
    assert "baseline is none" in none.outputs()["regression"]["reason"]
    off = pipeline.run_pipeline(request(tmp_path, "o", regression=None), fleet_runner=HistogramFleet(13))
    assert off.outputs()["regression"] is None and "regression" not in off.doc


def test_the_archive_finds_the_last_k_passing_runs_of_the_profile(tmp_path: Path) -> None:
    archive = RunArchive(LocalDirectoryStore(tmp_path))
    stages = [{"duration_s": 10.0, "target": 5}]

    def store(run_id: str, day: int, verdict: str = "pass", stages=stages, with_histograms=True) -> None:
        doc = {
            "stack": "local",
            "run_id": run_id,
            "status": "completed",
            "verdict": verdict,
            "started_at": f"2020-01-{day:02d}T00:00:00Z",
            "profile": {"stages": stages},
        }
        if with_histograms:
            doc["histograms"] = {"metrics": {}, "endpoints": {}}
        archive.save(doc)

    for day in range(1, 6):
        store(f"p{day}", day)
    store("failed", 6, verdict="fail")
    store("other-load", 7, stages=[{"duration_s": 10.0, "target": 50}])
    store("old-format", 8, with_histograms=False)
    store("later", 20)
    now = {
        "stack": "local",
        "run_id": "now",
        "started_at": "2020-01-10T00:00:00Z",
        "profile": {"stages": stages},
    }
    # Oldest first; not the failed run, another load shape or a run that started later.
    assert [r.run_id for r in archive.last_passing(now, 3)] == ["p4", "p5", "old-format"]
    with_histograms = archive.last_passing(now, 3, accept=lambda doc: "histograms" in doc)
    assert [r.run_id for r in with_histograms] == ["p3", "p4", "p5"]
    assert [r.run_id for r in archive.last_passing(now, 10)] == ["p1", "p2", "p3", "p4", "p5", "old-format"]


def test_the_provider_passes_the_policy_and_outputs_the_result() -> None:
    assert "regression" in OUTPUT_NAMES
    assert regression_policy({}) == RegressionPolicy()
    props = {"regression_runs": 4.0, "regression_min_effect_pct": 2.5, "regression_gate": True}
    assert regression_policy(props) == RegressionPolicy(runs=4, min_effect_pct=2.5, gate=True)
    with pytest.raises(pipeline.PipelineError, match="regression settings"):
        regression_policy({"regression_runs": 2})
    outs = run_outputs({"stack": "local"}, {"regression": {"outcome": "no change", "reason": "x"}})
    assert outs["regression"] == {"outcome": "no change", "reason": "x"}


SECRETS = frozenset({"testUsers", "databasePassword", "databaseReadonlyPassword"})
VALID = {
    "testUsers": json.dumps([{"email": "loadtest-1@odavl.test", "password": "hunter2-secret"}]),
    "databasePassword": "db-secret-value",
    "databaseReadonlyPassword": "ro-secret-value",
}


def test_the_stack_settings_default_and_validate() -> None:
    slo = parse_settings(DictConfigSource("local", VALID, SECRETS), project_defaults()).slo
    assert (slo.regression_runs, slo.regression_min_effect_pct, slo.regression_gate) == (5, 5.0, False)
    values = VALID | {
        "sloRegressionRuns": 8,
        "sloRegressionMinEffectPercent": "2.5",
        "sloRegressionGate": "true",
    }
    slo = parse_settings(DictConfigSource("local", values, SECRETS), project_defaults()).slo
    assert (slo.regression_runs, slo.regression_min_effect_pct, slo.regression_gate) == (8, 2.5, True)
    bad = VALID | {"sloRegressionRuns": 2, "sloRegressionMinEffectPercent": 0, "sloRegressionGate": "maybe"}
    with pytest.raises(SettingsError) as caught:
        parse_settings(DictConfigSource("local", bad, SECRETS), project_defaults())
    assert caught.value.problems == [
        "odavl-perf:sloRegressionRuns = 2: expected 3 to 50 earlier passing runs",
        "odavl-perf:sloRegressionMinEffectPercent = 0: expected a percentage above 0 and at most 100",
        "odavl-perf:sloRegressionGate = 'maybe': expected true or false",
    ]


def gate(tmp_path: Path, doc: dict, *extra: str) -> tuple[int, str]:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    parser = argparse.ArgumentParser()
    gate_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    store = str(tmp_path / "reports")
    args = parser.parse_args(["gate", str(path), "--store", store, "--threshold", THRESHOLD_LINE, *extra])
    out = io.StringIO()
    code = args.handler(args, Console(file=out, width=200, force_terminal=False, color_system=None))
    return code, out.getvalue()


def test_the_gate_command_judges_against_the_last_k_runs(tmp_path: Path) -> None:
    three_earlier_runs(tmp_path)
    slow = HistogramFleet(11, factor=1.5)(
        RunConfig(
            target="http://127.0.0.1:8080",
            stages=STAGES,
            results_path=str(tmp_path / "slow.json"),
            run_id="slow",
            stack="local",
        )
    )
    code, out = gate(tmp_path, dict(slow), "--regression-runs", "3")
    assert code == exit_codes.PASS
    assert "statistical regression: regression: p95 +" in out and "3 of 3 earlier runs" in out
    code, out = gate(tmp_path, dict(slow), "--regression-runs", "3", "--regression-gate", "--json")
    assert code == exit_codes.SLO_BREACHED
    payload = json.loads(out[out.index("{") :])
    assert payload["regression"]["gated"] is True and payload["verdict"] == "fail"
    code, out = gate(tmp_path, dict(slow), "--regression-runs", "4")
    assert code == exit_codes.PASS and "inconclusive" in out and "4 needed" in out
    code, out = gate(tmp_path, dict(slow), "--baseline", "none")
    assert "statistical regression" not in out
    with pytest.raises(SystemExit):
        gate(tmp_path, dict(slow), "--regression-runs", "2")


def test_the_reports_show_the_outcome_interval_and_p_value(tmp_path: Path) -> None:
    three_earlier_runs(tmp_path)
    slow = pipeline.run_pipeline(
        request(tmp_path, "slow", html_report=True), fleet_runner=HistogramFleet(11, factor=1.5)
    )
    html = Path(slow.report_path).read_text()
    assert 'id="regression-line"' in html and "<b>REGRESSION</b>" in html
    assert '<table id="regression">' in html and "P95" in html and "p (run to run)" in html
    assert "r0, r1, r2" in html
    text = regression_text(slow.doc)
    assert text is not None and text.plain.startswith("statistical regression: regression: p95 +")
    assert "95 % interval" in text.plain and "p = " in text.plain
    without = render_report({k: v for k, v in slow.doc.items() if k != "regression"}, THRESHOLDS)
    assert "No statistical comparison with earlier runs." in without
