"""The SLO limits the analysis measures a run against, and the verdict table of a run.

A `Limit` is a view of one parsed SLO threshold (`loadtests.slo.spec.Threshold`, from the
thresholds the gate uses or the catalogue's defaults): the bottleneck detection and the
recommendations look limits up by metric and statistic, and the SLO evaluation
(`loadtests.slo.evaluate.evaluate_threshold`) decides whether a value breaks one. Values are
read with `loadtests.results.metrics.summary_value`. The analysis errors are in
loadtests/analysis/errors.py.

Units: durations in milliseconds, rates as ratios 0.0-1.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from loadtests.results.metrics import summary_value
from loadtests.slo.catalog import DEFAULT_THRESHOLDS
from loadtests.slo.evaluate import Evaluation, ThresholdResult, evaluate_threshold
from loadtests.slo.spec import Tag, Threshold, summary_key

__all__ = [
    "Limit",
    "MetricRow",
    "default_limits",
    "default_thresholds",
    "limit_for",
    "limits_of",
    "summary_rows",
]

Status = Literal["pass", "warn", "fail", "info", "no-data"]


@dataclass(frozen=True)
class Limit:
    """An absolute SLO threshold seen as a bottleneck limit: a bound on one statistic of one
    metric, run-wide or (for a `{endpoint:...}` threshold) one endpoint's.

    Every field is read from `threshold`; `stat` is its results SUMMARY key (p95, rate...).
    """

    threshold: Threshold

    @property
    def metric(self) -> str:
        return self.threshold.metric

    @property
    def stat(self) -> str:
        return summary_key(self.threshold)

    @property
    def operator(self) -> str:
        return self.threshold.op

    @property
    def bound(self) -> float:
        return self.threshold.bound.amount

    @property
    def source(self) -> str:
        """The threshold it is, e.g. "http_req_duration: p(95)<500"."""
        return self.threshold.key

    @property
    def endpoint(self) -> str | None:
        tag = self.threshold.tag
        return tag.value if tag is not None and tag.key == "endpoint" else None

    def breach(self, results: Mapping[str, Any], endpoint: str | None = None) -> float | None:
        """The statistic's value in `results` when it breaks this limit, else None (the limit
        holds, or there are no samples). With `endpoint`, that endpoint's own statistic is judged,
        whichever scope the limit was configured for; without, the run-wide one."""
        threshold = self.threshold
        if endpoint is not None:
            threshold = replace(threshold, tag=Tag("endpoint", endpoint))
        outcome = evaluate_threshold(threshold, results)
        return outcome.value if outcome.state == "fail" else None


def limits_of(thresholds: Iterable[Threshold]) -> list[Limit]:
    """The absolute run-wide and per-endpoint bounds among `thresholds`.

    Baseline-relative bounds and group filters judge the run as a whole against another run
    or a user group; they are left to the gate and not used as bottleneck limits.
    """
    return [
        Limit(threshold)
        for threshold in thresholds
        if not threshold.bound.relative_to_baseline
        and (threshold.tag is None or threshold.tag.key == "endpoint")
    ]


def default_thresholds() -> tuple[Threshold, ...]:
    """The catalogue's default gate thresholds (`loadtests.slo.catalog.DEFAULT_THRESHOLDS`)."""
    return DEFAULT_THRESHOLDS


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


def summary_rows(results: Mapping[str, Any], evaluation: Evaluation) -> list[MetricRow]:
    """The verdict table over the run-wide metrics, each row coloured by the SLO gate's evaluation.

    A row with several thresholds (e.g. an absolute and a baseline-relative one) shows the
    worst outcome; a row no threshold covers is informational.
    """
    outcomes: dict[tuple[str, str], list[ThresholdResult]] = {}
    for outcome in evaluation.results:
        if outcome.threshold.tag is None:
            key = (outcome.threshold.metric, summary_key(outcome.threshold))
            outcomes.setdefault(key, []).append(outcome)
    rows: list[MetricRow] = []
    for section, label, metric, stat, unit in _ROWS:
        if stat == "success":
            failed = summary_value(results, metric, "rate")
            value = None if failed is None else 1.0 - failed
            rows.append(MetricRow(section, label, metric, stat, value, unit, "info", ""))
            continue
        value = summary_value(results, metric, stat)
        if metric == "http_req_failed" and stat == "passes" and value is None:
            value = summary_value(results, "failed_requests", "count")
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


def _limit_text(outcome: ThresholdResult, unit: str) -> str:
    op = outcome.threshold.op
    if outcome.bound is None:
        return f"{op} {outcome.threshold.bound.text or 'baseline'}"
    if unit == "%":
        return f"{op} {outcome.bound * 100:g} %"
    if unit == "ms":
        return f"{op} {outcome.bound:g} ms"
    return f"{op} {outcome.bound:g}"
