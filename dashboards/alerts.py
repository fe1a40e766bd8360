"""The specification's 8 load-testing alert rules, one per thresholded metric.

Each rule is a measurement (PromQL, grouped by environment), a comparison and a threshold. The
thresholds are the gate's defaults from ``loadtests/slo/catalog.py`` (``DEFAULT_THRESHOLDS``),
converted to the measurement's unit: a rule fires while its gate threshold is breached. The
same definitions become:

- Prometheus alerting rules (``alerts/load_testing.rules.yml``, checked by promtool), and
- a Grafana rule group (see ``components/grafana.py``): query A, reduce B, threshold C.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml

from loadtests.slo.catalog import DEFAULT_THRESHOLDS
from loadtests.slo.spec import Threshold

__all__ = ["ALERT_RULES", "RULE_GROUP_NAME", "AlertRule", "prometheus_rules_yaml"]

RULE_GROUP_NAME = "load-testing"
_WINDOW = "5m"
# The comparison under which a gate threshold is breached: "p(95)<500" breaches above 500.
_BREACHED: dict[str, Literal[">", "<"]] = {"<": ">", "<=": ">", ">": "<", ">=": "<"}


@dataclass(frozen=True)
class AlertRule:
    """One alert: fires when ``measurement <op> threshold`` holds for ``for_duration``.

    ``measurement`` is unit-bearing PromQL (seconds, ratios 0.0-1.0, or unitless CLS) and
    returns one series per environment; ``threshold`` is in the same unit.
    """

    name: str
    measurement: str
    op: Literal[">", "<"]
    threshold: float
    severity: Literal["critical", "warning"]
    summary: str
    for_duration: str = "5m"

    @property
    def expr(self) -> str:
        """The Prometheus alerting expression."""
        return f"{self.measurement} {self.op} {self.threshold:g}"


def _gate(metric: str, aggregation: str) -> Threshold:
    """The catalogue's default gate threshold of ``metric`` for ``aggregation``."""
    for threshold in DEFAULT_THRESHOLDS:
        if (threshold.metric, threshold.aggregate) == (metric, aggregation):
            return threshold
    raise LookupError(f"loadtests/slo/catalog.py has no default threshold {metric}: {aggregation}")


def _p95(metric: str) -> str:
    return f"histogram_quantile(0.95, sum by (environment, le) (rate({metric}_bucket[{_WINDOW}])))"


def _ratio(numerator: str, denominator: str) -> str:
    return (
        f"sum by (environment) (rate({numerator}[{_WINDOW}]))"
        f" / sum by (environment) (rate({denominator}[{_WINDOW}]))"
    )


def _rule(
    name: str,
    gate: Threshold,
    measurement: str,
    per_unit: int,
    severity: Literal["critical", "warning"],
    summary: str,
) -> AlertRule:
    """The alert on ``gate`` breached. ``per_unit`` is how many of the catalogue's units make one
    of the measurement's: 1000 from milliseconds to seconds, 1 for ratios and CLS."""
    # A division, not a product with 0.001: 500 / 1000 is exactly the float 0.5.
    return AlertRule(name, measurement, _BREACHED[gate.op], gate.bound.amount / per_unit, severity, summary)


_MS_PER_S = 1000
_RESPONSE = _gate("http_req_duration", "p(95)")
_FAILED = _gate("http_req_failed", "rate")
_DATABASE = _gate("db_query_duration", "p(95)")
_TTFB = _gate("time_to_first_byte", "p(95)")
_LCP = _gate("web_vitals_lcp", "p(95)")
_CLS = _gate("web_vitals_cls", "p(95)")
_INP = _gate("web_vitals_inp", "p(95)")
_CHECKS = _gate("checks", "rate")

ALERT_RULES: tuple[AlertRule, ...] = (
    _rule(
        "LoadTestHighResponseTime",
        _RESPONSE,
        _p95("http_req_duration_seconds"),
        _MS_PER_S,
        "critical",
        f"P95 response time above {_RESPONSE.bound.amount:g} ms",
    ),
    _rule(
        "LoadTestHighErrorRate",
        _FAILED,
        _ratio("http_req_failed_total", "http_reqs_total"),
        1,
        "critical",
        f"More than {_FAILED.bound.amount * 100:g}% of requests failed",
    ),
    _rule(
        "LoadTestSlowDatabaseQueries",
        _DATABASE,
        _p95("db_query_duration_seconds"),
        _MS_PER_S,
        "warning",
        f"P95 database query duration above {_DATABASE.bound.amount:g} ms",
    ),
    _rule(
        "LoadTestSlowTimeToFirstByte",
        _TTFB,
        _p95("time_to_first_byte_seconds"),
        _MS_PER_S,
        "warning",
        f"P95 time to first byte above {_TTFB.bound.amount:g} ms",
    ),
    _rule(
        "LoadTestPoorLargestContentfulPaint",
        _LCP,
        _p95("web_vitals_lcp_seconds"),
        _MS_PER_S,
        "warning",
        f"P95 Largest Contentful Paint above {_LCP.bound.amount / _MS_PER_S:g} s",
    ),
    _rule(
        "LoadTestHighLayoutShift",
        _CLS,
        _p95("web_vitals_cls"),
        1,
        "warning",
        f"P95 Cumulative Layout Shift above {_CLS.bound.amount:g}",
    ),
    _rule(
        "LoadTestSlowInteraction",
        _INP,
        _p95("web_vitals_inp_seconds"),
        _MS_PER_S,
        "warning",
        f"P95 Interaction to Next Paint above {_INP.bound.amount:g} ms",
    ),
    _rule(
        "LoadTestChecksFailing",
        _CHECKS,
        _ratio('checks_total{result="pass"}', "checks_total"),
        1,
        "critical",
        f"Fewer than {_CHECKS.bound.amount * 100:g}% of checks passed",
    ),
)


def _prometheus_rule(rule: AlertRule) -> dict[str, Any]:
    return {
        "alert": rule.name,
        "expr": rule.expr,
        "for": rule.for_duration,
        "labels": {"severity": rule.severity, "team": "platform", "source": "load-test"},
        "annotations": {
            "summary": rule.summary,
            "description": f"{rule.summary} in {{{{ $labels.environment }}}} during the load test.",
            "dashboard": "/d/load-testing",
        },
    }


def prometheus_rules_yaml() -> str:
    """The rules as a Prometheus rule file (the format promtool checks, not a CRD)."""
    document = {
        "groups": [
            {
                "name": RULE_GROUP_NAME,
                "interval": "30s",
                "rules": [_prometheus_rule(rule) for rule in ALERT_RULES],
            }
        ]
    }
    header = "# Generated by `python -m dashboards build` from dashboards/alerts.py; do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=200)
