"""The odavl-perf CrossGuard policies: one named validator per policy, listed in `POLICIES`.

Validators read a resource's inputs (`args.props`), pick out the fields a check needs and hand
them to the pure checks in `policies.checks`. The pack's `__main__.py` only builds the pack.

Load-test settings may reach the engine under slightly different property names depending on
the resource that carries them (a dynamic provider's snake_case inputs or a camelCase stack
key); `_find` looks for each field under all its accepted names, up to three levels deep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
)
from pulumi_policy.proxy import UnknownValueError

from policies import checks

__all__ = ["POLICIES", "PROJECT_ROOT", "plain", "stack_of"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_BASE_URL = ("target", "base_url", "target_base_url", "targetBaseUrl", "baseUrl", "target_url", "targetUrl")
_ALLOWED_HOSTS = ("allowed_hosts", "target_allowed_hosts", "targetAllowedHosts", "allowedHosts")
_ENVIRONMENT = ("environment",)
_ALLOW_PRODUCTION = ("allow_production", "load_allow_production", "loadAllowProduction", "allowProduction")
_PRODUCTION_HOSTS = (
    "production_hosts",
    "target_production_hosts",
    "targetProductionHosts",
    "productionHosts",
)
_MAX_USERS = ("max_users", "load_max_users", "loadMaxUsers", "maxUsers")
_STAGES = ("stages", "load_stages", "loadStages")
_THRESHOLDS = ("thresholds", "slo_thresholds", "sloThresholds")
_BROWSER_SHARE = ("browser_share", "load_browser_share", "loadBrowserSharePercent", "browserShare")
_SECRET_KEY = re.compile(r"password|passwd|secret|token|apikey|webhook|privatekey|credential|^auth$")
_NOT_SECRET_KEY = re.compile(r"(name|ref|refs|path|file|ttl|type|seconds|enabled|id)$")
_LOCAL_STACKS = frozenset({"local"})
_K8S_WORKLOADS = {"kubernetes:batch/v1:Job": "Job", "kubernetes:core/v1:Pod": "Pod"}
_FLEET_JOB_KEYS = ("master_job", "worker_job")
_HELM_CHARTS = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"})


def plain(value: Any) -> Any:
    """A resource's property value as plain dicts and lists, without values unknown during preview.

    CrossGuard wraps properties in proxies that raise on unknown values; a policy that walks
    every property must skip those instead of giving up on the whole resource.
    """
    if isinstance(value, Secret):
        return Secret(plain(value.value))
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError:
                continue
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                continue
        return items
    return value


def stack_of(urn: str) -> str:
    """The stack name inside a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`)."""
    parts = urn.split(":")
    return parts[2] if len(parts) > 2 and urn.startswith("urn:pulumi:") else ""


def _find(
    props: Mapping[str, Any],
    names: tuple[str, ...],
    depth: int = 3,
    accept: Callable[[Any], bool] = lambda _: True,
) -> tuple[bool, Any]:
    """(found, value) for the first of `names` (with an accepted value) at the top level, else nested."""
    for name in names:
        if name in props and accept(props[name]):
            return True, props[name]
    if depth > 1:
        for value in props.values():
            if isinstance(value, Mapping):
                found, nested = _find(value, names, depth - 1, accept)
                if found:
                    return True, nested
    return False, None


def _environment(args: ResourceValidationArgs, props: Mapping[str, Any]) -> str:
    found, environment = _find(props, _ENVIRONMENT)
    return environment if found and isinstance(environment, str) else stack_of(args.urn)


def _report_all(report_violation: ReportViolation, problems: list[str]) -> None:
    for problem in problems:
        report_violation(problem, None)


def validate_target_host(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = plain(args.props)
    found, base_url = _find(props, _BASE_URL, accept=lambda value: isinstance(value, str))
    has_list, allowed_hosts = _find(props, _ALLOWED_HOSTS)
    if not found or not (
        has_list or (isinstance(base_url, str) and base_url.startswith(("http://", "https://")))
    ):
        return  # not a load-test target (e.g. a Kubernetes Service's `target` port)
    _report_all(report_violation, checks.check_target_host(base_url, allowed_hosts))


def validate_production_guard(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = plain(args.props)
    found_users, max_users = _find(props, _MAX_USERS)
    found_flag, allow_production = _find(props, _ALLOW_PRODUCTION)
    if not (found_users or found_flag):
        return
    _, stages = _find(props, _STAGES)
    targets = [s.get("target") for s in stages if isinstance(s, Mapping)] if isinstance(stages, list) else []
    # Production is a property of the target too: its host against the production hosts.
    _, base_url = _find(props, _BASE_URL, accept=lambda value: isinstance(value, str))
    _, production_hosts = _find(props, _PRODUCTION_HOSTS)
    problems = checks.check_production_guard(
        _environment(args, props),
        allow_production,
        max_users,
        targets,
        target=base_url,
        production_hosts=production_hosts,
    )
    _report_all(report_violation, problems)


def validate_slo_thresholds(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = plain(args.props)
    found, lines = _find(props, _THRESHOLDS)
    if not found or (isinstance(lines, list) and lines and not all(isinstance(x, str) for x in lines)):
        return  # evaluated threshold results (dicts), not the configured lines
    found_share, share = _find(props, _BROWSER_SHARE)
    measures_web_vitals = not found_share or not isinstance(share, int | float) or share > 0
    _report_all(report_violation, checks.check_slo_thresholds(lines, measures_web_vitals=measures_web_vitals))


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, Secret):
        return _strings(value.value, path)
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [s for key, item in value.items() for s in _strings(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [s for index, item in enumerate(value) for s in _strings(item, f"{path}[{index}]")]
    return []


def validate_index_sql(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    problems = []
    for path, text in _strings(plain(args.props), args.name):
        if text.endswith(".sql") and "\n" not in text:
            sql_file = (PROJECT_ROOT / text).resolve()
            if sql_file.is_relative_to(PROJECT_ROOT) and sql_file.is_file():
                problems.extend(checks.check_index_sql(sql_file.read_text(encoding="utf-8"), text))
        elif checks.looks_like_index_sql(text):
            problems.extend(checks.check_index_sql(text, path))
    _report_all(report_violation, problems)


def _is_helm_managed(metadata: Any) -> bool:
    labels = (metadata or {}).get("labels") or {} if isinstance(metadata, Mapping) else {}
    return labels.get("app.kubernetes.io/managed-by") == "Helm" or "helm.sh/chart" in labels


def validate_fleet_pods(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = plain(args.props)
    kind = _K8S_WORKLOADS.get(args.resource_type)
    if kind is not None:
        if not _is_helm_managed(props.get("metadata")):  # chart workloads are the chart's business
            _report_all(report_violation, checks.check_fleet_pod(kind, props.get("spec")))
        return
    # The load-test run starts its Jobs itself; it carries their manifests in `fleet`, as
    # components/wiring.fleet_of passes them: `master_job` and `worker_job`.
    _, fleet = _find(props, ("fleet",), accept=lambda value: isinstance(value, Mapping))
    manifests = [fleet.get(key) for key in _FLEET_JOB_KEYS] if isinstance(fleet, Mapping) else []
    for manifest in manifests:
        if isinstance(manifest, Mapping) and manifest.get("kind") in ("Job", "Pod"):
            name = (manifest.get("metadata") or {}).get("name", "?")
            problems = checks.check_fleet_pod(manifest["kind"], manifest.get("spec"))
            _report_all(report_violation, [f"{manifest['kind']} {name}: {problem}" for problem in problems])


def validate_helm_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in _HELM_CHARTS:
        return
    props = plain(args.props)
    _report_all(report_violation, checks.check_helm_chart_version(props.get("chart"), props.get("version")))


def validate_postgres_sslmode(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if stack_of(args.urn) in _LOCAL_STACKS:
        return
    _report_all(report_violation, checks.check_postgres_datasources(plain(args.props)))


def _raw(props: Any) -> Any:
    """The secret-marked values behind CrossGuard's proxies (only remediations receive them)."""
    while isinstance(props, Mapping) and not isinstance(props, dict):
        try:
            props = props["__target"]
        except KeyError:
            break
    return props


def _is_secret_key(key: str) -> bool:
    normalized = key.replace("_", "").replace("-", "").lower()
    return bool(_SECRET_KEY.search(normalized)) and not _NOT_SECRET_KEY.search(normalized)


def find_plaintext_secrets(value: Any, path: str = "", secret_context: bool = False) -> list[str]:
    """Paths of non-empty plaintext strings held under secret-looking keys (not wrapped in Secret)."""
    value = _raw(value)
    if isinstance(value, Secret):
        return []
    if isinstance(value, Mapping):
        return [
            p
            for key, item in value.items()
            for p in find_plaintext_secrets(item, f"{path}.{key}", secret_context or _is_secret_key(str(key)))
        ]
    if isinstance(value, list):
        nested = (find_plaintext_secrets(v, f"{path}[{i}]", secret_context) for i, v in enumerate(value))
        return [p for paths in nested for p in paths]
    return [path.lstrip(".")] if secret_context and isinstance(value, str) and value else []


def _mark_secret(value: Any, secret_context: bool = False) -> Any:
    value = _raw(value)
    if isinstance(value, Secret):
        return value
    if isinstance(value, Mapping):
        return {k: _mark_secret(v, secret_context or _is_secret_key(str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_secret(v, secret_context) for v in value]
    return Secret(value) if secret_context and isinstance(value, str) and value else value


def remediate_plaintext_secrets(args: ResourceValidationArgs) -> dict[str, Any] | None:
    """Mark plaintext secret inputs as secrets so the engine encrypts them in the state.

    The engine strips secretness before validation, so only a remediation can see which inputs
    are plaintext; it turns them into secrets before they are written anywhere.
    """
    if not find_plaintext_secrets(args.props):
        return None
    return _mark_secret(args.props)


def _mandatory(name: str, description: str, validate: Callable[..., None]) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY, validate=validate
    )


POLICIES: list[ResourceValidationPolicy] = [
    _mandatory(
        "target-host-allow-listed",
        "A load test may only target a host in its stack's allow-list.",
        validate_target_host,
    ),
    _mandatory(
        "production-load-guard",
        "A load test on production (its environment or its target host) needs the permission of its "
        "own update and at most 2000 users.",
        validate_production_guard,
    ),
    _mandatory(
        "slo-thresholds-not-looser-than-baselines",
        "SLO thresholds keep every documented baseline and loosen none.",
        validate_slo_thresholds,
    ),
    _mandatory(
        "index-sql-concurrent-and-idempotent",
        "Index SQL builds CONCURRENTLY and IF NOT EXISTS (drops CONCURRENTLY and IF EXISTS).",
        validate_index_sql,
    ),
    _mandatory(
        "fleet-pods-bounded-and-non-root",
        "Load-generator pods have a TTL, a deadline, CPU and memory limits, and run as non-root.",
        validate_fleet_pods,
    ),
    _mandatory(
        "helm-charts-pinned",
        "Helm charts are pinned to an exact version.",
        validate_helm_pinned,
    ),
    ResourceValidationPolicy(
        name="no-plaintext-secret-inputs",
        description="Passwords, tokens and webhook URLs are Pulumi secrets, never plaintext inputs.",
        enforcement_level=EnforcementLevel.REMEDIATE,
        remediate=remediate_plaintext_secrets,
    ),
    _mandatory(
        "postgres-datasource-sslmode-require",
        "Grafana's PostgreSQL datasource uses sslmode require outside the local stack.",
        validate_postgres_sslmode,
    ),
]
