"""loadtests/analysis/budget.py: a run's failure ratio as a burn rate of each availability budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.analysis.budget import BudgetBurn, budget_burns

FIXTURES = Path(__file__).parents[1] / "fixtures" / "analysis"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_error_rate_run_would_page():
    burns = {burn.slo: burn for burn in budget_burns(fixture("fail_high_error_rate"))}
    assert set(burns) == {"platform-availability", "api-availability"}
    platform, api = burns["platform-availability"], burns["api-availability"]
    assert (platform.failed, platform.requests) == (171, 12900)
    assert platform.burn_rate == pytest.approx(171 / 12900 / 0.001)
    assert platform.alert == "page (6x over 6h)"
    # the static asset's 2100 requests are not API requests
    assert (api.failed, api.requests) == (171, 10800)
    assert api.alert == "page (14.4x over 1h)"
    assert api.budget_lasts_days == pytest.approx(30 / api.burn_rate)


@pytest.mark.parametrize(
    ("failed", "alert"),
    [
        (0, "none"),
        (10, "none"),
        (11, "ticket (1x over 3d)"),
        (31, "ticket (3x over 1d)"),
        (145, "page (14.4x over 1h)"),
    ],
)
def test_burn_rate_bands(failed, alert):
    burn = BudgetBurn("platform-availability", 0.999, failed, 10_000)
    assert burn.alert == alert


def test_no_failures_never_runs_out():
    assert BudgetBurn("platform-availability", 0.999, 0, 500).budget_lasts_days is None


def test_no_requests_no_budgets():
    results = fixture("pass")
    results["metrics"]["http_req_failed"] = {"type": "rate", "passes": 0, "fails": 0, "rate": 0.0}
    results["endpoints"] = {}
    assert budget_burns(results) == []
