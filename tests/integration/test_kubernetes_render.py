"""The Kubernetes load-generator fleet rendered by the real kubernetes plugin, then validated.

pulumi-kubernetes' render mode (`render_yaml_to_directory`) runs the provider plugin that
scripts/setup.sh builds, but writes manifests instead of calling a cluster. Every object the
fleet would create is validated against the Kubernetes schemas of the configured version.
(Helm charts cannot be rendered here: they are fetched from chart repositories.)
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.fixtures.engine import PULUMI_BIN, Engine

pytestmark = [pytest.mark.integration, pytest.mark.engine, pytest.mark.usefixtures("cluster_parts")]

KUBERNETES_VERSION = "1.31"


def fleet_program(render_dir: Path):
    def program() -> None:
        import pulumi
        import pulumi_kubernetes as kubernetes

        from components.fleet.fleet import LoadGeneratorFleet, LoadGeneratorFleetArgs
        from loadtests.run.config import SuiteConfig

        cluster = kubernetes.Provider("render", render_yaml_to_directory=str(render_dir))
        fleet = LoadGeneratorFleet(
            "load-generators",
            LoadGeneratorFleetArgs(
                namespace="odavl-perf-staging",
                run_id="render-1",
                workers=4,
                image="locustio/locust:2.47.0",
                target_url="https://staging.odavl.studio",
                allowed_hosts=("staging.odavl.studio",),
                target_cidrs=("203.0.113.10/32",),
                suite_config_json=SuiteConfig(
                    target="https://staging.odavl.studio", allowed_hosts=("staging.odavl.studio",)
                ).to_json(),
            ),
            pulumi.ResourceOptions(providers=[cluster]),
        )
        pulumi.export("masterService", fleet.master_service)

    return program


def test_fleet_manifests_render_and_validate(pulumi_engine: Engine, tmp_path: Path) -> None:
    from pulumi import automation as auto

    render_dir = tmp_path / "manifests"
    stack = auto.create_stack(
        stack_name="render",
        project_name="odavl-perf-render",
        program=fleet_program(render_dir),
        opts=auto.LocalWorkspaceOptions(
            env_vars=pulumi_engine.env,
            pulumi_command=auto.PulumiCommand(root=str(PULUMI_BIN.parent)),
            project_settings=auto.ProjectSettings(
                name="odavl-perf-render",
                runtime="python",
                backend=auto.ProjectBackend(url=pulumi_engine.env["PULUMI_BACKEND_URL"]),
            ),
        ),
    )
    try:
        result = stack.up(on_output=lambda _line: None)
        assert result.summary.result == "succeeded"
        documents = [
            doc
            for path in sorted(render_dir.rglob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc
        ]
        kinds = {doc["kind"] for doc in documents}
        assert {"ConfigMap", "Service", "NetworkPolicy", "ServiceAccount"} <= kinds
        for doc in documents:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        egress = [
            doc["spec"]["egress"]
            for doc in documents
            if doc["kind"] == "NetworkPolicy" and "Egress" in doc["spec"].get("policyTypes", [])
        ]
        assert egress, "the fleet's pods get an egress policy"
        blocks = {
            peer.get("ipBlock", {}).get("cidr") for rules in egress for rule in rules for peer in rule["to"]
        }
        assert "203.0.113.10/32" in blocks  # the target, and nothing else outside the cluster
        assert blocks - {None} == {"203.0.113.10/32"}
    finally:
        stack.destroy(on_output=lambda _line: None)
        stack.workspace.remove_stack("render")
