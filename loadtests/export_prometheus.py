"""Prometheus exporter of every Locust process (prometheus_client).

Workers export the request-level series, the master exports `vus`; dashboards sum the workers'
series (`sum by (le, endpoint) (rate(...))`). Units follow Prometheus: seconds and bytes.
Bucket edges sit on the SLO thresholds so `histogram_quantile` lands on them exactly.

    http_reqs_total{endpoint,group,status}        counter
    http_req_failed_total{endpoint,group}         counter
    http_req_duration_seconds{endpoint,group}     histogram
    time_to_first_byte_seconds{endpoint}          histogram
    db_query_duration_seconds{endpoint,query}     histogram (query: X-Db-Query-Name, else endpoint)
    web_vitals_{lcp,inp,fid}_seconds{page}        histograms;  web_vitals_cls{page} (unitless)
    checks_total{endpoint,result}                 counter ("pass" | "fail")
    successful_requests_total / failed_requests_total / auth_failures_total {endpoint}
    data_received_bytes_total, data_sent_bytes_total
    vus                                           gauge (master)
    influxdb_points_dropped_total                 counter (points the InfluxDB queue had to drop)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["CLS_BUCKETS", "SECONDS_BUCKETS", "PrometheusExporter"]

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 2.5, 4, 5, 10)
CLS_BUCKETS = (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1)
WEB_VITALS = ("lcp", "inp", "fid")


class PrometheusExporter:
    """The suite's Prometheus series in a registry of their own.

    Label children are cached per label tuple: the request path does two dict look-ups and
    the observations, nothing else.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_reqs = Counter("http_reqs", "Requests sent", ["endpoint", "group", "status"], registry=r)
        self.http_req_failed = Counter(
            "http_req_failed", "Failed requests", ["endpoint", "group"], registry=r
        )
        self.http_req_duration = Histogram(
            "http_req_duration_seconds",
            "Request duration",
            ["endpoint", "group"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            "time_to_first_byte_seconds",
            "Time to first byte",
            ["endpoint"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.db = Histogram(
            "db_query_duration_seconds",
            "Database time reported by the target (X-Db-Query-Duration)",
            ["endpoint", "query"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.web_vitals = {
            name: Histogram(
                f"web_vitals_{name}_seconds",
                f"Web vital {name.upper()}",
                ["page"],
                buckets=SECONDS_BUCKETS,
                registry=r,
            )
            for name in WEB_VITALS
        }
        self.web_vitals_cls = Histogram(
            "web_vitals_cls", "Cumulative layout shift", ["page"], buckets=CLS_BUCKETS, registry=r
        )
        self.checks = Counter("checks", "Checks on responses", ["endpoint", "result"], registry=r)
        self.successful = Counter("successful_requests", "Successful requests", ["endpoint"], registry=r)
        self.failed = Counter("failed_requests", "Failed requests", ["endpoint"], registry=r)
        self.auth_failures = Counter("auth_failures", "Failed logins", ["endpoint"], registry=r)
        self.data_received = Counter("data_received_bytes", "Bytes received", registry=r)
        self.data_sent = Counter("data_sent_bytes", "Bytes sent", registry=r)
        self.vus = Gauge("vus", "Simulated users", registry=r)
        self.influx_dropped = Counter(
            "influxdb_points_dropped", "Points the InfluxDB export queue dropped", registry=r
        )
        self._request_children: dict[tuple[str, str, int], tuple] = {}
        self._db_children: dict[tuple[str, str], object] = {}

    def _children(self, endpoint: str, group: str, status: int) -> tuple:
        key = (endpoint, group, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.http_reqs.labels(endpoint, group, str(status)),
                self.http_req_failed.labels(endpoint, group),
                self.http_req_duration.labels(endpoint, group),
                self.ttfb.labels(endpoint),
                self.successful.labels(endpoint),
                self.failed.labels(endpoint),
            )
        return children

    def observe_request(
        self,
        endpoint: str,
        group: str,
        status: int,
        duration_ms: float,
        failed: bool,
        ttfb_ms: float | None,
        db_ms: float | None,
        db_query: str | None,
        bytes_received: int,
        bytes_sent: int,
    ) -> None:
        reqs, failed_c, duration, ttfb, ok_c, fail_c = self._children(endpoint, group, status)
        reqs.inc()
        duration.observe(duration_ms / 1000.0)
        if failed:
            failed_c.inc()
            fail_c.inc()
        else:
            ok_c.inc()
        if ttfb_ms is not None:
            ttfb.observe(ttfb_ms / 1000.0)
        if db_ms is not None:
            key = (endpoint, db_query or endpoint)
            child = self._db_children.get(key)
            if child is None:
                child = self._db_children[key] = self.db.labels(*key)
            child.observe(db_ms / 1000.0)
        if bytes_received:
            self.data_received.inc(bytes_received)
        if bytes_sent:
            self.data_sent.inc(bytes_sent)

    def observe_check(self, endpoint: str, passed: bool) -> None:
        self.checks.labels(endpoint, "pass" if passed else "fail").inc()

    def observe_auth_failure(self, endpoint: str) -> None:
        self.auth_failures.labels(endpoint).inc()

    def observe_web_vital(self, name: str, page: str, value: float) -> None:
        """`value` in ms for lcp/inp/fid, unitless for cls."""
        if name == "cls":
            self.web_vitals_cls.labels(page).observe(value)
        else:
            self.web_vitals[name].labels(page).observe(value / 1000.0)

    def set_users(self, users: int) -> None:
        self.vus.set(users)

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0 = any free port); returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server.server_address[1]
