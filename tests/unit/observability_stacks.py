"""Staging and production-like arguments for the observability, Grafana and fleet components,
and the series the suite's exporters emit (what dashboards and alerts may read)."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi

from components.fleet.fleet import LoadGeneratorFleetArgs
from components.fleet.manifests import ContainerResources
from components.grafana import GrafanaProvisioningArgs
from components.observability import ObservabilityStackArgs
from loadtests.suite.export_prometheus import PrometheusExporter

ROOT = Path(__file__).resolve().parents[2]
CHART_VERSIONS = {"prometheus": "27.45.0", "influxdb": "4.12.5", "loki": "6.46.0", "grafana": "10.1.4"}
KUBERNETES_VERSION = "1.31"
ENVIRONMENTS = ("staging", "production")
TARGETS = {
    "staging": "https://staging.studiohub.example",
    "production": "https://studiohub.example",
}


def observability_args(environment: str) -> ObservabilityStackArgs:
    return ObservabilityStackArgs(
        namespace=f"odavl-perf-{environment}",
        environment=environment,
        chart_versions=CHART_VERSIONS,
        retention_days=15 if environment == "staging" else 30,
        persistence_size="20Gi" if environment == "staging" else "100Gi",
        target_metrics_url="http://studiohub.studiohub.svc.cluster.local:8080/metrics",
        grafana_admin_password=pulumi.Output.secret("admin-password-value"),
    )


def grafana_args(environment: str) -> GrafanaProvisioningArgs:
    namespace = f"odavl-perf-{environment}"
    return GrafanaProvisioningArgs(
        environment=environment,
        prometheus_url=f"http://prometheus.{namespace}.svc.cluster.local:9090",
        influxdb_url=f"http://influxdb.{namespace}.svc.cluster.local:8086",
        loki_url=f"http://loki.{namespace}.svc.cluster.local:3100",
        postgres_host="postgres.studiohub.svc.cluster.local:5432",
        postgres_database="odavl_studio",
        postgres_user="grafana_ro",
        postgres_password=pulumi.Output.secret("readonly-password-value"),
        slack_webhook=pulumi.Output.secret("https://hooks.slack.com/services/T000/B000/secret-value"),
    )


def fleet_args(environment: str) -> LoadGeneratorFleetArgs:
    production = environment == "production"
    host = TARGETS[environment].split("//")[1]
    return LoadGeneratorFleetArgs(
        namespace=f"odavl-perf-{environment}",
        run_id=f"{environment}-2026-11-27.1",
        workers=16 if production else 4,
        image="ghcr.io/odavl/odavl-perf-locust:0.1.0",
        target_url=TARGETS[environment],
        allowed_hosts=(host,),
        suite_config_json=json.dumps({"target": TARGETS[environment]}),
        target_cidrs=("10.40.0.0/16",) if production else ("10.20.0.0/16",),
        monitoring_namespace=f"odavl-perf-{environment}",
        test_users=pulumi.Output.secret('[{"email": "load@example.com", "password": "users-secret-value"}]'),
        code_root=ROOT,
        worker_resources=ContainerResources("1", "512Mi", "2", "1Gi") if production else ContainerResources(),
        active_deadline_seconds=3 * 3600 if production else 3600,
        influxdb_export=production,
    )


def exported_series() -> set[str]:
    """Series names the suite's Prometheus exporter emits, as Prometheus stores them."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in PrometheusExporter().registry.collect()
        for suffix in suffixes[family.type]
    }


EXPORTED_SERIES = exported_series()
