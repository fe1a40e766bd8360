"""Dynamic provider: one load-test run, judged by the SLO gate, its results kept as a baseline.

When a new run happens. A run is a replace-only resource: `pulumi up` starts a new run when
one of these inputs changes (and `pulumi preview` shows the resource as `replace`, naming them):

    run_id       the explicit "run again" switch (`odavl-perf:loadRunId`)
    target       the base URL under test
    profile, max_users, time_scale, stages      the load profile
    thresholds   the SLO threshold lines (a new gate is a new verdict, so a new run)
    executor     the executor and its settings (`loadExecutor`: closed, or an arrival rate)

Other inputs (workers, think times, user weights, browser share, CA bundle, baseline choice,
accepting saturated generators, the regression criterion's settings, report and S3 settings,
test users, DSN) do not start a run by themselves; they apply to the next one.
Deleting the resource deletes nothing: every run's results stay in the store as baselines
(S3 expiry and local clean-up are the stores' own business).

What a run does is `loadtests.pipeline.run_pipeline` (baseline, run, gate, archive, HTML report,
upload). `execute_run` (also callable without the engine) checks the inputs and parses the
threshold lines once, builds the run's RunConfig, hands the pipeline the fleet to run on (local
processes, or the master and worker Jobs of the Kubernetes fleet, started and awaited by
components/fleet/control.py) and turns the pipeline's outputs into the outs. Results are stored
under `<reports>/<stack>/runs/<run_id>.json` (a rerun under the same run id replaces them), the
HTML report next to them (`.html`). A run that "failed" or was "interrupted" has no verdict: the
create fails (so the next `pulumi up` tries again) after its partial results are stored.

Secrets: `test_users` (JSON list of {"email", "password"}) and `dsn` arrive as secret inputs,
reach the runner through its environment-only channel, and are never written into the outs;
the outs are built from an explicit list of names (RUN_TRIGGERS, "stack", OUTPUT_NAMES).
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from pulumi import Output, ResourceOptions
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, Resource, ResourceProvider

from components.fleet.control import FleetController
from components.fleet.errors import FleetError
from components.providers.engine_cancel import CANCEL_REQUESTED
from components.providers.engine_cancel import install as install_cancel_handler
from components.providers.engine_log import EngineLog
from loadtests.errors import LoadTestError
from loadtests.pipeline import (
    PipelineError,
    PipelineRequest,
    could_not_run,
    results_location,
    run_pipeline,
    s3_target,
)
from loadtests.run.arrival import Executor
from loadtests.run.config import RunConfig, parse_test_users
from loadtests.run.progress import ProgressThrottle, progress_line
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from loadtests.slo.regression import RegressionPolicy
from loadtests.slo.spec import Threshold, ThresholdSpecError, parse_thresholds, settings_problems

__all__ = [
    "OUTPUT_NAMES",
    "RUN_TRIGGERS",
    "SECRET_INPUTS",
    "LoadTestRunError",
    "LoadTestRunProvider",
    "LoadTestRunResource",
    "execute_run",
    "input_problems",
    "pipeline_request",
    "regression_policy",
    "run_outputs",
    "run_triggers",
]

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's placeholder for unknown values in preview
RUN_TRIGGERS = (
    "run_id",
    "target",
    "profile",
    "max_users",
    "time_scale",
    "stages",
    "thresholds",
    "scenario",
    "scenario_digest",
    "executor",
)
SECRET_INPUTS = ("test_users", "dsn")
FLEET_KINDS = ("local", "kubernetes")
THRESHOLDS_SOURCE = "odavl-perf:sloThresholds"
# The outs taken from the pipeline's outputs (besides the run triggers and the stack).
OUTPUT_NAMES = (
    "verdict",
    "exit_code",
    "threshold_results",
    "summary",
    "baseline_run_id",
    "results_path",
    "report_path",
    "report_uris",
    "upload",
    "generators",
    "regression",
    "open_model",
    "started_at",
    "ended_at",
)


class LoadTestRunError(PipelineError):
    """The load test could not run (bad input, runner failure, missing fleet); no verdict exists."""


# ------------------------------------------------------------------------------------------ pure


def _normal(key: str, value: Any) -> Any:
    """Comparable form of an input: numbers as floats, stages and lists as plain lists."""
    if key in ("max_users",):
        return int(value) if isinstance(value, int | float) else value
    if key == "time_scale":
        return float(value) if isinstance(value, int | float) else value
    if key == "stages":
        return [{"duration_s": float(s["duration_s"]), "target": int(s["target"])} for s in (value or [])]
    if key == "thresholds":
        return [str(line).strip() for line in (value or [])]
    if key in ("scenario", "scenario_digest"):
        return value or ""  # absent in a stack from before scenarios: the suite, as ""
    if key == "executor":  # absent in a stack from before the open model: the closed model, {}
        executor = Executor.from_dict(value) if isinstance(value, Mapping) else Executor()
        return executor.as_dict() if executor.open_model else {}
    return value


def _is_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, list):
        return any(_is_unknown(item) for item in value)
    if isinstance(value, dict):
        return any(_is_unknown(item) for item in value.values())
    return False


def run_triggers(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The inputs whose change starts a new run (unknown values in preview count as changed)."""
    changed = []
    for key in RUN_TRIGGERS:
        new = news.get(key)
        if _is_unknown(new):
            changed.append(key)
            continue
        try:
            if _normal(key, olds.get(key)) != _normal(key, new):
                changed.append(key)
        except (KeyError, TypeError, ValueError):
            changed.append(key)
    return changed


def _parsed_inputs(news: Mapping[str, Any]) -> tuple[tuple[Threshold, ...], list[tuple[str, str]]]:
    """The thresholds, parsed (empty when unknown or invalid), and (property, reason) for every
    input the provider cannot run with; unknown values pass."""
    problems: list[tuple[str, str]] = []
    thresholds: tuple[Threshold, ...] = ()
    lines = news.get("thresholds")
    if not _is_unknown(lines):
        if not isinstance(lines, list) or not lines:
            problems.append(("thresholds", "expected a non-empty list of threshold lines"))
        else:
            try:
                # Line numbers from 1, as the judged results record them.
                thresholds = parse_thresholds(lines, source=THRESHOLDS_SOURCE)
            except ThresholdSpecError:
                # Named by their index in the stack's list, as the settings validation names them.
                problems.extend(("thresholds", p) for p in settings_problems(lines))
    fleet = news.get("fleet") or {}
    if not _is_unknown(fleet) and fleet.get("kind", "local") not in FLEET_KINDS:
        problems.append(("fleet", f"kind {fleet.get('kind')!r}: expected one of {', '.join(FLEET_KINDS)}"))
    for key in ("run_id", "stack", "target", "reports_dir"):
        value = news.get(key)
        if not _is_unknown(value) and (not isinstance(value, str) or not value):
            problems.append((key, f"expected a non-empty string, found {value!r}"))
    return thresholds, problems


def input_problems(news: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for every input the provider cannot run with; unknown values pass."""
    return _parsed_inputs(news)[1]


def run_outputs(props: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    """The resource's outs: the run triggers (for the next diff), the stack and OUTPUT_NAMES of
    the pipeline's outputs (`PipelineResult.outputs()`); never a secret."""
    outs: dict[str, Any] = {key: _normal(key, props.get(key)) for key in RUN_TRIGGERS}
    outs["stack"] = props.get("stack")
    outs.update({name: results.get(name) for name in OUTPUT_NAMES})
    return outs


# ------------------------------------------------------------------------------------------ I/O


def _run_config(props: Mapping[str, Any], results_path: Path) -> RunConfig:
    """The runner's RunConfig; inputs left unset keep the runner's defaults (the pipeline adds
    the live abort check)."""
    stages = tuple(Stage(float(s["duration_s"]), int(s["target"])) for s in props.get("stages") or ())
    optional = {
        "workers": int(props["workers"]) if props.get("workers") else None,
        "user_weights": {k: int(v) for k, v in props["user_weights"].items()}
        if props.get("user_weights")
        else None,
        "think_time_min_s": props.get("think_time_min_s"),
        "think_time_max_s": props.get("think_time_max_s"),
        "allowed_hosts": tuple(props["allowed_hosts"]) if props.get("allowed_hosts") else None,
        "production_hosts": tuple(props["production_hosts"]) if props.get("production_hosts") else None,
        "ca_bundle": props.get("ca_bundle") or None,
        "scenario": props.get("scenario") or None,
        "run_timeout_s": float(props["max_duration_s"]) if props.get("max_duration_s") else None,
    }
    executor = Executor.from_dict(props.get("executor"))
    if executor.open_model:
        optional["executor"] = executor
        # A capacity search judges each step with the gate's own lines.
        optional["thresholds"] = tuple(str(line) for line in props.get("thresholds") or ())
    known = {f.name for f in fields(RunConfig)}
    if "browser_share" in known and props.get("browser_share") is not None:
        optional["browser_share"] = float(props["browser_share"])
    return RunConfig(
        target=props["target"],
        profile=props.get("profile") or "staged",
        max_users=int(props.get("max_users") or 0),
        time_scale=float(props.get("time_scale") or 1.0),
        stages=stages or None,
        test_users=parse_test_users(props.get("test_users") or "[]", "test users"),
        results_path=str(results_path),
        run_id=props["run_id"],
        stack=props["stack"],
        environment=props.get("environment") or "local",
        allow_production=bool(props.get("allow_production")),
        log_dir=str(results_path.parent.parent / "logs" / props["run_id"]),
        **{key: value for key, value in optional.items() if value is not None},
    )


def kubernetes_api(fleet: Mapping[str, Any]) -> Any:
    """The Kubernetes API client for the fleet: in-cluster credentials, else the kubeconfig context
    (``$KUBECONFIG`` or ~/.kube/config; the stack's ``kubernetesContext``, empty for the current one)."""
    # Imported here: only a run on the Kubernetes fleet pays the Kubernetes client's import time.
    from components.fleet.kube_client import KubernetesFleetApi

    if fleet.get("in_cluster"):
        return KubernetesFleetApi.in_cluster()
    kubeconfig = fleet.get("kubeconfig") or ""
    return KubernetesFleetApi(Path(kubeconfig) if kubeconfig else None, context=fleet.get("context") or "")


def _run_fleet(
    config: RunConfig,
    fleet: Mapping[str, Any],
    api_factory: Any = kubernetes_api,
    on_tick: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run on the configured fleet and return the results document (the pipeline's fleet runner).

    Local: `loadtests.run.runner.run_local`. Kubernetes: the LoadGeneratorFleet's master and
    worker Jobs are started, awaited and, when they fail or overrun, deleted by
    components/fleet/control.FleetController; the master prints the merged results document to
    its log, which the controller reads back. (Live abort runs in the master there, from the
    suite's own thresholds; this process only waits.)

    ``cancel`` is the engine's cancel request (components/providers/engine_cancel.py): a run
    not yet started does not start, a running one stops as interrupted.
    """
    if cancel is not None and cancel.is_set():
        raise LoadTestRunError("the update was cancelled before the load test started")
    if fleet.get("kind", "local") != "kubernetes":
        return run_local(config, on_tick=on_tick, cancel=cancel)
    if not fleet.get("master_job") or not fleet.get("worker_job"):
        raise LoadTestRunError("the Kubernetes fleet has no master/worker Job manifests to start")
    timeout_s = float(config.run_timeout_s or 3600)
    try:
        outcome = FleetController(api_factory(fleet)).run(
            fleet["master_job"], fleet["worker_job"], timeout_s, cancel=cancel, on_tick=on_tick
        )
    except FleetError as exc:
        raise LoadTestRunError(f"the Kubernetes fleet could not run: {exc}") from None
    if outcome.results is None:
        raise LoadTestRunError(
            f"the Kubernetes fleet ended {outcome.state} without results: {outcome.reason}"
        )
    return dict(outcome.results)


def regression_policy(props: Mapping[str, Any]) -> RegressionPolicy:
    """The regression criterion's policy from the inputs; unset inputs keep its defaults."""
    defaults = RegressionPolicy()
    runs, floor = props.get("regression_runs"), props.get("regression_min_effect_pct")
    try:
        return RegressionPolicy(
            runs=int(runs) if runs is not None else defaults.runs,
            min_effect_pct=float(floor) if floor is not None else defaults.min_effect_pct,
            gate=bool(props.get("regression_gate")),
        )
    except ValueError as exc:
        raise LoadTestRunError(f"regression settings: {exc}") from None


def pipeline_request(props: Mapping[str, Any], thresholds: tuple[Threshold, ...]) -> PipelineRequest:
    """The pipeline's request for the resource's inputs: every step, results in `reports_dir`."""
    results_path = results_location(props["reports_dir"], props["stack"], props["run_id"])
    return PipelineRequest(
        config=_run_config(props, results_path),
        thresholds=thresholds,
        baseline=props.get("baseline") or "previous",
        reports_dir=props["reports_dir"],
        html_report=True,
        dsn=props.get("dsn") or None,
        s3=s3_target(props.get("s3")),
        accept_saturated_generators=bool(props.get("accept_saturated_generators")),
        regression=regression_policy(props),
    )


def _progress_reporter(engine_log: EngineLog) -> Callable[[dict], None]:
    """The runner's ticks as one line on the resource's row in `pulumi up`: every 10 s, and as
    each stage begins."""
    throttle = ProgressThrottle()

    def report(progress: dict) -> None:
        if throttle.due(progress.get("stage")):
            engine_log.info(progress_line(progress))

    return report


def execute_run(props: Mapping[str, Any]) -> dict[str, Any]:
    """Run, judge, store and report one load test; returns the outs (see `run_outputs`).

    Raises LoadTestRunError when the test could not run (no verdict exists then).
    """
    # The one parse of the threshold lines in this call: the pipeline judges these objects.
    thresholds, problems = _parsed_inputs(props)
    if problems:
        raise LoadTestRunError("; ".join(f"{key}: {reason}" for key, reason in problems))
    engine_log = EngineLog.for_resource(props.get("progress_urn"))
    fleet_runner = functools.partial(
        _run_fleet,
        fleet=props.get("fleet") or {"kind": "local"},
        on_tick=_progress_reporter(engine_log) if engine_log else None,
        cancel=CANCEL_REQUESTED,
    )
    try:
        result = run_pipeline(pipeline_request(props, thresholds), fleet_runner=fleet_runner)
    except LoadTestRunError:
        raise
    except LoadTestError as exc:
        raise LoadTestRunError(str(could_not_run(exc))) from None
    finally:
        if engine_log:
            engine_log.close()
    if not result.ran_to_end:
        # No verdict for a run that did not run to its end: fail the create, so the next
        # `pulumi up` tries again; what was measured stays readable on disk.
        raise LoadTestRunError(
            f"the load test {result.doc.get('status')}: "
            f"{result.doc.get('abort_reason') or 'no reason recorded'} "
            f"(partial results: {result.results_path})"
        )
    return run_outputs(props, result.outputs())


class LoadTestRunProvider(ResourceProvider):
    """A thin shell over `execute_run`; every input that matters forces a replacement."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(prop, reason) for prop, reason in input_problems(news)]
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = run_triggers(olds, news)
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        # From here on the engine's first Ctrl-C stops the run instead of waiting for its end.
        install_cancel_handler()
        outs = execute_run(props)
        run_id = f"{props['stack']}/{props['run_id']}/{uuid.uuid4().hex[:8]}"
        return CreateResult(id_=run_id, outs=outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: the run's results stay in the store as a future baseline."""


class LoadTestRunResource(Resource):
    """The dynamic resource behind `components.loadtest.LoadTestRun` (one run per replacement)."""

    TYPE = "pulumi-python:dynamic:Resource"  # every Python dynamic resource's type

    verdict: Output[str]
    exit_code: Output[int]
    threshold_results: Output[list]
    summary: Output[dict]
    baseline_run_id: Output[str]
    results_path: Output[str]
    report_path: Output[str]
    report_uris: Output[list]
    upload: Output[dict]
    generators: Output[dict]
    regression: Output[dict]
    open_model: Output[dict]

    def __init__(self, name: str, props: Mapping[str, Any], opts: ResourceOptions | None = None) -> None:
        super().__init__(LoadTestRunProvider(), name, {**props, **dict.fromkeys(OUTPUT_NAMES)}, opts)
