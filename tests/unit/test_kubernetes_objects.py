"""Every Kubernetes object the staging and production stacks create validates offline.

Objects are captured under Pulumi mocks (the kubernetes plugin and a cluster are not needed),
from the components with staging/production-like arguments and from the whole program run
with the real stack files, secrets unwrapped, and checked with kubernetes-validate in strict
mode against the schemas of the configured Kubernetes version. The fleet's Jobs, created at
run time by the fleet controller, are validated from the same manifests the component
exports. Helm charts are rendered by the kubernetes provider at deploy time; their inputs
(chart, version, values) are checked in test_observability.py.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pulumi
import pytest
import yaml

from components.fleet import manifests
from components.fleet.fleet import LoadGeneratorFleet
from components.observability import ObservabilityStack
from tests.unit.observability_stacks import ENVIRONMENTS, KUBERNETES_VERSION, fleet_args, observability_args
from tests.unit.pulumi_capture import capture, reveal
from tests.unit.test_program import ROOT, run_program


def kubernetes_objects(environment: str) -> list[dict]:
    objects = []
    for build in (
        lambda: ObservabilityStack("observability", observability_args(environment)),
        lambda: LoadGeneratorFleet("fleet", fleet_args(environment)),
    ):
        resources, _ = capture(build, environment)
        for resource in resources:
            if resource.typ.startswith("kubernetes:") and "helm.sh" not in resource.typ:
                objects.append(reveal(resource.inputs))
    spec = fleet_args(environment).spec()
    objects += [manifests.master_job(spec), manifests.worker_job(spec)]
    return objects


def assert_valid(objects: list[dict], version: str) -> None:
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message} at {list(error.path)}")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_validates(environment):
    objects = kubernetes_objects(environment)
    kinds = sorted(obj["kind"] for obj in objects)
    expected = "Namespace Secret ServiceAccount ConfigMap ConfigMap Secret Service Service"
    assert kinds == sorted([*expected.split(), "NetworkPolicy", "NetworkPolicy", "Job", "Job"])
    assert_valid(objects, KUBERNETES_VERSION)


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_object_of_the_stack_program_validates(stack, monkeypatch):
    fleets: list = []
    build_fleet = LoadGeneratorFleet.__init__

    def recording(self, name, args, opts=None):
        fleets.append(args)
        build_fleet(self, name, args, opts)

    monkeypatch.setattr(LoadGeneratorFleet, "__init__", recording)
    monkeypatch.setenv("ODAVL_ALLOW_PRODUCTION_RUN", stack)  # the permission of this one update
    _, _, error = run_program(stack)
    assert error is None, error
    objects = [
        reveal(registration.state)
        for urn, registration in pulumi.runtime.settings.get_monitor().resources.items()
        if urn.split("::")[2].rsplit("$", 1)[-1].startswith("kubernetes:") and "helm.sh" not in urn
    ]
    assert len(fleets) == 1
    spec = fleets[0].spec()
    objects += [manifests.master_job(spec), manifests.worker_job(spec)]
    assert {"Namespace", "ConfigMap", "Service", "NetworkPolicy", "Job"} <= {obj["kind"] for obj in objects}
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert_valid(objects, config["odavl-perf:kubernetesVersion"])


def test_validation_catches_a_broken_object():
    job = copy.deepcopy(manifests.worker_job(fleet_args("staging").spec()))
    job["spec"]["parallelism"] = "four"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    job = copy.deepcopy(manifests.master_job(fleet_args("staging").spec()))
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
