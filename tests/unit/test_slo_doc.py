"""docs/SLO_BASELINES.md and the configuration agree: one source of SLO numbers (loadtests/slo/catalog.py)."""

from __future__ import annotations

import itertools
import re

import pytest
import yaml

from loadtests.analysis.sources import endpoint_key, route_queries
from loadtests.run.shape import PROFILES
from loadtests.slo import catalog as slo_catalog
from loadtests.slo import evaluate as slo
from tools.slo_doc import ROOT, main, render, stack_thresholds

CATALOG = {(t.metric, t.aggregate, t.op): t.bound.amount for t in slo_catalog.DEFAULT_THRESHOLDS}
CORE = {
    ("http_req_duration", "p(95)", "<"),
    ("http_req_duration", "p(99)", "<"),
    ("http_req_failed", "rate", "<"),
}


def disagreements(lines: list[str]) -> list[str]:
    """Absolute, untagged thresholds whose bound differs from the catalog's for the same criterion."""
    found = []
    for threshold in slo.parse_thresholds(lines):
        if threshold.tag is not None or threshold.bound.relative_to_baseline:
            continue
        key = (threshold.metric, threshold.aggregate, threshold.op)
        if key not in CATALOG:
            found.append(f"{threshold.key}: not in loadtests/slo/catalog.py")
        elif threshold.bound.amount != CATALOG[key]:
            found.append(f"{threshold.key}: catalog says {CATALOG[key]:g}")
    return found


def test_committed_document_is_generated_from_the_current_sources():
    assert main(["--check"]) == 0


def test_pulumi_yaml_default_thresholds_are_the_catalogs():
    assert stack_thresholds()["Pulumi.yaml"] == slo_catalog.threshold_lines()


@pytest.mark.parametrize("stack_file", ["Pulumi.local.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"])
def test_every_stack_enforces_the_catalogs_numbers(stack_file):
    lines = stack_thresholds()[stack_file]
    assert disagreements(lines) == []
    present = {(t.metric, t.aggregate, t.op) for t in slo.parse_thresholds(lines) if t.tag is None}
    assert present >= CORE


def test_a_drifted_number_is_caught():
    assert disagreements(["http_req_duration: p(95)<600, p(99)<1000"]) == [
        "http_req_duration: p(95)<600: catalog says 500"
    ]
    assert disagreements(["web_vitals_lcp: p(99)<4000"]) == [
        "web_vitals_lcp: p(99)<4000: not in loadtests/slo/catalog.py"
    ]


def test_document_states_the_numbers_of_the_stack_files(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    staged = tmp_path / "Pulumi.local.yaml"
    staged.write_text(staged.read_text().replace("p(95)<500, p(99)<1000", "p(95)<450, p(99)<1000"))
    assert "`http_req_duration: p(95)<450, p(99)<1000`" in render(tmp_path)
    assert render(tmp_path) != render()


def test_error_budget_section_has_the_arithmetic():
    text = render()
    assert "**43.2 minutes**" in text
    assert "| `platform-availability` | 99.9 % | 43.2 min |" in text


def test_load_testing_alert_thresholds_match_the_catalog():
    rules = yaml.safe_load((ROOT / "alerts" / "load_testing.rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert len(alerts) == 8
    gate = CATALOG
    checked = 0
    for alert in alerts:
        expr = " ".join(alert["expr"].split())
        bound = float(re.search(r"[<>]\s*([0-9.]+)\s*$", expr).group(1))
        if "histogram_quantile(0.95" in expr:
            metric = re.search(r"rate\((\w+?)(?:_seconds)?_bucket", expr).group(1)
            expected = gate[(metric, "p(95)", "<")]
            assert bound == pytest.approx(expected if metric == "web_vitals_cls" else expected / 1000), alert[
                "alert"
            ]
        elif "http_req_failed_total" in expr:
            assert bound == gate[("http_req_failed", "rate", "<")]
        elif "checks_total" in expr:
            assert bound == gate[("checks", "rate", ">")]
        else:
            pytest.fail(f"unexpected alert expression {expr}")
        checked += 1
    assert checked == 8


def test_staged_profile_plateaus_are_the_capacity_tiers():
    stages = PROFILES["staged"]
    plateaus = [b.target for a, b in itertools.pairwise(stages) if a.target == b.target]
    assert plateaus == [tier.users for tier in slo_catalog.CAPACITY_TIERS[:3]]


def test_endpoint_slos_name_routes_of_the_reference_app():
    from reference_app.api import api_routes

    routes = route_queries(api_routes())
    missing = [e.endpoint for e in slo_catalog.ENDPOINT_SLOS if endpoint_key(e.endpoint) not in routes]
    assert missing == []
    services = [e.service for e in slo_catalog.ENDPOINT_SLOS]
    assert {s: services.count(s) for s in set(services)} == {
        "Insight": 4,
        "Autopilot": 4,
        "Guardian": 3,
        "Analytics": 2,
    }


def test_doc_has_every_section_of_the_specification():
    headings = re.findall(r"^## \d+\. (.+)$", render(), flags=re.MULTILINE)
    assert headings == [
        "Core performance SLOs",
        "Web vitals",
        "Database performance",
        "Throughput and capacity",
        "Endpoint SLOs",
        "Monitoring and alerting",
        "Error budgets",
        "Optimisation targets (Q1 2026)",
    ]
