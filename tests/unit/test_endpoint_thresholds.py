"""Per-endpoint P95 gates: the staging and production stacks carry one `{endpoint:NAME}` threshold
per SLO endpoint of the catalog, and such a threshold fails a run when only its endpoint is slow."""

from __future__ import annotations

import pytest

from loadtests.slo import catalog as slo_catalog
from loadtests.slo import evaluate as slo
from tests.fixtures.endpoint_results import results_with_endpoints
from tools.slo_doc import stack_thresholds

CLUSTER_STACKS = ("Pulumi.staging.yaml", "Pulumi.production.yaml")


def endpoint_lines(stack_file: str) -> list[str]:
    return [line for line in stack_thresholds()[stack_file] if "{endpoint:" in line]


@pytest.mark.parametrize("stack_file", CLUSTER_STACKS)
def test_cluster_stacks_gate_every_slo_endpoint_on_its_target(stack_file: str) -> None:
    assert endpoint_lines(stack_file) == [e.threshold_line for e in slo_catalog.ENDPOINT_SLOS]
    parsed = slo.parse_thresholds(endpoint_lines(stack_file))
    assert {(t.tag.key, t.tag.value, t.aggregate, t.op, t.bound.amount) for t in parsed} == {
        ("endpoint", e.endpoint, "p(95)", "<", e.target_p95_ms) for e in slo_catalog.ENDPOINT_SLOS
    }


@pytest.mark.parametrize("stack_file", CLUSTER_STACKS)
def test_endpoint_threshold_fails_when_only_that_endpoint_is_slow(stack_file: str) -> None:
    thresholds = slo.parse_thresholds(stack_thresholds()[stack_file])
    healthy = slo.evaluate(results_with_endpoints(), thresholds)
    assert healthy.verdict == "pass", [
        (r.threshold.key, r.state) for r in healthy.results if r.state != "pass"
    ]

    slow = "GET /api/autopilot/runs/by-status"  # target P95 350 ms; 420 ms stays below the global 500
    evaluation = slo.evaluate(results_with_endpoints({slow: 420.0}), thresholds)
    failed = [(r.threshold.key, r.value, r.bound) for r in evaluation.results if r.state != "pass"]
    assert evaluation.verdict == "fail"
    assert failed == [(f"http_req_duration{{endpoint:{slow}}}: p(95)<350", 420.0, 350.0)]


def test_endpoint_at_its_target_fails_and_just_below_passes() -> None:
    (threshold,) = slo.parse_thresholds([slo_catalog.ENDPOINT_SLOS[0].threshold_line])
    endpoint, target = slo_catalog.ENDPOINT_SLOS[0].endpoint, slo_catalog.ENDPOINT_SLOS[0].target_p95_ms
    at_target = slo.evaluate(results_with_endpoints({endpoint: target}), [threshold])
    below = slo.evaluate(results_with_endpoints({endpoint: target - 1}), [threshold])
    assert (at_target.verdict, below.verdict) == ("fail", "pass")
