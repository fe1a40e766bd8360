"""The endpoints the load-test suite requests, under the names its results carry.

Names are "METHOD /path" with ids written `:id`: the keys of the results document's `endpoints`,
the Prometheus `name` label and the `{endpoint:NAME}` threshold filters all use them. The module
is pure data (no Locust import), so the SLO catalog's tests and the settings can check names
against what the suite really requests.

The filter values are the reference Studio Hub API's (reference_app/api.py). The suite keeps its
own copy because it also runs against deployed targets and never imports the app; a unit test
keeps the two equal.
"""

from __future__ import annotations

__all__ = [
    "ANALYTICS",
    "ANALYTICS_BY_PROJECT",
    "ISSUE",
    "ISSUES",
    "ISSUES_SEARCH",
    "ISSUES_UNRESOLVED",
    "LOGIN",
    "LOGOUT",
    "OVERVIEW",
    "PROJECTS",
    "RUNS",
    "RUNS_BY_STATUS",
    "RUN_START",
    "RUN_STATUS",
    "RUN_STATUSES",
    "SEVERITIES",
    "STATIC",
    "SUITE_ENDPOINTS",
    "TESTS",
    "TESTS_BY_STATUS",
    "TESTS_BY_URL",
    "TEST_STATUSES",
]

LOGIN = "POST /api/auth/login"
LOGOUT = "POST /api/auth/logout"
OVERVIEW = "GET /api/dashboard/overview"
PROJECTS = "GET /api/projects"
ISSUES = "GET /api/insight/issues"
ISSUE = "GET /api/insight/issues/:id"
ISSUES_UNRESOLVED = "GET /api/insight/issues/unresolved"
ISSUES_SEARCH = "GET /api/insight/issues/search"
RUNS = "GET /api/autopilot/runs"
RUN_STATUS = "GET /api/autopilot/runs/:id"
RUN_START = "POST /api/autopilot/runs"
RUNS_BY_STATUS = "GET /api/autopilot/runs/by-status"
TESTS = "GET /api/guardian/tests"
TESTS_BY_URL = "GET /api/guardian/tests/by-url"
TESTS_BY_STATUS = "GET /api/guardian/tests/by-status"
ANALYTICS = "GET /api/analytics/timeseries"
ANALYTICS_BY_PROJECT = "GET /api/analytics/timeseries/by-project"
# endpoint name -> path of the static assets a page load fetches
STATIC: dict[str, str] = {
    "GET /static/css/app.css": "/static/css/app.css",
    "GET /static/js/app.js": "/static/js/app.js",
    "GET /static/js/vendor.js": "/static/js/vendor.js",
    "GET /static/img/logo.svg": "/static/img/logo.svg",
}

# Every endpoint name the suite's HTTP users report (the browser users report page visits).
SUITE_ENDPOINTS: tuple[str, ...] = (
    LOGIN,
    LOGOUT,
    OVERVIEW,
    PROJECTS,
    ISSUES,
    ISSUE,
    ISSUES_UNRESOLVED,
    ISSUES_SEARCH,
    RUNS,
    RUN_STATUS,
    RUN_START,
    RUNS_BY_STATUS,
    TESTS,
    TESTS_BY_URL,
    TESTS_BY_STATUS,
    ANALYTICS,
    ANALYTICS_BY_PROJECT,
    *STATIC,
)

# Values the list filters accept.
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
RUN_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TEST_STATUSES: tuple[str, ...] = ("pending", "running", "passed", "failed", "error")
