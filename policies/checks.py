"""Pure checks behind the CrossGuard policies: plain Python values in, violation messages out.

Every function returns a list of messages, empty when the input complies. The policy wrappers in
`policies.rules` pick the inputs out of a resource's properties; nothing here touches Pulumi.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import pglast
import yaml
from pglast import ast, enums

from loadtests.run.config import DEFAULT_PRODUCTION_HOSTS, PRODUCTION_MAX_USERS, is_production_host
from loadtests.slo import catalog as slo_catalog
from loadtests.slo import evaluate as slo

__all__ = [
    "PRODUCTION_MAX_USERS",
    "check_fleet_pod",
    "check_helm_chart_version",
    "check_index_sql",
    "check_postgres_datasources",
    "check_production_guard",
    "check_slo_thresholds",
    "check_target_host",
    "find_postgres_datasources",
    "looks_like_index_sql",
]

# sslmode values that refuse an unencrypted connection.
_SSL_REQUIRED_MODES = frozenset({"require", "verify-ca", "verify-full"})
_POSTGRES_DATASOURCE_TYPES = frozenset({"postgres", "grafana-postgresql-datasource"})
_INDEX_SQL = re.compile(r"\b(create\s+(unique\s+)?index|drop\s+index)\b", re.IGNORECASE)
_PINNED_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_LOCAL_CHART = re.compile(r"^(\.{1,2}/|/|file://)")


def _whole_number(value: Any) -> bool:
    """An int, or a float without a fraction: the engine sends every number as a double."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer()


def _host_of(base_url: str) -> str | None:
    try:
        host = urlsplit(base_url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def check_target_host(base_url: Any, allowed_hosts: Any) -> list[str]:
    """The load test's target host must be one of the stack's allowed hosts."""
    if not isinstance(base_url, str) or not base_url:
        return [f"the target base URL is {base_url!r}; expected an http(s) URL such as http://127.0.0.1:8080"]
    host = _host_of(base_url)
    if host is None:
        return [f"the target base URL {base_url!r} has no host; expected an http(s) URL with a host"]
    if not isinstance(allowed_hosts, Sequence) or isinstance(allowed_hosts, str) or not allowed_hosts:
        return [f"the stack has no allow-list of target hosts; expected a list that contains {host!r}"]
    allowed = {str(h).strip("[]").lower() for h in allowed_hosts}
    if host not in allowed:
        return [f"the target host {host!r} of {base_url!r} is not in the allow-list {sorted(allowed)}"]
    return []


def check_production_guard(
    environment: Any,
    allow_production: Any,
    max_users: Any,
    stage_targets: Iterable[Any] = (),
    *,
    target: Any = None,
    production_hosts: Any = None,
) -> list[str]:
    """A production load test needs the permission of its update and at most PRODUCTION_MAX_USERS
    users. Production means the production environment, or a target host among `production_hosts`
    (default: loadtests.run.config.DEFAULT_PRODUCTION_HOSTS), whatever the environment says."""
    hosts = production_hosts if isinstance(production_hosts, Sequence) and production_hosts else None
    host = _host_of(target) if isinstance(target, str) else None
    production_host = bool(host) and is_production_host(host, tuple(hosts or DEFAULT_PRODUCTION_HOSTS))
    if environment != "production" and not production_host:
        return []
    problems = []
    if production_host and environment != "production":
        problems.append(
            f"the target host {host!r} is a production host, but the environment is {environment!r}"
        )
    if allow_production is not True:
        problems.append(
            "a production load test needs the permission of its own update, "
            f"ODAVL_ALLOW_PRODUCTION_RUN=<stack> (found allow_production={allow_production!r})"
        )
    if not _whole_number(max_users):
        problems.append(f"the production user count is {max_users!r}; expected a whole number")
    elif max_users > PRODUCTION_MAX_USERS:
        problems.append(
            f"the production load test asks for {int(max_users)} users; at most {PRODUCTION_MAX_USERS} "
            "(the specified maximum capacity) are allowed"
        )
    peaks = [int(t) for t in stage_targets if _whole_number(t) and t > PRODUCTION_MAX_USERS]
    if peaks:
        problems.append(
            f"a production stage targets {max(peaks)} users; at most {PRODUCTION_MAX_USERS} are allowed"
        )
    return problems


def _is_looser(op: str, configured: float, baseline: float) -> bool:
    if op in ("<", "<="):
        return configured > baseline
    if op in (">", ">="):
        return configured < baseline
    return configured != baseline


def check_slo_thresholds(
    lines: Any,
    baselines: Sequence[slo.Threshold] = slo_catalog.DEFAULT_THRESHOLDS,
    *,
    measures_web_vitals: bool = True,
) -> list[str]:
    """Every documented baseline threshold must be present and no looser in the configured lines.

    Without browser users (`measures_web_vitals` False) the web-vitals baselines may be left out,
    since nothing could measure them; a web-vitals line that is present must still not be looser.
    """
    if not isinstance(lines, Sequence) or isinstance(lines, str):
        return [f"the SLO thresholds are {lines!r}; expected a list of k6-style lines"]
    try:
        configured = slo.parse_thresholds(lines)
    except slo.ThresholdSpecError as exc:
        return [f"the SLO thresholds do not parse: {exc}"]
    problems = []
    for baseline in baselines:
        same = [
            t
            for t in configured
            if t.metric == baseline.metric
            and t.tag is None
            and t.aggregate == baseline.aggregate
            and not t.bound.relative_to_baseline
        ]
        if not same:
            if not measures_web_vitals and baseline.metric.startswith("web_vitals_"):
                continue
            problems.append(f"the documented baseline {baseline.key!r} is missing from the SLO thresholds")
            continue
        for threshold in same:
            if threshold.op[0] != baseline.op[0] or _is_looser(
                baseline.op, threshold.bound.amount, baseline.bound.amount
            ):
                problems.append(f"{threshold.key!r} is looser than the documented baseline {baseline.key!r}")
    return problems


def looks_like_index_sql(text: str) -> bool:
    return bool(_INDEX_SQL.search(text))


def check_index_sql(sql: str, where: str) -> list[str]:
    """CREATE INDEX only CONCURRENTLY and IF NOT EXISTS; DROP INDEX only CONCURRENTLY and IF EXISTS."""
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        return [f"the index SQL in {where} does not parse: {exc}"]
    problems = []
    for raw in statements:
        stmt = raw.stmt
        if isinstance(stmt, ast.IndexStmt):
            name = stmt.idxname or "(unnamed)"
            if not stmt.concurrent:
                problems.append(f"CREATE INDEX {name} in {where} is not CONCURRENTLY (it would block writes)")
            if not stmt.if_not_exists:
                problems.append(f"CREATE INDEX {name} in {where} lacks IF NOT EXISTS (a rerun would fail)")
        elif isinstance(stmt, ast.DropStmt) and stmt.removeType == enums.ObjectType.OBJECT_INDEX:
            if not stmt.concurrent:
                problems.append(f"DROP INDEX in {where} is not CONCURRENTLY (it would block writes)")
            if not stmt.missing_ok:
                problems.append(f"DROP INDEX in {where} lacks IF EXISTS (a rerun would fail)")
    return problems


def check_fleet_pod(kind: str, spec: Any) -> list[str]:
    """A load-generator Job or Pod: TTL (Jobs), active deadline, resource limits, non-root containers.

    `spec` is the Job's `spec` (kind "Job") or the Pod's `spec` (kind "Pod").
    """
    spec = spec if isinstance(spec, Mapping) else {}
    problems = []
    if kind == "Job":
        if not _whole_number(spec.get("ttlSecondsAfterFinished")):
            problems.append("the Job has no ttlSecondsAfterFinished, so finished pods are never cleaned up")
        pod_spec = (spec.get("template") or {}).get("spec") or {}
    else:
        pod_spec = spec
    deadline = spec.get("activeDeadlineSeconds") or pod_spec.get("activeDeadlineSeconds")
    if not _whole_number(deadline) or deadline <= 0:
        problems.append(f"the {kind} has no activeDeadlineSeconds, so a stuck run is never stopped")
    pod_security = pod_spec.get("securityContext") or {}
    containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
    if not containers:
        problems.append(f"the {kind} has no containers")
    for container in containers:
        name = container.get("name", "(unnamed)")
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [r for r in ("cpu", "memory") if not limits.get(r)]
        if missing:
            problems.append(f"container {name} has no {' and '.join(missing)} limit")
        security = {**pod_security, **(container.get("securityContext") or {})}
        if security.get("runAsNonRoot") is not True:
            problems.append(f"container {name} does not set runAsNonRoot: true")
        if security.get("runAsUser") == 0:
            problems.append(f"container {name} runs as user 0 (root)")
        if security.get("privileged") is True or security.get("allowPrivilegeEscalation") is True:
            problems.append(f"container {name} is privileged or allows privilege escalation")
    return problems


def check_helm_chart_version(chart: Any, version: Any) -> list[str]:
    """A Helm chart from a repository must be pinned to one exact version (no ranges, no latest)."""
    if isinstance(chart, str) and _LOCAL_CHART.match(chart):
        return []
    if not isinstance(version, str) or not _PINNED_VERSION.match(version.strip()):
        return [f"Helm chart {chart!r} has version {version!r}; expected an exact version such as 1.2.3"]
    return []


def _parse_document(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def find_postgres_datasources(value: Any, path: str = "") -> list[tuple[str, Mapping[str, Any]]]:
    """Every Grafana PostgreSQL datasource definition found in a (nested) property value.

    Finds Grafana `DataSource` properties (`type` + `jsonDataEncoded`), provisioning files in
    ConfigMaps (YAML strings with a `datasources:` list) and Helm values.
    """
    found: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(value, Mapping):
        has_json_data = "jsonData" in value or "jsonDataEncoded" in value
        if value.get("type") in _POSTGRES_DATASOURCE_TYPES and has_json_data:
            found.append((path or ".", value))
        for key, item in value.items():
            found.extend(find_postgres_datasources(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(find_postgres_datasources(item, f"{path}[{index}]"))
    elif isinstance(value, str) and "datasources" in value:
        document = _parse_document(value)
        if isinstance(document, Mapping | list):
            found.extend(find_postgres_datasources(document, path))
    return found


def check_postgres_datasources(props: Mapping[str, Any]) -> list[str]:
    """Each PostgreSQL datasource must connect with sslmode require (or verify-ca / verify-full)."""
    problems = []
    for where, datasource in find_postgres_datasources(props):
        json_data = datasource.get("jsonData")
        if json_data is None and isinstance(datasource.get("jsonDataEncoded"), str):
            json_data = _parse_document(datasource["jsonDataEncoded"])
        sslmode = json_data.get("sslmode") if isinstance(json_data, Mapping) else None
        if sslmode not in _SSL_REQUIRED_MODES:
            problems.append(
                f"the PostgreSQL datasource at {where} uses sslmode {sslmode!r}; expected require, "
                "verify-ca or verify-full"
            )
    return problems
