"""Prometheus exporter of every Locust process (prometheus_client).

Workers export the request-level series, the master exports `vus`; dashboards sum the workers'
series (`sum by (le, endpoint) (rate(...))`). Units follow Prometheus: seconds and bytes.
Bucket edges sit on the SLO thresholds so `histogram_quantile` lands on them exactly.

The request path only bumps plain counters (a `bisect` finds the bucket), found with one
dictionary lookup per (endpoint, group, status); a prometheus_client custom collector turns
them into counter and histogram families at scrape time. That keeps the cost per request to
about a microsecond, where one labelled `Histogram.observe` with its lock costs several.

    http_reqs_total{endpoint,group,status}        counter
    http_req_failed_total{endpoint,group}         counter
    http_req_duration_seconds{endpoint,group}     histogram
    time_to_first_byte_seconds{endpoint}          histogram
    db_query_duration_seconds{endpoint,query}     histogram (query: X-Db-Query-Name, else endpoint)
    web_vitals_{lcp,inp}_seconds{page}            histograms;  web_vitals_cls{page} (unitless)
    checks_total{endpoint,result}                 counter ("pass" | "fail")
    successful_requests_total / failed_requests_total / auth_failures_total {endpoint}
    data_received_bytes_total, data_sent_bytes_total
    vus                                           gauge (master)
    influxdb_points_dropped_total                 counter (points the InfluxDB queue had to drop)
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from loadtests.suite.request_log import RequestBatch, not_none

__all__ = ["CLS_BUCKETS", "SECONDS_BUCKETS", "PrometheusExporter"]

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 2.5, 4, 5, 10)
CLS_BUCKETS = (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1)
WEB_VITALS = ("lcp", "inp")
# Observations are kept in milliseconds on the request path; edges in ms for bisect.
_EDGES_MS = tuple(edge * 1000.0 for edge in SECONDS_BUCKETS)


class _Buckets:
    """Non-cumulative bucket counts plus the sum, in the unit of `edges`."""

    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * (size + 1)  # the last one is +Inf
        self.sum = 0.0

    def add_all(self, edges: tuple[float, ...], values: Iterable[float]) -> None:
        """Count every value (C-level), as one `bisect_left` each; the sum adds them in order."""
        values = values if isinstance(values, list | tuple) else list(values)
        counts = self.counts
        for index, n in Counter(map(bisect_left, repeat(edges), values)).items():
            counts[index] += n
        self.sum = sum(values, self.sum)

    def family_buckets(self, edges: tuple[float, ...]) -> list[tuple[str, float]]:
        out, running = [], 0
        for edge, count in zip(edges, self.counts, strict=False):
            running += count
            out.append((_le(edge), running))
        out.append(("+Inf", running + self.counts[-1]))
        return out


def _le(edge: float) -> str:
    return repr(float(edge))


class PrometheusExporter:
    """The suite's Prometheus series in a registry of their own (see the module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=False)
        # (endpoint, group, status) -> [requests, its by_group entry, its by_endpoint entry]
        self._entries: dict[tuple[str, str, int], list] = {}
        # (endpoint, group) -> [failed, duration buckets]
        self.by_group: dict[tuple[str, str], list] = {}
        # endpoint -> [successful, failed, ttfb buckets]
        self.by_endpoint: dict[str, list] = {}
        self.db: dict[tuple[str, str], _Buckets] = {}
        self.checks: dict[tuple[str, str], int] = {}
        self.auth_failures: dict[str, int] = {}
        self.web_vitals: dict[tuple[str, str], _Buckets] = {}
        self.data_received = 0
        self.data_sent = 0
        self.vus = 0
        self.influx_dropped_total = 0
        # Called before each scrape: the suite takes its request log there, so a scrape sees
        # every request recorded so far.
        self.before_collect: Callable[[], None] | None = None
        self.registry.register(self)

    # --- the request path ----------------------------------------------------------------
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
        entry = self._entries.get((endpoint, group, status))
        if entry is None:
            entry = self._entry(endpoint, group, status)
        entry[0] += 1
        per_group = entry[1]
        per_endpoint = entry[2]
        buckets = per_group[1]
        buckets.counts[bisect_left(_EDGES_MS, duration_ms)] += 1
        buckets.sum += duration_ms
        if failed:
            per_group[0] += 1
            per_endpoint[1] += 1
        else:
            per_endpoint[0] += 1
        if ttfb_ms is not None:
            ttfb = per_endpoint[2]
            ttfb.counts[bisect_left(_EDGES_MS, ttfb_ms)] += 1
            ttfb.sum += ttfb_ms
        if db_ms is not None:
            db_key = (endpoint, db_query or endpoint)
            db = self.db.get(db_key)
            if db is None:
                db = self.db[db_key] = _Buckets(len(_EDGES_MS))
            db.counts[bisect_left(_EDGES_MS, db_ms)] += 1
            db.sum += db_ms
        self.data_received += bytes_received
        self.data_sent += bytes_sent

    def record_batch(self, batch: RequestBatch) -> None:
        """A `RequestLog` batch: the same series as `observe_request` and `observe_check` of
        each of its rows, counted C-level per (endpoint, group)."""
        for requests in batch.requests:
            endpoint, group = requests.endpoint, requests.group
            entry = None
            for status, n in requests.by_status().items():
                entry = self._entries.get((endpoint, group, status)) or self._entry(endpoint, group, status)
                entry[0] += n
            per_group, per_endpoint = entry[1], entry[2]
            failures = requests.failures
            per_group[0] += failures
            per_endpoint[0] += requests.count - failures
            per_endpoint[1] += failures
            per_group[1].add_all(_EDGES_MS, requests.duration_ms)
            ttfb = not_none(requests.ttfb_ms)
            if ttfb:
                per_endpoint[2].add_all(_EDGES_MS, ttfb)
            if requests.db_ms.count(None) < requests.count:
                by_query: dict[str, list[float]] = {}
                for query, db_ms in zip(requests.db_queries, requests.db_ms, strict=True):
                    if db_ms is not None:
                        by_query.setdefault(query or endpoint, []).append(db_ms)
                for query, values in by_query.items():
                    db = self.db.get((endpoint, query))
                    if db is None:
                        db = self.db[(endpoint, query)] = _Buckets(len(_EDGES_MS))
                    db.add_all(_EDGES_MS, values)
            self.data_received += sum(requests.bytes_received)
            self.data_sent += sum(requests.bytes_sent)
        if batch.checks:
            for (endpoint, _group, passed), n in batch.check_counts().items():
                key = (endpoint, "pass" if passed else "fail")
                self.checks[key] = self.checks.get(key, 0) + n

    def _entry(self, endpoint: str, group: str, status: int) -> list:
        per_group = self.by_group.get((endpoint, group))
        if per_group is None:
            per_group = self.by_group[(endpoint, group)] = [0, _Buckets(len(_EDGES_MS))]
        per_endpoint = self.by_endpoint.get(endpoint)
        if per_endpoint is None:
            per_endpoint = self.by_endpoint[endpoint] = [0, 0, _Buckets(len(_EDGES_MS))]
        entry = self._entries[(endpoint, group, status)] = [0, per_group, per_endpoint]
        return entry

    @property
    def requests(self) -> dict[tuple[str, str, int], int]:
        """(endpoint, group, status) -> requests."""
        return {key: entry[0] for key, entry in list(self._entries.items())}

    def observe_check(self, endpoint: str, passed: bool) -> None:
        key = (endpoint, "pass" if passed else "fail")
        self.checks[key] = self.checks.get(key, 0) + 1

    def observe_auth_failure(self, endpoint: str) -> None:
        self.auth_failures[endpoint] = self.auth_failures.get(endpoint, 0) + 1

    def observe_web_vital(self, name: str, page: str, value: float) -> None:
        """`value` in ms for lcp/inp, unitless for cls."""
        if name != "cls" and name not in WEB_VITALS:
            raise ValueError(f"unknown web vital {name!r}; expected cls or one of {', '.join(WEB_VITALS)}")
        edges = CLS_BUCKETS if name == "cls" else _EDGES_MS
        buckets = self.web_vitals.get((name, page))
        if buckets is None:
            buckets = self.web_vitals[(name, page)] = _Buckets(len(edges))
        buckets.counts[bisect_left(edges, value)] += 1
        buckets.sum += value

    def set_users(self, users: int) -> None:
        self.vus = users

    def count_dropped_points(self, n: int) -> None:
        self.influx_dropped_total += n

    # --- scrape time: prometheus_client custom collector ----------------------------------
    def collect(self) -> Iterator[Metric]:
        if self.before_collect is not None:
            self.before_collect()
        reqs = CounterMetricFamily("http_reqs", "Requests sent", labels=["endpoint", "group", "status"])
        for (endpoint, group, status), n in self.requests.items():
            reqs.add_metric([endpoint, group, str(status)], n)
        yield reqs
        failed = CounterMetricFamily("http_req_failed", "Failed requests", labels=["endpoint", "group"])
        duration = HistogramMetricFamily(
            "http_req_duration_seconds", "Request duration", labels=["endpoint", "group"]
        )
        for (endpoint, group), (n_failed, buckets) in list(self.by_group.items()):
            failed.add_metric([endpoint, group], n_failed)
            _add_histogram(duration, [endpoint, group], buckets, SECONDS_BUCKETS, 1000.0)
        yield failed
        yield duration
        ok = CounterMetricFamily("successful_requests", "Successful requests", labels=["endpoint"])
        bad = CounterMetricFamily("failed_requests", "Failed requests", labels=["endpoint"])
        ttfb = HistogramMetricFamily("time_to_first_byte_seconds", "Time to first byte", labels=["endpoint"])
        for endpoint, (n_ok, n_bad, buckets) in list(self.by_endpoint.items()):
            ok.add_metric([endpoint], n_ok)
            bad.add_metric([endpoint], n_bad)
            _add_histogram(ttfb, [endpoint], buckets, SECONDS_BUCKETS, 1000.0)
        yield ok
        yield bad
        yield ttfb
        db = HistogramMetricFamily(
            "db_query_duration_seconds",
            "Database time reported by the target (X-Db-Query-Duration)",
            labels=["endpoint", "query"],
        )
        for (endpoint, query), buckets in list(self.db.items()):
            _add_histogram(db, [endpoint, query], buckets, SECONDS_BUCKETS, 1000.0)
        yield db
        checks = CounterMetricFamily("checks", "Checks on responses", labels=["endpoint", "result"])
        for (endpoint, result), n in list(self.checks.items()):
            checks.add_metric([endpoint, result], n)
        yield checks
        auth = CounterMetricFamily("auth_failures", "Failed logins", labels=["endpoint"])
        for endpoint, n in list(self.auth_failures.items()):
            auth.add_metric([endpoint], n)
        yield auth
        vitals = {
            name: HistogramMetricFamily(
                f"web_vitals_{name}_seconds", f"Web vital {name.upper()}", labels=["page"]
            )
            for name in WEB_VITALS
        }
        vitals["cls"] = HistogramMetricFamily("web_vitals_cls", "Cumulative layout shift", labels=["page"])
        for (name, page), buckets in list(self.web_vitals.items()):
            if name == "cls":
                _add_histogram(vitals[name], [page], buckets, CLS_BUCKETS, 1.0)
            else:
                _add_histogram(vitals[name], [page], buckets, SECONDS_BUCKETS, 1000.0)
        yield from vitals.values()
        yield CounterMetricFamily("data_received_bytes", "Bytes received", value=self.data_received)
        yield CounterMetricFamily("data_sent_bytes", "Bytes sent", value=self.data_sent)
        yield GaugeMetricFamily("vus", "Simulated users", value=self.vus)
        yield CounterMetricFamily(
            "influxdb_points_dropped",
            "Points the InfluxDB export queue dropped",
            value=self.influx_dropped_total,
        )

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0 = any free port); returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server.server_address[1]


def _add_histogram(
    family: HistogramMetricFamily, labels: list[str], buckets: _Buckets, edges: tuple, divisor: float
) -> None:
    family.add_metric(labels, buckets.family_buckets(edges), buckets.sum / divisor)
