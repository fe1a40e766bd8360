"""LoadGeneratorFleet under Pulumi mocks and its manifests (pure)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from components.fleet import manifests, network
from components.fleet.fleet import LoadGeneratorFleet
from loadtests.errors import TargetNotAllowedError
from tests.unit.observability_stacks import ENVIRONMENTS, fleet_args
from tests.unit.pulumi_capture import capture, child_roles, is_secret

RESULTS_EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "results_example.json"


def build(environment: str = "staging", **overrides):
    args = dataclasses.replace(fleet_args(environment), **overrides)
    return capture(lambda: LoadGeneratorFleet("fleet", args), environment)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_component_tree(environment):
    resources, urns = build(environment)
    assert child_roles(urns, "LoadGeneratorFleet") == {
        "code",
        "config",
        "egress-policy",
        "ingress-policy",
        "master-service",
        "metrics-service",
        "service-account",
        "users",
    }
    users = next(r for r in resources if r.name == "fleet-users")
    assert is_secret(users.inputs["stringData"])


def test_image_baked_code_needs_no_configmap():
    _, urns = build(code_root=None, test_users=None)
    assert "fleet-code" not in urns and "fleet-users" not in urns
    job = manifests.master_job(dataclasses.replace(fleet_args("staging"), code_root=None).spec())
    assert all(volume["name"] != "code" for volume in job["spec"]["template"]["spec"]["volumes"])


def test_target_outside_allowed_hosts_is_refused():
    with pytest.raises(TargetNotAllowedError, match="allowed_hosts"):
        build(target_url="https://elsewhere.example")


def test_bad_arguments_are_named():
    args = dataclasses.replace(
        fleet_args("staging"), workers=0, image="locust:latest", target_cidrs=(), active_deadline_seconds=5
    )
    problems = " ".join(args.problems())
    for field in ("workers=0", "image='locust:latest'", "target_cidrs", "active_deadline_seconds=5"):
        assert field in problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_jobs_are_bounded_non_root_and_read_only(environment):
    args = fleet_args(environment)
    spec = args.spec()
    master, worker = manifests.master_job(spec), manifests.worker_job(spec)
    assert (worker["spec"]["parallelism"], worker["spec"]["completions"]) == (args.workers, args.workers)
    assert master["spec"]["parallelism"] == 1
    for job in (master, worker):
        assert job["spec"]["ttlSecondsAfterFinished"] == args.ttl_seconds_after_finished
        assert job["spec"]["activeDeadlineSeconds"] == args.active_deadline_seconds
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["image"] == args.image
        users = [env for env in container["env"] if env["name"] == "ODAVL_LOADTEST_USERS"]
        assert users[0]["valueFrom"]["secretKeyRef"]["name"] == spec.users_secret
    worker_args = worker["spec"]["template"]["spec"]["containers"][0]["args"]
    assert worker_args[worker_args.index("--master-host") + 1] == manifests.resource_names(spec)["master"]
    master_args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    assert master_args[master_args.index("--expect-workers") + 1] == str(args.workers)


def test_network_policy_allows_egress_only_to_target_dns_and_master():
    spec = fleet_args("staging").spec()
    egress, ingress = network.network_policies(spec)
    assert egress["spec"]["policyTypes"] == ["Egress"]
    rules = egress["spec"]["egress"]
    assert len(rules) == 3
    dns, master, target = rules
    assert {port["port"] for port in dns["ports"]} == {53}
    assert master["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "master"
    assert target["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert target["ports"] == [{"protocol": "TCP", "port": 443}]
    assert ingress["spec"]["policyTypes"] == ["Ingress"]
    assert {rule["ports"][0]["port"] for rule in ingress["spec"]["ingress"]} == {
        spec.master_port,
        spec.metrics_port,
    }


def test_code_configmap_round_trips_paths(tmp_path):
    (tmp_path / "loadtests" / "suite").mkdir(parents=True)
    (tmp_path / "loadtests" / "results" / "schema").mkdir(parents=True)
    (tmp_path / "loadtests" / "suite" / "locustfile.py").write_text("print('x')\n")
    (tmp_path / "loadtests" / "results" / "schema" / "results.schema.json").write_text("{}")
    (tmp_path / "loadtests" / "notes.txt").write_text("ignored")
    files = manifests.loadtests_code_files(tmp_path)
    data, items = manifests.code_configmap_data(files)
    assert {item["path"]: data[item["key"]] for item in items} == files
    assert set(files) == {"loadtests/suite/locustfile.py", "loadtests/results/schema/results.schema.json"}


def test_oversized_code_is_refused():
    with pytest.raises(ValueError, match="bake the code into the pinned image"):
        manifests.code_configmap_data({"loadtests/big.py": "x" * (manifests.CONFIGMAP_LIMIT_BYTES + 1)})


def test_names_are_dns_labels():
    names = manifests.resource_names_for("Release 2026.11/RC_1 " + "x" * 80)
    for name in names.values():
        assert len(name) <= 63
        assert name == name.lower() and name.replace("-", "").isalnum()


def test_suite_config_gets_the_pod_side_settings():
    spec = fleet_args("staging").spec()
    original = {"target": "https://x", "results_path": "reports/r.json", "prometheus": {"linger_s": 5.0}}
    config = json.loads(manifests.suite_config_for_kubernetes(json.dumps(original), spec))
    assert config["results_path"] == manifests.RESULTS_PATH
    assert config["target"] == "https://x"
    prometheus = config["prometheus"]
    assert prometheus["enabled"] is True and prometheus["host"] == "0.0.0.0"
    assert prometheus["linger_s"] == 5.0
    assert set(prometheus["worker_ports"]) == {spec.metrics_port}
    assert len(prometheus["worker_ports"]) > spec.workers


def test_workers_are_indexed_and_named_by_index():
    spec = fleet_args("staging").spec()
    worker = manifests.worker_job(spec)
    assert worker["spec"]["completionMode"] == "Indexed"
    env = {e["name"]: e for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ODAVL_LOADTEST_WORKER_ID"]["value"] == "worker-$(JOB_COMPLETION_INDEX)"
    names = [e["name"] for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names.index("JOB_COMPLETION_INDEX") < names.index("ODAVL_LOADTEST_WORKER_ID")


@pytest.mark.parametrize("exit_code", [0, 3])
def test_master_command_keeps_the_exit_code_and_prints_the_results(tmp_path, exit_code):
    results = tmp_path / "out" / "results.json"
    fake_locust = tmp_path / "bin" / "locust"
    fake_locust.parent.mkdir()
    script = f'#!/bin/sh\necho "locust $*"\ncp {RESULTS_EXAMPLE} {results}\nexit {exit_code}\n'
    fake_locust.write_text(script)
    fake_locust.chmod(0o755)
    result = subprocess.run(
        [*manifests.master_command(str(results)), "--master", "--headless"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PATH": f"{fake_locust.parent}:{os.environ['PATH']}"},
        check=False,
    )
    assert result.returncode == exit_code
    assert "locust --master --headless\n" in result.stdout
    assert manifests.results_from_log(result.stdout) == json.loads(RESULTS_EXAMPLE.read_text())


def test_results_from_log_without_a_document():
    assert manifests.results_from_log("locust crashed\n") is None
    assert manifests.results_from_log(f"{manifests.RESULTS_MARKER}\ncat: no such file\n") is None
    # JSON that is not a results document is no result either.
    assert manifests.results_from_log(f'{manifests.RESULTS_MARKER}\n{{"run_id": "r1"}}\n') is None


def test_metrics_ingress_defaults_to_the_fleets_namespace():
    spec = dataclasses.replace(fleet_args("staging"), monitoring_namespace=None).spec()
    _, ingress = network.network_policies(spec)
    metrics_rule = next(r for r in ingress["spec"]["ingress"] if r["ports"][0]["port"] == spec.metrics_port)
    selector = metrics_rule["from"][0]["namespaceSelector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": spec.namespace}


def test_influxdb_export_opens_only_the_influxdb_port():
    without = manifests.FleetSpec(**{**fleet_args("staging").spec().__dict__})
    with_export = dataclasses.replace(without, influxdb_export=True)
    (egress_without, _), (egress_with, _) = (
        network.network_policies(without),
        network.network_policies(with_export),
    )
    added = egress_with["spec"]["egress"][len(egress_without["spec"]["egress"]) :]
    assert len(added) == 1
    assert added[0]["ports"] == [{"protocol": "TCP", "port": 8086}]
    assert added[0]["to"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "influxdb"}


def test_a_scenario_ships_with_the_code_and_runs_after_the_harness(tmp_path):
    (tmp_path / "loadtests" / "suite").mkdir(parents=True)
    (tmp_path / "loadtests" / "suite" / "harness.py").write_text("print('harness')\n")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "mine.py").write_text("print('mine')\n")
    files = manifests.loadtests_code_files(tmp_path, "scenarios/mine.py")
    assert files["scenarios/mine.py"] == "print('mine')\n"

    spec = dataclasses.replace(fleet_args("staging").spec(), scenario="scenarios/mine.py")
    expected = f"{manifests.CODE_DIR}/loadtests/suite/harness.py,{manifests.CODE_DIR}/scenarios/mine.py"
    for job in (manifests.master_job(spec), manifests.worker_job(spec)):
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("-f") + 1] == expected
    suite = manifests.master_job(fleet_args("staging").spec())["spec"]["template"]["spec"]["containers"][0]
    assert (
        suite["args"][suite["args"].index("-f") + 1] == f"{manifests.CODE_DIR}/loadtests/suite/locustfile.py"
    )
