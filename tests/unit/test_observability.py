"""ObservabilityStack under Pulumi mocks, and its chart values and scrape configuration."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from components import observability_values as values
from components.observability import ObservabilityStack, ObservabilityStackArgs
from dashboards.alerts import prometheus_rules_yaml
from tests.tools import require_tool
from tests.unit.observability_stacks import CHART_VERSIONS, ENVIRONMENTS, observability_args
from tests.unit.pulumi_capture import capture, child_roles, is_secret


def build(environment: str):
    return capture(lambda: ObservabilityStack("observability", observability_args(environment)), environment)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_component_tree(environment):
    resources, urns = build(environment)
    assert child_roles(urns, "ObservabilityStack") == {
        "grafana",
        "grafana-admin",
        "influxdb",
        "loki",
        "namespace",
        "prometheus",
    }
    charts = {r.name: r.inputs for r in resources if r.typ == "kubernetes:helm.sh/v4:Chart"}
    assert {inputs["name"]: inputs["version"] for inputs in charts.values()} == CHART_VERSIONS
    assert all(inputs["namespace"] == f"odavl-perf-{environment}" for inputs in charts.values())


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_values_per_environment(environment):
    resources, _ = build(environment)
    charts = {r.inputs["name"]: r.inputs for r in resources if r.typ == "kubernetes:helm.sh/v4:Chart"}
    prometheus = charts["prometheus"]["values"]["server"]
    assert "web.enable-remote-write-receiver" in prometheus["extraFlags"]
    assert prometheus["retention"] == ("15d" if environment == "staging" else "30d")
    assert prometheus["resources"] == values.SIZING[environment]["prometheus"].resources()
    assert prometheus["persistentVolume"]["size"] == ("20Gi" if environment == "staging" else "100Gi")
    influx = charts["influxdb"]["values"]
    assert 'CREATE DATABASE "k6" WITH DURATION' in influx["initScripts"]["scripts"]["init.iql"]
    loki = charts["loki"]["values"]
    assert loki["deploymentMode"] == "SingleBinary"
    assert loki["loki"]["commonConfig"]["replication_factor"] == 1
    assert loki["loki"]["storage"]["type"] == "filesystem"
    assert charts["grafana"]["values"]["admin"]["existingSecret"] == "grafana-admin"


def test_sizing_differs_between_environments():
    assert values.SIZING["staging"]["prometheus"] != values.SIZING["production"]["prometheus"]


def test_grafana_admin_password_stays_secret():
    resources, _ = build("staging")
    secret = next(r for r in resources if r.typ == "kubernetes:core/v1:Secret")
    assert is_secret(secret.inputs["stringData"])


def test_prometheus_loads_the_alert_rules():
    resources, _ = build("staging")
    chart = next(r for r in resources if r.name == "observability-prometheus")
    rules = chart.inputs["values"]["serverFiles"]["alerting_rules.yml"]
    assert len(rules["groups"][0]["rules"]) == 8


def test_bad_arguments_are_named():
    args = ObservabilityStackArgs(
        namespace="x", environment="qa", chart_versions={"prometheus": "1"}, retention_days=0
    )
    problems = " ".join(args.problems())
    assert "environment='qa'" in problems
    assert "influxdb, loki, grafana" in problems
    assert "retention_days=0" in problems


def test_target_metrics_url_must_be_http():
    with pytest.raises(ValueError, match="target metrics URL"):
        values.target_scrape_config("staging", "studiohub:8080/metrics")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_scrape_configuration_passes_promtool(tmp_path, environment):
    promtool = require_tool("promtool")
    args = observability_args(environment)
    chart_values = values.prometheus_values(
        environment=environment,
        retention_days=args.retention_days,
        persistence_size=args.persistence_size,
        extra_scrape_configs=values.scrape_configs(environment, args.namespace, args.target_metrics_url),
        alert_rules={},
    )
    scrape = yaml.safe_load(chart_values["extraScrapeConfigs"])
    assert [job["job_name"] for job in scrape] == ["locust-fleet", "load-test-target"]
    fleet_names = scrape[0]["dns_sd_configs"][0]["names"]
    assert fleet_names == [f"locust-metrics.{args.namespace}.svc.cluster.local"]
    (tmp_path / "rules.yml").write_text(prometheus_rules_yaml())
    config = {
        "global": chart_values["server"]["global"],
        "rule_files": ["rules.yml"],
        "scrape_configs": scrape,
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
