"""PromQL utilities shared by the dashboard, the alert rules and their tests.

Grafana expands template variables and macros (``$environment``, ``$__rate_interval``)
before a query reaches Prometheus; a PromQL parser does not know them. ``expand`` performs
the same substitution so every query can be parsed, and evaluated against a real
Prometheus, exactly as Grafana would send it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import promql_parser

__all__ = [
    "GRAFANA_DEFAULTS",
    "PromQLError",
    "expand",
    "metric_names",
    "parse",
]


class PromQLError(ValueError):
    """A query is not valid PromQL once Grafana's variables are substituted."""


# What Grafana sends for each variable and macro when the dashboard shows "All" and a
# 5 s scrape interval: `$__rate_interval` is max(4 x scrape interval, interval + scrape).
GRAFANA_DEFAULTS: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "5s",
    "__range": "1h",
    "environment": ".*",
    "endpoint": ".*",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def expand(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables and macros in ``expr``.

    ``values`` overrides ``GRAFANA_DEFAULTS`` per name. An unknown variable raises
    ``PromQLError`` naming it, so a typo in a panel cannot pass as a literal.
    """
    merged = {**GRAFANA_DEFAULTS, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in merged:
            raise PromQLError(f"unknown Grafana variable ${name} in query: {expr}")
        return merged[name]

    return _VARIABLE.sub(replace, expr)


def parse(expr: str, values: Mapping[str, str] | None = None) -> promql_parser.Expr:
    """Parse ``expr`` after expanding Grafana variables; raise ``PromQLError`` if invalid."""
    expanded = expand(expr, values)
    try:
        return promql_parser.parse(expanded)
    except (ValueError, RuntimeError) as error:
        raise PromQLError(f"invalid PromQL {expanded!r}: {error}") from error


def metric_names(expr: str) -> frozenset[str]:
    """The metric names every vector selector in ``expr`` reads (after expansion).

    Histogram suffixes are kept (``http_req_duration_seconds_bucket``) because that is
    the series name Prometheus stores and an exporter must emit.
    """
    names: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(parse(expr), visit)
    return frozenset(names)
