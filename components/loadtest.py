"""LoadTestRun: one staged load test against the target, judged by the SLO gate.

Wraps the dynamic resource of `components/providers/loadtest_run.py`, whose module docstring
says when a new run happens (run id, target, profile, stages or thresholds changed; `pulumi
preview` shows the run as `replace` naming those inputs); the run itself is
`loadtests.pipeline.run_pipeline`, the same as `python -m loadtests run`'s. Outputs: the verdict
("pass"|"warn"|"fail"|"no-data"|"no-verdict"), the gate's exit code (0 / 99 / 3, see
loadtests/exit_codes.py), each threshold's value and state, a summary of the run, the baseline
run id, the report locations (local path; S3 URIs when configured) and the load generators'
health (`generators`: saturated, the reason, whether it was accepted, and per worker its CPU
busy share, mean CPU and event-loop lag p99). A run on saturated generators gets "no-verdict"
unless `sloAcceptSaturatedGenerators` accepts it; with `slo.enforce` that fails the update too.
`regression`: this run against the last `sloRegressionRuns` passing runs of the stack and profile
(loadtests/slo/regression.py: outcome regression / no change / improvement / inconclusive, the p95
and p99 differences with their bootstrap intervals and p-values); with `sloRegressionGate` a
regression fails the verdict, otherwise it is reported only.
`open_model`: an arrival-rate run's figures (loadtests/results/open_model.py: iterations planned,
started and dropped, requested and achieved rate, the p95/p99 from the intended start beside
the service time, which metric the thresholds use) and, for a capacity search, the highest rate
and users that met every threshold and the first threshold that broke; None in the closed model.

Test users and the database DSN go in as secret inputs; the test users reach the runner's
environment, the DSN the report's slow-statement query, and neither ever an output or a log.

Enforcing the gate (`slo.enforce`): `enforce_slo_gate(run)`, called once from `__main__.py`
after the exports, registers a final step with `pulumi.run`. The Python SDK runs that step
after the program's top level, then registers the stack outputs (in a `finally`) and waits
until the engine has acknowledged them before it reports the step's error. So a failing
verdict ends `pulumi up` with a non-zero exit code and a one-line message (a `pulumi.RunError`,
no traceback), while `pulumi stack output` shows this run's verdict, thresholds and report
path, and the report files are already written. A preview does not fail: a new run's verdict
is unknown there, and an unchanged run's failing verdict is shown as a warning.

Checked with the engine against the alternative, a dynamic "gate" resource whose create
raises: its error carries the provider's traceback, and once a passing run has created it, a
later failing verdict reaches it as an update, which passed silently.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.providers.loadtest_run import LoadTestRunResource
from loadtests.run.config import DEFAULT_PRODUCTION_HOSTS

__all__ = ["LoadTestRun", "LoadTestRunArgs", "SloGateFailed", "enforce_slo_gate", "gate_failure"]

ACCEPT_SATURATED_KEY = "odavl-perf:sloAcceptSaturatedGenerators"

PASSING_VERDICTS = ("pass", "warn")


def file_digest(path: str) -> str:
    """sha256 of a file's bytes, hex."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass
class LoadTestRunArgs:
    """Inputs of one load-test run (durations in seconds, shares 0.0-1.0).

    Attributes:
        run_id: changing it forces a new run (`odavl-perf:loadRunId`).
        stack, environment: the stack's name and environment ("local"|"staging"|"production").
        target: base URL under test; its host must be in `allowed_hosts`.
        production_hosts: hosts whose runs are production runs (loadtests.run.config.is_production_host).
        allow_production: the permission for this run to load production (never a stored setting).
        ca_bundle: PEM file of CAs trusted for an https target besides the system store ("" = none).
        profile, max_users, time_scale, stages: the load profile (stages override the profile's).
        workers, think_time_min_s, think_time_max_s, user_weights, browser_share: fleet and users.
        scenario: a locustfile of the user's own (`loadLocustfile`) instead of the suite's journeys.
        executor: the executor (`loadExecutor` and its keys) in `Executor.as_dict()` form; {} =
            the closed model (loadtests/run/arrival.py).
        thresholds: SLO threshold lines (loadtests/slo/spec.py syntax); baseline: "previous"|"none"|run id.
        enforce: a failing verdict fails `pulumi up` (outputs and report stay readable).
        accept_saturated_generators: judge a run on saturated load generators anyway
            (`sloAcceptSaturatedGenerators`); otherwise its verdict is "no-verdict".
        regression_runs, regression_min_effect_pct, regression_gate: the statistical regression
            criterion (`sloRegressionRuns`, `sloRegressionMinEffectPercent`, `sloRegressionGate`).
        reports_dir: local results directory (runs kept under <reports_dir>/<stack>/runs/).
        s3: {"bucket", "prefix", "endpoint", "retention_days"} or None for local reports only.
        fleet: {"kind": "local"} or {"kind": "kubernetes", "namespace", "context", ...}.
        test_users: secret JSON list of {"email", "password"}; dsn: secret libpq DSN or None.
    """

    run_id: pulumi.Input[str]
    stack: str
    target: pulumi.Input[str]
    thresholds: Sequence[str]
    environment: str = "local"
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost", "::1")
    production_hosts: Sequence[str] = DEFAULT_PRODUCTION_HOSTS
    ca_bundle: str = ""
    profile: str = "staged"
    max_users: int = 20
    time_scale: float = 1.0
    stages: Sequence[Mapping[str, float]] = ()
    workers: int = 2
    think_time_min_s: float = 1.0
    think_time_max_s: float = 6.0
    user_weights: Mapping[str, int] = field(default_factory=dict)
    browser_share: float = 0.0
    scenario: str = ""
    executor: Mapping[str, Any] = field(default_factory=dict)
    allow_production: bool = False
    max_duration_s: float | None = None
    baseline: str = "previous"
    enforce: bool = False
    accept_saturated_generators: bool = False
    regression_runs: int = 5
    regression_min_effect_pct: float = 5.0
    regression_gate: bool = False
    reports_dir: str = "reports"
    s3: Mapping[str, Any] | None = None
    fleet: Mapping[str, Any] = field(default_factory=lambda: {"kind": "local"})
    test_users: pulumi.Input[str] | None = None
    dsn: pulumi.Input[str] | None = None

    @classmethod
    def from_settings(
        cls, settings: Any, *, dsn: pulumi.Input[str] | None = None, fleet: Mapping[str, Any] | None = None
    ) -> LoadTestRunArgs:
        """Args from `components.settings.Settings`; `fleet` overrides the kind chosen by settings."""
        load, reports = settings.load, settings.reports
        if fleet is None:
            k8s = settings.kubernetes
            fleet = (
                {"kind": "kubernetes", "namespace": k8s.namespace, "context": k8s.context}
                if k8s.enabled
                else {"kind": "local"}
            )
        s3 = None
        if reports.s3_bucket:
            s3 = {
                "bucket": reports.s3_bucket,
                "prefix": reports.s3_prefix,
                "endpoint": reports.s3_endpoint,
                "retention_days": reports.retention_days,
            }
        return cls(
            run_id=load.run_id,
            stack=settings.stack,
            environment=settings.environment,
            target=settings.target.base_url,
            allowed_hosts=tuple(settings.target.allowed_hosts),
            production_hosts=tuple(settings.target.production_hosts),
            ca_bundle=settings.target.ca_bundle,
            profile=load.profile,
            max_users=load.max_users,
            time_scale=load.time_scale,
            stages=[{"duration_s": s.duration_s, "target": s.target} for s in load.stages],
            workers=load.workers,
            think_time_min_s=load.think_time_min_s,
            think_time_max_s=load.think_time_max_s,
            user_weights=dict(load.user_weights),
            browser_share=load.browser_share,
            scenario=load.scenario,
            executor=_executor_input(getattr(load, "executor", None)),
            allow_production=load.allow_production,
            max_duration_s=getattr(load, "max_duration_s", None),
            thresholds=tuple(settings.slo.thresholds),
            baseline=settings.slo.baseline,
            enforce=settings.slo.enforce,
            accept_saturated_generators=getattr(settings.slo, "accept_saturated_generators", False),
            regression_runs=getattr(settings.slo, "regression_runs", 5),
            regression_min_effect_pct=getattr(settings.slo, "regression_min_effect_pct", 5.0),
            regression_gate=getattr(settings.slo, "regression_gate", False),
            reports_dir=reports.local_dir,
            s3=s3,
            fleet=fleet,
            test_users=load.test_users,
            dsn=dsn,
        )

    def provider_inputs(self) -> dict[str, Any]:
        """The dynamic resource's inputs; secrets wrapped as secret Outputs."""
        props: dict[str, Any] = {
            "run_id": self.run_id,
            "stack": self.stack,
            "environment": self.environment,
            "target": self.target,
            "allowed_hosts": list(self.allowed_hosts),
            "production_hosts": list(self.production_hosts),
            # Absolute for the same reason as reports_dir below.
            "ca_bundle": os.path.abspath(self.ca_bundle) if self.ca_bundle else "",
            "profile": self.profile,
            "max_users": self.max_users,
            "time_scale": float(self.time_scale),
            "stages": [
                {"duration_s": float(s["duration_s"]), "target": int(s["target"])} for s in self.stages
            ],
            "workers": self.workers,
            "think_time_min_s": self.think_time_min_s,
            "think_time_max_s": self.think_time_max_s,
            "user_weights": dict(self.user_weights),
            "browser_share": self.browser_share,
            # The path and the content's digest: editing the scenario starts a new run.
            "scenario": os.path.abspath(self.scenario) if self.scenario else "",
            "scenario_digest": file_digest(self.scenario) if self.scenario else "",
            "executor": dict(self.executor),
            "allow_production": self.allow_production,
            "max_duration_s": self.max_duration_s,
            "thresholds": list(self.thresholds),
            "baseline": self.baseline,
            "accept_saturated_generators": bool(self.accept_saturated_generators),
            "regression_runs": int(self.regression_runs),
            "regression_min_effect_pct": float(self.regression_min_effect_pct),
            "regression_gate": bool(self.regression_gate),
            # Absolute, so the provider process writes where the program means, whatever its cwd.
            "reports_dir": os.path.abspath(self.reports_dir),
            "s3": dict(self.s3) if self.s3 else None,
            "fleet": dict(self.fleet),
            "test_users": pulumi.Output.secret(self.test_users) if self.test_users is not None else None,
            "dsn": pulumi.Output.secret(self.dsn) if self.dsn is not None else None,
        }
        return props


class LoadTestRun(pulumi.ComponentResource):
    """One load test, its SLO verdict and report; with `enforce`, a failing verdict fails the update."""

    TYPE = "odavl:perf:LoadTestRun"

    verdict: pulumi.Output[str]
    exit_code: pulumi.Output[int]
    threshold_results: pulumi.Output[list]
    summary: pulumi.Output[dict]
    baseline_run_id: pulumi.Output[str]
    results_path: pulumi.Output[str]
    report_path: pulumi.Output[str]
    report_uris: pulumi.Output[list]
    generators: pulumi.Output[dict]
    regression: pulumi.Output[dict]
    open_model: pulumi.Output[dict]

    def __init__(self, name: str, args: LoadTestRunArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.enforce = args.enforce
        # The run's own URN, so the provider's live progress lands on its row in `pulumi up`
        # (components/providers/engine_log.py); not a run trigger.
        progress_urn = _top_level_child_urn(self, f"{name}-run", LoadTestRunResource.TYPE, opts)
        run = LoadTestRunResource(
            f"{name}-run",
            {**args.provider_inputs(), "progress_urn": progress_urn},
            pulumi.ResourceOptions(parent=self),
        )
        self.verdict = run.verdict
        self.exit_code = run.exit_code
        self.threshold_results = run.threshold_results
        self.summary = run.summary
        self.baseline_run_id = run.baseline_run_id
        self.results_path = run.results_path
        self.report_path = run.report_path
        self.report_uris = run.report_uris
        self.generators = run.generators
        self.regression = run.regression
        self.open_model = run.open_model
        self.register_outputs(
            {
                "verdict": self.verdict,
                "exit_code": self.exit_code,
                "threshold_results": self.threshold_results,
                "summary": self.summary,
                "baseline_run_id": self.baseline_run_id,
                "results_path": self.results_path,
                "report_path": self.report_path,
                "report_uris": self.report_uris,
                "generators": self.generators,
                "regression": self.regression,
                "open_model": self.open_model,
            }
        )


def _executor_input(executor: Any) -> dict[str, Any]:
    """The executor input: {} for the closed model (as stacks from before the open model had)."""
    return executor.as_dict() if executor is not None and executor.open_model else {}


def _top_level_child_urn(
    component: pulumi.ComponentResource, name: str, child_type: str, opts: pulumi.ResourceOptions | None
) -> str:
    """The URN a child of `component` gets, written out as the engine builds it, for a component
    at the top of the stack ("" under another parent). Not taken from `component.urn`: an input
    that waits on the parent's URN would make the child wait on its own parent."""
    if opts is not None and opts.parent is not None:
        return ""
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{LoadTestRun.TYPE}${child_type}::{name}"


class SloGateFailed(pulumi.RunError):
    """The SLO gate failed with `slo.enforce` on; printed by the engine without a traceback."""


def gate_failure(
    verdict: str | None, summary: Mapping[str, Any] | None, report_path: str | None
) -> str | None:
    """The message that fails the update, or None when the verdict passes (or is unknown)."""
    if verdict is None or verdict in PASSING_VERDICTS:
        return None
    text = (summary or {}).get("text") or verdict
    if verdict == "no-verdict":
        return (
            f"SLO gate gave no verdict: the load generators were saturated, so the run measured them "
            f"as much as the target ({text}); add workers or lower the load per worker, or set "
            f"{ACCEPT_SATURATED_KEY} to true to judge such a run anyway; outputs are recorded "
            f"(stack output generators), report: {report_path}"
        )
    return f"SLO gate failed ({text}); outputs are recorded, report: {report_path}"


def enforce_slo_gate(run: LoadTestRun) -> None:
    """Make `pulumi up` exit non-zero after the outputs are recorded when `run`'s verdict fails.

    Call once, from `__main__.py`; it does nothing unless the run's args had `enforce` set
    (it uses `pulumi.run`, which a program may call only once).
    """
    if not run.enforce:
        return

    async def check_verdict() -> None:
        verdict = await run.verdict.future()
        message = gate_failure(verdict, await run.summary.future(), await run.report_path.future())
        if message is None:
            return
        if pulumi.runtime.is_dry_run():
            # A preview (e.g. of a pull request) reports the stored verdict but does not fail:
            # only `pulumi up` is gated.
            pulumi.log.warn(message)
            return
        raise SloGateFailed(message)

    pulumi.run(check_verdict)
