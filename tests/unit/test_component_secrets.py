"""No secret given to the observability, Grafana or fleet components leaves them in plaintext."""

from __future__ import annotations

import json

import pytest

from components.fleet.fleet import LoadGeneratorFleet
from components.grafana import GrafanaProvisioning
from components.observability import ObservabilityStack
from tests.unit.observability_stacks import fleet_args, grafana_args, observability_args
from tests.unit.pulumi_capture import capture, is_secret

SECRET_VALUES = ("admin-password-value", "readonly-password-value", "secret-value", "users-secret-value")


def without_secrets(value):
    """The input with every secret-wrapped part removed: what is stored in plaintext."""
    if is_secret(value):
        return "<secret>"
    if isinstance(value, dict):
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


@pytest.mark.parametrize(
    "build",
    [
        lambda: ObservabilityStack("observability", observability_args("production")),
        lambda: GrafanaProvisioning("grafana", grafana_args("production")),
        lambda: LoadGeneratorFleet("fleet", fleet_args("production")),
    ],
    ids=["observability", "grafana", "fleet"],
)
def test_secrets_only_travel_as_secrets(build):
    resources, _ = capture(build, "production")
    wrapped = 0
    for resource in resources:
        plain = json.dumps(without_secrets(resource.inputs))
        for secret in SECRET_VALUES:
            assert secret not in plain, f"{resource.name} carries a secret in plaintext"
        wrapped += json.dumps(resource.inputs).count("<secret>") + plain.count("<secret>")
    assert wrapped >= 1, "the component received secrets but passed none on"
