"""Unit tests for loadtests/slo/spec.py: the threshold spec parser (valid specs, and invalid ones
with the line, column and expected form of their messages)."""

from __future__ import annotations

import pytest

from loadtests.errors import LoadTestError
from loadtests.slo import evaluate as slo
from loadtests.slo.catalog import threshold_lines

# --- parser: valid specs ------------------------------------------------------------------------


def test_catalog_default_thresholds_all_parse() -> None:
    thresholds = slo.parse_thresholds(threshold_lines())
    assert len(thresholds) == 11  # the specification's eight thresholds hold eleven criteria
    assert {t.metric for t in thresholds} >= {"http_req_duration", "http_req_failed", "checks"}


def test_two_criteria_on_one_line() -> None:
    first, second = slo.parse_threshold_line("http_req_duration: p(95)<500, p(99)<1000", line_no=4)
    assert (first.aggregate, first.op, first.bound.amount, first.line) == ("p(95)", "<", 500.0, 4)
    assert (second.aggregate, second.bound.amount) == ("p(99)", 1000.0)
    assert first.key == "http_req_duration: p(95)<500"


def test_endpoint_tag_with_spaces_and_slashes() -> None:
    (t,) = slo.parse_threshold_line("http_req_duration{endpoint:GET /api/insight/issues}: p(95)<300")
    assert t.tag == slo.Tag("endpoint", "GET /api/insight/issues")
    assert t.selector == "http_req_duration{endpoint:GET /api/insight/issues}"


def test_group_tag() -> None:
    (t,) = slo.parse_threshold_line("http_req_duration{group:insight}: avg<=150")
    assert t.tag == slo.Tag("group", "insight")
    assert t.op == "<="


def test_units_convert_to_the_metric_unit() -> None:
    (seconds,) = slo.parse_threshold_line("web_vitals_lcp: p(95)<2.5s")
    (millis,) = slo.parse_threshold_line("time_to_first_byte: p(95)<200ms")
    (percent,) = slo.parse_threshold_line("http_req_failed: rate<1%")
    assert seconds.bound.amount == 2500.0
    assert millis.bound.amount == 200.0
    assert percent.bound.amount == pytest.approx(0.01)


def test_warning_band_abort_and_delay() -> None:
    (t,) = slo.parse_threshold_line("http_req_duration: p(95)<500 warn 400 abortOnFail delayAbortEval=1m30s")
    assert t.warn_bound == slo.Bound(400.0, text="400")
    assert t.abort_on_fail
    assert t.delay_abort_eval_s == 90.0
    assert t.expression == "p(95)<500 warn 400 abortOnFail delayAbortEval=1m30s"


def test_baseline_relative_bounds() -> None:
    (t,) = slo.parse_threshold_line("http_req_duration: p(95) <= baseline + 10% warn baseline + 5%")
    assert t.bound == slo.Bound(10.0, relative_to_baseline=True, percent=True, text="baseline + 10%")
    assert t.bound.resolve(200.0) == pytest.approx(220.0)
    assert t.warn_bound is not None and t.warn_bound.resolve(200.0) == pytest.approx(210.0)
    (absolute,) = slo.parse_threshold_line("http_req_duration: p(95) <= baseline + 25")
    assert absolute.bound.resolve(200.0) == 225.0
    (plain,) = slo.parse_threshold_line("checks: rate >= baseline - 1%")
    assert plain.bound.resolve(0.9) == pytest.approx(0.891)
    assert t.needs_baseline and not slo.parse_threshold_line("checks: rate>0.9")[0].needs_baseline


def test_bounds_at_the_ends_of_the_metrics_range_are_accepted() -> None:
    amounts = [
        t.bound.amount
        for line in ("http_req_failed: rate<=1", "checks: rate>=0", "error_rate: rate<100%", "vus: max>=0")
        for t in slo.parse_threshold_line(line)
    ]
    assert amounts == [1.0, 0.0, 1.0, 0.0]
    (cut,) = slo.parse_threshold_line("http_req_duration: p(95) >= baseline - 100%")
    assert cut.bound.resolve(400.0) == 0.0


def test_counter_and_gauge_aggregates() -> None:
    (count,) = slo.parse_threshold_line("auth_failures: count<10")
    (per_second,) = slo.parse_threshold_line("http_reqs: rate>5")
    (users,) = slo.parse_threshold_line("vus: max>=10")
    assert (count.aggregate, per_second.aggregate, users.aggregate) == ("count", "rate", "max")


def test_thresholds_file_keeps_line_numbers_and_skips_comments() -> None:
    text = "# gate\n\nhttp_req_failed: rate<0.01\n  # latency\nhttp_req_duration: p(95)<500\n"
    thresholds = slo.read_threshold_file(text, "thresholds.txt")
    assert [t.line for t in thresholds] == [3, 5]


# --- parser: invalid specs, each with its message --------------------------------------------------

INVALID = [
    ("http_req_duration p(95)<500", 19, "expected ':' after the metric name"),
    ("http_req_duraton: p(95)<500", 1, "unknown metric 'http_req_duraton'"),
    (
        "http_req_duration: p(75)<500",
        22,
        "percentile 75 is not recorded; expected one of p(50), p(90), p(95), p(99)",
    ),
    ("http_req_duration: p95<500", 20, "unknown aggregate 'p95' for trend metric 'http_req_duration'"),
    ("http_req_duration: rate<1", 20, "unknown aggregate 'rate' for trend metric"),
    ("checks: p(95)>0.9", 9, "p(N) applies to trend metrics"),
    ("http_req_duration: p(95)=500", 25, "expected a comparison operator (<, <=, >, >=, ==, !=), found '='"),
    (
        "http_req_duration: p(95)<",
        26,
        "expected a number (e.g. 500, 0.01, 1%) or 'baseline + N%', found the end",
    ),
    (
        "http_req_duration: p(95)<fast",
        26,
        "expected a number (e.g. 500, 0.01, 1%) or 'baseline + N%', found 'fast'",
    ),
    ("http_req_duration: p(95)<500,", 30, "expected a criterion such as p(95)<500 or rate<0.01"),
    ("http_req_duration: p(95)<500 p(99)<1000", 30, "expected ',' before the next criterion"),
    (
        "http_req_duration: p(95)<500 warn 600",
        35,
        "expected the warn bound below the fail bound '500' for '<'",
    ),
    ("checks: rate>0.95 warn 0.9", 24, "expected the warn bound above the fail bound '0.95' for '>'"),
    ("checks: rate==1 warn 0.9", 22, "a warning band needs <, <=, > or >=; '==' has no band"),
    ("http_req_failed: rate<0.01 delayAbortEval=10s", 28, "delayAbortEval only applies with abortOnFail"),
    ("http_req_failed: rate<0.01 abortOnFail delayAbortEval=soon", 55, "expected a duration such as 10s"),
    (
        "http_req_failed: rate<0.01 abortOnFail abortOnFail",
        40,
        "'abortOnFail' appears twice in one criterion",
    ),
    ("checks: rate>95ms", 16, "unit 'ms' does not fit metric 'checks'; expected '%'"),
    ("web_vitals_cls: p(95)<0.1s", 26, "unit 's' does not fit metric 'web_vitals_cls'; expected no unit"),
    ("http_req_duration{group:billing}: p(95)<500", 25, "unknown user group 'billing'"),
    ("http_req_duration{status:500}: p(95)<500", 19, "unknown tag 'status'; expected 'endpoint' or 'group'"),
    ("http_req_duration{endpoint:GET /x: p(95)<500", 45, "expected '}' to close the tag filter"),
    ("http_req_duration{endpoint: }: p(95)<500", 29, "expected the endpoint name inside the tag filter"),
    ("http_req_duration: p(95) <= baseline * 2", 38, "expected ',' before the next criterion"),
    ("http_req_duration: p(95) <= baseline + 10ms", 42, "expected '%' or no unit after the baseline offset"),
    (
        "http_req_failed: rate<5",
        23,
        "expected a rate from 0 to 1 (e.g. 0.01) or from 0% to 100% (e.g. 1%) for 'http_req_failed', "
        "found '5'",
    ),
    ("http_req_failed: rate<150%", 23, "expected a rate from 0 to 1 (e.g. 0.01) or from 0% to 100%"),
    ("checks: rate>0.95 warn 1.5", 24, "expected a rate from 0 to 1 (e.g. 0.01) or from 0% to 100%"),
    ("checks: rate>-0.1", 14, "expected a rate from 0 to 1"),
    (
        "http_req_duration: p(95)<-5",
        26,
        "expected a duration of 0 or more for 'http_req_duration' (it is never negative), found '-5'",
    ),
    ("web_vitals_cls: p(95)<-0.1", 23, "expected a value of 0 or more for 'web_vitals_cls'"),
    ("data_sent: count<-1", 18, "expected a byte count of 0 or more"),
    (
        "http_req_duration: p(95) <= baseline - 150%",
        29,
        "expected a cut of at most 100% below the baseline, found '-150%'",
    ),
    ("", 1, "expected a threshold line such as `http_req_duration: p(95)<500`"),
    ("http_req_duration:", 19, "expected a criterion such as p(95)<500"),
]


@pytest.mark.parametrize(
    ("line", "column", "message"), INVALID, ids=[case[0] or "<empty>" for case in INVALID]
)
def test_invalid_line_names_line_column_and_expected_form(line: str, column: int, message: str) -> None:
    with pytest.raises(slo.ThresholdSpecError) as caught:
        slo.parse_threshold_line(line, line_no=7, source="odavl-perf:sloThresholds")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (7, column), str(caught.value)
    assert message in problem.message
    rendered = str(caught.value)
    assert rendered.startswith(f"odavl-perf:sloThresholds line 7, column {column}: ")
    assert rendered.splitlines()[-1] == "    " + " " * (column - 1) + "^"


def test_every_bad_line_is_reported_at_once() -> None:
    lines = ["http_req_duration: p(95)<500", "checks: rate>>0.9", "vus: value>1", "nope: rate<1"]
    with pytest.raises(slo.ThresholdSpecError) as caught:
        slo.parse_thresholds(lines)
    assert [p.line for p in caught.value.problems] == [2, 4]
    assert isinstance(caught.value, LoadTestError)  # the CLI prints it without a traceback


def test_duplicate_criterion_is_an_error() -> None:
    with pytest.raises(slo.ThresholdSpecError) as caught:
        slo.parse_thresholds(["http_req_failed: rate<0.01", "checks: rate>0.9", "http_req_failed: rate<0.01"])
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert "already on line 1" in problem.message


def test_non_string_line_is_an_error() -> None:
    with pytest.raises(slo.ThresholdSpecError, match="expected a string, found int"):
        slo.parse_thresholds(["checks: rate>0.9", 5])  # type: ignore[list-item]
