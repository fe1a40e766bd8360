"""The whole program (`__main__.py`) under Pulumi mocks, for each of the three real stack files.

Every stack registers the expected component tree (types, names, parents: a URN spells out the
chain of parent types) and exports the expected outputs; invalid settings register nothing.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import loadtest

ROOT = Path(__file__).resolve().parents[2]
STACK_TYPE = "pulumi:pulumi:Stack"
DYNAMIC = "pulumi-python:dynamic:Resource"

MOCK_SECRETS = {
    "testUsers": json.dumps([{"email": "loadtest-1@odavl.test", "password": "mock-user-password"}]),
    "notificationsSlackWebhook": "https://hooks.slack.com/services/T0/B0/mock",
}


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def stack_config(stack: str, **overrides: Any) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine passes it: secrets decrypted to mock values."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw.update({f"odavl-perf:{k}": v for k, v in overrides.items()})
    config, secret_keys = {}, []
    for key, value in raw.items():
        name = key.split(":", 1)[1]
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(key)
            value = MOCK_SECRETS.get(name, f"mock-{name}")
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, secret_keys


def run_program(
    stack: str, *, stack_file: str | None = None, **overrides: Any
) -> tuple[dict[str, str], dict[str, Any], BaseException | None]:
    """Run __main__.py under mocks with the config of Pulumi.<stack_file or stack>.yaml; returns
    {urn: type}, the exports, and the program's error."""
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="odavl-perf", stack=stack, preview=False)
    config, secret_keys = stack_config(stack_file or stack, **overrides)
    pulumi.runtime.set_all_config(config, secret_keys)
    exports: dict[str, Any] = {}
    error: list[BaseException] = []
    original_export, original_gate = pulumi.export, loadtest.enforce_slo_gate

    @pulumi.runtime.test
    def program() -> None:
        # The gate's final step (`pulumi.run`) needs the engine's program runner, which mocks
        # do not drive: record the call instead; the engine tests check the gate itself.
        pulumi.export = lambda name, value: exports.__setitem__(name, value)
        loadtest.enforce_slo_gate = lambda run: exports.__setitem__("<gate>", run.enforce)
        try:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        except Exception as exc:  # the test inspects it
            error.append(exc)
        finally:
            pulumi.export, loadtest.enforce_slo_gate = original_export, original_gate

    try:
        program()
    finally:
        monitor = pulumi.runtime.settings.get_monitor()
        resources = {urn: urn.split("::")[2].rsplit("$", 1)[-1] for urn in monitor.resources}
        pulumi.runtime.set_all_config({}, [])
    return resources, exports, error[0] if error else None


def tree(resources: dict[str, str]) -> set[tuple[str, str, str]]:
    """(type, name, parent type) of every resource."""
    found = set()
    for urn, typ in resources.items():
        types = urn.split("::")[2].split("$")
        parent = types[-2] if len(types) > 1 else STACK_TYPE
        found.add((typ, urn.rsplit("::", 1)[1], parent))
    return found


LOCAL_TREE = {
    ("odavl:perf:LocalTarget", "studio-hub", STACK_TYPE),
    (DYNAMIC, "studio-hub-postgres", "odavl:perf:LocalTarget"),
    (DYNAMIC, "studio-hub-reference-app", "odavl:perf:LocalTarget"),
    ("odavl:perf:DatabaseTuning", "studio-hub-database", STACK_TYPE),
    (DYNAMIC, "studio-hub-database-pg-trgm", "odavl:perf:DatabaseTuning"),
    (DYNAMIC, "studio-hub-database-readonly-role", "odavl:perf:DatabaseTuning"),
    (DYNAMIC, "studio-hub-database-index-migration", "odavl:perf:DatabaseTuning"),
    ("odavl:perf:LoadTestRun", "load-test", STACK_TYPE),
    (DYNAMIC, "load-test-run", "odavl:perf:LoadTestRun"),
}

RUN_EXPORTS = {
    "environment",
    "target",
    "databaseTuning",
    "indexes",
    "indexCount",
    "readonlyRole",
    "runId",
    "verdict",
    "thresholds",
    "summary",
    "baselineRunId",
    "resultsPath",
    "reportPath",
    "reportUris",
    "generators",
    "regression",
    "openModel",
}


def test_local_stack_registers_its_component_tree() -> None:
    resources, exports, error = run_program("local")
    assert error is None, error
    assert tree(resources) == LOCAL_TREE
    assert set(exports) == RUN_EXPORTS | {"referenceAppUrl", "<gate>"}
    assert exports["<gate>"] is True  # sloEnforce: true


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_cluster_stacks_register_their_component_tree(stack: str, monkeypatch) -> None:
    monkeypatch.setenv("ODAVL_ALLOW_PRODUCTION_RUN", stack)  # the permission of this one update
    resources, exports, error = run_program(stack)
    assert error is None, error
    found = tree(resources)
    components = {(typ, name, parent) for typ, name, parent in found if typ.startswith("odavl:perf:")}
    assert components == {
        ("odavl:perf:DatabaseTuning", "studio-hub-database", STACK_TYPE),
        ("odavl:perf:ObservabilityStack", "observability", STACK_TYPE),
        ("odavl:perf:LoadGeneratorFleet", "load-generators", STACK_TYPE),
        ("odavl:perf:GrafanaProvisioning", "grafana", STACK_TYPE),
        ("odavl:perf:LoadTestRun", "load-test", STACK_TYPE),
    }
    # No local processes on a cluster stack.
    assert not any(typ == "odavl:perf:LocalTarget" for typ, _, _ in found)
    providers = {(typ, name) for typ, name, _ in found if typ.startswith("pulumi:providers:")}
    assert ("pulumi:providers:kubernetes", "cluster") in providers
    assert ("pulumi:providers:grafana", "grafana") in providers
    by_parent: dict[str, set[str]] = {}
    for typ, _name, parent in found:
        by_parent.setdefault(parent, set()).add(typ)
    # The database is managed with pulumi-postgresql on clusters, through its own provider.
    assert {"postgresql:index/extension:Extension", "postgresql:index/role:Role"} <= by_parent[
        "odavl:perf:DatabaseTuning"
    ]
    assert "kubernetes:helm.sh/v4:Chart" in by_parent["odavl:perf:ObservabilityStack"]
    # What a run needs before it starts; the master and worker Jobs are not Pulumi resources
    # (LoadTestRun creates them when the run starts, they delete themselves afterwards).
    assert by_parent["odavl:perf:LoadGeneratorFleet"] == {
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:Service",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    }
    assert {"grafana:oss/dataSource:DataSource", "grafana:alerting/ruleGroup:RuleGroup"} <= by_parent[
        "odavl:perf:GrafanaProvisioning"
    ]
    assert set(exports) == RUN_EXPORTS | {"prometheusUrl", "<gate>"}


def test_load_can_be_switched_off_leaving_the_infrastructure() -> None:
    resources, exports, error = run_program("production", loadEnabled=False)  # no permission needed
    assert error is None, error
    types = set(resources.values())
    assert "odavl:perf:LoadTestRun" not in types and "odavl:perf:LoadGeneratorFleet" not in types
    assert "odavl:perf:ObservabilityStack" in types
    assert "verdict" not in exports


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        (
            "local",
            {"loadMaxUsers": 0},
            "loadMaxUsers = '0': expected a whole number from 1 to 5000",
        ),
        (
            "production",
            {},
            "ODAVL_ALLOW_PRODUCTION_RUN = '': expected 'production' to run a load test on production",
        ),
        ("production", {"loadAllowProduction": "true"}, "loadAllowProduction = 'true': expected no such key"),
        (
            "local",
            {"loadMaxUser": "100"},  # a typo: without the check the stack ran with loadMaxUsers' value
            "odavl-perf:loadMaxUser = '100': expected a key declared in Pulumi.yaml; no such key, "
            "did you mean odavl-perf:loadMaxUsers?",
        ),
        (
            "staging",
            {"targetBaseUrl": "https://odavl.studio", "targetAllowedHosts": ["odavl.studio"]},
            ("environment = 'staging': expected production, because the target host 'odavl.studio'"),
        ),
        ("staging", {"targetBaseUrl": "https://evil.example"}, "expected a host listed in"),
    ],
)
def test_invalid_settings_register_no_resource(stack: str, overrides: dict, message: str) -> None:
    resources, exports, error = run_program(stack, **overrides)
    assert error is not None and message in str(error)
    assert isinstance(error, pulumi.RunError)  # printed by the engine without a traceback
    assert set(resources.values()) <= {STACK_TYPE}
    assert exports == {}


@pytest.mark.parametrize("tuning", ["verify", "off"])
def test_a_stack_that_does_not_manage_the_database_registers_no_database_object(tuning: str) -> None:
    resources, exports, error = run_program("staging", databaseTuning=tuning)
    assert error is None, error
    types = set(resources.values())
    assert "odavl:perf:DatabaseTuning" not in types
    assert not any(typ.startswith("postgresql:") for typ in types)
    assert exports["databaseTuning"] == tuning
    if tuning == "verify":
        assert ("odavl:perf:DatabaseCheck", "studio-hub-database-check", STACK_TYPE) in tree(resources)
        assert (DYNAMIC, "studio-hub-database-check-index-check", "odavl:perf:DatabaseCheck") in tree(
            resources
        )
        assert {"indexes", "indexCount"} <= set(exports)
    else:
        assert "odavl:perf:DatabaseCheck" not in types and "indexes" not in exports


def test_an_ephemeral_stack_copied_from_staging_refuses_to_manage_its_database() -> None:
    resources, _, error = run_program("pr-42", stack_file="staging")
    assert error is not None and "databaseTuning = 'manage': expected verify or off" in str(error)
    assert set(resources.values()) <= {STACK_TYPE}
    resources, _, error = run_program("pr-42", stack_file="staging", databaseTuning="verify")
    assert error is None, error
    assert "odavl:perf:DatabaseTuning" not in set(resources.values())
