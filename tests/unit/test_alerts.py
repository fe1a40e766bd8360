"""The 8 alert rules: generated Prometheus rules pass promtool check and promtool unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from dashboards.alerts import ALERT_RULES, prometheus_rules_yaml
from dashboards.promql import metric_names
from tests.tools import require_tool
from tests.unit.observability_stacks import EXPORTED_SERIES

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "load_testing.rules.yml"
RULE_TESTS = ROOT / "alerts" / "load_testing.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_tool("promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def test_eight_rules_with_severities():
    assert len(ALERT_RULES) == 8
    assert len({rule.name for rule in ALERT_RULES}) == 8
    assert {rule.severity for rule in ALERT_RULES} == {"critical", "warning"}


def test_thresholds_follow_the_specification():
    by_name = {rule.name: (rule.op, rule.threshold) for rule in ALERT_RULES}
    assert by_name["LoadTestHighResponseTime"] == (">", 0.5)
    assert by_name["LoadTestHighErrorRate"] == (">", 0.01)
    assert by_name["LoadTestSlowDatabaseQueries"] == (">", 0.1)
    assert by_name["LoadTestSlowTimeToFirstByte"] == (">", 0.2)
    assert by_name["LoadTestPoorLargestContentfulPaint"] == (">", 2.5)
    assert by_name["LoadTestHighLayoutShift"] == (">", 0.1)
    assert by_name["LoadTestSlowInteraction"] == (">", 0.2)
    assert by_name["LoadTestChecksFailing"] == ("<", 0.95)


def test_every_rule_parses_reads_exported_metrics_and_groups_by_environment():
    for rule in ALERT_RULES:
        names = metric_names(rule.expr)
        assert names and names <= EXPORTED_SERIES, f"{rule.name}: {names - EXPORTED_SERIES}"
        assert "by (environment" in rule.measurement, rule.name


def test_committed_rule_file_is_up_to_date():
    assert RULES.read_text() == prometheus_rules_yaml(), "run `python -m dashboards build`"
    document = yaml.safe_load(RULES.read_text())
    assert [rule["alert"] for rule in document["groups"][0]["rules"]] == [r.name for r in ALERT_RULES]


def test_promtool_check_rules():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path):
    broken = prometheus_rules_yaml().replace("> 0.01", "> 0.05")
    (tmp_path / "load_testing.rules.yml").write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path / "load_testing.test.yml")
    result = promtool("test", "rules", str(tmp_path / "load_testing.test.yml"))
    assert result.returncode != 0
    assert "LoadTestHighErrorRate" in result.stdout + result.stderr
