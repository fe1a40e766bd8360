"""The suite's custom metrics, per endpoint and user group, in mergeable form.

Every process (worker or master) holds one `MetricsCollector`. Workers record samples and, at
each Locust report, hand `take_delta()` to the master, which `merge_delta()`s it: the master
then holds the exact union of all workers' samples (histograms merged by bucket counts).
Summaries in the results-document form (see loadtests/results/document.py) are computed from the merged
data only, so one verdict covers the whole fleet.

Metric names follow k6 (the specification's script):
  trends   http_req_duration, api_response_time (= http_req_duration of /api/ endpoints),
           http_req_latency_intended (arrival-rate runs: from the iteration's intended start),
           db_query_duration (the target's X-Db-Query-Duration header), time_to_first_byte,
           web_vitals_lcp/inp (ms), web_vitals_cls (unitless)
  rates    http_req_failed and error_rate (share of failed requests), checks (share passed)
  counters http_reqs, successful_requests, failed_requests, auth_failures, data_received,
           data_sent (bytes)
  gauge    vus
Units: milliseconds for trends (CLS unitless), bytes for data counters, ratios 0.0-1.0.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import floordiv

from loadtests.results.distributions import histograms_section
from loadtests.results.document import counter_summary, gauge_summary, rate_summary, trend_summary
from loadtests.results.histogram import TrendHistogram
from loadtests.suite.request_log import EndpointRequests, RequestBatch, not_none

__all__ = [
    "TIMELINE_BUCKET_S",
    "TREND_METRICS",
    "MetricsCollector",
    "TimelineBucket",
]

TREND_METRICS = (
    "http_req_duration",
    "api_response_time",
    "db_query_duration",
    "time_to_first_byte",
    "web_vitals_lcp",
    "web_vitals_cls",
    "web_vitals_inp",
)
UNITLESS_TRENDS = frozenset({"web_vitals_cls"})
CLS_SCALE = 10_000
TIMELINE_BUCKET_S = 5
_BUCKET_NS = TIMELINE_BUCKET_S * 1_000_000_000
# Distinct error messages kept per endpoint; further ones are counted under OTHER_ERRORS.
MAX_ERRORS_PER_ENDPOINT = 50
OTHER_ERRORS = "(other errors)"


def _new_trend(metric: str) -> TrendHistogram:
    if metric in UNITLESS_TRENDS:
        return TrendHistogram(scale=CLS_SCALE, highest=100.0)
    return TrendHistogram()


@dataclass
class RequestSlot:
    """Request statistics of one (endpoint, group) pair."""

    duration: TrendHistogram = field(default_factory=TrendHistogram)
    ttfb: TrendHistogram = field(default_factory=TrendHistogram)
    db: TrendHistogram = field(default_factory=TrendHistogram)
    # Arrival-rate runs: latency from the iteration's intended start (loadtests/suite/arrival.py).
    intended: TrendHistogram = field(default_factory=TrendHistogram)
    requests: int = 0
    failures: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    auth_failures: int = 0

    def encode(self) -> dict:
        return {
            "duration": self.duration.encode(),
            "ttfb": self.ttfb.encode(),
            "db": self.db.encode(),
            "intended": self.intended.encode(),
            "counts": self.counts(),
        }

    def merge(self, other: RequestSlot) -> None:
        self.duration.merge(other.duration)
        self.ttfb.merge(other.ttfb)
        self.db.merge(other.db)
        self.intended.merge(other.intended)
        self._add_counts(other.counts())

    def counts(self) -> list[int]:
        return [
            self.requests,
            self.failures,
            self.bytes_received,
            self.bytes_sent,
            self.checks_passed,
            self.checks_failed,
            self.auth_failures,
        ]

    @classmethod
    def decode(cls, payload: dict) -> RequestSlot:
        slot = cls(
            duration=TrendHistogram.decode(payload["duration"]),
            ttfb=TrendHistogram.decode(payload["ttfb"]),
            db=TrendHistogram.decode(payload["db"]),
        )
        if "intended" in payload:  # absent from closed-model deltas of older workers
            slot.intended.merge_encoded(payload["intended"])
        slot._add_counts(payload["counts"])
        return slot

    def _add_counts(self, c: list[int]) -> None:
        self.requests += c[0]
        self.failures += c[1]
        self.bytes_received += c[2]
        self.bytes_sent += c[3]
        self.checks_passed += c[4]
        self.checks_failed += c[5]
        self.auth_failures += c[6]


@dataclass
class TimelineBucket:
    """Requests that ended within one 5-second wall-clock bucket (all endpoints and groups)."""

    duration: TrendHistogram = field(default_factory=TrendHistogram)
    db: TrendHistogram = field(default_factory=TrendHistogram)
    requests: int = 0
    failures: int = 0

    def add_slot(self, slot: RequestSlot) -> None:
        self.duration.merge(slot.duration)
        self.db.merge(slot.db)
        self.requests += slot.requests
        self.failures += slot.failures


class MetricsCollector:
    """Per-process store of every metric.

    Recording goes to `pending`, keyed by (endpoint, group, 5-second bucket), so each sample
    is recorded once and still yields both the per-endpoint statistics and the timeline.
    `take_delta()` ships and clears `pending` (workers); `merge_delta()` folds a delta into the
    cumulative `slots` per (endpoint, group) and the `timeline` buckets (master). A collector
    used on its own folds its own pending samples before summarising.
    """

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str, int], RequestSlot] = {}
        self.slots: dict[tuple[str, str], RequestSlot] = {}
        self.timeline: dict[int, TimelineBucket] = {}
        self.extra_trends: dict[tuple[str, str, str], TrendHistogram] = {}
        self.errors: dict[str, dict[str, int]] = {}
        # Called before anything reads the figures: the suite records its request log there
        # (loadtests/suite/request_log.py), so no reader misses a request.
        self.before_read: Callable[[], None] | None = None

    # --- recording (workers) -------------------------------------------------------------
    def _pending(self, endpoint: str, group: str, now: float) -> RequestSlot:
        key = (endpoint, group, int(now) // TIMELINE_BUCKET_S)
        slot = self.pending.get(key)
        if slot is None:
            slot = self.pending[key] = RequestSlot()
        return slot

    def record_request(
        self,
        endpoint: str,
        group: str,
        duration_ms: float,
        failed: bool,
        now: float,
        ttfb_ms: float | None = None,
        db_ms: float | None = None,
        bytes_received: int = 0,
        bytes_sent: int = 0,
        intended_ms: float | None = None,
    ) -> None:
        """Record one finished request; `now` is the wall-clock end time (epoch seconds);
        `intended_ms` its latency from its iteration's intended start (arrival-rate runs)."""
        slot = self._pending(endpoint, group, now)
        slot.duration.record(duration_ms)
        slot.requests += 1
        if failed:
            slot.failures += 1
        if ttfb_ms is not None:
            slot.ttfb.record(ttfb_ms)
        if db_ms is not None:
            slot.db.record(db_ms)
        if intended_ms is not None:
            slot.intended.record(intended_ms)
        slot.bytes_received += bytes_received
        slot.bytes_sent += bytes_sent

    def record_batch(self, batch: RequestBatch) -> None:
        """Record a `RequestLog` batch: the same figures as `record_request` and `record_check`
        of each of its rows, in recording order, counted C-level per (endpoint, group)."""
        for requests in batch.requests:
            buckets = list(map(floordiv, requests.ended_ns, repeat(_BUCKET_NS)))
            first, last = min(buckets), max(buckets)
            if first == last:
                self._record_columns(self._slot(requests.endpoint, requests.group, first), requests)
                continue
            for bucket in sorted(set(buckets)):  # the batch straddles a bucket's end
                part = requests.select([b == bucket for b in buckets])
                self._record_columns(self._slot(requests.endpoint, requests.group, bucket), part)
        if batch.checks:
            counts = Counter((e, g, at_ns // _BUCKET_NS, passed) for e, g, passed, at_ns in batch.checks)
            for (endpoint, group, bucket, passed), n in counts.items():
                slot = self._slot(endpoint, group, bucket)
                if passed:
                    slot.checks_passed += n
                else:
                    slot.checks_failed += n

    def _slot(self, endpoint: str, group: str, bucket: int) -> RequestSlot:
        key = (endpoint, group, bucket)
        slot = self.pending.get(key)
        if slot is None:
            slot = self.pending[key] = RequestSlot()
        return slot

    @staticmethod
    def _record_columns(slot: RequestSlot, requests: EndpointRequests) -> None:
        slot.duration.record_many(requests.duration_ms)
        slot.requests += requests.count
        slot.failures += sum(requests.failed)
        for hist, column in (
            (slot.ttfb, requests.ttfb_ms),
            (slot.db, requests.db_ms),
            (slot.intended, requests.intended_ms),
        ):
            values = not_none(column)
            if values:
                hist.record_many(values)
        slot.bytes_received += sum(requests.bytes_received)
        slot.bytes_sent += sum(requests.bytes_sent)

    def record_check(self, endpoint: str, group: str, passed: bool, now: float | None = None) -> None:
        slot = self._pending(endpoint, group, time.time() if now is None else now)
        if passed:
            slot.checks_passed += 1
        else:
            slot.checks_failed += 1

    def record_auth_failure(self, endpoint: str, group: str, now: float | None = None) -> None:
        self._pending(endpoint, group, time.time() if now is None else now).auth_failures += 1

    def record_trend(self, metric: str, endpoint: str, group: str, value: float) -> None:
        """Record a sample of a trend outside the request path (e.g. a web vital)."""
        if metric not in TREND_METRICS:
            raise ValueError(f"unknown trend metric {metric!r}; expected one of {', '.join(TREND_METRICS)}")
        key = (metric, endpoint, group)
        hist = self.extra_trends.get(key)
        if hist is None:
            hist = self.extra_trends[key] = _new_trend(metric)
        hist.record(value)

    def record_error(self, endpoint: str, error: str, count: int = 1) -> None:
        per_endpoint = self.errors.setdefault(endpoint, {})
        if error not in per_endpoint and len(per_endpoint) >= MAX_ERRORS_PER_ENDPOINT:
            error = OTHER_ERRORS
        per_endpoint[error] = per_endpoint.get(error, 0) + count

    # --- shipping (worker -> master) -----------------------------------------------------
    def take_delta(self) -> dict:
        """Everything recorded since the last call, encoded; the collector's pending part is
        left empty (trends and errors are shipped as deltas too)."""
        if self.before_read is not None:
            self.before_read()
        delta = {
            "slots": [[e, g, i, s.encode()] for (e, g, i), s in self.pending.items()],
            "trends": [[m, e, g, h.encode()] for (m, e, g), h in self.extra_trends.items()],
            "errors": self.errors,
        }
        self.pending = {}
        self.extra_trends = {}
        self.errors = {}
        return delta

    def merge_delta(self, delta: dict) -> None:
        """Add a worker's delta (from `take_delta`) into the cumulative view."""
        for endpoint, group, index, payload in delta["slots"]:
            self._fold_slot(endpoint, group, index, RequestSlot.decode(payload))
        for metric, endpoint, group, payload in delta["trends"]:
            key = (metric, endpoint, group)
            hist = self.extra_trends.get(key)
            if hist is None:
                hist = self.extra_trends[key] = _new_trend(metric)
            hist.merge_encoded(payload)
        for endpoint, errors in delta["errors"].items():
            for error, count in errors.items():
                self.record_error(endpoint, error, count)

    def fold_pending(self) -> None:
        """Move this process's own pending samples into the cumulative view."""
        if self.before_read is not None:
            self.before_read()
        pending, self.pending = self.pending, {}
        for (endpoint, group, index), slot in pending.items():
            self._fold_slot(endpoint, group, index, slot)

    def _fold_slot(self, endpoint: str, group: str, index: int, slot: RequestSlot) -> None:
        key = (endpoint, group)
        total = self.slots.get(key)
        if total is None:
            total = self.slots[key] = RequestSlot()
        total.merge(slot)
        bucket = self.timeline.get(index)
        if bucket is None:
            bucket = self.timeline[index] = TimelineBucket()
        bucket.add_slot(slot)

    # --- totals and summaries (master) ---------------------------------------------------
    def totals(self) -> tuple[int, int]:
        """(requests, failed requests) over every endpoint and group."""
        self.fold_pending()
        requests = sum(s.requests for s in self.slots.values())
        failures = sum(s.failures for s in self.slots.values())
        return requests, failures

    def summaries(self, duration_s: float, vus: tuple[int, int] | None = None) -> dict:
        """The results document's `metrics`, `endpoints`, `groups`, `errors` and `histograms` sections."""
        self.fold_pending()
        endpoints = sorted({e for e, _ in self.slots} | {e for _, e, _ in self.extra_trends})
        groups = sorted({g for _, g in self.slots} | {g for _, _, g in self.extra_trends})
        overall = self._metric_map(lambda e, g: True, duration_s)
        if vus is not None:
            overall["vus"] = gauge_summary(vus[0], vus[1])
        return {
            "metrics": overall,
            "endpoints": {ep: self._metric_map(lambda e, g, ep=ep: e == ep, duration_s) for ep in endpoints},
            "groups": {gr: self._metric_map(lambda e, g, gr=gr: g == gr, duration_s) for gr in groups},
            "errors": [
                {"endpoint": ep, "error": err, "count": n}
                for ep, errs in sorted(self.errors.items())
                for err, n in sorted(errs.items(), key=lambda item: -item[1])
            ],
            "histograms": self._histograms(),
        }

    def _histograms(self) -> dict:
        """The results document's `histograms` section (loadtests/results/distributions.py):
        the merged http_req_duration histograms, overall and per endpoint."""
        per_endpoint: dict[str, TrendHistogram] = {}
        for (endpoint, _group), slot in self.slots.items():
            per_endpoint.setdefault(endpoint, TrendHistogram()).merge(slot.duration)
        overall = _merged(per_endpoint.values())
        return histograms_section(
            {"http_req_duration": overall},
            {endpoint: {"http_req_duration": hist} for endpoint, hist in per_endpoint.items()},
        )

    def _metric_map(self, selected, duration_s: float) -> dict:
        slots = [(e, s) for (e, g), s in self.slots.items() if selected(e, g)]
        out: dict[str, dict] = {}
        if slots:
            duration = _merged(s.duration for _, s in slots)
            api = _merged(s.duration for e, s in slots if is_api_endpoint(e))
            requests = sum(s.requests for _, s in slots)
            failures = sum(s.failures for _, s in slots)
            out["http_req_duration"] = trend_summary(duration)
            if api.count:
                out["api_response_time"] = trend_summary(api)
            intended = _merged(s.intended for _, s in slots)
            if intended.count:
                out["http_req_latency_intended"] = trend_summary(intended)
            db = _merged(s.db for _, s in slots)
            if db.count:
                out["db_query_duration"] = trend_summary(db)
            ttfb = _merged(s.ttfb for _, s in slots)
            if ttfb.count:
                out["time_to_first_byte"] = trend_summary(ttfb)
            out["http_req_failed"] = rate_summary(failures, requests - failures)
            out["error_rate"] = rate_summary(failures, requests - failures)
            passed = sum(s.checks_passed for _, s in slots)
            failed = sum(s.checks_failed for _, s in slots)
            if passed + failed:
                out["checks"] = rate_summary(passed, failed)
            out["http_reqs"] = counter_summary(requests, duration_s)
            out["successful_requests"] = counter_summary(requests - failures, duration_s)
            out["failed_requests"] = counter_summary(failures, duration_s)
            out["auth_failures"] = counter_summary(sum(s.auth_failures for _, s in slots), duration_s)
            out["data_received"] = counter_summary(sum(s.bytes_received for _, s in slots), duration_s)
            out["data_sent"] = counter_summary(sum(s.bytes_sent for _, s in slots), duration_s)
        by_metric: dict[str, list[TrendHistogram]] = {}
        for (metric, e, g), hist in self.extra_trends.items():
            if selected(e, g):
                by_metric.setdefault(metric, []).append(hist)
        for metric, hists in sorted(by_metric.items()):
            merged = _merged(hists, metric)
            out[metric] = trend_summary(merged, unit="" if metric in UNITLESS_TRENDS else "ms")
        return out


def is_api_endpoint(endpoint: str) -> bool:
    """Endpoint names are "METHOD /path"; API endpoints live under /api/."""
    return " /api/" in endpoint


def _merged(hists: Iterable[TrendHistogram], metric: str = "http_req_duration") -> TrendHistogram:
    out = _new_trend(metric)
    for hist in hists:
        out.merge(hist)
    return out
