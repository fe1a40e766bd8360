"""alerts/slo_burn_rate.py: burn-rate rules generated from the SLO catalog, checked by promtool."""

from __future__ import annotations

import subprocess

import promql_parser
import pytest
import yaml

from alerts import slo_burn_rate
from loadtests.slo.catalog import AVAILABILITY_SLOS, BURN_RATE_WINDOWS, error_budget_minutes
from tests.tools import require_tool


def promtool(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    binary = require_tool("promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False)


def test_error_budget_of_three_nines_over_thirty_days_is_43_2_minutes():
    assert error_budget_minutes(0.999) == pytest.approx(43.2)
    assert error_budget_minutes(0.9995) == pytest.approx(21.6)
    assert error_budget_minutes(0.9999) == pytest.approx(4.32)


def test_windows_are_the_sre_workbook_pairs():
    assert [(w.burn_rate, w.long_window, w.short_window, w.severity) for w in BURN_RATE_WINDOWS] == [
        (14.4, "1h", "5m", "page"),
        (6, "6h", "30m", "page"),
        (3, "1d", "2h", "ticket"),
        (1, "3d", "6h", "ticket"),
    ]
    # budget share spent when each alert fires = burn rate x long window / 30 days
    for window in BURN_RATE_WINDOWS:
        hours = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}[window.long_window]
        assert window.budget_consumed == pytest.approx(window.burn_rate * hours / (30 * 24), abs=0.001)


def test_committed_rules_and_tests_match_the_catalog():
    assert slo_burn_rate.main(["--check"]) == 0


def test_rules_use_the_contract_metric_names_and_parse_as_promql():
    document = yaml.safe_load(slo_burn_rate.RULES_PATH.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    for rule in rules:
        promql_parser.parse(rule["expr"])
    text = slo_burn_rate.RULES_PATH.read_text()
    for metric in ("http_reqs_total", "http_req_failed_total", "http_req_duration_seconds_bucket"):
        assert metric in text
    alerts = [rule for rule in rules if "alert" in rule]
    assert len(alerts) == len(slo_burn_rate.alert_slos()) * len(BURN_RATE_WINDOWS)
    platform = next(slo for slo in AVAILABILITY_SLOS if slo.name == "platform-availability")
    fast = next(
        rule
        for rule in alerts
        if rule["labels"]["slo"] == platform.name and rule["labels"]["long_window"] == "1h"
    )
    assert "> (14.4 * 0.001)" in fast["expr"] and fast["labels"]["severity"] == "page"


def test_promtool_check_rules():
    result = promtool("check", "rules", str(slo_burn_rate.RULES_PATH))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 33 rules found" in result.stdout


def test_promtool_test_rules():
    result = promtool("test", "rules", slo_burn_rate.TEST_PATH.name, cwd=slo_burn_rate.TEST_PATH.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_tests_fail_when_a_burn_rate_threshold_drifts(tmp_path):
    # the scenarios notice a rule that pages too late: 30x instead of 14.4x
    (tmp_path / "tests").mkdir()
    rules = slo_burn_rate.RULES_PATH.read_text().replace("(14.4 * 0.001)", "(30 * 0.001)")
    (tmp_path / "slo_burn_rate.yml").write_text(rules)
    (tmp_path / "tests" / "burn_rate_test.yml").write_text(slo_burn_rate.TEST_PATH.read_text())
    result = promtool("test", "rules", "burn_rate_test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0
    assert "PlatformAvailabilityErrorBudgetBurn" in result.stdout + result.stderr
