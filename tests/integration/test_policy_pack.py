"""The policy pack loaded the way the engine loads it (`python -m pulumi.policy ENGINE PACK_DIR`,
from the pack's directory) and queried over its gRPC analyzer interface."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

pytestmark = pytest.mark.integration

PACK = Path(__file__).resolve().parents[2] / "policies"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the policy pack printed no port within 60 s"
        line = process.stdout.readline().decode().strip()
        assert line.isdigit(), f"expected the analyzer port, got {line!r}: {process.stderr.read1().decode()}"
        with grpc.insecure_channel(f"127.0.0.1:{line}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _request(resource_type: str, props: dict, stack: str = "staging") -> analyzer_pb2.AnalyzeRequest:
    properties = struct_pb2.Struct()
    properties.update(props)
    urn = f"urn:pulumi:{stack}::odavl-perf::{resource_type}::res"
    return analyzer_pb2.AnalyzeRequest(type=resource_type, properties=properties, urn=urn, name="res")


def test_the_pack_lists_its_policies_with_enforcement_levels(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "odavl-perf-policies"
    levels = {policy.name: policy.enforcementLevel for policy in info.policies}
    assert len(levels) == 8
    assert levels["production-load-guard"] == analyzer_pb2.MANDATORY
    assert levels["no-plaintext-secret-inputs"] == analyzer_pb2.REMEDIATE


def test_a_violating_load_test_run_is_reported(analyzer):
    props = {
        "environment": "production",
        "target": "https://odavl.studio",
        "allowed_hosts": ["staging.odavl.studio"],
        "max_users": 5000,
        "allow_production": False,
        "thresholds": ["http_req_duration: p(95)<900"],
    }
    response = analyzer.Analyze(_request("pulumi-python:dynamic:Resource", props, "rc-0a1b2c3"), timeout=30)
    by_policy: dict[str, list[str]] = {}
    for diagnostic in response.diagnostics:
        by_policy.setdefault(diagnostic.policyName, []).append(diagnostic.message)
    assert set(by_policy) == {
        "target-host-allow-listed",
        "production-load-guard",
        "slo-thresholds-not-looser-than-baselines",
    }
    assert len(by_policy["production-load-guard"]) == 2


def test_a_compliant_job_passes(analyzer):
    container = {
        "name": "locust",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True},
    }
    spec = {
        "ttlSecondsAfterFinished": 600,
        "activeDeadlineSeconds": 3600,
        "template": {"spec": {"containers": [container]}},
    }
    response = analyzer.Analyze(_request("kubernetes:batch/v1:Job", {"spec": spec}), timeout=30)
    assert list(response.diagnostics) == []


def test_plaintext_secrets_are_remediated_and_secret_ones_left_alone(analyzer):
    props = {"password": "plain", "readonly_password": {**SECRET_SIG, "value": "hidden"}, "port": 5432}
    response = analyzer.Remediate(_request("pulumi-python:dynamic:Resource", props), timeout=30)
    [remediation] = response.remediations
    assert remediation.policyName == "no-plaintext-secret-inputs"
    fixed = dict(remediation.properties)
    assert dict(fixed["password"]) == {**SECRET_SIG, "value": "plain"}
    assert dict(fixed["readonly_password"]) == {**SECRET_SIG, "value": "hidden"}
    assert fixed["port"] == 5432
