"""Reading a run's results document and measuring it against the configured SLO limits.

Exceptions::

    AnalysisError            anything the analysis cannot do, with a message for the user
     ├── ResultsFileError    the results file is missing, not JSON or not a results document
     └── ThresholdError      an SLO threshold line cannot be read

Units: durations in milliseconds, rates as ratios 0.0-1.0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loadtests import slo
from loadtests.slo_catalog import threshold_lines

__all__ = [
    "AnalysisError",
    "Limit",
    "MetricRow",
    "ResultsFileError",
    "ThresholdError",
    "default_limits",
    "default_thresholds",
    "limit_for",
    "limits_of",
    "load_results",
    "parse_thresholds",
    "stat_value",
    "summary_rows",
]

SUPPORTED_SCHEMA_MAJOR = "1"
REQUIRED_KEYS = ("schema_version", "run_id", "metrics", "endpoints")

Status = Literal["pass", "warn", "fail", "info", "no-data"]


class AnalysisError(Exception):
    """The analysis cannot proceed; the message says why and what to change."""


class ResultsFileError(AnalysisError):
    """The results file is missing, unreadable or not a results document."""


class ThresholdError(AnalysisError):
    """An SLO threshold line does not have the form `metric: p(95)<500`."""


def load_results(path: Path) -> dict[str, Any]:
    """Read a results document (schema 1.x) and check the keys the analysis relies on."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsFileError(f"results file {path} does not exist") from None
    except OSError as error:
        raise ResultsFileError(f"results file {path} cannot be read: {error.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFileError(
            f"results file {path} is not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    if not isinstance(document, dict):
        raise ResultsFileError(
            f"results file {path} holds a JSON {type(document).__name__}, expected an object"
        )
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise ResultsFileError(
            f"results file {path} lacks {', '.join(missing)}: expected a results document "
            f'with schema_version "1.x" as written by `python -m loadtests run`'
        )
    version = str(document["schema_version"])
    if version.split(".")[0] != SUPPORTED_SCHEMA_MAJOR:
        raise ResultsFileError(f'results file {path} has schema_version "{version}", expected "1.x"')
    for key in ("metrics", "endpoints"):
        if not isinstance(document[key], dict):
            raise ResultsFileError(
                f"results file {path}: {key} must be an object, found {document[key]!r:.60}"
            )
    return document


@dataclass(frozen=True)
class Limit:
    """An absolute SLO bound on one statistic of one metric (optionally one endpoint's).

    Built from a parsed `loadtests.slo.Threshold`; the measurement breaks it when
    `not (value <op> bound)`.
    """

    metric: str
    stat: str  # results SUMMARY key: p50, p90, p95, p99, avg, min, max, rate
    operator: str
    bound: float
    source: str  # the threshold it came from, e.g. "http_req_duration: p(95)<500"
    endpoint: str | None = None  # set for `{endpoint:...}` thresholds

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.operator](value, self.bound)


_OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _stat_key(aggregate: str) -> str:
    if aggregate == "med":
        return "p50"
    if aggregate.startswith("p("):
        return "p" + aggregate[2:-1]
    return aggregate


def parse_thresholds(lines: Iterable[str], source: str = "slo.thresholds") -> tuple[slo.Threshold, ...]:
    """Parse threshold lines with the SLO gate's parser; every problem is reported at once."""
    try:
        return slo.parse_thresholds(list(lines), source)
    except slo.ThresholdSpecError as error:
        raise ThresholdError(f"unreadable SLO threshold(s):\n{error}") from None


def limits_of(thresholds: Iterable[slo.Threshold]) -> list[Limit]:
    """The absolute run-wide and per-endpoint bounds among `thresholds`.

    Baseline-relative bounds and group filters judge the run as a whole against another run
    or a user group; they are left to the gate and not used as bottleneck limits.
    """
    limits = []
    for threshold in thresholds:
        if threshold.bound.relative_to_baseline:
            continue
        if threshold.tag is not None and threshold.tag.key != "endpoint":
            continue
        limits.append(
            Limit(
                threshold.metric,
                _stat_key(threshold.aggregate),
                threshold.op,
                threshold.bound.amount,
                threshold.key,
                threshold.tag.value if threshold.tag else None,
            )
        )
    return limits


def default_thresholds() -> tuple[slo.Threshold, ...]:
    return parse_thresholds(threshold_lines(), "loadtests.slo_catalog")


def default_limits() -> list[Limit]:
    return limits_of(default_thresholds())


def limit_for(limits: Iterable[Limit], metric: str, stat: str, endpoint: str | None = None) -> Limit | None:
    """The limit on `metric`'s `stat`: the endpoint's own when configured, else the run-wide one."""
    limits = list(limits)
    if endpoint is not None:
        own = next(
            (lim for lim in limits if (lim.metric, lim.stat, lim.endpoint) == (metric, stat, endpoint)), None
        )
        if own is not None:
            return own
    return next((lim for lim in limits if (lim.metric, lim.stat, lim.endpoint) == (metric, stat, None)), None)


def stat_value(summaries: Mapping[str, Any], metric: str, stat: str) -> float | None:
    """`summaries[metric][stat]` as a float, or None when absent or without samples."""
    summary = summaries.get(metric)
    if not isinstance(summary, dict):
        return None
    if summary.get("type") == "trend" and not summary.get("count"):
        return None
    if summary.get("type") == "rate" and not (summary.get("passes", 0) + summary.get("fails", 0)):
        return None
    value = summary.get(stat)
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class MetricRow:
    """One line of the verdict table."""

    section: str
    label: str
    metric: str
    stat: str
    value: float | None
    unit: str  # "ms", "%", "" (count or unitless)
    status: Status
    limit: str  # "< 500 ms" or "" when no SLO applies

    def formatted_value(self) -> str:
        if self.value is None:
            return "no data"
        if self.unit == "%":
            return f"{self.value * 100:.2f} %"
        if self.unit == "ms":
            return f"{self.value:,.1f} ms"
        if float(self.value).is_integer():
            return f"{int(self.value):,}"
        return f"{self.value:.3f}"


# (section, label, metric, stat, unit); rates shown as percentages.
_ROWS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Response time", "P50", "http_req_duration", "p50", "ms"),
    ("Response time", "P95", "http_req_duration", "p95", "ms"),
    ("Response time", "P99", "http_req_duration", "p99", "ms"),
    ("Response time", "Max", "http_req_duration", "max", "ms"),
    ("Response time", "Average", "http_req_duration", "avg", "ms"),
    ("Errors", "Error rate", "http_req_failed", "rate", "%"),
    ("Errors", "Success rate", "http_req_failed", "success", "%"),
    ("Errors", "Total requests", "http_reqs", "count", ""),
    ("Errors", "Failed requests", "http_req_failed", "passes", ""),
    ("Errors", "Checks passed", "checks", "rate", "%"),
    ("Database", "Query P50", "db_query_duration", "p50", "ms"),
    ("Database", "Query P90", "db_query_duration", "p90", "ms"),
    ("Database", "Query P95", "db_query_duration", "p95", "ms"),
    ("Database", "Query P99", "db_query_duration", "p99", "ms"),
    ("Database", "Query Max", "db_query_duration", "max", "ms"),
    ("TTFB", "P50", "time_to_first_byte", "p50", "ms"),
    ("TTFB", "P95", "time_to_first_byte", "p95", "ms"),
    ("TTFB", "P99", "time_to_first_byte", "p99", "ms"),
    ("Web vitals", "LCP P95", "web_vitals_lcp", "p95", "ms"),
    ("Web vitals", "CLS P95", "web_vitals_cls", "p95", ""),
    ("Web vitals", "INP P95", "web_vitals_inp", "p95", "ms"),
)


_SEVERITY = {"fail": 4, "warn": 3, "no-data": 2, "pass": 1, "no-baseline": 0}


def summary_rows(results: Mapping[str, Any], evaluation: slo.Evaluation) -> list[MetricRow]:
    """The verdict table over the run-wide metrics, each row coloured by the SLO gate's evaluation.

    A row with several thresholds (e.g. an absolute and a baseline-relative one) shows the
    worst outcome; a row no threshold covers is informational.
    """
    outcomes: dict[tuple[str, str], list[slo.ThresholdResult]] = {}
    for outcome in evaluation.results:
        if outcome.threshold.tag is None:
            key = (outcome.threshold.metric, _stat_key(outcome.threshold.aggregate))
            outcomes.setdefault(key, []).append(outcome)
    metrics = results.get("metrics", {})
    rows: list[MetricRow] = []
    for section, label, metric, stat, unit in _ROWS:
        if stat == "success":
            failed = stat_value(metrics, metric, "rate")
            value = None if failed is None else 1.0 - failed
            rows.append(MetricRow(section, label, metric, stat, value, unit, "info", ""))
            continue
        value = stat_value(metrics, metric, stat)
        if metric == "http_req_failed" and stat == "passes" and value is None:
            value = stat_value(metrics, "failed_requests", "count")
        judged = outcomes.get((metric, stat), [])
        if not judged:
            status: Status = "info" if value is not None else "no-data"
            limit_text = ""
        else:
            worst = max(judged, key=lambda outcome: _SEVERITY[outcome.state])
            status = "info" if worst.state == "no-baseline" else worst.state
            limit_text = ", ".join(_limit_text(outcome, unit) for outcome in judged)
        rows.append(MetricRow(section, label, metric, stat, value, unit, status, limit_text))
    return rows


def _limit_text(outcome: slo.ThresholdResult, unit: str) -> str:
    op = outcome.threshold.op
    if outcome.bound is None:
        return f"{op} {outcome.threshold.bound.text or 'baseline'}"
    if unit == "%":
        return f"{op} {outcome.bound * 100:g} %"
    if unit == "ms":
        return f"{op} {outcome.bound:g} ms"
    return f"{op} {outcome.bound:g}"
