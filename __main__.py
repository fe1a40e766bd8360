"""odavl-perf: one `pulumi up` per environment, read top to bottom like the architecture diagram.

Pulumi.<stack>.yaml -> Settings -> [LocalTarget] -> DatabaseTuning, ObservabilityStack,
GrafanaProvisioning, LoadGeneratorFleet -> LoadTestRun -> stack outputs -> SLO gate
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as kubernetes
import pulumiverse_grafana as grafana

from components.database import DatabaseTuning, DatabaseTuningArgs
from components.database_check import DatabaseCheck, DatabaseCheckArgs
from components.fleet.fleet import LoadGeneratorFleet, LoadGeneratorFleetArgs
from components.grafana import GrafanaProvisioning, GrafanaProvisioningArgs
from components.loadtest import LoadTestRun, LoadTestRunArgs, enforce_slo_gate
from components.local_target import LocalTarget, LocalTargetArgs
from components.observability import ObservabilityStack, ObservabilityStackArgs
from components.settings import load_settings
from components.wiring import (
    fleet_of,
    fleet_suite_config,
    kubeconfig_path,
    local_database_dir,
    secret_dsn,
    test_password,
)

settings = load_settings()  # every config problem at once, before any resource is registered
db, load = settings.database, settings.load
state_dir = Path(".state") / "local" / settings.stack

# The system under test on this machine: PostgreSQL with the reference data, and the API.
local_target = None
if db.manage_local_server or settings.target.start_reference_app:
    local_target = LocalTarget(
        "studio-hub",
        LocalTargetArgs(
            state_dir=str(state_dir),
            database_dir=local_database_dir(str(Path.cwd()), settings.stack),
            database_port=db.port,
            database_name=db.name,
            database_user=db.user,
            database_password=db.password,
            seed_scale=db.seed_scale,
            test_password=test_password(load.test_users),
            app_port=settings.target.reference_app_port,
            manage_database=db.manage_local_server,
            start_app=settings.target.start_reference_app,
            external_dsn=secret_dsn(db),
        ),
    )
after_target = pulumi.ResourceOptions(depends_on=[local_target] if local_target else [])

# The database's performance indexes, pg_trgm and Grafana's read-only role: managed by the stack
# that owns the database; a stack on another stack's database (an ephemeral one) only checks them.
database: DatabaseTuning | DatabaseCheck | None = None
if db.tuning == "manage":
    database = DatabaseTuning(
        "studio-hub-database",
        DatabaseTuningArgs(
            host=db.host,
            port=db.port,
            database=db.name,
            admin_user=db.user,
            admin_password=db.password,
            readonly_role=db.readonly_role,
            readonly_password=db.readonly_password,
            sslmode=db.sslmode,
            management=db.management,
        ),
        after_target,
    )
elif db.tuning == "verify":
    database = DatabaseCheck("studio-hub-database-check", DatabaseCheckArgs(dsn=secret_dsn(db)), after_target)

# Kubernetes: the observability stack and the load-generator fleet.
cluster = None
observability = None
fleet = None
if settings.kubernetes.enabled:
    k8s = settings.kubernetes
    cluster = kubernetes.Provider(
        "cluster",
        kubeconfig=kubeconfig_path(settings) or None,
        context=k8s.context or None,
        namespace=k8s.namespace,
        render_yaml_to_directory=k8s.render_dir or None,
    )
    on_cluster = pulumi.ResourceOptions(providers=[cluster])
    if settings.observability.enabled:
        observability = ObservabilityStack(
            "observability",
            ObservabilityStackArgs(
                namespace=k8s.namespace,
                environment=settings.environment,
                chart_versions=dict(settings.observability.chart_versions),
                retention_days=settings.observability.retention_days,
                persistence_size=settings.observability.persistence_size,
                target_metrics_url=f"{settings.target.base_url}/metrics",
            ),
            on_cluster,
        )
    if load.enabled:
        fleet = LoadGeneratorFleet(
            "load-generators",
            LoadGeneratorFleetArgs(
                namespace=k8s.namespace,
                run_id=load.run_id,
                workers=load.workers,
                image=k8s.fleet_image,
                target_url=settings.target.base_url,
                allowed_hosts=settings.target.allowed_hosts,
                target_cidrs=k8s.target_cidrs,
                suite_config_json=fleet_suite_config(settings),
                test_users=load.test_users,
                code_root=Path(__file__).parent,
                scenario=load.scenario or None,
                influxdb_export=settings.observability.enabled,
                active_deadline_seconds=load.max_duration_s + 600,
                host_network=k8s.host_network,
                create_namespace=not settings.observability.enabled,
            ),
            pulumi.ResourceOptions(providers=[cluster], depends_on=[observability] if observability else []),
        )

# Grafana: datasources, the load-testing dashboard, alert rules and Slack.
if settings.grafana.enabled:
    grafana_provider = grafana.Provider("grafana", url=settings.grafana.url, auth=settings.grafana.auth)
    GrafanaProvisioning(
        "grafana",
        GrafanaProvisioningArgs(
            environment=settings.environment,
            prometheus_url=observability.prometheus_url if observability else "http://prometheus:9090",
            influxdb_url=observability.influxdb_url if observability else "http://influxdb:8086",
            loki_url=observability.loki_url if observability else "http://loki:3100",
            postgres_host=f"{db.host}:{db.port}",
            postgres_database=db.name,
            postgres_user=db.readonly_role,
            postgres_password=db.readonly_password,
            slack_webhook=settings.notifications.slack_webhook,
        ),
        pulumi.ResourceOptions(providers=[grafana_provider], depends_on=[database] if database else []),
    )

# The load test, judged by the SLO gate over the merged statistics of every worker.
load_test = None
if load.enabled:
    load_test = LoadTestRun(
        "load-test",
        LoadTestRunArgs.from_settings(settings, dsn=secret_dsn(db), fleet=fleet_of(settings, fleet)),
        pulumi.ResourceOptions(depends_on=[r for r in (local_target, database, fleet) if r is not None]),
    )

# Stack outputs: what CI gates on and what people read.
pulumi.export("environment", settings.environment)
pulumi.export("target", settings.target.base_url)
pulumi.export("databaseTuning", db.tuning)
if database is not None:
    pulumi.export("indexes", database.index_statuses)
    pulumi.export("indexCount", database.index_count)
# The role's name; created by this stack only with databaseTuning manage.
pulumi.export(
    "readonlyRole", database.readonly_role if isinstance(database, DatabaseTuning) else db.readonly_role
)
if local_target is not None:
    pulumi.export("referenceAppUrl", local_target.url)
if observability is not None:
    pulumi.export("prometheusUrl", observability.prometheus_url)
if load_test is not None:
    pulumi.export("runId", load.run_id)
    pulumi.export("verdict", load_test.verdict)
    pulumi.export("thresholds", load_test.threshold_results)
    pulumi.export("summary", load_test.summary)
    pulumi.export("baselineRunId", load_test.baseline_run_id)
    pulumi.export("resultsPath", load_test.results_path)
    pulumi.export("reportPath", load_test.report_path)
    pulumi.export("reportUris", load_test.report_uris)
    pulumi.export("generators", load_test.generators)
    pulumi.export("regression", load_test.regression)
    pulumi.export("openModel", load_test.open_model)
    enforce_slo_gate(load_test)  # last: a failing verdict fails the update after the outputs
