"""The Studio Hub user journeys of the specification, as Locust FastHttpUser classes.

Seven user groups, weighted by `load.user_weights` (a group weighted 0 is left out):

    authentication  log in, think, log out
    dashboard       the overview page
    insight         the issue list (30 % of visits open one issue's details), the unresolved
                    issues of a severity, a file-path search for a path seen in the list
    autopilot       the run list (20 % of visits check one run's status), the runs in a
                    status, and now and then a manual run started and its status checked
    guardian        the test-monitoring list, the tests in a status, the history of a URL
                    seen in the list
    analytics       the event time series (daily buckets) of the organisation or a project
    static_assets   the stylesheet, application and vendor bundles, logo

Task weights follow how the dashboards are used: each group's landing list is its most
frequent request, the filtered views come second, and starting an autopilot run (a write) is
the rarest action. Together the groups request every endpoint with an SLO in
docs/SLO_BASELINES.md (a test checks the names).

With `load.browser_share` above 0, that share of the users are headless-browser users on the
dashboard page (loadtests/suite/browser/user.py), recording web vitals through the same listeners.

Every user thinks 1-6 s (`load.think_time_min_s/max_s`) between actions. Authenticated groups
log in once per user with a test account drawn at random from the secret list
(ODAVL_LOADTEST_USERS / ODAVL_LOADTEST_USERS_FILE; never logged). Each response is checked for
its status and the shape of its body; a failed check fails the request (and counts in the
`checks` rate); a refused login counts in `auth_failures`.

Endpoint names are "METHOD /path" with ids written as `:id` (loadtests/suite/endpoints.py), the
names used by the results document, the Prometheus labels and the SLO lines.
"""

from __future__ import annotations

import logging
import random
from urllib.parse import urlencode

from locust import between, events, task

from loadtests.run.config import SuiteConfig, load_test_users
from loadtests.suite.endpoints import (
    ANALYTICS,
    ANALYTICS_BY_PROJECT,
    ISSUE,
    ISSUES,
    ISSUES_SEARCH,
    ISSUES_UNRESOLVED,
    LOGIN,
    LOGOUT,
    OVERVIEW,
    PROJECTS,
    RUN_START,
    RUN_STATUS,
    RUN_STATUSES,
    RUNS,
    RUNS_BY_STATUS,
    SEVERITIES,
    STATIC,
    TEST_STATUSES,
    TESTS,
    TESTS_BY_STATUS,
    TESTS_BY_URL,
)
from loadtests.suite.listeners import setup_suite_listeners
from loadtests.suite.locust_shape import ProfileShape
from loadtests.suite.user_base import SuiteUser, items

log = logging.getLogger("loadtests")

CONFIG = SuiteConfig.from_env()
STATE = setup_suite_listeners(events, CONFIG)
TEST_USERS = load_test_users()

ISSUE_DETAIL_SHARE = 0.30
RUN_STATUS_SHARE = 0.20
# Search terms are path segments at least this long: the API (and a trigram index) needs 3.
MIN_SEARCH_TERM = 3


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
        self.active_projects: list[int] | None = None

    def list_then_detail(
        self, list_path: str, list_endpoint: str, detail_path: str, detail_endpoint: str, share: float
    ) -> list:
        """Load a list; with probability `share`, think and open one of its items. Returns the rows."""
        rows = items(self.get_json(list_path, list_endpoint, "the list is JSON"))
        if rows and random.random() < share:
            row = random.choice(rows)
            if isinstance(row, dict) and "id" in row:
                self.wait()
                self.get_json(detail_path.format(id=row["id"]), detail_endpoint, "the item is JSON")
        return rows

    def project_ids(self) -> list[int]:
        """Ids of the caller's active projects, loaded once per user (the dashboards' project
        picker); a failed load is retried on the next call."""
        if self.active_projects is None:
            body = self.get_json("/api/projects?limit=100", PROJECTS, "the project list is JSON")
            if body is None:
                return []
            self.active_projects = [
                row["id"]
                for row in items(body)
                if isinstance(row, dict) and isinstance(row.get("id"), int) and row.get("archived_at") is None
            ]
        return self.active_projects


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

    def on_start(self) -> None:
        super().on_start()
        self.file_paths: list[str] = []

    @task(6)
    def issues(self) -> None:
        rows = self.list_then_detail(
            "/api/insight/issues", ISSUES, "/api/insight/issues/{id}", ISSUE, ISSUE_DETAIL_SHARE
        )
        paths = [row["file_path"] for row in rows if isinstance(row, dict) and row.get("file_path")]
        if paths:
            self.file_paths = paths

    @task(2)
    def unresolved(self) -> None:
        query = urlencode({"severity": random.choice(SEVERITIES)})
        self.get_json(f"/api/insight/issues/unresolved?{query}", ISSUES_UNRESOLVED, "the list is JSON")

    @task(2)
    def search(self) -> None:
        """Search file paths for a directory or file name seen in the issue list."""
        if not self.file_paths:
            self.issues()  # the search box is on the list page: a user sees the list first
            self.wait()
        terms = [
            part.rsplit(".", 1)[0]
            for path in self.file_paths
            for part in str(path).split("/")
            if len(part.rsplit(".", 1)[0]) >= MIN_SEARCH_TERM
        ]
        if terms:
            query = urlencode({"q": random.choice(terms)[:100]})
            self.get_json(f"/api/insight/issues/search?{query}", ISSUES_SEARCH, "the search result is JSON")


class AutopilotUser(AuthenticatedUser):
    group = "autopilot"

    @task(6)
    def runs(self) -> None:
        self.list_then_detail(
            "/api/autopilot/runs", RUNS, "/api/autopilot/runs/{id}", RUN_STATUS, RUN_STATUS_SHARE
        )

    @task(3)
    def runs_by_status(self) -> None:
        query = urlencode({"status": random.choice(RUN_STATUSES)})
        self.get_json(f"/api/autopilot/runs/by-status?{query}", RUNS_BY_STATUS, "the list is JSON")

    @task(1)
    def start_run(self) -> None:
        """Queue a manual run on one of the caller's projects, think, then check its status."""
        projects = self.project_ids()
        if not projects:
            return
        payload = {"project_id": random.choice(projects)}
        run = self.post_json("/api/autopilot/runs", RUN_START, payload, "the queued run is JSON")
        if isinstance(run, dict) and "id" in run:
            self.wait()
            self.get_json(f"/api/autopilot/runs/{run['id']}", RUN_STATUS, "the item is JSON")


class GuardianUser(AuthenticatedUser):
    group = "guardian"

    def on_start(self) -> None:
        super().on_start()
        self.urls: list[str] = []

    @task(5)
    def tests(self) -> None:
        rows = items(self.get_json("/api/guardian/tests", TESTS, "test list is JSON"))
        urls = [row["url"] for row in rows if isinstance(row, dict) and isinstance(row.get("url"), str)]
        if urls:
            self.urls = urls

    @task(3)
    def tests_by_status(self) -> None:
        query = urlencode({"status": random.choice(TEST_STATUSES)})
        self.get_json(f"/api/guardian/tests/by-status?{query}", TESTS_BY_STATUS, "the list is JSON")

    @task(2)
    def tests_by_url(self) -> None:
        """The test history of one monitored URL seen in the test list."""
        if not self.urls:
            self.tests()
            self.wait()
        if self.urls:
            query = urlencode({"url": random.choice(self.urls)})
            self.get_json(f"/api/guardian/tests/by-url?{query}", TESTS_BY_URL, "the list is JSON")


class AnalyticsUser(AuthenticatedUser):
    group = "analytics"

    @task(3)
    def metrics(self) -> None:
        self.get_json("/api/analytics/timeseries?bucket=day", ANALYTICS, "time series is JSON")

    @task(2)
    def metrics_by_project(self) -> None:
        projects = self.project_ids()
        if projects:
            query = urlencode({"project_id": random.choice(projects), "bucket": "day"})
            self.get_json(
                f"/api/analytics/timeseries/by-project?{query}", ANALYTICS_BY_PROJECT, "time series is JSON"
            )


class StaticAssetsUser(GroupUser):
    group = "static_assets"

    @task
    def assets(self) -> None:
        for endpoint, path in STATIC.items():
            with self.client.get(path, name=endpoint, catch_response=True) as response:
                ok = response.status_code == 200 and bool(response.content)
                self.check(response, endpoint, ok, "asset has a body")


class StagedShape(ProfileShape):
    """The configured profile (loadtests/run/shape.py), scaled by max users and time scale."""

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
    from loadtests.suite.browser.user import DashboardBrowserUser, browser_weight

    class DashboardBrowser(DashboardBrowserUser):
        """Headless Chromium on the dashboard page: LCP, CLS and INP per visit."""

        abstract = False
        wait_time = between(CONFIG.think_time_min_s, CONFIG.think_time_max_s)
        weight = browser_weight(
            CONFIG.browser_share, [cls.weight for cls in GROUP_CLASSES.values() if cls.__name__ in globals()]
        )


StagedShape.stages = CONFIG.stages
StagedShape.drain_s = CONFIG.stop_timeout_s + ProfileShape.drain_s
