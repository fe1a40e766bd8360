"""The one Python source of odavl-perf's SLO numbers.

Everything that states an SLO number reads it from here: the default gate thresholds
(`DEFAULT_THRESHOLDS`, parsed `loadtests.slo.spec.Threshold`s, which the stack files repeat
under `odavl-perf:sloThresholds` and a test keeps equal), the bottleneck limits of the
analysis, the burn-rate alert rules (`alerts/slo_burn_rate.yml`) and the SLO baselines
document (`docs/SLO_BASELINES.md`), both generated from this module.

Units: durations in milliseconds unless a field name says otherwise; ratios 0.0-1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.slo.spec import Threshold, parse_thresholds

__all__ = [
    "AVAILABILITY_SLOS",
    "BUDGET_ALLOCATION",
    "BUDGET_POLICY",
    "BURN_RATE_WINDOWS",
    "CAPACITY_TIERS",
    "DATABASE_LIMITS",
    "DATABASE_QUERY_SLOS",
    "DEFAULT_THRESHOLDS",
    "ENDPOINT_SLOS",
    "ERROR_RATE_SLOS",
    "LATENCY_SLO",
    "OPTIMISATION_TARGETS",
    "RESPONSE_TIME_SLOS",
    "SLO_WINDOW_DAYS",
    "WEB_VITALS",
    "AvailabilitySlo",
    "BurnRateWindow",
    "error_budget_minutes",
    "threshold_lines",
]


def _number(value: float) -> str:
    """Shortest text for a number: 500.0 -> "500", 0.01 -> "0.01"."""
    return f"{value:g}"


# The gate's default thresholds: the specification's eight critical thresholds, with INP as the
# interaction vital (the Core Web Vital for responsiveness since March 2024). Pulumi.yaml repeats
# them as the default of `odavl-perf:sloThresholds`; a test keeps the two equal. Written as spec
# lines and parsed by the gate's own parser, so they are the gate's `Threshold`s.
DEFAULT_THRESHOLDS: tuple[Threshold, ...] = parse_thresholds(
    (
        "http_req_duration: p(95)<500, p(99)<1000",
        "http_req_failed: rate<0.01",
        "db_query_duration: p(95)<100, p(99)<200",
        "time_to_first_byte: p(95)<200, p(99)<400",
        "web_vitals_lcp: p(95)<2500",
        "web_vitals_cls: p(95)<0.1",
        "web_vitals_inp: p(95)<200",
        "checks: rate>0.95",
    ),
    source="loadtests.slo.catalog",
)


def threshold_lines(thresholds: tuple[Threshold, ...] = DEFAULT_THRESHOLDS) -> list[str]:
    """The thresholds as the stack configuration holds them: one k6-style line per metric (and
    tag filter), e.g. `http_req_duration: p(95)<500, p(99)<1000`."""
    by_selector: dict[str, list[str]] = {}
    for threshold in thresholds:
        by_selector.setdefault(threshold.selector, []).append(threshold.expression)
    return [f"{selector}: {', '.join(expressions)}" for selector, expressions in by_selector.items()]


@dataclass(frozen=True)
class ResponseTimeSlo:
    """Response-time objective for one class of request (ms)."""

    request_class: str
    p50_ms: float
    p95_ms: float
    p99_ms: float
    measured_by: str


RESPONSE_TIME_SLOS: tuple[ResponseTimeSlo, ...] = (
    ResponseTimeSlo("Dashboard pages (HTML)", 200, 500, 1000, "http_req_duration{group=dashboard}"),
    ResponseTimeSlo("API endpoints (JSON)", 100, 500, 1000, "http_req_duration / api_response_time"),
    ResponseTimeSlo("Static assets", 20, 100, 200, "http_req_duration{group=static_assets}"),
    ResponseTimeSlo("Database queries", 20, 100, 200, "db_query_duration (X-Db-Query-Duration)"),
    ResponseTimeSlo("Time to first byte", 80, 200, 400, "time_to_first_byte"),
)

# Error-rate objectives, as ratios of all requests.
ERROR_RATE_SLOS: dict[str, float] = {
    "5xx responses": 0.001,
    "4xx responses": 0.05,
    "all failed requests (http_req_failed)": 0.01,
}


@dataclass(frozen=True)
class AvailabilitySlo:
    """An availability objective over the rolling SLO window."""

    name: str
    service: str
    objective: float  # ratio of good requests, e.g. 0.999

    @property
    def error_budget(self) -> float:
        return 1.0 - self.objective


SLO_WINDOW_DAYS = 30

AVAILABILITY_SLOS: tuple[AvailabilitySlo, ...] = (
    AvailabilitySlo("platform-availability", "platform", 0.999),
    AvailabilitySlo("api-availability", "API", 0.9995),
    AvailabilitySlo("database-availability", "database", 0.9999),
)


@dataclass(frozen=True)
class LatencySlo:
    """A latency objective expressed as a ratio of requests faster than a bucket edge."""

    name: str
    threshold_seconds: float
    objective: float

    @property
    def error_budget(self) -> float:
        return 1.0 - self.objective


# "P95 < 500 ms" as an SLO over the window: 95 % of requests complete within 0.5 s.
LATENCY_SLO = LatencySlo("latency-p95", 0.5, 0.95)


def error_budget_minutes(objective: float, window_days: int = SLO_WINDOW_DAYS) -> float:
    """Minutes of full outage an availability objective allows over the window.

    >>> round(error_budget_minutes(0.999), 1)
    43.2
    """
    return round((1.0 - objective) * window_days * 24 * 60, 6)


@dataclass(frozen=True)
class BurnRateWindow:
    """One multi-window multi-burn-rate alert condition (Google SRE workbook, 30-day SLO)."""

    burn_rate: float
    long_window: str
    short_window: str
    severity: str
    budget_consumed: float  # share of the 30-day budget spent when it fires at the long window

    @property
    def for_duration(self) -> str:
        return "2m" if self.severity == "page" else "15m"


BURN_RATE_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow(14.4, "1h", "5m", "page", 0.02),
    BurnRateWindow(6, "6h", "30m", "page", 0.05),
    BurnRateWindow(3, "1d", "2h", "ticket", 0.10),
    BurnRateWindow(1, "3d", "6h", "ticket", 0.10),
)

# How the monthly budget is planned to be spent (shares of the budget).
BUDGET_ALLOCATION: dict[str, float] = {
    "planned maintenance": 0.30,
    "incidents": 0.50,
    "reserve": 0.20,
}

# Share of budget consumed -> action.
BUDGET_POLICY: tuple[tuple[float, str], ...] = (
    (0.75, "feature freeze: only reliability work and fixes are released"),
    (0.90, "emergency freeze: only changes that restore the SLO are released"),
    (1.00, "full freeze: no releases until the budget recovers; incident review required"),
)


@dataclass(frozen=True)
class WebVital:
    """Core Web Vital bands at the 75th percentile of page loads (web.dev)."""

    metric: str
    name: str
    good_max: float
    poor_above: float
    unit: str


WEB_VITALS: tuple[WebVital, ...] = (
    WebVital("web_vitals_lcp", "Largest Contentful Paint (LCP)", 2500, 4000, "ms"),
    WebVital("web_vitals_inp", "Interaction to Next Paint (INP)", 200, 500, "ms"),
    WebVital("web_vitals_cls", "Cumulative Layout Shift (CLS)", 0.1, 0.25, ""),
)


@dataclass(frozen=True)
class QuerySlo:
    query_class: str
    p95_ms: float
    example: str


DATABASE_QUERY_SLOS: tuple[QuerySlo, ...] = (
    QuerySlo("Primary-key / unique lookup", 10, "session by token, user by email"),
    QuerySlo("Filtered list with ORDER BY ... LIMIT", 50, "open issues of an organisation"),
    QuerySlo("JOIN across 2-3 tables", 50, "runs with their project"),
    QuerySlo("Aggregation (GROUP BY over a time range)", 100, "analytics per day"),
    QuerySlo("Single-row write", 25, "create run, insert audit log"),
)

DATABASE_LIMITS: dict[str, str] = {
    "connection pool max": "20",
    "connection pool min": "5",
    "idle connection timeout": "30 s",
    "total database size": "< 100 GB",
    "largest table": "< 20 GB",
    "all indexes": "< 30 GB",
}


@dataclass(frozen=True)
class CapacityTier:
    name: str
    users: int
    requests_per_s: int
    expectation: str


# The staged profile's plateaus (100, 500, 1200 users) and the ceiling beyond it.
CAPACITY_TIERS: tuple[CapacityTier, ...] = (
    CapacityTier("Normal", 100, 100, "all SLOs met"),
    CapacityTier("Peak", 500, 500, "all SLOs met"),
    CapacityTier("Stress", 1200, 1200, "all SLOs met; P99 may approach its limit"),
    CapacityTier("Maximum", 2000, 2000, "degrades gracefully: no 5xx storm, recovers after"),
)


@dataclass(frozen=True)
class EndpointSlo:
    """An endpoint's P95 objective (ms). Its measured P50/P95/P99 are data, not constants:
    docs/endpoint_baselines.json, written from a real run (loadtests/results/endpoint_baselines.py)."""

    endpoint: str
    service: str
    target_p95_ms: float

    @property
    def threshold_line(self) -> str:
        """The gate line the staging and production stacks enforce for this endpoint."""
        return f"http_req_duration{{endpoint:{self.endpoint}}}: p(95)<{_number(self.target_p95_ms)}"


# Endpoint names as the load-test suite reports them (path parameters as `:id`); every one is a
# route of the reference app and requested by the suite (tests check both).
ENDPOINT_SLOS: tuple[EndpointSlo, ...] = (
    EndpointSlo("GET /api/insight/issues", "Insight", 300),
    EndpointSlo("GET /api/insight/issues/:id", "Insight", 200),
    EndpointSlo("GET /api/insight/issues/search", "Insight", 400),
    EndpointSlo("GET /api/insight/issues/unresolved", "Insight", 300),
    EndpointSlo("GET /api/autopilot/runs", "Autopilot", 400),
    EndpointSlo("GET /api/autopilot/runs/:id", "Autopilot", 150),
    EndpointSlo("POST /api/autopilot/runs", "Autopilot", 400),
    EndpointSlo("GET /api/autopilot/runs/by-status", "Autopilot", 350),
    EndpointSlo("GET /api/guardian/tests", "Guardian", 400),
    EndpointSlo("GET /api/guardian/tests/by-url", "Guardian", 250),
    EndpointSlo("GET /api/guardian/tests/by-status", "Guardian", 400),
    EndpointSlo("GET /api/analytics/timeseries", "Analytics", 500),
    EndpointSlo("GET /api/analytics/timeseries/by-project", "Analytics", 500),
)


@dataclass(frozen=True)
class OptimisationTarget:
    metric: str
    current: float
    target: float
    unit: str

    @property
    def change(self) -> float:
        """Relative change from current to target (-0.33 = one third lower)."""
        return (self.target - self.current) / self.current


OPTIMISATION_TARGETS: tuple[OptimisationTarget, ...] = (
    OptimisationTarget("API response time P95", 300, 200, "ms"),
    OptimisationTarget("Database query P95", 100, 50, "ms"),
    OptimisationTarget("CDN cache hit rate", 94, 97, "%"),
    OptimisationTarget("LCP P75", 2100, 1800, "ms"),
    OptimisationTarget("Error rate", 0.5, 0.2, "%"),
)
