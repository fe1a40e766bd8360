"""The metrics of the results document: their catalogue, the one accessor of a summary's value,
and the one way a value is written for people.

Every reader of a summary (the SLO evaluation, the analysis, the stack outputs) goes through
`summary_value`, so "no samples" means the same everywhere: a trend without a count and a rate
without a pass or a fail have no value, never a zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["METRICS", "PERCENTILES", "USER_GROUPS", "format_value", "summary_of", "summary_value"]

# The metric catalogue of the results document: name -> (summary type, unit).
METRICS: dict[str, tuple[str, str]] = {
    "http_req_duration": ("trend", "ms"),
    # Arrival-rate runs only: each request's latency from its iteration's intended start
    # (coordinated omission included); http_req_duration stays the service time.
    "http_req_latency_intended": ("trend", "ms"),
    "api_response_time": ("trend", "ms"),
    "db_query_duration": ("trend", "ms"),
    "time_to_first_byte": ("trend", "ms"),
    "web_vitals_lcp": ("trend", "ms"),
    "web_vitals_cls": ("trend", ""),
    "web_vitals_inp": ("trend", "ms"),
    "http_req_failed": ("rate", ""),
    "error_rate": ("rate", ""),
    "checks": ("rate", ""),
    "http_reqs": ("counter", ""),
    "successful_requests": ("counter", ""),
    "failed_requests": ("counter", ""),
    "auth_failures": ("counter", ""),
    "data_received": ("counter", "B"),
    "data_sent": ("counter", "B"),
    # Arrival-rate runs only: iterations run to their end, and those dropped for want of a user.
    "iterations": ("counter", ""),
    "dropped_iterations": ("counter", ""),
    "vus": ("gauge", ""),
}

# Percentiles a trend summary records (SUMMARY keys p50, p90, p95, p99).
PERCENTILES = (50, 90, 95, 99)

# The user groups of the suite (the results document's "groups" keys, `{group:NAME}` filters).
USER_GROUPS = (
    "authentication",
    "dashboard",
    "insight",
    "autopilot",
    "guardian",
    "analytics",
    "static_assets",
)


def summary_of(
    doc: Mapping[str, Any] | None, metric: str, *, endpoint: str | None = None, group: str | None = None
) -> Mapping[str, Any] | None:
    """The summary of `metric` over the whole run, one endpoint or one user group; None if absent."""
    if not doc:
        return None
    if endpoint is not None:
        section = (doc.get("endpoints") or {}).get(endpoint) or {}
    elif group is not None:
        section = (doc.get("groups") or {}).get(group) or {}
    else:
        section = doc.get("metrics") or {}
    summary = section.get(metric) if isinstance(section, Mapping) else None
    return summary if isinstance(summary, Mapping) else None


def summary_value(
    doc: Mapping[str, Any] | None,
    metric: str,
    stat: str,
    *,
    endpoint: str | None = None,
    group: str | None = None,
) -> float | None:
    """`stat` (a SUMMARY key: p95, rate, count, rate_per_s…) of `metric`; None without samples."""
    summary = summary_of(doc, metric, endpoint=endpoint, group=group)
    if summary is None:
        return None
    kind = METRICS[metric][0] if metric in METRICS else summary.get("type")
    if kind == "trend" and not summary.get("count"):
        return None
    if kind == "rate" and not (summary.get("passes", 0) or 0) + (summary.get("fails", 0) or 0):
        return None
    value = summary.get(stat)
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return None
    return float(value)


def format_value(value: float | None, metric: str) -> str:
    """A measured value or bound with its unit: ms, % for rates, bytes, or none ("-" if None)."""
    if value is None:
        return "-"
    kind, unit = METRICS.get(metric, ("", ""))
    if kind == "rate":
        return f"{value * 100:.2f} %"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:,.4g}"
