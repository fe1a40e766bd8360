"""The results document: the committed example and the schema agree; bad documents are named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from loadtests.errors import ResultsError
from loadtests.results.document import (
    build_document,
    load_document,
    parse_document,
    rate_summary,
    trend_summary,
    validate_document,
    write_document,
)
from loadtests.results.histogram import TrendHistogram

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "results_example.json"


@pytest.fixture
def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def test_the_committed_example_is_valid(example):
    validate_document(example)
    assert example["schema_version"] == "1.0"


def test_errors_name_the_field(example):
    bad = copy.deepcopy(example)
    bad["metrics"]["http_req_duration"]["p95"] = "fast"
    del bad["run_id"]
    bad["status"] = "finished"
    with pytest.raises(ResultsError) as info:
        validate_document(bad)
    message = str(info.value)
    assert "metrics/http_req_duration" in message
    assert "'run_id' is a required property" in message
    assert "status" in message


def test_write_then_load_round_trips_and_refuses_invalid(example, tmp_path):
    path = write_document(example, tmp_path / "out" / "run.json")
    assert load_document(path) == example
    bad = dict(example, duration_s=-1)
    with pytest.raises(ResultsError):
        write_document(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ResultsError, match="not JSON"):
        load_document(tmp_path / "broken.json")
    with pytest.raises(ResultsError, match="does not exist"):
        load_document(tmp_path / "missing.json")


def test_parse_document_names_its_source_in_every_message(example):
    assert parse_document(json.dumps(example), "the master's log") == example
    with pytest.raises(ResultsError, match=r"^the master's log is not JSON \(line 1, column 2"):
        parse_document("{", "the master's log")
    with pytest.raises(ResultsError, match=r"^the master's log: metrics must be an object"):
        parse_document(json.dumps(dict(example, metrics=[])), "the master's log")
    with pytest.raises(ResultsError, match=r"^the master's log does not match schema 1\.0:\n  status"):
        parse_document(json.dumps(dict(example, status="finished")), "the master's log")


def test_summaries_and_document_assembly():
    hist = TrendHistogram()
    for v in range(1, 101):
        hist.record(float(v))
    trend = trend_summary(hist)
    assert trend["count"] == 100
    for key, exact in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100), ("min", 1)):
        assert trend[key] == pytest.approx(exact, rel=0.001), key
    assert trend["avg"] == 50.5
    assert rate_summary(0, 0)["rate"] == 0.0
    doc = build_document(
        run_id="r",
        stack="local",
        environment="local",
        target="http://127.0.0.1:1",
        profile={"name": "smoke", "max_users": 1, "time_scale": 1.0, "stages": []},
        started_at=1_800_000_000.0,
        ended_at=1_800_000_012.5,
        status="interrupted",
        abort_reason="interrupted by the operator (Ctrl-C)",
        summaries={"metrics": {"http_req_duration": trend}, "endpoints": {}, "groups": {}, "errors": []},
        timeline=[],
        workers=[],
    )
    validate_document(doc)
    assert doc["duration_s"] == 12.5
    assert doc["started_at"] == "2027-01-15T08:00:00.000000Z"
    with pytest.raises(ResultsError, match="status 'done'"):
        build_document(**{**_args(doc), "status": "done"})


def _args(doc: dict) -> dict:
    return {
        "run_id": doc["run_id"],
        "stack": doc["stack"],
        "environment": doc["environment"],
        "target": doc["target"],
        "profile": doc["profile"],
        "started_at": 0.0,
        "ended_at": 1.0,
        "status": doc["status"],
        "abort_reason": None,
        "summaries": {"metrics": {}, "endpoints": {}, "groups": {}, "errors": []},
        "timeline": [],
        "workers": [],
    }
