"""Bottleneck detection per endpoint, in the specification's five categories.

A bottleneck is an endpoint whose own statistic breaks the run-wide SLO limit on that
statistic: P95 or P99 response time, error rate, database query P95, or time to first byte
P95. Limits come from the configured thresholds (an endpoint's own `{endpoint:...}` threshold
before the run-wide one); a category without a configured threshold falls back to the default
from `loadtests.slo.catalog`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loadtests.analysis.model import Limit, default_limits, limit_for

__all__ = ["CATEGORIES", "OVERALL", "Bottleneck", "Category", "detect_bottlenecks"]

# Stands for the whole run when the results carry no per-endpoint breakdown.
OVERALL = "(all endpoints)"


@dataclass(frozen=True)
class Category:
    key: str
    title: str
    metric: str
    stat: str
    unit: str  # "ms" or "%"


CATEGORIES: tuple[Category, ...] = (
    Category("high_p95", "High P95 response time", "http_req_duration", "p95", "ms"),
    Category("high_p99", "High P99 response time", "http_req_duration", "p99", "ms"),
    Category("high_error_rate", "High error rate", "http_req_failed", "rate", "%"),
    Category("slow_database", "Slow database queries", "db_query_duration", "p95", "ms"),
    Category("slow_ttfb", "Slow time to first byte", "time_to_first_byte", "p95", "ms"),
)


@dataclass(frozen=True)
class Bottleneck:
    """`endpoint`'s `category` statistic is `value`, which breaks `limit`."""

    category: str
    endpoint: str
    metric: str
    stat: str
    value: float
    limit: Limit
    unit: str
    requests: int

    @property
    def evidence(self) -> str:
        return f"{self.endpoint}: {self.metric} {self.stat} = {self._fmt(self.value)} (SLO {self._limit()})"

    def _fmt(self, value: float) -> str:
        return f"{value * 100:.2f} %" if self.unit == "%" else f"{value:,.1f} ms"

    def _limit(self) -> str:
        bound = f"{self.limit.bound * 100:g} %" if self.unit == "%" else f"{self.limit.bound:g} ms"
        return f"{self.limit.operator} {bound}"


def _category_limit(
    configured: list[Limit], fallback: list[Limit], category: Category, endpoint: str
) -> Limit:
    limit = limit_for(configured, category.metric, category.stat, endpoint) or limit_for(
        fallback, category.metric, category.stat
    )
    if limit is None:  # the catalog defines every category; a missing one is a programming error
        raise LookupError(f"no default SLO limit for {category.metric} {category.stat}")
    return limit


def _request_count(summaries: Mapping[str, Any]) -> int:
    for metric, key in (("http_reqs", "count"), ("http_req_duration", "count")):
        summary = summaries.get(metric)
        if isinstance(summary, dict) and isinstance(summary.get(key), int | float):
            return int(summary[key])
    failed = summaries.get("http_req_failed")
    if isinstance(failed, dict):
        return int(failed.get("passes", 0) + failed.get("fails", 0))
    return 0


def detect_bottlenecks(results: Mapping[str, Any], limits: Iterable[Limit]) -> list[Bottleneck]:
    """Every (endpoint, category) whose statistic breaks its limit, in category then endpoint order.

    With no per-endpoint statistics in the results, the run-wide metrics are judged instead
    under the name `OVERALL`.
    """
    configured = list(limits)
    fallback = default_limits()
    endpoints: Mapping[str, Any] = results.get("endpoints") or {}
    found: list[Bottleneck] = []
    for category in CATEGORIES:
        for endpoint in sorted(endpoints) or [OVERALL]:
            limit = _category_limit(configured, fallback, category, endpoint)
            if endpoints:
                value, summaries = limit.breach(results, endpoint), endpoints[endpoint]
            else:
                value, summaries = limit.breach(results), results.get("metrics", {})
            if value is None:
                continue
            found.append(
                Bottleneck(
                    category=category.key,
                    endpoint=endpoint,
                    metric=category.metric,
                    stat=category.stat,
                    value=value,
                    limit=limit,
                    unit=category.unit,
                    requests=_request_count(summaries),
                )
            )
    return found
