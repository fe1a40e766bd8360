"""SLO thresholds: evaluation of a run, the overall verdict and the live abort check.

The threshold spec (one k6-style line per metric: tag filters, warning bands, abortOnFail with
delayAbortEval, baseline-relative bounds), its model and its parser are in loadtests/slo/spec.py;
this module re-exports them, so `from loadtests.slo import evaluate as slo` gives the whole API:

    thresholds = slo.parse_thresholds(lines)                  # ThresholdSpecError names line + column
    evaluation = slo.evaluate(results_doc, thresholds, baseline_doc)   # pure
    evaluation.verdict, [(r.state, r.value, r.bound) for r in evaluation.results]
    check = slo.LiveAbortCheck(thresholds, baseline_doc)      # RunConfig.live_check

States per threshold: "pass", "warn" (inside its warning band), "fail", "no-data" (no samples:
never a pass), "no-baseline" (a baseline-relative bound and no baseline run: reported, does not
decide the verdict). Values are in the metric's unit: milliseconds for time trends, unitless for
CLS, ratios 0.0-1.0 for rates, per second for a counter's rate.

Overall verdict: "fail" if any threshold fails or the run was aborted, else "no-data" if any has
no data, else "warn" if any warns, else "pass". Then the generators: when the results say they
were saturated (the `generators` section, loadtests/results/generators.py), the verdict is
"no-verdict" instead, whatever the thresholds say (a saturated generator inflates latencies and
under-delivers load, so neither a pass nor a fail is evidence), unless saturation is accepted
(`accept_saturated=True`; None: as the results record it, `generators.accepted`). The thresholds'
own states are still reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from loadtests.exit_codes import exit_code_for
from loadtests.results.generators import generators_saturated
from loadtests.results.metrics import summary_value
from loadtests.slo.spec import (
    GROUP_NAMES,
    METRICS,
    PERCENTILES,
    Bound,
    SloError,
    SpecProblem,
    Tag,
    Threshold,
    ThresholdSpecError,
    parse_threshold_line,
    parse_thresholds,
    read_threshold_file,
    settings_problems,
    summary_key,
)

__all__ = [
    "GROUP_NAMES",
    "METRICS",
    "PERCENTILES",
    "Bound",
    "Evaluation",
    "LiveAbortCheck",
    "SloError",
    "SpecProblem",
    "Tag",
    "Threshold",
    "ThresholdResult",
    "ThresholdSpecError",
    "apply_evaluation",
    "evaluate",
    "evaluate_threshold",
    "judge",
    "measure",
    "parse_threshold_line",
    "parse_thresholds",
    "read_threshold_file",
    "settings_problems",
]

State = Literal["pass", "warn", "fail", "no-data", "no-baseline"]
Verdict = Literal["pass", "warn", "fail", "no-data", "no-verdict"]


# ---------------------------------------------------------------------------------------------
# Evaluation


def measure(doc: Mapping[str, Any] | None, threshold: Threshold) -> float | None:
    """The threshold's aggregate in `doc`, in the metric's unit; None when there are no samples."""
    tag = threshold.tag
    return summary_value(
        doc,
        threshold.metric,
        summary_key(threshold),
        endpoint=tag.value if tag is not None and tag.key == "endpoint" else None,
        group=tag.value if tag is not None and tag.key == "group" else None,
    )


def _holds(value: float, op: str, bound: float) -> bool:
    return {
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
        "==": value == bound,
        "!=": value != bound,
    }[op]


@dataclass(frozen=True)
class ThresholdResult:
    """One threshold's outcome. Values in the metric's unit (ms, ratio 0.0-1.0, per second)."""

    threshold: Threshold
    state: State
    value: float | None
    bound: float | None
    warn_bound: float | None = None
    baseline_value: float | None = None
    detail: str = ""

    @property
    def delta_pct(self) -> float | None:
        """Change against the baseline run in percent (positive = larger than the baseline)."""
        if self.value is None or not self.baseline_value:
            return None
        return (self.value - self.baseline_value) / self.baseline_value * 100.0

    def to_dict(self) -> dict[str, Any]:
        t = self.threshold
        return {
            "key": t.key,
            "metric": t.metric,
            "tag": None if t.tag is None else {t.tag.key: t.tag.value},
            "expression": t.expression,
            "aggregate": t.aggregate,
            "op": t.op,
            "line": t.line,
            "state": self.state,
            "value": self.value,
            "bound": self.bound,
            "warn_bound": self.warn_bound,
            "baseline_value": self.baseline_value,
            "delta_pct": self.delta_pct,
            "abort_on_fail": t.abort_on_fail,
            "unit": METRICS[t.metric][1],
            "detail": self.detail,
        }


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def evaluate_threshold(
    threshold: Threshold, results_doc: Mapping[str, Any], baseline_doc: Mapping[str, Any] | None = None
) -> ThresholdResult:
    """Judge one threshold against a results document (and an optional baseline results document)."""
    value = measure(results_doc, threshold)
    baseline_value = measure(baseline_doc, threshold) if baseline_doc else None
    bound = threshold.bound.resolve(baseline_value)
    warn_bound = threshold.warn_bound.resolve(baseline_value) if threshold.warn_bound else None
    base = {"threshold": threshold, "value": value, "baseline_value": baseline_value}
    where = threshold.selector
    if value is None:
        return ThresholdResult(
            **base, state="no-data", bound=bound, warn_bound=warn_bound, detail=f"no samples for {where}"
        )
    if bound is None:
        reason = "no baseline run" if baseline_doc is None else f"the baseline run has no samples for {where}"
        return ThresholdResult(**base, state="no-baseline", bound=None, warn_bound=warn_bound, detail=reason)
    if not _holds(value, threshold.op, bound):
        detail = f"{threshold.aggregate} = {_fmt(value)}, expected {threshold.op} {_fmt(bound)}"
        return ThresholdResult(**base, state="fail", bound=bound, warn_bound=warn_bound, detail=detail)
    if warn_bound is not None and not _holds(value, threshold.op, warn_bound):
        detail = (
            f"{threshold.aggregate} = {_fmt(value)} inside the warning band "
            f"({threshold.op} {_fmt(warn_bound)} wanted)"
        )
        return ThresholdResult(**base, state="warn", bound=bound, warn_bound=warn_bound, detail=detail)
    return ThresholdResult(**base, state="pass", bound=bound, warn_bound=warn_bound)


@dataclass(frozen=True)
class Evaluation:
    """Every threshold's outcome and the overall verdict."""

    results: tuple[ThresholdResult, ...]
    verdict: Verdict
    reason: str = ""
    baseline_run_id: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    # {"saturated", "accepted", "reason"} from the results' generators section; None without one.
    generators: Mapping[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """True for "pass" and "warn" (warnings do not break the gate)."""
        return self.verdict in ("pass", "warn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "baseline_run_id": self.baseline_run_id,
            "counts": dict(self.counts),
            "thresholds": [r.to_dict() for r in self.results],
            "generators": dict(self.generators) if self.generators is not None else None,
        }


def _overall(results: Sequence[ThresholdResult], aborted: bool) -> Verdict:
    states = {r.state for r in results}
    if aborted or "fail" in states:
        return "fail"
    if "no-data" in states:
        return "no-data"
    if "warn" in states:
        return "warn"
    return "pass"


def evaluate(
    results_doc: Mapping[str, Any],
    thresholds: Sequence[Threshold],
    baseline_doc: Mapping[str, Any] | None = None,
    accept_saturated: bool | None = None,
) -> Evaluation:
    """Judge all thresholds on a results document (schema 1.0); a pure function.

    A run stopped by an abortOnFail threshold (status "aborted") never passes: the threshold named
    in `abort_reason` is reported as failed even if the final statistics recovered. A run on
    saturated generators gets "no-verdict" unless `accept_saturated` (see the module docstring).
    """
    aborted = results_doc.get("status") == "aborted"
    abort_reason = results_doc.get("abort_reason") or ""
    outcomes = []
    for threshold in thresholds:
        outcome = evaluate_threshold(threshold, results_doc, baseline_doc)
        if aborted and threshold.abort_on_fail and threshold.key in abort_reason and outcome.state != "fail":
            outcome = ThresholdResult(
                threshold,
                "fail",
                outcome.value,
                outcome.bound,
                outcome.warn_bound,
                outcome.baseline_value,
                f"aborted the run: {abort_reason}",
            )
        outcomes.append(outcome)
    verdict = _overall(outcomes, aborted)
    counts = {
        state: sum(1 for o in outcomes if o.state == state)
        for state in ("pass", "warn", "fail", "no-data", "no-baseline")
    }
    if aborted:
        reason = f"run aborted: {abort_reason or 'no reason recorded'}"
    else:
        reason = {
            "fail": f"{counts['fail']} of {len(outcomes)} thresholds failed",
            "no-data": f"{counts['no-data']} of {len(outcomes)} thresholds have no data",
            "warn": f"{counts['warn']} of {len(outcomes)} thresholds in their warning band",
            "pass": f"all {len(outcomes)} thresholds passed",
        }[verdict]
    baseline_run_id = baseline_doc.get("run_id") if baseline_doc else None
    generators = _generators(results_doc, accept_saturated)
    if generators is not None and generators["saturated"]:
        if generators["accepted"]:
            reason += f"; generators saturated, judged anyway as accepted ({generators['reason']})"
        else:
            reason = f"generator saturated ({generators['reason']}); the thresholds alone give {verdict}"
            verdict = "no-verdict"
    return Evaluation(tuple(outcomes), verdict, reason, baseline_run_id, counts, generators)


def _generators(results_doc: Mapping[str, Any], accept_saturated: bool | None) -> dict[str, Any] | None:
    """{"saturated", "accepted", "reason"} of the results' generators section, None without one."""
    section = results_doc.get("generators")
    if not isinstance(section, Mapping):
        return None
    accepted = bool(section.get("accepted")) if accept_saturated is None else accept_saturated
    return {
        "saturated": generators_saturated(results_doc),
        "accepted": accepted,
        "reason": section.get("reason"),
    }


def judge(
    results_doc: Mapping[str, Any],
    thresholds: Sequence[Threshold],
    baseline_doc: Mapping[str, Any] | None,
    accept_saturated: bool | None = None,
) -> tuple[Evaluation, int]:
    """The evaluation and its process exit code (loadtests/exit_codes.py); a pure function
    shared by the gate subcommand and the Pulumi provider."""
    evaluation = evaluate(results_doc, thresholds, baseline_doc, accept_saturated)
    return evaluation, exit_code_for(evaluation.verdict, results_doc)


def apply_evaluation(results_doc: Mapping[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    """A copy of the results document with its `thresholds` and `verdict` filled in by the gate
    (and, with a generators section, whether the gate accepted saturated generators)."""
    doc = dict(results_doc)
    doc["thresholds"] = [
        r.to_dict() | {"baseline_run_id": evaluation.baseline_run_id} for r in evaluation.results
    ]
    doc["verdict"] = evaluation.verdict
    if evaluation.generators is not None and isinstance(doc.get("generators"), Mapping):
        doc["generators"] = dict(doc["generators"]) | {"accepted": bool(evaluation.generators["accepted"])}
    return doc


# ---------------------------------------------------------------------------------------------
# Live evaluation


class LiveAbortCheck:
    """Judges the abortOnFail thresholds on the merged live statistics during a run.

    The runner calls it every few seconds (`RunConfig.live_check`) with a snapshot shaped like
    the results document (status "running"; its "metrics", "endpoints", "groups" sections and
    `duration_s`, the seconds since the start, are read).
    It returns None while the run may go on, or the abort reason (a sentence naming the
    threshold key, its value and bound) once such a threshold fails with its delayAbortEval
    passed. Missing data never aborts: early in a run there are simply no samples yet.
    """

    def __init__(self, thresholds: Sequence[Threshold], baseline_doc: Mapping[str, Any] | None = None):
        self.thresholds = tuple(t for t in thresholds if t.abort_on_fail)
        self.baseline_doc = baseline_doc
        self.reason: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.thresholds)

    def __call__(self, snapshot: Mapping[str, Any], elapsed_s: float | None = None) -> str | None:
        """`elapsed_s` defaults to the snapshot's `duration_s` (seconds since the run started)."""
        if elapsed_s is None:
            elapsed_s = float(snapshot.get("duration_s") or 0.0)
        if self.reason is not None:
            return self.reason
        for threshold in self.thresholds:
            if elapsed_s < threshold.delay_abort_eval_s:
                continue
            outcome = evaluate_threshold(threshold, snapshot, self.baseline_doc)
            if outcome.state == "fail":
                key, detail = threshold.key, outcome.detail
                self.reason = f"abortOnFail threshold '{key}' failed after {elapsed_s:.0f} s: {detail}"
                return self.reason
        return None
