"""How fast a run spent the error budgets: its failure ratio against each availability objective.

A run's failure ratio divided by the budget (1 - objective) is its burn rate: 1x spends exactly
the 30-day budget in 30 days, 14.4x would page (alerts/slo_burn_rate.yml) if it went on for an
hour. Load tests are short, so this says what production traffic like the test's would do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtests.slo.catalog import AVAILABILITY_SLOS, BURN_RATE_WINDOWS, SLO_WINDOW_DAYS, AvailabilitySlo

__all__ = ["BudgetBurn", "budget_burns"]

_API_ENDPOINT = re.compile(r"^[A-Z]+ /api/")


@dataclass(frozen=True)
class BudgetBurn:
    slo: str
    objective: float
    failed: int
    requests: int

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @property
    def burn_rate(self) -> float:
        return self.failure_ratio / (1.0 - self.objective)

    @property
    def alert(self) -> str:
        """The fastest burn-rate alert this rate would trigger if it lasted, or "none"."""
        for window in BURN_RATE_WINDOWS:
            if self.burn_rate > window.burn_rate:
                return f"{window.severity} ({window.burn_rate:g}x over {window.long_window})"
        return "none"

    @property
    def budget_lasts_days(self) -> float | None:
        """Days until the 30-day budget is gone at this rate (None: not burning)."""
        return SLO_WINDOW_DAYS / self.burn_rate if self.burn_rate > 0 else None


def _failed_and_total(summaries: Mapping[str, Any]) -> tuple[int, int]:
    failed = summaries.get("http_req_failed")
    if not isinstance(failed, Mapping):
        return 0, 0
    passes, fails = int(failed.get("passes", 0)), int(failed.get("fails", 0))
    return passes, passes + fails


def _burn(slo: AvailabilitySlo, results: Mapping[str, Any]) -> BudgetBurn | None:
    if slo.service == "platform":
        failed, total = _failed_and_total(results.get("metrics") or {})
    elif slo.service == "API":
        failed = total = 0
        for endpoint, summaries in (results.get("endpoints") or {}).items():
            if _API_ENDPOINT.match(endpoint):
                endpoint_failed, endpoint_total = _failed_and_total(summaries)
                failed, total = failed + endpoint_failed, total + endpoint_total
    else:  # the database SLO has no SLI among the load generator's metrics
        return None
    return BudgetBurn(slo.name, slo.objective, failed, total) if total else None


def budget_burns(results: Mapping[str, Any]) -> list[BudgetBurn]:
    """The burn rate of each availability SLO the results can measure."""
    return [burn for slo in AVAILABILITY_SLOS if (burn := _burn(slo, results)) is not None]
