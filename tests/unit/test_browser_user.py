"""loadtests/suite/browser/user.py: recording, weights, and the child-process protocol.

The child process here is a small stand-in script speaking the driver's line protocol (no
browser); the real driver and Chromium are exercised in tests/integration/test_browser_user.py.
"""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from locust.env import Environment

from loadtests.errors import ConfigError
from loadtests.run.config import SuiteConfig
from loadtests.suite.browser.driver import BrowserOptions, PageVitals
from loadtests.suite.browser.user import (
    REQUEST_TYPE,
    BrowserError,
    BrowserProcess,
    BrowserUser,
    VisitOutcome,
    browser_weight,
    page_endpoint,
    record_visit,
    vital_samples,
)
from loadtests.suite.collector import MetricsCollector
from loadtests.suite.listeners import SuiteState, setup_suite_listeners

VITALS = {
    "lcp_ms": 1800.0,
    "cls": 0.05,
    "inp_ms": 96.0,
    "navigation": {"transfer_bytes": 4096},
}
OPTIONS = BrowserOptions(allowed_hosts=("127.0.0.1",))


def test_vital_samples_skip_what_the_browser_did_not_report():
    vitals = PageVitals(lcp_ms=1200.0, cls=0.0, inp_ms=None)
    assert vital_samples(vitals) == [("lcp", 1200.0), ("cls", 0.0)]
    assert vital_samples(PageVitals(lcp_ms=None, cls=None, inp_ms=75.0)) == [("inp", 75.0)]


def test_record_visit_feeds_the_merged_web_vital_trends():
    worker = SuiteState(SuiteConfig(target="http://127.0.0.1:8080"))
    for lcp in (1000.0, 3000.0):
        outcome = VisitOutcome({"ok": True, "elapsed_ms": 50, "vitals": {**VITALS, "lcp_ms": lcp}})
        record_visit(worker, "GET /dashboard", "dashboard", outcome)
    record_visit(worker, "GET /dashboard", "dashboard", VisitOutcome({"ok": False, "error": "HTTP 500"}))

    master = MetricsCollector()
    master.merge_delta(worker.collector.take_delta())
    metrics = master.summaries(duration_s=10.0)["metrics"]
    assert metrics["web_vitals_lcp"]["count"] == 2
    assert metrics["web_vitals_lcp"]["max"] == pytest.approx(3000.0, rel=1e-3)
    assert metrics["web_vitals_cls"]["unit"] == ""
    assert metrics["web_vitals_cls"]["p95"] == pytest.approx(0.05, rel=1e-3)
    assert metrics["web_vitals_inp"]["p50"] == pytest.approx(96.0, rel=1e-3)
    assert metrics["checks"] == {
        "type": "rate",
        "passes": 2,
        "fails": 1,
        "rate": pytest.approx(2 / 3, rel=1e-3),
    }
    endpoint = master.summaries(duration_s=10.0)["endpoints"]["GET /dashboard"]
    assert endpoint["web_vitals_lcp"]["count"] == 2


def test_visit_outcome_of_a_failed_or_garbled_visit_has_an_error_and_no_vitals():
    failed = VisitOutcome({"ok": False, "url": "http://127.0.0.1/x", "error": "timeout"})
    assert failed.error == "timeout" and failed.vitals is None
    garbled = VisitOutcome({"ok": True, "vitals": {"cls": "lots"}})
    assert garbled.vitals is None and "cls" in garbled.error
    fine = VisitOutcome({"ok": True, "elapsed_ms": 12.5, "vitals": VITALS})
    assert fine.error is None and fine.transfer_bytes == 4096 and fine.elapsed_ms == 12.5


@pytest.mark.parametrize(("share", "others", "weight"), [(0, [100], 0), (0.05, [100], 5), (0.5, [7, 3], 10)])
def test_browser_weight_gives_the_share_of_users(share, others, weight):
    assert browser_weight(share, others) == weight
    if weight:
        assert weight / (weight + sum(others)) == pytest.approx(share, abs=0.01)


def test_browser_weight_is_at_least_one_for_any_positive_share():
    assert browser_weight(0.001, [10]) == 1


@pytest.mark.parametrize("share", [-0.1, 1, 1.5, "0.1", True])
def test_browser_weight_rejects_a_bad_share(share):
    with pytest.raises(ConfigError, match="browser_share"):
        browser_weight(share, [10])


def test_page_endpoint_names_pages_like_other_endpoints():
    assert page_endpoint("/dashboard?variant=slow") == "GET /dashboard?variant=slow"
    with pytest.raises(ConfigError, match="dashboard"):
        page_endpoint("dashboard")


def fake_driver(tmp_path, body: str) -> str:
    """A stand-in driver script: reads --options like the real one, then runs `body`."""
    path = tmp_path / "fake_driver.py"
    path.write_text(
        "import json, sys, time\n"
        "def reply(obj):\n    sys.stdout.write(json.dumps(obj) + '\\n'); sys.stdout.flush()\n"
        + textwrap.dedent(body)
    )
    return str(path)


ECHO_DRIVER = """
options = json.loads(sys.argv[sys.argv.index("--options") + 1])
reply({"ready": True, "browser_version": "fake " + ",".join(options["allowed_hosts"])})
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "close":
        break
    if "fail" in command["url"]:
        reply({"ok": False, "url": command["url"], "error": "net::ERR_ABORTED"})
    elif "crash" in command["url"]:
        sys.exit(3)
    else:
        navigation = {"document_ms": 9.5, "ttfb_ms": 4.0, "transfer_bytes": 900}
        vitals = {"lcp_ms": 700.0, "cls": 0.0, "inp_ms": 40.0, "navigation": navigation}
        if "no-inp" in command["url"]:
            vitals["inp_ms"] = None
            vitals["unreported"] = {"INP": "INP not reported: Chromium fake counted no interaction"}
        reply({"ok": True, "url": command["url"], "status": 200, "elapsed_ms": 20.0, "vitals": vitals,
               "headers": {"x-db-query-duration": "2.5"}})
"""


def test_browser_process_speaks_the_line_protocol(tmp_path):
    browser = BrowserProcess(OPTIONS, driver=fake_driver(tmp_path, ECHO_DRIVER))
    assert browser.start(timeout_s=30) == "fake 127.0.0.1"
    ok = browser.visit("http://127.0.0.1/dashboard", "#refresh", timeout_s=5)
    assert ok.error is None and ok.vitals.lcp_ms == 700.0
    failed = browser.visit("http://127.0.0.1/fail", timeout_s=5)
    assert failed.error == "net::ERR_ABORTED" and browser.running
    pid = browser.pid
    browser.close(timeout_s=10)
    assert not browser.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_driver_process_finds_the_loadtests_package_without_pythonpath(tmp_path, monkeypatch):
    # The real driver imports loadtests.errors; run by path, it has only its own directory on sys.path.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    body = (
        "from loadtests.errors import LoadTestError\n"
        "reply({'ready': True, 'browser_version': LoadTestError.__name__})\n"
    )
    browser = BrowserProcess(OPTIONS, driver=fake_driver(tmp_path, body))
    try:
        assert browser.start(timeout_s=30) == "LoadTestError"
    finally:
        browser.kill()


def test_browser_process_raises_when_the_child_dies_mid_visit(tmp_path):
    browser = BrowserProcess(OPTIONS, driver=fake_driver(tmp_path, ECHO_DRIVER))
    browser.start(timeout_s=30)
    with pytest.raises(BrowserError, match="ended during the visit"):
        browser.visit("http://127.0.0.1/crash", timeout_s=5)
    assert not browser.running


def test_browser_process_kills_a_child_that_does_not_answer(tmp_path):
    browser = BrowserProcess(
        OPTIONS, driver=fake_driver(tmp_path, "reply({'ready': True})\ntime.sleep(600)\n")
    )
    browser.start(timeout_s=30)
    pid = browser.pid
    with pytest.raises(BrowserError, match="no answer"):
        browser._read(0.5, "visit")
    assert not browser.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("reply({'ready': False, 'error': 'no Chromium at /nowhere'})\n", "no Chromium at /nowhere"),
        ("print('Traceback: boom', flush=True)\n", "not JSON"),
        ("sys.exit(2)\n", "exit code 2"),
    ],
)
def test_browser_process_start_failures_are_reported(tmp_path, body, message):
    browser = BrowserProcess(OPTIONS, driver=fake_driver(tmp_path, body))
    with pytest.raises(BrowserError, match=message):
        browser.start(timeout_s=30)
    assert not browser.running


class DashboardBrowser(BrowserUser):
    host = "http://127.0.0.1:8080"
    pages = ("/dashboard", "/fail")


def make_environment(user_class: type, with_listeners: bool = True) -> tuple[Environment, SuiteState | None]:
    env = Environment(user_classes=[user_class], host="http://127.0.0.1:8080")
    state = setup_suite_listeners(env.events, SuiteConfig(target=env.host)) if with_listeners else None
    return env, state


def test_browser_user_records_vitals_and_its_document_request(tmp_path, monkeypatch):
    monkeypatch.setattr(DashboardBrowser, "driver_script", fake_driver(tmp_path, ECHO_DRIVER))
    env, state = make_environment(DashboardBrowser)
    fired: list[dict] = []
    env.events.request.add_listener(lambda **kwargs: fired.append(kwargs))
    user = DashboardBrowser(env)
    user.on_start()
    try:
        assert user._browser.options.allowed_hosts == ("127.0.0.1",)
        user.visit_page()
        user.visit_page()
    finally:
        user.on_stop()

    assert [(e["request_type"], e["name"]) for e in fired] == [
        (REQUEST_TYPE, "GET /dashboard"),
        (REQUEST_TYPE, "GET /fail"),
    ]
    # The request is the page's document as the browser timed it, not the whole visit.
    assert fired[0]["exception"] is None and fired[0]["response_time"] == 9.5
    assert fired[0]["response"].ttfb_ms == 4.0
    assert fired[0]["context"] == {
        "group": "dashboard",
        "browser": True,
        "vitals": {"lcp": 700.0, "cls": 0.0, "inp": 40.0},
    }
    assert isinstance(fired[1]["exception"], BrowserError)

    summaries = state.collector.summaries(duration_s=1.0)
    page = summaries["endpoints"]["GET /dashboard"]
    assert page["web_vitals_lcp"]["count"] == 1
    assert page["http_req_duration"]["max"] == pytest.approx(9.5, rel=1e-3)
    assert page["time_to_first_byte"]["max"] == pytest.approx(4.0, rel=1e-3)
    assert page["db_query_duration"]["max"] == pytest.approx(2.5, rel=1e-3)
    failed = summaries["endpoints"]["GET /fail"]
    assert failed["checks"]["fails"] == 1 and failed["http_req_failed"]["passes"] == 1
    assert summaries["groups"]["dashboard"]["web_vitals_inp"]["count"] == 1


def test_browser_user_starts_a_new_browser_after_a_crash(tmp_path):
    class CrashingBrowser(BrowserUser):
        host = "http://127.0.0.1:8080"
        pages = ("/crash", "/dashboard")
        driver_script = fake_driver(tmp_path, ECHO_DRIVER)

    env, _ = make_environment(CrashingBrowser)
    user = CrashingBrowser(env)
    user.on_start()
    try:
        crashed = user.visit("/crash")
        assert "ended during the visit" in crashed.error
        assert user.visit("/dashboard").error is None
    finally:
        user.on_stop()


def test_browser_user_warns_once_per_vital_the_browser_did_not_report(tmp_path, caplog):
    class NoInpBrowser(BrowserUser):
        host = "http://127.0.0.1:8080"
        pages = ("/no-inp",)
        driver_script = fake_driver(tmp_path, ECHO_DRIVER)

    env, state = make_environment(NoInpBrowser)
    user = NoInpBrowser(env)
    user.on_start()
    try:
        with caplog.at_level("WARNING", logger="loadtests.suite.browser.user"):
            first = user.visit("/no-inp")
            user.visit("/no-inp")
    finally:
        user.on_stop()
    assert first.error is None and first.vitals.inp_ms is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["BROWSER GET /no-inp: INP not reported: Chromium fake counted no interaction"]
    # The visits' other vitals are recorded; INP has no sample.
    metrics = state.collector.summaries(duration_s=1.0)["metrics"]
    assert metrics["web_vitals_lcp"]["count"] == 2
    assert "web_vitals_inp" not in metrics


def test_browser_user_refuses_to_start_without_the_suite_listeners():
    env, _ = make_environment(DashboardBrowser, with_listeners=False)
    with pytest.raises(BrowserError, match="setup_suite_listeners"):
        DashboardBrowser(env).on_start()


def test_fake_driver_runs_with_this_interpreter():
    # The user starts its driver with the interpreter running Locust (the project's venv).
    assert BrowserProcess(OPTIONS).python == sys.executable
