"""SLO thresholds as data: the one-line-per-metric spec in k6's style, its model and its parser.

Syntax (one line per metric, as in stack config `slo.thresholds`)::

    line       = metric [ "{" tag ":" value "}" ] ":" criterion { "," criterion }
    criterion  = aggregate op bound [ "warn" bound ] [ "abortOnFail" ] [ "delayAbortEval=" duration ]
    aggregate  = avg | min | max | med | p(50) | p(90) | p(95) | p(99)   (trend metrics)
               | rate                                                  (rate metrics)
               | count | rate                                          (counters; rate = per second)
               | value | max                                           (gauges)
    op         = <  |  <=  |  >  |  >=  |  ==  |  !=
    bound      = number [ ms | s | % ]          absolute: ms/s on millisecond trends, % on rates
               | baseline [ (+|-) number [ % ] ]  relative to the same aggregate in the baseline run
    duration   = number (ms|s|m|h), repeatable as in 1m30s

Examples::

    http_req_duration: p(95)<500, p(99)<1000
    http_req_duration: p(95)<500 warn 400 abortOnFail delayAbortEval=30s
    http_req_duration{endpoint:GET /api/insight/issues}: p(95)<300
    http_req_duration{group:insight}: p(95) <= baseline + 10%
    http_req_failed: rate<1% abortOnFail delayAbortEval=10s
    checks: rate>0.95 warn 0.99

Semantics. Every criterion is one threshold. Values are in the metric's unit (milliseconds for
time trends, unitless for CLS, ratios 0.0-1.0 for rates, per second for a counter's rate); an
absolute bound outside that range (a rate above 1 or 100 %, a negative bound) is an error. A
threshold *fails* when the measured value does not satisfy `op bound`; with a warning band
(`warn W`) it *warns* when the value satisfies the fail bound but not `op W` (so for `<` the band
is W <= value < bound). A threshold has *no data* when its metric, endpoint or group has no
samples: no-data never passes. A baseline-relative bound without a baseline run is reported as
*no-baseline* and does not decide the verdict (the first run of a stack has nothing to compare
with). `abortOnFail` stops a running test once the threshold fails on the merged live statistics;
`delayAbortEval` (wall-clock time since the start, as in k6) holds that check back until enough
samples exist. In a baseline bound `%` is relative to the baseline value (`baseline + 10%` =
baseline x 1.1); a plain number is an offset in the metric's unit.

Evaluation (the verdict, the live abort check) lives in loadtests/slo/evaluate.py, which also re-exports
this module's public names: callers import `loadtests.slo.evaluate` only.

Errors::

    LoadTestError (loadtests/errors.py)
     +-- SloError
          +-- ThresholdSpecError     a spec line does not parse (line, column, expected form)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from loadtests.errors import LoadTestError
from loadtests.results.metrics import METRICS, PERCENTILES, USER_GROUPS

__all__ = [
    "GROUP_NAMES",
    "METRICS",
    "PERCENTILES",
    "Bound",
    "SloError",
    "SpecProblem",
    "Tag",
    "Threshold",
    "ThresholdSpecError",
    "parse_threshold_line",
    "parse_thresholds",
    "problem_text",
    "read_threshold_file",
    "settings_problems",
    "summary_key",
]

# The user groups a `{group:NAME}` filter may name (the results document's "groups" keys).
GROUP_NAMES = USER_GROUPS

# aggregate name -> SUMMARY key, per summary type.
_AGGREGATES: dict[str, dict[str, str]] = {
    "trend": {"avg": "avg", "min": "min", "max": "max", "med": "p50"}
    | {f"p({p})": f"p{p}" for p in PERCENTILES},
    "rate": {"rate": "rate"},
    "counter": {"count": "count", "rate": "rate_per_s"},
    "gauge": {"value": "value", "max": "max"},
}

_OPERATORS = ("<=", ">=", "==", "!=", "<", ">")
_TAG_KEYS = ("endpoint", "group")


class SloError(LoadTestError):
    """Base class of this module's errors."""


@dataclass(frozen=True)
class SpecProblem:
    """One spec mistake: where it is (1-based line and column) and what was expected."""

    source: str
    line: int
    column: int
    message: str
    text: str

    def render(self) -> str:
        caret = " " * (self.column - 1) + "^"
        where = f"{self.source} line {self.line}, column {self.column}"
        return f"{where}: {self.message}\n    {self.text}\n    {caret}"


class ThresholdSpecError(SloError):
    """One or more threshold lines do not parse; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[SpecProblem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


@dataclass(frozen=True)
class Tag:
    """A tag filter: `endpoint` reads results["endpoints"][value], `group` results["groups"][value]."""

    key: str
    value: str


@dataclass(frozen=True)
class Bound:
    """An absolute bound (`amount` in the metric's unit) or one relative to the baseline value."""

    amount: float
    relative_to_baseline: bool = False
    percent: bool = False  # baseline bound only: `amount` is a percentage of the baseline value
    text: str = ""

    def resolve(self, baseline: float | None) -> float | None:
        """The bound in the metric's unit; None when it needs a baseline and there is none."""
        if not self.relative_to_baseline:
            return self.amount
        if baseline is None:
            return None
        if self.percent:
            return baseline * (1.0 + self.amount / 100.0)
        return baseline + self.amount


@dataclass(frozen=True)
class Threshold:
    """One criterion of one spec line."""

    metric: str
    tag: Tag | None
    aggregate: str  # as written in the spec, e.g. "p(95)", "rate", "avg"
    op: str
    bound: Bound
    warn_bound: Bound | None = None
    abort_on_fail: bool = False
    delay_abort_eval_s: float = 0.0
    line: int = 0
    expression: str = ""  # the criterion's own text, e.g. "p(95)<500 warn 400"

    @property
    def selector(self) -> str:
        return self.metric if self.tag is None else f"{self.metric}{{{self.tag.key}:{self.tag.value}}}"

    @property
    def key(self) -> str:
        """A stable identifier, e.g. `http_req_duration{group:insight}: p(95)<300`."""
        return f"{self.selector}: {self.expression}"

    @property
    def needs_baseline(self) -> bool:
        return self.bound.relative_to_baseline or bool(
            self.warn_bound and self.warn_bound.relative_to_baseline
        )


# ---------------------------------------------------------------------------------------------
# Parsing


class _LineError(Exception):
    def __init__(self, column: int, message: str):
        self.column = column
        self.message = message


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+")
_UNIT = re.compile(r"[A-Za-z%]+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class _Cursor:
    """A position in one spec line; columns in errors are 1-based."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_spaces()
        return self.pos >= len(self.text)

    def startswith(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "the end of the line"
        match = _IDENT.match(self.text, self.pos) or _NUMBER.match(self.text, self.pos)
        word = match.group(0) if match else self.text[self.pos]
        return repr(word)

    def fail(self, expected: str, pos: int | None = None) -> _LineError:
        where = self.pos if pos is None else pos
        saved, self.pos = self.pos, where
        found = self.found()
        self.pos = saved
        return _LineError(where + 1, f"expected {expected}, found {found}")

    def expect(self, literal: str, expected: str) -> None:
        self.skip_spaces()
        if not self.startswith(literal):
            raise self.fail(expected)
        self.pos += len(literal)

    def ident(self, expected: str) -> tuple[str, int]:
        self.skip_spaces()
        match = _IDENT.match(self.text, self.pos)
        if not match:
            raise self.fail(expected)
        self.pos = match.end()
        return match.group(0), match.start()

    def number(self, expected: str) -> tuple[float, str, int]:
        """A number and the unit letters glued to it ("500ms" -> 500.0, "ms")."""
        self.skip_spaces()
        start = self.pos
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise self.fail(expected)
        self.pos = match.end()
        unit_match = _UNIT.match(self.text, self.pos)
        unit = ""
        if unit_match:
            unit = unit_match.group(0)
            self.pos = unit_match.end()
        return float(match.group(0)), unit, start


def _parse_selector(cur: _Cursor) -> tuple[str, Tag | None]:
    metric, metric_pos = cur.ident("a metric name such as http_req_duration")
    if metric not in METRICS:
        raise _LineError(metric_pos + 1, f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    tag = None
    cur.skip_spaces()
    if cur.startswith("{"):
        cur.pos += 1
        key, key_pos = cur.ident("a tag filter such as {endpoint:GET /api/insight/issues} or {group:insight}")
        if key not in _TAG_KEYS:
            raise _LineError(key_pos + 1, f"unknown tag {key!r}; expected 'endpoint' or 'group'")
        cur.expect(":", f"':' after the tag name {key!r}, as in {{{key}:NAME}}")
        close = cur.text.find("}", cur.pos)
        if close < 0:
            raise _LineError(len(cur.text) + 1, "expected '}' to close the tag filter")
        raw = cur.text[cur.pos : close]
        value = raw.strip()
        value_pos = cur.pos + len(raw) - len(raw.lstrip())
        if not value:
            raise _LineError(value_pos + 1, f"expected the {key} name inside the tag filter, found nothing")
        if key == "group" and value not in GROUP_NAMES:
            raise _LineError(
                value_pos + 1, f"unknown user group {value!r}; expected one of {', '.join(GROUP_NAMES)}"
            )
        cur.pos = close + 1
        tag = Tag(key, value)
    cur.expect(":", "':' after the metric name, as in `http_req_duration: p(95)<500`")
    return metric, tag


def _parse_aggregate(cur: _Cursor, metric: str) -> str:
    kind, _unit = METRICS[metric]
    allowed = _AGGREGATES[kind]
    expected_list = ", ".join(allowed)
    name, name_pos = cur.ident(f"an aggregate for {kind} metric {metric!r} ({expected_list})")
    if name == "p" and cur.startswith("("):
        cur.pos += 1
        value, unit, num_pos = cur.number("a percentile such as 95 in p(95)")
        if unit:
            raise _LineError(
                num_pos + 1, f"expected a plain percentile number in p(N), found {unit!r} after it"
            )
        cur.expect(")", "')' to close p(N)")
        percentile = int(value) if value.is_integer() else value
        if kind != "trend":
            raise _LineError(
                name_pos + 1, f"p(N) applies to trend metrics; for {metric!r} expected {expected_list}"
            )
        if percentile not in PERCENTILES:
            recorded = ", ".join(f"p({p})" for p in PERCENTILES)
            raise _LineError(num_pos + 1, f"percentile {value:g} is not recorded; expected one of {recorded}")
        return f"p({percentile})"
    if name not in allowed:
        raise _LineError(
            name_pos + 1, f"unknown aggregate {name!r} for {kind} metric {metric!r}; expected {expected_list}"
        )
    return name


def _parse_operator(cur: _Cursor) -> str:
    cur.skip_spaces()
    for op in _OPERATORS:
        if cur.startswith(op):
            cur.pos += len(op)
            return op
    raise cur.fail("a comparison operator (<, <=, >, >=, ==, !=)")


def _absolute_amount(metric: str, value: float, unit: str, pos: int) -> float:
    kind, metric_unit = METRICS[metric]
    if not unit:
        return value
    if unit in ("ms", "s") and kind == "trend" and metric_unit == "ms":
        return value * 1000.0 if unit == "s" else value
    if unit == "%" and kind == "rate":
        return value / 100.0
    allowed = {("trend", "ms"): "'ms' or 's'", ("rate", ""): "'%'"}.get((kind, metric_unit), "no unit")
    raise _LineError(pos + 1, f"unit {unit!r} does not fit metric {metric!r}; expected {allowed}")


def _parse_bound(cur: _Cursor, metric: str) -> Bound:
    cur.skip_spaces()
    start = cur.pos
    if _IDENT.match(cur.text, cur.pos) and cur.text.startswith("baseline", cur.pos):
        word, word_pos = cur.ident("a number or 'baseline'")
        if word != "baseline":
            raise cur.fail("a number or 'baseline'", word_pos)
        cur.skip_spaces()
        if cur.pos < len(cur.text) and cur.text[cur.pos] in "+-":
            sign = 1.0 if cur.text[cur.pos] == "+" else -1.0
            cur.pos += 1
            value, unit, _ = cur.number("a number after 'baseline +' or 'baseline -', as in baseline + 10%")
            if unit not in ("", "%"):
                message = f"expected '%' or no unit after the baseline offset, found {unit!r}"
                raise _LineError(cur.pos - len(unit) + 1, message)
            if unit == "%" and sign < 0 and value > 100:
                # below zero, where no metric goes
                message = f"expected a cut of at most 100% below the baseline, found '-{value:g}%'"
                raise _LineError(start + 1, message)
            # `%` is relative to the baseline value; a plain offset is in the metric's unit.
            return Bound(sign * value, True, unit == "%", cur.text[start : cur.pos].strip())
        return Bound(0.0, True, False, "baseline")
    sign = 1.0
    if cur.pos < len(cur.text) and cur.text[cur.pos] == "-":
        sign = -1.0
        cur.pos += 1
    value, unit, _num_pos = cur.number("a number (e.g. 500, 0.01, 1%) or 'baseline + N%'")
    amount = sign * _absolute_amount(metric, value, unit, cur.pos - len(unit))
    text = cur.text[start : cur.pos].strip()
    _check_range(metric, amount, text, start)
    return Bound(amount, text=text)


def _check_range(metric: str, amount: float, text: str, pos: int) -> None:
    """An absolute bound outside the values the metric can take would pass or fail every run."""
    kind, unit = METRICS[metric]
    if kind == "rate" and not 0.0 <= amount <= 1.0:
        raise _LineError(
            pos + 1,
            f"expected a rate from 0 to 1 (e.g. 0.01) or from 0% to 100% (e.g. 1%) for {metric!r}, "
            f"found {text!r}",
        )
    if amount < 0.0:
        what = {"ms": "a duration", "B": "a byte count"}.get(unit, "a value")
        raise _LineError(
            pos + 1, f"expected {what} of 0 or more for {metric!r} (it is never negative), found {text!r}"
        )


def _parse_duration(cur: _Cursor) -> float:
    cur.skip_spaces()
    start = cur.pos
    total = 0.0
    while True:
        match = _DURATION_PART.match(cur.text, cur.pos)
        if not match:
            break
        total += float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        cur.pos = match.end()
    if cur.pos == start or (
        cur.pos < len(cur.text) and (cur.text[cur.pos].isalnum() or cur.text[cur.pos] == ".")
    ):
        raise cur.fail("a duration such as 10s, 1m or 1m30s after delayAbortEval=", start)
    return total


def _check_band(op: str, bound: Bound, warn: Bound, warn_pos: int) -> None:
    if op in ("==", "!="):
        raise _LineError(warn_pos + 1, f"a warning band needs <, <=, > or >=; {op!r} has no band")
    if warn.relative_to_baseline != bound.relative_to_baseline or warn.percent != bound.percent:
        return  # comparable only at evaluation time
    inside = warn.amount < bound.amount if op in ("<", "<=") else warn.amount > bound.amount
    if not inside:
        side = "below" if op in ("<", "<=") else "above"
        raise _LineError(
            warn_pos + 1,
            f"expected the warn bound {side} the fail bound {bound.text!r} for {op!r}, found {warn.text!r}",
        )


def _parse_criterion(cur: _Cursor, metric: str, tag: Tag | None, line_no: int) -> Threshold:
    cur.skip_spaces()
    start = cur.pos
    aggregate = _parse_aggregate(cur, metric)
    op = _parse_operator(cur)
    bound = _parse_bound(cur, metric)
    warn_bound: Bound | None = None
    abort_on_fail = False
    delay: float | None = None
    delay_pos = 0
    options = "',' before the next criterion, 'warn <bound>', 'abortOnFail' or 'delayAbortEval=<duration>'"
    while not cur.at_end() and not cur.startswith(","):
        if not _IDENT.match(cur.text, cur.pos):
            raise cur.fail(options)
        word, word_pos = cur.ident(options)
        if word == "warn" and warn_bound is None:
            cur.skip_spaces()
            bound_pos = cur.pos
            warn_bound = _parse_bound(cur, metric)
            _check_band(op, bound, warn_bound, bound_pos)
        elif word == "abortOnFail" and not abort_on_fail:
            abort_on_fail = True
        elif word == "delayAbortEval" and delay is None:
            delay_pos = word_pos
            cur.expect("=", "'=' after delayAbortEval, as in delayAbortEval=30s")
            delay = _parse_duration(cur)
        elif word in ("warn", "abortOnFail", "delayAbortEval"):
            raise _LineError(
                word_pos + 1, f"{word!r} appears twice in one criterion; expected it at most once"
            )
        else:
            raise cur.fail(options, word_pos)
    if delay is not None and not abort_on_fail:
        raise _LineError(
            delay_pos + 1, "delayAbortEval only applies with abortOnFail; expected 'abortOnFail' too"
        )
    return Threshold(
        metric=metric,
        tag=tag,
        aggregate=aggregate,
        op=op,
        bound=bound,
        warn_bound=warn_bound,
        abort_on_fail=abort_on_fail,
        delay_abort_eval_s=delay or 0.0,
        line=line_no,
        expression=" ".join(cur.text[start : cur.pos].split()),
    )


def parse_threshold_line(text: str, line_no: int = 1, source: str = "slo.thresholds") -> list[Threshold]:
    """Parse one spec line into its thresholds; raises ThresholdSpecError naming line and column."""
    cur = _Cursor(text)
    try:
        if cur.at_end():
            raise cur.fail("a threshold line such as `http_req_duration: p(95)<500`")
        metric, tag = _parse_selector(cur)
        thresholds = []
        while True:
            if cur.at_end():
                raise cur.fail("a criterion such as p(95)<500 or rate<0.01")
            thresholds.append(_parse_criterion(cur, metric, tag, line_no))
            if cur.at_end():
                return thresholds
            cur.expect(",", "',' between criteria")
    except _LineError as exc:
        raise ThresholdSpecError([SpecProblem(source, line_no, exc.column, exc.message, text)]) from None


def parse_thresholds(
    lines: Iterable[str], source: str = "slo.thresholds", line_numbers: Sequence[int] | None = None
) -> tuple[Threshold, ...]:
    """Parse every line; all problems of all lines are reported together in one ThresholdSpecError."""
    problems: list[SpecProblem] = []
    parsed: list[Threshold] = []
    seen: dict[str, int] = {}
    for index, text in enumerate(lines):
        line_no = line_numbers[index] if line_numbers is not None else index + 1
        if not isinstance(text, str):
            problems.append(
                SpecProblem(source, line_no, 1, f"expected a string, found {type(text).__name__}", str(text))
            )
            continue
        try:
            for threshold in parse_threshold_line(text, line_no, source):
                if threshold.key in seen:
                    column = text.find(threshold.expression.split()[0]) + 1 or 1
                    problems.append(
                        SpecProblem(
                            source,
                            line_no,
                            column,
                            f"duplicate threshold {threshold.key!r} (already on line {seen[threshold.key]}); "
                            "expected each criterion once",
                            text,
                        )
                    )
                    continue
                seen[threshold.key] = line_no
                parsed.append(threshold)
        except ThresholdSpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ThresholdSpecError(problems)
    return tuple(parsed)


def read_threshold_file(text: str, source: str) -> tuple[Threshold, ...]:
    """Parse a thresholds file: one line per metric, blank lines and `#` comments ignored."""
    lines: list[str] = []
    numbers: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(raw)
            numbers.append(number)
    return parse_thresholds(lines, source, numbers)


def settings_problems(lines: Sequence[Any]) -> list[str]:
    """Problems in a stack's threshold list, one line each: `[index] = 'text': column C: expected ...`.

    For settings validation, which collects every problem of a stack file before it fails.
    """
    try:
        parse_thresholds(lines, line_numbers=list(range(len(lines))))
    except ThresholdSpecError as exc:
        return [problem_text(p) for p in exc.problems]
    return []


def problem_text(problem: SpecProblem) -> str:
    """One problem of a stack's threshold list: `[index] = 'text': column C: expected ...`."""
    return f"[{problem.line}] = {problem.text!r}: column {problem.column}: {problem.message}"


def summary_key(threshold: Threshold) -> str:
    """The results document's SUMMARY key a threshold reads, e.g. "p95" for p(95), "rate_per_s"."""
    return _AGGREGATES[METRICS[threshold.metric][0]][threshold.aggregate]
