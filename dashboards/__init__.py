"""Grafana dashboards and alert rules for odavl-perf, built as code.

``python -m dashboards build`` regenerates the committed JSON and rule files.
"""

from dashboards.alerts import ALERT_RULES, AlertRule, prometheus_rules_yaml
from dashboards.load_testing import DASHBOARD_UID, PROMETHEUS_DATASOURCE_UID, build_dashboard, dashboard_json

__all__ = [
    "ALERT_RULES",
    "DASHBOARD_UID",
    "PROMETHEUS_DATASOURCE_UID",
    "AlertRule",
    "build_dashboard",
    "dashboard_json",
    "prometheus_rules_yaml",
]
