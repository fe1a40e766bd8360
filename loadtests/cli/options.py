"""The threshold options shared by `gate`, `analyze` and `report`, and the thresholds they choose.

In order: `--threshold LINE` (repeatable), `--thresholds-file FILE` (one line per metric),
`--stack-file Pulumi.<stack>.yaml` (its `odavl-perf:sloThresholds`), else the lines the results
document already records, else the catalogue defaults (`loadtests.slo.catalog`).

`thresholds_for` is the one way a subcommand chooses its thresholds; a parser without some of
the options (`report` has no `--thresholds-file`) simply skips them. Every problem raises a
LoadTestError (a threshold line that does not parse: `ThresholdSpecError`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtests.errors import LoadTestError
from loadtests.slo import evaluate as slo
from loadtests.slo.catalog import DEFAULT_THRESHOLDS

__all__ = ["STACK_THRESHOLDS_KEY", "add_threshold_options", "thresholds_for"]

STACK_THRESHOLDS_KEY = "odavl-perf:sloThresholds"


def add_threshold_options(parser: argparse.ArgumentParser) -> None:
    """The gate's threshold options, shared by `analyze` and `report`."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--threshold",
        action="append",
        metavar="LINE",
        help="an SLO threshold line (repeatable), e.g. 'http_req_duration: p(95)<500'",
    )
    source.add_argument("--thresholds-file", type=Path, metavar="FILE", help="one threshold line per metric")
    source.add_argument(
        "--stack-file", type=Path, metavar="FILE", help=f"a Pulumi.<stack>.yaml with {STACK_THRESHOLDS_KEY}"
    )


def _stack_file_lines(path: Path) -> list[str]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise LoadTestError(f"stack file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise LoadTestError(f"stack file {path} is not YAML: {exc}") from None
    config = document.get("config") if isinstance(document, Mapping) else None
    value = config.get(STACK_THRESHOLDS_KEY) if isinstance(config, Mapping) else None
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip().startswith("[") else value.splitlines()
        except json.JSONDecodeError as exc:
            raise LoadTestError(
                f"stack file {path}: {STACK_THRESHOLDS_KEY} is not a JSON list: {exc}"
            ) from None
    if not isinstance(value, list):
        raise LoadTestError(
            f"stack file {path}: expected a list of threshold lines under {STACK_THRESHOLDS_KEY}"
        )
    return value


def _recorded_lines(results_doc: Mapping[str, Any]) -> list[str]:
    """The lines a results document's `thresholds` were judged with (one per criterion)."""
    recorded = results_doc.get("thresholds") or []
    return [
        item["key"] for item in recorded if isinstance(item, Mapping) and isinstance(item.get("key"), str)
    ]


def thresholds_for(args: argparse.Namespace, results_doc: Mapping[str, Any]) -> tuple[slo.Threshold, ...]:
    """The thresholds chosen on the command line, in the order described in the module docstring."""
    lines = getattr(args, "threshold", None)
    thresholds_file = getattr(args, "thresholds_file", None)
    stack_file = getattr(args, "stack_file", None)
    if lines:
        return slo.parse_thresholds(lines, source="--threshold")
    if thresholds_file:
        try:
            text = thresholds_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise LoadTestError(f"--thresholds-file {thresholds_file}: {exc.strerror}") from None
        return slo.read_threshold_file(text, str(thresholds_file))
    if stack_file:
        return slo.parse_thresholds(_stack_file_lines(stack_file), source=f"{stack_file} sloThresholds")
    recorded = _recorded_lines(results_doc)
    if recorded:
        return slo.parse_thresholds(recorded, source="results thresholds")
    return DEFAULT_THRESHOLDS
