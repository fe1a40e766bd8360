"""One load test from its start to its stored verdict: run -> gate -> archive -> HTML report -> upload.

    request = PipelineRequest(config, thresholds, reports_dir="reports", html_report=True)
    result = run_pipeline(request)              # the local fleet (loadtests.run.runner.run_local)
    result.exit_code, result.outputs()

The steps, each one optional except the run:

1. baseline: with `reports_dir`, the baseline ("previous", "none" or a run id) is chosen before
   the run from the runs stored there (`loadtests.results.archive`), so baseline-relative
   abortOnFail thresholds can judge the live statistics; its load shape is the stages this run is
   about to apply;
2. run: `fleet_runner(config)` returns the results document, with the live abort check
   (`loadtests.slo.evaluate.LiveAbortCheck`) in the config when a threshold has abortOnFail;
3. gate: with thresholds, the SLO evaluation against the baseline and its exit code
   (`loadtests.exit_codes`); without, the run's status decides the exit code; either way a run
   on saturated generators gets no verdict (exit code 3) unless `accept_saturated_generators`;
4. archive: with `reports_dir`, the judged results are stored under
   `<reports_dir>/<stack>/runs/<run_id>.json` (a rerun under the same run id replaces them);
   before that, the statistical regression criterion (`loadtests.slo.regression`) compares a
   completed run with the last K passing runs of its stack and profile stored there; its result
   is the document's `regression` (and the `regression` output); with `RegressionPolicy.gate`, a
   "regression" turns a passing verdict into "fail" (exit code 99);
5. report: with `html_report`, the self-contained HTML report next to the results (`.html`);
   a report problem is logged and never loses the verdict;
6. upload: with an S3 target, the results and the report (`loadtests.publish.s3`).

Used by `python -m loadtests run` (the run alone, shown live) and by the Pulumi LoadTestRun
provider (every step, on the local or the Kubernetes fleet, whose runner the provider hands in).
A run that "failed" or was "interrupted" still goes through every step; what its caller makes of
it (the provider fails the create) is the caller's business.

Thresholds arrive parsed (`loadtests.slo.spec.parse_thresholds`) and are never parsed again here.
The DSN (for the report's slow statements) never reaches a log, an output or an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexes.suggestions import NamedQuery
from loadtests import exit_codes
from loadtests.analysis.engine import analyze
from loadtests.analysis.sources import (
    pg_stat_statements_queries,
    project_index_targets,
    project_migration_indexes,
    reference_app_query_source,
)
from loadtests.errors import LoadTestError
from loadtests.publish.s3 import S3Target, upload_report
from loadtests.report.html import render_report
from loadtests.results.archive import (
    BaselineError,
    LocalDirectoryStore,
    RunArchive,
    last_passing_in,
    resolve_baseline_in,
    run_key,
)
from loadtests.results.distributions import document_histogram
from loadtests.results.files import write_atomically
from loadtests.results.generators import generators_output, generators_saturated
from loadtests.results.metrics import summary_value
from loadtests.results.open_model import open_model_summary
from loadtests.run.config import RunConfig
from loadtests.run.runner import run_local
from loadtests.slo.evaluate import Evaluation, LiveAbortCheck, apply_evaluation, judge
from loadtests.slo.regression import RegressionPolicy, RegressionResult, compare_documents, inconclusive
from loadtests.slo.spec import Threshold

__all__ = [
    "FleetRunner",
    "PipelineError",
    "PipelineRequest",
    "PipelineResult",
    "could_not_run",
    "db_p95_bound",
    "regression_for",
    "regression_gated",
    "result_outputs",
    "results_location",
    "run_pipeline",
    "run_summary",
    "s3_target",
    "slow_statements",
    "status_exit_code",
]

log = logging.getLogger(__name__)

FleetRunner = Callable[[RunConfig], Mapping[str, Any]]
THRESHOLD_RESULT_KEYS = (
    "key",
    "state",
    "value",
    "bound",
    "warn_bound",
    "unit",
    "baseline_value",
    "delta_pct",
)
DEFAULT_DB_P95_MS = 100.0  # the specification's database P95 bound


class PipelineError(LoadTestError):
    """The load test could not run (bad baseline, bad settings, runner failure); no verdict exists."""


@dataclass(frozen=True)
class PipelineRequest:
    """What one pipeline run does.

    Attributes:
        config: the run; the runner writes its results to `config.results_path` (with
            `reports_dir`, make it `results_location(...)`, the archive's own path).
        thresholds: the SLO gate, parsed; empty: no gate (and no live abort check).
        baseline: "previous" | "none" | a stored run id (read from `reports_dir`).
        reports_dir: the local run archive; None: the results stay at `config.results_path` only.
        html_report: write the HTML report next to the results.
        dsn: libpq DSN for the report's slow statements (pg_stat_statements); never logged.
        s3: where to upload the results and the report; None: no upload.
        accept_saturated_generators: judge a run whose generators were saturated anyway
            (otherwise its verdict is "no-verdict", exit code 3).
        regression: the statistical regression criterion (K runs, effect floor, gate or report
            only); it needs `reports_dir`. None: not computed.
    """

    config: RunConfig
    thresholds: tuple[Threshold, ...] = ()
    baseline: str = "previous"
    reports_dir: str | None = None
    html_report: bool = False
    dsn: str | None = field(default=None, repr=False)
    s3: S3Target | None = None
    accept_saturated_generators: bool = False
    regression: RegressionPolicy | None = field(default_factory=RegressionPolicy)


@dataclass(frozen=True)
class PipelineResult:
    """What one pipeline run produced.

    Attributes:
        doc: the results document (with its `thresholds` and `verdict` when there was a gate).
        evaluation: the SLO evaluation; None without thresholds.
        exit_code: the process exit code (loadtests/exit_codes.py).
        baseline_doc: the baseline run compared with, if any.
        results_path: where the results document is stored.
        report_path: the HTML report, or None when none was written.
        upload: the upload outcome (`UploadOutcome.to_output()`), or None without an S3 target.
    """

    doc: dict[str, Any]
    evaluation: Evaluation | None
    exit_code: int
    baseline_doc: dict[str, Any] | None
    results_path: str
    report_path: str | None = None
    upload: dict[str, Any] | None = None

    @property
    def ran_to_end(self) -> bool:
        """False for a run that "failed" or was "interrupted": its partial results prove nothing."""
        return self.doc.get("status") not in ("failed", "interrupted")

    def outputs(self) -> dict[str, Any]:
        """The run's outputs (see `result_outputs`); only for a run judged by a gate."""
        if self.evaluation is None:
            raise PipelineError("a run without SLO thresholds has no verdict to output")
        locations: dict[str, Any] = {
            "results_path": self.results_path,
            "report_path": self.report_path or self.results_path,
        }
        if self.upload is not None:
            locations["upload"] = self.upload
            locations["report_uris"] = self.upload.get("uris") or []
        return result_outputs(self.doc, self.evaluation.to_dict(), self.exit_code, locations)


# ------------------------------------------------------------------------------------------ pure


def run_summary(doc: Mapping[str, Any], verdict: str, reason: str) -> dict[str, Any]:
    """The key figures of a judged run (ms, ratios 0.0-1.0, requests per second)."""
    workers = doc.get("workers") or []
    return {
        "text": f"{verdict}: {reason}",
        "status": doc.get("status"),
        "abort_reason": doc.get("abort_reason"),
        "duration_s": doc.get("duration_s"),
        "requests": summary_value(doc, "http_reqs", "count"),
        "rps": summary_value(doc, "http_reqs", "rate_per_s"),
        "p95_ms": summary_value(doc, "http_req_duration", "p95"),
        "p99_ms": summary_value(doc, "http_req_duration", "p99"),
        "error_rate": summary_value(doc, "http_req_failed", "rate"),
        "peak_users": summary_value(doc, "vus", "max"),
        "workers": len(workers),
        "workers_lost": sum(1 for w in workers if w.get("state") == "lost"),
    }


def result_outputs(
    judged: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    exit_code: int,
    locations: Mapping[str, Any],
) -> dict[str, Any]:
    """The outputs of a judged run; `evaluation` in `Evaluation.to_dict()` form, `locations` with
    results_path, report_path, report_uris and upload. Nothing secret is among them."""
    return {
        "verdict": evaluation["verdict"],
        "exit_code": exit_code,
        "threshold_results": [
            {key: item.get(key) for key in THRESHOLD_RESULT_KEYS} for item in evaluation["thresholds"]
        ],
        "summary": run_summary(judged, evaluation["verdict"], evaluation["reason"]),
        "baseline_run_id": evaluation.get("baseline_run_id"),
        "results_path": locations.get("results_path"),
        "report_path": locations.get("report_path"),
        "report_uris": list(locations.get("report_uris") or []),
        "upload": locations.get("upload"),
        "generators": generators_output(judged),
        "regression": judged.get("regression"),
        "open_model": open_model_summary(judged),
        "started_at": judged.get("started_at"),
        "ended_at": judged.get("ended_at"),
    }


def regression_gated(evaluation: Evaluation, result: RegressionResult) -> Evaluation | None:
    """The evaluation failed by a "regression" (for `RegressionPolicy.gate`), or None when the
    verdict stays: no regression, or no passing verdict to fail (fail, no-data, no-verdict)."""
    if result.outcome != "regression" or not evaluation.passed:
        return None
    return replace(evaluation, verdict="fail", reason=f"statistical regression ({result.reason})")


def status_exit_code(doc: Mapping[str, Any], accept_saturated_generators: bool = False) -> int:
    """The exit code of a run without a gate: completed 0, aborted 99, anything else 2; a
    completed or aborted run on saturated generators 3 (no verdict) unless that is accepted."""
    status = doc.get("status")
    if status in ("completed", "aborted") and generators_saturated(doc) and not accept_saturated_generators:
        return exit_codes.NO_VERDICT
    if status == "completed":
        return exit_codes.PASS
    return exit_codes.SLO_BREACHED if status == "aborted" else exit_codes.COULD_NOT_RUN


def db_p95_bound(thresholds: Sequence[Threshold]) -> float:
    """The database P95 bound of the gate (ms): statements slower on average are suggestions."""
    for t in thresholds:
        absolute = not t.bound.relative_to_baseline
        if t.metric == "db_query_duration" and t.aggregate == "p(95)" and t.tag is None and absolute:
            return float(t.bound.amount)
    return DEFAULT_DB_P95_MS


def s3_target(settings: Mapping[str, Any] | None) -> S3Target | None:
    """The upload target from {"bucket", "prefix", "endpoint", "retention_days"}; None without a bucket."""
    settings = settings or {}
    if not settings.get("bucket"):
        return None
    return S3Target(
        bucket=settings["bucket"],
        prefix=settings.get("prefix") or "load-tests/",
        endpoint_url=settings.get("endpoint") or None,
        retention_days=int(settings.get("retention_days") or 90),
    )


def results_location(reports_dir: str, stack: str, run_id: str) -> Path:
    """Where the archive in `reports_dir` keeps a run: `<reports_dir>/<stack>/runs/<run_id>.json`.

    Raises PipelineError when the stack or run id cannot name a stored run.
    """
    try:
        return Path(LocalDirectoryStore(reports_dir).location(run_key(stack, run_id)))
    except BaselineError as exc:
        raise PipelineError(str(exc)) from None


def could_not_run(exc: LoadTestError) -> PipelineError:
    """The PipelineError for a problem met before a results document exists."""
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, BaselineError):
        return PipelineError(str(exc))
    return PipelineError(f"the load test could not run: {exc}")


# ------------------------------------------------------------------------------------------ I/O


def slow_statements(dsn: str | None, min_mean_ms: float) -> list[NamedQuery]:
    """The database's slow statements (pg_stat_statements) for the report's index suggestions.

    Empty without a DSN or when the view is unavailable; a failure is logged by its type only,
    so the DSN and its password never reach a log.
    """
    if not dsn:
        return []
    try:
        return list(pg_stat_statements_queries(dsn, min_mean_ms))
    except Exception as exc:  # the report goes on with the reference app's own queries
        log.warning("slow statements unavailable for the report (%s)", type(exc).__name__)
        return []


def _write_html_report(
    path: Path,
    judged: Mapping[str, Any],
    thresholds: Sequence[Threshold],
    baseline: Mapping[str, Any] | None,
    dsn: str | None,
) -> str | None:
    """The self-contained HTML report; a report problem never loses the verdict (logged, None)."""
    try:
        analysis = None
        statements = slow_statements(dsn, db_p95_bound(thresholds))
        if statements:
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
    return str(write_atomically(path, html))


def _baseline(request: PipelineRequest, config: RunConfig) -> dict[str, Any] | None:
    """The stored run this one is compared with, chosen before the run starts."""
    if request.reports_dir is None:
        return None
    pending = {
        "stack": config.stack,
        "run_id": config.run_id,
        "started_at": datetime.now(UTC).isoformat(),
        "profile": {"stages": [stage.as_dict() for stage in config.resolved_stages()]},
    }
    archive = RunArchive(LocalDirectoryStore(request.reports_dir))
    found = resolve_baseline_in([archive], pending, request.baseline)
    return dict(found.doc) if found else None


def regression_for(
    archives: Sequence[RunArchive], doc: Mapping[str, Any], policy: RegressionPolicy
) -> RegressionResult:
    """A completed run against the last `policy.runs` passing runs of its stack and profile that
    carry histograms, from the first archive that has enough; a problem is logged and gives
    "inconclusive", never a lost verdict (shared by the pipeline and `python -m loadtests gate`)."""
    if doc.get("status") != "completed":
        return inconclusive(f"the run is {doc.get('status')}, not completed", policy)
    try:
        earlier = last_passing_in(
            archives, doc, policy.runs, accept=lambda other: document_histogram(other) is not None
        )
        return compare_documents(doc, [run.doc for run in earlier], policy)
    except Exception as exc:  # a by-product like the report: the verdict stands without it
        log.exception("the regression criterion for %s could not be computed", doc.get("run_id"))
        return inconclusive(f"the comparison with earlier runs failed ({type(exc).__name__})", policy)


def _regression(request: PipelineRequest, doc: Mapping[str, Any]) -> RegressionResult | None:
    """This run against the last K passing runs in `reports_dir`; None without an archive or a
    policy."""
    policy = request.regression
    if policy is None or request.reports_dir is None:
        return None
    if request.baseline == "none":
        return inconclusive("no comparison with earlier runs (the baseline is none)", policy)
    return regression_for([RunArchive(LocalDirectoryStore(request.reports_dir))], doc, policy)


def run_pipeline(request: PipelineRequest, *, fleet_runner: FleetRunner = run_local) -> PipelineResult:
    """Run, judge, store, report and upload one load test (see the module docstring).

    Raises PipelineError when the test could not run (no results document exists then).
    """
    config = request.config
    try:
        baseline_doc = _baseline(request, config)
        live_check = LiveAbortCheck(request.thresholds, baseline_doc)
        capacity = config.executor.kind == "capacity"
        # A capacity search breaks thresholds on purpose (its steps above the capacity): no live
        # abort; it judges each step with the gate's own lines instead.
        if live_check.active and not capacity:
            config = replace(config, live_check=live_check)
        if capacity and not config.thresholds:
            config = replace(config, thresholds=tuple(t.key for t in request.thresholds))
        Path(config.results_path).parent.mkdir(parents=True, exist_ok=True)
        log.info("run %s/%s: starting against %s", config.stack, config.run_id, config.target)
        doc = dict(fleet_runner(config))
    except LoadTestError as exc:
        raise could_not_run(exc) from None

    evaluation: Evaluation | None = None
    if request.thresholds:
        evaluation, exit_code = judge(
            doc, request.thresholds, baseline_doc, accept_saturated=request.accept_saturated_generators
        )
        doc = apply_evaluation(doc, evaluation)
    else:
        exit_code = status_exit_code(doc, request.accept_saturated_generators)
    regression = _regression(request, doc)
    if regression is not None:
        gated = (
            regression_gated(evaluation, regression)
            if evaluation is not None and request.regression is not None and request.regression.gate
            else None
        )
        if gated is not None:
            evaluation, regression = gated, replace(regression, gated=True)
            exit_code = exit_codes.exit_code_for(gated.verdict, doc)
            doc = apply_evaluation(doc, gated)
        doc["regression"] = regression.to_dict()
        log.info("run %s/%s: regression criterion: %s", config.stack, config.run_id, regression.reason)
    log.info(
        "run %s/%s: %s, verdict %s (exit code %d)",
        config.stack,
        config.run_id,
        doc.get("status"),
        evaluation.verdict if evaluation else "-",
        exit_code,
    )

    if request.reports_dir is not None:
        results_path = RunArchive(LocalDirectoryStore(request.reports_dir)).save(doc)
    else:
        results_path = str(config.results_path)
    report_path = None
    if request.html_report:
        report_path = _write_html_report(
            Path(results_path).with_suffix(".html"), doc, request.thresholds, baseline_doc, request.dsn
        )
    upload = None
    if request.s3 is not None:
        files = [Path(results_path)] + ([Path(report_path)] if report_path else [])
        outcome = upload_report(
            files, request.s3, stack=config.stack, run_id=config.run_id, base_dir=Path(results_path).parent
        )
        upload = outcome.to_output()
    return PipelineResult(doc, evaluation, exit_code, baseline_doc, results_path, report_path, upload)
