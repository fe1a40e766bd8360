"""Comparison of a run with its baseline run: key statistics side by side, with the change.

Only runs of the same profile are comparable (percentiles at another load level say little);
`comparable` reports when they are not, and the comparison is still shown with that warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from loadtests.results.metrics import summary_value

__all__ = ["DEFAULT_TOLERANCE", "ComparisonRow", "comparable", "compare_endpoints", "compare_runs"]

Change = Literal["better", "worse", "same", "new", "gone"]
DEFAULT_TOLERANCE = 0.10  # a change within 10 % counts as "same"

# (label, metric, stat, unit, higher_is_better)
_MEASURES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("Response time P50", "http_req_duration", "p50", "ms", False),
    ("Response time P95", "http_req_duration", "p95", "ms", False),
    ("Response time P99", "http_req_duration", "p99", "ms", False),
    ("Error rate", "http_req_failed", "rate", "%", False),
    ("Throughput", "http_reqs", "rate_per_s", "req/s", True),
    ("Database query P95", "db_query_duration", "p95", "ms", False),
    ("TTFB P95", "time_to_first_byte", "p95", "ms", False),
    ("LCP P95", "web_vitals_lcp", "p95", "ms", False),
)


@dataclass(frozen=True)
class ComparisonRow:
    label: str
    unit: str
    baseline: float | None
    current: float | None
    change: Change

    @property
    def delta_pct(self) -> float | None:
        if self.baseline in (None, 0) or self.current is None:
            return None
        return (self.current - self.baseline) / self.baseline * 100.0


def _change(
    baseline: float | None, current: float | None, higher_is_better: bool, tolerance: float
) -> Change:
    if baseline is None and current is None:
        return "same"
    if baseline is None:
        return "new"
    if current is None:
        return "gone"
    scale = max(abs(baseline), 1e-9)
    relative = (current - baseline) / scale
    # Error rates near zero: an absolute change under 0.1 percentage point is noise.
    if abs(current - baseline) < 1e-3 and baseline < 0.01 and current < 0.01:
        return "same"
    if abs(relative) <= tolerance:
        return "same"
    improved = relative > 0 if higher_is_better else relative < 0
    return "better" if improved else "worse"


def comparable(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> bool:
    """Same profile name, users and time scale (the baseline store's rule)."""

    def identity(doc: Mapping[str, Any]) -> tuple[Any, ...]:
        profile = doc.get("profile") or {}
        return profile.get("name"), profile.get("max_users"), profile.get("time_scale")

    return identity(current) == identity(baseline)


def compare_runs(
    current: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float = DEFAULT_TOLERANCE
) -> list[ComparisonRow]:
    """The run-wide statistics of both runs and whether each got better, worse or stayed."""
    rows = []
    for label, metric, stat, unit, higher_is_better in _MEASURES:
        before = summary_value(baseline, metric, stat)
        after = summary_value(current, metric, stat)
        if before is None and after is None:
            continue
        rows.append(
            ComparisonRow(label, unit, before, after, _change(before, after, higher_is_better, tolerance))
        )
    return rows


def compare_endpoints(
    current: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float = DEFAULT_TOLERANCE
) -> list[ComparisonRow]:
    """Each endpoint's P95 response time in both runs."""
    before_all = baseline.get("endpoints") or {}
    after_all = current.get("endpoints") or {}
    rows = []
    for endpoint in sorted(set(before_all) | set(after_all)):
        before = summary_value(baseline, "http_req_duration", "p95", endpoint=endpoint)
        after = summary_value(current, "http_req_duration", "p95", endpoint=endpoint)
        rows.append(ComparisonRow(endpoint, "ms", before, after, _change(before, after, False, tolerance)))
    return rows
