"""Unit tests for loadtests/pipeline.py: run -> gate -> archive -> report -> outputs, on a fake fleet."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from loadtests import exit_codes, pipeline
from loadtests.errors import RunError
from loadtests.run.config import RunConfig
from loadtests.run.shape import Stage
from loadtests.slo.spec import parse_thresholds

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO_ROOT / "tests" / "fixtures" / "results_example.json").read_text())
STAGES = (Stage(3.0, 1), Stage(6.0, 1), Stage(3.0, 0))
THRESHOLDS = parse_thresholds(["http_req_duration: p(95)<5000", "checks: rate>0.5"])


class FakeFleet:
    """A fleet runner returning the example results for the config it is given (and keeping it)."""

    def __init__(self, status: str = "completed", **changes: Any):
        self.status = status
        self.changes = changes
        self.configs: list[RunConfig] = []

    def __call__(self, config: RunConfig) -> Mapping[str, Any]:
        self.configs.append(config)
        doc = copy.deepcopy(EXAMPLE)
        doc.update(stack=config.stack, run_id=config.run_id, status=self.status, **self.changes)
        doc["profile"]["stages"] = [stage.as_dict() for stage in config.resolved_stages()]
        Path(config.results_path).write_text(json.dumps(doc))
        return doc


def config(tmp_path: Path, run_id: str = "r2", results: Path | None = None) -> RunConfig:
    results = results or pipeline.results_location(str(tmp_path / "reports"), "local", run_id)
    return RunConfig(
        target="http://127.0.0.1:8080", stages=STAGES, results_path=str(results), run_id=run_id, stack="local"
    )


def full_request(tmp_path: Path, run_id: str = "r2", **changes: Any) -> pipeline.PipelineRequest:
    options: dict[str, Any] = {
        "thresholds": THRESHOLDS,
        "reports_dir": str(tmp_path / "reports"),
        "html_report": True,
    }
    options.update(changes)
    return pipeline.PipelineRequest(config(tmp_path, run_id), **options)


def test_a_judged_run_is_stored_reported_and_output(tmp_path: Path) -> None:
    fleet = FakeFleet()
    result = pipeline.run_pipeline(full_request(tmp_path), fleet_runner=fleet)

    stored_at = tmp_path / "reports" / "local" / "runs" / "r2.json"
    assert fleet.configs[0].results_path == str(stored_at)
    assert result.results_path == str(stored_at)
    stored = json.loads(stored_at.read_text())
    assert stored["verdict"] == result.evaluation.verdict == "pass"
    assert [t["key"] for t in stored["thresholds"]] == [t.key for t in THRESHOLDS]
    assert [t["line"] for t in stored["thresholds"]] == [1, 2]
    assert result.exit_code == exit_codes.PASS and result.ran_to_end
    assert Path(result.report_path).read_text().startswith("<!DOCTYPE html>")
    outputs = result.outputs()
    assert outputs["verdict"] == "pass" and outputs["exit_code"] == exit_codes.PASS
    assert outputs["results_path"] == str(stored_at)
    assert outputs["report_path"] == str(stored_at.with_suffix(".html"))
    assert outputs["report_uris"] == [] and outputs["upload"] is None
    assert outputs["summary"]["text"] == "pass: all 2 thresholds passed"
    assert outputs["summary"]["requests"] == EXAMPLE["metrics"]["http_reqs"]["count"]
    assert [t["state"] for t in outputs["threshold_results"]] == ["pass", "pass"]


def test_the_baseline_is_the_previous_passing_run_and_reaches_the_live_check(tmp_path: Path) -> None:
    first = FakeFleet(started_at="2020-01-01T00:00:00Z")
    assert (
        pipeline.run_pipeline(full_request(tmp_path, "r1"), fleet_runner=first).evaluation.verdict == "pass"
    )
    fleet = FakeFleet()
    abort = parse_thresholds(["http_req_failed: rate<0.5 abortOnFail", "http_req_duration: p(95)<5000"])
    result = pipeline.run_pipeline(full_request(tmp_path, "r2", thresholds=abort), fleet_runner=fleet)

    assert result.baseline_doc["run_id"] == "r1"
    assert result.outputs()["baseline_run_id"] == "r1"
    live_check = fleet.configs[0].live_check
    assert live_check is not None and live_check.baseline_doc["run_id"] == "r1"


def test_a_failed_judged_run_is_stored_but_did_not_run_to_its_end(tmp_path: Path) -> None:
    result = pipeline.run_pipeline(full_request(tmp_path), fleet_runner=FakeFleet("failed"))
    assert not result.ran_to_end
    assert result.exit_code == exit_codes.COULD_NOT_RUN
    assert json.loads(Path(result.results_path).read_text())["status"] == "failed"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("completed", exit_codes.PASS),
        ("aborted", exit_codes.SLO_BREACHED),
        ("interrupted", exit_codes.COULD_NOT_RUN),
        ("failed", exit_codes.COULD_NOT_RUN),
    ],
)
def test_without_thresholds_there_is_no_gate_and_the_status_decides(
    tmp_path: Path, status: str, code: int
) -> None:
    results = tmp_path / "out" / "results.json"
    request = pipeline.PipelineRequest(config(tmp_path, results=results))
    result = pipeline.run_pipeline(request, fleet_runner=FakeFleet(status))

    assert result.exit_code == code
    assert result.evaluation is None and result.report_path is None
    assert result.results_path == str(results)
    assert "verdict" not in json.loads(results.read_text())
    assert not (tmp_path / "reports").exists()  # no archive
    with pytest.raises(pipeline.PipelineError, match="no verdict"):
        result.outputs()


def test_a_runner_failure_is_a_pipeline_error(tmp_path: Path) -> None:
    def broken(_config: RunConfig) -> Mapping[str, Any]:
        raise RunError("workers never connected")

    with pytest.raises(
        pipeline.PipelineError, match=r"^the load test could not run: workers never connected$"
    ):
        pipeline.run_pipeline(full_request(tmp_path), fleet_runner=broken)


def test_a_missing_explicit_baseline_is_named_and_nothing_runs(tmp_path: Path) -> None:
    fleet = FakeFleet()
    with pytest.raises(pipeline.PipelineError, match=r"^baseline run 'r0' is not stored at "):
        pipeline.run_pipeline(full_request(tmp_path, baseline="r0"), fleet_runner=fleet)
    assert fleet.configs == []


def test_a_run_id_that_cannot_name_a_stored_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(pipeline.PipelineError, match=r"run id '\.\./x' cannot name a stored run"):
        pipeline.results_location(str(tmp_path), "local", "../x")


def test_s3_target_only_with_a_bucket() -> None:
    assert pipeline.s3_target(None) is None and pipeline.s3_target({"bucket": ""}) is None
    target = pipeline.s3_target({"bucket": "b", "prefix": "", "endpoint": "", "retention_days": 7})
    assert (target.bucket, target.prefix, target.endpoint_url, target.retention_days) == (
        "b",
        "load-tests/",
        None,
        7,
    )


def test_the_database_bound_of_the_gate_picks_the_slow_statements() -> None:
    assert pipeline.db_p95_bound(parse_thresholds(["db_query_duration: p(95)<80"])) == 80.0
    assert pipeline.db_p95_bound(THRESHOLDS) == pipeline.DEFAULT_DB_P95_MS


def test_slow_statements_without_a_database_are_empty_and_never_log_the_dsn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert pipeline.slow_statements(None, 100.0) == []
    dsn = "postgresql://app:pw-never-logged@127.0.0.1:1/app?connect_timeout=2"
    with caplog.at_level("WARNING"):
        assert pipeline.slow_statements(dsn, 100.0) == []
    assert "slow statements unavailable" in caplog.text
    assert "pw-never-logged" not in caplog.text


def test_the_pipeline_imports_neither_components_nor_the_cli() -> None:
    """Layering: the CLI and the Pulumi components sit above the pipeline."""
    code = (
        "import sys, loadtests.pipeline; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] == 'components' or m.startswith('loadtests.cli')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
