from locust import between, task

from loadtests.suite.user_base import SuiteUser


class ProjectBrowser(SuiteUser):
    group = "projects"
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.login()  # a random account from the run's secret test users

    @task
    def projects(self) -> None:
        self.get_json("/api/projects?limit=20", "GET /api/projects", "the project list is JSON")
