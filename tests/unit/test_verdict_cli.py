"""Unit tests for loadtests/cli/gate.py (`python -m loadtests gate`) and loadtests/exit_codes.py."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from loadtests import exit_codes
from loadtests.cli import gate as verdict_cli
from loadtests.results.archive import LocalDirectoryStore, RunArchive
from loadtests.results.document import build_document, validate_document


def trend(p95: float, count: int = 200) -> dict:
    return {
        "type": "trend",
        "unit": "ms",
        "count": count,
        "min": 1.0,
        "max": p95 * 2,
        "avg": p95 / 2,
        "p50": p95 / 3,
        "p90": p95 * 0.9,
        "p95": p95,
        "p99": p95 * 1.5,
    }


def results_doc(
    run_id: str = "r2",
    p95: float = 120.0,
    failed: int = 0,
    status: str = "completed",
    started: float = 1_800_000_000.0,
) -> dict:
    summaries = {
        "metrics": {
            "http_req_duration": trend(p95),
            "http_req_failed": {
                "type": "rate",
                "passes": failed,
                "fails": 200 - failed,
                "rate": failed / 200,
            },
            "http_reqs": {"type": "counter", "count": 200, "rate_per_s": 20.0},
        },
        "endpoints": {"GET /api/insight/issues": {"http_req_duration": trend(p95 * 2)}},
        "groups": {"insight": {"http_req_duration": trend(p95 * 2)}},
        "errors": [],
    }
    profile = {
        "name": "staged",
        "max_users": 20,
        "time_scale": 0.02,
        "stages": [{"duration_s": 10.0, "target": 20}],
    }
    doc = build_document(
        run_id=run_id,
        stack="local",
        environment="local",
        target="http://127.0.0.1:8080",
        profile=profile,
        started_at=started,
        ended_at=started + 10,
        status=status,
        abort_reason="stopped" if status != "completed" else None,
        summaries=summaries,
        timeline=[],
        workers=[],
    )
    validate_document(doc)
    return doc


def gate(tmp_path: Path, doc: dict, *extra: str) -> tuple[int, str]:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    parser = argparse.ArgumentParser()
    verdict_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["gate", str(path), "--store", str(tmp_path / "reports"), *extra])
    out = io.StringIO()
    code = args.handler(args, Console(file=out, width=200, force_terminal=False, color_system=None))
    return code, out.getvalue()


def test_exit_code_constants_are_distinct() -> None:
    assert (exit_codes.PASS, exit_codes.SLO_BREACHED, exit_codes.COULD_NOT_RUN) == (0, 99, 2)


@pytest.mark.parametrize(
    ("verdict", "status", "expected"),
    [
        ("pass", "completed", 0),
        ("warn", "completed", 0),
        ("fail", "completed", 99),
        ("no-data", "completed", 99),
        ("pass", "aborted", 99),
        ("pass", "failed", 2),
        ("pass", "interrupted", 2),
        (None, "completed", 2),
    ],
)
def test_exit_code_for(verdict: str | None, status: str, expected: int) -> None:
    doc = {"status": status, "metrics": {"http_reqs": {"count": 5}}}
    assert exit_codes.exit_code_for(verdict, doc) == expected


def test_nothing_measured_could_not_run() -> None:
    assert exit_codes.exit_code_for("no-data", {"status": "completed", "metrics": {}}) == 2


def test_gate_passes_and_prints_the_table(tmp_path: Path) -> None:
    code, out = gate(tmp_path, results_doc(), "--threshold", "http_req_duration: p(95)<500 warn 400")
    assert code == 0
    assert "http_req_duration" in out and "120.0 ms" in out and "< 500.0 ms (warn 400.0 ms)" in out
    assert "verdict: PASS" in out


def test_gate_breached_exits_99(tmp_path: Path) -> None:
    code, out = gate(tmp_path, results_doc(failed=20), "--threshold", "http_req_failed: rate<0.01")
    assert code == 99
    assert "10.00 %" in out and "FAIL" in out and "verdict: FAIL" in out


def test_gate_tag_filter_from_thresholds_file(tmp_path: Path) -> None:
    spec = tmp_path / "thresholds.txt"
    spec.write_text("# per endpoint\nhttp_req_duration{endpoint:GET /api/insight/issues}: p(95)<200\n")
    code, out = gate(tmp_path, results_doc(p95=120.0), "--thresholds-file", str(spec))
    assert code == 99
    assert "240.0 ms" in out


def test_gate_spec_error_exits_2_with_line_and_column(tmp_path: Path) -> None:
    spec = tmp_path / "thresholds.txt"
    spec.write_text("checks: rate>0.9\n\nhttp_req_duration: p(95)<<5\n")
    code, out = gate(tmp_path, results_doc(), "--thresholds-file", str(spec))
    assert code == 2
    assert f"{spec} line 3, column 26: expected a number" in out


def test_gate_missing_results_exits_2(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    verdict_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["gate", str(tmp_path / "absent.json")])
    out = io.StringIO()
    assert args.handler(args, Console(file=out, width=200)) == 2
    assert "does not exist" in out.getvalue()


def test_gate_failed_run_exits_2(tmp_path: Path) -> None:
    code, out = gate(tmp_path, results_doc(status="failed"), "--threshold", "http_req_duration: p(95)<500")
    assert code == 2
    assert "run status: failed" in out


def test_gate_reads_stack_file_thresholds(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.local.yaml"
    stack.write_text("config:\n  odavl-perf:sloThresholds:\n    - 'http_req_duration: p(95)<100'\n")
    code, _ = gate(tmp_path, results_doc(p95=120.0), "--stack-file", str(stack))
    assert code == 99


def test_gate_write_save_and_previous_baseline(tmp_path: Path) -> None:
    line = "http_req_duration: p(95) <= baseline + 10%"
    first, _ = gate(tmp_path, results_doc("r1", p95=100.0), "--threshold", line, "--write", "--save")
    assert first == 0  # no baseline yet: reported, not failed
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["verdict"] == "pass"
    assert written["thresholds"][0]["state"] == "no-baseline"
    stored = RunArchive(LocalDirectoryStore(tmp_path / "reports")).load("local", "r1")
    assert stored["verdict"] == "pass"
    second, out = gate(tmp_path, results_doc("r2", p95=130.0, started=1_800_000_100.0), "--threshold", line)
    assert second == 99
    assert "100.0 ms (+30.0 %)" in out and "(baseline r1)" in out
    # the thresholds recorded in r2's file are used when none are given
    third, _ = gate(tmp_path, written, "--baseline", "none")
    assert third == 0


def test_json_output_carries_exit_code(tmp_path: Path) -> None:
    code, out = gate(tmp_path, results_doc(), "--threshold", "http_req_duration: p(95)<500", "--json")
    payload = json.loads(out[out.index("{") :])
    assert payload["exit_code"] == code == 0
    assert payload["thresholds"][0]["value"] == 120.0


def test_states_are_printed_in_colour(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results_doc(failed=20)))
    parser = argparse.ArgumentParser()
    verdict_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    lines = ["http_req_failed: rate<0.01", "http_req_duration: p(95)<500 warn 100", "checks: rate>0.9"]
    args = parser.parse_args(
        ["gate", str(path), "--store", str(tmp_path), *(f"--threshold={x}" for x in lines)]
    )
    out = io.StringIO()
    assert (
        args.handler(args, Console(file=out, width=200, force_terminal=True, color_system="standard")) == 99
    )
    text = out.getvalue()
    assert "\x1b[1;31mFAIL" in text  # bold red
    assert "\x1b[1;33mWARN" in text  # bold yellow
    assert "\x1b[1;35mNO-DATA" in text  # bold magenta
