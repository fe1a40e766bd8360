"""Optimisation recommendations (database, API, CDN, monitoring), each tied to its evidence.

Every recommendation comes from a rule over the detected bottlenecks (or, for page
rendering, the run-wide LCP); it lists the measurements that triggered it so a reader can
check the reasoning. No rule fires without evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from indexes.suggestions import IndexSuggestion
from loadtests.analysis.bottlenecks import Bottleneck
from loadtests.analysis.model import Limit, default_limits, limit_for
from loadtests.slo.catalog import DATABASE_LIMITS

__all__ = ["AREAS", "Recommendation", "is_static_endpoint", "recommend"]

AREAS = ("database", "api", "cdn", "monitoring")

_STATIC_PATH = re.compile(r"(/static/|/assets/|/_next/|\.(js|css|png|jpe?g|svg|woff2?|ico|webp|map)(\?|$))")
_CONNECTION_ERROR = re.compile(r"timeout|timed out|connection|pool|too many clients|refused", re.IGNORECASE)


@dataclass(frozen=True)
class Recommendation:
    key: str  # stable identifier, e.g. "database.query-plans"
    area: str  # one of AREAS
    title: str
    actions: tuple[str, ...]
    evidence: tuple[str, ...]


def is_static_endpoint(endpoint: str) -> bool:
    """Static assets (scripts, styles, images, fonts) are the CDN's to serve."""
    path = endpoint.split(" ", 1)[-1]
    return bool(_STATIC_PATH.search(path))


def _method(endpoint: str) -> str:
    return endpoint.split(" ", 1)[0].upper() if " " in endpoint else "GET"


def _of(bottlenecks: Iterable[Bottleneck], *categories: str) -> list[Bottleneck]:
    return [item for item in bottlenecks if item.category in categories]


def _endpoints(items: Iterable[Bottleneck]) -> str:
    return ", ".join(dict.fromkeys(item.endpoint for item in items))


def recommend(
    results: Mapping[str, Any],
    bottlenecks: Sequence[Bottleneck],
    limits: Iterable[Limit],
    indexes: Sequence[IndexSuggestion] = (),
) -> list[Recommendation]:
    """The recommendations the evidence supports, in area order (database, API, CDN, monitoring)."""
    limits = list(limits)
    found: list[Recommendation] = []
    slow_db = _of(bottlenecks, "slow_database")
    high_p95 = [item for item in _of(bottlenecks, "high_p95") if not is_static_endpoint(item.endpoint)]
    p95_endpoints = {item.endpoint for item in _of(bottlenecks, "high_p95")}
    tail_only = [item for item in _of(bottlenecks, "high_p99") if item.endpoint not in p95_endpoints]
    errors = _of(bottlenecks, "high_error_rate")
    slow_static = [
        item for item in _of(bottlenecks, "slow_ttfb", "high_p95") if is_static_endpoint(item.endpoint)
    ]
    slow_server_ttfb = [
        item for item in _of(bottlenecks, "slow_ttfb") if not is_static_endpoint(item.endpoint)
    ]
    slow_db_endpoints = {item.endpoint for item in slow_db}

    # --- database ---
    if slow_db:
        actions = [f"Run EXPLAIN (ANALYZE, BUFFERS) on the queries behind {_endpoints(slow_db)}"]
        new = [index for index in indexes if not index.covered_by]
        covered = [index for index in indexes if index.covered_by]
        if new:
            actions.append("Create the suggested indexes: " + ", ".join(index.name for index in new))
        if covered:
            actions.append(
                "Check that the migration's indexes exist and are valid: "
                + ", ".join(sorted({index.covered_by or "" for index in covered}))
            )
        actions.append("Run ANALYZE on the tables involved so the planner sees current row counts")
        found.append(
            Recommendation(
                "database.query-plans",
                "database",
                "Slow database queries: inspect plans and add indexes",
                tuple(actions),
                tuple(item.evidence for item in slow_db),
            )
        )
    connection_errors = [
        entry
        for entry in results.get("errors") or ()
        if entry.get("endpoint") in {item.endpoint for item in errors}
        and _CONNECTION_ERROR.search(str(entry.get("error", "")))
    ]
    if connection_errors:
        found.append(
            Recommendation(
                "database.connection-pool",
                "database",
                "Connection errors under load: size the connection pool",
                (
                    f"Compare the pool size (baseline max {DATABASE_LIMITS['connection pool max']}) "
                    "with peak concurrent queries",
                    "Add PgBouncer (transaction pooling) when clients outnumber connections",
                    "Set a pool acquire timeout shorter than the HTTP timeout so requests fail fast",
                ),
                tuple(
                    item.evidence
                    for item in errors
                    if item.endpoint in {e["endpoint"] for e in connection_errors}
                )
                + tuple(
                    f"{entry['endpoint']}: {entry['count']} x {entry['error']}" for entry in connection_errors
                ),
            )
        )

    # --- API ---
    reads = [item for item in high_p95 if _method(item.endpoint) == "GET"]
    if reads:
        db_bound = [item for item in reads if item.endpoint in slow_db_endpoints]
        actions = [f"Cache responses of {_endpoints(reads)} in Redis with a short TTL"]
        if db_bound:
            actions.append(f"Serve {_endpoints(db_bound)} from a read replica")
        actions.append("Paginate list responses (keyset pagination on the sort column, LIMIT <= 50)")
        found.append(
            Recommendation(
                "api.read-path",
                "api",
                "Slow read endpoints: cache, paginate, offload reads",
                tuple(actions),
                tuple(item.evidence for item in reads),
            )
        )
    writes = [item for item in high_p95 if _method(item.endpoint) != "GET"]
    if writes:
        found.append(
            Recommendation(
                "api.write-path",
                "api",
                "Slow write endpoints: move work off the request path",
                (
                    f"Queue the slow part of {_endpoints(writes)} and answer 202 Accepted",
                    "Keep transactions short: no remote calls while holding row locks",
                ),
                tuple(item.evidence for item in writes),
            )
        )
    if tail_only:
        found.append(
            Recommendation(
                "api.tail-latency",
                "api",
                "Tail latency: P99 breaks its SLO while P95 holds",
                (
                    f"Look for lock waits and pool saturation on {_endpoints(tail_only)} (pg_stat_activity)",
                    "Check worker/event-loop blocking and garbage-collection pauses at the P99 timestamps",
                    "Add request timeouts and bounded retries with jitter",
                ),
                tuple(item.evidence for item in tail_only),
            )
        )
    if errors:
        top = _top_errors(results, {item.endpoint for item in errors})
        found.append(
            Recommendation(
                "api.errors",
                "api",
                "Failing requests: fix the top errors",
                (
                    f"Fix the most frequent errors on {_endpoints(errors)}",
                    "Return 429 with Retry-After instead of failing when overloaded",
                ),
                tuple(item.evidence for item in errors) + tuple(top),
            )
        )
    if slow_server_ttfb:
        found.append(
            Recommendation(
                "api.server-time",
                "api",
                "Slow time to first byte: the server spends long before answering",
                (
                    f"Profile the handlers of {_endpoints(slow_server_ttfb)} up to the first byte",
                    "Stream large responses and send headers early",
                ),
                tuple(item.evidence for item in slow_server_ttfb),
            )
        )

    # --- CDN ---
    if slow_static:
        found.append(
            Recommendation(
                "cdn.static-assets",
                "cdn",
                "Static assets served slowly: put them behind the CDN",
                (
                    f"Serve {_endpoints(slow_static)} from the CDN (Cloudflare) at the edge",
                    "Send Cache-Control: public, max-age=31536000, immutable for fingerprinted assets",
                    "Compress with Brotli and enable HTTP/3",
                ),
                tuple(item.evidence for item in slow_static),
            )
        )
    lcp_evidence = _lcp_breach(results, limits)
    if lcp_evidence:
        found.append(
            Recommendation(
                "cdn.page-rendering",
                "cdn",
                "Largest Contentful Paint over its SLO: deliver the page's main content sooner",
                (
                    "Serve the LCP image and critical CSS from the CDN with preload hints",
                    "Render dashboards at the edge or server side instead of after client fetches",
                ),
                (lcp_evidence,),
            )
        )

    # --- monitoring ---
    if slow_db:
        found.append(
            Recommendation(
                "monitoring.slow-queries",
                "monitoring",
                "Watch slow queries continuously",
                (
                    f"Set log_min_duration_statement = {slow_db[0].limit.bound:g} ms; use pg_stat_statements",
                    "Alert on histogram_quantile(0.95, db_query_duration_seconds) per query",
                ),
                tuple(item.evidence for item in slow_db),
            )
        )
    latency = _of(bottlenecks, "high_p95", "high_p99", "slow_ttfb")
    if latency:
        found.append(
            Recommendation(
                "monitoring.latency-alerts",
                "monitoring",
                "Alert on latency before users notice",
                (
                    "Page on the latency burn-rate alerts (alerts/slo_burn_rate.yml)",
                    f"Add P95/P99 panels for {_endpoints(latency)} to the load-testing dashboard",
                ),
                tuple(item.evidence for item in latency),
            )
        )
    if errors:
        found.append(
            Recommendation(
                "monitoring.error-alerts",
                "monitoring",
                "Alert on errors and keep their logs searchable",
                (
                    "Page on the availability burn-rate alerts (14.4x over 1h and 5m, http_req_failed_total)",
                    f"Send the error logs of {_endpoints(errors)} to Loki with the request id",
                ),
                tuple(item.evidence for item in errors),
            )
        )
    return found


def _top_errors(results: Mapping[str, Any], endpoints: set[str], limit: int = 3) -> list[str]:
    entries = [entry for entry in results.get("errors") or () if entry.get("endpoint") in endpoints]
    entries.sort(key=lambda entry: -int(entry.get("count", 0)))
    return [f"{entry['endpoint']}: {entry['count']} x {entry['error']}" for entry in entries[:limit]]


def _lcp_breach(results: Mapping[str, Any], limits: list[Limit]) -> str | None:
    limit = limit_for(limits, "web_vitals_lcp", "p95") or limit_for(default_limits(), "web_vitals_lcp", "p95")
    value = limit.breach(results) if limit is not None else None
    if limit is None or value is None:  # no LCP limit, no samples, or within the limit
        return None
    return f"all pages: web_vitals_lcp p95 = {value:,.0f} ms (SLO {limit.operator} {limit.bound:g} ms)"
