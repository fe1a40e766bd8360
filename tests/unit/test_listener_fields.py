"""The request listener's fast path for FastHttpUser responses reads the same fields as its
general path (the one browser users and other senders take)."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest
from geventhttpclient.response import HTTPResponse
from locust.contrib.fasthttp import ErrorResponse, FastResponse

from loadtests.run.config import SuiteConfig
from loadtests.suite.gc_tuning import RunCollectorTuning
from loadtests.suite.listeners import SuiteState, _fast_response_fields

HEAD = "GET /api/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def fast_response(raw: bytes, elapsed: float | None = 0.0123, payload: bytes | None = None) -> FastResponse:
    parsed = HTTPResponse()
    parsed.feed(raw)
    request = SimpleNamespace(payload=payload) if payload is not None else None
    response = FastResponse(parsed, request, HEAD)
    response._elapsed = elapsed
    return response


def general_form(response: FastResponse) -> SimpleNamespace:
    """The same response as a sender that is not a FastHttpUser would report it."""
    return SimpleNamespace(
        status_code=response.status_code,
        headers=response.headers,
        _elapsed=response._elapsed,
        _sent_request=response._sent_request,
        _request=response._request,
    )


def logged_row(response) -> tuple:
    state = SuiteState(SuiteConfig(target="http://127.0.0.1:8080"))
    state.on_request("GET", "GET /api/a", 12.5, 2, response=response, context={"group": "g"})
    (row,) = state.log.rows
    return row[:10] + row[11:]  # without the timestamp


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
RESPONSES = {
    "db timing": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    b"X-Db-Query-Duration: 2.5\r\nX-Db-Query-Name: q1\r\n\r\nok",
    "repeated name": b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nx-db-query-duration: 0.75\r\n"
    b"X-Db-Query-Name: q1\r\nX-Db-Query-Name: q2\r\n\r\nok",
    "empty duration": OK_HEAD + b"X-Db-Query-Duration: \r\nX-Db-Query-Name: q\r\n\r\n",
    "not a number": OK_HEAD + b"X-Db-Query-Duration: n/a\r\nX-Db-Query-Name: q\r\n\r\n",
    "no db headers": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("raw", RESPONSES.values(), ids=RESPONSES.keys())
def test_fast_path_logs_what_the_general_path_logs(raw: bytes) -> None:
    response = fast_response(raw, payload=b'{"a": 1}')
    assert _fast_response_fields(response) is not None  # the fast path is taken
    assert logged_row(response) == logged_row(general_form(response))


def test_fields_of_a_response_with_db_timing() -> None:
    row = logged_row(fast_response(RESPONSES["repeated name"], payload=b"12345"))
    endpoint, group, status, duration, failed, ttfb, db_ms, db_query, received, sent, intended = row
    assert (endpoint, group, status, duration, failed) == ("GET /api/a", "g", 201, 12.5, False)
    assert ttfb == pytest.approx(12.3)
    assert (db_ms, db_query) == (0.75, "q2")  # a repeated header: its last value
    assert (received, sent, intended) == (2, len(HEAD) + 5, None)


def test_an_error_response_takes_the_general_path() -> None:
    error = ErrorResponse(SimpleNamespace(payload=None), ConnectionRefusedError("refused"))
    assert _fast_response_fields(error) is None
    row = logged_row(error)
    assert row[2] == 0 and row[5] is None and row[6] is None  # no status, TTFB or DB time


def test_collector_tuning_freezes_raises_gen0_and_restores() -> None:
    before = gc.get_threshold()
    tuning = RunCollectorTuning(gen0_threshold=12_345)
    tuning.start()
    try:
        assert tuning.active
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0
        tuning.start()  # a second start (a second test_start) changes nothing
        assert gc.get_threshold()[0] == 12_345
    finally:
        tuning.stop()
    assert not tuning.active
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    tuning.stop()  # idempotent
    assert gc.get_threshold() == before
