"""ObservabilityStack: Prometheus, InfluxDB v1, Loki and Grafana on Kubernetes from Helm charts.

One namespace; each service from its maintained chart (``helm.v4.Chart``) at the version
pinned in stack config, with values per environment (``components/observability_values.py``).
Prometheus scrapes the Locust fleet and the target's ``/metrics`` and loads the load-testing
alert rules. The Kubernetes provider comes from ``opts`` (``providers=``), so a provider in
render-to-directory mode renders the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import observability_values as values
from dashboards.alerts import prometheus_rules_yaml

__all__ = ["ObservabilityStack", "ObservabilityStackArgs"]

CHART_KEYS = ("prometheus", "influxdb", "loki", "grafana")


@dataclass(frozen=True)
class ObservabilityStackArgs:
    """Inputs of the observability stack.

    Attributes:
        namespace: Kubernetes namespace created for the four services (a DNS label).
        environment: "staging" or "production"; selects the sizing preset and becomes the
            ``environment`` label on every scraped series.
        chart_versions: pinned chart version per chart key (prometheus, influxdb, loki, grafana),
            from ``settings.observability.chart_versions``.
        retention_days: metric (Prometheus, InfluxDB) and log (Loki) retention in days.
        persistence_size: volume size of each stateful service (a Kubernetes quantity).
        fleet_namespace: namespace of the Locust fleet pods to scrape; defaults to ``namespace``.
        fleet_metrics_port: port of the fleet pods' exporters (``LoadGeneratorFleetArgs.metrics_port``).
        target_metrics_url: the system under test's metrics endpoint
            (e.g. "http://studiohub.app.svc:8080/metrics"); None skips that scrape job.
        influxdb_database: database created for load-test metrics.
        grafana_admin_password: secret Output for Grafana's admin user; None lets the chart
            generate one.
        chart_sources: chart name/repository per chart key; defaults to the maintained charts.
    """

    namespace: str
    environment: str
    chart_versions: Mapping[str, str]
    retention_days: int = 15
    persistence_size: str = "20Gi"
    fleet_namespace: str | None = None
    fleet_metrics_port: int = values.FLEET_METRICS_PORT
    target_metrics_url: str | None = None
    influxdb_database: str = "k6"
    grafana_admin_password: pulumi.Input[str] | None = None
    chart_sources: Mapping[str, values.ChartSource] = field(default_factory=lambda: dict(values.CHARTS))

    def problems(self) -> list[str]:
        """Every invalid field, named, with the expected form."""
        found = []
        if self.environment not in values.SIZING:
            found.append(f"environment={self.environment!r}: expected one of {sorted(values.SIZING)}")
        missing = [key for key in CHART_KEYS if not self.chart_versions.get(key)]
        if missing:
            found.append(f"chart_versions: missing a pinned version for {', '.join(missing)}")
        if self.retention_days < 1:
            found.append(f"retention_days={self.retention_days}: expected a whole number of days >= 1")
        return found


class ObservabilityStack(pulumi.ComponentResource):
    """Namespace plus Prometheus, InfluxDB, Loki and Grafana charts; outputs in-cluster URLs."""

    namespace: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]
    influxdb_url: pulumi.Output[str]
    loki_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ObservabilityStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("odavl:perf:ObservabilityStack", name, None, opts)
        problems = args.problems()
        if problems:
            raise ValueError("ObservabilityStack: " + "; ".join(problems))
        child = pulumi.ResourceOptions(parent=self)

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.namespace,
                "labels": {"app.kubernetes.io/part-of": "odavl-perf", "environment": args.environment},
            },
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        admin_secret_name = None
        if args.grafana_admin_password is not None:
            admin_secret_name = "grafana-admin"
            k8s.core.v1.Secret(
                f"{name}-grafana-admin",
                metadata={"name": admin_secret_name, "namespace": args.namespace},
                type="Opaque",
                string_data={
                    "admin-user": "admin",
                    "admin-password": pulumi.Output.secret(args.grafana_admin_password),
                },
                opts=in_namespace,
            )

        chart_values = {
            "prometheus": values.prometheus_values(
                environment=args.environment,
                retention_days=args.retention_days,
                persistence_size=args.persistence_size,
                extra_scrape_configs=values.scrape_configs(
                    args.environment,
                    args.fleet_namespace or args.namespace,
                    args.target_metrics_url,
                    args.fleet_metrics_port,
                ),
                alert_rules=yaml.safe_load(prometheus_rules_yaml()),
            ),
            "influxdb": values.influxdb_values(
                environment=args.environment,
                database=args.influxdb_database,
                retention_days=args.retention_days,
                persistence_size=args.persistence_size,
            ),
            "loki": values.loki_values(
                environment=args.environment,
                retention_days=args.retention_days,
                persistence_size=args.persistence_size,
            ),
            "grafana": values.grafana_values(
                environment=args.environment, persistence_size="2Gi", admin_secret_name=admin_secret_name
            ),
        }
        self.charts = {
            key: self._chart(name, key, args, chart_values[key], in_namespace) for key in CHART_KEYS
        }

        urls = values.service_urls(args.namespace)
        self.namespace = namespace.metadata.apply(lambda metadata: metadata["name"])
        self.prometheus_url = pulumi.Output.from_input(urls["prometheus"])
        self.influxdb_url = pulumi.Output.from_input(urls["influxdb"])
        self.loki_url = pulumi.Output.from_input(urls["loki"])
        self.grafana_url = pulumi.Output.from_input(urls["grafana"])
        self.register_outputs(
            {
                "namespace": self.namespace,
                "prometheus_url": self.prometheus_url,
                "influxdb_url": self.influxdb_url,
                "loki_url": self.loki_url,
                "grafana_url": self.grafana_url,
            }
        )

    @staticmethod
    def _chart(
        name: str,
        key: str,
        args: ObservabilityStackArgs,
        chart_values: dict,
        opts: pulumi.ResourceOptions,
    ) -> k8s.helm.v4.Chart:
        source = args.chart_sources[key]
        return k8s.helm.v4.Chart(
            f"{name}-{key}",
            chart=source.chart,
            version=args.chart_versions[key],
            repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=source.repo) if source.repo else None,
            name=key,
            namespace=args.namespace,
            values=chart_values,
            opts=opts,
        )
