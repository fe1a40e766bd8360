"""InfluxDB export: line protocol, a bounded queue that drops (and counts) instead of blocking."""

from __future__ import annotations

import pytest

from loadtests.suite.export_influx import InfluxLineSink, escape_tag
from tests.support.fakes import MemoryLineWriter


def sink(writer: MemoryLineWriter, **kwargs) -> InfluxLineSink:
    return InfluxLineSink(writer, run_id="run 1", worker="worker-1", **kwargs)


def test_request_points_in_line_protocol():
    writer = MemoryLineWriter()
    s = sink(writer)
    s.observe_request("GET /api/x", "insight", 200, 12.5, False, 3.25, 1.5, "Q", 900, 120)
    s.observe_request("POST /api/auth/login", "authentication", 500, 7.0, True, None, None, None, 10, 5)
    s.observe_check("GET /api/x", "insight", True)
    s.observe_auth_failure("POST /api/auth/login", "authentication")
    s.observe_check("GET /api/x", "insight", False)
    s.observe_check("GET /api/x", "insight", True)
    s.observe_auth_failure("POST /api/auth/login", "authentication")
    s.observe_users(42)
    s.queue_counters()
    assert s.flush_once() == 5
    first, second, vus, check, auth = writer.lines
    assert first.startswith(
        r"http_reqs,endpoint=GET\ /api/x,group=insight,status=200,run_id=run\ 1,worker=worker-1 "
        "duration_ms=12.500,failed=0i,ttfb_ms=3.250,db_ms=1.500,bytes_received=900i,bytes_sent=120i "
    )
    assert "failed=1i" in second and "ttfb_ms" not in second and "db_ms" not in second
    assert (
        check.startswith(r"checks,endpoint=GET\ /api/x,group=insight,") and " passed=2i,failed=1i " in check
    )
    assert auth.startswith("auth_failures,") and " count=2i " in auth
    s.queue_counters()  # counts restart after each interval
    assert not s.queue
    assert vus.startswith(r"vus,run_id=run\ 1,worker=worker-1 value=42i ")
    stamps = [int(line.rsplit(" ", 1)[1]) for line in writer.lines]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # unique: no overwrites


def test_full_queue_drops_and_counts_without_blocking():
    dropped: list[int] = []
    s = sink(MemoryLineWriter(), queue_size=3, on_drop=dropped.append)
    for _ in range(5):
        s.observe_users(1)
    assert len(s.queue) == 3
    assert s.dropped == 2 and sum(dropped) == 2


def test_failed_writes_count_their_points_as_dropped():
    s = sink(MemoryLineWriter(fail=True), batch_size=2)
    for _ in range(3):
        s.observe_users(1)
    assert s.flush_once() == 0
    assert s.dropped == 2
    s.flush_all(deadline_s=1.0)
    assert s.dropped == 3 and not s.queue


def test_batches_are_bounded_and_flush_all_empties_the_queue():
    writer = MemoryLineWriter()
    s = sink(writer, batch_size=4)
    for i in range(10):
        s.observe_users(i)
    assert s.flush_once() == 4
    s.flush_all()
    assert len(writer.lines) == 10 and s.written == 10 and s.dropped == 0


@pytest.mark.parametrize(
    ("raw", "escaped"), [("a b", r"a\ b"), ("a,b", r"a\,b"), ("a=b", r"a\=b"), ("", "-"), ("a\\b", "a\\\\b")]
)
def test_tag_escaping(raw, escaped):
    assert escape_tag(raw) == escaped
