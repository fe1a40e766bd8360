"""Run settings of the local fleet, and how they reach the Locust processes.

`RunConfig` is what `loadtests.run.runner.run_local` takes. The master and worker processes get
the non-secret part as a JSON file (`SuiteConfig`, path in ODAVL_LOADTEST_CONFIG) and the test
users through the environment only (ODAVL_LOADTEST_USERS, a JSON list of {"email", "password"};
or ODAVL_LOADTEST_USERS_FILE, a path to such a file), never on a command line or in a log.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.errors import ConfigError, TargetNotAllowedError
from loadtests.results.metrics import USER_GROUPS
from loadtests.run.arrival import ARRIVAL_LEAD_S, Executor
from loadtests.run.shape import PROFILES, Stage, profile_stages
from loadtests.run.target_tls import ca_bundle_problem
from loadtests.slo.spec import settings_problems

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PRODUCTION_HOSTS",
    "DEFAULT_WEIGHTS",
    "PRODUCTION_MAX_USERS",
    "USERS_ENV",
    "USERS_FILE_ENV",
    "InfluxExport",
    "PrometheusExport",
    "RunConfig",
    "SuiteConfig",
    "TestUser",
    "check_target",
    "is_loopback",
    "is_production_host",
    "load_test_users",
    "open_model_stages",
    "parse_test_users",
    "scenario_problems",
]

CONFIG_ENV = "ODAVL_LOADTEST_CONFIG"
USERS_ENV = "ODAVL_LOADTEST_USERS"
USERS_FILE_ENV = "ODAVL_LOADTEST_USERS_FILE"
WORKER_ID_ENV = "ODAVL_LOADTEST_WORKER_ID"
# The runner's pid, given to the master and workers it starts (loadtests/suite/parent_watch.py).
PARENT_PID_ENV = "ODAVL_LOADTEST_PARENT_PID"
# The web-vitals IIFE script the browser users inject, when not the one the set-up fetched.
WEB_VITALS_ENV = "ODAVL_WEB_VITALS"

# Relative weights of the user groups when the stack does not set them.
DEFAULT_WEIGHTS: Mapping[str, int] = {
    "authentication": 10,
    "dashboard": 25,
    "insight": 20,
    "autopilot": 15,
    "guardian": 10,
    "analytics": 10,
    "static_assets": 10,
}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Production is a property of the target: a run against one of these hosts is a production run,
# whatever its environment label says. Exact names; a "*.domain" entry covers every subdomain.
DEFAULT_PRODUCTION_HOSTS = ("odavl.studio", "www.odavl.studio")
PRODUCTION_MAX_USERS = 2000  # the specification's maximum tested capacity


@dataclass(frozen=True)
class TestUser:
    """A test account; its repr hides the password."""

    __test__ = False  # not a pytest test class

    email: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class PrometheusExport:
    """Prometheus exporters: master on `master_port`, worker i on `worker_ports[i]`.

    `linger_s` keeps every process serving its final values that long after the run, so a
    scrape can pick them up.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    master_port: int = 0
    worker_ports: tuple[int, ...] = ()
    linger_s: float = 0.0


@dataclass(frozen=True)
class InfluxExport:
    """InfluxDB v1 line-protocol export (HTTP /write), batched through a bounded queue."""

    enabled: bool = False
    url: str = "http://127.0.0.1:8086"
    database: str = "loadtests"
    # InfluxDB's own advice for writes: batches of about 5,000 lines (each write has a fixed
    # cost on the generator's CPU: the request, the response and its parsing).
    batch_size: int = 5000
    flush_interval_s: float = 1.0
    queue_size: int = 50_000


@dataclass(frozen=True)
class RunConfig:
    """Everything one local run needs. Durations in seconds; weights are relative integers."""

    target: str
    profile: str = "staged"
    max_users: int = 1200
    time_scale: float = 1.0
    stages: tuple[Stage, ...] | None = None
    workers: int = 2
    user_weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    think_time_min_s: float = 1.0
    think_time_max_s: float = 6.0
    # Share (0 up to 1) of users that are headless-browser users measuring web vitals.
    browser_share: float = 0.0
    test_users: tuple[TestUser, ...] = field(default=(), repr=False)
    results_path: str = "reports/results.json"
    run_id: str = "local"
    stack: str = "local"
    environment: str = "local"
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    # PEM file of CA certificates trusted for an https target besides the system store.
    ca_bundle: str | None = None
    # Hosts whose runs are production runs (see is_production_host).
    production_hosts: tuple[str, ...] = DEFAULT_PRODUCTION_HOSTS
    # The explicit permission for one production run (`--allow-production`); never a stored value.
    allow_production: bool = False
    prometheus: PrometheusExport = field(default_factory=PrometheusExport)
    influxdb: InfluxExport = field(default_factory=InfluxExport)
    live_check: Callable[[dict], str | None] | None = field(default=None, repr=False, compare=False)
    live_check_interval_s: float = 5.0
    # Another complete locustfile that sets up the suite's listeners itself (tests, benchmarks);
    # None = the suite.
    locustfile: str | None = None
    # A scenario of your own (`--locustfile`, `loadLocustfile`): a locustfile declaring only user
    # classes derived from loadtests.suite.user_base.SuiteUser; the runner loads it after
    # loadtests/suite/harness.py, which brings every listener and the profile. None = the suite.
    scenario: str | None = None
    stop_timeout_s: float = 10.0
    expect_workers_timeout_s: float = 60.0
    # Hard limit on the whole run; None = the profile's duration plus a margin.
    run_timeout_s: float | None = None
    log_dir: str | None = None
    # How iterations start (loadtests/run/arrival.py): the closed model (the profile's users)
    # by default, or an arrival-rate executor, which replaces the profile and think times.
    executor: Executor = field(default_factory=Executor)
    # The SLO threshold lines a capacity search judges each of its steps with.
    thresholds: tuple[str, ...] = ()

    def resolved_stages(self) -> tuple[Stage, ...]:
        if self.executor.open_model:
            return open_model_stages(self.executor)
        return profile_stages(self.profile, self.max_users, self.time_scale, self.stages)

    def validate(self) -> None:
        """Raise ConfigError listing every bad setting (the target check comes first)."""
        host = check_target(self.target, self.allowed_hosts)
        problems = self._environment_problems(host)
        if self.profile not in PROFILES and not self.stages:
            problems.append(f"load.profile: {self.profile!r} is not one of {', '.join(sorted(PROFILES))}")
        if not isinstance(self.workers, int) or not 1 <= self.workers <= 64:
            problems.append(f"load.workers: {self.workers!r} must be a whole number from 1 to 64")
        if not isinstance(self.max_users, int) or self.max_users < 0:
            problems.append(f"load.max_users: {self.max_users!r} must be a whole number >= 0")
        if not (
            isinstance(self.time_scale, int | float)
            and math.isfinite(self.time_scale)
            and self.time_scale > 0
        ):
            problems.append(f"load.time_scale: {self.time_scale!r} must be a number > 0")
        if not 0 <= self.think_time_min_s <= self.think_time_max_s:
            problems.append(
                f"load.think_time_min_s/think_time_max_s: {self.think_time_min_s!r}/{self.think_time_max_s!r}"
                " must satisfy 0 <= min <= max"
            )
        problems.extend(weight_problems(self.user_weights))
        if self.ca_bundle:
            bundle_problem = ca_bundle_problem(self.ca_bundle)
            if bundle_problem:
                problems.append(f"target.ca_bundle: {self.ca_bundle!r}: expected {bundle_problem}")
        share = self.browser_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
            problems.append(f"load.browser_share: {share!r} must be a number from 0 up to (not including) 1")
        if self.scenario is not None:
            problems.extend(
                f"load.scenario (--locustfile, loadLocustfile): {self.scenario!r}: {reason}; expected the "
                "path of a locustfile whose users derive from loadtests.suite.user_base.SuiteUser"
                for reason in scenario_problems(self.scenario)
            )
            if share:
                problems.append(
                    f"load.browser_share: {share!r} with a scenario of your own: the browser users belong "
                    "to the suite's own journeys; expected 0"
                )
        problems.extend(self._executor_problems())
        if self.prometheus.enabled and len(self.prometheus.worker_ports) not in (0, self.workers):
            problems.append(
                f"prometheus.worker_ports: {len(self.prometheus.worker_ports)} ports given for "
                f"{self.workers} workers; give one per worker or none"
            )
        if problems:
            raise ConfigError("invalid load-test settings:\n  " + "\n  ".join(problems))

    def _executor_problems(self) -> list[str]:
        executor = self.executor
        workers = self.workers if isinstance(self.workers, int) else 1
        problems = executor.problems(workers)
        if executor.open_model and self.browser_share:
            problems.append(
                f"load.browser_share: {self.browser_share!r} with the {executor.kind} executor: the browser "
                "users run in the closed model only; expected 0"
            )
        if executor.kind == "capacity":
            if not self.thresholds:
                problems.append(
                    "load.thresholds: (none): the capacity search judges every step with the run's SLO "
                    "threshold lines; expected at least one, such as 'http_req_failed: rate<0.01'"
                )
            else:
                problems.extend(f"load.thresholds{p}" for p in settings_problems(list(self.thresholds)))
        return problems

    def _environment_problems(self, host: str) -> list[str]:
        """Production is decided by the target host as well as the label, and needs the per-run
        permission and at most PRODUCTION_MAX_USERS users; the local label is for loopback only."""
        problems = []
        production_host = is_production_host(host, self.production_hosts)
        if production_host and self.environment != "production":
            problems.append(
                f"environment: {self.environment!r}, but the target host {host!r} is a production host "
                f"({', '.join(self.production_hosts)}); expected production"
            )
        if self.environment == "local" and not is_loopback(host):
            problems.append(
                f"environment: 'local' targets loopback addresses only, but the target host is {host!r}; "
                "expected staging or production"
            )
        if not (production_host or self.environment == "production"):
            return problems
        if not self.allow_production:
            problems.append(
                "load.allow_production: False: a load test on production needs the explicit permission "
                "for this run (python -m loadtests run --allow-production; for pulumi up "
                "ODAVL_ALLOW_PRODUCTION_RUN=<stack>)"
            )
        peak = max((stage.target for stage in self.stages), default=0) if self.stages else self.max_users
        if self.executor.open_model:
            peak = self.executor.max_users
        if isinstance(peak, int) and peak > PRODUCTION_MAX_USERS:
            problems.append(
                f"load.max_users: {peak}: expected at most {PRODUCTION_MAX_USERS} users on production "
                "(the specified maximum capacity)"
            )
        return problems


def open_model_stages(executor: Executor) -> tuple[Stage, ...]:
    """The profile an arrival-rate run plays: no users of Locust's own (the executor's pool
    brings them), for the lead-in plus the schedule's length (a capacity search's longest;
    it ends the run itself once it is done)."""
    return (Stage(round(ARRIVAL_LEAD_S + executor.planned_duration_s(), 3), 0),)


def scenario_problems(path: str) -> list[str]:
    """Why `path` cannot be a scenario locustfile ([] when it can): an existing .py file whose
    path Locust can take in a list (`-f harness.py,<path>`, so no comma)."""
    if not path or "," in path or not path.endswith(".py"):
        return ["not a Python locustfile's path (ending in .py, with no comma)"]
    if not Path(path).is_file():
        return ["no such file"]
    return []


def is_production_host(host: str, production_hosts: Sequence[str]) -> bool:
    """Whether `host` is a production host: equal to an entry, or under a `*.domain` entry.

    Case-insensitive, trailing dot ignored. A plain entry does not cover its subdomains
    (staging.odavl.studio is a subdomain of odavl.studio, and not production); `*.odavl.studio`
    covers every subdomain of odavl.studio, but not odavl.studio itself.
    """
    name = host.strip("[]").rstrip(".").lower()
    for entry in production_hosts:
        entry = entry.rstrip(".").lower()
        if entry.startswith("*.") and name.endswith(entry[1:]):
            return True
        if name == entry:
            return True
    return False


def weight_problems(weights: Mapping[str, int]) -> list[str]:
    problems = []
    unknown = sorted(set(weights) - set(USER_GROUPS))
    if unknown:
        problems.append(
            f"load.user_weights: unknown group(s) {', '.join(unknown)};"
            f" expected keys from {', '.join(USER_GROUPS)}"
        )
    for name, weight in weights.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            problems.append(f"load.user_weights.{name}: {weight!r} must be a whole number >= 0")
    if weights and not any(isinstance(w, int) and w > 0 for w in weights.values()):
        problems.append("load.user_weights: at least one group needs a weight > 0")
    return problems


def check_target(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """Return the target's host if `url` is an http(s) URL on an allowed host, else raise."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Never echoed: the credentials would land in logs, results and reports.
        shown = f"{parts.scheme}://(credentials)@{parts.hostname or ''}{parts.path}"
        raise ConfigError(
            f"target.base_url: {shown!r} carries credentials; expected a URL without user or password "
            "(test users come from the secret list)"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"target.base_url: {url!r} must be an http:// or https:// URL with a host")
    host = parts.hostname
    if host not in allowed_hosts:
        raise TargetNotAllowedError(
            f"target.base_url: host {host!r} is not in target.allowed_hosts ({', '.join(allowed_hosts)})"
        )
    return host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_test_users(text: str, source: str) -> tuple[TestUser, ...]:
    """Parse a JSON list of {"email", "password"}; errors never quote the passwords."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: expected a JSON list of {{'email', 'password'}} objects")
    users = []
    for i, item in enumerate(raw):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("email"), str)
            and isinstance(item.get("password"), str)
            and item["email"]
        ):
            raise ConfigError(f"{source}[{i}]: expected an object with string 'email' and 'password'")
        users.append(TestUser(item["email"], item["password"]))
    return tuple(users)


def load_test_users(environ: Mapping[str, str] = os.environ) -> tuple[TestUser, ...]:
    """Test users from ODAVL_LOADTEST_USERS (JSON) or the file named by ODAVL_LOADTEST_USERS_FILE."""
    if environ.get(USERS_ENV):
        return parse_test_users(environ[USERS_ENV], USERS_ENV)
    if environ.get(USERS_FILE_ENV):
        path = Path(environ[USERS_FILE_ENV])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{USERS_FILE_ENV}: cannot read {path}: {exc.strerror}") from None
        return parse_test_users(text, str(path))
    return ()


@dataclass(frozen=True)
class SuiteConfig:
    """The non-secret settings every Locust process of a run reads (JSON file)."""

    target: str
    run_id: str = "local"
    stack: str = "local"
    environment: str = "local"
    profile: str = "staged"
    max_users: int = 1200
    time_scale: float = 1.0
    stages: tuple[Stage, ...] = ()
    user_weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    think_time_min_s: float = 1.0
    think_time_max_s: float = 6.0
    browser_share: float = 0.0
    results_path: str = "reports/results.json"
    progress_path: str = ""
    snapshot_path: str = ""
    control_path: str = ""
    live_check_interval_s: float = 5.0
    stop_timeout_s: float = 10.0
    prometheus: PrometheusExport = field(default_factory=PrometheusExport)
    influxdb: InfluxExport = field(default_factory=InfluxExport)
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    # PEM text of the CA certificates trusted besides the system store (loadtests/run/target_tls.py);
    # the text rather than a path, so a worker pod verifies the target without a file mount.
    ca_bundle_pem: str = ""
    # The executor (loadtests/run/arrival.py); an arrival-rate run's `stages` are
    # open_model_stages(executor). `thresholds`: the lines a capacity search judges steps with.
    executor: Executor = field(default_factory=Executor)
    thresholds: tuple[str, ...] = ()

    def identity(self) -> dict:
        """The results document's run_id, stack, environment, target and profile."""
        return {
            "run_id": self.run_id,
            "stack": self.stack,
            "environment": self.environment,
            "target": self.target,
            "profile": {
                "name": self.profile,
                "max_users": self.max_users,
                "time_scale": self.time_scale,
                "stages": [s.as_dict() for s in self.stages],
            },
        }

    def to_json(self) -> str:
        data = {
            **self.__dict__,
            "stages": [s.as_dict() for s in self.stages],
            "user_weights": dict(self.user_weights),
            "prometheus": {**self.prometheus.__dict__, "worker_ports": list(self.prometheus.worker_ports)},
            "influxdb": dict(self.influxdb.__dict__),
            "allowed_hosts": list(self.allowed_hosts),
            "executor": self.executor.as_dict(),
            "thresholds": list(self.thresholds),
        }
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> SuiteConfig:
        data = json.loads(text)
        data["stages"] = tuple(
            Stage(float(s["duration_s"]), int(s["target"])) for s in data.get("stages", ())
        )
        prom = data.get("prometheus", {})
        data["prometheus"] = PrometheusExport(**{**prom, "worker_ports": tuple(prom.get("worker_ports", ()))})
        data["influxdb"] = InfluxExport(**data.get("influxdb", {}))
        data["allowed_hosts"] = tuple(data.get("allowed_hosts", LOOPBACK_NAMES))
        data["executor"] = Executor.from_dict(data.get("executor"))
        data["thresholds"] = tuple(data.get("thresholds", ()))
        return cls(**data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SuiteConfig:
        """The run's config file if ODAVL_LOADTEST_CONFIG names one, else plain defaults
        (target from LOCUST_HOST, the staged profile) for a hand-started `locust -f`."""
        path = environ.get(CONFIG_ENV)
        if path:
            try:
                return cls.from_json(Path(path).read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"{CONFIG_ENV}: cannot read {path}: {exc.strerror}") from None
        return cls(
            target=environ.get("LOCUST_HOST", "http://127.0.0.1:8080"),
            stages=profile_stages("staged", 1200, 1.0),
        )
