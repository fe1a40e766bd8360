"""The 8 alert rules as Grafana-managed alert rules, built with grafana-foundation-sdk.

Each rule evaluates three queries, Grafana's usual shape: A runs the rule's PromQL
measurement on the Prometheus datasource, B reduces each series to its last value, and C
compares B with the threshold (the rule's condition).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_model
from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.alerts import ALERT_RULES, RULE_GROUP_NAME, AlertRule
from dashboards.load_testing import PROMETHEUS_DATASOURCE_UID

__all__ = ["EXPRESSION_DATASOURCE_UID", "grafana_rule", "grafana_rules"]

EXPRESSION_DATASOURCE_UID = "__expr__"
_LOOKBACK_S = 600


def _query(ref_id: str, datasource_uid: str, model: Any) -> alerting.Query:
    return (
        alerting.Query(ref_id)
        .datasource_uid(datasource_uid)
        .relative_time_range(alerting_model.RelativeTimeRange(from_val=_LOOKBACK_S, to=0))
        .model(model)
    )


def _rule_builder(rule: AlertRule, folder_uid: str) -> alerting.Rule:
    prometheus_ref = dashboard_model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_DATASOURCE_UID)
    measurement = _query(
        "A",
        PROMETHEUS_DATASOURCE_UID,
        prometheus.Dataquery().expr(rule.measurement).instant().ref_id("A").datasource(prometheus_ref),
    )
    reduce = _query(
        "B", EXPRESSION_DATASOURCE_UID, expr.TypeReduce().ref_id("B").expression("A").reducer("last")
    )
    evaluator = (
        expr.ExprTypeThresholdConditionsEvaluator()
        .type("gt" if rule.op == ">" else "lt")
        .params([rule.threshold])
    )
    threshold = _query(
        "C",
        EXPRESSION_DATASOURCE_UID,
        expr.TypeThreshold()
        .ref_id("C")
        .expression("B")
        .conditions([expr.ExprTypeThresholdConditions().evaluator(evaluator)]),
    )
    return (
        alerting.Rule(rule.name)
        .uid(f"odavl-{rule.name.lower()}"[:40])
        .folder_uid(folder_uid)
        .rule_group(RULE_GROUP_NAME)
        .queries([measurement, reduce, threshold])
        .condition("C")
        .for_val(rule.for_duration)
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": rule.severity, "team": "platform", "source": "load-test"})
        .annotations({"summary": rule.summary, "dashboardUid": "load-testing"})
    )


def grafana_rule(rule: AlertRule, folder_uid: str) -> dict[str, Any]:
    """One rule as the JSON Grafana's provisioning API takes (queries under ``data``)."""
    return json.loads(json.dumps(_rule_builder(rule, folder_uid).build(), cls=JSONEncoder))


def grafana_rules(folder_uid: str) -> list[dict[str, Any]]:
    """All 8 rules of the load-testing group."""
    return [grafana_rule(rule, folder_uid) for rule in ALERT_RULES]
