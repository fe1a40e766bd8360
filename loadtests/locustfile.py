"""The Studio Hub user journeys of the specification, as Locust FastHttpUser classes.

Seven user groups, weighted by `load.user_weights` (a group weighted 0 is left out):

    authentication  log in, think, log out
    dashboard       the overview page
    insight         the issue list; 30 % of visits open one issue's details
    autopilot       the run list; 20 % of visits check one run's status
    guardian        the test-monitoring list
    analytics       the event time series (daily buckets)
    static_assets   the stylesheet, application and vendor bundles, logo

With `load.browser_share` above 0, that share of the users are headless-browser users on the
dashboard page (loadtests/browser_user.py), recording web vitals through the same listeners.

Every user thinks 1-6 s (`load.think_time_min_s/max_s`) between actions. Authenticated groups
log in once per user with a test account drawn at random from the secret list
(ODAVL_LOADTEST_USERS / ODAVL_LOADTEST_USERS_FILE; never logged). Each response is checked for
its status and the shape of its body; a failed check fails the request (and counts in the
`checks` rate); a refused login counts in `auth_failures`.

Endpoint names are "METHOD /path" with ids written as `:id`, the names used by the results
document, the Prometheus labels and the SLO lines.
"""

from __future__ import annotations

import logging
import random

from locust import between, events, task

from loadtests.config import SuiteConfig, load_test_users
from loadtests.listeners import setup_suite_listeners
from loadtests.locust_shape import ProfileShape
from loadtests.user_base import SuiteUser, items

log = logging.getLogger("loadtests")

CONFIG = SuiteConfig.from_env()
STATE = setup_suite_listeners(events, CONFIG)
TEST_USERS = load_test_users()

LOGIN = "POST /api/auth/login"
LOGOUT = "POST /api/auth/logout"
OVERVIEW = "GET /api/dashboard/overview"
ISSUES = "GET /api/insight/issues"
ISSUE = "GET /api/insight/issues/:id"
RUNS = "GET /api/autopilot/runs"
RUN_STATUS = "GET /api/autopilot/runs/:id"
TESTS = "GET /api/guardian/tests"
ANALYTICS = "GET /api/analytics/timeseries"
STATIC = {
    "GET /static/css/app.css": "/static/css/app.css",
    "GET /static/js/app.js": "/static/js/app.js",
    "GET /static/js/vendor.js": "/static/js/vendor.js",
    "GET /static/img/logo.svg": "/static/img/logo.svg",
}
ISSUE_DETAIL_SHARE = 0.30
RUN_STATUS_SHARE = 0.20


class GroupUser(SuiteUser):
    """The suite's users: think times from the settings, test users from the secret list."""

    abstract = True
    wait_time = between(CONFIG.think_time_min_s, CONFIG.think_time_max_s)
    test_users = TEST_USERS
    login_endpoint = LOGIN
    logout_endpoint = LOGOUT


class AuthenticatedUser(GroupUser):
    abstract = True

    def on_start(self) -> None:
        self.login()

    def list_then_detail(
        self, list_path: str, list_endpoint: str, detail_path: str, detail_endpoint: str, share: float
    ) -> None:
        """Load a list; with probability `share`, think and open one of its items."""
        rows = items(self.get_json(list_path, list_endpoint, "the list is JSON"))
        if rows and random.random() < share:
            row = random.choice(rows)
            if isinstance(row, dict) and "id" in row:
                self.wait()
                self.get_json(detail_path.format(id=row["id"]), detail_endpoint, "the item is JSON")


class AuthenticationUser(GroupUser):
    group = "authentication"

    @task
    def login_logout(self) -> None:
        if self.login():
            self.wait()
            self.logout()


class DashboardUser(AuthenticatedUser):
    group = "dashboard"

    @task
    def overview(self) -> None:
        self.get_json("/api/dashboard/overview", OVERVIEW, "overview is a JSON document")


class InsightUser(AuthenticatedUser):
    group = "insight"

    @task
    def issues(self) -> None:
        self.list_then_detail(
            "/api/insight/issues", ISSUES, "/api/insight/issues/{id}", ISSUE, ISSUE_DETAIL_SHARE
        )


class AutopilotUser(AuthenticatedUser):
    group = "autopilot"

    @task
    def runs(self) -> None:
        self.list_then_detail(
            "/api/autopilot/runs", RUNS, "/api/autopilot/runs/{id}", RUN_STATUS, RUN_STATUS_SHARE
        )


class GuardianUser(AuthenticatedUser):
    group = "guardian"

    @task
    def tests(self) -> None:
        self.get_json("/api/guardian/tests", TESTS, "test list is JSON")


class AnalyticsUser(AuthenticatedUser):
    group = "analytics"

    @task
    def metrics(self) -> None:
        self.get_json("/api/analytics/timeseries?bucket=day", ANALYTICS, "time series is JSON")


class StaticAssetsUser(GroupUser):
    group = "static_assets"

    @task
    def assets(self) -> None:
        for endpoint, path in STATIC.items():
            with self.client.get(path, name=endpoint, catch_response=True) as response:
                ok = response.status_code == 200 and bool(response.content)
                self.check(response, endpoint, ok, "asset has a body")


class StagedShape(ProfileShape):
    """The configured profile (loadtests/shape.py), scaled by max users and time scale."""

    abstract = False


GROUP_CLASSES = {
    cls.group: cls
    for cls in (
        AuthenticationUser,
        DashboardUser,
        InsightUser,
        AutopilotUser,
        GuardianUser,
        AnalyticsUser,
        StaticAssetsUser,
    )
}


def _apply_weights(namespace: dict) -> None:
    """Give each group its configured weight; Locust runs every User class in this module's
    namespace, so a group weighted 0 is removed from it."""
    for group, cls in GROUP_CLASSES.items():
        weight = CONFIG.user_weights.get(group, 0)
        if weight > 0:
            cls.weight = weight
        else:
            del namespace[cls.__name__]


_apply_weights(globals())

if CONFIG.browser_share > 0:
    # Imported only when asked for: a browser user starts a Chromium of its own.
    from loadtests.browser_user import DashboardBrowserUser, browser_weight

    class DashboardBrowser(DashboardBrowserUser):
        """Headless Chromium on the dashboard page: LCP, CLS, INP and FID per visit."""

        abstract = False
        wait_time = between(CONFIG.think_time_min_s, CONFIG.think_time_max_s)
        weight = browser_weight(
            CONFIG.browser_share, [cls.weight for cls in GROUP_CLASSES.values() if cls.__name__ in globals()]
        )


StagedShape.stages = CONFIG.stages
StagedShape.drain_s = CONFIG.stop_timeout_s + ProfileShape.drain_s
