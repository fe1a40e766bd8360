"""The request log: recording in batches gives exactly what recording each request gave."""

from __future__ import annotations

import random

import pytest

from loadtests.suite.collector import MetricsCollector
from loadtests.suite.export_influx import InfluxLineSink
from loadtests.suite.export_prometheus import PrometheusExporter
from loadtests.suite.request_log import RequestLog

T0_NS = 1_700_000_003_000_000_000  # 2 s before a 5-second bucket ends


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.lines.extend(lines)


def random_rows(n: int, seed: int) -> tuple[list[tuple], list[tuple]]:
    """Requests over three endpoints and two groups, across a bucket boundary, with failures,
    missing TTFB and DB figures, two DB query names, and checks among them."""
    rng = random.Random(seed)
    rows, checks = [], []
    t = T0_NS
    for _ in range(n):
        t += rng.randrange(0, 3_000_000)  # equal timestamps happen too
        endpoint = rng.choice(["GET /api/a", "GET /api/b", "POST /login"])
        group = rng.choice(["g1", "g2"])
        failed = rng.random() < 0.1
        status = 500 if failed else rng.choice([200, 200, 201])
        ttfb = None if rng.random() < 0.2 else rng.uniform(0.1, 400.0)
        db = None if rng.random() < 0.5 else rng.uniform(0.01, 120.0)
        query = None if db is None else rng.choice(["Q1", "Q2", None])
        intended = None if rng.random() < 0.5 else rng.uniform(1.0, 3000.0)
        duration = rng.choice([rng.uniform(0.05, 2500.0), 200.0, 500.0])  # values on bucket edges too
        received = rng.randrange(2000)
        rows.append((endpoint, group, status, duration, failed, ttfb, db, query, received, 90, t, intended))
        if rng.random() < 0.7:
            checks.append((endpoint, group, not failed, t))
    return rows, checks


def one_by_one(rows, checks):
    collector, prometheus = MetricsCollector(), PrometheusExporter()
    for endpoint, group, status, duration, failed, ttfb, db, query, received, sent, t, intended in rows:
        now = t / 1e9
        collector.record_request(endpoint, group, duration, failed, now, ttfb, db, received, sent, intended)
        prometheus.observe_request(endpoint, group, status, duration, failed, ttfb, db, query, received, sent)
    for endpoint, group, passed, t in checks:
        collector.record_check(endpoint, group, passed, now=t / 1e9)
        prometheus.observe_check(endpoint, passed)
    return collector, prometheus


def in_batches(rows, checks, size: int):
    collector, prometheus = MetricsCollector(), PrometheusExporter()
    log = RequestLog(limit=size)
    pending_checks = list(checks)
    for row in rows:
        log.rows.append(row)
        while pending_checks and pending_checks[0][3] <= row[10]:
            log.checks.append(pending_checks.pop(0))
        if log.full:
            batch = log.take()
            collector.record_batch(batch)
            prometheus.record_batch(batch)
    log.checks.extend(pending_checks)
    batch = log.take()
    collector.record_batch(batch)
    prometheus.record_batch(batch)
    return collector, prometheus


def scraped(prometheus: PrometheusExporter) -> dict:
    samples = (sample for family in prometheus.collect() for sample in family.samples)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}


@pytest.mark.parametrize("size", [1, 7, 500, 10_000])
def test_batches_give_the_collector_and_prometheus_exactly_the_one_by_one_figures(size):
    rows, checks = random_rows(3000, seed=size)
    expected_collector, expected_prometheus = one_by_one(rows, checks)
    collector, prometheus = in_batches(rows, checks, size)
    assert collector.summaries(60.0) == expected_collector.summaries(60.0)
    assert sorted(collector.timeline) == sorted(expected_collector.timeline)
    assert len(collector.timeline) >= 2  # the rows cross a bucket's end
    for index, bucket in expected_collector.timeline.items():
        assert collector.timeline[index].requests == bucket.requests
        assert collector.timeline[index].duration.percentile(95) == bucket.duration.percentile(95)
    got, want = scraped(prometheus), scraped(expected_prometheus)
    assert got.keys() == want.keys()
    for key, value in want.items():
        # Counts are exact; a sum over several groups adds in another order (within 1e-12).
        assert got[key] == (pytest.approx(value, rel=1e-12) if key[0].endswith("_sum") else value), key


def test_a_batch_formats_the_same_influx_lines_with_timestamps_unique_per_series():
    rows, _checks = random_rows(2000, seed=3)
    expected = InfluxLineSink(Lines(), run_id="r", worker="w1", queue_size=10_000)
    for endpoint, group, status, duration, failed, ttfb, db, query, received, sent, _t, _i in rows:
        expected.observe_request(endpoint, group, status, duration, failed, ttfb, db, query, received, sent)
    sink = InfluxLineSink(Lines(), run_id="r", worker="w1", queue_size=10_000)
    log = RequestLog()
    log.rows.extend(rows)
    sink.record_batch(log.take())
    assert len(sink.queue) == len(rows)
    batch_lines = [sink.format(p) for p in sink.queue]
    one_lines = [expected.format(p) for p in expected.queue]

    def without_time(lines):
        return sorted(line.rsplit(" ", 1)[0] for line in lines)

    assert without_time(batch_lines) == without_time(one_lines)
    series = [(line.split(" ", 1)[0], int(line.rsplit(" ", 1)[1])) for line in batch_lines]
    assert len(set(series)) == len(series)  # no point overwrites another
    stamps = sorted(int(line.rsplit(" ", 1)[1]) for line in batch_lines)
    assert stamps[0] >= rows[0][10]  # the rows' own end times, made unique where equal


def test_a_full_queue_drops_and_counts_what_does_not_fit():
    rows, _checks = random_rows(300, seed=5)
    dropped = []
    sink = InfluxLineSink(Lines(), run_id="r", worker="w1", queue_size=100, on_drop=dropped.append)
    log = RequestLog()
    log.rows.extend(rows)
    sink.record_batch(log.take())
    assert len(sink.queue) == 100
    assert sink.dropped == sum(dropped) == 200


def test_checks_reach_the_influx_counters():
    _rows, checks = random_rows(500, seed=8)
    sink = InfluxLineSink(Lines(), run_id="r", worker="w1", queue_size=10_000)
    log = RequestLog()
    log.checks.extend(checks)
    sink.record_batch(log.take())
    sink.flush_all()
    points = [line for line in sink.writer.lines if line.startswith("checks,")]
    passed = sum(int(p.split("passed=")[1].split("i")[0]) for p in points)
    failed = sum(int(p.split("failed=")[1].split("i")[0]) for p in points)
    assert (passed, failed) == (sum(c[2] for c in checks), sum(not c[2] for c in checks))


def test_the_log_says_when_it_is_full_and_refuses_a_limit_below_one():
    log = RequestLog(limit=2)
    assert not log.full
    log.rows.append(("GET /", "g", 200, 1.0, False, None, None, None, 0, 0, T0_NS, None))
    log.checks.append(("GET /", "g", True, T0_NS))
    assert log.full
    batch = log.take()
    assert batch and not log.rows and not log.checks
    assert not log.take()
    with pytest.raises(ValueError, match="at least 1, got 0"):
        RequestLog(limit=0)
