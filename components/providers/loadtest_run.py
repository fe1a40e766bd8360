"""Dynamic provider: one load-test run, judged by the SLO gate, its results kept as a baseline.

When a new run happens. A run is a replace-only resource: `pulumi up` starts a new run when
one of these inputs changes (and `pulumi preview` shows the resource as `replace`, naming them):

    run_id       the explicit "run again" switch (`odavl-perf:loadRunId`)
    target       the base URL under test
    profile, max_users, time_scale, stages      the load profile
    thresholds   the SLO threshold lines (a new gate is a new verdict, so a new run)

Other inputs (workers, think times, user weights, browser share, CA bundle, baseline choice,
report and S3 settings, test users, DSN) do not start a run by themselves; they apply to the
next one.
Deleting the resource deletes nothing: every run's results stay in the store as baselines
(S3 expiry and local clean-up are the stores' own business).

What a run does (`execute_run`, also callable without the engine): parse the thresholds, pick
the baseline (loadtests/baseline.py), run the local fleet through `loadtests.runner.run_local`
with the live abort check (`loadtests.slo.LiveAbortCheck`), evaluate the gate, store the judged
results under `<reports>/<stack>/runs/<run_id>.json` (a rerun under the same run id replaces
them), write the HTML report next to it (`.html`), upload both when S3 is configured, and return
the outputs. A run that "failed" or was "interrupted" has no verdict: the create fails (so the
next `pulumi up` tries again) after its partial results are stored. The Kubernetes fleet
(`fleet.kind: kubernetes`) is refused with a clear error until the fleet controller
(components/fleet_control.py) returns a results document.

Secrets: `test_users` (JSON list of {"email", "password"}) and `dsn` arrive as secret inputs,
reach the runner through its environment-only channel, and are never written into the outs;
the outs are built from an explicit list of keys.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import Output, ResourceOptions
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, Resource, ResourceProvider

__all__ = [
    "RUN_TRIGGERS",
    "SECRET_INPUTS",
    "LoadTestRunError",
    "LoadTestRunProvider",
    "LoadTestRunResource",
    "execute_run",
    "input_problems",
    "run_outputs",
    "run_summary",
    "run_triggers",
    "slow_statements",
]

log = logging.getLogger(__name__)

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's placeholder for unknown values in preview
RUN_TRIGGERS = ("run_id", "target", "profile", "max_users", "time_scale", "stages", "thresholds")
SECRET_INPUTS = ("test_users", "dsn")
FLEET_KINDS = ("local", "kubernetes")


class LoadTestRunError(Exception):
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


def input_problems(news: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for every input the provider cannot run with; unknown values pass."""
    from loadtests import slo

    problems: list[tuple[str, str]] = []
    lines = news.get("thresholds")
    if not _is_unknown(lines):
        if not isinstance(lines, list) or not lines:
            problems.append(("thresholds", "expected a non-empty list of threshold lines"))
        else:
            problems.extend(("thresholds", p) for p in slo.settings_problems(lines))
    fleet = news.get("fleet") or {}
    if not _is_unknown(fleet) and fleet.get("kind", "local") not in FLEET_KINDS:
        problems.append(("fleet", f"kind {fleet.get('kind')!r}: expected one of {', '.join(FLEET_KINDS)}"))
    for key in ("run_id", "stack", "target", "reports_dir"):
        value = news.get(key)
        if not _is_unknown(value) and (not isinstance(value, str) or not value):
            problems.append((key, f"expected a non-empty string, found {value!r}"))
    return problems


def _metric(doc: Mapping[str, Any], name: str, field: str) -> float | None:
    summary = (doc.get("metrics") or {}).get(name) or {}
    value = summary.get(field)
    return float(value) if isinstance(value, int | float) else None


def run_summary(doc: Mapping[str, Any], verdict: str, reason: str) -> dict[str, Any]:
    """The key figures of a judged run (ms, ratios 0.0-1.0, requests per second)."""
    workers = doc.get("workers") or []
    return {
        "text": f"{verdict}: {reason}",
        "status": doc.get("status"),
        "abort_reason": doc.get("abort_reason"),
        "duration_s": doc.get("duration_s"),
        "requests": _metric(doc, "http_reqs", "count"),
        "rps": _metric(doc, "http_reqs", "rate_per_s"),
        "p95_ms": _metric(doc, "http_req_duration", "p95"),
        "p99_ms": _metric(doc, "http_req_duration", "p99"),
        "error_rate": _metric(doc, "http_req_failed", "rate"),
        "peak_users": _metric(doc, "vus", "max"),
        "workers": len(workers),
        "workers_lost": sum(1 for w in workers if w.get("state") == "lost"),
    }


def run_outputs(
    props: Mapping[str, Any],
    judged: Mapping[str, Any],
    evaluation_dict: Mapping[str, Any],
    exit_code: int,
    locations: Mapping[str, Any],
) -> dict[str, Any]:
    """The resource's outs: the run triggers (for the next diff) and the results; never a secret."""
    outs: dict[str, Any] = {key: _normal(key, props.get(key)) for key in RUN_TRIGGERS}
    outs.update(
        {
            "stack": props.get("stack"),
            "verdict": evaluation_dict["verdict"],
            "exit_code": exit_code,
            "threshold_results": [
                {
                    k: item.get(k)
                    for k in (
                        "key",
                        "state",
                        "value",
                        "bound",
                        "warn_bound",
                        "unit",
                        "baseline_value",
                        "delta_pct",
                    )
                }
                for item in evaluation_dict["thresholds"]
            ],
            "summary": run_summary(judged, evaluation_dict["verdict"], evaluation_dict["reason"]),
            "baseline_run_id": evaluation_dict.get("baseline_run_id"),
            "results_path": locations.get("results_path"),
            "report_path": locations.get("report_path"),
            "report_uris": list(locations.get("report_uris") or []),
            "upload": locations.get("upload"),
            "started_at": judged.get("started_at"),
            "ended_at": judged.get("ended_at"),
        }
    )
    return outs


# ------------------------------------------------------------------------------------------ I/O


def _run_config(props: Mapping[str, Any], results_path: Path, live_check: Any) -> Any:
    """The runner's RunConfig; inputs left unset keep the runner's defaults."""
    from loadtests.config import RunConfig, parse_test_users
    from loadtests.shape import Stage

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
        "run_timeout_s": float(props["max_duration_s"]) if props.get("max_duration_s") else None,
    }
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
        live_check=live_check,
        log_dir=str(results_path.parent.parent / "logs" / props["run_id"]),
        **{key: value for key, value in optional.items() if value is not None},
    )


def kubernetes_api(fleet: Mapping[str, Any]) -> Any:
    """The Kubernetes API client for the fleet: in-cluster credentials, else the kubeconfig context."""
    from components.fleet_control import KubernetesFleetApi

    if fleet.get("in_cluster"):
        return KubernetesFleetApi.in_cluster()
    return KubernetesFleetApi.from_kubeconfig(context=fleet.get("context") or "")


def _run_fleet(config: Any, fleet: Mapping[str, Any], api_factory: Any = kubernetes_api) -> dict[str, Any]:
    """Run on the configured fleet and return the results document.

    Kubernetes: the LoadGeneratorFleet's master and worker Jobs are started, awaited and, when
    they fail or overrun, deleted by components/fleet_control.FleetController; the master prints
    the merged results document to its log, which the controller reads back. (Live abort runs in
    the master there, from the suite's own thresholds; this process only waits.)
    """
    if fleet.get("kind", "local") == "kubernetes":
        from components.fleet_control import FleetController, FleetError

        if not fleet.get("master_job") or not fleet.get("worker_job"):
            raise LoadTestRunError("the Kubernetes fleet has no master/worker Job manifests to start")
        timeout_s = float(getattr(config, "run_timeout_s", None) or 3600)
        try:
            outcome = FleetController(api_factory(fleet)).run(
                fleet["master_job"], fleet["worker_job"], timeout_s
            )
        except FleetError as exc:
            raise LoadTestRunError(f"the Kubernetes fleet could not run: {exc}") from None
        if outcome.results is None:
            raise LoadTestRunError(
                f"the Kubernetes fleet ended {outcome.state} without results: {outcome.reason}"
            )
        return dict(outcome.results)
    from loadtests import runner

    return runner.run_local(config)


def slow_statements(dsn: str | None, min_mean_ms: float) -> list[Any]:
    """The database's slow statements (pg_stat_statements) for the report's index suggestions.

    Empty without a DSN or when the view is unavailable; a failure is logged by its type only,
    so the DSN and its password never reach a log.
    """
    if not dsn:
        return []
    try:
        from loadtests.index_suggestions import pg_stat_statements_queries

        return list(pg_stat_statements_queries(dsn, min_mean_ms))
    except Exception as exc:  # the report goes on with the reference app's own queries
        log.warning("slow statements unavailable for the report (%s)", type(exc).__name__)
        return []


def _db_p95_bound(thresholds: Sequence[Any]) -> float:
    """The database P95 bound of the gate (ms): statements slower on average are suggestions."""
    for t in thresholds:
        absolute = not t.bound.relative_to_baseline
        if t.metric == "db_query_duration" and t.aggregate == "p(95)" and t.tag is None and absolute:
            return float(t.bound.amount)
    return 100.0  # the specification's database P95 bound


def _write_html_report(
    path: Path, judged: Mapping[str, Any], thresholds: Sequence[Any], baseline: Any, dsn: str | None
) -> str | None:
    """The self-contained HTML report; a report problem never loses the verdict (logged, None)."""
    try:
        from loadtests.report_html import render_report

        analysis = None
        statements = slow_statements(dsn, _db_p95_bound(thresholds))
        if statements:
            from loadtests.analysis import (
                analyze,
                project_index_targets,
                project_migration_indexes,
                reference_app_query_source,
            )

            analysis = analyze(
                judged,
                thresholds,
                reference_app_query_source(),
                statements,
                project_migration_indexes(),
                baseline=baseline,
                index_targets_by_query=project_index_targets(),
            )
        html = render_report(judged, thresholds, baseline, analysis)
    except Exception:  # the report is a by-product: the verdict and results are already stored
        log.exception("HTML report for %s could not be rendered", judged.get("run_id"))
        return None
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return str(path)


def _upload(props: Mapping[str, Any], files: Sequence[Path], base_dir: Path) -> dict[str, Any] | None:
    target = _s3_target(props)
    if target is None:
        return None
    from loadtests.report_upload import upload_report

    outcome = upload_report(files, target, stack=props["stack"], run_id=props["run_id"], base_dir=base_dir)
    return outcome.to_output()


def _s3_target(props: Mapping[str, Any]) -> Any:
    s3 = props.get("s3") or {}
    if not s3.get("bucket"):
        return None
    from loadtests.report_upload import S3Target

    return S3Target(
        bucket=s3["bucket"],
        prefix=s3.get("prefix") or "load-tests/",
        endpoint_url=s3.get("endpoint") or None,
        retention_days=int(s3.get("retention_days") or 90),
    )


def _remote_archive(props: Mapping[str, Any]) -> Any:
    """The S3 run archive (shared by every machine that runs this stack), when configured.

    Uses `loadtests.report_upload.S3ResultStore(target)` (a `loadtests.baseline.ResultStore`)
    when that module provides it; until then baselines come from the local directory only.
    """
    target = _s3_target(props)
    store_class = None
    if target is not None:
        from loadtests import report_upload

        store_class = getattr(report_upload, "S3ResultStore", None)
    if store_class is None:
        return None
    from loadtests.baseline import RunArchive

    return RunArchive(store_class(target))


def execute_run(props: Mapping[str, Any]) -> dict[str, Any]:
    """Run, judge, store and report one load test; returns the outs (see `run_outputs`).

    Raises LoadTestRunError when the test could not run (no verdict exists then).
    """
    from loadtests import slo
    from loadtests.baseline import (
        BaselineError,
        LocalDirectoryStore,
        RunArchive,
        resolve_baseline_in,
        run_key,
    )
    from loadtests.errors import LoadTestError
    from loadtests.verdict_cli import judge

    problems = input_problems(props)
    if problems:
        raise LoadTestRunError("; ".join(f"{key}: {reason}" for key, reason in problems))
    thresholds = slo.parse_thresholds(props["thresholds"], source="odavl-perf:sloThresholds")
    store = LocalDirectoryStore(props["reports_dir"])
    archive = RunArchive(store)
    live_check = slo.LiveAbortCheck(thresholds)
    try:
        results_path = Path(store.location(run_key(props["stack"], props["run_id"])))
        config = _run_config(props, results_path, live_check if live_check.active else None)
        # The baseline is chosen before the run, so baseline-relative abortOnFail thresholds can
        # judge the live statistics; its load shape is the stages this run is about to apply.
        pending = {
            "stack": props["stack"],
            "run_id": props["run_id"],
            "started_at": datetime.now(UTC).isoformat(),
            "profile": {"stages": [stage.as_dict() for stage in config.resolved_stages()]},
        }
        remote = _remote_archive(props)
        archives = [remote, archive] if remote is not None else [archive]
        baseline = resolve_baseline_in(archives, pending, props.get("baseline") or "previous")
        baseline_doc = dict(baseline.doc) if baseline else None
        live_check.baseline_doc = baseline_doc
        results_path.parent.mkdir(parents=True, exist_ok=True)
        doc = _run_fleet(config, props.get("fleet") or {"kind": "local"})
    except BaselineError as exc:
        raise LoadTestRunError(str(exc)) from None
    except LoadTestError as exc:
        raise LoadTestRunError(f"the load test could not run: {exc}") from None
    evaluation, exit_code = judge(doc, thresholds, baseline_doc)
    judged = slo.apply_evaluation(doc, evaluation)
    locations: dict[str, Any] = {"results_path": archive.save(judged)}
    if remote is not None:
        try:
            locations["archive_uri"] = remote.save(judged)
        except Exception:  # the local copy is kept; the next run falls back to it as baseline
            log.exception("storing run %s in the S3 archive failed", props["run_id"])
    report = _write_html_report(
        results_path.with_suffix(".html"), judged, thresholds, baseline_doc, props.get("dsn") or None
    )
    locations["report_path"] = report or locations["results_path"]
    files = [Path(locations["results_path"])] + ([Path(report)] if report else [])
    upload = _upload(props, files, results_path.parent)
    if upload is not None:
        locations["upload"] = upload
        locations["report_uris"] = upload.get("uris") or []
    if doc.get("status") in ("failed", "interrupted"):
        # No verdict for a run that did not run to its end: fail the create, so the next
        # `pulumi up` tries again; what was measured stays readable on disk.
        raise LoadTestRunError(
            f"the load test {doc.get('status')}: {doc.get('abort_reason') or 'no reason recorded'} "
            f"(partial results: {locations['results_path']})"
        )
    return run_outputs(props, judged, evaluation.to_dict(), exit_code, locations)


class LoadTestRunProvider(ResourceProvider):
    """A thin shell over `execute_run`; every input that matters forces a replacement."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(prop, reason) for prop, reason in input_problems(news)]
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = run_triggers(olds, news)
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = execute_run(props)
        run_id = f"{props['stack']}/{props['run_id']}/{uuid.uuid4().hex[:8]}"
        return CreateResult(id_=run_id, outs=outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: the run's results stay in the store as a future baseline."""


class LoadTestRunResource(Resource):
    """The dynamic resource behind `components.loadtest.LoadTestRun` (one run per replacement)."""

    verdict: Output[str]
    exit_code: Output[int]
    threshold_results: Output[list]
    summary: Output[dict]
    baseline_run_id: Output[str]
    results_path: Output[str]
    report_path: Output[str]
    report_uris: Output[list]
    upload: Output[dict]

    def __init__(self, name: str, props: Mapping[str, Any], opts: ResourceOptions | None = None) -> None:
        outputs = (
            "verdict",
            "exit_code",
            "threshold_results",
            "summary",
            "baseline_run_id",
            "results_path",
            "report_path",
            "report_uris",
            "upload",
            "started_at",
            "ended_at",
        )
        super().__init__(LoadTestRunProvider(), name, {**props, **dict.fromkeys(outputs)}, opts)
