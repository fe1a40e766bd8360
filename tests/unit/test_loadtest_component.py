"""Unit tests for components/loadtest.py with Pulumi mocks: inputs, secrets, outputs, the gate message."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pulumi
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


class RunMocks(pulumi.runtime.Mocks):
    """Records every resource; the dynamic run resource answers with a judged run's outputs."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic:Resource":
            outputs.update(
                verdict="fail",
                exit_code=99,
                threshold_results=[
                    {"key": "checks: rate>0.95", "state": "fail", "value": 0.5, "bound": 0.95}
                ],
                summary={"text": "fail: 1 of 1 thresholds failed"},
                results_path="/reports/local/runs/r1.json",
                report_path="/reports/local/runs/r1.html",
            )
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list | None]:
        return {}, None


MOCKS = RunMocks()
pulumi.runtime.set_mocks(MOCKS, preview=False)


@pytest.fixture(autouse=True)
def run_mocks() -> None:
    """Other test modules install their own mocks: put these back before every test here."""
    pulumi.runtime.set_mocks(MOCKS, preview=False)


from components.loadtest import (  # noqa: E402  (mocks first, then the component)
    LoadTestRun,
    LoadTestRunArgs,
    enforce_slo_gate,
    gate_failure,
)


def args(**overrides: Any) -> LoadTestRunArgs:
    values: dict[str, Any] = {
        "run_id": "r1",
        "stack": "local",
        "target": "http://127.0.0.1:8080",
        "thresholds": ("checks: rate>0.95",),
        "time_scale": 0.02,
        "stages": ({"duration_s": 10, "target": 5},),
        "reports_dir": "reports",
        "test_users": '[{"email": "a@example.test", "password": "hunter2"}]',
        "dsn": "postgresql://app:s3cret@127.0.0.1/app",
    }
    return LoadTestRunArgs(**(values | overrides))


@pulumi.runtime.test
def test_component_exposes_the_runs_outputs() -> Any:
    run = LoadTestRun("loadtest", args())

    def check(values: list[Any]) -> None:
        urn, verdict, exit_code, thresholds, report = values
        assert verdict == "fail", urn
        assert exit_code == 99, urn
        assert thresholds[0]["state"] == "fail", urn
        assert report.endswith("r1.html"), urn

    return pulumi.Output.all(
        run.urn, run.verdict, run.exit_code, run.threshold_results, run.report_path
    ).apply(check)


@pulumi.runtime.test
def test_the_ca_bundle_reaches_the_runner_as_an_absolute_path() -> Any:
    """Settings -> args -> the dynamic resource's inputs -> the runner's RunConfig, whose run
    refuses an untrusted target before it starts (tests/integration/test_target_safety.py)."""
    import os
    from pathlib import Path

    from components.providers.loadtest_run import _run_config

    results = Path("/reports/local/runs/r1.json")

    run = LoadTestRun("loadtest-tls", args(ca_bundle="certs/private-ca.pem"))
    plain = LoadTestRun("loadtest-plain", args())

    def check(_: Any) -> None:
        inputs = next(r for r in MOCKS.resources if r.name == "loadtest-tls-run").inputs
        assert inputs["ca_bundle"] == os.path.abspath("certs/private-ca.pem")
        config = _run_config({**inputs, "test_users": "[]"}, results)
        assert config.ca_bundle == os.path.abspath("certs/private-ca.pem")
        plain_inputs = next(r for r in MOCKS.resources if r.name == "loadtest-plain-run").inputs
        assert plain_inputs["ca_bundle"] == ""
        assert _run_config({**plain_inputs, "test_users": "[]"}, results).ca_bundle is None

    return pulumi.Output.all(run.verdict, plain.verdict).apply(check)


@pulumi.runtime.test
def test_child_is_parented_and_gets_absolute_reports_dir_and_secrets() -> Any:
    run = LoadTestRun("loadtest-secrets", args())

    def check(_: Any) -> None:
        child = next(r for r in MOCKS.resources if r.name == "loadtest-secrets-run")
        assert child.typ == "pulumi-python:dynamic:Resource"
        assert child.inputs["reports_dir"].startswith("/")
        assert child.inputs["stages"] == [{"duration_s": 10.0, "target": 5}]
        assert child.inputs["thresholds"] == ["checks: rate>0.95"]
        component = next(r for r in MOCKS.resources if r.name == "loadtest-secrets")
        assert component.typ == "odavl:perf:LoadTestRun"

    return run.verdict.apply(check)


def test_provider_inputs_wrap_secrets() -> None:
    props = args().provider_inputs()
    assert isinstance(props["test_users"], pulumi.Output)
    assert isinstance(props["dsn"], pulumi.Output)
    assert props["fleet"] == {"kind": "local"}
    no_secrets = args(test_users=None, dsn=None).provider_inputs()
    assert no_secrets["test_users"] is None and no_secrets["dsn"] is None


def test_from_settings_chooses_the_fleet_and_s3() -> None:
    from types import SimpleNamespace as NS

    from loadtests.run.shape import Stage

    settings = NS(
        stack="staging",
        environment="staging",
        target=NS(
            base_url="http://127.0.0.1:8080",
            allowed_hosts=("127.0.0.1",),
            ca_bundle="ca/private.pem",
            production_hosts=("*.example.test",),
        ),
        load=NS(
            run_id="w48",
            profile="staged",
            max_users=100,
            time_scale=1.0,
            stages=(Stage(60.0, 100),),
            workers=4,
            think_time_min_s=1.0,
            think_time_max_s=6.0,
            user_weights={"insight": 1},
            browser_share=0.1,
            scenario="examples/scenarios/projects.py",
            allow_production=False,
            max_duration_s=3600,
            test_users="[]",
        ),
        slo=NS(thresholds=("checks: rate>0.9",), baseline="previous", enforce=True),
        reports=NS(local_dir="reports", s3_bucket="perf", s3_prefix="lt/", s3_endpoint="", retention_days=90),
        kubernetes=NS(enabled=True, namespace="perf", context="kind"),
    )
    built = LoadTestRunArgs.from_settings(settings)
    assert built.fleet == {"kind": "kubernetes", "namespace": "perf", "context": "kind"}
    assert built.s3 == {"bucket": "perf", "prefix": "lt/", "endpoint": "", "retention_days": 90}
    assert built.stages == [{"duration_s": 60.0, "target": 100}]
    assert built.enforce is True
    assert built.ca_bundle == "ca/private.pem"
    inputs = built.provider_inputs()
    assert inputs["production_hosts"] == ["*.example.test"]
    scenario = REPO_ROOT / "examples" / "scenarios" / "projects.py"
    assert inputs["scenario"] == str(scenario)
    assert inputs["scenario_digest"] == hashlib.sha256(scenario.read_bytes()).hexdigest()
    assert LoadTestRunArgs.from_settings(settings, fleet={"kind": "local"}).fleet == {"kind": "local"}


@pytest.mark.parametrize(
    ("verdict", "failing"),
    [("pass", False), ("warn", False), (None, False), ("fail", True), ("no-data", True)],
)
def test_gate_failure_message(verdict: str | None, failing: bool) -> None:
    message = gate_failure(verdict, {"text": f"{verdict}: something"}, "/reports/local/runs/r1.html")
    assert (message is not None) == failing
    if message:
        report = "/reports/local/runs/r1.html"
        assert message == f"SLO gate failed ({verdict}: something); outputs are recorded, report: {report}"


@pulumi.runtime.test
def test_enforce_registers_the_final_step_only_when_enforced(monkeypatch: pytest.MonkeyPatch) -> Any:
    registered: list[Any] = []
    monkeypatch.setattr(pulumi, "run", registered.append)
    enforce_slo_gate(LoadTestRun("loadtest-relaxed", args(enforce=False)))
    assert registered == []
    strict = LoadTestRun("loadtest-strict", args(enforce=True))
    enforce_slo_gate(strict)
    assert len(registered) == 1

    async def step_raises() -> None:
        with pytest.raises(pulumi.RunError, match=r"SLO gate failed \(fail: 1 of 1 thresholds failed\)"):
            await registered[0]()

    return pulumi.Output.from_input(step_raises())


@pulumi.runtime.test
def test_a_preview_warns_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> Any:
    registered: list[Any] = []
    warnings: list[str] = []
    monkeypatch.setattr(pulumi, "run", registered.append)
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    enforce_slo_gate(LoadTestRun("loadtest-preview", args(enforce=True)))

    async def step_warns() -> None:
        await registered[0]()  # no exception in a preview
        assert warnings == [
            "SLO gate failed (fail: 1 of 1 thresholds failed); outputs are recorded, "
            "report: /reports/local/runs/r1.html"
        ]

    return pulumi.Output.from_input(step_warns())
