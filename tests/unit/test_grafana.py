"""GrafanaProvisioning under Pulumi mocks: datasources, folder, dashboards, rules, Slack."""

from __future__ import annotations

import json
import logging
import re

import pytest

from components.grafana import TRACE_ID_REGEX, GrafanaProvisioning
from dashboards.alerts import ALERT_RULES
from dashboards.promql import metric_names
from reference_app.observability import JsonFormatter
from tests.unit.observability_stacks import ENVIRONMENTS, grafana_args
from tests.unit.pulumi_capture import capture, child_roles, is_secret, reveal

DATASOURCE = "grafana:oss/dataSource:DataSource"


def build(environment: str = "staging", **overrides):
    args = grafana_args(environment)
    if overrides:
        args = type(args)(**{**args.__dict__, **overrides})
    return capture(lambda: GrafanaProvisioning("grafana", args), environment)


def by_type(resources, typ):
    return [r for r in resources if r.typ == typ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_component_tree(environment):
    _, urns = build(environment)
    assert child_roles(urns, "GrafanaProvisioning") == {
        "alert-rules",
        "dashboard-load-testing",
        "datasource-influxdb",
        "datasource-loki",
        "datasource-postgres",
        "datasource-prometheus",
        "folder",
        "notification-policy",
        "slack",
    }


def test_four_datasources_carry_the_specification_settings():
    resources, _ = build()
    sources = {r.inputs["name"]: r.inputs for r in by_type(resources, DATASOURCE)}
    assert set(sources) == {"Prometheus", "PostgreSQL", "InfluxDB", "Loki"}

    prometheus = sources["Prometheus"]
    assert prometheus["isDefault"] is True and prometheus["accessMode"] == "proxy"
    assert json.loads(prometheus["jsonDataEncoded"]) == {
        "timeInterval": "5s",
        "queryTimeout": "60s",
        "httpMethod": "POST",
    }
    assert [s for s in sources.values() if s.get("isDefault")] == [prometheus]

    postgres = sources["PostgreSQL"]
    settings = json.loads(postgres["jsonDataEncoded"])
    assert settings["sslmode"] == "require"
    assert (settings["maxOpenConns"], settings["maxIdleConns"]) == (10, 5)
    assert settings["database"] == "odavl_studio"
    assert postgres["username"] == "grafana_ro"
    assert is_secret(postgres["secureJsonDataEncoded"])
    assert json.loads(reveal(postgres["secureJsonDataEncoded"])) == {"password": "readonly-password-value"}
    assert "readonly-password-value" not in postgres["jsonDataEncoded"]

    influx = sources["InfluxDB"]
    assert influx["databaseName"] == "k6"
    assert json.loads(influx["jsonDataEncoded"]) == {"dbName": "k6", "httpMode": "GET"}

    loki = json.loads(sources["Loki"]["jsonDataEncoded"])
    (derived,) = loki["derivedFields"]
    assert derived["name"] == "TraceID" and derived["datasourceUid"] == "tempo"


def test_dashboard_is_the_committed_json_in_the_folder():
    resources, _ = build()
    (dashboard,) = by_type(resources, "grafana:oss/dashboard:Dashboard")
    (folder,) = by_type(resources, "grafana:oss/folder:Folder")
    document = json.loads(dashboard.inputs["configJson"])
    assert document["uid"] == "load-testing"
    assert dashboard.inputs["folder"] == folder.inputs["uid"]


def test_rule_group_has_the_eight_rules_with_valid_queries():
    resources, _ = build()
    (group,) = by_type(resources, "grafana:alerting/ruleGroup:RuleGroup")
    rules = group.inputs["rules"]
    assert [rule["name"] for rule in rules] == [rule.name for rule in ALERT_RULES]
    for rule, spec in zip(rules, ALERT_RULES, strict=True):
        assert rule["condition"] == "C"
        assert rule["labels"]["severity"] == spec.severity
        models = {data["refId"]: json.loads(data["model"]) for data in rule["datas"]}
        assert metric_names(models["A"]["expr"]), rule["name"]
        assert models["A"]["expr"] == spec.measurement
        evaluator = models["C"]["conditions"][0]["evaluator"]
        assert evaluator == {"type": "gt" if spec.op == ">" else "lt", "params": [spec.threshold]}


def test_slack_webhook_is_a_secret_and_policy_routes_to_it():
    resources, _ = build()
    (contact,) = by_type(resources, "grafana:alerting/contactPoint:ContactPoint")
    assert is_secret(contact.inputs["slacks"])
    assert reveal(contact.inputs["slacks"])[0]["url"].endswith("secret-value")
    (policy,) = by_type(resources, "grafana:alerting/notificationPolicy:NotificationPolicy")
    assert policy.inputs["contactPoint"] == contact.inputs["name"]
    assert "environment" in policy.inputs["groupBies"]


def test_without_webhook_no_contact_point_is_created():
    resources, urns = build(slack_webhook=None)
    assert not by_type(resources, "grafana:alerting/contactPoint:ContactPoint")
    assert "grafana-notification-policy" not in urns


def test_trace_id_derived_field_matches_the_reference_app_logs():
    record = logging.LogRecord("studiohub", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "route": "/api/x"}
    line = JsonFormatter().format(record)
    assert re.search(TRACE_ID_REGEX, line).group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert re.search(TRACE_ID_REGEX, "level=info trace_id=abc123 msg=x").group(1) == "abc123"
