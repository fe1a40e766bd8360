"""The suite's endpoint names (loadtests/suite/endpoints.py): they cover every SLO endpoint, name
routes of the reference app, and use the filter values the app accepts."""

from __future__ import annotations

import ast
from pathlib import Path

from loadtests.analysis.sources import endpoint_key, route_queries
from loadtests.slo import catalog as slo_catalog
from loadtests.suite import endpoints as suite_endpoints

LOCUSTFILE = Path(suite_endpoints.__file__).with_name("locustfile.py")


def requested_names() -> set[str]:
    """The suite_endpoints constants the locustfile's user classes pass to a request helper."""
    tree = ast.parse(LOCUSTFILE.read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get_json", "post_json", "list_then_detail")
        ):
            used.update(arg.id for arg in node.args if isinstance(arg, ast.Name))
    return {getattr(suite_endpoints, name) for name in used if hasattr(suite_endpoints, name)}


def test_the_suite_requests_every_endpoint_with_an_slo() -> None:
    slo_endpoints = {e.endpoint for e in slo_catalog.ENDPOINT_SLOS}
    assert slo_endpoints - set(suite_endpoints.SUITE_ENDPOINTS) == set()
    assert slo_endpoints - requested_names() == set()


def test_every_suite_endpoint_is_a_reference_app_route() -> None:
    from reference_app.api import api_routes
    from reference_app.static_assets import ASSETS

    routes = set(route_queries(api_routes()))
    static = {f"GET /static/{path}" for path in ASSETS}
    missing = [
        name
        for name in suite_endpoints.SUITE_ENDPOINTS
        if endpoint_key(name) not in routes and name not in static
    ]
    assert missing == []


def test_filter_values_are_the_reference_apps() -> None:
    from reference_app import api

    assert suite_endpoints.SEVERITIES == api.SEVERITIES
    assert suite_endpoints.RUN_STATUSES == api.RUN_STATUSES
    assert suite_endpoints.TEST_STATUSES == api.TEST_STATUSES
