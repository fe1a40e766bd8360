"""Each CrossGuard policy with a compliant and a violating resource, called as the engine calls it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyResourceOptions, ResourceValidationArgs, Secret
from pulumi_policy.deserialize import deserialize_properties, serialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from loadtests.slo import catalog as slo_catalog
from policies import rules

POLICIES = {policy.name: policy for policy in rules.POLICIES}
DYNAMIC = "pulumi-python:dynamic:Resource"


def _args(
    resource_type: str, props: dict[str, Any], stack: str = "staging", name: str = "res"
) -> ResourceValidationArgs:
    options = PolicyResourceOptions(False, [], None, [], None, [], None)
    urn = f"urn:pulumi:{stack}::odavl-perf::{resource_type}::{name}"
    # As the analyzer builds them: secrets unwrapped, unknown values behind a checking proxy.
    wire = serialize_properties(props)
    return ResourceValidationArgs(
        resource_type, unknown_checking_proxy(deserialize_properties(wire)), urn, name, options, None
    )


def violations(
    policy_name: str, resource_type: str, props: dict[str, Any], stack: str = "staging"
) -> list[str]:
    found: list[str] = []
    POLICIES[policy_name].validate(
        _args(resource_type, props, stack), lambda message, urn=None: found.append(message)
    )
    return found


def test_pack_lists_the_issue_policies():
    assert set(POLICIES) == {
        "target-host-allow-listed",
        "production-load-guard",
        "slo-thresholds-not-looser-than-baselines",
        "index-sql-concurrent-and-idempotent",
        "fleet-pods-bounded-and-non-root",
        "helm-charts-pinned",
        "no-plaintext-secret-inputs",
        "postgres-datasource-sslmode-require",
    }


# --- target host -------------------------------------------------------------------------------


def test_target_host_in_allow_list_passes():
    props = {"base_url": "http://127.0.0.1:8080", "allowed_hosts": ["127.0.0.1", "localhost"]}
    assert violations("target-host-allow-listed", DYNAMIC, props) == []


def test_target_host_outside_allow_list_is_reported_with_the_host():
    props = {"target": {"base_url": "https://odavl.studio", "allowed_hosts": ["staging.odavl.studio"]}}
    [message] = violations("target-host-allow-listed", DYNAMIC, props)
    assert "'odavl.studio'" in message and "allow-list" in message


def test_target_host_without_allow_list_is_reported():
    assert violations("target-host-allow-listed", DYNAMIC, {"targetBaseUrl": "http://127.0.0.1:8080"})


def test_the_load_test_run_inputs_are_judged():
    props = {"target": "http://10.0.0.8:8080", "allowed_hosts": ["127.0.0.1"], "stages": [{"target": 5}]}
    [message] = violations("target-host-allow-listed", DYNAMIC, props)
    assert "'10.0.0.8'" in message
    props["target"] = "http://127.0.0.1:8080"
    assert violations("target-host-allow-listed", DYNAMIC, props) == []


def test_resources_without_a_target_are_not_judged():
    assert violations("target-host-allow-listed", DYNAMIC, {"target": 8080, "spec": {"target": "x"}}) == []
    assert violations("target-host-allow-listed", "kubernetes:core/v1:ConfigMap", {"data": {"a": "b"}}) == []


# --- production guard --------------------------------------------------------------------------


def test_production_with_flag_and_2000_users_passes():
    props = {"environment": "production", "allow_production": True, "max_users": 2000}
    assert violations("production-load-guard", DYNAMIC, props, stack="rc-0a1b2c3d4e5f") == []


def test_numbers_arrive_as_doubles_from_the_engine():
    props = {"environment": "production", "allow_production": True, "max_users": 2000.0}
    assert violations("production-load-guard", DYNAMIC, props) == []
    props["max_users"] = 2001.0
    [message] = violations("production-load-guard", DYNAMIC, props)
    assert "asks for 2001 users" in message
    job = _job(ttlSecondsAfterFinished=600.0, activeDeadlineSeconds=3600.0)
    assert violations("fleet-pods-bounded-and-non-root", "kubernetes:batch/v1:Job", job) == []


def test_production_without_flag_is_reported():
    props = {"environment": "production", "allow_production": False, "max_users": 1200}
    [message] = violations("production-load-guard", DYNAMIC, props)
    assert "needs the permission of its own update, ODAVL_ALLOW_PRODUCTION_RUN=<stack>" in message


def test_a_production_target_host_is_production_whatever_the_label():
    props = {
        "environment": "staging",
        "target": "https://odavl.studio",
        "allow_production": False,
        "max_users": 2500,
    }
    found = violations("production-load-guard", DYNAMIC, props, stack="staging")
    assert len(found) == 3, found
    assert "the target host 'odavl.studio' is a production host, but the environment is 'staging'" in found[0]
    assert "ODAVL_ALLOW_PRODUCTION_RUN" in found[1] and "asks for 2500 users" in found[2]
    # The stack's own list of production hosts, as the load-test run carries it.
    props.update(target="https://api.example.test", production_hosts=["*.example.test"])
    assert len(violations("production-load-guard", DYNAMIC, props, stack="staging")) == 3
    props["target"] = "https://staging.odavl.studio"
    assert violations("production-load-guard", DYNAMIC, props, stack="staging") == []


def test_production_above_capacity_is_reported_also_per_stage():
    props = {
        "load": {"allow_production": True, "max_users": 2500, "stages": [{"duration_s": 60, "target": 2400}]}
    }
    found = violations("production-load-guard", DYNAMIC, props, stack="production")
    assert len(found) == 2 and "2500" in found[0] and "2400" in found[1]


def test_staging_may_exceed_the_production_cap():
    props = {"environment": "staging", "allow_production": False, "max_users": 5000}
    assert violations("production-load-guard", DYNAMIC, props, stack="staging") == []


# --- SLO thresholds ----------------------------------------------------------------------------


def test_documented_baselines_and_stricter_lines_pass():
    lines = slo_catalog.threshold_lines()
    lines[0] = "http_req_duration: p(95)<400, p(99)<900"
    assert violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, {"thresholds": lines}) == []


def test_looser_threshold_is_reported():
    lines = [line.replace("rate<0.01", "rate<0.05") for line in slo_catalog.threshold_lines()]
    [message] = violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, {"slo_thresholds": lines})
    assert "http_req_failed: rate<0.05" in message and "looser" in message


def test_dropped_baseline_is_reported():
    lines = [line for line in slo_catalog.threshold_lines() if not line.startswith("checks")]
    [message] = violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, {"thresholds": lines})
    assert "checks: rate>0.95" in message and "missing" in message


def test_web_vitals_baselines_are_optional_only_without_browser_users():
    lines = [line for line in slo_catalog.threshold_lines() if not line.startswith("web_vitals")]
    props = {"thresholds": lines, "browser_share": 0.0}
    assert violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, props) == []
    props["browser_share"] = 0.1
    assert len(violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, props)) == 3
    props = {"thresholds": [*lines, "web_vitals_lcp: p(95)<4000"], "browser_share": 0.0}
    [message] = violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, props)
    assert "web_vitals_lcp: p(95)<4000" in message and "looser" in message


def test_unparsable_thresholds_are_reported():
    [message] = violations("slo-thresholds-not-looser-than-baselines", DYNAMIC, {"thresholds": ["p95 < 500"]})
    assert "do not parse" in message


# --- index SQL ---------------------------------------------------------------------------------

GOOD_SQL = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_org_created "
    "ON insight_issues (org_id, created_at DESC) WHERE deleted_at IS NULL"
)


def test_concurrent_idempotent_index_sql_passes():
    props = {
        "statements": [GOOD_SQL, "DROP INDEX CONCURRENTLY IF EXISTS idx_old"],
        "description": "creates index",
    }
    assert violations("index-sql-concurrent-and-idempotent", DYNAMIC, props) == []


def test_blocking_or_non_idempotent_index_sql_is_reported():
    props = {"statements": ["CREATE INDEX idx_a ON t (a)", "CREATE INDEX CONCURRENTLY idx_b ON t (b)"]}
    found = violations("index-sql-concurrent-and-idempotent", DYNAMIC, props)
    assert len(found) == 3
    assert any("idx_a" in m and "CONCURRENTLY" in m for m in found)
    assert any("idx_b" in m and "IF NOT EXISTS" in m for m in found)


def test_index_sql_in_a_referenced_file_is_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(rules, "PROJECT_ROOT", tmp_path)
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "bad.sql").write_text("CREATE UNIQUE INDEX IF NOT EXISTS u ON t (a);\n")
    (tmp_path / "sql" / "good.sql").write_text(GOOD_SQL + ";\n")
    assert violations("index-sql-concurrent-and-idempotent", DYNAMIC, {"file": "sql/good.sql"}) == []
    assert violations("index-sql-concurrent-and-idempotent", DYNAMIC, {"file": "sql/bad.sql"})


def test_unknown_values_during_preview_are_skipped():
    props = {"statements": [GOOD_SQL], "checksum": UNKNOWN_STRING_VALUE}
    assert violations("index-sql-concurrent-and-idempotent", DYNAMIC, props) == []


# --- fleet pods --------------------------------------------------------------------------------


def _job(**overrides: Any) -> dict[str, Any]:
    container = {
        "name": "locust-worker",
        "image": "locustio/locust:2.47.0",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False},
    }
    spec = {
        "ttlSecondsAfterFinished": 3600,
        "activeDeadlineSeconds": 2700,
        "template": {"spec": {"containers": [container], "restartPolicy": "Never"}},
    }
    spec.update(overrides)
    return {"metadata": {"labels": {"app.kubernetes.io/name": "locust"}}, "spec": spec}


def test_bounded_non_root_job_passes():
    assert violations("fleet-pods-bounded-and-non-root", "kubernetes:batch/v1:Job", _job()) == []


def test_unbounded_root_job_is_reported():
    job = _job(ttlSecondsAfterFinished=None, activeDeadlineSeconds=None)
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "1"}}
    container["securityContext"] = {"runAsUser": 0}
    found = violations("fleet-pods-bounded-and-non-root", "kubernetes:batch/v1:Job", job)
    text = "\n".join(found)
    for expected in (
        "ttlSecondsAfterFinished",
        "activeDeadlineSeconds",
        "cpu and memory limit",
        "runAsNonRoot",
        "user 0",
    ):
        assert expected in text


def _load_test_run_inputs() -> dict[str, Any]:
    """The inputs of the load-test run resource as the real program wires it on a cluster stack:
    LoadGeneratorFleet, components.wiring.fleet_of and LoadTestRun, under Pulumi mocks."""
    from types import SimpleNamespace

    from components.fleet.fleet import LoadGeneratorFleet
    from components.loadtest import LoadTestRun, LoadTestRunArgs
    from components.wiring import fleet_of
    from tests.unit.observability_stacks import fleet_args
    from tests.unit.pulumi_capture import capture, reveal

    args = fleet_args("staging")
    settings = SimpleNamespace(
        kubernetes=SimpleNamespace(namespace=args.namespace, context="staging", kubeconfig="")
    )

    def build():
        fleet = LoadGeneratorFleet("load-generators", args)
        run_args = LoadTestRunArgs(
            run_id=args.run_id,
            stack="staging",
            environment="staging",
            target=args.target_url,
            allowed_hosts=args.allowed_hosts,
            thresholds=["http_req_failed: rate<0.01"],
            fleet=fleet_of(settings, fleet),
        )
        return LoadTestRun("load-test", run_args)

    resources, _ = capture(build, "staging")
    [run] = [r for r in resources if r.name == "load-test-run"]
    return reveal(run.inputs)


def test_job_manifests_carried_by_the_load_test_run_are_checked():
    props = _load_test_run_inputs()
    assert {"master_job", "worker_job"} <= set(props["fleet"])
    assert violations("fleet-pods-bounded-and-non-root", DYNAMIC, props) == []

    # Each Job the run starts is judged, and reported by its name.
    del props["fleet"]["worker_job"]["spec"]["ttlSecondsAfterFinished"]
    del props["fleet"]["master_job"]["spec"]["activeDeadlineSeconds"]
    found = violations("fleet-pods-bounded-and-non-root", DYNAMIC, props)
    worker_name = props["fleet"]["worker_job"]["metadata"]["name"]
    master_name = props["fleet"]["master_job"]["metadata"]["name"]
    assert any(m.startswith(f"Job {worker_name}:") and "ttlSecondsAfterFinished" in m for m in found), found
    assert any(m.startswith(f"Job {master_name}:") and "activeDeadlineSeconds" in m for m in found), found
    assert violations("fleet-pods-bounded-and-non-root", DYNAMIC, {"fleet": {"kind": "local"}}) == []


def test_chart_workloads_are_left_to_their_charts():
    job = _job(activeDeadlineSeconds=None)
    job["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    assert violations("fleet-pods-bounded-and-non-root", "kubernetes:batch/v1:Job", job) == []


def test_pod_needs_a_deadline():
    pod = _job()["spec"]["template"]
    assert violations("fleet-pods-bounded-and-non-root", "kubernetes:core/v1:Pod", pod)
    pod["spec"]["activeDeadlineSeconds"] = 600
    assert violations("fleet-pods-bounded-and-non-root", "kubernetes:core/v1:Pod", pod) == []


# --- Helm charts -------------------------------------------------------------------------------


@pytest.mark.parametrize("chart_type", ["kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"])
def test_pinned_chart_passes_and_ranges_are_reported(chart_type):
    assert violations("helm-charts-pinned", chart_type, {"chart": "grafana", "version": "10.1.4"}) == []
    for version in (None, "", "^10.1.0", "~10.1", ">=10", "10.x", "latest"):
        assert violations("helm-charts-pinned", chart_type, {"chart": "grafana", "version": version}), version


def test_local_chart_needs_no_version():
    assert violations("helm-charts-pinned", "kubernetes:helm.sh/v4:Chart", {"chart": "./charts/locust"}) == []


# --- secrets -----------------------------------------------------------------------------------


def _remediate(props: dict[str, Any]) -> dict[str, Any] | None:
    """Run the remediation as the engine does: secrets arrive marked, behind both proxies."""
    options = PolicyResourceOptions(False, [], None, [], None, [], None)
    marked = unknown_checking_proxy(deserialize_properties(serialize_properties(props), True))
    args = ResourceValidationArgs(DYNAMIC, marked, "urn:pulumi:staging::odavl-perf::x::y", "y", options, None)
    return POLICIES["no-plaintext-secret-inputs"].remediate(args)


def test_secret_inputs_need_no_remediation():
    props = {"dsn_host": "db", "password": Secret("s3cret"), "grafana": {"auth": Secret("token")}}
    assert _remediate(props) is None


def test_plaintext_secret_inputs_are_found_and_made_secret():
    props = {
        "password": "s3cret",
        "notifications": {"slack_webhook_url": "https://hooks.example/T0"},
        "port": 5432,
    }
    assert rules.find_plaintext_secrets(props) == ["password", "notifications.slack_webhook_url"]
    remediated = _remediate(props)
    assert isinstance(remediated["password"], Secret) and remediated["password"].value == "s3cret"
    assert isinstance(remediated["notifications"]["slack_webhook_url"], Secret)
    assert remediated["port"] == 5432
    wire = serialize_properties(remediated)
    assert "s3cret" not in json.dumps({k: v for k, v in wire.items() if k != "password"})


def test_names_that_only_mention_secrets_are_not_secrets():
    assert rules.find_plaintext_secrets({"secretName": "db-credentials", "token_ttl": "1h"}) == []


# --- PostgreSQL datasource ---------------------------------------------------------------------


def _datasource(sslmode: str) -> dict[str, Any]:
    return {
        "type": "grafana-postgresql-datasource",
        "url": "postgres:5432",
        "jsonDataEncoded": json.dumps({"database": "odavl_studio", "sslmode": sslmode, "maxOpenConns": 10}),
    }


def test_datasource_with_sslmode_require_passes():
    assert (
        violations(
            "postgres-datasource-sslmode-require", "grafana:oss/dataSource:DataSource", _datasource("require")
        )
        == []
    )


def test_datasource_without_tls_is_reported_outside_local_only():
    resource = "grafana:oss/dataSource:DataSource"
    [message] = violations(
        "postgres-datasource-sslmode-require", resource, _datasource("disable"), stack="production"
    )
    assert "'disable'" in message
    assert (
        violations("postgres-datasource-sslmode-require", resource, _datasource("disable"), stack="local")
        == []
    )


def test_provisioning_file_in_a_config_map_is_checked():
    provisioning = (
        "apiVersion: 1\ndatasources:\n  - name: PostgreSQL\n    type: postgres\n"
        "    jsonData:\n      sslmode: prefer\n"
    )
    props = {"data": {"datasources.yaml": provisioning}}
    assert violations("postgres-datasource-sslmode-require", "kubernetes:core/v1:ConfigMap", props)
    props["data"]["datasources.yaml"] = provisioning.replace("prefer", "verify-full")
    assert violations("postgres-datasource-sslmode-require", "kubernetes:core/v1:ConfigMap", props) == []
