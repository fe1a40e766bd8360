"""Helm values and scrape configuration for the observability stack (pure, no Pulumi).

Every function returns plain data, so the values each environment gets can be read and
tested without a cluster; ``components/observability.py`` hands them to the charts.
Chart value keys follow the pinned charts: prometheus-community ``prometheus`` 27.x,
InfluxData ``influxdb`` 4.x (InfluxDB 1.8), ``loki`` 6.x and ``grafana`` 10.x.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CHARTS",
    "FLEET_APP_LABEL",
    "FLEET_METRICS_PORT",
    "FLEET_METRICS_SERVICE",
    "SIZING",
    "ChartSource",
    "Sizing",
    "fleet_scrape_config",
    "grafana_values",
    "influxdb_values",
    "loki_values",
    "prometheus_values",
    "scrape_configs",
    "service_urls",
    "target_scrape_config",
]

# Pods of the Locust fleet carry this app label and sit behind this headless Service
# (see components/fleet/manifests.py); Prometheus finds them through its DNS records.
FLEET_APP_LABEL = "odavl-locust"
FLEET_METRICS_SERVICE = "locust-metrics"
FLEET_METRICS_PORT = 9646
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True)
class ChartSource:
    """Where a chart comes from: a repository URL plus chart name, or an ``oci://`` reference."""

    chart: str
    repo: str | None = None


# Grafana and Loki charts are maintained in the grafana-community repository since 2026.
CHARTS: Mapping[str, ChartSource] = {
    "prometheus": ChartSource("prometheus", "https://prometheus-community.github.io/helm-charts"),
    "influxdb": ChartSource("influxdb", "https://helm.influxdata.com/"),
    "loki": ChartSource("oci://ghcr.io/grafana-community/helm-charts/loki"),
    "grafana": ChartSource("oci://ghcr.io/grafana-community/helm-charts/grafana"),
}


@dataclass(frozen=True)
class Sizing:
    """Requests and limits per component for one environment (Kubernetes quantities)."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def resources(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


# Production keeps more series and serves more dashboards during a 1200-user run; a local
# cluster (kind, k3d) gets the staging sizes.
_SMALL = {
    "prometheus": Sizing("250m", "512Mi", "1", "2Gi"),
    "influxdb": Sizing("100m", "256Mi", "500m", "1Gi"),
    "loki": Sizing("100m", "256Mi", "500m", "1Gi"),
    "grafana": Sizing("100m", "128Mi", "500m", "512Mi"),
}
SIZING: Mapping[str, Mapping[str, Sizing]] = {
    "local": _SMALL,
    "staging": _SMALL,
    "production": {
        "prometheus": Sizing("1", "2Gi", "2", "8Gi"),
        "influxdb": Sizing("500m", "1Gi", "2", "4Gi"),
        "loki": Sizing("500m", "1Gi", "2", "4Gi"),
        "grafana": Sizing("250m", "256Mi", "1", "1Gi"),
    },
}

PROMETHEUS_PORT = 9090
INFLUXDB_PORT = 8086
LOKI_PORT = 3100
GRAFANA_PORT = 80


def service_urls(namespace: str) -> dict[str, str]:
    """In-cluster URLs of the four services (names are fixed by ``fullnameOverride``)."""
    domain = f"{namespace}.svc.cluster.local"
    return {
        "prometheus": f"http://prometheus.{domain}:{PROMETHEUS_PORT}",
        "influxdb": f"http://influxdb.{domain}:{INFLUXDB_PORT}",
        "loki": f"http://loki.{domain}:{LOKI_PORT}",
        "grafana": f"http://grafana.{domain}:{GRAFANA_PORT}",
    }


def fleet_scrape_config(environment: str, fleet_namespace: str, metrics_port: int) -> dict[str, Any]:
    """Scrape every fleet pod's exporter, found through the fleet's headless metrics Service.

    DNS discovery (one A record per pod) needs no API permissions for Prometheus and works
    with any Prometheus build (Debian's omits Kubernetes discovery).
    """
    return {
        "job_name": "locust-fleet",
        "scrape_interval": "5s",
        "dns_sd_configs": [
            {
                "names": [f"{FLEET_METRICS_SERVICE}.{fleet_namespace}.svc.cluster.local"],
                "type": "A",
                "port": metrics_port,
                "refresh_interval": "5s",
            }
        ],
        "relabel_configs": [{"target_label": "environment", "replacement": environment}],
    }


def target_scrape_config(environment: str, metrics_url: str) -> dict[str, Any]:
    """Scrape the system under test's own ``/metrics`` (server-side view of the load)."""
    parts = urlsplit(metrics_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"target metrics URL {metrics_url!r}: expected http(s)://host[:port]/path")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {
        "job_name": "load-test-target",
        "scrape_interval": "5s",
        "scheme": parts.scheme,
        "metrics_path": parts.path or "/metrics",
        "static_configs": [{"targets": [f"{parts.hostname}:{port}"], "labels": {"environment": environment}}],
    }


def scrape_configs(
    environment: str,
    fleet_namespace: str,
    target_metrics_url: str | None,
    fleet_metrics_port: int = FLEET_METRICS_PORT,
) -> list[dict]:
    """The extra scrape jobs Prometheus gets: the fleet, and the target when it exposes metrics."""
    jobs = [fleet_scrape_config(environment, fleet_namespace, fleet_metrics_port)]
    if target_metrics_url:
        jobs.append(target_scrape_config(environment, target_metrics_url))
    return jobs


def prometheus_values(
    *,
    environment: str,
    retention_days: int,
    persistence_size: str,
    extra_scrape_configs: Sequence[Mapping[str, Any]],
    alert_rules: Mapping[str, Any],
) -> dict[str, Any]:
    """Prometheus server with remote-write receiver, retention, a volume and the alert rules."""
    import yaml  # local: only this function needs it

    return {
        "alertmanager": {"enabled": False},  # Grafana alerting notifies (Slack)
        "prometheus-pushgateway": {"enabled": False},
        "server": {
            "fullnameOverride": "prometheus",
            "retention": f"{retention_days}d",
            "extraFlags": ["web.enable-lifecycle", "web.enable-remote-write-receiver"],
            "global": {"scrape_interval": "5s", "evaluation_interval": "30s"},
            "persistentVolume": {"enabled": True, "size": persistence_size},
            "resources": SIZING[environment]["prometheus"].resources(),
            "service": {"servicePort": PROMETHEUS_PORT},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "fsGroup": 65534},
        },
        "extraScrapeConfigs": yaml.safe_dump(list(extra_scrape_configs), sort_keys=False),
        "serverFiles": {"alerting_rules.yml": dict(alert_rules)},
    }


def influxdb_values(
    *, environment: str, database: str, retention_days: int, persistence_size: str
) -> dict[str, Any]:
    """InfluxDB 1.x with the load-test database and its retention policy created at start-up."""
    policy = f"{database}_{retention_days}d"
    return {
        "fullnameOverride": "influxdb",
        "persistence": {"enabled": True, "size": persistence_size},
        "resources": SIZING[environment]["influxdb"].resources(),
        "config": {"reporting_disabled": True, "http": {"flux-enabled": False}},
        "initScripts": {
            "enabled": True,
            "scripts": {
                "init.iql": (
                    f'CREATE DATABASE "{database}" WITH DURATION {retention_days}d '
                    f'REPLICATION 1 SHARD DURATION 1d NAME "{policy}"\n'
                )
            },
        },
    }


def loki_values(*, environment: str, retention_days: int, persistence_size: str) -> dict[str, Any]:
    """Loki as one binary (monolithic) on filesystem storage with replication 1."""
    return {
        "deploymentMode": "SingleBinary",
        "fullnameOverride": "loki",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-01-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": f"{retention_days * 24}h"},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {
            "replicas": 1,
            "persistence": {"enabled": True, "size": persistence_size},
            "resources": SIZING[environment]["loki"].resources(),
        },
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
    }


def grafana_values(
    *, environment: str, persistence_size: str, admin_secret_name: str | None
) -> dict[str, Any]:
    """Grafana itself; datasources, dashboards and alerts come from GrafanaProvisioning."""
    values: dict[str, Any] = {
        "fullnameOverride": "grafana",
        "persistence": {"enabled": True, "size": persistence_size},
        "resources": SIZING[environment]["grafana"].resources(),
        "service": {"port": GRAFANA_PORT},
        "grafana.ini": {
            "analytics": {"reporting_enabled": False, "check_for_updates": False},
            "unified_alerting": {"enabled": True},
        },
    }
    if admin_secret_name:
        values["admin"] = {
            "existingSecret": admin_secret_name,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        }
    return values
