"""GrafanaProvisioning: datasources, folder, dashboards, alert rules and Slack notification.

Uses the maintained Grafana provider (``pulumiverse_grafana``); pass its ``Provider``
through ``opts`` (``providers=``). The four datasources carry the specification's settings;
the dashboards are the generated JSON files under ``dashboards/``; the 8 alert rules are
``dashboards/alerts.py`` as one rule group. Passwords and the Slack webhook stay secrets:
they only ever travel inside ``pulumi.Output.secret`` values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumiverse_grafana as grafana

from dashboards.alerts import RULE_GROUP_NAME
from dashboards.grafana_rules import grafana_rules
from dashboards.load_testing import PROMETHEUS_DATASOURCE_UID

__all__ = ["DASHBOARDS_DIR", "GrafanaProvisioning", "GrafanaProvisioningArgs", "datasource_settings"]

DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "dashboards"
FOLDER_UID = "load-testing"
TRACE_ID_REGEX = r'(?:"trace_?[iI][dD]":\s*"|trace_?[iI][dD]=)(\w+)'


@dataclass(frozen=True)
class GrafanaProvisioningArgs:
    """Inputs of the Grafana provisioning.

    Attributes:
        environment: "staging" or "production"; tags the alert notifications.
        prometheus_url, influxdb_url, loki_url: datasource URLs as Grafana reaches them
            (``ObservabilityStack`` outputs in-cluster URLs).
        postgres_host: "host:port" of the application database.
        postgres_database: database name (the specification's ``odavl_studio``).
        postgres_user: the read-only role created by the database component.
        postgres_password: that role's password, a secret Output.
        influxdb_database: InfluxDB database holding load-test metrics.
        slack_webhook: Slack incoming-webhook URL (secret Output); None provisions no
            contact point or notification policy.
        folder_title: title of the folder holding the dashboards and the rule group.
        tempo_datasource_uid: datasource the Loki TraceID derived field links to.
        dashboards_dir: directory whose ``*.json`` files become dashboards.
    """

    environment: str
    prometheus_url: pulumi.Input[str]
    influxdb_url: pulumi.Input[str]
    loki_url: pulumi.Input[str]
    postgres_host: pulumi.Input[str]
    postgres_database: str
    postgres_user: str
    postgres_password: pulumi.Input[str]
    influxdb_database: str = "k6"
    slack_webhook: pulumi.Input[str] | None = None
    folder_title: str = "Load Testing"
    tempo_datasource_uid: str = "tempo"
    dashboards_dir: Path = DASHBOARDS_DIR


def datasource_settings(args: GrafanaProvisioningArgs) -> dict[str, dict[str, Any]]:
    """The non-secret ``jsonData`` of each datasource, keyed by datasource uid."""
    return {
        PROMETHEUS_DATASOURCE_UID: {"timeInterval": "5s", "queryTimeout": "60s", "httpMethod": "POST"},
        "postgres": {
            "database": args.postgres_database,
            "sslmode": "require",
            "maxOpenConns": 10,
            "maxIdleConns": 5,
            "connMaxLifetime": 14400,
            "postgresVersion": 1500,
        },
        "influxdb": {"dbName": args.influxdb_database, "httpMode": "GET"},
        "loki": {
            "maxLines": 1000,
            "derivedFields": [
                {
                    "name": "TraceID",
                    # The reference app logs JSON lines with "trace_id"; logfmt lines use trace_id=.
                    "matcherRegex": TRACE_ID_REGEX,
                    "url": "${__value.raw}",
                    "datasourceUid": args.tempo_datasource_uid,
                }
            ],
        },
    }


class GrafanaProvisioning(pulumi.ComponentResource):
    """Datasources, a folder, the dashboards, the alert rule group, Slack contact point and policy."""

    folder_uid: pulumi.Output[str]
    dashboard_urls: pulumi.Output[list[str]]
    datasource_uids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: GrafanaProvisioningArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("odavl:perf:GrafanaProvisioning", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = datasource_settings(args)

        def datasource(
            uid: str, title: str, kind: str, url: pulumi.Input[str], **extra
        ) -> grafana.oss.DataSource:
            return grafana.oss.DataSource(
                f"{name}-datasource-{uid}",
                name=title,
                uid=uid,
                type=kind,
                url=url,
                access_mode="proxy",
                json_data_encoded=json.dumps(settings[uid]),
                opts=child,
                **extra,
            )

        datasources = [
            datasource(
                PROMETHEUS_DATASOURCE_UID, "Prometheus", "prometheus", args.prometheus_url, is_default=True
            ),
            datasource(
                "postgres",
                "PostgreSQL",
                "grafana-postgresql-datasource",
                args.postgres_host,
                username=args.postgres_user,
                secure_json_data_encoded=pulumi.Output.secret(args.postgres_password).apply(
                    lambda password: json.dumps({"password": password})
                ),
            ),
            datasource(
                "influxdb", "InfluxDB", "influxdb", args.influxdb_url, database_name=args.influxdb_database
            ),
            datasource("loki", "Loki", "loki", args.loki_url),
        ]

        folder = grafana.oss.Folder(f"{name}-folder", title=args.folder_title, uid=FOLDER_UID, opts=child)
        after_datasources = pulumi.ResourceOptions(parent=self, depends_on=datasources)

        dashboards = [
            grafana.oss.Dashboard(
                f"{name}-dashboard-{path.stem}",
                config_json=path.read_text(encoding="utf-8"),
                folder=folder.uid,
                overwrite=True,
                message="Provisioned by odavl-perf",
                opts=after_datasources,
            )
            for path in sorted(args.dashboards_dir.glob("*.json"))
        ]

        grafana.alerting.RuleGroup(
            f"{name}-alert-rules",
            name=RULE_GROUP_NAME,
            folder_uid=folder.uid,
            interval_seconds=60,
            rules=[_rule_args(rule) for rule in grafana_rules(FOLDER_UID)],
            opts=after_datasources,
        )

        if args.slack_webhook is not None:
            contact_point = grafana.alerting.ContactPoint(
                f"{name}-slack",
                name="load-testing-slack",
                slacks=[
                    grafana.alerting.ContactPointSlackArgs(
                        url=pulumi.Output.secret(args.slack_webhook),
                        title="[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                        text="{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    )
                ],
                opts=child,
            )
            grafana.alerting.NotificationPolicy(
                f"{name}-notification-policy",
                contact_point=contact_point.name,
                group_bies=["alertname", "environment"],
                group_wait="30s",
                group_interval="5m",
                repeat_interval="4h",
                policies=[
                    grafana.alerting.NotificationPolicyPolicyArgs(
                        contact_point=contact_point.name,
                        matchers=[
                            grafana.alerting.NotificationPolicyPolicyMatcherArgs(
                                label="source", match="=", value="load-test"
                            )
                        ],
                        group_bies=["alertname", "environment"],
                        repeat_interval="1h",
                    )
                ],
                opts=child,
            )

        self.folder_uid = folder.uid
        self.dashboard_urls = pulumi.Output.all(*[dashboard.url for dashboard in dashboards])
        self.datasource_uids = pulumi.Output.all(*[datasource.uid for datasource in datasources])
        self.register_outputs(
            {
                "folder_uid": self.folder_uid,
                "dashboard_urls": self.dashboard_urls,
                "datasource_uids": self.datasource_uids,
            }
        )


def _rule_args(rule: dict[str, Any]) -> grafana.alerting.RuleGroupRuleArgs:
    """Map one foundation-SDK rule model onto the provider's rule arguments."""
    return grafana.alerting.RuleGroupRuleArgs(
        name=rule["title"],
        uid=rule["uid"],
        condition=rule["condition"],
        for_=rule["for"],
        no_data_state=rule["noDataState"],
        exec_err_state=rule["execErrState"],
        labels=rule["labels"],
        annotations=rule["annotations"],
        datas=[
            grafana.alerting.RuleGroupRuleDataArgs(
                ref_id=query["refId"],
                datasource_uid=query["datasourceUid"],
                relative_time_range=grafana.alerting.RuleGroupRuleDataRelativeTimeRangeArgs(
                    from_=query["relativeTimeRange"]["from"], to=query["relativeTimeRange"]["to"]
                ),
                model=json.dumps(query["model"], sort_keys=True),
            )
            for query in rule["data"]
        ],
    )
