"""Generator health on real runs: a deliberately saturated worker gets no verdict, a light run does.

One worker against bench/locust_target_server.py's /fast endpoint, about 8 s of profile each:
- saturated: tests/integration/cpu_bound_scenario.py, users that burn 50 ms of CPU without
  yielding before each request and never wait, so the worker runs at a full core and its event
  loop falls far behind;
- light: bench/locust_probe.py with up to a second of think time between requests.
The results say which generator was saturated and why, and the gate (in-process and
`python -m loadtests gate`) withholds the verdict of the first run only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import exit_codes
from loadtests.__main__ import main as loadtests_main
from loadtests.results.document import load_document
from loadtests.run.config import RunConfig
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from loadtests.slo import evaluate as slo

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
# Lenient bounds a healthy run on this target meets: only the generators decide these verdicts.
THRESHOLDS = ("http_req_duration: p(95)<5000", "http_req_failed: rate<0.5")


def short_run(target, tmp_path: Path, **extra) -> dict:
    doc = run_local(
        RunConfig(
            target=target.url,
            stages=(Stage(1, 4), Stage(6, 4), Stage(1, 0)),
            workers=1,
            results_path=str(tmp_path / "results.json"),
            stop_timeout_s=1.0,
            run_timeout_s=120,
            log_dir=str(tmp_path / "logs"),
            **extra,
        )
    )
    assert doc["status"] == "completed", doc["abort_reason"]
    assert doc["metrics"]["http_reqs"]["count"] > 20
    return doc


def gate_command(results: Path) -> int:
    args = ["gate", str(results), "--baseline", "none", "--color", "never"]
    return loadtests_main([*args, *(a for line in THRESHOLDS for a in ("--threshold", line))])


def test_a_cpu_bound_worker_is_marked_saturated_and_gets_no_verdict(locust_target, tmp_path, capsys):
    doc = short_run(
        locust_target, tmp_path, scenario=str(REPO_ROOT / "tests/integration/cpu_bound_scenario.py")
    )
    generators = doc["generators"]
    [worker] = generators["workers"]
    with capsys.disabled():
        print(f"\nsaturated run: {worker}")  # the figures, for the record (pytest -s)
    assert generators["saturated"] is True and worker["saturated"] is True
    assert worker["id"] == "worker-1" and worker["role"] == "worker"
    # Both criteria trip: a full core most of the run (on a CPU, or waiting for one while other
    # jobs share the host), and the loop hundreds of ms behind.
    assert worker["cpu_busy_fraction"] > 0.5
    assert worker["cpu_mean"] + worker["cpu_wait_mean"] > 0.7
    assert worker["lag_p99_ms"] > 100
    assert generators["reason"].startswith("worker-1 above 90 % CPU")
    assert generators["master"]["saturated"] is False  # the master only merged
    assert load_document(tmp_path / "results.json") == doc

    thresholds = slo.parse_thresholds(THRESHOLDS)
    evaluation, code = slo.judge(doc, thresholds, None)
    assert (evaluation.verdict, code) == ("no-verdict", exit_codes.NO_VERDICT)
    assert evaluation.reason.endswith("the thresholds alone give pass")  # not a pass, all the same
    assert slo.judge(doc, thresholds, None, accept_saturated=True)[0].verdict == "pass"
    capsys.readouterr()
    assert gate_command(tmp_path / "results.json") == exit_codes.NO_VERDICT
    out = capsys.readouterr().out
    assert "verdict: NO-VERDICT  generator saturated (worker-1 above 90 % CPU" in out


def test_a_light_run_is_not_saturated_and_passes(locust_target, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROBE_PATH", "/fast")
    monkeypatch.setenv("PROBE_WAIT_MAX_S", "1")
    doc = short_run(locust_target, tmp_path, locustfile=str(REPO_ROOT / "bench" / "locust_probe.py"))
    generators = doc["generators"]
    [worker] = generators["workers"]
    with capsys.disabled():
        print(f"\nlight run: {worker}")
    assert generators["saturated"] is False and worker["saturated"] is False
    assert worker["cpu_busy_fraction"] == 0.0 and worker["cpu_mean"] < 0.3
    assert worker["lag_p99_ms"] < 50  # a few ms on a quiet machine
    # Sampled over the profile only (8 s), not the drain after it.
    assert 6 <= worker["cpu_samples"] <= 10 and 6.0 <= worker["sampled_s"] <= 9.0
    evaluation, code = slo.judge(doc, slo.parse_thresholds(THRESHOLDS), None)
    assert (evaluation.verdict, code) == ("pass", exit_codes.PASS)
    capsys.readouterr()
    assert gate_command(tmp_path / "results.json") == exit_codes.PASS
    assert "generators healthy (1): busiest worker-1" in capsys.readouterr().out
