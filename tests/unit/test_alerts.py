"""The 8 alert rules: generated Prometheus rules pass promtool check and promtool unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.alerts import ALERT_RULES, prometheus_rules_yaml
from dashboards.promql import metric_names
from loadtests.slo.catalog import DEFAULT_THRESHOLDS
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


def test_each_rule_fires_where_its_default_gate_threshold_is_breached():
    gates = {(t.metric, t.aggregate): t for t in DEFAULT_THRESHOLDS}
    # rule -> (gate threshold, catalogue units per measurement unit)
    sources = {
        "LoadTestHighResponseTime": (("http_req_duration", "p(95)"), 1000),
        "LoadTestHighErrorRate": (("http_req_failed", "rate"), 1),
        "LoadTestSlowDatabaseQueries": (("db_query_duration", "p(95)"), 1000),
        "LoadTestSlowTimeToFirstByte": (("time_to_first_byte", "p(95)"), 1000),
        "LoadTestPoorLargestContentfulPaint": (("web_vitals_lcp", "p(95)"), 1000),
        "LoadTestHighLayoutShift": (("web_vitals_cls", "p(95)"), 1),
        "LoadTestSlowInteraction": (("web_vitals_inp", "p(95)"), 1000),
        "LoadTestChecksFailing": (("checks", "rate"), 1),
    }
    assert set(sources) == {rule.name for rule in ALERT_RULES}
    for rule in ALERT_RULES:
        key, per_unit = sources[rule.name]
        gate = gates[key]
        assert rule.threshold == pytest.approx(gate.bound.amount / per_unit), rule.name
        assert (gate.op, rule.op) in {("<", ">"), (">", "<")}, rule.name
    assert not any("fid" in (rule.name + rule.expr + rule.summary).lower() for rule in ALERT_RULES)


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
