"""`python -m loadtests gate RESULTS.json`: judge a run against its SLO thresholds, print the verdict.

The thresholds come from `--threshold LINE` (repeatable), `--thresholds-file FILE` (one line per
metric, `#` comments), `--stack-file Pulumi.<stack>.yaml` (its `odavl-perf:sloThresholds`), else
the lines the results document already records, else the catalogue defaults
(`loadtests.slo.catalog`). The baseline is `--baseline previous` (the previous passing run of the
same stack and profile in `--store`, default), `none`, a stored run id, or a results file path.
`--write` records the thresholds and the verdict in the results file; `--save` also keeps the run
in the store so later runs can use it as their baseline.

A run whose load generators were saturated (its `generators` section) gets no verdict ("no-verdict",
exit code 3) whatever its thresholds say, unless `--accept-saturated-generators`; by default the
acceptance a results file records (it was judged with it) holds, `--no-accept-saturated-generators`
refuses it.

The statistical regression criterion (loadtests/slo/regression.py) compares the run with the last
`--regression-runs` passing runs of its stack and profile in `--store` (default 5, at least 3) and
prints its outcome (regression / no change / improvement / inconclusive, the p95 difference with
its bootstrap interval and p-value); `--regression-gate` makes a regression fail a passing verdict
(exit code 99), otherwise it is reported only. Not with `--baseline none`.

Exit codes (loadtests/exit_codes.py): 0 pass (warnings allowed), 99 SLO breached, 3 no verdict
(generators saturated), 2 the test could not run.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from loadtests import exit_codes
from loadtests.cli.options import add_threshold_options, thresholds_for
from loadtests.errors import LoadTestError
from loadtests.pipeline import regression_for, regression_gated
from loadtests.report.console import render_generators, render_regression, render_verdict
from loadtests.results.archive import LocalDirectoryStore, RunArchive
from loadtests.results.document import load_document, write_document
from loadtests.slo import evaluate as slo
from loadtests.slo.regression import DEFAULT_MIN_EFFECT_PCT, DEFAULT_RUNS, MIN_RUNS, RegressionPolicy

__all__ = ["add_parser", "baseline_for", "run_gate"]


def _load_json(path: Path, what: str) -> dict[str, Any]:
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
    evaluation, code = slo.judge(
        results_doc, thresholds, baseline_doc, accept_saturated=args.accept_saturated_generators
    )
    regression = None
    if args.baseline != "none":
        policy = RegressionPolicy(args.regression_runs, args.regression_min_effect, args.regression_gate)
        regression = regression_for([RunArchive(LocalDirectoryStore(args.store))], results_doc, policy)
        gated = regression_gated(evaluation, regression) if policy.gate else None
        if gated is not None:
            evaluation, regression = gated, replace(regression, gated=True)
            code = exit_codes.exit_code_for(gated.verdict, results_doc)
        results_doc = results_doc | {"regression": regression.to_dict()}
    render_verdict(evaluation, console, str(results_doc.get("run_id", "")))
    render_generators(slo.apply_evaluation(results_doc, evaluation), console)  # with its acceptance
    render_regression(results_doc, console)
    if results_doc.get("status") != "completed":
        reason = results_doc.get("abort_reason") or "no reason recorded"
        console.print(Text(f"run status: {results_doc.get('status')} ({reason})", style="bold"))
    if args.write or args.save:
        judged = slo.apply_evaluation(results_doc, evaluation)
        if args.write:
            write_document(judged, args.results)
        if args.save:
            console.print(f"stored run: {RunArchive(LocalDirectoryStore(args.store)).save(judged)}")
    if args.json:
        extra = {"regression": regression.to_dict()} if regression is not None else {}
        console.print_json(data=evaluation.to_dict() | extra | {"exit_code": code})
    return code


def _regression_runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < MIN_RUNS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least {MIN_RUNS} runs")
    return value


def _percentage(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a percentage above 0 and at most 100")
    return value


def add_parser(subparsers: Any) -> None:
    """Register `gate` on the `python -m loadtests` parser."""
    parser = subparsers.add_parser(
        "gate",
        help="judge a results file against SLO thresholds "
        "(exit 0 pass, 99 breached, 3 no verdict: generators saturated, 2 could not run)",
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
    parser.add_argument(
        "--accept-saturated-generators",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="judge a run whose load generators were saturated anyway (default: as the results "
        "file records; without that, such a run gets no verdict, exit code 3)",
    )
    parser.add_argument(
        "--regression-runs",
        type=_regression_runs,
        default=DEFAULT_RUNS,
        metavar="K",
        help=f"compare with the last K passing runs in --store (default {DEFAULT_RUNS}, at least {MIN_RUNS})",
    )
    parser.add_argument(
        "--regression-min-effect",
        type=_percentage,
        default=DEFAULT_MIN_EFFECT_PCT,
        metavar="PCT",
        help=f"smallest p95/p99 change called a regression (default {DEFAULT_MIN_EFFECT_PCT:g} %%)",
    )
    parser.add_argument(
        "--regression-gate",
        action="store_true",
        help="a statistical regression fails a passing verdict (default: reported only)",
    )
    parser.add_argument("--json", action="store_true", help="also print the evaluation as JSON")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour output")
    parser.set_defaults(handler=run_gate)
