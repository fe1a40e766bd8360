"""Typed, validated stack settings.

Every key of the `odavl-perf:` config namespace (declared with type, default and description in
`Pulumi.yaml`) is read here once, checked, and turned into one frozen `Settings` tree. Validation
collects *every* problem before it fails, so a user fixes a stack file in one pass:

    Invalid stack settings for 'production' (2 problems):
      - odavl-perf:loadMaxUsers = 2500: expected at most 2000 users on production ...
      - odavl-perf:targetBaseUrl = 'ftp://x': expected an http(s) URL such as https://host

Secrets are never echoed in a message: a problem with a secret key names the key only.

The parsing is pure: `parse_settings(source)` reads from any `ConfigSource`; `PulumiConfigSource`
reads the running program's config.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pulumi
import yaml

from loadtests.results.metrics import USER_GROUPS
from loadtests.run.arrival import CLOSED, EXECUTORS, Executor, RateStage
from loadtests.run.arrival import parse_duration as parse_arrival_duration
from loadtests.run.config import PRODUCTION_MAX_USERS, is_loopback, is_production_host, scenario_problems
from loadtests.run.shape import PROFILES as PROFILE_STAGES
from loadtests.run.shape import Stage
from loadtests.run.target_tls import ca_bundle_problem
from loadtests.slo import evaluate as slo
from loadtests.slo.regression import MIN_RUNS as REGRESSION_MIN_RUNS
from ops.ephemeral import is_ephemeral

NAMESPACE = "odavl-perf"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
ENVIRONMENTS = ("local", "staging", "production")
PROFILES = tuple(PROFILE_STAGES)
SEED_SCALES = ("small", "medium", "large")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DB_MANAGEMENT = ("sql", "provider")
DB_TUNING = ("manage", "verify", "off")
CHARTS = ("prometheus", "influxdb", "loki", "grafana")
MAX_USERS_CAP = 5000
REGRESSION_MAX_RUNS = 50  # more runs reach back past changes the comparison should see
# The permission for one production load test: this variable set to the stack's name for that
# `pulumi up` only (the load-test workflow sets it from its input). Never a stack setting, so no
# committed file can pre-approve every update.
ALLOW_PRODUCTION_ENV = "ODAVL_ALLOW_PRODUCTION_RUN"
REMOVED_KEYS = {
    "loadAllowProduction": f"no such key: a production load test is approved per run with "
    f"{ALLOW_PRODUCTION_ENV}=<stack> in the environment of that `pulumi up`; remove the key",
}
STAGE_KEYS = frozenset({"duration", "target"})

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_K8S_VERSION = re.compile(r"^1\.\d{1,2}$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti)$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Something besides slashes: the lifecycle rule expires everything under the prefix, and an
# empty (or "/") prefix is the whole bucket.
_S3_PREFIX = re.compile(r"^/*[^/]")
_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class SettingsError(pulumi.RunError):
    """Raised with one message that lists every invalid setting. Printed without a traceback."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.problems = problems
        lines = [f"Invalid stack settings for '{stack}' ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- config sources


class ConfigSource(Protocol):
    """Where raw config values come from: a running Pulumi program, or a dict in tests."""

    stack: str

    def raw(self, key: str) -> Any | None:
        """The value set for `key` (without namespace) in the stack, or None if unset."""

    def is_secret(self, key: str) -> bool:
        """Whether the stack stores `key` as a secure (encrypted) value."""

    def secret(self, key: str) -> Any:
        """The value of secret `key` wrapped so that it stays secret (a secret Output)."""

    def set_keys(self) -> list[str]:
        """Every key set in the stack's `odavl-perf:` namespace (without the namespace)."""


class PulumiConfigSource:
    """Reads the config of the running Pulumi program."""

    def __init__(self) -> None:
        self.stack = pulumi.get_stack()
        self._config = pulumi.Config(NAMESPACE)

    def raw(self, key: str) -> Any | None:
        # The runtime's own lookup: no "value is a secret" warning, no type coercion.
        return pulumi.runtime.get_config(f"{NAMESPACE}:{key}")

    def is_secret(self, key: str) -> bool:
        return pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}")

    def secret(self, key: str) -> pulumi.Output[str]:
        return self._config.require_secret(key)

    def set_keys(self) -> list[str]:
        # The SDK lists no config keys publicly. The language host hands the stack's whole
        # config to set_all_config (pulumi.runtime.config.CONFIG, also what mocks set) from the
        # PULUMI_CONFIG variable: read both, the same places get_config looks in.
        from pulumi.runtime import config as runtime_config

        names = set(runtime_config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
        prefix = f"{NAMESPACE}:"
        return sorted(name[len(prefix) :] for name in names if name.startswith(prefix))


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class TargetSettings:
    base_url: str
    host: str
    allowed_hosts: tuple[str, ...]
    start_reference_app: bool
    reference_app_port: int
    ca_bundle: str = ""  # PEM file of CAs trusted besides the system store; "" = system store only
    production_hosts: tuple[str, ...] = ()  # hosts whose load tests are production runs
    is_production: bool = False  # the target host is a production host, or environment production


@dataclass(frozen=True)
class LoadSettings:
    enabled: bool
    profile: str
    max_users: int
    time_scale: float
    stages: tuple[Stage, ...]
    workers: int
    think_time_min_s: float
    think_time_max_s: float
    user_weights: Mapping[str, int]
    browser_share: float
    scenario: str  # loadLocustfile: a locustfile of the user's own, relative to the project; "" = the suite
    run_id: str
    allow_production: bool  # from ALLOW_PRODUCTION_ENV for this update, never from a stack file
    max_duration_s: int
    test_users: Any  # secret Output[str]: JSON list of {"email", "password"}
    # loadExecutor and its keys (loadtests/run/arrival.py); the closed model by default.
    executor: Executor = field(default_factory=Executor)


@dataclass(frozen=True)
class SloSettings:
    thresholds: tuple[str, ...]
    enforce: bool
    baseline: str
    # sloAcceptSaturatedGenerators: judge a run on saturated load generators anyway.
    accept_saturated_generators: bool = False
    # The statistical regression criterion (loadtests/slo/regression.py): K earlier passing
    # runs, the effect-size floor in percent, and whether a regression fails the verdict.
    regression_runs: int = 5
    regression_min_effect_pct: float = 5.0
    regression_gate: bool = False


@dataclass(frozen=True)
class DatabaseSettings:
    manage_local_server: bool
    host: str
    port: int
    name: str
    user: str
    password: Any  # secret Output[str]
    sslmode: str
    seed_scale: str
    readonly_role: str
    readonly_password: Any  # secret Output[str]
    management: str
    tuning: str = "manage"  # manage | verify (read-only check of the indexes) | off


@dataclass(frozen=True)
class KubernetesSettings:
    enabled: bool
    namespace: str
    context: str
    version: str
    render_dir: str
    fleet_image: str
    target_cidrs: tuple[str, ...]
    kubeconfig: str = ""  # a path relative to the project; empty: $KUBECONFIG or ~/.kube/config
    host_network: bool = False


@dataclass(frozen=True)
class ObservabilitySettings:
    enabled: bool
    chart_versions: Mapping[str, str]
    retention_days: int
    persistence_size: str


@dataclass(frozen=True)
class GrafanaSettings:
    enabled: bool
    url: str
    auth: Any  # secret Output[str] or None


@dataclass(frozen=True)
class ReportSettings:
    local_dir: str
    s3_bucket: str
    s3_prefix: str
    s3_endpoint: str
    retention_days: int


@dataclass(frozen=True)
class NotificationSettings:
    slack_webhook: Any  # secret Output[str] or None


@dataclass(frozen=True)
class Settings:
    stack: str
    environment: str
    target: TargetSettings
    load: LoadSettings
    slo: SloSettings
    database: DatabaseSettings
    kubernetes: KubernetesSettings
    observability: ObservabilitySettings
    grafana: GrafanaSettings
    reports: ReportSettings
    notifications: NotificationSettings


# --------------------------------------------------------------------------- the reader


@dataclass
class _Reader:
    """Reads typed values, records each problem, and hands back a usable placeholder."""

    source: ConfigSource
    defaults: Mapping[str, Any]
    problems: list[str] = field(default_factory=list)

    def problem(self, key: str, value: Any, expected: str) -> None:
        shown = "(secret)" if self.source.is_secret(key) else repr(value)
        self.problems.append(f"{NAMESPACE}:{key} = {shown}: expected {expected}")

    def value(self, key: str) -> Any:
        raw = self.source.raw(key)
        return self.defaults.get(key) if raw is None else raw

    def string(
        self,
        key: str,
        *,
        choices: tuple[str, ...] = (),
        pattern: re.Pattern[str] | None = None,
        expected: str = "",
        allow_empty: bool = True,
    ) -> str:
        value = self.value(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.problem(key, value, expected or "a string")
            return ""
        if choices and value not in choices:
            self.problem(key, value, f"one of {', '.join(choices)}")
        elif not value and not allow_empty:
            self.problem(key, value, expected or "a non-empty string")
        elif value and pattern is not None and not pattern.match(value):
            self.problem(key, value, expected)
        return value

    def integer(self, key: str, *, low: int, high: int, expected: str = "") -> int:
        value = self.value(key)
        try:
            number = _as_int(value)
        except ValueError:
            self.problem(key, value, f"a whole number ({expected or f'{low} to {high}'})")
            return low
        if not low <= number <= high:
            self.problem(key, value, expected or f"a whole number from {low} to {high}")
        return number

    def decimal(self, key: str, *, low: float, high: float, expected: str) -> float:
        value = self.value(key)
        try:
            number = float(value)
            if number != number:  # NaN
                raise ValueError
        except (TypeError, ValueError):
            self.problem(key, value, expected)
            return low
        if not low < number <= high:
            self.problem(key, value, expected)
        return number

    def boolean(self, key: str) -> bool:
        value = self.value(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.problem(key, value, "true or false")
        return False

    def structured(self, key: str, kind: type) -> Any:
        """An object or array value; the engine passes these as JSON text."""
        value = self.value(key)
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        if not isinstance(value, kind):
            self.problem(key, value, f"a YAML {'list' if kind is list else 'mapping'}")
            return kind()
        return value

    def secret(self, key: str, *, required: bool, check: Callable[[str], str | None] | None = None) -> Any:
        """A secret value: must be stored encrypted, non-empty when required; never shown."""
        raw = self.source.raw(key)
        if raw is None or raw == "":
            if required:
                self.problems.append(
                    f"{NAMESPACE}:{key} is not set or empty: expected a secret, set it with "
                    f"`pulumi config set --secret {NAMESPACE}:{key} <value>`"
                )
            return None
        if not self.source.is_secret(key):
            self.problems.append(
                f"{NAMESPACE}:{key} is stored in plaintext: expected a secure value, set it with "
                f"`pulumi config set --secret {NAMESPACE}:{key} <value>`"
            )
        if check is not None and isinstance(raw, str):
            complaint = check(raw)
            if complaint:
                self.problems.append(f"{NAMESPACE}:{key} = (secret): expected {complaint}")
        return self.source.secret(key)


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError(value)


def parse_duration(text: str) -> float:
    """Seconds in a k6 duration such as '2m', '30s', '1m30s' or '1h'. Raises ValueError."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(text)
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _check_test_users(raw: str) -> str | None:
    try:
        users = json.loads(raw)
    except json.JSONDecodeError:
        return 'a JSON list of {"email": ..., "password": ...} objects'
    if not isinstance(users, list) or not users:
        return 'a non-empty JSON list of {"email": ..., "password": ...} objects'
    for user in users:
        if not isinstance(user, dict) or not user.get("email") or not user.get("password"):
            return 'every test user to be an object with a non-empty "email" and "password"'
    return None


def _check_https_url(raw: str) -> str | None:
    parts = urlsplit(raw)
    return None if parts.scheme == "https" and parts.hostname else "an https URL"


# --------------------------------------------------------------------------- parsing


def load_settings() -> Settings:
    """Settings of the running stack; raises SettingsError listing every problem."""
    return parse_settings(PulumiConfigSource(), project_defaults(), environ=os.environ)


def _project_config_schema() -> dict[str, Any]:
    """The `config` section of the project's Pulumi.yaml: every key with its type and default."""
    return yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))["config"]


def project_defaults() -> dict[str, Any]:
    """The `default` of every key declared in Pulumi.yaml."""
    return {key: spec["default"] for key, spec in _project_config_schema().items() if "default" in spec}


def project_keys() -> frozenset[str]:
    """Every key declared in Pulumi.yaml's config schema (with or without a default)."""
    return frozenset(_project_config_schema())


def _unknown_key_problems(r: _Reader, declared: Collection[str]) -> None:
    """A key of the namespace that Pulumi.yaml does not declare is a typo: nothing would read it,
    so the stack would silently run with the default instead."""
    by_lower = {key.lower(): key for key in declared}
    for key in r.source.set_keys():
        if key in declared or key in REMOVED_KEYS:
            continue
        close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
        hint = (
            f"did you mean {NAMESPACE}:{by_lower[close[0]]}?"
            if close
            else "remove it (the README's configuration reference lists every key)"
        )
        r.problem(key, r.source.raw(key), f"a key declared in Pulumi.yaml; no such key, {hint}")


def parse_settings(
    source: ConfigSource,
    defaults: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    declared: Collection[str] | None = None,
) -> Settings:
    """Validate every key at once and build the Settings tree. Pure apart from `source`.

    `environ` is the update's environment, read for ALLOW_PRODUCTION_ENV only (none: no permission).
    `declared` is the namespace's key set (default: Pulumi.yaml's); any other key set in the
    stack is reported with the closest declared one.
    """
    r = _Reader(source, defaults)
    _unknown_key_problems(r, project_keys() if declared is None else declared)
    for key, expected in REMOVED_KEYS.items():
        if source.raw(key) is not None:
            r.problem(key, source.raw(key), expected)

    environment = r.string("environment", choices=ENVIRONMENTS)
    target = _parse_target(r, environment)
    permission = (environ or {}).get(ALLOW_PRODUCTION_ENV, "")
    load = _parse_load(r, target, allow_production=permission == source.stack)
    if target.is_production and load.enabled and not load.allow_production:
        r.problems.append(
            f"{ALLOW_PRODUCTION_ENV} = {permission!r}: expected {source.stack!r} to run a load test on "
            f"production, set for this update only ({ALLOW_PRODUCTION_ENV}={source.stack} pulumi up ...); "
            f"or set {NAMESPACE}:loadEnabled to false to manage the infrastructure only"
        )
    slo = _parse_slo(r, load)
    database = _parse_database(r, environment, source.stack)
    kubernetes = _parse_kubernetes(r)
    observability = _parse_observability(r, kubernetes)
    grafana = _parse_grafana(r)
    reports = _parse_reports(r)
    notifications = NotificationSettings(
        slack_webhook=r.secret("notificationsSlackWebhook", required=False, check=_check_https_url)
    )

    if r.problems:
        raise SettingsError(source.stack, r.problems)
    return Settings(
        stack=source.stack,
        environment=environment,
        target=target,
        load=load,
        slo=slo,
        database=database,
        kubernetes=kubernetes,
        observability=observability,
        grafana=grafana,
        reports=reports,
        notifications=notifications,
    )


def _parse_target(r: _Reader, environment: str) -> TargetSettings:
    base_url = r.string(
        "targetBaseUrl", allow_empty=False, expected="an http(s) URL such as https://host:port"
    )
    allowed = r.structured("targetAllowedHosts", list)
    if not all(isinstance(h, str) and h for h in allowed) or not allowed:
        r.problem("targetAllowedHosts", allowed, "a non-empty list of host names")
        allowed = []
    production_hosts = r.structured("targetProductionHosts", list)
    for index, entry in enumerate(production_hosts):
        if not isinstance(entry, str) or not _HOST_NAME.match(entry):
            r.problem(
                f"targetProductionHosts[{index}]",
                entry,
                "a lower-case host name such as odavl.studio, or *.odavl.studio for its subdomains",
            )
    production_hosts = [h for h in production_hosts if isinstance(h, str)]
    start_app = r.boolean("targetStartReferenceApp")
    ca_bundle = r.string("targetCaBundle")
    bundle_problem = ca_bundle_problem(ca_bundle) if ca_bundle else None
    if bundle_problem:
        r.problem("targetCaBundle", ca_bundle, bundle_problem)

    parts = urlsplit(base_url)
    host, port = "", 0
    try:
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        host = ""
    # Credentials in the URL would sit in plaintext in the stack's config, state, outputs and
    # logs: refused, and never repeated in a message (shown as ***@).
    userinfo = "@" in parts.netloc
    shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}{parts.path}" if userinfo else base_url
    if userinfo:
        r.problem(
            "targetBaseUrl",
            shown,
            "a URL without user:password@ (credentials there would land in plaintext in the stack's "
            "config, state and outputs; the virtual users log in with testUsers)",
        )
    elif base_url and (parts.scheme not in ("http", "https") or not host or parts.path not in ("", "/")):
        r.problem(
            "targetBaseUrl", base_url, "an http(s) URL with a host and no path, such as https://host:port"
        )
    elif base_url and host not in allowed:
        r.problem("targetBaseUrl", base_url, f"a host listed in {NAMESPACE}:targetAllowedHosts {allowed}")
    if environment == "local" and host and not is_loopback(host):
        r.problem("targetBaseUrl", shown, "a loopback host (127.0.0.1, localhost or ::1) on the local stack")
    if start_app and host and not is_loopback(host):
        r.problem("targetStartReferenceApp", start_app, "false unless the target is a loopback address")
    # Production is a property of the target: the label has to agree with the host, both ways.
    production_host = bool(host) and is_production_host(host, production_hosts)
    if production_host and environment != "production":
        r.problem(
            "environment",
            environment,
            f"production, because the target host {host!r} is in {NAMESPACE}:targetProductionHosts",
        )
    if environment == "production" and host and not production_host:
        r.problem(
            "targetBaseUrl",
            shown,
            f"a host listed in {NAMESPACE}:targetProductionHosts {production_hosts} on production",
        )
    return TargetSettings(
        base_url=base_url.rstrip("/"),
        host=host,
        allowed_hosts=tuple(allowed),
        start_reference_app=start_app,
        reference_app_port=port,
        ca_bundle=ca_bundle,
        production_hosts=tuple(production_hosts),
        is_production=production_host or environment == "production",
    )


def _parse_load(r: _Reader, target: TargetSettings, *, allow_production: bool) -> LoadSettings:
    enabled = r.boolean("loadEnabled")
    profile = r.string("loadProfile", choices=PROFILES)
    max_users = r.integer("loadMaxUsers", low=1, high=MAX_USERS_CAP)
    time_scale = r.decimal(
        "loadTimeScale", low=0.0, high=10.0, expected="a decimal number above 0 and at most 10"
    )
    workers = r.integer("loadWorkers", low=1, high=64)
    think_min = r.integer("loadThinkTimeMinMs", low=0, high=600_000)
    think_max = r.integer("loadThinkTimeMaxMs", low=0, high=600_000)
    if think_max < think_min:
        r.problem("loadThinkTimeMaxMs", think_max, f"at least loadThinkTimeMinMs ({think_min})")
    browser = r.integer("loadBrowserSharePercent", low=0, high=100, expected="a percentage from 0 to 100")
    scenario = _scenario(r, browser)
    run_id = r.string(
        "loadRunId",
        pattern=_RUN_ID,
        allow_empty=False,
        expected="letters, digits, '.', '_' or '-' (at most 63 characters)",
    )
    max_minutes = r.integer("loadMaxDurationMinutes", low=1, high=24 * 60)

    stages: list[Stage] = []
    for index, item in enumerate(r.structured("loadStages", list)):
        where = f"loadStages[{index}]"
        if not isinstance(item, dict):
            r.problem(where, item, "a mapping {duration: 2m, target: 100}")
            continue
        unknown = sorted(set(item) - STAGE_KEYS)
        missing = sorted(STAGE_KEYS - set(item))
        if unknown or missing:
            r.problem(
                where,
                item,
                "exactly the keys duration and target"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                + (f" (missing: {', '.join(missing)})" if missing else ""),
            )
            continue
        try:
            duration = parse_duration(str(item["duration"]))
        except ValueError:
            r.problem(f"{where}.duration", item["duration"], "a k6 duration such as 30s, 2m or 1m30s")
            continue
        try:
            users = _as_int(item["target"])
        except ValueError:
            r.problem(f"{where}.target", item["target"], "a whole number of users")
            continue
        if not 0 <= users <= max_users:
            r.problem(f"{where}.target", users, f"0 to loadMaxUsers ({max_users}) users")
        stages.append(Stage(duration_s=duration, target=users))

    weights_raw = r.structured("loadUserWeights", dict)
    weights: dict[str, int] = {}
    for group, weight in weights_raw.items():
        if group not in USER_GROUPS:
            r.problem(f"loadUserWeights.{group}", weight, f"a user group among {', '.join(USER_GROUPS)}")
            continue
        try:
            weights[group] = _as_int(weight)
        except ValueError:
            r.problem(f"loadUserWeights.{group}", weight, "a whole-number weight")
            continue
        if weights[group] < 0:
            r.problem(f"loadUserWeights.{group}", weight, "a weight of 0 or more")
    if weights_raw and not sum(max(w, 0) for w in weights.values()):
        r.problem("loadUserWeights", weights_raw, "at least one user group with a weight above 0")

    if target.is_production and enabled and max_users > PRODUCTION_MAX_USERS:
        r.problem(
            "loadMaxUsers",
            max_users,
            f"at most {PRODUCTION_MAX_USERS} users on production (the documented maximum capacity)",
        )

    # Every user group logs in before its first request, so test users are always needed.
    test_users = r.secret("testUsers", required=True, check=_check_test_users)
    executor = _parse_executor(r, workers, browser, production=target.is_production and enabled)
    return LoadSettings(
        enabled=enabled,
        profile=profile,
        max_users=max_users,
        time_scale=time_scale,
        stages=tuple(stages),
        workers=workers,
        think_time_min_s=think_min / 1000,
        think_time_max_s=think_max / 1000,
        user_weights=weights,
        browser_share=browser / 100,
        scenario=scenario,
        run_id=run_id,
        allow_production=allow_production,
        max_duration_s=max_minutes * 60,
        test_users=test_users,
        executor=executor,
    )


OPEN_MODEL_METRICS = ("http_req_latency_intended", "iterations", "dropped_iterations")


def _parse_executor(r: _Reader, workers: int, browser_percent: int, *, production: bool) -> Executor:
    """loadExecutor and the keys it reads: each checked with its own key named in the message."""
    kind = r.string("loadExecutor", choices=EXECUTORS)
    if kind not in EXECUTORS or kind == CLOSED:
        return Executor()

    def duration(key: str, low: float = 0.0) -> float:
        value = r.value(key)
        try:
            seconds = parse_arrival_duration(str(value))
        except ValueError:
            r.problem(key, value, "a duration such as 1s, 30s, 2m or 1m30s")
            return max(low, 1.0)
        if seconds <= low:
            r.problem(key, value, f"a duration above {low:g} s such as 1s, 30s or 2m")
        return seconds

    def decimal(key: str, low: float, high: float, expected: str) -> float:
        return r.decimal(key, low=low, high=high, expected=expected)

    time_unit = duration("loadArrivalTimeUnit")
    rate = 0.0
    if kind in ("constant-arrival-rate", "capacity"):
        rate = float(
            r.integer(
                "loadArrivalRate", low=1, high=1_000_000, expected="iterations per time unit, 1 or more"
            )
        )
    stages: list[RateStage] = []
    start_rate = 0.0
    if kind == "ramping-arrival-rate":
        start_rate = float(r.integer("loadArrivalStartRate", low=0, high=1_000_000))
        items = r.structured("loadArrivalStages", list)
        if not items:
            r.problem(
                "loadArrivalStages",
                items,
                "at least one stage {duration: 1m, target: 50} for ramping-arrival-rate",
            )
        for index, item in enumerate(items):
            where = f"loadArrivalStages[{index}]"
            if not isinstance(item, dict) or set(item) != STAGE_KEYS:
                r.problem(
                    where,
                    item,
                    "a mapping with exactly the keys duration and target, e.g. {duration: 1m, target: 50}",
                )
                continue
            try:
                seconds = parse_arrival_duration(str(item["duration"]))
            except ValueError:
                r.problem(f"{where}.duration", item["duration"], "a duration such as 30s, 2m or 1m30s")
                continue
            try:
                target = _as_int(item["target"])
            except ValueError:
                r.problem(f"{where}.target", item["target"], "a whole number of iterations per time unit")
                continue
            if target < 0:
                r.problem(f"{where}.target", target, "iterations per time unit, 0 or more")
            stages.append(RateStage(seconds, float(target)))
    pre_allocated = r.integer("loadPreAllocatedUsers", low=0, high=MAX_USERS_CAP)
    max_arrival = r.integer("loadMaxArrivalUsers", low=1, high=MAX_USERS_CAP)
    if pre_allocated > max_arrival:
        r.problem("loadPreAllocatedUsers", pre_allocated, f"at most loadMaxArrivalUsers ({max_arrival})")
    if max_arrival < workers:
        r.problem(
            "loadMaxArrivalUsers",
            max_arrival,
            f"at least loadWorkers ({workers}): one user per worker or more",
        )
    if production and max_arrival > PRODUCTION_MAX_USERS:
        r.problem(
            "loadMaxArrivalUsers",
            max_arrival,
            f"at most {PRODUCTION_MAX_USERS} users on production (the documented maximum capacity)",
        )
    if browser_percent:
        r.problem(
            "loadBrowserSharePercent",
            browser_percent,
            f"0 with loadExecutor {kind} (the browser users run in the closed model only)",
        )
    executor = Executor(
        kind=kind,
        rate=rate,
        time_unit_s=time_unit,
        duration_s=duration("loadArrivalDuration") if kind == "constant-arrival-rate" else 0.0,
        start_rate=start_rate,
        stages=tuple(stages),
        pre_allocated_users=pre_allocated,
        max_users=max_arrival,
    )
    if kind != "capacity":
        return executor
    max_rate = float(r.integer("loadCapacityMaxRate", low=1, high=1_000_000))
    if max_rate <= rate:
        r.problem(
            "loadCapacityMaxRate",
            int(max_rate),
            f"a rate above loadArrivalRate ({rate:g}), where the search starts",
        )
    step_s = duration("loadCapacityStepDuration", low=4.999)
    confirm_s = duration("loadCapacityConfirmDuration")
    if confirm_s < step_s:
        r.problem(
            "loadCapacityConfirmDuration",
            r.value("loadCapacityConfirmDuration"),
            "at least loadCapacityStepDuration",
        )
    return Executor(
        **{
            **executor.as_dict(),
            "stages": (),
            "capacity_max_rate": max_rate,
            "capacity_growth": decimal(
                "loadCapacityGrowth",
                1.0,
                10.0,
                "a factor above 1 and at most 10 (1.5 = each step 50 % faster)",
            ),
            "capacity_precision": r.integer(
                "loadCapacityPrecisionPercent", low=1, high=50, expected="a percentage from 1 to 50"
            )
            / 100,
            "capacity_step_s": step_s,
            "capacity_confirm_s": confirm_s,
        }
    )


def _scenario(r: _Reader, browser_percent: int) -> str:
    """loadLocustfile: "" or a locustfile inside the project (the Kubernetes fleet ships it with
    the suite's code, so it may not live elsewhere)."""
    path = r.string("loadLocustfile")
    if not path:
        return ""
    expected = (
        "the path of a .py locustfile inside the project, relative to it, e.g. examples/scenarios/projects.py"
    )
    project = Path.cwd().resolve()
    resolved = (project / path).resolve()
    if Path(path).is_absolute() or not resolved.is_relative_to(project):
        r.problem("loadLocustfile", path, expected)
        return ""
    problems = scenario_problems(str(resolved))
    if problems:
        r.problem("loadLocustfile", path, f"{expected} ({problems[0]})")
        return ""
    if browser_percent:
        r.problem(
            "loadBrowserSharePercent",
            browser_percent,
            "0 with loadLocustfile (the browser users belong to the specification's journeys)",
        )
    return resolved.relative_to(project).as_posix()


def _parse_slo(r: _Reader, load: LoadSettings) -> SloSettings:
    lines = r.structured("sloThresholds", list)
    # The spec parser reports every line's problem (non-strings included) by its own index.
    for complaint in _threshold_problems(lines):
        r.problems.append(f"{NAMESPACE}:sloThresholds{complaint}")
    for index, line in enumerate(lines):
        if (
            isinstance(line, str)
            and line.lstrip().startswith("web_vitals_")
            and load.enabled
            and (load.browser_share == 0)
        ):
            # Only browser users measure web vitals: the gate would report no data, never a pass.
            r.problem(
                f"sloThresholds[{index}]",
                line,
                "no web_vitals_* threshold while loadBrowserSharePercent is 0 (no browser users measure it)",
            )
    for index, line in enumerate(lines):
        metric = line.split("{", 1)[0].split(":", 1)[0].strip() if isinstance(line, str) else ""
        if metric in OPEN_MODEL_METRICS and not load.executor.open_model:
            # Only the arrival-rate executors measure these: the gate would report no data.
            r.problem(
                f"sloThresholds[{index}]",
                line,
                f"no {metric} threshold while loadExecutor is closed (only the arrival-rate executors "
                "measure it)",
            )
    thresholds = [line for line in lines if isinstance(line, str)]
    baseline = r.string("sloBaseline", expected="previous, none or a run id")
    if baseline not in ("previous", "none") and not _RUN_ID.match(baseline):
        r.problem("sloBaseline", baseline, "previous, none or a run id")
    return SloSettings(
        thresholds=tuple(thresholds),
        enforce=r.boolean("sloEnforce"),
        baseline=baseline,
        accept_saturated_generators=r.boolean("sloAcceptSaturatedGenerators"),
        regression_runs=r.integer(
            "sloRegressionRuns",
            low=REGRESSION_MIN_RUNS,
            high=REGRESSION_MAX_RUNS,
            expected=f"{REGRESSION_MIN_RUNS} to {REGRESSION_MAX_RUNS} earlier passing runs",
        ),
        regression_min_effect_pct=r.decimal(
            "sloRegressionMinEffectPercent",
            low=0.0,
            high=100.0,
            expected="a percentage above 0 and at most 100",
        ),
        regression_gate=r.boolean("sloRegressionGate"),
    )


def _threshold_problems(lines: list[Any]) -> list[str]:
    """Problems in the threshold lines, each as "[index] = '<line>': <message>".

    Syntax is the SLO spec parser's business; on top of it, a higher percentile may not have a
    tighter upper bound than a lower one on the same metric (p(99)<100 with p(95)<500 cannot hold).
    """
    problems = slo.settings_problems(lines)
    if problems:
        return problems
    upper: dict[tuple[str, int], tuple[float, int]] = {}
    for threshold in slo.parse_thresholds(lines, line_numbers=list(range(len(lines)))):
        match = re.fullmatch(r"p\((\d+)\)", threshold.aggregate)
        if match and threshold.op in ("<", "<=") and not threshold.bound.relative_to_baseline:
            upper[(threshold.selector, int(match.group(1)))] = (threshold.bound.amount, threshold.line)
    for (selector, pct), (bound, line) in sorted(upper.items()):
        for (other_selector, other_pct), (other_bound, _) in upper.items():
            if other_selector == selector and other_pct < pct and bound < other_bound:
                problems.append(
                    f"[{line}] = {lines[line]!r}: expected the p({pct}) bound ({bound:g}) of {selector} "
                    f"to be at least its p({other_pct}) bound ({other_bound:g})"
                )
    return problems


def _parse_database(r: _Reader, environment: str, stack: str) -> DatabaseSettings:
    manage = r.boolean("databaseManageLocalServer")
    host = r.string("databaseHost", allow_empty=False, expected="a host name or address")
    if manage and host and not is_loopback(host):
        r.problem("databaseHost", host, "a loopback address when databaseManageLocalServer is true")
    tuning = r.string("databaseTuning", choices=DB_TUNING)
    if tuning == "manage" and not manage and is_ephemeral(stack):
        # The shared database's objects belong to the long-lived stack; destroying this
        # throwaway stack would otherwise drop them (python -m ops.ephemeral sets verify).
        r.problem(
            "databaseTuning",
            tuning,
            "verify or off on an ephemeral stack whose database it does not start itself "
            "(databaseManageLocalServer is false)",
        )
    sslmode = r.string("databaseSslMode", choices=SSL_MODES)
    if environment != "local" and sslmode in ("disable", "allow", "prefer"):
        r.problem("databaseSslMode", sslmode, "require, verify-ca or verify-full outside the local stack")
    management = r.string("databaseManagement", choices=DB_MANAGEMENT)
    return DatabaseSettings(
        manage_local_server=manage,
        host=host,
        port=r.integer("databasePort", low=1, high=65535),
        name=r.string(
            "databaseName",
            pattern=_IDENTIFIER,
            allow_empty=False,
            expected="a lower-case PostgreSQL identifier",
        ),
        user=r.string(
            "databaseUser",
            pattern=_IDENTIFIER,
            allow_empty=False,
            expected="a lower-case PostgreSQL identifier",
        ),
        password=r.secret("databasePassword", required=True),
        sslmode=sslmode,
        seed_scale=r.string("databaseSeedScale", choices=SEED_SCALES),
        readonly_role=r.string(
            "databaseReadonlyRole",
            pattern=_IDENTIFIER,
            allow_empty=False,
            expected="a lower-case PostgreSQL identifier",
        ),
        readonly_password=r.secret("databaseReadonlyPassword", required=True),
        management=management,
        tuning=tuning,
    )


def _parse_kubernetes(r: _Reader) -> KubernetesSettings:
    image = r.string("kubernetesFleetImage")
    if image and (image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@" not in image)):
        r.problem("kubernetesFleetImage", image, "a pinned image tag or digest (not latest)")
    cidrs = r.structured("kubernetesTargetCidrs", list)
    for index, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            r.problem(f"kubernetesTargetCidrs[{index}]", cidr, "a CIDR such as 203.0.113.10/32")
    enabled = r.boolean("kubernetesEnabled")
    if enabled and not image:
        r.problem(
            "kubernetesFleetImage",
            image,
            "the fleet image built from images/fleet/Containerfile, e.g. registry.example.com/odavl-perf/"
            "fleet@sha256:... (scripts/fleet_image.sh builds it here)",
        )
    host_network = r.boolean("kubernetesHostNetwork")
    target_host = urlsplit(str(r.value("targetBaseUrl") or "")).hostname or ""
    if enabled and host_network and not is_loopback(target_host):
        # Pods on the node's network could reach anything the node reaches: on such a
        # cluster only the node's own loopback may carry load.
        r.problem(
            "kubernetesHostNetwork",
            host_network,
            f"false unless targetBaseUrl is on a loopback address (its host is {target_host!r})",
        )
    if enabled and not cidrs:
        r.problem(
            "kubernetesTargetCidrs",
            cidrs,
            "at least one CIDR when kubernetesEnabled is true "
            "(the fleet's NetworkPolicy allows egress only to the target)",
        )
    return KubernetesSettings(
        fleet_image=image,
        target_cidrs=tuple(str(c) for c in cidrs),
        enabled=enabled,
        namespace=r.string(
            "kubernetesNamespace",
            pattern=_DNS_LABEL,
            allow_empty=False,
            expected="a DNS label (lower-case letters, digits and '-')",
        ),
        context=r.string("kubernetesContext"),
        version=r.string(
            "kubernetesVersion",
            pattern=_K8S_VERSION,
            allow_empty=False,
            expected="a Kubernetes minor version such as 1.31",
        ),
        render_dir=r.string("kubernetesRenderDir"),
        kubeconfig=r.string("kubernetesKubeconfig"),
        host_network=host_network,
    )


def _parse_observability(r: _Reader, kubernetes: KubernetesSettings) -> ObservabilitySettings:
    enabled = r.boolean("observabilityEnabled")
    if enabled and not kubernetes.enabled:
        r.problem("observabilityEnabled", enabled, "false unless kubernetesEnabled is true")
    versions_raw = r.structured("observabilityChartVersions", dict)
    versions: dict[str, str] = {}
    for chart in CHARTS:
        version = versions_raw.get(chart)
        if not isinstance(version, str) or not _CHART_VERSION.match(version):
            r.problem(f"observabilityChartVersions.{chart}", version, "a pinned chart version such as 1.2.3")
        else:
            versions[chart] = version
    for chart in sorted(set(versions_raw) - set(CHARTS)):
        r.problem(
            f"observabilityChartVersions.{chart}", versions_raw[chart], f"a chart among {', '.join(CHARTS)}"
        )
    size = r.string(
        "observabilityPersistenceSize",
        pattern=_QUANTITY,
        allow_empty=False,
        expected="a Kubernetes quantity such as 20Gi",
    )
    return ObservabilitySettings(
        enabled=enabled,
        chart_versions=versions,
        retention_days=r.integer("observabilityRetentionDays", low=1, high=3650),
        persistence_size=size,
    )


def _parse_grafana(r: _Reader) -> GrafanaSettings:
    enabled = r.boolean("grafanaEnabled")
    url = r.string("grafanaUrl")
    if enabled:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            r.problem("grafanaUrl", url, "an http(s) URL of Grafana when grafanaEnabled is true")
    return GrafanaSettings(
        enabled=enabled, url=url.rstrip("/"), auth=r.secret("grafanaAuth", required=enabled)
    )


def _parse_reports(r: _Reader) -> ReportSettings:
    bucket = r.string(
        "reportsS3Bucket", pattern=_S3_BUCKET, expected="an S3 bucket name (3-63 lower-case characters)"
    )
    endpoint = r.string("reportsS3Endpoint")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            r.problem("reportsS3Endpoint", endpoint, "an http(s) URL or empty for AWS")
    return ReportSettings(
        local_dir=r.string("reportsLocalDir", allow_empty=False, expected="a directory path"),
        s3_bucket=bucket,
        s3_prefix=r.string(
            "reportsS3Prefix",
            pattern=_S3_PREFIX,
            allow_empty=False,
            expected="a non-empty key prefix such as load-tests/ (an empty or '/' prefix would let the "
            "reports' lifecycle rule expire every object in the bucket)",
        ),
        s3_endpoint=endpoint,
        retention_days=r.integer("reportsRetentionDays", low=1, high=3650),
    )
