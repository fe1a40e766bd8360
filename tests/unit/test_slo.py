"""Unit tests for loadtests/slo/evaluate.py: the evaluator (pass, warn, fail, no-data, baseline deltas, tag
filters) and the live abort check on synthetic snapshots."""

from __future__ import annotations

import pytest

from loadtests.slo import evaluate as slo


def trend(p95: float, *, p99: float | None = None, count: int = 100, avg: float | None = None) -> dict:
    p99 = p95 * 1.5 if p99 is None else p99
    avg = p95 / 2 if avg is None else avg
    return {
        "type": "trend",
        "unit": "ms",
        "count": count,
        "min": 1.0,
        "max": p99 * 1.2,
        "avg": avg,
        "p50": p95 / 3,
        "p90": p95 * 0.9,
        "p95": p95,
        "p99": p99,
    }


def rate(passes: int, fails: int) -> dict:
    total = passes + fails
    return {"type": "rate", "passes": passes, "fails": fails, "rate": passes / total if total else 0.0}


def results(
    metrics: dict | None = None,
    endpoints: dict | None = None,
    groups: dict | None = None,
    status: str = "completed",
    abort_reason: str | None = None,
    run_id: str = "run-2",
) -> dict:
    return {
        "schema_version": "1.0",
        "run_id": run_id,
        "status": status,
        "abort_reason": abort_reason,
        "metrics": metrics or {},
        "endpoints": endpoints or {},
        "groups": groups or {},
    }


# --- evaluator --------------------------------------------------------------------------------


def states(evaluation: slo.Evaluation) -> dict[str, str]:
    return {r.threshold.key: r.state for r in evaluation.results}


def test_pass_records_value_and_bound() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95)<500", "checks: rate>0.95"])
    doc = results({"http_req_duration": trend(320.0), "checks": rate(990, 10)})
    evaluation = slo.evaluate(doc, thresholds)
    assert evaluation.verdict == "pass" and evaluation.passed
    latency, checks = evaluation.results
    assert (latency.value, latency.bound) == (320.0, 500.0)
    assert checks.value == pytest.approx(0.99)


def test_fail_on_the_bound_itself_for_strict_operator() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95)<500, p(99)<1000"])
    evaluation = slo.evaluate(results({"http_req_duration": trend(500.0, p99=900.0)}), thresholds)
    assert states(evaluation) == {
        "http_req_duration: p(95)<500": "fail",
        "http_req_duration: p(99)<1000": "pass",
    }
    assert evaluation.verdict == "fail" and not evaluation.passed
    assert evaluation.results[0].detail == "p(95) = 500, expected < 500"


def test_warning_band_for_upper_and_lower_bounds() -> None:
    thresholds = slo.parse_thresholds(
        ["http_req_duration: p(95)<500 warn 400", "checks: rate>0.95 warn 0.99"]
    )
    warn_doc = results({"http_req_duration": trend(450.0), "checks": rate(97, 3)})
    evaluation = slo.evaluate(warn_doc, thresholds)
    assert [r.state for r in evaluation.results] == ["warn", "warn"]
    assert evaluation.verdict == "warn" and evaluation.passed
    assert evaluation.results[0].warn_bound == 400.0
    ok_doc = results({"http_req_duration": trend(399.0), "checks": rate(995, 5)})
    assert slo.evaluate(ok_doc, thresholds).verdict == "pass"
    bad_doc = results({"http_req_duration": trend(501.0), "checks": rate(995, 5)})
    assert slo.evaluate(bad_doc, thresholds).verdict == "fail"


def test_no_data_never_passes() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95)<500", "web_vitals_lcp: p(95)<2500"])
    doc = results({"http_req_duration": trend(100.0), "web_vitals_lcp": trend(0.0, count=0)})
    evaluation = slo.evaluate(doc, thresholds)
    assert states(evaluation)["web_vitals_lcp: p(95)<2500"] == "no-data"
    assert evaluation.verdict == "no-data" and not evaluation.passed
    empty_rate = slo.evaluate(results({"checks": rate(0, 0)}), slo.parse_thresholds(["checks: rate>0.9"]))
    assert empty_rate.verdict == "no-data"


def test_fail_outranks_no_data_and_warn() -> None:
    thresholds = slo.parse_thresholds(
        ["http_req_duration: p(95)<500 warn 100", "checks: rate>0.95", "web_vitals_cls: p(95)<0.1"]
    )
    doc = results({"http_req_duration": trend(200.0), "checks": rate(50, 50)})
    evaluation = slo.evaluate(doc, thresholds)
    assert evaluation.verdict == "fail"
    assert evaluation.counts == {"pass": 0, "warn": 1, "fail": 1, "no-data": 1, "no-baseline": 0}


def test_tag_filters_read_endpoint_and_group_sections() -> None:
    thresholds = slo.parse_thresholds(
        [
            "http_req_duration{endpoint:GET /api/insight/issues}: p(95)<300",
            "http_req_duration{group:analytics}: p(95)<300",
            "http_req_duration{endpoint:GET /api/missing}: p(95)<300",
            "http_req_duration: p(95)<300",
        ]
    )
    doc = results(
        metrics={"http_req_duration": trend(250.0)},
        endpoints={"GET /api/insight/issues": {"http_req_duration": trend(120.0)}},
        groups={"analytics": {"http_req_duration": trend(640.0)}},
    )
    evaluation = slo.evaluate(doc, thresholds)
    assert [(r.state, r.value) for r in evaluation.results] == [
        ("pass", 120.0),
        ("fail", 640.0),
        ("no-data", None),
        ("pass", 250.0),
    ]


def test_baseline_relative_deltas() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95) <= baseline + 10% warn baseline + 5%"])
    baseline = results({"http_req_duration": trend(200.0)}, run_id="run-1")
    outcomes = {
        p95: slo.evaluate(results({"http_req_duration": trend(p95)}), thresholds, baseline).results[0]
        for p95 in (205.0, 215.0, 230.0)
    }
    assert [o.state for o in outcomes.values()] == ["pass", "warn", "fail"]
    assert outcomes[230.0].bound == pytest.approx(220.0)
    assert outcomes[230.0].warn_bound == pytest.approx(210.0)
    assert outcomes[230.0].baseline_value == 200.0
    assert outcomes[230.0].delta_pct == pytest.approx(15.0)
    evaluation = slo.evaluate(results({"http_req_duration": trend(230.0)}), thresholds, baseline)
    assert evaluation.baseline_run_id == "run-1"


def test_absolute_thresholds_report_the_baseline_delta_too() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95)<500"])
    baseline = results({"http_req_duration": trend(400.0)}, run_id="run-1")
    (outcome,) = slo.evaluate(results({"http_req_duration": trend(300.0)}), thresholds, baseline).results
    assert outcome.state == "pass"
    assert outcome.delta_pct == pytest.approx(-25.0)


def test_missing_baseline_does_not_decide_the_verdict() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95) <= baseline + 10%", "checks: rate>0.9"])
    doc = results({"http_req_duration": trend(300.0), "checks": rate(99, 1)})
    evaluation = slo.evaluate(doc, thresholds, baseline_doc=None)
    assert [r.state for r in evaluation.results] == ["no-baseline", "pass"]
    assert evaluation.results[0].detail == "no baseline run"
    assert evaluation.verdict == "pass"
    empty_baseline = results({}, run_id="run-1")
    again = slo.evaluate(doc, thresholds, empty_baseline)
    assert again.results[0].detail == "the baseline run has no samples for http_req_duration"


def test_absolute_fail_bound_with_baseline_warn_bound_without_baseline() -> None:
    (t,) = slo.parse_thresholds(["http_req_duration: p(95)<500 warn baseline + 10%"])
    outcome = slo.evaluate(results({"http_req_duration": trend(450.0)}), [t]).results[0]
    assert outcome.state == "pass" and outcome.warn_bound is None


def test_aborted_run_fails_and_marks_the_aborting_threshold() -> None:
    thresholds = slo.parse_thresholds(["http_req_failed: rate<0.01 abortOnFail", "checks: rate>0.9"])
    reason = "abortOnFail threshold 'http_req_failed: rate<0.01 abortOnFail' failed after 12 s: rate = 0.5"
    doc = results(
        {"http_req_failed": rate(0, 100), "checks": rate(100, 0)}, status="aborted", abort_reason=reason
    )
    evaluation = slo.evaluate(doc, thresholds)
    assert evaluation.verdict == "fail"
    assert [r.state for r in evaluation.results] == ["fail", "pass"]
    assert evaluation.reason.startswith("run aborted: abortOnFail threshold")


def test_apply_evaluation_fills_the_documents_gate_fields() -> None:
    thresholds = slo.parse_thresholds(["http_req_duration: p(95)<500"])
    doc = results({"http_req_duration": trend(100.0)})
    updated = slo.apply_evaluation(doc, slo.evaluate(doc, thresholds))
    assert updated["verdict"] == "pass"
    assert updated["thresholds"][0]["key"] == "http_req_duration: p(95)<500"
    assert updated["thresholds"][0]["value"] == 100.0
    assert "verdict" not in doc


# --- live abort check -------------------------------------------------------------------------


def test_live_check_waits_for_its_delay_then_aborts() -> None:
    thresholds = slo.parse_thresholds(
        ["http_req_failed: rate<0.05 abortOnFail delayAbortEval=20s", "http_req_duration: p(95)<1"]
    )
    check = slo.LiveAbortCheck(thresholds)
    failing = results({"http_req_failed": rate(30, 70), "http_req_duration": trend(100.0)})
    assert check.active
    assert check(failing, elapsed_s=5.0) is None
    assert check(failing, elapsed_s=19.9) is None
    reason = check(failing, elapsed_s=20.0)
    assert reason is not None
    assert "http_req_failed: rate<0.05 abortOnFail delayAbortEval=20s" in reason
    assert "rate = 0.3, expected < 0.05" in reason
    healthy = results({"http_req_failed": rate(0, 100)})
    assert check(healthy, elapsed_s=25.0) == reason  # an abort decision sticks


def test_live_check_ignores_non_abort_thresholds_and_missing_data() -> None:
    check = slo.LiveAbortCheck(
        slo.parse_thresholds(["http_req_duration: p(95)<1", "checks: rate>0.99 abortOnFail"])
    )
    snapshot = results({"http_req_duration": trend(900.0)})
    assert check(snapshot, elapsed_s=60.0) is None
    assert check(results({"http_req_duration": trend(900.0), "checks": rate(995, 5)}), elapsed_s=61.0) is None
    assert check(results({"checks": rate(90, 10)}), elapsed_s=62.0) is not None


def test_live_check_reads_elapsed_time_from_the_snapshot() -> None:
    check = slo.LiveAbortCheck(slo.parse_thresholds(["checks: rate>0.9 abortOnFail delayAbortEval=10s"]))
    snapshot = results({"checks": rate(10, 90)}, status="running")
    assert check(snapshot | {"duration_s": 9.5}) is None
    assert check(snapshot | {"duration_s": 10.5}) is not None


def test_live_check_without_abort_thresholds_is_inactive() -> None:
    assert not slo.LiveAbortCheck(slo.parse_thresholds(["checks: rate>0.9"])).active
