"""Pure parts of loadtests/suite/browser/driver.py: options, visit commands, vitals, the line protocol."""

from __future__ import annotations

import io
import json

import pytest

from loadtests.errors import LoadTestError
from loadtests.suite.browser.driver import (
    BLOCKING_PROXY,
    CHROMIUM_ARGS,
    WEB_VITALS_ENV,
    BrowserOptions,
    DriverError,
    VisitRequest,
    VitalsBrowser,
    chromium_launch_args,
    parse_vitals,
    read_pin,
    serve,
    unreported_messages,
    web_vitals_library,
)

GOOD_VITALS = {
    "lcp_ms": 812.5,
    "lcp_element": "h1#title",
    "cls": 0.031,
    "inp_ms": 88,
    "interactions": 1,
    "layout_shifts": 2,
    "navigation": {"ttfb_ms": 12.0, "load_ms": 95.5, "transfer_bytes": 2048},
}


def test_parse_vitals_reads_every_field():
    vitals = parse_vitals(GOOD_VITALS)
    assert (vitals.lcp_ms, vitals.cls, vitals.inp_ms) == (812.5, 0.031, 88.0)
    assert vitals.lcp_element == "h1#title"
    assert vitals.interactions == 1
    assert vitals.layout_shifts == 2
    assert vitals.navigation["transfer_bytes"] == 2048.0
    assert vitals.unreported == {}


def test_parse_vitals_keeps_missing_vitals_as_none_with_their_reasons():
    vitals = parse_vitals(
        {
            "cls": None,
            "lcp_ms": None,
            "inp_ms": None,
            "unreported": {"CLS": "reported no first contentful paint", "INP": "counted no interaction"},
        }
    )
    assert vitals.lcp_ms is None and vitals.inp_ms is None and vitals.cls is None
    assert vitals.unreported == {"CLS": "reported no first contentful paint", "INP": "counted no interaction"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**GOOD_VITALS, "lcp_ms": -1}, "lcp_ms"),
        ({**GOOD_VITALS, "inp_ms": "slow"}, "inp_ms"),
        ({**GOOD_VITALS, "cls": True}, "cls"),
        ({**GOOD_VITALS, "navigation": [1, 2]}, "navigation"),
        ({**GOOD_VITALS, "unreported": ["INP"]}, "unreported"),
        ({**GOOD_VITALS, "unreported": {"TTFB": "gone"}}, "unreported.*'TTFB'"),
        ({**GOOD_VITALS, "unreported": {"INP": ""}}, "unreported.*'INP'"),
    ],
)
def test_parse_vitals_names_the_bad_field(raw, field):
    with pytest.raises(DriverError, match=field):
        parse_vitals(raw)


def test_parse_vitals_rejects_a_non_object():
    with pytest.raises(DriverError, match="object"):
        parse_vitals([1, 2])


def test_unreported_messages_name_the_metric_the_browser_version_and_the_click():
    messages = unreported_messages(
        "156.0.8078.114",
        {
            "LCP": "does not support the largest-contentful-paint performance entry type",
            "INP": "counted no interaction for the click",
        },
        "#refresh",
        5.0,
    )
    assert messages == {
        "LCP": "LCP not reported: Chromium 156.0.8078.114 does not support the largest-contentful-paint "
        "performance entry type",
        "INP": "INP not reported: Chromium 156.0.8078.114 counted no interaction for the click "
        "(after the click on '#refresh', waited 5 s)",
    }
    assert unreported_messages("156.0", {}, "button", 5.0) == {}


def write_pin(tmp_path, text: str):
    pin = tmp_path / "web_vitals.env"
    pin.write_text(text, encoding="utf-8")
    return pin


def test_read_pin_reads_key_value_lines_and_skips_comments(tmp_path):
    pin = write_pin(tmp_path, "# web-vitals\nWEB_VITALS_VERSION=6.2.3\n\nWEB_VITALS_INTEGRITY=sha512-abc==\n")
    assert read_pin(pin) == {"WEB_VITALS_VERSION": "6.2.3", "WEB_VITALS_INTEGRITY": "sha512-abc=="}


def test_read_pin_names_the_line_it_cannot_read(tmp_path):
    pin = write_pin(tmp_path, "WEB_VITALS_VERSION=6.2.3\nWEB_VITALS_INTEGRITY\n")
    with pytest.raises(
        DriverError, match=r"web_vitals.env:2: expected KEY=VALUE, got 'WEB_VITALS_INTEGRITY'"
    ):
        read_pin(pin)
    with pytest.raises(DriverError, match="cannot read the web-vitals pin"):
        read_pin(tmp_path / "absent.env")


def test_web_vitals_library_is_the_extracted_build_of_the_pinned_version(tmp_path):
    pin = write_pin(tmp_path, "WEB_VITALS_VERSION=6.2.3\n")
    library = tmp_path / "web-vitals-6.2.3.iife.js"
    library.write_text("var webVitals = {};", encoding="utf-8")
    assert web_vitals_library(pin, tmp_path) == library


def test_a_missing_web_vitals_library_says_to_run_the_setup(tmp_path):
    pin = write_pin(tmp_path, "WEB_VITALS_VERSION=6.2.3\n")
    with pytest.raises(
        DriverError, match=r"web-vitals library 6.2.3 is missing .*run `bash scripts/setup.sh`"
    ):
        web_vitals_library(pin, tmp_path)
    with pytest.raises(DriverError, match="sets no WEB_VITALS_VERSION"):
        web_vitals_library(write_pin(tmp_path, "WEB_VITALS_BUILD=x.js\n"), tmp_path)


def test_a_driver_without_its_library_answers_not_ready_and_says_to_run_the_setup(tmp_path, monkeypatch):
    # The library is looked up before Chromium is launched: no browser is needed to see the refusal.
    monkeypatch.delenv(WEB_VITALS_ENV, raising=False)
    browser = VitalsBrowser(BrowserOptions(allowed_hosts=("127.0.0.1",)), library=tmp_path / "none.js")
    replies = io.StringIO()
    assert serve(browser, io.StringIO(""), replies) == 1
    reply = json.loads(replies.getvalue())
    assert reply["ready"] is False
    assert "none.js is missing: run `bash scripts/setup.sh`" in reply["error"]


def test_the_library_can_be_named_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(WEB_VITALS_ENV, str(tmp_path / "elsewhere.js"))
    replies = io.StringIO()
    assert serve(VitalsBrowser(BrowserOptions(allowed_hosts=("127.0.0.1",))), io.StringIO(""), replies) == 1
    assert "elsewhere.js is missing" in json.loads(replies.getvalue())["error"]


def test_launch_args_confine_the_browser_to_the_allowed_hosts():
    args = chromium_launch_args(["127.0.0.1", "localhost"])
    assert args[: len(CHROMIUM_ARGS)] == list(CHROMIUM_ARGS)
    assert f"--proxy-server={BLOCKING_PROXY}" in args
    # The implicit loopback bypass is removed, so only the listed hosts are reached directly.
    assert "--proxy-bypass-list=<-loopback>;127.0.0.1;localhost" in args
    for flag in ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"):
        assert flag in args


def test_launch_args_bracket_ipv6_hosts():
    assert "--proxy-bypass-list=<-loopback>;localhost;[::1]" in chromium_launch_args(["localhost", "::1"])


@pytest.mark.parametrize("host", ["", "a;b", "a,b", "a b", "[::1]"])
def test_launch_args_reject_hosts_that_would_widen_the_bypass_list(host):
    with pytest.raises(DriverError, match="allowed host"):
        chromium_launch_args([host])


def test_options_round_trip_through_json():
    options = BrowserOptions(
        allowed_hosts=("127.0.0.1",), executable_path="/opt/chromium", extra_args=("--x",)
    )
    assert BrowserOptions.from_json(options.to_json()) == options


@pytest.mark.parametrize("hosts", [None, [], [""], "127.0.0.1"])
def test_options_need_a_list_of_allowed_hosts(hosts):
    with pytest.raises(DriverError, match="allowed_hosts"):
        BrowserOptions.from_json(json.dumps({"allowed_hosts": hosts}))
    # A load-test error: the CLI and the Pulumi provider print its message without a traceback.
    with pytest.raises(LoadTestError, match="allowed_hosts"):
        BrowserOptions.from_json(json.dumps({"allowed_hosts": hosts}))


def test_visit_request_defaults_and_validation():
    request = VisitRequest.from_message({"url": "http://127.0.0.1:8080/dashboard"})
    assert request.interaction_selector == "button"
    assert request.timeout_s == 30.0
    with pytest.raises(DriverError, match="url"):
        VisitRequest.from_message({"url": "file:///etc/passwd"})
    with pytest.raises(DriverError, match="timeout_s"):
        VisitRequest.from_message({"url": "http://127.0.0.1/", "timeout_s": 0})
    with pytest.raises(DriverError, match="quiet_ms"):
        VisitRequest.from_message({"url": "http://127.0.0.1/", "quiet_ms": 2.5})
    with pytest.raises(DriverError, match="ready_selector"):
        VisitRequest.from_message({"url": "http://127.0.0.1/", "ready_selector": " "})
    ready = VisitRequest.from_message({"url": "http://127.0.0.1/", "ready_selector": "img.hero"})
    assert ready.ready_selector == "img.hero"


class FakeBrowser:
    """In-memory stand-in for VitalsBrowser: records what it was asked."""

    def __init__(self, start_error: str | None = None):
        self.start_error = start_error
        self.visited: list[VisitRequest] = []
        self.closed = False

    def start(self) -> str:
        if self.start_error:
            raise DriverError(self.start_error)
        return "fake 1.0"

    def visit(self, request: VisitRequest) -> dict:
        self.visited.append(request)
        if "broken" in request.url:
            raise DriverError("net::ERR_CONNECTION_REFUSED")
        return {"ok": True, "url": request.url, "status": 200, "elapsed_ms": 5.0, "vitals": GOOD_VITALS}

    def close(self) -> None:
        self.closed = True


def run_serve(browser: FakeBrowser, *commands: str) -> tuple[int, list[dict]]:
    replies = io.StringIO()
    code = serve(browser, io.StringIO("".join(c + "\n" for c in commands)), replies)
    return code, [json.loads(line) for line in replies.getvalue().splitlines()]


def test_serve_answers_each_command_and_closes_the_browser():
    browser = FakeBrowser()
    code, replies = run_serve(
        browser,
        json.dumps({"op": "visit", "url": "http://127.0.0.1/dashboard", "interaction_selector": "#refresh"}),
        "not json",
        json.dumps({"op": "dance"}),
        json.dumps({"op": "visit", "url": "http://127.0.0.1/broken"}),
        json.dumps({"op": "visit", "url": "ftp://127.0.0.1/"}),
        json.dumps({"op": "close"}),
        json.dumps({"op": "visit", "url": "http://127.0.0.1/after-close"}),
    )
    assert code == 0
    assert replies[0] == {"ready": True, "browser_version": "fake 1.0"}
    assert replies[1]["ok"] is True and replies[1]["vitals"]["lcp_ms"] == 812.5
    assert replies[2]["ok"] is False and "not JSON" in replies[2]["error"]
    assert replies[3]["ok"] is False and "unknown op 'dance'" in replies[3]["error"]
    assert replies[4] == {
        "ok": False,
        "url": "http://127.0.0.1/broken",
        "error": "net::ERR_CONNECTION_REFUSED",
    }
    assert replies[5]["ok"] is False and "http(s) URL" in replies[5]["error"]
    assert len(replies) == 6, "nothing is answered after close"
    assert [r.interaction_selector for r in browser.visited] == ["#refresh", "button"]
    assert browser.closed


def test_serve_reports_a_browser_that_does_not_start():
    code, replies = run_serve(FakeBrowser(start_error="no Chromium at /nowhere"))
    assert code == 1
    assert replies == [{"ready": False, "error": "no Chromium at /nowhere"}]


class GoneReader(io.StringIO):
    """Replies stream whose reader has gone away after the ready line."""

    def write(self, text: str) -> int:
        if "ready" not in text:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_serve_closes_the_browser_when_its_user_is_gone():
    browser = FakeBrowser()
    commands = io.StringIO(json.dumps({"op": "visit", "url": "http://127.0.0.1/dashboard"}) + "\n")
    assert serve(browser, commands, GoneReader()) == 0
    assert browser.closed
