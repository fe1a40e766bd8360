"""The statistical regression criterion on real runs against the reference app.

K + 1 = 4 short runs of the same build through the pipeline (archive in a temporary directory,
K = 3): the first three have too few earlier runs ("inconclusive"), the fourth is "no change".
Then the same app slowed by a known amount, STUDIOHUB_EXTRA_LATENCY_MS (reference_app/latency.py,
added to every /api/ request): "regression", and with the gate on, a failed verdict.

The thresholds are generous on purpose (short runs on a shared machine): only the criterion is
judged here. Saturated generators are accepted for the same reason, so that every run of the
same build is a passing run the criterion may compare with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from loadtests import exit_codes
from loadtests.pipeline import PipelineRequest, PipelineResult, results_location, run_pipeline
from loadtests.results.metrics import USER_GROUPS
from loadtests.run.config import RunConfig, TestUser
from loadtests.run.shape import Stage
from loadtests.slo.regression import RegressionPolicy
from loadtests.slo.spec import parse_thresholds
from services.reference_app import ReferenceApp

pytestmark = pytest.mark.integration

EXTRA_LATENCY_MS = 300
# Not the groups whose requests are logins (scrypt: CPU-bound, so on a shared machine the noisiest)
# or static assets (not slowed); every user still logs in once.
NOT_MEASURED = ("authentication", "static_assets")
# An effect floor of 50 %: these runs last a quarter of a minute on a shared two-core machine,
# where a same-build run's p95 (10-20 ms) moves by a few milliseconds, i.e. by 20-30 %, and one
# CI run called such a run a regression; the known slowdown moves it by over 1000 %.
POLICY = RegressionPolicy(runs=3, min_effect_pct=50.0, gate=True)
THRESHOLDS = parse_thresholds(["http_req_duration: p(95)<600000", "http_req_failed: rate<=1"])


def one_run(app: ReferenceApp, db: Any, reports: Path, run_id: str) -> PipelineResult:
    config = RunConfig(
        target=app.base_url,
        stages=(Stage(1, 16), Stage(12, 16), Stage(1, 0)),
        workers=1,
        user_weights={group: 0 if group in NOT_MEASURED else 1 for group in USER_GROUPS},
        think_time_min_s=0.05,
        think_time_max_s=0.15,
        test_users=tuple(TestUser(email, db.test_password) for email in db.test_user_emails),
        results_path=str(results_location(str(reports), "regression", run_id)),
        run_id=run_id,
        stack="regression",
        stop_timeout_s=1.0,
        run_timeout_s=120,
    )
    request = PipelineRequest(
        config,
        thresholds=THRESHOLDS,
        reports_dir=str(reports),
        accept_saturated_generators=True,
        regression=POLICY,
    )
    result = run_pipeline(request)
    assert result.doc["status"] == "completed", result.doc.get("abort_reason")
    return result


def figures(result: PipelineResult) -> str:
    regression = result.outputs()["regression"]
    requests = result.doc["metrics"]["http_req_duration"]["count"]
    span = f"{result.doc['started_at'][11:19]}-{result.doc['ended_at'][11:19]}"
    return f"{result.doc['run_id']} ({requests} requests, {span}): {regression['reason']}"


def settle(dsn: str) -> None:
    """Fresh statistics and a checkpoint before the series: a fresh copy of the database would
    otherwise get its first autovacuum and checkpoint during one of the runs, and only that run
    would pay for them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def test_same_build_is_no_change_and_a_slowed_build_a_regression(seeded_small_database, tmp_path):
    db = seeded_small_database
    settle(db.dsn)
    reports = tmp_path / "reports"
    app = ReferenceApp(db.dsn, log_path=tmp_path / "app.log")
    app.start()
    try:
        app.wait_ready()
        same_build = [one_run(app, db, reports, f"same-{index}") for index in range(POLICY.runs + 1)]
    finally:
        app.stop()
    for result in same_build:
        print(figures(result))
    for index, result in enumerate(same_build[: POLICY.runs]):
        regression = result.outputs()["regression"]
        assert regression["outcome"] == "inconclusive", regression["reason"]
        assert f"{index} earlier passing run(s)" in regression["reason"]
    last = same_build[-1].outputs()
    assert last["regression"]["outcome"] == "no change", last["regression"]["reason"]
    assert last["regression"]["runs_compared"] == POLICY.runs
    assert last["regression"]["p95_p_value"] is not None
    assert last["verdict"] == "pass" and same_build[-1].exit_code == exit_codes.PASS

    slowed = ReferenceApp(
        db.dsn, env={"STUDIOHUB_EXTRA_LATENCY_MS": str(EXTRA_LATENCY_MS)}, log_path=tmp_path / "slow.log"
    )
    slowed.start()
    try:
        slowed.wait_ready()
        slow = one_run(slowed, db, reports, "slowed")
    finally:
        slowed.stop()
    print(figures(slow))
    outputs = slow.outputs()
    regression = outputs["regression"]
    assert regression["outcome"] == "regression", regression["reason"]
    assert regression["baseline_run_ids"] == ["same-1", "same-2", "same-3"]
    assert regression["p95_interval_pct"][0] > 0 and regression["p95_p_value"] < 0.05
    # Every API request waited EXTRA_LATENCY_MS more: the p95 grew by at least most of that.
    p95 = next(p for p in regression["percentiles"] if p["percentile"] == 95)
    assert p95["current_ms"] - p95["baseline_ms"] > EXTRA_LATENCY_MS * 0.8
    # sloRegressionGate on: the thresholds pass, the regression fails the verdict.
    assert regression["gated"] is True
    assert outputs["verdict"] == "fail" and slow.exit_code == exit_codes.SLO_BREACHED
