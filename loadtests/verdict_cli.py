"""`python -m loadtests gate RESULTS.json`: judge a run against its SLO thresholds, print the verdict.

The thresholds come from `--threshold LINE` (repeatable), `--thresholds-file FILE` (one line per
metric, `#` comments), `--stack-file Pulumi.<stack>.yaml` (its `odavl-perf:sloThresholds`), else
the lines the results document already records, else the catalogue defaults
(`loadtests.slo_catalog`). The baseline is `--baseline previous` (the previous passing run of the
same stack and profile in `--store`, default), `none`, a stored run id, or a results file path.
`--write` records the thresholds and the verdict in the results file; `--save` also keeps the run
in the store so later runs can use it as their baseline.

Exit codes (loadtests/exit_codes.py): 0 pass (warnings allowed), 99 SLO breached, 2 the test
could not run.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from loadtests import exit_codes, slo
from loadtests.baseline import LocalDirectoryStore, RunArchive
from loadtests.errors import LoadTestError
from loadtests.threshold_options import add_threshold_options, thresholds_for

__all__ = [
    "STATE_STYLES",
    "add_parser",
    "format_value",
    "judge",
    "render_verdict",
    "run_gate",
    "summary_line",
    "verdict_table",
]

STATE_STYLES = {
    "pass": "bold green",
    "warn": "bold yellow",
    "fail": "bold red",
    "no-data": "bold magenta",
    "no-baseline": "dim",
}


def format_value(value: float | None, metric: str) -> str:
    """A measured value or bound with its unit: ms, % for rates, /s, bytes, or none."""
    if value is None:
        return "-"
    kind, unit = slo.METRICS[metric]
    if kind == "rate":
        return f"{value * 100:.2f} %"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:,.4g}"


def _bound_text(result: slo.ThresholdResult) -> str:
    metric = result.threshold.metric
    text = f"{result.threshold.op} {format_value(result.bound, metric)}"
    if result.bound is None:
        text = f"{result.threshold.op} {result.threshold.bound.text}"
    if result.warn_bound is not None:
        text += f" (warn {format_value(result.warn_bound, metric)})"
    return text


def _baseline_text(result: slo.ThresholdResult) -> str:
    if result.baseline_value is None:
        return "-"
    delta = result.delta_pct
    change = "" if delta is None else f" ({delta:+.1f} %)"
    return format_value(result.baseline_value, result.threshold.metric) + change


def verdict_table(evaluation: slo.Evaluation, title: str = "SLO gate") -> Table:
    """One row per threshold: what, measured value, bound, baseline change, state."""
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("threshold", overflow="fold")
    table.add_column("criterion", overflow="fold")
    table.add_column("value", justify="right")
    table.add_column("bound", justify="right")
    table.add_column("baseline (change)", justify="right")
    table.add_column("state", no_wrap=True, min_width=11)
    for result in evaluation.results:
        table.add_row(
            result.threshold.selector,
            result.threshold.expression,
            format_value(result.value, result.threshold.metric),
            _bound_text(result),
            _baseline_text(result),
            Text(result.state.upper(), style=STATE_STYLES[result.state]),
        )
    return table


def summary_line(evaluation: slo.Evaluation) -> str:
    """One sentence for stack outputs and notifications, e.g. `fail: 1 of 11 thresholds failed`."""
    return f"{evaluation.verdict}: {evaluation.reason}"


def render_verdict(evaluation: slo.Evaluation, console: Console, run_id: str = "") -> None:
    """Print the verdict table and the verdict line in colour."""
    console.print(verdict_table(evaluation, title=f"SLO gate {run_id}".strip()))
    for result in evaluation.results:
        if result.state != "pass" and result.detail:
            note = Text(f"  {result.state.upper()} ", style=STATE_STYLES[result.state])
            note.append(f"{result.threshold.key}: {result.detail}")
            console.print(note)
    style = STATE_STYLES.get(evaluation.verdict, "bold")
    line = Text("verdict: ", style="bold")
    line.append(evaluation.verdict.upper(), style=style)
    line.append(f"  {evaluation.reason}")
    if evaluation.baseline_run_id:
        line.append(f"  (baseline {evaluation.baseline_run_id})", style="dim")
    console.print(line)


def _load_json(path: Path, what: str) -> dict[str, Any]:
    from loadtests.results import load_document

    doc = load_document(path)
    if not isinstance(doc, dict):
        raise LoadTestError(f"{what} {path} is not a results document")
    return doc


def baseline_for(args: argparse.Namespace, results_doc: Mapping[str, Any]) -> dict[str, Any] | None:
    choice = args.baseline
    if choice.endswith(".json") and Path(choice).exists():
        return _load_json(Path(choice), "baseline file")
    found = RunArchive(LocalDirectoryStore(args.store)).resolve_baseline(results_doc, choice)
    return dict(found.doc) if found else None


def judge(
    results_doc: Mapping[str, Any],
    thresholds: Sequence[slo.Threshold],
    baseline_doc: Mapping[str, Any] | None,
) -> tuple[slo.Evaluation, int]:
    """Evaluate and map to an exit code; a pure function shared by the CLI and the Pulumi provider."""
    evaluation = slo.evaluate(results_doc, thresholds, baseline_doc)
    return evaluation, exit_codes.exit_code_for(evaluation.verdict, results_doc)


def run_gate(args: argparse.Namespace, console: Console | None = None) -> int:
    """The `gate` subcommand; returns the process exit code."""
    color = {"always": True, "never": False}.get(args.color)
    console = console or Console(force_terminal=color, no_color=args.color == "never", highlight=False)
    try:
        results_doc = _load_json(args.results, "results file")
        thresholds = thresholds_for(args, results_doc)
        baseline_doc = baseline_for(args, results_doc)
    except (LoadTestError, ValueError) as exc:
        console.print(Text("error: ", style="bold red") + Text(str(exc)))
        return exit_codes.COULD_NOT_RUN
    evaluation, code = judge(results_doc, thresholds, baseline_doc)
    render_verdict(evaluation, console, str(results_doc.get("run_id", "")))
    if results_doc.get("status") != "completed":
        reason = results_doc.get("abort_reason") or "no reason recorded"
        console.print(Text(f"run status: {results_doc.get('status')} ({reason})", style="bold"))
    if args.write or args.save:
        from loadtests.results import write_document

        judged = slo.apply_evaluation(results_doc, evaluation)
        if args.write:
            write_document(judged, args.results)
        if args.save:
            console.print(f"stored run: {RunArchive(LocalDirectoryStore(args.store)).save(judged)}")
    if args.json:
        console.print_json(data=evaluation.to_dict() | {"exit_code": code})
    return code


def add_parser(subparsers: Any) -> None:
    """Register `gate` on the `python -m loadtests` parser."""
    parser = subparsers.add_parser(
        "gate",
        help="judge a results file against SLO thresholds (exit 0 pass, 99 breached, 2 could not run)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("results", type=Path, help="results JSON written by a run")

    add_threshold_options(parser)
    parser.add_argument(
        "--baseline",
        default="previous",
        metavar="previous|none|RUN_ID|FILE.json",
        help="what to compare with (default: the previous passing run of the same stack and profile)",
    )
    parser.add_argument(
        "--store", type=Path, default=Path("reports"), help="local run store (default: reports)"
    )
    parser.add_argument(
        "--write", action="store_true", help="record thresholds and verdict in the results file"
    )
    parser.add_argument(
        "--save", action="store_true", help="keep the judged run in --store as a future baseline"
    )
    parser.add_argument("--json", action="store_true", help="also print the evaluation as JSON")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour output")
    parser.set_defaults(handler=run_gate)
